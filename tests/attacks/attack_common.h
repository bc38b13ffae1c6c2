/*
 * attack_common.h - what the proof-of-learning spoofs of tests/attacks/ share
 * (SPEC.md 11.9): a run that looks exactly like a tinytrain run (same
 * model_name, DIR/tinytrain.config and config digest, an honest genesis from
 * the deterministic initialiser, an honest batch commitment every step,
 * signed with the team's key) whose checkpoint weights were not trained.
 * Public API only (scratchproof.h), plus tinytrain's own model code.
 */
#ifndef ATTACK_COMMON_H
#define ATTACK_COMMON_H

#include "tinytrain_model.h"

typedef struct attack {
    /* the flags every attack program takes, as tinytrain names them */
    const char *ledger, *key, *out;
    uint64_t seed, steps, every, batch;
    double lr;
    /* the run */
    sp_run *run;
    tt_model md;                  /* md.p: the weights to record; md.m: the optimizer state */
    tt_workers *wk;
    uint8_t *text, *batchbuf;
    sp_tensor w[TT_NPARAMS], opt[TT_NPARAMS];
} attack;

/* One extra flag of a program: --name VALUE into *value (a string). */
typedef struct attack_flag {
    const char *name;
    const char **value;
    int required;
} attack_flag;

/*
 * Parses the common flags (--ledger --key --seed --steps --every --out
 * required; --batch, --lr as tinytrain's) and the program's extra string
 * flags into a. 0 ok, 1 after printing usage for --help, -1 after one error
 * line on stderr.
 */
int attack_parse(attack *a, int argc, char **argv, const attack_flag *extra, size_t nextra,
                 const char *usage);

/*
 * Makes DIR, writes DIR/tinytrain.config, opens the run with tinytrain's
 * model_name and config digest and the team's key, fills md.p from the
 * deterministic initialiser for the seed and records the honest genesis.
 * Returns an exit code (0, 1 hook or write failure, 2 unusable input).
 */
int attack_begin(attack *a);

/* Commits step's honest batch (tinytrain's bytes). Exit code. */
int attack_commit(attack *a, uint64_t step);

/*
 * The loss of the weights now in md.p on step's batch (forward only in
 * effect: the gradient is computed into md.g and ignored).
 */
double attack_loss(attack *a, uint64_t step);

/*
 * Writes DIR/stepNNNNNN.safetensors and .opt.safetensors from md.p and md.m
 * and records a checkpoint of them (loss from attack_loss). Exit code.
 */
int attack_checkpoint(attack *a, uint64_t step);

/* Writes DIR/final.safetensors from md.p and records the final (step = steps). Exit code. */
int attack_final(attack *a);

/* Closes the run and frees everything; returns code. */
int attack_end(attack *a, int code);

#endif
