/*
 * complete.h - checks over the run as a whole (SPEC.md 7, items 8-10): the
 * ledger ends with its final record, every segment's batch commitments
 * number its steps times batches_per_step, and the genesis config digest
 * equals the digest of the configuration file the evaluator holds.
 */
#ifndef SP_COMPLETE_H
#define SP_COMPLETE_H

#include "report.h"
#include "segments.h"

/* `complete`: the last weight point is the final record (or allow: passes, said so). */
void sp_check_complete(const sp_run_table *tab, int allow, sp_report *rep) SP_NONNULL(1, 3);

/* `batches`: every segment's end record holds (steps x batches_per_step) commitments. */
void sp_check_batches(const sp_run_table *tab, sp_report *rep) SP_NONNULL(1, 2);

/*
 * sp_config_digest over the bytes of the file at path (at most 256 MiB).
 * SP_EIO / SP_ERANGE / SP_ENOMEM with err naming the file and --config.
 */
int sp_config_file_digest(uint8_t out[SP_DIGEST_BYTES], const char *path, char *err)
    SP_WUR SP_NONNULL(1, 2);

/* `config`: the genesis config digest equals d (the digest of file path). */
void sp_check_config(const Sp__Record *genesis, const uint8_t d[SP_DIGEST_BYTES], const char *path,
                     sp_report *rep) SP_NONNULL(1, 2, 3, 4);

#endif
