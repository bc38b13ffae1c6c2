/*
 * records.h - the records of a ledger as verify holds them (SPEC.md 7 items
 * 1, 2 and 5): read in one snapshot, then decoded, digested, signature-checked
 * and checked against their own roots and the genesis's tensor set on several
 * threads. Findings wait in each record and are reported in ledger order, so
 * the report never depends on the thread count.
 */
#ifndef SP_VERIFY_RECORDS_H
#define SP_VERIFY_RECORDS_H

#include "arena.h"
#include "digest.h"
#include "pool.h"
#include "record.h"
#include "report.h"
#include "source.h"

/* How a weight record's tensor list differs from the genesis's (the first difference). */
enum { SP_TENSORS_SAME = 0, SP_TENSORS_MISSING, SP_TENSORS_EXTRA, SP_TENSORS_SHAPE };

typedef struct rec {
    uint64_t key;
    int key_ok;
    uint8_t *val;                        /* the stored value, copied out of the source: the
                                            decoded record points into it; NULL once it is
                                            no longer needed (a summary, or no record) */
    size_t len, val_cap;                 /* the value's length; its buffer's mapping size */
    int env_ok;                          /* the value is a valid envelope (decoded, checked
                                            and dropped: the record keeps what it needs) */
    Sp__Record *r;                       /* NULL when the payload did not decode */
    uint8_t digest[SP_DIGEST_BYTES];     /* record digest of the payload */
    int sig_ok;                          /* a signature verifies under the pinned key */
    int sig_rc;                          /* else why: SP_EMISMATCH (keyid) or SP_ECRYPTO */
    char sig_why[SP_ERRMSG_MAX];         /* its sentence, for SP_EMISMATCH */
    char keyid[72];                      /* the first signature's claimed keyid (<= 64 chars) */
    int decode_rc;                       /* SP_OK, or why env or r is NULL */
    char why[SP_ERRMSG_MAX];
    int root_bad;                        /* the root is not its tensor list's (item 5) */
    int tensors;                         /* SP_TENSORS_*, against the genesis */
    const char *tensor;                  /* the tensor named by that difference */
    int lists_dropped;                   /* r is a summary: its tensor list was checked and
                                            left out (sp_loaded_read without lists) */
} rec;

typedef struct loaded {
    rec *v;
    size_t n, cap;
    sp_report *rep;
    int oom;
    sp_arena arena[SP_MAX_THREADS];      /* the decoded records, one arena per thread */
    sp_arena scratch[SP_MAX_THREADS];    /* one envelope at a time, reused, per thread */
    const Sp__Record *g;                 /* record 0 when it decoded as a genesis, else NULL */
} loaded;

/* An empty set: L zeroed, its arenas initialised, findings to go to rep. */
void sp_loaded_init(loaded *L, sp_report *rep) SP_NONNULL(1);
void sp_loaded_free(loaded *L);

/*
 * Reads every record of src (sp_source_foreach: called once) into L and, on
 * `threads` threads while it reads, decodes, digests and checks the
 * signature of each, and checks item 5 as each is decoded: its root is its
 * tensor list's root, and, when record 0 is a genesis (L->g), every other
 * record lists the genesis's tensor names and shapes. The findings wait in
 * the records (sp_loaded_decode_report, sp_loaded_check_records). With
 * lists 0, every record but record 0 keeps only its summary, its tensor
 * list left out once checked (x->lists_dropped): for a verify that binds
 * no files and replays nothing, which never reads those lists. Returns
 * what sp_source_foreach returned (SP_ENOMEM, with L->oom, when a record
 * could not be stored); L->v holds the records read either way.
 */
int sp_loaded_read(loaded *L, sp_source *src, const uint8_t *pk, unsigned threads, int lists)
    SP_WUR SP_NONNULL(1, 2, 3);

/* Reports the records that do not decode (item 1). SP_ENOMEM when one ran out of memory. */
int sp_loaded_decode_report(loaded *L) SP_WUR SP_NONNULL(1);

/* Reports item 5, in ledger order: checks `root` and `tensors` (the latter only with L->g). */
void sp_loaded_check_records(const loaded *L, sp_report *rep) SP_NONNULL(1, 2);

#endif
