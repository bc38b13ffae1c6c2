/*
 * replay.c - segment replay (replay.h, SPEC.md 12): which segments to
 * re-execute, a scratch directory for each, the start weights (the genesis
 * regenerated, or the checkpoint file bound to the start record), the
 * trainer run through spawn.c, the verdict from compare.c, calibration, and
 * the report: one `replay` check per segment, a `replay-choice` summary.
 */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "replay_int.h"
#include "safetensors.h"

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sp_replay_segments_parse(const char *spec)
{
    if (strcmp(spec, "all") == 0 || strcmp(spec, "first") == 0)
        return SP_OK;
    const char *p = spec;
    if (*p == '\0')
        return SP_EINVAL;
    while (*p) {
        uint64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (uint64_t)(*p++ - '0');
            if (++digits > 10)
                return SP_EINVAL;
        }
        if (digits == 0 || v == 0 || v > UINT32_MAX)
            return SP_EINVAL;
        if (*p == ',' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            return SP_EINVAL;
    }
    return SP_OK;
}

int sp_replay_check_command(const char *cmd, char *err)
{
    char **argv = NULL;
    size_t argc = 0;
    int rc = sp_argv_split(cmd, &argv, &argc, err);
    sp_argv_free(argv);
    return rc;
}

/* Marks the segments a --segments list names; SP_EINVAL with err past the run. */
static int choose_list(sp_replay_seg *segs, size_t n, const char *spec, char *err)
{
    for (const char *p = spec; *p;) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (v == 0 || v > n) {
            sp_errf(err, "--segments: segment %llu is beyond this run's %zu segments", v, n);
            return SP_EINVAL;
        }
        segs[v - 1].chosen = 1;
        segs[v - 1].why |= SP_WHY_ASKED;
        p = *end == ',' ? end + 1 : end;
    }
    return SP_OK;
}

/*
 * Largest relative update of a tensor over the segment,
 * ||W_end - W_start|| / max(||W_start||, ||W_end||), from the bound files;
 * -1 when either file is missing (the genesis has none: segment 1 is always
 * chosen anyway).
 */
static double segment_update(const sp_point *a, const sp_point *b)
{
    if (a->weights == NULL || b->weights == NULL)
        return -1;
    double best = 0;
    size_t n = sp_st_count(b->weights->st);
    for (size_t i = 0; i < n; i++) {
        const sp_tensor *tb = sp_st_tensor(b->weights->st, i);
        const sp_tensor *ta = sp_st_find(a->weights->st, tb->name);
        size_t es = sp_dtype_size(tb->dtype);
        if (ta == NULL || es == 0 || sp_dtype_size(ta->dtype) == 0 ||
            ta->nbytes / sp_dtype_size(ta->dtype) != tb->nbytes / es)
            return -1;
        double d = 0, na = 0, nb = 0;
        for (uint64_t k = 0; k < tb->nbytes / es; k++) {
            double x = sp_elem(ta, k), y = sp_elem(tb, k);
            d += (y - x) * (y - x);
            na += x * x;
            nb += y * y;
        }
        double den = sqrt(na > nb ? na : nb);
        double u = den > 0 ? sqrt(d) / den : 0;
        if (isnan(u))
            return -1;
        if (u > best)
            best = u;
    }
    return best;
}

/* Regenerates the genesis into path (same names, dtypes, shapes). */
static int write_genesis(const Sp__Record *g, const char *path, char *why, size_t cap)
{
    size_t n = g->genesis->n_tensors;
    sp_tensor *t = calloc(n ? n : 1, sizeof *t);
    void **buf = calloc(n ? n : 1, sizeof *buf);
    int rc = t && buf ? SP_OK : SP_ENOMEM;
    for (size_t i = 0; rc == SP_OK && i < n; i++) {
        rc = sp_genesis_materialise(g, i, &t[i], &buf[i]);
        if (rc == SP_EUNSUPPORTED)
            snprintf(why, cap, "genesis tensor '%.150s' is external: there are no initial weights to start from",
                     g->genesis->tensors[i]->name);
    }
    static const char *const meta[] = {"scratchproof.step", "0"};
    if (rc == SP_OK && (rc = sp_st_write(path, t, n, meta, 1)) != SP_OK)
        snprintf(why, cap, "cannot write the regenerated genesis: %s", sp_strerror(rc));
    else if (rc != SP_OK && rc != SP_EUNSUPPORTED)
        snprintf(why, cap, "cannot regenerate the genesis: %s", sp_strerror(rc));
    for (size_t i = 0; buf && i < n; i++)
        free(buf[i]);
    free(buf);
    free(t);
    return rc;
}

typedef struct ctx {
    const sp_replay_opts *o;
    const sp_run_table *tab;
    char **argv;
    char root[4096];
} ctx;

/* "segment 3 (steps 41..60, records 2..3)" */
static void seg_name(char *out, size_t cap, const sp_replay_seg *s)
{
    if (s->first_step > s->last_step)
        snprintf(out, cap, "segment %zu (no steps, records %llu..%llu)", s->index, ull(s->start_seq),
                 ull(s->end_seq));
    else
        snprintf(out, cap, "segment %zu (steps %llu..%llu, records %llu..%llu)", s->index,
                 ull(s->first_step), ull(s->last_step), ull(s->start_seq), ull(s->end_seq));
}

/*
 * Replays one segment with the given math threads and tolerance. Returns
 * 1 ok / 0 failed with detail; SP_EIO / SP_ENOMEM (negative) when the
 * verifier itself cannot go on (no scratch space).
 */
static int replay_one(ctx *c, sp_replay_seg *s, unsigned threads, double tol, const char *tag,
                      char *detail, size_t cap)
{
    const sp_point *a = &c->tab->pts[s->index - 1], *b = &c->tab->pts[s->index];
    s->tolerance = tol >= 0;
    if (s->first_step > s->last_step) {
        const uint64_t nb = b->kind == SP_POINT_FINAL ? b->rec->final->batches : b->rec->checkpoint->batches;
        int same = sodium_memcmp(sp_record_root(a->rec), sp_record_root(b->rec), SP_DIGEST_BYTES) == 0;
        s->max_e = same ? 0 : -1;
        snprintf(detail, cap, same && nb == 0 ? "no steps: end weights equal start weights"
                              : same ? "no steps, yet %llu batch commitments"
                                     : "no steps, yet the weights changed", ull(nb));
        return same && nb == 0;
    }
    char dir[4200], out[4300], log[4300], gpath[4300], first[24], last[24], seed[24];
    snprintf(dir, sizeof dir, "%s/seg%04zu%s", c->root, s->index, tag);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/trainer.log", dir);
    if (mkdir(dir, 0700) != 0 || mkdir(out, 0700) != 0) {
        snprintf(detail, cap, "cannot make the scratch directory %.200s: %s", dir, strerror(errno));
        return SP_EIO;
    }
    const char *weights = NULL, *optimizer = "";
    sp_weight_file gw;
    memset(&gw, 0, sizeof gw);
    if (a->kind == SP_POINT_GENESIS) {
        snprintf(gpath, sizeof gpath, "%s/genesis.safetensors", dir);
        int rc = write_genesis(a->rec, gpath, detail, cap);
        if (rc == SP_ENOMEM || rc == SP_EIO)
            return rc;
        if (rc != SP_OK)
            return 0;
        if (tol >= 0 && sp_weight_file_load(&gw, gpath, c->o->threads, NULL) != SP_OK) {
            snprintf(detail, cap, "cannot read back the regenerated genesis");
            return SP_EIO;
        }
        weights = gpath;
    } else {
        int want_opt = a->rec->checkpoint->optimizer_digest.len == SP_DIGEST_BYTES;
        if (a->weights == NULL || (want_opt && a->optimizer == NULL)) {
            snprintf(detail, cap, "cannot replay steps %llu..%llu: no checkpoint file for record %llu%s",
                     ull(s->first_step), ull(s->last_step), ull(a->seq),
                     a->weights == NULL ? "" : " (optimizer state)");
            return 0;
        }
        weights = a->weights->path;
        optimizer = want_opt ? a->optimizer->path : "";
    }
    snprintf(first, sizeof first, "%llu", ull(s->first_step));
    snprintf(last, sizeof last, "%llu", ull(s->last_step));
    snprintf(seed, sizeof seed, "%llu", ull(c->tab->genesis->genesis->seed));
    sp_placeholders ph = {.weights = weights, .optimizer = optimizer, .first = first,
                          .last = last, .seed = seed, .out = out};
    char **argv = NULL;
    int rc = sp_argv_substitute(&argv, c->argv, &ph);
    if (rc != SP_OK) {
        sp_weight_file_free(&gw);
        return rc;
    }
    int code = 0, sig = 0;
    char err[SP_ERRMSG_MAX] = "";
    rc = sp_spawn(argv, log, threads, &code, &sig, err);
    sp_argv_free(argv);
    if (rc != SP_OK) {
        snprintf(detail, cap, "%s", err);
        sp_weight_file_free(&gw);
        return rc;
    }
    if (code != 0) {
        char tail[400];
        sp_log_tail(tail, sizeof tail, log, 300);
        if (sig != 0)
            snprintf(detail, cap, "the trainer was killed by signal %d; log tail: %s", sig, tail);
        else
            snprintf(detail, cap, "the trainer exited with status %d; log tail: %s", code, tail);
        sp_weight_file_free(&gw);
        return 0;
    }
    char lpath[4400];
    snprintf(lpath, sizeof lpath, "%s/replay.ledger", out);
    sp_replay_judge_in in = {
        .genesis = c->tab->genesis, .start = a->rec, .end = b->rec, .last_step = s->last_step,
        .ledger_path = lpath, .out_dir = out, .tolerance = tol,
        .start_weights = a->kind == SP_POINT_GENESIS ? &gw : a->weights,
        .start_optimizer = a->kind == SP_POINT_GENESIS ? NULL : a->optimizer,
        .end_weights = b->weights, .end_optimizer = b->optimizer, .threads = c->o->threads};
    int ok = sp_replay_judge(&in, s, detail, cap);
    sp_weight_file_free(&gw);
    return ok;
}

static int make_scratch(ctx *c, const sp_replay_opts *o, char *err)
{
    const char *base = o->keep_dir;
    if (base == NULL) {
        base = getenv("TMPDIR");
        if (base == NULL || base[0] == '\0')
            base = "/tmp";
    } else if (mkdir(base, 0700) != 0 && errno != EEXIST) {
        sp_errf(err, "--keep-replays %s: cannot make the directory: %s", base, strerror(errno));
        return SP_EIO;
    }
    snprintf(c->root, sizeof c->root, "%s/scratchproof-replay.XXXXXX", base);
    if (strlen(base) > 3000 || mkdtemp(c->root) == NULL) {
        sp_errf(err, "%s: cannot make a scratch directory for the replays: %s", base, strerror(errno));
        return SP_EIO;
    }
    return SP_OK;
}

static void calibrate(ctx *c, sp_replay_seg *s, sp_report *rep, sp_replay_result *res, int *fatal)
{
    char name[160], d[2][900];
    seg_name(name, sizeof name, s);
    double t0 = now_s();
    int ok = 1;
    for (unsigned k = 0; k < 2 && *fatal == SP_OK; k++) {
        int r = replay_one(c, s, k + 1, INFINITY, k ? "-t2" : "-t1", d[k], sizeof d[k]);
        if (r < 0)
            *fatal = r;
        res->noise[k] = s->max_e;
        ok &= r == 1 && isfinite(s->max_e);
    }
    s->seconds = now_s() - t0;
    s->ran = 1;
    s->ok = ok;
    res->calibrated = ok;
    if (!ok) {
        sp_report_add(rep, "calibrate", 0, "%s: cannot calibrate: at 1 thread: %s; at 2 threads: %s",
                      name, d[0], d[1]);
        return;
    }
    double noise = res->noise[0] > res->noise[1] ? res->noise[0] : res->noise[1];
    s->max_e = noise;
    if (noise == 0) {
        res->suggested_t = 0;
        sp_report_add(rep, "calibrate", 1, "%s: bit for bit at 1 and at 2 threads: no honest noise, "
                      "use exact mode", name);
    } else {
        res->suggested_t = 10 * noise > 1e-6 ? 10 * noise : 1e-6;
        sp_report_add(rep, "calibrate", 1, "%s: honest noise e = %.3g at 1 thread, %.3g at 2 threads "
                      "(%s); suggested --tolerance %.2g (10 x the noise)", name, res->noise[0],
                      res->noise[1], s->worst, res->suggested_t);
    }
}

int sp_replay_run(const sp_replay_opts *o, const sp_run_table *tab, const uint8_t last_digest[SP_DIGEST_BYTES],
                  sp_report *rep, sp_replay_result *res, char *err)
{
    memset(res, 0, sizeof *res);
    res->escape = -1;
    res->tolerance = o->tolerance >= 0 ? o->tolerance : -1;
    if (o->segments != NULL && sp_replay_segments_parse(o->segments) != SP_OK) {
        sp_errf(err, "--segments wants all, first or a list like 1,4,7, not '%s'", o->segments);
        return SP_EINVAL;
    }
    ctx c = {.o = o, .tab = tab};
    size_t argc;
    int rc = sp_argv_split(o->command, &c.argv, &argc, err);
    if (rc != SP_OK)
        return rc;
    if (o->nonce != NULL)
        memcpy(res->nonce, o->nonce, SP_REPLAY_NONCE_BYTES);
    else
        randombytes_buf(res->nonce, SP_REPLAY_NONCE_BYTES);
    sp_hex(res->nonce_hex, res->nonce, SP_REPLAY_NONCE_BYTES);
    if (tab->n < 2) {
        sp_report_add(rep, "replay", 0, "the ledger records no checkpoint or final record: nothing to replay");
        sp_argv_free(c.argv);
        return SP_OK;
    }
    size_t n = tab->n - 1;
    res->segs = calloc(n, sizeof *res->segs);
    if (res->segs == NULL) {
        sp_argv_free(c.argv);
        return SP_ENOMEM;
    }
    res->n_segs = n;
    res->steps_total = tab->pts[n].step;
    for (size_t i = 0; i < n; i++) {
        sp_replay_seg *s = &res->segs[i];
        s->index = i + 1;
        s->first_step = tab->pts[i].step + 1;
        s->last_step = tab->pts[i + 1].step;
        s->start_seq = tab->pts[i].seq;
        s->end_seq = tab->pts[i + 1].seq;
        s->max_e = -1;
        s->update = i == 0 ? -1 : segment_update(&tab->pts[i], &tab->pts[i + 1]);
    }
    if (o->calibrate) {
        res->mode_name = "calibrate";
        size_t k = 1;
        if (o->segments != NULL && strcmp(o->segments, "all") != 0 && strcmp(o->segments, "first") != 0)
            k = strtoull(o->segments, NULL, 10);
        if (k > n) {
            sp_errf(err, "--segments: segment %zu is beyond this run's %zu segments", k, n);
            rc = SP_EINVAL;
            goto out;
        }
        res->segs[k - 1].chosen = 1;
        res->segs[k - 1].why |= o->segments ? SP_WHY_ASKED : SP_WHY_FIRST;
    } else if (o->segments == NULL) {
        res->mode_name = "default";
        sp_draw d;
        sp_draw_init(&d, res->nonce, last_digest);
        res->escape = sp_choose_default(res->segs, n, SP_REPLAY_Q, SP_REPLAY_R, &d);
    } else if (strcmp(o->segments, "all") == 0 || strcmp(o->segments, "first") == 0) {
        int all = o->segments[0] == 'a';
        res->mode_name = all ? "all" : "first";
        for (size_t i = 0; i < (all ? n : 1); i++) {
            res->segs[i].chosen = 1;
            res->segs[i].why |= SP_WHY_ASKED;
        }
        res->escape = all ? 0 : -1;
    } else {
        res->mode_name = "list";
        if ((rc = choose_list(res->segs, n, o->segments, err)) != SP_OK)
            goto out;
    }
    /* Empty segments cost nothing: every one is checked. */
    for (size_t i = 0; i < n && !o->calibrate; i++)
        if (res->segs[i].first_step > res->segs[i].last_step) {
            res->segs[i].chosen = 1;
            res->segs[i].why |= SP_WHY_EMPTY;
        }
    if ((rc = make_scratch(&c, o, err)) != SP_OK)
        goto out;
    snprintf(res->scratch, sizeof res->scratch, "%s", c.root);
    int fatal = SP_OK;
    for (size_t i = 0; i < n && fatal == SP_OK; i++) {
        sp_replay_seg *s = &res->segs[i];
        if (!s->chosen)
            continue;
        res->chosen++;
        if (s->first_step <= s->last_step)
            res->steps_replayed += s->last_step - s->first_step + 1;
        if (o->calibrate) {
            calibrate(&c, s, rep, res, &fatal);
            continue;
        }
        char name[160], detail[900];
        seg_name(name, sizeof name, s);
        double t0 = now_s();
        int r = replay_one(&c, s, 0, o->tolerance, "", detail, sizeof detail);
        s->seconds = now_s() - t0;
        if (r < 0) {
            fatal = r;
            sp_errf(err, "%s: %s", name, detail);
            break;
        }
        s->ran = 1;
        s->ok = r;
        res->failed += !r;
        sp_report_add(rep, "replay", r, "%s: %s", name, detail);
    }
    res->share = res->steps_total ? (double)res->steps_replayed / (double)res->steps_total : 0;
    if (fatal == SP_OK && !o->calibrate) {
        char esc[160] = "";
        if (res->escape >= 0 && strcmp(res->mode_name, "default") == 0)
            snprintf(esc, sizeof esc, "; one forged segment outside the first and the %u largest updates "
                     "escapes the %u random draws with p = %.3f", SP_REPLAY_Q, SP_REPLAY_R, res->escape);
        sp_report_add(rep, "replay-choice", 1, "%zu of %zu segments replayed (%s, %s mode, nonce %s): "
                      "%llu of %llu steps (%.1f%%)%s", res->chosen, n, res->mode_name,
                      o->tolerance >= 0 ? "tolerance" : "exact", res->nonce_hex,
                      ull(res->steps_replayed), ull(res->steps_total), 100 * res->share, esc);
    }
    if (o->keep_dir == NULL && sp_rmtree(c.root) != SP_OK && fatal == SP_OK)
        sp_report_add(rep, "replay-scratch", 1, "could not remove the scratch directory %s", c.root);
    if (o->keep_dir == NULL)
        res->scratch[0] = '\0';
    rc = fatal;
out:
    sp_argv_free(c.argv);
    return rc;
}

void sp_replay_result_free(sp_replay_result *res)
{
    if (res == NULL)
        return;
    free(res->segs);
    memset(res, 0, sizeof *res);
}

static json_t *num_or_null(double x)
{
    return x >= 0 && isfinite(x) ? json_real(x) : x >= 0 ? json_string("inf") : json_null();
}

json_t *sp_replay_json(const sp_replay_result *res)
{
    json_t *segs = json_array();
    static const struct { unsigned bit; const char *name; } whys[] = {
        {SP_WHY_FIRST, "first"}, {SP_WHY_LARGEST, "largest-update"}, {SP_WHY_RANDOM, "random"},
        {SP_WHY_ASKED, "asked"}, {SP_WHY_EMPTY, "empty"}};
    for (size_t i = 0; segs && i < res->n_segs; i++) {
        const sp_replay_seg *s = &res->segs[i];
        json_t *why = json_array();
        for (size_t k = 0; why && k < sizeof whys / sizeof whys[0]; k++)
            if (s->why & whys[k].bit)
                json_array_append_new(why, json_string(whys[k].name));
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:o, s:o, s:b}", "segment", (json_int_t)s->index,
                              "first_step", (json_int_t)s->first_step, "last_step", (json_int_t)s->last_step,
                              "start_record", (json_int_t)s->start_seq, "end_record", (json_int_t)s->end_seq,
                              "chosen", s->chosen, "why", why ? why : json_null(),
                              "update", num_or_null(s->update), "ran", s->ran);
        if (o != NULL && s->ran) {
            json_object_set_new(o, "ok", json_boolean(s->ok));
            json_object_set_new(o, "mode", json_string(s->tolerance ? "tolerance" : "exact"));
            json_object_set_new(o, "max_e", num_or_null(s->max_e));
            json_object_set_new(o, "worst", s->worst[0] ? json_stringn(s->worst, strnlen(s->worst, sizeof s->worst))
                                                        : json_null());
            json_object_set_new(o, "seconds", json_real(s->seconds));
        }
        if (o == NULL || json_array_append_new(segs, o) != 0) {
            json_decref(segs);
            return NULL;
        }
    }
    if (segs == NULL)
        return NULL;
    json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:I, s:I, s:o}",
                          "schema", "scratchproof/replay/v1", "nonce", res->nonce_hex, "mode", res->mode_name ? res->mode_name : "none",
                          "segments_total", (json_int_t)res->n_segs, "segments_chosen", (json_int_t)res->chosen,
                          "steps_total", (json_int_t)res->steps_total,
                          "steps_replayed", (json_int_t)res->steps_replayed, "share", res->share,
                          "escape_probability", num_or_null(res->escape),
                          "tolerance", num_or_null(res->tolerance), "q", (json_int_t)SP_REPLAY_Q,
                          "r", (json_int_t)SP_REPLAY_R, "segments", segs);
    if (r != NULL && res->calibrated)
        json_object_set_new(r, "calibration",
                            json_pack("{s:f, s:f, s:f}", "noise_1_thread", res->noise[0], "noise_2_threads",
                                      res->noise[1], "suggested_tolerance", res->suggested_t));
    if (r != NULL && res->scratch[0])
        json_object_set_new(r, "kept", json_string(res->scratch));
    return r;
}
