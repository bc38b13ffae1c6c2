/*
 * cmd_audit.c - `scratchproof audit MODEL --ref REF [--ref REF]... [--json]
 * [--html FILE]`: opens the models, runs the audit (audit_run.c) and prints
 * the report. Exit 0: no evidence of derivation; 1: derived; 2: usage error
 * or unreadable input, one line on stderr; 3: inconclusive (less than half
 * of the model's matrix parameters could be compared).
 */
#include "audit.h"
#include "cli.h"
#include "scratchproof.h"   /* SP_VERSION */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFS 64
#define MAX_PREFIXES 256

static const char usage[] =
    "usage: scratchproof audit MODEL --ref REF [--ref REF]... [--json] [--html FILE]\n"
    "                          [--alpha X] [--threads N] [--component PREFIX]... [--depth N]\n"
    "                          [--quiet]\n"
    "\n"
    "Is MODEL derived from a reference model? MODEL and REF are a .safetensors file,\n"
    "a sharded model's index (model.safetensors.index.json) or a directory holding one.\n"
    "Tensors are paired by name, renamed ones by shape and content; each matrix pair is\n"
    "compared by raw cosine, Pearson and a matched correlation robust to permuted hidden\n"
    "units, each against the null of independently trained models; components (tensor\n"
    "name prefixes) are judged by Fisher's method. Vectors are shown, never decide.\n"
    "\n"
    "  --ref REF           a reference model (repeatable, at least one)\n"
    "  --json              one JSON object on stdout instead of the text report\n"
    "  --html FILE         also write a self-contained HTML report with a chart\n"
    "  --alpha X           family-wise level for \"derived\" (default 1e-6)\n"
    "  --threads N         worker threads (default: all CPUs)\n"
    "  --component PREFIX  group tensors starting with PREFIX into one component\n"
    "                      (repeatable; longest prefix wins; others by the default rule)\n"
    "  --depth N           default rule: components are the first N name segments\n"
    "                      (default: the first segment, two under a wrapper like model.)\n"
    "  --quiet             no progress line on stderr (shown on a terminal only)\n"
    "  -V, --version       print the version; -h, --help this text\n"
    "Every value may also be given as --flag=value.\n"
    "\n"
    "exit status: 0 no evidence of derivation, 1 derived, 2 usage error or unreadable input,\n"
    "3 inconclusive (less than half of MODEL's matrix parameters could be compared).\n";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    sp_cli_progress_end();   /* the message on a line of its own, not after a progress line */
    va_start(ap, fmt);
    int rc = sp_cli_vusage_error("audit", fmt, ap);   /* one line, escaped */
    va_end(ap);
    return rc;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Bytes of a model's tensors as the audit reads them (the loading progress). */
static uint64_t model_bytes(const sp_audit_model *m)
{
    uint64_t b = 0;
    for (size_t i = 0; i < sp_audit_model_count(m); i++)
        b += sp_audit_model_tensor(m, i)->nbytes;
    return b;
}

int sp_cmd_audit(int argc, char **argv)
{
    enum { O_REF = 'r', O_HTML = 'H', O_JSON = 'j', O_ALPHA = 'a', O_THREADS = 't',
           O_COMPONENT = 'c', O_DEPTH = 'd', O_HELP = 'h', O_VERSION = 'V', O_QUIET = 'q' };
    static const struct option opts[] = {
        {"ref", required_argument, NULL, O_REF},       {"html", required_argument, NULL, O_HTML},
        {"json", no_argument, NULL, O_JSON},           {"alpha", required_argument, NULL, O_ALPHA},
        {"threads", required_argument, NULL, O_THREADS},
        {"component", required_argument, NULL, O_COMPONENT},
        {"depth", required_argument, NULL, O_DEPTH},   {"help", no_argument, NULL, O_HELP},
        {"quiet", no_argument, NULL, O_QUIET},
        {"version", no_argument, NULL, O_VERSION},     {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *html = NULL;
    const char *refs[MAX_REFS], *prefixes[MAX_PREFIXES];
    size_t nref = 0, npre = 0;
    int json = 0, quiet = 0, c;
    sp_audit_options opt = {SP_AUDIT_DEFAULT_ALPHA, 0, 0, NULL, 0, NULL};
    optind = 1;
    opterr = 0;
    /* "-": operands come back in order as 1 (MODEL may be before or after the options);
     * ":": a missing value is ':' rather than '?' */
    while ((c = getopt_long(argc, argv, "-:hV", opts, NULL)) != -1) {
        const char *v = optarg;
        switch (c) {
        case 1:     /* an operand, in order ("-" in optstring) */
            if (model_path != NULL)
                return fail("one MODEL only (extra argument %s); references go after --ref", v);
            model_path = v;
            break;
        case O_HELP:
            fputs(usage, stdout);
            return 0;
        case O_VERSION:
            printf("scratchproof %s\n", SP_VERSION);
            return 0;
        case O_JSON:
            json = 1;
            break;
        case O_QUIET:
            quiet = 1;
            break;
        case O_REF:
            if (nref == MAX_REFS)
                return fail("--ref %s: at most %d references", v, MAX_REFS);
            if (*v == '\0')
                return fail("--ref wants a model path, got an empty string");
            refs[nref++] = v;
            break;
        case O_HTML:
            if (*v == '\0')
                return fail("--html wants a file name, got an empty string");
            html = v;
            break;
        case O_ALPHA: {
            char *end;
            errno = 0;
            opt.alpha = strtod(v, &end);
            if (errno || end == v || *end || !(opt.alpha > 0 && opt.alpha < 1))
                return fail("--alpha %s: wants a number in (0, 1)", v);
            break;
        }
        case O_THREADS:
            if (parse_uint(v, 64, &opt.threads) != 0 || opt.threads == 0)
                return fail("--threads %s: wants an integer in [1, 64]", v);
            break;
        case O_DEPTH:
            if (parse_uint(v, 64, &opt.depth) != 0 || opt.depth == 0)
                return fail("--depth %s: wants an integer in [1, 64]", v);
            break;
        case O_COMPONENT:
            if (npre == MAX_PREFIXES)
                return fail("--component %s: at most %d prefixes", v, MAX_PREFIXES);
            if (*v == '\0' || strlen(v) > SP_NAME_MAX)
                return fail("--component wants a non-empty tensor name prefix of at most %d bytes",
                            SP_NAME_MAX);
            prefixes[npre++] = v;
            break;
        case ':':
            return fail("%s needs a value (see --help)", argv[optind - 1]);
        default: {   /* '?' */
            const char *a = argv[optind - 1];
            if (strncmp(a, "--", 2) == 0 && optopt != 0)   /* a known long option, given a value */
                return fail("option %s takes no value (see --help)", a);
            if (strncmp(a, "--", 2) != 0 && optopt != 0)
                return fail("unknown option -%c (see --help)", optopt);
            return fail("unknown option %s (see --help)", a);
        }
        }
    }
    if (model_path == NULL)
        return fail("no MODEL given (see --help)");
    if (nref == 0)
        return fail("no --ref REF given (see --help)");
    opt.prefixes = prefixes;
    opt.nprefixes = npre;

    char err[SP_ERRMSG_MAX] = "";
    sp_audit_model *model = NULL, *rm[MAX_REFS] = {0};
    /* progress (SPEC.md 8.6) on a terminal: loading (bytes of the models opened so far),
     * comparing, permutations, hashing PATH (--html) */
    sp_cli_progress_enable(!quiet);
    sp_progress pg = {quiet ? NULL : sp_cli_progress, NULL, NULL, 0, 0};
    opt.progress = &pg;
    uint64_t loaded = 0;
    sp_cli_progress(NULL, "loading", 0, 0);
    int code = 2, rc = sp_audit_model_open(&model, model_path, err);
    if (rc != SP_OK) {
        fail("%s", err[0] ? err : sp_strerror(rc));
        goto out;
    }
    loaded += model_bytes(model);
    sp_cli_progress(NULL, "loading", loaded, 0);
    for (size_t r = 0; r < nref; r++) {
        err[0] = '\0';
        rc = sp_audit_model_open(&rm[r], refs[r], err);
        if (rc != SP_OK) {
            fail("%s", err[0] ? err : sp_strerror(rc));
            goto out;
        }
        loaded += model_bytes(rm[r]);
        sp_cli_progress(NULL, "loading", loaded, 0);
    }
    sp_cli_progress_end();
    sp_audit_result res;
    rc = sp_audit_run(&res, model_path, model, refs, rm, nref, &opt);
    sp_cli_progress_end();
    if (rc != SP_OK) {
        fail("%s", sp_strerror(rc));
        goto out;
    }
    sp_audit_prov prov;
    int have_prov = 0;
    if (html != NULL) {   /* the digests a reader cites: read every input file once more */
        err[0] = '\0';
        rc = sp_audit_prov_make(&prov, "scratchproof " SP_VERSION, model, rm, nref, err, pg.fn ? &pg : NULL);
        sp_cli_progress_end();
        if (rc != SP_OK) {
            fail("%s", err[0] ? err : sp_strerror(rc));
            sp_audit_result_free(&res);
            goto out;
        }
        have_prov = 1;
        res.prov = &prov;
    }
    code = res.derived ? 1 : res.inconclusive ? 3 : 0;
    if ((json ? sp_audit_report_json(stdout, &res) : sp_audit_report_text(stdout, &res)) != 0) {
        fail("cannot write the report");
        code = 2;
    }
    if (html != NULL && code != 2) {
        FILE *f = fopen(html, "w");
        if (f == NULL) {
            fail("%s: %s", html, strerror(errno));
            code = 2;
        } else {
            int wr = sp_audit_report_html(f, &res);
            if (fclose(f) != 0 || wr != 0) {
                fail("%s: write failed", html);
                code = 2;
            }
        }
    }
    sp_audit_result_free(&res);
    if (have_prov)
        sp_audit_prov_free(&prov);
    fflush(stdout);
out:
    sp_cli_progress_end();   /* a failure mid-phase: the line goes before the message stays */
    for (size_t r = 0; r < nref; r++)
        sp_audit_model_close(rm[r]);
    sp_audit_model_close(model);
    return code;
}
