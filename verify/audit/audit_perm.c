/*
 * audit_perm.c - hidden-unit permutations carried through the network for
 * `scratchproof audit` (audit.h, SPEC.md 10.3 "Carried permutations").
 *
 * A consistent permutation of a network's hidden units leaves its function
 * unchanged and permutes both axes of every interior matrix; the matched
 * statistic, which matches units along one axis with the other axis held
 * fixed, then sees nothing. But the first and last layers keep one axis
 * fixed (input features, vocabulary, classes), so their matched statistic
 * finds the permutation of their hidden axis. That permutation aligns the
 * same axis of every other matrix that shares it (a layer's in and out
 * projections, the residual stream across blocks, conv channels along a
 * chain), whose units along the other axis can then be matched in turn:
 *
 *   1. every matrix pair whose matched statistic has z >= 6 yields the full
 *      map of its units (each unit of the model to its best reference unit
 *      on the matching features); maps that leave >= 90 % of the units in
 *      place are the identity and add nothing
 *   2. for every matrix pair and each of its axes of size n (or n * g, the
 *      permuted factor inner, as OIHW input channels, or outer, as tokens x
 *      embedding), every known map of size n from another pair is a
 *      candidate alignment of that axis; each is screened (16 units, 64
 *      matching features: mean best correlation) and the 2 best of each
 *      round get the matched statistic (same cross-fitting and baselines)
 *      with the reference's features re-indexed; the best z counts,
 *      Bonferroni over every candidate screened
 *   3. a pair whose carried statistic reaches z >= 6 yields the map of its
 *      other axis, and step 2 repeats until no new map appears (at most 8
 *      rounds)
 * The alignment of a matrix's features comes from other matrices; its own
 * units are matched on half of its features and measured on the other half.
 */
#include "audit.h"
#include "audit_vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Z_KNOWN 6.0         /* a map is taken from a pair with at least this z */
#define SCREEN_UNITS 16u    /* units of the model in the screening score */
#define SCREEN_FEAT 64u     /* features in the screening score */
#define TOP_FULL 2u         /* best-screened candidates per round given the full test */
#define MAX_ROUNDS 8
#define SAME_MAP 0.9        /* this share of equal entries: the same map */
#define MIN_UNITS 32u
#define MIN_FEAT 16u

typedef struct kperm {
    uint64_t n;
    uint32_t *map;          /* unit i of the model is unit map[i] of the reference */
    size_t pair;            /* where it was found */
    int axis;               /* that pair's units axis */
} kperm;

typedef struct pstate {
    unsigned tried;                 /* candidates tried */
    int has_map[2];                 /* a map was taken from this pair's units axis */
    unsigned char *seen;            /* seen[k * 3 + mode] for kperm k, per feature axis */
    size_t seen_cap;
    /* the best candidate so far: kperm index, mode, units axis */
    size_t best_k;
    int best_mode, best_units;
} pstate;

typedef struct perms {
    kperm *k;
    size_t n, cap;
} perms;

static uint64_t axis_size(const sp_audit_pair *p, int axis)
{
    return axis == SP_AUDIT_AXIS_ROWS ? p->st.rows : p->st.cols;
}

static int eligible(const sp_audit_pair *p)
{
    return p->b != NULL && p->cmp != NULL && p->st.matrix && !p->fixed;
}

static double in_place(const uint32_t *map, uint64_t n)
{
    uint64_t same = 0;
    for (uint64_t i = 0; i < n; i++)
        same += map[i] == i;
    return n ? (double)same / (double)n : 1.0;
}

/* Adds a map unless it is the identity or already known; takes ownership. 1 when added. */
static int add_map(perms *ps, uint32_t *map, uint64_t n, size_t pair, int axis, int *err)
{
    if (in_place(map, n) >= SAME_MAP) {
        free(map);
        return 0;
    }
    for (size_t k = 0; k < ps->n; k++) {
        if (ps->k[k].n != n)
            continue;
        uint64_t same = 0;
        for (uint64_t i = 0; i < n; i++)
            same += ps->k[k].map[i] == map[i];
        if ((double)same >= SAME_MAP * (double)n) {
            free(map);
            return 0;
        }
    }
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? 2 * ps->cap : 16;
        kperm *q = realloc(ps->k, nc * sizeof *q);
        if (q == NULL) {
            free(map);
            *err = SP_ENOMEM;
            return 0;
        }
        ps->k = q;
        ps->cap = nc;
    }
    ps->k[ps->n++] = (kperm){n, map, pair, axis};
    return 1;
}

/* The re-indexing of an axis of nf features by map k in mode 0 (whole), 1 (inner), 2 (outer). */
static int make_fmap(uint64_t *fmap, uint64_t nf, const kperm *kp, int mode)
{
    uint64_t n = kp->n, g = nf / n;
    if (mode == 0 && nf != n)
        return 0;
    if (mode > 0 && (nf % n != 0 || g < 2))
        return 0;
    for (uint64_t f = 0; f < nf; f++) {
        if (mode == 0)
            fmap[f] = kp->map[f];
        else if (mode == 1)
            fmap[f] = (uint64_t)kp->map[f / g] * g + f % g;    /* f = unit * g + k */
        else
            fmap[f] = (f / n) * n + kp->map[f % n];            /* f = k * n + unit */
    }
    return 1;
}

static size_t common_prefix(const char *x, const char *y)
{
    size_t k = 0;
    while (x[k] != '\0' && x[k] == y[k])
        k++;
    return k;
}

typedef struct trial {
    size_t k;
    int mode, feat_axis;
    size_t prox;
    double score;
} trial;

static int trial_cmp(const void *x, const void *y)
{
    const trial *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->prox != b->prox)
        return a->prox > b->prox ? -1 : 1;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (a->feat_axis != b->feat_axis)
        return a->feat_axis - b->feat_axis;
    return a->mode - b->mode;
}

static float read1(const sp_tensor *t, uint64_t i)
{
    float x;
    sp_audit_to_float(&x, t, i, 1);
    return x;
}

static void std_rows(float *x, size_t n, size_t m)
{
    for (size_t i = 0; i < n; i++) {
        double mu = 0, ss = 0;
        for (size_t k = 0; k < m; k++)
            mu += x[i * m + k];
        mu /= (double)m;
        for (size_t k = 0; k < m; k++)
            ss += (x[i * m + k] - mu) * (x[i * m + k] - mu);
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (size_t k = 0; k < m; k++)
            x[i * m + k] = (float)((x[i * m + k] - mu) * inv);
    }
}

/*
 * Screening score of an alignment: 16 sampled units of the model, each
 * correlated on the first 64 matching features with every unit of the
 * reference (features re-indexed by fmap); the mean of the best
 * correlations. Only ranks the candidates: every screened candidate counts
 * in the Bonferroni factor. -1 when memory runs out.
 */
static double screen(const sp_audit_pair *p, int units, const uint64_t *fmap)
{
    uint64_t r = p->st.rows, c = p->st.cols;
    uint64_t nu = units == SP_AUDIT_AXIS_ROWS ? r : c, nf = units == SP_AUDIT_AXIS_ROWS ? c : r;
    size_t s = SCREEN_UNITS, m = (size_t)((nf + 1) / 2 < SCREEN_FEAT ? (nf + 1) / 2 : SCREEN_FEAT);
    float *x = malloc(s * m * sizeof *x), *y = malloc(nu * m * sizeof *y);
    double score = -1.0;
    if (x == NULL || y == NULL)
        goto out;
    for (size_t i = 0; i < s; i++)
        for (size_t f = 0; f < m; f++) {
            uint64_t u = i * nu / s;
            x[i * m + f] = read1(p->acmp, units == SP_AUDIT_AXIS_ROWS ? u * c + f : f * c + u);
        }
    for (uint64_t u = 0; u < nu; u++)
        for (size_t f = 0; f < m; f++) {
            uint64_t g = fmap[f];
            y[u * m + f] = read1(p->cmp, units == SP_AUDIT_AXIS_ROWS ? u * c + g : g * c + u);
        }
    std_rows(x, s, m);
    std_rows(y, (size_t)nu, m);
    score = 0.0;
    for (size_t i = 0; i < s; i++) {
        double best = -1.0;
        for (uint64_t u = 0; u < nu; u++) {
            double d = 0;
            for (size_t f = 0; f < m; f++)
                d += (double)x[i * m + f] * y[u * m + f];
            if (d > best)
                best = d;
        }
        score += best / (double)s;
    }
out:
    free(x);
    free(y);
    return score;
}

/* Screens the new candidates of pair i, gives the best ones the full test. */
static int try_pair(sp_audit_refres *rr, size_t i, perms *ps, pstate *st, uint64_t seed)
{
    sp_audit_pair *p = &rr->pairs[i];
    pstate *s = &st[i];
    if (s->seen_cap < ps->n * 6) {
        unsigned char *q = realloc(s->seen, ps->n * 6);
        if (q == NULL)
            return SP_ENOMEM;
        memset(q + s->seen_cap, 0, ps->n * 6 - s->seen_cap);
        s->seen = q;
        s->seen_cap = ps->n * 6;
    }
    trial *tr = malloc((ps->n * 6 + 1) * sizeof *tr);
    if (tr == NULL)
        return SP_ENOMEM;
    size_t nt = 0;
    for (int fa = 0; fa < 2; fa++) {
        uint64_t nf = axis_size(p, fa), nu = axis_size(p, 1 - fa);
        if (nu < MIN_UNITS || nf < MIN_FEAT)
            continue;
        for (size_t k = 0; k < ps->n; k++) {
            if (ps->k[k].pair == i)
                continue;
            for (int mode = 0; mode < 3; mode++) {
                uint64_t n = ps->k[k].n;
                int fits = mode == 0 ? nf == n : (nf % n == 0 && nf / n >= 2);
                if (!fits || s->seen[k * 6 + (size_t)fa * 3 + (size_t)mode])
                    continue;
                s->seen[k * 6 + (size_t)fa * 3 + (size_t)mode] = 1;
                tr[nt++] = (trial){k, mode, fa, common_prefix(p->a->name, rr->pairs[ps->k[k].pair].a->name), 0};
            }
        }
    }
    int rc = SP_OK;
    for (size_t t = 0; t < nt && rc == SP_OK; t++) {
        uint64_t nf = axis_size(p, tr[t].feat_axis);
        uint64_t *fmap = malloc(nf * sizeof *fmap);
        if (fmap == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        make_fmap(fmap, nf, &ps->k[tr[t].k], tr[t].mode);
        tr[t].score = screen(p, 1 - tr[t].feat_axis, fmap);
        free(fmap);
        if (tr[t].score < -0.5)
            rc = SP_ENOMEM;
    }
    qsort(tr, nt, sizeof *tr, trial_cmp);
    s->tried += (unsigned)nt;     /* every screened candidate counts (Bonferroni) */
    for (size_t t = 0; t < nt && t < TOP_FULL && rc == SP_OK; t++) {
        uint64_t nf = axis_size(p, tr[t].feat_axis);
        uint64_t *fmap = malloc(nf * sizeof *fmap);
        if (fmap == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        make_fmap(fmap, nf, &ps->k[tr[t].k], tr[t].mode);
        sp_audit_stat m;
        int units = 1 - tr[t].feat_axis;
        rc = sp_audit_matched_map(&m, p->acmp, p->cmp, p->st.rows, p->st.cols, units, fmap, NULL, NULL,
                                  seed + 16u * t + (uint64_t)units);
        free(fmap);
        if (rc == SP_OK && m.valid && (!p->st.prop.valid || m.z > p->st.prop.z)) {
            p->st.prop = m;
            p->st.prop_axis = units;
            s->best_k = tr[t].k;
            s->best_mode = tr[t].mode;
            s->best_units = units;
            const sp_audit_pair *src = &rr->pairs[ps->k[tr[t].k].pair];
            if (p->prop_from == NULL && (p->prop_from = malloc(SP_AUDIT_FROM_MAX)) == NULL) {
                rc = SP_ENOMEM;
                break;
            }
            snprintf(p->prop_from, SP_AUDIT_FROM_MAX, "%s %s%s", src->a->name,
                     ps->k[tr[t].k].axis == SP_AUDIT_AXIS_ROWS ? "rows" : "cols",
                     tr[t].mode == 1 ? " (per block)" : tr[t].mode == 2 ? " (repeated)" : "");
        }
    }
    p->st.prop_tried = s->tried;
    free(tr);
    return rc;
}

/* The full map of a pair's units along `units` with its features aligned by fmap (or NULL):
 * *out, owned by the caller, or NULL when the pair gives none. */
static int unit_map(uint32_t **out, sp_audit_pair *p, int units, const uint64_t *fmap, uint64_t seed)
{
    *out = NULL;
    uint64_t nu = axis_size(p, units);
    uint32_t *map = malloc(nu * sizeof *map);
    if (map == NULL)
        return SP_ENOMEM;
    int have = 0;   /* the map only: take_map never used the statistic */
    int rc = sp_audit_matched_map(NULL, p->acmp, p->cmp, p->st.rows, p->st.cols, units, fmap, map, &have, seed);
    if (rc != SP_OK || !have) {
        free(map);
        return rc;
    }
    *out = map;
    return SP_OK;
}

/* Takes a map found on pair i (ownership too; NULL: none) into the known ones. */
static int take_found(sp_audit_pair *p, int units, uint32_t *map, perms *ps, size_t i, int *added)
{
    int rc = SP_OK;
    *added = 0;
    if (map == NULL)
        return SP_OK;
    uint64_t nu = axis_size(p, units);
    p->unpermuted = in_place(map, nu);
    *added = add_map(ps, map, nu, i, units, &rc);
    return rc;
}

static int take_map(sp_audit_pair *p, int units, const uint64_t *fmap, perms *ps, size_t i,
                    uint64_t seed, int *added)
{
    uint32_t *map = NULL;
    *added = 0;
    int rc = unit_map(&map, p, units, fmap, seed);
    return rc == SP_OK ? take_found(p, units, map, ps, i, added) : rc;
}

/* ------------------------------------------------------------ a lone matrix, both axes */

#define LONE_WORK (1ull << 30)  /* r^2 c / 2 + c^2 r / 2 above this: not tried */
#define LONE_DESC 16u           /* quantiles in a column descriptor */
#define LONE_ROUNDS 2
#define LONE_START 1.15     /* a start must beat chance (sqrt(2 ln r / c)) by this factor */

/* Ascending order of float bit patterns as unsigned keys (NaN above +inf). */
static inline uint32_t fkey(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Sorts n keys (radix, 4 passes of 8 bits); tmp holds n keys. */
static void radix_sort(uint32_t *k, uint32_t *tmp, size_t n)
{
    for (int shift = 0; shift < 32; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((k[i] >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(k[i] >> shift) & 0xff]++] = k[i];
        memcpy(k, tmp, n * sizeof *k);
    }
}

static float unkey(uint32_t u)
{
    u = u & 0x80000000u ? u & 0x7fffffffu : ~u;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Column j's sorted values at LONE_DESC evenly spaced ranks, from rows [0, rows) of x (r x c). */
static void col_desc(float *d, const float *x, uint64_t rows, uint64_t c, uint64_t j, uint32_t *k,
                     uint32_t *tmp)
{
    for (uint64_t i = 0; i < rows; i++)
        k[i] = fkey(x[i * c + j]);
    radix_sort(k, tmp, (size_t)rows);
    for (size_t q = 0; q < LONE_DESC; q++)
        d[q] = unkey(k[q * (rows - 1) / (LONE_DESC - 1)]);
}

/*
 * For each of the n rows of X (len m, stride sx) the row of Y (ny rows,
 * stride sy) of highest correlation; returns the mean of those correlations.
 */
static double best_corr(uint64_t *out, const float *X, size_t n, size_t sx, const float *Y, size_t ny,
                        size_t sy, size_t m, const uint64_t *ymap, float *xs, float *ys)
{
    /* xs: n x m, ys: ny x m standardised copies; ymap re-indexes Y's features */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m; k++)
            xs[i * m + k] = X[i * sx + k];
    for (size_t j = 0; j < ny; j++)
        for (size_t k = 0; k < m; k++)
            ys[j * m + k] = Y[j * sy + (ymap ? ymap[k] : k)];
    std_rows(xs, n, m);
    std_rows(ys, ny, m);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float bv = -INFINITY;
        uint64_t bj = 0;
        for (size_t j = 0; j < ny; j++) {
            float d = sp_dot(xs + i * m, ys + j * m, m);
            if (d > bv) {
                bv = d;
                bj = j;
            }
        }
        out[i] = bj;
        sum += bv;
    }
    return sum / (double)n;
}

/*
 * A matrix permuted on both axes that shares no axis with another: the
 * column map is recovered from the model's first half of rows only, then
 * the second half's rows are matched (the matched statistic, cross-fitted
 * as always) with the reference's columns re-indexed by it. Start: columns
 * matched by their sorted values (invariant to the row order); then, twice,
 * the first half's rows matched to the reference's rows through the
 * current column map, and each column re-matched on those rows.
 */
static int lone(sp_audit_pair *p, sp_audit_stat *out, uint64_t seed)
{
    memset(out, 0, sizeof *out);
    uint64_t r = p->st.rows, c = p->st.cols, r1 = r / 2;
    if (r - r1 < MIN_UNITS || c < MIN_FEAT || (double)r * r * c / 2 + (double)c * c * r / 2 > (double)LONE_WORK)
        return SP_OK;
    uint64_t n = r * c;
    float *fa = malloc(n * sizeof *fa), *fb = malloc(n * sizeof *fb);
    uint32_t *keys = malloc(2 * r * sizeof *keys);
    float *da = malloc(c * LONE_DESC * sizeof *da), *db = malloc(c * LONE_DESC * sizeof *db);
    float *at = malloc(c * r1 * sizeof *at), *bt = malloc(c * r1 * sizeof *bt);
    size_t big = (size_t)(r > c ? r : c);
    float *xs = malloc(big * big * sizeof *xs), *ys = malloc(big * big * sizeof *ys);
    uint64_t *q = malloc(c * sizeof *q), *pr = malloc(r1 * sizeof *pr);
    int rc = SP_ENOMEM;
    if (!fa || !fb || !keys || !da || !db || !at || !bt || !xs || !ys || !q || !pr)
        goto done;
    sp_audit_to_float(fa, p->acmp, 0, n);
    sp_audit_to_float(fb, p->cmp, 0, n);
    for (uint64_t j = 0; j < c; j++) {
        col_desc(da + j * LONE_DESC, fa, r1, c, j, keys, keys + r);
        col_desc(db + j * LONE_DESC, fb, r, c, j, keys, keys + r);
    }
    /* sorted values: match by distance, i.e. the best correlation is not wanted here (scale matters) */
    for (uint64_t j = 0; j < c; j++) {
        double bv = INFINITY;
        for (uint64_t k = 0; k < c; k++) {
            double d = 0;
            for (size_t t = 0; t < LONE_DESC; t++) {
                double e = (double)da[j * LONE_DESC + t] - db[k * LONE_DESC + t];
                d += e * e;
            }
            if (d < bv) {
                bv = d;
                q[j] = k;
            }
        }
    }
    for (int round = 0; round < LONE_ROUNDS; round++) {
        /* rows of the first half through the column map; in the first round, a start no
         * better than chance (the best of r random correlations over c features, about
         * sqrt(2 ln r / c)) ends the attempt: nothing was found, nothing is tested */
        double mean = best_corr(pr, fa, (size_t)r1, (size_t)c, fb, (size_t)r, (size_t)c, (size_t)c, q, xs, ys);
        if (round == 0 && mean < LONE_START * sqrt(2.0 * log((double)r) / (double)c)) {
            rc = SP_OK;
            goto done;
        }
        /* columns on those rows: a's column j over rows [0, r1), b's column k over rows pr[] */
        for (uint64_t i = 0; i < r1; i++)
            for (uint64_t j = 0; j < c; j++) {
                at[j * r1 + i] = fa[i * c + j];
                bt[j * r1 + i] = fb[pr[i] * c + j];
            }
        best_corr(q, at, (size_t)c, (size_t)r1, bt, (size_t)c, (size_t)r1, (size_t)r1, NULL, xs, ys);
    }
    /* the second half of the model's rows against every reference row, columns re-indexed */
    sp_tensor va = *p->acmp, vb = *p->cmp;
    va.dtype = vb.dtype = SP_DTYPE_F32;
    va.ndim = vb.ndim = 2;
    va.shape[0] = r - r1;
    va.shape[1] = vb.shape[1] = c;
    vb.shape[0] = r;
    va.data = fa + r1 * c;
    vb.data = fb;
    va.nbytes = (r - r1) * c * sizeof(float);
    vb.nbytes = n * sizeof(float);
    rc = sp_audit_matched_rows_of(out, &va, r - r1, &vb, r, c, q, seed);
done:
    free(fa);
    free(fb);
    free(keys);
    free(da);
    free(db);
    free(at);
    free(bt);
    free(xs);
    free(ys);
    free(q);
    free(pr);
    return rc;
}

#define LONE_GATE (-6.0)    /* pairs already this significant are not tried alone */

/* Step 1 and step 4 on the pool: each item computes one pair's own result. */
typedef struct prop_ctx {
    sp_audit_refres *rr;
    const size_t *idx;       /* the pairs of the items */
    uint32_t **maps;         /* step 1: the map found on pair idx[k], or NULL */
    uint64_t seed0;
} prop_ctx;

static int first_map(void *arg, size_t k)
{
    prop_ctx *c = arg;
    size_t i = c->idx[k];
    sp_audit_pair *p = &c->rr->pairs[i];
    return unit_map(&c->maps[k], p, p->st.matched_axis, NULL, c->seed0 + i);
}

static int lone_pair(void *arg, size_t k)
{
    prop_ctx *c = arg;
    size_t i = c->idx[k];
    sp_audit_pair *p = &c->rr->pairs[i];
    sp_audit_decide(&p->st);
    if (p->st.log10p < LONE_GATE || (p->st.prop.valid && p->st.prop.z >= Z_KNOWN))
        return SP_OK;
    sp_audit_stat m;
    int rc = lone(p, &m, c->seed0 + 0x9000000ull + i);
    if (rc != SP_OK || !m.valid)
        return rc;
    p->st.prop_tried++;
    if (!p->st.prop.valid || m.z > p->st.prop.z) {
        p->st.prop = m;
        p->st.prop_axis = SP_AUDIT_AXIS_ROWS;
        if (p->prop_from == NULL && (p->prop_from = malloc(SP_AUDIT_FROM_MAX)) == NULL)
            return SP_ENOMEM;
        snprintf(p->prop_from, SP_AUDIT_FROM_MAX, "%s itself (column map from its first half of rows)",
                 p->a->name);
    }
    return SP_OK;
}

int sp_audit_propagate(sp_audit_refres *rr, size_t ref_index, unsigned threads, const sp_progress *pg)
{
    size_t n = rr->npairs;
    perms ps = {0};
    pstate *st = calloc(n ? n : 1, sizeof *st);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    uint32_t **maps = calloc(n ? n : 1, sizeof *maps);
    uint64_t *w = calloc(n ? n : 1, sizeof *w);
    if (st == NULL || idx == NULL || maps == NULL || w == NULL) {
        free(st);
        free(idx);
        free(maps);
        free(w);
        return SP_ENOMEM;
    }
    int rc = SP_OK;
    uint64_t seed0 = 0x7065726d00000000ull + 1000003ull * ref_index;
    prop_ctx pc = {rr, idx, maps, seed0};
    /* 1. maps from pairs whose own matched statistic found their units: computed on the
     * pool, then taken in pair order (a map equal to an earlier one is dropped) */
    size_t nk = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        sp_audit_pair *p = &rr->pairs[i];
        if (!eligible(p) || !p->st.matched.valid || p->st.matched.z < Z_KNOWN)
            continue;
        total += w[nk] = p->a->nbytes;
        idx[nk++] = i;
    }
    sp_progress pp = {0};
    if (pg != NULL && pg->fn != NULL)
        pp = (sp_progress){pg->fn, pg->ctx, pg->what, 0, total};
    rc = sp_audit_par_for(nk, threads, first_map, &pc, w, pp.fn ? &pp : NULL);
    for (size_t k = 0; k < nk; k++) {
        size_t i = idx[k];
        sp_audit_pair *p = &rr->pairs[i];
        int added = 0;
        if (rc == SP_OK)
            rc = take_found(p, p->st.matched_axis, maps[k], &ps, i, &added);
        else
            free(maps[k]);
        maps[k] = NULL;
        st[i].has_map[p->st.matched_axis] = 1;
    }
    /* 2, 3. carry them, rounds until nothing new */
    for (int round = 0; round < MAX_ROUNDS && rc == SP_OK && ps.n > 0; round++) {
        size_t before = ps.n;
        for (size_t i = 0; i < n && rc == SP_OK; i++) {
            sp_audit_pair *p = &rr->pairs[i];
            if (!eligible(p))
                continue;
            rc = try_pair(rr, i, &ps, st, seed0 + 0x100000ull * (uint64_t)(round + 1) + i);
            if (rc != SP_OK || !p->st.prop.valid || p->st.prop.z < Z_KNOWN || st[i].has_map[st[i].best_units])
                continue;
            int units = st[i].best_units, fa = 1 - units;
            uint64_t nf = axis_size(p, fa);
            uint64_t *fmap = malloc(nf * sizeof *fmap);
            if (fmap == NULL) {
                rc = SP_ENOMEM;
                break;
            }
            make_fmap(fmap, nf, &ps.k[st[i].best_k], st[i].best_mode);
            int added = 0;
            rc = take_map(p, units, fmap, &ps, i, seed0 + 0x7000000ull + i, &added);
            free(fmap);
            st[i].has_map[units] = 1;
        }
        if (ps.n == before)
            break;
    }
    /* 4. matrices still undecided: both axes recovered from the matrix itself (each pair
     * on its own, on the pool) */
    nk = 0;
    for (size_t i = 0; i < n && rc == SP_OK; i++)
        if (eligible(&rr->pairs[i]))
            idx[nk++] = i;
    if (rc == SP_OK)
        rc = sp_audit_par_for(nk, threads, lone_pair, &pc, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (eligible(&rr->pairs[i]))
            sp_audit_decide(&rr->pairs[i].st);
        free(st[i].seen);
    }
    for (size_t k = 0; k < ps.n; k++)
        free(ps.k[k].map);
    free(ps.k);
    free(st);
    free(idx);
    free(maps);
    free(w);
    return rc;
}
