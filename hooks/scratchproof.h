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
 *
 * Installed (`make install`) as <scratchproof/scratchproof.h> with the
 * headers it includes beside it; `pkg-config --cflags --libs scratchproof`
 * is all a program needs. Every function declared in these headers is
 * exported by libscratchproof.so.0 (SP_API); nothing else is. Manual page:
 * scratchproof(3).
 */
#ifndef SCRATCHPROOF_H
#define SCRATCHPROOF_H

#include "sp_base.h"
#include "safetensors.h"   /* sp_st_open / sp_st_write for checkpoint files */
#include "sp_digest.h"     /* sp_tensor_digest, sp_hash_tagged */
#include "sp_escape.h"     /* sp_escape: printing untrusted names (SPEC.md 1.1) */

#ifdef __cplusplus
extern "C" {
#endif

#define SP_VERSION "0.1.0"   /* the library's version; its SONAME is libscratchproof.so.0 */

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
SP_API int sp_config_digest(uint8_t out[SP_DIGEST_BYTES], const void *bytes, size_t len)
    SP_WUR SP_NONNULL(1);

/* 1 when the run was opened with SP_RUN_REPLAY. */
SP_API int sp_run_is_replay(const sp_run *run) SP_NONNULL(1);
/*
 * Opens a run: creates the ledger (refusing one that already holds records:
 * SP_EBADSTATE, unless SP_RUN_RESUME), takes the single-writer lock (SP_EBUSY if another process
 * holds it), loads the secret key (SP_EKEY). On failure *out is NULL.
 */
SP_API int sp_run_open(sp_run **out, const sp_run_options *opts) SP_WUR SP_NONNULL(1, 2);

/* The detail line of the last failure on this run ("" if none). */
SP_API const char *sp_run_errmsg(const sp_run *run);

/* The run's seed, as given to sp_run_open. */
SP_API uint64_t sp_run_seed(const sp_run *run) SP_NONNULL(1);

/*
 * A tensor to record: its description plus, in the genesis only, the scheme
 * that made it. For checkpoints the scheme is ignored.
 */
typedef struct sp_record_tensor {
    sp_tensor t;
    sp_init_scheme init;
} sp_record_tensor;

/*
 * Deterministic initialiser (SPEC.md 6): fills elements [first, first+count)
 * of tensor `name` for `seed` and scheme s, in dtype F32, F16 or BF16; out
 * holds count * sp_dtype_size(dtype) bytes. SP_EINVAL for SP_INIT_EXTERNAL,
 * a bad scheme or name, SP_EUNSUPPORTED for another dtype, SP_ERANGE when
 * first + count passes 2^62. Any slice equals that slice of the whole.
 */
SP_API int sp_init_fill(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                 const sp_init_scheme *s, uint64_t first, uint64_t count)
    SP_WUR SP_NONNULL(1, 3, 5);

/* Checks a scheme (SPEC.md 6.1): SP_OK, or SP_EINVAL (unknown kind, parameter
 * out of range, an unused parameter not +0.0). */
SP_API int sp_init_check(const sp_init_scheme *s) SP_WUR SP_NONNULL(1);

/*
 * The ORTHOGONAL scheme (SPEC.md 6.9, torch.nn.init.orthogonal_) with this
 * gain for a tensor of this shape: *s = {SP_INIT_ORTHOGONAL, {gain, rows =
 * shape[0], cols = numel / rows, 0}}. SP_EINVAL (and *s zeroed) for fewer than
 * 2 dimensions, no elements, a gain not finite and > 0, more than 2^24
 * elements or rows * cols * min(rows, cols) above 2^36. sp_run_genesis refuses
 * an ORTHOGONAL scheme whose rows and cols are not its tensor's.
 */
SP_API int sp_init_orthogonal(sp_init_scheme *s, double gain, const uint64_t *shape, uint32_t ndim)
    SP_WUR SP_NONNULL(1, 3);

/*
 * Describing a flat parameter buffer (llm.c keeps every parameter in one
 * float array, tensor after tensor, with a table of sizes). spec[i] gives the
 * name and shape of tensor i, in buffer order; sp_tensor_table fills t[i]
 * (names point at spec[i].name, not copied) so that t[0] starts at buf and
 * each next tensor starts where the previous one ends, all of one dtype.
 * The tensors must use exactly nbytes bytes: a table that does not add up
 * to the buffer is an error, not a silent truncation. Returns SP_OK,
 * SP_EINVAL (NULL arguments, an empty or overlong name, ndim > SP_MAX_DIMS,
 * a dtype with no size, a name given twice, or sizes that do not add up to
 * nbytes), SP_ERANGE (a size overflows); err (SP_ERRMSG_MAX bytes, optional)
 * names the tensor. Example, llm.c's GPT-2 (L layers stacked per tensor):
 *
 *   sp_tensor_spec spec[] = {{"wte", 2, {V, C}}, {"wpe", 2, {maxT, C}},
 *                            {"ln1w", 2, {L, C}}, ...};
 *   sp_tensor t[16];
 *   rc = sp_tensor_table(t, spec, 16, SP_DTYPE_F32, params_memory,
 *                        num_parameters * sizeof(float), err);
 */
typedef struct sp_tensor_spec {
    const char *name;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
} sp_tensor_spec;

SP_API int sp_tensor_table(sp_tensor *t, const sp_tensor_spec *spec, size_t n, sp_dtype dtype,
                           const void *buf, uint64_t nbytes, char *err) SP_WUR;

/*
 * Records the genesis (sequence 0): every initial tensor, its digest and its
 * scheme. Must be the first record; names unique. SP_EBADSTATE if called twice.
 */
SP_API int sp_run_genesis(sp_run *run, const sp_record_tensor *t, size_t n) SP_WUR SP_NONNULL(1);

/*
 * Per-range schemes (SPEC.md 6.10): a tensor whose elements come from several
 * schemes (a padded vocabulary: rows [0, V) normal, the padding rows zeros).
 * range[0..n) as sp_init_ranges_check wants; element i of the tensor is
 * element i of its range's scheme (so any slice still generates alone).
 */
typedef struct sp_init_ranges {
    const sp_init_range *range;
    size_t n;                  /* 0: the tensor has its one scheme, t[i].init */
} sp_init_ranges;

/*
 * sp_run_genesis where ranges (NULL, or n entries parallel to t) gives some
 * tensors per-range schemes: ranges[i].n > 0 records t[i] with those ranges and
 * no scheme of its own (t[i].init must be left zeroed). SP_EINVAL, naming the
 * tensor in sp_run_errmsg, for ranges that fail sp_init_ranges_check or a
 * t[i].init set beside them; otherwise as sp_run_genesis.
 */
SP_API int sp_run_genesis_ranges(sp_run *run, const sp_record_tensor *t, size_t n,
                                 const sp_init_ranges *ranges) SP_WUR SP_NONNULL(1);

/*
 * Checks a tensor's ranges against its shape (SPEC.md 6.10): 2 to
 * SP_INIT_MAX_RANGES ranges, from element 0 in order, each starting where the
 * previous one ends, none empty, the last ending at the element count; every
 * scheme valid (sp_init_check, fits the shape), none EXTERNAL; no two
 * neighbours with the same scheme. SP_OK or SP_EINVAL.
 */
SP_API int sp_init_ranges_check(const sp_init_range *r, size_t n, const uint64_t *shape, uint32_t ndim)
    SP_WUR;

/*
 * sp_init_fill for a tensor given by ranges: elements [first, first + count),
 * each from its range's scheme. SP_EINVAL for ranges that fail the checks of
 * sp_init_ranges_check other than the shape's, SP_ERANGE past the last range;
 * otherwise the errors of sp_init_fill.
 */
SP_API int sp_init_fill_ranges(void *out, sp_dtype dtype, const char *name, uint64_t seed,
                               const sp_init_range *r, size_t n, uint64_t first, uint64_t count)
    SP_WUR SP_NONNULL(1, 3);

/*
 * Commits the data batch of one training step: its BLAKE2b digest joins the
 * chain that the next checkpoint records (SPEC.md 2.5). Steps must not
 * decrease. Cheap: one hash of the batch bytes, no I/O.
 */
SP_API int sp_run_commit_batch(sp_run *run, uint64_t step, const void *data, size_t len)
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
SP_API int sp_run_checkpoint(sp_run *run, const sp_checkpoint_info *info,
                      const sp_tensor *t, size_t n) SP_WUR SP_NONNULL(1, 2);

/* Records the final (published) weights; at most once, and last. */
SP_API int sp_run_final(sp_run *run, uint64_t step, const sp_tensor *t, size_t n)
    SP_WUR SP_NONNULL(1);

/*
 * Progress of the hashing in sp_run_genesis / sp_run_checkpoint / sp_run_final:
 * fn(ctx, "hashing tensors", bytes hashed, bytes in all) on the calling thread
 * (used by `scratchproof record`; a training job leaves it unset). fn NULL: none.
 */
SP_API void sp_run_set_progress(sp_run *run, void (*fn)(void *ctx, const char *what, uint64_t done, uint64_t total),
                         void *ctx);

/* The step of the last checkpoint recorded (also one read back on resume):
 * 1 and *step set, or 0 and *step = 0 when there is none yet. */
SP_API int sp_run_last_step(const sp_run *run, uint64_t *step) SP_NONNULL(1, 2);

/* Closes the run, releases the lock, wipes the key. NULL is a no-op. */
SP_API void sp_run_close(sp_run *run);

/* Seconds spent inside sp_run_* calls so far (for overhead reports). */
SP_API double sp_run_hook_seconds(const sp_run *run) SP_NONNULL(1);

/*
 * ---- Multi-rank building blocks (SPEC.md 17) ----
 * For layers that hash on several ranks and record on one (libscratchproof_mpi,
 * the Python scratchproof.dist): record digests computed elsewhere instead of
 * hashing tensors here. The *_digests functions take tensor descriptions whose
 * data pointers are ignored (nbytes is the whole tensor's size) and d[i], the
 * tensor digest (SPEC.md 2.2, sp_tensor_digest_leaves) of t[i]; otherwise they
 * behave as sp_run_genesis (with world_size and the sharding digest recorded),
 * sp_run_checkpoint (info->optimizer describes the optimizer tensors, opt_d
 * their digests) and sp_run_final.
 */
/* d = H("scratchproof/batch", u64le(step) || data) (SPEC.md 2.6). */
SP_API void sp_batch_digest(uint8_t d[SP_DIGEST_BYTES], uint64_t step, const void *data, size_t len)
    SP_NONNULL(1);

/* Joins a batch digest computed elsewhere to the chain. */
SP_API int sp_run_commit_digest(sp_run *run, uint64_t step, const uint8_t d[SP_DIGEST_BYTES])
    SP_WUR SP_NONNULL(1, 3);

SP_API int sp_run_genesis_digests(sp_run *run, const sp_record_tensor *t, const uint8_t (*d)[SP_DIGEST_BYTES],
                           size_t n, uint32_t world_size, const uint8_t sharding[SP_DIGEST_BYTES])
    SP_WUR SP_NONNULL(1);

SP_API int sp_run_checkpoint_digests(sp_run *run, const sp_checkpoint_info *info, const sp_tensor *t,
                              const uint8_t (*d)[SP_DIGEST_BYTES], size_t n,
                              const uint8_t (*opt_d)[SP_DIGEST_BYTES]) SP_WUR SP_NONNULL(1, 2);

SP_API int sp_run_final_digests(sp_run *run, uint64_t step, const sp_tensor *t,
                         const uint8_t (*d)[SP_DIGEST_BYTES], size_t n) SP_WUR SP_NONNULL(1);


#ifdef __cplusplus
}
#endif
#endif
