/*
 * pool.h - the one way scratchproof runs work on several threads: hashing
 * (digest.c), regeneration (init_threads.c), signature checks (verify) and
 * the audit all call sp_pool_run.
 *
 * The model is a shared work counter: sp_pool_run starts nthreads - 1
 * threads and runs fn on them and on the calling thread; each call of fn
 * takes work items from a counter in ctx until none are left, so a thread
 * that could not be started only means the others do its share. Results
 * never depend on the thread count. Threads live for one call: nothing is
 * kept between calls, so the library holds no global state.
 */
#ifndef SP_POOL_H
#define SP_POOL_H

#include <stdatomic.h>
#include <stdint.h>

#define SP_MAX_THREADS 64u

/*
 * Runs fn(ctx, thread_index) on up to nthreads threads (0 or 1: the calling
 * thread only; capped at SP_MAX_THREADS), the caller being index 0, and
 * returns when every call has returned. Returns the number of threads that
 * ran (at least 1). Thread start failures are not errors.
 */
unsigned sp_pool_run(unsigned nthreads, void (*fn)(void *ctx, unsigned thread_index), void *ctx);

/*
 * Takes the next batch of up to `batch` items of n from a shared counter:
 * returns the first index and sets *end, or returns n when none are left.
 */
uint64_t sp_pool_take(atomic_uint_least64_t *next, uint64_t n, uint64_t batch, uint64_t *end);

#endif
