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

#include "delta.h"
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
 * Largest relative update of a tensor over segment seg (0-based),
 * ||W_end - W_start|| / max(||W_start||, ||W_end||) (delta.h); -1 when a
 * tensor cannot be read (no bound file).
 */
static double segment_update(const sp_run_table *tab, size_t seg, unsigned threads)
{
    size_t nt = sp_delta_ntensors(tab);
    sp_tensor_delta *d = calloc(nt ? nt : 1, sizeof *d);
    if (d == NULL || sp_delta_segment(d, tab, seg, threads) != SP_OK) {
        free(d);
        return -1;
    }
    double best = 0;
    for (size_t i = 0; i < nt; i++) {
        double den = d[i].start > d[i].end ? d[i].start : d[i].end;
        double u = den > 0 ? d[i].diff / den : 0;
        if (d[i].rc != SP_OK || isnan(u)) {
            best = -1;
            break;
        }
        if (u > best)
            best = u;
    }
    free(d);
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
    /* progress (o->progress): segments finished and chosen, steps executed and to execute */
    size_t segs_done, segs_total;
    uint64_t steps_done, steps_total;
} ctx;

/* Reports progress (a spawn tick too: then it only redraws the rate and ETA). */
static void progress(void *arg)
{
    const ctx *c = arg;
    if (c->o->progress != NULL && c->steps_total > 0)
        c->o->progress(c->o->progress_ctx, c->segs_done, c->segs_total, c->steps_done, c->steps_total);
}

static uint64_t seg_steps(const sp_replay_seg *s)
{
    return s->first_step <= s->last_step ? s->last_step - s->first_step + 1 : 0;
}

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
    if (a->kind == SP_POINT_GENESIS) {
        snprintf(gpath, sizeof gpath, "%s/genesis.safetensors", dir);
        int rc = write_genesis(a->rec, gpath, detail, cap);
        if (rc == SP_ENOMEM || rc == SP_EIO)
            return rc;
        if (rc != SP_OK)
            return 0;
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
    if (rc != SP_OK)
        return rc;
    int code = 0, sig = 0, timed_out = 0;
    char err[SP_ERRMSG_MAX] = "";
    progress(c);
    sp_spawn_opts so = {.timeout_s = c->o->timeout_s, .tick = c->o->progress ? progress : NULL, .tick_ctx = c};
    rc = sp_spawn(argv, log, threads, &so, &code, &sig, &timed_out, err);
    sp_argv_free(argv);
    c->steps_done += seg_steps(s);   /* executed, whatever the verdict */
    progress(c);
    if (rc != SP_OK) {
        snprintf(detail, cap, "%s", err);
        return rc;
    }
    if (code != 0) {
        char tail[400];
        sp_log_tail(tail, sizeof tail, log, 300);
        if (timed_out)
            snprintf(detail, cap, "the trainer did not finish within --replay-timeout %g s and was stopped; log tail: %s",
                     c->o->timeout_s, tail);
        else if (sig != 0)
            snprintf(detail, cap, "the trainer was killed by signal %d; log tail: %s", sig, tail);
        else
            snprintf(detail, cap, "the trainer exited with status %d; log tail: %s", code, tail);
        return 0;
    }
    char lpath[4400];
    snprintf(lpath, sizeof lpath, "%s/replay.ledger", out);
    sp_replay_judge_in in = {
        .tab = c->tab, .start_point = s->index - 1, .genesis = c->tab->genesis, .start = a->rec, .end = b->rec, .last_step = s->last_step,
        .ledger_path = lpath, .out_dir = out, .tolerance = tol,
        .start_optimizer = a->kind == SP_POINT_GENESIS ? NULL : a->optimizer,
        .end_weights = b->weights, .end_optimizer = b->optimizer, .threads = c->o->threads};
    return sp_replay_judge(&in, s, detail, cap);
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

/*
 * Calibration of one segment: replayed at 1 and at 2 math threads, each
 * measured against the recorded end (e per tensor, SPEC.md 12.5). The
 * segment's max_e is the larger noise; res->noise[k] the largest over every
 * calibrated segment. Returns 1 measured, 0 not (a check says why).
 */
static int calibrate(ctx *c, sp_replay_seg *s, sp_report *rep, sp_replay_result *res, int *fatal)
{
    char name[160], d[2][900], worst[sizeof s->worst] = "";
    double noise[2] = {0, 0};
    seg_name(name, sizeof name, s);
    double t0 = now_s();
    int ok = 1;
    for (unsigned k = 0; k < 2 && *fatal == SP_OK; k++) {
        s->worst[0] = '\0';
        int r = replay_one(c, s, k + 1, INFINITY, k ? "-t2" : "-t1", d[k], sizeof d[k]);
        if (r < 0)
            *fatal = r;
        noise[k] = s->max_e;
        ok &= r == 1 && isfinite(s->max_e);
        if (k == 0 || noise[1] > noise[0])
            memcpy(worst, s->worst, sizeof worst);
    }
    memcpy(s->worst, worst, sizeof worst);
    s->seconds = now_s() - t0;
    s->ran = 1;
    s->ok = ok;
    if (!ok) {
        sp_report_addf(rep, "calibrate", 0, SP_AT_SEQ_STEP(s->end_seq, s->last_step), "%s: cannot calibrate: at 1 thread: %s; at 2 threads: %s",
                      name, *fatal == SP_OK ? d[0] : "", *fatal == SP_OK ? d[1] : "");
        return 0;
    }
    s->max_e = noise[0] > noise[1] ? noise[0] : noise[1];
    for (unsigned k = 0; k < 2; k++)
        if (noise[k] > res->noise[k])
            res->noise[k] = noise[k];
    if (s->max_e == 0)
        sp_report_addf(rep, "calibrate", 1, SP_AT_SEQ_STEP(s->end_seq, s->last_step), "%s: bit for bit at 1 and at 2 threads", name);
    else
        sp_report_addf(rep, "calibrate", 1, SP_AT_SEQ_STEP(s->end_seq, s->last_step), "%s: honest noise e = %.3g at 1 thread, %.3g at 2 threads (%s)",
                      name, noise[0], noise[1], s->worst);
    return 1;
}

/* The summary of a calibration: the suggested T (SPEC.md 12.5). */
static void calibrate_summary(sp_replay_result *res, size_t measured, sp_report *rep)
{
    if (measured == 0 || measured != res->chosen)
        return;
    res->calibrated = 1;
    double noise = res->noise[0] > res->noise[1] ? res->noise[0] : res->noise[1];
    if (noise == 0) {
        res->suggested_t = 0;
        sp_report_add(rep, "calibrate", 1, "%zu segment%s bit for bit at 1 and 2 threads: no honest noise, "
                      "use exact mode", measured, measured == 1 ? "" : "s");
    } else {
        res->suggested_t = 10 * noise > 1e-6 ? 10 * noise : 1e-6;
        sp_report_add(rep, "calibrate", 1, "largest honest noise over %zu segment%s e = %.3g: suggested "
                      "--tolerance %.2g (10 x the noise); noise grows along a run, so calibrate the "
                      "segments you replay", measured, measured == 1 ? "" : "s", noise, res->suggested_t);
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
        s->update = segment_update(tab, i, o->threads);
    }
    if (o->calibrate && o->segments == NULL) {
        res->mode_name = "calibrate";
        res->segs[0].chosen = 1;
        res->segs[0].why |= SP_WHY_FIRST;
    } else if (o->segments == NULL) {
        res->mode_name = "default";
        sp_draw d;
        sp_draw_init(&d, res->nonce, last_digest);
        res->escape = sp_choose_default(res->segs, n, SP_REPLAY_Q, SP_REPLAY_R, &d);
    } else if (strcmp(o->segments, "all") == 0 || strcmp(o->segments, "first") == 0) {
        int all = o->segments[0] == 'a';
        res->mode_name = o->calibrate ? "calibrate" : all ? "all" : "first";
        for (size_t i = 0; i < (all ? n : 1); i++) {
            res->segs[i].chosen = 1;
            res->segs[i].why |= SP_WHY_ASKED;
        }
        res->escape = all ? 0 : -1;
    } else {
        res->mode_name = o->calibrate ? "calibrate" : "list";
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
    size_t measured = 0;
    for (size_t i = 0; i < n; i++) {
        const sp_replay_seg *s = &res->segs[i];
        if (!s->chosen || (o->calibrate && s->first_step > s->last_step))
            continue;
        c.segs_total++;
        c.steps_total += (o->calibrate ? 2 : 1) * seg_steps(s);
    }
    for (size_t i = 0; i < n && fatal == SP_OK; i++) {
        sp_replay_seg *s = &res->segs[i];
        if (!s->chosen || (o->calibrate && s->first_step > s->last_step))
            continue;     /* calibration measures segments with steps only */
        res->chosen++;
        if (s->first_step <= s->last_step)
            res->steps_replayed += s->last_step - s->first_step + 1;
        if (o->calibrate) {
            measured += calibrate(&c, s, rep, res, &fatal);
            c.segs_done++;
            progress(&c);
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
        c.segs_done++;
        progress(&c);
        sp_report_addf(rep, "replay", r, &(const sp_check_fields){.has_seq = 1, .seq = s->end_seq,
                       .has_step = 1, .step = s->last_step, .tensor = s->worst[0] ? s->worst : NULL},
                       "%s: %s", name, detail);
    }
    if (fatal == SP_OK && o->calibrate)
        calibrate_summary(res, measured, rep);
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
            json_object_set_new(o, "worst", s->worst[0] ? sp_json_str(s->worst) : json_null());
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
        json_object_set_new(r, "kept", sp_json_str(res->scratch));
    return r;
}
