/* cmd_log.c - `scratchproof log LEDGER|BUNDLE [--json] [--pubkey PUB]`: list the records
 * (read through source.h, SPEC.md 14: a damaged ledger is reported, exit 1). */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_schemes.h"
#include "digest.h"
#include "escape.h"
#include "keys.h"
#include "ledger.h"
#include "record.h"
#include "report.h"
#include "source.h"

typedef struct log_ctx {
    json_t *arr;            /* --json: records collected here */
    const uint8_t *pk;      /* NULL: signatures not checked */
    int bad;                /* a record did not decode */
    int oom;
} log_ctx;

/* A digest field as lowercase hex ("" when absent); validated records hold at most 32 bytes. */
static json_t *hex_field(const ProtobufCBinaryData *b)
{
    char hex[2 * SP_DIGEST_BYTES + 1] = "";
    if (b->len <= SP_DIGEST_BYTES)
        sp_hex(hex, b->data, b->len);
    return json_string(hex);
}

static void utc(char *buf, size_t cap, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "?");
}

/* A genesis's per-range schemes (SPEC.md 6.10): [{"tensor", "ranges": [{"first", "count", "kind", "scheme"}]}]. */
static json_t *ranges_json(const Sp__Genesis *g)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < g->n_tensors; i++) {
        const Sp__TensorDigest *t = g->tensors[i];
        if (t->n_ranges == 0)
            continue;
        sp_init_range *r = NULL;
        size_t nr = 0;
        json_t *rs = sp_record_ranges(&r, &nr, t) == SP_OK ? json_array() : NULL;
        for (size_t k = 0; rs != NULL && k < nr; k++) {
            char text[160];
            sp_cli_scheme_text(text, sizeof text, &r[k].init);
            json_array_append_new(rs, json_pack("{s:I, s:I, s:i, s:s}", "first", (json_int_t)r[k].first,
                                                "count", (json_int_t)r[k].count, "kind",
                                                (int)r[k].init.kind, "scheme", text));
        }
        free(r);
        json_t *o = rs ? json_pack("{s:o, s:o}", "tensor", sp_json_str(t->name), "ranges", rs) : NULL;
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* One line per tensor with per-range schemes, under the genesis line (names escaped). */
static void ranges_print(const Sp__Genesis *g)
{
    for (size_t i = 0; i < g->n_tensors; i++) {
        const Sp__TensorDigest *t = g->tensors[i];
        sp_init_range *r = NULL;
        size_t nr = 0;
        if (t->n_ranges == 0 || sp_record_ranges(&r, &nr, t) != SP_OK)
            continue;
        fputs("       tensor '", stdout);
        (void)sp_escape_fputs(t->name, stdout);
        printf("': %zu init ranges:", nr);
        for (size_t k = 0; k < nr; k++) {
            char text[160];
            sp_cli_scheme_text(text, sizeof text, &r[k].init);
            printf("%s [%llu, %llu) %s", k ? "," : "", (unsigned long long)r[k].first,
                   (unsigned long long)(r[k].first + r[k].count), text);
        }
        fputc('\n', stdout);
        free(r);
    }
}

static int log_visit(void *vctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    log_ctx *c = vctx;
    uint64_t seq = 0;
    for (size_t i = 0; i < keylen && i < 8; i++)
        seq = (seq << 8) | key[i];
    char err[SP_ERRMSG_MAX] = "";
    Sp__Envelope *env = NULL;
    Sp__Record *r = NULL;
    int rc = sp_envelope_decode(&env, val, len, err);
    if (rc == SP_OK)
        rc = sp_record_decode(&r, env->payload.data, env->payload.len, err);
    const char *sig = "unchecked";
    if (env != NULL && c->pk != NULL)
        sig = sp_envelope_verify(env, c->pk) == SP_OK ? "valid" : "INVALID";
    if (rc != SP_OK || keylen != 8) {
        c->bad = 1;
        if (keylen != 8)
            snprintf(err, sizeof err, "key is not an 8-byte sequence number");
        if (c->arr != NULL) {
            json_t *o = json_pack("{s:I, s:s, s:o}", "seq", (json_int_t)seq, "kind", "undecodable",
                                  "error", sp_json_str(err));
            if (o == NULL || json_array_append_new(c->arr, o) != 0)
                c->oom = 1;
        } else {
            char e_err[4 * SP_ERRMSG_MAX];
            sp_escape(e_err, sizeof e_err, err);
            printf("%-5llu  UNDECODABLE  %s\n", (unsigned long long)seq, e_err);
        }
        goto out;
    }
    Sp__TensorDigest **t;
    size_t n;
    sp_record_tensors(r, &t, &n);
    char root[65], when[32];
    sp_hex(root, sp_record_root(r), SP_DIGEST_BYTES);
    utc(when, sizeof when, r->time_unix_ms);
    uint64_t step = 0;
    if (r->body_case == SP__RECORD__BODY_CHECKPOINT)
        step = r->checkpoint->step;
    else if (r->body_case == SP__RECORD__BODY_FINAL)
        step = r->final->step;
    if (c->arr != NULL) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:s}", "seq", (json_int_t)r->seq,
                              "kind", sp_record_kind(r), "time", when, "step", (json_int_t)step,
                              "tensors", (json_int_t)n, "root", root, "signature", sig);
        if (o != NULL && r->body_case == SP__RECORD__BODY_GENESIS) {
            json_object_set_new(o, "seed", json_integer((json_int_t)r->genesis->seed));
            json_object_set_new(o, "model_name", sp_json_str(r->genesis->model_name));
            json_object_set_new(o, "config_digest", hex_field(&r->genesis->config_digest));
            json_object_set_new(o, "batches_per_step",
                                json_integer((json_int_t)r->genesis->batches_per_step));
            json_t *ir = ranges_json(r->genesis);
            if (ir == NULL)
                c->oom = 1;
            else
                json_object_set_new(o, "init_ranges", ir);
        } else if (o != NULL && r->body_case == SP__RECORD__BODY_CHECKPOINT) {
            json_object_set_new(o, "tokens", json_integer((json_int_t)r->checkpoint->tokens));
            json_object_set_new(o, "loss", json_real(r->checkpoint->loss));
            json_object_set_new(o, "lr", json_real(r->checkpoint->lr));
            json_object_set_new(o, "batches", json_integer((json_int_t)r->checkpoint->batches));
            json_object_set_new(o, "batches_digest", hex_field(&r->checkpoint->batches_digest));
            json_object_set_new(o, "optimizer_digest",
                                hex_field(&r->checkpoint->optimizer_digest));
        } else if (o != NULL && r->body_case == SP__RECORD__BODY_FINAL) {
            json_object_set_new(o, "batches", json_integer((json_int_t)r->final->batches));
            json_object_set_new(o, "batches_digest", hex_field(&r->final->batches_digest));
        }
        if (o == NULL || json_array_append_new(c->arr, o) != 0)
            c->oom = 1;
        goto out;
    }
    /* Every field from the ledger printed through sp_escape (SPEC.md 1.1). */
    char extra[512] = "", e_name[101];
    if (r->body_case == SP__RECORD__BODY_GENESIS) {
        sp_escape(e_name, sizeof e_name, r->genesis->model_name);   /* cut between characters */
        snprintf(extra, sizeof extra, "model '%s', seed %llu", e_name,
                 (unsigned long long)r->genesis->seed);
    } else if (r->body_case == SP__RECORD__BODY_CHECKPOINT) {
        snprintf(extra, sizeof extra, "loss %.4f, lr %g, %llu batches", r->checkpoint->loss,
                 r->checkpoint->lr, (unsigned long long)r->checkpoint->batches);
    }
    printf("%-5llu  %-10s  %s  step %-7llu  %3zu tensors  root %.16s  sig %s  %s\n",
           (unsigned long long)r->seq, sp_record_kind(r), when, (unsigned long long)step, n, root,
           sig, extra);
    if (r->body_case == SP__RECORD__BODY_GENESIS)
        ranges_print(r->genesis);
out:
    sp_record_free(r);
    sp_envelope_free(env);
    return 0;
}

int sp_cmd_log(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"pubkey", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    const char *pubpath = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":jp:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'p': pubpath = optarg; break;
        case 'h':
            printf("usage: scratchproof log LEDGER|BUNDLE [--json] [--pubkey PUB]\n"
                   "Lists the records. Signatures are checked only with --pubkey;\n"
                   "use 'scratchproof verify' for the full replay.\n"
                   "exit: 0, 1 if a record does not decode or the ledger is damaged,\n"
                   "2 unreadable ledger or bundle.\n");
            return 0;
        case 'V': return sp_cli_version();
        default: return sp_cli_opt_error("log", c, argv, opts, "pubkey=PUB");
        }
    }
    if (optind != argc - 1)
        return sp_cli_usage_error("log", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
    uint8_t pk[SP_PK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (pubpath != NULL && sp_key_load_public(pk, pubpath, err) != SP_OK)
        return sp_cli_usage_error("log", "%s", err);
    sp_source *l = NULL;
    int rc = sp_source_open(&l, argv[optind], err);
    if (rc != SP_OK)
        return sp_cli_usage_error("log", "%s", err[0] ? err : sp_strerror(rc));
    log_ctx ctx = {.arr = json ? json_array() : NULL, .pk = pubpath ? pk : NULL};
    if (!json)
        printf("seq    kind        time                  step          tensors  root\n");
    rc = sp_source_foreach(l, log_visit, &ctx);
    char damage[2 * SP_ERRMSG_MAX] = "";
    if (sp_source_damage(l) != NULL)
        snprintf(damage, sizeof damage, "%s", sp_source_damage(l));
    if (rc != SP_OK)
        snprintf(err, sizeof err, "%s", sp_source_errmsg(l));
    sp_source_close(l);
    if (rc != SP_OK || ctx.oom || (json && ctx.arr == NULL)) {
        json_decref(ctx.arr);
        return sp_cli_usage_error("log", "%s", rc != SP_OK && err[0] ? err : "cannot read records");
    }
    if (damage[0] != '\0') {
        ctx.bad = 1;
        if (!json)
            printf("%s\n", damage);
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:o, s:b, s:o, s:o}", "schema", "scratchproof/log/v1",
                              "ledger", sp_json_str(argv[optind]),
                              "signatures_checked", pubpath != NULL, "records", ctx.arr, "damage",
                              damage[0] ? sp_json_str(damage) : json_null());
        if (o == NULL)
            return sp_cli_usage_error("log", "out of memory");
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        sp_cli_json_printed();
        json_decref(o);
    }
    return ctx.bad ? 1 : 0;
}
