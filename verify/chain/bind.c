/* bind.c - hashing weight files and comparing them with records (bind.h). */
#include "bind.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sp_weight_file_load(sp_weight_file *w, const char *path, unsigned threads, char *err)
{
    return sp_weight_file_load_progress(w, path, threads, NULL, err);
}

int sp_weight_file_load_progress(sp_weight_file *w, const char *path, unsigned threads,
                                 const sp_progress *pg, char *err)
{
    memset(w, 0, sizeof *w);
    char e[SP_ERRMSG_MAX] = "";
    /* A .safetensors file, a sharded model's index, or a directory holding either. */
    int rc = sp_audit_model_open(&w->model, path, e);
    if (rc != SP_OK) {
        if (err != NULL)
            snprintf(err, SP_ERRMSG_MAX, "%.250s", e[0] ? e : sp_strerror(rc));
        return rc;
    }
    /* bound as stored: the audit's view (dequantised int8, scales absorbed) is for float maths */
    w->n = sp_audit_model_raw_count(w->model);
    w->path = strdup(path);
    size_t m = w->n ? w->n : 1;
    sp_tensor *t = calloc(m, sizeof *t);
    uint8_t (*d)[SP_DIGEST_BYTES] = calloc(m, sizeof *d);
    w->nd = calloc(m, sizeof *w->nd);
    if (w->path == NULL || t == NULL || d == NULL || w->nd == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < w->n; i++) {
        t[i] = *sp_audit_model_raw_tensor(w->model, i);
        bytes += t[i].nbytes;
    }
    sp_progress p = pg != NULL ? *pg : (sp_progress){0};
    if (p.total == 0)
        p.total = p.base + bytes;
    /* One pool of chunks over every tensor of every shard. */
    rc = sp_tensors_digest_progress(d, t, w->n, threads, pg != NULL ? &p : NULL);
    if (rc == SP_OK && p.fn != NULL)
        p.fn(p.ctx, p.what, p.base + bytes, p.total);
    if (rc != SP_OK)
        goto out;
    for (size_t i = 0; i < w->n; i++) {
        w->nd[i].name = t[i].name;     /* points into the mapping, sorted already */
        memcpy(w->nd[i].digest, d[i], SP_DIGEST_BYTES);
    }
    rc = sp_checkpoint_root(w->root, w->nd, w->n);
out:
    free(t);
    free(d);
    if (rc != SP_OK) {
        if (err != NULL)
            snprintf(err, SP_ERRMSG_MAX, "%s: %s", path, sp_strerror(rc));
        sp_weight_file_free(w);
    }
    return rc;
}

void sp_weight_file_free(sp_weight_file *w)
{
    if (w == NULL)
        return;
    sp_audit_model_close(w->model);
    free(w->nd);
    free(w->path);
    memset(w, 0, sizeof *w);
}

size_t sp_weight_file_count(const sp_weight_file *w)
{
    return sp_audit_model_count(w->model);
}

const sp_tensor *sp_weight_file_tensor(const sp_weight_file *w, size_t i)
{
    return sp_audit_model_tensor(w->model, i);
}

const sp_tensor *sp_weight_file_find(const sp_weight_file *w, const char *name)
{
    return sp_audit_model_find(w->model, name);
}

size_t sp_weight_file_shards(const sp_weight_file *w)
{
    return sp_audit_model_files(w->model);
}

int sp_weight_file_matches(const sp_weight_file *w, const Sp__Record *r)
{
    const uint8_t *root = sp_record_root(r);
    return root != NULL && sodium_memcmp(root, w->root, SP_DIGEST_BYTES) == 0;
}

static int cmp_named(const void *key, const void *elem)
{
    return strcmp(key, ((const sp_named_digest *)elem)->name);
}

/* The file's digest for a name: its digests are sorted by name. */
static const sp_named_digest *find(const sp_weight_file *w, const char *name)
{
    return bsearch(name, w->nd, w->n, sizeof *w->nd, cmp_named);
}

size_t sp_weight_file_common(const sp_weight_file *w, const Sp__Record *r)
{
    Sp__TensorDigest **t;
    size_t n, same = 0;
    sp_record_tensors(r, &t, &n);
    for (size_t i = 0; i < n; i++) {
        const sp_named_digest *d = find(w, t[i]->name);
        if (d != NULL && sodium_memcmp(d->digest, t[i]->digest.data, SP_DIGEST_BYTES) == 0)
            same++;
    }
    return same;
}

static int cmp_listed(const void *key, const void *elem)
{
    return strcmp(key, (*(Sp__TensorDigest *const *)elem)->name);
}

/* Whether a record lists a name: decoded lists are validated sorted by name. */
static int record_lists(Sp__TensorDigest **t, size_t n, const char *name)
{
    return n > 0 && bsearch(name, t, n, sizeof *t, cmp_listed) != NULL;
}

/* Appends "[, ]WHAT 'NAME'" (or just WHAT when name is NULL) to out. */
static void append(char *out, size_t cap, size_t *len, const char *what, const char *name)
{
    if (*len >= cap)
        return;
    int k = name ? snprintf(out + *len, cap - *len, "%s%s '%s'", *len ? ", " : "", what, name)
                 : snprintf(out + *len, cap - *len, "%s", what);
    if (k > 0)
        *len += (size_t)k;
}

void sp_weight_file_diff(char *out, size_t cap, const sp_weight_file *w, const Sp__Record *r)
{
    enum { SHOW = 4 };
    Sp__TensorDigest **t;
    size_t n, len = 0, shown = 0, differ = 0;
    sp_record_tensors(r, &t, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const sp_named_digest *d = find(w, t[i]->name);
        const char *what = NULL;
        if (d == NULL)
            what = "missing tensor";
        else if (sodium_memcmp(d->digest, t[i]->digest.data, SP_DIGEST_BYTES) != 0)
            what = "changed tensor";
        if (what == NULL)
            continue;
        differ++;
        if (shown++ < SHOW) {
            append(out, cap, &len, what, t[i]->name);
            const char *shard = d != NULL && sp_audit_model_files(w->model) > 1
                                ? sp_audit_model_file_of(w->model, t[i]->name) : NULL;
            if (shard != NULL && len < cap) {
                const char *base = strrchr(shard, '/');
                int k = snprintf(out + len, cap - len, " in shard '%s'", base ? base + 1 : shard);
                if (k > 0)
                    len += (size_t)k;
            }
        }
    }
    /* tensors in the file that the record does not list */
    for (size_t j = 0; j < w->n; j++) {
        if (record_lists(t, n, w->nd[j].name))
            continue;
        differ++;
        if (shown++ < SHOW)
            append(out, cap, &len, "extra tensor", w->nd[j].name);
    }
    if (shown > SHOW) {
        char more[64];
        snprintf(more, sizeof more, " and %zu more", differ - SHOW);
        append(out, cap, &len, more, NULL);
    }
    if (differ == 0)
        append(out, cap, &len, "same tensors but a different root", NULL);
}
