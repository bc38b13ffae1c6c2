/*
 * test_init_ranges.c - per-range schemes (SPEC.md 6.10): sp_init_fill_ranges
 * equals each range's scheme at its own indices, any slice equals the whole,
 * the streaming digest equals hashing the bytes, sp_init_ranges_check's
 * rules, and sp_run_genesis_ranges records what verify regenerates (a
 * padded vocabulary: normal rows, zero padding rows; an orthogonal range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "digest.h"
#include "init.h"
#include "keys.h"
#include "record.h"
#include "scratchproof.h"
#include "verify.h"

#define V 50     /* vocabulary rows */
#define VP 64    /* padded rows */
#define D 8

static const sp_init_scheme nrm = {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}};
static const sp_init_scheme zer = {SP_INIT_ZEROS, {0, 0, 0, 0}};

static void padded(sp_init_range r[2])
{
    r[0] = (sp_init_range){0, V * D, nrm};
    r[1] = (sp_init_range){V * D, (VP - V) * D, zer};
}

static void test_fill(void **state)
{
    (void)state;
    sp_init_range r[2];
    padded(r);
    static float whole[VP * D], want[VP * D], part[VP * D];
    assert_int_equal(sp_init_fill_ranges(whole, SP_DTYPE_F32, "embed.weight", 7, r, 2, 0, VP * D), SP_OK);
    /* element i of the normal range is element i of NORMAL itself: the keystream position is i */
    assert_int_equal(sp_init_fill(want, SP_DTYPE_F32, "embed.weight", 7, &nrm, 0, VP * D), SP_OK);
    assert_memory_equal(whole, want, V * D * sizeof(float));
    for (size_t i = V * D; i < VP * D; i++)
        assert_true(whole[i] == 0.0f);
    static const uint64_t cut[][2] = {{0, 1}, {V * D - 3, 7}, {V * D, 5}, {17, 480}, {511, 1}, {0, VP * D}};
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        memset(part, 0x55, sizeof part);
        assert_int_equal(sp_init_fill_ranges(part, SP_DTYPE_F32, "embed.weight", 7, r, 2, cut[k][0],
                                             cut[k][1]), SP_OK);
        assert_memory_equal(part, whole + cut[k][0], (size_t)cut[k][1] * sizeof(float));
    }
    assert_int_equal(sp_init_fill_ranges(part, SP_DTYPE_F32, "embed.weight", 7, r, 2, VP * D, 1),
                     SP_ERANGE);
    assert_int_equal(sp_init_fill_ranges(part, SP_DTYPE_F32, "embed.weight", 7, r, 2, VP * D, 0), SP_OK);
    assert_int_equal(sp_init_fill_ranges(part, SP_DTYPE_I32, "embed.weight", 7, r, 2, 0, 1),
                     SP_EUNSUPPORTED);
    assert_int_equal(sp_init_fill_ranges(part, SP_DTYPE_F32, "", 7, r, 2, 0, 1), SP_EINVAL);

    sp_tensor t = {.name = "embed.weight", .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {VP, D},
                   .nbytes = sizeof whole, .data = whole};
    uint8_t a[SP_DIGEST_BYTES], b[SP_DIGEST_BYTES];
    assert_int_equal(sp_tensor_digest(a, &t, 1), SP_OK);
    assert_int_equal(sp_init_digest_ranges(b, &t, 7, r, 2, 2, NULL), SP_OK);
    assert_memory_equal(a, b, sizeof a);
    /* ranges that do not cover the shape */
    t.shape[0] = VP + 1;
    t.nbytes += D * sizeof(float);
    assert_int_equal(sp_init_digest_ranges(b, &t, 7, r, 2, 2, NULL), SP_EINVAL);
}

/* A large tensor in 1 MiB chunks across ranges, and an orthogonal range (the whole matrix). */
static void test_digest_chunks_and_orthogonal(void **state)
{
    (void)state;
    const uint64_t rows = 1000, cols = 700, n = rows * cols;   /* 2.8 MB: three chunks */
    uint16_t *buf = malloc(n * 2);
    assert_non_null(buf);
    sp_init_range r[3] = {{0, 1000, zer}, {1000, 300000, nrm},
                          {301000, n - 301000, {SP_INIT_UNIFORM, {-1, 1, 0, 0}}}};
    uint64_t shape[2] = {rows, cols};
    assert_int_equal(sp_init_ranges_check(r, 3, shape, 2), SP_OK);
    assert_int_equal(sp_init_fill_ranges(buf, SP_DTYPE_BF16, "big", 1, r, 3, 0, n), SP_OK);
    sp_tensor t = {.name = "big", .dtype = SP_DTYPE_BF16, .ndim = 2, .shape = {rows, cols},
                   .nbytes = n * 2, .data = buf};
    uint8_t a[SP_DIGEST_BYTES], b[SP_DIGEST_BYTES];
    assert_int_equal(sp_tensor_digest(a, &t, 2), SP_OK);
    assert_int_equal(sp_init_digest_ranges(b, &t, 1, r, 3, 2, NULL), SP_OK);
    assert_memory_equal(a, b, sizeof a);
    free(buf);

    float o[24 * 10], q[24 * 10];
    sp_init_scheme orth;
    uint64_t sh[2] = {24, 10};
    assert_int_equal(sp_init_orthogonal(&orth, 1.0, sh, 2), SP_OK);
    sp_init_range ro[2] = {{0, 200, orth}, {200, 40, zer}};
    assert_int_equal(sp_init_ranges_check(ro, 2, sh, 2), SP_OK);
    assert_int_equal(sp_init_fill_ranges(o, SP_DTYPE_F32, "rnn.w", 2, ro, 2, 0, 240), SP_OK);
    assert_int_equal(sp_init_fill(q, SP_DTYPE_F32, "rnn.w", 2, &orth, 0, 240), SP_OK);
    assert_memory_equal(o, q, 200 * sizeof(float));
    sp_tensor to = {.name = "rnn.w", .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {24, 10},
                    .nbytes = sizeof o, .data = o};
    assert_int_equal(sp_tensor_digest(a, &to, 1), SP_OK);
    assert_int_equal(sp_init_digest_ranges(b, &to, 2, ro, 2, 2, NULL), SP_OK);
    assert_memory_equal(a, b, sizeof a);
}

static void test_check(void **state)
{
    (void)state;
    uint64_t shape[2] = {VP, D};
    sp_init_range r[3];
    padded(r);
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_OK);
    assert_int_equal(sp_init_ranges_check(r, 1, shape, 2), SP_EINVAL);        /* one range */
    assert_int_equal(sp_init_ranges_check(NULL, 2, shape, 2), SP_EINVAL);
    uint64_t other[2] = {VP, D + 1};
    assert_int_equal(sp_init_ranges_check(r, 2, other, 2), SP_EINVAL);       /* not covering */
    padded(r);
    r[1].first++;                                                             /* a gap */
    r[1].count--;
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    padded(r);
    r[1].init = nrm;                                                          /* same neighbours */
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    padded(r);
    r[1].init.kind = SP_INIT_EXTERNAL;                                        /* external */
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    padded(r);
    r[1].init.p[1] = 1.0;                                                     /* bad scheme */
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    padded(r);
    r[0].first = 1;                                                           /* not from 0 */
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    r[0] = (sp_init_range){0, 0, zer};                                        /* empty */
    r[1] = (sp_init_range){0, VP * D, nrm};
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    sp_init_scheme orth = {SP_INIT_ORTHOGONAL, {1.0, D, VP, 0}};              /* wrong shape */
    r[0] = (sp_init_range){0, 8, zer};
    r[1] = (sp_init_range){8, VP * D - 8, orth};
    assert_int_equal(sp_init_ranges_check(r, 2, shape, 2), SP_EINVAL);
    r[0] = (sp_init_range){0, 8, zer};                                        /* three, fine */
    r[1] = (sp_init_range){8, 8, nrm};
    r[2] = (sp_init_range){16, VP * D - 16, zer};
    assert_int_equal(sp_init_ranges_check(r, 3, shape, 2), SP_OK);
}

/* sp_run_genesis_ranges records ranges; verify regenerates them; bad ranges are refused. */
static void test_run_genesis_ranges(void **state)
{
    (void)state;
    char dir[] = "/tmp/sp-ranges.XXXXXX", prefix[64], ledger[64], key[64], pub[64], cmd[96];
    assert_non_null(mkdtemp(dir));
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    snprintf(ledger, sizeof ledger, "%s/r.ledger", dir);
    snprintf(key, sizeof key, "%s/k.key", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    assert_int_equal(sp_keygen_files(prefix, NULL), SP_OK);
    static float emb[VP * D], bias[D];
    sp_init_range r[2];
    padded(r);
    assert_int_equal(sp_init_fill_ranges(emb, SP_DTYPE_F32, "embed.weight", 7, r, 2, 0, VP * D), SP_OK);
    sp_record_tensor rt[2] = {
        {.t = {.name = "embed.weight", .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {VP, D},
               .nbytes = sizeof emb, .data = emb}},
        {.t = {.name = "bias", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {D}, .nbytes = sizeof bias,
               .data = bias}, .init = zer},
    };
    sp_init_ranges ranges[2] = {{r, 2}, {NULL, 0}};
    sp_run *run = NULL;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 7, .threads = 2};
    assert_int_equal(sp_run_open(&run, &o), SP_OK);
    /* refused before anything is written: an init beside ranges, ranges off the shape */
    rt[0].init = nrm;
    assert_int_equal(sp_run_genesis_ranges(run, rt, 2, ranges), SP_EINVAL);
    assert_non_null(strstr(sp_run_errmsg(run), "embed.weight"));
    memset(&rt[0].init, 0, sizeof rt[0].init);
    ranges[0].n = 1;
    assert_int_equal(sp_run_genesis_ranges(run, rt, 2, ranges), SP_EINVAL);
    ranges[0].n = 2;
    /* an orthogonal scheme for another shape */
    sp_init_scheme bad = {SP_INIT_ORTHOGONAL, {1.0, 2, 4, 0}};
    rt[1].init = bad;
    assert_int_equal(sp_run_genesis_ranges(run, rt, 2, ranges), SP_EINVAL);
    rt[1].init = zer;
    assert_int_equal(sp_run_genesis_ranges(run, rt, 2, ranges), SP_OK);
    sp_run_close(run);

    uint8_t pk[SP_PK_BYTES];
    assert_int_equal(sp_key_load_public(pk, pub, NULL), SP_OK);
    sp_verify_opts vo = {.ledger_path = ledger, .pk = pk, .threads = 2, .allow_incomplete = 1};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX];
    sp_report_init(&rep);
    assert_int_equal(sp_verify_ledger(&vo, &rep, &sum, err), SP_OK);
    int init_ok = 0, scratch_ok = 0;
    for (size_t i = 0; i < rep.n; i++) {
        init_ok |= strcmp(rep.v[i].name, "init") == 0 && rep.v[i].ok;
        scratch_ok |= strcmp(rep.v[i].name, "from-scratch") == 0 && rep.v[i].ok;
        if (strcmp(rep.v[i].name, "init") == 0 && !rep.v[i].ok)
            fail_msg("%s", rep.v[i].detail);
    }
    assert_true(init_ok && scratch_ok);
    sp_report_free(&rep);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_digest_chunks_and_orthogonal),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_run_genesis_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
