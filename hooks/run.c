/*
 * run.c - the hook runtime: a training run that signs its records into the
 * ledger (scratchproof.h). Each record is built, packed, sealed in a DSSE
 * envelope and appended in one durable LMDB transaction; the run keeps the
 * previous record's digest so the next one links to it.
 */
#include "scratchproof.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "init.h"
#include "keys.h"
#include "ledger.h"
#include "record.h"
#include "run_internal.h"

enum run_state { RUN_NEW, RUN_GENESIS_DONE, RUN_FINAL_DONE, RUN_FAILED };

struct sp_run {
    sp_ledger *ledger;
    uint8_t *sk;                        /* sodium_malloc'd, SP_SK_BYTES */
    uint8_t pk[SP_PK_BYTES];
    uint64_t seed;
    char *model_name;
    uint8_t config[SP_DIGEST_BYTES];
    unsigned threads;
    uint32_t batches_per_step;
    int replay;                         /* SP_RUN_REPLAY: ephemeral key, scratch ledger */
    uint8_t run_id[SP_RUN_ID_BYTES];
    uint64_t next_seq;
    uint8_t prev[SP_DIGEST_BYTES];
    enum run_state state;
    uint8_t batch_chain[SP_DIGEST_BYTES];
    uint64_t batches;
    uint64_t last_batch_step;
    int have_ckpt;
    uint64_t last_ckpt_step;
    uint8_t last_root[SP_DIGEST_BYTES];  /* the last checkpoint's root and optimizer digest, */
    uint8_t last_opt[SP_DIGEST_BYTES];   /* for a repeat at a resume step */
    int last_has_opt;
    double hook_seconds;
    void (*progress)(void *ctx, const char *what, uint64_t done, uint64_t total);
    void *progress_ctx;
    char err[SP_ERRMSG_MAX];
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4)))
static int fail(sp_run *run, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->err, sizeof run->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- tensor sets: digests, sorted entries and the root of one record ---- */

typedef struct tensor_set {
    size_t n;
    const sp_tensor **order;         /* sorted by name */
    size_t *orig;                    /* orig[i]: index of order[i] in the input */
    uint8_t (*digest)[SP_DIGEST_BYTES];  /* by input index */
    Sp__TensorDigest *td;
    Sp__TensorDigest **ptrs;
    Sp__InitScheme *init;
    double *params;
    /* per-range schemes (SPEC.md 6.10): all tensors' ranges, one block each */
    Sp__InitRange *rng;
    Sp__InitRange **rngp;
    Sp__InitScheme *rsch;
    double *rparams;
    uint8_t root[SP_DIGEST_BYTES];
} tensor_set;

static int by_name(const void *a, const void *b)
{
    const sp_tensor *x = *(const sp_tensor *const *)a, *y = *(const sp_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static void tensor_set_free(tensor_set *ts)
{
    free(ts->order);
    free(ts->orig);
    free(ts->digest);
    free(ts->td);
    free(ts->ptrs);
    free(ts->init);
    free(ts->params);
    free(ts->rng);
    free(ts->rngp);
    free(ts->rsch);
    free(ts->rparams);
    memset(ts, 0, sizeof *ts);
}

static uint64_t hashed_bytes(const sp_tensor *t, size_t n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < n; i++)
        b += t[i].nbytes;
    return b;
}

void sp_run_set_progress(sp_run *run, void (*fn)(void *ctx, const char *what, uint64_t done, uint64_t total),
                         void *ctx)
{
    if (run == NULL)
        return;
    run->progress = fn;
    run->progress_ctx = ctx;
}

/*
 * Checks, digests (on run->threads threads) and sorts n tensors, fills the
 * protobuf entries (schemes too when schemes is not NULL) and the root.
 * The entries point into t[] (names, shapes): keep t alive until packed.
 */
/* Ranges given for tensor k: ranges[k].n (0 without). */
static size_t ranges_of(const sp_init_ranges *ranges, size_t k)
{
    return ranges != NULL ? ranges[k].n : 0;
}

/* Checks tensor k's ranges and that its scheme is left empty beside them. */
static int ranges_ok(sp_run *run, const sp_tensor *t, const sp_init_scheme *s, const sp_init_ranges *r)
{
    if (r->range == NULL || sp_init_ranges_check(r->range, r->n, t->shape, t->ndim) != SP_OK)
        return fail(run, SP_EINVAL, "tensor '%s': invalid init ranges (SPEC.md 6.10: 2 or more, in "
                    "order from element 0, contiguous, covering the tensor, none empty or external, "
                    "neighbours differing)", t->name);
    if (s->kind != SP_INIT_EXTERNAL || s->p[0] != 0 || s->p[1] != 0 || s->p[2] != 0 || s->p[3] != 0)
        return fail(run, SP_EINVAL, "tensor '%s': a tensor with init ranges has no scheme of its "
                    "own (leave init zeroed, SP_INIT_EXTERNAL)", t->name);
    return SP_OK;
}

/* The protobuf entries of every tensor's ranges (after the tensors are sorted). */
static int ranges_build(sp_run *run, tensor_set *ts, const sp_init_ranges *ranges, size_t n)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += ranges_of(ranges, k);
    if (total == 0)
        return SP_OK;
    ts->rng = calloc(total, sizeof *ts->rng);
    ts->rngp = calloc(total, sizeof *ts->rngp);
    ts->rsch = calloc(total, sizeof *ts->rsch);
    ts->rparams = calloc(4 * total, sizeof *ts->rparams);
    if (!ts->rng || !ts->rngp || !ts->rsch || !ts->rparams)
        return fail(run, SP_ENOMEM, "out of memory for %zu init ranges", total);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = ts->orig[i], nr = ranges_of(ranges, k);
        if (nr == 0)
            continue;
        Sp__TensorDigest *d = &ts->td[i];
        d->init = NULL;
        d->n_ranges = nr;
        d->ranges = &ts->rngp[at];
        for (size_t j = 0; j < nr; j++, at++) {
            const sp_init_range *x = &ranges[k].range[j];
            sp__init_range__init(&ts->rng[at]);
            sp__init_scheme__init(&ts->rsch[at]);
            ts->rng[at].first = x->first;
            ts->rng[at].count = x->count;
            ts->rsch[at].kind = (uint32_t)x->init.kind;
            memcpy(&ts->rparams[4 * at], x->init.p, sizeof x->init.p);
            ts->rsch[at].n_params = 4;
            ts->rsch[at].params = &ts->rparams[4 * at];
            ts->rng[at].init = &ts->rsch[at];
            ts->rngp[at] = &ts->rng[at];
        }
    }
    return SP_OK;
}

static int tensor_set_build(sp_run *run, tensor_set *ts, const sp_tensor *t,
                            const sp_init_scheme *schemes, size_t n,
                            const uint8_t (*given)[SP_DIGEST_BYTES], const sp_init_ranges *ranges)
{
    memset(ts, 0, sizeof *ts);
    ts->n = n;
    if (n > 0 && t == NULL)
        return fail(run, SP_EINVAL, "tensor list is NULL");
    size_t m = n ? n : 1;
    ts->order = calloc(m, sizeof *ts->order);
    ts->orig = calloc(m, sizeof *ts->orig);
    ts->digest = calloc(m, sizeof *ts->digest);
    ts->td = calloc(m, sizeof *ts->td);
    ts->ptrs = calloc(m, sizeof *ts->ptrs);
    if (!ts->order || !ts->orig || !ts->digest || !ts->td || !ts->ptrs)
        return fail(run, SP_ENOMEM, "out of memory for %zu tensors", n);
    if (schemes != NULL) {
        ts->init = calloc(m, sizeof *ts->init);
        ts->params = calloc(4 * m, sizeof *ts->params);
        if (!ts->init || !ts->params)
            return fail(run, SP_ENOMEM, "out of memory for %zu tensors", n);
    }
    for (size_t i = 0; i < n; i++) {
        /* With given digests the data is elsewhere (other ranks): check the description only. */
        sp_tensor desc = t[i];
        if (given != NULL && desc.nbytes > 0)
            desc.data = &t[i];
        int rc = sp_tensor_check(&desc);
        if (rc != SP_OK)
            return fail(run, rc, "tensor %zu ('%s'): bad description: %s", i,
                        t[i].name ? t[i].name : "(null)", sp_strerror(rc));
        if (ranges_of(ranges, i) > 0) {
            if ((rc = ranges_ok(run, &t[i], &schemes[i], &ranges[i])) != SP_OK)
                return rc;
            ts->order[i] = &t[i];
            continue;
        }
        if (schemes != NULL && (rc = sp_init_check(&schemes[i])) != SP_OK)
            return fail(run, rc, "tensor '%s': invalid init scheme", t[i].name);
        if (schemes != NULL && sp_init_shape_check(&schemes[i], t[i].shape, t[i].ndim) != SP_OK)
            return fail(run, SP_EINVAL, "tensor '%s': its orthogonal scheme is for %.17g x %.17g, "
                        "not this shape (sp_init_orthogonal binds one)", t[i].name, schemes[i].p[1],
                        schemes[i].p[2]);
        ts->order[i] = &t[i];
    }
    int rc = SP_OK;
    if (given != NULL)
        memcpy(ts->digest, given, n * sizeof *given);
    else if ((rc = sp_tensors_digest_progress(ts->digest, t, n, run->threads,
                                              run->progress ? &(const sp_progress){.fn = run->progress,
                                              .ctx = run->progress_ctx, .what = "hashing tensors",
                                              .total = hashed_bytes(t, n)} : NULL)) != SP_OK)
        return fail(run, rc, "hashing tensors: %s", sp_strerror(rc));
    qsort(ts->order, n, sizeof *ts->order, by_name);
    sp_named_digest *nd = calloc(m, sizeof *nd);
    if (nd == NULL)
        return fail(run, SP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sp_tensor *x = ts->order[i];
        size_t k = (size_t)(x - t);
        ts->orig[i] = k;
        if (i > 0 && strcmp(ts->order[i - 1]->name, x->name) == 0) {
            free(nd);
            return fail(run, SP_EINVAL, "tensor name '%s' appears twice", x->name);
        }
        Sp__TensorDigest *d = &ts->td[i];
        sp__tensor_digest__init(d);
        d->name = (char *)x->name;
        d->dtype = (uint32_t)x->dtype;
        d->n_shape = x->ndim;
        d->shape = (uint64_t *)x->shape;
        d->digest.data = ts->digest[k];
        d->digest.len = SP_DIGEST_BYTES;
        if (schemes != NULL) {
            Sp__InitScheme *s = &ts->init[i];
            sp__init_scheme__init(s);
            s->kind = (uint32_t)schemes[k].kind;
            memcpy(&ts->params[4 * i], schemes[k].p, sizeof schemes[k].p);
            s->n_params = 4;
            s->params = &ts->params[4 * i];
            d->init = s;
        }
        ts->ptrs[i] = d;
        nd[i].name = x->name;
        memcpy(nd[i].digest, ts->digest[k], SP_DIGEST_BYTES);
    }
    rc = sp_checkpoint_root(ts->root, nd, n);
    free(nd);
    if (rc != SP_OK)
        return fail(run, rc, "checkpoint root: %s", sp_strerror(rc));
    return ranges_build(run, ts, ranges, n);
}

/* ---- appending ---- */

static int run_usable(sp_run *run)
{
    if (run->state == RUN_FAILED)
        return fail(run, SP_EBADSTATE, "run is unusable after an earlier failure");
    return SP_OK;
}

/* Fills the chain fields of r, seals it and appends it durably. */
static int run_append(sp_run *run, Sp__Record *r)
{
    r->seq = run->next_seq;
    r->prev.data = run->prev;
    r->prev.len = SP_DIGEST_BYTES;
    r->run_id.data = run->run_id;
    r->run_id.len = SP_RUN_ID_BYTES;
    r->time_unix_ms = now_unix_ms();
    uint8_t *payload = NULL, *env = NULL;
    size_t plen = 0, elen = 0;
    int rc = sp_record_pack(&payload, &plen, r);
    if (rc == SP_OK)
        rc = sp_envelope_seal(&env, &elen, payload, plen, run->sk, run->pk);
    if (rc == SP_OK) {
        rc = sp_ledger_append(run->ledger, run->next_seq, env, elen);
        if (rc != SP_OK)
            fail(run, rc, "appending record %llu: %s", (unsigned long long)run->next_seq,
                 sp_ledger_errmsg(run->ledger));
    } else {
        fail(run, rc, "sealing record %llu: %s", (unsigned long long)run->next_seq, sp_strerror(rc));
    }
    if (rc == SP_OK) {
        (void)sp_record_digest(run->prev, payload, plen);
        run->next_seq++;
    } else {
        run->state = RUN_FAILED;
    }
    free(payload);
    free(env);
    return rc;
}

/* ---- resuming an existing ledger (scratchproof record) ---- */

typedef struct resume_ctx {
    sp_run *run;
    uint64_t count;
    int rc;
} resume_ctx;

static int resume_visit(void *vctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    resume_ctx *c = vctx;
    sp_run *run = c->run;
    (void)key;
    (void)keylen;
    Sp__Envelope *env = NULL;
    Sp__Record *r = NULL;
    char err[SP_ERRMSG_MAX] = "";
    int rc = sp_envelope_decode(&env, val, len, err);
    if (rc == SP_OK && (rc = sp_envelope_verify(env, run->pk)) != SP_OK)
        snprintf(err, sizeof err, "not signed by this key");
    if (rc == SP_OK)
        rc = sp_record_decode(&r, env->payload.data, env->payload.len, err);
    if (rc == SP_OK && r->seq != c->count) {
        rc = SP_EFORMAT;
        snprintf(err, sizeof err, "holds sequence number %llu", (unsigned long long)r->seq);
    }
    if (rc != SP_OK) {
        fail(run, rc, "cannot resume: record %llu: %s", (unsigned long long)c->count, err);
        goto out;
    }
    if (c->count == 0) {
        if (r->body_case != SP__RECORD__BODY_GENESIS) {
            rc = fail(run, SP_EFORMAT, "cannot resume: record 0 is not a genesis");
            goto out;
        }
        memcpy(run->run_id, r->run_id.data, SP_RUN_ID_BYTES);
        run->state = RUN_GENESIS_DONE;
    }
    if (r->body_case == SP__RECORD__BODY_CHECKPOINT) {
        run->have_ckpt = 1;
        run->last_ckpt_step = r->checkpoint->step;
        memcpy(run->last_root, r->checkpoint->root.data, SP_DIGEST_BYTES);
        run->last_has_opt = r->checkpoint->optimizer_digest.len == SP_DIGEST_BYTES;
        if (run->last_has_opt)
            memcpy(run->last_opt, r->checkpoint->optimizer_digest.data, SP_DIGEST_BYTES);
    }
    if (r->body_case == SP__RECORD__BODY_FINAL)
        run->state = RUN_FINAL_DONE;
    (void)sp_record_digest(run->prev, env->payload.data, env->payload.len);
    c->count++;
out:
    sp_record_free(r);
    sp_envelope_free(env);
    return rc;
}

/* ---- public API ---- */


int sp_run_open(sp_run **out, const sp_run_options *o)
{
    *out = NULL;
    const unsigned known = SP_RUN_RESUME | SP_RUN_REPLAY;
    int replay = (o->flags & SP_RUN_REPLAY) != 0;
    if (o->ledger_path == NULL || (o->key_path == NULL && !replay) || (o->flags & ~known) != 0 ||
        (replay && (o->flags & SP_RUN_RESUME)) || o->threads > SP_MAX_THREADS)
        return SP_EINVAL;
    if (o->err != NULL)
        o->err[0] = '\0';
    if (sodium_init() < 0)
        return SP_ECRYPTO;
    sp_run *run = calloc(1, sizeof *run);
    if (run == NULL)
        return SP_ENOMEM;
    double t0 = now_mono();
    run->sk = sodium_malloc(SP_SK_BYTES);
    run->model_name = strdup(o->model_name ? o->model_name : "");
    if (run->sk == NULL || run->model_name == NULL) {
        sp_run_close(run);
        return SP_ENOMEM;
    }
    run->seed = o->seed;
    run->threads = o->threads ? o->threads : 1;
    run->batches_per_step = o->batches_per_step;
    run->replay = replay;
    if (o->config_digest != NULL)
        memcpy(run->config, o->config_digest, SP_DIGEST_BYTES);
    char err[SP_ERRMSG_MAX] = "";
    int rc = SP_OK;
    if (replay) {
        /* An ephemeral key: a replay's records can never pass for the team's. */
        uint8_t pk[SP_PK_BYTES];
        if (crypto_sign_keypair(pk, run->sk) != 0)
            rc = SP_ECRYPTO;
    } else {
        rc = sp_key_load_secret(run->sk, o->key_path, err);
    }
    if (rc != SP_OK) {
        sp_errf(o->err, "%s", err);
        sp_run_close(run);
        return rc;
    }
    memcpy(run->pk, run->sk + 32, SP_PK_BYTES);   /* libsodium sk = seed || pk */
    rc = sp_ledger_open(&run->ledger, o->ledger_path, SP_LEDGER_CREATE, err);
    if (rc != SP_OK) {
        sp_errf(o->err, "%s", err);
        sp_run_close(run);
        return rc;
    }
    uint64_t count = 0;
    rc = sp_ledger_count(run->ledger, &count);
    if (rc == SP_OK && count > 0) {
        if (!(o->flags & SP_RUN_RESUME)) {
            sp_errf(o->err, "%s already holds %llu records; a run starts a new ledger",
                     o->ledger_path, (unsigned long long)count);
            rc = SP_EBADSTATE;
        } else {
            resume_ctx c = {run, 0, SP_OK};
            rc = sp_ledger_foreach(run->ledger, resume_visit, &c);
            if (rc != SP_OK)
                sp_errf(o->err, "%s", run->err);
            run->next_seq = c.count;
        }
    } else if (rc == SP_OK) {
        randombytes_buf(run->run_id, sizeof run->run_id);
    }
    if (rc != SP_OK) {
        if (o->err != NULL && o->err[0] == '\0')
            sp_errf(o->err, "%s", sp_strerror(rc));
        sp_run_close(run);
        return rc;
    }
    run->hook_seconds = now_mono() - t0;
    *out = run;
    return SP_OK;
}

const char *sp_run_errmsg(const sp_run *run)
{
    return run ? run->err : "";
}

uint64_t sp_run_seed(const sp_run *run)
{
    return run->seed;
}

double sp_run_hook_seconds(const sp_run *run)
{
    return run->hook_seconds;
}

int sp_run_last_step(const sp_run *run, uint64_t *step)
{
    *step = run->have_ckpt ? run->last_ckpt_step : 0;
    return run->have_ckpt;
}

int sp_run_is_replay(const sp_run *run)
{
    return run->replay;
}

int sp_config_digest(uint8_t out[SP_DIGEST_BYTES], const void *bytes, size_t len)
{
    if (bytes == NULL && len > 0)
        return SP_EINVAL;
    return sp_hash_tagged(out, "scratchproof/config", bytes, len);
}

static int genesis_impl(sp_run *run, const sp_record_tensor *t, size_t n,
                        const uint8_t (*given)[SP_DIGEST_BYTES], uint32_t world_size,
                        const uint8_t *sharding, const sp_init_ranges *ranges)
{
    int rc = run_usable(run);
    if (rc != SP_OK)
        return rc;
    if (run->state != RUN_NEW)
        return fail(run, SP_EBADSTATE, "the genesis is already recorded");
    if (n > 0 && t == NULL)
        return fail(run, SP_EINVAL, "tensor list is NULL");
    size_t m = n ? n : 1;
    sp_tensor *tensors = calloc(m, sizeof *tensors);
    sp_init_scheme *schemes = calloc(m, sizeof *schemes);
    if (tensors == NULL || schemes == NULL) {
        free(tensors);
        free(schemes);
        return fail(run, SP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        tensors[i] = t[i].t;
        schemes[i] = t[i].init;
    }
    tensor_set ts;
    rc = tensor_set_build(run, &ts, tensors, schemes, n, given, ranges);
    if (rc == SP_OK) {
        Sp__Genesis g = SP__GENESIS__INIT;
        g.world_size = world_size;
        if (sharding != NULL) {
            g.sharding_digest.data = (uint8_t *)sharding;
            g.sharding_digest.len = SP_DIGEST_BYTES;
        }
        g.model_name = run->model_name;
        g.seed = run->seed;
        g.config_digest.data = run->config;
        g.config_digest.len = SP_DIGEST_BYTES;
        g.n_tensors = n;
        g.tensors = ts.ptrs;
        g.root.data = ts.root;
        g.root.len = SP_DIGEST_BYTES;
        g.tool = (char *)"scratchproof/" SP_VERSION;
        g.public_key.data = run->pk;
        g.public_key.len = SP_PK_BYTES;
        g.batches_per_step = run->batches_per_step;
        Sp__Record r = SP__RECORD__INIT;
        r.body_case = SP__RECORD__BODY_GENESIS;
        r.genesis = &g;
        rc = run_append(run, &r);
        if (rc == SP_OK)
            run->state = RUN_GENESIS_DONE;
    }
    tensor_set_free(&ts);
    free(tensors);
    free(schemes);
    return rc;
}

int sp_run_genesis(sp_run *run, const sp_record_tensor *t, size_t n)
{
    double t0 = now_mono();
    int rc = genesis_impl(run, t, n, NULL, 0, NULL, NULL);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

int sp_run_genesis_ranges(sp_run *run, const sp_record_tensor *t, size_t n, const sp_init_ranges *ranges)
{
    double t0 = now_mono();
    int rc = genesis_impl(run, t, n, NULL, 0, NULL, ranges);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

static int chain_batch(sp_run *run, uint64_t step, const uint8_t d[SP_DIGEST_BYTES]);

/* SPEC.md 2.6: chain = H("scratchproof/batch-chain", chain || H("scratchproof/batch", u64le(step) || data)) */
static int commit_batch_impl(sp_run *run, uint64_t step, const void *data, size_t len)
{
    int rc = run_usable(run);
    if (rc != SP_OK)
        return rc;
    if (run->state != RUN_GENESIS_DONE)
        return fail(run, SP_EBADSTATE, "batches are committed after the genesis and before the final record");
    if (data == NULL && len > 0)
        return fail(run, SP_EINVAL, "batch data is NULL");
    if (run->batches > 0 && step < run->last_batch_step)
        return fail(run, SP_EINVAL, "batch step %llu is before step %llu",
                    (unsigned long long)step, (unsigned long long)run->last_batch_step);
    uint8_t d[SP_DIGEST_BYTES];
    sp_batch_digest(d, step, data, len);
    return chain_batch(run, step, d);
}

void sp_batch_digest(uint8_t d[SP_DIGEST_BYTES], uint64_t step, const void *data, size_t len)
{
    crypto_generichash_state st;
    static const uint8_t zero = 0;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(step >> (8 * i));
    crypto_generichash_init(&st, NULL, 0, SP_DIGEST_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)"scratchproof/batch", 18);
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, le, 8);
    if (len > 0)
        crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, d, SP_DIGEST_BYTES);
}

/* Joins one batch digest to the chain (SPEC.md 2.6). */
static int chain_batch(sp_run *run, uint64_t step, const uint8_t d[SP_DIGEST_BYTES])
{
    uint8_t link[2 * SP_DIGEST_BYTES];
    memcpy(link, run->batch_chain, SP_DIGEST_BYTES);
    memcpy(link + SP_DIGEST_BYTES, d, SP_DIGEST_BYTES);
    int rc = sp_hash_tagged(run->batch_chain, "scratchproof/batch-chain", link, sizeof link);
    if (rc != SP_OK)
        return fail(run, rc, "hashing batch: %s", sp_strerror(rc));
    run->batches++;
    run->last_batch_step = step;
    return SP_OK;
}

int sp_run_commit_batch(sp_run *run, uint64_t step, const void *data, size_t len)
{
    double t0 = now_mono();
    int rc = commit_batch_impl(run, step, data, len);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

static void reset_batches(sp_run *run)
{
    memset(run->batch_chain, 0, sizeof run->batch_chain);
    run->batches = 0;
}

static int checkpoint_impl(sp_run *run, const sp_checkpoint_info *info, const sp_tensor *t, size_t n,
                           const uint8_t (*given)[SP_DIGEST_BYTES], const uint8_t (*given_opt)[SP_DIGEST_BYTES])
{
    int rc = run_usable(run);
    if (rc != SP_OK)
        return rc;
    if (run->state != RUN_GENESIS_DONE)
        return fail(run, SP_EBADSTATE, "checkpoints come after the genesis and before the final record");
    /* A repeat of the last checkpoint (a trainer re-saving the step it resumed from) is
       accepted without a record when nothing was committed since and every digest is equal. */
    int repeat = run->have_ckpt && info->step == run->last_ckpt_step;
    if (run->have_ckpt && info->step < run->last_ckpt_step + (uint64_t)!repeat)
        return fail(run, SP_EINVAL, "checkpoint step %llu does not follow step %llu",
                    (unsigned long long)info->step, (unsigned long long)run->last_ckpt_step);
    if (repeat && run->batches > 0)
        return fail(run, SP_EINVAL, "checkpoint step %llu repeats the last checkpoint after %llu "
                    "batch commitments", (unsigned long long)info->step, (unsigned long long)run->batches);
    if (info->n_optimizer > 0 && info->optimizer == NULL)
        return fail(run, SP_EINVAL, "optimizer tensor list is NULL");
    tensor_set ts, os;
    memset(&os, 0, sizeof os);
    rc = tensor_set_build(run, &ts, t, NULL, n, given, NULL);
    if (rc == SP_OK && info->n_optimizer > 0)
        rc = tensor_set_build(run, &os, info->optimizer, NULL, info->n_optimizer, given_opt, NULL);
    if (rc == SP_OK && repeat) {
        int same = sodium_memcmp(ts.root, run->last_root, SP_DIGEST_BYTES) == 0 &&
                   (info->n_optimizer > 0) == run->last_has_opt &&
                   (!run->last_has_opt || sodium_memcmp(os.root, run->last_opt, SP_DIGEST_BYTES) == 0);
        if (!same)
            rc = fail(run, SP_EMISMATCH, "checkpoint step %llu repeats the last checkpoint's step with "
                      "other %s", (unsigned long long)info->step,
                      sodium_memcmp(ts.root, run->last_root, SP_DIGEST_BYTES) ? "weights" : "optimizer state");
        tensor_set_free(&ts);
        tensor_set_free(&os);
        return rc;
    }
    if (rc == SP_OK) {
        Sp__Checkpoint c = SP__CHECKPOINT__INIT;
        c.step = info->step;
        c.tokens = info->tokens;
        c.n_tensors = n;
        c.tensors = ts.ptrs;
        c.root.data = ts.root;
        c.root.len = SP_DIGEST_BYTES;
        if (info->n_optimizer > 0) {
            c.optimizer_digest.data = os.root;
            c.optimizer_digest.len = SP_DIGEST_BYTES;
        }
        c.batches_digest.data = run->batch_chain;
        c.batches_digest.len = SP_DIGEST_BYTES;
        c.batches = run->batches;
        c.loss = info->loss;
        c.lr = info->lr;
        Sp__Record r = SP__RECORD__INIT;
        r.body_case = SP__RECORD__BODY_CHECKPOINT;
        r.checkpoint = &c;
        rc = run_append(run, &r);
        if (rc == SP_OK) {
            run->have_ckpt = 1;
            run->last_ckpt_step = info->step;
            memcpy(run->last_root, ts.root, SP_DIGEST_BYTES);
            run->last_has_opt = info->n_optimizer > 0;
            if (run->last_has_opt)
                memcpy(run->last_opt, os.root, SP_DIGEST_BYTES);
            reset_batches(run);
        }
    }
    tensor_set_free(&ts);
    tensor_set_free(&os);
    return rc;
}

int sp_run_checkpoint(sp_run *run, const sp_checkpoint_info *info, const sp_tensor *t, size_t n)
{
    double t0 = now_mono();
    int rc = checkpoint_impl(run, info, t, n, NULL, NULL);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

static int final_impl(sp_run *run, uint64_t step, const sp_tensor *t, size_t n,
                      const uint8_t (*given)[SP_DIGEST_BYTES])
{
    int rc = run_usable(run);
    if (rc != SP_OK)
        return rc;
    if (run->state != RUN_GENESIS_DONE)
        return fail(run, SP_EBADSTATE, "the final record comes once, after the genesis");
    if (run->have_ckpt && step < run->last_ckpt_step)
        return fail(run, SP_EINVAL, "final step %llu is before checkpoint step %llu",
                    (unsigned long long)step, (unsigned long long)run->last_ckpt_step);
    tensor_set ts;
    rc = tensor_set_build(run, &ts, t, NULL, n, given, NULL);
    if (rc == SP_OK) {
        Sp__Final f = SP__FINAL__INIT;
        f.step = step;
        f.n_tensors = n;
        f.tensors = ts.ptrs;
        f.root.data = ts.root;
        f.root.len = SP_DIGEST_BYTES;
        f.batches_digest.data = run->batch_chain;
        f.batches_digest.len = SP_DIGEST_BYTES;
        f.batches = run->batches;
        Sp__Record r = SP__RECORD__INIT;
        r.body_case = SP__RECORD__BODY_FINAL;
        r.final = &f;
        rc = run_append(run, &r);
        if (rc == SP_OK) {
            run->state = RUN_FINAL_DONE;
            reset_batches(run);
        }
    }
    tensor_set_free(&ts);
    return rc;
}

int sp_run_final(sp_run *run, uint64_t step, const sp_tensor *t, size_t n)
{
    double t0 = now_mono();
    int rc = final_impl(run, step, t, n, NULL);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

void sp_run_close(sp_run *run)
{
    if (run == NULL)
        return;
    sp_ledger_close(run->ledger);
    if (run->sk != NULL)
        sodium_free(run->sk);   /* wipes before freeing */
    free(run->model_name);
    sodium_memzero(run, sizeof *run);
    free(run);
}

/* ---- for libraries layered on the run (run_internal.h) ---- */

int sp_run_commit_digest(sp_run *run, uint64_t step, const uint8_t d[SP_DIGEST_BYTES])
{
    double t0 = now_mono();
    int rc = run_usable(run);
    if (rc == SP_OK && run->state != RUN_GENESIS_DONE)
        rc = fail(run, SP_EBADSTATE, "batches are committed after the genesis and before the final record");
    if (rc == SP_OK && run->batches > 0 && step < run->last_batch_step)
        rc = fail(run, SP_EINVAL, "batch step %llu is before step %llu", (unsigned long long)step,
                  (unsigned long long)run->last_batch_step);
    if (rc == SP_OK)
        rc = chain_batch(run, step, d);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

int sp_run_genesis_digests(sp_run *run, const sp_record_tensor *t, const uint8_t (*d)[SP_DIGEST_BYTES],
                           size_t n, uint32_t world_size, const uint8_t sharding[SP_DIGEST_BYTES])
{
    double t0 = now_mono();
    int rc = genesis_impl(run, t, n, d, world_size, sharding, NULL);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

int sp_run_checkpoint_digests(sp_run *run, const sp_checkpoint_info *info, const sp_tensor *t,
                              const uint8_t (*d)[SP_DIGEST_BYTES], size_t n,
                              const uint8_t (*opt_d)[SP_DIGEST_BYTES])
{
    double t0 = now_mono();
    int rc = checkpoint_impl(run, info, t, n, d, opt_d);
    run->hook_seconds += now_mono() - t0;
    return rc;
}

int sp_run_final_digests(sp_run *run, uint64_t step, const sp_tensor *t,
                         const uint8_t (*d)[SP_DIGEST_BYTES], size_t n)
{
    double t0 = now_mono();
    int rc = final_impl(run, step, t, n, d);
    run->hook_seconds += now_mono() - t0;
    return rc;
}
