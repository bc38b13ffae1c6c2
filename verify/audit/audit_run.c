/*
 * audit_run.c - one audit (audit.h): tensors are grouped into components,
 * paired with each reference (by name, then renamed ones by shape and
 * content), compared on worker threads, and given verdicts: Fisher's method
 * over a component's matrices, Bonferroni over all (component, reference)
 * tests for the family-wise level alpha.
 */
#include "audit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Wrappers that name no part of a model, skipped by the automatic component names. */
static const char *const wrappers[] = {"model", "module", "transformer", "base_model",
                                       "_orig_mod", "backbone", "language_model"};

static int is_number(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Length of a segment without a "_123" numbering suffix, or n when it has none. */
static size_t unnumbered(const char *s, size_t n)
{
    size_t k = n;
    while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9')
        k--;
    return k < n && k >= 2 && s[k - 1] == '_' ? k - 1 : n;
}

static int is_sep(char c)
{
    return c == '.' || c == '/';
}

static const char *last_sep(const char *s, size_t n)
{
    while (n-- > 0)
        if (is_sep(s[n]))
            return s + n;
    return NULL;
}

static const char *next_sep(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_sep(s[i]))
            return s + i;
    return NULL;
}

void sp_audit_component_name(char *out, const char *name, unsigned depth)
{
    size_t len = strnlen(name, SP_NAME_MAX);
    const char *last = last_sep(name, len);
    size_t stem = last ? (size_t)(last - name) : len;   /* without ".weight", "/kernel:0" */
    size_t end = 0, segs = 0, want = depth ? depth : 1;
    while (end < stem && segs < want) {
        const char *dot = next_sep(name + end, stem - end);
        size_t seg_end = dot ? (size_t)(dot - name) : stem;
        if (depth == 0 && segs == 0) {
            for (size_t w = 0; w < sizeof wrappers / sizeof wrappers[0]; w++)
                if (seg_end - end == strlen(wrappers[w]) &&
                    memcmp(name + end, wrappers[w], seg_end - end) == 0 && seg_end < stem)
                    want = 2;
        }
        if (depth == 0 && segs > 0 && is_number(name + end, seg_end - end))
            break;  /* "model.layers.0": stop before the layer number */
        if (depth == 0) {
            size_t u = unnumbered(name + end, seg_end - end);
            if (u < seg_end - end) {    /* "conv2d_107", "dense_3": numbered layers of one kind */
                end += u;
                segs++;
                break;
            }
        }
        end = seg_end;
        segs++;
        if (end < stem)
            end++;  /* skip the separator */
    }
    if (end > 0 && end <= stem && is_sep(name[end - 1]))
        end--;
    if (end == 0)
        end = len;
    memcpy(out, name, end);
    out[end] = '\0';
}

static void comp_key(char *out, const char *name, const sp_audit_options *opt)
{
    size_t bestlen = 0;
    for (size_t i = 0; i < opt->nprefixes; i++) {
        size_t pl = strlen(opt->prefixes[i]);
        if (pl > bestlen && strncmp(name, opt->prefixes[i], pl) == 0) {
            bestlen = pl;
            size_t k = pl;
            while (k > 0 && (opt->prefixes[i][k - 1] == '.' || opt->prefixes[i][k - 1] == '*'))
                k--;
            if (k > SP_NAME_MAX)
                k = SP_NAME_MAX;
            memcpy(out, opt->prefixes[i], k);
            out[k] = '\0';
        }
    }
    if (bestlen == 0)
        sp_audit_component_name(out, name, opt->depth);
}

static uint64_t numel(const sp_tensor *t)
{
    uint64_t n = 0;
    return sp_shape_numel(&n, t->shape, t->ndim) == SP_OK ? n : 0;
}

static int same_shape(const sp_tensor *x, const sp_tensor *y)
{
    if (x->ndim != y->ndim)
        return 0;
    for (uint32_t d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d])
            return 0;
    return sp_audit_dtype_ok(x->dtype) && sp_audit_dtype_ok(y->dtype);
}

typedef struct cand {
    double d;
    size_t i, j;
} cand;

static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->d != b->d)
        return a->d < b->d ? -1 : 1;
    if (a->i != b->i)
        return a->i < b->i ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* Pairs by name, then the rest by shape and content signature (greedy, closest first). */
static int pair_tensors(sp_audit_refres *rr, const sp_audit_model *m)
{
    size_t na = sp_audit_model_count(m), nb = sp_audit_model_count(rr->model);
    char *used = calloc(nb ? nb : 1, 1);
    if (used == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < na; i++) {
        const sp_tensor *a = sp_audit_model_tensor(m, i);
        rr->pairs[i].a = a;
        rr->pairs[i].acmp = a;
        /* the reference is sorted by name: a binary search, not a scan (near-linear) */
        const sp_tensor *b = sp_audit_model_find(rr->model, a->name);
        size_t j = b ? (size_t)(b - sp_audit_model_tensor(rr->model, 0)) : nb;
        if (b != NULL && !used[j] && same_shape(a, b)) {
            rr->pairs[i].b = b;
            rr->pairs[i].cmp = b;
            used[j] = 1;
            rr->paired++;
        }
    }
    int rc0 = sp_audit_layout_pair_names(rr, m, used);
    if (rc0 != SP_OK) {
        free(used);
        return rc0;
    }
    sp_audit_sig *sa = calloc(na ? na : 1, sizeof *sa), *sb = calloc(nb ? nb : 1, sizeof *sb);
    size_t nc = 0, cap = 0;
    cand *cs = NULL;
    int rc = SP_OK;
    if (sa == NULL || sb == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < nb; j++)
        if (!used[j])
            sp_audit_signature(&sb[j], sp_audit_model_tensor(rr->model, j));
    for (size_t i = 0; i < na && rc == SP_OK; i++) {
        if (rr->pairs[i].b != NULL || numel(rr->pairs[i].a) < 2)
            continue;
        sp_audit_signature(&sa[i], rr->pairs[i].a);
        for (size_t j = 0; j < nb; j++) {
            if (used[j] || !same_shape(rr->pairs[i].a, sp_audit_model_tensor(rr->model, j)))
                continue;
            if (nc == cap) {
                cap = cap ? 2 * cap : 64;
                cand *n2 = realloc(cs, cap * sizeof *cs);
                if (n2 == NULL) {
                    rc = SP_ENOMEM;
                    break;
                }
                cs = n2;
            }
            cs[nc++] = (cand){sp_audit_sig_distance(&sa[i], &sb[j]) +
                                  sp_audit_layer_penalty(rr->pairs[i].a->name, sp_audit_model_tensor(rr->model, j)->name),
                              i, j};
        }
    }
    if (rc == SP_OK && nc > 0) {
        qsort(cs, nc, sizeof *cs, cand_cmp);
        for (size_t k = 0; k < nc; k++)
            if (rr->pairs[cs[k].i].b == NULL && !used[cs[k].j]) {
                rr->pairs[cs[k].i].b = sp_audit_model_tensor(rr->model, cs[k].j);
                rr->pairs[cs[k].i].cmp = rr->pairs[cs[k].i].b;
                rr->pairs[cs[k].i].by_content = 1;
                used[cs[k].j] = 1;
                rr->paired++;
                rr->by_content++;
            }
    }
    if (rc == SP_OK)
        rc = sp_audit_layout_pair(rr, m, used);
out:
    free(cs);
    free(sa);
    free(sb);
    free(used);
    return rc;
}

/* ------------------------------------------------------------ workers */

/* One item of work on the pool: a pair to compare, or a model tensor to check for a fixed kind. */
typedef struct job {
    sp_audit_pair *pair;      /* NULL: the fixed-kind check of model tensor `tensor` */
    size_t tensor;
    uint64_t seed, size;
} job;

typedef struct job_ctx {
    job *jobs;
    const sp_audit_model *model;
    int *fixed_of;
} job_ctx;

#define LAYOUT_STOP (-10.0)  /* a layout this significant: the others are not tried */
#define LAYOUT_PICK (-6.0)   /* another layout than the first counts only this significant */

/* Compares a pair in each candidate layout; the most significant counts, Bonferroni over all. */
static int compare_pair(sp_audit_pair *p, uint64_t seed)
{
    if (p->layout == SP_AUDIT_LAYOUT_SLICE || p->layout == SP_AUDIT_LAYOUT_STACK) {
        int rc = sp_audit_compare(&p->st, p->acmp, p->cmp, seed);
        p->st.nlayouts = 1;
        return rc;
    }
    sp_audit_layout_candidates(p);
    sp_audit_pairstats best, cur, first;
    memset(&best, 0, sizeof best);
    memset(&first, 0, sizeof first);
    unsigned kbest = 0, klast = 0;
    int rc = SP_OK;
    for (unsigned k = 0; k < p->nlayouts && rc == SP_OK; k++) {
        if (k > 0 && best.log10p < LAYOUT_STOP)
            break;
        if ((rc = sp_audit_layout_view(p, k)) != SP_OK)
            break;
        klast = k;
        rc = sp_audit_compare(&cur, p->acmp, p->cmp, seed);
        if (k == 0)
            first = cur;
        if (rc == SP_OK && (k == 0 || cur.log10p < best.log10p)) {
            best = cur;
            kbest = k;
        }
    }
    /* no layout stands out: keep the first (the stored one when shapes agree), so that
     * carried permutations (audit_perm.c) align the tensor as stored */
    if (kbest != 0 && best.log10p > LAYOUT_PICK) {
        best = first;
        kbest = 0;
    }
    if (rc == SP_OK && p->nlayouts > 0 && kbest != klast)
        rc = sp_audit_layout_view(p, kbest);
    p->st = best;
    p->st.nlayouts = p->nlayouts;
    sp_audit_decide(&p->st);
    return rc;
}

/*
 * A tensor as F32 for the statistics: the mapping itself when it is aligned F32, else
 * converted once here (each statistic would otherwise convert it again, row by row).
 */
static int as_f32(sp_tensor *tmp, float **buf, const sp_tensor *t)
{
    *buf = NULL;
    *tmp = *t;
    uint64_t n = numel(t);
    if (t->dtype == SP_DTYPE_F32 && ((uintptr_t)t->data & 3) == 0)
        return SP_OK;
    if (n > SIZE_MAX / sizeof(float) || (*buf = malloc((size_t)(n ? n : 1) * sizeof(float))) == NULL)
        return SP_ENOMEM;
    sp_audit_to_float(*buf, t, 0, n);
    tmp->dtype = SP_DTYPE_F32;
    tmp->data = *buf;
    tmp->nbytes = n * sizeof(float);
    return SP_OK;
}

/* compare_pair on F32 copies of a and b (converted once), then the originals put back. */
static int compare_converted(sp_audit_pair *p, uint64_t seed)
{
    sp_tensor ta, tb;
    float *ba = NULL, *bb = NULL;
    const sp_tensor *a = p->a, *b = p->b;
    if (!sp_audit_dtype_ok(a->dtype) || !sp_audit_dtype_ok(b->dtype) ||
        (a->dtype == SP_DTYPE_F32 && b->dtype == SP_DTYPE_F32))
        return compare_pair(p, seed);
    int rc = as_f32(&ta, &ba, a);
    if (rc == SP_OK)
        rc = as_f32(&tb, &bb, b);
    if (rc == SP_OK) {
        p->a = &ta;
        p->b = &tb;
        if (p->acmp == a)
            p->acmp = &ta;
        if (p->cmp == b)
            p->cmp = &tb;
        rc = compare_pair(p, seed);
        if (p->acmp == &ta)
            p->acmp = a;
        if (p->cmp == &tb)
            p->cmp = b;
        p->a = a;
        p->b = b;
    }
    free(ba);
    free(bb);
    return rc;
}

static int run_job(void *arg, size_t i)
{
    job_ctx *q = arg;
    job *j = &q->jobs[i];
    if (j->pair == NULL) {
        q->fixed_of[j->tensor] = sp_audit_fixed_kind(sp_audit_model_tensor(q->model, j->tensor));
        return SP_OK;
    }
    return compare_converted(j->pair, j->seed);
}

static int job_cmp(const void *x, const void *y)
{
    const job *a = x, *b = y;
    if (a->size != b->size)
        return (a->size < b->size) - (a->size > b->size);   /* largest first */
    /* then a stable order (qsort is not stable): fixed checks first, by tensor, then pairs */
    if ((a->pair == NULL) != (b->pair == NULL))
        return a->pair == NULL ? -1 : 1;
    if (a->pair == NULL)
        return (a->tensor > b->tensor) - (a->tensor < b->tensor);
    return (a->pair > b->pair) - (a->pair < b->pair);
}

/*
 * Every job on the pool, largest first (so that a big tensor does not start last). Each
 * writes only its own pair or fixed_of slot: the results do not depend on the threads.
 */
static int run_jobs(job *jobs, size_t n, const sp_audit_model *model, int *fixed_of,
                    const sp_audit_options *opt)
{
    qsort(jobs, n, sizeof *jobs, job_cmp);
    uint64_t *w = malloc((n ? n : 1) * sizeof *w), total = 0;
    if (w == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < n; i++)
        total += w[i] = jobs[i].pair != NULL ? jobs[i].size : 0;   /* bytes compared */
    sp_progress pg = {0};
    if (opt->progress != NULL && opt->progress->fn != NULL)
        pg = (sp_progress){opt->progress->fn, opt->progress->ctx, "comparing", 0, total};
    job_ctx q = {jobs, model, fixed_of};
    int rc = sp_audit_par_for(n, opt->threads, run_job, &q, w, pg.fn ? &pg : NULL);
    free(w);
    return rc;
}

/* ------------------------------------------------------------ the audit */

void sp_audit_result_free(sp_audit_result *res)
{
    if (res == NULL)
        return;
    for (size_t c = 0; c < res->ncomp; c++) {
        free(res->comp[c].name);
        free(res->comp[c].ref);
    }
    free(res->comp);
    for (size_t r = 0; r < res->nref; r++) {
        for (size_t i = 0; i < res->ref[r].npairs && res->ref[r].pairs; i++)
        {
            free(res->ref[r].pairs[i].owned);
            free(res->ref[r].pairs[i].aowned);
            free(res->ref[r].pairs[i].prop_from);
        }
        free(res->ref[r].pairs);
    }
    free(res->ref);
    memset(res, 0, sizeof *res);
}

static int build_components(sp_audit_result *res, size_t *comp_of, const sp_audit_options *opt)
{
    size_t na = sp_audit_model_count(res->model);
    res->comp = calloc(na ? na : 1, sizeof *res->comp);
    if (res->comp == NULL)
        return SP_ENOMEM;
    /* open addressing on the component names (FNV-1a): one lookup per tensor, not a scan */
    size_t cap = 16;
    while (cap < 2 * na)
        cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (slot == NULL)
        return SP_ENOMEM;
    for (size_t k = 0; k < cap; k++)
        slot[k] = SIZE_MAX;
    char key[SP_NAME_MAX + 1];
    for (size_t i = 0; i < na; i++) {
        const sp_tensor *t = sp_audit_model_tensor(res->model, i);
        comp_key(key, t->name, opt);
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *q = key; *q; q++)
            h = (h ^ (unsigned char)*q) * 0x100000001b3ull;
        size_t k = (size_t)h & (cap - 1);
        while (slot[k] != SIZE_MAX && strcmp(res->comp[slot[k]].name, key) != 0)
            k = (k + 1) & (cap - 1);
        size_t c = slot[k] != SIZE_MAX ? slot[k] : res->ncomp;
        if (c == res->ncomp) {
            slot[k] = c;
            res->comp[c].name = strdup(key);
            res->comp[c].ref = calloc(res->nref ? res->nref : 1, sizeof *res->comp[c].ref);
            res->ncomp++;
            if (res->comp[c].name == NULL || res->comp[c].ref == NULL) {
                free(slot);
                return SP_ENOMEM;
            }
        }
        comp_of[i] = c;
        res->comp[c].params += numel(t);
        res->params += numel(t);
    }
    free(slot);
    for (size_t c = 0; c < res->ncomp; c++)
        res->comp[c].share = res->params ? (double)res->comp[c].params / (double)res->params : 0.0;
    return SP_OK;
}

static int is_matrix_shape(const sp_tensor *t)
{
    uint64_t n = numel(t);
    return t->ndim >= 2 && t->shape[0] >= 2 && n / t->shape[0] >= 2;
}

/* The test that decided a matrix pair, in words, into out. */
static void decided_by(char *out, size_t len, const sp_audit_pair *p)
{
    const sp_audit_pairstats *st = &p->st;
    double lp = 0.0;
    int which = -1;
    const sp_audit_stat *t[4] = {&st->pearson, &st->matched, &st->exact, &st->prop};
    for (int k = 0; k < 4; k++) {
        double v = t[k]->log10p + (k == 3 && st->prop_tried ? log10((double)st->prop_tried) : 0.0);
        if (t[k]->valid && v < lp) {
            lp = v;
            which = k;
        }
    }
    char lay[160];
    sp_audit_layout_text(lay, sizeof lay, p);
    char pre[200] = "";
    if (lay[0])
        snprintf(pre, sizeof pre, "%s; ", lay);
    switch (which) {
    case 0: snprintf(out, len, "%saligned Pearson %.3f", pre, st->pearson.value); break;
    case 1: snprintf(out, len, "%s%s matched %.3f with the %s permuted", pre,
                     st->matched_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "columns", st->matched.value,
                     st->matched_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "columns"); break;
    case 2: snprintf(out, len, "%s%.0f %% of the units are exactly the reference's", pre,
                     100.0 * st->exact.value); break;
    case 3: snprintf(out, len, "%sboth axes permuted: %s matched %.3f once the permutation of %s was carried over",
                     pre, st->prop_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "columns", st->prop.value,
                     p->prop_from ? p->prop_from : ""); break;
    default: snprintf(out, len, "%sno test beyond independent models", pre); break;
    }
}

/* The one-line reason of each component's verdict. */
static void reasons(sp_audit_result *res)
{
    size_t na = sp_audit_model_count(res->model);
    char pt[32], how[SP_NAME_MAX + 360];
    for (size_t c = 0; c < res->ncomp; c++) {
        sp_audit_component *cp = &res->comp[c];
        const sp_audit_comp_ref *cr = &cp->ref[cp->best_ref];
        const sp_audit_refres *rr = &res->ref[cp->best_ref];
        const sp_audit_pair *strongest = NULL;
        int fixed_kind = 0;
        size_t unpaired = 0, total = 0;
        for (size_t i = 0; i < na; i++) {
            const sp_audit_pair *p = &rr->pairs[i];
            if (p->component != c)
                continue;
            total++;
            if (p->fixed)
                fixed_kind |= 1 << p->fixed;
            if (p->b == NULL)
                unpaired++;
            else if (p->st.matrix && !p->fixed && (strongest == NULL || p->st.log10p < strongest->st.log10p))
                strongest = p;
        }
        if (cp->derived && strongest != NULL) {
            decided_by(how, sizeof how, strongest);
            snprintf(cp->reason, sizeof cp->reason,
                     "copied weights: %d matrix pair(s) combine to p %s; strongest %.120s (%.300s)",
                     cr->n_matrices, sp_audit_p_text(pt, cr->log10p), strongest->a->name, how);
        } else if (cr->n_matrices > 0) {
            snprintf(cp->reason, sizeof cp->reason,
                     "%d matrix pair(s) compared: no more alike than independently trained models (p %s)",
                     cr->n_matrices, sp_audit_p_text(pt, cr->log10p));
        } else if (fixed_kind) {
            char kinds[400] = "";
            size_t kl = 0;
            for (int k = SP_AUDIT_FIXED_FEW_VALUES; k <= SP_AUDIT_FIXED_PIECEWISE && kl < sizeof kinds; k++)
                if (fixed_kind & (1 << k))
                    kl += (size_t)snprintf(kinds + kl, sizeof kinds - kl, "%s%s", kl ? "; " : "",
                                           sp_audit_fixed_text(k));
            snprintf(cp->reason, sizeof cp->reason,
                     "untrained constant (%s): every model builds it alike; shown, never deciding", kinds);
        } else if (unpaired == total) {
            snprintf(cp->reason, sizeof cp->reason,
                     "nothing to compare: no reference tensor of this shape, layout and a float dtype");
        } else {
            snprintf(cp->reason, sizeof cp->reason,
                     "only vectors (norms, biases): alike in any two models, shown, never deciding");
        }
    }
}

/* Fail closed: the share of the model's matrix parameters compared with some reference. */
static void coverage(sp_audit_result *res)
{
    size_t na = sp_audit_model_count(res->model);
    for (size_t i = 0; i < na; i++) {
        const sp_tensor *a = sp_audit_model_tensor(res->model, i);
        if (!is_matrix_shape(a) || (res->nref > 0 && res->ref[0].pairs[i].fixed))
            continue;
        uint64_t n = numel(a);
        res->matrix_params += n;
        int compared = 0, dtype = !sp_audit_dtype_ok(a->dtype), layout = 0;
        for (size_t r = 0; r < res->nref; r++) {
            const sp_audit_pair *p = &res->ref[r].pairs[i];
            if (p->b != NULL && p->st.matrix)
                compared = 1;
            const sp_tensor *bn = sp_audit_model_find(res->ref[r].model, a->name);
            if (bn != NULL && !sp_audit_dtype_ok(bn->dtype))
                dtype = 1;
            for (size_t j = 0; j < sp_audit_model_count(res->ref[r].model) && !layout; j++) {
                const sp_tensor *b = sp_audit_model_tensor(res->ref[r].model, j);
                if (numel(b) == n && sp_audit_dtype_ok(b->dtype))
                    layout = 1;
            }
        }
        if (compared)
            res->compared_params += n;
        else if (dtype)
            res->uncompared_dtype += n;
        else if (layout)
            res->uncompared_layout += n;
        else
            res->uncompared_no_pair += n;
    }
    res->compared_share = res->matrix_params ? (double)res->compared_params / (double)res->matrix_params : 0.0;
    res->inconclusive = !res->derived && res->compared_share < 0.5;
}

/* Fisher per (component, reference), then Bonferroni over all informative tests. */
static int verdicts(sp_audit_result *res)
{
    size_t na = sp_audit_model_count(res->model);
    double *lp = malloc((na ? na : 1) * sizeof *lp);
    if (lp == NULL)
        return SP_ENOMEM;
    res->ntests = 0;
    for (size_t r = 0; r < res->nref; r++)
        for (size_t c = 0; c < res->ncomp; c++) {
            sp_audit_comp_ref *cr = &res->comp[c].ref[r];
            size_t k = 0;
            for (size_t i = 0; i < na; i++) {
                const sp_audit_pair *p = &res->ref[r].pairs[i];
                if (p->component != c || p->b == NULL)
                    continue;
                if (p->fixed)
                    cr->n_fixed++;
                else if (p->st.matrix)
                    lp[k++] = p->st.log10p;
                else
                    cr->n_vectors++;
            }
            cr->n_matrices = (int)k;
            cr->log10p = k ? sp_audit_fisher_log10(lp, k) : 0.0;
            if (k)
                res->ntests++;
        }
    free(lp);
    double la = log10(res->alpha), lk = log10(res->ntests ? (double)res->ntests : 1.0);
    res->log10p = 0.0;
    for (size_t r = 0; r < res->nref; r++)
        res->ref[r].log10p = 0.0;
    for (size_t c = 0; c < res->ncomp; c++) {
        sp_audit_component *cp = &res->comp[c];
        for (size_t r = 0; r < res->nref; r++) {
            sp_audit_comp_ref *cr = &cp->ref[r];
            cr->derived = cr->n_matrices > 0 && cr->log10p + lk < la;
            if (cr->derived) {
                cp->derived = 1;
                res->ref[r].derived = 1;
                res->derived = 1;
            }
            if (cr->log10p < cp->ref[cp->best_ref].log10p)
                cp->best_ref = r;
            double adj = cr->n_matrices ? fmin(0.0, cr->log10p + lk) : 0.0;
            if (adj < res->ref[r].log10p)
                res->ref[r].log10p = adj;
            if (adj < res->log10p)
                res->log10p = adj;
        }
    }
    coverage(res);
    reasons(res);
    return SP_OK;
}

int sp_audit_run(sp_audit_result *res, const char *model_path, sp_audit_model *model,
                 const char *const *ref_paths, sp_audit_model *const *refs, size_t n,
                 const sp_audit_options *opt)
{
    memset(res, 0, sizeof *res);
    if (n == 0 || (n > 0 && (ref_paths == NULL || refs == NULL)))
        return SP_EINVAL;
    res->path = model_path;
    res->model = model;
    res->alpha = opt->alpha > 0 && opt->alpha < 1 ? opt->alpha : SP_AUDIT_DEFAULT_ALPHA;
    res->nref = n;
    res->threads = opt->threads;
    size_t na = sp_audit_model_count(model);
    size_t *comp_of = calloc(na ? na : 1, sizeof *comp_of);
    int *fixed_of = calloc(na ? na : 1, sizeof *fixed_of);
    job *jobs = calloc(na * n + na > 0 ? na * n + na : 1, sizeof *jobs);
    res->ref = calloc(n, sizeof *res->ref);
    int rc = SP_ENOMEM;
    if (comp_of == NULL || fixed_of == NULL || jobs == NULL || res->ref == NULL)
        goto out;
    if ((rc = build_components(res, comp_of, opt)) != SP_OK)
        goto out;
    size_t nj = 0;
    /* the fixed-kind checks run on the pool with the comparisons; nothing in a comparison
     * reads them */
    for (size_t i = 0; i < na; i++)
        jobs[nj++] = (job){NULL, i, 0, sp_audit_model_tensor(model, i)->nbytes};
    for (size_t r = 0; r < n && rc == SP_OK; r++) {
        sp_audit_refres *rr = &res->ref[r];
        rr->path = ref_paths[r];
        rr->model = refs[r];
        rr->npairs = na;
        rr->pairs = calloc(na ? na : 1, sizeof *rr->pairs);
        if (rr->pairs == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        rc = pair_tensors(rr, model);
        for (size_t i = 0; i < na && rc == SP_OK; i++) {
            rr->pairs[i].component = comp_of[i];
            if (rr->pairs[i].b != NULL)
                jobs[nj++] = (job){&rr->pairs[i], i, 0x5eed0000ull + r * 1000003ull + i,
                                   rr->pairs[i].a->nbytes};
        }
    }
    if (rc == SP_OK)
        rc = run_jobs(jobs, nj, model, fixed_of, opt);
    for (size_t r = 0; r < n && rc == SP_OK; r++)
        for (size_t i = 0; i < na; i++)
            res->ref[r].pairs[i].fixed = fixed_of[i];
    sp_progress pp = {0};
    if (opt->progress != NULL && opt->progress->fn != NULL)
        pp = (sp_progress){opt->progress->fn, opt->progress->ctx, "permutations", 0, 0};
    for (size_t r = 0; r < n && rc == SP_OK; r++)
        rc = sp_audit_propagate(&res->ref[r], r, opt->threads, pp.fn ? &pp : NULL);
    if (rc == SP_OK)
        rc = verdicts(res);
out:
    free(comp_of);
    free(fixed_of);
    free(jobs);
    if (rc != SP_OK)
        sp_audit_result_free(res);
    return rc;
}
