/*
 * run_internal.h - what libraries layered on a run (the MPI hook,
 * hooks/mpi.c) use besides scratchproof.h: recording digests computed
 * elsewhere (by other ranks) instead of hashing tensors in this process.
 * Not installed; not part of the public API.
 *
 * The *_digests functions take tensor descriptions whose data pointers are
 * ignored (nbytes is the whole tensor's size) and d[i], the tensor digest
 * (SPEC.md 2.2) of t[i]; otherwise they behave as sp_run_genesis,
 * sp_run_checkpoint (info->optimizer describes the optimizer tensors, opt_d
 * their digests) and sp_run_final.
 */
#ifndef SP_RUN_INTERNAL_H
#define SP_RUN_INTERNAL_H

#include "scratchproof.h"

/* d = H("scratchproof/batch", u64le(step) || data) (SPEC.md 2.6). */
void sp_batch_digest(uint8_t d[SP_DIGEST_BYTES], uint64_t step, const void *data, size_t len)
    SP_NONNULL(1);

/* Joins a batch digest computed elsewhere to the chain. */
int sp_run_commit_digest(sp_run *run, uint64_t step, const uint8_t d[SP_DIGEST_BYTES])
    SP_WUR SP_NONNULL(1, 3);

int sp_run_genesis_digests(sp_run *run, const sp_record_tensor *t, const uint8_t (*d)[SP_DIGEST_BYTES],
                           size_t n, uint32_t world_size, const uint8_t sharding[SP_DIGEST_BYTES])
    SP_WUR SP_NONNULL(1);

int sp_run_checkpoint_digests(sp_run *run, const sp_checkpoint_info *info, const sp_tensor *t,
                              const uint8_t (*d)[SP_DIGEST_BYTES], size_t n,
                              const uint8_t (*opt_d)[SP_DIGEST_BYTES]) SP_WUR SP_NONNULL(1, 2);

int sp_run_final_digests(sp_run *run, uint64_t step, const sp_tensor *t,
                         const uint8_t (*d)[SP_DIGEST_BYTES], size_t n) SP_WUR SP_NONNULL(1);

#endif
