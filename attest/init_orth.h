/*
 * init_orth.h - the ORTHOGONAL scheme's matrix (SPEC.md 6.9), internal to
 * the initialiser (init.c, init_orth.c, init_threads.c).
 */
#ifndef SP_INIT_ORTH_H
#define SP_INIT_ORTH_H

#include <stddef.h>
#include <stdint.h>

#include "sp_base.h"

/*
 * v[0..count) = the binary64 values v(i) of NORMAL(0, 1) (SPEC.md 6.3) of
 * tensor `name` (name_len bytes, 1..SP_NAME_MAX) for seed. sodium_init() must
 * have succeeded.
 */
void sp_init_normal_values(double *v, uint64_t seed, const char *name, size_t name_len,
                           uint64_t count);

/*
 * The binary64 values of every element of an ORTHOGONAL tensor (s checked by
 * sp_init_check), row-major rows x cols, into a malloc'd *vals (free() it).
 * SP_OK or SP_ENOMEM. Cost O(rows * cols * min(rows, cols)).
 */
int sp_init_orth_values(double **vals, const sp_init_scheme *s, uint64_t seed, const char *name,
                        size_t name_len) SP_WUR;

/*
 * out[0..count) = the binary32 values (f = (binary32) v, SPEC.md 6.3) of
 * elements [first, first + count) of an ORTHOGONAL tensor (s checked, the
 * range inside rows * cols), from a cache of recent matrices or computed and
 * then cached. SP_OK or SP_ENOMEM. Thread-safe.
 */
int sp_init_orth_f32(float *out, const sp_init_scheme *s, uint64_t seed, const char *name,
                     size_t name_len, uint64_t first, uint64_t count) SP_WUR;

#endif
