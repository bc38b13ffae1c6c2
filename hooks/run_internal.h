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

/* The declarations are public now: scratchproof.h, "Multi-rank building blocks". */

#endif
