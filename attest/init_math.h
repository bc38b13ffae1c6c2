/*
 * init_math.h - the elementary functions of the deterministic initialiser
 * (SPEC.md 6.4), internal to scratchproof.
 *
 * Each function is a fixed sequence of IEEE-754 double operations (+ - * /
 * and sqrt, all correctly rounded), integer and bit manipulation: no libm
 * transcendental call, no long double. Compiled with -ffp-contract=off the
 * results are bit-identical across compilers, optimisation levels and CPUs.
 * tests/init_reference.py replays the same operations in Python.
 * Accuracy (measured against mpmath, see tests/test_init_math.c) is a few
 * ulps; determinism is what matters.
 */
#ifndef SP_INIT_MATH_H
#define SP_INIT_MATH_H

#include <stdint.h>

/* Natural logarithm: -inf for +-0, NaN for x < 0 or NaN, +inf for +inf. */
double sp_imath_ln(double x);

/* e^t; intended for t <= 0 (+inf for t > 709, 0 for t < -746). */
double sp_imath_exp(double t);

/*
 * sin and cos of 2*pi*n*2^-53 for an integer 0 <= n < 2^53 (n is reduced
 * modulo 2^53). The quadrant comes from n exactly; the remainder angle lies
 * in [-pi/4, pi/4].
 */
void sp_imath_sincos2pi(uint64_t n, double *s, double *c);

/* Error function and its complement, any double argument. */
double sp_imath_erf(double x);
double sp_imath_erfc(double x);

/* Standard normal CDF: 0.5 * erfc(-x / sqrt(2)). */
double sp_imath_phi(double x);

/*
 * Inverse standard normal CDF (Wichura AS241, PPND16): -inf for p <= 0,
 * +inf for p >= 1, NaN for NaN.
 */
double sp_imath_ndtri(double p);

/*
 * NORMAL elements of whole pairs (SPEC.md 6.3), vectorised where the CPU
 * allows and bit-identical to the scalar path: words holds 2 * npairs
 * keystream words (little-endian, 16 bytes per pair), out receives 2 floats
 * per pair, (float)(mean + std * z) for the cos then the sin branch. Returns
 * the number of pairs done (a prefix; the caller does the rest), 0 when there
 * is no vector path. Little-endian hosts only (x86-64).
 */
#include <stddef.h>
size_t sp_imath_normal_pairs(float *out, const unsigned char *words, size_t npairs,
                             double mean, double std);

/* The same with a given vector width (2: SSE2, 4: AVX2), for tests: 0 pairs when unavailable. */
size_t sp_imath_normal_pairs_lanes(unsigned lanes, float *out, const unsigned char *words,
                                   size_t npairs, double mean, double std);

#endif
