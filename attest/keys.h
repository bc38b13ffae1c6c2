/*
 * keys.h - Ed25519 key files (SPEC.md 4).
 *
 *   PREFIX.key  "scratchproof-ed25519-secret-v1 " base64(32-byte seed) "\n", mode 0600
 *           or  "scratchproof-ed25519-secret-enc-v1 " base64(header || sealed seed) "\n"
 *               (encrypted: Argon2id, then XChaCha20-Poly1305; SPEC.md 4.6)
 *   PREFIX.pub  "scratchproof-ed25519-public-v1 " base64(32-byte key) "\n"
 * base64 is libsodium's original variant with padding. Secret material lives
 * in sodium_malloc'd memory where the module owns it and is wiped after use.
 * Key files are opened with O_NOFOLLOW: a symbolic link is refused.
 */
#ifndef SP_KEYS_H
#define SP_KEYS_H

#include "sp_base.h"

#define SP_PK_BYTES 32u
#define SP_SK_BYTES 64u    /* libsodium's seed || public key form */
#define SP_SIG_BYTES 64u
#define SP_KEYID_CHARS 16u /* hex of 8 bytes */

/* Encrypted secret key files (SPEC.md 4.6). */
#define SP_KEY_SALT_BYTES 16u   /* crypto_pwhash_SALTBYTES */
#define SP_KEY_NONCE_BYTES 24u  /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define SP_KEY_ENC_FILE_BYTES 176u /* 35-byte text header, 140 base64 chars, "\n" */
#define SP_KDF_OPS_MIN 1u
#define SP_KDF_OPS_MAX 16u
#define SP_KDF_MEM_MIN 8192u                 /* bytes; crypto_pwhash_argon2id_MEMLIMIT_MIN */
#define SP_KDF_MEM_MAX (UINT64_C(1) << 30)   /* 1 GiB, crypto_pwhash_MEMLIMIT_SENSITIVE */

/* Argon2id cost: passes over memory, and memory in bytes (a multiple of 1024). */
typedef struct sp_kdf_cost {
    uint64_t opslimit;
    uint64_t memlimit;
} sp_kdf_cost;

/*
 * The named costs of libsodium: "interactive" (2 passes, 64 MiB), "moderate"
 * (3, 256 MiB, the default) and "sensitive" (4, 1 GiB). SP_EINVAL for any
 * other name.
 */
int sp_kdf_cost_named(sp_kdf_cost *c, const char *name) SP_WUR SP_NONNULL(1, 2);

/*
 * Creates PREFIX.key (0600, O_EXCL: never overwrites) and PREFIX.pub, the
 * secret key unencrypted. SP_EIO when a file exists or cannot be written;
 * nothing is left half-written.
 */
int sp_keygen_files(const char *prefix, char *err) SP_WUR SP_NONNULL(1);

/*
 * As sp_keygen_files, with PREFIX.key encrypted under pass (passlen bytes,
 * 1..SP_PASSPHRASE_MAX) at the given cost (NULL: moderate), fresh random salt
 * and nonce. SP_EINVAL for an empty passphrase or a cost outside
 * SP_KDF_OPS_MIN..MAX / SP_KDF_MEM_MIN..MAX; SP_ENOMEM when the key
 * derivation cannot get its memory; SP_EIO as above.
 */
int sp_keygen_files_encrypted(const char *prefix, const char *pass, size_t passlen,
                              const sp_kdf_cost *cost, char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * The exact bytes of an encrypted secret key file (SPEC.md 4.6) for seed,
 * passphrase, salt, nonce and cost, into out (SP_KEY_ENC_FILE_BYTES; no NUL).
 * Deterministic: keygen passes a random salt and nonce, the test vector fixed
 * ones. SP_EINVAL / SP_ENOMEM as above. out is wiped on failure.
 */
int sp_key_seal_seed(char out[SP_KEY_ENC_FILE_BYTES], const uint8_t seed[32], const char *pass,
                     size_t passlen, const uint8_t salt[SP_KEY_SALT_BYTES],
                     const uint8_t nonce[SP_KEY_NONCE_BYTES], const sp_kdf_cost *cost,
                     char *err) SP_WUR SP_NONNULL(1, 2, 3, 5, 6, 7);

/*
 * Loads a secret key into sk (SP_SK_BYTES). An encrypted file takes its
 * passphrase from the sources of passphrase.h (SCRATCHPROOF_PASSPHRASE_FD,
 * then SCRATCHPROOF_PASSPHRASE_FILE, then a prompt on the terminal). SP_EKEY
 * for a missing, unreadable, symlinked or malformed file, a public key given
 * instead, a file readable by group or others, an encrypted file with no
 * passphrase source, and "wrong passphrase or damaged key file PATH". On
 * failure sk is zeroed.
 */
int sp_key_load_secret(uint8_t *sk, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * As sp_key_load_secret, with the passphrase given (pass, passlen bytes)
 * instead of read from a source; pass == NULL means "read it from a source".
 * An unencrypted file loads whatever pass is.
 */
int sp_key_load_secret_pass(uint8_t *sk, const char *path, const char *pass, size_t passlen,
                            char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * Parses the bytes of a secret key file (buf, len: untrusted) into its
 * 32-byte seed. name labels messages. pass (passlen bytes) is needed for an
 * encrypted file; with pass == NULL an encrypted file is SP_EKEY "is
 * encrypted". *encrypted (may be NULL) says which kind the header named.
 * Every check of SPEC.md 4.3 and 4.6 except the file mode. SP_EKEY; seed is
 * zeroed on failure.
 */
int sp_key_parse_secret(uint8_t seed[32], int *encrypted, const char *buf, size_t len,
                        const char *pass, size_t passlen, const char *name, char *err)
    SP_WUR SP_NONNULL(1, 3, 7);

/* Loads a public key (SP_PK_BYTES). SP_EKEY as above (a secret key file is refused). */
int sp_key_load_public(uint8_t *pk, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/* keyid: hex of the first 8 bytes of BLAKE2b-256("scratchproof/keyid" 0x00 pk). */
void sp_keyid(char out[SP_KEYID_CHARS + 1], const uint8_t *pk) SP_NONNULL(1, 2);

#endif
