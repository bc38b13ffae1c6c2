/*
 * compare.c - judging one finished replay (SPEC.md 12.3): the replay's own
 * ledger read and validated (two records, linked, signed by the ephemeral
 * key the genesis carries), its genesis root equal to the start record's,
 * its batch commitments equal to the end record's, then the end weights and
 * optimizer state bit for bit (exact mode) or within T (tolerance mode:
 * e = ||W_replay - W_end|| / ||W_end - W_start|| per tensor, in double).
 */
#include "replay_int.h"

#include <dirent.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "delta.h"
#include "ledger.h"
#include "record.h"

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

double sp_rel_error(const sp_src *r, const sp_src *end, const sp_src *start)
{
    sp_moments num, den;
    if (!sp_src_same_shape(r, end) || !sp_src_same_shape(start, end) ||
        sp_delta_pair(&num, r, end) != SP_OK || sp_delta_pair(&den, start, end) != SP_OK)
        return INFINITY;
    double x = sp_moments_dist(&num), y = sp_moments_dist(&den);
    if (isnan(x) || isnan(y))
        return INFINITY;
    if (y == 0)
        return x == 0 ? 0.0 : INFINITY;
    return x / y;
}

/* ---- the replay's ledger ---- */

typedef struct rl_ctx {
    uint64_t n;
    Sp__Envelope *env[2];
    Sp__Record *rec[2];
    uint8_t digest[2][SP_DIGEST_BYTES];
    char *why;
    int bad;
} rl_ctx;

static int rl_visit(void *vctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    rl_ctx *c = vctx;
    uint64_t seq = 0;
    for (size_t i = 0; keylen == 8 && i < 8; i++)
        seq = (seq << 8) | key[i];
    char e[SP_ERRMSG_MAX] = "";
    if (c->n >= 2) {
        sp_errf(c->why, "the replay ledger holds more than 2 records");
        c->bad = 1;
        return 1;
    }
    if (keylen != 8 || seq != c->n) {
        sp_errf(c->why, "the replay ledger's entry %llu has key %llu", ull(c->n), ull(seq));
        c->bad = 1;
        return 1;
    }
    size_t k = (size_t)c->n++;
    if (sp_envelope_decode(&c->env[k], val, len, e) != SP_OK ||
        sp_record_decode(&c->rec[k], c->env[k]->payload.data, c->env[k]->payload.len, e) != SP_OK) {
        sp_errf(c->why, "replay ledger record %zu does not decode: %s", k, e);
        c->bad = 1;
        return 1;
    }
    (void)sp_record_digest(c->digest[k], c->env[k]->payload.data, c->env[k]->payload.len);
    return 0;
}

static void rl_free(rl_ctx *c)
{
    for (int k = 0; k < 2; k++) {
        sp_record_free(c->rec[k]);
        sp_envelope_free(c->env[k]);
    }
}

/*
 * Reads path: record 0 a genesis with prev zero, record 1 a checkpoint
 * linked to it, one run id, both signed by the key the genesis carries.
 * 1 when well formed (c filled), else 0 with why.
 */
static int read_replay_ledger(rl_ctx *c, const char *path, char *why)
{
    memset(c, 0, sizeof *c);
    c->why = why;
    sp_ledger *l = NULL;
    char e[SP_ERRMSG_MAX] = "";
    if (sp_ledger_open(&l, path, SP_LEDGER_RDONLY, e) != SP_OK) {
        sp_errf(why, "the trainer wrote no readable replay ledger: %s", e);
        return 0;
    }
    int rc = sp_ledger_foreach(l, rl_visit, c);
    sp_ledger_close(l);
    if (c->bad)
        return 0;
    if (rc != SP_OK) {
        sp_errf(why, "cannot read the replay ledger: %s", sp_strerror(rc));
        return 0;
    }
    static const uint8_t zero[SP_DIGEST_BYTES];
    const Sp__Record *g = c->rec[0], *k = c->rec[1];
    if (c->n != 2 || g->body_case != SP__RECORD__BODY_GENESIS ||
        k->body_case != SP__RECORD__BODY_CHECKPOINT) {
        sp_errf(why, "the replay ledger must hold a genesis and one checkpoint (it holds %llu records)",
                ull(c->n));
        return 0;
    }
    if (g->seq != 0 || k->seq != 1 || sodium_memcmp(g->prev.data, zero, SP_DIGEST_BYTES) != 0 ||
        sodium_memcmp(k->prev.data, c->digest[0], SP_DIGEST_BYTES) != 0 ||
        sodium_memcmp(g->run_id.data, k->run_id.data, SP_RUN_ID_BYTES) != 0) {
        sp_errf(why, "the replay ledger's records are not one linked chain");
        return 0;
    }
    if (g->genesis->public_key.len != 32 || sp_envelope_verify(c->env[0], g->genesis->public_key.data) != SP_OK ||
        sp_envelope_verify(c->env[1], g->genesis->public_key.data) != SP_OK) {
        sp_errf(why, "the replay ledger's records are not signed by the key its genesis carries");
        return 0;
    }
    return 1;
}

/* ---- per-tensor comparison ---- */

/* Appends ", name" to a list of at most 4 names, then counts the rest. */
static void list_add(char *buf, size_t cap, size_t *count, char *item)
{
    if (*count < 4) {
        size_t o = strlen(buf);
        for (char *p = item; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                *p = '?';
        snprintf(buf + o, cap - o, "%s%s", *count ? ", " : "", item);
    }
    (*count)++;
}

static void list_end(char *buf, size_t cap, size_t count)
{
    if (count > 4) {
        size_t o = strlen(buf);
        snprintf(buf + o, cap - o, " and %zu more", count - 4);
    }
}

/* Exact mode: the tensors whose digests differ between two records. */
static void exact_diff(char *buf, size_t cap, const Sp__Record *rep, const Sp__Record *end,
                       sp_replay_seg *seg)
{
    Sp__TensorDigest **a, **b;
    size_t na, nb, count = 0;
    sp_record_tensors(rep, &a, &na);
    sp_record_tensors(end, &b, &nb);
    buf[0] = '\0';
    for (size_t i = 0, j = 0; i < na || j < nb;) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i]->name, b[j]->name);
        const char *name = c <= 0 ? a[i]->name : b[j]->name;
        if (c != 0 || sodium_memcmp(a[i]->digest.data, b[j]->digest.data, SP_DIGEST_BYTES) != 0) {
            if (count == 0)
                snprintf(seg->worst, sizeof seg->worst, "%s", name);
            char item[200];
            snprintf(item, sizeof item, "%.150s%s", name,
                     c < 0 ? " (not in the record)" : c > 0 ? " (missing)" : "");
            list_add(buf, cap, &count, item);
        }
        i += c <= 0;
        j += c >= 0;
    }
    list_end(buf, cap, count);
}

/* Loads the *.safetensors file in dir whose root is root; 1 found. */
static int find_in_dir(sp_weight_file *w, const char *dir, const uint8_t *root, unsigned threads)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (sp_weight_file_load(w, path, threads, NULL) != SP_OK)
            continue;
        if (sodium_memcmp(w->root, root, SP_DIGEST_BYTES) == 0)
            found = 1;
        else
            sp_weight_file_free(w);
    }
    closedir(d);
    return found;
}

/* One tensor's relative error (weights or optimizer state). */
typedef struct ent {
    const char *name;       /* points into the end file's header */
    double e;
    int rc;                 /* SP_OK, or why it could not be compared (e = inf) */
} ent;

/*
 * e for every tensor of the end file against the replay file and the start
 * (point `start_point` of the table for weights; the start optimizer file,
 * or zeros when it is NULL), appended to v[*n].
 */
static void measure(const sp_replay_judge_in *in, const sp_weight_file *rep, const sp_weight_file *end,
                    int weights, ent *v, size_t *n)
{
    size_t m = sp_weight_file_count(end);
    for (size_t i = 0; i < m; i++) {
        const sp_tensor *te = sp_weight_file_tensor(end, i), *tr = sp_weight_file_find(rep, te->name), *ts = NULL;
        sp_src se, sr, ss;
        int rc = tr == NULL ? SP_ENOTFOUND : SP_OK;
        if (rc == SP_OK)
            rc = sp_src_tensor(&se, te);
        if (rc == SP_OK)
            rc = sp_src_tensor(&sr, tr);
        if (rc == SP_OK && weights) {
            rc = sp_src_point(&ss, in->tab, in->start_point, te->name);
        } else if (rc == SP_OK && in->start_optimizer == NULL) {
            sp_src_zeros(&ss, &se);
        } else if (rc == SP_OK) {
            ts = sp_weight_file_find(in->start_optimizer, te->name);
            rc = ts == NULL ? SP_ENOTFOUND : sp_src_tensor(&ss, ts);
        }
        v[*n].name = te->name;
        v[*n].rc = rc;
        v[*n].e = rc == SP_OK ? sp_rel_error(&sr, &se, &ss) : INFINITY;
        (*n)++;
    }
}

static int by_e_desc(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    if (x->e != y->e)
        return x->e > y->e ? -1 : 1;
    return strcmp(x->name, y->name);
}

/*
 * The tensors with e > above, largest first, into list; the largest e and
 * its tensor into seg. Returns how many there are.
 */
static size_t rank(ent *v, size_t n, double above, double T, char *list, size_t cap, sp_replay_seg *seg)
{
    qsort(v, n, sizeof *v, by_e_desc);
    size_t count = 0;
    list[0] = '\0';
    seg->max_e = n ? v[0].e : 0;
    seg->worst[0] = '\0';
    if (n && v[0].e > 0)
        snprintf(seg->worst, sizeof seg->worst, "%s", v[0].name);
    for (size_t i = 0; i < n; i++) {
        if (v[i].e <= above)
            continue;
        char item[220];
        if (v[i].rc != SP_OK)
            snprintf(item, sizeof item, "%.150s (cannot compare: %s)", v[i].name, sp_strerror(v[i].rc));
        else if (T >= 0)
            snprintf(item, sizeof item, "%.150s (e = %.3g > T = %g)", v[i].name, v[i].e, T);
        else
            snprintf(item, sizeof item, "%.150s (e = %.3g)", v[i].name, v[i].e);
        list_add(list, cap, &count, item);
    }
    list_end(list, cap, count);
    return count;
}

/*
 * The replay's weights and optimizer-state files in out, and e for every
 * tensor. 1 measured (*n entries in *v, malloc'd), 0 not, with why.
 */
static int measure_all(const sp_replay_judge_in *in, const Sp__Record *k, int want_opt, ent **v, size_t *n,
                       char *why, size_t cap)
{
    *v = NULL;
    *n = 0;
    if (in->end_weights == NULL || (want_opt && in->end_optimizer == NULL)) {
        snprintf(why, cap, "no checkpoint file for record %llu", ull(in->end->seq));
        return 0;
    }
    sp_weight_file rw, ro;
    memset(&ro, 0, sizeof ro);
    if (!find_in_dir(&rw, in->out_dir, k->checkpoint->root.data, in->threads)) {
        snprintf(why, cap, "the trainer wrote no weights file for its checkpoint record");
        return 0;
    }
    if (want_opt && (k->checkpoint->optimizer_digest.len != SP_DIGEST_BYTES ||
                     !find_in_dir(&ro, in->out_dir, k->checkpoint->optimizer_digest.data, in->threads))) {
        snprintf(why, cap, "the trainer wrote no optimizer-state file for its checkpoint record");
        sp_weight_file_free(&rw);
        return 0;
    }
    size_t m = sp_weight_file_count(in->end_weights) + (want_opt ? sp_weight_file_count(in->end_optimizer) : 0);
    *v = calloc(m ? m : 1, sizeof **v);
    int ok = *v != NULL;
    if (ok) {
        measure(in, &rw, in->end_weights, 1, *v, n);
        if (want_opt)
            measure(in, &ro, in->end_optimizer, 0, *v, n);
    } else {
        snprintf(why, cap, "out of memory");
    }
    sp_weight_file_free(&rw);
    sp_weight_file_free(&ro);
    return ok;
}

/* Config digests equal, an absent one read as zeros. */
static int same_config(const Sp__Genesis *a, const Sp__Genesis *b)
{
    static const uint8_t zero[SP_DIGEST_BYTES];
    const uint8_t *x = a->config_digest.len == SP_DIGEST_BYTES ? a->config_digest.data : zero;
    const uint8_t *y = b->config_digest.len == SP_DIGEST_BYTES ? b->config_digest.data : zero;
    return sodium_memcmp(x, y, SP_DIGEST_BYTES) == 0;
}

int sp_replay_judge(const sp_replay_judge_in *in, sp_replay_seg *seg, char *detail, size_t cap)
{
    char why[SP_ERRMSG_MAX] = "";
    rl_ctx c;
    ent *v = NULL;
    size_t n = 0;
    detail[0] = '\0';
    seg->max_e = -1;
    if (!read_replay_ledger(&c, in->ledger_path, why)) {
        snprintf(detail, cap, "%s", why);
        rl_free(&c);
        return 0;
    }
    const Sp__Record *g = c.rec[0], *k = c.rec[1], *start = in->start, *end = in->end;
    const Sp__Genesis *G = in->genesis->genesis;
    int ok = 0;
    char h1[17], h2[17];
    if (sodium_memcmp(g->genesis->root.data, sp_record_root(start), SP_DIGEST_BYTES) != 0) {
        sp_hex(h1, g->genesis->root.data, 8);
        sp_hex(h2, sp_record_root(start), 8);
        snprintf(detail, cap, "the trainer did not start from record %llu's weights (replay genesis "
                 "root %s..., record root %s...)", ull(start->seq), h1, h2);
        goto out;
    }
    if (g->genesis->batches_per_step != G->batches_per_step || !same_config(g->genesis, G) ||
        strcmp(g->genesis->model_name, G->model_name) != 0) {
        snprintf(detail, cap, "the replay's genesis does not describe this run (model name, config "
                 "digest or batches per step differ)");
        goto out;
    }
    if (k->checkpoint->step != in->last_step) {
        snprintf(detail, cap, "the replay checkpointed step %llu, not %llu", ull(k->checkpoint->step),
                 ull(in->last_step));
        goto out;
    }
    const ProtobufCBinaryData *bd = end->body_case == SP__RECORD__BODY_FINAL ? &end->final->batches_digest
                                                                             : &end->checkpoint->batches_digest;
    uint64_t bn = end->body_case == SP__RECORD__BODY_FINAL ? end->final->batches : end->checkpoint->batches;
    if (k->checkpoint->batches != bn ||
        sodium_memcmp(k->checkpoint->batches_digest.data, bd->data, SP_DIGEST_BYTES) != 0) {
        sp_hex(h1, k->checkpoint->batches_digest.data, 8);
        sp_hex(h2, bd->data, 8);
        snprintf(detail, cap, "batch commitments differ: the replay committed %llu batches (chain %s...), "
                 "record %llu holds %llu (chain %s...)", ull(k->checkpoint->batches), h1, ull(end->seq),
                 ull(bn), h2);
        goto out;
    }
    const ProtobufCBinaryData *od = end->body_case == SP__RECORD__BODY_CHECKPOINT
                                        ? &end->checkpoint->optimizer_digest : NULL;
    int want_opt = od != NULL && od->len == SP_DIGEST_BYTES;
    char list[700];
    if (in->tolerance < 0) {
        seg->tolerance = 0;
        exact_diff(list, sizeof list, k, end, seg);
        int opt_bad = want_opt && (k->checkpoint->optimizer_digest.len != SP_DIGEST_BYTES ||
                                   sodium_memcmp(k->checkpoint->optimizer_digest.data, od->data,
                                                 SP_DIGEST_BYTES) != 0);
        if (list[0] == '\0' && !opt_bad) {
            seg->max_e = 0;
            seg->worst[0] = '\0';
            snprintf(detail, cap, "bit for bit");
            ok = 1;
            goto out;
        }
        /* Diverged: name the tensors by how far they are off, when the files allow it. */
        char rlist[700];
        if (measure_all(in, k, want_opt, &v, &n, why, sizeof why) &&
            rank(v, n, 0, -1, rlist, sizeof rlist, seg) > 0) {
            snprintf(detail, cap, "diverged: %s", rlist);
        } else {
            snprintf(detail, cap, "diverged: %s%s%s", list, list[0] && opt_bad ? "; " : "",
                     opt_bad ? "optimizer state differs" : "");
            if (seg->worst[0] == '\0')
                snprintf(seg->worst, sizeof seg->worst, "optimizer state");
            seg->max_e = -1;
        }
        goto out;
    }
    seg->tolerance = 1;
    /* Tolerance mode needs the files: the replay's, the recorded end's, the start's. */
    if (!measure_all(in, k, want_opt, &v, &n, why, sizeof why)) {
        snprintf(detail, cap, "cannot compare within a tolerance: %s", why);
        goto out;
    }
    if (rank(v, n, in->tolerance, in->tolerance, list, sizeof list, seg) == 0) {
        if (seg->max_e == 0)
            snprintf(detail, cap, "within T = %g (bit for bit)", in->tolerance);
        else
            snprintf(detail, cap, "within T = %g (largest e = %.3g, %s)", in->tolerance, seg->max_e, seg->worst);
        ok = 1;
    } else {
        snprintf(detail, cap, "diverged: %s", list);
    }
out:
    free(v);
    rl_free(&c);
    return ok;
}
