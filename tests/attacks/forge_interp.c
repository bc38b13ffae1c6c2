/*
 * forge_interp.c - the interpolation spoof of proof-of-learning (Zhang et al.,
 * "Adversarial examples for proof-of-learning", IEEE S&P 2022), as a
 * tinytrain-looking run (SPEC.md 11.9): the genesis is honest (the
 * deterministic initialiser for --seed), every step commits its honest batch,
 * every record is signed with the team's key, but no training happens: the
 * checkpoint at step k holds W_k = W0 + (k/K)(W* - W0), a straight line from
 * the genesis W0 to a target model W* given as a file (someone else's
 * model), and the final record is W* itself. The optimizer files hold zeros
 * or the momentum a straight-line trajectory would have (--optimizer delta,
 * the default: v = (W0 - W*) / (lr K), so that p - lr v moves one step along
 * the line). Chain, genesis and file bindings all verify; only re-executing
 * a segment (verify --replay) shows the weights were not learned.
 */
#include "attack_common.h"

#include <stdio.h>
#include <string.h>

static const char USAGE[] =
    "usage: forge_interp --ledger LEDGER --key KEY --seed N --steps K --every E --out DIR\n"
    "                    --target FILE [--optimizer delta|zeros] [--batch N] [--lr X]\n"
    "Writes a tinytrain-looking run whose checkpoints interpolate from the honest\n"
    "genesis (seed N) to the weights of FILE: W_k = W0 + (k/K)(W* - W0); final = W*.\n"
    "Honest batch commitments, signed with KEY. A test-only attack generator.\n";

int main(int argc, char **argv)
{
    const char *target = NULL, *optimizer = NULL;
    const attack_flag extra[] = { { "target", &target, 1 }, { "optimizer", &optimizer, 0 } };
    attack a;
    tt_progname = "forge_interp";
    int pa = attack_parse(&a, argc, argv, extra, 2, USAGE);
    if (pa != 0)
        return pa == 1 ? 0 : 2;
    int delta = 1;
    if (optimizer && strcmp(optimizer, "zeros") == 0)
        delta = 0;
    else if (optimizer && strcmp(optimizer, "delta") != 0) {
        char e[128];
        fprintf(stderr, "forge_interp: --optimizer wants delta or zeros, got '%s'\n",
                tt_esc(e, sizeof e, optimizer));
        return 2;
    }
    tt_model star, w0;
    memset(&star, 0, sizeof star);
    memset(&w0, 0, sizeof w0);
    if (tt_model_alloc(&star) != 0 || tt_model_alloc(&w0) != 0) {
        fprintf(stderr, "forge_interp: out of memory\n");
        return 1;
    }
    int code = tt_load_tensors(&star, star.p, 0, target, NULL, "--target") != 0 ? 2 : 0;
    if (code == 0)
        code = attack_begin(&a);
    if (code == 0) {
        memcpy(w0.p[0], a.md.p[0], a.md.total * sizeof(float));
        const double K = (double)a.steps;
        for (size_t i = 0; i < a.md.total; i++)
            a.md.m[0][i] = delta ? (float)(((double)w0.p[0][i] - star.p[0][i]) / (a.lr * K)) : 0.0f;
    }
    for (uint64_t k = 1; k <= a.steps && code == 0; k++) {
        if ((code = attack_commit(&a, k)) != 0)
            break;
        if (k % a.every != 0 && k != a.steps)
            continue;
        const double f = (double)k / (double)a.steps;
        for (size_t i = 0; i < a.md.total; i++)
            a.md.p[0][i] = k == a.steps ? star.p[0][i]
                         : (float)(w0.p[0][i] + f * ((double)star.p[0][i] - w0.p[0][i]));
        if (k % a.every == 0)
            code = attack_checkpoint(&a, k);
    }
    if (code == 0)
        code = attack_final(&a);
    tt_model_free(&star);
    tt_model_free(&w0);
    return attack_end(&a, code);
}
