/*
 * intoto.c - the in-toto export (intoto.h, SPEC.md 16): file digests, the
 * run's facts from its ledger, the Statement, and the DSSE JSON envelope.
 */
#include "intoto.h"

#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "keys.h"
#include "record.h"

int sp_file_digests(const char *path, uint8_t sha256[32], uint8_t blake2b[64], char *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        sp_errf(err, "%s: cannot open", path);
        return SP_EIO;
    }
    crypto_hash_sha256_state s;
    crypto_generichash_state b;
    crypto_hash_sha256_init(&s);
    crypto_generichash_init(&b, NULL, 0, 64);
    uint8_t *buf = malloc(1u << 20);
    if (buf == NULL) {
        fclose(f);
        return SP_ENOMEM;
    }
    size_t got;
    while ((got = fread(buf, 1, 1u << 20, f)) > 0) {
        crypto_hash_sha256_update(&s, buf, got);
        crypto_generichash_update(&b, buf, got);
    }
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) {
        sp_errf(err, "%s: read error", path);
        return SP_EIO;
    }
    crypto_hash_sha256_final(&s, sha256);
    crypto_generichash_final(&b, blake2b, 64);
    return SP_OK;
}

/* Reads the run's facts from each record (checked by sp_head_from_ledger_ex as it goes). */
static void facts_each(void *ctx, const Sp__Record *r)
{
    sp_run_facts *f = ctx;
    if (r->seq == 0) {
        f->have_genesis = r->body_case == SP__RECORD__BODY_GENESIS;
        if (f->have_genesis) {
            snprintf(f->model_name, sizeof f->model_name, "%s", r->genesis->model_name);
            f->seed = r->genesis->seed;
            memcpy(f->genesis_root, r->genesis->root.data, SP_DIGEST_BYTES);
        }
    } else if (r->body_case == SP__RECORD__BODY_CHECKPOINT || r->body_case == SP__RECORD__BODY_FINAL) {
        int fin = r->body_case == SP__RECORD__BODY_FINAL;
        f->have_weights = 1;
        f->last_is_final = fin;
        f->last_seq = r->seq;
        f->last_step = fin ? r->final->step : r->checkpoint->step;
        memcpy(f->last_root, sp_record_root(r), SP_DIGEST_BYTES);
    }
}

int sp_run_facts_load(sp_run_facts *f, const char *path, const uint8_t *pk, char *err)
{
    memset(f, 0, sizeof *f);
    int rc = sp_head_from_ledger_ex(&f->head, NULL, path, pk, facts_each, f, err);
    if (rc == SP_OK && !f->have_genesis) {
        sp_errf(err, "%s: record 0 is not a genesis", path);
        rc = SP_EMISMATCH;
    }
    return rc;
}

static json_t *hexs(const uint8_t *b, size_t n)
{
    char s[2 * 64 + 1];
    sp_hex(s, b, n);
    return json_string(s);
}

static json_t *b64s(const uint8_t *b, size_t n)
{
    char s[128];
    sodium_bin2base64(s, sizeof s, b, n, sodium_base64_VARIANT_ORIGINAL);
    return json_string(s);
}

json_t *sp_intoto_statement(const sp_run_facts *f, const sp_intoto_subject *s, size_t n,
                            const uint8_t *pk, const sp_report *checks, const char *tool)
{
    json_t *subjects = json_array(), *resources = json_array(), *ver = json_array();
    char kid[SP_KEYID_CHARS + 1], origin[SP_HEAD_ORIGIN_MAX];
    sp_keyid(kid, pk);
    sp_head_origin(origin, f->head.run_id);
    int bad = subjects == NULL || resources == NULL || ver == NULL;
    for (size_t i = 0; !bad && i < n; i++) {
        char *dup = strdup(s[i].path);
        if (dup == NULL) {
            bad = 1;
            break;
        }
        const char *name = basename(dup);   /* a name that is not UTF-8 fails here */
        bad = json_array_append_new(subjects, json_pack("{s:s, s:{s:o, s:o}}", "name", name, "digest",
                                                        "sha256", hexs(s[i].sha256, 32), "blake2b",
                                                        hexs(s[i].blake2b, 64))) != 0 ||
              json_array_append_new(resources, json_pack("{s:s, s:s, s:o}", "name", name, "algorithm",
                                                         "sha256", "digest", hexs(s[i].sha256, 32))) != 0;
        free(dup);
    }
    for (size_t i = 0; !bad && i < checks->n; i++)
        bad = json_array_append_new(ver, json_pack("{s:s, s:b, s:s}", "name", checks->v[i].name, "ok",
                                                   checks->v[i].ok, "detail", checks->v[i].detail)) != 0;
    if (bad) {
        json_decref(subjects);
        json_decref(resources);
        json_decref(ver);
        return NULL;
    }
    json_t *last = f->have_weights
                       ? json_pack("{s:s, s:I, s:I, s:o}", "kind", f->last_is_final ? "final" : "checkpoint",
                                   "record", (json_int_t)f->last_seq, "step", (json_int_t)f->last_step,
                                   "root", hexs(f->last_root, SP_DIGEST_BYTES))
                       : json_null();
    json_t *pred = json_pack(
        "{s:s, s:o, s:s, s:I, s:I, s:o, s:o, s:{s:s, s:o}, s:{s:s, s:I, s:o, s:o, s:I}, s:{s:s, s:o}, s:o}",
        "tool", tool, "run_id", hexs(f->head.run_id, SP_RUN_ID_BYTES), "model_name", f->model_name,
        "seed", (json_int_t)f->seed, "records", (json_int_t)f->head.size,
        "genesis_root", hexs(f->genesis_root, SP_DIGEST_BYTES), "weights", last,
        "signer", "keyid", kid, "public_key", b64s(pk, 32),
        "head", "origin", origin, "size", (json_int_t)f->head.size, "root", b64s(f->head.root, 32),
        "last_record", hexs(f->head.last_record, SP_DIGEST_BYTES), "last_time_ms",
        (json_int_t)f->head.last_time_ms,
        "verification", "by", tool, "checks", ver,
        "resources", resources);
    if (pred == NULL) {   /* json_pack released the references it was given */
        json_decref(subjects);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:s, s:o}", "_type", SP_INTOTO_STATEMENT_TYPE, "subject", subjects,
                     "predicateType", SP_INTOTO_PREDICATE_TYPE, "predicate", pred);
}

int sp_dsse_json(char **out, const char *payload_type, const uint8_t *payload, size_t len, const uint8_t *sk)
{
    *out = NULL;
    uint8_t *pae = NULL, sig[crypto_sign_BYTES];
    size_t plen = 0;
    if (sp_pae(&pae, &plen, payload_type, payload, len) != SP_OK)
        return SP_ENOMEM;
    int rc = crypto_sign_detached(sig, NULL, pae, plen, sk) == 0 ? SP_OK : SP_ECRYPTO;
    free(pae);
    if (rc != SP_OK)
        return rc;
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len), kid[SP_KEYID_CHARS + 1];
    if (b64 == NULL)
        return SP_ENOMEM;
    sodium_bin2base64(b64, b64len, payload, len, sodium_base64_VARIANT_ORIGINAL);
    sp_keyid(kid, sk + 32);
    json_t *env = json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "payload", b64, "payloadType", payload_type,
                            "signatures", "keyid", kid, "sig", b64s(sig, sizeof sig));
    free(b64);
    char *s = env ? json_dumps(env, JSON_INDENT(2)) : NULL;
    json_decref(env);
    if (s == NULL)
        return SP_ENOMEM;
    *out = s;
    return SP_OK;
}
