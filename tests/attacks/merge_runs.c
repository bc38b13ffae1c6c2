/*
 * merge_runs.c - two unrelated tinytrain runs stitched under one run id
 * (SPEC.md 11.9): the genesis (honest, regenerated for --seed, which must be
 * run A's seed) and run A's checkpoint files up to step --switch-at, then run
 * B's checkpoint files and final weights, all re-recorded as one new run:
 * re-signed with the team's key, hash-linked, with an honest batch commitment
 * every step. Each record's files are copied into DIR (re-written tensor for
 * tensor, so they bind by content). The chain, the genesis and every binding
 * verify; the jump from A's trajectory to B's between the two checkpoints
 * around --switch-at is what replaying that segment (or trajectory
 * screening) must catch.
 */
#include "attack_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: merge_runs --ledger LEDGER --key KEY --seed N --steps K --every E --out DIR\n"
    "                  --run-a DIR_A --run-b DIR_B --switch-at S [--batch N] [--lr X]\n"
    "Writes one run: the honest genesis of seed N (run A's), run A's checkpoints of\n"
    "steps <= S, run B's checkpoints of steps > S and B's final.safetensors, each\n"
    "re-recorded and signed with KEY, with honest batch commitments. DIR_A and DIR_B\n"
    "are tinytrain output directories of the same --steps/--every/--batch/--lr.\n"
    "A test-only attack generator.\n";

/* Loads DIR/NAME.safetensors (and .opt) into a->md. Exit code. */
static int load_step(attack *a, const char *dir, const char *name, int with_opt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (tt_load_tensors(&a->md, a->md.p, 0, path, NULL, dir) != 0)
        return 2;
    snprintf(path, sizeof path, "%s/%s.opt.safetensors", dir, name);
    if (with_opt && tt_load_tensors(&a->md, a->md.m, 1, path, NULL, dir) != 0)
        return 2;
    return 0;
}

int main(int argc, char **argv)
{
    const char *run_a = NULL, *run_b = NULL, *switch_at = NULL;
    const attack_flag extra[] = { { "run-a", &run_a, 1 }, { "run-b", &run_b, 1 },
                                  { "switch-at", &switch_at, 1 } };
    attack a;
    tt_progname = "merge_runs";
    int pa = attack_parse(&a, argc, argv, extra, 3, USAGE);
    if (pa != 0)
        return pa == 1 ? 0 : 2;
    char *end = NULL, e[64];
    unsigned long long s = strtoull(switch_at, &end, 10);
    if (*switch_at < '0' || *switch_at > '9' || *end || s < 1 || s >= a.steps) {
        fprintf(stderr, "merge_runs: --switch-at wants an integer in [1, steps), got '%s'\n",
                tt_esc(e, sizeof e, switch_at));
        return 2;
    }
    int code = attack_begin(&a);
    for (uint64_t k = 1; k <= a.steps && code == 0; k++) {
        if ((code = attack_commit(&a, k)) != 0 || k % a.every != 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "step%06" PRIu64, k);
        if ((code = load_step(&a, k <= s ? run_a : run_b, name, 1)) == 0)
            code = attack_checkpoint(&a, k);
    }
    if (code == 0 && (code = load_step(&a, run_b, "final", 0)) == 0)
        code = attack_final(&a);
    return attack_end(&a, code);
}
