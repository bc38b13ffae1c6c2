/*
 * init32.c - the version-2 kinds UNIFORM32 and NORMAL32 (init32.h, SPEC.md
 * 6.8): the keystream of 6.2 read as 32-bit words, one word per UNIFORM32
 * element and two per NORMAL32 pair, and Box-Muller in binary32 (ln with an
 * fdlibm-style ln2 split, sin/cos of 2*pi*n*2^-24 after a quarter-turn
 * reduction, Horner polynomials written out operation by operation).
 *
 * The scalar functions below are the definition; the vector kernels
 * (init32_kern.h, 4 lanes on SSE2, 8 on AVX2, chosen with cpuid) repeat
 * them lane by lane. No heap, no global state but the cached lane choice;
 * thread-safe. Must be compiled with -ffp-contract=off (no fused multiply-add).
 */
#include "init32.h"
#include "init.h"

#include <assert.h>
#include <math.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "init32.c needs FLT_EVAL_METHOD 0 (SSE2 on x86, not x87)"
#endif

/* binary32 constants (SPEC.md 6.8; tests/init_reference.py --constants recomputes them) */
#define F_SQRT2 0x1.6a09e6p+0f        /* RN32(sqrt 2) */
#define F_LN2_HI 0x1.62e3p-1f         /* fdlibm logf ln2_hi: 17 bits, e * F_LN2_HI exact for |e| < 2^7 */
#define F_LN2_LO 0x1.2fefa4p-17f      /* RN32(ln 2 - F_LN2_HI) */
#define F_TWOPI_2M24 0x1.921fb6p-22f  /* RN32(2 pi) * 2^-24 */
#define F_L1 0x1.555556p-2f           /* RN32(1/3) */
#define F_L2 0x1.99999ap-3f           /* RN32(1/5) */
#define F_L3 0x1.24924ap-3f           /* RN32(1/7) */
#define F_L4 0x1.c71c72p-4f           /* RN32(1/9) */
#define F_S1 -0x1.555556p-3f          /* RN32(-1/3!) */
#define F_S2 0x1.111112p-7f           /* RN32(1/5!) */
#define F_S3 -0x1.a01a02p-13f         /* RN32(-1/7!) */
#define F_S4 0x1.71de3ap-19f          /* RN32(1/9!) */
#define F_C1 -0x1p-1f                 /* -1/2! */
#define F_C2 0x1.555556p-5f           /* RN32(1/4!) */
#define F_C3 -0x1.6c16c2p-10f         /* RN32(-1/6!) */
#define F_C4 0x1.a01a02p-16f          /* RN32(1/8!) */
#define F_C5 -0x1.27e4fcp-22f         /* RN32(-1/10!) */

#define KS_BLOCKS 64u                    /* keystream blocks per batch */
#define KS_WORDS (KS_BLOCKS * 16u)       /* 32-bit words per batch */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t load32_le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sp_init32_check(const sp_init_scheme *s)
{
    const double *p = s->p;
    if (s->kind == SP_INIT_UNIFORM32)
        return p[0] < p[1] && isfinite(p[1] - p[0]) ? SP_OK : SP_EINVAL;
    if (s->kind == SP_INIT_NORMAL32) {
        float m = (float)p[0], sd = (float)p[1];
        return p[1] > 0.0 && isfinite(m) && isfinite(sd) && sd > 0.0f ? SP_OK : SP_EINVAL;
    }
    return SP_EINVAL;
}

/* ---- the definition, in scalar binary32 ---- */

float sp_imath32_ln(float x)
{
    uint32_t b = f2u(x);
    int32_t e = (int32_t)(b >> 23) - 127;
    float f = u2f((b & 0x007fffffu) | 0x3f800000u);   /* [1, 2) */
    if (f >= F_SQRT2) {
        f = f * 0.5f;
        e = e + 1;
    }
    float s = (f - 1.0f) / (f + 1.0f);
    float z = s * s;
    float p = F_L4;
    p = F_L3 + z * p;
    p = F_L2 + z * p;
    p = F_L1 + z * p;
    p = z * p;
    float t = 2.0f * (s + s * p);
    float fe = (float)e;
    return fe * F_LN2_HI + (t + fe * F_LN2_LO);
}

void sp_imath32_sincos2pi(uint32_t n, float *s, float *c)
{
    int32_t ni = (int32_t)(n & 0xffffffu);
    int32_t q = (ni + (1 << 21)) >> 22;            /* nearest quarter turn, 0..4 */
    int32_t rr = ni - q * (1 << 22);               /* [-2^21, 2^21) */
    float x = (float)rr * F_TWOPI_2M24;            /* |x| <= pi/4 */
    float xx = x * x;
    float ps = F_S4;
    ps = F_S3 + xx * ps;
    ps = F_S2 + xx * ps;
    ps = F_S1 + xx * ps;
    float sn = x + x * (xx * ps);
    float pc = F_C5;
    pc = F_C4 + xx * pc;
    pc = F_C3 + xx * pc;
    pc = F_C2 + xx * pc;
    pc = F_C1 + xx * pc;
    float cs = 1.0f + xx * pc;
    switch (q & 3) {
    case 0: *s = sn; *c = cs; break;
    case 1: *s = cs; *c = -sn; break;
    case 2: *s = -sn; *c = -cs; break;
    default: *s = -cs; *c = sn; break;
    }
}

void sp_init32_normal_pair(float out[2], uint32_t w0, uint32_t w1, float m, float sd)
{
    float u1 = (float)((w0 >> 8) + 1) * 0x1p-24f;   /* (0, 1], exact */
    float r = sqrtf(-2.0f * sp_imath32_ln(u1));
    float s, c;
    sp_imath32_sincos2pi(w1 >> 8, &s, &c);
    out[0] = m + sd * (r * c);
    out[1] = m + sd * (r * s);
}

static float uniform_one(uint32_t w, double low, double span)
{
    return (float)(low + span * ((double)(w >> 8) * 0x1p-24));
}

/* ---- vector kernels ---- */

#if defined(__x86_64__) && defined(__GNUC__)
#define K32_LANES 4
#define K32_NAME k32_sse2
#define K32_TARGET
#define K32_SQRT(x) __builtin_ia32_sqrtps(x)
#include "init32_kern.h"
#define K32_LANES 8
#define K32_NAME k32_avx2
#define K32_TARGET __attribute__((target("avx2")))
#define K32_SQRT(x) __builtin_ia32_sqrtps256(x)
#include "init32_kern.h"

static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
static int have_avx2(void)
{
    return 0;
}
#endif

unsigned sp_init32_lanes(void)
{
    /* Read once per process; every thread computes the same value. */
    static atomic_uint lanes = 0;
    unsigned l = atomic_load_explicit(&lanes, memory_order_relaxed);
    if (l == 0) {
        const char *force = getenv("SP_INIT_LANES");
#if defined(__x86_64__) && defined(__GNUC__)
        l = have_avx2() ? 8 : 4;
        if (force && strcmp(force, "1") == 0)
            l = 1;
        else if (force && (strcmp(force, "2") == 0 || strcmp(force, "4") == 0))
            l = 4;
#else
        (void)force;
        l = 1;
#endif
        atomic_store_explicit(&lanes, l, memory_order_relaxed);
    }
    return l;
}

size_t sp_init32_normal_lanes(unsigned lanes, float *out, const unsigned char *words,
                              size_t npairs, float m, float sd)
{
    if (lanes == 1) {
        for (size_t k = 0; k < npairs; k++)
            sp_init32_normal_pair(out + 2 * k, load32_le(words + 8 * k), load32_le(words + 8 * k + 4),
                                  m, sd);
        return npairs;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (lanes == 4)
        return k32_sse2_normal(out, words, npairs, m, sd);
    if (lanes == 8 && have_avx2())
        return k32_avx2_normal(out, words, npairs, m, sd);
#endif
    return 0;
}

size_t sp_init32_uniform_lanes(unsigned lanes, float *out, const unsigned char *words,
                               size_t n, double low, double span)
{
    if (lanes == 1) {
        for (size_t k = 0; k < n; k++)
            out[k] = uniform_one(load32_le(words + 4 * k), low, span);
        return n;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (lanes == 4)
        return k32_sse2_uniform(out, words, n, low, span);
    if (lanes == 8 && have_avx2())
        return k32_avx2_uniform(out, words, n, low, span);
#endif
    return 0;
}

size_t sp_init32_bf16_lanes(unsigned lanes, unsigned char *out, const float *f, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (lanes == 4)
        return k32_sse2_bf16(out, f, n);
    if (lanes == 8 && have_avx2())
        return k32_avx2_bf16(out, f, n);
#else
    (void)lanes;
    (void)out;
    (void)f;
    (void)n;
#endif
    return 0;
}

/* ---- keystream and the fill loop ---- */

static void store_floats(unsigned char *out, sp_dtype dtype, unsigned lanes, const float *f, size_t n)
{
    switch (dtype) {
    case SP_DTYPE_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out, f, n * sizeof *f);
#else
        for (size_t k = 0; k < n; k++) {
            uint32_t u = f2u(f[k]);
            for (int j = 0; j < 4; j++)
                out[4 * k + (size_t)j] = (unsigned char)(u >> (8 * j));
        }
#endif
        break;
    case SP_DTYPE_F16:
        for (size_t k = 0; k < n; k++) {
            uint16_t h = sp_f32_to_f16(f[k]);
            out[2 * k] = (unsigned char)h;
            out[2 * k + 1] = (unsigned char)(h >> 8);
        }
        break;
    default: { /* SP_DTYPE_BF16 */
        size_t k = sp_init32_bf16_lanes(lanes, out, f, n);
        for (; k < n; k++) {
            uint16_t h = sp_f32_to_bf16(f[k]);
            out[2 * k] = (unsigned char)h;
            out[2 * k + 1] = (unsigned char)(h >> 8);
        }
        break;
    }
    }
}

/*
 * Elements [i, i + n) into f. The batch is cut so that its words lie in at
 * most KS_BLOCKS blocks: [i, i + n) ends at or before the next multiple of
 * KS_WORDS, and a NORMAL32 batch starting at an odd i reads one word before i,
 * which lies in the same window.
 */
static void gen_batch(float *f, const sp_init_scheme *s, unsigned lanes, const unsigned char key[32],
                      unsigned char *ks, uint64_t i, size_t n)
{
    uint64_t end = i + n;
    if (s->kind == SP_INIT_UNIFORM32) {
        double low = s->p[0], span = s->p[1] - s->p[0];
        uint64_t b0 = i >> 4;
        sp_init_ks_blocks(ks, key, b0, ((end - 1) >> 4) - b0 + 1);
        const unsigned char *w = ks + (size_t)(i - (b0 << 4)) * 4u;
        size_t done = sp_init32_uniform_lanes(lanes, f, w, n, low, span);
        for (size_t k = done; k < n; k++)
            f[k] = uniform_one(load32_le(w + 4 * k), low, span);
        return;
    }
    /* NORMAL32: pairs p0 .. p1 touch [i, end); pairs pa .. pb-1 lie inside it */
    float m = (float)s->p[0], sd = (float)s->p[1];
    uint64_t p0 = i / 2, p1 = (end - 1) / 2, pa = (i + 1) / 2, pb = end / 2;
    uint64_t b0 = (2 * p0) >> 4;
    sp_init_ks_blocks(ks, key, b0, ((2 * p1 + 1) >> 4) - b0 + 1);
    const unsigned char *w = ks + (size_t)(2 * p0 - (b0 << 4)) * 4u;  /* word 2 * p0 */
    float pair[2];
    if (i & 1) {   /* the sine half of pair p0 */
        sp_init32_normal_pair(pair, load32_le(w), load32_le(w + 4), m, sd);
        f[0] = pair[1];
    }
    if (pb > pa) {
        const unsigned char *wa = w + (size_t)(pa - p0) * 8u;
        float *fa = f + (2 * pa - i);
        size_t np = (size_t)(pb - pa);
        size_t done = sp_init32_normal_lanes(lanes, fa, wa, np, m, sd);
        for (size_t k = done; k < np; k++)
            sp_init32_normal_pair(fa + 2 * k, load32_le(wa + 8 * k), load32_le(wa + 8 * k + 4), m, sd);
    }
    if (end & 1) {   /* the cosine half of pair p1 */
        const unsigned char *wl = w + (size_t)(p1 - p0) * 8u;
        sp_init32_normal_pair(pair, load32_le(wl), load32_le(wl + 4), m, sd);
        f[n - 1] = pair[0];
    }
}

void sp_init32_fill(unsigned char *out, sp_dtype dtype, const unsigned char key[32],
                    const sp_init_scheme *s, uint64_t first, uint64_t count)
{
    unsigned char ks[KS_BLOCKS * 64u];
    float f[KS_WORDS];
    unsigned lanes = sp_init32_lanes();
    size_t esize = sp_dtype_size(dtype);
    uint64_t i = first, end = first + count;
    /* F32 on a little-endian host: the floats are the output bytes, written in place
       (when out is aligned for floats), saving a copy per batch. */
    int direct = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    direct = dtype == SP_DTYPE_F32 && (uintptr_t)out % _Alignof(float) == 0;
#endif
    while (i < end) {
        size_t n = KS_WORDS - (size_t)(i % KS_WORDS);
        if (end - i < n)
            n = (size_t)(end - i);
        if (direct) {
            gen_batch((float *)(void *)out, s, lanes, key, ks, i, n);
        } else {
            gen_batch(f, s, lanes, key, ks, i, n);
            store_floats(out, dtype, lanes, f, n);
        }
        out += n * esize;
        i += n;
    }
}
