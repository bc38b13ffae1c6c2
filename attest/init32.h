/*
 * init32.h - the version-2 kinds of the deterministic initialiser,
 * SP_INIT_UNIFORM32 and SP_INIT_NORMAL32 (SPEC.md 6.8), internal to
 * scratchproof: 4 keystream bytes per element (32-bit words) and, for
 * NORMAL32, Box-Muller entirely in binary32. sp_init_check and sp_init_fill
 * (init.c) call in here; the public entry points stay those of init.h.
 *
 * Every path (scalar, 4-lane SSE2, 8-lane AVX2, chosen at run time) performs
 * the same IEEE-754 binary32/binary64 operations in the same order, so the
 * bytes never depend on the CPU. Must be compiled with -ffp-contract=off.
 */
#ifndef SP_INIT32_H
#define SP_INIT32_H

#include "sp_base.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The kind-specific checks of SPEC.md 6.1 for UNIFORM32 and NORMAL32 (the
 * parameter count and +0.0 padding are sp_init_check's): SP_OK or SP_EINVAL.
 * UNIFORM32 as UNIFORM; NORMAL32 needs std > 0 and mean and std that round
 * to finite binary32 values, std to one > 0.
 */
int sp_init32_check(const sp_init_scheme *s) SP_NONNULL(1);

/*
 * Writes elements [first, first + count) of a UNIFORM32 or NORMAL32 tensor
 * with tensor key `key` (SPEC.md 6.2) to out in dtype (F32, F16 or BF16).
 * The caller (sp_init_fill) has validated every argument; no failure.
 */
void sp_init32_fill(unsigned char *out, sp_dtype dtype, const unsigned char key[32],
                    const sp_init_scheme *s, uint64_t first, uint64_t count) SP_NONNULL(1, 3, 4);

/*
 * Keystream blocks [b, b + nblk) of the tensor key (SPEC.md 6.2) into buf
 * (nblk * 64 bytes, 1 <= nblk <= SP_INIT_KS_BLOCKS_MAX): ChaCha20-IETF with
 * nonce 0^4 || u64le(b >> 32) and counter b mod 2^32, split where the nonce
 * changes. Shared by both element mappings (init.c, init32.c).
 */
#define SP_INIT_KS_BLOCKS_MAX 64u
void sp_init_ks_blocks(unsigned char *buf, const unsigned char key[32], uint64_t b, uint64_t nblk)
    SP_NONNULL(1, 2);

/* ---- the binary32 functions of SPEC.md 6.8, exposed for tests ---- */

/* ln of a positive normal binary32 x (no special cases: the kernel only sees [2^-24, 1]). */
float sp_imath32_ln(float x);

/* sin and cos of 2*pi*n*2^-24 for 0 <= n < 2^24. */
void sp_imath32_sincos2pi(uint32_t n, float *s, float *c);

/* The NORMAL32 pair of words (w0, w1) with binary32 mean m and std sd: out[0] cos, out[1] sin. */
void sp_init32_normal_pair(float out[2], uint32_t w0, uint32_t w1, float m, float sd);

/*
 * The vector kernels with a given width (1: scalar, 4: SSE2, 8: AVX2): words
 * holds little-endian 32-bit keystream words; NORMAL32 takes 2 words per
 * pair and writes 2 floats per pair, UNIFORM32 1 word and 1 float per
 * element. Return how many pairs (elements) they did, a prefix that is a
 * multiple of the width; 0 when the CPU lacks the width. For tests and bench.
 */
size_t sp_init32_normal_lanes(unsigned lanes, float *out, const unsigned char *words,
                              size_t npairs, float m, float sd);
size_t sp_init32_uniform_lanes(unsigned lanes, float *out, const unsigned char *words,
                               size_t n, double low, double span);

/* Floats [0, k) of f as BF16 bytes (sp_f32_to_bf16, little-endian) on a vector width (4 or
   8); returns k, a multiple of the width (0: no such path; the caller converts the rest). */
size_t sp_init32_bf16_lanes(unsigned lanes, unsigned char *out, const float *f, size_t n);

/* The width sp_init32_fill uses: 8 with AVX2, else 4; SP_INIT_LANES=1 forces 1, =2 or =4 forces 4. */
unsigned sp_init32_lanes(void);

#endif
