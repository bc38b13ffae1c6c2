/*
 * keys.h - Ed25519 key files (SPEC.md 4).
 *
 *   PREFIX.key  "scratchproof-ed25519-secret-v1 " base64(32-byte seed) "\n", mode 0600
 *   PREFIX.pub  "scratchproof-ed25519-public-v1 " base64(32-byte key) "\n"
 * base64 is libsodium's original variant with padding. Secret material lives
 * in sodium_malloc'd memory where the module owns it and is wiped after use.
 */
#ifndef SP_KEYS_H
#define SP_KEYS_H

#include "sp_base.h"

#define SP_PK_BYTES 32u
#define SP_SK_BYTES 64u    /* libsodium's seed || public key form */
#define SP_SIG_BYTES 64u
#define SP_KEYID_CHARS 16u /* hex of 8 bytes */

/*
 * Creates PREFIX.key (0600, O_EXCL: never overwrites) and PREFIX.pub.
 * SP_EIO when a file exists or cannot be written; nothing is left half-written.
 */
int sp_keygen_files(const char *prefix, char *err) SP_WUR SP_NONNULL(1);

/*
 * Loads a secret key into sk (SP_SK_BYTES). SP_EKEY for a missing, unreadable
 * or malformed file, a public key given instead, or a file readable by group
 * or others. On failure sk is zeroed.
 */
int sp_key_load_secret(uint8_t *sk, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/* Loads a public key (SP_PK_BYTES). SP_EKEY as above (a secret key file is refused). */
int sp_key_load_public(uint8_t *pk, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/* keyid: hex of the first 8 bytes of BLAKE2b-256("scratchproof/keyid" 0x00 pk). */
void sp_keyid(char out[SP_KEYID_CHARS + 1], const uint8_t *pk) SP_NONNULL(1, 2);

#endif
