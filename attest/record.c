/*
 * record.c - DSSE envelopes and Record validation (record.h, SPEC.md 3).
 */
#include "record.h"
#include "wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "init.h"
#include "keys.h"

#define MAX_SIGNATURES 16u
#define MAX_KEYID 64u
#define MAX_TENSORS (1u << 22)

int sp_pae(uint8_t **out, size_t *outlen, const char *type, const uint8_t *body, size_t len)
{
    char head[96];
    size_t tlen = strlen(type);
    int h = snprintf(head, sizeof head, "DSSEv1 %zu ", tlen);
    char mid[32];
    int m = snprintf(mid, sizeof mid, " %zu ", len);
    if (h < 0 || m < 0 || len > SIZE_MAX - 256 - tlen)
        return SP_ERANGE;
    size_t total = (size_t)h + tlen + (size_t)m + len;
    uint8_t *p = malloc(total ? total : 1);
    if (p == NULL)
        return SP_ENOMEM;
    memcpy(p, head, (size_t)h);
    memcpy(p + h, type, tlen);
    memcpy(p + h + tlen, mid, (size_t)m);
    if (len > 0)
        memcpy(p + h + tlen + m, body, len);
    *out = p;
    *outlen = total;
    return SP_OK;
}

int sp_envelope_seal(uint8_t **out, size_t *outlen, const uint8_t *payload, size_t len,
                     const uint8_t *sk, const uint8_t *pk)
{
    *out = NULL;
    *outlen = 0;
    uint8_t *pae;
    size_t paelen;
    int rc = sp_pae(&pae, &paelen, SP_PAYLOAD_TYPE, payload, len);
    if (rc != SP_OK)
        return rc;
    uint8_t sig[SP_SIG_BYTES];
    if (crypto_sign_detached(sig, NULL, pae, paelen, sk) != 0) {
        free(pae);
        return SP_ECRYPTO;
    }
    free(pae);

    char keyid[SP_KEYID_CHARS + 1];
    sp_keyid(keyid, pk);
    Sp__Signature s = SP__SIGNATURE__INIT;
    s.sig.data = sig;
    s.sig.len = sizeof sig;
    s.keyid = keyid;
    Sp__Signature *sigs[1] = {&s};
    Sp__Envelope env = SP__ENVELOPE__INIT;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = len;
    env.payload_type = (char *)SP_PAYLOAD_TYPE;
    env.n_signatures = 1;
    env.signatures = sigs;
    size_t n = sp__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return SP_ENOMEM;
    sp__envelope__pack(&env, buf);
    *out = buf;
    *outlen = n;
    return SP_OK;
}

int sp_envelope_decode(Sp__Envelope **out, const uint8_t *buf, size_t len, char *err)
{
    return sp_envelope_decode_in(out, buf, len, NULL, err);
}

/* Frees what an unpack made, unless an arena owns it. */
static void envelope_drop(Sp__Envelope *env, sp_arena *arena)
{
    if (arena == NULL)
        sp__envelope__free_unpacked(env, NULL);
}

/* The structure of a decoded envelope (sp_envelope_decode); SP_EFORMAT with err. */
static int check_envelope(const Sp__Envelope *env, char *err)
{
    if (env->payload_type == NULL || strcmp(env->payload_type, SP_PAYLOAD_TYPE) != 0) {
        sp_errf(err, "payload type is not " SP_PAYLOAD_TYPE);
        return SP_EFORMAT;
    }
    if (env->n_signatures == 0 || env->n_signatures > MAX_SIGNATURES) {
        sp_errf(err, "envelope has %zu signatures (1..16 allowed)", env->n_signatures);
        return SP_EFORMAT;
    }
    for (size_t i = 0; i < env->n_signatures; i++) {
        const Sp__Signature *s = env->signatures[i];
        if (s == NULL || s->sig.len != SP_SIG_BYTES || s->keyid == NULL ||
            strlen(s->keyid) > MAX_KEYID) {
            sp_errf(err, "signature %zu is malformed", i);
            return SP_EFORMAT;
        }
    }
    return SP_OK;
}

static int envelope_size_ok(const uint8_t *buf, size_t len, char *err)
{
    if (buf == NULL || len == 0) {
        sp_errf(err, "empty envelope");
        return SP_EFORMAT;
    }
    if (len > SP_RECORD_MAX) {
        sp_errf(err, "envelope of %zu bytes is too large", len);
        return SP_EFORMAT;
    }
    return SP_OK;
}

/* protobuf-c's decode of an envelope, into arena or malloc. */
static int envelope_unpack(Sp__Envelope **env, const uint8_t *buf, size_t len, sp_arena *arena,
                           char *err)
{
    *env = sp__envelope__unpack(arena ? &arena->pc : NULL, len, buf);
    if (*env == NULL && arena != NULL && arena->oom) {
        sp_errf(err, "out of memory decoding an envelope of %zu bytes", len);
        return SP_ENOMEM;
    }
    if (*env == NULL) {
        sp_errf(err, "not a protobuf envelope (%zu bytes)", len);
        return SP_EFORMAT;
    }
    return SP_OK;
}

int sp_envelope_decode_in(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena, char *err)
{
    *out = NULL;
    Sp__Envelope *env;
    int rc = envelope_size_ok(buf, len, err);
    if (rc != SP_OK || (rc = envelope_unpack(&env, buf, len, arena, err)) != SP_OK)
        return rc;
    if ((rc = check_envelope(env, err)) != SP_OK) {
        envelope_drop(env, arena);
        return rc;
    }
    *out = env;
    return SP_OK;
}

int sp_envelope_decode_view(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena,
                            char *err)
{
    *out = NULL;
    Sp__Envelope *env;
    int rc = envelope_size_ok(buf, len, err);
    if (rc != SP_OK)
        return rc;
    rc = sp_wire_envelope(&env, buf, len, arena);
    if (rc == SP_ENOMEM) {
        sp_errf(err, "out of memory decoding an envelope of %zu bytes", len);
        return rc;
    }
    if (rc != SP_OK && (rc = envelope_unpack(&env, buf, len, arena, err)) != SP_OK)
        return rc;
    if ((rc = check_envelope(env, err)) != SP_OK)
        return rc;
    *out = env;
    return SP_OK;
}

void sp_envelope_free(Sp__Envelope *env)
{
    if (env != NULL)
        sp__envelope__free_unpacked(env, NULL);
}

/* The signature loop of sp_envelope_verify_keyid over a built PAE. */
static int verify_pae(const Sp__Envelope *env, const uint8_t *pk, const uint8_t *pae, size_t paelen,
                      char *err);

int sp_envelope_verify_keyid(const Sp__Envelope *env, const uint8_t *pk, char *err)
{
    uint8_t *pae;
    size_t paelen;
    int rc = sp_pae(&pae, &paelen, env->payload_type, env->payload.data, env->payload.len);
    if (rc != SP_OK)
        return rc;
    rc = verify_pae(env, pk, pae, paelen, err);
    free(pae);
    return rc;
}

/*
 * PAE's header, "DSSEv1 len(type) type len(payload) ", written at out
 * (when not NULL); returns its length, or 0 when the lengths overflow.
 */
static size_t pae_header(uint8_t *out, const Sp__Envelope *env)
{
    char head[96], mid[32];
    const char *type = env->payload_type;
    size_t tlen = strlen(type), len = env->payload.len;
    int h = snprintf(head, sizeof head, "DSSEv1 %zu ", tlen);
    int m = snprintf(mid, sizeof mid, " %zu ", len);
    if (h < 0 || m < 0 || len > SIZE_MAX - 256 - tlen)
        return 0;
    if (out != NULL) {
        memcpy(out, head, (size_t)h);
        memcpy(out + h, type, tlen);
        memcpy(out + h + tlen, mid, (size_t)m);
    }
    return (size_t)h + tlen + (size_t)m;
}

int sp_envelope_verify_buf(const Sp__Envelope *env, const uint8_t *pk, uint8_t **buf, size_t *cap,
                           char *err)
{
    /* the same bytes as sp_pae, written into the caller's buffer */
    size_t hl = pae_header(NULL, env), len = env->payload.len;
    if (hl == 0)
        return SP_ERANGE;
    size_t total = hl + len;
    if (*cap < total || *buf == NULL) {
        uint8_t *nb = realloc(*buf, total);
        if (nb == NULL)
            return SP_ENOMEM;
        *buf = nb;
        *cap = total;
    }
    (void)pae_header(*buf, env);
    if (len > 0)
        memcpy(*buf + hl, env->payload.data, len);
    return verify_pae(env, pk, *buf, total, err);
}

int sp_envelope_verify_room(const Sp__Envelope *env, const uint8_t *pk, size_t room, uint8_t **buf,
                            size_t *cap, char *err)
{
    size_t hl = pae_header(NULL, env);
    if (hl == 0 || hl > room || env->payload.data == NULL)
        return sp_envelope_verify_buf(env, pk, buf, cap, err);
    /* the same bytes as sp_pae, its header written just before the payload */
    uint8_t *p = env->payload.data - hl;
    (void)pae_header(p, env);
    return verify_pae(env, pk, p, hl + env->payload.len, err);
}

static int verify_pae(const Sp__Envelope *env, const uint8_t *pk, const uint8_t *pae, size_t paelen,
                      char *err)
{
    int rc;
    char want[SP_KEYID_CHARS + 1];
    sp_keyid(want, pk);
    rc = SP_ECRYPTO;
    for (size_t i = 0; i < env->n_signatures; i++) {
        const Sp__Signature *s = env->signatures[i];
        if (s->sig.len != SP_SIG_BYTES ||
            crypto_sign_verify_detached(s->sig.data, pae, paelen, pk) != 0)
            continue;
        /* The keyid is outside the signed bytes: a wrong one means the envelope was edited. */
        if (s->keyid == NULL || strlen(s->keyid) != SP_KEYID_CHARS ||
            sodium_memcmp(s->keyid, want, SP_KEYID_CHARS) != 0) {
            sp_errf(err, "signature keyid %.64s is not the pinned key's id %s",
                    s->keyid ? s->keyid : "", want);
            rc = SP_EMISMATCH;
            break;
        }
        rc = SP_OK;
    }
    if (rc == SP_ECRYPTO)
        sp_errf(err, "no signature verifies under the pinned key %s", want);
    return rc;
}

int sp_envelope_verify(const Sp__Envelope *env, const uint8_t *pk)
{
    return sp_envelope_verify_keyid(env, pk, NULL);
}

int sp_record_digest(uint8_t out[SP_DIGEST_BYTES], const uint8_t *payload, size_t len)
{
    return sp_hash_tagged(out, "scratchproof/record", payload, len);
}

static int range_scheme(sp_init_scheme *s, const Sp__InitScheme *in)
{
    memset(s, 0, sizeof *s);
    if (in == NULL || in->kind > SP_INIT_KIND_MAX || in->n_params != 4)
        return SP_EFORMAT;
    s->kind = (sp_init_kind)in->kind;
    memcpy(s->p, in->params, sizeof s->p);
    return SP_OK;
}

/* A genesis tensor's ranges (SPEC.md 3.3, 6.10): no init beside them, then sp_init_ranges_check. */
static int check_ranges(const Sp__TensorDigest *t, char *err)
{
    if (t->init != NULL) {
        sp_errf(err, "tensor '%s' has both an init scheme and init ranges", t->name);
        return SP_EFORMAT;
    }
    if (t->n_ranges < 2 || t->n_ranges > SP_INIT_MAX_RANGES) {
        sp_errf(err, "tensor '%s' has %zu init ranges (2 to %u)", t->name, t->n_ranges,
                SP_INIT_MAX_RANGES);
        return SP_EFORMAT;
    }
    sp_init_range *r = malloc(t->n_ranges * sizeof *r);
    if (r == NULL) {
        sp_errf(err, "out of memory");
        return SP_ENOMEM;
    }
    int rc = SP_OK;
    for (size_t k = 0; k < t->n_ranges && rc == SP_OK; k++) {
        const Sp__InitRange *x = t->ranges[k];
        if (x == NULL || range_scheme(&r[k].init, x->init) != SP_OK) {
            sp_errf(err, "tensor '%s': init range %zu has no valid scheme", t->name, k);
            rc = SP_EFORMAT;
            break;
        }
        r[k].first = x->first;
        r[k].count = x->count;
    }
    if (rc == SP_OK && sp_init_ranges_check(r, t->n_ranges, t->shape, (uint32_t)t->n_shape) != SP_OK) {
        sp_errf(err, "tensor '%s': its init ranges are not valid (in order from element 0, "
                "contiguous, covering the tensor, none empty or external, neighbours differing, "
                "each scheme valid for its shape)", t->name);
        rc = SP_EFORMAT;
    }
    free(r);
    return rc;
}

int sp_record_ranges(sp_init_range **out, size_t *n, const Sp__TensorDigest *t)
{
    *out = NULL;
    *n = 0;
    if (t->n_ranges == 0)
        return SP_OK;
    sp_init_range *r = malloc(t->n_ranges * sizeof *r);
    if (r == NULL)
        return SP_ENOMEM;
    for (size_t k = 0; k < t->n_ranges; k++) {
        r[k].first = t->ranges[k]->first;
        r[k].count = t->ranges[k]->count;
        if (range_scheme(&r[k].init, t->ranges[k]->init) != SP_OK) {
            free(r);
            return SP_EFORMAT;
        }
    }
    *out = r;
    *n = t->n_ranges;
    return SP_OK;
}

/* Validates one tensor entry; genesis entries must carry a scheme (or ranges). */
static int check_tensor(const Sp__TensorDigest *t, int genesis, size_t i, char *err)
{
    if (t == NULL || t->name == NULL || t->name[0] == '\0' ||
        strnlen(t->name, SP_NAME_MAX + 1) > SP_NAME_MAX) {
        sp_errf(err, "tensor %zu has an empty or too long name", i);
        return SP_EFORMAT;
    }
    if (t->dtype == 0 || t->dtype > SP_DTYPE_MAX) {
        sp_errf(err, "tensor '%s' has an unknown dtype", t->name);
        return SP_EFORMAT;
    }
    uint64_t numel;
    if (t->n_shape > SP_MAX_DIMS || sp_shape_numel(&numel, t->shape, (uint32_t)t->n_shape) != SP_OK ||
        numel > (UINT64_C(1) << 62) / sp_dtype_size((sp_dtype)t->dtype)) {
        sp_errf(err, "tensor '%s' has an invalid shape (%zu dims)", t->name, t->n_shape);
        return SP_EFORMAT;
    }
    if (t->digest.len != SP_DIGEST_BYTES) {
        sp_errf(err, "tensor '%s' digest is %zu bytes, not 32", t->name, t->digest.len);
        return SP_EFORMAT;
    }
    if (!genesis) {
        if (t->n_ranges != 0) {
            sp_errf(err, "tensor '%s': init ranges outside the genesis", t->name);
            return SP_EFORMAT;
        }
        return SP_OK;
    }
    if (t->n_ranges != 0)
        return check_ranges(t, err);
    if (t->init == NULL || t->init->kind > SP_INIT_KIND_MAX || t->init->n_params != 4) {
        sp_errf(err, "tensor '%s' has no valid init scheme", t->name);
        return SP_EFORMAT;
    }
    sp_init_scheme s;
    sp_record_scheme(&s, t);
    if (sp_init_check(&s) != SP_OK) {
        sp_errf(err, "tensor '%s' has invalid init parameters", t->name);
        return SP_EFORMAT;
    }
    if (sp_init_shape_check(&s, t->shape, (uint32_t)t->n_shape) != SP_OK) {
        sp_errf(err, "tensor '%s': its orthogonal scheme does not fit its shape", t->name);
        return SP_EFORMAT;
    }
    return SP_OK;
}

static int check_tensor_list(Sp__TensorDigest **t, size_t n, int genesis, char *err)
{
    if (n > MAX_TENSORS) {
        sp_errf(err, "%zu tensors is too many", n);
        return SP_EFORMAT;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = check_tensor(t[i], genesis, i, err);
        if (rc != SP_OK)
            return rc;
        if (i > 0 && strcmp(t[i - 1]->name, t[i]->name) >= 0) {
            sp_errf(err, "tensor '%s' is out of order or repeated (index %zu)", t[i]->name, i);
            return SP_EFORMAT;
        }
    }
    return SP_OK;
}

static int check_digest_field(const ProtobufCBinaryData *d, int optional, const char *what, char *err)
{
    if (d->len == SP_DIGEST_BYTES || (optional && d->len == 0))
        return SP_OK;
    sp_errf(err, "%s is %zu bytes, not 32", what, d->len);
    return SP_EFORMAT;
}

static int check_record(const Sp__Record *r, char *err)
{
    int rc;
    if ((rc = check_digest_field(&r->prev, 0, "prev", err)) != SP_OK)
        return rc;
    if (r->run_id.len != SP_RUN_ID_BYTES) {
        sp_errf(err, "run id is %zu bytes, not 16", r->run_id.len);
        return SP_EFORMAT;
    }
    if ((r->body_case == SP__RECORD__BODY_GENESIS && r->genesis == NULL) ||
        (r->body_case == SP__RECORD__BODY_CHECKPOINT && r->checkpoint == NULL) ||
        (r->body_case == SP__RECORD__BODY_FINAL && r->final == NULL)) {
        sp_errf(err, "record body is empty");
        return SP_EFORMAT;
    }
    switch (r->body_case) {
    case SP__RECORD__BODY_GENESIS: {
        const Sp__Genesis *g = r->genesis;
        if ((rc = check_digest_field(&g->config_digest, 1, "config digest", err)) != SP_OK ||
            (rc = check_digest_field(&g->root, 0, "genesis root", err)) != SP_OK)
            return rc;
        if (g->public_key.len != 0 && g->public_key.len != SP_PK_BYTES) {
            sp_errf(err, "public key is %zu bytes", g->public_key.len);
            return SP_EFORMAT;
        }
        if (g->model_name == NULL || g->tool == NULL) {
            sp_errf(err, "genesis lacks a model name");
            return SP_EFORMAT;
        }
        return check_tensor_list(g->tensors, g->n_tensors, 1, err);
    }
    case SP__RECORD__BODY_CHECKPOINT: {
        const Sp__Checkpoint *c = r->checkpoint;
        if ((rc = check_digest_field(&c->root, 0, "checkpoint root", err)) != SP_OK ||
            (rc = check_digest_field(&c->optimizer_digest, 1, "optimizer digest", err)) != SP_OK ||
            (rc = check_digest_field(&c->batches_digest, 0, "batches digest", err)) != SP_OK)
            return rc;
        return check_tensor_list(c->tensors, c->n_tensors, 0, err);
    }
    case SP__RECORD__BODY_FINAL: {
        const Sp__Final *f = r->final;
        if ((rc = check_digest_field(&f->root, 0, "final root", err)) != SP_OK ||
            (rc = check_digest_field(&f->batches_digest, 0, "batches digest", err)) != SP_OK)
            return rc;
        return check_tensor_list(f->tensors, f->n_tensors, 0, err);
    }
    default:
        sp_errf(err, "record has no known body (case %d)", (int)r->body_case);
        return SP_EFORMAT;
    }
}

int sp_record_decode(Sp__Record **out, const uint8_t *payload, size_t len, char *err)
{
    return sp_record_decode_in(out, payload, len, NULL, err);
}

/* protobuf-c's decode of a payload, into arena or malloc, then check_record. */
static int record_unpack(Sp__Record **out, const uint8_t *payload, size_t len, sp_arena *arena,
                         char *err)
{
    Sp__Record *r = sp__record__unpack(arena ? &arena->pc : NULL, len, payload);
    if (r == NULL && arena != NULL && arena->oom) {
        sp_errf(err, "out of memory decoding a record of %zu bytes", len);
        return SP_ENOMEM;
    }
    if (r == NULL) {
        sp_errf(err, "payload is not a protobuf record (%zu bytes)", len);
        return SP_EFORMAT;
    }
    int rc = check_record(r, err);
    if (rc != SP_OK) {
        if (arena == NULL)
            sp__record__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return SP_OK;
}

static int payload_size_ok(const uint8_t *payload, size_t len, char *err)
{
    if (payload == NULL || len == 0 || len > SP_RECORD_MAX) {
        sp_errf(err, "record payload of %zu bytes", len);
        return SP_EFORMAT;
    }
    return SP_OK;
}

int sp_record_decode_in(Sp__Record **out, const uint8_t *payload, size_t len, sp_arena *arena, char *err)
{
    *out = NULL;
    int rc = payload_size_ok(payload, len, err);
    return rc != SP_OK ? rc : record_unpack(out, payload, len, arena, err);
}

int sp_record_decode_view(Sp__Record **out, const uint8_t *payload, size_t len, sp_arena *arena,
                          char *err)
{
    *out = NULL;
    Sp__Record *r;
    int rc = payload_size_ok(payload, len, err);
    if (rc != SP_OK)
        return rc;
    rc = sp_wire_record(&r, payload, len, arena);
    if (rc == SP_ENOMEM) {
        sp_errf(err, "out of memory decoding a record of %zu bytes", len);
        return rc;
    }
    if (rc != SP_OK)   /* not the canonical form: protobuf-c decides */
        return record_unpack(out, payload, len, arena, err);
    if ((rc = check_record(r, err)) != SP_OK)
        return rc;
    *out = r;
    return SP_OK;
}

void sp_record_free(Sp__Record *r)
{
    if (r != NULL)
        sp__record__free_unpacked(r, NULL);
}

int sp_record_pack(uint8_t **out, size_t *outlen, const Sp__Record *r)
{
    size_t n = sp__record__get_packed_size(r);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return SP_ENOMEM;
    sp__record__pack(r, buf);
    *out = buf;
    *outlen = n;
    return SP_OK;
}

const char *sp_record_kind(const Sp__Record *r)
{
    switch (r->body_case) {
    case SP__RECORD__BODY_GENESIS: return "genesis";
    case SP__RECORD__BODY_CHECKPOINT: return "checkpoint";
    case SP__RECORD__BODY_FINAL: return "final";
    default: return "unknown";
    }
}

void sp_record_tensors(const Sp__Record *r, Sp__TensorDigest ***t, size_t *n)
{
    *t = NULL;
    *n = 0;
    switch (r->body_case) {
    case SP__RECORD__BODY_GENESIS: *t = r->genesis->tensors; *n = r->genesis->n_tensors; break;
    case SP__RECORD__BODY_CHECKPOINT: *t = r->checkpoint->tensors; *n = r->checkpoint->n_tensors; break;
    case SP__RECORD__BODY_FINAL: *t = r->final->tensors; *n = r->final->n_tensors; break;
    default: break;
    }
}

const uint8_t *sp_record_root(const Sp__Record *r)
{
    switch (r->body_case) {
    case SP__RECORD__BODY_GENESIS: return r->genesis->root.data;
    case SP__RECORD__BODY_CHECKPOINT: return r->checkpoint->root.data;
    case SP__RECORD__BODY_FINAL: return r->final->root.data;
    default: return NULL;
    }
}

void sp_record_scheme(sp_init_scheme *s, const Sp__TensorDigest *t)
{
    memset(s, 0, sizeof *s);
    if (t->init == NULL)
        return;
    s->kind = (sp_init_kind)t->init->kind;
    for (size_t i = 0; i < 4 && i < t->init->n_params; i++)
        s->p[i] = t->init->params[i];
}
