/*
 * sp_digest.h - the digest functions of the public API (SPEC.md 2.0, 2.2),
 * installed as <scratchproof/sp_digest.h>. A job or a binding uses them to
 * compute what a record commits to without writing a record: the tensor
 * digest of a tensor in memory, and the tagged hash every other digest of
 * the format is built from. The rest of the digest machinery (chunk trees,
 * checkpoint roots, file roots) is internal: attest/digest.h.
 * Thread-safe; nothing is allocated beyond the hashing threads' buffers.
 */
#ifndef SP_DIGEST_API_H
#define SP_DIGEST_API_H

#include "sp_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Plain domain-separated BLAKE2b-256: out = H(tag || 0x00 || data) (SPEC.md
 * 2.0). tag is an ASCII string from SPEC.md ("scratchproof/batch", ...);
 * data may be NULL when len is 0. Returns SP_OK, or SP_EINVAL for NULL data
 * with len > 0.
 */
SP_API int sp_hash_tagged(uint8_t out[SP_DIGEST_BYTES], const char *tag,
                          const void *data, size_t len) SP_NONNULL(1, 2);

/*
 * The digest of one tensor (SPEC.md 2.2): name, dtype, shape and the chunk
 * tree of its bytes, hashed on nthreads threads (0 or 1: the calling
 * thread; the digest is the same for every count). Checks the tensor with
 * sp_tensor_check first: SP_EINVAL or SP_ERANGE for a bad description;
 * SP_ENOMEM.
 */
SP_API int sp_tensor_digest(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                            unsigned nthreads) SP_WUR SP_NONNULL(1, 2);

/*
 * The pieces of a tensor digest, for digests assembled from chunks hashed
 * elsewhere (the ranks of a multi-rank run: hooks/mpi.c, the Python
 * scratchproof.dist): leaf `index` of the chunk tree (SPEC.md 2.1) over one
 * chunk of len <= 1 MiB (SP_CHUNK_BYTES) bytes, and the tensor digest of t
 * (t->data ignored) from its nleaves = ceil(nbytes / 1 MiB) leaves in order.
 * SP_EINVAL for a wrong count.
 */
SP_API void sp_leaf_digest(uint8_t out[SP_DIGEST_BYTES], uint64_t index, const void *chunk, size_t len)
    SP_NONNULL(1);
SP_API int sp_tensor_digest_leaves(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                                   const uint8_t (*leaves)[SP_DIGEST_BYTES], uint64_t nleaves)
    SP_WUR SP_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif
#endif
