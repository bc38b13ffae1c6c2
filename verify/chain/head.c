/*
 * head.c - a ledger's head (head.h, SPEC.md 15.1-15.2): the head body text,
 * its strict parser, and the head of a ledger on disk (every record read,
 * decoded and, with a key, its signature checked).
 */
#include "head.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "source.h"
#include "merkle.h"
#include "record.h"

void sp_head_origin(char out[SP_HEAD_ORIGIN_MAX], const uint8_t *run_id)
{
    memcpy(out, SP_HEAD_ORIGIN_PREFIX, sizeof SP_HEAD_ORIGIN_PREFIX - 1);
    sp_hex(out + sizeof SP_HEAD_ORIGIN_PREFIX - 1, run_id, SP_RUN_ID_BYTES);
}

int sp_head_format_body(char **out, size_t *len, const sp_head *h)
{
    char origin[SP_HEAD_ORIGIN_MAX], root[64], last[2 * SP_DIGEST_BYTES + 1];
    sp_head_origin(origin, h->run_id);
    sodium_bin2base64(root, sizeof root, h->root, 32, sodium_base64_VARIANT_ORIGINAL);
    sp_hex(last, h->last_record, SP_DIGEST_BYTES);
    size_t cap = 512;
    char *s = malloc(cap);
    if (s == NULL)
        return SP_ENOMEM;
    int n = snprintf(s, cap, "%s\n%llu\n%s\n%s\nlast-record %s\nlast-time %lld\n", origin,
                     (unsigned long long)h->size, root, SP_HEAD_FORMAT, last, (long long)h->last_time_ms);
    if (n < 0 || (size_t)n >= cap) {
        free(s);
        return SP_ENOMEM;
    }
    *out = s;
    *len = (size_t)n;
    return SP_OK;
}

/* Exactly 2*n lowercase hex digits into out. */
static int lower_hex(uint8_t *out, const char *s, size_t slen, size_t n)
{
    if (slen != 2 * n)
        return -1;
    for (size_t i = 0; i < slen; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    return sodium_hex2bin(out, n, s, slen, NULL, NULL, NULL) == 0 ? 0 : -1;
}

/* The next line of [*p, end) without its newline; -1 when there is none. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = *p < end ? memchr(*p, '\n', (size_t)(end - *p)) : NULL;
    if (nl == NULL)
        return -1;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return 0;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 18 || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
        return -1;
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');   /* at most 18 digits: no overflow */
    }
    *out = neg ? -v : v;
    return 0;
}

int sp_head_parse_body(sp_head *h, const char *text, size_t len, char *err)
{
    memset(h, 0, sizeof *h);
    sp_checkpoint cp;
    char why[SP_ERRMSG_MAX] = "";
    if (sp_checkpoint_parse(&cp, text, len, why) != SP_OK) {
        sp_errf(err, "not a checkpoint: %s", why);
        return SP_EFORMAT;
    }
    size_t plen = sizeof SP_HEAD_ORIGIN_PREFIX - 1;
    if (cp.origin_len < plen || memcmp(cp.origin, SP_HEAD_ORIGIN_PREFIX, plen) != 0 ||
        lower_hex(h->run_id, cp.origin + plen, cp.origin_len - plen, SP_RUN_ID_BYTES) != 0) {
        sp_errf(err, "origin is not %s followed by a 32-digit run id", SP_HEAD_ORIGIN_PREFIX);
        return SP_EFORMAT;
    }
    if (cp.size == 0) {
        sp_errf(err, "a head covers at least one record (size is 0)");
        return SP_EFORMAT;
    }
    h->size = cp.size;
    memcpy(h->root, cp.root, 32);
    const char *p = cp.ext, *end = cp.ext ? cp.ext + cp.ext_len : NULL, *line;
    size_t n;
    if (p == NULL || next_line(&p, end, &line, &n) != 0 || n != strlen(SP_HEAD_FORMAT) ||
        memcmp(line, SP_HEAD_FORMAT, n) != 0) {
        sp_errf(err, "first extension line is not '%s'", SP_HEAD_FORMAT);
        return SP_EFORMAT;
    }
    if (next_line(&p, end, &line, &n) != 0 || n < 12 || memcmp(line, "last-record ", 12) != 0 ||
        lower_hex(h->last_record, line + 12, n - 12, SP_DIGEST_BYTES) != 0) {
        sp_errf(err, "second extension line is not 'last-record' and 64 lowercase hex digits");
        return SP_EFORMAT;
    }
    if (next_line(&p, end, &line, &n) != 0 || n < 10 || memcmp(line, "last-time ", 10) != 0 ||
        parse_i64(line + 10, n - 10, &h->last_time_ms) != 0) {
        sp_errf(err, "third extension line is not 'last-time' and a decimal number of milliseconds");
        return SP_EFORMAT;
    }
    if (p != end) {
        sp_errf(err, "unexpected lines after 'last-time'");
        return SP_EFORMAT;
    }
    return SP_OK;
}

typedef struct walk {
    const uint8_t *pk;
    sp_head_record_fn each;
    void *each_ctx;
    uint8_t *leaves;
    uint64_t n, cap;
    sp_head *h;
    char *err;
    int oom;
} walk;

static int walk_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    walk *w = ctx;
    uint8_t want[8];
    sp_seq_key(want, w->n);
    if (keylen != 8 || memcmp(key, want, 8) != 0) {
        sp_errf(w->err, "record %llu is missing or out of place", (unsigned long long)w->n);
        return SP_EMISMATCH;
    }
    if (w->n == w->cap) {
        uint64_t cap = w->cap ? 2 * w->cap : 64;
        uint8_t *nl = realloc(w->leaves, cap * 32);
        if (nl == NULL) {
            w->oom = 1;
            return SP_ENOMEM;
        }
        w->leaves = nl;
        w->cap = cap;
    }
    Sp__Envelope *env = NULL;
    Sp__Record *r = NULL;
    char why[SP_ERRMSG_MAX] = "";
    int rc = sp_envelope_decode(&env, val, len, why);
    if (rc == SP_OK && w->pk != NULL && sp_envelope_verify(env, w->pk) != SP_OK) {
        sp_errf(why, "no signature by the key");
        rc = SP_ECRYPTO;
    }
    if (rc == SP_OK)
        rc = sp_record_decode(&r, env->payload.data, env->payload.len, why);
    if (rc == SP_OK && r->seq != w->n) {
        sp_errf(why, "holds sequence number %llu", (unsigned long long)r->seq);
        rc = SP_EFORMAT;
    }
    if (rc == SP_OK && w->n > 0 && sodium_memcmp(r->run_id.data, w->h->run_id, SP_RUN_ID_BYTES) != 0) {
        sp_errf(why, "belongs to another run");
        rc = SP_EFORMAT;
    }
    if (rc != SP_OK) {
        sp_errf(w->err, "record %llu: %s", (unsigned long long)w->n, why);
        sp_record_free(r);
        sp_envelope_free(env);
        return rc == SP_ENOMEM ? SP_ENOMEM : SP_EMISMATCH;
    }
    if (w->n == 0)
        memcpy(w->h->run_id, r->run_id.data, SP_RUN_ID_BYTES);
    if (w->each != NULL)
        w->each(w->each_ctx, r);
    (void)sp_record_digest(w->h->last_record, env->payload.data, env->payload.len);
    sp_merkle_leaf(w->leaves + w->n * 32, w->h->last_record, SP_DIGEST_BYTES);
    w->h->last_time_ms = r->time_unix_ms;
    w->n++;
    sp_record_free(r);
    sp_envelope_free(env);
    return 0;
}

int sp_head_from_ledger_ex(sp_head *h, uint8_t **leaves, const char *path, const uint8_t *pk,
                           sp_head_record_fn each, void *ctx, char *err)
{
    memset(h, 0, sizeof *h);
    if (leaves)
        *leaves = NULL;
    if (sodium_init() < 0)
        return SP_ECRYPTO;
    sp_source *src = NULL;
    char e[SP_ERRMSG_MAX] = "";
    int rc = sp_source_open(&src, path, e);
    if (rc != SP_OK) {
        sp_errf(err, "%s", e[0] ? e : sp_strerror(rc));
        return rc;
    }
    walk w = {.pk = pk, .each = each, .each_ctx = ctx, .h = h, .err = err};
    rc = sp_source_foreach(src, walk_visit, &w);
    if (rc == SP_OK && sp_source_damage(src) != NULL) {
        sp_errf(err, "%s", sp_source_damage(src));
        rc = SP_EMISMATCH;
    } else if (rc != SP_OK && rc != SP_EMISMATCH && !w.oom) {
        sp_errf(err, "%s: cannot read records: %s", path, sp_source_errmsg(src));
    }
    sp_source_close(src);
    if (rc == SP_OK && w.n == 0) {
        sp_errf(err, "%s holds no records: there is no head to sign", path);
        rc = SP_EMISMATCH;
    }
    if (rc != SP_OK) {
        free(w.leaves);
        memset(h, 0, sizeof *h);
        return rc;
    }
    h->size = w.n;
    sp_merkle_root(h->root, w.leaves, w.n);
    if (leaves)
        *leaves = w.leaves;
    else
        free(w.leaves);
    return SP_OK;
}

int sp_head_from_ledger(sp_head *h, uint8_t **leaves, const char *path, const uint8_t *pk, char *err)
{
    return sp_head_from_ledger_ex(h, leaves, path, pk, NULL, NULL, err);
}
