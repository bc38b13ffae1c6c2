/*
 * init.c - the deterministic initialiser (init.h, SPEC.md 6): per-tensor
 * ChaCha20 keystream, the schemes, and the rounding to F32/F16/BF16
 * (ORTHOGONAL's QR factorisation is init_orth.c).
 *
 * Element i of a tensor depends only on (seed, name, scheme, dtype, i), so
 * any slice is generated alone: only the 64-byte keystream blocks it needs
 * are produced, batch by batch, into a stack buffer. No heap, no global
 * state; thread-safe. Must be compiled with -ffp-contract=off.
 */
#include "init.h"
#include "init32.h"
#include "init_math.h"
#include "init_orth.h"

#include <assert.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SP_INIT_DOMAIN "scratchproof/init"   /* followed by one 0x00 byte */
#define KS_BLOCKS 64u                          /* keystream blocks per batch */
#define KS_WORDS (KS_BLOCKS * 8u)              /* 64-bit words per batch */
#define INDEX_LIMIT (UINT64_C(1) << 62)        /* element indices stay below */
#define TWO_M53 0x1p-53

/* A window of keystream: words [8*blk0, 8*blk0 + 8*nblk). */
typedef struct {
    uint64_t blk0;
    unsigned char buf[KS_BLOCKS * 64u];
} ks_window;

static uint64_t load64_le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void store32_le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void store16_le(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

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

/*
 * K = BLAKE2b-256("scratchproof/init" 0x00 || u64le(seed) || name).
 * The key is not secret (seed and name are published in the ledger), so it
 * is not wiped.
 */
static void tensor_key(unsigned char key[32], uint64_t seed, const char *name, size_t name_len)
{
    crypto_generichash_state st;
    unsigned char seed_le[8];
    for (int i = 0; i < 8; i++)
        seed_le[i] = (unsigned char)(seed >> (8 * i));
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const unsigned char *)SP_INIT_DOMAIN,
                              sizeof SP_INIT_DOMAIN); /* includes the 0x00 */
    crypto_generichash_update(&st, seed_le, sizeof seed_le);
    crypto_generichash_update(&st, (const unsigned char *)name, name_len);
    crypto_generichash_final(&st, key, 32);
}

/*
 * Loads the keystream blocks holding words [w0, w1) (w1 - w0 <= KS_WORDS -
 * (w0 mod 8)). Block b is ChaCha20-IETF with nonce 0^4 || u64le(b >> 32) and
 * block counter b mod 2^32; a run never crosses a 2^32-block boundary.
 */
void sp_init_ks_blocks(unsigned char *buf, const unsigned char key[32], uint64_t b, uint64_t nblk)
{
    static const unsigned char zeros[SP_INIT_KS_BLOCKS_MAX * 64u];
    uint64_t end = b + nblk;
    size_t off = 0;
    assert(nblk > 0 && nblk <= SP_INIT_KS_BLOCKS_MAX);
    while (b < end) {
        uint64_t boundary = ((b >> 32) + 1) << 32;
        uint64_t run = (end < boundary ? end : boundary) - b;
        unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
        for (int i = 0; i < 8; i++)
            nonce[4 + i] = (unsigned char)((b >> 32) >> (8 * i));
        crypto_stream_chacha20_ietf_xor_ic(buf + off, zeros, run * 64u, nonce, (uint32_t)b, key);
        off += (size_t)run * 64u;
        b += run;
    }
}

static void ks_load(ks_window *w, const unsigned char key[32], uint64_t w0, uint64_t w1)
{
    uint64_t b = w0 >> 3;
    uint64_t end = ((w1 - 1) >> 3) + 1;
    assert(w1 > w0 && end - b <= KS_BLOCKS);
    w->blk0 = b;
    sp_init_ks_blocks(w->buf, key, b, end - b);
}

static uint64_t ks_word(const ks_window *w, uint64_t j)
{
    return load64_le(w->buf + (size_t)(j - (w->blk0 << 3)) * 8u);
}

static double u53(uint64_t word)
{
    return (double)(word >> 11) * TWO_M53;
}

/* Box-Muller on words (w0, w1): cos branch to *zc (even element), sin to *zs. */
static void box_muller(uint64_t w0, uint64_t w1, double *zc, double *zs)
{
    double u1 = (double)((w0 >> 11) + 1) * TWO_M53;
    double r = sqrt(-2.0 * sp_imath_ln(u1));
    double s, c;
    sp_imath_sincos2pi(w1 >> 11, &s, &c);
    *zc = r * c;
    *zs = r * s;
}

/* Per-fill constants of the truncated normal. */
typedef struct {
    double a, d; /* Phi(alpha), Phi(beta) - Phi(alpha) */
} trunc_setup;

static trunc_setup trunc_prepare(const sp_init_scheme *s)
{
    trunc_setup t;
    double mean = s->p[0], std = s->p[1];
    double a = sp_imath_phi((s->p[2] - mean) / std);
    double b = sp_imath_phi((s->p[3] - mean) / std);
    t.a = a;
    t.d = b - a;
    return t;
}

/*
 * Computes elements [i, i + n) as floats into f (n <= KS_WORDS - 8), loading
 * the keystream they need.
 */
static void gen_batch(float *f, const sp_init_scheme *s, const trunc_setup *ts,
                      const unsigned char key[32], ks_window *w, uint64_t i, size_t n)
{
    uint64_t end = i + n;
    switch (s->kind) {
    case SP_INIT_UNIFORM: {
        double low = s->p[0], span = s->p[1] - s->p[0];
        ks_load(w, key, i, end);
        for (size_t k = 0; k < n; k++)
            f[k] = (float)(low + span * u53(ks_word(w, i + k)));
        break;
    }
    case SP_INIT_NORMAL: {
        double mean = s->p[0], std = s->p[1];
        uint64_t p0 = i / 2, p1 = (end - 1) / 2; /* pairs p0..p1 */
        ks_load(w, key, 2 * p0, 2 * p1 + 2);
        /* Whole pairs inside [i, end) go to the vector path; the rest, and the
           pairs it leaves, to the scalar loop below (identical results). */
        uint64_t pa = (i + 1) / 2, pb = end / 2;   /* full pairs: pa .. pb-1 */
        size_t done = 0;
        if (pb > pa)
            done = sp_imath_normal_pairs(f + (2 * pa - i), w->buf + (size_t)(2 * pa - (w->blk0 << 3)) * 8u,
                                         (size_t)(pb - pa), mean, std);
        for (uint64_t pr = p0; pr <= p1; pr++) {
            if (pr >= pa && pr < pa + done)
                continue;
            double zc, zs;
            box_muller(ks_word(w, 2 * pr), ks_word(w, 2 * pr + 1), &zc, &zs);
            if (2 * pr >= i)
                f[2 * pr - i] = (float)(mean + std * zc);
            if (2 * pr + 1 < end)
                f[2 * pr + 1 - i] = (float)(mean + std * zs);
        }
        break;
    }
    case SP_INIT_TRUNC_NORMAL: {
        double mean = s->p[0], std = s->p[1], lo = s->p[2], hi = s->p[3];
        ks_load(w, key, i, end);
        for (size_t k = 0; k < n; k++) {
            double u = ts->a + ts->d * u53(ks_word(w, i + k));
            double v = mean + std * sp_imath_ndtri(u);
            if (v < lo)
                v = lo;
            if (v > hi)
                v = hi;
            f[k] = (float)v;
        }
        break;
    }
    case SP_INIT_CONSTANT:
        for (size_t k = 0; k < n; k++)
            f[k] = (float)s->p[0];
        break;
    default: /* SP_INIT_ZEROS */
        for (size_t k = 0; k < n; k++)
            f[k] = 0.0f;
        break;
    }
}

/* Writes n floats as dtype at out (little-endian). */
static void emit_batch(unsigned char *out, sp_dtype dtype, const float *f, size_t n)
{
    switch (dtype) {
    case SP_DTYPE_F32:
        for (size_t k = 0; k < n; k++)
            store32_le(out + 4 * k, f2u(f[k]));
        break;
    case SP_DTYPE_F16:
        for (size_t k = 0; k < n; k++)
            store16_le(out + 2 * k, sp_f32_to_f16(f[k]));
        break;
    default: /* SP_DTYPE_BF16 */
        for (size_t k = 0; k < n; k++)
            store16_le(out + 2 * k, sp_f32_to_bf16(f[k]));
        break;
    }
}

static int is_pos_zero(double x)
{
    double z = 0.0;
    return memcmp(&x, &z, sizeof x) == 0;
}

int sp_init_check(const sp_init_scheme *s)
{
    const double *p = s->p;
    int used;
    switch (s->kind) {
    case SP_INIT_EXTERNAL:
    case SP_INIT_ZEROS:
        used = 0;
        break;
    case SP_INIT_CONSTANT:
        used = 1;
        break;
    case SP_INIT_UNIFORM:
    case SP_INIT_NORMAL:
    case SP_INIT_UNIFORM32:
    case SP_INIT_NORMAL32:
        used = 2;
        break;
    case SP_INIT_TRUNC_NORMAL:
        used = 4;
        break;
    case SP_INIT_ORTHOGONAL:
        used = 3;
        break;
    default:
        return SP_EINVAL;
    }
    for (int k = 0; k < 4; k++) {
        if (k < used && !isfinite(p[k]))
            return SP_EINVAL;
        if (k >= used && !is_pos_zero(p[k]))
            return SP_EINVAL;
    }
    switch (s->kind) {
    case SP_INIT_UNIFORM:
        if (!(p[0] < p[1]) || !isfinite(p[1] - p[0]))
            return SP_EINVAL;
        break;
    case SP_INIT_NORMAL:
        if (!(p[1] > 0.0))
            return SP_EINVAL;
        break;
    case SP_INIT_TRUNC_NORMAL:
        if (!(p[1] > 0.0) || !(p[2] < p[3]))
            return SP_EINVAL;
        break;
    case SP_INIT_UNIFORM32:
    case SP_INIT_NORMAL32:
        return sp_init32_check(s);
    case SP_INIT_ORTHOGONAL: {
        /* rows and cols: integers >= 1 with rows * cols and the QR's work bounded */
        double lim = (double)SP_INIT_ORTHO_MAX_NUMEL;
        if (!(p[0] > 0.0) || !(p[1] >= 1.0) || !(p[2] >= 1.0) || !(p[1] <= lim) ||
            !(p[2] <= lim) || floor(p[1]) != p[1] || floor(p[2]) != p[2])
            return SP_EINVAL;
        uint64_t r = (uint64_t)p[1], c = (uint64_t)p[2], mn = r < c ? r : c;
        if (r * c > SP_INIT_ORTHO_MAX_NUMEL || r * c * mn > SP_INIT_ORTHO_MAX_WORK)
            return SP_EINVAL;
        break;
    }
    default:
        break;
    }
    return SP_OK;
}

int sp_init_shape_check(const sp_init_scheme *s, const uint64_t *shape, uint32_t ndim)
{
    if (s->kind != SP_INIT_ORTHOGONAL)
        return SP_OK;
    uint64_t numel;
    if (ndim < 2 || sp_shape_numel(&numel, shape, ndim) != SP_OK || shape[0] == 0)
        return SP_EINVAL;
    if (s->p[1] != (double)shape[0] || s->p[2] != (double)(numel / shape[0]))
        return SP_EINVAL;
    return SP_OK;
}

int sp_init_orthogonal(sp_init_scheme *s, double gain, const uint64_t *shape, uint32_t ndim)
{
    memset(s, 0, sizeof *s);
    uint64_t numel;
    if (ndim < 2 || ndim > SP_MAX_DIMS || sp_shape_numel(&numel, shape, ndim) != SP_OK || numel == 0)
        return SP_EINVAL;
    sp_init_scheme o = {SP_INIT_ORTHOGONAL, {gain, (double)shape[0], (double)(numel / shape[0]), 0.0}};
    if (numel > SP_INIT_ORTHO_MAX_NUMEL || sp_init_check(&o) != SP_OK)
        return SP_EINVAL;
    *s = o;
    return SP_OK;
}

void sp_init_normal_values(double *v, uint64_t seed, const char *name, size_t name_len,
                           uint64_t count)
{
    unsigned char key[32];
    ks_window w;
    tensor_key(key, seed, name, name_len);
    /* batches of KS_WORDS elements from a multiple of KS_WORDS: whole blocks, whole pairs */
    for (uint64_t i = 0; i < count; i += KS_WORDS) {
        uint64_t e = count - i < KS_WORDS ? count : i + KS_WORDS;
        uint64_t we = e + (e & 1u);   /* words up to the end of the last pair */
        ks_load(&w, key, i, we);
        for (uint64_t k = i; k < e; k += 2) {
            double zc, zs;
            box_muller(ks_word(&w, k), ks_word(&w, k + 1), &zc, &zs);
            v[k] = 0.0 + 1.0 * zc;
            if (k + 1 < e)
                v[k + 1] = 0.0 + 1.0 * zs;
        }
    }
}

/* ORTHOGONAL elements [first, first + count): the whole matrix (or its cached values), then the slice. */
static int fill_orthogonal(unsigned char *out, sp_dtype dtype, const char *name, size_t name_len,
                           uint64_t seed, const sp_init_scheme *s, uint64_t first, uint64_t count)
{
    uint64_t numel = (uint64_t)s->p[1] * (uint64_t)s->p[2];
    if (first > numel || count > numel - first)
        return SP_ERANGE;
    if (count == 0)
        return SP_OK;
    float *f = malloc((size_t)count * sizeof *f);
    if (f == NULL)
        return SP_ENOMEM;
    int rc = sp_init_orth_f32(f, s, seed, name, name_len, first, count);
    if (rc == SP_OK)
        emit_batch(out, dtype, f, (size_t)count);
    free(f);
    return rc;
}

int sp_init_fill(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                 const sp_init_scheme *s, uint64_t first, uint64_t count)
{
    if (sp_init_check(s) != SP_OK || s->kind == SP_INIT_EXTERNAL)
        return SP_EINVAL;
    size_t name_len = 0;
    while (name_len <= SP_NAME_MAX && name[name_len] != '\0')
        name_len++;
    if (name_len == 0 || name_len > SP_NAME_MAX)
        return SP_EINVAL;
    if (dtype != SP_DTYPE_F32 && dtype != SP_DTYPE_F16 && dtype != SP_DTYPE_BF16)
        return SP_EUNSUPPORTED;
    if (first > INDEX_LIMIT || count > INDEX_LIMIT - first)
        return SP_ERANGE;
    if (count > SIZE_MAX / sp_dtype_size(dtype))
        return SP_ERANGE;

    if (sodium_init() < 0)
        return SP_ECRYPTO;
    if (s->kind == SP_INIT_ORTHOGONAL)
        return fill_orthogonal(out, dtype, name, name_len, seed, s, first, count);
    unsigned char key[32] = {0};
    trunc_setup ts = {0.0, 0.0};
    int keyed = s->kind == SP_INIT_UNIFORM || s->kind == SP_INIT_NORMAL ||
                s->kind == SP_INIT_TRUNC_NORMAL;
    if (s->kind == SP_INIT_UNIFORM32 || s->kind == SP_INIT_NORMAL32) {
        /* scheme version 2 (SPEC.md 6.8): 32-bit words, init32.c */
        tensor_key(key, seed, name, name_len);
        sp_init32_fill(out, dtype, key, s, first, count);
        return SP_OK;
    }
    if (keyed)
        tensor_key(key, seed, name, name_len);
    if (s->kind == SP_INIT_TRUNC_NORMAL)
        ts = trunc_prepare(s);

    ks_window w;
    float f[KS_WORDS];
    unsigned char *o = out;
    size_t esize = sp_dtype_size(dtype);
    uint64_t i = first, end = first + count;
    while (i < end) {
        /* Words needed start at most 7 into the first block; a normal batch
           may need one word before i and one after the last element. */
        size_t n = KS_WORDS - 8u - 2u;
        if (end - i < n)
            n = (size_t)(end - i);
        gen_batch(f, s, &ts, key, &w, i, n);
        emit_batch(o, dtype, f, n);
        o += n * esize;
        i += n;
    }
    return SP_OK;
}

static int same_scheme(const sp_init_scheme *a, const sp_init_scheme *b)
{
    return a->kind == b->kind && memcmp(a->p, b->p, sizeof a->p) == 0;
}

/* The checks of sp_init_ranges_check without the shape; *end = the last range's end. */
static int ranges_valid(const sp_init_range *r, size_t n, uint64_t *end)
{
    if (r == NULL || n < 2 || n > SP_INIT_MAX_RANGES || r[0].first != 0)
        return SP_EINVAL;
    uint64_t at = 0;
    for (size_t k = 0; k < n; k++) {
        if (r[k].first != at || r[k].count == 0 || r[k].count > INDEX_LIMIT - at)
            return SP_EINVAL;
        if (sp_init_check(&r[k].init) != SP_OK || r[k].init.kind == SP_INIT_EXTERNAL)
            return SP_EINVAL;
        if (k > 0 && same_scheme(&r[k - 1].init, &r[k].init))
            return SP_EINVAL;
        at += r[k].count;
    }
    *end = at;
    return SP_OK;
}

int sp_init_ranges_check(const sp_init_range *r, size_t n, const uint64_t *shape, uint32_t ndim)
{
    uint64_t end = 0, numel = 0;
    if (ranges_valid(r, n, &end) != SP_OK || shape == NULL ||
        sp_shape_numel(&numel, shape, ndim) != SP_OK || end != numel)
        return SP_EINVAL;
    for (size_t k = 0; k < n; k++)
        if (sp_init_shape_check(&r[k].init, shape, ndim) != SP_OK)
            return SP_EINVAL;
    return SP_OK;
}

int sp_init_fill_ranges(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                        const sp_init_range *r, size_t n, uint64_t first, uint64_t count)
{
    uint64_t end = 0;
    if (ranges_valid(r, n, &end) != SP_OK)
        return SP_EINVAL;
    /* the argument checks of sp_init_fill, once */
    int rc = sp_init_fill(out, dtype, name, seed, &r[0].init, 0, 0);
    if (rc != SP_OK)
        return rc;
    if (first > end || count > end - first)
        return SP_ERANGE;
    /* the range holding `first`: the last one starting at or before it */
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].first <= first)
            lo = mid;
        else
            hi = mid;
    }
    unsigned char *o = out;
    size_t esize = sp_dtype_size(dtype);
    for (size_t k = lo; k < n && count > 0; k++) {
        uint64_t a = first, b = r[k].first + r[k].count;
        uint64_t m = b - a < count ? b - a : count;
        if ((rc = sp_init_fill(o, dtype, name, seed, &r[k].init, a, m)) != SP_OK)
            return rc;
        o += m * esize;
        first += m;
        count -= m;
    }
    return SP_OK;
}

/*
 * f32 -> bf16, round to nearest even on the bit pattern: adding 0x7fff plus
 * the lowest kept bit carries exactly when the discarded half is above the
 * tie, or at the tie with an odd kept part; a carry out of the mantissa moves
 * to the next binade or to infinity. NaN -> sign | 0x7fc0 (quiet).
 */
uint16_t sp_f32_to_bf16(float x)
{
    uint32_t b = f2u(x);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)(((b >> 16) & 0x8000u) | 0x7fc0u);
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

/*
 * f32 -> IEEE binary16, round to nearest even. |x| >= 65520 (the midpoint
 * between 65504 and 2^16, which ties to the even 2^16) -> Inf; normal range by
 * the same carry trick as bf16 (13 bits dropped, exponent rebased by 112);
 * below 2^-14 an explicit shift of the significand with a remainder test.
 * NaN -> sign | 0x7e00 (quiet).
 */
uint16_t sp_f32_to_f16(float x)
{
    uint32_t b = f2u(x);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    uint32_t a = b & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) {
        uint32_t m = a + 0xfffu + ((a >> 13) & 1u);
        return (uint16_t)(sign | ((m >> 13) - 0x1c000u));
    }
    uint32_t e = a >> 23;
    if (e < 102) /* below 2^-25: rounds to zero */
        return sign;
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24: value = m * 2^-shift units of 2^-24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

float sp_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

float sp_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in binary32 */
        float v = (float)m * 0x1p-24f;
        return u2f(f2u(v) | sign);
    }
    if (e == 31)
        return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}
