/*
 * tinytrain.c - a small deterministic trainer that uses only the public API
 * (SPEC.md 11): the run itself, in training mode and in replay mode.
 *
 * Training: the genesis (deterministic initialiser, or --init-from weights
 * recorded as external), a batch commitment per step (per micro-batch with
 * --micro), a checkpoint every --every steps (weights in
 * DIR/stepNNNNNN.safetensors, momentum in DIR/stepNNNNNN.opt.safetensors),
 * the final weights (DIR/final.safetensors) last; DIR/tinytrain.config holds
 * the configuration bytes whose digest the genesis records.
 * Replay (SPEC.md 11.7, the trainer side of SPEC.md 12): steps F..L from given
 * weights and momentum, recorded under an ephemeral key in DIR/replay.ledger,
 * ending with DIR/stepLLLLLL files and a checkpoint record.
 * The test-only impostor modes (SPEC.md 11.8) keep the genesis and every
 * signature honest and put the lie in the weights.
 * The model, data and maths are in tinytrain_model.c, the flags in
 * tinytrain_args.c.
 */
#include "tinytrain.h"
#include "tinytrain_model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct trainer {
    const tt_config *c;
    sp_run *run;
    tt_model *md;
    tt_workers *wk;
    const uint8_t *text;
    uint8_t *batch;                /* c->batch * TT_SEQ bytes */
    tt_model *splice;              /* --splice-from/--splice-optimizer state, or NULL */
    sp_tensor w[TT_NPARAMS], opt[TT_NPARAMS];
} trainer;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Prints a failed hook call and returns exit code 1. */
static int hook_failed(const sp_run *run, const char *what, int rc)
{
    char e[SP_ERRMSG_MAX + 64];
    fprintf(stderr, "tinytrain: %s: %s%s%s\n", what, sp_strerror(rc),
            run && sp_run_errmsg(run)[0] ? ": " : "",
            run ? tt_esc(e, sizeof e, sp_run_errmsg(run)) : "");
    return 1;
}

/* Writes the checkpoint files of a step, then records them. Exit code. */
static int checkpoint(trainer *t, uint64_t step, double loss)
{
    char name[32];
    snprintf(name, sizeof name, "step%06" PRIu64, step);
    if (tt_write_files_sharded(t->c->out, name, step, t->w, t->opt, (unsigned)t->c->shards) != 0)
        return 1;
    sp_checkpoint_info info = { .step = step, .tokens = step * t->c->batch * TT_PRED,
                                .loss = loss, .lr = t->c->lr,
                                .optimizer = t->opt, .n_optimizer = TT_NPARAMS };
    int rc = sp_run_checkpoint(t->run, &info, t->w, TT_NPARAMS);
    return rc == SP_OK ? 0 : hook_failed(t->run, "checkpoint", rc);
}

/* --splice-*: replaces the (matching) weights and/or momentum before an update. */
static void splice_now(trainer *t)
{
    const tt_config *c = t->c;
    for (int i = 0; i < TT_NPARAMS; i++) {
        if (!tt_matches(TT_PARAMS[i].name, c->splice_prefix))
            continue;
        if (c->splice_from)
            memcpy(t->md->p[i], t->splice->p[i], t->md->numel[i] * sizeof(float));
        if (c->splice_opt)
            memcpy(t->md->m[i], t->splice->m[i], t->md->numel[i] * sizeof(float));
    }
}

/*
 * One step, the same in training and replay: the step's batch, one
 * commitment per micro-batch (micro-batch m is sequences
 * [m*B/M, (m+1)*B/M)), their gradients accumulated into one mean over the
 * batch, one SGD update. *loss is the step's mean loss. Exit code.
 */
static int step_once(trainer *t, uint64_t step, double *loss)
{
    const tt_config *c = t->c;
    const uint32_t nb = (uint32_t)c->batch, nm = (uint32_t)c->micro;
    tt_make_batch(t->batch, t->text, step, nb);
    int skip = step >= c->skip_first && step <= c->skip_last;
    if (c->splice_at == step)
        splice_now(t);
    tt_zero_grad(t->md);
    double sum = 0.0;
    for (uint32_t m = 0; m < nm; m++) {
        const uint32_t lo = (uint32_t)((uint64_t)nb * m / nm);
        const uint32_t hi = (uint32_t)((uint64_t)nb * (m + 1) / nm);
        const uint8_t *seqs = t->batch + (size_t)lo * TT_SEQ;
        if (!skip) {
            int rc = sp_run_commit_batch(t->run, step, seqs, (size_t)(hi - lo) * TT_SEQ);
            if (rc != SP_OK)
                return hook_failed(t->run, "batch commitment", rc);
        }
        sum += tt_accumulate(t->md, t->wk, seqs, hi - lo, nb * TT_PRED);
    }
    *loss = sum / (nb * TT_PRED);
    tt_sgd_step(t->md, (float)c->lr);
    return 0;
}

/* Records the genesis of the weights now in md with their schemes. Exit code. */
static int genesis(trainer *t)
{
    const tt_config *c = t->c;
    sp_record_tensor gen[TT_NPARAMS];
    for (int i = 0; i < TT_NPARAMS; i++) {
        gen[i].t = t->w[i];
        gen[i].init = tt_scheme(i);
        if (c->init_zeros && gen[i].init.kind != SP_INIT_CONSTANT) {
            memset(&gen[i].init, 0, sizeof gen[i].init);
            gen[i].init.kind = SP_INIT_ZEROS;
        }
        if (c->init_from || c->replay) {
            memset(&gen[i].init, 0, sizeof gen[i].init);
            gen[i].init.kind = SP_INIT_EXTERNAL;
        }
    }
    if (c->write_genesis && tt_write_files_sharded(c->out, "step000000", 0, t->w, NULL,
                                                   (unsigned)c->shards) != 0)
        return 1;
    int rc = sp_run_genesis(t->run, gen, TT_NPARAMS);
    return rc == SP_OK ? 0 : hook_failed(t->run, "genesis", rc);
}

/* Training mode, after the run is open. Returns the exit code. */
static int train(trainer *t)
{
    const tt_config *c = t->c;
    int code = genesis(t);
    double window = 0.0;
    for (uint64_t step = 1; step <= c->steps && code == 0; step++) {
        double loss = 0.0;
        if ((code = step_once(t, step, &loss)) != 0)
            break;
        window += loss;
        if (step % c->every != 0)
            continue;
        if ((code = checkpoint(t, step, loss)) != 0)
            break;
        if (!c->quiet)
            fprintf(stderr, "tinytrain: step %" PRIu64 "/%" PRIu64 " loss %.4f (mean of last %"
                    PRIu64 ": %.4f) tokens %" PRIu64 "\n", step, c->steps, loss, c->every,
                    window / (double)c->every, step * c->batch * TT_PRED);
        window = 0.0;
    }
    if (code == 0 && tt_write_files_sharded(c->out, "final", c->steps, t->w, NULL,
                                            (unsigned)c->shards) != 0)
        code = 1;
    int rc;
    if (code == 0 && (rc = sp_run_final(t->run, c->steps, t->w, TT_NPARAMS)) != SP_OK)
        code = hook_failed(t->run, "final", rc);
    return code;
}

/* Replay mode (SPEC.md 11.7), after the run is open. Returns the exit code. */
static int replay(trainer *t)
{
    const tt_config *c = t->c;
    int code = genesis(t);
    double loss = 0.0;
    for (uint64_t step = c->first; step <= c->last && code == 0; step++)
        code = step_once(t, step, &loss);
    if (code == 0)
        code = checkpoint(t, c->last, loss);
    if (code == 0 && !c->quiet)
        fprintf(stderr, "tinytrain: replayed steps %" PRIu64 "..%" PRIu64 ", loss at step %"
                PRIu64 " %.4f\n", c->first, c->last, c->last, loss);
    return code;
}

/* The start state: initialiser, --init-from or the replay's files. Exit code. */
static int load_start(const tt_config *c, tt_model *md, tt_model *splice)
{
    if (c->replay) {
        if (tt_load_tensors(md, md->p, 0, c->replay_from, NULL, "--replay-from") != 0)
            return 2;
        if (c->replay_opt[0] && tt_load_tensors(md, md->m, 1, c->replay_opt, NULL,
                                             "--replay-optimizer") != 0)
            return 2;
        return 0;
    }
    if (c->splice_from && tt_load_tensors(splice, splice->p, 0, c->splice_from, c->splice_prefix,
                                       "--splice-from") != 0)
        return 2;
    if (c->splice_opt && tt_load_tensors(splice, splice->m, 1, c->splice_opt, c->splice_prefix,
                                      "--splice-optimizer") != 0)
        return 2;
    if (c->init_from)
        return tt_load_tensors(md, md->p, 0, c->init_from, NULL, "--init-from") != 0 ? 2 : 0;
    for (int i = 0; i < TT_NPARAMS; i++) {
        sp_init_scheme s = tt_scheme(i);
        if (c->init_zeros && s.kind != SP_INIT_CONSTANT) {
            memset(&s, 0, sizeof s);
            s.kind = SP_INIT_ZEROS;
        }
        int rc = sp_init_fill(md->p[i], SP_DTYPE_F32, TT_PARAMS[i].name, c->seed, &s,
                              0, md->numel[i]);
        if (rc != SP_OK) {
            fprintf(stderr, "tinytrain: init of %s: %s\n", TT_PARAMS[i].name, sp_strerror(rc));
            return 1;
        }
    }
    return 0;
}

/* Writes DIR/tinytrain.config (training mode). 0 or -1 after an error line. */
static int write_config(const char *out, const char *text, size_t len)
{
    char path[4096], e[512];
    if ((size_t)snprintf(path, sizeof path, "%s/tinytrain.config", out) >= sizeof path) {
        fprintf(stderr, "tinytrain: output path too long\n");
        return -1;
    }
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "tinytrain: cannot write %s: %s\n", tt_esc(e, sizeof e, path),
                strerror(errno));
    return ok ? 0 : -1;
}

/* Opens the run (training or replay) and runs it. Returns the exit code. */
static int run_all(const tt_config *c, trainer *t, const double t0)
{
    char model_name[160], cfg[512], ledger[4096], e[512], e2[512];
    uint8_t cfg_digest[SP_DIGEST_BYTES];
    tt_model_name(model_name, sizeof model_name, c->batch, c->lr);
    size_t cfg_len = tt_config_text(cfg, sizeof cfg, c->batch, c->micro, c->lr);
    if (cfg_len == 0 || sp_config_digest(cfg_digest, cfg, cfg_len) != SP_OK) {
        fprintf(stderr, "tinytrain: cannot make the configuration digest\n");
        return 1;
    }
    if (!c->replay && write_config(c->out, cfg, cfg_len) != 0)
        return 1;
    if (c->replay && (size_t)snprintf(ledger, sizeof ledger, "%s/replay.ledger", c->out)
                     >= sizeof ledger) {
        fprintf(stderr, "tinytrain: output path too long\n");
        return 2;
    }
    sp_run_options o = { .ledger_path = c->replay ? ledger : c->ledger,
                         .key_path = c->replay ? NULL : c->key, .seed = c->seed,
                         .model_name = model_name, .config_digest = cfg_digest,
                         .threads = (unsigned)c->threads,
                         .flags = c->replay ? SP_RUN_REPLAY : 0,
                         .batches_per_step = (uint32_t)c->micro };
    char open_err[SP_ERRMSG_MAX] = "", e3[SP_ERRMSG_MAX + 64];
    o.err = open_err;
    int rc = sp_run_open(&t->run, &o);
    if (rc != SP_OK) {
        /* An unusable key file is unreadable input (2); the rest is the hook's (1). */
        fprintf(stderr, "tinytrain: cannot open the run (ledger %s, key %s): %s%s\n",
                tt_esc(e, sizeof e, o.ledger_path), c->replay ? "ephemeral"
                : tt_esc(e2, sizeof e2, c->key),
                open_err[0] ? tt_esc(e3, sizeof e3, open_err) : sp_strerror(rc), rc == SP_EBADSTATE
                ? " (the ledger already holds records: give a new --ledger path)" : "");
        return rc == SP_EKEY ? 2 : 1;
    }
    int code = c->replay ? replay(t) : train(t);
    double hook = sp_run_hook_seconds(t->run);
    sp_run_close(t->run);
    t->run = NULL;
    double wall = now_seconds() - t0;
    if (code == 0 && c->stats)
        printf("tinytrain.wall_seconds %.6f\ntinytrain.hook_seconds %.6f\n"
               "tinytrain.hook_fraction %.6f\n", wall, hook, wall > 0 ? hook / wall : 0.0);
    return code;
}

int main(int argc, char **argv)
{
    tt_config c;
    int pa = tt_parse_args(argc, argv, &c);
    if (pa == 1) {
        tt_usage(stdout);
        return 0;
    }
    if (pa != 0)
        return 2;
    const double t0 = now_seconds();
    char e[512];
    if (mkdir(c.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tinytrain: --out %s: cannot create: %s\n", tt_esc(e, sizeof e, c.out),
                strerror(errno));
        return 2;
    }
    struct stat st;
    if (stat(c.out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tinytrain: --out %s is not a directory\n", tt_esc(e, sizeof e, c.out));
        return 2;
    }
    tt_model md, splice;
    memset(&md, 0, sizeof md);
    memset(&splice, 0, sizeof splice);
    trainer t;
    memset(&t, 0, sizeof t);
    uint8_t *text = tt_make_text();
    int code = 0;
    if (!text || tt_model_alloc(&md) != 0
        || ((c.splice_from || c.splice_opt) && tt_model_alloc(&splice) != 0)
        || tt_workers_create(&t.wk, &md, (unsigned)c.math_threads) != 0
        || !(t.batch = malloc((size_t)c.batch * TT_SEQ))) {
        fprintf(stderr, "tinytrain: out of memory\n");
        code = 1;
    }
    if (code == 0)
        code = load_start(&c, &md, &splice);
    if (code == 0) {
        t.c = &c;
        t.md = &md;
        t.text = text;
        t.splice = splice.all ? &splice : NULL;
        for (int i = 0; i < TT_NPARAMS; i++) {
            t.w[i] = tt_describe(&md, md.p, i, TT_PARAMS[i].name);
            t.opt[i] = tt_describe(&md, md.m, i, TT_PARAMS[i].opt_name);
        }
        code = run_all(&c, &t, t0);
    }
    tt_workers_free(t.wk);
    free(t.batch);
    tt_model_free(&md);
    tt_model_free(&splice);
    free(text);
    return code;
}
