/*
 * cli_schemes.h - `--scheme GLOB=SCHEME` rules shared by `scratchproof init`
 * and `scratchproof record genesis` (SPEC.md 8.1): parsing, glob matching and
 * the most-specific-match rule, which refuses an ambiguous choice instead of
 * letting the order of the flags decide.
 */
#ifndef SP_CLI_SCHEMES_H
#define SP_CLI_SCHEMES_H

#include <stddef.h>
#include <stdint.h>

#include "sp_base.h"

typedef struct sp_cli_rule {
    const char *glob;      /* points into the argument (edited in place) */
    const char *text;      /* the SCHEME text, for messages */
    sp_init_scheme s;
    int ranged;            /* GLOB[A:B)=SCHEME: rows [row0, row1) of the first dimension */
    int open_end;          /* GLOB[A:)=SCHEME: rows from row0 to the last */
    uint64_t row0, row1;
    char rows[48];         /* "[A:B)", for messages ("" for a whole-tensor rule) */
} sp_cli_rule;

/*
 * Parses "GLOB=SCHEME" or "GLOB[A:B)=SCHEME" / "GLOB[A:)=SCHEME" (rows of the
 * first dimension, SPEC.md 8.1; the last '=' splits) into r; 0 ok, -1 bad.
 * Edits arg.
 */
int sp_cli_parse_rule(char *arg, sp_cli_rule *r);

/*
 * Glob match over bytes: '*' any run of bytes (also '.' and '/'), '?' one
 * byte, every other byte itself (no classes, no escapes). 1 match, 0 not.
 */
int sp_cli_glob_match(const char *glob, const char *name);

/*
 * 1 when glob p is at least as specific as glob q: q matches p read as a
 * string of symbols, where q's '*' takes any run of p's symbols, q's '?' one
 * symbol other than '*', q's other bytes themselves. Then every name p
 * matches, q matches too.
 */
int sp_cli_glob_within(const char *p, const char *q);

/*
 * The row-range rules (GLOB[A:B)=SCHEME) that match tensor t, painted over
 * its whole-tensor scheme `base` (NULL when no whole-tensor rule matches; an
 * ORTHOGONAL base already bound): SP_OK with *nr = 0 when no range rule
 * matches t (base stands), or with *s set when the result is one scheme, or
 * with *r (malloc'd, *nr >= 2) the tensor's ranges (SPEC.md 6.10), neighbours
 * merged. SP_EINVAL with a sentence in err (SP_ERRMSG_MAX bytes): rows past
 * the tensor's first dimension or empty, two matching range rules that
 * overlap, rows no rule covers, an external or invalid scheme in a range.
 */
int sp_cli_paint_ranges(const sp_cli_rule *rules, size_t n, const sp_tensor *t,
                        const sp_init_scheme *base, sp_init_scheme *s, sp_init_range **r,
                        size_t *nr, char *err);

/*
 * The rule for tensor `name` among rules[0..n) (row-range rules are not
 * candidates: sp_cli_paint_ranges applies them): SP_OK with *pick set;
 * SP_ENOTFOUND when no rule matches; SP_EINVAL when the most specific
 * matching rules disagree (ambiguous), with *a and *b two of them.
 */
int sp_cli_pick_rule(const sp_cli_rule *rules, size_t n, const char *name,
                     size_t *pick, size_t *a, size_t *b);

/*
 * Binds a rule's scheme to tensor t: ORTHOGONAL takes its rows and columns
 * from t's shape (sp_init_orthogonal; SP_EINVAL when t is not a matrix of
 * at most the size limit); other kinds are left as they are. SP_OK.
 */
int sp_cli_bind_scheme(sp_init_scheme *s, const sp_tensor *t);

/* "normal:0:0.02"-style text of a scheme, into buf (at least 128 bytes). */
void sp_cli_scheme_text(char *buf, size_t len, const sp_init_scheme *s);

/*
 * Reads the whole regular file path (opened as SPEC.md 1.2 says; at most max
 * bytes) into a malloc'd *buf of *len bytes (plus a NUL). 0, or 2 after one
 * line "scratchproof CMD: FLAG PATH: why" on stderr.
 */
int sp_cli_read_file(const char *cmd, const char *flag, const char *path, uint64_t max,
                     char **buf, size_t *len);

#endif
