/*
 * delta.c - float access to a point's tensors and streamed second moments
 * of pairs of tensors (delta.h; SPEC.md 12 tolerance mode, SPEC.md 13).
 */
#include "delta.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "init.h"
#include "pool.h"

/* Elements per piece of work: 256 blocks, about 4 MB of F32 per stream. */
#define PIECE ((uint64_t)SP_DELTA_BLOCK * 256u)

/* ------------------------------------------------------------ sources */

static void src_shape(sp_src *s, const char *name, uint32_t ndim, const uint64_t *shape)
{
    s->name = name;
    s->ndim = ndim;
    memcpy(s->shape, shape, ndim * sizeof *shape);
}

int sp_src_tensor(sp_src *out, const sp_tensor *t)
{
    memset(out, 0, sizeof *out);
    if (sp_tensor_check(t) != SP_OK)
        return SP_EINVAL;
    if (!sp_audit_dtype_ok(t->dtype))
        return SP_EUNSUPPORTED;
    src_shape(out, t->name, t->ndim, t->shape);
    out->numel = t->nbytes / sp_dtype_size(t->dtype);
    out->t = t;
    out->kind = SP_SRC_TENSOR;
    return SP_OK;
}

void sp_src_zeros(sp_src *out, const sp_src *ref)
{
    sp_src z;
    memset(&z, 0, sizeof z);
    src_shape(&z, ref->name, ref->ndim, ref->shape);
    z.numel = ref->numel;
    z.kind = SP_SRC_ZEROS;
    *out = z;
}

static int cmp_name(const void *key, const void *elem)
{
    const Sp__TensorDigest *const *t = elem;
    return strcmp(key, (*t)->name);
}

int sp_src_point(sp_src *out, const sp_run_table *tab, size_t point, const char *name)
{
    memset(out, 0, sizeof *out);
    if (point >= tab->n || tab->genesis == NULL ||
        tab->genesis->body_case != SP__RECORD__BODY_GENESIS)
        return SP_EINVAL;
    const Sp__Genesis *G = tab->genesis->genesis;
    Sp__TensorDigest *const *hit = G->n_tensors == 0 ? NULL
        : bsearch(name, G->tensors, G->n_tensors, sizeof *G->tensors, cmp_name);
    if (hit == NULL)
        return SP_ENOTFOUND;
    const Sp__TensorDigest *g = *hit;
    uint64_t numel = 0;
    int rc = sp_shape_numel(&numel, g->shape, (uint32_t)g->n_shape);  /* validated at decode */
    if (rc != SP_OK)
        return rc;
    const sp_point *p = &tab->pts[point];
    if (p->kind == SP_POINT_GENESIS) {
        sp_init_scheme s;
        sp_record_scheme(&s, g);
        sp_dtype dt = (sp_dtype)g->dtype;
        if ((s.kind == SP_INIT_EXTERNAL && g->n_ranges == 0) ||
            (dt != SP_DTYPE_F32 && dt != SP_DTYPE_F16 && dt != SP_DTYPE_BF16))
            return SP_EUNSUPPORTED;
        src_shape(out, g->name, (uint32_t)g->n_shape, g->shape);
        out->numel = numel;
        out->dtype = dt;
        out->seed = G->seed;
        out->scheme = s;
        out->g = g;
        out->kind = SP_SRC_GENESIS;
        return SP_OK;
    }
    if (p->weights == NULL)
        return SP_ENOTFOUND;
    const sp_tensor *t = sp_weight_file_find(p->weights, name);
    if (t == NULL)
        return SP_ENOTFOUND;
    if (t->ndim != g->n_shape || memcmp(t->shape, g->shape, t->ndim * sizeof *t->shape) != 0)
        return SP_EFORMAT;
    return sp_src_tensor(out, t);
}

int sp_src_same_shape(const sp_src *a, const sp_src *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof *a->shape) == 0;
}

/*
 * Half-width genesis values are generated into the low half of dst and
 * widened from the top down: float i overwrites halves 2i and 2i+1, which
 * are at or above i and so already read.
 */
static void widen_in_place(float *dst, uint64_t n, sp_dtype dt)
{
    const uint8_t *h = (const uint8_t *)dst;
    for (uint64_t i = n; i-- > 0;) {
        uint16_t v;
        memcpy(&v, h + 2 * i, sizeof v);
        float f = dt == SP_DTYPE_F16 ? sp_f16_to_f32(v) : sp_bf16_to_f32(v);
        memcpy(dst + i, &f, sizeof f);
    }
}

/*
 * A genesis tensor with per-range schemes (SPEC.md 6.10): each overlap of
 * [first, first + n) with a range from that range's scheme, at its own
 * element indices. The ranges were validated when the record was decoded.
 */
static int fill_ranges(void *dst, const sp_src *src, uint64_t first, uint64_t n)
{
    size_t es = src->dtype == SP_DTYPE_F32 ? 4 : 2;
    uint64_t end = first + n;
    for (size_t k = 0; k < src->g->n_ranges; k++) {
        const Sp__InitRange *r = src->g->ranges[k];
        uint64_t a = r->first > first ? r->first : first;
        uint64_t b = r->first + r->count < end ? r->first + r->count : end;
        if (a >= b)
            continue;
        if (r->init == NULL || r->init->n_params != 4)
            return SP_EFORMAT;
        sp_init_scheme s = {.kind = (sp_init_kind)r->init->kind};
        memcpy(s.p, r->init->params, sizeof s.p);
        int rc = sp_init_fill((uint8_t *)dst + (a - first) * es, src->dtype, src->name, src->seed, &s, a, b - a);
        if (rc != SP_OK)
            return rc;
    }
    return SP_OK;
}

int sp_src_read(const sp_src *src, float *dst, uint64_t first, uint64_t n)
{
    if (first > src->numel || n > src->numel - first)
        return SP_ERANGE;
    if (n == 0)
        return SP_OK;
    switch (src->kind) {
    case SP_SRC_TENSOR:
        sp_audit_to_float(dst, src->t, first, n);
        return SP_OK;
    case SP_SRC_ZEROS:
        memset(dst, 0, (size_t)n * sizeof *dst);
        return SP_OK;
    case SP_SRC_GENESIS: {
        int rc = src->g != NULL && src->g->n_ranges > 0 ? fill_ranges(dst, src, first, n)
                 : sp_init_fill(dst, src->dtype, src->name, src->seed, &src->scheme, first, n);
        if (rc == SP_OK && src->dtype != SP_DTYPE_F32)
            widen_in_place(dst, n, src->dtype);
        return rc;
    }
    default:
        return SP_EINVAL;
    }
}

/* ------------------------------------------------------------ moments */

void sp_moments_add(sp_moments *m, const float *x, const float *y, size_t n)
{
    double sx = 0, sy = 0;
    for (size_t k = 0; k < n; k++) {
        sx += x[k];
        sy += y[k];
    }
    sp_moments b = {.n = (double)n, .mx = sx / (double)n, .my = sy / (double)n};
    double cxx = 0, cyy = 0, cxy = 0, dd = 0;
    for (size_t k = 0; k < n; k++) {
        double u = x[k] - b.mx, v = y[k] - b.my, d = (double)y[k] - (double)x[k];
        cxx += u * u;
        cyy += v * v;
        cxy += u * v;
        dd += d * d;
    }
    b.cxx = cxx;
    b.cyy = cyy;
    b.cxy = cxy;
    b.dd = dd;
    sp_moments_merge(m, &b);
}

void sp_moments_merge(sp_moments *m, const sp_moments *b)
{
    if (b->n == 0)
        return;
    if (m->n == 0) {
        *m = *b;
        return;
    }
    double n = m->n + b->n, dx = b->mx - m->mx, dy = b->my - m->my;
    double w = m->n * b->n / n;
    m->cxx += b->cxx + dx * dx * w;
    m->cyy += b->cyy + dy * dy * w;
    m->cxy += b->cxy + dx * dy * w;
    m->dd += b->dd;
    m->mx += dx * (b->n / n);
    m->my += dy * (b->n / n);
    m->n = n;
}

double sp_moments_dist(const sp_moments *m)
{
    return sqrt(m->dd);
}

double sp_moments_norm_x(const sp_moments *m)
{
    return sqrt(m->cxx + m->n * m->mx * m->mx);
}

double sp_moments_norm_y(const sp_moments *m)
{
    return sqrt(m->cyy + m->n * m->my * m->my);
}

double sp_moments_pearson(const sp_moments *m)
{
    if (!(m->cxx > 0) || !(m->cyy > 0))
        return NAN;
    double r = m->cxy / sqrt(m->cxx * m->cyy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* Moments of (a, b) over elements [first, first + n). */
static int pair_range(sp_moments *m, const sp_src *a, const sp_src *b, uint64_t first, uint64_t n)
{
    float x[SP_DELTA_BLOCK], y[SP_DELTA_BLOCK];
    memset(m, 0, sizeof *m);
    for (uint64_t k = 0; k < n; k += SP_DELTA_BLOCK) {
        uint64_t len = n - k < SP_DELTA_BLOCK ? n - k : SP_DELTA_BLOCK;
        int rc = sp_src_read(a, x, first + k, len);
        if (rc == SP_OK)
            rc = sp_src_read(b, y, first + k, len);
        if (rc != SP_OK)
            return rc;
        sp_moments_add(m, x, y, (size_t)len);
    }
    return SP_OK;
}

int sp_delta_pair(sp_moments *out, const sp_src *a, const sp_src *b)
{
    memset(out, 0, sizeof *out);
    if (!sp_src_same_shape(a, b) || a->numel != b->numel)
        return SP_EINVAL;
    return pair_range(out, a, b, 0, a->numel);
}

/* ------------------------------------------------------------ threads */

typedef struct par_job {
    size_t n;
    int (*fn)(void *, size_t);
    void *ctx;
    atomic_uint_least64_t next;
    atomic_int err;
} par_job;

static void par_worker(void *arg, unsigned thread_index)
{
    par_job *j = arg;
    (void)thread_index;
    uint64_t end;
    for (uint64_t i; atomic_load(&j->err) == 0 && (i = sp_pool_take(&j->next, j->n, 1, &end)) < j->n;) {
        int rc = j->fn(j->ctx, (size_t)i);
        if (rc != 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&j->err, &zero, rc);
        }
    }
}

int sp_delta_parallel(size_t n, int (*fn)(void *ctx, size_t i), void *ctx, unsigned threads)
{
    par_job j = {.n = n, .fn = fn, .ctx = ctx};
    atomic_init(&j.next, 0);
    atomic_init(&j.err, 0);
    if (threads > n)
        threads = n > 0 ? (unsigned)n : 1;
    sp_pool_run(threads, par_worker, &j);
    return atomic_load(&j.err);
}

/* ------------------------------------------------------------ segments */

size_t sp_delta_ntensors(const sp_run_table *tab)
{
    if (tab->genesis == NULL || tab->genesis->body_case != SP__RECORD__BODY_GENESIS)
        return 0;
    return tab->genesis->genesis->n_tensors;
}

typedef struct seg_piece {
    size_t tensor;
    uint64_t first, n;
    sp_moments m;
    int rc;
} seg_piece;

typedef struct seg_job {
    sp_src *a, *b;            /* per tensor */
    seg_piece *pieces;
} seg_job;

static int seg_work(void *ctx, size_t i)
{
    seg_job *j = ctx;
    seg_piece *p = &j->pieces[i];
    p->rc = pair_range(&p->m, &j->a[p->tensor], &j->b[p->tensor], p->first, p->n);
    return 0;                 /* a tensor's failure is its own, not the segment's */
}

int sp_delta_segment(sp_tensor_delta *out, const sp_run_table *tab, size_t seg, unsigned threads)
{
    size_t nt = sp_delta_ntensors(tab);
    if (nt == 0 || seg + 1 >= tab->n)
        return SP_EINVAL;
    const Sp__Genesis *G = tab->genesis->genesis;
    sp_src *a = calloc(nt, sizeof *a), *b = calloc(nt, sizeof *b);
    size_t npieces = 0;
    int rc = a && b ? SP_OK : SP_ENOMEM;
    for (size_t i = 0; rc == SP_OK && i < nt; i++) {
        sp_tensor_delta *d = &out[i];
        memset(d, 0, sizeof *d);
        d->name = G->tensors[i]->name;
        d->pearson = NAN;
        d->rc = sp_src_point(&a[i], tab, seg, d->name);
        if (d->rc == SP_OK)
            d->rc = sp_src_point(&b[i], tab, seg + 1, d->name);
        if (d->rc != SP_OK)
            continue;
        d->numel = a[i].numel;
        npieces += (size_t)((a[i].numel + PIECE - 1) / PIECE);
    }
    seg_piece *pieces = rc == SP_OK ? calloc(npieces ? npieces : 1, sizeof *pieces) : NULL;
    if (rc == SP_OK && pieces == NULL)
        rc = SP_ENOMEM;
    if (rc == SP_OK) {
        size_t k = 0;
        for (size_t i = 0; i < nt; i++)
            for (uint64_t f = 0; out[i].rc == SP_OK && f < out[i].numel; f += PIECE) {
                pieces[k].tensor = i;
                pieces[k].first = f;
                pieces[k].n = out[i].numel - f < PIECE ? out[i].numel - f : PIECE;
                k++;
            }
        seg_job j = {.a = a, .b = b, .pieces = pieces};
        rc = sp_delta_parallel(npieces, seg_work, &j, threads ? threads : 1);
    }
    if (rc == SP_OK) {
        /* Merged in piece order: the same sums for any thread count. */
        sp_moments *m = calloc(nt, sizeof *m);
        if (m == NULL) {
            rc = SP_ENOMEM;
        } else {
            for (size_t k = 0; k < npieces; k++) {
                seg_piece *p = &pieces[k];
                if (p->rc != SP_OK && out[p->tensor].rc == SP_OK)
                    out[p->tensor].rc = p->rc;
                sp_moments_merge(&m[p->tensor], &p->m);
            }
            for (size_t i = 0; i < nt; i++) {
                if (out[i].rc != SP_OK)
                    continue;
                out[i].diff = sp_moments_dist(&m[i]);
                out[i].start = sp_moments_norm_x(&m[i]);
                out[i].end = sp_moments_norm_y(&m[i]);
                out[i].pearson = sp_moments_pearson(&m[i]);
            }
            free(m);
        }
    }
    free(pieces);
    free(a);
    free(b);
    return rc;
}
