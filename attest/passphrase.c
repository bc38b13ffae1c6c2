/*
 * passphrase.c - reading the passphrase of an encrypted secret key
 * (passphrase.h, SPEC.md 4.7) from a descriptor, a file or the terminal.
 * Input is read one byte at a time so that nothing past the first newline is
 * consumed from a shared descriptor, and no stdio buffer ever holds a copy.
 */
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

sp_pass_source sp_passphrase_source(void)
{
    const char *fd = getenv(SP_PASSPHRASE_FD_ENV);
    if (fd != NULL && fd[0] != '\0')
        return SP_PASS_FD;
    const char *file = getenv(SP_PASSPHRASE_FILE_ENV);
    if (file != NULL && file[0] != '\0')
        return SP_PASS_FILE;
    return isatty(STDIN_FILENO) ? SP_PASS_TTY : SP_PASS_NONE;
}

const char *sp_passphrase_source_name(sp_pass_source s)
{
    switch (s) {
    case SP_PASS_FD: return SP_PASSPHRASE_FD_ENV;
    case SP_PASS_FILE: return SP_PASSPHRASE_FILE_ENV;
    case SP_PASS_TTY: return "the terminal";
    default: return "no source";
    }
}

/*
 * Reads bytes from fd into buf until "\n" or end of input. Returns the
 * length (the newline excluded), -1 on a read error (errno set), -2 when
 * more than SP_PASSPHRASE_MAX bytes come before the newline.
 */
static long read_line(int fd, char *buf)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0 || c == '\n')
            break;
        if (n == SP_PASSPHRASE_MAX)
            return -2;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (long)n;
}

/* The descriptor number in SCRATCHPROOF_PASSPHRASE_FD, or -1 when it is not one. */
static int env_fd(const char *s)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX)
        return -1;
    return fcntl((int)v, F_GETFD) == -1 ? -1 : (int)v;
}

/* Writes s to fd with control bytes shown as '?' (a prompt quotes a path). */
static void write_prompt(int fd, const char *s)
{
    for (; *s != '\0'; s++) {
        char c = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
        if (write(fd, &c, 1) != 1)
            return;
    }
}

static int from_tty(char *buf, long *got, const char *prompt, char *err)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        sp_errf(err, "cannot open the terminal for a passphrase: %s", strerror(errno));
        return SP_EKEY;
    }
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0) {
        sp_errf(err, "cannot read the terminal settings: %s", strerror(errno));
        close(fd);
        return SP_EKEY;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    quiet.c_lflag |= ECHONL;          /* the user still sees the line end */
    quiet.c_lflag |= ICANON;
    /* TCSANOW, not TCSAFLUSH: a line typed ahead (the confirmation) is kept. */
    if (tcsetattr(fd, TCSANOW, &quiet) != 0) {
        sp_errf(err, "cannot turn terminal echo off: %s", strerror(errno));
        close(fd);
        return SP_EKEY;
    }
    write_prompt(fd, prompt);
    *got = read_line(fd, buf);
    int saved = errno;
    (void)tcsetattr(fd, TCSANOW, &old);
    close(fd);
    if (*got == -1) {
        sp_errf(err, "cannot read a passphrase from the terminal: %s", strerror(saved));
        return SP_EKEY;
    }
    return SP_OK;
}

static int from_file(char *buf, long *got, const char *path, char *err)
{
    /* Symbolic links are allowed here: /dev/fd/N from a shell's <(...) is one. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        sp_errf(err, SP_PASSPHRASE_FILE_ENV "=%s: cannot open: %s", path, strerror(errno));
        return SP_EKEY;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        sp_errf(err, SP_PASSPHRASE_FILE_ENV "=%s: not a regular file or pipe", path);
        close(fd);
        return SP_EKEY;
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 0077) != 0) {
        sp_errf(err, SP_PASSPHRASE_FILE_ENV "=%s: permissions too open (%03o); chmod 600 %s",
                path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return SP_EKEY;
    }
    *got = read_line(fd, buf);
    int saved = errno;
    close(fd);
    if (*got == -1) {
        sp_errf(err, SP_PASSPHRASE_FILE_ENV "=%s: cannot read: %s", path, strerror(saved));
        return SP_EKEY;
    }
    return SP_OK;
}

int sp_passphrase_read(char *buf, size_t *len, sp_pass_source src, const char *prompt, char *err)
{
    *len = 0;
    long got = -1;
    int rc = SP_EKEY;
    const char *v;
    switch (src) {
    case SP_PASS_FD: {
        v = getenv(SP_PASSPHRASE_FD_ENV);
        int fd = env_fd(v);
        if (fd < 0) {
            sp_errf(err, SP_PASSPHRASE_FD_ENV "=%s is not an open file descriptor", v ? v : "");
            break;
        }
        got = read_line(fd, buf);
        if (got == -1)
            sp_errf(err, SP_PASSPHRASE_FD_ENV "=%s: cannot read: %s", v, strerror(errno));
        else
            rc = SP_OK;
        break;
    }
    case SP_PASS_FILE:
        v = getenv(SP_PASSPHRASE_FILE_ENV);
        rc = from_file(buf, &got, v ? v : "", err);
        break;
    case SP_PASS_TTY:
        rc = from_tty(buf, &got, prompt, err);
        break;
    default:
        sp_errf(err, "no passphrase source: set " SP_PASSPHRASE_FILE_ENV " or "
                SP_PASSPHRASE_FD_ENV ", or run on a terminal");
        break;
    }
    if (rc == SP_OK && got == -2) {
        sp_errf(err, "passphrase from %s is longer than %u bytes", sp_passphrase_source_name(src),
                SP_PASSPHRASE_MAX);
        rc = SP_EKEY;
    }
    if (rc != SP_OK) {
        sodium_memzero(buf, SP_PASSPHRASE_MAX + 1);
        return rc;
    }
    *len = (size_t)got;
    return SP_OK;
}
