/*
 * cli_schemes.c - `--scheme GLOB=SCHEME` rules (cli_schemes.h, SPEC.md 8.1):
 * the most specific matching glob decides a tensor's scheme; matching globs
 * of which none is the most specific, naming different schemes, are refused.
 */
#include "cli_schemes.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "init.h"

static const struct {
    const char *name;
    sp_init_kind kind;
    int nparams;
} kinds[] = {{"external", SP_INIT_EXTERNAL, 0}, {"zeros", SP_INIT_ZEROS, 0},
             {"constant", SP_INIT_CONSTANT, 1}, {"uniform", SP_INIT_UNIFORM, 2},
             {"normal", SP_INIT_NORMAL, 2}, {"trunc_normal", SP_INIT_TRUNC_NORMAL, 4},
             {"orthogonal", SP_INIT_ORTHOGONAL, 1}};

int sp_cli_parse_rule(char *arg, sp_cli_rule *r)
{
    char *eq = strrchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -1;
    *eq = '\0';
    r->glob = arg;
    r->text = eq + 1;
    memset(&r->s, 0, sizeof r->s);
    const char *spec = eq + 1;
    size_t klen = strcspn(spec, ":");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strlen(kinds[i].name) != klen || strncmp(spec, kinds[i].name, klen) != 0)
            continue;
        r->s.kind = kinds[i].kind;
        const char *p = spec + klen;
        if (kinds[i].kind == SP_INIT_ORTHOGONAL && *p == '\0') {   /* bare: gain 1 */
            r->s.p[0] = 1.0;
            return 0;
        }
        for (int k = 0; k < kinds[i].nparams; k++) {
            if (*p != ':')
                return -1;
            p++;
            size_t len = strcspn(p, ":");
            char num[64];
            if (len == 0 || len >= sizeof num)
                return -1;
            memcpy(num, p, len);
            num[len] = '\0';
            if (sp_cli_parse_double(num, &r->s.p[k]) != 0)
                return -1;
            p += len;
        }
        return *p == '\0' ? 0 : -1;
    }
    return -1;
}

/*
 * The classic greedy matcher with one backtrack point (the last '*'), exact
 * for globs whose only multi-symbol token is '*'. symbolic: s is itself a
 * glob and '?' in g may not stand for a '*' of s.
 */
static int match(const char *g, const char *s, int symbolic)
{
    const char *star = NULL, *retry = NULL;
    while (*s != '\0') {
        if (*g == '*') {
            star = ++g;
            retry = s;
            continue;
        }
        int one = *g != '\0' &&
                  ((*g == '?' && !(symbolic && (*s == '*'))) || (*g != '?' && *g == *s));
        if (one) {
            g++;
            s++;
        } else if (star != NULL) {
            g = star;
            s = ++retry;
        } else {
            return 0;
        }
    }
    while (*g == '*')
        g++;
    return *g == '\0';
}

int sp_cli_glob_match(const char *glob, const char *name)
{
    return match(glob, name, 0);
}

int sp_cli_glob_within(const char *p, const char *q)
{
    return match(q, p, 1);
}

static int same_scheme(const sp_init_scheme *a, const sp_init_scheme *b)
{
    return a->kind == b->kind && memcmp(a->p, b->p, sizeof a->p) == 0;
}

int sp_cli_pick_rule(const sp_cli_rule *rules, size_t n, const char *name,
                     size_t *pick, size_t *a, size_t *b)
{
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        if (!sp_cli_glob_match(rules[i].glob, name))
            continue;
        /* i is minimal unless another matching rule is strictly more specific */
        int minimal = 1;
        for (size_t j = 0; j < n && minimal; j++)
            if (j != i && sp_cli_glob_match(rules[j].glob, name) &&
                sp_cli_glob_within(rules[j].glob, rules[i].glob) &&
                !sp_cli_glob_within(rules[i].glob, rules[j].glob))
                minimal = 0;
        if (!minimal)
            continue;
        if (first == n) {
            first = i;
        } else if (!same_scheme(&rules[first].s, &rules[i].s)) {
            *a = first;
            *b = i;
            return SP_EINVAL;
        }
    }
    if (first == n)
        return SP_ENOTFOUND;
    *pick = first;
    return SP_OK;
}

int sp_cli_bind_scheme(sp_init_scheme *s, const sp_tensor *t)
{
    if (s->kind != SP_INIT_ORTHOGONAL)
        return SP_OK;
    return sp_init_orthogonal(s, s->p[0], t->shape, t->ndim);
}

void sp_cli_scheme_text(char *buf, size_t len, const sp_init_scheme *s)
{
    const char *name = "invalid";
    int np = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == s->kind) {
            name = kinds[i].name;
            np = kinds[i].nparams;
        }
    int w = snprintf(buf, len, "%s", name);
    for (int k = 0; k < np && w > 0 && (size_t)w < len; k++)
        w += snprintf(buf + w, len - (size_t)w, ":%.17g", s->p[k]);
}

int sp_cli_read_file(const char *cmd, const char *flag, const char *path, uint64_t max,
                     char **buf, size_t *len)
{
    char err[SP_ERRMSG_MAX] = "";
    struct stat st;
    int fd = sp_open_input(path, &st, err);
    if (fd < 0)
        return sp_cli_usage_error(cmd, "%s%s%s: %s", flag, *flag ? " " : "", path, err);
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return sp_cli_usage_error(cmd, "%s%s%s: larger than %llu bytes", flag, *flag ? " " : "",
                                  path, (unsigned long long)max);
    }
    size_t cap = (size_t)st.st_size + 1, got_len = 0;
    char *b = malloc(cap);
    if (b == NULL) {
        close(fd);
        return sp_cli_usage_error(cmd, "out of memory");
    }
    for (;;) {
        ssize_t got = read(fd, b + got_len, cap - got_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(b);
            return sp_cli_usage_error(cmd, "%s%s%s: cannot read: %s", flag, *flag ? " " : "", path,
                                      strerror(e));
        }
        if (got == 0)
            break;
        got_len += (size_t)got;
        if (got_len == cap) {   /* grew while we read it */
            close(fd);
            free(b);
            return sp_cli_usage_error(cmd, "%s%s%s: changed while being read", flag,
                                      *flag ? " " : "", path);
        }
    }
    close(fd);
    b[got_len] = '\0';
    *buf = b;
    *len = got_len;
    return 0;
}
