/* pool.c - running work on several threads (pool.h). */
#include "pool.h"

#include <pthread.h>

typedef struct pool_thread {
    void (*fn)(void *, unsigned);
    void *ctx;
    unsigned index;
} pool_thread;

static void *pool_trampoline(void *arg)
{
    pool_thread *t = arg;
    t->fn(t->ctx, t->index);
    return NULL;
}

unsigned sp_pool_run(unsigned nthreads, void (*fn)(void *ctx, unsigned thread_index), void *ctx)
{
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > SP_MAX_THREADS)
        nthreads = SP_MAX_THREADS;
    pthread_t tid[SP_MAX_THREADS];
    pool_thread arg[SP_MAX_THREADS];
    unsigned started = 0;
    for (unsigned i = 1; i < nthreads; i++) {
        arg[started] = (pool_thread){fn, ctx, started + 1};
        if (pthread_create(&tid[started], NULL, pool_trampoline, &arg[started]) != 0)
            break;          /* fewer threads, never an error */
        started++;
    }
    fn(ctx, 0);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    return started + 1;
}

uint64_t sp_pool_take(atomic_uint_least64_t *next, uint64_t n, uint64_t batch, uint64_t *end)
{
    if (batch < 1)
        batch = 1;
    uint64_t i = atomic_fetch_add_explicit(next, batch, memory_order_relaxed);
    if (i >= n) {
        *end = n;
        return n;
    }
    *end = n - i < batch ? n : i + batch;
    return i;
}
