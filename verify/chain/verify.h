/*
 * verify.h - replaying a ledger (SPEC.md 7): signatures under a pinned key,
 * chain links, sequence and step order, one run id, the genesis regenerated
 * from its seed, and checkpoint files and published models bound to the
 * recorded digests. Findings go into an sp_report; only unreadable inputs
 * are errors.
 */
#ifndef SP_VERIFY_H
#define SP_VERIFY_H

#include "replay.h"
#include "report.h"
#include "sp_base.h"
#include "trajectory.h"

typedef struct sp_verify_opts {
    const char *ledger_path;
    const uint8_t *pk;                /* the pinned Ed25519 public key */
    const char *checkpoint_dir;       /* or NULL */
    const char *const *models;        /* published model files, n_models of them */
    size_t n_models;
    unsigned threads;                 /* hashing threads, 0 = 1 */
    /* optional progress callback for long work (regeneration, hashing) */
    void (*progress)(void *ctx, const char *what, uint64_t done, uint64_t total);
    void *progress_ctx;
    /* --head FILE [--witness PUB]... (head.h, SPEC.md 15.7), or NULL */
    const struct sp_head_file *head;
    const uint8_t (*witnesses)[32];
    const char *const *witness_names;
    size_t n_witnesses;
    /* run-level checks (SPEC.md 7 items 8-10) and segment replay (SPEC.md 12) */
    int allow_incomplete;             /* --allow-incomplete: no final record passes */
    const char *config_path;          /* --config FILE, or NULL */
    const sp_replay_opts *replay;     /* --replay, or NULL */
    sp_replay_result *replay_result;  /* filled when replay is set; caller frees */
    const char *const *refs;          /* --ref models for trajectory screening, n_refs of them */
    size_t n_refs;
    sp_trajectory *trajectory;        /* when not NULL, the screen's numbers (sp_trajectory_free) */
} sp_verify_opts;

typedef struct sp_verify_summary {
    uint64_t records;
    int have_genesis;
    char run_id[2 * SP_RUN_ID_BYTES + 1];
    char model_name[128];
    uint64_t seed;
    char keyid[17];
} sp_verify_summary;

/*
 * Runs every check into rep (initialised by the caller). Returns SP_OK when
 * the verification ran: the verdict is sp_report_ok(rep). Returns an error,
 * with err (SP_ERRMSG_MAX) saying why, when an input cannot be read at all:
 * SP_ENOTFOUND / SP_EFORMAT / SP_EIO for the ledger or a model file (these
 * are usage errors, exit 2, not findings), SP_ENOMEM; from the replay
 * (sp_replay_run): SP_EINVAL for a bad --replay command or --segments,
 * SP_EIO without scratch space.
 */
int sp_verify_ledger(const sp_verify_opts *o, sp_report *rep, sp_verify_summary *sum,
                     char *err) SP_WUR SP_NONNULL(1, 2, 3);

#endif
