/*
 * test_report.c - the report's structured fields (SPEC.md 7.1: seq, step,
 * tensor, file beside the prose, in JSON only when set) and byte-based
 * progress from the hashing pool (SPEC.md 8.6: sp_tensors_digest_progress).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "report.h"

static void test_fields_in_json(void **state)
{
    (void)state;
    sp_report r;
    sp_report_init(&r);
    sp_report_add(&r, "chain", 1, "records 0..3 linked");
    sp_report_addf(&r, "init", 0, &(const sp_check_fields){.has_seq = 1, .seq = 0, .tensor = "fc1.weight"},
                   "record 0 tensor '%s': external", "fc1.weight");
    sp_report_addf(&r, "model", 1, &(const sp_check_fields){.has_seq = 1, .seq = 4, .has_step = 1,
                   .step = 300, .file = "m\xff.safetensors"}, "bound");
    sp_report_addf(&r, "checkpoint-file", 0, NULL, "no fields");
    assert_int_equal(r.n, 4);
    assert_int_equal(r.failed, 2);
    json_t *a = sp_report_json(&r);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 4);
    json_t *c0 = json_array_get(a, 0), *c1 = json_array_get(a, 1), *c2 = json_array_get(a, 2);
    assert_int_equal(json_object_size(c0), 3);             /* name, ok, detail only */
    assert_null(json_object_get(c0, "seq"));
    assert_int_equal(json_integer_value(json_object_get(c1, "seq")), 0);   /* seq 0 is set */
    assert_null(json_object_get(c1, "step"));
    assert_string_equal(json_string_value(json_object_get(c1, "tensor")), "fc1.weight");
    assert_int_equal(json_integer_value(json_object_get(c2, "step")), 300);
    /* an invalid byte in a path becomes \xff text: the JSON stays valid UTF-8 */
    assert_string_equal(json_string_value(json_object_get(c2, "file")), "m\\xff.safetensors");
    assert_int_equal(json_object_size(json_array_get(a, 3)), 3);
    json_decref(a);
    sp_report_free(&r);
}

typedef struct prog {
    uint64_t last, total, calls;
    int backwards;
} prog;

static void on_progress(void *ctx, const char *what, uint64_t done, uint64_t total)
{
    prog *p = ctx;
    assert_string_equal(what, "hashing");
    if (done < p->last)
        p->backwards = 1;
    p->last = done;
    p->total = total;
    p->calls++;
}

static void test_digest_progress(void **state)
{
    (void)state;
    size_t nb = 5 * SP_CHUNK_BYTES + 123;
    uint8_t *buf = malloc(nb);
    assert_non_null(buf);
    for (size_t i = 0; i < nb; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    sp_tensor t[2] = {{.name = "a", .dtype = SP_DTYPE_U8, .ndim = 1, .shape = {3 * SP_CHUNK_BYTES}, .data = buf,
                       .nbytes = 3 * SP_CHUNK_BYTES},
                      {.name = "b", .dtype = SP_DTYPE_U8, .ndim = 1, .shape = {2 * SP_CHUNK_BYTES + 123},
                       .data = buf + 3 * SP_CHUNK_BYTES, .nbytes = 2 * SP_CHUNK_BYTES + 123}};
    uint8_t plain[2][SP_DIGEST_BYTES], with[2][SP_DIGEST_BYTES];
    for (unsigned threads = 1; threads <= 2; threads++) {
        prog p = {0};
        sp_progress pg = {.fn = on_progress, .ctx = &p, .what = "hashing", .base = 1000, .total = 1000 + nb};
        assert_int_equal(sp_tensors_digest(plain, t, 2, threads), SP_OK);
        assert_int_equal(sp_tensors_digest_progress(with, t, 2, threads, &pg), SP_OK);
        assert_memory_equal(plain, with, sizeof plain);      /* progress changes no digest */
        assert_true(p.calls >= 1);
        assert_false(p.backwards);
        assert_true(p.last > 1000 && p.last <= 1000 + nb);   /* counted from base, in bytes */
        assert_int_equal(p.total, 1000 + nb);
        if (threads == 1)
            assert_int_equal(p.last, 1000 + nb);             /* one thread reports every chunk */
    }
    assert_int_equal(sp_tensors_digest_progress(with, t, 2, 2, NULL), SP_OK);
    assert_memory_equal(plain, with, sizeof plain);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_in_json),
        cmocka_unit_test(test_digest_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
