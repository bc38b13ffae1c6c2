/*
 * init_bm.h - the vector Box-Muller kernel of init_math.c, included once per
 * lane count with BM_LANES, BM_NAME, BM_TARGET and BM_SQRT defined (see the
 * comment above its inclusion). Not a header of its own: it uses
 * init_math.c's constants L, S, C, SQRT2, LN2_HI, LN2_LO and TWOPI_2M53.
 * Each lane holds one pair of keystream words (w0, w1) and computes, like
 * box_muller() in init.c:
 *   u1 = ((w0 >> 11) + 1) * 2^-53;  r = sqrt(-2 * ln(u1));
 *   (s, c) = sincos2pi(w1 >> 11);   out = (float)(mean + std * (r * c)), (float)(mean + std * (r * s)).
 */
#define BM_CAT2(a, b) a##_##b
#define BM_CAT(a, b) BM_CAT2(a, b)
#define VD BM_CAT(BM_NAME, vd)
#define VI BM_CAT(BM_NAME, vi)
#define VF BM_CAT(BM_NAME, vf)
#define VU BM_CAT(BM_NAME, vu)

typedef double VD __attribute__((vector_size(8 * BM_LANES)));
typedef int64_t VI __attribute__((vector_size(8 * BM_LANES)));
typedef float VF __attribute__((vector_size(4 * BM_LANES)));
typedef uint64_t VU __attribute__((vector_size(8 * BM_LANES)));

BM_TARGET static inline VD BM_CAT(BM_NAME, u32d)(VI v)      /* lanes 0 <= v < 2^32 */
{
    return (VD)(v | INT64_C(0x4330000000000000)) - 0x1p52;
}

BM_TARGET static inline VD BM_CAT(BM_NAME, i51d)(VI v)      /* lanes |v| < 2^51 */
{
    return (VD)(v + INT64_C(0x4338000000000000)) - 0x1.8p52;
}

BM_TARGET static size_t BM_NAME(float *out, const unsigned char *words, size_t npairs,
                                double mean, double std)
{
    size_t k = 0;
    for (; k + BM_LANES <= npairs; k += BM_LANES) {
        VI w0, w1;
        for (int l = 0; l < BM_LANES; l++) {      /* little-endian words, lane l = pair k + l */
            uint64_t a, b;
            memcpy(&a, words + 16 * (k + (size_t)l), 8);
            memcpy(&b, words + 16 * (k + (size_t)l) + 8, 8);
            w0[l] = (int64_t)a;
            w1[l] = (int64_t)b;
        }
        /* ln(u1) */
        VI v = (VI)((VU)w0 >> 11) + 1;
        VD u1 = (BM_CAT(BM_NAME, u32d)(v >> 32) * 0x1p32 + BM_CAT(BM_NAME, u32d)(v & INT64_C(0xffffffff)))
                * 0x1p-53;                          /* both steps exact */
        VI b = (VI)u1;
        VI e = (b >> 52) - 1023;                   /* b >= 0: the shift is logical */
        VD f = (VD)((b & INT64_C(0x000fffffffffffff)) | (INT64_C(1023) << 52));
        VI big = f >= SQRT2;                       /* -1 where true */
        f = (VD)(((VI)(f * 0.5) & big) | ((VI)f & ~big));
        e = e - big;
        VD s = (f - 1.0) / (f + 1.0);
        VD z = s * s;
        VD p = (VD){0} + L[11];
        for (int j = 10; j >= 0; j--)
            p = L[j] + z * p;
        p = z * p;
        VD t = 2.0 * (s + s * p);
        VD fe = BM_CAT(BM_NAME, i51d)(e);
        VD ln = fe * LN2_HI + (t + fe * LN2_LO);
        VD r = BM_SQRT(-2.0 * ln);
        /* sincos2pi(n) */
        VI n = (VI)((VU)w1 >> 11);
        VI q = (n + (INT64_C(1) << 50)) >> 51;    /* n >= 0: logical */
        VI rr = n - (q << 51);
        VD x = BM_CAT(BM_NAME, i51d)(rr) * TWOPI_2M53;
        VD zz = x * x;
        VD ps = (VD){0} + S[7];
        for (int j = 6; j >= 0; j--)
            ps = S[j] + zz * ps;
        VD sn = x + x * (zz * ps);
        VD pc = (VD){0} + C[8];
        for (int j = 7; j >= 0; j--)
            pc = C[j] + zz * pc;
        VD cs = 1.0 + zz * pc;
        /* q mod 4: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s) */
        VI odd = -(q & 1);
        VI sv = ((VI)cs & odd) | ((VI)sn & ~odd);
        VI cv = ((VI)sn & odd) | ((VI)cs & ~odd);
        const uint64_t sign = UINT64_C(1) << 63;
        sv ^= (VI)(((VU)q << 62) & sign);          /* negate when q & 2 */
        cv ^= (VI)(((VU)(q + 1) << 62) & sign);    /* negate when q is 1 or 2 */
        VF fc = __builtin_convertvector(mean + std * (r * (VD)cv), VF);
        VF fs = __builtin_convertvector(mean + std * (r * (VD)sv), VF);
        for (int l = 0; l < BM_LANES; l++) {
            out[2 * (k + (size_t)l)] = fc[l];
            out[2 * (k + (size_t)l) + 1] = fs[l];
        }
    }
    return k;
}

#undef VD
#undef VI
#undef VF
#undef VU
#undef BM_LANES
#undef BM_NAME
#undef BM_TARGET
#undef BM_SQRT
