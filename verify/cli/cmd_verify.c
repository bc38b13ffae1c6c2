/* cmd_verify.c - `scratchproof verify LEDGER --pubkey PUB ...` (SPEC.md 7). */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "escape.h"
#include "head.h"
#include "keys.h"
#include "verify.h"

static const char verify_usage[] =
    "usage: scratchproof verify LEDGER --pubkey PUB [--checkpoints DIR] [--model FILE]...\n"
    "                           [--head FILE [--witness PUB]...] [--json] [--threads N] [--quiet]\n"
    "Replays LEDGER: every record signed by the pinned key PUB, hash-linked in\n"
    "order, one run; the genesis tensors regenerated from the recorded seed and\n"
    "schemes; with --checkpoints, every checkpoint record bound to a file in DIR\n"
    "(found by digest, not name); with --model, each published file bound to a\n"
    "recorded set of weights, tensor by tensor; with --head, LEDGER against its\n"
    "signed head (not cut short, rolled back or forked; cosigned by each --witness).\n"
    "exit: 0 verified, 1 not verified (each failed check named with its record\n"
    "and tensor), 2 usage error or unreadable input.\n";

int sp_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, 'p'}, {"checkpoints", required_argument, NULL, 'c'},
        {"model", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
        {"head", required_argument, NULL, 'H'}, {"witness", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *pubpath = NULL, *ckdir = NULL, *headpath = NULL;
    const char **wits = calloc((size_t)argc + 1, sizeof *wits);
    size_t nwits = 0;
    sp_head_file *hf = NULL;
    uint8_t (*wpk)[32] = NULL;
    const char **models = calloc((size_t)argc + 1, sizeof *models);
    size_t nmodels = 0;
    int json = 0, quiet = 0, c;
    uint64_t threads = 2;
    if (models == NULL || wits == NULL) {
        free(models);
        free(wits);
        return sp_cli_usage_error("verify", "out of memory");
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:c:m:jt:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubpath = optarg; break;
        case 'c': ckdir = optarg; break;
        case 'm': models[nmodels++] = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'H': headpath = optarg; break;
        case 'W': wits[nwits++] = optarg; break;
        case 't':
            if (sp_cli_parse_u64(optarg, &threads) != 0 || threads < 1 || threads > 64) {
                free(models);
                free(wits);
                return sp_cli_usage_error("verify", "--threads wants 1..64, not '%s'", optarg);
            }
            break;
        case 'h': fputs(verify_usage, stdout); free(models); free(wits); return 0;
        default:
            free(models);
            free(wits);
            return sp_cli_usage_error("verify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    int rc = 2;
    if (optind != argc - 1) {
        rc = sp_cli_usage_error("verify", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
        goto out_models;
    }
    if (pubpath == NULL) {
        rc = sp_cli_usage_error("verify", "missing --pubkey PUB (the signer's key is pinned, "
                                          "never taken from the ledger)");
        goto out_models;
    }
    const char *ledger = argv[optind];
    uint8_t pk[SP_PK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (sp_key_load_public(pk, pubpath, err) != SP_OK) {
        rc = sp_cli_usage_error("verify", "%s", err);
        goto out_models;
    }
    wpk = calloc(nwits + 1, sizeof *wpk);
    if (nwits > 0 && headpath == NULL) {
        rc = sp_cli_usage_error("verify", "--witness needs --head FILE (the head it cosigned)");
        goto out_models;
    }
    for (size_t i = 0; wpk != NULL && i < nwits; i++)
        if (sp_key_load_public(wpk[i], wits[i], err) != SP_OK) {
            rc = sp_cli_usage_error("verify", "--witness: %s", err);
            goto out_models;
        }
    if (wpk == NULL || (headpath != NULL && sp_head_file_load(&hf, headpath, err) != SP_OK)) {
        rc = sp_cli_usage_error("verify", "%s", wpk ? err : "out of memory");
        goto out_models;
    }
    sp_verify_opts o = {.ledger_path = ledger, .pk = pk, .checkpoint_dir = ckdir,
                        .models = models, .n_models = nmodels, .threads = (unsigned)threads,
                        .progress = quiet ? NULL : sp_cli_progress, .head = hf, .witnesses = wpk,
                        .witness_names = wits, .n_witnesses = nwits};
    sp_report rep;
    sp_verify_summary sum;
    sp_report_init(&rep);
    int vrc = sp_verify_ledger(&o, &rep, &sum, err);
    if (vrc != SP_OK) {
        rc = sp_cli_usage_error("verify", "%s", err[0] ? err : sp_strerror(vrc));
        sp_report_free(&rep);
        goto out_models;
    }
    int ok = sp_report_ok(&rep);
    if (json) {
        json_t *checks = sp_report_json(&rep);
        /* Untrusted strings through sp_json_str: invalid UTF-8 cannot break the JSON. */
        json_t *o2 = checks ? json_pack("{s:b, s:o, s:I, s:o, s:o, s:o, s:o}", "verified", ok,
                                        "ledger", sp_json_str(ledger), "records",
                                        (json_int_t)sum.records, "run_id", sp_json_str(sum.run_id),
                                        "model_name", sp_json_str(sum.model_name),
                                        "keyid", sp_json_str(sum.keyid), "checks", checks)
                            : NULL;
        if (o2 == NULL || json_dumpf(o2, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0) {
            json_decref(o2);
            sp_report_free(&rep);
            rc = sp_cli_usage_error("verify", "out of memory writing JSON");
            goto out_models;
        }
        fputc('\n', stdout);
        json_decref(o2);
    } else {
        /* The ledger path and the signed model name are untrusted: escaped (SPEC.md 1.1). */
        fputs("scratchproof verify ", stdout);
        (void)sp_escape_fputs(ledger, stdout);
        fputc('\n', stdout);
        if (sum.have_genesis) {
            char e_model[4 * sizeof sum.model_name];   /* run id and key id are our own hex */
            sp_escape(e_model, sizeof e_model, sum.model_name);
            printf("  run %s, model '%s', seed %llu, %llu records, key %s\n", sum.run_id, e_model,
                   (unsigned long long)sum.seed, (unsigned long long)sum.records, sum.keyid);
        }
        sp_report_print(&rep, stdout, 1);
        if (ok)
            printf("VERIFIED: %zu checks passed\n", rep.n);
        else
            printf("NOT VERIFIED: %zu of %zu checks failed\n", rep.failed, rep.n);
    }
    rc = ok ? 0 : 1;
    sp_report_free(&rep);
out_models:
    sp_head_file_free(hf);
    free(wpk);
    free(wits);
    free(models);
    return rc;
}
