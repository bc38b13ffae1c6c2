/*
 * init_threads.c - the initialiser on several threads (init.h, SPEC.md 6.6):
 * a tensor filled in slices, and a genesis tensor regenerated and digested
 * in one streaming pass. Element i depends only on (seed, name, scheme,
 * dtype, i), so slices generated on any thread equal the whole, bit for bit;
 * the thread count never changes a byte.
 */
#include "digest.h"
#include "init.h"
#include "pool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FILL_SLICE (UINT64_C(1) << 16)   /* elements per work item */

typedef struct fill_job {
    unsigned char *out;
    sp_dtype dtype;
    size_t esize;
    const char *name;
    uint64_t seed, first, count;
    const sp_init_scheme *s;
    atomic_uint_least64_t next;
    atomic_int rc;
} fill_job;

static void fill_worker(void *arg, unsigned thread_index)
{
    (void)thread_index;
    fill_job *j = arg;
    uint64_t nslices = (j->count + FILL_SLICE - 1) / FILL_SLICE, end;
    for (uint64_t k; (k = sp_pool_take(&j->next, nslices, 1, &end)) < nslices;) {
        uint64_t a = k * FILL_SLICE, n = j->count - a < FILL_SLICE ? j->count - a : FILL_SLICE;
        int rc = sp_init_fill(j->out + a * j->esize, j->dtype, j->name, j->seed, j->s,
                              j->first + a, n);
        if (rc != SP_OK) {
            atomic_store(&j->rc, rc);
            return;
        }
    }
}

int sp_init_fill_threads(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                         const sp_init_scheme *s, uint64_t first, uint64_t count, unsigned nthreads)
{
    /* The checks of sp_init_fill, once, before any thread starts. */
    int rc = sp_init_fill(out, dtype, name, seed, s, first, 0);
    if (rc != SP_OK || count == 0)
        return rc;
    if (s->kind == SP_INIT_ORTHOGONAL)   /* one QR for the whole slice, not one per work item */
        return sp_init_fill(out, dtype, name, seed, s, first, count);
    if (first > (UINT64_C(1) << 62) || count > (UINT64_C(1) << 62) - first)
        return SP_ERANGE;
    fill_job j = {.out = out, .dtype = dtype, .esize = sp_dtype_size(dtype), .name = name,
                  .seed = seed, .first = first, .count = count, .s = s};
    atomic_init(&j.next, 0);
    atomic_init(&j.rc, SP_OK);
    uint64_t nslices = (count + FILL_SLICE - 1) / FILL_SLICE;
    sp_pool_run(nslices < nthreads ? (unsigned)nslices : nthreads, fill_worker, &j);
    return atomic_load(&j.rc);
}

typedef struct gen_ctx {
    const sp_tensor *t;
    uint64_t seed;
    const sp_init_scheme *s;
    size_t esize;
} gen_ctx;

/* One chunk of the regenerated tensor (chunks hold whole elements: 2^20 is a multiple of 2 and 4). */
static int gen_chunk(void *arg, uint8_t *buf, uint64_t off, size_t len)
{
    const gen_ctx *g = arg;
    return sp_init_fill(buf, g->t->dtype, g->t->name, g->seed, g->s, off / g->esize, len / g->esize);
}

typedef struct mem_ctx {
    uint8_t *buf;
} mem_ctx;

static int mem_chunk(void *arg, uint8_t *buf, uint64_t off, size_t len)
{
    const mem_ctx *m = arg;
    memcpy(buf, m->buf + off, len);
    return SP_OK;
}

int sp_init_digest(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                   const sp_init_scheme *s, unsigned nthreads)
{
    return sp_init_digest_progress(out, t, seed, s, nthreads, NULL);
}

int sp_init_digest_progress(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                            const sp_init_scheme *s, unsigned nthreads, const sp_progress *pg)
{
    uint8_t probe[4];
    int rc = sp_init_fill(probe, t->dtype, t->name, seed, s, 0, 0);
    if (rc != SP_OK)
        return rc;
    gen_ctx g = {t, seed, s, sp_dtype_size(t->dtype)};
    uint64_t numel;
    if ((rc = sp_shape_numel(&numel, t->shape, t->ndim)) != SP_OK)
        return rc;
    if (t->nbytes != numel * g.esize)
        return SP_EINVAL;
    if (s->kind != SP_INIT_ORTHOGONAL)
        return sp_tensor_digest_gen_progress(out, t, gen_chunk, &g, nthreads, pg);
    /* ORTHOGONAL: the whole matrix once (it needs one QR), then chunks copied from it */
    mem_ctx mc = {malloc(t->nbytes ? (size_t)t->nbytes : 1)};
    if (mc.buf == NULL)
        return SP_ENOMEM;
    rc = sp_init_fill(mc.buf, t->dtype, t->name, seed, s, 0, numel);
    if (rc == SP_OK)
        rc = sp_tensor_digest_gen_progress(out, t, mem_chunk, &mc, nthreads, pg);
    free(mc.buf);
    return rc;
}

typedef struct ranges_ctx {
    const sp_tensor *t;
    uint64_t seed;
    const sp_init_range *r;
    size_t n;
    size_t esize;
} ranges_ctx;

static int ranges_chunk(void *arg, uint8_t *buf, uint64_t off, size_t len)
{
    const ranges_ctx *g = arg;
    return sp_init_fill_ranges(buf, g->t->dtype, g->t->name, g->seed, g->r, g->n, off / g->esize,
                               len / g->esize);
}

int sp_init_digest_ranges(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                          const sp_init_range *r, size_t n, unsigned nthreads, const sp_progress *pg)
{
    uint8_t probe[4];
    int rc = sp_init_fill_ranges(probe, t->dtype, t->name, seed, r, n, 0, 0);
    if (rc != SP_OK)
        return rc;
    if (sp_init_ranges_check(r, n, t->shape, t->ndim) != SP_OK)
        return SP_EINVAL;
    ranges_ctx g = {t, seed, r, n, sp_dtype_size(t->dtype)};
    uint64_t numel;
    if ((rc = sp_shape_numel(&numel, t->shape, t->ndim)) != SP_OK)
        return rc;
    if (t->nbytes != numel * g.esize)
        return SP_EINVAL;
    int orth = 0;
    for (size_t k = 0; k < n; k++)
        orth |= r[k].init.kind == SP_INIT_ORTHOGONAL;
    if (!orth)
        return sp_tensor_digest_gen_progress(out, t, ranges_chunk, &g, nthreads, pg);
    /* an ORTHOGONAL range: the whole tensor once (one QR), then chunks copied from it */
    mem_ctx mc = {malloc(t->nbytes ? (size_t)t->nbytes : 1)};
    if (mc.buf == NULL)
        return SP_ENOMEM;
    rc = sp_init_fill_ranges(mc.buf, t->dtype, t->name, seed, r, n, 0, numel);
    if (rc == SP_OK)
        rc = sp_tensor_digest_gen_progress(out, t, mem_chunk, &mc, nthreads, pg);
    free(mc.buf);
    return rc;
}
