/*
 * trajectory.c - trajectory screening (trajectory.h, SPEC.md 13).
 *
 * One streamed pass per tensor over every point at once: each block of the
 * genesis is regenerated once and each checkpoint file read once, and every
 * point's block is compared with the previous point's and the genesis's
 * (delta.h moments). Work is split into pieces of tensors on threads and
 * merged in a fixed order. Then per component (the audit's names) and per
 * matrix, the two rules of SPEC.md 13.3 judge each segment against the run's
 * own history.
 */
#include "trajectory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "delta.h"

#define PIECE ((uint64_t)SP_DELTA_BLOCK * 64u)

typedef struct cell {
    sp_moments prev;          /* (W_{p-1}, W_p) */
    sp_moments gen;           /* (W_0, W_p) */
} cell;

typedef struct piece {
    size_t tensor;
    uint64_t first, n;
    cell *cells;              /* npts */
    int rc;
} piece;

typedef struct pass {
    size_t nt, npts;
    sp_src *src;              /* [t * npts + p] */
    int *src_rc;
    piece *pieces;
} pass;

static int is_matrix(const sp_src *s)
{
    if (s->ndim < 2 || s->shape[0] < 2)
        return 0;
    uint64_t cols = s->numel / s->shape[0];
    return cols >= 2;
}

static int piece_work(void *ctx, size_t i)
{
    pass *P = ctx;
    piece *pc = &P->pieces[i];
    const sp_src *src = &P->src[pc->tensor * P->npts];
    const int *rc = &P->src_rc[pc->tensor * P->npts];
    float g[SP_DELTA_BLOCK], a[SP_DELTA_BLOCK], b[SP_DELTA_BLOCK];
    for (uint64_t k = 0; k < pc->n; k += SP_DELTA_BLOCK) {
        uint64_t first = pc->first + k, len = pc->n - k < SP_DELTA_BLOCK ? pc->n - k : SP_DELTA_BLOCK;
        int have_g = rc[0] == SP_OK && sp_src_read(&src[0], g, first, len) == SP_OK;
        float *prev = a, *cur = b;
        int have_prev = have_g;
        if (have_g)
            memcpy(prev, g, (size_t)len * sizeof *g);
        for (size_t p = 1; p < P->npts; p++) {
            if (rc[p] != SP_OK) {
                have_prev = 0;
                continue;
            }
            int r = sp_src_read(&src[p], cur, first, len);
            if (r != SP_OK) {
                pc->rc = r;
                have_prev = 0;
                continue;
            }
            if (have_prev)
                sp_moments_add(&pc->cells[p].prev, prev, cur, (size_t)len);
            if (have_g)
                sp_moments_add(&pc->cells[p].gen, g, cur, (size_t)len);
            float *t = prev;
            prev = cur;
            cur = t;
            have_prev = 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the rule */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median and MAD of v[0..n) without element `skip` (n + 1 = none skipped). */
static void med_mad(double *med, double *mad, const double *v, size_t n, size_t skip, double *tmp)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (i != skip)
            tmp[m++] = v[i];
    *med = median(tmp, m);
    for (size_t i = 0; i < m; i++)
        tmp[i] = fabs(tmp[i] - *med);
    *mad = median(tmp, m);
}

static int seg_usable(const sp_traj_seg *s)
{
    return s->ok && s->steps > 0 && s->upd > 0 && s->rel > 0 && isfinite(s->rel);
}

size_t sp_trajectory_rule(sp_traj_comp *c, sp_traj_seg *seg, size_t n, double z_genesis)
{
    double *lr = calloc(2 * (n ? n : 1), sizeof *lr);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    size_t m = 0, fired = 0;
    if (lr == NULL || idx == NULL) {
        free(lr);
        free(idx);
        return 0;
    }
    double *tmp = lr + n;
    for (size_t s = 0; s < n; s++) {
        seg[s].ratio = NAN;
        seg[s].robust_z = NAN;
        seg[s].jump = seg[s].lost = 0;
        if (s > 0 && seg_usable(&seg[s])) {   /* segment 0 starts at the init: SPEC 13.3 */
            lr[m] = log(seg[s].rel / (double)seg[s].steps);
            idx[m++] = s;
        }
    }
    c->have_history = m >= SP_TRAJ_JUMP_MIN_SEGS;
    c->med_log_rate = c->mad_log_rate = NAN;
    if (m > 0)
        med_mad(&c->med_log_rate, &c->mad_log_rate, lr, m, m + 1, tmp);
    /*
     * Rule 1: an update far above those of the segments around it. The
     * reference of segment k is the median log rate of its SP_TRAJ_NEAR
     * nearest usable segments (both sides), so the slow decay of updates over
     * training is not a jump; the spread is the MAD of every segment's
     * residual against its own reference.
     */
    double *res = calloc(m ? m : 1, sizeof *res);
    if (res == NULL)
        c->have_history = 0;
    for (size_t k = 0; c->have_history && k < m; k++) {
        size_t q = 0;
        for (size_t d = 1; q < SP_TRAJ_NEAR && d < m; d++) {
            if (k >= d)
                tmp[q++] = lr[k - d];
            if (k + d < m && q < SP_TRAJ_NEAR)
                tmp[q++] = lr[k + d];
        }
        res[k] = lr[k] - median(tmp, q);
    }
    /* Each segment's deviation: leave-one-out, so the outlier does not widen its own yardstick. */
    for (size_t k = 0; c->have_history && k < m; k++) {
        size_t q = 0;
        for (size_t j = 0; j < m; j++)
            if (j != k)
                tmp[q++] = res[j];
        double med_res = median(tmp, q);
        for (size_t j = 0; j < q; j++)
            tmp[j] = fabs(tmp[j] - med_res);
        double spread = 1.4826 * median(tmp, q);
        if (spread < SP_TRAJ_JUMP_MIN_SPREAD)
            spread = SP_TRAJ_JUMP_MIN_SPREAD;   /* near-identical updates: the ratio decides */
        sp_traj_seg *x = &seg[idx[k]];
        x->ratio = exp(res[k]);
        x->robust_z = (res[k] - med_res) / spread;
        x->jump = x->ratio >= SP_TRAJ_JUMP_RATIO && x->robust_z >= SP_TRAJ_JUMP_Z;
    }
    free(res);
    /*
     * Rule 2: most of a strongly measurable genesis trace gone in one segment,
     * far more than the run's other segments lose. kept[s] = c_after / c_before
     * where the trace before is measurable (z >= SP_TRAJ_TRACE_Z), else NaN.
     */
    double *kept = lr;              /* lr is no longer needed */
    for (size_t s = 0; s < n; s++) {
        double zb = s == 0 ? z_genesis : seg[s - 1].z_gen;
        double cb = s == 0 ? 1.0 : seg[s - 1].corr_gen;
        int before_ok = s == 0 ? isfinite(z_genesis) : seg[s - 1].ok && seg[s - 1].gen_ok;
        kept[s] = NAN;
        if (before_ok && seg[s].ok && seg[s].gen_ok && seg[s].steps > 0 && zb >= SP_TRAJ_TRACE_Z && cb > 0)
            kept[s] = seg[s].corr_gen / cb;
    }
    for (size_t s = 0; s < n; s++) {
        seg[s].kept = kept[s];
        if (!isfinite(kept[s]))
            continue;
        /* (c) the trace vanished: measurable before, indistinguishable from none after */
        if (seg[s].z_gen < SP_TRAJ_LOST_Z)
            seg[s].lost = 1;
        /* (a) from the init: nothing to compare with */
        if (s == 0) {
            seg[s].lost |= kept[s] < SP_TRAJ_LOST_KEPT0;
            continue;
        }
        if (kept[s] >= SP_TRAJ_LOST_KEPT)
            continue;
        /* (b) most of it lost, far more than the other segments (after the first) lose */
        size_t m2 = 0;
        for (size_t j = 1; j < n; j++)
            if (j != s && isfinite(kept[j]))
                tmp[m2++] = 1 - kept[j];
        if (m2 > 0 && 1 - kept[s] >= SP_TRAJ_LOST_TIMES * median(tmp, m2))
            seg[s].lost = 1;
    }
    for (size_t s = 0; s < n; s++)
        fired += seg[s].jump || seg[s].lost;
    free(lr);
    free(idx);
    return fired;
}

/* ------------------------------------------------------------ results */

void sp_trajectory_free(sp_trajectory *t)
{
    if (t == NULL)
        return;
    for (size_t c = 0; c < t->ncomp; c++) {
        free(t->comp[c].name);
        free(t->comp[c].seg);
        free(t->comp[c].ref);
    }
    free(t->comp);
    free(t->step);
    free(t->loss);
    free(t->seq);
    free(t->have);
    free(t->ref_path);          /* borrowed strings */
    memset(t, 0, sizeof *t);
}

/* Segment stats of a set of tensors (their cells merged), into s. */
typedef struct acc {
    double dd, nx, cxy_p, cxx_p, cyy_p, cxy_g, cxx_g, cyy_g, n, dd_all;
    int ok, gen_ok;
} acc;

static void acc_add(acc *A, const cell *c, int matrix, int prev_ok, int gen_ok)
{
    if (!prev_ok) {
        A->ok = 0;
        return;
    }
    A->dd_all += c->prev.dd;
    if (!matrix)
        return;
    A->dd += c->prev.dd;
    A->nx += c->prev.cxx + c->prev.n * c->prev.mx * c->prev.mx;
    A->cxy_p += c->prev.cxy;
    A->cxx_p += c->prev.cxx;
    A->cyy_p += c->prev.cyy;
    A->n += c->prev.n;
    if (!gen_ok) {
        A->gen_ok = 0;
        return;
    }
    A->cxy_g += c->gen.cxy;
    A->cxx_g += c->gen.cxx;
    A->cyy_g += c->gen.cyy;
}

static double pooled(double cxy, double cxx, double cyy)
{
    if (!(cxx > 0) || !(cyy > 0))
        return NAN;
    double r = cxy / sqrt(cxx * cyy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

static void acc_seg(sp_traj_seg *s, const acc *A, uint64_t steps)
{
    memset(s, 0, sizeof *s);
    s->steps = steps;
    s->ratio = s->robust_z = s->corr_gen = s->z_gen = s->corr_prev = s->rel = s->kept = NAN;
    s->ok = A->ok && A->n > 0;
    s->upd_all = sqrt(A->dd_all);
    if (!s->ok)
        return;
    s->upd = sqrt(A->dd);
    s->rel = A->nx > 0 ? s->upd / sqrt(A->nx) : NAN;
    s->corr_prev = pooled(A->cxy_p, A->cxx_p, A->cyy_p);
    s->gen_ok = A->gen_ok;
    if (A->gen_ok) {
        s->corr_gen = pooled(A->cxy_g, A->cxx_g, A->cyy_g);
        s->z_gen = isfinite(s->corr_gen) ? s->corr_gen * sqrt(A->n) : NAN;
        s->gen_ok = isfinite(s->z_gen);
    }
}

/* ------------------------------------------------------------ the screen */

typedef struct screen {
    const sp_run_table *tab;
    size_t nt, npts;
    pass P;
    size_t npieces;
    cell *cells;              /* merged: [t * npts + p] */
    size_t *comp_of;          /* per tensor */
    int *matrix;              /* per tensor */
} screen;

static int run_pass(screen *S, unsigned threads)
{
    const Sp__Genesis *G = S->tab->genesis->genesis;
    size_t nt = S->nt, np = S->npts;
    pass *P = &S->P;
    P->nt = nt;
    P->npts = np;
    P->src = calloc(nt * np, sizeof *P->src);
    P->src_rc = calloc(nt * np, sizeof *P->src_rc);
    S->cells = calloc(nt * np, sizeof *S->cells);
    S->matrix = calloc(nt, sizeof *S->matrix);
    if (P->src == NULL || P->src_rc == NULL || S->cells == NULL || S->matrix == NULL)
        return SP_ENOMEM;
    size_t npieces = 0;
    for (size_t t = 0; t < nt; t++) {
        uint64_t numel = 0;
        for (size_t p = 0; p < np; p++) {
            P->src_rc[t * np + p] = sp_src_point(&P->src[t * np + p], S->tab, p, G->tensors[t]->name);
            if (P->src_rc[t * np + p] == SP_OK) {
                numel = P->src[t * np + p].numel;
                S->matrix[t] = is_matrix(&P->src[t * np + p]);
            }
        }
        npieces += (size_t)((numel + PIECE - 1) / PIECE);
    }
    P->pieces = calloc(npieces ? npieces : 1, sizeof *P->pieces);
    cell *pc_cells = calloc((npieces ? npieces : 1) * np, sizeof *pc_cells);
    if (P->pieces == NULL || pc_cells == NULL) {
        free(pc_cells);
        return SP_ENOMEM;
    }
    size_t k = 0;
    for (size_t t = 0; t < nt; t++) {
        uint64_t numel = 0;
        for (size_t p = 0; p < np; p++)
            if (P->src_rc[t * np + p] == SP_OK)
                numel = P->src[t * np + p].numel;
        for (uint64_t f = 0; f < numel; f += PIECE) {
            P->pieces[k] = (piece){.tensor = t, .first = f, .n = numel - f < PIECE ? numel - f : PIECE,
                                   .cells = &pc_cells[k * np]};
            k++;
        }
    }
    S->npieces = npieces;
    int rc = sp_delta_parallel(npieces, piece_work, P, threads ? threads : 1);
    for (size_t i = 0; rc == SP_OK && i < npieces; i++) {
        piece *pc = &P->pieces[i];
        if (pc->rc != SP_OK) {      /* a read failed mid-way: its points are unusable */
            for (size_t p = 0; p < np; p++)
                P->src_rc[pc->tensor * np + p] = pc->rc;
        }
        for (size_t p = 1; p < np; p++) {
            sp_moments_merge(&S->cells[pc->tensor * np + p].prev, &pc->cells[p].prev);
            sp_moments_merge(&S->cells[pc->tensor * np + p].gen, &pc->cells[p].gen);
        }
    }
    free(pc_cells);
    return rc;
}

static int find_comp(sp_trajectory *T, const char *name, size_t *out)
{
    for (size_t c = 0; c < T->ncomp; c++)
        if (strcmp(T->comp[c].name, name) == 0) {
            *out = c;
            return SP_OK;
        }
    sp_traj_comp *v = realloc(T->comp, (T->ncomp + 1) * sizeof *v);
    if (v == NULL)
        return SP_ENOMEM;
    T->comp = v;
    memset(&v[T->ncomp], 0, sizeof *v);
    v[T->ncomp].name = strdup(name);
    v[T->ncomp].seg = calloc(T->npts > 1 ? T->npts - 1 : 1, sizeof *v[T->ncomp].seg);
    if (v[T->ncomp].name == NULL || v[T->ncomp].seg == NULL) {
        free(v[T->ncomp].name);
        free(v[T->ncomp].seg);
        return SP_ENOMEM;
    }
    *out = T->ncomp++;
    return SP_OK;
}

static void fmt_corr(char *out, size_t cap, double v)
{
    if (isfinite(v))
        snprintf(out, cap, "%.2f", v);
    else
        snprintf(out, cap, "n/a");
}

/* The finding for one component and segment, into rep. */
static void report_seg(sp_report *rep, const sp_trajectory *T, const sp_traj_comp *c, size_t s,
                       const sp_traj_seg *w, const char *tensor)
{
    char before[16], after[16], what[256] = "", who[SP_NAME_MAX + 48];
    if (tensor != NULL)
        snprintf(who, sizeof who, "%s.* (%s)", c->name, tensor);
    else
        snprintf(who, sizeof who, "%s.*", c->name);
    double cb = s == 0 ? 1.0 : NAN;
    if (s > 0) {
        /* the trace before is the previous segment's end, same entity */
        cb = w[-1].corr_gen;
    }
    fmt_corr(before, sizeof before, cb);
    fmt_corr(after, sizeof after, w->corr_gen);
    if (w->jump && w->lost)
        snprintf(what, sizeof what, "moved %.0fx the update of the segments around it; its correlation with the genesis "
                 "fell from %s to %s", w->ratio, before, after);
    else if (w->jump)
        snprintf(what, sizeof what, "moved %.0fx the update of the segments around it (%.1f robust deviations); "
                 "correlation with the previous checkpoint %.2f", w->ratio, w->robust_z, w->corr_prev);
    else
        snprintf(what, sizeof what, "lost the trace of its initialisation in one segment: its "
                 "correlation with the genesis fell from %s to %s (%.0f%% of it kept)",
                 before, after, 100 * (isfinite(w->kept) && w->kept > 0 ? w->kept : 0));
    sp_report_add(rep, "trajectory", 0, "steps %llu..%llu (records %llu..%llu): %s %s; replay this segment",
                  (unsigned long long)T->step[s], (unsigned long long)T->step[s + 1],
                  (unsigned long long)T->seq[s], (unsigned long long)T->seq[s + 1], who, what);
}

/* Segments of the tensors selected by pick (a component, or one matrix). */
static void fill_segs(sp_traj_seg *out, const screen *S, const sp_trajectory *T, size_t comp,
                      size_t only, int one)
{
    size_t np = S->npts;
    for (size_t s = 0; s + 1 < np; s++) {
        acc A = {.ok = 1, .gen_ok = 1};
        size_t p = s + 1;
        for (size_t t = 0; t < S->nt; t++) {
            if (one ? t != only : S->comp_of[t] != comp)
                continue;
            const int *rc = &S->P.src_rc[t * np];
            acc_add(&A, &S->cells[t * np + p], S->matrix[t], rc[s] == SP_OK && rc[p] == SP_OK,
                    rc[0] == SP_OK && rc[p] == SP_OK);
        }
        acc_seg(&out[s], &A, T->step[p] - T->step[s]);
    }
}

static int screen_stats(screen *S, sp_trajectory *T, sp_report *rep, unsigned threads)
{
    const Sp__Genesis *G = S->tab->genesis->genesis;
    int rc = run_pass(S, threads);
    if (rc != SP_OK)
        return rc;
    size_t np = S->npts, nseg = np - 1;
    S->comp_of = calloc(S->nt ? S->nt : 1, sizeof *S->comp_of);
    sp_traj_seg *one = calloc(nseg ? nseg : 1, sizeof *one);
    if (S->comp_of == NULL || one == NULL) {
        free(one);
        return SP_ENOMEM;
    }
    char name[SP_NAME_MAX + 1];
    T->genesis_ok = 1;
    for (size_t t = 0; t < S->nt; t++) {
        sp_audit_component_name(name, G->tensors[t]->name, 0);
        if ((rc = find_comp(T, name, &S->comp_of[t])) != SP_OK) {
            free(one);
            return rc;
        }
        sp_traj_comp *c = &T->comp[S->comp_of[t]];
        uint64_t numel = 0;
        if (sp_shape_numel(&numel, G->tensors[t]->shape, (uint32_t)G->tensors[t]->n_shape) != SP_OK)
            numel = 0;                    /* validated at decode */
        c->params += numel;
        if (S->matrix[t]) {
            c->nmat++;
            c->matrix_params += numel;
            if (S->P.src_rc[t * np] != SP_OK)
                T->genesis_ok = 0;
        } else {
            c->nvec++;
        }
    }
    /* Components: pooled matrices. Then each matrix alone, named when it alone fires. */
    for (size_t c = 0; c < T->ncomp; c++) {
        sp_traj_comp *C = &T->comp[c];
        fill_segs(C->seg, S, T, c, 0, 0);
        size_t fired = C->nmat ? sp_trajectory_rule(C, C->seg, nseg, sqrt((double)C->matrix_params)) : 0;
        for (size_t s = 0; s < nseg; s++)
            if (C->seg[s].jump || C->seg[s].lost)
                report_seg(rep, T, C, s, &C->seg[s], NULL);
        T->flagged += fired;
        for (size_t t = 0; C->nmat > 1 && t < S->nt; t++) {
            if (S->comp_of[t] != c || !S->matrix[t])
                continue;
            sp_traj_comp M = {.name = C->name};
            fill_segs(one, S, T, 0, t, 1);
            uint64_t numel = S->P.src[t * np + 1].numel ? S->P.src[t * np + 1].numel
                                                        : S->P.src[t * np].numel;
            if (sp_trajectory_rule(&M, one, nseg, sqrt((double)numel)) == 0)
                continue;
            for (size_t s = 0; s < nseg; s++) {
                if (!(one[s].jump || one[s].lost) || C->seg[s].jump || C->seg[s].lost)
                    continue;
                C->seg[s].jump |= one[s].jump;   /* the component is marked, the matrix named */
                C->seg[s].lost |= one[s].lost;
                report_seg(rep, T, C, s, &one[s], G->tensors[t]->name);
                T->flagged++;
            }
        }
    }
    free(one);
    return SP_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void summary(sp_report *rep, const sp_trajectory *T)
{
    size_t segs = 0, comps = 0, traced = 0;
    double worst = 0;
    size_t wc = 0, ws = 0;
    for (size_t c = 0; c < T->ncomp; c++) {
        comps += T->comp[c].nmat > 0;
        for (size_t s = 0; T->comp[c].nmat > 0 && s + 1 < T->npts; s++)
            if (isfinite(T->comp[c].seg[s].kept)) {
                traced++;
                break;
            }
        for (size_t s = 0; s + 1 < T->npts; s++) {
            const sp_traj_seg *x = &T->comp[c].seg[s];
            if (T->comp[c].nmat == 0 || !seg_usable(x))
                continue;
            segs++;
            if (isfinite(x->ratio) && x->ratio > worst) {
                worst = x->ratio;
                wc = c;
                ws = s;
            }
        }
    }
    if (segs == 0) {
        sp_report_add(rep, "trajectory", 1, "no matrix update to judge (fewer than two readable checkpoints, or matrices that never move)");
        return;
    }
    char w[SP_NAME_MAX + 96] = "";
    if (worst > 0)
        snprintf(w, sizeof w, "; largest update %.1fx its neighbours (%s.*, steps %llu..%llu)", worst,
                 T->comp[wc].name, (unsigned long long)T->step[ws], (unsigned long long)T->step[ws + 1]);
    char tr[96];
    if (!T->genesis_ok)
        snprintf(tr, sizeof tr, "genesis not regenerable: its trace is not followed");
    else if (traced == comps)
        snprintf(tr, sizeof tr, "the initialisation's trace never lost in one segment");
    else
        snprintf(tr, sizeof tr, "the initialisation's trace followed in %zu of %zu components, never lost",
                 traced, comps);
    sp_report_add(rep, "trajectory", 1, "%zu segment updates of %zu components within the run's history%s; %s "
                  "(a screen, not a proof: replay is)", segs, comps, w, tr);
}

int sp_trajectory_screen(const sp_run_table *tab, const sp_traj_opts *o, sp_report *rep,
                         sp_trajectory *out, char *err)
{
    sp_trajectory T;
    memset(&T, 0, sizeof T);
    if (out != NULL)
        memset(out, 0, sizeof *out);
    size_t nt = sp_delta_ntensors(tab), have = 0;
    for (size_t p = 1; p < tab->n; p++)
        have += tab->pts[p].weights != NULL;
    if (nt == 0 || tab->n < 2 || have == 0)
        return SP_OK;
    double t0 = now_s();
    screen S = {.tab = tab, .nt = nt, .npts = tab->n};
    T.npts = tab->n;
    T.step = calloc(T.npts, sizeof *T.step);
    T.loss = calloc(T.npts, sizeof *T.loss);
    T.seq = calloc(T.npts, sizeof *T.seq);
    T.have = calloc(T.npts, sizeof *T.have);
    int rc = T.step && T.loss && T.seq && T.have ? SP_OK : SP_ENOMEM;
    for (size_t p = 0; rc == SP_OK && p < T.npts; p++) {
        const sp_point *pt = &tab->pts[p];
        T.step[p] = pt->step;
        T.seq[p] = pt->seq;
        T.have[p] = p == 0 || pt->weights != NULL;
        T.loss[p] = NAN;
        if (pt->kind == SP_POINT_CHECKPOINT && pt->rec != NULL && pt->rec->checkpoint->loss != 0 &&
            isfinite(pt->rec->checkpoint->loss))
            T.loss[p] = pt->rec->checkpoint->loss;
    }
    if (rc == SP_OK) {
        size_t before = rep->failed;
        rc = screen_stats(&S, &T, rep, o->threads);
        if (rc == SP_OK && rep->failed == before)
            summary(rep, &T);
    }
    if (rc == SP_OK && o->n_refs > 0)
        rc = sp_trajectory_refs(tab, o, &T, rep, err);
    T.seconds = now_s() - t0;
    free(S.P.src);
    free(S.P.src_rc);
    free(S.P.pieces);
    free(S.cells);
    free(S.comp_of);
    free(S.matrix);
    if (rc == SP_OK && out != NULL)
        *out = T;
    else
        sp_trajectory_free(&T);
    return rc;
}
