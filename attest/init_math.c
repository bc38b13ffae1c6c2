/*
 * init_math.c - ln, exp, sin/cos of 2*pi*u, erf, erfc, the normal CDF and its
 * inverse, from IEEE-754 basic operations only (init_math.h, SPEC.md 6.4).
 *
 * Every constant is a hex literal: either the correctly rounded double of an
 * exact rational (1/k!, 1/(2k+1)) or of a real (sqrt 2, 1/ln 2, 2*pi,
 * 1/sqrt(pi)), or a coefficient of Wichura's AS241 as published.
 * `tests/init_reference.py --constants` recomputes them all. Horner's rule is
 * written out operation by operation; the order of operations is part of the
 * specification (tests/init_reference.py mirrors it line for line).
 * This file must be compiled with -ffp-contract=off (no fused multiply-add).
 */
#include "init_math.h"

#include <math.h>   /* sqrt (correctly rounded by IEEE-754), isnan, INFINITY */
#include <stdatomic.h>
#include <stdlib.h>  /* getenv */
#include <string.h>

#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "init_math.c needs FLT_EVAL_METHOD 0 (SSE2 on x86, not x87)"
#endif

static uint64_t d2u(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 2^k as a double for -1022 <= k <= 1023. */
static double pow2(int k)
{
    return u2d((uint64_t)(k + 1023) << 52);
}

#define SQRT2 0x1.6a09e667f3bcdp+0        /* RN(sqrt 2) */
#define SQRT1_2 0x1.6a09e667f3bcdp-1      /* RN(sqrt 1/2) */
#define LN2_HI 0x1.62e42fee00000p-1       /* fdlibm: 32 bits, k*LN2_HI exact */
#define LN2_LO 0x1.a39ef35793c76p-33      /* ln 2 - LN2_HI, rounded */
#define INV_LN2 0x1.71547652b82fep+0      /* RN(1/ln 2) */
#define TWOPI_2M53 0x1.921fb54442d18p-51  /* RN(2*pi) * 2^-53 */
#define INV_SQRTPI 0x1.20dd750429b6dp-1   /* RN(1/sqrt(pi)) */

/* ln: L[k-1] = RN(1/(2k+1)), k = 1..12 (atanh series). */
static const double L[12] = {
    0x1.5555555555555p-2, 0x1.999999999999ap-3, 0x1.2492492492492p-3,
    0x1.c71c71c71c71cp-4, 0x1.745d1745d1746p-4, 0x1.3b13b13b13b14p-4,
    0x1.1111111111111p-4, 0x1.e1e1e1e1e1e1ep-5, 0x1.af286bca1af28p-5,
    0x1.8618618618618p-5, 0x1.642c8590b2164p-5, 0x1.47ae147ae147bp-5,
};

/* exp: E[k] = RN(1/k!), k = 0..14 (Taylor series). */
static const double E[15] = {
    0x1p+0, 0x1p+0, 0x1p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5,
    0x1.1111111111111p-7, 0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13,
    0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19, 0x1.27e4fb7789f5cp-22,
    0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33,
    0x1.93974a8c07c9dp-37,
};

/* sin: S[k-1] = RN((-1)^k/(2k+1)!), k = 1..8 (Taylor to x^17). */
static const double S[8] = {
    -0x1.5555555555555p-3, 0x1.1111111111111p-7, -0x1.a01a01a01a01ap-13,
    0x1.71de3a556c734p-19, -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33,
    -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49,
};

/* cos: C[k-1] = RN((-1)^k/(2k)!), k = 1..9 (Taylor to x^18). */
static const double C[9] = {
    -0x1p-1, 0x1.5555555555555p-5, -0x1.6c16c16c16c17p-10,
    0x1.a01a01a01a01ap-16, -0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29,
    -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45, -0x1.6827863b97d97p-53,
};

/* erf: A[n] = RN(2/sqrt(pi) * (-1)^n / (n! (2n+1))), n = 0..19 (Maclaurin). */
static const double A[20] = {
    0x1.20dd750429b6dp+0, -0x1.812746b0379e7p-2, 0x1.ce2f21a042be2p-4,
    -0x1.b82ce31288b51p-6, 0x1.565bcd0e6a53fp-8, -0x1.c02db40040b86p-11,
    0x1.f9a326f9b89b7p-14, -0x1.f4d25c3e0c2ebp-17, 0x1.b9e6c9dc651a3p-20,
    -0x1.5f742ec43e71ap-23, 0x1.fcc5720624c1cp-27, -0x1.51d7181c5d36dp-30,
    0x1.9e6ad5e55a730p-34, -0x1.d8453cb0c46eap-38, 0x1.f683ae4a97007p-42,
    -0x1.f56f071a885cfp-46, 0x1.d70b3537f4765p-50, -0x1.a2007af3447f6p-54,
    0x1.5f7919bc67b8cp-58, -0x1.18cc8a061c479p-62,
};

/* Terms of the erfc continued fraction (enough for x >= 1). */
#define ERFC_CF_TERMS 300

/*
 * ln(x) = e*ln2 + ln f with x = f * 2^e, f in [sqrt(1/2), sqrt 2), and
 * ln f = 2 atanh(s) = 2 (s + s^3/3 + ... + s^25/25), s = (f-1)/(f+1),
 * |s| <= 0.1716. f - 1 is exact; the result is within 2 ulps.
 */
double sp_imath_ln(double x)
{
    if (isnan(x) || x < 0.0)
        return NAN;
    if (x == 0.0)
        return -INFINITY;
    if (x == INFINITY)
        return INFINITY;
    uint64_t b = d2u(x);
    int e = 0;
    if (b < (UINT64_C(1) << 52)) { /* subnormal: scale by 2^54 (exact) */
        x = x * 0x1p54;
        b = d2u(x);
        e = -54;
    }
    e += (int)(b >> 52) - 1023;
    double f = u2d((b & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52));
    if (f >= SQRT2) {
        f = f * 0.5;
        e += 1;
    }
    double s = (f - 1.0) / (f + 1.0);
    double z = s * s;
    double p = L[11];
    for (int k = 10; k >= 0; k--)
        p = L[k] + z * p;
    p = z * p;
    double t = 2.0 * (s + s * p);
    double fe = (double)e;
    return fe * LN2_HI + (t + fe * LN2_LO);
}

/*
 * e^t = 2^k e^r, k = round(t / ln 2), r = t - k ln2 (Cody-Waite, |r| <= 0.35),
 * e^r by its Taylor polynomial of degree 14. Subnormal results are formed by
 * one final rounding multiplication.
 */
double sp_imath_exp(double t)
{
    if (isnan(t))
        return t;
    if (t > 709.0)
        return INFINITY;
    if (t < -746.0)
        return 0.0;
    double kd = t * INV_LN2;
    int k = (int)(kd < 0.0 ? kd - 0.5 : kd + 0.5); /* truncates toward 0 */
    double fk = (double)k;
    double r = (t - fk * LN2_HI) - fk * LN2_LO;
    double p = E[14];
    for (int i = 13; i >= 0; i--)
        p = E[i] + r * p;
    if (k >= -1021)
        return p * pow2(k);
    return (p * pow2(k + 60)) * pow2(-60);
}

/*
 * theta = 2*pi*n/2^53. q = round(n / 2^51) is the nearest quadrant, taken
 * exactly from the integer; the remainder rr = n - q*2^51 in [-2^50, 2^50)
 * gives x = rr * RN(2pi)*2^-53 in [-pi/4, pi/4] with a single rounding.
 * Taylor polynomials then give sin x, cos x within 2 ulps.
 */
void sp_imath_sincos2pi(uint64_t n, double *s_out, double *c_out)
{
    n &= (UINT64_C(1) << 53) - 1;
    uint64_t q = (n + (UINT64_C(1) << 50)) >> 51;
    int64_t rr = (int64_t)n - (int64_t)(q << 51);
    double x = (double)rr * TWOPI_2M53;
    double z = x * x;
    double ps = S[7];
    for (int k = 6; k >= 0; k--)
        ps = S[k] + z * ps;
    double s = x + x * (z * ps);
    double pc = C[8];
    for (int k = 7; k >= 0; k--)
        pc = C[k] + z * pc;
    double c = 1.0 + z * pc;
    switch (q & 3) {
    case 0: *s_out = s; *c_out = c; break;
    case 1: *s_out = c; *c_out = -s; break;
    case 2: *s_out = -s; *c_out = -c; break;
    default: *s_out = -c; *c_out = s; break;
    }
}

/* erf for |x| < 1: x * sum A[n] x^(2n), n = 0..19. */
static double erf_series(double x)
{
    double z = x * x;
    double p = A[19];
    for (int n = 18; n >= 0; n--)
        p = A[n] + z * p;
    return x * p;
}

/*
 * exp(-x*x) for x >= 0. x*x is not formed directly: xh (x with its low 27
 * mantissa bits cleared) squares exactly, and the small rest
 * (xh - x)(xh + x) = xh^2 - x^2 is handled by a second exp.
 */
static double exp_neg_sq(double x)
{
    double xh = u2d(d2u(x) & ~((UINT64_C(1) << 27) - 1));
    double d = (xh - x) * (xh + x);
    return sp_imath_exp(-(xh * xh)) * sp_imath_exp(d);
}

/*
 * erfc for x >= 1 by Laplace's continued fraction
 *   erfc x = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
 * evaluated backwards from a fixed depth of 300 terms (converged below 1e-20
 * relative for x >= 1). 0 for x >= 28, where erfc underflows.
 */
static double erfc_cf(double x)
{
    if (x >= 28.0)
        return 0.0;
    double t = x;
    for (int k = ERFC_CF_TERMS; k > 0; k--)
        t = x + ((double)k * 0.5) / t;
    return (exp_neg_sq(x) * INV_SQRTPI) / t;
}

double sp_imath_erf(double x)
{
    if (isnan(x))
        return x;
    if (x > -1.0 && x < 1.0)
        return erf_series(x);
    if (x >= 1.0)
        return 1.0 - erfc_cf(x);
    return erfc_cf(-x) - 1.0;
}

double sp_imath_erfc(double x)
{
    if (isnan(x))
        return x;
    if (x > -1.0 && x < 1.0)
        return 1.0 - erf_series(x);
    if (x >= 1.0)
        return erfc_cf(x);
    return 2.0 - erfc_cf(-x);
}

double sp_imath_phi(double x)
{
    return 0.5 * sp_imath_erfc(-(x * SQRT1_2));
}

/* Wichura AS241 coefficients, highest degree first (decimal as published). */
static const double AS_A[8] = {
    0x1.39a296f7d925ep+11,  /* 2.5090809287301226727e+3 */
    0x1.052d26b2e45e4p+15,  /* 3.3430575583588128105e+4 */
    0x1.06c1c55b78f20p+16,  /* 6.7265770927008700853e+4 */
    0x1.66c3e869b752ap+15,  /* 4.5921953931549871457e+4 */
    0x1.ad1d8cd4ee71dp+13,  /* 1.3731693765509461125e+4 */
    0x1.ece5d2213c0ccp+10,  /* 1.9715909503065514427e+3 */
    0x1.0a4888b1a436ep+7,   /* 1.3314166789178437745e+2 */
    0x1.b18d91e9eef75p+1,   /* 3.3871328727963666080e+0 */
};
static const double AS_B[8] = {
    0x1.46a7eca984b69p+12,  /* 5.2264952788528545610e+3 */
    0x1.c0e457cb1ae76p+14,  /* 2.8729085735721942674e+4 */
    0x1.3317caa64f4bep+15,  /* 3.9307895800092710610e+4 */
    0x1.4b772d5d65266p+14,  /* 2.1213794301586595867e+4 */
    0x1.512322e75c89fp+12,  /* 5.3941960214247511077e+3 */
    0x1.5797efdc8b3f7p+9,   /* 6.8718700749205790830e+2 */
    0x1.5281b386e1ab5p+5,   /* 4.2313330701600911252e+1 */
    0x1p+0,                 /* 1.0 */
};
static const double AS_C[8] = {
    0x1.9615ac0b7ace9p-11,  /* 7.74545014278341407640e-4 */
    0x1.744eb6c45ec67p-6,   /* 2.27238449892691845833e-2 */
    0x1.ef2abb9b85c37p-3,   /* 2.41780725177450611770e-1 */
    0x1.453cc085375b2p+0,   /* 1.27045825245236838258e+0 */
    0x1.d2ecb1a3d02c4p+1,   /* 3.64784832476320460504e+0 */
    0x1.713f71462256ap+2,   /* 5.76949722146069140550e+0 */
    0x1.2857748cab19bp+2,   /* 4.63033784615654529590e+0 */
    0x1.6c665fde9526ap+0,   /* 1.42343711074968357734e+0 */
};
static const double AS_D[8] = {
    0x1.20d3f686439e4p-30,  /* 1.05075007164441684324e-9 */
    0x1.1f18cbfdf2728p-11,  /* 5.47593808499534494600e-4 */
    0x1.f207a7eab17bfp-7,   /* 1.51986665636164571966e-2 */
    0x1.2f5123394f040p-3,   /* 1.48103976427480074590e-1 */
    0x1.61292f23385c9p-1,   /* 6.89767334985100004550e-1 */
    0x1.ad278e6526633p+0,   /* 1.67638483018380384940e+0 */
    0x1.06cefbb46a449p+1,   /* 2.05319162663775882187e+0 */
    0x1p+0,                 /* 1.0 */
};
static const double AS_E[8] = {
    0x1.afb74d693bf93p-23,  /* 2.01033439929228813265e-7 */
    0x1.c6ec6cc59e02ap-16,  /* 2.71155556874348757815e-5 */
    0x1.45c1908425345p-10,  /* 1.24266094738807843860e-3 */
    0x1.b2b41193b4ee7p-6,   /* 2.65321895265761230930e-2 */
    0x1.2fad9315255cfp-2,   /* 2.96560571828504891230e-1 */
    0x1.c8ea6461fa445p+0,   /* 1.78482653991729133580e+0 */
    0x1.5daea6e875003p+2,   /* 5.46378491116411436990e+0 */
    0x1.aa1b1c13ee526p+2,   /* 6.65790464350110377720e+0 */
};
static const double AS_F[8] = {
    0x1.269bff1f8c190p-49,  /* 2.04426310338993978564e-15 */
    0x1.31446f740b9e0p-23,  /* 1.42151175831644588870e-7 */
    0x1.35c2c496374bfp-16,  /* 1.84631831751005468180e-5 */
    0x1.9c8bc979dc5d7p-11,  /* 7.86869131145613259100e-4 */
    0x1.e76f93215462ap-7,   /* 1.48753612908506148525e-2 */
    0x1.186eb183443fbp-3,   /* 1.36929880922735805310e-1 */
    0x1.331d34fc7d77fp-1,   /* 5.99832206555887937690e-1 */
    0x1p+0,                 /* 1.0 */
};

/* ((c[0]*x + c[1])*x + ...) + c[7] */
static double horner8(const double c[8], double x)
{
    double p = c[0];
    for (int i = 1; i < 8; i++)
        p = p * x + c[i];
    return p;
}

/*
 * AS241 exactly as Wichura (1988) and CPython's statistics.NormalDist:
 * a rational function of (0.180625 - q^2) in the centre |p - 0.5| <= 0.425,
 * of sqrt(-ln r) - 1.6 or - 5 in the tails, r = min(p, 1 - p).
 */
double sp_imath_ndtri(double p)
{
    if (isnan(p))
        return p;
    if (p <= 0.0)
        return -INFINITY;
    if (p >= 1.0)
        return INFINITY;
    double q = p - 0.5;
    if (fabs(q) <= 0.425) {
        double r = 0.180625 - q * q;
        return (horner8(AS_A, r) * q) / horner8(AS_B, r);
    }
    double r = q <= 0.0 ? p : 1.0 - p;
    r = sqrt(-sp_imath_ln(r));
    double x;
    if (r <= 5.0) {
        r = r - 1.6;
        x = horner8(AS_C, r) / horner8(AS_D, r);
    } else {
        r = r - 5.0;
        x = horner8(AS_E, r) / horner8(AS_F, r);
    }
    return q < 0.0 ? -x : x;
}

/*
 * Box-Muller on pairs of keystream words, several pairs per vector (SPEC.md
 * 6.3 NORMAL, 6.4 ln and sincos2pi). Every lane performs exactly the IEEE
 * operations of the scalar path above, in the same order (vector arithmetic
 * and sqrt are the same correctly rounded operations as scalar SSE2 code,
 * and -ffp-contract=off forbids fusing), so the results are bit-identical;
 * branches become lane masks:
 * - ln: u1 = ((w0 >> 11) + 1) * 2^-53 lies in [2^-53, 1], so it is never
 *   zero, negative, subnormal, infinite or NaN: only the f >= SQRT2 branch
 *   remains;
 * - integers become doubles exactly through the 2^52 bias: 0 <= v < 2^32 is
 *   bits(2^52) | v minus 2^52, and a signed |v| < 2^51 is bits(1.5 * 2^52) + v
 *   minus 1.5 * 2^52.
 * The kernel is written once with GCC vector extensions (init_bm.h) and
 * instantiated twice: 2 lanes (SSE2, every x86-64) and 4 lanes (AVX2, chosen
 * at run time with cpuid, as libsodium dispatches). tests/test_init_math.c
 * compares each with the scalar path element by element.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define BM_LANES 2
#define BM_NAME normal_pairs_sse2
#define BM_TARGET
#define BM_SQRT(x) __builtin_ia32_sqrtpd(x)
#include "init_bm.h"
#define BM_LANES 4
#define BM_NAME normal_pairs_avx2
#define BM_TARGET __attribute__((target("avx2")))
#define BM_SQRT(x) __builtin_ia32_sqrtpd256(x)
#include "init_bm.h"

size_t sp_imath_normal_pairs_lanes(unsigned lanes, float *out, const unsigned char *words,
                                   size_t npairs, double mean, double std)
{
    if (lanes == 2)
        return normal_pairs_sse2(out, words, npairs, mean, std);
    __builtin_cpu_init();
    if (lanes == 4 && __builtin_cpu_supports("avx2"))
        return normal_pairs_avx2(out, words, npairs, mean, std);
    return 0;
}

size_t sp_imath_normal_pairs(float *out, const unsigned char *words, size_t npairs,
                             double mean, double std)
{
    /* Read once per process; every thread computes the same value. SP_INIT_LANES=2
       forces the SSE2 path (tests, and machines where AVX2 lowers the clock). */
    static atomic_int lanes = 0;
    int l = atomic_load_explicit(&lanes, memory_order_relaxed);
    if (l == 0) {
        __builtin_cpu_init();
        const char *force = getenv("SP_INIT_LANES");
        l = __builtin_cpu_supports("avx2") && !(force && strcmp(force, "2") == 0) ? 4 : 2;
        atomic_store_explicit(&lanes, l, memory_order_relaxed);
    }
    return l == 4 ? normal_pairs_avx2(out, words, npairs, mean, std)
                  : normal_pairs_sse2(out, words, npairs, mean, std);
}
#else
size_t sp_imath_normal_pairs_lanes(unsigned lanes, float *out, const unsigned char *words,
                                   size_t npairs, double mean, double std)
{
    (void)lanes;
    return sp_imath_normal_pairs(out, words, npairs, mean, std);
}

size_t sp_imath_normal_pairs(float *out, const unsigned char *words, size_t npairs,
                             double mean, double std)
{
    (void)out;
    (void)words;
    (void)npairs;
    (void)mean;
    (void)std;
    return 0;   /* no vector path: the caller computes every pair */
}
#endif
