/* fileio.c - non-blocking opening of input files, write error codes (fileio.h, SPEC.md 1.2). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

const char *sp_file_kind(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "of unknown type";
}

int sp_open_input(const char *path, struct stat *st, char *err)
{
    /* O_NONBLOCK: open(2) of a FIFO without a writer returns at once instead of waiting. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        sp_errf(err, "cannot open: %s", strerror(e));
        return e == ENOENT ? SP_ENOTFOUND : SP_EIO;
    }
    if (fstat(fd, st) != 0) {
        sp_errf(err, "cannot stat: %s", strerror(errno));
        close(fd);
        return SP_EIO;
    }
    if (!S_ISREG(st->st_mode)) {
        sp_errf(err, "not a regular file (%s)", sp_file_kind(st->st_mode));
        close(fd);
        return SP_EIO;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        sp_errf(err, "cannot clear O_NONBLOCK: %s", strerror(errno));
        close(fd);
        return SP_EIO;
    }
    return fd;
}

int sp_write_errno(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT ? SP_ENOSPC : SP_EIO;
}
