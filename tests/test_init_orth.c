/*
 * test_init_orth.c - the ORTHOGONAL scheme (attest/init_orth.c, SPEC.md 6.9):
 * known answers from tests/init_reference.py, orthogonality of the F32
 * output, slices and threads equal the whole, the digest without
 * materialising, and the checks of sp_init_check / sp_init_orthogonal /
 * sp_init_shape_check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <sodium.h>

#include "digest.h"
#include "init.h"
#include "init_test_util.h"

#define NAME "blocks.0.attn.weight"

static sp_init_scheme orth(double gain, double rows, double cols)
{
    sp_init_scheme s = {SP_INIT_ORTHOGONAL, {gain, rows, cols, 0.0}};
    return s;
}

/* Lines of the vector table (SPEC.md 6.9), from tests/init_reference.py. */
static void test_vectors(void **state)
{
    (void)state;
    static const struct {
        double p[3];
        sp_dtype dt;
        uint64_t seed;
        const char *name;
        uint64_t first, count;
        const char *hex;
    } v[] = {
        {{1.0, 12, 5}, SP_DTYPE_F32, 7, NAME, 0, 60,
         "608d4730e860c997d26d337b46f93c561e5afceaaf9a37b4938c0f5eee07966a"},
        {{2.0, 3, 7}, SP_DTYPE_F32, 7, NAME, 0, 21,
         "3648b616c7e04146c8e97f687348258495d2d49941937fdcb4330c774e24ae56"},
        {{2.0, 3, 7}, SP_DTYPE_BF16, 7, NAME, 0, 21,
         "ea1c7c351870321c00c9d2216cc251cadedf77de09d3d1da3db42408b24b3358"},
        {{0.5, 64, 64}, SP_DTYPE_F16, 7, NAME, 0, 4096,
         "57f9de3201a62772c7bcd3fb017526ce297e871ccd67da8ea0b846c3a1e50d68"},
        {{1.0, 96, 40}, SP_DTYPE_F32, 7, NAME, 1000, 1000,
         "31253a800ebc503d1624d09f57572c6aabd940e65008db7fb177ff7de4fb7f1d"},
        {{1.0, 1, 1}, SP_DTYPE_F32, 7, NAME, 0, 1,
         "5030e918903d9b00a4f69c64e67f10a3ff440481bcf551be701ae3e3a830333b"},
    };
    static unsigned char buf[4096 * 4];
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        sp_init_scheme s = orth(v[k].p[0], v[k].p[1], v[k].p[2]);
        assert_int_equal(sp_init_fill(buf, v[k].dt, v[k].name, v[k].seed, &s, v[k].first, v[k].count),
                         SP_OK);
        char hex[65];
        hex_digest(hex, buf, (size_t)v[k].count * sp_dtype_size(v[k].dt));
        assert_string_equal(hex, v[k].hex);
    }
    /* head: the first four F32 elements of orth_tall */
    sp_init_scheme s = orth(1.0, 12, 5);
    uint32_t head[4];
    assert_int_equal(sp_init_fill(head, SP_DTYPE_F32, NAME, 7, &s, 0, 4), SP_OK);
    assert_int_equal(head[0], 0x3d2bc3c7);
    assert_int_equal(head[3], 0xbeaf75e7);
}

/* Q^T Q = I (tall) or Q Q^T = I (wide) to ~1e-6 in F32, and the gain scales it. */
static void check_orthogonal(size_t rows, size_t cols, double gain)
{
    sp_init_scheme s = orth(gain, (double)rows, (double)cols);
    float *f = malloc(rows * cols * sizeof *f);
    assert_non_null(f);
    assert_int_equal(sp_init_fill(f, SP_DTYPE_F32, "rnn.weight_hh_l0", 3, &s, 0, rows * cols), SP_OK);
    size_t n = rows >= cols ? cols : rows, len = rows >= cols ? rows : cols;
    double worst = 0.0;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            double d = 0.0;
            for (size_t k = 0; k < len; k++) {
                double x = rows >= cols ? f[k * cols + a] : f[a * cols + k];
                double y = rows >= cols ? f[k * cols + b] : f[b * cols + k];
                d += x * y;
            }
            d = d / (gain * gain) - (a == b ? 1.0 : 0.0);
            if (fabs(d) > worst)
                worst = fabs(d);
        }
    assert_true(worst < 2e-6);
    free(f);
}

static void test_orthogonality(void **state)
{
    (void)state;
    check_orthogonal(64, 64, 1.0);
    check_orthogonal(200, 50, 1.0);
    check_orthogonal(30, 170, 2.0);
    check_orthogonal(1, 9, 0.5);
    check_orthogonal(9, 1, 1.0);
}

/* Any slice and every thread count give the bytes of the whole; the digest too. */
static void test_slices_threads_digest(void **state)
{
    (void)state;
    sp_init_scheme s = orth(1.5, 70, 33);
    size_t numel = 70 * 33;
    uint16_t *whole = malloc(numel * 2), *part = malloc(numel * 2);
    assert_non_null(whole);
    assert_non_null(part);
    assert_int_equal(sp_init_fill(whole, SP_DTYPE_BF16, "w", 9, &s, 0, numel), SP_OK);
    static const uint64_t cut[][2] = {{0, 1}, {5, 600}, {2309, 1}, {1000, 1310}, {0, 2310}};
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        assert_int_equal(sp_init_fill(part, SP_DTYPE_BF16, "w", 9, &s, cut[k][0], cut[k][1]), SP_OK);
        assert_memory_equal(part, whole + cut[k][0], (size_t)cut[k][1] * 2);
    }
    for (unsigned th = 1; th <= 3; th++) {
        memset(part, 0, numel * 2);
        assert_int_equal(sp_init_fill_threads(part, SP_DTYPE_BF16, "w", 9, &s, 0, numel, th), SP_OK);
        assert_memory_equal(part, whole, numel * 2);
    }
    sp_tensor t = {.name = "w", .dtype = SP_DTYPE_BF16, .ndim = 2, .shape = {70, 33},
                   .nbytes = numel * 2, .data = whole};
    uint8_t want[SP_DIGEST_BYTES], got[SP_DIGEST_BYTES];
    assert_int_equal(sp_tensor_digest(want, &t, 1), SP_OK);
    assert_int_equal(sp_init_digest(got, &t, 9, &s, 2), SP_OK);
    assert_memory_equal(want, got, sizeof want);
    /* past the end of the matrix */
    assert_int_equal(sp_init_fill(part, SP_DTYPE_BF16, "w", 9, &s, 2310, 1), SP_ERANGE);
    assert_int_equal(sp_init_fill(part, SP_DTYPE_BF16, "w", 9, &s, 2000, 311), SP_ERANGE);
    assert_int_equal(sp_init_fill(part, SP_DTYPE_BF16, "w", 9, &s, 2310, 0), SP_OK);
    free(whole);
    free(part);
}

static void test_checks(void **state)
{
    (void)state;
    sp_init_scheme s = orth(1.0, 4, 4);
    assert_int_equal(sp_init_check(&s), SP_OK);
    const double bad[][4] = {
        {0.0, 4, 4, 0}, {-1.0, 4, 4, 0}, {INFINITY, 4, 4, 0}, {NAN, 4, 4, 0},
        {1.0, 0, 4, 0}, {1.0, 4, 0, 0}, {1.0, 4.5, 4, 0}, {1.0, 4, -4, 0}, {1.0, 4, 4, 1.0},
        {1.0, 4, 4, -0.0}, {1.0, 16777217.0, 1, 0}, {1.0, 4097, 4096, 0},
        {1.0, 4096, 4096, 0} /* 2^24 elements but 2^36 work: allowed below */,
    };
    for (size_t k = 0; k + 1 < sizeof bad / sizeof bad[0]; k++) {
        sp_init_scheme b = {SP_INIT_ORTHOGONAL, {bad[k][0], bad[k][1], bad[k][2], bad[k][3]}};
        assert_int_equal(sp_init_check(&b), SP_EINVAL);
    }
    s = orth(1.0, 4096, 4096);
    assert_int_equal(sp_init_check(&s), SP_OK);
    s = orth(1.0, 16777216.0, 1);
    assert_int_equal(sp_init_check(&s), SP_OK);
    s = orth(1.0, 8192, 2048);   /* 2^24 elements, 2^35 work */
    assert_int_equal(sp_init_check(&s), SP_OK);
    s = orth(1.0, 8192, 4096);   /* 2^25 elements */
    assert_int_equal(sp_init_check(&s), SP_EINVAL);
    /* kinds 6 and 7 are not ORTHOGONAL's business, but unknown here */
    sp_init_scheme k6 = {(sp_init_kind)6, {0, 0, 0, 0}}, k9 = {(sp_init_kind)9, {0, 0, 0, 0}};
    assert_int_equal(sp_init_check(&k9), SP_EINVAL);
    (void)k6;

    /* sp_init_orthogonal binds the gain to a shape (rows = shape[0]) */
    uint64_t sh[3] = {8, 3, 5};
    assert_int_equal(sp_init_orthogonal(&s, 2.0, sh, 3), SP_OK);
    assert_true(s.kind == SP_INIT_ORTHOGONAL && s.p[0] == 2.0 && s.p[1] == 8.0 && s.p[2] == 15.0 &&
                s.p[3] == 0.0);
    assert_int_equal(sp_init_shape_check(&s, sh, 3), SP_OK);
    uint64_t other[2] = {15, 8}, flat[2] = {8, 15}, vec[1] = {120};
    assert_int_equal(sp_init_shape_check(&s, other, 2), SP_EINVAL);
    assert_int_equal(sp_init_shape_check(&s, flat, 2), SP_OK);   /* same rows and cols */
    assert_int_equal(sp_init_shape_check(&s, vec, 1), SP_EINVAL);
    assert_int_equal(sp_init_orthogonal(&s, 1.0, vec, 1), SP_EINVAL);
    assert_int_equal(s.kind, SP_INIT_EXTERNAL);
    uint64_t empty[2] = {0, 4};
    assert_int_equal(sp_init_orthogonal(&s, 1.0, empty, 2), SP_EINVAL);
    assert_int_equal(sp_init_orthogonal(&s, 0.0, sh, 2), SP_EINVAL);
    uint64_t huge[2] = {1u << 13, 1u << 12};
    assert_int_equal(sp_init_orthogonal(&s, 1.0, huge, 2), SP_EINVAL);
    sp_init_scheme nrm = {SP_INIT_NORMAL, {0, 1, 0, 0}};
    assert_int_equal(sp_init_shape_check(&nrm, vec, 1), SP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_orthogonality),
        cmocka_unit_test(test_slices_threads_digest),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
