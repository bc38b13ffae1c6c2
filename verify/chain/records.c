/*
 * records.c - reading, decoding and checking the records of a ledger on
 * several threads (records.h; SPEC.md 7 items 1, 2 and 5). Each record is
 * independent: each thread decodes into its own arena and leaves its
 * findings in the record; they are reported in ledger order afterwards.
 */
#include "records.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

void sp_loaded_init(loaded *L, sp_report *rep)
{
    memset(L, 0, sizeof *L);
    L->rep = rep;
    for (unsigned k = 0; k < SP_MAX_THREADS; k++) {
        sp_arena_init(&L->arena[k]);
        sp_arena_init(&L->scratch[k]);
    }
}

void sp_loaded_free(loaded *L)
{
    if (L == NULL)
        return;
    for (size_t i = 0; i < L->n; i++)
        free(L->v[i].val);
    for (unsigned k = 0; k < SP_MAX_THREADS; k++) {
        sp_arena_release(&L->arena[k]);
        sp_arena_release(&L->scratch[k]);
    }
    free(L->v);
    L->v = NULL;
    L->n = L->cap = 0;
}

/* Takes one stored value; decoding waits for sp_loaded_decode, on every thread. */
int sp_loaded_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    loaded *L = ctx;
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 64;
        rec *v = realloc(L->v, cap * sizeof *v);
        if (v == NULL) {
            L->oom = 1;
            return SP_ENOMEM;
        }
        L->v = v;
        L->cap = cap;
    }
    rec *x = &L->v[L->n];
    memset(x, 0, sizeof *x);
    if (keylen == 8) {
        x->key_ok = 1;
        for (int i = 0; i < 8; i++)
            x->key = (x->key << 8) | key[i];
    }
    x->val = malloc(len ? len : 1);
    if (x->val == NULL) {
        L->oom = 1;
        return SP_ENOMEM;
    }
    memcpy(x->val, val, len);
    x->len = len;
    L->n++;
    return 0;
}

/* ---- items 1, 2 and 5: decoding, digests, signatures, roots and tensor sets ---- */

static void check_one(rec *x, const Sp__Record *g);

typedef struct decode_job {
    loaded *L;
    const uint8_t *pk;
    const Sp__Record *g;                 /* the genesis, decoded first; NULL when record 0 is not one */
    atomic_uint_least64_t next;
} decode_job;

/* A thread's memory: the records it keeps, and what one record needs only while it is checked. */
typedef struct thread_mem {
    sp_arena *keep, *scratch;
    uint8_t *pae;                        /* the signed bytes of one envelope, reused */
    size_t pae_cap;
} thread_mem;

/*
 * The envelope is decoded into scratch memory reused record after record:
 * the record decodes into its own copies, and the signature's verdict, its
 * reason and the claimed keyid are kept, so nothing needs the envelope
 * afterwards. Only the decoded record stays (in keep).
 */
static void decode_one(rec *x, thread_mem *m, const uint8_t *pk)
{
    Sp__Envelope *env = NULL;
    sp_arena_reset(m->scratch);
    x->decode_rc = sp_envelope_decode_in(&env, x->val, x->len, m->scratch, x->why);
    free(x->val);                        /* the envelope holds its own copy of every field */
    x->val = NULL;
    if (x->decode_rc != SP_OK)
        return;
    x->env_ok = 1;
    snprintf(x->keyid, sizeof x->keyid, "%s", env->signatures[0]->keyid);
    (void)sp_record_digest(x->digest, env->payload.data, env->payload.len);
    x->sig_rc = sp_envelope_verify_buf(env, pk, &m->pae, &m->pae_cap, x->sig_why);
    if (x->sig_rc == SP_ENOMEM) {
        x->decode_rc = SP_ENOMEM;
        return;
    }
    x->sig_ok = x->sig_rc == SP_OK;
    x->decode_rc = sp_record_decode_in(&x->r, env->payload.data, env->payload.len, m->keep, x->why);
}

static void decode_worker(void *arg, unsigned thread_index)
{
    decode_job *j = arg;
    thread_mem m = {.keep = &j->L->arena[thread_index], .scratch = &j->L->scratch[thread_index]};
    uint64_t end;
    for (uint64_t i; (i = sp_pool_take(&j->next, j->L->n, 4, &end)) < j->L->n;)
        for (; i < end; i++) {
            decode_one(&j->L->v[i], &m, j->pk);
            check_one(&j->L->v[i], j->g);     /* while its digests are in the cache */
        }
    free(m.pae);
    sp_arena_release(m.scratch);
}

int sp_loaded_decode(loaded *L, const uint8_t *pk, unsigned threads)
{
    decode_job j = {.L = L, .pk = pk};
    atomic_init(&j.next, 1);
    if (L->n > 0) {   /* record 0 first: every other record's tensor set is checked against it */
        thread_mem m = {.keep = &L->arena[0], .scratch = &L->scratch[0]};
        decode_one(&L->v[0], &m, pk);
        free(m.pae);
        const Sp__Record *r0 = L->v[0].r;
        j.g = r0 != NULL && r0->body_case == SP__RECORD__BODY_GENESIS ? r0 : NULL;
        check_one(&L->v[0], j.g);
    }
    L->g = j.g;
    sp_pool_run(L->n > 8 ? threads : 1, decode_worker, &j);
    for (size_t i = 0; i < L->n; i++) {
        const rec *x = &L->v[i];
        if (x->decode_rc == SP_ENOMEM)
            return SP_ENOMEM;
        if (x->decode_rc != SP_OK)
            sp_report_addf(L->rep, "record", 0, x->key_ok ? SP_AT_SEQ(x->key) : NULL, !x->env_ok ? "record %llu: stored value is not a valid "
                          "envelope: %s" : "record %llu: payload does not decode: %s", ull(x->key), x->why);
    }
    return SP_OK;
}

/* ---- item 5: roots and tensor sets ---- */

static const uint8_t *listed_at(const void *ctx, size_t i)
{
    return (*((Sp__TensorDigest *const *)ctx + i))->digest.data;
}

/*
 * Same tensor names and shapes as the genesis (dtype may change, e.g. a
 * bf16 export): the first difference into x->tensors and x->tensor.
 */
static void same_tensors(const Sp__Record *g, rec *x)
{
    Sp__TensorDigest **a, **b;
    size_t na, nb;
    sp_record_tensors(g, &a, &na);
    sp_record_tensors(x->r, &b, &nb);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i]->name, b[j]->name);
        if (c != 0) {
            x->tensors = c < 0 ? SP_TENSORS_MISSING : SP_TENSORS_EXTRA;
            x->tensor = c < 0 ? a[i]->name : b[j]->name;
            return;
        }
        if (a[i]->n_shape != b[j]->n_shape ||
            memcmp(a[i]->shape, b[j]->shape, a[i]->n_shape * sizeof *a[i]->shape) != 0) {
            x->tensors = SP_TENSORS_SHAPE;
            x->tensor = b[j]->name;
            return;
        }
        i++;
        j++;
    }
}

/* Item 5 for one decoded record, against the genesis g (NULL: the root only). */
static void check_one(rec *x, const Sp__Record *g)
{
    if (x->r == NULL)
        return;
    Sp__TensorDigest **t;
    size_t n;
    uint8_t root[SP_DIGEST_BYTES];
    sp_record_tensors(x->r, &t, &n);
    /* the list was checked sorted, unique and with 32-byte digests at decode (SPEC.md 3.3) */
    x->root_bad = sp_checkpoint_root_at(root, n, listed_at, t) != SP_OK ||
                  sodium_memcmp(root, sp_record_root(x->r), SP_DIGEST_BYTES) != 0;
    if (g != NULL && x->r != g)
        same_tensors(g, x);
}

void sp_loaded_check_records(const loaded *L, sp_report *rep)
{
    const Sp__Record *g = L->g;
    size_t bad = 0, bad_tensors = 0;
    for (size_t i = 0; i < L->n; i++) {
        const rec *x = &L->v[i];
        if (x->r == NULL)
            continue;
        const uint64_t seq = x->r->seq;
        if (x->root_bad) {
            bad++;
            sp_report_addf(rep, "root", 0, SP_AT_SEQ(seq), "record %llu: root does not match its tensor digests", ull(seq));
        }
        if (x->tensors == SP_TENSORS_SAME)
            continue;
        bad_tensors++;
        const sp_check_fields at = {.has_seq = 1, .seq = seq, .tensor = x->tensor};
        if (x->tensors == SP_TENSORS_MISSING)
            sp_report_addf(rep, "tensors", 0, &at, "record %llu: tensor '%s' of the genesis is missing",
                           ull(seq), x->tensor);
        else if (x->tensors == SP_TENSORS_EXTRA)
            sp_report_addf(rep, "tensors", 0, &at, "record %llu: tensor '%s' is not in the genesis",
                           ull(seq), x->tensor);
        else
            sp_report_addf(rep, "tensors", 0, &at, "record %llu: tensor '%s' changed shape since the genesis",
                           ull(seq), x->tensor);
    }
    if (bad == 0)
        sp_report_add(rep, "root", 1, "every record's root matches its tensor digests");
    if (bad_tensors == 0 && g != NULL)
        sp_report_add(rep, "tensors", 1, "every weight record has the genesis's tensor names and shapes");
}
