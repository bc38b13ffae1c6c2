/*
 * scratchproof_mpi.h - the hook for multi-rank jobs under MPI
 * (libscratchproof_mpi, SPEC.md 17). The base library needs no MPI; a job
 * that runs on several ranks links this one as well (pkg-config
 * scratchproof-mpi) and calls these functions instead of sp_run_*.
 *
 * Every function is collective over the communicator given to sp_mpi_open:
 * every rank calls it, in the same order, with the same tensor list (names,
 * dtypes and shapes of the WHOLE tensors, in the same order) and its own
 * part of each tensor as a byte range of the whole tensor (sp_shard). That
 * covers data-parallel replicas (every rank holds everything), FSDP-style
 * flat shards and tensor-parallel splits (row blocks are byte ranges; column
 * splits are given as several tensors or gathered first). Each rank hashes
 * the 1 MiB chunks it owns; only the bytes of chunks that straddle a shard
 * boundary travel between ranks; rank 0 gathers the leaves, signs and
 * appends one record. Tensor digests equal those of one process holding the
 * whole tensors, so a consolidated or re-sharded model binds to the records.
 *
 * Every rank returns the same code: a failure on any rank is a failure of
 * the call everywhere, with its detail in sp_mpi_errmsg on every rank.
 * After a failure the run is unusable (SP_EBADSTATE), as sp_run's are.
 * Threading: one thread per rank calls these; hashing inside uses
 * opts->threads threads. The MPI library must be initialised by the caller.
 */
#ifndef SCRATCHPROOF_MPI_H
#define SCRATCHPROOF_MPI_H

#include <mpi.h>

#include "scratchproof.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_mpi_run sp_mpi_run;

/* One rank's part of one tensor. */
typedef struct sp_shard {
    const char *name;              /* the whole tensor's name, as recorded */
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];   /* the whole tensor's shape */
    uint64_t offset;               /* first byte of the whole tensor held here */
    uint64_t len;                  /* bytes held here, at data (0: none) */
    const void *data;
} sp_shard;

/*
 * Opens a run on every rank of comm (duplicated internally). Rank 0 opens
 * the ledger and the key from opts (as sp_run_open); the other ranks' opts
 * only give threads (ledger_path and key_path may be NULL there). The
 * genesis records comm's size as world_size; batches_per_step recorded is
 * size x opts->batches_per_step (each rank commits its own batches).
 */
SP_API int sp_mpi_open(sp_mpi_run **out, MPI_Comm comm, const sp_run_options *opts)
    SP_WUR SP_NONNULL(1, 3);

/* The detail line of the last failure ("" if none), the same on every rank. */
SP_API const char *sp_mpi_errmsg(const sp_mpi_run *run);

/* This rank and the world size. */
SP_API int sp_mpi_rank(const sp_mpi_run *run) SP_NONNULL(1);
SP_API int sp_mpi_size(const sp_mpi_run *run) SP_NONNULL(1);

/*
 * The genesis: n tensors with their schemes (the same on every rank). Each
 * rank typically generates only its slice with sp_init_fill(first = offset /
 * element size). Every byte of every tensor must be held by some rank.
 */
SP_API int sp_mpi_genesis(sp_mpi_run *run, const sp_shard *t, const sp_init_scheme *schemes, size_t n)
    SP_WUR SP_NONNULL(1);

/*
 * Commits this rank's batch of one step. Every rank calls it once per
 * micro-batch with the same step; rank 0 joins the ranks' batch digests to
 * the chain in rank order (SPEC.md 17).
 */
SP_API int sp_mpi_commit_batch(sp_mpi_run *run, uint64_t step, const void *data, size_t len)
    SP_WUR SP_NONNULL(1);

/*
 * A checkpoint: weights t[0..n) and optimizer state opt[0..n_opt) (or
 * none), sharded like the genesis or otherwise. info->optimizer is ignored.
 */
SP_API int sp_mpi_checkpoint(sp_mpi_run *run, const sp_checkpoint_info *info, const sp_shard *t, size_t n,
                      const sp_shard *opt, size_t n_opt) SP_WUR SP_NONNULL(1, 2);

/* The final (published) weights, at most once, last. */
SP_API int sp_mpi_final(sp_mpi_run *run, uint64_t step, const sp_shard *t, size_t n) SP_WUR SP_NONNULL(1);

/* Closes the run on this rank (collective); NULL is a no-op. */
SP_API void sp_mpi_close(sp_mpi_run *run);

#ifdef __cplusplus
}
#endif
#endif
