/*
 * bundle.h - the flat bundle an evaluator receives (SPEC.md 14.1): the
 * records database of a ledger as one self-describing file, plus an optional
 * opaque "head" section (a signed head, SPEC.md 14.1).
 *
 *   header = magic(8) "\x89SPB\r\n\x1a\n" || u32le version (1) || u32le flags
 *            || u64le count
 *   entry  = u16le keylen (1..511) || key || u32le vallen (0..SP_RECORD_MAX) || value
 *   head   = u32le headlen (1..SP_BUNDLE_HEAD_MAX) || head bytes   (flag bit 0 only)
 *
 * and nothing after. The same framing carries the records from the child
 * process that reads an LMDB ledger (source.h), so one strict parser reads
 * both. The parser streams: it never holds more than one entry, never
 * allocates from a length before checking it against its limit, and refuses
 * trailing bytes.
 */
#ifndef SP_BUNDLE_H
#define SP_BUNDLE_H

#include "sp_base.h"

#define SP_BUNDLE_MAGIC "\x89SPB\r\n\x1a\n"
#define SP_BUNDLE_MAGIC_BYTES 8u
#define SP_BUNDLE_VERSION 1u
#define SP_BUNDLE_HEADER_BYTES 24u
#define SP_BUNDLE_F_HEAD 0x1u                  /* a head section follows the entries */
#define SP_BUNDLE_COUNT_MAX (1u << 24)          /* records in one bundle */
#define SP_BUNDLE_KEY_MAX 511u                  /* LMDB's largest key */
#define SP_BUNDLE_HEAD_MAX (64u << 10)          /* bytes of the head section */
#define SP_BUNDLE_TOTAL_MAX ((uint64_t)1 << 40) /* bytes of a whole bundle */

/*
 * Where a reader gets its bytes: reads up to len bytes into buf, sets *got
 * (0 only at end of input) and returns 0, or a negative SP_E* code (with
 * err, SP_ERRMSG_MAX, saying why). Short reads are fine.
 */
typedef int (*sp_bundle_read_fn)(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err);

/* Where a writer puts its bytes: all of them, or a negative SP_E* code. */
typedef int (*sp_bundle_write_fn)(void *ctx, const uint8_t *buf, size_t len);

typedef struct sp_bundle_reader sp_bundle_reader;

/*
 * Reads and checks the header: magic first (SP_EFORMAT "not a bundle"), then
 * version (SP_EUNSUPPORTED), flags (unknown bits: SP_EFORMAT), count (over
 * SP_BUNDLE_COUNT_MAX: SP_ERANGE). Truncation is SP_EFORMAT; read errors are
 * passed on. On failure *out is NULL and err says why, with the byte offset.
 */
int sp_bundle_reader_open(sp_bundle_reader **out, sp_bundle_read_fn rd, void *ctx, char *err)
    SP_WUR SP_NONNULL(1, 2);

/* The record count the header declares. */
uint64_t sp_bundle_reader_count(const sp_bundle_reader *r) SP_NONNULL(1);

/*
 * The next entry. Returns 1 with key and val pointing into the reader (valid
 * until the next call), 0 at the end (the head section, if flagged, has been
 * read and the input is known to end there), or a negative code: SP_EFORMAT
 * (truncated, trailing bytes, key length 0), SP_ERANGE (a length over its
 * limit, or the total over SP_BUNDLE_TOTAL_MAX), SP_ENOMEM, or the read
 * function's code. After a failure every call returns SP_EBADSTATE.
 */
int sp_bundle_reader_next(sp_bundle_reader *r, const uint8_t **key, size_t *keylen,
                          const uint8_t **val, size_t *vallen, char *err) SP_WUR SP_NONNULL(1, 2, 3, 4, 5);

/*
 * The head section after next() returned 0: SP_OK with the bytes (valid
 * until free), SP_ENOTFOUND when the bundle has none, SP_EBADSTATE before
 * the end.
 */
int sp_bundle_reader_head(const sp_bundle_reader *r, const uint8_t **head, size_t *len)
    SP_WUR SP_NONNULL(1, 2, 3);

/* Bytes consumed so far. */
uint64_t sp_bundle_reader_offset(const sp_bundle_reader *r) SP_NONNULL(1);

void sp_bundle_reader_free(sp_bundle_reader *r);

/*
 * Parses a whole bundle held in memory: fn is called for each entry (a
 * non-zero return stops the walk and is returned). *count receives the
 * declared count, head/headlen (may be NULL) the head section, pointing into
 * buf, or NULL/0. The codes of sp_bundle_reader_next.
 */
typedef int (*sp_bundle_visit_fn)(void *ctx, const uint8_t *key, size_t keylen,
                                  const uint8_t *val, size_t vallen);
int sp_bundle_parse(const uint8_t *buf, size_t len, sp_bundle_visit_fn fn, void *ctx,
                    uint64_t *count, const uint8_t **head, size_t *headlen, char *err)
    SP_WUR SP_NONNULL(4);

/*
 * Writing, in order: one header, exactly count entries, then the head when
 * flags has SP_BUNDLE_F_HEAD. Each checks its lengths against the limits
 * (SP_ERANGE, SP_EINVAL) before writing anything, and passes on wr's code.
 */
int sp_bundle_write_header(sp_bundle_write_fn wr, void *ctx, uint64_t count, uint32_t flags)
    SP_WUR SP_NONNULL(1);
int sp_bundle_write_entry(sp_bundle_write_fn wr, void *ctx, const uint8_t *key, size_t keylen,
                          const uint8_t *val, size_t vallen) SP_WUR SP_NONNULL(1, 3);
int sp_bundle_write_head(sp_bundle_write_fn wr, void *ctx, const uint8_t *head, size_t len)
    SP_WUR SP_NONNULL(1, 3);

#endif
