/*
 * scratchproof.h - the public C API a training job links (libscratchproof).
 *
 * A run owns one ledger (an LMDB file) and one signing key. The job:
 *   1. sp_run_open()                  opens or creates the ledger, loads the key;
 *   2. sp_init_fill() for each tensor fills it from the deterministic initialiser,
 *      then sp_run_genesis() records every initial tensor with its scheme
 *      (SP_INIT_EXTERNAL for weights loaded from a file: recorded honestly,
 *      and a verifier will say they are not from scratch);
 *   3. sp_run_commit_batch() once per step with the step's data batch;
 *   4. sp_run_checkpoint() every N steps with the weights and optimizer state;
 *   5. sp_run_final() with the published weights, then sp_run_close().
 * Every record is signed, hash-linked and durably committed (one fsync'd LMDB
 * transaction) before the call returns. See SPEC.md for every format.
 *
 * Threading: a run handle is used by one thread at a time. Hashing inside a
 * call uses opts.threads threads. Errors: each function returns SP_OK or a
 * negative SP_E* code (sp_strerror); after a failed append the run is marked
 * SP_EBADSTATE and every later call fails with it, so a ledger never holds a
 * half-written chain. sp_run_errmsg() gives the detail of the last failure.
 */
#ifndef SCRATCHPROOF_H
#define SCRATCHPROOF_H

#include "sp_base.h"
#include "safetensors.h"   /* sp_st_open / sp_st_write for checkpoint files */

#ifdef __cplusplus
extern "C" {
#endif

#define SP_VERSION "0.1.0"

typedef struct sp_run sp_run;

typedef struct sp_run_options {
    const char *ledger_path;   /* the ledger file; created if absent, must be empty */
    const char *key_path;      /* PREFIX.key written by `scratchproof keygen` */
    uint64_t seed;             /* seed of the deterministic initialiser */
    const char *model_name;    /* free text, recorded in the genesis */
    const uint8_t *config_digest; /* SP_DIGEST_BYTES or NULL (recorded as zeros) */
    unsigned threads;          /* hashing threads, 0 = 1 */
    unsigned flags;            /* 0, SP_RUN_RESUME or SP_RUN_REPLAY */
    char *err;                 /* optional SP_ERRMSG_MAX buffer: why open failed */
    uint32_t batches_per_step; /* batch commitments per step (micro-batches), 0 = 1;
                                  recorded in the genesis, checked by verify */
} sp_run_options;

/*
 * SP_RUN_RESUME: append to a ledger that already holds this run (used by
 * `scratchproof record`, one process per record). The existing records must
 * decode and be signed by the same key; the batch chain restarts empty.
 */
#define SP_RUN_RESUME 0x1u

/*
 * SP_RUN_REPLAY: replay mode (SPEC.md 12), for a trainer that `scratchproof
 * verify --replay` runs to re-execute one segment. Records go to ledger_path,
 * a scratch ledger that must be new (by convention OUT/replay.ledger, OUT the
 * directory verify gives), signed with a fresh ephemeral key: key_path is
 * ignored and may be NULL, and nothing can ever be mistaken for a record of
 * the team's run. The trainer calls the same functions as in training:
 * sp_run_genesis with the start weights it loaded (schemes SP_INIT_EXTERNAL),
 * sp_run_commit_batch for every executed step, sp_run_checkpoint at the last
 * step with the optimizer state. Not combinable with SP_RUN_RESUME.
 */
#define SP_RUN_REPLAY 0x2u

/*
 * The config digest a run records (sp_run_options.config_digest) and
 * `verify --config FILE` checks: H("scratchproof/config", bytes), SPEC.md 2.0.
 * Pass the exact bytes of the training configuration (a file's contents).
 */
int sp_config_digest(uint8_t out[SP_DIGEST_BYTES], const void *bytes, size_t len)
    SP_WUR SP_NONNULL(1);

/* 1 when the run was opened with SP_RUN_REPLAY. */
int sp_run_is_replay(const sp_run *run) SP_NONNULL(1);
/*
 * Opens a run: creates the ledger (refusing one that already holds records:
 * SP_EBADSTATE, unless SP_RUN_RESUME), takes the single-writer lock (SP_EBUSY if another process
 * holds it), loads the secret key (SP_EKEY). On failure *out is NULL.
 */
int sp_run_open(sp_run **out, const sp_run_options *opts) SP_WUR SP_NONNULL(1, 2);

/* The detail line of the last failure on this run ("" if none). */
const char *sp_run_errmsg(const sp_run *run);

/* The run's seed, as given to sp_run_open. */
uint64_t sp_run_seed(const sp_run *run) SP_NONNULL(1);

/*
 * A tensor to record: its description plus, in the genesis only, the scheme
 * that made it. For checkpoints the scheme is ignored.
 */
typedef struct sp_record_tensor {
    sp_tensor t;
    sp_init_scheme init;
} sp_record_tensor;

/*
 * Deterministic initialiser (same as attest/init.h; re-exported here so a job
 * needs only this header): fills elements [first, first+count) of tensor `name`
 * for `seed` and scheme s, in dtype F32, F16 or BF16.
 */
int sp_init_fill(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                 const sp_init_scheme *s, uint64_t first, uint64_t count)
    SP_WUR SP_NONNULL(1, 3, 5);

/*
 * Records the genesis (sequence 0): every initial tensor, its digest and its
 * scheme. Must be the first record; names unique. SP_EBADSTATE if called twice.
 */
int sp_run_genesis(sp_run *run, const sp_record_tensor *t, size_t n) SP_WUR SP_NONNULL(1);

/*
 * Commits the data batch of one training step: its BLAKE2b digest joins the
 * chain that the next checkpoint records (SPEC.md 2.5). Steps must not
 * decrease. Cheap: one hash of the batch bytes, no I/O.
 */
int sp_run_commit_batch(sp_run *run, uint64_t step, const void *data, size_t len)
    SP_WUR SP_NONNULL(1);

typedef struct sp_checkpoint_info {
    uint64_t step;             /* strictly increasing across checkpoints */
    uint64_t tokens;           /* tokens seen so far */
    double loss;
    double lr;
    const sp_tensor *optimizer;   /* optimizer state tensors, or NULL */
    size_t n_optimizer;
} sp_checkpoint_info;

/* Records a checkpoint of n weight tensors (names unique). A checkpoint at the
 * step of the last one (a trainer re-saving the step it resumed from) appends
 * nothing and succeeds when no batch was committed since and its weights and
 * optimizer state digests equal the last checkpoint's (else SP_EMISMATCH). */
int sp_run_checkpoint(sp_run *run, const sp_checkpoint_info *info,
                      const sp_tensor *t, size_t n) SP_WUR SP_NONNULL(1, 2);

/* Records the final (published) weights; at most once, and last. */
int sp_run_final(sp_run *run, uint64_t step, const sp_tensor *t, size_t n)
    SP_WUR SP_NONNULL(1);

/* The step of the last checkpoint recorded (also one read back on resume):
 * 1 and *step set, or 0 and *step = 0 when there is none yet. */
int sp_run_last_step(const sp_run *run, uint64_t *step) SP_NONNULL(1, 2);

/* Closes the run, releases the lock, wipes the key. NULL is a no-op. */
void sp_run_close(sp_run *run);

/* Seconds spent inside sp_run_* calls so far (for overhead reports). */
double sp_run_hook_seconds(const sp_run *run) SP_NONNULL(1);

#ifdef __cplusplus
}
#endif
#endif
