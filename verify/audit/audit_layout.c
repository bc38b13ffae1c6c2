/*
 * audit_layout.c - pairing up to a layout change for `scratchproof audit`
 * (audit.h, SPEC.md 10.2 "Layouts"). A format conversion stores the same
 * numbers in another axis order (TFLite conv kernels OHWI, TensorFlow HWIO,
 * a transposed Linear), and a refactoring fuses projections (one QKV matrix
 * for three) or splits them. The tensors left unpaired by name and by
 * same-shape content are paired here:
 *
 *   axes    same elements, shape a permutation of the reference's: greedy by
 *           content signature (invariant to the axis order); every axis
 *           order consistent with the shapes is a candidate, tried in turn
 *           (Bonferroni over the candidates, in audit_run.c)
 *   slice   the reference holds k * rows of the same row shape (2 <= k <=
 *           8): a is one of its row blocks, chosen by the block's signature
 *   stack   a holds k * rows: its row blocks are k reference tensors, each
 *           chosen by signature; the reference tensors are stacked in
 *           that order into one buffer
 *
 * Same-shape pairs with equal dimensions (square matrices, conv kernels
 * with I = O) also get their other axis orders as candidates, so that a
 * transposed square matrix is found.
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AXES_MAX_NDIM 4     /* more dimensions: the axis order is not searched */
#define STACK_MIN 2

static uint64_t numel_of(const sp_tensor *t)
{
    uint64_t n = 0;
    return sp_shape_numel(&n, t->shape, t->ndim) == SP_OK ? n : 0;
}

static int same_multiset(const sp_tensor *a, const sp_tensor *b)
{
    if (a->ndim != b->ndim || a->ndim < 2 || a->ndim > AXES_MAX_NDIM)
        return 0;
    uint64_t x[SP_MAX_DIMS], y[SP_MAX_DIMS];
    memcpy(x, a->shape, sizeof x);
    memcpy(y, b->shape, sizeof y);
    for (uint32_t i = 0; i < a->ndim; i++) {
        uint32_t j = i;
        while (j < a->ndim && y[j] != x[i])
            j++;
        if (j == a->ndim)
            return 0;
        uint64_t t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
    return 1;
}

static int same_shape(const sp_tensor *a, const sp_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (uint32_t d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* b's shape is k blocks of a's rows (k in [2, 8]); returns k or 0. */
static uint64_t blocks_of(const sp_tensor *big, const sp_tensor *small)
{
    if (big->ndim != small->ndim || big->ndim < 2 || small->shape[0] == 0)
        return 0;
    for (uint32_t d = 1; d < big->ndim; d++)
        if (big->shape[d] != small->shape[d])
            return 0;
    if (big->shape[0] % small->shape[0] != 0)
        return 0;
    uint64_t k = big->shape[0] / small->shape[0];
    return k >= STACK_MIN && k <= SP_AUDIT_STACK_MAX ? k : 0;
}

static size_t elem_size(sp_dtype dt)
{
    return dt == SP_DTYPE_F64 ? 8 : dt == SP_DTYPE_F32 ? 4 : 2;
}

/* Row block j (of rows rows) of t as a tensor of its own, sharing t's data. */
static sp_tensor block(const sp_tensor *t, uint64_t rows, uint64_t j)
{
    sp_tensor v = *t;
    uint64_t per = numel_of(t) / t->shape[0] * rows;
    v.shape[0] = rows;
    v.data = (const uint8_t *)t->data + j * per * elem_size(t->dtype);
    v.nbytes = per * elem_size(t->dtype);
    return v;
}

typedef struct cand {
    double d;
    size_t i, j;
    uint64_t k;
} cand;

static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->d != b->d)
        return a->d < b->d ? -1 : 1;
    if (a->i != b->i)
        return a->i < b->i ? -1 : 1;
    if (a->j != b->j)
        return a->j < b->j ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

static int push(cand **cs, size_t *n, size_t *cap, cand c)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        cand *p = realloc(*cs, nc * sizeof *p);
        if (p == NULL)
            return SP_ENOMEM;
        *cs = p;
        *cap = nc;
    }
    (*cs)[(*n)++] = c;
    return SP_OK;
}

static int ok_tensor(const sp_tensor *t)
{
    return sp_audit_dtype_ok(t->dtype) && t->ndim >= 2 && numel_of(t) >= 4;
}

double sp_audit_layer_penalty(const char *x, const char *y)
{
    unsigned long nx[8], ny[8];
    size_t kx = 0, ky = 0;
    for (const char *s = x; *s && kx < 8; s++)
        if (*s >= '0' && *s <= '9' && (s == x || s[-1] < '0' || s[-1] > '9'))
            nx[kx++] = strtoul(s, NULL, 10);
    for (const char *s = y; *s && ky < 8; s++)
        if (*s >= '0' && *s <= '9' && (s == y || s[-1] < '0' || s[-1] > '9'))
            ny[ky++] = strtoul(s, NULL, 10);
    if (kx == 0 || ky == 0)
        return 0.0;
    for (size_t i = 0; i < kx; i++)
        for (size_t j = 0; j < ky; j++)
            if (nx[i] == ny[j])
                return 0.0;
    return 1.0;
}

int sp_audit_layout_pair_names(sp_audit_refres *rr, const sp_audit_model *m, char *used)
{
    size_t na = sp_audit_model_count(m), nb = sp_audit_model_count(rr->model);
    for (size_t i = 0; i < na; i++) {
        sp_audit_pair *p = &rr->pairs[i];
        if (p->b != NULL || !ok_tensor(p->a))
            continue;
        for (size_t j = 0; j < nb; j++) {
            const sp_tensor *b = sp_audit_model_tensor(rr->model, j);
            if (used[j] || strcmp(b->name, p->a->name) != 0 || !ok_tensor(b) || same_shape(p->a, b) ||
                !same_multiset(p->a, b))
                continue;
            p->b = b;
            p->cmp = b;
            p->layout = SP_AUDIT_LAYOUT_AXES;
            used[j] = 1;
            rr->paired++;
            break;
        }
    }
    return SP_OK;
}

/* One way to see a fused tensor a as k reference tensors stacked. */
typedef struct stack_opt {
    double d;               /* mean distance of the blocks */
    size_t i;               /* the pair */
    uint64_t k;
    size_t pj[SP_AUDIT_STACK_MAX];  /* reference tensor of each block */
} stack_opt;

static int stack_cmp(const void *x, const void *y)
{
    const stack_opt *a = x, *b = y;
    if (a->d != b->d)
        return a->d < b->d ? -1 : 1;
    if (a->i != b->i)
        return a->i < b->i ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

int sp_audit_layout_pair(sp_audit_refres *rr, const sp_audit_model *m, char *used)
{
    size_t na = sp_audit_model_count(m), nb = sp_audit_model_count(rr->model);
    cand *cs = NULL;
    size_t nc = 0, cap = 0;
    int rc = SP_OK;
    sp_audit_sig sa, sb;

    /* axes: the same elements in another axis order */
    for (size_t i = 0; i < na && rc == SP_OK; i++) {
        const sp_tensor *a = rr->pairs[i].a;
        if (rr->pairs[i].b != NULL || !ok_tensor(a))
            continue;
        sp_audit_signature(&sa, a);
        for (size_t j = 0; j < nb && rc == SP_OK; j++) {
            const sp_tensor *b = sp_audit_model_tensor(rr->model, j);
            if (used[j] || !ok_tensor(b) || same_shape(a, b) || !same_multiset(a, b))
                continue;
            sp_audit_signature(&sb, b);
            rc = push(&cs, &nc, &cap, (cand){sp_audit_sig_distance(&sa, &sb) + sp_audit_layer_penalty(a->name, b->name),
                                             i, j, 0});
        }
    }
    if (rc == SP_OK && nc > 0) {
        qsort(cs, nc, sizeof *cs, cand_cmp);
        for (size_t k = 0; k < nc; k++) {
            sp_audit_pair *p = &rr->pairs[cs[k].i];
            if (p->b != NULL || used[cs[k].j])
                continue;
            p->b = sp_audit_model_tensor(rr->model, cs[k].j);
            p->by_content = 1;
            p->layout = SP_AUDIT_LAYOUT_AXES;
            used[cs[k].j] = 1;
            rr->paired++;
            rr->by_content++;
        }
    }

    /* slice: a is a row block of a fused reference tensor */
    nc = 0;
    uint8_t *taken = calloc(nb ? nb : 1, 1);     /* bit j: block j of reference tensor taken */
    if (taken == NULL)
        rc = SP_ENOMEM;
    for (size_t i = 0; i < na && rc == SP_OK; i++) {
        const sp_tensor *a = rr->pairs[i].a;
        if (rr->pairs[i].b != NULL || !ok_tensor(a))
            continue;
        sp_audit_signature(&sa, a);
        for (size_t j = 0; j < nb && rc == SP_OK; j++) {
            const sp_tensor *b = sp_audit_model_tensor(rr->model, j);
            uint64_t k = used[j] || !sp_audit_dtype_ok(b->dtype) ? 0 : blocks_of(b, a);
            for (uint64_t q = 0; q < k && rc == SP_OK; q++) {
                sp_tensor v = block(b, a->shape[0], q);
                sp_audit_signature(&sb, &v);
                rc = push(&cs, &nc, &cap, (cand){sp_audit_sig_distance(&sa, &sb) + sp_audit_layer_penalty(a->name, b->name),
                                                 i, j, q});
            }
        }
    }
    if (rc == SP_OK && nc > 0) {
        qsort(cs, nc, sizeof *cs, cand_cmp);
        for (size_t k = 0; k < nc; k++) {
            sp_audit_pair *p = &rr->pairs[cs[k].i];
            if (p->b != NULL || used[cs[k].j] || (taken[cs[k].j] >> cs[k].k) & 1)
                continue;
            const sp_tensor *b = sp_audit_model_tensor(rr->model, cs[k].j);
            p->b = b;
            p->by_content = 1;
            p->layout = SP_AUDIT_LAYOUT_SLICE;
            p->slice_lo = cs[k].k * p->a->shape[0];
            p->slice_hi = p->slice_lo + p->a->shape[0];
            p->view = block(b, p->a->shape[0], cs[k].k);
            p->cmp = &p->view;
            taken[cs[k].j] |= (uint8_t)(1u << cs[k].k);
            rr->paired++;
            rr->by_content++;
        }
        for (size_t j = 0; j < nb; j++)
            if (taken[j])
                used[j] = 1;
    }
    free(taken);

    /* stack: a is fused, its row blocks are reference tensors; every (a, k) option
     * is assigned greedily block by block, then the options are taken best first */
    stack_opt *opts = NULL;
    size_t nopt = 0, capopt = 0;
    for (size_t i = 0; i < na && rc == SP_OK; i++) {
        const sp_tensor *a = rr->pairs[i].a;
        if (rr->pairs[i].b != NULL || !ok_tensor(a))
            continue;
        for (uint64_t k = STACK_MIN; k <= SP_AUDIT_STACK_MAX && rc == SP_OK; k++) {
            if (a->shape[0] % k != 0)
                continue;
            uint64_t rows = a->shape[0] / k;
            nc = 0;
            for (uint64_t q = 0; q < k && rc == SP_OK; q++) {
                sp_tensor v = block(a, rows, q);
                sp_audit_signature(&sa, &v);
                for (size_t j = 0; j < nb && rc == SP_OK; j++) {
                    const sp_tensor *b = sp_audit_model_tensor(rr->model, j);
                    if (used[j] || !sp_audit_dtype_ok(b->dtype) || !same_shape(&v, b))
                        continue;
                    sp_audit_signature(&sb, b);
                    rc = push(&cs, &nc, &cap, (cand){sp_audit_sig_distance(&sa, &sb) +
                                                         sp_audit_layer_penalty(a->name, b->name),
                                                     (size_t)q, j, 0});
                }
            }
            if (rc != SP_OK || nc < k)
                continue;
            qsort(cs, nc, sizeof *cs, cand_cmp);
            stack_opt o = {0, i, k, {0}};
            int have[SP_AUDIT_STACK_MAX] = {0};
            size_t got = 0;
            for (size_t c = 0; c < nc && got < k; c++) {
                int dup = have[cs[c].i];
                for (size_t g = 0; g < k && !dup; g++)
                    dup = have[g] && o.pj[g] == cs[c].j;
                if (dup)
                    continue;
                have[cs[c].i] = 1;
                o.pj[cs[c].i] = cs[c].j;
                o.d += cs[c].d / (double)k;
                got++;
            }
            if (got < k)
                continue;
            if (nopt == capopt) {
                size_t ncap = capopt ? 2 * capopt : 16;
                stack_opt *q2 = realloc(opts, ncap * sizeof *q2);
                if (q2 == NULL) {
                    rc = SP_ENOMEM;
                    break;
                }
                opts = q2;
                capopt = ncap;
            }
            opts[nopt++] = o;
        }
    }
    if (rc == SP_OK && nopt > 0)
        qsort(opts, nopt, sizeof *opts, stack_cmp);
    for (size_t t = 0; t < nopt && rc == SP_OK; t++) {
        sp_audit_pair *p = &rr->pairs[opts[t].i];
        uint64_t k = opts[t].k;
        int free_all = p->b == NULL;
        for (uint64_t q = 0; q < k && free_all; q++)
            free_all = !used[opts[t].pj[q]];
        if (!free_all)
            continue;
        uint64_t n = numel_of(p->a), per = n / k;
        float *buf = malloc(n * sizeof *buf);
        if (buf == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        for (uint64_t q = 0; q < k; q++) {
            p->stack[q] = sp_audit_model_tensor(rr->model, opts[t].pj[q]);
            sp_audit_to_float(buf + q * per, p->stack[q], 0, per);
            used[opts[t].pj[q]] = 1;
        }
        p->b = p->stack[0];
        p->by_content = 1;
        p->layout = SP_AUDIT_LAYOUT_STACK;
        p->nstack = (size_t)k;
        p->owned = buf;
        p->view = *p->a;
        p->view.name = p->b->name;
        p->view.dtype = SP_DTYPE_F32;
        p->view.data = buf;
        p->view.nbytes = n * sizeof(float);
        p->cmp = &p->view;
        rr->paired++;
        rr->by_content++;
    }
    free(opts);
    free(cs);
    return rc;
}

/* ------------------------------------------------------------ axis orders */

void sp_audit_layout_candidates(sp_audit_pair *p)
{
    p->nlayouts = 0;
    if (p->b == NULL || p->layout == SP_AUDIT_LAYOUT_SLICE || p->layout == SP_AUDIT_LAYOUT_STACK)
        return;
    const sp_tensor *a = p->a, *b = p->b;
    uint32_t n = a->ndim;
    if (n < 2 || n > AXES_MAX_NDIM || b->ndim != n) {
        p->nlayouts = 1;    /* the same layout only */
        for (uint32_t k = 0; k < SP_MAX_DIMS; k++)
            p->cand[0][k] = (uint8_t)k;
        return;
    }
    /* every permutation s of n axes with b->shape[s[k]] == a->shape[k], identity first */
    static const uint8_t perms4[24][4] = {
        {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
        {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
        {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
        {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0}};
    for (size_t q = 0; q < 24; q++) {
        int ok = 1;
        for (uint32_t k = 0; k < 4 && ok; k++) {
            uint8_t s = perms4[q][k];
            if (k >= n)
                ok = s == k;            /* the unused trailing axes stay put */
            else
                ok = s < n && b->shape[s] == a->shape[k];
        }
        if (!ok)
            continue;
        for (uint32_t k = 0; k < SP_MAX_DIMS; k++)
            p->cand[p->nlayouts][k] = (uint8_t)(k < 4 ? perms4[q][k] : k);
        p->nlayouts++;
    }
}

/* dst (shape dshape, ndim n) = src with dst axis k = src axis s[k]; floats, owned by the caller. */
static float *relay(const sp_tensor *src, const uint8_t *s, const uint64_t *dshape, uint32_t n)
{
    uint64_t total = numel_of(src);
    float *in = malloc(total * sizeof *in), *out = malloc(total * sizeof *out);
    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return NULL;
    }
    sp_audit_to_float(in, src, 0, total);
    uint64_t sstride[SP_MAX_DIMS], st[SP_MAX_DIMS], idx[SP_MAX_DIMS] = {0}, acc = 1;
    for (uint32_t d = n; d-- > 0;) {
        sstride[d] = acc;
        acc *= src->shape[d];
    }
    for (uint32_t d = 0; d < n; d++)
        st[d] = sstride[s[d]];
    uint64_t off = 0;
    for (uint64_t i = 0; i < total; i++) {
        out[i] = in[off];
        for (uint32_t d = n; d-- > 0;) {     /* odometer over dst's index */
            idx[d]++;
            off += st[d];
            if (idx[d] < dshape[d])
                break;
            off -= st[d] * idx[d];
            idx[d] = 0;
        }
    }
    free(in);
    return out;
}

static void float_view(sp_tensor *v, const sp_tensor *like, const uint64_t *shape, const float *data)
{
    *v = *like;
    memcpy(v->shape, shape, sizeof v->shape);
    v->dtype = SP_DTYPE_F32;
    v->data = data;
    v->nbytes = numel_of(like) * sizeof(float);
}

int sp_audit_layout_view(sp_audit_pair *p, unsigned k)
{
    const sp_tensor *a = p->a, *b = p->b;
    const uint8_t *s = p->cand[k];
    free(p->owned);
    free(p->aowned);
    p->owned = NULL;
    p->aowned = NULL;
    p->acmp = a;
    p->swapped = 0;
    int identity = 1;
    for (uint32_t d = 0; d < a->ndim; d++)
        identity &= s[d] == d;
    memcpy(p->axes, s, sizeof p->axes);
    if (identity) {
        p->layout = SP_AUDIT_LAYOUT_SAME;
        p->cmp = b;
        return SP_OK;
    }
    p->layout = SP_AUDIT_LAYOUT_AXES;
    if (b->shape[0] > a->shape[0]) {
        /* the reference's order puts more units first (OIHW over HWIO): a goes to it */
        uint8_t inv[SP_MAX_DIMS];
        for (uint32_t d = 0; d < a->ndim; d++)
            inv[s[d]] = (uint8_t)d;
        p->aowned = relay(a, inv, b->shape, a->ndim);
        if (p->aowned == NULL)
            return SP_ENOMEM;
        float_view(&p->aview, a, b->shape, p->aowned);
        p->acmp = &p->aview;
        p->cmp = b;
        p->swapped = 1;
        return SP_OK;
    }
    p->owned = relay(b, s, a->shape, a->ndim);
    if (p->owned == NULL)
        return SP_ENOMEM;
    float_view(&p->view, b, a->shape, p->owned);
    p->cmp = &p->view;
    return SP_OK;
}

/* Spatial axes last and smallest: looks like an OIHW kernel. */
static int oihw_like(const sp_tensor *t)
{
    uint64_t m = t->shape[0] < t->shape[1] ? t->shape[0] : t->shape[1];
    return t->ndim == 4 && t->shape[2] <= m && t->shape[3] <= m && t->shape[2] < 16 && t->shape[3] < 16;
}

void sp_audit_layout_text(char *out, size_t len, const sp_audit_pair *p)
{
    out[0] = '\0';
    if (p->b == NULL)
        return;
    switch (p->layout) {
    case SP_AUDIT_LAYOUT_AXES:
        if (p->a->ndim == 2) {
            snprintf(out, len, "transposed");
        } else if (p->a->ndim == 4 && (oihw_like(p->b) || oihw_like(p->a))) {
            /* axis k of a is axis axes[k] of b; letters relative to whichever looks OIHW */
            char name[5] = "????";
            int ref_oihw = oihw_like(p->b) && !(oihw_like(p->a) && p->a->shape[0] >= p->b->shape[0]);
            for (uint32_t k = 0; k < 4; k++) {
                if (ref_oihw)
                    name[k] = "OIHW"[p->axes[k]];
                else
                    name[p->axes[k]] = "OIHW"[k];
            }
            if (ref_oihw)
                snprintf(out, len, "stored %s here, OIHW in the reference", name);
            else
                snprintf(out, len, "reference stored %s, read as OIHW", name);
        } else {
            snprintf(out, len, "reference axes (%u,%u,%u) read as (0,1,2)", p->axes[0], p->axes[1],
                     p->axes[2]);
        }
        break;
    case SP_AUDIT_LAYOUT_SLICE:
        snprintf(out, len, "rows %llu..%llu of a fused reference tensor of %llu rows",
                 (unsigned long long)p->slice_lo, (unsigned long long)p->slice_hi - 1,
                 (unsigned long long)p->b->shape[0]);
        break;
    case SP_AUDIT_LAYOUT_STACK:
        snprintf(out, len, "fused here: %zu reference tensors stacked by rows", p->nstack);
        break;
    default:
        break;
    }
}
