/*
 * source.h - where a verifier's records come from (SPEC.md 14): a bundle
 * file, parsed in process by the strict bundle reader, or an LMDB ledger,
 * read in a child process that streams (key, value) pairs back in the
 * bundle's framing. The kind is told by the file's first bytes, never by its
 * name. A damaged ledger is a finding (sp_source_damage), never a crash: the
 * child may die of SIGBUS, loop or write garbage, and the caller only sees
 * "ledger damaged: ...".
 *
 * Threading: sp_source_open forks. Call it where no other thread of the
 * caller holds a lock the child could need (the child uses LMDB and malloc
 * only). A handle is used by one thread at a time.
 */
#ifndef SP_SOURCE_H
#define SP_SOURCE_H

#include "ledger.h"
#include "sp_base.h"

typedef struct sp_source sp_source;

typedef enum sp_source_kind { SP_SOURCE_LEDGER = 1, SP_SOURCE_BUNDLE = 2 } sp_source_kind;

/*
 * Opens path, a bundle or a ledger. Errors (unreadable input, exit 2):
 * SP_ENOTFOUND absent (nothing is created, not even PATH-lock); SP_EIO not a
 * regular file or unreadable; SP_EFORMAT empty, neither a bundle nor an LMDB
 * file, a malformed bundle, a truncated ledger (shorter than its pages), or
 * an LMDB file that is not a scratchproof ledger; SP_EUNSUPPORTED another
 * bundle version. A ledger that looks like LMDB but is damaged opens with
 * SP_OK and a finding in sp_source_damage. On failure *out is NULL and err
 * (SP_ERRMSG_MAX) says why, naming the path.
 */
int sp_source_open(sp_source **out, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * Visits every record in stored order (the ledger's key order, the bundle's
 * entry order); key/val are valid during the call only. A non-zero return
 * from fn stops the walk and is returned. Damage met on the way stops the
 * walk with SP_OK and sets sp_source_damage; a bundle that turns out
 * malformed returns SP_EFORMAT/SP_ERANGE (errmsg says why). Once per handle
 * (SP_EBADSTATE after).
 */
int sp_source_foreach(sp_source *s, sp_ledger_visit_fn fn, void *ctx) SP_WUR SP_NONNULL(1, 2);

/*
 * sp_source_foreach writing each value into memory of the caller's: alloc
 * (ctx, len) returns at least len bytes (NULL stops the walk with
 * SP_ENOMEM), the value is read into it (from the file itself when the
 * ledger's child sends references, SPEC.md 14.2: no copy in between), and
 * fn gets it as val. The memory stays the caller's.
 */
typedef uint8_t *(*sp_source_alloc_fn)(void *ctx, size_t len);
int sp_source_foreach_into(sp_source *s, sp_source_alloc_fn alloc, sp_ledger_visit_fn fn, void *ctx)
    SP_WUR SP_NONNULL(1, 2, 3);

/*
 * NULL when nothing is wrong with the file, else one line starting "ledger
 * damaged: ..." or "the ledger's newest commit is unreadable; ...": a
 * finding (exit 1), reported as the failed check named `ledger`.
 */
const char *sp_source_damage(const sp_source *s);

sp_source_kind sp_source_get_kind(const sp_source *s) SP_NONNULL(1);

/* The bundle's head section (SPEC.md 14.1) after foreach, or NULL (ledgers never have one). */
const uint8_t *sp_source_head(const sp_source *s, size_t *len) SP_NONNULL(1, 2);

/* The detail of the last error, "" when none; never NULL. */
const char *sp_source_errmsg(const sp_source *s);

void sp_source_close(sp_source *s);

/*
 * Testing only (process-wide, not thread-safe). sp_source_test_fault makes
 * later ledger children misbehave after streaming `after` entries:
 * SP_FAULT_SEGV raises SIGSEGV, SP_FAULT_HANG sleeps forever, SP_FAULT_GARBAGE
 * writes bytes that are not the framing, SP_FAULT_EXTRA streams more entries
 * than it declared, SP_FAULT_REF_PAST_END sends a reference to bytes past the
 * end of the file, SP_FAULT_REF_SHORT a reference of 15 bytes (both by
 * reference only); SP_FAULT_NONE (the default) off. sp_source_test_timeout
 * sets the reader's inactivity timeout in milliseconds (0 restores the
 * default, SPEC.md 14.2).
 */
typedef enum sp_source_fault {
    SP_FAULT_NONE = 0, SP_FAULT_SEGV, SP_FAULT_HANG, SP_FAULT_GARBAGE, SP_FAULT_EXTRA,
    SP_FAULT_REF_PAST_END, SP_FAULT_REF_SHORT
} sp_source_fault;
void sp_source_test_fault(sp_source_fault f, unsigned after);
void sp_source_test_timeout(unsigned ms);
/* Testing only: later ledger children send the values themselves, not references (SPEC.md 14.2). */
void sp_source_test_by_value(int on);
/* 1 when a ledger's child sends references (mode R of SPEC.md 14.2), else 0. */
int sp_source_by_reference(const sp_source *s) SP_NONNULL(1);

#endif
