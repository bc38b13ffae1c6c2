/*
 * cmd_record.c - `scratchproof record KIND ...`: appends one record for a
 * trainer that only writes safetensors files (one process per record, so the
 * run is resumed from the ledger each time; the batch chain stays empty).
 * genesis picks each tensor's scheme by the most specific --scheme (SPEC.md
 * 8.1) and regenerates the tensor before recording it: a scheme the file
 * does not match is refused (or, with --external, recorded as external).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "audit.h"
#include "cli_schemes.h"
#include "escape.h"
#include "init.h"
#include "layout.h"
#include "scratchproof.h"

#define BATCH_LIST_MAX (256u << 20)   /* bytes of a --batches list */
#define BATCH_MAX (UINT64_C(1) << 32)  /* bytes of one batch file */

static const char record_usage[] =
    "usage: scratchproof record genesis    --ledger L --key K --seed N [--model-name S]\n"
    "                                      [--scheme GLOB=SCHEME]... [--external] FILE\n"
    "       scratchproof record checkpoint --ledger L --key K --step N [--tokens N]\n"
    "                                      [--loss X] [--lr X] [--batches LIST] FILE\n"
    "       scratchproof record final      --ledger L --key K --step N [--batches LIST] FILE\n"
    "Appends one signed record for the weights in FILE: a .safetensors file, or a\n"
    "sharded model given as its *.safetensors.index.json or its directory (the\n"
    "tensors of every shard, recorded as one list).\n"
    "genesis starts a new ledger; each tensor is recorded with the scheme of the\n"
    "most specific --scheme whose GLOB matches its name ('*' any run, '?' one\n"
    "character); matching globs of which none is the most specific must agree;\n"
    "a tensor no GLOB matches is recorded as 'external' (loaded, not from scratch).\n"
    "Each tensor is regenerated from the seed and its scheme and must equal the\n"
    "file's; one that does not is refused, unless --external records it as\n"
    "'external'. (--no-regenerate records the schemes unchecked: only for building\n"
    "a lying genesis to test a verifier, which then reports it.)\n"
    "GLOB[A:B)=SCHEME gives rows A..B-1 of a tensor's first dimension ([A:) to the last\n"
    "row) their own scheme over its whole-tensor one (a padded vocabulary's rows).\n"
    "SCHEME: zeros | constant:V | uniform:LO:HI | normal:MEAN:STD |\n"
    "trunc_normal:MEAN:STD:LO:HI | uniform32:LO:HI | normal32:MEAN:STD | orthogonal[:GAIN] |\n"
    "external. 'scratchproof init' writes such a file.\n"
    "An encrypted KEY takes its passphrase from --passphrase-fd N,\n"
    "SCRATCHPROOF_PASSPHRASE_FD, SCRATCHPROOF_PASSPHRASE_FILE or the terminal.\n"
    "--batches LIST commits the data batches of the steps since the previous record\n"
    "before a checkpoint or final record: one line per batch, 'STEP FILE', FILE (relative\n"
    "to LIST's directory) holding the bytes the job trained on at STEP; verify checks\n"
    "that every step has its batch.\n"
    "verify then regenerates every non-external tensor from the seed.\n";

/* One line on stderr, file, name and scheme escaped: "FILE: tensor 'NAME' is not scheme S from seed N; recorded as external". */
static void note_external(const char *file, const char *name, const char *text, uint64_t seed)
{
    fputs("scratchproof record: ", stderr);
    (void)sp_escape_fputs(file, stderr);
    fputs(": tensor '", stderr);
    (void)sp_escape_fputs(name, stderr);
    fputs("' is not scheme ", stderr);
    (void)sp_escape_fputs(text, stderr);
    fprintf(stderr, " from seed %llu; recorded as external\n", (unsigned long long)seed);
}

/*
 * Schemes for the genesis: rt[i].init from the rules, then every generated
 * tensor regenerated and compared with the file (sodium_memcmp on digests).
 * Returns 0, or 2 after one line on stderr naming the file and the tensor.
 */
static int genesis_schemes(const char *file, sp_record_tensor *rt, size_t n, const sp_cli_rule *rules,
                           size_t nrules, uint64_t seed, int external, int regenerate,
                           unsigned threads, size_t *rule_of, sp_init_ranges *ranges)
{
    /* first every tensor's rule, so an ambiguity is named before any regeneration */
    for (size_t i = 0; i < n; i++) {
        rule_of[i] = nrules;
        const char *name = rt[i].t.name;
        size_t k = 0, a = 0, b = 0;
        int rc = sp_cli_pick_rule(rules, nrules, name, &k, &a, &b);
        if (rc == SP_EINVAL)
            return sp_cli_usage_error("record", "%s: tensor '%s' matches --scheme '%s=%s' and '%s=%s' "
                                      "and neither is more specific; add a --scheme for it",
                                      file, name, rules[a].glob, rules[a].text, rules[b].glob,
                                      rules[b].text);
        char err[SP_ERRMSG_MAX] = "";
        sp_init_range *rr = NULL;
        size_t nr = 0;
        sp_init_scheme one;
        memset(&one, 0xff, sizeof one);   /* set only when the ranges merge into one scheme */
        if (rc == SP_OK) {
            rt[i].init = rules[k].s;
            if (sp_cli_bind_scheme(&rt[i].init, &rt[i].t) != SP_OK)
                return sp_cli_usage_error("record", "%s: tensor '%s': orthogonal needs a matrix of "
                                          "2 or more dimensions, at most 2^24 elements and "
                                          "rows*cols*min(rows, cols) at most 2^36 (--scheme '%s=%s')",
                                          file, name, rules[k].glob, rules[k].text);
        }
        if (sp_cli_paint_ranges(rules, nrules, &rt[i].t, rc == SP_OK ? &rt[i].init : NULL, &one,
                                &rr, &nr, err) != SP_OK)
            return sp_cli_usage_error("record", "%s: %s", file, err);
        if (nr > 0) {   /* per-range schemes: no scheme of its own (SPEC.md 6.10) */
            memset(&rt[i].init, 0, sizeof rt[i].init);
            ranges[i].range = rr;
            ranges[i].n = nr;
            rule_of[i] = nrules + 1;
            continue;
        }
        if (one.kind != (sp_init_kind)-1) {   /* range rules that merge into one scheme */
            rt[i].init = one;
            rule_of[i] = nrules + 1;
            continue;
        }
        if (rc == SP_ENOTFOUND) {   /* recorded as loaded, as it always was (SPEC.md 8.1) */
            memset(&rt[i].init, 0, sizeof rt[i].init);
            continue;
        }
        rule_of[i] = k;
        if (rt[i].init.kind != SP_INIT_EXTERNAL && sp_init_check(&rt[i].init) != SP_OK)
            return sp_cli_usage_error("record", "%s: tensor '%s': invalid scheme '%s' (SPEC.md 6.1)",
                                      file, name, rules[k].text);
    }
    /* then, with every choice unambiguous, regenerate */
    for (size_t i = 0; i < n; i++) {
        const char *name = rt[i].t.name;
        size_t k = rule_of[i];
        if (k == nrules || (rt[i].init.kind == SP_INIT_EXTERNAL && ranges[i].n == 0) || !regenerate)
            continue;
        int rc;
        uint8_t want[SP_DIGEST_BYTES], have[SP_DIGEST_BYTES];
        char text[256];
        if (ranges[i].n > 0) {
            snprintf(text, sizeof text, "of %zu ranges", ranges[i].n);
            rc = sp_init_digest_ranges(want, &rt[i].t, seed, ranges[i].range, ranges[i].n, threads,
                                       NULL);
        } else {
            if (k < nrules)
                snprintf(text, sizeof text, "%s", rules[k].text);
            else
                sp_cli_scheme_text(text, sizeof text, &rt[i].init);
            rc = sp_init_digest(want, &rt[i].t, seed, &rt[i].init, threads);
        }
        if (rc == SP_OK)
            rc = sp_tensor_digest(have, &rt[i].t, threads);
        if (rc == SP_OK && sodium_memcmp(want, have, sizeof want) == 0)
            continue;
        if (rc != SP_OK && rc != SP_EUNSUPPORTED)
            return sp_cli_usage_error("record", "%s: tensor '%s': cannot regenerate it: %s", file,
                                      name, sp_strerror(rc));
        const char *why = rc == SP_EUNSUPPORTED ? "its dtype cannot be generated"
                                                : "the file's values differ";
        if (!external)
            return sp_cli_usage_error("record", "%s: tensor '%s' is not scheme %s from seed %llu (%s); "
                                      "fix the --scheme or --seed, or --external to record it as loaded",
                                      file, name, text, (unsigned long long)seed, why);
        note_external(file, name, text, seed);
        memset(&rt[i].init, 0, sizeof rt[i].init);
        free((void *)ranges[i].range);
        ranges[i].range = NULL;
        ranges[i].n = 0;
    }
    return 0;
}

/*
 * Commits every batch of the --batches list (SPEC.md 8.4) to the run: each
 * FILE's bytes with sp_run_commit_batch. 0, or the exit code after one line
 * naming the list, its line and the file.
 */
static int commit_batches(sp_run *run, const char *list)
{
    char *text = NULL, err[SP_ERRMSG_MAX] = "";
    size_t len = 0;
    if (sp_cli_read_file("record", "--batches", list, BATCH_LIST_MAX, &text, &len) != 0)
        return 2;
    sp_batch_list *bl = NULL;
    int rc = sp_batch_list_parse(&bl, text, len, err);
    free(text);
    if (rc != SP_OK)
        return sp_cli_usage_error("record", "--batches %s: %s", list, err);
    const char *slash = strrchr(list, '/');
    size_t dirlen = slash ? (size_t)(slash - list) + 1 : 0;
    int ret = 0;
    for (size_t i = 0; i < bl->n && ret == 0; i++) {
        const char *f = bl->e[i].file;
        char *path = malloc(dirlen + strlen(f) + 1);
        if (path == NULL) {
            ret = sp_cli_usage_error("record", "out of memory");
            break;
        }
        if (f[0] == '/')
            strcpy(path, f);
        else {
            memcpy(path, list, dirlen);
            strcpy(path + dirlen, f);
        }
        char *data = NULL;
        size_t n = 0;
        char flag[64];
        snprintf(flag, sizeof flag, "--batches line %zu:", bl->e[i].line);
        if (sp_cli_read_file("record", flag, path, BATCH_MAX, &data, &n) != 0) {
            free(path);
            ret = 2;
            break;
        }
        rc = sp_run_commit_batch(run, bl->e[i].step, data, n);
        free(data);
        if (rc != SP_OK)
            ret = sp_cli_usage_error("record", "--batches %s: line %zu (%s): %s: %s", list,
                                     bl->e[i].line, path, sp_strerror(rc), sp_run_errmsg(run));
        free(path);
    }
    sp_batch_list_free(bl);
    return ret;
}

/*
 * The weights to record, as stored: a .safetensors file, or a sharded model
 * (its *.safetensors.index.json, or a directory holding one index or one
 * file) checked as verify and audit open it (SPEC.md 7 item 6, 10.1: the
 * index exact, no name in two shards), then every shard mapped once more to
 * hand out its tensors as stored, never dequantised.
 */
typedef struct weights_in {
    sp_st_file **shard;
    size_t nshards, n;
    sp_tensor *t;                 /* every tensor of every shard, sorted by name */
} weights_in;

static void weights_close(weights_in *w)
{
    for (size_t i = 0; i < w->nshards; i++)
        sp_st_close(w->shard[i]);
    free(w->shard);
    free(w->t);
    memset(w, 0, sizeof *w);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const sp_tensor *)a)->name, ((const sp_tensor *)b)->name);
}

/* 0, or 2 after one line naming path (and the shard) and what is wrong. */
static int weights_open(weights_in *w, const char *path)
{
    memset(w, 0, sizeof *w);
    char err[SP_ERRMSG_MAX] = "";
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !ends_with(path, ".json")) {
        /* one file: exactly as before sharded models were taken */
        w->shard = calloc(1, sizeof *w->shard);
        if (w->shard == NULL)
            return sp_cli_usage_error("record", "out of memory");
        if (sp_st_open(&w->shard[0], path, err) != SP_OK) {
            weights_close(w);
            return sp_cli_usage_error("record", "%s: %s", path, err);
        }
        w->nshards = 1;
    } else {
        sp_audit_model *m = NULL;
        if (sp_audit_model_open(&m, path, err) != SP_OK) {
            size_t pl = strlen(path);   /* the reason names the file it is about */
            if (strncmp(err, path, pl) == 0 && err[pl] == ':')
                return sp_cli_usage_error("record", "%s", err);
            return sp_cli_usage_error("record", "%s: %s", path, err[0] ? err : "cannot open");
        }
        size_t k = sp_audit_model_files(m);
        w->shard = calloc(k ? k : 1, sizeof *w->shard);
        for (size_t i = 0; w->shard != NULL && i < k; i++) {
            const char *sp = sp_audit_model_file(m, i);
            if (sp_st_open(&w->shard[i], sp, err) != SP_OK) {
                int rc = sp_cli_usage_error("record", "%s: shard %s: %s", path, sp, err);
                sp_audit_model_close(m);
                weights_close(w);
                return rc;
            }
            w->nshards++;
        }
        sp_audit_model_close(m);
        if (w->shard == NULL)
            return sp_cli_usage_error("record", "out of memory");
    }
    for (size_t i = 0; i < w->nshards; i++)
        w->n += sp_st_count(w->shard[i]);
    w->t = calloc(w->n ? w->n : 1, sizeof *w->t);
    if (w->t == NULL) {
        weights_close(w);
        return sp_cli_usage_error("record", "out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < w->nshards; i++)
        for (size_t k = 0; k < sp_st_count(w->shard[i]); k++)
            w->t[j++] = *sp_st_tensor(w->shard[i], k);
    qsort(w->t, w->n, sizeof *w->t, by_name);
    for (size_t i = 1; i < w->n; i++)     /* sp_audit_model_open refused this already */
        if (strcmp(w->t[i - 1].name, w->t[i].name) == 0) {
            int rc = sp_cli_usage_error("record", "%s: tensor '%s' is in two shards", path, w->t[i].name);
            weights_close(w);
            return rc;
        }
    return 0;
}

int sp_cmd_record(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ledger", required_argument, NULL, 'L'}, {"key", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'}, {"model-name", required_argument, NULL, 'n'},
        {"scheme", required_argument, NULL, 'S'}, {"step", required_argument, NULL, 't'},
        {"tokens", required_argument, NULL, 'T'}, {"loss", required_argument, NULL, 'l'},
        {"lr", required_argument, NULL, 'r'}, {"threads", required_argument, NULL, 'j'},
        {"passphrase-fd", required_argument, NULL, 'P'}, {"external", no_argument, NULL, 'x'},
        {"no-regenerate", no_argument, NULL, 'R'}, {"batches", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    static const char metas[] = "ledger=L key=K seed=N model-name=S scheme=GLOB=SCHEME step=N tokens=N "
                                "loss=X lr=X threads=N passphrase-fd=N batches=LIST";
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
        return sp_cli_version();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(record_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *kind = argv[1];
    int genesis = strcmp(kind, "genesis") == 0, checkpoint = strcmp(kind, "checkpoint") == 0;
    int final = strcmp(kind, "final") == 0;
    if (!genesis && !checkpoint && !final)
        return sp_cli_usage_error("record", "unknown record kind '%s' (genesis, checkpoint, final)", kind);
    const char *ledger = NULL, *key = NULL, *model_name = "", *batches = NULL;
    uint64_t seed = 0, step = 0, tokens = 0, threads = 2;
    int have_seed = 0, have_step = 0, external = 0, regenerate = 1, quiet = 0, c, rc = 2;
    double loss = 0, lr = 0;
    char scheme_arg[512] = "";
    sp_cli_rule *rules = calloc((size_t)argc, sizeof *rules);
    size_t nrules = 0;
    if (rules == NULL)
        return sp_cli_usage_error("record", "out of memory");
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hqV", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'L': ledger = optarg; break;
        case 'k': key = optarg; break;
        case 'n': model_name = optarg; break;
        case 's': bad = sp_cli_parse_u64(optarg, &seed); have_seed = 1; break;
        case 't': bad = sp_cli_parse_u64(optarg, &step); have_step = 1; break;
        case 'T': bad = sp_cli_parse_u64(optarg, &tokens); break;
        case 'l': bad = sp_cli_parse_double(optarg, &loss); break;
        case 'r': bad = sp_cli_parse_double(optarg, &lr); break;
        case 'j': bad = sp_cli_parse_u64(optarg, &threads) || threads < 1 || threads > 64; break;
        case 'S':
            snprintf(scheme_arg, sizeof scheme_arg, "%s", optarg);   /* parsing cuts it */
            bad = sp_cli_parse_rule(optarg, &rules[nrules++]);
            break;
        case 'x': external = 1; break;
        case 'R': regenerate = 0; break;
        case 'b': batches = optarg; break;
        case 'P':
            if (sp_cli_passphrase_fd("record", optarg) != 0)
                goto out;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(record_usage, stdout); free(rules); return 0;
        case 'V': free(rules); return sp_cli_version();
        default:
            free(rules);
            return sp_cli_opt_error("record", c, argv, opts, metas);
        }
        if (bad) {
            const char *flag = "--threads", *want = "an integer in 1..64";
            for (const struct option *op = opts; op->name != NULL; op++)
                if (op->val == c)
                    flag = op->name;
            if (c == 's' || c == 't' || c == 'T')
                want = "an integer";
            else if (c == 'l' || c == 'r')
                want = "a number";
            else if (c == 'S')
                want = "GLOB=SCHEME (see --help for the schemes)";
            char f[40];
            snprintf(f, sizeof f, "--%s", flag[0] == '-' ? flag + 2 : flag);
            rc = sp_cli_bad_value("record", f, want, c == 'S' ? scheme_arg : optarg);
            goto out;
        }
    }
    if (ledger == NULL || key == NULL || optind != argc - 1) {
        rc = sp_cli_usage_error("record", "needs --ledger, --key and one FILE (see --help)");
        goto out;
    }
    if ((genesis && !have_seed) || (!genesis && !have_step)) {
        rc = sp_cli_usage_error("record", genesis ? "genesis needs --seed" : "needs --step");
        goto out;
    }
    if (genesis && batches != NULL) {
        rc = sp_cli_usage_error("record", "--batches is for record checkpoint and final");
        goto out;
    }
    if (!genesis && (nrules > 0 || external || !regenerate)) {
        rc = sp_cli_usage_error("record", "--scheme, --external and --no-regenerate are for record "
                                "genesis only");
        goto out;
    }
    struct stat lst;
    if (!genesis && stat(ledger, &lst) != 0) {
        rc = sp_cli_usage_error("record", "%s: no such ledger (record genesis starts one)", ledger);
        goto out;
    }
    char err[SP_ERRMSG_MAX] = "";
    weights_in win;
    if ((rc = weights_open(&win, argv[optind])) != 0)
        goto out;
    size_t n = win.n;
    sp_tensor *t = win.t;
    sp_init_ranges *ranges = NULL;
    sp_record_tensor *rt = calloc(n ? n : 1, sizeof *rt);
    if (rt == NULL) {
        rc = sp_cli_usage_error("record", "out of memory");
        goto out_file;
    }
    for (size_t i = 0; i < n; i++)
        rt[i].t = t[i];
    if (genesis) {
        size_t *rule_of = calloc(n ? n : 1, sizeof *rule_of);
        ranges = calloc(n ? n : 1, sizeof *ranges);
        rc = rule_of == NULL || ranges == NULL
                 ? sp_cli_usage_error("record", "out of memory")
                 : genesis_schemes(argv[optind], rt, n, rules, nrules, seed, external, regenerate,
                                   (unsigned)threads, rule_of, ranges);
        free(rule_of);
        if (rc != 0)
            goto out_file;
    }
    sp_run *run = NULL;
    sp_run_options ro = {.ledger_path = ledger, .key_path = key, .seed = seed,
                         .model_name = model_name, .threads = (unsigned)threads,
                         .flags = genesis ? 0 : SP_RUN_RESUME, .err = err};
    int r = sp_run_open(&run, &ro);
    if (r != SP_OK) {
        /* run.c's detail names the ledger or key file it could not use */
        rc = sp_cli_usage_error("record", "%s", err[0] ? err : sp_strerror(r));
        goto out_file;
    }
    sp_run_set_progress(run, sp_cli_progress, NULL);
    sp_cli_progress_enable(!quiet);
    if (batches != NULL && (rc = commit_batches(run, batches)) != 0) {
        sp_run_close(run);
        goto out_file;
    }
    if (genesis) {
        r = sp_run_genesis_ranges(run, rt, n, ranges);
    } else if (checkpoint) {
        sp_checkpoint_info info = {.step = step, .tokens = tokens, .loss = loss, .lr = lr};
        r = sp_run_checkpoint(run, &info, t, n);
    } else {
        r = sp_run_final(run, step, t, n);
    }
    sp_cli_progress_end();
    if (r != SP_OK) {
        fputs("scratchproof record: ", stderr);
        (void)sp_escape_fputs(ledger, stderr);
        fprintf(stderr, ": %s: ", sp_strerror(r));
        (void)sp_escape_fputs(sp_run_errmsg(run), stderr);  /* names paths and tensors */
        fputc('\n', stderr);
        rc = r == SP_EINVAL || r == SP_EBADSTATE ? 2 : 1;
    } else {
        size_t next = 0;
        for (size_t i = 0; genesis && i < n; i++)
            next += rt[i].init.kind == SP_INIT_EXTERNAL && ranges[i].n == 0;
        printf("recorded %s of %zu tensors", kind, n);
        if (next > 0)
            printf(" (%zu external: recorded as loaded, not from scratch)", next);
        fputs(" from ", stdout);
        (void)sp_escape_fputs(argv[optind], stdout);
        fputs(" into ", stdout);
        (void)sp_escape_fputs(ledger, stdout);
        fputc('\n', stdout);
        rc = 0;
    }
    sp_run_close(run);
out_file:
    for (size_t i = 0; ranges != NULL && i < n; i++)
        free((void *)ranges[i].range);
    free(ranges);
    free(rt);
    weights_close(&win);
out:
    free(rules);
    return rc;
}
