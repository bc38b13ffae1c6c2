/*
 * head.h - a ledger's signed head (SPEC.md 15): the RFC 9162 tree over the
 * record digests, the head body (a C2SP tlog checkpoint with scratchproof's
 * extension lines), and the check `verify --head` runs against a ledger.
 *
 *   scratchproof/run/<run id, 32 lowercase hex>      origin
 *   <number of records>                              tree size
 *   <base64 root of the tree over the record digests>
 *   scratchproof-head/1
 *   last-record <record digest of the last record, 64 lowercase hex>
 *   last-time <time_unix_ms of the last record>
 */
#ifndef SP_HEAD_H
#define SP_HEAD_H

#include "note.h"
#include "record.h"
#include "report.h"
#include "sp_base.h"

#define SP_HEAD_ORIGIN_PREFIX "scratchproof/run/"
#define SP_HEAD_FORMAT "scratchproof-head/1"
#define SP_HEAD_FUTURE_SLACK 600u   /* seconds a cosignature may be ahead of the verifier */
#define SP_HEAD_ORIGIN_MAX (sizeof SP_HEAD_ORIGIN_PREFIX + 2 * SP_RUN_ID_BYTES)

typedef struct sp_head {
    uint8_t run_id[SP_RUN_ID_BYTES];
    uint64_t size;                     /* records covered, >= 1 */
    uint8_t root[32];                  /* RFC 9162 root over their record digests */
    uint8_t last_record[SP_DIGEST_BYTES];
    int64_t last_time_ms;
} sp_head;

/* The origin line of a run (NUL-terminated, SP_HEAD_ORIGIN_MAX bytes). */
void sp_head_origin(char out[SP_HEAD_ORIGIN_MAX], const uint8_t *run_id) SP_NONNULL(1, 2);

/* The head body text, malloc'd into *out (NUL-terminated, *len without it). SP_ENOMEM. */
int sp_head_format_body(char **out, size_t *len, const sp_head *h) SP_WUR SP_NONNULL(1, 2, 3);

/*
 * Parses note text as a head body: a checkpoint (note.h) whose origin is
 * SP_HEAD_ORIGIN_PREFIX and 32 lowercase hex digits, a size >= 1, and exactly
 * the three extension lines above (lowercase hex, last-time a decimal
 * integer without leading zeros, '-' allowed). SP_EFORMAT with err.
 */
int sp_head_parse_body(sp_head *h, const char *text, size_t len, char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * Reads every record of the ledger (or bundle, source.h) at path and computes its head: run id,
 * size, root, last record digest and time; the leaf hashes into *leaves
 * (malloc'd, size * 32 bytes; caller frees) when leaves is not NULL. With pk
 * every record must carry a signature by pk. Errors: SP_ENOTFOUND,
 * SP_EFORMAT, SP_EIO for a ledger that cannot be read (err names it);
 * SP_EMISMATCH for a ledger with no records, a gap in the sequence, or a
 * record that does not decode, verify or belong to the run of record 0
 * (err names the record), or a damaged ledger (source.h); SP_ENOMEM.
 */
int sp_head_from_ledger(sp_head *h, uint8_t **leaves, const char *path, const uint8_t *pk, char *err)
    SP_WUR SP_NONNULL(1, 3);

/* The same, calling each(ctx, record) for every record read, in order (valid during the call). */
typedef void (*sp_head_record_fn)(void *ctx, const Sp__Record *r);
int sp_head_from_ledger_ex(sp_head *h, uint8_t **leaves, const char *path, const uint8_t *pk,
                           sp_head_record_fn each, void *ctx, char *err) SP_WUR SP_NONNULL(1, 3);

/* A head file as read for `verify --head`: the note, and its body if it parses. */
typedef struct sp_head_file {
    char path[1024];
    sp_note note;
    int body_ok;
    sp_head head;
    char body_err[SP_ERRMSG_MAX];
} sp_head_file;

/*
 * Reads and parses the head file. SP_EIO when it cannot be read, SP_EFORMAT
 * when it is not a signed note at all (a usage error, exit 2); a note whose
 * body is not a scratchproof head loads with body_ok 0 (a finding).
 * Free with sp_head_file_free (NULL is a no-op).
 */
int sp_head_file_load(sp_head_file **out, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);
void sp_head_file_free(sp_head_file *hf);

/*
 * The `head` checks (SPEC.md 15.7) into rep: the head is signed by pk, is a
 * head of this run, the ledger is not shorter than it (truncated or rolled
 * back), not a fork of it (same size and another root, or a larger tree not
 * consistent with it), and every witness in wpk[0..nw) cosigned it, not
 * more than SP_HEAD_FUTURE_SLACK seconds in the future.
 * The ledger is given as n record digests, digest i at digests + i * stride
 * (the leaf data), and the run id of record 0 (NULL when unknown).
 * witness_names name the witnesses in messages (their key files).
 */
void sp_head_check(const sp_head_file *hf, const uint8_t *pk, const uint8_t (*wpk)[32],
                   const char *const *witness_names, size_t nw, const uint8_t *digests,
                   size_t stride, size_t n, const uint8_t *run_id, sp_report *rep)
    SP_NONNULL(1, 2, 10);

#endif
