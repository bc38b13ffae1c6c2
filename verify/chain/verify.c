/*
 * verify.c - replays a ledger (verify.h, SPEC.md 7). The records are read in
 * one snapshot, then checked in the order SPEC.md gives: structure and
 * signatures, chain, genesis regeneration, record roots and tensor sets,
 * checkpoint files, published models. Every failure names its record (and
 * tensor, where there is one).
 */
#include "verify.h"

#include <dirent.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bind.h"
#include "complete.h"
#include "digest.h"
#include "fileio.h"
#include "head.h"
#include "init.h"
#include "keys.h"
#include "arena.h"
#include "ledger.h"
#include "pool.h"
#include "source.h"
#include "record.h"
#include "records.h"
#include "segments.h"

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

/* Signatures, sequence numbers, links, run id, record kinds and step order. */
static void check_chain(loaded *L, const uint8_t *pk, sp_report *rep, sp_verify_summary *sum)
{
    size_t bad_sig = 0, bad_chain = 0;
    uint64_t expect = 0;
    uint8_t prev[SP_DIGEST_BYTES] = {0};
    int prev_known = 1;
    const uint8_t *run_id = NULL;
    int have_ckpt = 0, have_final = 0;
    uint64_t last_step = 0;
    char keyid[SP_KEYID_CHARS + 1];
    sp_keyid(keyid, pk);

    for (size_t i = 0; i < L->n; i++) {
        rec *x = &L->v[i];
        if (!x->key_ok) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, NULL, "entry %zu: key is not an 8-byte sequence number", i);
            prev_known = 0;
            continue;
        }
        if (x->key != expect) {
            bad_chain++;
            if (x->key > expect)
                sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: records %llu..%llu are missing (dropped)",
                              ull(x->key), ull(expect), ull(x->key - 1));
            else
                sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: out of order", ull(x->key));
            prev_known = 0;
        }
        expect = x->key + 1;
        if (!x->env_ok) {
            prev_known = 0;
            continue;
        }
        if (!x->sig_ok) {
            bad_sig++;
            if (x->sig_rc == SP_EMISMATCH)
                sp_report_addf(rep, "signature", 0, SP_AT_SEQ(x->key), "record %llu: %s", ull(x->key), x->sig_why);
            else
                sp_report_addf(rep, "signature", 0, SP_AT_SEQ(x->key),
                              "record %llu: no signature verifies under the pinned key %s (record claims keyid %s)",
                              ull(x->key), keyid, x->keyid);
        }
        const Sp__Record *r = x->r;
        if (r == NULL) {
            memcpy(prev, x->digest, sizeof prev);
            prev_known = 1;
            continue;
        }
        if (r->seq != x->key) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: holds sequence number %llu (moved or reordered)",
                          ull(x->key), ull(r->seq));
        }
        if (prev_known && sodium_memcmp(r->prev.data, prev, SP_DIGEST_BYTES) != 0) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: prev is not the digest of record %llu (chain broken)",
                          ull(x->key), ull(x->key ? x->key - 1 : 0));
        }
        memcpy(prev, x->digest, sizeof prev);
        prev_known = 1;
        int is_genesis = r->body_case == SP__RECORD__BODY_GENESIS;
        if (x->key == 0 && !is_genesis) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(0), "record 0: is a %s record, not a genesis", sp_record_kind(r));
        } else if (x->key != 0 && is_genesis) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: a second genesis", ull(x->key));
        }
        if (run_id == NULL) {
            run_id = r->run_id.data;
        } else if (sodium_memcmp(run_id, r->run_id.data, SP_RUN_ID_BYTES) != 0) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: belongs to another run (run id differs)", ull(x->key));
        }
        if (have_final && !is_genesis) {
            bad_chain++;
            sp_report_addf(rep, "chain", 0, SP_AT_SEQ(x->key), "record %llu: follows the final record", ull(x->key));
        }
        if (r->body_case == SP__RECORD__BODY_CHECKPOINT) {
            if (have_ckpt && r->checkpoint->step <= last_step) {
                bad_chain++;
                sp_report_addf(rep, "steps", 0, SP_AT_SEQ_STEP(x->key, r->checkpoint->step), "record %llu: checkpoint step %llu does not follow step %llu",
                              ull(x->key), ull(r->checkpoint->step), ull(last_step));
            }
            have_ckpt = 1;
            last_step = r->checkpoint->step;
        } else if (r->body_case == SP__RECORD__BODY_FINAL) {
            if (have_ckpt && r->final->step < last_step) {
                bad_chain++;
                sp_report_addf(rep, "steps", 0, SP_AT_SEQ_STEP(x->key, r->final->step), "record %llu: final step %llu is before checkpoint step %llu",
                              ull(x->key), ull(r->final->step), ull(last_step));
            }
            have_final = 1;
        }
    }
    if (bad_sig == 0)
        sp_report_add(rep, "signature", 1, "%zu records signed by the pinned key %s", L->n, keyid);
    if (bad_chain == 0)
        sp_report_add(rep, "chain", 1, "records 0..%llu linked in order, one run", ull(L->n ? L->n - 1 : 0));
    if (run_id != NULL)
        sp_hex(sum->run_id, run_id, SP_RUN_ID_BYTES);
    memcpy(sum->keyid, keyid, sizeof keyid);
}

static const char *scheme_text(char *buf, size_t cap, const sp_init_scheme *s)
{
    switch (s->kind) {
    case SP_INIT_ZEROS: snprintf(buf, cap, "zeros"); break;
    case SP_INIT_CONSTANT: snprintf(buf, cap, "constant(%g)", s->p[0]); break;
    case SP_INIT_UNIFORM: snprintf(buf, cap, "uniform(%g, %g)", s->p[0], s->p[1]); break;
    case SP_INIT_NORMAL: snprintf(buf, cap, "normal(%g, %g)", s->p[0], s->p[1]); break;
    case SP_INIT_TRUNC_NORMAL:
        snprintf(buf, cap, "trunc_normal(%g, %g, %g, %g)", s->p[0], s->p[1], s->p[2], s->p[3]);
        break;
    case SP_INIT_UNIFORM32: snprintf(buf, cap, "uniform32(%g, %g)", s->p[0], s->p[1]); break;
    case SP_INIT_NORMAL32: snprintf(buf, cap, "normal32(%g, %g)", s->p[0], s->p[1]); break;
    case SP_INIT_ORTHOGONAL:
        snprintf(buf, cap, "orthogonal(%g; %.0f x %.0f)", s->p[0], s->p[1], s->p[2]);
        break;
    default: snprintf(buf, cap, "external"); break;
    }
    return buf;
}

/* The description (no data) and scheme of genesis tensor t. */
static int genesis_describe(const Sp__TensorDigest *t, sp_tensor *x, sp_init_scheme *s)
{
    memset(x, 0, sizeof *x);
    sp_record_scheme(s, t);
    x->name = t->name;
    x->dtype = (sp_dtype)t->dtype;
    x->ndim = (uint32_t)t->n_shape;
    memcpy(x->shape, t->shape, t->n_shape * sizeof *t->shape);
    uint64_t numel = 0;
    int rc = sp_shape_numel(&numel, x->shape, x->ndim);   /* validated at decode */
    if (rc != SP_OK)
        return rc;
    x->nbytes = numel * sp_dtype_size(x->dtype);
    return s->kind == SP_INIT_EXTERNAL && t->n_ranges == 0 ? SP_EUNSUPPORTED : SP_OK;
}

/* "ranges [0, 96) normal(0, 0.02), [96, 128) zeros": as much as fits in cap. */
static const char *ranges_text(char *buf, size_t cap, const sp_init_range *r, size_t n)
{
    size_t w = (size_t)snprintf(buf, cap, "%zu ranges", n);
    for (size_t k = 0; k < n && w < cap; k++) {
        char one[96];
        w += (size_t)snprintf(buf + w, cap - w, "%s [%llu, %llu) %s", k ? "," : "",
                              ull(r[k].first), ull(r[k].first + r[k].count),
                              scheme_text(one, sizeof one, &r[k].init));
    }
    return buf;
}

int sp_genesis_materialise(const Sp__Record *g, size_t i, sp_tensor *x, void **data)
{
    *data = NULL;
    memset(x, 0, sizeof *x);
    if (g->body_case != SP__RECORD__BODY_GENESIS || i >= g->genesis->n_tensors)
        return SP_EINVAL;
    sp_init_scheme s;
    int rc = genesis_describe(g->genesis->tensors[i], x, &s);
    if (rc != SP_OK)
        return rc;
    sp_init_range *rr = NULL;
    size_t nr = 0;
    if ((rc = sp_record_ranges(&rr, &nr, g->genesis->tensors[i])) != SP_OK)
        return rc;
    void *buf = malloc(x->nbytes ? x->nbytes : 1);
    if (buf == NULL) {
        free(rr);
        return SP_ENOMEM;
    }
    uint64_t numel = x->nbytes / sp_dtype_size(x->dtype);
    rc = nr > 0 ? sp_init_fill_ranges(buf, x->dtype, x->name, g->genesis->seed, rr, nr, 0, numel)
                : sp_init_fill(buf, x->dtype, x->name, g->genesis->seed, &s, 0, numel);
    free(rr);
    if (rc != SP_OK) {
        free(buf);
        return rc;
    }
    x->data = buf;
    *data = buf;
    return SP_OK;
}

/*
 * Small genesis tensors, regenerated many at a time: one thread per tensor
 * instead of every thread on one, whose start would cost more than the
 * tensor (a model has thousands of norms and biases). Big ones are left to
 * check_genesis, which spreads each over every thread.
 */
#define SMALL_TENSOR ((uint64_t)256 << 10)

typedef struct small_regen {
    const Sp__Genesis *G;
    uint8_t (*d)[SP_DIGEST_BYTES];
    int *rc;                        /* SP_OK or why; 1: not taken here */
    atomic_size_t next;
} small_regen;

static void small_worker(void *arg, unsigned thread_index)
{
    (void)thread_index;
    small_regen *w = arg;
    for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < w->G->n_tensors;) {
        const Sp__TensorDigest *t = w->G->tensors[i];
        sp_tensor x;
        sp_init_scheme s;
        sp_init_range *rr = NULL;
        size_t nr = 0;
        sp_record_scheme(&s, t);
        if ((s.kind == SP_INIT_EXTERNAL && t->n_ranges == 0) || genesis_describe(t, &x, &s) != SP_OK ||
            x.nbytes > SMALL_TENSOR || sp_record_ranges(&rr, &nr, t) != SP_OK)
            continue;   /* left to the caller, which reports it */
        w->rc[i] = nr > 0 ? sp_init_digest_ranges(w->d[i], &x, w->G->seed, rr, nr, 1, NULL)
                          : sp_init_digest(w->d[i], &x, w->G->seed, &s, 1);
        free(rr);
    }
}

/* Regenerates every genesis tensor from the seed and compares digests. */
static void check_genesis(const sp_verify_opts *o, const Sp__Record *g, sp_report *rep)
{
    const Sp__Genesis *G = g->genesis;
    size_t bad = 0, external = 0;
    /* Progress in bytes over the regenerable tensors (SPEC.md 8.6). */
    sp_progress pg = {.fn = o->progress, .ctx = o->progress_ctx, .what = "regenerating initial tensors"};
    for (size_t i = 0; i < G->n_tensors; i++) {
        sp_tensor x;
        sp_init_scheme s;
        if (genesis_describe(G->tensors[i], &x, &s) == SP_OK)
            pg.total += x.nbytes;
    }
    small_regen sm = {.G = G, .d = malloc((G->n_tensors ? G->n_tensors : 1) * sizeof *sm.d),
                      .rc = malloc((G->n_tensors ? G->n_tensors : 1) * sizeof *sm.rc)};
    if (sm.d != NULL && sm.rc != NULL) {   /* else every tensor the slow way, as before */
        for (size_t i = 0; i < G->n_tensors; i++)
            sm.rc[i] = 1;
        atomic_init(&sm.next, 0);
        sp_pool_run(o->threads ? o->threads : 1, small_worker, &sm);
    }
    for (size_t i = 0; i < G->n_tensors; i++) {
        const Sp__TensorDigest *t = G->tensors[i];
        sp_init_scheme s;
        char sch[512];
        sp_record_scheme(&s, t);
        if (s.kind == SP_INIT_EXTERNAL && t->n_ranges == 0) {
            external++;
            bad++;
            sp_report_addf(rep, "init", 0, &(const sp_check_fields){.has_seq = 1, .tensor = t->name},
                          "record 0 tensor '%s': scheme external: the initial weights were loaded "
                          "from elsewhere, not generated from seed %llu", t->name, ull(G->seed));
            continue;
        }
        /* Regenerated and hashed chunk by chunk on every thread: never materialised. */
        sp_tensor x;
        uint8_t d[SP_DIGEST_BYTES];
        sp_init_range *rr = NULL;
        size_t nr = 0;
        int rc = genesis_describe(t, &x, &s);
        if (rc == SP_OK)
            rc = sp_record_ranges(&rr, &nr, t);
        int done = rc == SP_OK && sm.rc != NULL && sm.d != NULL && sm.rc[i] != 1;
        if (done && (rc = sm.rc[i]) == SP_OK)
            memcpy(d, sm.d[i], sizeof d);
        else if (!done && rc == SP_OK && nr > 0)
            rc = sp_init_digest_ranges(d, &x, G->seed, rr, nr, o->threads, o->progress ? &pg : NULL);
        else if (!done && rc == SP_OK)
            rc = sp_init_digest_progress(d, &x, G->seed, &s, o->threads, o->progress ? &pg : NULL);
        int differs = rc == SP_OK && sodium_memcmp(d, t->digest.data, SP_DIGEST_BYTES) != 0;
        if (rc != SP_OK || differs) {   /* the scheme's words, for the finding only */
            if (nr > 0)
                ranges_text(sch, sizeof sch, rr, nr);
            else
                scheme_text(sch, sizeof sch, &s);
        }
        free(rr);
        if (rc == SP_OK)
            pg.base += x.nbytes;
        if (rc != SP_OK) {
            bad++;
            sp_report_addf(rep, "init", 0, &(const sp_check_fields){.has_seq = 1, .tensor = t->name},
                           "record 0 tensor '%s': cannot regenerate %s in %s: %s", t->name,
                          sch, sp_dtype_name(x.dtype), sp_strerror(rc));
        } else if (differs) {
            bad++;
            char want[17], got[17];
            sp_hex(want, t->digest.data, 8);
            sp_hex(got, d, 8);
            sp_report_addf(rep, "init", 0, &(const sp_check_fields){.has_seq = 1, .tensor = t->name},
                          "record 0 tensor '%s': does not regenerate from seed %llu with %s "
                          "(recorded %s..., regenerated %s...)", t->name, ull(G->seed),
                          sch, want, got);
        }
    }
    free(sm.d);
    free(sm.rc);
    if (o->progress != NULL && pg.total > 0)
        o->progress(o->progress_ctx, pg.what, pg.total, pg.total);
    if (bad == 0)
        sp_report_addf(rep, "init", 1, SP_AT_SEQ(0), "all %zu initial tensors regenerated bit for bit from seed %llu",
                      G->n_tensors, ull(G->seed));
    if (external == 0)
        sp_report_addf(rep, "from-scratch", 1, SP_AT_SEQ(0), "no initial tensor is external: every "
                       "one is assigned a scheme of the deterministic initialiser");
    else
        sp_report_addf(rep, "from-scratch", 0, SP_AT_SEQ(0), "%zu of %zu initial tensors were not generated by the "
                      "deterministic initialiser: this run does not start from scratch",
                      external, G->n_tensors);
}

static int is_weights(const Sp__Record *r)
{
    return r != NULL && (r->body_case == SP__RECORD__BODY_CHECKPOINT ||
                         r->body_case == SP__RECORD__BODY_FINAL);
}

static uint64_t step_of(const Sp__Record *r)
{
    return r->body_case == SP__RECORD__BODY_CHECKPOINT ? r->checkpoint->step : r->final->step;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Appends one loaded weight set to *files (grown as needed). SP_ENOMEM. */
static int push_weights(const sp_verify_opts *o, sp_report *rep, sp_weight_file **files, size_t *nf,
                        size_t *cap, const char *path)
{
    if (*nf == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        sp_weight_file *grown = realloc(*files, nc * sizeof *grown);
        if (grown == NULL)
            return SP_ENOMEM;
        *files = grown;
        *cap = nc;
    }
    char why[SP_ERRMSG_MAX] = "", what[SP_ERRMSG_MAX];
    snprintf(what, sizeof what, "hashing %s", path);
    sp_progress pg = {.fn = o->progress, .ctx = o->progress_ctx, .what = what};
    if (sp_weight_file_load_progress(&(*files)[*nf], path, o->threads, &pg, why) != SP_OK)
        sp_report_addf(rep, "checkpoint-file", 1, SP_AT_FILE(path), "skipped %s", why);
    else
        (*nf)++;
    return SP_OK;
}

/* 1 when path is a shard of one of the sharded models already loaded. */
static int is_loaded_shard(const sp_weight_file *files, size_t nf, const char *path)
{
    for (size_t k = 0; k < nf; k++)
        for (size_t i = 0; sp_weight_file_shards(&files[k]) > 1 && i < sp_weight_file_shards(&files[k]); i++)
            if (strcmp(sp_audit_model_file(files[k].model, i), path) == 0)
                return 1;
    return 0;
}

/*
 * Loads and hashes the weight sets in DIR, weights and optimizer state
 * alike (both are bound by content): first every sharded model (an
 * *.safetensors.index.json, or a subdirectory holding one index or one
 * file), then every regular *.safetensors file that is not a shard of one
 * of them. What does not parse is reported and skipped. *files is
 * malloc'd; free each with sp_weight_file_free.
 */
static int load_checkpoint_dir(const sp_verify_opts *o, sp_report *rep, sp_weight_file **files_out,
                               size_t *nf_out, char *err)
{
    *files_out = NULL;
    *nf_out = 0;
    sp_weight_file *files = NULL;
    size_t nf = 0, cap = 0;
    int rc = SP_OK;
    for (int pass = 0; pass < 2 && rc == SP_OK; pass++) {
        DIR *d = opendir(o->checkpoint_dir);
        if (d == NULL) {
            snprintf(err, SP_ERRMSG_MAX, "%s: cannot open checkpoint directory", o->checkpoint_dir);
            rc = SP_EIO;
            break;
        }
        struct dirent *e;
        while (rc == SP_OK && (e = readdir(d)) != NULL) {
            int index = has_suffix(e->d_name, ".safetensors.index.json");
            if (e->d_name[0] == '.' || (pass == 1 && !has_suffix(e->d_name, ".safetensors")))
                continue;
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", o->checkpoint_dir, e->d_name);
            if (stat(path, &st) != 0) /* stat never opens: a FIFO here cannot block */
                continue;
            if (pass == 0) {
                if ((index && S_ISREG(st.st_mode)) || S_ISDIR(st.st_mode))
                    rc = push_weights(o, rep, &files, &nf, &cap, path);
                continue;
            }
            if (!S_ISREG(st.st_mode)) {
                sp_report_addf(rep, "checkpoint-file", 1, SP_AT_FILE(path), "skipped %s: not a regular file (%s)", path,
                              sp_file_kind(st.st_mode));
                continue;
            }
            if (!is_loaded_shard(files, nf, path))
                rc = push_weights(o, rep, &files, &nf, &cap, path);
        }
        closedir(d);
    }
    if (rc != SP_OK) {
        for (size_t k = 0; k < nf; k++)
            sp_weight_file_free(&files[k]);
        free(files);
        if (err[0] == '\0')
            snprintf(err, SP_ERRMSG_MAX, "%s", sp_strerror(rc));
        return rc;
    }
    *files_out = files;
    *nf_out = nf;
    return SP_OK;
}

static const sp_weight_file *find_root(const sp_weight_file *files, size_t nf, const uint8_t *root)
{
    for (size_t k = 0; k < nf; k++)
        if (sodium_memcmp(files[k].root, root, SP_DIGEST_BYTES) == 0)
            return &files[k];
    return NULL;
}

/*
 * Every checkpoint record has a file in DIR with its weight digests, and one
 * with its optimizer-state digest when it records one (SPEC.md 7.6).
 */
static void check_checkpoint_files(const sp_verify_opts *o, const loaded *L, const sp_weight_file *files,
                                   size_t nf, sp_report *rep)
{
    size_t bound = 0, records = 0, opt_bound = 0, opt_records = 0;
    for (size_t i = 0; i < L->n; i++) {
        const Sp__Record *r = L->v[i].r;
        if (!is_weights(r))
            continue;
        int final = r->body_case == SP__RECORD__BODY_FINAL;
        records += !final;
        if (!final && r->checkpoint->optimizer_digest.len == SP_DIGEST_BYTES) {
            opt_records++;
            const sp_weight_file *of = find_root(files, nf, r->checkpoint->optimizer_digest.data);
            if (of != NULL) {
                opt_bound++;
            } else {
                char want[17];
                sp_hex(want, r->checkpoint->optimizer_digest.data, 8);
                sp_report_addf(rep, "optimizer-file", 0, SP_AT_SEQ_STEP(r->seq, step_of(r)),
                              "record %llu (checkpoint step %llu): no file in %s has its optimizer "
                              "state (recorded root %s...)", ull(r->seq), ull(step_of(r)),
                              o->checkpoint_dir, want);
            }
        }
        const sp_weight_file *hit = NULL;
        for (size_t k = 0; k < nf && hit == NULL; k++)
            if (sp_weight_file_matches(&files[k], r))
                hit = &files[k];
        if (hit != NULL) {
            bound += !final;
            sp_report_addf(rep, final ? "final-file" : "checkpoint-file", 1,
                           &(const sp_check_fields){.has_seq = 1, .seq = r->seq, .has_step = 1,
                                                    .step = step_of(r), .file = hit->path},
                          "record %llu (%s step %llu) bound to %s", ull(r->seq), sp_record_kind(r),
                          ull(step_of(r)), hit->path);
            continue;
        }
        if (final)
            continue;   /* the published model is bound through --model */
        size_t best = nf, best_common = 0;
        for (size_t k = 0; k < nf; k++) {
            size_t c = sp_weight_file_common(&files[k], r);
            if (c > best_common || best == nf) {
                best = k;
                best_common = c;
            }
        }
        if (best < nf) {
            char diff[512];
            sp_weight_file_diff(diff, sizeof diff, &files[best], r);
            sp_report_addf(rep, "checkpoint-file", 0,
                           &(const sp_check_fields){.has_seq = 1, .seq = r->seq, .has_step = 1,
                                                    .step = step_of(r), .file = files[best].path},
                          "record %llu (checkpoint step %llu): no file in %s has its digests; "
                          "nearest %s: %s", ull(r->seq), ull(step_of(r)), o->checkpoint_dir,
                          files[best].path, diff);
        } else {
            sp_report_addf(rep, "checkpoint-file", 0, SP_AT_SEQ_STEP(r->seq, step_of(r)),
                          "record %llu (checkpoint step %llu): no file in %s has its digests",
                          ull(r->seq), ull(step_of(r)), o->checkpoint_dir);
        }
    }
    if (bound == records)
        sp_report_add(rep, "checkpoint-file", 1, "all %zu checkpoint records bound to files in %s",
                      records, o->checkpoint_dir);
    if (opt_records > 0 && opt_bound == opt_records)
        sp_report_add(rep, "optimizer-file", 1, "all %zu optimizer states bound to files in %s",
                      opt_records, o->checkpoint_dir);
}

/*
 * The table of weight points (segments.h): every genesis, checkpoint and
 * final record in ledger order, with the files bound to them. Records that
 * did not decode are left out (they are findings already).
 */
static int build_table(sp_run_table *tab, const loaded *L, const Sp__Record *g,
                       const sp_weight_file *files, size_t nf, const sp_weight_file *models, size_t nm)
{
    memset(tab, 0, sizeof *tab);
    if (g == NULL)
        return SP_OK;
    tab->pts = calloc(L->n ? L->n : 1, sizeof *tab->pts);
    if (tab->pts == NULL)
        return SP_ENOMEM;
    tab->genesis = g;
    tab->batches_per_step = g->genesis->batches_per_step ? g->genesis->batches_per_step : 1;
    for (size_t i = 0; i < L->n; i++) {
        const Sp__Record *r = L->v[i].r;
        if (r == NULL || (r != g && !is_weights(r)))
            continue;
        sp_point *p = &tab->pts[tab->n++];
        p->seq = r->seq;
        p->rec = r;
        if (r == g) {
            p->kind = SP_POINT_GENESIS;
            continue;
        }
        p->kind = r->body_case == SP__RECORD__BODY_FINAL ? SP_POINT_FINAL : SP_POINT_CHECKPOINT;
        p->step = step_of(r);
        p->weights = find_root(files, nf, sp_record_root(r));
        if (p->weights == NULL)
            p->weights = find_root(models, nm, sp_record_root(r));
        if (p->kind == SP_POINT_CHECKPOINT && r->checkpoint->optimizer_digest.len == SP_DIGEST_BYTES)
            p->optimizer = find_root(files, nf, r->checkpoint->optimizer_digest.data);
    }
    return SP_OK;
}

/*
 * A published model must equal a weights record: the final one, or a
 * checkpoint. The latest matching record is named (the final before an
 * identical last checkpoint).
 */
static void check_model(const sp_weight_file *w, const loaded *L, sp_report *rep)
{
    const Sp__Record *last = NULL;
    for (size_t i = L->n; i-- > 0;) {
        const Sp__Record *r = L->v[i].r;
        if (!is_weights(r))
            continue;
        if (last == NULL)
            last = r;
        if (sp_weight_file_matches(w, r)) {
            int final = r->body_case == SP__RECORD__BODY_FINAL;
            sp_report_addf(rep, "model", 1, &(const sp_check_fields){.has_seq = 1, .seq = r->seq, .has_step = 1,
                           .step = step_of(r), .file = w->path}, "%s bound to record %llu (%s step %llu), all %zu tensors",
                          w->path, ull(r->seq), final ? "final" : "checkpoint", ull(step_of(r)), w->n);
            return;
        }
    }
    if (last == NULL) {
        sp_report_addf(rep, "model", 0, SP_AT_FILE(w->path), "%s: the ledger records no weights to bind it to", w->path);
        return;
    }
    char diff[512];
    sp_weight_file_diff(diff, sizeof diff, w, last);
    sp_report_addf(rep, "model", 0, &(const sp_check_fields){.has_seq = 1, .seq = last->seq, .has_step = 1,
                   .step = step_of(last), .file = w->path}, "%s matches no record; against record %llu (%s step %llu): %s",
                  w->path, ull(last->seq), sp_record_kind(last), ull(step_of(last)), diff);
}

/*
 * The checks over the whole run (SPEC.md 7 items 8-10), then segment replay
 * (SPEC.md 12). Trajectory screening (SPEC.md 13) reads tab here too.
 */
static int run_checks(const sp_verify_opts *o, const sp_run_table *tab, const uint8_t *last_digest,
                      const uint8_t *config_d, sp_report *rep, char *err)
{
    if (tab->n == 0)
        return SP_OK;
    sp_check_complete(tab, o->allow_incomplete, rep);
    sp_check_batches(tab, rep);
    if (o->config_path != NULL)
        sp_check_config(tab->genesis, config_d, o->config_path, rep);
    if (o->replay != NULL && o->replay_result != NULL)
        return sp_replay_run(o->replay, tab, last_digest, rep, o->replay_result, err);
    return SP_OK;
}

int sp_verify_ledger(const sp_verify_opts *o, sp_report *rep, sp_verify_summary *sum, char *err)
{
    char e[SP_ERRMSG_MAX] = "";
    memset(sum, 0, sizeof *sum);
    if (o->ledger_path == NULL || o->pk == NULL || (o->n_models > 0 && o->models == NULL))
        return SP_EINVAL;
    if (sodium_init() < 0)
        return SP_ECRYPTO;
    uint8_t config_d[SP_DIGEST_BYTES];
    int rc;
    if (o->config_path != NULL && (rc = sp_config_file_digest(config_d, o->config_path, err)) != SP_OK)
        return rc;
    sp_source *ledger = NULL;
    rc = sp_source_open(&ledger, o->ledger_path, e);
    if (rc != SP_OK) {
        snprintf(err, SP_ERRMSG_MAX, "%s", e[0] ? e : sp_strerror(rc));
        return rc;
    }
    /* Model files are inputs: an unreadable one is an error before any finding. */
    sp_weight_file *models = calloc(o->n_models ? o->n_models : 1, sizeof *models);
    if (models == NULL) {
        sp_source_close(ledger);
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < o->n_models; i++) {
        char what[SP_ERRMSG_MAX];
        snprintf(what, sizeof what, "hashing %s", o->models[i]);
        sp_progress pg = {.fn = o->progress, .ctx = o->progress_ctx, .what = what};
        rc = sp_weight_file_load_progress(&models[i], o->models[i], o->threads, &pg, err);
        if (rc != SP_OK)
            goto out;
    }
    loaded L;
    sp_loaded_init(&L, rep);
    /* Tensor lists are read again only to bind files and to replay (SPEC.md 17, verify at scale). */
    int lists = o->checkpoint_dir != NULL || o->n_models > 0 || o->replay != NULL || o->n_refs > 0;
    rc = sp_loaded_read(&L, ledger, o->pk, o->threads ? o->threads : 1, lists);
    if (sp_source_damage(ledger) != NULL) /* SPEC.md 14.3: damage is a finding */
        sp_report_add(rep, "ledger", 0, "%s", sp_source_damage(ledger));
    if (rc != SP_OK) {
        snprintf(err, SP_ERRMSG_MAX, "%s", L.oom ? "out of memory" : sp_source_errmsg(ledger));
        sp_loaded_free(&L);
        goto out;
    }
    sum->records = L.n;
    if (L.n == 0) {
        sp_report_add(rep, "record", 0, "the ledger holds no records");
        sp_loaded_free(&L);
        goto out;
    }
    if (sp_loaded_decode_report(&L) != SP_OK) {
        snprintf(err, SP_ERRMSG_MAX, "%s: out of memory decoding %zu records", o->ledger_path, L.n);
        sp_loaded_free(&L);
        rc = SP_ENOMEM;
        goto out;
    }
    check_chain(&L, o->pk, rep, sum);
    if (o->head != NULL)   /* SPEC.md 15.7: the ledger against its signed head */
        sp_head_check(o->head, o->pk, o->witnesses, o->witness_names, o->n_witnesses, L.v[0].digest,
                      sizeof *L.v, L.n, L.v[0].r ? L.v[0].r->run_id.data : NULL, rep);
    const Sp__Record *g = L.v[0].r;
    if (g != NULL && g->body_case == SP__RECORD__BODY_GENESIS) {
        sum->have_genesis = 1;
        sum->seed = g->genesis->seed;
        snprintf(sum->model_name, sizeof sum->model_name, "%s", g->genesis->model_name);
        /* An unsigned genesis could ask for any amount of regeneration (a huge shape): its
           failed signature is the finding, and nothing it describes is computed. */
        if (L.v[0].sig_ok)
            check_genesis(o, g, rep);
        else
            sp_report_add(rep, "init", 0, "record 0 is not signed by the pinned key: its tensors are "
                          "not regenerated");
    } else {
        g = NULL;
        sp_report_addf(rep, "init", 0, SP_AT_SEQ(0), "record 0 is not a readable genesis: nothing to regenerate");
    }
    sp_loaded_check_records(&L, rep);   /* checked against L.g, which is g, while decoding */
    sp_weight_file *files = NULL;
    size_t nf = 0;
    if (o->checkpoint_dir != NULL && (rc = load_checkpoint_dir(o, rep, &files, &nf, err)) == SP_OK)
        check_checkpoint_files(o, &L, files, nf, rep);
    for (size_t i = 0; rc == SP_OK && i < o->n_models; i++)
        check_model(&models[i], &L, rep);
    sp_run_table tab;
    if (rc == SP_OK && (rc = build_table(&tab, &L, g, files, nf, models, o->n_models)) == SP_OK) {
        rc = run_checks(o, &tab, L.v[L.n - 1].digest, config_d, rep, err);
        /* Trajectory screening (SPEC.md 13) reads tab here too. */
        if (rc == SP_OK && o->checkpoint_dir != NULL) {
            sp_traj_opts to = {.threads = o->threads, .refs = o->refs, .n_refs = o->n_refs};
            rc = sp_trajectory_screen(&tab, &to, rep, o->trajectory, err);
        }
        free(tab.pts);
    }
    for (size_t k = 0; k < nf; k++)
        sp_weight_file_free(&files[k]);
    free(files);
    sp_loaded_free(&L);
out:
    for (size_t i = 0; i < o->n_models; i++)
        sp_weight_file_free(&models[i]);
    free(models);
    sp_source_close(ledger);
    return rc;
}
