/*
 * sp_escape.h - the escaping of untrusted strings (SPEC.md 1.1), part of the
 * public API, installed as <scratchproof/sp_escape.h>: a program or binding
 * that prints a tensor name, model name or path from a ledger or a file
 * escapes it exactly as the scratchproof command does. Printable ASCII and
 * valid UTF-8 stay as they are; control bytes, invalid UTF-8, C1 controls,
 * line separators and bidi marks become \xNN; a backslash becomes "\\".
 * The rule in full, and the rest of the machinery, is attest/escape.h.
 * Nothing here allocates; thread-safe.
 */
#ifndef SP_ESCAPE_API_H
#define SP_ESCAPE_API_H

#include "sp_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes the escaped form of the NUL-terminated s into out, cap bytes
 * including the terminating NUL (out may be NULL when cap is 0). Returns the
 * length of the complete escaped form, as snprintf does: the output was cut
 * when the result is >= cap. A cut falls between characters, never inside
 * an escape or a UTF-8 sequence, and out is always NUL-terminated (cap > 0).
 */
SP_API size_t sp_escape(char *out, size_t cap, const char *s) SP_NONNULL(3);

/* The same for len bytes at s, which may hold NUL bytes (written \x00). */
SP_API size_t sp_escape_n(char *out, size_t cap, const void *s, size_t len);

/* 1 when s[0..len) is valid UTF-8 (RFC 3629: shortest form, no surrogates), else 0. */
SP_API int sp_utf8_valid(const void *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
