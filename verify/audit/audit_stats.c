/*
 * audit_stats.c - the statistics of `scratchproof audit` (audit.h, SPEC.md
 * "Audit statistics"): p-values kept as log10 so that overwhelming evidence
 * prints as "p < 1e-300" instead of 0, Fisher's method, and the per-pair
 * similarity measures with their shuffle null.
 *
 * The null of raw cosine and Pearson: under independence the hidden units of
 * one model are exchangeable (initialised i.i.d., trained by a permutation-
 * equivariant algorithm), so T = sum A_ij B_ij is compared with its
 * distribution when B's rows (or columns) are shuffled. Its mean and variance
 * follow from Hoeffding's combinatorial CLT; the diagonal of the cross-
 * product matrix is exact, the off-diagonal mass is estimated from sampled
 * rows. Which axis holds the hidden units is unknown, so both are tested and
 * the less significant one counts.
 */
#include "audit.h"
#include "audit_vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE 64u          /* rows/columns sampled for the off-diagonal mass */

/* ------------------------------------------------------------ p-values */

double sp_audit_log10_norm_sf(double z)
{
    if (isnan(z))
        return 0.0;
    if (z < 30.0)
        return log10(0.5 * erfc(z / M_SQRT2));
    if (z > 1e100)
        z = 1e100;
    /* Mills-ratio asymptotic series, relative error < 1e-9 here */
    double z2 = z * z;
    double s = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
    return (-z2 / 2.0 - log(z) - 0.5 * log(2.0 * M_PI) + log(s)) / M_LN10;
}

/* lgamma without its global sign (signgam): the pairs are compared on several threads */
static double lgam(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

double sp_audit_log10_chi2_sf_even(double x, unsigned k)
{
    if (!(x > 0.0) || k == 0)
        return 0.0;
    /* P = exp(-x/2) sum_{j<k} (x/2)^j / j!, summed as logs (log-sum-exp) */
    double h = x / 2.0, lh = log(h), mx = -INFINITY;
    for (unsigned j = 0; j < k; j++) {
        double t = j * lh - lgam(j + 1.0);
        if (t > mx)
            mx = t;
    }
    double s = 0.0;
    for (unsigned j = 0; j < k; j++)
        s += exp(j * lh - lgam(j + 1.0) - mx);
    double lp = (-h + mx + log(s)) / M_LN10;
    return lp > 0.0 ? 0.0 : lp;
}

double sp_audit_fisher_log10(const double *log10p, size_t n)
{
    if (n == 0)
        return 0.0;
    double x = 0.0;
    for (size_t i = 0; i < n; i++)
        x += -2.0 * M_LN10 * (log10p[i] < 0.0 ? log10p[i] : 0.0);
    return sp_audit_log10_chi2_sf_even(x, (unsigned)n);
}

double sp_audit_log10_factorial(uint64_t n)
{
    return lgam((double)n + 1.0) / M_LN10;
}

const char *sp_audit_p_text(char *out, double log10p)
{
    if (log10p < -300.0)
        snprintf(out, 32, "< 1e-300");
    else if (log10p < -3.0)
        snprintf(out, 32, "%.1e", pow(10.0, log10p));
    else
        snprintf(out, 32, "%.3g", pow(10.0, log10p));
    return out;
}

double sp_audit_pearson(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i] - ma, y = b[i] - mb;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    return (saa > 0 && sbb > 0) ? sab / sqrt(saa * sbb) : NAN;
}

double sp_audit_cosine(const float *a, const float *b, size_t n)
{
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (double)a[i] * b[i];
        saa += (double)a[i] * a[i];
        sbb += (double)b[i] * b[i];
    }
    return (saa > 0 && sbb > 0) ? sab / sqrt(saa * sbb) : NAN;
}

void sp_audit_row_shuffle_null(double *mean, double *var, const float *A, const float *B,
                               size_t r, size_t c)
{
    double *C = calloc(r * r, sizeof *C), *ri = calloc(r, sizeof *ri), *cj = calloc(r, sizeof *cj);
    double g = 0.0;
    if (C == NULL || ri == NULL || cj == NULL || r < 2) {
        *mean = NAN;
        *var = NAN;
        goto out;
    }
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) {
            double s = 0.0;
            for (size_t k = 0; k < c; k++)
                s += (double)A[i * c + k] * B[j * c + k];
            C[i * r + j] = s;
            ri[i] += s / (double)r;
            cj[j] += s / (double)r;
            g += s / ((double)r * (double)r);
        }
    double ss = 0.0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) {
            double d = C[i * r + j] - ri[i] - cj[j] + g;
            ss += d * d;
        }
    *mean = g * (double)r;
    *var = ss / (double)(r - 1);
out:
    free(C);
    free(ri);
    free(cj);
}

static int exact_test(sp_audit_stat *st, const sp_tensor *a, const sp_tensor *b, uint64_t r, uint64_t c);

/* ------------------------------------------------------------ streamed pair statistics */

/* Sums of one pass over a pair of r x c matrices (see the file comment). */
typedef struct sums {
    uint64_t r, c, s_r, s_c;        /* shape; sampled rows, sampled columns */
    double *colA, *colB, *coldot;   /* c: column sums, column dot products */
    double *rowA, *rowB, *rowdot;   /* r */
    double *RA, *QB;                /* r: a_i . colB, colA . b_i (pass 2) */
    double *RpA, *QpB;              /* c: sum_i a_ik rowB_i, sum_i b_ik rowA_i (pass 2) */
    float *srA, *srB;               /* s_r x c sampled rows */
    float *scA, *scB;               /* s_c x r sampled columns (transposed) */
    uint64_t *ri, *ci;              /* the sampled indices */
    double saa, sbb;
    float *fa, *fb;                 /* conversion scratch, one row each */
    float *blk[3];                  /* c floats each: block accumulators */
} sums;

#define BLOCK 16u                   /* rows summed in float before adding to double */

static void sums_free(sums *s)
{
    void *p[] = {s->colA, s->colB, s->coldot, s->rowA, s->rowB, s->rowdot, s->RA, s->QB,
                 s->RpA, s->QpB, s->srA, s->srB, s->scA, s->scB, s->ri, s->ci, s->fa, s->fb,
                 s->blk[0], s->blk[1], s->blk[2]};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
}

static int sums_alloc(sums *s, uint64_t r, uint64_t c)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->c = c;
    s->s_r = r < SAMPLE ? r : SAMPLE;
    s->s_c = c < SAMPLE ? c : SAMPLE;
    s->colA = calloc(c, sizeof(double));
    s->colB = calloc(c, sizeof(double));
    s->coldot = calloc(c, sizeof(double));
    s->RpA = calloc(c, sizeof(double));
    s->QpB = calloc(c, sizeof(double));
    s->rowA = calloc(r, sizeof(double));
    s->rowB = calloc(r, sizeof(double));
    s->rowdot = calloc(r, sizeof(double));
    s->RA = calloc(r, sizeof(double));
    s->QB = calloc(r, sizeof(double));
    s->srA = calloc(s->s_r * c, sizeof(float));
    s->srB = calloc(s->s_r * c, sizeof(float));
    s->scA = calloc(r * s->s_c, sizeof(float));
    s->scB = calloc(r * s->s_c, sizeof(float));
    s->ri = calloc(s->s_r, sizeof(uint64_t));
    s->ci = calloc(s->s_c, sizeof(uint64_t));
    s->fa = calloc(c, sizeof(float));
    s->fb = calloc(c, sizeof(float));
    for (int k = 0; k < 3; k++)
        s->blk[k] = calloc(c, sizeof(float));
    if (!s->colA || !s->colB || !s->coldot || !s->RpA || !s->QpB || !s->rowA || !s->rowB ||
        !s->rowdot || !s->RA || !s->QB || !s->srA || !s->srB || !s->scA || !s->scB || !s->ri ||
        !s->ci || !s->fa || !s->fb || !s->blk[0] || !s->blk[1] || !s->blk[2]) {
        sums_free(s);
        return SP_ENOMEM;
    }
    for (uint64_t t = 0; t < s->s_r; t++)
        s->ri[t] = t * r / s->s_r;      /* evenly spaced, strictly increasing */
    for (uint64_t t = 0; t < s->s_c; t++)
        s->ci[t] = t * c / s->s_c;
    return SP_OK;
}

/* Adds the float block accumulators into the double sums and clears them. */
static void flush(double *const *dst, float *const *blk, int n, uint64_t c)
{
    for (int k = 0; k < n; k++) {
        for (uint64_t j = 0; j < c; j++)
            dst[k][j] += blk[k][j];
        memset(blk[k], 0, c * sizeof(float));
    }
}

/* Pass 1: sums, column sums, diagonals, samples. */
static void pass1(sums *s, const sp_tensor *a, const sp_tensor *b)
{
    uint64_t c = s->c, t = 0;
    double *const dst[3] = {s->colA, s->colB, s->coldot};
    for (uint64_t i = 0; i < s->r; i++) {
        const float *fa = sp_audit_row(a, i * c, c, s->fa), *fb = sp_audit_row(b, i * c, c, s->fb);
        float rs[5];
        sp_row_sums(rs, fa, fb, c);
        sp_add(s->blk[0], fa, c);
        sp_add(s->blk[1], fb, c);
        sp_add_mul(s->blk[2], fa, fb, c);
        if ((i + 1) % BLOCK == 0 || i + 1 == s->r)
            flush(dst, s->blk, 3, c);
        s->rowA[i] = rs[0];
        s->rowB[i] = rs[1];
        s->rowdot[i] = rs[2];
        s->saa += rs[3];
        s->sbb += rs[4];
        if (t < s->s_r && s->ri[t] == i) {
            memcpy(s->srA + t * c, fa, c * sizeof(float));
            memcpy(s->srB + t * c, fb, c * sizeof(float));
            t++;
        }
        for (uint64_t u = 0; u < s->s_c; u++) {
            s->scA[u * s->r + i] = fa[s->ci[u]];
            s->scB[u * s->r + i] = fb[s->ci[u]];
        }
    }
}

/* Pass 2: the row and column sums of the cross-product matrices. */
static void pass2(sums *s, const sp_tensor *a, const sp_tensor *b)
{
    uint64_t c = s->c;
    /* colA, colB as floats for the dot products (relative error 1e-7) */
    float *colAf = malloc(c * sizeof(float)), *colBf = malloc(c * sizeof(float));
    float *ta = malloc(c * sizeof(float)), *tb = malloc(c * sizeof(float));
    if (colAf == NULL || colBf == NULL || ta == NULL || tb == NULL) {
        /* no memory for the fast path: exact but slower double loops */
        for (uint64_t i = 0; i < s->r; i++) {
            sp_audit_to_float(s->fa, a, i * c, c);
            sp_audit_to_float(s->fb, b, i * c, c);
            double ra = 0, qb = 0;
            for (uint64_t k = 0; k < c; k++) {
                ra += s->fa[k] * s->colB[k];
                qb += s->fb[k] * s->colA[k];
                s->RpA[k] += s->fa[k] * s->rowB[i];
                s->QpB[k] += s->fb[k] * s->rowA[i];
            }
            s->RA[i] = ra;
            s->QB[i] = qb;
        }
        goto out;
    }
    for (uint64_t k = 0; k < c; k++) {
        colAf[k] = (float)s->colA[k];
        colBf[k] = (float)s->colB[k];
    }
    double *const dst[2] = {s->RpA, s->QpB};
    for (uint64_t i = 0; i < s->r; i++) {
        const float *fa = sp_audit_row(a, i * c, c, ta), *fb = sp_audit_row(b, i * c, c, tb);
        s->RA[i] = sp_dot(fa, colBf, c);
        s->QB[i] = sp_dot(fb, colAf, c);
        sp_axpy(s->blk[0], (float)s->rowB[i], fa, c);
        sp_axpy(s->blk[1], (float)s->rowA[i], fb, c);
        if ((i + 1) % BLOCK == 0 || i + 1 == s->r)
            flush(dst, s->blk, 2, c);
    }
out:
    free(colAf);
    free(colBf);
    free(ta);
    free(tb);
}

/*
 * Hoeffding's mean and variance of sum_i M_{i,sigma(i)} over permutations of
 * n units, for the cross-product matrix M (n x n) given by: its diagonal
 * diag[], row sums R[], column sums Q[], total g, and sampled off-diagonal
 * entries computed from the sampled vectors X, Y (ns of them, len floats
 * each, step apart) at unit indices idx[].
 */
static void hoeffding(double *mean, double *var, uint64_t n, const double *diag, const double *R,
                      const double *Q, double g, const float *X, const float *Y, const uint64_t *idx,
                      uint64_t ns, uint64_t len, uint64_t step)
{
    double dn = (double)n, gm = g / (dn * dn), dd = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        double d = diag[i] - R[i] / dn - Q[i] / dn + gm;
        dd += d * d;
    }
    double od = 0.0;
    uint64_t cnt = 0;
    for (uint64_t t = 0; t < ns; t++)
        for (uint64_t u = 0; u < ns; u++) {
            if (t == u)
                continue;
            double m = sp_dot(X + t * step, Y + u * step, len);
            double d = m - R[idx[t]] / dn - Q[idx[u]] / dn + gm;
            od += d * d;
            cnt++;
        }
    if (cnt > 0)
        od *= (dn * dn - dn) / (double)cnt;
    *mean = g / dn;
    *var = (dd + od) / (dn - 1.0);
}

static void set_stat(sp_audit_stat *st, double value, double mean, double sd, double z,
                     double floor_log10p)
{
    st->valid = isfinite(value) && isfinite(mean) && isfinite(sd);
    st->value = value;
    st->null_mean = mean;
    st->null_sd = sd;
    st->z = z;
    st->log10p = sp_audit_log10_norm_sf(z);
    if (st->log10p < floor_log10p)
        st->log10p = floor_log10p;
}

/* Fills cosine and Pearson of a pair from the sums and the chosen null (mean E, variance V). */
static void fill_similarity(sp_audit_pairstats *o, double n, double sa, double sb, double sab,
                            double saa, double sbb, double E, double V, double floor_log10p)
{
    double caa = saa - sa * sa / n, cbb = sbb - sb * sb / n, cab = sab - sa * sb / n;
    double sd = V > 0 ? sqrt(V) : 0.0;
    /* a constant pair, or one with no spread under the null, carries no evidence */
    double z = (sd > 0 && sd > 1e-12 * sqrt(saa * sbb)) ? (sab - E) / sd : 0.0;
    double nrm = sqrt(saa * sbb), cn = sqrt(caa * cbb);
    if (nrm > 0)
        set_stat(&o->cosine, sab / nrm, E / nrm, sd / nrm, z, floor_log10p);
    if (cn > 1e-30 * nrm && caa > 0 && cbb > 0)
        set_stat(&o->pearson, cab / cn, (E - sa * sb / n) / cn, sd / cn, z, floor_log10p);
    o->near_constant = nrm > 0 && fabs(E / nrm) > 0.5;
}

static int compare_vector(sp_audit_pairstats *o, const sp_tensor *a, const sp_tensor *b, uint64_t n)
{
    float *fa = malloc(n * sizeof(float)), *fb = malloc(n * sizeof(float));
    if (fa == NULL || fb == NULL) {
        free(fa);
        free(fb);
        return SP_ENOMEM;
    }
    sp_audit_to_float(fa, a, 0, n);
    sp_audit_to_float(fb, b, 0, n);
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    for (uint64_t i = 0; i < n; i++) {
        sa += fa[i];
        sb += fb[i];
        sab += (double)fa[i] * fb[i];
        saa += (double)fa[i] * fa[i];
        sbb += (double)fb[i] * fb[i];
    }
    free(fa);
    free(fb);
    double dn = (double)n;
    /* element shuffle: Hoeffding with a rank-one cross-product matrix */
    double E = sa * sb / dn, V = n > 1 ? (saa - sa * sa / dn) * (sbb - sb * sb / dn) / (dn - 1) : 0;
    fill_similarity(o, dn, sa, sb, sab, saa, sbb, E, V, -sp_audit_log10_factorial(n));
    o->null_axis = SP_AUDIT_AXIS_ROWS;
    return SP_OK;
}

int sp_audit_compare(sp_audit_pairstats *o, const sp_tensor *a, const sp_tensor *b, uint64_t seed)
{
    memset(o, 0, sizeof *o);
    if (!sp_audit_dtype_ok(a->dtype) || !sp_audit_dtype_ok(b->dtype) || a->ndim != b->ndim)
        return SP_EINVAL;
    uint64_t n = 1;
    for (uint32_t d = 0; d < a->ndim; d++) {
        if (a->shape[d] != b->shape[d])
            return SP_EINVAL;
        n *= a->shape[d];
    }
    if (n == 0)
        return SP_OK;
    uint64_t r = a->ndim >= 2 ? a->shape[0] : n, c = a->ndim >= 2 ? n / a->shape[0] : 1;
    o->rows = r;
    o->cols = c;
    if (r < 2 || c < 2)
        return compare_vector(o, a, b, n);
    o->matrix = 1;
    sums s;
    if (sums_alloc(&s, r, c) != SP_OK)
        return SP_ENOMEM;
    pass1(&s, a, b);
    pass2(&s, a, b);
    double sa = 0, sb = 0, sab = 0, g = 0, gp = 0;
    for (uint64_t i = 0; i < r; i++) {
        sa += s.rowA[i];
        sb += s.rowB[i];
        sab += s.rowdot[i];
        gp += s.rowA[i] * s.rowB[i];
    }
    for (uint64_t k = 0; k < c; k++)
        g += s.colA[k] * s.colB[k];
    double Er, Vr, Ec, Vc;
    hoeffding(&Er, &Vr, r, s.rowdot, s.RA, s.QB, g, s.srA, s.srB, s.ri, s.s_r, c, c);
    hoeffding(&Ec, &Vc, c, s.coldot, s.RpA, s.QpB, gp, s.scA, s.scB, s.ci, s.s_c, r, r);
    double zr = Vr > 0 ? (sab - Er) / sqrt(Vr) : 0, zc = Vc > 0 ? (sab - Ec) / sqrt(Vc) : 0;
    int use_rows = zr <= zc;
    o->null_axis = use_rows ? SP_AUDIT_AXIS_ROWS : SP_AUDIT_AXIS_COLS;
    fill_similarity(o, (double)n, sa, sb, sab, s.saa, s.sbb, use_rows ? Er : Ec, use_rows ? Vr : Vc,
                    -sp_audit_log10_factorial(use_rows ? r : c));

    /* the permutation-robust statistic, units along either axis (no centring
     * across units: the baselines of sp_audit_matched measure shared structure) */
    int rc = SP_OK;
    sp_audit_stat best = {0};
    for (int axis = 0; axis < 2 && rc == SP_OK; axis++) {
        sp_audit_stat m;
        rc = sp_audit_matched(&m, a, b, r, c, axis, NULL, NULL, seed + (uint64_t)axis);
        if (rc == SP_OK && m.valid && (!best.valid || m.z > best.z)) {
            best = m;
            o->matched_axis = axis;
        }
    }
    if (best.valid) {
        best.log10p += log10(2.0);      /* the better of two axes: Bonferroni */
        if (best.log10p > 0)
            best.log10p = 0;
    }
    o->matched = best;
    sums_free(&s);
    if (rc == SP_OK)
        rc = exact_test(&o->exact, a, b, r, c);
    sp_audit_decide(o);
    return rc;
}

void sp_audit_decide(sp_audit_pairstats *o)
{
    if (!o->matrix) {
        o->log10p = 0.0;
        return;
    }
    /* the most significant test, Bonferroni over the four tests (aligned, matched,
     * exact, carried), counted whether or not the carried one had a candidate */
    double lp = 0.0, ntests = 4.0;
    const sp_audit_stat *t[3] = {&o->pearson, &o->matched, &o->exact};
    for (int k = 0; k < 3; k++)
        if (t[k]->valid && t[k]->log10p < lp)
            lp = t[k]->log10p;
    if (o->prop_tried > 0) {
        if (o->prop.valid && o->prop.log10p + log10((double)o->prop_tried) < lp)
            lp = o->prop.log10p + log10((double)o->prop_tried);
    }
    lp += log10(ntests) + log10(o->nlayouts > 1 ? (double)o->nlayouts : 1.0);
    o->log10p = lp > 0 ? 0 : lp;
}

/* ------------------------------------------------------------ exact unit-match test */

#define EXACT_UNITS 512u            /* more units: the normal approximations suffice */
#define EXACT_ELEMS (1u << 22)      /* larger tensors: not converted whole */

static void unit_std(float *x, size_t u, size_t len)
{
    for (size_t i = 0; i < u; i++) {
        float *v = x + i * len;
        double mu = 0, ss = 0;
        for (size_t k = 0; k < len; k++)
            mu += v[k];
        mu /= (double)len;
        for (size_t k = 0; k < len; k++)
            ss += (v[k] - mu) * (v[k] - mu);
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (size_t k = 0; k < len; k++)
            v[k] = (float)((v[k] - mu) * inv);
    }
}

uint64_t sp_audit_exact_count(const float *a, const float *b, size_t u, size_t len)
{
    float *x = malloc(u * len * sizeof *x), *y = malloc(u * len * sizeof *y);
    uint64_t n = 0;
    if (x == NULL || y == NULL || u < 2 || len == 0)
        goto out;
    memcpy(x, a, u * len * sizeof *x);
    memcpy(y, b, u * len * sizeof *y);
    unit_std(x, u, len);
    unit_std(y, u, len);
    for (size_t i = 0; i < u; i++) {
        /* each dot product depends on the two units only, never on the order of the
         * reference's units: a strict maximum is a property of the vectors */
        float own = 0, other = -INFINITY;
        for (size_t j = 0; j < u; j++) {
            float d = sp_dot(x + i * len, y + j * len, len);
            if (j == i)
                own = d;
            else if (d > other)
                other = d;
        }
        /* a unit of zeros has no partner; ties are not matches */
        if (own > other && own > 1e-6)
            n++;
    }
out:
    free(x);
    free(y);
    return n;
}

/*
 * The exact test of a pair: rows, and the second axis (columns of a matrix;
 * the input channels of a 4-d OIHW kernel, each an O x H x W slab: kernel
 * positions are never hidden units, and an axis of 1 cannot be permuted).
 * The less significant axis counts, like the shuffle null.
 */
static int exact_test(sp_audit_stat *st, const sp_tensor *a, const sp_tensor *b, uint64_t r, uint64_t c)
{
    memset(st, 0, sizeof *st);
    uint64_t n = r * c;
    int conv = a->ndim == 4;
    uint64_t u2 = conv ? a->shape[1] : c, len2 = n / (u2 ? u2 : 1);
    if (n > EXACT_ELEMS || r > EXACT_UNITS || (u2 > 1 && u2 > EXACT_UNITS))
        return SP_OK;
    float *fa = malloc(n * sizeof *fa), *fb = malloc(n * sizeof *fb);
    float *ta = malloc(n * sizeof *ta), *tb = malloc(n * sizeof *tb);
    int rc = SP_ENOMEM;
    if (fa == NULL || fb == NULL || ta == NULL || tb == NULL)
        goto out;
    sp_audit_to_float(fa, a, 0, n);
    sp_audit_to_float(fb, b, 0, n);
    uint64_t nr = sp_audit_exact_count(fa, fb, (size_t)r, (size_t)c);
    double lp = -sp_audit_log10_factorial(nr), value = (double)nr / (double)r;
    if (u2 > 1) {
        /* unit k of the second axis: every element whose second index is k */
        uint64_t inner = conv ? a->shape[2] * a->shape[3] : 1;
        for (uint64_t o = 0; o < r; o++)
            for (uint64_t k = 0; k < u2; k++)
                for (uint64_t h = 0; h < inner; h++) {
                    uint64_t src = (o * u2 + k) * inner + h, dst = k * len2 + o * inner + h;
                    ta[dst] = fa[src];
                    tb[dst] = fb[src];
                }
        uint64_t n2 = sp_audit_exact_count(ta, tb, (size_t)u2, (size_t)len2);
        double lp2 = -sp_audit_log10_factorial(n2);
        if (lp2 > lp)
            lp = lp2;
        if ((double)n2 / (double)u2 < value)
            value = (double)n2 / (double)u2;
    }
    st->valid = 1;
    st->value = value;
    st->null_mean = 0.0;
    st->null_sd = NAN;
    st->z = NAN;
    st->log10p = lp;
    rc = SP_OK;
out:
    free(fa);
    free(fb);
    free(ta);
    free(tb);
    return rc;
}
