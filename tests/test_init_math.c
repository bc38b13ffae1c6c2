/*
 * test_init_math.c - the initialiser's number crunching: f32 <-> bf16/f16
 * conversions (known round-to-nearest-even cases, exhaustive round trips,
 * an independent nearest-value search, the compiler's _Float16 when it has
 * one) and the libm-free elementary functions of attest/init_math.c against
 * libm (long double where libm's own argument rounding would dominate).
 * Bit-exactness across compilers is tested by tests/cli/init_*.sh.
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
#include <float.h>
#include <math.h>

#include "init.h"
#include "init_math.h"
#include "init_test_util.h"

static double bits_d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---------------------------------------------------------------- conversions */

static void test_bf16_known(void **state)
{
    (void)state;
    static const struct {
        uint32_t in;
        uint16_t out;
    } k[] = {
        {0x3f800000, 0x3f80}, /* 1 */
        {0xc0000000, 0xc000}, /* -2 */
        {0x00000000, 0x0000},
        {0x80000000, 0x8000}, /* -0 keeps its sign */
        {0x3f808000, 0x3f80}, /* tie, kept part even: down */
        {0x3f818000, 0x3f82}, /* tie, kept part odd: up */
        {0x3f808001, 0x3f81}, /* above the tie */
        {0x3f807fff, 0x3f80}, /* below the tie */
        {0x3f80ffff, 0x3f81},
        {0x3fff8000, 0x4000}, /* carry into the exponent */
        {0x7f7f7fff, 0x7f7f},
        {0x7f7f8000, 0x7f80}, /* tie above the largest finite, odd: to Inf */
        {0x7f7fffff, 0x7f80},
        {0x7f800000, 0x7f80}, /* Inf */
        {0xff800000, 0xff80},
        {0x7f800001, 0x7fc0}, /* signalling NaN stays NaN (naive rounding gives Inf) */
        {0x7fffffff, 0x7fc0}, /* NaN must not carry into the sign */
        {0xffc00000, 0xffc0},
        {0xff800001, 0xffc0},
        {0x00008000, 0x0000}, /* subnormal tie to even */
        {0x00018000, 0x0002},
        {0x00010001, 0x0001},
        {0x007fffff, 0x0080}, /* largest subnormal rounds to the smallest normal */
        {0x3eaaaaab, 0x3eab}, /* 1/3 */
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (sp_f32_to_bf16(bits_f(k[i].in)) != k[i].out)
            fail_msg("bf16(%08x) = %04x, want %04x", k[i].in, sp_f32_to_bf16(bits_f(k[i].in)),
                     k[i].out);
}

static void test_f16_known(void **state)
{
    (void)state;
    static const struct {
        uint32_t in;
        uint16_t out;
    } k[] = {
        {0x3f800000, 0x3c00}, /* 1 */
        {0xc0000000, 0xc000}, /* -2 */
        {0x80000000, 0x8000},
        {0x3f801000, 0x3c00}, /* 1 + 2^-11: tie, even: down */
        {0x3f803000, 0x3c02}, /* 1 + 3*2^-11: tie, odd: up */
        {0x3f801001, 0x3c01},
        {0x477fe000, 0x7bff}, /* 65504, largest finite */
        {0x477fefff, 0x7bff}, /* just below the midpoint to 2^16 */
        {0x477ff000, 0x7c00}, /* 65520: tie, odd: up to Inf */
        {0xc77ff000, 0xfc00},
        {0x47c35000, 0x7c00}, /* 1e5 */
        {0x7f7fffff, 0x7c00},
        {0x7f800000, 0x7c00},
        {0xff800000, 0xfc00},
        {0x7fc00000, 0x7e00},
        {0x7f800001, 0x7e00}, /* signalling NaN stays NaN */
        {0xffffffff, 0xfe00},
        {0x38800000, 0x0400}, /* 2^-14, smallest normal */
        {0x387fe000, 0x0400}, /* 1023.5 * 2^-24: tie to even 1024 */
        {0x387fc000, 0x03ff}, /* 1023 * 2^-24, largest subnormal */
        {0x387f4000, 0x03fd}, /* 1021 * 2^-24 exactly */
        {0x33800000, 0x0001}, /* 2^-24, smallest subnormal */
        {0x33000000, 0x0000}, /* 2^-25: tie to even 0 */
        {0x33000001, 0x0001},
        {0xb3000000, 0x8000},
        {0x33c00000, 0x0002}, /* 1.5 * 2^-24: tie to even 2 */
        {0x34200000, 0x0002}, /* 2.5 * 2^-24: tie to even 2 */
        {0x34300000, 0x0003}, /* 2.75 * 2^-24 */
        {0x32ffffff, 0x0000},
        {0x00000001, 0x0000}, /* binary32 subnormal */
        {0x3eaaaaab, 0x3555}, /* 1/3 */
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (sp_f32_to_f16(bits_f(k[i].in)) != k[i].out)
            fail_msg("f16(%08x) = %04x, want %04x", k[i].in, sp_f32_to_f16(bits_f(k[i].in)),
                     k[i].out);
}

/* f16 value by the textbook formula, independent of init.c */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_widen(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        int e = (h >> 10) & 0x1f;
        float f = sp_f16_to_f32((uint16_t)h);
        if (e == 31) {
            assert_true((h & 0x3ff) ? isnan(f) : isinf(f));
            assert_int_equal(signbit(f) != 0, (h & 0x8000) != 0);
        } else {
            assert_true((double)f == f16_value((uint16_t)h));
            assert_int_equal(signbit(f) != 0, (h & 0x8000) != 0);
            /* round trip */
            assert_int_equal(sp_f32_to_f16(f), h);
        }
        float b = sp_bf16_to_f32((uint16_t)h);
        assert_int_equal(f_bits(b), h << 16);
        if (!isnan(b))
            assert_int_equal(sp_f32_to_bf16(b), h);
        else
            assert_true(isnan(sp_bf16_to_f32(sp_f32_to_bf16(b))));
    }
}

/*
 * Nearest-value reference: the two neighbours of |x| among the representable
 * values (found by binary search on the ordered bit patterns), the closer
 * wins, a tie goes to the even pattern; beyond the largest finite value plus
 * half an ulp, infinity.
 */
static uint16_t ref_round(float x, double (*value)(uint16_t), uint16_t max_finite,
                          double overflow_at)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double t = fabs((double)x);
    if (t >= overflow_at)
        return (uint16_t)(sign | (max_finite + 1));
    uint16_t lo = 0, hi = max_finite; /* largest pattern with value <= t */
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (value(mid) <= t)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    if (lo == max_finite)
        return (uint16_t)(sign | lo);
    double dl = t - value(lo), du = value((uint16_t)(lo + 1)) - t;
    uint16_t r = dl < du ? lo : du < dl ? (uint16_t)(lo + 1) : (lo & 1) ? (uint16_t)(lo + 1) : lo;
    return (uint16_t)(sign | r);
}

static double bf16_value(uint16_t h)
{
    return (double)bits_f((uint32_t)h << 16);
}

static void check_against_ref(uint32_t b)
{
    float x = bits_f(b);
    if (isnan(x))
        return;
    uint16_t want16 = ref_round(x, f16_value, 0x7bff, 65520.0);
    /* bfloat16: largest finite 0x7f7f, midpoint to 2^128 = (2 - 2^-8) 2^127 */
    uint16_t wantb = ref_round(x, bf16_value, 0x7f7f, ldexp(2.0 - ldexp(1.0, -8), 127));
    if (sp_f32_to_f16(x) != want16)
        fail_msg("f16(%08x) = %04x, reference %04x", b, sp_f32_to_f16(x), want16);
    if (sp_f32_to_bf16(x) != wantb)
        fail_msg("bf16(%08x) = %04x, reference %04x", b, sp_f32_to_bf16(x), wantb);
}

static void test_narrow_reference(void **state)
{
    (void)state;
    rng_state = 11;
    for (int i = 0; i < 300000; i++) {
        uint64_t r = rng();
        check_against_ref((uint32_t)r);
        /* exponents where binary16 subnormals, normals and overflow live */
        check_against_ref((uint32_t)((r & 0x807fffffu) | ((96 + (r >> 32) % 52) << 23)));
    }
    /* dense mantissas around the edges: 2^-25, 2^-14, 2^15, bf16 subnormals */
    static const uint32_t exps[] = {102, 112, 142, 0, 1, 254};
    for (size_t e = 0; e < sizeof exps / sizeof exps[0]; e++)
        for (uint32_t m = 0; m < (1u << 23); m += 13)
            check_against_ref((exps[e] << 23) | m | ((m & 1) << 31));
}

#if defined(__FLT16_MAX__) && !defined(__clang__)
/* GCC's _Float16 conversion (libgcc's __truncsfhf2) as a second opinion. */
static void test_f16_vs_compiler(void **state)
{
    (void)state;
    for (uint64_t b = 0; b < (UINT64_C(1) << 32); b += 251) {
        float x = bits_f((uint32_t)b);
        if (isnan(x))
            continue;
        volatile _Float16 h = (_Float16)x;
        uint16_t hb;
        memcpy(&hb, (const void *)&h, sizeof hb);
        if (sp_f32_to_f16(x) != hb)
            fail_msg("f16(%08x) = %04x, _Float16 %04x", (unsigned)b, sp_f32_to_f16(x), hb);
    }
}
#endif

/* ---------------------------------------------------------------- elementary functions */

static double ulp_of(double y)
{
    y = fabs(y);
    if (y < DBL_MIN)
        return ldexp(1.0, -1074);
    return nextafter(y, INFINITY) - y;
}

static double worst;

static void within(const char *fn, double arg, double got, double want, double ulps)
{
    double e = fabs(got - want) / ulp_of(want);
    if (e > worst)
        worst = e;
    if (!(e <= ulps))
        fail_msg("%s(%a) = %a, reference %a: %.2f ulp", fn, arg, got, want, e);
}

static void test_ln(void **state)
{
    (void)state;
    assert_true(sp_imath_ln(1.0) == 0.0);
    assert_true(sp_imath_ln(0.0) == -INFINITY);
    assert_true(sp_imath_ln(-0.0) == -INFINITY);
    assert_true(isnan(sp_imath_ln(-1.0)));
    assert_true(isnan(sp_imath_ln(NAN)));
    assert_true(sp_imath_ln(INFINITY) == INFINITY);
    within("ln", 0x1p-1074, sp_imath_ln(0x1p-1074), log(0x1p-1074), 2);
    worst = 0;
    rng_state = 21;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng();
        double x = i % 3 == 0 ? (double)((r >> 11) + 1) * 0x1p-53 /* Box-Muller's u1 */
                 : i % 3 == 1 ? bits_d(r & UINT64_C(0x7fefffffffffffff))
                              : 1.0 + ((double)(r >> 11) * 0x1p-53 - 0.5) * 0x1p-8;
        within("ln", x, sp_imath_ln(x), log(x), 3);
    }
    print_message("ln: worst %.2f ulp vs libm\n", worst);
}

static void test_exp(void **state)
{
    (void)state;
    assert_true(sp_imath_exp(0.0) == 1.0);
    assert_true(sp_imath_exp(-800.0) == 0.0);
    assert_true(sp_imath_exp(710.0) == INFINITY);
    worst = 0;
    rng_state = 22;
    for (int i = 0; i < 200000; i++) {
        double t = -(double)(rng() >> 11) * 0x1p-53 * (i % 2 ? 745.0 : 2.0);
        double want = exp(t);
        if (want < DBL_MIN) /* subnormal results: one rounding, absolute */
            assert_true(fabs(sp_imath_exp(t) - want) <= 0x1p-1074);
        else
            within("exp", t, sp_imath_exp(t), want, 2);
    }
    print_message("exp: worst %.2f ulp vs libm\n", worst);
}

static void test_sincos(void **state)
{
    (void)state;
    double s, c;
    sp_imath_sincos2pi(0, &s, &c);
    assert_true(s == 0.0 && c == 1.0);
    sp_imath_sincos2pi(UINT64_C(1) << 51, &s, &c); /* a quarter turn */
    assert_true(s == 1.0 && c == 0.0);
    sp_imath_sincos2pi(UINT64_C(1) << 52, &s, &c); /* half */
    assert_true(s == 0.0 && c == -1.0);
    sp_imath_sincos2pi(UINT64_C(3) << 51, &s, &c);
    assert_true(s == -1.0 && c == 0.0);
    sp_imath_sincos2pi(UINT64_C(1) << 50, &s, &c); /* 45 degrees: both sqrt(1/2) */
    within("sin", 0.125, s, sqrt(0.5), 2);
    within("cos", 0.125, c, sqrt(0.5), 2);

    const long double twopi = 6.283185307179586476925286766559005768L;
    worst = 0;
    rng_state = 23;
    for (int i = 0; i < 200000; i++) {
        uint64_t n = rng() >> 11;
        if (i < 64) /* near the quadrant and octant edges */
            n = ((uint64_t)(i / 8) << 50) + (uint64_t)(i % 8) - 4;
        n &= (UINT64_C(1) << 53) - 1;
        long double th = twopi * (long double)n * 0x1p-53L;
        sp_imath_sincos2pi(n, &s, &c);
        double ws = (double)sinl(th), wc = (double)cosl(th);
        /* long double's own argument error is ~1e-18 absolute */
        if (fabs(s - ws) > 1e-18)
            within("sin", (double)n, s, ws, 3);
        if (fabs(c - wc) > 1e-18)
            within("cos", (double)n, c, wc, 3);
        assert_true(fabs(s * s + c * c - 1.0) < 1e-15);
    }
    print_message("sincos: worst %.2f ulp vs libm (long double)\n", worst);
}

static void test_erf(void **state)
{
    (void)state;
    assert_true(sp_imath_erf(0.0) == 0.0);
    assert_true(sp_imath_erf(INFINITY) == 1.0 && sp_imath_erf(-INFINITY) == -1.0);
    assert_true(sp_imath_erfc(INFINITY) == 0.0 && sp_imath_erfc(-INFINITY) == 2.0);
    assert_true(sp_imath_erfc(30.0) == 0.0);
    assert_true(isnan(sp_imath_erf(NAN)) && isnan(sp_imath_erfc(NAN)));
    double w_erf = 0, w_erfc = 0;
    rng_state = 24;
    for (int i = 0; i < 100000; i++) {
        double u = (double)(rng() >> 11) * 0x1p-53;
        double x = i % 2 ? u * 12.0 - 6.0 : u * 4.0 - 2.0;
        worst = 0;
        within("erf", x, sp_imath_erf(x), erf(x), 4);
        w_erf = fmax(w_erf, worst);
        worst = 0;
        within("erfc", x, sp_imath_erfc(x), erfc(x), 10);
        w_erfc = fmax(w_erfc, worst);
    }
    /* the far tail, down to where erfc becomes subnormal */
    worst = 0;
    for (double x = 6.0; x < 26.5; x += 0.00731)
        within("erfc", x, sp_imath_erfc(x), erfc(x), 10);
    w_erfc = fmax(w_erfc, worst);
    print_message("erf: worst %.2f ulp, erfc: worst %.2f ulp vs libm\n", w_erf, w_erfc);
}

static void test_phi(void **state)
{
    (void)state;
    assert_true(sp_imath_phi(0.0) == 0.5);
    assert_true(sp_imath_phi(-INFINITY) == 0.0 && sp_imath_phi(INFINITY) == 1.0);
    worst = 0;
    for (double x = -37.0; x < 8.0; x += 0.001237) {
        /* x / sqrt 2 is rounded, so the error grows like x^2 ulps */
        double want = (double)(0.5L * erfcl(-(long double)x / sqrtl(2.0L)));
        within("phi", x, sp_imath_phi(x), want, 4.0 + 2.0 * x * x);
    }
    print_message("phi: worst %.2f ulp vs libm (long double)\n", worst);
}

static void test_ndtri(void **state)
{
    (void)state;
    assert_true(sp_imath_ndtri(0.5) == 0.0);
    assert_true(sp_imath_ndtri(0.0) == -INFINITY && sp_imath_ndtri(-1.0) == -INFINITY);
    assert_true(sp_imath_ndtri(1.0) == INFINITY && sp_imath_ndtri(1.5) == INFINITY);
    assert_true(isnan(sp_imath_ndtri(NAN)));
    /* references: Newton on mpmath's erfc at 300 bits, rounded */
    static const struct {
        double p, z;
    } k[] = {
        {0.975, 0x1.f5c0331eeff83p+0},   {0.025, -0x1.f5c0331eeff85p+0},
        {1e-300, -0x1.286074064c26ep+5}, {0.1, -0x1.4813c36e26d32p+0},
        {0.9999999999, 0x1.97203589fd4f6p+2}, {0x1p-1022, -0x1.2c27b05bf1a0bp+5},
        {0x1p-1074, -0x1.33bd3f27fcd03p+5},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        within("ndtri", k[i].p, sp_imath_ndtri(k[i].p), k[i].z, 4);

    /* round trip through libm's erfc (long double): Phi(ndtri(p)) = p */
    rng_state = 25;
    double w = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng();
        double p = i % 2 ? (double)(r >> 11) * 0x1p-53
                         : (double)((r >> 11) + 1) * 0x1p-53 * ldexp(1.0, -(int)(r & 1023));
        if (p == 0.0)
            continue;
        double z = sp_imath_ndtri(p);
        long double tail = 0.5L * erfcl(fabsl((long double)z) / sqrtl(2.0L));
        double want = p <= 0.5 ? p : 1.0 - p; /* 1 - p is exact for p >= 0.5 */
        double rel = fabs((double)(tail - want)) / want;
        /* an error of d ulps in z moves Phi by about z^2 d ulps (relative) */
        double tol = (8.0 + 4.0 * z * z) * 0x1p-52;
        if (rel / 0x1p-52 / (1.0 + z * z) > w)
            w = rel / 0x1p-52 / (1.0 + z * z);
        if (!(rel <= tol))
            fail_msg("ndtri(%a) = %a: Phi of it off by %.3g relative", p, z, rel);
    }
    print_message("ndtri: worst round trip %.2f * (1 + z^2) ulp\n", w);
}

/*
 * The vector Box-Muller (sp_imath_normal_pairs_lanes, 2 and 4 lanes) against
 * the scalar definition of SPEC.md 6.3, bit for bit, on random words and on
 * the edge words: w0 >> 11 of 0 (u1 = 2^-53) and 2^53 - 1 (u1 = 1), every
 * quadrant boundary of w1, and the f >= SQRT2 switch of ln.
 */
static void scalar_pair(float out[2], uint64_t w0, uint64_t w1, double mean, double std)
{
    double u1 = (double)((w0 >> 11) + 1) * 0x1p-53;
    double r = sqrt(-2.0 * sp_imath_ln(u1));
    double s, c;
    sp_imath_sincos2pi(w1 >> 11, &s, &c);
    out[0] = (float)(mean + std * (r * c));
    out[1] = (float)(mean + std * (r * s));
}

static void test_normal_pairs_vector(void **state)
{
    (void)state;
    enum { NP = 1 << 16 };
    unsigned char *words = malloc((size_t)NP * 16);
    float *got = malloc((size_t)NP * 2 * sizeof(float));
    assert_non_null(words);
    assert_non_null(got);
    uint64_t x = 0x243f6a8885a308d3u;
    static const uint64_t edges[] = {0, 0x7ff, UINT64_MAX, UINT64_C(1) << 11, (UINT64_C(1) << 61) << 2,
                                     (UINT64_C(0x6a09e667f3bcd) << 11), (UINT64_C(0x6a09e667f3bcc) << 11),
                                     (UINT64_C(1) << 61), (UINT64_C(1) << 62), (UINT64_C(3) << 61),
                                     (UINT64_C(1) << 63), ((UINT64_C(1) << 50) - 1) << 11,
                                     (UINT64_C(1) << 50) << 11, ((UINT64_C(3) << 50) - 1) << 11};
    size_t ne = sizeof edges / sizeof edges[0];
    for (size_t k = 0; k < 2 * (size_t)NP; k++) {
        uint64_t w;
        if (k < 2 * ne * ne)
            w = (k & 1) ? edges[(k / 2) % ne] : edges[(k / 2) / ne % ne];
        else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w = x;
        }
        memcpy(words + 8 * k, &w, 8);
    }
    static const double params[][2] = {{0.0, 1.0}, {0.0, 0.02}, {-3.5, 1e-30}, {1e30, 7.0}};
    for (unsigned lanes = 2; lanes <= 4; lanes += 2) {
        for (size_t pi = 0; pi < sizeof params / sizeof params[0]; pi++) {
            size_t done = sp_imath_normal_pairs_lanes(lanes, got, words, NP, params[pi][0], params[pi][1]);
            if (done == 0 && lanes == 4) {
                print_message("normal pairs: no AVX2 on this CPU, 4 lanes skipped\n");
                continue;
            }
            assert_true(done > 0 && done <= NP && NP - done < lanes);
            for (size_t k = 0; k < done; k++) {
                uint64_t w0, w1;
                float want[2];
                memcpy(&w0, words + 16 * k, 8);
                memcpy(&w1, words + 16 * k + 8, 8);
                scalar_pair(want, w0, w1, params[pi][0], params[pi][1]);
                if (f_bits(want[0]) != f_bits(got[2 * k]) || f_bits(want[1]) != f_bits(got[2 * k + 1]))
                    fail_msg("%u lanes, pair %zu (w0 %016llx w1 %016llx): %08x %08x, scalar %08x %08x",
                             lanes, k, (unsigned long long)w0, (unsigned long long)w1, f_bits(got[2 * k]),
                             f_bits(got[2 * k + 1]), f_bits(want[0]), f_bits(want[1]));
            }
        }
    }
    free(words);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_known),
        cmocka_unit_test(test_f16_known),
        cmocka_unit_test(test_widen),
        cmocka_unit_test(test_narrow_reference),
#if defined(__FLT16_MAX__) && !defined(__clang__)
        cmocka_unit_test(test_f16_vs_compiler),
#endif
        cmocka_unit_test(test_ln),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_sincos),
        cmocka_unit_test(test_erf),
        cmocka_unit_test(test_phi),
        cmocka_unit_test(test_ndtri),
        cmocka_unit_test(test_normal_pairs_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
