/*
 * tinytrain.h - tinytrain's command line (SPEC.md 11.1): the parsed
 * configuration, shared by tinytrain_args.c (the flag table) and tinytrain.c
 * (the run).
 */
#ifndef TINYTRAIN_H
#define TINYTRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tt_config {
    int replay;                     /* --replay-from given: replay mode (SPEC.md 11.7) */
    /* training */
    const char *ledger, *key, *init_from;
    uint64_t steps, every;
    int init_zeros, write_genesis;
    uint64_t shards;                /* --shards N: weights as N shards (1: one file) */
    /* replay */
    const char *replay_from, *replay_opt;
    uint64_t first, last;
    /* both */
    const char *out;
    uint64_t seed, threads, batch, micro, math_threads;
    double lr;
    int quiet, stats;
    /* test-only impostor modes (SPEC.md 11.8) */
    const char *splice_from, *splice_opt, *splice_prefix;
    uint64_t splice_at;
    uint64_t skip_first, skip_last; /* --skip-commits A:B; 0:0 when not given */
} tt_config;

/*
 * Parses argv into c. Returns 0 ok, 1 for --help, -1 after printing one
 * error line on stderr (naming the flag and the value). Reads the environment
 * variable SP_REPLAY_THREADS for the --math-threads default.
 */
int tt_parse_args(int argc, char **argv, tt_config *c);

void tt_usage(FILE *f);

#endif
