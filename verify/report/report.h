/*
 * report.h - the list of named checks a verification produces, printed as
 * text for people or as JSON for machines (BRIEF.md: {"name","ok","detail"}).
 */
#ifndef SP_REPORT_H
#define SP_REPORT_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "sp_base.h"

/*
 * Structured fields of a check (SPEC.md 7.1), beside the prose detail: the
 * record's sequence number, the training step, the tensor and the file it is
 * about. has_seq / has_step say whether seq / step are set (0 is a valid
 * sequence number); tensor and file are NULL when they do not apply. They are
 * copied by sp_report_addf. JSON carries the ones that are set.
 */
typedef struct sp_check_fields {
    int has_seq, has_step;
    uint64_t seq, step;
    const char *tensor;
    const char *file;
} sp_check_fields;

/* Compound-literal helpers: SP_AT_SEQ(3), SP_AT_SEQ_STEP(3, 200), SP_AT_FILE(path). */
#define SP_AT_SEQ(s) (&(const sp_check_fields){.has_seq = 1, .seq = (s)})
#define SP_AT_SEQ_STEP(s, st) (&(const sp_check_fields){.has_seq = 1, .seq = (s), .has_step = 1, .step = (st)})
#define SP_AT_FILE(f) (&(const sp_check_fields){.file = (f)})

typedef struct sp_check {
    char *name;
    int ok;
    char *detail;
    int has_seq, has_step;
    uint64_t seq, step;
    char *tensor, *file;          /* NULL when absent */
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

/*
 * The same with structured fields (NULL: none). A check's name is the same
 * whether it passes or fails (the table of SPEC.md 7.1).
 */
__attribute__((format(printf, 5, 6)))
void sp_report_addf(sp_report *r, const char *name, int ok, const sp_check_fields *f, const char *fmt, ...)
    SP_NONNULL(1, 2, 5);
__attribute__((format(printf, 5, 0)))
void sp_report_vaddf(sp_report *r, const char *name, int ok, const sp_check_fields *f, const char *fmt,
                     va_list ap) SP_NONNULL(1, 2, 5);

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

/* A JSON array of {"name","ok","detail"[,"seq","step","tensor","file"]} (new reference), NULL on OOM. */
json_t *sp_report_json(const sp_report *r) SP_NONNULL(1);

#endif
