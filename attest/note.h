/*
 * note.h - C2SP signed notes, tlog checkpoints and tlog cosignatures
 * (https://c2sp.org/signed-note, /tlog-checkpoint, /tlog-cosignature;
 * SPEC.md 15.3-15.5). Everything parsed here is untrusted input: the parser
 * checks the whole note (UTF-8, no control bytes but newline, the blank line
 * before the signatures, each signature line, canonical base64) before it
 * returns anything.
 *
 *   note        = text "\n" sigline+          text ends in "\n"
 *   sigline     = "\u2014 " name " " base64(keyid(4, big-endian) || sig) "\n"
 *   keyid       = SHA-256(name || 0x0A || type || public key)[:4]
 *   type        = 0x01 Ed25519 note signature, 0x04 Ed25519 cosignature/v1
 *   cosignature = keyid || timestamp (8, big-endian) || Ed25519 signature over
 *                 "cosignature/v1\ntime <timestamp>\n" || text
 *
 * Ed25519 keys are libsodium's: 32-byte public keys, 64-byte secret keys.
 */
#ifndef SP_NOTE_H
#define SP_NOTE_H

#include "sp_base.h"

#define SP_NOTE_MAX_BYTES 65536u   /* largest note accepted */
#define SP_NOTE_MAX_SIGS 100u      /* signature lines accepted (C2SP: at least 16) */
#define SP_NOTE_SIG_MAX 4096u      /* decoded signature bytes after the key id */
#define SP_NOTE_TYPE_ED25519 0x01u
#define SP_NOTE_TYPE_COSIG 0x04u
#define SP_COSIG_BYTES 72u         /* timestamp || Ed25519 signature */

typedef struct sp_note_sig {
    char *name;         /* NUL-terminated, validated (sp_note_name_ok) */
    uint32_t keyid;
    uint8_t *sig;       /* the bytes after the key id */
    size_t sig_len;
} sp_note_sig;

typedef struct sp_note {
    char *text;         /* NUL-terminated copy of the note text, final newline included */
    size_t text_len;
    sp_note_sig *sigs;
    size_t n_sigs;
} sp_note;

/*
 * Parses a signed note. SP_EFORMAT with err when buf is not one: too large,
 * not UTF-8, a control byte, no blank line before the signatures, a
 * signature block that does not end in newline, a line that is not
 * "\u2014 NAME BASE64", a bad name, base64 that is not canonical standard
 * base64, fewer than 5 decoded bytes or more than SP_NOTE_SIG_MAX + 4, more
 * than SP_NOTE_MAX_SIGS lines. SP_ENOMEM. Signatures are not verified here.
 * On failure *out is empty (safe to free). Free with sp_note_free.
 */
int sp_note_parse(sp_note *out, const uint8_t *buf, size_t len, char *err) SP_WUR SP_NONNULL(1);
void sp_note_free(sp_note *n);

/* 1 when name is a valid key name: non-empty, UTF-8, no Unicode space, no '+'. */
int sp_note_name_ok(const char *name) SP_NONNULL(1);

/* The key id of (name, type, 32-byte Ed25519 public key). */
uint32_t sp_note_keyid(const char *name, uint8_t type, const uint8_t *pk) SP_NONNULL(1, 3);

/*
 * A signature line "\u2014 name base64(...)\n" for text, malloc'd into *line:
 * an Ed25519 note signature (sp_note_sign_line) or a cosignature/v1 at
 * `timestamp` (sp_note_cosign_line, timestamp <= 2^63-1). sk is 64 bytes.
 * SP_EINVAL for a bad name, SP_ENOMEM, SP_ECRYPTO.
 */
int sp_note_sign_line(char **line, const char *text, size_t len, const char *name, const uint8_t *sk)
    SP_WUR SP_NONNULL(1, 2, 4, 5);
int sp_note_cosign_line(char **line, const char *text, size_t len, const char *name, const uint8_t *sk,
                        uint64_t timestamp) SP_WUR SP_NONNULL(1, 2, 4, 5);

/*
 * Looks for pk's signature on n: lines whose key id is that of (the line's
 * name, type 0x01, pk). SP_OK when one verifies (its index into *which if
 * not NULL); SP_ECRYPTO when some line names the key but none verifies;
 * SP_ENOTFOUND when no line names it.
 */
int sp_note_verify(const sp_note *n, const uint8_t *pk, size_t *which) SP_WUR SP_NONNULL(1, 2);

/* The same for a cosignature/v1 by pk (type 0x04); its timestamp into *timestamp. */
int sp_note_verify_cosig(const sp_note *n, const uint8_t *pk, uint64_t *timestamp, size_t *which)
    SP_WUR SP_NONNULL(1, 2);

/*
 * A tlog checkpoint body: origin, tree size, root hash, extension lines.
 * origin and ext point into the text given (not NUL-terminated); ext holds
 * the extension lines with their newlines, ext_len 0 when there are none.
 */
typedef struct sp_checkpoint {
    const char *origin;
    size_t origin_len;
    uint64_t size;
    uint8_t root[32];
    const char *ext;
    size_t ext_len;
} sp_checkpoint;

/*
 * Parses note text as a checkpoint: a non-empty origin line, a size in ASCII
 * decimal without leading zeros (up to 2^63-1), a root of exactly 32 bytes
 * in canonical standard base64, then non-empty extension lines.
 * SP_EFORMAT with err.
 */
int sp_checkpoint_parse(sp_checkpoint *cp, const char *text, size_t len, char *err)
    SP_WUR SP_NONNULL(1, 2);

#endif
