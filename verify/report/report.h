/*
 * report.h - the list of named checks a verification produces, printed as
 * text for people or as JSON for machines (BRIEF.md: {"name","ok","detail"}).
 */
#ifndef SP_REPORT_H
#define SP_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "sp_base.h"

typedef struct sp_check {
    char *name;
    int ok;
    char *detail;
} sp_check;

typedef struct sp_report {
    sp_check *v;
    size_t n, cap;
    size_t failed;
    int oom;            /* an add failed for lack of memory: the report is incomplete */
} sp_report;

void sp_report_init(sp_report *r) SP_NONNULL(1);
void sp_report_free(sp_report *r);

/* Adds a check; a failed check is never lost (oom marks the report failed). */
__attribute__((format(printf, 4, 5)))
void sp_report_add(sp_report *r, const char *name, int ok, const char *fmt, ...) SP_NONNULL(1, 2, 4);

/* 1 when every check passed and the report is complete, else 0. */
int sp_report_ok(const sp_report *r) SP_NONNULL(1);

/* Failed checks only, or all of them, as "  ok    name  detail" lines. */
void sp_report_print(const sp_report *r, FILE *out, int verbose) SP_NONNULL(1, 2);

/*
 * A JSON string for an untrusted C string (SPEC.md 1.1): the string itself
 * when it is valid UTF-8 (jansson escapes control characters), otherwise its
 * escaped form (sp_escape), so invalid bytes read \xNN and the JSON stays
 * valid. NULL gives JSON null. A new reference, NULL on OOM. Every string
 * from a ledger, a file or the command line goes into JSON through this.
 */
json_t *sp_json_str(const char *s);

/* A JSON array of {"name","ok","detail"} (new reference), NULL on OOM. */
json_t *sp_report_json(const sp_report *r) SP_NONNULL(1);

#endif
