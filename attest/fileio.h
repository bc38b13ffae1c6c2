/*
 * fileio.h - opening an input file without ever blocking (SPEC.md 1.2).
 *
 * A path given by a user or found in a directory may name a FIFO, a device
 * or a socket; opening a FIFO for reading blocks until a writer appears, and
 * a tape or terminal device may do worse. Every reader of scratchproof opens
 * its inputs here: O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, then fstat
 * on the descriptor (no stat-then-open race), refusing anything that is not
 * a regular file at once. LMDB opens the ledger by path itself; the ledger
 * checks the path through this function first.
 */
#ifndef SP_FILEIO_H
#define SP_FILEIO_H

#include <sys/stat.h>

#include "sp_base.h"

/*
 * Opens path for reading. Returns a descriptor >= 0 (O_NONBLOCK cleared,
 * close-on-exec) with *st filled, or a negative code with err (if not NULL)
 * holding a detail that does not repeat the path, for the caller to prefix:
 * SP_ENOTFOUND (no such file), SP_EIO (cannot open or stat: the system's
 * reason; "not a regular file (a FIFO)", "(a directory)", ...).
 */
int sp_open_input(const char *path, struct stat *st, char *err) SP_WUR SP_NONNULL(1, 2);

/* What a file type is called in those messages: "a FIFO", "a directory", ... */
const char *sp_file_kind(mode_t mode);

/*
 * The SP_E* code for a failed write, fsync or rename with this errno:
 * SP_ENOSPC for ENOSPC and EDQUOT, SP_EIO otherwise.
 */
int sp_write_errno(int errnum);

#endif
