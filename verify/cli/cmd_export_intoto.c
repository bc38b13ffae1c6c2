/*
 * cmd_export_intoto.c - `scratchproof export LEDGER --intoto FILE --key KEY
 * [--model FILE]... [--checkpoints DIR]` (SPEC.md 16): a DSSE JSON envelope
 * around an in-toto Statement of the run, signed with the trainer's key.
 * The ledger (or bundle) is verified first under the key's own public half:
 * nothing is attested about a ledger that does not verify. Option parsing
 * is cmd_export.c's.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "intoto.h"
#include "keys.h"
#include "scratchproof.h"
#include "verify.h"

int sp_export_intoto(const char *ledger, const char *out, const char *keypath, const char **models,
                     size_t nmodels, const char *ckdir)
{
    if (keypath == NULL)
        return sp_cli_usage_error("export", "--intoto needs --key KEY (the trainer's signing key)");
    if (sodium_init() < 0)
        return sp_cli_usage_error("export", "libsodium failed to initialise");
    uint8_t sk[SP_SK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (sp_key_load_secret(sk, keypath, err) != SP_OK)
        return sp_cli_usage_error("export", "--key: %s", err);
    const uint8_t *pk = sk + 32;
    int ret = 2;
    sp_intoto_subject *subj = NULL;
    sp_report rep;
    sp_verify_summary sum;
    sp_report_init(&rep);
    size_t ns = nmodels ? nmodels : 1;
    subj = calloc(ns, sizeof *subj);
    if (subj == NULL) {
        ret = sp_cli_usage_error("export", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nmodels; i++) {
        subj[i].path = models[i];
        if (sp_file_digests(subj[i].path, subj[i].sha256, subj[i].blake2b, err) != SP_OK) {
            ret = sp_cli_usage_error("export", "--model: %s", err);
            goto out;
        }
    }
    sp_verify_opts o = {.ledger_path = ledger, .pk = pk, .checkpoint_dir = ckdir, .models = models,
                        .n_models = nmodels, .threads = 2};
    int rc = sp_verify_ledger(&o, &rep, &sum, err);
    if (rc != SP_OK) {
        ret = sp_cli_usage_error("export", "%s", err[0] ? err : sp_strerror(rc));
        goto out;
    }
    if (!sp_report_ok(&rep)) {
        fprintf(stderr, "scratchproof export: %s does not verify under the key's public key; "
                        "nothing attested:\n", ledger);
        sp_report_print(&rep, stderr, 0);
        ret = 1;
        goto out;
    }
    subj[0].path = nmodels ? subj[0].path : ledger;   /* no --model: the ledger file is the subject */
    if (nmodels == 0 && sp_file_digests(ledger, subj[0].sha256, subj[0].blake2b, err) != SP_OK) {
        ret = sp_cli_usage_error("export", "%s", err);
        goto out;
    }
    sp_run_facts f;
    if ((rc = sp_run_facts_load(&f, ledger, pk, err)) != SP_OK) {
        ret = rc == SP_EMISMATCH ? 1 : sp_cli_usage_error("export", "%s", err);
        if (rc == SP_EMISMATCH)
            fprintf(stderr, "scratchproof export: %s\n", err);
        goto out;
    }
    json_t *st = sp_intoto_statement(&f, subj, ns, pk, &rep, "scratchproof/" SP_VERSION);
    char *payload = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL, *env = NULL;
    json_decref(st);
    if (payload == NULL) {
        ret = sp_cli_usage_error("export", "cannot build the statement (out of memory, or a "
                                           "recorded name that is not UTF-8)");
        goto out;
    }
    rc = sp_dsse_json(&env, SP_INTOTO_PAYLOAD_TYPE, (const uint8_t *)payload, strlen(payload), sk);
    free(payload);
    if (rc != SP_OK) {
        ret = sp_cli_usage_error("export", "cannot sign: %s", sp_strerror(rc));
        goto out;
    }
    size_t elen = strlen(env);
    char *text = malloc(elen + 2);
    if (text == NULL) {
        ret = sp_cli_usage_error("export", "out of memory");
    } else {
        memcpy(text, env, elen);
        text[elen] = '\n';
        ret = sp_cli_write_out("export", "--intoto", out, text, elen + 1);
    }
    free(text);
    free(env);
out:
    free(subj);
    sodium_memzero(sk, sizeof sk);
    sp_report_free(&rep);
    return ret;
}
