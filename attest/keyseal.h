/*
 * keyseal.h - the encrypted secret key layout (SPEC.md 4.6), internal to
 * attest/: keys.c reads and writes the files, keyseal.c turns a seed into
 * the sealed text and back. The public entry points (sp_key_seal_seed,
 * sp_kdf_cost_named) are declared in keys.h.
 */
#ifndef SP_KEYSEAL_H
#define SP_KEYSEAL_H

#include "keys.h"

#define SP_KEY_ENC_HDR "scratchproof-ed25519-secret-enc-v1 "
#define SP_KEY_ENC_HDR_LEN (sizeof(SP_KEY_ENC_HDR) - 1) /* 35 */

/*
 * Opens the sealed part of an encrypted key file: b64 (b64_len bytes, the
 * text after the header without its optional final "\n") under pass. Checks
 * the base64 (canonical, exact length), version, algorithm numbers, the
 * reserved byte and the cost bounds before it runs the key derivation, so a
 * damaged file cannot make it allocate more than SP_KDF_MEM_MAX. SP_EKEY
 * with err naming name; "wrong passphrase or damaged key file NAME" when the
 * authentication tag does not verify. seed is zeroed on failure.
 */
int sp_key_unseal(uint8_t seed[32], const char *b64, size_t b64_len, const char *pass,
                  size_t passlen, const char *name, char *err) SP_WUR;

#endif
