/*
 * attack_common.c - the shared part of the proof-of-learning spoofs
 * (SPEC.md 11.9): flags, an honest-looking tinytrain run (genesis, batches,
 * files, records) around checkpoint weights the program makes up.
 */
#include "attack_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int attack_parse(attack *a, int argc, char **argv, const attack_flag *extra, size_t nextra,
                 const char *usage)
{
    enum { NCOMMON = 8, MAXEXTRA = 8 };
    static const char *common[NCOMMON] = { "ledger", "key", "out", "seed", "steps", "every",
                                           "batch", "lr" };
    struct option opts[NCOMMON + MAXEXTRA + 2];
    if (nextra > MAXEXTRA)
        return -1;
    for (int i = 0; i < NCOMMON; i++)
        opts[i] = (struct option){ common[i], required_argument, NULL, 1000 + i };
    for (size_t i = 0; i < nextra; i++)
        opts[NCOMMON + i] = (struct option){ extra[i].name, required_argument, NULL,
                                             2000 + (int)i };
    opts[NCOMMON + nextra] = (struct option){ "help", no_argument, NULL, 'h' };
    opts[NCOMMON + nextra + 1] = (struct option){ 0, 0, 0, 0 };

    memset(a, 0, sizeof *a);
    a->batch = 32;
    a->lr = 0.05;
    int have_seed = 0;
    char e[256];
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'h': fputs(usage, stdout); return 1;
        case 1000: a->ledger = optarg; break;
        case 1001: a->key = optarg; break;
        case 1002: a->out = optarg; break;
        case 1003: bad = parse_u64(optarg, 0, UINT64_MAX, &a->seed); have_seed = 1; break;
        case 1004: bad = parse_u64(optarg, 1, 1000000000, &a->steps); break;
        case 1005: bad = parse_u64(optarg, 1, 1000000000, &a->every); break;
        case 1006: bad = parse_u64(optarg, 1, 65536, &a->batch); break;
        case 1007: {
            char *end = NULL;
            errno = 0;
            a->lr = strtod(optarg, &end);
            bad = errno || end == optarg || *end || !(a->lr > 0.0 && a->lr <= 10.0);
            break;
        }
        default:
            if (ch >= 2000 && ch < 2000 + (int)nextra) {
                *extra[ch - 2000].value = optarg;
                break;
            }
            fprintf(stderr, "%s: unknown option or missing value: %s (see --help)\n",
                    tt_progname, tt_esc(e, sizeof e, argv[optind - 1]));
            return -1;
        }
        if (bad) {
            fprintf(stderr, "%s: --%s: bad value '%s' (see --help)\n", tt_progname,
                    common[ch - 1000], tt_esc(e, sizeof e, optarg));
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument: %s (see --help)\n", tt_progname,
                tt_esc(e, sizeof e, argv[optind]));
        return -1;
    }
    const char *missing = !a->ledger ? "ledger" : !a->key ? "key" : !a->out ? "out"
                        : !have_seed ? "seed" : !a->steps ? "steps" : !a->every ? "every" : NULL;
    for (size_t i = 0; i < nextra && !missing; i++)
        if (extra[i].required && !*extra[i].value)
            missing = extra[i].name;
    if (missing) {
        fprintf(stderr, "%s: --%s is required (see --help)\n", tt_progname, missing);
        return -1;
    }
    return 0;
}

static int hook_failed(const attack *a, const char *what, int rc)
{
    char e[SP_ERRMSG_MAX + 64];
    fprintf(stderr, "%s: %s: %s: %s\n", tt_progname, what, sp_strerror(rc),
            a->run ? tt_esc(e, sizeof e, sp_run_errmsg(a->run)) : "");
    return 1;
}

int attack_begin(attack *a)
{
    char e[512], path[4096], name[160], cfg[512];
    if ((mkdir(a->out, 0777) != 0 && errno != EEXIST)) {
        fprintf(stderr, "%s: --out %s: %s\n", tt_progname, tt_esc(e, sizeof e, a->out),
                strerror(errno));
        return 2;
    }
    a->text = tt_make_text();
    a->batchbuf = malloc((size_t)a->batch * TT_SEQ);
    if (!a->text || !a->batchbuf || tt_model_alloc(&a->md) != 0
        || tt_workers_create(&a->wk, &a->md, 1) != 0) {
        fprintf(stderr, "%s: out of memory\n", tt_progname);
        return 1;
    }
    for (int i = 0; i < TT_NPARAMS; i++) {
        a->w[i] = tt_describe(&a->md, a->md.p, i, TT_PARAMS[i].name);
        a->opt[i] = tt_describe(&a->md, a->md.m, i, TT_PARAMS[i].opt_name);
    }
    /* exactly tinytrain's configuration bytes, file and digest (SPEC.md 11.6) */
    size_t n = tt_config_text(cfg, sizeof cfg, a->batch, 1, a->lr);
    uint8_t digest[SP_DIGEST_BYTES];
    snprintf(path, sizeof path, "%s/tinytrain.config", a->out);
    FILE *f = fopen(path, "wb");
    int wrote = f && fwrite(cfg, 1, n, f) == n;
    if (f && fclose(f) != 0)
        wrote = 0;
    if (n == 0 || !wrote || sp_config_digest(digest, cfg, n) != SP_OK) {
        fprintf(stderr, "%s: cannot write %s\n", tt_progname, tt_esc(e, sizeof e, path));
        return 1;
    }
    tt_model_name(name, sizeof name, a->batch, a->lr);
    sp_run_options o = { .ledger_path = a->ledger, .key_path = a->key, .seed = a->seed,
                         .model_name = name, .config_digest = digest, .batches_per_step = 1 };
    int rc = sp_run_open(&a->run, &o);
    if (rc != SP_OK) {
        fprintf(stderr, "%s: cannot open the run (ledger %s): %s\n", tt_progname,
                tt_esc(e, sizeof e, a->ledger), sp_strerror(rc));
        return rc == SP_EKEY ? 2 : 1;
    }
    sp_record_tensor gen[TT_NPARAMS];
    for (int i = 0; i < TT_NPARAMS; i++) {
        gen[i].t = a->w[i];
        gen[i].init = tt_scheme(i);
        rc = sp_init_fill(a->md.p[i], SP_DTYPE_F32, TT_PARAMS[i].name, a->seed, &gen[i].init,
                          0, a->md.numel[i]);
        if (rc != SP_OK)
            return hook_failed(a, "init", rc);
    }
    rc = sp_run_genesis(a->run, gen, TT_NPARAMS);
    return rc == SP_OK ? 0 : hook_failed(a, "genesis", rc);
}

int attack_commit(attack *a, uint64_t step)
{
    tt_make_batch(a->batchbuf, a->text, step, (uint32_t)a->batch);
    int rc = sp_run_commit_batch(a->run, step, a->batchbuf, (size_t)a->batch * TT_SEQ);
    return rc == SP_OK ? 0 : hook_failed(a, "batch commitment", rc);
}

double attack_loss(attack *a, uint64_t step)
{
    const uint32_t nb = (uint32_t)a->batch;
    tt_make_batch(a->batchbuf, a->text, step, nb);
    tt_zero_grad(&a->md);
    return tt_accumulate(&a->md, a->wk, a->batchbuf, nb, nb * TT_PRED) / (nb * TT_PRED);
}

int attack_checkpoint(attack *a, uint64_t step)
{
    char name[32];
    snprintf(name, sizeof name, "step%06" PRIu64, step);
    if (tt_write_files(a->out, name, step, a->w, a->opt) != 0)
        return 1;
    sp_checkpoint_info info = { .step = step, .tokens = step * a->batch * TT_PRED,
                                .loss = attack_loss(a, step), .lr = a->lr,
                                .optimizer = a->opt, .n_optimizer = TT_NPARAMS };
    int rc = sp_run_checkpoint(a->run, &info, a->w, TT_NPARAMS);
    return rc == SP_OK ? 0 : hook_failed(a, "checkpoint", rc);
}

int attack_final(attack *a)
{
    if (tt_write_files(a->out, "final", a->steps, a->w, NULL) != 0)
        return 1;
    int rc = sp_run_final(a->run, a->steps, a->w, TT_NPARAMS);
    return rc == SP_OK ? 0 : hook_failed(a, "final", rc);
}

int attack_end(attack *a, int code)
{
    sp_run_close(a->run);
    a->run = NULL;
    tt_workers_free(a->wk);
    tt_model_free(&a->md);
    free(a->text);
    free(a->batchbuf);
    return code;
}
