/*
 * init_vectors.c - prints the initialiser's vector table: BLAKE2b-256 of
 * generated tensors and of sweeps over the elementary functions. The same
 * text comes from the independent tests/init_reference.py; the shell tests
 * tests/cli/init_reference.sh and init_crosscompiler.sh compare them.
 *
 * Standalone on purpose (only init.c, init32.c, init_orth.c, init_math.c,
 * sp_base.c, escape.c, libsodium):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -ffp-contract=off -Iattest attest/init.c attest/init32.c \
 *      attest/init_orth.c attest/init_math.c attest/sp_base.c attest/escape.c tests/init_vectors.c \
 *      -lsodium -lm
 */
#include "init.h"
#include "init32.h"
#include "init_math.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "blocks.0.attn.weight"
#define P35 (UINT64_C(1) << 35)
#define P62 (UINT64_C(1) << 62)
#define P36 (UINT64_C(1) << 36)
#define SWEEP_N 4096
#define MAXN 4099

typedef struct {
    const char *label;
    sp_init_kind kind;
    double p[4];
} scheme_case;

static const scheme_case primary[] = {
    {"zeros", SP_INIT_ZEROS, {0.0, 0.0, 0.0, 0.0}},
    {"constant1", SP_INIT_CONSTANT, {1.0, 0.0, 0.0, 0.0}},
    {"uniform", SP_INIT_UNIFORM, {-0.1, 0.1, 0.0, 0.0}},
    {"normal", SP_INIT_NORMAL, {0.0, 0.02, 0.0, 0.0}},
    {"trunc", SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}},
};

typedef struct {
    const char *label;
    sp_init_kind kind;
    double p[4];
    sp_dtype dtype;
    uint64_t seed;
    const char *name; /* NULL: 512 times 'a' */
    uint64_t first, count;
} extra_case;

static const extra_case extra[] = {
    {"uniform", SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}, SP_DTYPE_F32, 7, NAME, P35 - 5, 16},
    {"normal", SP_INIT_NORMAL, {0.0, 0.02, 0, 0}, SP_DTYPE_F32, 7, NAME, P35 - 5, 16},
    {"trunc", SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}, SP_DTYPE_F32, 7, NAME, P35 - 5, 16},
    {"uniform", SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}, SP_DTYPE_F32, 7, NAME, 2 * P35 + 3, 9},
    {"uniform", SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}, SP_DTYPE_F32, 7, NAME, P62 - 7, 7},
    {"normal", SP_INIT_NORMAL, {0.0, 0.02, 0, 0}, SP_DTYPE_F32, 7, NAME, P62 - 3, 3},
    {"trunc_wide", SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -2.0, 2.0}, SP_DTYPE_F32, 7, NAME, 0, 4099},
    {"trunc_asym", SP_INIT_TRUNC_NORMAL, {1.0, 2.0, 0.5, 10.0}, SP_DTYPE_F32, 7, NAME, 0, 4099},
    {"trunc_asym", SP_INIT_TRUNC_NORMAL, {1.0, 2.0, 0.5, 10.0}, SP_DTYPE_BF16, 7, NAME, 0, 4099},
    {"trunc_tail", SP_INIT_TRUNC_NORMAL, {0.0, 1.0, 6.0, 9.0}, SP_DTYPE_F32, 7, NAME, 0, 1000},
    {"trunc_far", SP_INIT_TRUNC_NORMAL, {0.0, 1.0, 40.0, 41.0}, SP_DTYPE_F32, 7, NAME, 0, 100},
    {"normal_big", SP_INIT_NORMAL, {0.0, 30000.0, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 4099},
    {"normal_shift", SP_INIT_NORMAL, {0.5, 3.0, 0, 0}, SP_DTYPE_F16, 7, NAME, 1, 4098},
    {"uniform_tiny", SP_INIT_UNIFORM, {-1e-6, 1e-6, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 4099},
    {"uniform_tiny", SP_INIT_UNIFORM, {-1e-6, 1e-6, 0, 0}, SP_DTYPE_BF16, 7, NAME, 0, 4099},
    {"uniform_unit", SP_INIT_UNIFORM, {0.0, 1.0, 0, 0}, SP_DTYPE_F32, 0, "x", 0, 100},
    {"normal_unit", SP_INIT_NORMAL, {1.0, 1.0, 0, 0}, SP_DTYPE_F32, UINT64_MAX,
     "layer.\xc3\xa9", 0, 100},
    {"normal_unit", SP_INIT_NORMAL, {1.0, 1.0, 0, 0}, SP_DTYPE_BF16, 1, NULL, 5, 100},
    {"orth_tall", SP_INIT_ORTHOGONAL, {1.0, 12, 5, 0}, SP_DTYPE_F32, 7, NAME, 0, 60},
    {"orth_wide", SP_INIT_ORTHOGONAL, {2.0, 3, 7, 0}, SP_DTYPE_F32, 7, NAME, 0, 21},
    {"orth_wide", SP_INIT_ORTHOGONAL, {2.0, 3, 7, 0}, SP_DTYPE_BF16, 7, NAME, 0, 21},
    {"orth_square", SP_INIT_ORTHOGONAL, {0.5, 64, 64, 0}, SP_DTYPE_F16, 7, NAME, 0, 4096},
    {"orth_slice", SP_INIT_ORTHOGONAL, {1.0, 96, 40, 0}, SP_DTYPE_F32, 7, NAME, 1000, 1000},
    {"orth_slice", SP_INIT_ORTHOGONAL, {1.0, 40, 96, 0}, SP_DTYPE_F32, 0, "x", 3839, 1},
    {"orth_one", SP_INIT_ORTHOGONAL, {1.0, 1, 1, 0}, SP_DTYPE_F32, 7, NAME, 0, 1},
    {"orth_row", SP_INIT_ORTHOGONAL, {1.0, 1, 50, 0}, SP_DTYPE_F32, 7, NAME, 0, 50},
    {"orth_col", SP_INIT_ORTHOGONAL, {3.0, 50, 1, 0}, SP_DTYPE_F32, 7, NAME, 0, 50},
    {"const_negzero", SP_INIT_CONSTANT, {-0.0, 0, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 5},
    {"const_1e-8", SP_INIT_CONSTANT, {1e-8, 0, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 5},
    {"const_65520", SP_INIT_CONSTANT, {65520.0, 0, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 5},
    {"const_1e39", SP_INIT_CONSTANT, {1e39, 0, 0, 0}, SP_DTYPE_F32, 7, NAME, 0, 5},
    {"const_1e-46", SP_INIT_CONSTANT, {1e-46, 0, 0, 0}, SP_DTYPE_F32, 7, NAME, 0, 5},
    {"const_1e-40", SP_INIT_CONSTANT, {1e-40, 0, 0, 0}, SP_DTYPE_BF16, 7, NAME, 0, 5},
};

/* version-2 kinds (SPEC.md 6.8), printed after the sweeps */
static const scheme_case primary32[] = {
    {"uniform32", SP_INIT_UNIFORM32, {-0.1, 0.1, 0.0, 0.0}},
    {"normal32", SP_INIT_NORMAL32, {0.0, 0.02, 0.0, 0.0}},
};

static const extra_case extra32[] = {
    {"uniform32", SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}, SP_DTYPE_F32, 7, NAME, P36 - 5, 16},
    {"normal32", SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}, SP_DTYPE_F32, 7, NAME, P36 - 5, 16},
    {"uniform32", SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}, SP_DTYPE_F32, 7, NAME, P62 - 7, 7},
    {"normal32", SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}, SP_DTYPE_F32, 7, NAME, P62 - 3, 3},
    {"normal32_shift", SP_INIT_NORMAL32, {0.5, 3.0, 0, 0}, SP_DTYPE_F16, 7, NAME, 1, 4098},
    {"normal32_big", SP_INIT_NORMAL32, {0.0, 30000.0, 0, 0}, SP_DTYPE_F16, 7, NAME, 0, 4099},
    {"normal32_huge", SP_INIT_NORMAL32, {0.0, 1e38, 0, 0}, SP_DTYPE_F32, 7, NAME, 0, 1000},
    {"normal32_subnormal", SP_INIT_NORMAL32, {0.0, 1e-40, 0, 0}, SP_DTYPE_F32, 7, NAME, 0, 1000},
    {"uniform32_tiny", SP_INIT_UNIFORM32, {-1e-6, 1e-6, 0, 0}, SP_DTYPE_BF16, 7, NAME, 0, 4099},
    {"uniform32_unit", SP_INIT_UNIFORM32, {0.0, 1.0, 0, 0}, SP_DTYPE_F32, 0, "x", 3, 100},
    {"normal32_unit", SP_INIT_NORMAL32, {1.0, 1.0, 0, 0}, SP_DTYPE_F32, UINT64_MAX,
     "layer.\xc3\xa9", 0, 100},
    {"normal32_unit", SP_INIT_NORMAL32, {1.0, 1.0, 0, 0}, SP_DTYPE_BF16, 1, NULL, 5, 100},
};

static unsigned char buf[MAXN * 4];

static void hex32(char out[65], const unsigned char d[32])
{
    sodium_bin2hex(out, 65, d, 32);
}

static void blake(char out[65], const void *data, size_t n)
{
    unsigned char d[32];
    crypto_generichash(d, 32, data, n, NULL, 0);
    hex32(out, d);
}

static int fill_line(const char *label, sp_init_kind kind, const double p[4], sp_dtype dt,
                     uint64_t seed, const char *name, uint64_t first, uint64_t count)
{
    sp_init_scheme s = {kind, {p[0], p[1], p[2], p[3]}};
    char hex[65];
    if (count > MAXN || sp_init_fill(buf, dt, name, seed, &s, first, count) != SP_OK) {
        fprintf(stderr, "init_vectors: fill %s failed\n", label);
        return -1;
    }
    blake(hex, buf, (size_t)count * sp_dtype_size(dt));
    printf("fill %s %s %llu %llu %llu %s\n", label, sp_dtype_name(dt),
           (unsigned long long)seed, (unsigned long long)first, (unsigned long long)count, hex);
    return 0;
}

/* ---- math sweeps: same inputs as sweep_inputs() in init_reference.py ---- */

static uint64_t sm_state;

static uint64_t sm_next(void)
{
    sm_state += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = sm_state;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double u2d(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static double u53(uint64_t r)
{
    return (double)(r >> 11) * 0x1p-53;
}

static double pow2(int k)
{
    return u2d((uint64_t)(k + 1023) << 52);
}

typedef struct {
    crypto_generichash_state st;
} hasher;

static void h_init(hasher *h)
{
    crypto_generichash_init(&h->st, NULL, 0, 32);
}

static void h_u64(hasher *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update(&h->st, b, 8);
}

static void h_d(hasher *h, double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    h_u64(h, u);
}

static void h_bytes(hasher *h, uint64_t v, int n)
{
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update(&h->st, b, (unsigned long long)n);
}

static void h_print(hasher *h, const char *label)
{
    unsigned char d[32];
    char hex[65];
    crypto_generichash_final(&h->st, d, 32);
    hex32(hex, d);
    printf("math %s %s\n", label, hex);
}

/* Fills xs with the inputs of sweep `which`; returns how many. */
static size_t sweep_inputs(const char *which, double *xs)
{
    size_t n = 0;
    if (strcmp(which, "ln") == 0) {
        sm_state = 1;
        const double sp[] = {1.0, 0.5, 2.0, 0x1.6a09e667f3bcdp+0, 0x1.6a09e667f3bccp+0,
                             0x1p-53, 0x1p-1074, 0x1p-1022, 0x1.fffffffffffffp+1023, 0.0,
                             INFINITY};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++) {
            uint64_t r = sm_next();
            xs[n++] = i % 2 == 0 ? (double)((r >> 11) + 1) * 0x1p-53
                                 : u2d(r & UINT64_C(0x7fefffffffffffff));
        }
    } else if (strcmp(which, "exp") == 0) {
        sm_state = 2;
        const double sp[] = {0.0, -1.0, -708.0, -745.0, -746.5, -1e-300, -0.34657359027997264};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++)
            xs[n++] = -u53(sm_next()) * 745.0;
    } else if (strcmp(which, "erf") == 0) {
        sm_state = 4;
        const double sp[] = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 0x1.fffffffffffffp-1, 27.9, 28.0,
                             -28.0, 6.0, INFINITY, -INFINITY};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++)
            xs[n++] = u53(sm_next()) * 64.0 - 32.0;
    } else if (strcmp(which, "phi") == 0) {
        sm_state = 5;
        const double sp[] = {0.0, -2.0, 2.0, -40.0, -38.5, 8.0, 40.0};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++)
            xs[n++] = u53(sm_next()) * 80.0 - 40.0;
    } else if (strcmp(which, "ndtri") == 0) {
        sm_state = 6;
        /* exp(-25), the r = 5 boundary of AS241 */
        const double sp[] = {0.0, 1.0, 0.5, 0.075, 0.925, 0x1p-1074, 1e-300, 0x1p-53,
                             1.0 - 0x1p-53, 0x1.e8a37a45fc32ep-37, 0.02275, 0.97725};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++) {
            uint64_t r = sm_next();
            xs[n++] = i % 2 == 0 ? u53(r)
                                 : ((double)((r >> 11) + 1) * 0x1p-53) * pow2(-(int)(r & 1023));
        }
    } else if (strcmp(which, "d2f") == 0) {
        sm_state = 7;
        const double sp[] = {0.0, -0.0, 1.0, 3.4028235677973366e38,
                             3.4028234663852886e38 * 1.0000000001, 1e-45, 7e-46, 0x1p-150,
                             0x1p-149, 1.401298464324817e-45 * 1.5, INFINITY, -INFINITY};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            xs[n++] = sp[i];
        for (int i = 0; i < SWEEP_N; i++) {
            uint64_t r = sm_next();
            uint64_t e = 1023 - 160 + ((r >> 52) % 300);
            xs[n++] = u2d((r & UINT64_C(0x800fffffffffffff)) | (e << 52));
        }
    }
    return n;
}

static void sweeps(void)
{
    static double xs[SWEEP_N + 64];
    hasher h;
    size_t n;

    n = sweep_inputs("ln", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_ln(xs[i]));
    h_print(&h, "ln");

    n = sweep_inputs("exp", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_exp(xs[i]));
    h_print(&h, "exp");

    {
        const uint64_t sp[] = {0, 1, (UINT64_C(1) << 50) - 1, UINT64_C(1) << 50,
                               (UINT64_C(1) << 50) + 1, UINT64_C(1) << 51, UINT64_C(1) << 52,
                               UINT64_C(3) << 51, (UINT64_C(1) << 53) - 1, UINT64_C(7) << 50};
        sm_state = 3;
        h_init(&h);
        for (int i = 0; i < 10 + SWEEP_N; i++) {
            uint64_t v = i < 10 ? sp[i] : sm_next() >> 11;
            double s, c;
            sp_imath_sincos2pi(v, &s, &c);
            h_d(&h, s);
            h_d(&h, c);
        }
        h_print(&h, "sincos");
    }

    n = sweep_inputs("erf", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_erf(xs[i]));
    h_print(&h, "erf");
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_erfc(xs[i]));
    h_print(&h, "erfc");

    n = sweep_inputs("phi", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_phi(xs[i]));
    h_print(&h, "phi");

    n = sweep_inputs("ndtri", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++)
        h_d(&h, sp_imath_ndtri(xs[i]));
    h_print(&h, "ndtri");

    n = sweep_inputs("d2f", xs);
    h_init(&h);
    for (size_t i = 0; i < n; i++) {
        float f = (float)xs[i];
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        h_bytes(&h, u, 4);
    }
    h_print(&h, "d2f");

    {   /* binary32 ln and sincos of SPEC.md 6.8 */
        static const uint32_t lsp[] = {0x33800000u, 0x3f800000u, 0x3f000000u, 0x3fb504f3u,
                                       0x3fb504f2u, 0x3f7fffffu, 0x00800000u, 0x7f7fffffu};
        sm_state = 9;
        h_init(&h);
        for (int i = 0; i < 8 + SWEEP_N; i++) {
            uint32_t b;
            if (i < 8) {
                b = lsp[i];
            } else {
                uint64_t r = sm_next();
                float u = (float)((r >> 40) + 1) * 0x1p-24f;
                if ((i - 8) % 2 == 0)
                    memcpy(&b, &u, sizeof b);
                else
                    b = (uint32_t)((r & 0x7fffffu) | ((1 + (r >> 23) % 254) << 23));
            }
            float x, y;
            memcpy(&x, &b, sizeof x);
            y = sp_imath32_ln(x);
            memcpy(&b, &y, sizeof b);
            h_bytes(&h, b, 4);
        }
        h_print(&h, "ln32");
        static const uint32_t nsp[] = {0, 1, (1u << 21) - 1, 1u << 21, (1u << 21) + 1, 1u << 22,
                                       3u << 22, (1u << 24) - 1, 7u << 21, 1u << 23};
        sm_state = 10;
        h_init(&h);
        for (int i = 0; i < 10 + SWEEP_N; i++) {
            uint32_t v = i < 10 ? nsp[i] : (uint32_t)(sm_next() >> 40);
            float s, c;
            uint32_t bs, bc;
            sp_imath32_sincos2pi(v, &s, &c);
            memcpy(&bs, &s, 4);
            memcpy(&bc, &c, 4);
            h_bytes(&h, bs, 4);
            h_bytes(&h, bc, 4);
        }
        h_print(&h, "sincos32");
    }

    {
        static const uint32_t sp[] = {
            0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u,
            0x477fefffu, 0x477ff000u, 0x477fe000u, 0x38800000u, 0x387fffffu, 0x33000000u,
            0x33000001u, 0x337fffffu, 0x00000001u, 0x7f7fffffu, 0x3f808000u, 0x3f818000u,
            0x3f808001u, 0x00400000u};
        static uint32_t bs[21 + 2 * SWEEP_N];
        size_t nb = 0;
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            bs[nb++] = sp[i];
        sm_state = 8;
        for (int i = 0; i < 2 * SWEEP_N; i++) {
            uint64_t r = sm_next();
            bs[nb++] = i % 2 == 0 ? (uint32_t)r
                                  : (uint32_t)((r & 0x807fffffu) | ((98 + (r >> 32) % 50) << 23));
        }
        hasher h2;
        h_init(&h);
        h_init(&h2);
        for (size_t i = 0; i < nb; i++) {
            float f;
            memcpy(&f, &bs[i], sizeof f);
            h_bytes(&h, sp_f32_to_f16(f), 2);
            h_bytes(&h2, sp_f32_to_bf16(f), 2);
        }
        h_print(&h, "f32_to_f16");
        h_print(&h2, "f32_to_bf16");
    }
}

int main(void)
{
    static char long_name[513];
    if (sodium_init() < 0)
        return 2;
    memset(long_name, 'a', 512);
    puts("# scratchproof init vectors v1");
    const sp_dtype dts[3] = {SP_DTYPE_F32, SP_DTYPE_F16, SP_DTYPE_BF16};
    for (size_t c = 0; c < sizeof primary / sizeof primary[0]; c++) {
        const scheme_case *k = &primary[c];
        for (int d = 0; d < 3; d++)
            if (fill_line(k->label, k->kind, k->p, dts[d], 7, NAME, 0, 4099) != 0)
                return 1;
        sp_init_scheme s = {k->kind, {k->p[0], k->p[1], k->p[2], k->p[3]}};
        unsigned char head[16];
        if (sp_init_fill(head, SP_DTYPE_F32, NAME, 7, &s, 0, 4) != SP_OK)
            return 1;
        printf("head %s", k->label);
        for (int i = 0; i < 4; i++)
            printf(" %08lx", (unsigned long)((uint32_t)head[4 * i] | (uint32_t)head[4 * i + 1] << 8 |
                                             (uint32_t)head[4 * i + 2] << 16 |
                                             (uint32_t)head[4 * i + 3] << 24));
        printf("\n");
    }
    {
        sp_init_scheme s = {SP_INIT_ORTHOGONAL, {1.0, 12, 5, 0}};
        unsigned char head[16];
        if (sp_init_fill(head, SP_DTYPE_F32, NAME, 7, &s, 0, 4) != SP_OK)
            return 1;
        printf("head orth_tall");
        for (int i = 0; i < 4; i++)
            printf(" %08lx", (unsigned long)((uint32_t)head[4 * i] | (uint32_t)head[4 * i + 1] << 8 |
                                             (uint32_t)head[4 * i + 2] << 16 |
                                             (uint32_t)head[4 * i + 3] << 24));
        printf("\n");
    }
    for (size_t c = 0; c < sizeof extra / sizeof extra[0]; c++) {
        const extra_case *e = &extra[c];
        if (fill_line(e->label, e->kind, e->p, e->dtype, e->seed, e->name ? e->name : long_name,
                      e->first, e->count) != 0)
            return 1;
    }
    sweeps();
    for (size_t c = 0; c < sizeof primary32 / sizeof primary32[0]; c++) {
        const scheme_case *k = &primary32[c];
        for (int d = 0; d < 3; d++)
            if (fill_line(k->label, k->kind, k->p, dts[d], 7, NAME, 0, 4099) != 0)
                return 1;
        sp_init_scheme s = {k->kind, {k->p[0], k->p[1], k->p[2], k->p[3]}};
        unsigned char head[32];
        if (sp_init_fill(head, SP_DTYPE_F32, NAME, 7, &s, 0, 8) != SP_OK)
            return 1;
        printf("head %s", k->label);
        for (int i = 0; i < 8; i++)
            printf(" %08lx", (unsigned long)((uint32_t)head[4 * i] | (uint32_t)head[4 * i + 1] << 8 |
                                             (uint32_t)head[4 * i + 2] << 16 |
                                             (uint32_t)head[4 * i + 3] << 24));
        printf("\n");
    }
    for (size_t c = 0; c < sizeof extra32 / sizeof extra32[0]; c++) {
        const extra_case *e = &extra32[c];
        if (fill_line(e->label, e->kind, e->p, e->dtype, e->seed, e->name ? e->name : long_name,
                      e->first, e->count) != 0)
            return 1;
    }
    return 0;
}
