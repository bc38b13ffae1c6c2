/*
 * tinytrain_args.c - tinytrain's command line (SPEC.md 11.1): one table of
 * flags gives getopt_long's options, the usage text, the mode each flag
 * belongs to (training, replay or both), which flags each mode requires, and
 * the range of each value. Every error is one line naming the flag and value.
 */
#include "tinytrain.h"
#include "tinytrain_model.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_U64, K_REAL, K_BOOL, K_RANGE };
enum { TRAIN = 1, REPLAY = 2, BOTH = 3, TEST = 4 };   /* TEST: a test-only impostor mode */

typedef struct flag {
    const char *name;
    enum kind kind;
    unsigned modes;      /* where the flag may be given */
    unsigned required;   /* where it must be given */
    size_t off, off2;    /* the tt_config field(s); off2 for K_RANGE's second number */
    uint64_t lo, hi;     /* K_U64 and K_RANGE bounds */
    const char *arg, *help;
} flag;

#define F(field) offsetof(tt_config, field)

static const flag FLAGS[] = {
    /* training */
    { "ledger", K_STR, TRAIN, TRAIN, F(ledger), 0, 0, 0, "LEDGER",
      "the signed ledger to create (must be new)" },
    { "key", K_STR, TRAIN, TRAIN, F(key), 0, 0, 0, "KEY", "the secret key (scratchproof keygen)" },
    { "steps", K_U64, TRAIN, TRAIN, F(steps), 0, 1, 1000000000, "N", "training steps 1..N" },
    { "every", K_U64, TRAIN, TRAIN, F(every), 0, 1, 1000000000, "N", "checkpoint period in steps" },
    { "init-from", K_STR, TRAIN, 0, F(init_from), 0, 0, 0, "FILE",
      "start from these weights (recorded as external: the fine-tune impostor)" },
    { "write-genesis", K_BOOL, TRAIN, 0, F(write_genesis), 0, 0, 0, NULL,
      "also write the initial weights to DIR/step000000.safetensors" },
    { "shards", K_U64, TRAIN, 0, F(shards), 0, 1, 9, "N",
      "weights as N Hugging Face shards in DIR/stepNNNNNN/ and DIR/final/ (default 1: one file)" },
    /* replay */
    { "replay-from", K_STR, REPLAY, REPLAY, F(replay_from), 0, 0, 0, "W",
      "replay mode: start weights (a checkpoint or the regenerated genesis)" },
    { "replay-optimizer", K_STR, REPLAY, REPLAY, F(replay_opt), 0, 0, 0, "O",
      "start momentum (a .opt file), or \"\" for zeros (at the genesis)" },
    { "first-step", K_U64, REPLAY, REPLAY, F(first), 0, 1, 1000000000, "F",
      "first step to execute" },
    { "last-step", K_U64, REPLAY, REPLAY, F(last), 0, 1, 1000000000, "L",
      "last step; DIR/stepL files and a checkpoint record in DIR/replay.ledger" },
    /* both */
    { "seed", K_U64, BOTH, BOTH, F(seed), 0, 0, UINT64_MAX, "N",
      "seed of the deterministic initialiser (recorded in the genesis)" },
    { "out", K_STR, BOTH, BOTH, F(out), 0, 0, 0, "DIR", "output directory (created if absent)" },
    { "batch", K_U64, BOTH, 0, F(batch), 0, 1, 65536, "N",
      "sequences of 11 tokens per step (default 32)" },
    { "lr", K_REAL, BOTH, 0, F(lr), 0, 0, 0, "X", "learning rate in (0, 10] (default 0.05)" },
    { "micro", K_U64, BOTH, 0, F(micro), 0, 1, 65536, "N",
      "micro-batches per step, each committed (default 1, at most --batch)" },
    { "math-threads", K_U64, BOTH, 0, F(math_threads), 0, 1, TT_MAX_THREADS, "N",
      "gradient threads (default $SP_REPLAY_THREADS, else 1); changes rounding" },
    { "threads", K_U64, BOTH, 0, F(threads), 0, 0, 256, "N",
      "hashing threads of the hook (default 1)" },
    { "quiet", K_BOOL, BOTH, 0, F(quiet), 0, 0, 0, NULL, "no progress lines" },
    { "stats", K_BOOL, BOTH, 0, F(stats), 0, 0, 0, NULL,
      "print wall time, hook time and hook fraction on stdout" },
    /* test-only impostor modes: honest genesis, honestly signed records, lying weights */
    { "splice-from", K_STR, TRAIN | TEST, 0, F(splice_from), 0, 0, 0, "FILE",
      "test only: at --splice-at, before its update, load these weights" },
    { "splice-optimizer", K_STR, TRAIN | TEST, 0, F(splice_opt), 0, 0, 0, "FILE",
      "test only: at --splice-at, load this momentum state (.opt file)" },
    { "splice-at", K_U64, TRAIN | TEST, 0, F(splice_at), 0, 1, 1000000000, "STEP",
      "test only: the step whose update starts from the spliced state" },
    { "splice-prefix", K_STR, TRAIN | TEST, 0, F(splice_prefix), 0, 0, 0, "PREFIX",
      "test only: splice only tensors whose names start with PREFIX (e.g. head.)" },
    { "init-zeros", K_BOOL, TRAIN | TEST, 0, F(init_zeros), 0, 0, 0, NULL,
      "test only: genesis of zeros and constants (recorded as such)" },
    { "skip-commits", K_RANGE, TRAIN | TEST, 0, F(skip_first), F(skip_last), 1, 1000000000, "A:B",
      "test only: steps A..B commit no batch" },
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

void tt_usage(FILE *f)
{
    fprintf(f,
        "usage: tinytrain --ledger LEDGER --key KEY --seed N --steps N --every N --out DIR\n"
        "                 [options]\n"
        "       tinytrain --replay-from W --replay-optimizer O --first-step F --last-step L\n"
        "                 --seed N --out DIR [--batch N] [--lr X] [--micro N] [options]\n"
        "Trains a small next-token model on built-in synthetic text, recording its\n"
        "genesis, a batch commitment per step (per micro-batch), a checkpoint every N steps\n"
        "(DIR/stepNNNNNN.safetensors, momentum in DIR/stepNNNNNN.opt.safetensors), the final\n"
        "weights (DIR/final.safetensors) and DIR/tinytrain.config in the signed ledger.\n"
        "Replay mode (what `scratchproof verify --replay` runs) re-executes steps F..L from\n"
        "W and O into DIR/replay.ledger (ephemeral key) and DIR/stepLLLLLL files; --batch,\n"
        "--lr and --micro must be training's.\n");
    const char *groups[] = {
        "training:", "replay:", "training and replay:",
        "test-only impostor modes (honest genesis and signatures, lying weights):" };
    int group = -1;
    for (size_t i = 0; i < NFLAGS; i++) {
        const unsigned md = FLAGS[i].modes;
        int gi = md & TEST ? 3 : md == BOTH ? 2 : md == REPLAY ? 1 : 0;
        if (gi != group)
            fprintf(f, "%s\n", groups[group = gi]);
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", FLAGS[i].name, FLAGS[i].arg ? " " : "",
                 FLAGS[i].arg ? FLAGS[i].arg : "");
        fprintf(f, "  %-24s %s%s\n", left, FLAGS[i].help, FLAGS[i].required ? " (required)" : "");
    }
    fprintf(f, "  %-24s %s\n", "--help", "this text");
    fprintf(f, "Exit: 0 done, 1 a ledger or checkpoint write failed,"
               " 2 usage or unreadable input.\n");
}

/* Parses a whole decimal uint64 in [lo, hi]; 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parses one flag's value into c; 0 or -1 after the error line. */
static int set_value(const flag *fl, const char *v, tt_config *c)
{
    char *base = (char *)c, e[256];
    uint64_t a = 0, b = 0;
    switch (fl->kind) {
    case K_BOOL:
        *(int *)(base + fl->off) = 1;
        return 0;
    case K_STR:
        *(const char **)(base + fl->off) = v;
        return 0;
    case K_U64:
        if (parse_u64(v, fl->lo, fl->hi, &a) == 0) {
            *(uint64_t *)(base + fl->off) = a;
            return 0;
        }
        if (fl->hi == UINT64_MAX)
            fprintf(stderr, "tinytrain: --%s wants an integer in [0, 2^64), got '%s'\n",
                    fl->name, tt_esc(e, sizeof e, v));
        else
            fprintf(stderr, "tinytrain: --%s wants an integer in [%llu, %llu], got '%s'\n",
                    fl->name, (unsigned long long)fl->lo, (unsigned long long)fl->hi,
                    tt_esc(e, sizeof e, v));
        return -1;
    case K_REAL: {
        char *end = NULL;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x > 0.0 && x <= 10.0)) {
            fprintf(stderr, "tinytrain: --%s wants a number in (0, 10], got '%s'\n", fl->name,
                    tt_esc(e, sizeof e, v));
            return -1;
        }
        *(double *)(base + fl->off) = x;
        return 0;
    }
    case K_RANGE: {
        const char *colon = strchr(v, ':');
        char first[32];
        size_t n = colon ? (size_t)(colon - v) : 0;
        if (colon && n < sizeof first) {
            memcpy(first, v, n);
            first[n] = '\0';
        }
        if (!colon || n >= sizeof first || parse_u64(first, fl->lo, fl->hi, &a) != 0
            || parse_u64(colon + 1, fl->lo, fl->hi, &b) != 0 || a > b) {
            fprintf(stderr, "tinytrain: --%s wants A:B, integers with %llu <= A <= B <= %llu,"
                    " got '%s'\n", fl->name, (unsigned long long)fl->lo,
                    (unsigned long long)fl->hi, tt_esc(e, sizeof e, v));
            return -1;
        }
        *(uint64_t *)(base + fl->off) = a;
        *(uint64_t *)(base + fl->off2) = b;
        return 0;
    }
    }
    return -1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tinytrain: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see --help)\n");
    va_end(ap);
    return -1;
}

/* The relations between flags, once each value is parsed. */
static int check_combination(const tt_config *c)
{
    if (c->init_from && c->init_zeros)
        return usage_error("%s and %s exclude each other", "--init-from", "--init-zeros");
    if (c->micro > c->batch)
        return usage_error("--micro %llu is more than --batch %llu",
                           (unsigned long long)c->micro, (unsigned long long)c->batch);
    if (c->replay && c->first > c->last)
        return usage_error("--first-step %llu is after --last-step %llu",
                           (unsigned long long)c->first, (unsigned long long)c->last);
    int splicing = c->splice_from || c->splice_opt;
    if (splicing && !c->splice_at)
        return usage_error("%s needs %s", c->splice_from ? "--splice-from" : "--splice-optimizer",
                           "--splice-at");
    if (c->splice_at && !splicing)
        return usage_error("%s needs %s", "--splice-at", "--splice-from or --splice-optimizer");
    if (c->splice_prefix && !splicing)
        return usage_error("%s needs %s", "--splice-prefix", "--splice-from or --splice-optimizer");
    if (c->splice_at > c->steps && !c->replay)
        return usage_error("--splice-at %llu is after the last step %llu",
                           (unsigned long long)c->splice_at, (unsigned long long)c->steps);
    if (c->splice_prefix) {
        int any = 0;
        for (int i = 0; i < TT_NPARAMS; i++)
            any |= strncmp(TT_PARAMS[i].name, c->splice_prefix, strlen(c->splice_prefix)) == 0;
        char e[128];
        if (!any)
            return usage_error("--splice-prefix '%s' matches no tensor",
                               tt_esc(e, sizeof e, c->splice_prefix));
    }
    return 0;
}

int tt_parse_args(int argc, char **argv, tt_config *c)
{
    struct option opts[NFLAGS + 2];
    for (size_t i = 0; i < NFLAGS; i++) {
        opts[i].name = FLAGS[i].name;
        opts[i].has_arg = FLAGS[i].kind == K_BOOL ? no_argument : required_argument;
        opts[i].flag = NULL;
        opts[i].val = 1000 + (int)i;
    }
    opts[NFLAGS] = (struct option){ "help", no_argument, NULL, 'h' };
    opts[NFLAGS + 1] = (struct option){ 0, 0, 0, 0 };

    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->lr = 0.05;
    c->micro = 1;
    c->shards = 1;
    c->math_threads = 1;
    unsigned char seen[NFLAGS] = { 0 };
    char e[256];
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'h')
            return 1;
        if (ch < 1000 || ch >= 1000 + (int)NFLAGS) {
            fprintf(stderr, "tinytrain: unknown option or missing value: %s (see --help)\n",
                    tt_esc(e, sizeof e, argv[optind - 1]));
            return -1;
        }
        const flag *fl = &FLAGS[ch - 1000];
        if (seen[ch - 1000]) {
            fprintf(stderr, "tinytrain: --%s given twice (see --help)\n", fl->name);
            return -1;
        }
        seen[ch - 1000] = 1;
        if (set_value(fl, optarg, c) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "tinytrain: unexpected argument: %s (see --help)\n",
                tt_esc(e, sizeof e, argv[optind]));
        return -1;
    }
    c->replay = c->replay_from != NULL;
    const unsigned mode = c->replay ? REPLAY : TRAIN;
    for (size_t i = 0; i < NFLAGS; i++) {
        if (seen[i] && !(FLAGS[i].modes & mode)) {
            fprintf(stderr, "tinytrain: --%s is %s (see --help)\n", FLAGS[i].name,
                    c->replay ? "not used in replay mode (--replay-from)"
                              : "for replay mode only (needs --replay-from)");
            return -1;
        }
    }
    for (size_t i = 0; i < NFLAGS; i++) {
        if (!seen[i] && (FLAGS[i].required & mode)) {
            fprintf(stderr, "tinytrain: --%s is required%s (see --help)\n", FLAGS[i].name,
                    c->replay ? " in replay mode" : "");
            return -1;
        }
    }
    const char *env = getenv("SP_REPLAY_THREADS");
    size_t mt = 0;
    while (strcmp(FLAGS[mt].name, "math-threads") != 0)
        mt++;
    if (!seen[mt] && env && *env
        && parse_u64(env, 1, TT_MAX_THREADS, &c->math_threads) != 0) {
        fprintf(stderr, "tinytrain: SP_REPLAY_THREADS (the --math-threads default) wants an"
                " integer in [1, %d], got '%s'\n", TT_MAX_THREADS, tt_esc(e, sizeof e, env));
        return -1;
    }
    return check_combination(c);
}
