/*
 * report.c - named checks, text and JSON output (report.h). Names and
 * details quote untrusted strings (tensor names, paths, model names), so
 * both outputs pass them through the one escaping rule (SPEC.md 1.1).
 */
#include "report.h"
#include "escape.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void sp_report_init(sp_report *r)
{
    memset(r, 0, sizeof *r);
}

void sp_report_free(sp_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].detail);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

/*
 * A detail cut at the buffer's end may end inside a UTF-8 character; that
 * partial character is dropped, so a valid name does not turn into an
 * invalid string (and an escaped one in JSON) only because it was cut.
 */
static void cut_partial_char(char *s)
{
    size_t len = strlen(s), k = len;
    while (k > 0 && len - k < 3 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k > 0 && (unsigned char)s[k - 1] >= 0xC0 && !sp_utf8_valid(s + k - 1, len - k + 1))
        s[k - 1] = '\0';
}

void sp_report_add(sp_report *r, const char *name, int ok, const char *fmt, ...)
{
    if (!ok)
        r->failed++;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        sp_check *v = realloc(r->v, cap * sizeof *v);
        if (v == NULL) {
            r->oom = 1;
            return;
        }
        r->v = v;
        r->cap = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int full = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (full >= (int)sizeof buf)
        cut_partial_char(buf);
    sp_check *c = &r->v[r->n];
    c->name = strdup(name);
    c->detail = strdup(buf);
    c->ok = ok;
    if (c->name == NULL || c->detail == NULL) {
        free(c->name);
        free(c->detail);
        r->oom = 1;
        return;
    }
    r->n++;
}

int sp_report_ok(const sp_report *r)
{
    return r->failed == 0 && !r->oom && r->n > 0;
}

void sp_report_print(const sp_report *r, FILE *out, int verbose)
{
    for (size_t i = 0; i < r->n; i++) {
        const sp_check *c = &r->v[i];
        if (c->ok && !verbose)
            continue;
        /* Escaped at print time: a detail is one line, whatever its names hold. */
        char *name = sp_escape_dup(c->name), *detail = sp_escape_dup(c->detail);
        if (name != NULL && detail != NULL)
            fprintf(out, "  %-5s %-18s %s\n", c->ok ? "ok" : "FAIL", name, detail);
        else
            fprintf(out, "  %-5s %-18s (out of memory printing this check)\n", c->ok ? "ok" : "FAIL",
                    "?");
        free(name);
        free(detail);
    }
    if (r->oom)
        fprintf(out, "  FAIL  report             out of memory: some checks are missing\n");
}

json_t *sp_report_json(const sp_report *r)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const sp_check *c = &r->v[i];
        json_t *o = json_pack("{s:o, s:b, s:o}", "name", sp_json_str(c->name), "ok", c->ok,
                              "detail", sp_json_str(c->detail));
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    if (r->oom) {
        json_t *o = json_pack("{s:s, s:b, s:s}", "name", "report", "ok", 0, "detail",
                              "out of memory: some checks are missing");
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *sp_json_str(const char *s)
{
    if (s == NULL)
        return json_null();
    size_t len = strlen(s);
    if (sp_utf8_valid(s, len))
        return json_stringn(s, len);   /* control characters become \u00XX in the JSON text */
    char *e = sp_escape_dupn(s, len);
    json_t *j = e != NULL ? json_string(e) : NULL;
    free(e);
    return j;
}
