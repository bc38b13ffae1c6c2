/*
 * replay_int.h - the parts of segment replay (SPEC.md 12) that the unit tests
 * reach: splitting the trainer's command without a shell and substituting
 * placeholders (spawn.c, 12.2), running it (spawn.c, 12.2), the segment draw
 * and the default choice (choose.c, 12.4), and the relative error of one
 * tensor (compare.c, 12.3). Not part of any installed API.
 */
#ifndef SP_REPLAY_INT_H
#define SP_REPLAY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "delta.h"
#include "replay.h"

/* ---- spawn.c ---- */

/*
 * Splits cmd into words: runs of bytes separated by spaces, tabs or
 * newlines; '...' and "..." group bytes (quotes removed, nothing inside is
 * special; adjacent pieces join one word, '' is an empty word). No other
 * shell syntax. *argv is a malloc'd NULL-terminated array (free with
 * sp_argv_free), *argc its length. SP_EINVAL with err for an unbalanced
 * quote or a command without words; SP_ENOMEM.
 */
int sp_argv_split(const char *cmd, char ***argv, size_t *argc, char *err) SP_WUR SP_NONNULL(1, 2, 3);
void sp_argv_free(char **argv);

/* Values substituted for {weights} {optimizer} {first} {last} {seed} {out}. */
typedef struct sp_placeholders {
    const char *weights, *optimizer, *first, *last, *seed, *out;
} sp_placeholders;

/*
 * A copy of argv with every placeholder inside every word replaced (one
 * pass, left to right: a substituted value is never scanned again; any other
 * {...} stays as it is). SP_ENOMEM.
 */
int sp_argv_substitute(char ***out, char *const *argv, const sp_placeholders *p) SP_WUR SP_NONNULL(1, 2, 3);

/*
 * Runs argv[0] (execvp, no shell) with stdin from /dev/null, stdout and
 * stderr appended to logpath (created 0600), the environment inherited plus
 * SP_REPLAY_THREADS and OMP_NUM_THREADS set to threads, and waits for it.
 * *code is its exit status, or 128 + the signal that killed it (then *sig
 * is the signal, else 0); an argv[0] that cannot be executed exits 127
 * with a line in the log. The trainer runs in its own process group; with
 * o->timeout_s > 0, when it has not ended after that many seconds the group
 * gets SIGTERM, then SIGKILL 5 s later, and *timed_out is 1 (else 0); with
 * o->tick, tick(tick_ctx) is called every 20 ms while it runs. o may be
 * NULL (neither). SP_EIO (fork or log file failed) with err.
 */
typedef struct sp_spawn_opts {
    double timeout_s;          /* > 0: stop the trainer's group after this long */
    void (*tick)(void *);      /* NULL, or called every 20 ms while the trainer runs */
    void *tick_ctx;
} sp_spawn_opts;
int sp_spawn(char *const *argv, const char *logpath, unsigned threads, const sp_spawn_opts *o, int *code,
             int *sig, int *timed_out, char *err) SP_WUR SP_NONNULL(1, 2, 5, 6, 7);

/*
 * The last at most max bytes of the file at path, escaped for one line
 * (control bytes and bytes >= 0x7f as \xNN, newlines as " | ") into out.
 */
void sp_log_tail(char *out, size_t cap, const char *path, size_t max) SP_NONNULL(1, 3);

/* Removes a directory tree without following symbolic links. SP_EIO. */
int sp_rmtree(const char *path) SP_NONNULL(1);

/* ---- choose.c ---- */

/*
 * The segment draw (SPEC.md 12.4): K = H("scratchproof/segment-draw",
 * nonce || last record digest); block j of the stream is
 * BLAKE2b-512(key = K, message = u64le(j)), read as 8 little-endian u64.
 */
typedef struct sp_draw {
    uint8_t key[SP_DIGEST_BYTES];
    uint64_t block;
    uint64_t w[8];
    unsigned used;
} sp_draw;

void sp_draw_init(sp_draw *d, const uint8_t nonce[SP_REPLAY_NONCE_BYTES],
                  const uint8_t last_digest[SP_DIGEST_BYTES]) SP_NONNULL(1, 2, 3);
uint64_t sp_draw_u64(sp_draw *d) SP_NONNULL(1);
/* Uniform in 0..n-1 by rejection (no modulo bias); n >= 1. */
uint64_t sp_draw_below(sp_draw *d, uint64_t n) SP_NONNULL(1);

/*
 * The default choice over segs[0..n) (index, first/last step and update
 * filled in): marks segment 1, the q non-empty others with the largest
 * update (unknown updates last, ties to the earlier segment), then r drawn
 * from the remaining non-empty segments with d (partial Fisher-Yates over
 * them in run order). Returns the chance that one forged segment among those
 * remaining escaped the draw: (m - min(r, m)) / m, 0 when m = 0.
 */
double sp_choose_default(sp_replay_seg *segs, size_t n, unsigned q, unsigned r, sp_draw *d)
    SP_NONNULL(1, 5);

/* ---- compare.c ---- */

/*
 * e = ||r - end|| / ||end - start|| over all elements (L2 in double,
 * delta.h); 0/0 is 0, x/0 is +inf; +inf too when shapes differ or a source
 * cannot be read.
 */
double sp_rel_error(const sp_src *r, const sp_src *end, const sp_src *start) SP_NONNULL(1, 2, 3);

/*
 * Judges a finished replay of the segment ending at record end (SPEC.md
 * 12.3). Start weights are point start_point of tab (the genesis
 * regenerated, or the bound file); files are the ones bound by content
 * (NULL when none; a NULL start_optimizer means zeros, at the genesis). Returns 1 when the segment
 * checks, 0 with detail (what went wrong, one line) when it does not; fills
 * seg's mode, max_e and worst.
 */
typedef struct sp_replay_judge_in {
    const sp_run_table *tab;
    size_t start_point;                  /* tab->pts index of the start record */
    const Sp__Record *genesis, *start, *end;
    uint64_t last_step;
    const char *ledger_path, *out_dir;   /* {out}/replay.ledger and {out} */
    double tolerance;                    /* < 0: exact mode */
    const sp_weight_file *start_optimizer, *end_weights, *end_optimizer;
    unsigned threads;
} sp_replay_judge_in;

int sp_replay_judge(const sp_replay_judge_in *in, sp_replay_seg *seg, char *detail, size_t cap)
    SP_WUR SP_NONNULL(1, 2, 3);

#endif
