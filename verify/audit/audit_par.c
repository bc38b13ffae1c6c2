/*
 * audit_par.c - the audit's loops over tensors on the one thread pool
 * (attest/pool.h), with progress (audit.h, SPEC.md 10 "Speed").
 *
 * Every loop run here computes items that are independent of each other and
 * writes each item's result into its own slot; whatever depends on the order
 * (adding permutation maps, verdicts) stays on the caller's thread, after the
 * loop. So results never depend on the thread count.
 */
#include "audit.h"
#include "pool.h"

#include <stdatomic.h>
#include <unistd.h>

typedef struct par {
    int (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n;
    const uint64_t *weight;     /* progress weight of item i, or NULL: 1 each */
    const sp_progress *pg;
    atomic_uint_least64_t next;
    atomic_uint_least64_t done; /* progress units finished, all threads */
    atomic_int rc;              /* first failure, SP_OK while none */
} par;

static void par_worker(void *arg, unsigned thread_index)
{
    par *q = arg;
    uint64_t end;
    for (;;) {
        if (atomic_load_explicit(&q->rc, memory_order_relaxed) != SP_OK)
            return;
        uint64_t i = sp_pool_take(&q->next, q->n, 1, &end);
        if (i >= q->n)
            return;
        int rc = q->fn(q->ctx, (size_t)i);
        if (rc != SP_OK) {
            int ok = SP_OK;
            atomic_compare_exchange_strong(&q->rc, &ok, rc);
        }
        uint64_t w = q->weight ? q->weight[i] : 1;
        uint64_t d = atomic_fetch_add_explicit(&q->done, w, memory_order_relaxed) + w;
        /* only the calling thread reports, so the callback needs no lock (digest.h) */
        if (thread_index == 0 && q->pg != NULL && q->pg->fn != NULL)
            q->pg->fn(q->pg->ctx, q->pg->what, q->pg->base + d, q->pg->total);
    }
}

unsigned sp_audit_threads(unsigned threads)
{
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (unsigned)c : 1;
    }
    return threads;
}

int sp_audit_par_for(size_t n, unsigned threads, int (*fn)(void *ctx, size_t i), void *ctx,
                     const uint64_t *weight, const sp_progress *pg)
{
    par q = {.fn = fn, .ctx = ctx, .n = n, .weight = weight, .pg = pg};
    atomic_init(&q.next, 0);
    atomic_init(&q.done, 0);
    atomic_init(&q.rc, SP_OK);
    if (n == 0)
        return SP_OK;
    if (pg != NULL && pg->fn != NULL)   /* the phase is on the screen from its start */
        pg->fn(pg->ctx, pg->what, pg->base, pg->total);
    threads = sp_audit_threads(threads);
    if (threads > n)
        threads = (unsigned)n;
    sp_pool_run(threads, par_worker, &q);
    int rc = atomic_load(&q.rc);
    if (rc == SP_OK && pg != NULL && pg->fn != NULL)  /* the last item may have ended on another thread */
        pg->fn(pg->ctx, pg->what, pg->base + atomic_load(&q.done), pg->total);
    return rc;
}
