/*
 * test_init.c - known answers, slice property, statistics and argument
 * checks for the deterministic initialiser (attest/init.c, SPEC.md 6).
 *
 * The expected digests were computed by the independent Python model
 * tests/init_reference.py (hashlib BLAKE2b, libsodium ChaCha20 via ctypes,
 * exact-rational rounding); tests/cli/init_reference.sh compares its whole
 * table with tests/init_vectors.c. Conversions and the elementary functions
 * are tested in test_init_math.c.
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

#include "init.h"
#include "init_test_util.h"

#define NAME "blocks.0.attn.weight"
#define N_VEC 4099
#define P35 (UINT64_C(1) << 35)
#define P62 (UINT64_C(1) << 62)

static const sp_dtype dtypes[3] = {SP_DTYPE_F32, SP_DTYPE_F16, SP_DTYPE_BF16};

typedef struct {
    const char *label;
    sp_init_scheme s;
    const char *digest[3];  /* F32, F16, BF16 of elements [0, 4099), seed 7, NAME */
    uint32_t head[4];       /* first four F32 elements, as bits */
} vector;

static const vector vectors[] = {
    {"zeros", {SP_INIT_ZEROS, {0, 0, 0, 0}},
     {"ee392754da4eb2512175b805cd32ce8bda199f93f069943dad7252aaa9c4f391",
      "b3fe65908520f7d8707b59c1f313105f8cf95cce5c3721ee962a9c85de18142a",
      "b3fe65908520f7d8707b59c1f313105f8cf95cce5c3721ee962a9c85de18142a"},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {"constant 1.0", {SP_INIT_CONSTANT, {1.0, 0, 0, 0}},
     {"f8ba2f34f417408946603fe57fe4617acb97f3ba483ac8d71099763ce5f65014",
      "0f02a7066d8243f045b6c733e096c6d8def5e7e2ea6318e6b3d84b5da3acae81",
      "b206c7d0f35691162cc5b001b81b97c008dfae7b68219e702713ccba4684f52e"},
     {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000}},
    {"uniform(-0.1, 0.1)", {SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}},
     {"ea4f7504eafe0b21507d25b0e50d77e906af787c02386a6478ba83d4a3e5096c",
      "aa398f47cf9e726bc7ee242cf7d0070c4b75b3a5608d2b494e8fa82761a05f54",
      "cdc1fb97e281b163adad1831e2f72ac4b8035877f7cebc25e630b4936b01b171"},
     {0x3dc48cf1, 0xbd8ef607, 0xbc675da1, 0x3cde10da}},
    {"normal(0, 0.02)", {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}},
     {"f7ee46d45b511333beddb315fabd74b0e240fad047cbeeb0e91f7bba3abee6fb",
      "ecc8cf321fdcd393dfb3a16f435011cb5e0b1835b2090b82ac7601bc8216281e",
      "d67172b99a7cb37d8d0f88f822293b0f42be89ec67ed76ca511403ec8b467795"},
     {0x3b1a1955, 0x3b56da14, 0xbc8c5848, 0xbca04788}},
    {"trunc_normal(0, 0.02, -0.04, 0.04)", {SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}},
     {"df49e3640d0e6dfc90079619a8925f0b489357ae116a62dfe0eb869d6c9e8d67",
      "c6e47104efdc12055450de71ccb0cb6731c1cd9866026751421f16c894aa2da1",
      "e8c60bba2f4d9b1c7d4f4de79c3820e621d29a3eba79b9c60581265fd6d95429"},
     {0x3d0d937d, 0xbc9e6109, 0xbb5e7ce5, 0x3bd8646d}},
};
#define N_VECTORS (sizeof vectors / sizeof vectors[0])

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static float f32_at(const unsigned char *p)
{
    uint32_t u = le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* splitmix64: deterministic pseudo-random slice choices */
/* ---------------------------------------------------------------- known answers */

static void test_vectors(void **state)
{
    (void)state;
    unsigned char *buf = xmalloc(N_VEC * 4);
    char hex[65];
    for (size_t v = 0; v < N_VECTORS; v++) {
        assert_int_equal(sp_init_check(&vectors[v].s), SP_OK);
        for (int d = 0; d < 3; d++) {
            assert_int_equal(sp_init_fill(buf, dtypes[d], NAME, 7, &vectors[v].s, 0, N_VEC), SP_OK);
            hex_digest(hex, buf, N_VEC * sp_dtype_size(dtypes[d]));
            if (strcmp(hex, vectors[v].digest[d]) != 0)
                fail_msg("%s %s: got %s", vectors[v].label, sp_dtype_name(dtypes[d]), hex);
        }
        assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, NAME, 7, &vectors[v].s, 0, 4), SP_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(le32(buf + 4 * i), vectors[v].head[i]);
    }
    free(buf);
}

/* Slices far out: the 2^32-block nonce switch and the last valid indices. */
static void test_vectors_far(void **state)
{
    (void)state;
    static const struct {
        sp_init_scheme s;
        uint64_t first, count;
        const char *digest;
    } far[] = {
        {{SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}}, P35 - 5, 16,
         "9d11b1c8ee33ce4512a2140544b390ae87976f0bc50b0e5f64d1a064ef80ce7d"},
        {{SP_INIT_NORMAL, {0.0, 0.02, 0, 0}}, P35 - 5, 16,
         "f58eb11014d81a615229e3d7a7cb818c9f8aaa8534cce8bfe6a34cfa7e54ad60"},
        {{SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}}, P35 - 5, 16,
         "dd01e1af4f3d725da75ab6da63428c55d1ff0e66a61504c2dc7480a0b5f595f4"},
        {{SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}}, 2 * P35 + 3, 9,
         "eee9daba01513de0768cb4dee963369346e8d9313bab20af53f414477c1ceced"},
        {{SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}}, P62 - 7, 7,
         "f7c1a93a2c4f24d352f32949cc258fb416e2cb458a9bd7d81b9fef3ec7040a26"},
        {{SP_INIT_NORMAL, {0.0, 0.02, 0, 0}}, P62 - 3, 3,
         "30eba8545fc606bac0fda2dfca5c066a7eeae03ccce4c78a83fd72873ec9ed07"},
    };
    unsigned char buf[64];
    char hex[65];
    for (size_t k = 0; k < sizeof far / sizeof far[0]; k++) {
        assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, NAME, 7, &far[k].s, far[k].first,
                                      far[k].count), SP_OK);
        hex_digest(hex, buf, (size_t)far[k].count * 4);
        if (strcmp(hex, far[k].digest) != 0)
            fail_msg("far case %zu: got %s", k, hex);
    }
}

/* Seeds and names enter the key: any change changes every element. */
static void test_key_inputs(void **state)
{
    (void)state;
    sp_init_scheme s = {SP_INIT_UNIFORM, {0.0, 1.0, 0, 0}};
    unsigned char a[400], b[400];
    char hex[65];
    /* seed 0, name "x": reference vector */
    assert_int_equal(sp_init_fill(a, SP_DTYPE_F32, "x", 0, &s, 0, 100), SP_OK);
    hex_digest(hex, a, 400);
    assert_string_equal(hex, "d09ec078137765ba806c848f50b2a6a7fb320e40f342e17f272d48c054d994ce");
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "x", 1, &s, 0, 100), SP_OK);
    assert_memory_not_equal(a, b, 400);
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "y", 0, &s, 0, 100), SP_OK);
    assert_memory_not_equal(a, b, 400);
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "xx", 0, &s, 0, 100), SP_OK);
    assert_memory_not_equal(a, b, 400);
    /* the scheme is not in the key: uniform(0,1) and uniform(0,2) share words */
    sp_init_scheme s2 = {SP_INIT_UNIFORM, {0.0, 2.0, 0, 0}};
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "x", 0, &s2, 0, 100), SP_OK);
    for (int i = 0; i < 100; i++)
        assert_true(f32_at(b + 4 * i) == 2.0f * f32_at(a + 4 * i));

    sp_init_scheme n = {SP_INIT_NORMAL, {1.0, 1.0, 0, 0}};
    assert_int_equal(sp_init_fill(a, SP_DTYPE_F32, "layer.\xc3\xa9", UINT64_MAX, &n, 0, 100),
                     SP_OK);
    hex_digest(hex, a, 400);
    assert_string_equal(hex, "5111764db9e146087044ee027ec126eab50ba2334926a4a36bb203be07864c5f");
}

/* F16/BF16 output is exactly the conversion of the F32 output. */
static void test_dtype_consistency(void **state)
{
    (void)state;
    unsigned char *f = xmalloc(N_VEC * 4), *h = xmalloc(N_VEC * 2), *bf = xmalloc(N_VEC * 2);
    for (size_t v = 0; v < N_VECTORS; v++) {
        const sp_init_scheme *s = &vectors[v].s;
        assert_int_equal(sp_init_fill(f, SP_DTYPE_F32, NAME, 3, s, 11, N_VEC), SP_OK);
        assert_int_equal(sp_init_fill(h, SP_DTYPE_F16, NAME, 3, s, 11, N_VEC), SP_OK);
        assert_int_equal(sp_init_fill(bf, SP_DTYPE_BF16, NAME, 3, s, 11, N_VEC), SP_OK);
        for (size_t i = 0; i < N_VEC; i++) {
            float x = f32_at(f + 4 * i);
            assert_int_equal(le16(h + 2 * i), sp_f32_to_f16(x));
            assert_int_equal(le16(bf + 2 * i), sp_f32_to_bf16(x));
        }
    }
    free(f);
    free(h);
    free(bf);
}

/* ---------------------------------------------------------------- slices */

/* Every [first, first+count) inside [base, base+n) equals that part of the window. */
static void check_slices(const sp_init_scheme *s, sp_dtype dt, uint64_t base, size_t n,
                         const uint64_t *fixed, size_t nfixed, int nrandom)
{
    size_t es = sp_dtype_size(dt);
    unsigned char *whole = xmalloc(n * es), *part = xmalloc(n * es + 8);
    assert_int_equal(sp_init_fill(whole, dt, NAME, 42, s, base, n), SP_OK);
    for (int k = 0; k < (int)nfixed / 2 + nrandom; k++) {
        uint64_t off, cnt;
        if (k < (int)nfixed / 2) {
            off = fixed[2 * k];
            cnt = fixed[2 * k + 1];
        } else {
            off = rng() % n;
            uint64_t room = n - off;
            uint64_t r = rng();
            cnt = (r & 3) == 0 ? r % 17 : (r >> 8) % (room < 1500 ? room + 1 : 1501);
            if (cnt > room)
                cnt = room;
        }
        memset(part, 0xa5, n * es + 8);
        assert_int_equal(sp_init_fill(part, dt, NAME, 42, s, base + off, cnt), SP_OK);
        if (memcmp(part, whole + off * es, cnt * es) != 0)
            fail_msg("kind %d dtype %s: slice [%llu + %llu, +%llu) differs", (int)s->kind,
                     sp_dtype_name(dt), (unsigned long long)base, (unsigned long long)off,
                     (unsigned long long)cnt);
        /* nothing written past the slice */
        for (size_t j = cnt * es; j < cnt * es + 8; j++)
            assert_int_equal(part[j], 0xa5);
    }
    free(whole);
    free(part);
}

static void test_slices(void **state)
{
    (void)state;
    /* odd starts, 64-byte block edges (8 words), batch edges (502 elements) */
    static const uint64_t fixed[] = {0, 1, 1, 1, 7, 2, 8, 1, 9, 15, 63, 3, 501, 3, 502, 1,
                                     503, 1000, 1003, 2, 19999, 1, 1, 19999, 0, 20000,
                                     5, 0, 12345, 4321};
    rng_state = 1;
    for (size_t v = 2; v < N_VECTORS; v++)
        for (int d = 0; d < 3; d++)
            check_slices(&vectors[v].s, dtypes[d], 0, 20000, fixed, sizeof fixed / 8, 60);
}

static void test_slices_far(void **state)
{
    (void)state;
    /* window across element 2^35 (word 2^35 = block 2^32: the nonce changes) */
    uint64_t b35 = P35 - 1500;
    static const uint64_t fixed35[] = {1499, 1, 1500, 1, 1499, 2, 1497, 9, 1503, 5, 1, 2998,
                                       1000, 1000};
    /* the last 3000 valid indices */
    uint64_t b62 = P62 - 3000;
    static const uint64_t fixed62[] = {2999, 1, 2998, 2, 2990, 10, 0, 3000, 1, 2999};
    rng_state = 2;
    for (size_t v = 2; v < N_VECTORS; v++) {
        check_slices(&vectors[v].s, SP_DTYPE_F32, b35, 3000, fixed35, sizeof fixed35 / 8, 30);
        check_slices(&vectors[v].s, SP_DTYPE_BF16, b35, 3000, fixed35, sizeof fixed35 / 8, 10);
        check_slices(&vectors[v].s, SP_DTYPE_F32, b62, 3000, fixed62, sizeof fixed62 / 8, 30);
    }
}

/* ---------------------------------------------------------------- statistics */

#define N_STAT (1u << 20)

typedef struct {
    double mean, std, min, max;
} moments;

static moments moments_of(const float *x, size_t n)
{
    moments m = {0, 0, INFINITY, -INFINITY};
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        if (x[i] < m.min)
            m.min = x[i];
        if (x[i] > m.max)
            m.max = x[i];
    }
    m.mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m.mean) * (x[i] - m.mean);
    m.std = sqrt(ss / (double)(n - 1));
    return m;
}

static double frac_below(const float *x, size_t n, double t)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += x[i] < t;
    return (double)c / (double)n;
}

/* Pearson correlation of x[i] and x[i + lag] over i = start, start + step, ... */
static double corr(const float *x, size_t n, size_t start, size_t step, size_t lag)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    size_t c = 0;
    for (size_t i = start; i + lag < n; i += step, c++) {
        double a = x[i], b = x[i + lag];
        sa += a;
        sb += b;
        saa += a * a;
        sbb += b * b;
        sab += a * b;
    }
    double ma = sa / c, mb = sb / c;
    return (sab / c - ma * mb) / sqrt((saa / c - ma * ma) * (sbb / c - mb * mb));
}

static float *gen_f32(const sp_init_scheme *s, uint64_t first)
{
    unsigned char *raw = xmalloc(N_STAT * 4);
    assert_int_equal(sp_init_fill(raw, SP_DTYPE_F32, "stats.weight", 2024, s, first, N_STAT),
                     SP_OK);
    float *x = malloc(N_STAT * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < N_STAT; i++)
        x[i] = f32_at(raw + 4 * i);
    free(raw);
    return x;
}

static void test_stats_uniform(void **state)
{
    (void)state;
    sp_init_scheme s = {SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}};
    float *x = gen_f32(&s, 0);
    moments m = moments_of(x, N_STAT);
    assert_true(m.min >= -0.1f && m.max <= 0.1f);
    assert_true(m.min < -0.0999 && m.max > 0.0999);
    assert_true(fabs(m.mean) < 5e-4);
    assert_true(fabs(m.std / (0.2 / sqrt(12.0)) - 1.0) < 0.005);
    for (int b = 1; b < 10; b++) /* deciles */
        assert_true(fabs(frac_below(x, N_STAT, -0.1 + 0.02 * b) - 0.1 * b) < 0.003);
    assert_true(fabs(corr(x, N_STAT, 0, 1, 1)) < 0.01);
    free(x);
}

static void test_stats_normal(void **state)
{
    (void)state;
    sp_init_scheme s = {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}};
    /* Phi(-2), Phi(-1), Phi(0), Phi(1), Phi(2) */
    static const double cdf[5] = {0.022750131948179, 0.158655253931457, 0.5,
                                  0.841344746068543, 0.977249868051821};
    for (int pass = 0; pass < 2; pass++) {
        float *x = gen_f32(&s, pass ? P35 - 12345 : 0);
        moments m = moments_of(x, N_STAT);
        assert_true(fabs(m.mean) < 3e-4);
        assert_true(fabs(m.std / 0.02 - 1.0) < 0.01);
        assert_true(m.min > -0.2 && m.max < 0.2); /* Box-Muller on 2^-53 grid: |z| < 8.6 */
        for (int k = 0; k < 5; k++)
            assert_true(fabs(frac_below(x, N_STAT, 0.02 * (k - 2)) - cdf[k]) < 0.003);
        /* within one std: 68.27 % */
        double in1 = frac_below(x, N_STAT, 0.02) - frac_below(x, N_STAT, -0.02);
        assert_true(fabs(in1 - 0.682689) < 0.004);
        /* the two elements of a Box-Muller pair (cos, sin) are uncorrelated, and so
           are their squares (a swapped or repeated branch would correlate them) */
        assert_true(fabs(corr(x, N_STAT, 0, 2, 1)) < 0.01);
        assert_true(fabs(corr(x, N_STAT, 1, 2, 1)) < 0.01);
        float *sq = malloc(N_STAT * sizeof(float));
        assert_non_null(sq);
        for (size_t i = 0; i < N_STAT; i++)
            sq[i] = x[i] * x[i];
        assert_true(fabs(corr(sq, N_STAT, 0, 2, 1)) < 0.01);
        free(sq);
        free(x);
    }
}

static void test_stats_trunc(void **state)
{
    (void)state;
    sp_init_scheme s = {SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}};
    float *x = gen_f32(&s, 0);
    moments m = moments_of(x, N_STAT);
    assert_true(m.min >= -0.04f && m.max <= 0.04f);
    assert_true(m.min < -0.0399 && m.max > 0.0399);
    assert_true(fabs(m.mean) < 3e-4);
    /* std of N(0,1) truncated to [-2, 2]: sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) */
    assert_true(fabs(m.std / (0.02 * 0.879626) - 1.0) < 0.01);
    /* P(|z| > 1.5 | |z| < 2) = 2 (Phi(-1.5) - Phi(-2)) / (1 - 2 Phi(-2)) = 0.09231 */
    double tails = frac_below(x, N_STAT, -0.03) + (1.0 - frac_below(x, N_STAT, 0.03));
    assert_true(fabs(tails - 0.092314) < 0.004);
    free(x);

    /* asymmetric: mean 1, std 2 on [0.5, 10]: every value inside, mean shifted up */
    sp_init_scheme a = {SP_INIT_TRUNC_NORMAL, {1.0, 2.0, 0.5, 10.0}};
    x = gen_f32(&a, 0);
    m = moments_of(x, N_STAT);
    assert_true(m.min >= 0.5f && m.max <= 10.0f);
    /* E[X] = mu + sigma (phi(-0.25) - phi(4.5)) / (Phi(4.5) - Phi(-0.25)) = 2.2916 */
    assert_true(fabs(m.mean - 2.291633) < 0.01);
    free(x);

    /* wide bounds (timm's default): nothing is clamped in practice */
    sp_init_scheme w = {SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -2.0, 2.0}};
    x = gen_f32(&w, 0);
    m = moments_of(x, N_STAT);
    assert_true(fabs(m.std / 0.02 - 1.0) < 0.01);
    assert_true(m.min > -0.2 && m.max < 0.2);
    free(x);
}

/* ---------------------------------------------------------------- arguments */

static void test_check(void **state)
{
    (void)state;
    const double inf = INFINITY, nan = NAN;
    static const struct {
        int kind;
        double p[4];
        int rc;
    } cases[] = {
        {SP_INIT_EXTERNAL, {0, 0, 0, 0}, SP_OK},
        {SP_INIT_ZEROS, {0, 0, 0, 0}, SP_OK},
        {SP_INIT_CONSTANT, {-3.5, 0, 0, 0}, SP_OK},
        {SP_INIT_CONSTANT, {-0.0, 0, 0, 0}, SP_OK},
        {SP_INIT_UNIFORM, {-1, 1, 0, 0}, SP_OK},
        {SP_INIT_NORMAL, {5, 1e-30, 0, 0}, SP_OK},
        {SP_INIT_TRUNC_NORMAL, {0, 1, -2, 2}, SP_OK},
        {SP_INIT_TRUNC_NORMAL, {0, 1, 50, 60}, SP_OK}, /* far in the tail: valid */
        {99, {0, 0, 0, 0}, SP_EINVAL},   /* kinds 6 and 7 are the version-2 kinds (test_init32.c) */
        {-1, {0, 0, 0, 0}, SP_EINVAL},
        {SP_INIT_EXTERNAL, {1, 0, 0, 0}, SP_EINVAL},
        {SP_INIT_ZEROS, {0, 0, 0, 1e-300}, SP_EINVAL},
        {SP_INIT_ZEROS, {-0.0, 0, 0, 0}, SP_EINVAL},  /* unused must be +0.0 */
        {SP_INIT_CONSTANT, {1, -0.0, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM, {1, 1, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM, {1, -1, 0, 0}, SP_EINVAL},
        {SP_INIT_UNIFORM, {-1e308, 1e308, 0, 0}, SP_EINVAL}, /* high - low overflows */
        {SP_INIT_UNIFORM, {0, 1, 1, 0}, SP_EINVAL},
        {SP_INIT_NORMAL, {0, 0, 0, 0}, SP_EINVAL},
        {SP_INIT_NORMAL, {0, -1, 0, 0}, SP_EINVAL},
        {SP_INIT_NORMAL, {0, 1, 0, 2}, SP_EINVAL},
        {SP_INIT_TRUNC_NORMAL, {0, 1, 2, 2}, SP_EINVAL},
        {SP_INIT_TRUNC_NORMAL, {0, 1, 2, -2}, SP_EINVAL},
        {SP_INIT_TRUNC_NORMAL, {0, 0, -2, 2}, SP_EINVAL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sp_init_scheme s;
        s.kind = (sp_init_kind)cases[k].kind;
        memcpy(s.p, cases[k].p, sizeof s.p);
        if (sp_init_check(&s) != cases[k].rc)
            fail_msg("check case %zu: got %d want %d", k, sp_init_check(&s), cases[k].rc);
    }
    /* non-finite used parameters, each position of each kind */
    static const int kinds[] = {SP_INIT_CONSTANT, SP_INIT_UNIFORM, SP_INIT_NORMAL,
                                SP_INIT_TRUNC_NORMAL};
    static const int used[] = {1, 2, 2, 4};
    const double good[4][4] = {{1, 0, 0, 0}, {-1, 1, 0, 0}, {0, 1, 0, 0}, {0, 1, -2, 2}};
    const double bad[3] = {inf, -inf, nan};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < used[k]; i++)
            for (int b = 0; b < 3; b++) {
                sp_init_scheme s = {(sp_init_kind)kinds[k], {good[k][0], good[k][1], good[k][2],
                                                             good[k][3]}};
                assert_int_equal(sp_init_check(&s), SP_OK);
                s.p[i] = bad[b];
                assert_int_equal(sp_init_check(&s), SP_EINVAL);
            }
}

static void test_fill_errors(void **state)
{
    (void)state;
    unsigned char buf[64];
    sp_init_scheme u = {SP_INIT_UNIFORM, {-1, 1, 0, 0}};
    sp_init_scheme ext = {SP_INIT_EXTERNAL, {0, 0, 0, 0}};
    sp_init_scheme bad = {SP_INIT_NORMAL, {0, -1, 0, 0}};

    assert_int_equal(sp_init_check(&ext), SP_OK);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &ext, 0, 4), SP_EINVAL);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &bad, 0, 4), SP_EINVAL);

    static const int dts[] = {SP_DTYPE_INVALID, SP_DTYPE_F64, SP_DTYPE_I64, SP_DTYPE_I32,
                              SP_DTYPE_I16, SP_DTYPE_I8, SP_DTYPE_U8, SP_DTYPE_BOOL, 11, -3};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++)
        assert_int_equal(sp_init_fill(buf, (sp_dtype)dts[k], "w", 1, &u, 0, 4), SP_EUNSUPPORTED);

    /* ranges: first + count <= 2^62 */
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, UINT64_MAX, 1), SP_ERANGE);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, 1, UINT64_MAX), SP_ERANGE);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, P62, 1), SP_ERANGE);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, P62 - 1, 2), SP_ERANGE);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, 0, P62 + 1), SP_ERANGE);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, P62 - 1, 1), SP_OK);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "w", 1, &u, P62, 0), SP_OK);

    /* count 0 writes nothing */
    memset(buf, 0x5a, sizeof buf);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_BF16, "w", 1, &u, 123, 0), SP_OK);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0x5a);

    /* names: 1..SP_NAME_MAX bytes */
    char name[SP_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[SP_NAME_MAX] = '\0';
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, name, 1, &u, 0, 4), SP_OK);
    name[SP_NAME_MAX] = 'n';
    name[SP_NAME_MAX + 1] = '\0';
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, name, 1, &u, 0, 4), SP_EINVAL);
    assert_int_equal(sp_init_fill(buf, SP_DTYPE_F32, "", 1, &u, 0, 4), SP_EINVAL);
}

/* Constants go through the same rounding as generated values. */
static void test_constant_rounding(void **state)
{
    (void)state;
    unsigned char b[8];
    sp_init_scheme c = {SP_INIT_CONSTANT, {-0.0, 0, 0, 0}};
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F16, "w", 1, &c, 0, 2), SP_OK);
    assert_int_equal(le16(b), 0x8000);
    c.p[0] = 65520.0; /* ties to 2^16: infinity in binary16 */
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F16, "w", 1, &c, 0, 2), SP_OK);
    assert_int_equal(le16(b), 0x7c00);
    c.p[0] = 1e39; /* beyond binary32 */
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "w", 1, &c, 0, 2), SP_OK);
    assert_int_equal(le32(b), 0x7f800000);
    c.p[0] = 1.0 / 3.0; /* double -> float rounds once: 0x3eaaaaab */
    assert_int_equal(sp_init_fill(b, SP_DTYPE_F32, "w", 1, &c, 0, 2), SP_OK);
    assert_int_equal(le32(b), 0x3eaaaaab);
    assert_int_equal(sp_init_fill(b, SP_DTYPE_BF16, "w", 1, &c, 0, 2), SP_OK);
    assert_int_equal(le16(b), 0x3eab);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_far),
        cmocka_unit_test(test_key_inputs),
        cmocka_unit_test(test_dtype_consistency),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_slices_far),
        cmocka_unit_test(test_stats_uniform),
        cmocka_unit_test(test_stats_normal),
        cmocka_unit_test(test_stats_trunc),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_fill_errors),
        cmocka_unit_test(test_constant_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
