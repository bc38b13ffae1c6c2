/*
 * cli_util.c - helpers shared by the subcommands (cli.h): one-line usage
 * errors (and their JSON form under --json, SPEC.md 8.5), option and value
 * messages, number parsing, atomic output files, the progress line (SPEC.md 8.6).
 */
#include "cli.h"
#include "escape.h"
#include "report.h"
#include "scratchproof.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *json_cmd;   /* --json given to this command: errors as JSON too */
static int json_done;          /* the command's own object is out */

void sp_cli_json_errors(const char *cmd, int on)
{
    json_cmd = on ? cmd : NULL;
    json_done = 0;
}

void sp_cli_json_printed(void)
{
    json_done = 1;
}

static void json_error(const char *cmd, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s?, s:o, s:i}", "schema", "scratchproof/error/v1", "command", cmd,
                          "error", sp_json_str(msg ? msg : "out of memory formatting the message"),
                          "exit", 2);
    if (o != NULL && json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) == 0)
        fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
    json_done = 1;
}

/*
 * The whole message is escaped (SPEC.md 1.1): it quotes paths, names and
 * library detail lines, and must stay one line that cannot rewrite the
 * terminal. The fixed texts hold nothing the escaping changes.
 */
int sp_cli_vusage_error(const char *cmd, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    fprintf(stderr, "scratchproof%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    if (msg == NULL)
        fputs("(out of memory formatting the message)", stderr);
    else
        (void)sp_escape_fputs(msg, stderr);
    fputc('\n', stderr);
    if (json_cmd != NULL && !json_done)
        json_error(cmd ? cmd : json_cmd, msg);
    free(msg);
    return 2;
}

int sp_cli_version(void)
{
    printf("scratchproof %s\n", SP_VERSION);
    return 0;
}

int sp_cli_bad_value(const char *cmd, const char *flag, const char *kind, const char *value)
{
    return sp_cli_usage_error(cmd, "%s wants %s, not '%s'", flag, kind, value ? value : "");
}

/* The value name of long option name in metas ("output=PREFIX key=KEY"), or NULL. */
static int meta_of(char *out, size_t cap, const char *metas, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = metas; p != NULL && *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n + 1 && strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - n - 1), p + n + 1);
            return 1;
        }
        p += len;
    }
    return 0;
}

int sp_cli_opt_error(const char *cmd, int c, char **argv, const struct option *opts, const char *metas)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char flag[96], meta[64] = "";
    const char *name = NULL;
    if (arg != NULL && strncmp(arg, "--", 2) == 0) {
        size_t len = strcspn(arg + 2, "=");
        snprintf(flag, sizeof flag, "--%.*s", (int)(len < 80 ? len : 80), arg + 2);
        for (const struct option *o = opts; o->name != NULL; o++)
            if (strlen(o->name) == len && strncmp(o->name, arg + 2, len) == 0)
                name = o->name;
        if (c == '?' && name != NULL && arg[2 + len] == '=')
            return sp_cli_usage_error(cmd, "%s takes no value (given '%s')", flag, arg + 3 + len);
        if (c == '?' && name == NULL)   /* unknown, or an ambiguous abbreviation */
            return sp_cli_usage_error(cmd, "unknown option '%s' (see --help)", flag);
    } else {
        if (optopt == 0 || optopt < 0x20 || optopt > 0x7e)
            return sp_cli_usage_error(cmd, "unknown option '%s' (see --help)", arg ? arg : "");
        snprintf(flag, sizeof flag, "-%c", optopt);
        for (const struct option *o = opts; o->name != NULL; o++)
            if (o->flag == NULL && o->val == optopt)
                name = o->name;
        if (c == '?')
            return sp_cli_usage_error(cmd, "unknown option '%s' (see --help)", flag);
    }
    if (name != NULL && meta_of(meta, sizeof meta, metas, name))
        return sp_cli_usage_error(cmd, "%s needs a value (%s)", flag, meta);
    return sp_cli_usage_error(cmd, "%s needs a value", flag);
}

int sp_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_cli_vusage_error(cmd, fmt, ap);
    va_end(ap);
    return rc;
}

int sp_cli_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int sp_cli_parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---- the progress line (SPEC.md 8.6) ---- */

static struct {
    int on;                /* enabled and stderr is a terminal */
    int shown;             /* a line is on the screen */
    char what[256];        /* the phase being timed, as the caller named it */
    char shown_src[256];   /* the text shown for it, as the caller gave it */
    char shown_as[96];     /* escaped (it may hold a path) and cut to its last characters */
    double t0, last;       /* its start, the last redraw */
} prog;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sp_cli_progress_enable(int on)
{
    memset(&prog, 0, sizeof prog);
    prog.on = on && isatty(STDERR_FILENO);
}

void sp_cli_progress_end(void)
{
    if (prog.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    prog.shown = 0;
    prog.what[0] = '\0';
    prog.shown_src[0] = '\0';
}

/* "412.0 MiB" and the like, for bytes. */
static void human(char *out, size_t cap, double v, int steps)
{
    if (steps)
        snprintf(out, cap, "%.0f", v);
    else if (v >= 1024.0 * 1024 * 1024)
        snprintf(out, cap, "%.2f GiB", v / (1024.0 * 1024 * 1024));
    else
        snprintf(out, cap, "%.1f MiB", v / (1024.0 * 1024));
}

void sp_cli_progress(void *ctx, const char *what, uint64_t done, uint64_t total)
{
    (void)ctx;
    sp_cli_progress_phase(what, what, done, total);
}

void sp_cli_progress_phase(const char *phase, const char *what, uint64_t done, uint64_t total)
{
    if (!prog.on || what == NULL || phase == NULL)
        return;
    double t = now_s();
    if (strcmp(phase, prog.what) != 0) {   /* a new phase: its own clock */
        snprintf(prog.what, sizeof prog.what, "%s", phase);
        prog.t0 = t;
        prog.last = 0;
        prog.shown_src[0] = '\0';
    }
    if (strcmp(what, prog.shown_src) != 0) {   /* a new text: escaped and cut once */
        snprintf(prog.shown_src, sizeof prog.shown_src, "%s", what);
        char e[4 * sizeof prog.shown_src];
        sp_escape(e, sizeof e, what);
        size_t el = strlen(e);
        if (el < sizeof prog.shown_as)
            snprintf(prog.shown_as, sizeof prog.shown_as, "%s", e);
        else {
            const char *tail = e + el - (sizeof prog.shown_as - 4);
            while (((unsigned char)*tail & 0xC0) == 0x80)   /* start on a whole character */
                tail++;
            snprintf(prog.shown_as, sizeof prog.shown_as, "...%s", tail);
        }
    }
    if (total > 0 && done >= total) {     /* finished: the line goes away */
        sp_cli_progress_end();
        return;
    }
    if (prog.shown && t - prog.last < 0.1)
        return;
    prog.last = t;
    size_t wl = strlen(what);
    int steps = wl >= 5 && strcmp(what + wl - 5, "steps") == 0;
    char d[32], tot[32] = "", rate[48] = "", eta[32] = "";
    human(d, sizeof d, (double)done, steps);
    double el = t - prog.t0;
    if (el > 0.05 && done > 0) {
        double r = (double)done / el;
        char rs[32];
        human(rs, sizeof rs, r, steps);
        snprintf(rate, sizeof rate, "  %s%s/s", rs, steps ? " steps" : "");
        if (total > 0) {
            double left = (double)(total - done) / r;
            if (left > 359999)
                left = 359999;
            unsigned long s = (unsigned long)(left + 0.5);
            snprintf(eta, sizeof eta, "  ETA %lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
        }
    } else {
        snprintf(rate, sizeof rate, "  - /s");
        if (total > 0)
            snprintf(eta, sizeof eta, "  ETA -");
    }
    if (total > 0) {
        human(tot, sizeof tot, (double)total, steps);
        fprintf(stderr, "\r%s: %s / %s %3.0f%%%s%s\033[K", prog.shown_as, d, tot, 100.0 * (double)done / (double)total,
                rate, eta);
    } else {
        fprintf(stderr, "\r%s: %s%s\033[K", prog.shown_as, d, rate);
    }
    fflush(stderr);
    prog.shown = 1;
}

/* Writes data to path atomically (a temporary file renamed), or to stdout. */
int sp_cli_write_out(const char *cmd, const char *flag, const char *path, const char *data, size_t len)
{
    if (path == NULL) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return sp_cli_usage_error(cmd, "cannot write to standard output");
        return 0;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return sp_cli_usage_error(cmd, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL && fwrite(data, 1, len, f) == len;
    ok = (f != NULL && fflush(f) == 0 && fsync(fileno(f)) == 0) && ok;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        if (f != NULL)
            unlink(tmp);
        free(tmp);
        return sp_cli_usage_error(cmd, "%s: cannot write the output file (%s)", path, flag);
    }
    free(tmp);
    return 0;
}
