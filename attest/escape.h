/*
 * escape.h - the one way to print an untrusted string (SPEC.md 1.1).
 *
 * Every name, path or field that comes from a ledger, a file or the command
 * line goes through sp_escape before it reaches a terminal, so a model name
 * cannot move the cursor, recolour the screen, start a new line or reorder
 * text with a bidi override. The escaped form keeps printable ASCII and
 * valid UTF-8 as they are, and writes everything else as \xNN (lowercase
 * hex, one escape per byte) and a backslash as "\\":
 *
 *   - bytes 0x00-0x1f and 0x7f;
 *   - every byte that does not start a valid UTF-8 sequence (RFC 3629: the
 *     shortest form, no surrogates U+D800-U+DFFF, at most U+10FFFF);
 *   - the bytes of the code points U+0080-U+009F (C1 controls), U+061C,
 *     U+200E, U+200F, U+2028-U+202E and U+2066-U+2069 (line separators and
 *     bidirectional marks, overrides and isolates).
 *
 * The output is always valid UTF-8 without a control byte, and the escaping
 * is reversible (a literal backslash is doubled). Nothing here allocates
 * except the _dup functions; everything is thread-safe.
 */
#ifndef SP_ESCAPE_H
#define SP_ESCAPE_H

#include <stdio.h>

#include "sp_base.h"
#include "sp_escape.h"   /* public: sp_escape, sp_escape_n, sp_utf8_valid */

/* The most bytes one input character can take escaped: a 3-byte code point as \xNN\xNN\xNN. */
#define SP_ESCAPE_UNIT_MAX 12u

/* The escaped form in a fresh malloc'd string, NULL when out of memory. */
char *sp_escape_dup(const char *s) SP_NONNULL(1);
char *sp_escape_dupn(const void *s, size_t len);

/* Writes the escaped form of s to f without allocating; 0, or -1 on a write error. */
int sp_escape_fputs(const char *s, FILE *f) SP_NONNULL(1, 2);

/*
 * The same escaped form as HTML text or a quoted attribute value (the HTML
 * reports, SPEC.md 1.1): escaped as above, then & < > " ' as entities
 * (&amp; &lt; &gt; &quot; &#39;), so the page stays valid UTF-8 without
 * markup or a control byte from the string. 0, or -1 on a write error.
 */
int sp_escape_html_fputs(const char *s, FILE *f) SP_NONNULL(1, 2);

/*
 * In place: every byte that sp_escape would write as \xNN becomes '?'
 * (backslashes are kept). Used by sp_errf, so a detail line from the library
 * is one line of valid UTF-8 even before a caller escapes it for printing.
 */
void sp_escape_scrub(char *s) SP_NONNULL(1);

#endif
