/*
 * audit_argmax.c - the unit matching's inner loop (audit.h, SPEC.md 10.3): for
 * each row of x, the first row of y with the largest dot product. Two code
 * paths, SSE2 (every x86-64) and AVX (runtime dispatch, no -march), whose dot
 * products are the same bits (see dot4x2_avx), so the choice never changes a
 * result. tests/test_audit.c compares them.
 */
#include "audit.h"
#include "audit_vec.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * sp_dot of four rows against one: each y load serves four products (register
 * blocking). Every sum is formed exactly as sp_dot forms it (two 4-lane
 * accumulators over blocks of 8, their lane sum, then the scalar tail), so
 * the results are bit for bit those of four sp_dot calls.
 */
static inline void dot4(float out[4], const float *x0, const float *x1, const float *x2,
                        const float *x3, const float *y, size_t n)
{
    sp_v4 a0 = {0, 0, 0, 0}, a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        sp_v4 ylo = sp_v4_load(y + k), yhi = sp_v4_load(y + k + 4);
        a0 += sp_v4_load(x0 + k) * ylo;
        a1 += sp_v4_load(x0 + k + 4) * yhi;
        b0 += sp_v4_load(x1 + k) * ylo;
        b1 += sp_v4_load(x1 + k + 4) * yhi;
        c0 += sp_v4_load(x2 + k) * ylo;
        c1 += sp_v4_load(x2 + k + 4) * yhi;
        d0 += sp_v4_load(x3 + k) * ylo;
        d1 += sp_v4_load(x3 + k + 4) * yhi;
    }
    float s[4] = {sp_v4_sum(a0 + a1), sp_v4_sum(b0 + b1), sp_v4_sum(c0 + c1), sp_v4_sum(d0 + d1)};
    for (; k < n; k++) {
        s[0] += x0[k] * y[k];
        s[1] += x1[k] * y[k];
        s[2] += x2[k] * y[k];
        s[3] += x3[k] * y[k];
    }
    memcpy(out, s, sizeof s);
}

/*
 * The same products with 8-float AVX vectors (runtime dispatch, no -march):
 * one 8-lane accumulator holds sp_dot's two 4-lane ones side by side (lanes
 * 0-3 are s0, 4-7 are s1, each summing the same products in the same order),
 * so adding its halves gives s0 + s1 and the result is bit for bit sp_dot's.
 * Products are not fused (-ffp-contract=off, no "fma" target). Four rows of x
 * against two of y: 8 accumulators, each x load serves two products.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define MATCH_AVX 1
typedef float sp_v8 __attribute__((vector_size(32)));

__attribute__((target("avx"))) static inline sp_v8 v8_load(const float *p)
{
    sp_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

__attribute__((target("avx"))) static inline float v8_sum(sp_v8 v)
{
    sp_v4 lo = {v[0], v[1], v[2], v[3]}, hi = {v[4], v[5], v[6], v[7]};
    return sp_v4_sum(lo + hi);
}

/* out[q][t] = sp_dot(x_q, y_t) for four rows x and two rows y */
__attribute__((target("avx"))) static void dot4x2_avx(float out[4][2], const float *const xr[4],
                                                      const float *y0, const float *y1, size_t n)
{
    sp_v8 z = {0, 0, 0, 0, 0, 0, 0, 0};
    sp_v8 a0 = z, a1 = z, b0 = z, b1 = z, c0 = z, c1 = z, d0 = z, d1 = z;
    const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        sp_v8 u = v8_load(y0 + k), v = v8_load(y1 + k), x;
        x = v8_load(x0 + k);
        a0 += x * u;
        a1 += x * v;
        x = v8_load(x1 + k);
        b0 += x * u;
        b1 += x * v;
        x = v8_load(x2 + k);
        c0 += x * u;
        c1 += x * v;
        x = v8_load(x3 + k);
        d0 += x * u;
        d1 += x * v;
    }
    float s[4][2] = {{v8_sum(a0), v8_sum(a1)}, {v8_sum(b0), v8_sum(b1)},
                     {v8_sum(c0), v8_sum(c1)}, {v8_sum(d0), v8_sum(d1)}};
    for (; k < n; k++)
        for (int q = 0; q < 4; q++) {
            s[q][0] += xr[q][k] * y0[k];
            s[q][1] += xr[q][k] * y1[k];
        }
    memcpy(out, s, sizeof s);
}

/*
 * Pruning (AVX path only): a candidate j of row i is skipped when it provably cannot be the
 * row's best, so the result is that of the full scan. The bound: the dot product over the
 * first h features (P) plus |x_i[h..]| |y_j[h..]| (Cauchy-Schwarz) plus a rounding margin is
 * below the dot product L_i of a probe candidate already computed exactly as the scan would
 * (the row's best is at least L_i, and ties go to a larger value never a skipped one). Used
 * for rows whose probe (the caller's guess, else j = i: a copy keeps its units in place)
 * has cosine >= PRUNE_COS,
 * where nearly every other candidate is skipped after h features; NaN never prunes.
 */
#define PRUNE_COS 0.5
#define PRUNE_MAX_M 4096u   /* the rounding margin below holds up to this length */
#define PRUNE_MARGIN 1e-3   /* >= 2 m 2^-24 (both sums' rounding), relative to |x||y| */

typedef struct prune {
    size_t h;               /* features in the partial product */
    const double *rx, *ry;  /* norms of x and y rows over features [h, m) */
    const double *nx, *ny;  /* full norms */
    const float *lo;        /* per x row: the probe's dot product */
} prune;

/* the four rows xi[0..4) of x against rows [j0, j1) of y, bests updated (j in increasing
 * order); pr: with pruning, else NULL */
__attribute__((target("avx"))) static void block_avx(float *bv, uint32_t *bj, const float *x,
                                                     const size_t xi[4], const float *y, size_t j0,
                                                     size_t j1, size_t m, const uint64_t *exclude,
                                                     const prune *pr)
{
    const float *xr[4] = {x + xi[0] * m, x + xi[1] * m, x + xi[2] * m, x + xi[3] * m};
    size_t len = pr ? pr->h : m;
    for (size_t j = j0; j < j1; j += 2) {
        size_t nt = j + 1 < j1 ? 2 : 1;
        float v[4][2];
        dot4x2_avx(v, xr, y + j * m, y + (j + nt - 1) * m, len);
        for (size_t t = 0; t < nt; t++)
            for (int q = 0; q < 4; q++) {
                size_t i = xi[q], jj = j + t;
                if (exclude != NULL && exclude[i] == jj)
                    continue;
                float val = v[q][t];
                if (pr != NULL) {
                    double ub = (double)val + pr->rx[i] * pr->ry[jj] + PRUNE_MARGIN * pr->nx[i] * pr->ny[jj];
                    if (ub < (double)pr->lo[i])
                        continue;       /* cannot beat the probe: never the best */
                    val = sp_dot(xr[q], y + jj * m, m);   /* the scan's own value */
                }
                if (val > bv[i]) {
                    bv[i] = val;
                    bj[i] = (uint32_t)jj;
                }
            }
    }
}

#define MATCH_YBLOCK (64u << 10)   /* bytes of y rows kept in cache while every x row passes */

static double norm_from(const float *r, size_t a, size_t b)
{
    double ss = 0;
    for (size_t k = a; k < b; k++)
        ss += (double)r[k] * r[k];
    return sqrt(ss);
}

/* The pruning bounds; 0 when there is no memory (the scan then runs unpruned). */
static int prune_make(prune *pr, double **buf, char *use, const float *x, size_t s, const float *y,
                      size_t n, size_t m, const uint64_t *exclude, const uint64_t *probe, float *lo)
{
    *buf = NULL;
    if (m > PRUNE_MAX_M || m < 32 || n < 2)
        return 0;
    double *b = malloc(2 * (s + n) * sizeof *b);
    if (b == NULL)
        return 0;
    pr->h = m / 2 / 8 * 8;
    pr->rx = b;
    pr->nx = b + s;
    pr->ry = b + 2 * s;
    pr->ny = b + 2 * s + n;
    for (size_t i = 0; i < s; i++) {
        b[i] = norm_from(x + i * m, pr->h, m);
        b[s + i] = norm_from(x + i * m, 0, m);
    }
    for (size_t j = 0; j < n; j++) {
        b[2 * s + j] = norm_from(y + j * m, pr->h, m);
        b[2 * s + n + j] = norm_from(y + j * m, 0, m);
    }
    int any = 0;
    for (size_t i = 0; i < s; i++) {
        size_t p = (size_t)((probe ? probe[i] : i) % n);
        if (exclude != NULL && exclude[i] == p)
            p = (p + 1) % n;
        lo[i] = sp_dot(x + i * m, y + p * m, m);   /* a value the scan also computes */
        use[i] = (double)lo[i] >= PRUNE_COS * pr->nx[i] * pr->ny[p] && pr->nx[i] > 0;
        any |= use[i];
    }
    pr->lo = lo;
    *buf = b;
    return any;
}

__attribute__((target("avx"))) static void match_avx(uint32_t *best, const float *x, size_t s,
                                                     const float *y, size_t n, size_t m,
                                                     const uint64_t *exclude, const uint64_t *probe,
                                                     float *bv)
{
    size_t jb = MATCH_YBLOCK / (m * sizeof(float));
    if (jb < 2)
        jb = 2;
    for (size_t i = 0; i < s; i++) {
        bv[i] = -INFINITY;
        best[i] = exclude != NULL && exclude[i] == 0 ? 1 : 0;
    }
    /* the rows in two lists, pruned and not, each taken four at a time */
    size_t *ord = malloc((s ? s : 1) * sizeof *ord);
    char *use = calloc(s ? s : 1, 1);
    float *lo = malloc((s ? s : 1) * sizeof *lo);
    prune pr;
    double *pbuf = NULL;
    int pruning = ord && use && lo && prune_make(&pr, &pbuf, use, x, s, y, n, m, exclude, probe, lo);
    size_t np = 0, nn = 0, i = 0;
    if (ord != NULL) {
        for (size_t k = 0; k < s; k++)
            if (pruning && use[k])
                ord[np++] = k;
        nn = s - np;
        for (size_t k = 0, q = np; k < s; k++)
            if (!(pruning && use[k]))
                ord[q++] = k;
    }
    size_t np4 = np / 4 * 4, nn4 = nn / 4 * 4;
    /* blocks of y rows, each passed by all x rows while it is in cache; per x row the
     * candidates are still visited in increasing j, so ties go to the first index */
    for (size_t j0 = 0; ord != NULL && j0 < n; j0 += jb) {
        size_t j1 = n - j0 < jb ? n : j0 + jb;
        for (size_t k = 0; k < np4; k += 4)
            block_avx(bv, best, x, ord + k, y, j0, j1, m, exclude, &pr);
        for (size_t k = 0; k < nn4; k += 4)
            block_avx(bv, best, x, ord + np + k, y, j0, j1, m, exclude, NULL);
    }
    /* the rows left over (or all of them without memory for the lists), one at a time */
    for (size_t k = 0; k < s; k++) {
        if (ord != NULL && (k < np4 || (k >= np && k < np + nn4)))
            continue;
        i = ord != NULL ? ord[k] : k;
        for (size_t j = 0; j < n; j++) {
            if (exclude != NULL && exclude[i] == j)
                continue;
            float v = sp_dot(x + i * m, y + j * m, m);
            if (v > bv[i]) {
                bv[i] = v;
                best[i] = (uint32_t)j;
            }
        }
    }
    free(ord);
    free(use);
    free(lo);
    free(pbuf);
}

static int have_avx(void)
{
    /* read once per process; SP_AUDIT_LANES=4 forces the SSE2 path (tests) */
    static atomic_int avx = -1;
    int a = atomic_load_explicit(&avx, memory_order_relaxed);
    if (a < 0) {
        __builtin_cpu_init();
        const char *force = getenv("SP_AUDIT_LANES");
        a = __builtin_cpu_supports("avx") && !(force && strcmp(force, "4") == 0);
        atomic_store_explicit(&avx, a, memory_order_relaxed);
    }
    return a;
}
#endif

/* match_rows on rows already standardised, on the SSE2 path. */
static void match_sse(uint32_t *best, const float *x, size_t s, const float *y, size_t n, size_t m,
                      const uint64_t *exclude)
{
    /* blocked: four rows of x against each row of y, so every y row is read once per four
     * (the same dot products, summed in the same order as sp_dot: identical results) */
    size_t i = 0;
    for (; exclude == NULL && i + 4 <= s; i += 4) {
        float bv[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        uint32_t bj[4] = {0, 0, 0, 0};
        const float *x0 = x + i * m, *x1 = x0 + m, *x2 = x1 + m, *x3 = x2 + m;
        for (size_t j = 0; j < n; j++) {
            const float *yj = y + j * m;
            float v[4];
            dot4(v, x0, x1, x2, x3, yj, m);
            for (int q = 0; q < 4; q++)
                if (v[q] > bv[q]) {
                    bv[q] = v[q];
                    bj[q] = (uint32_t)j;
                }
        }
        memcpy(best + i, bj, sizeof bj);
    }
    for (; i < s; i++) {
        float bv = -INFINITY;
        uint32_t bj = exclude != NULL && exclude[i] == 0 ? 1 : 0;
        for (size_t j = 0; j < n; j++) {
            if (exclude != NULL && exclude[i] == j)
                continue;
            float v = sp_dot(x + i * m, y + j * m, m);
            if (v > bv) {
                bv = v;
                bj = (uint32_t)j;
            }
        }
        best[i] = bj;
    }
}

int sp_audit_argmax_lanes(unsigned lanes, uint32_t *best, const float *x, size_t s, const float *y,
                          size_t n, size_t m, const uint64_t *exclude, const uint64_t *probe)
{
#ifdef MATCH_AVX
    if (lanes == 8 || (lanes == 0 && have_avx())) {
        if (lanes == 8) {
            __builtin_cpu_init();
            if (!__builtin_cpu_supports("avx"))
                return SP_EINVAL;
        }
        float *bv = malloc((s ? s : 1) * sizeof *bv);
        if (bv != NULL) {
            match_avx(best, x, s, y, n, m, exclude, probe, bv);
            free(bv);
            return SP_OK;
        }
        /* no memory for the bests: the SSE2 path needs none */
    }
#else
    if (lanes == 8)
        return SP_EINVAL;
#endif
    match_sse(best, x, s, y, n, m, exclude);
    return SP_OK;
}

