/*
 * passphrase.h - where the passphrase of an encrypted secret key file comes
 * from (SPEC.md 4.7): a file descriptor named by SCRATCHPROOF_PASSPHRASE_FD,
 * a file named by SCRATCHPROOF_PASSPHRASE_FILE, or a prompt on the terminal.
 * Never from argv. A passphrase is the bytes before the first "\n" (or the
 * end of input), 1 to SP_PASSPHRASE_MAX bytes.
 *
 * Buffers that receive a passphrase are the caller's, and should be
 * sodium_malloc'd and wiped with sodium_memzero after use; the functions here
 * wipe every copy they make. Not thread-safe (they read the environment and
 * may change terminal settings).
 */
#ifndef SP_PASSPHRASE_H
#define SP_PASSPHRASE_H

#include "sp_base.h"

#define SP_PASSPHRASE_MAX 1024u /* longest passphrase, bytes; buffers hold one more */
#define SP_PASSPHRASE_FD_ENV "SCRATCHPROOF_PASSPHRASE_FD"
#define SP_PASSPHRASE_FILE_ENV "SCRATCHPROOF_PASSPHRASE_FILE"

typedef enum sp_pass_source {
    SP_PASS_NONE = 0, /* no source: not set, and standard input is not a terminal */
    SP_PASS_FD,       /* SCRATCHPROOF_PASSPHRASE_FD is set (non-empty) */
    SP_PASS_FILE,     /* SCRATCHPROOF_PASSPHRASE_FILE is set (non-empty) */
    SP_PASS_TTY       /* neither, and standard input is a terminal */
} sp_pass_source;

/* The source sp_passphrase_read would use, in this order: FD, FILE, TTY, NONE. */
sp_pass_source sp_passphrase_source(void);

/* "SCRATCHPROOF_PASSPHRASE_FD", "...FILE", "the terminal" or "no source". */
const char *sp_passphrase_source_name(sp_pass_source s);

/*
 * Reads one passphrase from src into buf (SP_PASSPHRASE_MAX + 1 bytes; NUL-
 * terminated on success) and its length into *len. prompt is written to the
 * terminal (SP_PASS_TTY only; echo is off while the line is read). An empty
 * line is returned as *len == 0: the caller decides what it means.
 * Errors, each SP_EKEY with err naming the source: SP_PASS_NONE given; the
 * variable does not hold a valid open descriptor / the file cannot be opened
 * or read, is not a regular file or FIFO, or (a regular file) is readable by
 * group or others; the passphrase is longer than SP_PASSPHRASE_MAX; no
 * terminal can be opened. On failure buf is wiped and *len is 0.
 */
int sp_passphrase_read(char *buf, size_t *len, sp_pass_source src, const char *prompt,
                       char *err) SP_WUR SP_NONNULL(1, 2, 4);

#endif
