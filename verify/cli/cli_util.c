/* cli_util.c - helpers shared by the subcommands (cli.h). */
#include "cli.h"
#include "escape.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    free(msg);
    return 2;
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

/* Progress on stderr, only for a terminal, at most every few percent. */
void sp_cli_progress(void *ctx, const char *what, uint64_t done, uint64_t total)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return;
    if (total > 0)
        fprintf(stderr, "\r%s: %llu/%llu ", what, (unsigned long long)done + 1,
                (unsigned long long)total);
    else
        fprintf(stderr, "\r%s: %llu ", what, (unsigned long long)done + 1);
    if (total > 0 && done + 1 == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
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
