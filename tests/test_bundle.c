/*
 * test_bundle.c - the bundle format (attest/bundle.c, SPEC.md 14.1): the
 * SPEC test vector written and parsed, and every way a bundle can lie:
 * truncated at every offset, lengths past the end or over their limits,
 * huge counts, unknown version and flags, trailing bytes, every byte
 * flipped (never a crash), and the writer's own limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "record.h"

/* SPEC.md 14.1 test vector: keys 0 and 1 holding "a" and "bc", head "head\n". */
static const char vector_hex[] =
    "89535042" "0d0a1a0a" "01000000" "01000000" "0200000000000000"
    "0800" "0000000000000000" "01000000" "61"
    "0800" "0000000000000001" "02000000" "6263"
    "05000000" "686561640a";

static size_t unhex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

typedef struct membuf {
    uint8_t b[4096];
    size_t n;
} membuf;

static int mem_write(void *ctx, const uint8_t *p, size_t len)
{
    membuf *m = ctx;
    if (len > sizeof m->b - m->n)
        return SP_EIO;
    memcpy(m->b + m->n, p, len);
    m->n += len;
    return SP_OK;
}

typedef struct seen {
    int n;
    uint8_t key[4][8];
    char val[4][8];
} seen;

static int collect(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen)
{
    seen *s = ctx;
    if (s->n >= 4 || keylen != 8 || vallen >= 8)
        return -100;
    memcpy(s->key[s->n], key, 8);
    memcpy(s->val[s->n], val, vallen);
    s->val[s->n][vallen] = '\0';
    s->n++;
    return 0;
}

static int count_only(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen)
{
    (void)key; (void)keylen; (void)val; (void)vallen;
    (*(int *)ctx)++;
    return 0;
}

static int parse(const uint8_t *b, size_t n)
{
    int k = 0;
    char err[SP_ERRMSG_MAX];
    uint64_t count;
    return sp_bundle_parse(b, n, count_only, &k, &count, NULL, NULL, err);
}

static void test_vector_write(void **state)
{
    (void)state;
    uint8_t want[128];
    size_t wn = unhex(want, vector_hex);
    membuf m = {.n = 0};
    uint8_t k0[8] = {0}, k1[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(sp_bundle_write_header(mem_write, &m, 2, SP_BUNDLE_F_HEAD), SP_OK);
    assert_int_equal(sp_bundle_write_entry(mem_write, &m, k0, 8, (const uint8_t *)"a", 1), SP_OK);
    assert_int_equal(sp_bundle_write_entry(mem_write, &m, k1, 8, (const uint8_t *)"bc", 2), SP_OK);
    assert_int_equal(sp_bundle_write_head(mem_write, &m, (const uint8_t *)"head\n", 5), SP_OK);
    assert_int_equal(m.n, wn);
    assert_memory_equal(m.b, want, wn);
}

static void test_vector_parse(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = unhex(b, vector_hex);
    seen s = {.n = 0};
    uint64_t count = 99;
    const uint8_t *head = NULL;
    size_t headlen = 0;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_bundle_parse(b, n, collect, &s, &count, &head, &headlen, err), 0);
    assert_int_equal(count, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.key[1][7], 1);
    assert_string_equal(s.val[0], "a");
    assert_string_equal(s.val[1], "bc");
    assert_int_equal(headlen, 5);
    assert_memory_equal(head, "head\n", 5);

    /* the same entries without the head section: flags 0, no head bytes */
    b[12] = 0;
    n -= 9;
    headlen = 7;
    assert_int_equal(sp_bundle_parse(b, n, count_only, &(int){0}, &count, &head, &headlen, err), 0);
    assert_null(head);
    assert_int_equal(headlen, 0);
}

static void test_truncated_everywhere(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = unhex(b, vector_hex);
    for (size_t cut = 0; cut < n; cut++) {
        int rc = parse(b, cut);
        if (rc != SP_EFORMAT)
            fail_msg("cut at %zu: rc %d, wanted SP_EFORMAT", cut, rc);
    }
    assert_int_equal(parse(b, n), 0);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = unhex(b, vector_hex);
    b[n] = 0;
    assert_int_equal(parse(b, n + 1), SP_EFORMAT);
    /* without a head: a byte after the last entry */
    b[12] = 0;
    assert_int_equal(parse(b, n - 9 + 1), SP_EFORMAT);
    assert_int_equal(parse(b, n - 9), 0);
}

static void test_header_checks(void **state)
{
    (void)state;
    uint8_t b[128], c[128];
    size_t n = unhex(b, vector_hex);
    memcpy(c, b, n);
    c[0] ^= 0x01;                       /* magic first */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[4] = '\n';                         /* a CRLF-to-LF conversion shifts everything */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[8] = 2;                            /* version */
    assert_int_equal(parse(c, n), SP_EUNSUPPORTED);
    memcpy(c, b, n);
    c[12] = 0x03;                        /* an unknown flag */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[15] = 0x80;
    assert_int_equal(parse(c, n), SP_EFORMAT);
}

static void test_counts(void **state)
{
    (void)state;
    uint8_t b[128], c[128];
    size_t n = unhex(b, vector_hex);
    char err[SP_ERRMSG_MAX];
    memcpy(c, b, n);
    c[16] = 3;                           /* one more entry than there is */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[16] = 1;                           /* one fewer: the rest is not a valid tail */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, 24);
    memset(c + 16, 0, 8);
    c[16 + 3] = 0x01; c[16] = 0x01;      /* 2^24 + 1 */
    assert_int_equal(parse(c, 24), SP_ERANGE);
    memset(c + 16, 0xff, 8);             /* 2^64 - 1 */
    assert_int_equal(parse(c, 24), SP_ERANGE);
    memset(c + 16, 0, 8);
    c[16 + 3] = 0x01;                    /* exactly 2^24 declared, none present */
    c[12] = 0;
    int k = 0;
    uint64_t count;
    assert_int_equal(sp_bundle_parse(c, 24, count_only, &k, &count, NULL, NULL, err), SP_EFORMAT);
    assert_int_equal(count, (uint64_t)1 << 24);
    memset(c + 16, 0, 8);                /* zero records, no head: just a header */
    assert_int_equal(parse(c, 24), 0);
}

static void test_lengths_that_lie(void **state)
{
    (void)state;
    uint8_t b[128], c[128];
    size_t n = unhex(b, vector_hex);
    memcpy(c, b, n);
    c[24] = 0; c[25] = 0;                /* key length 0 */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[24] = 0x00; c[25] = 0x02;          /* key length 512 */
    assert_int_equal(parse(c, n), SP_ERANGE);
    memcpy(c, b, n);
    c[24] = 0xff; c[25] = 0x01;          /* key length 511: allowed, then truncated */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[34] = 0x30;                        /* value of 48 bytes: runs past the end */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[34] = 0x01; c[35] = 0x00; c[36] = 0x00; c[37] = 0x10; /* 256 MiB + 1 */
    assert_int_equal(parse(c, n), SP_ERANGE);
    memcpy(c, b, n);
    c[34] = 0x00; c[35] = 0x00; c[36] = 0x00; c[37] = 0x10; /* exactly SP_RECORD_MAX: truncated */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    memset(c + 34, 0xff, 4);             /* 4 GiB - 1 */
    assert_int_equal(parse(c, n), SP_ERANGE);
    size_t h = n - 9;                    /* the head length */
    memcpy(c, b, n);
    memset(c + h, 0, 4);
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[h] = 0x01; c[h + 1] = 0x00; c[h + 2] = 0x01; c[h + 3] = 0; /* 64 KiB + 1 */
    assert_int_equal(parse(c, n), SP_ERANGE);
    memcpy(c, b, n);
    c[h] = 0x06;                         /* one byte more than there is */
    assert_int_equal(parse(c, n), SP_EFORMAT);
    memcpy(c, b, n);
    c[h] = 0x04;                         /* one byte less: trailing */
    assert_int_equal(parse(c, n), SP_EFORMAT);
}

/* Every single byte flipped (XOR 0x01, 0xff): the parser answers, never crashes, never over-reads. */
static void test_every_flip(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = unhex(b, vector_hex);
    int ok = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        for (int x = 0; x < 2; x++) {
            uint8_t *c = malloc(n);  /* exact size: ASan sees any over-read */
            assert_non_null(c);
            memcpy(c, b, n);
            c[i] ^= x ? 0xff : 0x01;
            int rc = parse(c, n);
            assert_true(rc == 0 || rc == SP_EFORMAT || rc == SP_ERANGE || rc == SP_EUNSUPPORTED);
            rc == 0 ? ok++ : bad++;
            free(c);
        }
    }
    /* the value and head bytes and the high key bytes are free; every framing byte matters */
    assert_true(ok > 0 && bad > ok);
}

static void test_writer_limits(void **state)
{
    (void)state;
    membuf m = {.n = 0};
    uint8_t k[600] = {0};
    assert_int_equal(sp_bundle_write_header(mem_write, &m, (uint64_t)SP_BUNDLE_COUNT_MAX + 1, 0), SP_ERANGE);
    assert_int_equal(sp_bundle_write_header(mem_write, &m, 1, 0x2), SP_EINVAL);
    assert_int_equal(sp_bundle_write_entry(mem_write, &m, k, 0, k, 1), SP_EINVAL);
    assert_int_equal(sp_bundle_write_entry(mem_write, &m, k, 512, k, 1), SP_ERANGE);
    assert_int_equal(sp_bundle_write_entry(mem_write, &m, k, 8, k, (size_t)SP_RECORD_MAX + 1), SP_ERANGE);
    assert_int_equal(sp_bundle_write_head(mem_write, &m, k, 0), SP_EINVAL);
    assert_int_equal(sp_bundle_write_head(mem_write, &m, k, SP_BUNDLE_HEAD_MAX + 1), SP_ERANGE);
    assert_int_equal(m.n, 0); /* nothing written by a refused call */
}

/* A reader that fails after a failure stays failed (SP_EBADSTATE). */
typedef struct one_shot {
    const uint8_t *p;
    size_t n, off;
} one_shot;

static int shot_read(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err)
{
    one_shot *o = ctx;
    (void)err;
    size_t k = o->n - o->off < len ? o->n - o->off : len;
    if (k > 3)
        k = 3; /* short reads are fine */
    memcpy(buf, o->p + o->off, k);
    o->off += k;
    *got = k;
    return SP_OK;
}

static void test_reader_state(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = unhex(b, vector_hex);
    b[34] = 0x30; /* the first value runs past the end */
    one_shot o = {.p = b, .n = n};
    sp_bundle_reader *r;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_bundle_reader_open(&r, shot_read, &o, err), SP_OK);
    assert_int_equal(sp_bundle_reader_count(r), 2);
    const uint8_t *k, *v, *h;
    size_t kl, vl, hl;
    assert_int_equal(sp_bundle_reader_next(r, &k, &kl, &v, &vl, err), SP_EFORMAT);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(sp_bundle_reader_next(r, &k, &kl, &v, &vl, err), SP_EBADSTATE);
    assert_int_equal(sp_bundle_reader_head(r, &h, &hl), SP_EBADSTATE);
    sp_bundle_reader_free(r);
    sp_bundle_reader_free(NULL);

    b[34] = 0x01;
    o.off = 0;
    assert_int_equal(sp_bundle_reader_open(&r, shot_read, &o, err), SP_OK);
    assert_int_equal(sp_bundle_reader_next(r, &k, &kl, &v, &vl, err), 1);
    assert_int_equal(vl, 1);
    assert_int_equal(sp_bundle_reader_head(r, &h, &hl), SP_EBADSTATE);
    assert_int_equal(sp_bundle_reader_next(r, &k, &kl, &v, &vl, err), 1);
    assert_int_equal(sp_bundle_reader_next(r, &k, &kl, &v, &vl, err), 0);
    assert_int_equal(sp_bundle_reader_offset(r), n);
    assert_int_equal(sp_bundle_reader_head(r, &h, &hl), SP_OK);
    assert_memory_equal(h, "head\n", 5);
    sp_bundle_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_write),   cmocka_unit_test(test_vector_parse),
        cmocka_unit_test(test_truncated_everywhere), cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_header_checks),  cmocka_unit_test(test_counts),
        cmocka_unit_test(test_lengths_that_lie), cmocka_unit_test(test_every_flip),
        cmocka_unit_test(test_writer_limits),  cmocka_unit_test(test_reader_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
