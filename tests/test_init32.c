/*
 * test_init32.c - the version-2 kinds UNIFORM32 and NORMAL32 (attest/init32.c,
 * SPEC.md 6.8): known answers, slices across batch and nonce boundaries,
 * threads and the streaming digest, the vector widths bit for bit against
 * the scalar definition, the accuracy of the binary32 ln and sincos against
 * libm, statistics, and the parameter checks.
 *
 * The expected digests come from the independent Python model
 * tests/init_reference.py (tests/cli/init_reference.sh compares its whole
 * table, these lines included, with tests/init_vectors.c).
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
#include "init32.h"
#include "init_test_util.h"

#define NAME "blocks.0.attn.weight"
#define N_VEC 4099
#define P36 (UINT64_C(1) << 36)
#define P62 (UINT64_C(1) << 62)

static const sp_dtype dtypes[3] = {SP_DTYPE_F32, SP_DTYPE_F16, SP_DTYPE_BF16};

static const struct {
    const char *label;
    sp_init_scheme s;
    const char *digest[3];   /* F32, F16, BF16 of [0, 4099), seed 7, NAME */
    uint32_t head[8];
} vectors[] = {
    {"uniform32(-0.1, 0.1)", {SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}},
     {"a04b23ee4a2b5e3ac17e61e456cc3cbfdd23413be9ce764ef94fdddf3db62777",
      "df0cda314c16f86324dd86774195547a77880d0321eca4eb0064e6620abc5df1",
      "19fd1cbe40bc460cf1a8e5410feb35626ef5043f8036d896cf2943895f141306"},
     {0xbdc8d993, 0x3dc48cf0, 0xbab72a66, 0xbd8ef608, 0xbc340426, 0xbc675da6, 0x3d82ecde,
      0x3cde10da}},
    {"normal32(0, 0.02)", {SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}},
     {"63055dece122b9bea29d383ed892af9c0dcad5904922ce8042867428957b1546",
      "bc46853fca860af24a7916e27481098bba143eaecd4abf9551e3371938d8dda6",
      "0e998d78546d2676b87ff2f9296686aa4790230774aa57d348caddd80c083d38"},
     {0x3d7798b0, 0xbbfc00f3, 0x3c6321e7, 0x3c9e56d5, 0xbcbc4b2b, 0x3c32f778, 0xbc08254a,
      0xbc1b7bd8}},
};
#define N_VECTORS (sizeof vectors / sizeof vectors[0])

/* ---------------------------------------------------------------- known answers */

static void test_vectors(void **state)
{
    (void)state;
    unsigned char *buf = xmalloc(N_VEC * 4), *odd = xmalloc(N_VEC * 4 + 1);
    char hex[65];
    for (size_t v = 0; v < N_VECTORS; v++) {
        assert_int_equal(sp_init_check(&vectors[v].s), SP_OK);
        for (int d = 0; d < 3; d++) {
            assert_int_equal(sp_init_fill(buf, dtypes[d], NAME, 7, &vectors[v].s, 0, N_VEC), SP_OK);
            hex_digest(hex, buf, N_VEC * sp_dtype_size(dtypes[d]));
            if (strcmp(hex, vectors[v].digest[d]) != 0)
                fail_msg("%s %s: got %s", vectors[v].label, sp_dtype_name(dtypes[d]), hex);
        }
        assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, NAME, 7, &vectors[v].s, 0, 8), SP_OK);
        for (int i = 0; i < 8; i++)
            assert_int_equal(le32(buf + 4 * i), vectors[v].head[i]);
        /* an output not aligned for floats takes the copying path: the same bytes */
        assert_int_equal(sp_init_fill(odd + 1, SP_DTYPE_F32, NAME, 7, &vectors[v].s, 0, N_VEC), SP_OK);
        hex_digest(hex, odd + 1, N_VEC * 4);
        assert_string_equal(hex, vectors[v].digest[0]);
    }
    free(buf);
    free(odd);
}

static void test_vectors_far(void **state)
{
    (void)state;
    static const struct {
        sp_init_scheme s;
        sp_dtype dt;
        uint64_t seed, first, count;
        const char *digest;
    } far[] = {
        {{SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}}, SP_DTYPE_F32, 7, P36 - 5, 16,
         "6529c94e7ff1521a5704969805060610d681978b8f0c0e8e96491461f2db4809"},
        {{SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}}, SP_DTYPE_F32, 7, P36 - 5, 16,
         "a8c132a8e99f109b1de6e4aaf009d2e4a7e2b93634210b90734c27779d5ec839"},
        {{SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}}, SP_DTYPE_F32, 7, P62 - 7, 7,
         "d0401aeb271a5e94a58ea922fde24978fd8c46370c0eefab71e71479c4f2efc9"},
        {{SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}}, SP_DTYPE_F32, 7, P62 - 3, 3,
         "b86ba4f3351c47483c03d8d10f96980473c326c2ab292bd82eebb89783a51522"},
        {{SP_INIT_NORMAL32, {0.5, 3.0, 0, 0}}, SP_DTYPE_F16, 7, 1, 4098,
         "a3e192de6c2b7f7787c5be4238a99ab5f0f47405a658a7624dfe44d352c6c859"},
        {{SP_INIT_NORMAL32, {0.0, 1e38, 0, 0}}, SP_DTYPE_F32, 7, 0, 1000,
         "2c0418de0bc721d450c2166af680d7b5fef440e3be3022e76b1546a12a7a87f3"},
        {{SP_INIT_NORMAL32, {0.0, 1e-40, 0, 0}}, SP_DTYPE_F32, 7, 0, 1000,
         "225aa1a9006eaec88260226b0551833f8f9cb9de31fce1d836913bc0dbe088b4"},
        {{SP_INIT_UNIFORM32, {-1e-6, 1e-6, 0, 0}}, SP_DTYPE_BF16, 7, 0, 4099,
         "106b5f0e20ad9b34ffaab26ee350c951325d8f47d420de803ea1972261050659"},
    };
    unsigned char *buf = xmalloc(N_VEC * 4);
    char hex[65];
    for (size_t k = 0; k < sizeof far / sizeof far[0]; k++) {
        assert_int_equal(sp_init_fill(buf, far[k].dt, NAME, far[k].seed, &far[k].s, far[k].first,
                                      far[k].count), SP_OK);
        hex_digest(hex, buf, (size_t)far[k].count * sp_dtype_size(far[k].dt));
        if (strcmp(hex, far[k].digest) != 0)
            fail_msg("far case %zu: got %s", k, hex);
    }
    free(buf);
}

/* Same words as version 1: uniform32 element 2j+1 is the top of v1's word j. */
static void test_shares_keystream(void **state)
{
    (void)state;
    sp_init_scheme u1 = {SP_INIT_UNIFORM, {0.0, 1.0, 0, 0}}, u2 = {SP_INIT_UNIFORM32, {0.0, 1.0, 0, 0}};
    unsigned char a[4 * 64], b[4 * 128];
    assert_int_equal(sp_init_fill(a, SP_DTYPE_F32, NAME, 7, &u1, 0, 64), SP_OK);
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, NAME, 7, &u2, 0, 128), SP_OK);
    for (int j = 0; j < 64; j++) {
        /* v1: top 53 bits of W(j) = w(2j+1) || w(2j) >> 11; v2: top 24 bits of w(2j+1) */
        float x = bits_f(le32(a + 4 * j)), y = bits_f(le32(b + 4 * (2 * j + 1)));
        assert_true(fabsf(x - y) <= 0x1p-24f);
    }
}

/* ---------------------------------------------------------------- slices, threads, digest */

static void check_slices(const sp_init_scheme *s, sp_dtype dt, uint64_t base, size_t n, int nrandom)
{
    size_t es = sp_dtype_size(dt);
    unsigned char *whole = xmalloc(n * es), *part = xmalloc(n * es + 8);
    assert_int_equal(sp_init_fill(whole, dt, NAME, 42, s, base, n), SP_OK);
    static const uint64_t fixed[] = {0, 1, 1, 1, 1, 2, 15, 2, 16, 1, 17, 15, 1023, 1, 1023, 2,
                                     1024, 1, 1025, 1000, 2047, 3000, 3, 0};
    size_t nfixed = sizeof fixed / sizeof fixed[0] / 2;
    for (size_t k = 0; k < nfixed + (size_t)nrandom; k++) {
        uint64_t off, cnt;
        if (k < nfixed) {
            off = fixed[2 * k] < n ? fixed[2 * k] : 0;
            cnt = fixed[2 * k + 1] <= n - off ? fixed[2 * k + 1] : n - off;
        } else {
            off = rng() % n;
            uint64_t room = n - off, r = rng();
            cnt = (r & 3) == 0 ? r % 19 : (r >> 8) % (room < 3000 ? room + 1 : 3001);
            if (cnt > room)
                cnt = room;
        }
        memset(part, 0xa5, n * es + 8);
        assert_int_equal(sp_init_fill(part, dt, NAME, 42, s, base + off, cnt), SP_OK);
        if (memcmp(part, whole + off * es, cnt * es) != 0)
            fail_msg("kind %d %s: slice [%llu + %llu, +%llu) differs", (int)s->kind, sp_dtype_name(dt),
                     (unsigned long long)base, (unsigned long long)off, (unsigned long long)cnt);
        for (size_t j = cnt * es; j < cnt * es + 8; j++)
            assert_int_equal(part[j], 0xa5);
    }
    free(whole);
    free(part);
}

static void test_slices(void **state)
{
    (void)state;
    rng_state = 3;
    for (size_t v = 0; v < N_VECTORS; v++) {
        for (int d = 0; d < 3; d++)
            check_slices(&vectors[v].s, dtypes[d], 0, 20000, 60);
        check_slices(&vectors[v].s, SP_DTYPE_F32, P36 - 3001, 6000, 40);   /* the nonce change */
        check_slices(&vectors[v].s, SP_DTYPE_F32, P62 - 5000, 5000, 20);   /* the last indices */
    }
}

/* sp_init_fill_threads and sp_init_digest: the same bytes and digests for every thread count. */
static void test_threads_digest(void **state)
{
    (void)state;
    const uint64_t n = 700001;   /* 2.8 MB of F32: three 1 MiB chunks, odd length */
    for (size_t v = 0; v < N_VECTORS; v++) {
        for (int d = 0; d < 3; d += 2) {
            size_t es = sp_dtype_size(dtypes[d]);
            unsigned char *a = xmalloc(n * es), *b = xmalloc(n * es);
            assert_int_equal(sp_init_fill(a, dtypes[d], "t.w", 5, &vectors[v].s, 0, n), SP_OK);
            assert_int_equal(sp_init_fill_threads(b, dtypes[d], "t.w", 5, &vectors[v].s, 0, n, 3), SP_OK);
            assert_memory_equal(a, b, n * es);
            sp_tensor t = {.name = "t.w", .dtype = dtypes[d], .ndim = 2, .shape = {7, n / 7},
                           .data = a, .nbytes = (n / 7) * 7 * es};
            uint8_t want[SP_DIGEST_BYTES], got[SP_DIGEST_BYTES];
            assert_int_equal(sp_tensor_digest(want, &t, 1), SP_OK);
            for (unsigned th = 1; th <= 3; th++) {
                assert_int_equal(sp_init_digest(got, &t, 5, &vectors[v].s, th), SP_OK);
                assert_memory_equal(want, got, sizeof want);
            }
            free(a);
            free(b);
        }
    }
}

/* ---------------------------------------------------------------- vector widths */

/* Every width against the scalar definition, bit for bit, on edge and random words. */
static void test_lanes(void **state)
{
    (void)state;
    enum { NP = 1 << 16 };
    unsigned char *words = xmalloc((size_t)NP * 8);
    float *want = malloc((size_t)NP * 2 * sizeof(float)), *got = malloc((size_t)NP * 2 * sizeof(float));
    assert_non_null(want);
    assert_non_null(got);
    /* u1 = 2^-24, 1, around sqrt(1/2) and sqrt 2 switches; every quarter-turn edge */
    static const uint32_t edges[] = {0, 0xff, 0xffffff00u, 0xffffffffu, 0x100u, 0xb504f300u,
                                     0xb504f200u, 0x5a827900u, 0x7fffff00u, 0x80000000u,
                                     0x1fffff00u, 0x20000000u, 0x20000100u, 0x40000000u,
                                     0x60000000u, 0xc0000000u, 0xdfffff00u, 0xe0000000u};
    size_t ne = sizeof edges / sizeof edges[0];
    rng_state = 11;
    for (size_t k = 0; k < 2 * (size_t)NP; k++) {
        uint32_t w = k < 2 * ne * ne ? ((k & 1) ? edges[(k / 2) % ne] : edges[(k / 2) / ne % ne])
                                     : (uint32_t)rng();
        memcpy(words + 4 * k, &w, 4);
    }
    static const float params[][2] = {{0.0f, 1.0f}, {0.0f, 0.02f}, {-3.5f, 1e-30f}, {1e30f, 7.0f},
                                      {0.0f, 1e38f}, {0.0f, 1e-40f}};
    for (size_t pi = 0; pi < sizeof params / sizeof params[0]; pi++) {
        assert_int_equal(sp_init32_normal_lanes(1, want, words, NP, params[pi][0], params[pi][1]), NP);
        for (unsigned lanes = 4; lanes <= 8; lanes += 4) {
            size_t done = sp_init32_normal_lanes(lanes, got, words, NP, params[pi][0], params[pi][1]);
            if (done == 0) {
                print_message("init32: no %u-lane path on this CPU, skipped\n", lanes);
                continue;
            }
            assert_int_equal(done, NP);
            for (size_t k = 0; k < 2 * (size_t)NP; k++)
                if (f_bits(want[k]) != f_bits(got[k]))
                    fail_msg("normal32 %u lanes, element %zu (w %08x %08x): %08x, scalar %08x", lanes,
                             k, le32(words + 8 * (k / 2)), le32(words + 8 * (k / 2) + 4),
                             f_bits(got[k]), f_bits(want[k]));
        }
    }
    static const double uparams[][2] = {{-0.1, 0.2}, {0.0, 1.0}, {-1e-6, 2e-6}, {1e30, 3e30}};
    for (size_t pi = 0; pi < sizeof uparams / sizeof uparams[0]; pi++) {
        assert_int_equal(sp_init32_uniform_lanes(1, want, words, 2 * NP, uparams[pi][0], uparams[pi][1]),
                         2 * NP);
        for (unsigned lanes = 4; lanes <= 8; lanes += 4) {
            size_t done = sp_init32_uniform_lanes(lanes, got, words, 2 * NP, uparams[pi][0], uparams[pi][1]);
            if (done == 0)
                continue;
            assert_int_equal(done, 2 * NP);
            assert_memory_equal(want, got, 2 * (size_t)NP * sizeof(float));
        }
    }
    /* a width that does not divide the count leaves a prefix of whole steps */
    assert_int_equal(sp_init32_normal_lanes(4, got, words, 7, 0.0f, 1.0f), 4);
    unsigned l = sp_init32_lanes();
    assert_true(l == 1 || l == 4 || l == 8);
    free(words);
    free(want);
    free(got);
}

/* The vector BF16 rounding against sp_f32_to_bf16 on every kind of bit pattern. */
static void test_bf16_lanes(void **state)
{
    (void)state;
    enum { N = 1 << 18 };
    float *f = malloc(N * sizeof(float));
    unsigned char *got = xmalloc(2 * N);
    assert_non_null(f);
    static const uint32_t sp[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
                                  0x7f800001u, 0x7f7fffffu, 0x7f7f8000u, 0x7f7f7fffu, 0x3f808000u,
                                  0x3f818000u, 0x3f808001u, 0x00000001u, 0x00008000u, 0x80018000u};
    rng_state = 13;
    for (size_t i = 0; i < N; i++)
        f[i] = bits_f(i < sizeof sp / sizeof sp[0] ? sp[i] : (uint32_t)rng());
    for (unsigned lanes = 4; lanes <= 8; lanes += 4) {
        size_t done = sp_init32_bf16_lanes(lanes, got, f, N);
        if (done == 0)
            continue;
        assert_int_equal(done, N);
        for (size_t i = 0; i < N; i++) {
            uint16_t h = (uint16_t)(got[2 * i] | got[2 * i + 1] << 8);
            if (h != sp_f32_to_bf16(f[i]))
                fail_msg("bf16 %u lanes: %08x -> %04x, scalar %04x", lanes, f_bits(f[i]), h,
                         sp_f32_to_bf16(f[i]));
        }
    }
    free(f);
    free(got);
}

/* ---------------------------------------------------------------- accuracy */

static double ulp32(double x)
{
    int e;
    frexp(fabs(x), &e);   /* |x| in [2^(e-1), 2^e) */
    return ldexp(1.0, (e - 1 < -126 ? -126 : e - 1) - 23);
}

/* ln on every u1 = k * 2^-24 (k = 1 .. 2^24) and on random normal floats, against log(). */
static void test_ln32_accuracy(void **state)
{
    (void)state;
    double worst = 0, worst_x = 0;
    for (uint32_t k = 1; k <= (1u << 24); k++) {
        float x = (float)k * 0x1p-24f;
        double want = log((double)x), got = sp_imath32_ln(x);
        double err = want == 0.0 ? fabs(got) : fabs(got - want) / ulp32(want);
        if (err > worst) {
            worst = err;
            worst_x = x;
        }
    }
    rng_state = 12;
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = rng();
        float x = bits_f((uint32_t)((r & 0x7fffffu) | ((1 + (r >> 23) % 254) << 23)));
        double want = log((double)x), got = sp_imath32_ln(x);
        double err = want == 0.0 ? fabs(got) : fabs(got - want) / ulp32(want);
        if (err > worst) {
            worst = err;
            worst_x = x;
        }
    }
    print_message("ln32: worst %.2f ulp (x = %a)\n", worst, worst_x);
    assert_true(worst <= 2.0);
}

/* sin and cos of 2 pi n 2^-24 for every n, against double sin/cos of the exact angle. */
static void test_sincos32_accuracy(void **state)
{
    (void)state;
    double worst = 0;
    uint32_t worst_n = 0;
    const long double twopi = 6.283185307179586476925286766559L;
    for (uint32_t n = 0; n < (1u << 24); n++) {
        float s, c;
        sp_imath32_sincos2pi(n, &s, &c);
        long double a = twopi * (long double)n * 0x1p-24L;
        double ws = (double)sinl(a), wc = (double)cosl(a);
        /* error in units of the ulp of the larger of |sin|, |cos| (the pair's radius is 1) */
        double es = fabs(s - ws) / ulp32(fmax(fabs(ws), 0x1p-1)), ec = fabs(c - wc) / ulp32(fmax(fabs(wc), 0x1p-1));
        double e = es > ec ? es : ec;
        if (e > worst) {
            worst = e;
            worst_n = n;
        }
        if (s * s + c * c < 0.99999f || s * s + c * c > 1.00001f)
            fail_msg("sincos32(%u): %a %a off the unit circle", n, s, c);
    }
    print_message("sincos32: worst %.2f ulp (of max(|v|, 1/2); n = %u)\n", worst, worst_n);
    assert_true(worst <= 3.0);
}

/* The radius r = sqrt(-2 ln u1) over every u1, against double; its largest value is |z|'s bound. */
static void test_radius_bound(void **state)
{
    (void)state;
    double worst = 0, rmax = 0;
    for (uint32_t k = 0; k < (1u << 24); k++) {
        float out[2];
        sp_init32_normal_pair(out, k << 8, 0, 0.0f, 1.0f);   /* angle 0: out[0] = r */
        double want = sqrt(-2.0 * log(((double)k + 1.0) * 0x1p-24));
        if (want > 0) {
            double e = fabs(out[0] - want) / ulp32(want);
            if (e > worst)
                worst = e;
        }
        if (out[0] > rmax)
            rmax = out[0];
    }
    print_message("normal32 radius: worst %.2f ulp, max %.6f\n", worst, rmax);
    assert_true(worst <= 3.0);
    assert_true(rmax > 5.768 && rmax < 5.7685);   /* sqrt(48 ln 2) = 5.76818... */
}

/* ---------------------------------------------------------------- statistics */

#define N_STAT (1u << 20)

static float *gen(const sp_init_scheme *s, uint64_t first)
{
    float *x = malloc(N_STAT * sizeof(float));
    assert_non_null(x);
    assert_int_equal(sp_init_fill(x, SP_DTYPE_F32, "stats.weight", 2024, s, first, N_STAT), SP_OK);
    return x;   /* little-endian host: F32 bytes are floats */
}

static double frac_below(const float *x, size_t n, double t)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += x[i] < t;
    return (double)c / (double)n;
}

static double corr(const float *x, size_t n, size_t start, size_t step, size_t lag, int square)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    size_t c = 0;
    for (size_t i = start; i + lag < n; i += step, c++) {
        double a = x[i], b = x[i + lag];
        if (square) {
            a *= a;
            b *= b;
        }
        sa += a;
        sb += b;
        saa += a * a;
        sbb += b * b;
        sab += a * b;
    }
    double ma = sa / c, mb = sb / c;
    return (sab / c - ma * mb) / sqrt((saa / c - ma * ma) * (sbb / c - mb * mb));
}

static void test_stats(void **state)
{
    (void)state;
    sp_init_scheme u = {SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}};
    float *x = gen(&u, 0);
    double s = 0, ss = 0, mn = 1, mx = -1;
    for (size_t i = 0; i < N_STAT; i++) {
        s += x[i];
        ss += (double)x[i] * x[i];
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    assert_true(mn >= -0.1f && mx <= 0.1f && mn < -0.0999 && mx > 0.0999);
    assert_true(fabs(s / N_STAT) < 5e-4);
    assert_true(fabs(sqrt(ss / N_STAT) / (0.2 / sqrt(12.0)) - 1.0) < 0.005);
    for (int b = 1; b < 10; b++)
        assert_true(fabs(frac_below(x, N_STAT, -0.1 + 0.02 * b) - 0.1 * b) < 0.003);
    assert_true(fabs(corr(x, N_STAT, 0, 1, 1, 0)) < 0.01);
    free(x);

    sp_init_scheme n = {SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}};
    static const double cdf[5] = {0.022750131948179, 0.158655253931457, 0.5, 0.841344746068543,
                                  0.977249868051821};
    for (int pass = 0; pass < 2; pass++) {
        x = gen(&n, pass ? P36 - 12345 : 0);
        s = ss = 0;
        mx = 0;
        for (size_t i = 0; i < N_STAT; i++) {
            s += x[i];
            ss += (double)x[i] * x[i];
            mx = fmax(mx, fabs(x[i]));
        }
        assert_true(fabs(s / N_STAT) < 3e-4);
        assert_true(fabs(sqrt(ss / N_STAT) / 0.02 - 1.0) < 0.01);
        assert_true(mx <= 0.02 * 5.7682);   /* |z| <= sqrt(48 ln 2) */
        for (int k = 0; k < 5; k++)
            assert_true(fabs(frac_below(x, N_STAT, 0.02 * (k - 2)) - cdf[k]) < 0.003);
        assert_true(fabs(corr(x, N_STAT, 0, 2, 1, 0)) < 0.01);   /* cos and sin of a pair */
        assert_true(fabs(corr(x, N_STAT, 0, 2, 1, 1)) < 0.01);   /* and their squares */
        assert_true(fabs(corr(x, N_STAT, 1, 2, 1, 0)) < 0.01);   /* neighbouring pairs */
        free(x);
    }
}

/* ---------------------------------------------------------------- checks */

static void test_check(void **state)
{
    (void)state;
    static const struct {
        int kind;
        double p[4];
        int rc;
    } cases[] = {
        {SP_INIT_UNIFORM32, {-1, 1, 0, 0}, SP_OK},
        {SP_INIT_UNIFORM32, {1e300, 1.1e300, 0, 0}, SP_OK},   /* rounds to +inf in F32: allowed as UNIFORM */
        {SP_INIT_NORMAL32, {0, 0.02, 0, 0}, SP_OK},
        {SP_INIT_NORMAL32, {-3e38, 3e38, 0, 0}, SP_OK},
        {SP_INIT_NORMAL32, {0, 1e-45, 0, 0}, SP_OK},          /* rounds to 2^-149 */
        {SP_INIT_UNIFORM32, {1, 1, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM32, {1, -1, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM32, {-1e308, 1e308, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM32, {0, 1, 1, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM32, {0, 1, 0, -0.0}, SP_EINVAL},
        {SP_INIT_NORMAL32, {0, 0, 0, 0}, SP_EINVAL},
        {SP_INIT_NORMAL32, {0, -1, 0, 0}, SP_EINVAL},
        {SP_INIT_NORMAL32, {0, 1e-50, 0, 0}, SP_EINVAL},      /* std rounds to 0 in binary32 */
        {SP_INIT_NORMAL32, {0, 4e38, 0, 0}, SP_EINVAL},       /* std overflows binary32 */
        {SP_INIT_NORMAL32, {-4e38, 1, 0, 0}, SP_EINVAL},      /* mean overflows binary32 */
        {SP_INIT_NORMAL32, {0, 1, 0, 2}, SP_EINVAL},
        {SP_INIT_NORMAL32, {0, INFINITY, 0, 0}, SP_EINVAL},
        {SP_INIT_NORMAL32, {NAN, 1, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM32, {-INFINITY, 1, 0, 0}, SP_EINVAL},
        {99, {0, 0, 0, 0}, SP_EINVAL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sp_init_scheme s;
        s.kind = (sp_init_kind)cases[k].kind;
        memcpy(s.p, cases[k].p, sizeof s.p);
        if (sp_init_check(&s) != cases[k].rc)
            fail_msg("check case %zu: got %d want %d", k, sp_init_check(&s), cases[k].rc);
        unsigned char b[16];
        int rc = sp_init_fill(b, SP_DTYPE_F32, "w", 1, &s, 0, 4);
        assert_int_equal(rc, cases[k].rc);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_far),
        cmocka_unit_test(test_shares_keystream),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_threads_digest),
        cmocka_unit_test(test_lanes),
        cmocka_unit_test(test_bf16_lanes),
        cmocka_unit_test(test_ln32_accuracy),
        cmocka_unit_test(test_sincos32_accuracy),
        cmocka_unit_test(test_radius_bound),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
