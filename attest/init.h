/*
 * init.h - the deterministic initialiser (SPEC.md 6).
 *
 * Every element of a tensor is a pure function of (seed, tensor name, scheme,
 * dtype, element index): random-access, so any slice generated alone equals
 * that slice of the whole tensor, and a sharded rank generates only its part.
 * Randomness is ChaCha20 keystream from libsodium keyed per tensor; values are
 * computed with IEEE-754 basic operations in double precision only (no libm
 * transcendental calls; built with -ffp-contract=off), then rounded to the
 * dtype with round-to-nearest-even. Bit-exact across compilers and x86-64/ARM.
 */
#ifndef SP_INIT_H
#define SP_INIT_H

#include "sp_base.h"
#include "digest.h"

/*
 * Checks a scheme: kind known, parameters finite and in range (see sp_base.h;
 * for UNIFORM high - low must be finite too), unused parameters +0.0 bit for
 * bit (so each scheme has one encoding). SP_OK or SP_EINVAL.
 */
SP_API int sp_init_check(const sp_init_scheme *s) SP_WUR SP_NONNULL(1);   /* public */

/*
 * Sets *s to ORTHOGONAL with this gain for a tensor of this shape (SPEC.md
 * 6.9): p[1] = rows = shape[0], p[2] = cols = numel / rows. SP_EINVAL (and *s
 * zeroed) when ndim < 2, an element count of 0, or the scheme fails
 * sp_init_check (gain not finite and > 0; the matrix over the size limits of
 * sp_base.h).
 */
SP_API int sp_init_orthogonal(sp_init_scheme *s, double gain, const uint64_t *shape, uint32_t ndim)
    SP_WUR SP_NONNULL(1, 3);   /* public, re-declared in scratchproof.h */

/*
 * Checks that scheme s fits a tensor of this shape: for ORTHOGONAL, ndim >= 2,
 * p[1] = shape[0] and p[2] = numel / shape[0]; every other kind fits every
 * shape. SP_OK or SP_EINVAL. (s is assumed to pass sp_init_check.)
 */
int sp_init_shape_check(const sp_init_scheme *s, const uint64_t *shape, uint32_t ndim)
    SP_WUR SP_NONNULL(1);

/*
 * Checks the ranges r[0..n) of a tensor of this shape (SPEC.md 6.10): 2 <= n
 * <= SP_INIT_MAX_RANGES; r[0].first = 0; every count >= 1; each range starts
 * where the previous ends; the last ends at the element count; every scheme
 * passes sp_init_check and sp_init_shape_check and is not EXTERNAL; no two
 * neighbours have the same scheme (kind and parameters bit for bit), so that
 * a tensor's ranges have one encoding. SP_OK or SP_EINVAL.
 */
SP_API int sp_init_ranges_check(const sp_init_range *r, size_t n, const uint64_t *shape, uint32_t ndim)
    SP_WUR;   /* public, re-declared in scratchproof.h */

/*
 * sp_init_fill for a tensor given by ranges: elements [first, first + count)
 * of tensor `name`, each from the scheme of its range at its own index. The
 * ranges must pass sp_init_ranges_check's checks other than the shape's
 * (SP_EINVAL); SP_ERANGE when first + count passes the last range's end;
 * otherwise the errors of sp_init_fill.
 */
SP_API int sp_init_fill_ranges(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                               const sp_init_range *r, size_t n, uint64_t first, uint64_t count)
    SP_WUR SP_NONNULL(1, 3);   /* public, re-declared in scratchproof.h */

/* sp_init_digest for a tensor given by ranges (the errors of sp_init_fill_ranges too). */
int sp_init_digest_ranges(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                          const sp_init_range *r, size_t n, unsigned nthreads, const sp_progress *pg)
    SP_WUR SP_NONNULL(1, 2);

/*
 * Fills out with elements [first, first + count) of the tensor `name` as the
 * scheme generates it for `seed`, in dtype (F32, F16 or BF16; SP_EUNSUPPORTED
 * otherwise). out holds count * sp_dtype_size(dtype) bytes. SP_EINVAL for
 * SP_INIT_EXTERNAL, a bad scheme, or a name that is empty or longer than
 * SP_NAME_MAX; SP_ERANGE if first + count overflows or passes 2^62 (for
 * ORTHOGONAL: rows * cols); SP_ECRYPTO if libsodium cannot initialise.
 * ORTHOGONAL computes the whole matrix for any slice (heap, SP_ENOMEM).
 */
SP_API int sp_init_fill(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                        const sp_init_scheme *s, uint64_t first, uint64_t count)
    SP_WUR SP_NONNULL(1, 3, 5);   /* public, re-declared in scratchproof.h */

/*
 * sp_init_fill on nthreads threads (0 or 1: the calling thread), in slices
 * of 2^16 elements: the same bytes for every thread count. Same errors.
 */
int sp_init_fill_threads(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                         const sp_init_scheme *s, uint64_t first, uint64_t count,
                         unsigned nthreads) SP_WUR SP_NONNULL(1, 3, 5);

/*
 * The tensor digest (SPEC.md 2.2) of tensor t (name, dtype, shape, nbytes;
 * t->data is ignored) as sp_init_fill would generate it from seed and s,
 * without materialising it: each 1 MiB chunk is generated and hashed on one of
 * nthreads threads while it is in cache. Errors: those of sp_init_fill and
 * sp_tensor_digest (SP_EINVAL when nbytes does not match the shape).
 */
int sp_init_digest(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                   const sp_init_scheme *s, unsigned nthreads) SP_WUR SP_NONNULL(1, 2, 4);
/* The same, reporting progress in bytes through pg (digest.h; NULL: none). */
int sp_init_digest_progress(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, uint64_t seed,
                            const sp_init_scheme *s, unsigned nthreads, const sp_progress *pg)
    SP_WUR SP_NONNULL(1, 2, 4);

/* Round-to-nearest-even conversions used by the initialiser (exposed for tests). */
uint16_t sp_f32_to_bf16(float x);
uint16_t sp_f32_to_f16(float x);
float sp_bf16_to_f32(uint16_t h);
float sp_f16_to_f32(uint16_t h);

#endif
