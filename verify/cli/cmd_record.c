/*
 * cmd_record.c - `scratchproof record KIND ...`: appends one record for a
 * trainer that only writes safetensors files (one process per record, so the
 * run is resumed from the ledger each time; the batch chain stays empty).
 */
#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "escape.h"
#include "scratchproof.h"

static const char record_usage[] =
    "usage: scratchproof record genesis    --ledger L --key K --seed N [--model-name S]\n"
    "                                      [--scheme GLOB=SCHEME]... FILE\n"
    "       scratchproof record checkpoint --ledger L --key K --step N [--tokens N]\n"
    "                                      [--loss X] [--lr X] FILE\n"
    "       scratchproof record final      --ledger L --key K --step N FILE\n"
    "Appends one signed record for the weights in the safetensors FILE.\n"
    "genesis starts a new ledger; each tensor is recorded with the scheme of the\n"
    "first --scheme whose GLOB matches its name, or 'external' (loaded, not\n"
    "regenerable) when none does. SCHEME: zeros | constant:V | uniform:LO:HI |\n"
    "normal:MEAN:STD | trunc_normal:MEAN:STD:LO:HI | external.\n"
    "An encrypted KEY takes its passphrase from --passphrase-fd N,\n"
    "SCRATCHPROOF_PASSPHRASE_FD, SCRATCHPROOF_PASSPHRASE_FILE or the terminal.\n"
    "verify then regenerates every non-external tensor from the seed.\n";

typedef struct rule {
    char *glob;
    sp_init_scheme s;
} rule;

/* Parses "GLOB=SCHEME" into r; 0 ok, -1 bad. Edits arg in place. */
static int parse_rule(char *arg, rule *r)
{
    char *eq = strrchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -1;
    *eq = '\0';
    r->glob = arg;
    memset(&r->s, 0, sizeof r->s);
    char *spec = eq + 1, *save = NULL;
    char *kind = strtok_r(spec, ":", &save);
    static const struct {
        const char *name;
        sp_init_kind kind;
        int nparams;
    } kinds[] = {{"external", SP_INIT_EXTERNAL, 0}, {"zeros", SP_INIT_ZEROS, 0},
                 {"constant", SP_INIT_CONSTANT, 1}, {"uniform", SP_INIT_UNIFORM, 2},
                 {"normal", SP_INIT_NORMAL, 2}, {"trunc_normal", SP_INIT_TRUNC_NORMAL, 4}};
    if (kind == NULL)
        return -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i].name) != 0)
            continue;
        r->s.kind = kinds[i].kind;
        for (int k = 0; k < kinds[i].nparams; k++) {
            char *p = strtok_r(NULL, ":", &save);
            if (p == NULL || sp_cli_parse_double(p, &r->s.p[k]) != 0)
                return -1;
        }
        return strtok_r(NULL, ":", &save) == NULL ? 0 : -1;
    }
    return -1;
}

int sp_cmd_record(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ledger", required_argument, NULL, 'L'}, {"key", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'}, {"model-name", required_argument, NULL, 'n'},
        {"scheme", required_argument, NULL, 'S'}, {"step", required_argument, NULL, 't'},
        {"tokens", required_argument, NULL, 'T'}, {"loss", required_argument, NULL, 'l'},
        {"lr", required_argument, NULL, 'r'}, {"threads", required_argument, NULL, 'j'},
        {"passphrase-fd", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(record_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *kind = argv[1];
    int genesis = strcmp(kind, "genesis") == 0, checkpoint = strcmp(kind, "checkpoint") == 0;
    int final = strcmp(kind, "final") == 0;
    if (!genesis && !checkpoint && !final)
        return sp_cli_usage_error("record", "unknown record kind '%s' (genesis, checkpoint, final)", kind);
    const char *ledger = NULL, *key = NULL, *model_name = "";
    uint64_t seed = 0, step = 0, tokens = 0, threads = 2;
    int have_seed = 0, have_step = 0, c, rc = 2;
    double loss = 0, lr = 0;
    rule *rules = calloc((size_t)argc, sizeof *rules);
    size_t nrules = 0;
    if (rules == NULL)
        return sp_cli_usage_error("record", "out of memory");
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
        case 'S': bad = parse_rule(optarg, &rules[nrules++]); break;
        case 'P':
            if (sp_cli_passphrase_fd("record", optarg) != 0)
                goto out;
            break;
        case 'h': fputs(record_usage, stdout); free(rules); return 0;
        default:
            free(rules);
            return sp_cli_usage_error("record", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (bad) {
            rc = sp_cli_usage_error("record", "bad value for --%s: '%s'",
                                    c == 'S' ? "scheme" : c == 'j' ? "threads" : "number", optarg);
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
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = NULL;
    if (sp_st_open(&f, argv[optind], err) != SP_OK) {
        rc = sp_cli_usage_error("record", "%s: %s", argv[optind], err);
        goto out;
    }
    size_t n = sp_st_count(f);
    sp_record_tensor *rt = calloc(n ? n : 1, sizeof *rt);
    sp_tensor *t = calloc(n ? n : 1, sizeof *t);
    if (rt == NULL || t == NULL) {
        rc = sp_cli_usage_error("record", "out of memory");
        goto out_file;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = *sp_st_tensor(f, i);
        rt[i].t = t[i];
        for (size_t k = 0; k < nrules; k++) {
            if (fnmatch(rules[k].glob, t[i].name, 0) == 0) {
                rt[i].init = rules[k].s;
                break;
            }
        }
    }
    sp_run *run = NULL;
    sp_run_options ro = {.ledger_path = ledger, .key_path = key, .seed = seed,
                         .model_name = model_name, .threads = (unsigned)threads,
                         .flags = genesis ? 0 : SP_RUN_RESUME, .err = err};
    int r = sp_run_open(&run, &ro);
    if (r != SP_OK) {
        rc = sp_cli_usage_error("record", "%s", err[0] ? err : sp_strerror(r));
        goto out_file;
    }
    if (genesis) {
        r = sp_run_genesis(run, rt, n);
    } else if (checkpoint) {
        sp_checkpoint_info info = {.step = step, .tokens = tokens, .loss = loss, .lr = lr};
        r = sp_run_checkpoint(run, &info, t, n);
    } else {
        r = sp_run_final(run, step, t, n);
    }
    if (r != SP_OK) {
        fprintf(stderr, "scratchproof record: %s: ", sp_strerror(r));
        (void)sp_escape_fputs(sp_run_errmsg(run), stderr);  /* names paths and tensors */
        fputc('\n', stderr);
        rc = r == SP_EINVAL || r == SP_EBADSTATE ? 2 : 1;
    } else {
        printf("recorded %s of %zu tensors from ", kind, n);
        (void)sp_escape_fputs(argv[optind], stdout);
        fputs(" into ", stdout);
        (void)sp_escape_fputs(ledger, stdout);
        fputc('\n', stdout);
        rc = 0;
    }
    sp_run_close(run);
out_file:
    free(rt);
    free(t);
    sp_st_close(f);
out:
    free(rules);
    return rc;
}
