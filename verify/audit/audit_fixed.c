/*
 * audit_fixed.c - untrained constant tensors for `scratchproof audit`
 * (audit.h, SPEC.md 10.3 "Fixed tensors"). Every version of a model family
 * builds some buffers the same way: DFT and other structured bases,
 * sinusoidal position tables, mel or triangular filterbanks, causal masks,
 * tables of identical rows. Two independent models share them exactly, so
 * they say nothing about derivation; like norm vectors they are shown and
 * never decide. A trained matrix never passes these tests: each asks for
 * structure that random initialisation plus gradient noise destroys.
 *
 *   few values   at most 4 distinct values among the sampled elements
 *   identical    every row equal to the first, or every column
 *   sinusoid     in at least 95 % of the rows (or of the columns) the
 *                sequence obeys x[n+1] + x[n-1] = alpha x[n] + beta (a
 *                sampled sinusoid of any frequency and phase, plus an
 *                offset) to 1e-3 of its variance
 *   piecewise    in at least 95 % of the rows (or columns) the second
 *                difference is below 2 % of the row's largest magnitude at
 *                all but 2 + len/8 positions (triangular filters)
 * Sequences shorter than 16 (sinusoid: 8) are not judged.
 */
#include "audit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIX_SAMPLE 65536u       /* elements sampled for the distinct-value count */
#define FIX_MAX_ELEMS (1u << 24) /* larger matrices are not examined (trained weights) */
#define COL_BLOCK 16u            /* columns copied out at once for the column tests */

static int same_value(float a, float b)
{
    return a == b || (a != a && b != b);     /* NaN counts as one value */
}

/* At most 4 distinct values among the sampled elements (stops at the 5th). */
static int few_values(const float *x, uint64_t n)
{
    size_t k = n < FIX_SAMPLE ? (size_t)n : FIX_SAMPLE, nd = 0;
    float seen[4];
    for (size_t i = 0; i < k; i++) {
        float v = x[(uint64_t)i * n / k];
        size_t j = 0;
        while (j < nd && !same_value(seen[j], v))
            j++;
        if (j == nd) {
            if (nd == 4)
                return 0;
            seen[nd++] = v;
        }
    }
    return 1;
}

/* Element k of sequence s along the chosen direction. */
static inline float at(const float *x, uint64_t r, uint64_t c, int cols, uint64_t s, uint64_t k)
{
    (void)r;
    return cols ? x[k * c + s] : x[s * c + k];
}

static int sinusoid(const float *x, uint64_t r, uint64_t c, int cols, uint64_t s)
{
    uint64_t L = cols ? r : c;
    /* least squares of y = x[n+1] + x[n-1] on (x[n], 1) */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, m = (double)(L - 2), mu = 0, var = 0;
    for (uint64_t k = 0; k < L; k++)
        mu += at(x, r, c, cols, s, k);
    mu /= (double)L;
    for (uint64_t k = 0; k < L; k++) {
        double d = at(x, r, c, cols, s, k) - mu;
        var += d * d;
    }
    if (!(var > 0))
        return isfinite(var);   /* a constant sequence is structured */
    for (uint64_t k = 1; k + 1 < L; k++) {
        double xn = at(x, r, c, cols, s, k) - mu;
        double y = at(x, r, c, cols, s, k + 1) + at(x, r, c, cols, s, k - 1) - 2 * mu;
        sx += xn;
        sy += y;
        sxx += xn * xn;
        sxy += xn * y;
    }
    double det = m * sxx - sx * sx;
    double al = det != 0 ? (m * sxy - sx * sy) / det : 0, be = (sy - al * sx) / m, rss = 0;
    for (uint64_t k = 1; k + 1 < L; k++) {
        double xn = at(x, r, c, cols, s, k) - mu;
        double y = at(x, r, c, cols, s, k + 1) + at(x, r, c, cols, s, k - 1) - 2 * mu;
        double e = y - al * xn - be;
        rss += e * e;
    }
    return rss <= 1e-3 * var;
}

static int piecewise(const float *x, uint64_t r, uint64_t c, int cols, uint64_t s)
{
    uint64_t L = cols ? r : c, knots = 0;
    double mx = 0;
    for (uint64_t k = 0; k < L; k++) {
        double v = fabs(at(x, r, c, cols, s, k));
        if (!isfinite(v))
            return 0;
        if (v > mx)
            mx = v;
    }
    if (mx == 0)
        return 1;
    for (uint64_t k = 1; k + 1 < L; k++) {
        double d2 = at(x, r, c, cols, s, k + 1) - 2.0 * at(x, r, c, cols, s, k) + at(x, r, c, cols, s, k - 1);
        if (fabs(d2) > 0.02 * mx)
            knots++;
    }
    return knots <= 2 + L / 8;
}

/* 1 when at least 95 % of the sequences along the direction pass the test. */
static int most(const float *x, uint64_t r, uint64_t c, int cols,
                int (*test)(const float *, uint64_t, uint64_t, int, uint64_t), uint64_t min_len)
{
    uint64_t L = cols ? r : c, ns = cols ? c : r, pass = 0;
    if (L < min_len)
        return 0;
    /* stop at the first failure past the 5 % allowed: the same answer, and a trained
     * matrix (where every sequence fails) costs 5 % of a full scan, not all of it */
    uint64_t fails = 0;
    /* columns are copied out COL_BLOCK at a time (rows of a COL_BLOCK x L matrix), so each
     * test reads them contiguously: one strided pass instead of one per pass of the test,
     * the same values in the same order (the same answer) */
    float *blk = cols ? malloc(COL_BLOCK * L * sizeof *blk) : NULL;
    for (uint64_t s = 0; s < ns; s++) {
        int ok;
        if (blk != NULL) {
            uint64_t j = s % COL_BLOCK;
            if (j == 0) {
                uint64_t nb = ns - s < COL_BLOCK ? ns - s : COL_BLOCK;
                for (uint64_t k = 0; k < L; k++)
                    for (uint64_t q = 0; q < nb; q++)
                        blk[q * L + k] = x[k * c + s + q];
            }
            ok = test(blk, COL_BLOCK, L, 0, j);
        } else {
            ok = test(x, r, c, cols, s);
        }
        if (ok)
            pass++;
        else if ((double)(ns - ++fails) < 0.95 * (double)ns) {
            free(blk);
            return 0;   /* even if every remaining sequence passed, pass < 0.95 ns */
        }
    }
    free(blk);
    return (double)pass >= 0.95 * (double)ns;
}

static int identical(const float *x, uint64_t r, uint64_t c, int cols)
{
    uint64_t L = cols ? r : c, ns = cols ? c : r;
    for (uint64_t s = 1; s < ns; s++)
        for (uint64_t k = 0; k < L; k++)
            if (at(x, r, c, cols, s, k) != at(x, r, c, cols, 0, k))
                return 0;
    return 1;
}

int sp_audit_fixed_kind(const sp_tensor *t)
{
    uint64_t n = 0;
    if (!sp_audit_dtype_ok(t->dtype) || t->ndim < 2 || sp_shape_numel(&n, t->shape, t->ndim) != SP_OK ||
        n == 0 || n > FIX_MAX_ELEMS)
        return SP_AUDIT_FIXED_NONE;
    uint64_t r = t->shape[0], c = n / r;
    if (r < 2 || c < 2)
        return SP_AUDIT_FIXED_NONE;
    /* aligned F32 is read in place (most tensors fail within 5 % of their rows: copying the
     * whole tensor first cost more than the tests) */
    float *buf = NULL;
    const float *x = t->data;
    if (t->dtype != SP_DTYPE_F32 || ((uintptr_t)t->data & (sizeof(float) - 1)) != 0) {
        if ((buf = malloc(n * sizeof *buf)) == NULL)
            return SP_AUDIT_FIXED_NONE;
        sp_audit_to_float(buf, t, 0, n);
        x = buf;
    }
    int kind = SP_AUDIT_FIXED_NONE;
    if (few_values(x, n))
        kind = SP_AUDIT_FIXED_FEW_VALUES;
    else if (identical(x, r, c, 0) || identical(x, r, c, 1))
        kind = SP_AUDIT_FIXED_IDENTICAL;
    else if (most(x, r, c, 0, sinusoid, 8) || most(x, r, c, 1, sinusoid, 8))
        kind = SP_AUDIT_FIXED_SINUSOID;
    else if (most(x, r, c, 0, piecewise, 16) || most(x, r, c, 1, piecewise, 16))
        kind = SP_AUDIT_FIXED_PIECEWISE;
    free(buf);
    return kind;
}

const char *sp_audit_fixed_text(int kind)
{
    switch (kind) {
    case SP_AUDIT_FIXED_FEW_VALUES: return "mask or indicator (at most 4 distinct values)";
    case SP_AUDIT_FIXED_IDENTICAL: return "identical rows or columns";
    case SP_AUDIT_FIXED_SINUSOID: return "sinusoid basis or position table";
    case SP_AUDIT_FIXED_PIECEWISE: return "piecewise-linear filterbank (e.g. mel)";
    default: return "";
    }
}
