/*
 * init_test_util.h - small helpers the initialiser's tests share (test_init.c,
 * test_init32.c, test_init_math.c, test_init_orth.c). Include after <cmocka.h>
 * and <sodium.h>. Everything is static inline: a test uses what it needs.
 */
#ifndef SP_INIT_TEST_UTIL_H
#define SP_INIT_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* BLAKE2b-256 of data as 64 hex digits (the digests in the vector tables). */
static inline void hex_digest(char out[65], const void *data, size_t n)
{
    unsigned char d[32];
    crypto_generichash(d, sizeof d, data, n, NULL, 0);
    sodium_bin2hex(out, 65, d, sizeof d);
}

static inline uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t f_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* splitmix64: reproducible test inputs (set rng_state to seed a sequence). */
static uint64_t rng_state;
static inline uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline unsigned char *xmalloc(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

#endif
