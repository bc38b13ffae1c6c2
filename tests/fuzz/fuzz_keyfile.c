/*
 * fuzz_keyfile.c - fuzz target for secret key files (SPEC.md 4.3, 4.6): the
 * input is the file's bytes, parsed as plain or encrypted with a fixed
 * passphrase. Replayed over tests/corpus/keyfile by make test.
 *
 * Argon2id runs at the cost the input names (up to 1 GiB, 16 passes, which the
 * parser allows); the harness skips inputs asking for more than 64 KiB or two
 * passes (but within the parser's bounds) so that an iteration stays fast;
 * out-of-bounds costs go through, since they are refused before any derivation.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char HDR[] = "scratchproof-ed25519-secret-enc-v1 ";

/* 1 when data is an encrypted key file whose recorded cost is above the fuzzing budget. */
static int too_costly(const uint8_t *data, size_t size)
{
    size_t h = sizeof HDR - 1;
    if (size < h || memcmp(data, HDR, h) != 0)
        return 0;
    uint8_t blob[104];
    size_t n = 0;
    if (sodium_base642bin(blob, sizeof blob, (const char *)data + h, size - h, "\n", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || n < 16)
        return 0;
    uint64_t ops = 0, mem = 0;
    for (int i = 3; i >= 0; i--)
        ops = (ops << 8) | blob[4 + i];
    for (int i = 7; i >= 0; i--)
        mem = (mem << 8) | blob[8 + i];
    /* Costs outside the parser's bounds are refused before any derivation: let them through. */
    int in_bounds = ops >= SP_KDF_OPS_MIN && ops <= SP_KDF_OPS_MAX && mem >= SP_KDF_MEM_MIN &&
                    mem <= SP_KDF_MEM_MAX;
    return in_bounds && (ops > 2 || mem > 65536);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sodium_init() < 0 || too_costly(data, size))
        return 0;
    static const char pass[] = "correct horse battery staple";
    uint8_t seed[32];
    char err[SP_ERRMSG_MAX];
    int enc = 0;
    int rc = sp_key_parse_secret(seed, &enc, (const char *)data, size, pass, sizeof pass - 1,
                                 "fuzz.key", err);
    if (rc != SP_OK && !sodium_is_zero(seed, sizeof seed))
        __builtin_trap(); /* a failed parse must leave the seed zeroed */
    rc = sp_key_parse_secret(seed, &enc, (const char *)data, size, NULL, 0, "fuzz.key", err);
    if (rc != SP_OK && !sodium_is_zero(seed, sizeof seed))
        __builtin_trap();
    sodium_memzero(seed, sizeof seed);
    return 0;
}
