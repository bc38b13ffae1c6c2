/*
 * records.c - reading, decoding and checking the records of a ledger on
 * several threads (records.h; SPEC.md 7 items 1, 2 and 5). Each record is
 * independent: each thread decodes into its own arena and leaves its
 * findings in the record; they are reported in ledger order afterwards.
 */
#include "records.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

#define HEADROOM 128   /* bytes before each stored value in its buffer (see value_map) */

/* What a value buffer holds for len bytes: room for the next record, a little longer. */
static size_t value_cap(size_t len)
{
    size_t c = len + len / 8 + HEADROOM;
    return c < len || c > SIZE_MAX - 4095 ? 0 : (c + 4095) & ~(size_t)4095;   /* 0: no mapping */
}

/*
 * Value buffers are mappings of their own, made after the reader was forked:
 * pages of the heap from before the fork are copy-on-write, and writing to
 * each costs a fault and a TLB shootdown on every core. Each has HEADROOM
 * bytes before the value, where the signature check writes PAE's header
 * instead of copying the payload (sp_envelope_verify_room).
 */
static uint8_t *value_map(size_t cap)
{
    uint8_t *p = cap ? mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                     : MAP_FAILED;
    return p == MAP_FAILED ? NULL : p + HEADROOM;
}

static void value_unmap(uint8_t *b, size_t cap)
{
    if (b != NULL)
        (void)munmap(b - HEADROOM, cap);
}


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
        value_unmap(L->v[i].val, L->v[i].val_cap);
    for (unsigned k = 0; k < SP_MAX_THREADS; k++) {
        sp_arena_release(&L->arena[k]);
        sp_arena_release(&L->scratch[k]);
    }
    free(L->v);
    L->v = NULL;
    L->n = L->cap = 0;
}

/* ---- items 1, 2 and 5 while the ledger is read: decoding, digests, signatures, roots, tensor sets ---- */

static void check_one(rec *x, const Sp__Record *g);
static void same_tensors(const Sp__Record *g, rec *x);

#define CHUNK 1024   /* records per chunk while reading: a chunk never moves */
#define WINDOW 32    /* records read ahead of their decoding, at most (without lists) */

/* A thread's memory: the records it keeps, and what one record needs only while it is checked. */
typedef struct thread_mem {
    sp_arena *keep, *scratch;
    uint8_t *pae;                        /* the signed bytes of one envelope, reused */
    size_t pae_cap;
} thread_mem;

/*
 * The reading thread appends records to chunks and publishes them; every
 * thread (the reader too, once the ledger is read) takes the next published
 * record and decodes and checks it. Record 0 (the genesis, whose tensor set
 * every other record is checked against) is decoded before any other is
 * checked. chunk, published, next, done and g_ready are under mu.
 */
typedef struct stream {
    loaded *L;
    sp_source *src;
    const uint8_t *pk;
    rec **chunk;
    size_t nchunks, cap_chunks;
    size_t n;                        /* records read (the reader's) */
    size_t published, next;
    int done, g_ready, read_rc;
    int lists;                       /* keep every record's tensor list */
    size_t finished;                 /* records decoded */
    struct thread_mem *reader_mem;   /* thread 0's, for the records it decodes while reading */
    uint8_t **spare;                 /* stored-value buffers free for reuse, and their sizes */
    size_t *spare_cap, nspare, cap_spare;
    uint8_t *val_buf;                /* value_alloc's last buffer, until visit takes it */
    size_t val_cap;
    const Sp__Record *g;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} stream;

/* A buffer of at least len bytes for a stored value, *cap its mapping's size: a spare one when there is one. */
static uint8_t *value_buffer(stream *st, size_t len, size_t *got)
{
    uint8_t *b = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&st->mu);
    if (st->nspare > 0) {
        st->nspare--;
        b = st->spare[st->nspare];
        cap = st->spare_cap[st->nspare];
    }
    pthread_mutex_unlock(&st->mu);
    if (b != NULL && cap >= len + HEADROOM) {
        *got = cap;
        return b;
    }
    value_unmap(b, cap);
    *got = value_cap(len);
    return value_map(*got);
}

/* Hands a value no record points into back for reuse (frees it when the list is full). */
static void value_spare(stream *st, uint8_t *b, size_t cap)
{
    if (st->nspare == st->cap_spare) {
        size_t c = st->cap_spare ? 2 * st->cap_spare : WINDOW + SP_MAX_THREADS + 2;
        uint8_t **t = realloc(st->spare, c * sizeof *t);
        if (t != NULL)
            st->spare = t;
        size_t *u = t != NULL ? realloc(st->spare_cap, c * sizeof *u) : NULL;
        if (u != NULL) {
            st->spare_cap = u;
            st->cap_spare = c;
        }
    }
    if (st->nspare < st->cap_spare) {
        st->spare[st->nspare] = b;
        st->spare_cap[st->nspare++] = cap;
    } else {
        value_unmap(b, cap);
    }
}

static void decode_one(rec *x, size_t i, thread_mem *m, const uint8_t *pk, const Sp__Record *g,
                       int lists);

/*
 * Takes the next published record and decodes and checks it; with wait,
 * waits for one while the reading goes on. 0 when there was none to take.
 */
static int decode_next(stream *st, thread_mem *m, int wait)
{
    pthread_mutex_lock(&st->mu);
    while (wait && st->next >= st->published && !st->done)
        pthread_cond_wait(&st->cv, &st->mu);
    if (st->next >= st->published) {
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    size_t i = st->next++;
    rec *x = &st->chunk[i / CHUNK][i % CHUNK];
    while (i > 0 && !st->g_ready)    /* record 0 is being decoded on another thread */
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    decode_one(x, i, m, st->pk, i == 0 ? NULL : st->g, st->lists);
    const Sp__Record *g = NULL;
    if (i == 0) {
        const Sp__Record *r0 = x->r;
        g = r0 != NULL && r0->body_case == SP__RECORD__BODY_GENESIS ? r0 : NULL;
        if (g != NULL)
            same_tensors(g, x);
    }
    pthread_mutex_lock(&st->mu);
    if (i == 0) {
        st->g = g;
        st->g_ready = 1;
    }
    if (x->lists_dropped || x->r == NULL) {   /* nothing points into the stored value now */
        value_spare(st, x->val, x->val_cap);
        x->val = NULL;
    }
    st->finished++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 1;
}

/* The buffer the source reads the next stored value into (an sp_source_alloc_fn). */
static uint8_t *value_alloc(void *ctx, size_t len)
{
    stream *st = ctx;
    value_unmap(st->val_buf, st->val_cap);   /* one the walk did not hand to visit */
    st->val_buf = value_buffer(st, len ? len : 1, &st->val_cap);
    return st->val_buf;
}

/* Takes one stored value (an sp_ledger_visit_fn), read into value_alloc's buffer, and publishes it. */
static int visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    stream *st = ctx;
    if (st->n % CHUNK == 0) {
        rec *c = malloc(CHUNK * sizeof *c);
        pthread_mutex_lock(&st->mu);
        if (c != NULL && st->nchunks == st->cap_chunks) {
            size_t cap = st->cap_chunks ? 2 * st->cap_chunks : 16;
            rec **t = realloc(st->chunk, cap * sizeof *t);
            if (t != NULL) {
                st->chunk = t;
                st->cap_chunks = cap;
            }
        }
        int ok = c != NULL && st->nchunks < st->cap_chunks;
        if (ok)
            st->chunk[st->nchunks++] = c;
        pthread_mutex_unlock(&st->mu);
        if (!ok) {
            free(c);
            st->L->oom = 1;
            return SP_ENOMEM;   /* val_buf is unmapped by sp_loaded_read */
        }
    }
    rec *x = &st->chunk[st->n / CHUNK][st->n % CHUNK];   /* only the reader grows the table */
    memset(x, 0, sizeof *x);
    if (keylen == 8) {
        x->key_ok = 1;
        for (int i = 0; i < 8; i++)
            x->key = (x->key << 8) | key[i];
    }
    if (st->val_buf == NULL || val != st->val_buf) {   /* value_alloc's buffer holds val */
        st->L->oom = 1;
        return SP_ENOMEM;
    }
    x->val = st->val_buf;
    x->val_cap = st->val_cap;
    st->val_buf = NULL;
    x->len = len;
    st->n++;
    pthread_mutex_lock(&st->mu);
    st->published = st->n;
    pthread_cond_broadcast(&st->cv);
    /* Without lists the values are reused: read no further ahead than WINDOW records,
       decoding here meanwhile, so that memory stays bounded and warm (SPEC.md 17, verify at scale). */
    while (!st->lists && st->n - st->finished > WINDOW) {
        pthread_mutex_unlock(&st->mu);
        if (!decode_next(st, st->reader_mem, 0)) {
            pthread_mutex_lock(&st->mu);
            if (st->n - st->finished > WINDOW && st->next >= st->published)
                pthread_cond_wait(&st->cv, &st->mu);   /* all taken: wait for one to finish */
            continue;
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return 0;
}


/* Copies of a bytes field and a string into keep (the stored value is reused). 0 when out of memory. */
static int keep_bytes(ProtobufCBinaryData *b, sp_arena *keep)
{
    if (b->len == 0)
        return 1;
    uint8_t *c = sp_arena_alloc(keep, b->len);
    if (c == NULL)
        return 0;
    memcpy(c, b->data, b->len);
    b->data = c;
    return 1;
}

static int keep_string(char **p, sp_arena *keep)
{
    size_t n = strlen(*p) + 1;
    char *c = sp_arena_alloc(keep, n);
    if (c == NULL)
        return 0;
    memcpy(c, *p, n);
    *p = c;
    return 1;
}

/*
 * A record's summary for keeps: the record and its body copied with their
 * bytes and strings, the tensor list left out (the caller asked for no
 * lists, records.h). Nothing in it points into the stored value or scratch
 * memory. NULL when keep is out of memory.
 */
static Sp__Record *summary(const Sp__Record *r, sp_arena *keep)
{
    Sp__Record *s = sp_arena_alloc(keep, sizeof *s);
    if (s == NULL)
        return NULL;
    *s = *r;
    int ok = keep_bytes(&s->prev, keep) && keep_bytes(&s->run_id, keep);
    if (r->body_case == SP__RECORD__BODY_GENESIS) {
        Sp__Genesis *g = sp_arena_alloc(keep, sizeof *g);
        if (g == NULL)
            return NULL;
        *g = *r->genesis;
        g->n_tensors = 0;
        g->tensors = NULL;
        ok = ok && keep_string(&g->model_name, keep) && keep_string(&g->tool, keep) &&
             keep_bytes(&g->config_digest, keep) && keep_bytes(&g->root, keep) &&
             keep_bytes(&g->public_key, keep) && keep_bytes(&g->sharding_digest, keep);
        s->genesis = g;
    } else if (r->body_case == SP__RECORD__BODY_CHECKPOINT) {
        Sp__Checkpoint *c = sp_arena_alloc(keep, sizeof *c);
        if (c == NULL)
            return NULL;
        *c = *r->checkpoint;
        c->n_tensors = 0;
        c->tensors = NULL;
        ok = ok && keep_bytes(&c->root, keep) && keep_bytes(&c->optimizer_digest, keep) &&
             keep_bytes(&c->batches_digest, keep);
        s->checkpoint = c;
    } else if (r->body_case == SP__RECORD__BODY_FINAL) {
        Sp__Final *f = sp_arena_alloc(keep, sizeof *f);
        if (f == NULL)
            return NULL;
        *f = *r->final;
        f->n_tensors = 0;
        f->tensors = NULL;
        ok = ok && keep_bytes(&f->root, keep) && keep_bytes(&f->batches_digest, keep);
        s->final = f;
    }
    return ok ? s : NULL;
}

/*
 * The envelope and the record are decoded into scratch memory reused record
 * after record, their bytes fields pointing into the stored value (x->val,
 * kept with the records; sp_*_decode_view); the signature's verdict, its
 * reason and the claimed keyid are kept, so nothing needs the envelope
 * afterwards. Item 5 is checked on the decoded record (against g, the
 * genesis, NULL for record 0) while it is in the cache. What stays, in keep,
 * is the whole record when lists are kept or it is record 0 (the genesis
 * every other record is checked against), else its summary: memory touched
 * for the first time costs more than decoding (SPEC.md 17, verify at scale).
 */
static void decode_one(rec *x, size_t i, thread_mem *m, const uint8_t *pk, const Sp__Record *g,
                       int lists)
{
    Sp__Envelope *env = NULL;
    sp_arena_reset(m->scratch);
    x->decode_rc = sp_envelope_decode_view(&env, x->val, x->len, m->scratch, x->why);
    if (x->decode_rc != SP_OK)
        return;
    x->env_ok = 1;
    snprintf(x->keyid, sizeof x->keyid, "%s", env->signatures[0]->keyid);
    (void)sp_record_digest(x->digest, env->payload.data, env->payload.len);
    /* The room before the payload is the buffer's when the payload lies in it (the
       canonical decode); protobuf-c's copy (any other encoding) has none. */
    uintptr_t pl = (uintptr_t)env->payload.data, v0 = (uintptr_t)x->val;
    size_t room = pl != 0 && pl >= v0 && env->payload.len <= x->len &&
                  pl - v0 <= x->len - env->payload.len ? HEADROOM + (size_t)(pl - v0) : 0;
    x->sig_rc = sp_envelope_verify_room(env, pk, room, &m->pae, &m->pae_cap, x->sig_why);
    if (x->sig_rc == SP_ENOMEM) {
        x->decode_rc = SP_ENOMEM;
        return;
    }
    x->sig_ok = x->sig_rc == SP_OK;
    int whole = lists || i == 0;
    Sp__Record *r;
    x->decode_rc = sp_record_decode_view(&r, env->payload.data, env->payload.len,
                                         whole ? m->keep : m->scratch, x->why);
    if (x->decode_rc != SP_OK)
        return;
    x->r = r;
    check_one(x, g);
    if (!whole) {
        x->lists_dropped = 1;
        char *name = NULL;
        if (x->tensor != NULL && (name = sp_arena_alloc(m->keep, strlen(x->tensor) + 1)) != NULL)
            memcpy(name, x->tensor, strlen(x->tensor) + 1);   /* the finding outlives scratch */
        x->tensor = name;
        if ((x->r = summary(r, m->keep)) == NULL || (x->tensors != SP_TENSORS_SAME && name == NULL)) {
            x->r = NULL;
            x->decode_rc = SP_ENOMEM;
            sp_errf(x->why, "out of memory");
        }
    }
}

static void stream_worker(void *arg, unsigned thread_index)
{
    stream *st = arg;
    thread_mem m = {.keep = &st->L->arena[thread_index], .scratch = &st->L->scratch[thread_index]};
    if (thread_index == 0) {             /* the calling thread reads, then decodes too */
        st->reader_mem = &m;
        st->read_rc = sp_source_foreach_into(st->src, value_alloc, visit, st);
        pthread_mutex_lock(&st->mu);
        st->done = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
    }
    while (decode_next(st, &m, 1))
        ;
    free(m.pae);
    sp_arena_release(m.scratch);
}

int sp_loaded_read(loaded *L, sp_source *src, const uint8_t *pk, unsigned threads, int lists)
{
    stream st = {.L = L, .src = src, .pk = pk, .read_rc = SP_OK, .lists = lists != 0};
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    sp_pool_run(threads, stream_worker, &st);
    value_unmap(st.val_buf, st.val_cap);
    for (size_t k = 0; k < st.nspare; k++)
        value_unmap(st.spare[k], st.spare_cap[k]);
    free(st.spare);
    free(st.spare_cap);
    pthread_cond_destroy(&st.cv);
    pthread_mutex_destroy(&st.mu);
    /* one array in ledger order for the checks that follow */
    L->v = malloc((st.n ? st.n : 1) * sizeof *L->v);
    if (L->v == NULL) {
        L->oom = 1;
        for (size_t i = 0; i < st.n; i++) {
            rec *x = &st.chunk[i / CHUNK][i % CHUNK];
            value_unmap(x->val, x->val_cap);
        }
    }
    for (size_t i = 0; L->v != NULL && i < st.n; i++)
        L->v[i] = st.chunk[i / CHUNK][i % CHUNK];
    for (size_t k = 0; k < st.nchunks; k++)
        free(st.chunk[k]);
    free(st.chunk);
    L->n = L->v != NULL ? st.n : 0;
    L->cap = L->n;
    L->g = st.g;
    if (L->v == NULL && st.read_rc == SP_OK)
        return SP_ENOMEM;
    return st.read_rc;
}

int sp_loaded_decode_report(loaded *L)
{
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
