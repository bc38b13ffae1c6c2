/*
 * keyseal.c - encrypted secret key files (keyseal.h, keys.h, SPEC.md 4.6):
 * Argon2id (libsodium crypto_pwhash_argon2id) derives a 32-byte key from the
 * passphrase, XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_ietf) seals
 * the 32-byte Ed25519 seed with the text header and the binary header as
 * associated data, so no byte of the file can change unnoticed.
 *
 *   file  = "scratchproof-ed25519-secret-enc-v1 " || base64(blob) || "\n"
 *   blob  = version 1 | kdf 1 | aead 1 | 0 | u32le ops | u64le mem |
 *           salt[16] | nonce[24] | sealed seed[32 + 16]          (104 bytes)
 *   ad    = text header (35 bytes) || blob[0..56)
 *
 * The derived key, the seed and the decoded blob live in sodium_malloc'd
 * memory and are wiped on every path.
 */
#include "keyseal.h"

#include <string.h>

#include <sodium.h>

#include "passphrase.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define VERSION 1u
#define KDF_ARGON2ID13 1u
#define AEAD_XCHACHA20POLY1305 1u
#define HDR_BYTES 56u                                  /* blob before the ciphertext */
#define SEALED_BYTES (32u + crypto_aead_xchacha20poly1305_ietf_ABYTES) /* 48 */
#define BLOB_BYTES (HDR_BYTES + SEALED_BYTES)           /* 104 */
#define BLOB_B64_CHARS (sodium_base64_ENCODED_LEN(BLOB_BYTES, B64_VARIANT) - 1) /* 140 */
#define AD_BYTES (SP_KEY_ENC_HDR_LEN + HDR_BYTES)      /* 91 */

_Static_assert(SP_KEY_ENC_HDR_LEN + BLOB_B64_CHARS + 1 == SP_KEY_ENC_FILE_BYTES,
               "encrypted key file size");
_Static_assert(SP_KEY_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");
_Static_assert(SP_KEY_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32, "key size");

int sp_kdf_cost_named(sp_kdf_cost *c, const char *name)
{
    if (strcmp(name, "interactive") == 0) {
        c->opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
        c->memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
    } else if (strcmp(name, "moderate") == 0) {
        c->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
        c->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
    } else if (strcmp(name, "sensitive") == 0) {
        c->opslimit = crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE;
        c->memlimit = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
    } else {
        return SP_EINVAL;
    }
    return SP_OK;
}

static int cost_ok(uint64_t ops, uint64_t mem)
{
    return ops >= SP_KDF_OPS_MIN && ops <= SP_KDF_OPS_MAX && mem >= SP_KDF_MEM_MIN &&
           mem <= SP_KDF_MEM_MAX && mem % 1024 == 0;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* AD = text header || blob header, into ad (AD_BYTES). */
static void make_ad(uint8_t *ad, const uint8_t *blob)
{
    memcpy(ad, SP_KEY_ENC_HDR, SP_KEY_ENC_HDR_LEN);
    memcpy(ad + SP_KEY_ENC_HDR_LEN, blob, HDR_BYTES);
}

/* Argon2id of pass under the blob's salt and cost into key (32 bytes). */
static int derive(uint8_t *key, const char *pass, size_t passlen, const uint8_t *salt,
                  uint64_t ops, uint64_t mem)
{
    return crypto_pwhash_argon2id(key, 32, pass, passlen, salt, ops, (size_t)mem,
                                  crypto_pwhash_argon2id_ALG_ARGON2ID13) == 0
               ? SP_OK
               : SP_ENOMEM;
}

int sp_key_seal_seed(char out[SP_KEY_ENC_FILE_BYTES], const uint8_t seed[32], const char *pass,
                     size_t passlen, const uint8_t salt[SP_KEY_SALT_BYTES],
                     const uint8_t nonce[SP_KEY_NONCE_BYTES], const sp_kdf_cost *cost, char *err)
{
    sodium_memzero(out, SP_KEY_ENC_FILE_BYTES);
    if (passlen == 0 || passlen > SP_PASSPHRASE_MAX) {
        sp_errf(err, "a passphrase must be 1 to %u bytes", SP_PASSPHRASE_MAX);
        return SP_EINVAL;
    }
    if (!cost_ok(cost->opslimit, cost->memlimit)) {
        sp_errf(err, "key derivation cost out of bounds (ops %llu, mem %llu bytes)",
                (unsigned long long)cost->opslimit, (unsigned long long)cost->memlimit);
        return SP_EINVAL;
    }
    if (sodium_init() < 0) {
        sp_errf(err, "libsodium failed to initialise");
        return SP_ECRYPTO;
    }
    uint8_t *key = sodium_malloc(32);
    uint8_t *blob = sodium_malloc(BLOB_BYTES);
    char *b64 = sodium_malloc(BLOB_B64_CHARS + 1);
    uint8_t ad[AD_BYTES];
    int rc = SP_ENOMEM;
    if (key == NULL || blob == NULL || b64 == NULL) {
        sp_errf(err, "out of memory");
        goto out;
    }
    blob[0] = VERSION;
    blob[1] = KDF_ARGON2ID13;
    blob[2] = AEAD_XCHACHA20POLY1305;
    blob[3] = 0;
    put_le(blob + 4, cost->opslimit, 4);
    put_le(blob + 8, cost->memlimit, 8);
    memcpy(blob + 16, salt, SP_KEY_SALT_BYTES);
    memcpy(blob + 32, nonce, SP_KEY_NONCE_BYTES);
    if (derive(key, pass, passlen, salt, cost->opslimit, cost->memlimit) != SP_OK) {
        sp_errf(err, "key derivation failed (Argon2id could not get %llu bytes of memory)",
                (unsigned long long)cost->memlimit);
        goto out;
    }
    make_ad(ad, blob);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + HDR_BYTES, &clen, seed, 32, ad, sizeof ad,
                                               NULL, nonce, key);
    if (clen != SEALED_BYTES) {
        sp_errf(err, "encryption failed");
        rc = SP_ECRYPTO;
        goto out;
    }
    sodium_bin2base64(b64, BLOB_B64_CHARS + 1, blob, BLOB_BYTES, B64_VARIANT);
    memcpy(out, SP_KEY_ENC_HDR, SP_KEY_ENC_HDR_LEN);
    memcpy(out + SP_KEY_ENC_HDR_LEN, b64, BLOB_B64_CHARS);
    out[SP_KEY_ENC_HDR_LEN + BLOB_B64_CHARS] = '\n';
    rc = SP_OK;
out:
    if (key != NULL)
        sodium_memzero(key, 32);
    if (blob != NULL)
        sodium_memzero(blob, BLOB_BYTES);
    if (b64 != NULL)
        sodium_memzero(b64, BLOB_B64_CHARS + 1);
    sodium_free(key);
    sodium_free(blob);
    sodium_free(b64);
    return rc;
}

int sp_key_unseal(uint8_t seed[32], const char *b64, size_t b64_len, const char *pass,
                  size_t passlen, const char *name, char *err)
{
    sodium_memzero(seed, 32);
    uint8_t *key = sodium_malloc(32);
    uint8_t *blob = sodium_malloc(BLOB_BYTES);
    uint8_t ad[AD_BYTES];
    int rc = SP_EKEY;
    if (key == NULL || blob == NULL) {
        sp_errf(err, "%s: out of memory", name);
        rc = SP_ENOMEM;
        goto out;
    }
    size_t bin_len = 0;
    const char *end = NULL;
    if (b64_len != BLOB_B64_CHARS ||
        sodium_base642bin(blob, BLOB_BYTES, b64, b64_len, NULL, &bin_len, &end, B64_VARIANT) != 0 ||
        end != b64 + b64_len || bin_len != BLOB_BYTES) {
        sp_errf(err, "%s: malformed encrypted key: expected exactly %u bytes of base64 after the "
                "header and at most one newline", name, BLOB_BYTES);
        goto out;
    }
    if (blob[0] != VERSION) {
        sp_errf(err, "%s: encrypted key layout version %u is not supported (1 is)", name, blob[0]);
        goto out;
    }
    if (blob[1] != KDF_ARGON2ID13 || blob[2] != AEAD_XCHACHA20POLY1305 || blob[3] != 0) {
        sp_errf(err, "%s: unknown key derivation or cipher (%u, %u, %u)", name, blob[1], blob[2],
                blob[3]);
        goto out;
    }
    uint64_t ops = get_le(blob + 4, 4), mem = get_le(blob + 8, 8);
    if (!cost_ok(ops, mem)) {
        sp_errf(err, "%s: key derivation cost out of bounds (ops %llu, mem %llu bytes): "
                "damaged key file", name, (unsigned long long)ops, (unsigned long long)mem);
        goto out;
    }
    if (derive(key, pass, passlen, blob + 16, ops, mem) != SP_OK) {
        sp_errf(err, "%s: key derivation failed (Argon2id could not get %llu bytes of memory)",
                name, (unsigned long long)mem);
        goto out;
    }
    make_ad(ad, blob);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &mlen, NULL, blob + HDR_BYTES,
                                                   SEALED_BYTES, ad, sizeof ad, blob + 32,
                                                   key) != 0 ||
        mlen != 32) {
        sodium_memzero(seed, 32);
        sp_errf(err, "wrong passphrase or damaged key file %s", name);
        goto out;
    }
    rc = SP_OK;
out:
    if (key != NULL)
        sodium_memzero(key, 32);
    if (blob != NULL)
        sodium_memzero(blob, BLOB_BYTES);
    sodium_free(key);
    sodium_free(blob);
    return rc;
}
