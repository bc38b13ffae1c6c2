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
             {"uniform32", SP_INIT_UNIFORM32, 2}, {"normal32", SP_INIT_NORMAL32, 2},
             {"orthogonal", SP_INIT_ORTHOGONAL, 1}};

/* Decimal digits [p, end) as a u64; 0 ok, -1 bad. */
static int parse_index(const char *p, const char *end, uint64_t *v)
{
    char num[24];
    size_t len = (size_t)(end - p);
    if (len == 0 || len >= sizeof num || strspn(p, "0123456789") < len)
        return -1;
    memcpy(num, p, len);
    num[len] = '\0';
    return sp_cli_parse_u64(num, v);
}

/*
 * A glob ending in "[A:B)" or "[A:)" is a row-range rule: the suffix is cut
 * off the glob (kept in r->rows for messages). 0, or -1 for a malformed range
 * (A >= B, or a glob left empty).
 */
static int parse_rows(char *glob, sp_cli_rule *r)
{
    size_t len = strlen(glob);
    if (len < 5 || glob[len - 1] != ')')
        return 0;
    char *open = strrchr(glob, '[');
    char *colon = open ? strchr(open, ':') : NULL;
    if (open == NULL || colon == NULL || open == glob)
        return 0;
    if (parse_index(open + 1, colon, &r->row0) != 0)
        return 0;
    if (colon + 1 == glob + len - 1)
        r->open_end = 1;
    else if (parse_index(colon + 1, glob + len - 1, &r->row1) != 0)
        return 0;
    if (!r->open_end && r->row0 >= r->row1)
        return -1;
    if (strlen(open) >= sizeof r->rows)
        return -1;
    memcpy(r->rows, open, strlen(open) + 1);
    r->ranged = 1;
    *open = '\0';
    return 0;
}

int sp_cli_parse_rule(char *arg, sp_cli_rule *r)
{
    char *eq = strrchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -1;
    *eq = '\0';
    memset(r, 0, sizeof *r);
    r->glob = arg;
    r->text = eq + 1;
    if (parse_rows(arg, r) != 0)
        return -1;
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
        if (rules[i].ranged || !sp_cli_glob_match(rules[i].glob, name))
            continue;
        /* i is minimal unless another matching rule is strictly more specific */
        int minimal = 1;
        for (size_t j = 0; j < n && minimal; j++)
            if (j != i && !rules[j].ranged && sp_cli_glob_match(rules[j].glob, name) &&
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

typedef struct painted {
    uint64_t first, end;   /* elements */
    size_t rule;
} painted;

static int by_first(const void *a, const void *b)
{
    const painted *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Appends [first, end) with scheme s to r, merging with an equal neighbour. */
static void push_range(sp_init_range *r, size_t *nr, uint64_t first, uint64_t end,
                       const sp_init_scheme *s)
{
    if (*nr > 0 && same_scheme(&r[*nr - 1].init, s)) {
        r[*nr - 1].count += end - first;
        return;
    }
    r[*nr].first = first;
    r[*nr].count = end - first;
    r[*nr].init = *s;
    (*nr)++;
}

int sp_cli_paint_ranges(const sp_cli_rule *rules, size_t n, const sp_tensor *t,
                        const sp_init_scheme *base, sp_init_scheme *s, sp_init_range **r,
                        size_t *nr, char *err)
{
    *r = NULL;
    *nr = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += rules[i].ranged && sp_cli_glob_match(rules[i].glob, t->name);
    if (m == 0)
        return SP_OK;
    uint64_t numel = 0;
    if (sp_shape_numel(&numel, t->shape, t->ndim) != SP_OK)
        return SP_EINVAL;
    if (numel == 0) {
        sp_errf(err, "tensor '%s' has no elements for a row range to select", t->name);
        return SP_EINVAL;
    }
    uint64_t nrows = t->ndim == 0 ? 1 : t->shape[0];
    uint64_t per_row = numel / nrows;
    painted *p = calloc(m, sizeof *p);
    sp_init_range *out = calloc(2 * m + 1, sizeof *out);
    if (p == NULL || out == NULL) {
        free(p);
        free(out);
        sp_errf(err, "out of memory");
        return SP_EINVAL;
    }
    int rc = SP_OK;
    size_t k = 0;
    for (size_t i = 0; i < n && rc == SP_OK; i++) {
        const sp_cli_rule *x = &rules[i];
        if (!x->ranged || !sp_cli_glob_match(x->glob, t->name))
            continue;
        uint64_t b = x->open_end ? nrows : x->row1;
        if (x->row0 >= b || b > nrows) {
            sp_errf(err, "tensor '%s' has %llu rows; --scheme '%s%s=%s' selects rows outside them "
                    "or none", t->name, (unsigned long long)nrows, x->glob, x->rows, x->text);
            rc = SP_EINVAL;
            break;
        }
        p[k].first = x->row0 * per_row;
        p[k].end = b * per_row;
        p[k].rule = i;
        k++;
    }
    if (rc == SP_OK)
        qsort(p, m, sizeof *p, by_first);
    for (size_t j = 1; j < m && rc == SP_OK; j++)
        if (p[j].first < p[j - 1].end) {
            const sp_cli_rule *a = &rules[p[j - 1].rule], *b = &rules[p[j].rule];
            sp_errf(err, "tensor '%s': --scheme '%s%s=%s' and '%s%s=%s' select overlapping rows; "
                    "the order of the flags never decides", t->name, a->glob, a->rows, a->text,
                    b->glob, b->rows, b->text);
            rc = SP_EINVAL;
        }
    uint64_t at = 0;
    size_t no = 0;
    for (size_t j = 0; j <= m && rc == SP_OK; j++) {
        uint64_t gap_end = j < m ? p[j].first : numel;
        if (gap_end > at) {   /* rows no range rule selects: the whole-tensor scheme */
            if (base == NULL || base->kind == SP_INIT_EXTERNAL) {
                sp_errf(err, "tensor '%s': rows [%llu, %llu) %s; give them a --scheme", t->name,
                        (unsigned long long)(per_row ? at / per_row : 0),
                        (unsigned long long)(per_row ? gap_end / per_row : 0),
                        base == NULL ? "match no --scheme" : "are external, which ranges cannot hold");
                rc = SP_EINVAL;
                break;
            }
            push_range(out, &no, at, gap_end, base);
        }
        if (j == m)
            break;
        const sp_cli_rule *x = &rules[p[j].rule];
        sp_init_scheme rs = x->s;
        if (sp_cli_bind_scheme(&rs, t) != SP_OK || rs.kind == SP_INIT_EXTERNAL ||
            sp_init_check(&rs) != SP_OK) {
            sp_errf(err, "tensor '%s': --scheme '%s%s=%s' is not a scheme a range can take "
                    "(external, invalid, or orthogonal of a non-matrix)", t->name, x->glob, x->rows,
                    x->text);
            rc = SP_EINVAL;
            break;
        }
        push_range(out, &no, p[j].first, p[j].end, &rs);
        at = p[j].end;
    }
    free(p);
    if (rc != SP_OK) {
        free(out);
        return rc;
    }
    if (no == 1) {
        *s = out[0].init;
        free(out);
        return SP_OK;
    }
    *r = out;
    *nr = no;
    return SP_OK;
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
    for (int k = 0; k < np && w > 0 && (size_t)w < len; k++) {
        /* the shortest of %.15g, %.16g, %.17g that reads back as the same double */
        char num[32];
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(num, sizeof num, "%.*g", digits, s->p[k]);
            if (strtod(num, NULL) == s->p[k])
                break;
        }
        w += snprintf(buf + w, len - (size_t)w, ":%s", num);
    }
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
