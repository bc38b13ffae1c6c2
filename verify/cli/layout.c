/*
 * layout.c - parsers of the `scratchproof init --layout` text and the
 * `record --batches` list (layout.h,
 * SPEC.md 8.2, 8.4). Strict: every field checked, nothing guessed.
 */
#include "layout.h"

#include <stdlib.h>
#include <string.h>

void sp_layout_free(sp_layout *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->t[i].name);
    free(l->t);
    free(l);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated field of [*p, end): *f and *flen; 0 when none left. */
static int field(const char **p, const char *end, const char **f, size_t *flen)
{
    const char *s = *p;
    while (s < end && is_space(*s))
        s++;
    const char *e = s;
    while (e < end && !is_space(*e))
        e++;
    *p = e;
    *f = s;
    *flen = (size_t)(e - s);
    return e > s;
}

/* "64x32" or "scalar" into t; 0 ok, -1 bad, -2 too large. */
static int parse_shape(sp_tensor *t, const char *f, size_t len)
{
    if (len == 6 && memcmp(f, "scalar", 6) == 0) {
        t->ndim = 0;
        return 0;
    }
    const char *p = f, *end = f + len;
    t->ndim = 0;
    while (p < end) {
        if (t->ndim == SP_MAX_DIMS || *p < '0' || *p > '9')
            return -1;
        uint64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (UINT64_C(1) << 62) / 10)
                return -2;
            v = v * 10 + (uint64_t)(*p - '0');
            p++;
        }
        t->shape[t->ndim++] = v;
        if (p < end) {
            if (*p != 'x' || p + 1 == end)
                return -1;
            p++;
        }
    }
    return t->ndim > 0 ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const sp_tensor *const *)a)->name, (*(const sp_tensor *const *)b)->name);
}

/* SP_EFORMAT naming a repeated name, else SP_OK / SP_ENOMEM. */
static int check_unique(const sp_layout *l, char *err)
{
    if (l->n < 2)
        return SP_OK;
    const sp_tensor **ord = malloc(l->n * sizeof *ord);
    if (ord == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        ord[i] = &l->t[i];
    qsort(ord, l->n, sizeof *ord, by_name);
    int rc = SP_OK;
    for (size_t i = 1; i < l->n && rc == SP_OK; i++)
        if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
            sp_errf(err, "tensor '%s' listed twice", ord[i]->name);
            rc = SP_EFORMAT;
        }
    free(ord);
    return rc;
}

int sp_layout_parse(sp_layout **out, const char *buf, size_t len, sp_dtype dflt, char *err)
{
    *out = NULL;
    if (buf == NULL && len > 0)
        return SP_EFORMAT;
    if (len > 0 && memchr(buf, '\0', len) != NULL) {
        sp_errf(err, "holds a NUL byte: not a text layout");
        return SP_EFORMAT;
    }
    sp_layout *l = calloc(1, sizeof *l);
    if (l == NULL)
        return SP_ENOMEM;
    size_t cap = 0, lineno = 0;
    const char *p = buf, *end = buf + len;
    int rc = SP_OK;
    while (rc == SP_OK && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *q = p, *f;
        size_t flen;
        p = nl ? nl + 1 : end;
        if (!field(&q, le, &f, &flen) || f[0] == '#')
            continue;
        if (flen > SP_NAME_MAX) {
            sp_errf(err, "line %zu: name longer than %u bytes", lineno, SP_NAME_MAX);
            rc = SP_EFORMAT;
            break;
        }
        if (l->n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            sp_tensor *nt = realloc(l->t, nc * sizeof *nt);
            if (nt == NULL) {
                rc = SP_ENOMEM;
                break;
            }
            l->t = nt;
            cap = nc;
        }
        sp_tensor *t = &l->t[l->n];
        memset(t, 0, sizeof *t);
        char *name = strndup(f, flen);
        if (name == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        t->name = name;
        l->n++;
        if (!field(&q, le, &f, &flen)) {
            sp_errf(err, "line %zu: '%s' has no shape (NAME SHAPE [DTYPE], SHAPE like 64x32)",
                    lineno, name);
            rc = SP_EFORMAT;
            break;
        }
        int sr = parse_shape(t, f, flen);
        if (sr != 0) {
            sp_errf(err, "line %zu: bad shape '%.*s' for '%s' (like 64x32, at most %u dimensions, "
                    "or scalar)", lineno, (int)(flen > 64 ? 64 : flen), f, name, SP_MAX_DIMS);
            rc = sr == -2 ? SP_ERANGE : SP_EFORMAT;
            break;
        }
        t->dtype = dflt;
        if (field(&q, le, &f, &flen)) {
            char dt[8] = "";
            if (flen < sizeof dt) {
                memcpy(dt, f, flen);
                dt[flen] = '\0';
            }
            t->dtype = sp_dtype_from_name(dt);
            if (t->dtype == SP_DTYPE_INVALID) {
                sp_errf(err, "line %zu: unknown dtype '%.*s' for '%s'", lineno,
                        (int)(flen > 16 ? 16 : flen), f, name);
                rc = SP_EFORMAT;
                break;
            }
        }
        if (field(&q, le, &f, &flen)) {
            sp_errf(err, "line %zu: more than NAME SHAPE [DTYPE] for '%s'", lineno, name);
            rc = SP_EFORMAT;
            break;
        }
        uint64_t numel;
        if (sp_shape_numel(&numel, t->shape, t->ndim) != SP_OK ||
            numel > (UINT64_C(1) << 62) / sp_dtype_size(t->dtype)) {
            sp_errf(err, "line %zu: '%s' is too large", lineno, name);
            rc = SP_ERANGE;
            break;
        }
        t->nbytes = numel * sp_dtype_size(t->dtype);
    }
    if (rc == SP_OK)
        rc = check_unique(l, err);
    if (rc != SP_OK) {
        if (rc == SP_ENOMEM)
            sp_errf(err, "out of memory");
        sp_layout_free(l);
        return rc;
    }
    *out = l;
    return SP_OK;
}

/* ---- the batch list of `record --batches` (layout.h, SPEC.md 8.4) ---- */

void sp_batch_list_free(sp_batch_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].file);
    free(l->e);
    free(l);
}

int sp_batch_list_parse(sp_batch_list **out, const char *buf, size_t len, char *err)
{
    *out = NULL;
    if ((buf == NULL && len > 0) || (len > 0 && memchr(buf, '\0', len) != NULL)) {
        sp_errf(err, "holds a NUL byte: not a batch list");
        return SP_EFORMAT;
    }
    sp_batch_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return SP_ENOMEM;
    size_t cap = 0, lineno = 0;
    const char *p = buf, *end = buf + len;
    int rc = SP_OK;
    while (rc == SP_OK && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *q = p, *f;
        size_t flen;
        lineno++;
        p = nl ? nl + 1 : end;
        if (!field(&q, le, &f, &flen) || f[0] == '#')
            continue;
        uint64_t step = 0;
        int ok = flen <= 19;
        for (size_t i = 0; ok && i < flen; i++)
            ok = f[i] >= '0' && f[i] <= '9';
        for (size_t i = 0; ok && i < flen; i++)
            step = step * 10 + (uint64_t)(f[i] - '0');
        if (!ok || step == 0) {
            sp_errf(err, "line %zu: '%.*s' is not a step (1, 2, ...)", lineno,
                    (int)(flen > 24 ? 24 : flen), f);
            rc = SP_EFORMAT;
            break;
        }
        while (q < le && is_space(*q))
            q++;
        const char *fe = le;
        while (fe > q && is_space(fe[-1]))
            fe--;
        if (fe == q) {
            sp_errf(err, "line %zu: step %llu has no FILE", lineno, (unsigned long long)step);
            rc = SP_EFORMAT;
            break;
        }
        if (l->n > 0 && step < l->e[l->n - 1].step) {
            sp_errf(err, "line %zu: step %llu comes after step %llu", lineno,
                    (unsigned long long)step, (unsigned long long)l->e[l->n - 1].step);
            rc = SP_EFORMAT;
            break;
        }
        if (l->n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            sp_batch_entry *ne = realloc(l->e, nc * sizeof *ne);
            if (ne == NULL) {
                rc = SP_ENOMEM;
                break;
            }
            l->e = ne;
            cap = nc;
        }
        char *file = strndup(q, (size_t)(fe - q));
        if (file == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        l->e[l->n++] = (sp_batch_entry){.step = step, .file = file, .line = lineno};
    }
    if (rc != SP_OK) {
        if (rc == SP_ENOMEM)
            sp_errf(err, "out of memory");
        sp_batch_list_free(l);
        return rc;
    }
    *out = l;
    return SP_OK;
}
