/*
 * replay.h - re-executing training segments (SPEC.md 12): `scratchproof
 * verify --replay 'CMD ARGS'` runs the trainer on chosen segments of the run
 * (segments.h), from the recorded start weights and optimizer state, and
 * compares the replay's own ledger and weights with the recorded end record,
 * bit for bit or within a tolerance.
 *
 * The results struct below is what the text, JSON and HTML reports show: one
 * sp_replay_seg per segment of the run, chosen or not.
 */
#ifndef SP_REPLAY_H
#define SP_REPLAY_H

#include <jansson.h>

#include "report.h"
#include "segments.h"

#define SP_REPLAY_NONCE_BYTES 16u

/*
 * The default choice (SPEC.md 12.4): the first segment, the SP_REPLAY_Q
 * non-empty segments with the largest relative update after it, and
 * SP_REPLAY_R drawn from the nonce among the rest. For a 20-checkpoint run
 * (20 equal non-empty segments) that is 4 of 20: a fifth of the steps.
 */
#define SP_REPLAY_Q 1u
#define SP_REPLAY_R 2u

/* Why a segment was chosen (bits of sp_replay_seg.why). */
enum {
    SP_WHY_FIRST = 1u,     /* the first segment: a splice right after the genesis */
    SP_WHY_LARGEST = 2u,   /* among the Q largest relative updates */
    SP_WHY_RANDOM = 4u,    /* drawn from the nonce */
    SP_WHY_ASKED = 8u,     /* named by --segments (all, first, a list) */
    SP_WHY_EMPTY = 16u     /* no steps: checked without running anything */
};

typedef struct sp_replay_seg {
    size_t index;              /* 1-based: segment k runs from point k-1 to point k */
    uint64_t first_step, last_step;   /* steps first..last; first > last when empty */
    uint64_t start_seq, end_seq;      /* the records it runs between */
    double update;             /* largest relative update of a tensor, -1 when unknown */
    int chosen;
    unsigned why;              /* SP_WHY_* bits */
    int ran;                   /* a verdict exists (chosen and attempted) */
    int ok;
    int tolerance;             /* 1 tolerance mode, 0 exact */
    double max_e;              /* largest e (tolerance), 0 bit for bit, -1 not measured */
    char worst[128];           /* the tensor with the largest e or the first that diverged */
    double seconds;            /* wall time of the replay (trainer and comparison) */
} sp_replay_seg;

typedef struct sp_replay_result {
    uint8_t nonce[SP_REPLAY_NONCE_BYTES];
    char nonce_hex[2 * SP_REPLAY_NONCE_BYTES + 1];
    const char *mode_name;     /* "default", "all", "first", "list", "calibrate" */
    sp_replay_seg *segs;       /* n_segs, in run order */
    size_t n_segs;
    size_t chosen, failed;
    uint64_t steps_total, steps_replayed;
    double share;              /* steps_replayed / steps_total */
    double escape;             /* chance one forged segment outside first/top-Q escaped, -1 n/a */
    double tolerance;          /* T, or -1 in exact mode */
    int calibrated;
    double noise[2];           /* calibration: largest e at 1 and at 2 threads */
    double suggested_t;
    char scratch[4096];        /* the scratch directory (kept with --keep-replays) */
} sp_replay_result;

typedef struct sp_replay_opts {
    const char *command;       /* the trainer's command line, split without a shell */
    const char *segments;      /* NULL (default), "all", "first" or a list "1,4,7" */
    double tolerance;          /* < 0: exact mode */
    const uint8_t *nonce;      /* SP_REPLAY_NONCE_BYTES, or NULL: drawn at random */
    int calibrate;             /* --calibrate */
    const char *keep_dir;      /* --keep-replays DIR, or NULL: scratch removed */
    unsigned threads;          /* hashing threads */
    double timeout_s;          /* --replay-timeout: > 0 stops a trainer running longer; 0 none */
    /*
     * Optional progress (SPEC.md 8.6): called before and after each trainer
     * run and about ten times a second while one runs, with the segments
     * finished and chosen and the steps executed and to execute (a
     * calibrated segment runs twice); steps_done == steps_total at the end.
     */
    void (*progress)(void *ctx, size_t segs_done, size_t segs_total, uint64_t steps_done,
                     uint64_t steps_total);
    void *progress_ctx;
} sp_replay_opts;

/*
 * Parses --segments: "all", "first" or a comma list of 1-based segment
 * numbers (each 1..2^32). Only the syntax is checked here (0 or SP_EINVAL);
 * numbers beyond the run are reported when the run is known.
 */
int sp_replay_segments_parse(const char *spec) SP_WUR;

/*
 * Checks a --replay command splits (balanced quotes, at least one word):
 * SP_OK or SP_EINVAL with err naming --replay. SP_ENOMEM.
 */
int sp_replay_check_command(const char *cmd, char *err) SP_WUR SP_NONNULL(1);

/*
 * Chooses and replays segments of tab into rep (checks `replay`,
 * `replay-choice`, `calibrate`) and res (zeroed first; free with
 * sp_replay_result_free). last_digest is the record digest of the ledger's
 * last record (it keys the draw). Returns SP_OK when the replay ran (the
 * verdict is in rep: a trainer that fails is a failed segment, not an error);
 * SP_EINVAL (bad --segments, unbalanced quotes: err says which), SP_EIO (no
 * scratch directory), SP_ENOMEM.
 */
int sp_replay_run(const sp_replay_opts *o, const sp_run_table *tab,
                  const uint8_t last_digest[SP_DIGEST_BYTES], sp_report *rep,
                  sp_replay_result *res, char *err) SP_WUR SP_NONNULL(1, 2, 3, 4, 5);

void sp_replay_result_free(sp_replay_result *res);

/* The "replay" object of the --json report (new reference), NULL on OOM. */
json_t *sp_replay_json(const sp_replay_result *res) SP_NONNULL(1);

#endif
