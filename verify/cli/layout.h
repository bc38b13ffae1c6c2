/*
 * layout.h - the tensor layout `scratchproof init --layout FILE` reads
 * (SPEC.md 8.2): one tensor per line, "NAME SHAPE [DTYPE]", SHAPE as
 * 64x32 (dimensions joined by 'x') or "scalar", DTYPE F32 (default), F16 or
 * BF16; blank lines and lines starting with '#' are skipped. The text is
 * untrusted input: every field is checked, a bad line is named by number.
 */
#ifndef SP_LAYOUT_H
#define SP_LAYOUT_H

#include <stddef.h>

#include "sp_base.h"

typedef struct sp_layout {
    size_t n;
    sp_tensor *t;      /* names owned by the layout, data NULL, nbytes set */
} sp_layout;

/*
 * Parses len bytes of layout text (need not be NUL-terminated); dflt is the
 * dtype of lines without one. Returns SP_OK with *out set, SP_EFORMAT with
 * err ("line N: ...") for a bad line, a repeated name or a NUL byte,
 * SP_ERANGE for a shape too large, SP_ENOMEM.
 */
int sp_layout_parse(sp_layout **out, const char *buf, size_t len, sp_dtype dflt, char *err)
    SP_WUR SP_NONNULL(1);

/* NULL is a no-op. */
void sp_layout_free(sp_layout *l);

/*
 * The batch list of `record checkpoint|final --batches LIST` (SPEC.md 8.4):
 * one batch commitment per line, "STEP FILE", FILE holding that batch's
 * bytes (the rest of the line, trailing whitespace dropped); blank and '#'
 * lines skipped. Steps >= 1 and never decreasing.
 */
typedef struct sp_batch_entry {
    uint64_t step;
    char *file;
    size_t line;
} sp_batch_entry;

typedef struct sp_batch_list {
    size_t n;
    sp_batch_entry *e;
} sp_batch_list;

/* Parses len bytes; SP_OK with *out, SP_EFORMAT with err ("line N: ..."), SP_ENOMEM. */
int sp_batch_list_parse(sp_batch_list **out, const char *buf, size_t len, char *err)
    SP_WUR SP_NONNULL(1);
void sp_batch_list_free(sp_batch_list *l);

#endif
