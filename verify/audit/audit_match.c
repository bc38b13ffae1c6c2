/*
 * audit_match.c - the permutation-robust statistic of `scratchproof audit`
 * and the pairing of renamed tensors (audit.h, SPEC.md "Audit statistics").
 *
 * Matched statistic, for units along one axis of a matrix (rows of fc1, or
 * columns of the next layer): the features (the other axis) are split into
 * a first and a second half. Sampled units of the model are matched to the
 * reference's units on (up to 256 of) the first half's features only; each
 * matched pair's correlation is then measured on (up to 1024 of) the second
 * half's, which the matching never saw (cross-fitting). Contiguous halves
 * keep the reads in memory order. Permuting the units of either model changes nothing,
 * so a derived model with shuffled hidden units is still found, and no
 * maximum over candidates enters the measured value.
 *
 * The null: independently trained networks learn partly the same features
 * from the same data (convergent learning), so matched units of independent
 * models do correlate somewhat, beyond what the shape alone predicts. The
 * baseline is measured, not assumed, three ways, and the cross-model value
 * must beat each: each model's sampled units matched the same way among
 * that model's own other units (independently initialised units trained on
 * the same data: they share what the data teaches), and decoys, random
 * reference units (for units that specialise against each other inside one
 * model, which makes the self-match low). A copy keeps the random
 * initialisation of every unit and matches near 1; convergent features do
 * not. Fewer than 32 units: no matched statistic.
 */
#include "audit.h"
#include "audit_vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_UNITS 64u     /* sampled units of the model */
#define MATCH_FEAT 256u     /* features used to match */
#define MATCH_FLOATS (8u << 20) /* memory cap: fewer matching features for huge unit counts */
#define EVAL_FEAT 1024u     /* held-out features used to measure */
#define MIN_FEAT 16u        /* at least this many features to split */
#define MIN_UNITS 32u       /* fewer units: no matched statistic (too few for its null) */
#define DECOYS 4u           /* random reference units per sampled unit, for the baseline */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline float elem(const sp_tensor *t, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case SP_DTYPE_F32: {
        float f;
        memcpy(&f, p + 4 * i, sizeof f);
        return f;
    }
    case SP_DTYPE_BF16: return sp_audit_bf16((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    case SP_DTYPE_F16: return sp_audit_f16((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    case SP_DTYPE_F64: {
        double d;
        memcpy(&d, p + 8 * i, sizeof d);
        return (float)d;
    }
    default: return 0.0f;
    }
}

/* Centres and scales each of the n rows (length m) in place; constant rows become 0. */
static void standardise(float *x, size_t n, size_t m)
{
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * m;
        double mu = 0, ss = 0;
        for (size_t k = 0; k < m; k++)
            mu += row[k];
        mu /= (double)m;
        for (size_t k = 0; k < m; k++)
            ss += (row[k] - mu) * (row[k] - mu);
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (size_t k = 0; k < m; k++)
            row[k] = (float)((row[k] - mu) * inv);
    }
}

/* probe[i]: the likely partner of x's row i (a hint for speed, never for the result), or NULL */
static void match_std(uint32_t *best, const float *x, size_t s, const float *y, size_t n, size_t m,
                      const uint64_t *exclude, const uint64_t *probe)
{
    (void)sp_audit_argmax_lanes(0, best, x, s, y, n, m, exclude, probe);
}

int sp_audit_match_rows(uint32_t *best, const float *X, size_t s, const float *Y, size_t n, size_t m,
                        const uint64_t *exclude)
{
    return sp_audit_match_rows_lanes(0, best, X, s, Y, n, m, exclude);
}

int sp_audit_match_rows_lanes(unsigned lanes, uint32_t *best, const float *X, size_t s, const float *Y,
                              size_t n, size_t m, const uint64_t *exclude)
{
    if (lanes != 0 && lanes != 4 && lanes != 8)
        return SP_EINVAL;
    if (s == 0 || n == 0 || m == 0 || n > UINT32_MAX || (exclude != NULL && n < 2))
        return SP_EINVAL;
    float *x = malloc(s * m * sizeof(float)), *y = malloc(n * m * sizeof(float));
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return SP_ENOMEM;
    }
    memcpy(x, X, s * m * sizeof(float));
    memcpy(y, Y, n * m * sizeof(float));
    standardise(x, s, m);
    standardise(y, n, m);
    int rc = sp_audit_argmax_lanes(lanes, best, x, s, y, n, m, exclude, NULL);
    free(x);
    free(y);
    return rc;
}

/* Reader of unit u, feature f of a tensor seen as r x c, units along axis, centred by mean[f]. */
typedef struct view {
    const sp_tensor *t;
    uint64_t c;
    int axis;
    const double *mean;
    const uint64_t *fmap;   /* feature f is read at fmap[f]; NULL: the identity */
} view;

#define GATHER_BLOCK 16u   /* features transposed at once when units are columns */

/*
 * out[i*m + h] = unit units[i] at feature f0 + h, centred, reading the
 * tensor in memory order. Returns SP_OK or SP_ENOMEM.
 */
static int gather(float *out, const view *v, const uint64_t *units, size_t nu, uint64_t f0, size_t m)
{
    uint64_t c = v->c;
    const uint64_t *fm = v->fmap;
    if (v->axis == SP_AUDIT_AXIS_ROWS) {
        size_t len = fm ? (size_t)c : m;
        float *tmp = malloc(len * sizeof *tmp);
        if (tmp == NULL)
            return SP_ENOMEM;
        for (size_t i = 0; i < nu; i++) {
            const float *row = fm ? sp_audit_row(v->t, units[i] * c, c, tmp)
                                  : sp_audit_row(v->t, units[i] * c + f0, m, tmp);
            for (size_t h = 0; h < m; h++) {
                float x = fm ? row[fm[f0 + h]] : row[h];
                out[i * m + h] = v->mean ? (float)(x - v->mean[f0 + h]) : x;
            }
        }
        free(tmp);
        return SP_OK;
    }
    /* units are columns: a feature is a row of the matrix */
    int dense = (uint64_t)nu * 8 >= c;
    float *tmp = dense ? malloc(c * sizeof *tmp) : NULL;
    if (dense && tmp == NULL)
        return SP_ENOMEM;
    if (dense && v->t->dtype == SP_DTYPE_F32 && ((uintptr_t)v->t->data & (sizeof(float) - 1)) == 0) {
        /* a transpose: GATHER_BLOCK features at a time, so each unit's writes are contiguous
         * (the same values as below, in another order) */
        const float *base = (const float *)v->t->data;
        for (size_t h0 = 0; h0 < m; h0 += GATHER_BLOCK) {
            size_t hn = m - h0 < GATHER_BLOCK ? m - h0 : GATHER_BLOCK;
            const float *rows[GATHER_BLOCK];
            for (size_t h = 0; h < hn; h++)
                rows[h] = base + (fm ? fm[f0 + h0 + h] : f0 + h0 + h) * c;
            for (size_t i = 0; i < nu; i++) {
                float *o = out + i * m + h0;
                uint64_t u = units[i];
                for (size_t h = 0; h < hn; h++) {
                    float x = rows[h][u];
                    o[h] = v->mean ? (float)(x - v->mean[f0 + h0 + h]) : x;
                }
            }
        }
        free(tmp);
        return SP_OK;
    }
    for (size_t h = 0; h < m; h++) {
        uint64_t f = fm ? fm[f0 + h] : f0 + h;
        const float *row = dense ? sp_audit_row(v->t, f * c, c, tmp) : NULL;
        for (size_t i = 0; i < nu; i++) {
            float x = dense ? row[units[i]] : elem(v->t, f * c + units[i]);
            out[i * m + h] = v->mean ? (float)(x - v->mean[f0 + h]) : x;
        }
    }
    free(tmp);
    return SP_OK;
}

/* Fisher z of a correlation, clamped away from +-1. */
static double fz(double r)
{
    if (!isfinite(r))
        return 0.0;
    if (r > 0.999999)
        r = 0.999999;
    if (r < -0.999999)
        r = -0.999999;
    return atanh(r);
}

/* Mean and variance (at least v0) of x[0..n). */
static void mean_var(double *mean, double *var, const double *x, size_t n, double v0)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    v = n > 1 ? v / (double)(n - 1) : v0;
    *mean = m;
    *var = v > v0 ? v : v0;
}

/*
 * Held-out Fisher z of k pairs: sampled unit su[i] of x against unit pick[i]
 * of y, on features f2 .. f2 + m2 - 1. Scratch X2, Y2 hold k * m2 floats.
 */
static int held_out(double *w, const view *x, const view *y, const uint64_t *su, const uint64_t *pick,
                    size_t k, uint64_t f2, size_t m2, float *X2, float *Y2)
{
    if (gather(X2, x, su, k, f2, m2) != SP_OK || gather(Y2, y, pick, k, f2, m2) != SP_OK)
        return SP_ENOMEM;
    for (size_t i = 0; i < k; i++)
        w[i] = fz(sp_audit_pearson(X2 + i * m2, Y2 + i * m2, m2));
    return SP_OK;
}

#define FULL_MAP_MAX (1ull << 33)   /* units^2 * features above this: no full unit map */

static int matched_impl(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b, uint64_t r,
                        uint64_t rb, uint64_t c, int axis, const double *mean_a, const double *mean_b,
                        const uint64_t *fmap_b, uint32_t *unit_map, int *have_map, uint64_t seed);

int sp_audit_matched(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b, uint64_t r,
                     uint64_t c, int axis, const double *mean_a, const double *mean_b, uint64_t seed)
{
    return matched_impl(out, a, b, r, r, c, axis, mean_a, mean_b, NULL, NULL, NULL, seed);
}

int sp_audit_matched_map(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b, uint64_t r,
                         uint64_t c, int axis, const uint64_t *fmap_b, uint32_t *unit_map,
                         int *have_map, uint64_t seed)
{
    return matched_impl(out, a, b, r, r, c, axis, NULL, NULL, fmap_b, unit_map, have_map, seed);
}

int sp_audit_matched_rows_of(sp_audit_stat *out, const sp_tensor *a, uint64_t ra, const sp_tensor *b,
                             uint64_t rb, uint64_t c, const uint64_t *fmap_b, uint64_t seed)
{
    return matched_impl(out, a, b, ra, rb, c, SP_AUDIT_AXIS_ROWS, NULL, NULL, fmap_b, NULL, NULL, seed);
}

static int matched_impl(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b, uint64_t r,
                        uint64_t rb, uint64_t c, int axis, const double *mean_a, const double *mean_b,
                        const uint64_t *fmap_b, uint32_t *unit_map, int *have_map, uint64_t seed)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (have_map != NULL)
        *have_map = 0;
    /* nu units of a, nub of b: b may hold more rows than a (a is a row slice) */
    uint64_t nu = axis == SP_AUDIT_AXIS_ROWS ? r : c, nf = axis == SP_AUDIT_AXIS_ROWS ? c : r;
    uint64_t nub = axis == SP_AUDIT_AXIS_ROWS ? rb : c, nmax = nu > nub ? nu : nub;
    if (nu < MIN_UNITS || nub < MIN_UNITS || nf < MIN_FEAT || (axis != SP_AUDIT_AXIS_ROWS && rb != r))
        return SP_OK;
    /* at most MATCH_FLOATS floats per model for all units on the matching features */
    uint64_t cap = MATCH_FLOATS / nmax < MATCH_FEAT ? MATCH_FLOATS / nmax : MATCH_FEAT;
    if (cap < MIN_FEAT / 2)
        cap = MIN_FEAT / 2;
    size_t m1 = (size_t)((nf + 1) / 2 < cap ? (nf + 1) / 2 : cap);
    size_t m2 = (size_t)(nf / 2 < EVAL_FEAT ? nf / 2 : EVAL_FEAT);
    size_t s = (size_t)(nu < MATCH_UNITS ? nu : MATCH_UNITS);
    /* matching features [0, m1), held-out features [f2, f2 + m2): disjoint, contiguous */
    uint64_t f1 = 0, f2 = (nf + 1) / 2;
    uint64_t *su = malloc(s * sizeof *su), *sk = malloc(s * sizeof *sk), *all = malloc(nmax * sizeof *all);
    uint64_t *sb = malloc(s * sizeof *sb);
    uint64_t *pick = malloc(s * sizeof *pick);
    float *X1a = malloc(s * m1 * sizeof(float)), *Y1a = malloc(nu * m1 * sizeof(float));
    float *X1b = malloc(s * m1 * sizeof(float)), *Y1b = malloc(nub * m1 * sizeof(float));
    float *X2 = malloc(s * m2 * sizeof(float)), *Y2 = malloc(s * m2 * sizeof(float));
    uint32_t *best = malloc(s * sizeof *best);
    double *w = malloc(s * sizeof *w), *wa = malloc(s * sizeof *wa), *wb = malloc(s * sizeof *wb);
    double *wd = malloc(s * DECOYS * sizeof *wd);
    int rc = SP_ENOMEM;
    if (!su || !sb || !sk || !all || !pick || !X1a || !Y1a || !X1b || !Y1b || !X2 || !Y2 || !best || !w || !wa || !wb || !wd)
        goto done;
    for (size_t i = 0; i < s; i++) {
        su[i] = i * nu / s;
        sb[i] = i * nub / s;
    }
    for (uint64_t u = 0; u < nmax; u++)
        all[u] = u;
    view va = {a, c, axis, mean_a, NULL}, vb = {b, c, axis, mean_b, fmap_b};
    /* every unit of each model on the matching features, standardised once */
    if ((rc = gather(Y1a, &va, all, (size_t)nu, f1, m1)) != SP_OK ||
        (rc = gather(Y1b, &vb, all, (size_t)nub, f1, m1)) != SP_OK)
        goto done;
    standardise(Y1a, (size_t)nu, m1);
    standardise(Y1b, (size_t)nub, m1);
    if (out == NULL) {      /* the unit map only: the statistic is not wanted */
        if (unit_map != NULL && (double)nu * (double)nub * (double)m1 <= (double)FULL_MAP_MAX) {
            match_std(unit_map, Y1a, (size_t)nu, Y1b, (size_t)nub, m1, NULL, NULL);
            *have_map = 1;
        }
        rc = SP_OK;
        goto done;
    }
    for (size_t i = 0; i < s; i++) {
        memcpy(X1a + i * m1, Y1a + su[i] * m1, m1 * sizeof(float));
        memcpy(X1b + i * m1, Y1b + sb[i] * m1, m1 * sizeof(float));
    }

    /* baselines: each model's sampled units matched among its own other units */
    match_std(best, X1a, s, Y1a, (size_t)nu, m1, su, NULL);
    for (size_t i = 0; i < s; i++)
        pick[i] = best[i];
    if ((rc = held_out(wa, &va, &va, su, pick, s, f2, m2, X2, Y2)) != SP_OK)
        goto done;
    match_std(best, X1b, s, Y1b, (size_t)nub, m1, sb, NULL);
    for (size_t i = 0; i < s; i++)
        pick[i] = best[i];
    if ((rc = held_out(wb, &vb, &vb, sb, pick, s, f2, m2, X2, Y2)) != SP_OK)
        goto done;

    /* every unit of the model matched: the permutation, for other matrices sharing the axis */
    if (unit_map != NULL && (double)nu * (double)nub * (double)m1 <= (double)FULL_MAP_MAX) {
        match_std(unit_map, Y1a, (size_t)nu, Y1b, (size_t)nub, m1, NULL, NULL);
        *have_map = 1;
    }
    /* the model's sampled units matched to the reference's units */
    match_std(best, X1a, s, Y1b, (size_t)nub, m1, NULL, su);
    /* decoys: random reference units other than the match, measured the same way */
    uint64_t st = seed ^ 0x6465636f79733a29ull;
    for (size_t d = 0; d < DECOYS; d++) {
        for (size_t i = 0; i < s; i++) {
            uint64_t j;
            do
                j = splitmix(&st) % nub;
            while (j == best[i]);
            pick[i] = j;
        }
        if ((rc = held_out(wd + d * s, &va, &vb, su, pick, s, f2, m2, X2, Y2)) != SP_OK)
            goto done;
    }
    /* keep the first unit matched to each reference unit, so the kept pairs are disjoint */
    size_t kept = 0;
    for (size_t i = 0; i < s; i++) {
        int dup = 0;
        for (size_t k = 0; k < kept && !dup; k++)
            dup = pick[k] == best[i];
        if (!dup) {
            sk[kept] = su[i];
            pick[kept++] = best[i];
        }
    }
    if ((rc = held_out(w, &va, &vb, sk, pick, kept, f2, m2, X2, Y2)) != SP_OK)
        goto done;

    /* Welch-type z against the larger-looking baseline: the smaller z counts */
    double v0 = 1.0 / (double)(m2 > 4 ? m2 - 3 : 1), mw, vw;
    mean_var(&mw, &vw, w, kept, v0);
    out->valid = 1;
    out->value = tanh(mw);
    out->z = INFINITY;
    const double *ws[3] = {wa, wb, wd};
    const size_t ns[3] = {s, s, s * DECOYS};
    for (int k = 0; k < 3; k++) {
        double mb, vb2;
        mean_var(&mb, &vb2, ws[k], ns[k], v0);
        double se = sqrt(vw / (double)kept + vb2 / (double)ns[k]), z = (mw - mb) / se;
        if (z < out->z) {
            out->z = z;
            out->null_mean = tanh(mb);
            out->null_sd = se;
        }
    }
    /* like the permutation tests: never more than u! arrangements of u units can say */
    out->log10p = fmax(sp_audit_log10_norm_sf(out->z), -sp_audit_log10_factorial(nu));
    rc = SP_OK;
done:
    free(su);
    free(sb);
    free(sk);
    free(all);
    free(pick);
    free(X1a);
    free(Y1a);
    free(X1b);
    free(Y1b);
    free(X2);
    free(Y2);
    free(best);
    free(w);
    free(wa);
    free(wb);
    free(wd);
    return rc;
}

/* ------------------------------------------------------------ content signatures */

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

void sp_audit_signature(sp_audit_sig *out, const sp_tensor *t)
{
    static const double q[SP_AUDIT_SIG - 3] = {0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99};
    memset(out, 0, sizeof *out);
    uint64_t n = 0;
    if (!sp_audit_dtype_ok(t->dtype) || sp_shape_numel(&n, t->shape, t->ndim) != SP_OK || n == 0)
        return;
    size_t k = n < 4096 ? (size_t)n : 4096;
    float *v = malloc(k * sizeof *v);
    if (v == NULL)
        return;
    double mu = 0, ss = 0, ma = 0;
    for (size_t i = 0; i < k; i++) {
        v[i] = elem(t, (uint64_t)i * n / k);
        mu += v[i];
    }
    mu /= (double)k;
    for (size_t i = 0; i < k; i++)
        ss += (v[i] - mu) * (v[i] - mu);
    double sd = sqrt(ss / (double)k);
    for (size_t i = 0; i < k; i++)
        ma += fabs(v[i] - mu);
    qsort(v, k, sizeof *v, cmp_float);
    out->v[0] = mu;
    out->v[1] = sd;
    for (size_t j = 0; j < SP_AUDIT_SIG - 3; j++)
        out->v[2 + j] = sd > 0 ? (v[(size_t)(q[j] * (double)(k - 1))] - mu) / sd : 0.0;
    out->v[SP_AUDIT_SIG - 1] = sd > 0 ? ma / (double)k / sd : 0.0;
    free(v);
}

double sp_audit_sig_distance(const sp_audit_sig *x, const sp_audit_sig *y)
{
    double sx = x->v[1], sy = y->v[1];
    double d = 0.0;
    if (sx > 0 && sy > 0)
        d += fabs(log(sx / sy));
    else if (sx != sy)
        d += 10.0;
    double sc = sx + sy > 0 ? (sx + sy) / 2 : 1.0;
    d += fabs(x->v[0] - y->v[0]) / sc;
    for (size_t j = 2; j < SP_AUDIT_SIG; j++)
        d += fabs(x->v[j] - y->v[j]) / (double)(SP_AUDIT_SIG - 2);
    return d;
}
