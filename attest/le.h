/*
 * le.h - little-endian 64-bit loads and stores of byte strings (internal):
 * the formats of SPEC.md store their integers little-endian whatever the host.
 */
#ifndef SP_LE_H
#define SP_LE_H

#include <stdint.h>

static inline uint64_t sp_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void sp_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
