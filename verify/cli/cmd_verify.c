/* cmd_verify.c - `scratchproof verify LEDGER --pubkey PUB ...` (SPEC.md 7, 8, 12). */
#include <getopt.h>
#include <math.h>
#include <sodium.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "escape.h"
#include "head.h"
#include "keys.h"
#include "replay.h"
#include "verify.h"
#include "verify_html.h"

static const char verify_usage[] =
    "usage: scratchproof verify LEDGER|BUNDLE --pubkey PUB [--checkpoints DIR] [--model FILE|DIR|INDEX]...\n"
    "                           [--replay 'CMD ARGS' [--segments all|first|LIST] [--tolerance T]\n"
    "                            [--nonce HEX] [--calibrate] [--keep-replays DIR] [--replay-timeout S]]\n"
    "                           [--config FILE] [--allow-incomplete] [--ref REF]... [--json] [--html FILE]\n"
    "                           [--head FILE [--witness PUB]...] [--threads N] [--quiet]\n"
    "Replays LEDGER (or a BUNDLE from `scratchproof export -o`): every record\n"
    "signed by the pinned key PUB, hash-linked in\n"
    "order, one run; the genesis tensors regenerated from the recorded seed and\n"
    "schemes; with --checkpoints, every checkpoint record bound to a file in DIR\n"
    "(found by digest, not name); with --model, each published file bound to a\n"
    "recorded set of weights, tensor by tensor. A ledger without its final record\n"
    "fails unless --allow-incomplete; --config FILE must match the genesis config\n"
    "digest. With --replay, chosen training segments are re-executed by the\n"
    "trainer (split without a shell; placeholders {weights} {optimizer} {first}\n"
    "{last} {seed} {out}) and compared bit for bit, or within --tolerance T;\n"
    "--replay-timeout S stops a trainer still running after S seconds (a failed\n"
    "segment). With --checkpoints, the trajectory\n"
    "is screened (update sizes, the genesis's trace; --ref: derivation from REF);\n"
    "--html FILE writes a self-contained report page. With --head, LEDGER is\n"
    "checked against its signed head (not cut short, rolled back or forked;\n"
    "cosigned by each --witness).\n"
    "exit: 0 verified, 1 not verified (each failed check named with its record\n"
    "and tensor), 2 usage error or unreadable input.\n";

/* Long-only options of replay and the run-level checks (no short letters to collide). */
enum { OPT_REPLAY = 256, OPT_SEGMENTS, OPT_TOLERANCE, OPT_NONCE, OPT_CALIBRATE, OPT_KEEP, OPT_TIMEOUT, OPT_CONFIG,
       OPT_INCOMPLETE, OPT_HEAD, OPT_WITNESS };

/* The replay's progress line (SPEC.md 8.6): "replay: 2/5 segments, steps: 120 / 400 ...". */
static void replay_progress(void *ctx, size_t segs_done, size_t segs_total, uint64_t steps_done,
                            uint64_t steps_total)
{
    (void)ctx;
    char what[96];
    snprintf(what, sizeof what, "replay: %zu/%zu segments, steps", segs_done, segs_total);
    sp_cli_progress_phase("replay", what, steps_done, steps_total);
}

int sp_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, 'p'}, {"checkpoints", required_argument, NULL, 'c'},
        {"model", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
        {"replay", required_argument, NULL, OPT_REPLAY}, {"segments", required_argument, NULL, OPT_SEGMENTS},
        {"tolerance", required_argument, NULL, OPT_TOLERANCE}, {"nonce", required_argument, NULL, OPT_NONCE},
        {"calibrate", no_argument, NULL, OPT_CALIBRATE}, {"keep-replays", required_argument, NULL, OPT_KEEP},
        {"replay-timeout", required_argument, NULL, OPT_TIMEOUT},
        {"config", required_argument, NULL, OPT_CONFIG}, {"allow-incomplete", no_argument, NULL, OPT_INCOMPLETE},
        {"help", no_argument, NULL, 'h'}, {"ref", required_argument, NULL, 'R'},
        {"html", required_argument, NULL, 'H'}, {"head", required_argument, NULL, OPT_HEAD},
        {"witness", required_argument, NULL, OPT_WITNESS}, {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    static const char metas[] = "pubkey=PUB checkpoints=DIR model=FILE threads=N replay='CMD ARGS' "
                                "segments=SPEC tolerance=T nonce=HEX keep-replays=DIR replay-timeout=S config=FILE "
                                "ref=REF html=FILE head=FILE witness=PUB";
    sp_replay_opts ro = {.tolerance = -1};
    uint8_t nonce[SP_REPLAY_NONCE_BYTES];
    const char *config = NULL, *replay_only = NULL;
    int allow_incomplete = 0;
    const char *pubpath = NULL, *ckdir = NULL, *html = NULL;
    const char **models = calloc(2 * ((size_t)argc + 1), sizeof *models);
    const char **refs = models ? models + argc + 1 : NULL;    /* freed with models */
    size_t nmodels = 0, nrefs = 0;
    const char *headpath = NULL;
    const char **wits = calloc((size_t)argc + 1, sizeof *wits);
    size_t nwits = 0;
    sp_head_file *hf = NULL;
    uint8_t (*wpk)[32] = NULL;
    int json = 0, quiet = 0, c;
    uint64_t threads = 2;
    if (models == NULL || wits == NULL) {
        free(models);
        free(wits);
        return sp_cli_usage_error("verify", "out of memory");
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:c:m:jt:qhR:H:V", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubpath = optarg; break;
        case 'c': ckdir = optarg; break;
        case 'm': models[nmodels++] = optarg; break;
        case 'R': refs[nrefs++] = optarg; break;
        case 'H': html = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 't':
            if (sp_cli_parse_u64(optarg, &threads) != 0 || threads < 1 || threads > 64) {
                free(models);
                free(wits);
                return sp_cli_usage_error("verify", "--threads wants 1..64, not '%s'", optarg);
            }
            break;
        case OPT_REPLAY: ro.command = optarg; break;
        case OPT_SEGMENTS: ro.segments = optarg; replay_only = "--segments"; break;
        case OPT_TOLERANCE:
            if (sp_cli_parse_double(optarg, &ro.tolerance) != 0 || !(ro.tolerance >= 0)) {
                free(models);
                free(wits);
                return sp_cli_usage_error("verify", "--tolerance wants a number >= 0, not '%s'", optarg);
            }
            replay_only = "--tolerance";
            break;
        case OPT_NONCE:
            if (strlen(optarg) != 2 * SP_REPLAY_NONCE_BYTES ||
                sodium_hex2bin(nonce, sizeof nonce, optarg, strlen(optarg), NULL, NULL, NULL) != 0) {
                free(models);
                free(wits);
                return sp_cli_usage_error("verify", "--nonce wants %u hex digits, not '%s'",
                                          2 * SP_REPLAY_NONCE_BYTES, optarg);
            }
            ro.nonce = nonce;
            replay_only = "--nonce";
            break;
        case OPT_CALIBRATE: ro.calibrate = 1; replay_only = "--calibrate"; break;
        case OPT_KEEP: ro.keep_dir = optarg; replay_only = "--keep-replays"; break;
        case OPT_TIMEOUT:
            if (sp_cli_parse_double(optarg, &ro.timeout_s) != 0 || !(ro.timeout_s > 0) || ro.timeout_s > 1e9) {
                free(models);
                free(wits);
                return sp_cli_usage_error("verify", "--replay-timeout wants seconds > 0, not '%s'", optarg);
            }
            replay_only = "--replay-timeout";
            break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_INCOMPLETE: allow_incomplete = 1; break;
        case OPT_HEAD: headpath = optarg; break;
        case OPT_WITNESS: wits[nwits++] = optarg; break;
        case 'h': fputs(verify_usage, stdout); free(models); free(wits); return 0;
        case 'V': free(models); free(wits); return sp_cli_version();
        default:
            free(models);
            free(wits);
            return sp_cli_opt_error("verify", c, argv, opts, metas);
        }
    }
    int rc = 2;
    sp_trajectory traj = {0};
    if (optind != argc - 1) {
        rc = sp_cli_usage_error("verify", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
        goto out_models;
    }
    if (pubpath == NULL) {
        rc = sp_cli_usage_error("verify", "missing --pubkey PUB (the signer's key is pinned, "
                                          "never taken from the ledger)");
        goto out_models;
    }
    if (nrefs > 0 && ckdir == NULL) {
        rc = sp_cli_usage_error("verify", "--ref needs --checkpoints DIR (each checkpoint is compared with REF)");
        goto out_models;
    }
    char err[SP_ERRMSG_MAX] = "";
    if (replay_only != NULL && ro.command == NULL) {
        rc = sp_cli_usage_error("verify", "%s needs --replay 'CMD ARGS'", replay_only);
        goto out_models;
    }
    if (ro.command != NULL &&
        ((ro.segments != NULL && sp_replay_segments_parse(ro.segments) != SP_OK) ||
         sp_replay_check_command(ro.command, err) != SP_OK)) {
        rc = err[0] ? sp_cli_usage_error("verify", "%s", err)
                    : sp_cli_usage_error("verify", "--segments wants all, first or a list like 1,4,7, "
                                                   "not '%s'", ro.segments);
        goto out_models;
    }
    const char *ledger = argv[optind];
    uint8_t pk[SP_PK_BYTES];
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
                        .progress = quiet ? NULL : sp_cli_progress,   /* shown on a terminal only */
                        .allow_incomplete = allow_incomplete, .config_path = config,
                        .refs = refs, .n_refs = nrefs, .trajectory = &traj, .head = hf,
                        .witnesses = wpk, .witness_names = wits, .n_witnesses = nwits};
    sp_replay_result rres;
    memset(&rres, 0, sizeof rres);
    ro.threads = (unsigned)threads;
    if (!quiet)
        ro.progress = replay_progress;   /* shown on a terminal only */
    if (ro.command != NULL) {
        o.replay = &ro;
        o.replay_result = &rres;
    }
    sp_report rep;
    sp_verify_summary sum;
    sp_report_init(&rep);
    sp_cli_progress_enable(!quiet);
    int vrc = sp_verify_ledger(&o, &rep, &sum, err);
    sp_cli_progress_end();
    if (vrc != SP_OK) {
        rc = sp_cli_usage_error("verify", "%s", err[0] ? err : sp_strerror(vrc));
        sp_report_free(&rep);
        sp_replay_result_free(&rres);
        goto out_models;
    }
    int ok = sp_report_ok(&rep);
    if (json) {
        json_t *checks = sp_report_json(&rep);
        /* Untrusted strings through sp_json_str: invalid UTF-8 cannot break the JSON. */
        json_t *o2 = checks ? json_pack("{s:s, s:b, s:o, s:I, s:o, s:o, s:o, s:o}",
                                        "schema", "scratchproof/verify/v1", "verified", ok,
                                        "ledger", sp_json_str(ledger), "records",
                                        (json_int_t)sum.records, "run_id", sp_json_str(sum.run_id),
                                        "model_name", sp_json_str(sum.model_name),
                                        "keyid", sp_json_str(sum.keyid), "checks", checks)
                            : NULL;
        json_t *rj = o2 != NULL && ro.command != NULL ? sp_replay_json(&rres) : NULL;
        if (o2 != NULL && ro.command != NULL && (rj == NULL || json_object_set_new(o2, "replay", rj) != 0)) {
            json_decref(o2);
            o2 = NULL;
        }
        if (o2 != NULL && traj.npts > 0 && json_object_set_new(o2, "trajectory", sp_trajectory_json(&traj)) != 0) {
            json_decref(o2);
            o2 = NULL;
        }
        if (o2 == NULL || json_dumpf(o2, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0) {
            sp_replay_result_free(&rres);
            json_decref(o2);
            sp_report_free(&rep);
            rc = sp_cli_usage_error("verify", "out of memory writing JSON");
            goto out_models;
        }
        fputc('\n', stdout);
        sp_cli_json_printed();
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
        if (ro.command != NULL && rres.mode_name != NULL) {
            printf("replay nonce %s (--nonce %s repeats this choice)", rres.nonce_hex, rres.nonce_hex);
            if (rres.scratch[0]) {
                fputs("; replays kept in ", stdout);
                (void)sp_escape_fputs(rres.scratch, stdout);
            }
            fputc('\n', stdout);
        }
        if (ok)
            printf("VERIFIED: %zu checks passed\n", rep.n);
        else
            printf("NOT VERIFIED: %zu of %zu checks failed\n", rep.failed, rep.n);
    }
    rc = ok ? 0 : 1;
    if (html != NULL) {
        sp_verify_page pg = {.ledger = ledger, .sum = &sum, .rep = &rep, .traj = &traj,
                             .replay = ro.command != NULL ? &rres : NULL};
        FILE *page = fopen(html, "w");
        int bad = page == NULL || sp_verify_html(page, &pg) != 0;
        if ((page != NULL && fclose(page) != 0) || bad)
            rc = sp_cli_usage_error("verify", "--html %s: cannot write the report", html);
    }
    sp_report_free(&rep);
    sp_replay_result_free(&rres);
out_models:
    sp_trajectory_free(&traj);
    sp_head_file_free(hf);
    free(wpk);
    free(wits);
    free(models);
    return rc;
}
