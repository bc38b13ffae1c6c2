/*
 * audit_vec.h - small float kernels for the audit's hot loops, written with
 * GCC/clang vector extensions (4 floats, plain SSE2 on x86-64: no
 * -march=native). At -O2 the compiler does not vectorise reductions or
 * loops of unknown length by itself; these do. Loads and stores go through
 * memcpy, so no pointer needs any alignment. Internal to verify/audit*.c.
 */
#ifndef SP_AUDIT_VEC_H
#define SP_AUDIT_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit.h"

typedef float sp_v4 __attribute__((vector_size(16)));

static inline sp_v4 sp_v4_load(const float *p)
{
    sp_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void sp_v4_store(float *p, sp_v4 v)
{
    memcpy(p, &v, sizeof v);
}

static inline float sp_v4_sum(sp_v4 v)
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* sum x[k] * y[k] */
static inline float sp_dot(const float *x, const float *y, size_t n)
{
    sp_v4 s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        s0 += sp_v4_load(x + k) * sp_v4_load(y + k);
        s1 += sp_v4_load(x + k + 4) * sp_v4_load(y + k + 4);
    }
    float s = sp_v4_sum(s0 + s1);
    for (; k < n; k++)
        s += x[k] * y[k];
    return s;
}

/* acc[k] += x[k] */
static inline void sp_add(float *acc, const float *x, size_t n)
{
    size_t k = 0;
    for (; k + 4 <= n; k += 4)
        sp_v4_store(acc + k, sp_v4_load(acc + k) + sp_v4_load(x + k));
    for (; k < n; k++)
        acc[k] += x[k];
}

/* acc[k] += x[k] * y[k] */
static inline void sp_add_mul(float *acc, const float *x, const float *y, size_t n)
{
    size_t k = 0;
    for (; k + 4 <= n; k += 4)
        sp_v4_store(acc + k, sp_v4_load(acc + k) + sp_v4_load(x + k) * sp_v4_load(y + k));
    for (; k < n; k++)
        acc[k] += x[k] * y[k];
}

/* acc[k] += a * x[k] */
static inline void sp_axpy(float *acc, float a, const float *x, size_t n)
{
    sp_v4 av = {a, a, a, a};
    size_t k = 0;
    for (; k + 4 <= n; k += 4)
        sp_v4_store(acc + k, sp_v4_load(acc + k) + av * sp_v4_load(x + k));
    for (; k < n; k++)
        acc[k] += a * x[k];
}

/* Row sums in one sweep: sum x, sum y, sum xy, sum xx, sum yy. */
static inline void sp_row_sums(float out[5], const float *x, const float *y, size_t n)
{
    sp_v4 a = {0, 0, 0, 0}, b = a, ab = a, aa = a, bb = a;
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        sp_v4 u = sp_v4_load(x + k), v = sp_v4_load(y + k);
        a += u;
        b += v;
        ab += u * v;
        aa += u * u;
        bb += v * v;
    }
    out[0] = sp_v4_sum(a);
    out[1] = sp_v4_sum(b);
    out[2] = sp_v4_sum(ab);
    out[3] = sp_v4_sum(aa);
    out[4] = sp_v4_sum(bb);
    for (; k < n; k++) {
        out[0] += x[k];
        out[1] += y[k];
        out[2] += x[k] * y[k];
        out[3] += x[k] * x[k];
        out[4] += y[k] * y[k];
    }
}

/*
 * Elements [first, first + n) of t as floats: a pointer straight into the
 * mapping for aligned F32 data, else converted into scratch (n floats).
 */
static inline const float *sp_audit_row(const sp_tensor *t, uint64_t first, uint64_t n,
                                        float *scratch)
{
    if (t->dtype == SP_DTYPE_F32) {
        const float *p = (const float *)t->data + first;
        if (((uintptr_t)p & (sizeof(float) - 1)) == 0)
            return p;
    }
    sp_audit_to_float(scratch, t, first, n);
    return scratch;
}

#endif
