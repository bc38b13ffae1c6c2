/*
 * init32_kern.h - the vector kernels of init32.c (SPEC.md 6.8), included once
 * per width with K32_LANES (4 or 8), K32_NAME, K32_TARGET and K32_SQRT
 * defined. Not a header of its own: it uses init32.c's constants (F_SQRT2,
 * F_LN2_HI, F_LN2_LO, F_TWOPI_2M24, F_L1..F_L4, F_S1..F_S4, F_C1..F_C5).
 * Lane l of a NORMAL32 step holds pair k + l and performs, operation for
 * operation, what sp_init32_normal_pair does in scalar binary32 code; the
 * branches become lane masks. UNIFORM32 lanes do what uniform_one does.
 */
#define K32_CAT2(a, b) a##_##b
#define K32_CAT(a, b) K32_CAT2(a, b)
#define VF K32_CAT(K32_NAME, vf)
#define VI K32_CAT(K32_NAME, vi)
#define VU K32_CAT(K32_NAME, vu)
#define VD K32_CAT(K32_NAME, vd)

typedef float VF __attribute__((vector_size(4 * K32_LANES)));
typedef int32_t VI __attribute__((vector_size(4 * K32_LANES)));
typedef uint32_t VU __attribute__((vector_size(4 * K32_LANES)));
typedef double VD __attribute__((vector_size(8 * K32_LANES)));

#if K32_LANES == 8
/* In-lane shuffles only (shufps, unpcklps/unpckhps): the lanes hold pairs 0 1 4 5 2 3 6 7,
   and the interleave back puts every element where it belongs. */
#define K32_EVEN 0, 2, 8, 10, 4, 6, 12, 14
#define K32_ODD 1, 3, 9, 11, 5, 7, 13, 15
#define K32_LO 0, 8, 1, 9, 4, 12, 5, 13
#define K32_HI 2, 10, 3, 11, 6, 14, 7, 15
#elif K32_LANES == 4
#define K32_EVEN 0, 2, 4, 6
#define K32_ODD 1, 3, 5, 7
#define K32_LO 0, 4, 1, 5
#define K32_HI 2, 6, 3, 7
#else
#error "K32_LANES must be 4 or 8"
#endif

/* Pairs [0, k) of NORMAL32, k the largest multiple of K32_LANES <= npairs. */
K32_TARGET static size_t K32_CAT(K32_NAME, normal)(float *out, const unsigned char *words,
                                                  size_t npairs, float m, float sd)
{
    size_t k = 0;
    for (; k + K32_LANES <= npairs; k += K32_LANES) {
        VU a, b;   /* words 2k .. 2k + 2L - 1, little-endian */
        memcpy(&a, words + 8 * k, sizeof a);
        memcpy(&b, words + 8 * k + sizeof a, sizeof b);
        VU w0 = __builtin_shufflevector(a, b, K32_EVEN);
        VU w1 = __builtin_shufflevector(a, b, K32_ODD);
        /* u1 = ((w0 >> 8) + 1) * 2^-24 in [2^-24, 1], exact */
        VF u1 = __builtin_convertvector((VI)((w0 >> 8) + 1), VF) * 0x1p-24f;
        /* ln(u1) */
        VI bits = (VI)u1;
        VI e = (bits >> 23) - 127;                 /* bits > 0 */
        VF f = (VF)((bits & 0x007fffff) | 0x3f800000);
        VI big = f >= F_SQRT2;                     /* -1 where true */
        f = (VF)(((VI)(f * 0.5f) & big) | ((VI)f & ~big));
        e = e - big;
        VF s = (f - 1.0f) / (f + 1.0f);
        VF z = s * s;
        VF p = (VF){0} + F_L4;
        p = F_L3 + z * p;
        p = F_L2 + z * p;
        p = F_L1 + z * p;
        p = z * p;
        VF t = 2.0f * (s + s * p);
        VF fe = __builtin_convertvector(e, VF);
        VF ln = fe * F_LN2_HI + (t + fe * F_LN2_LO);
        VF r = K32_SQRT(-2.0f * ln);
        /* sincos2pi(w1 >> 8) */
        VI n = (VI)(w1 >> 8);
        VI q = (n + (1 << 21)) >> 22;              /* 0..4 */
        VI rr = n - (VI)((VU)q << 22);
        VF x = __builtin_convertvector(rr, VF) * F_TWOPI_2M24;
        VF xx = x * x;
        VF ps = (VF){0} + F_S4;
        ps = F_S3 + xx * ps;
        ps = F_S2 + xx * ps;
        ps = F_S1 + xx * ps;
        VF sn = x + x * (xx * ps);
        VF pc = (VF){0} + F_C5;
        pc = F_C4 + xx * pc;
        pc = F_C3 + xx * pc;
        pc = F_C2 + xx * pc;
        pc = F_C1 + xx * pc;
        VF cs = 1.0f + xx * pc;
        /* q mod 4: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s) */
        VI odd = -(q & 1);
        VI sv = ((VI)cs & odd) | ((VI)sn & ~odd);
        VI cv = ((VI)sn & odd) | ((VI)cs & ~odd);
        sv ^= (VI)(((VU)q << 30) & 0x80000000u);        /* negate when q & 2 */
        cv ^= (VI)(((VU)(q + 1) << 30) & 0x80000000u);  /* negate when q is 1 or 2 */
        VF oc = m + sd * (r * (VF)cv);
        VF os = m + sd * (r * (VF)sv);
        VF lo = __builtin_shufflevector(oc, os, K32_LO);
        VF hi = __builtin_shufflevector(oc, os, K32_HI);
        memcpy(out + 2 * k, &lo, sizeof lo);
        memcpy(out + 2 * k + K32_LANES, &hi, sizeof hi);
    }
    return k;
}

/* Elements [0, k) of UNIFORM32, k the largest multiple of K32_LANES <= n. */
K32_TARGET static size_t K32_CAT(K32_NAME, uniform)(float *out, const unsigned char *words,
                                                   size_t n, double low, double span)
{
    size_t k = 0;
    for (; k + K32_LANES <= n; k += K32_LANES) {
        VU w;
        memcpy(&w, words + 4 * k, sizeof w);
        VD u = __builtin_convertvector((VI)(w >> 8), VD) * 0x1p-24;   /* exact */
        VF f = __builtin_convertvector(low + span * u, VF);
        memcpy(out + k, &f, sizeof f);
    }
    return k;
}

/* Floats [0, k) of f as BF16 (little-endian) at out, exactly as sp_f32_to_bf16. */
K32_TARGET static size_t K32_CAT(K32_NAME, bf16)(unsigned char *out, const float *f, size_t n)
{
    typedef uint16_t VH __attribute__((vector_size(2 * K32_LANES)));
    size_t k = 0;
    for (; k + K32_LANES <= n; k += K32_LANES) {
        VU b;
        memcpy(&b, f + k, sizeof b);
        VI nan = (VI)(b & 0x7fffffffu) > 0x7f800000;   /* -1 where NaN */
        VU r = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
        VU q = ((b >> 16) & 0x8000u) | 0x7fc0u;
        r = (r & (VU)~nan) | (q & (VU)nan);
        VH h = __builtin_convertvector(r, VH);
        memcpy(out + 2 * k, &h, sizeof h);
    }
    return k;
}

#undef VF
#undef VI
#undef VU
#undef VD
#undef K32_EVEN
#undef K32_ODD
#undef K32_LO
#undef K32_HI
#undef K32_LANES
#undef K32_NAME
#undef K32_TARGET
#undef K32_SQRT
