/*
 * ledger.h - the append-only LMDB ledger (SPEC.md 5).
 *
 * One LMDB file (MDB_NOSUBDIR, "PATH-lock" beside it) with two named
 * databases: "meta" (key "format" = "scratchproof-ledger/1") and "records"
 * (key = 8-byte big-endian sequence number, value = opaque record bytes).
 * The ledger knows nothing of what the bytes mean.
 *
 * Writers: one at a time, enforced with flock(2) on the data file so a second
 * writer gets SP_EBUSY at open instead of blocking. Each append is one LMDB
 * write transaction, fsync'd before it returns. Readers never block the writer
 * and see a consistent snapshot.
 */
#ifndef SP_LEDGER_H
#define SP_LEDGER_H

#include "sp_base.h"

#define SP_LEDGER_FORMAT "scratchproof-ledger/1"

#define SP_LEDGER_RDONLY 0x1u  /* open an existing ledger for reading */
#define SP_LEDGER_CREATE 0x2u  /* create if absent; open for appending */

typedef struct sp_ledger sp_ledger;

/*
 * Opens a ledger. Exactly one of the flags. RDONLY: SP_ENOTFOUND when the
 * file is absent, SP_EFORMAT when it is not an LMDB file or has no
 * scratchproof "meta" database, SP_ELEDGER when LMDB fails on it otherwise
 * (a damaged tree), SP_EIO when unreadable. CREATE: SP_EBUSY when
 * another writer holds it. On failure *out is NULL and err (if not NULL) says why.
 */
int sp_ledger_open(sp_ledger **out, const char *path, unsigned flags, char *err)
    SP_WUR SP_NONNULL(1, 2);

/* Closes; NULL is a no-op. */
void sp_ledger_close(sp_ledger *l);

/* Number of records, into *n. */
int sp_ledger_count(sp_ledger *l, uint64_t *n) SP_WUR SP_NONNULL(1, 2);

/*
 * Appends value under key seq, durably. seq must equal the current count
 * (SP_EINVAL otherwise). SP_ELEDGER / SP_EIO on failure, after which the
 * handle answers SP_EBADSTATE.
 */
int sp_ledger_append(sp_ledger *l, uint64_t seq, const void *val, size_t len)
    SP_WUR SP_NONNULL(1, 3);

/*
 * Visits every record in key order inside one read snapshot. key is the raw
 * LMDB key (normally 8 bytes big-endian); val points into the map and is valid
 * only during the call. A non-zero return from fn stops the walk and is returned.
 */
typedef int (*sp_ledger_visit_fn)(void *ctx, const uint8_t *key, size_t keylen,
                                  const uint8_t *val, size_t vallen);
int sp_ledger_foreach(sp_ledger *l, sp_ledger_visit_fn fn, void *ctx) SP_WUR SP_NONNULL(1, 2);

/*
 * As sp_ledger_foreach, first calling on_count (when not NULL) with the
 * number of records in the same snapshot; a non-zero return from it stops
 * before the walk. The child reader of source.h declares its count this way.
 */
typedef int (*sp_ledger_count_fn)(void *ctx, uint64_t n);
int sp_ledger_foreach_counted(sp_ledger *l, sp_ledger_count_fn on_count, sp_ledger_visit_fn fn,
                              void *ctx) SP_WUR SP_NONNULL(1, 3);

/*
 * Begins a read transaction that stays open until sp_ledger_close. LMDB
 * reuses a page only once no reader older than its release remains, so the
 * bytes of every record a later walk hands out stay where they are, in the
 * file, until the handle closes (the child reader of source.h, whose parent
 * reads the values by offset). SP_ELEDGER; SP_EBADSTATE when already held.
 */
int sp_ledger_hold_snapshot(sp_ledger *l) SP_WUR SP_NONNULL(1);

/* Big-endian key encoding helpers. */
void sp_seq_key(uint8_t key[8], uint64_t seq) SP_NONNULL(1);

/*
 * The detail of the last failure on this handle (one line naming the path and
 * the LMDB or system error), "" when there was none; never NULL, NULL l gives "".
 * Valid until the next call on the handle.
 */
const char *sp_ledger_errmsg(const sp_ledger *l);

/*
 * Testing only (fault injection, not thread-safe, process-wide).
 * sp_ledger_fail_after(n): after n more successful append commits, the next
 * append aborts its transaction instead of committing, as if the disk had
 * failed, and returns SP_EIO; n < 0 switches injection off (the default).
 * sp_ledger_test_mapsize(bytes): the LMDB map size later CREATE opens start
 * with (0 restores the default of 1 GiB), to exercise the map-growth path.
 */
void sp_ledger_fail_after(int n);
void sp_ledger_test_mapsize(size_t bytes);

#endif
