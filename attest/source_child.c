/*
 * source_child.c - reads an LMDB ledger in a child process (source_child.h,
 * SPEC.md 14.2). LMDB trusts the pages it maps: a damaged file can make it
 * fault (SIGBUS, SIGSEGV), abort on an assertion or loop. All of that happens
 * here, in a forked child under resource limits, never in the verifier. The
 * child's only output is a pipe carrying the bundle framing, which the parent
 * parses with the strict bundle reader, and one status message.
 *
 * The child ends with _exit, never exit: it must not run the parent's atexit
 * handlers or flush the parent's stdio buffers. That is the one way a forked
 * child of a library can end, and it is not the library exiting its caller.
 */
#include "source_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "le.h"
#include "ledger.h"
#include "record.h"

#if defined(__SANITIZE_ADDRESS__)
#define SP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SP_UNDER_ASAN 1
#endif
#endif

sp_source_fault sp_child_fault = SP_FAULT_NONE;
unsigned sp_child_fault_after = 0;
int sp_child_by_value = 0;

#define CHILD_EXIT_REPORTED 3   /* the child wrote a status message */

typedef struct child_msg {
    int32_t code;               /* SP_E* */
    int32_t unreadable;         /* 1: not a (scratchproof) ledger or no access; 0: damage */
    char text[SP_ERRMSG_MAX];
} child_msg;

/* ---------------- the child ---------------- */

typedef struct out_buf {
    int fd;
    size_t n;
    unsigned entries;
    int by_ref;                 /* values as references into the file (SP_CHILD_MODE_REF) */
    dev_t dev;                  /* the ledger file's device and inode */
    ino_t ino;
    uintptr_t map_lo, map_hi;   /* the mapping of it that holds the last value */
    uint64_t map_off;           /* the file offset at map_lo */
    uint8_t b[65536];
} out_buf;

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return SP_EIO;
        p += n;
        len -= (size_t)n;
    }
    return SP_OK;
}

static int out_flush(out_buf *o)
{
    int rc = write_all(o->fd, o->b, o->n);
    o->n = 0;
    return rc;
}

static int out_write(void *ctx, const uint8_t *p, size_t len)
{
    out_buf *o = ctx;
    if (len > sizeof o->b - o->n) {
        int rc = out_flush(o);
        if (rc != SP_OK || len >= sizeof o->b)
            return rc != SP_OK ? rc : write_all(o->fd, p, len);
    }
    memcpy(o->b + o->n, p, len);
    o->n += len;
    return SP_OK;
}

static void report(int msg_fd, int code, int unreadable, const char *text)
{
    child_msg m;
    memset(&m, 0, sizeof m);
    m.code = code;
    m.unreadable = unreadable;
    snprintf(m.text, sizeof m.text, "%s", text);
    (void)write_all(msg_fd, (const uint8_t *)&m, sizeof m);
}

static char child_why[SP_ERRMSG_MAX]; /* what the child's visitor refused */

static int child_count(void *ctx, uint64_t n)
{
    if (n > SP_BUNDLE_COUNT_MAX) {
        sp_errf(child_why, "the records database claims %llu entries (a bundle holds at most %u)",
                (unsigned long long)n, SP_BUNDLE_COUNT_MAX);
        return SP_ERANGE;
    }
    return sp_bundle_write_header(out_write, ctx, n, 0);
}

static void inject(out_buf *o)
{
    static const uint8_t junk[] = "this is not the bundle framing";
    switch (sp_child_fault) {
    case SP_FAULT_SEGV: (void)out_flush(o); raise(SIGSEGV); break;
    case SP_FAULT_HANG: (void)out_flush(o); for (;;) pause(); break;
    case SP_FAULT_GARBAGE: (void)out_write(o, junk, sizeof junk); break;
    default: break;
    }
}

/*
 * Finds, in /proc/self/maps, the mapping of the ledger file that holds
 * [p, p+len) (with any, the first mapping of the file): LMDB maps the file
 * read-only, so a value it hands out is bytes of the file at a known offset.
 * SP_OK with o->map_*, else SP_ERANGE.
 */
static int find_mapping(out_buf *o, uintptr_t p, size_t len, int any)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return SP_ERANGE;
    char line[4096 + 256];
    int rc = SP_ERANGE;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi, maj, mi;
        unsigned long long off, ino;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s %llx %lx:%lx %llu", &lo, &hi, perm, &off, &maj, &mi, &ino) != 7)
            continue;
        int file = (ino_t)ino == o->ino && makedev(maj, mi) == o->dev;
        if (any ? !file : p < lo || p >= hi || len > hi - p)
            continue;
        if (file) {
            o->map_lo = lo;
            o->map_hi = hi;
            o->map_off = off;
            rc = SP_OK;
        }
        break;
    }
    fclose(f);
    return rc;
}

static int child_entry(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    out_buf *o = ctx;
    if (sp_child_fault != SP_FAULT_NONE && o->entries == sp_child_fault_after)
        inject(o);
    if (len > SP_RECORD_MAX || keylen == 0 || keylen > SP_BUNDLE_KEY_MAX) {
        sp_errf(child_why, "entry %u has a key of %zu bytes and a value of %zu bytes (limits: "
                "1..%u, %u)", o->entries, keylen, len, SP_BUNDLE_KEY_MAX, SP_RECORD_MAX);
        return SP_ERANGE;
    }
    uint8_t ref[SP_CHILD_REF_BYTES];
    if (o->by_ref) {   /* where the value lies in the file, not the value (SPEC.md 14.2) */
        uintptr_t p = (uintptr_t)val;
        if ((p < o->map_lo || p >= o->map_hi || len > o->map_hi - p) &&
            find_mapping(o, p, len, 0) != SP_OK) {
            sp_errf(child_why, "entry %u: its value is not in the ledger file's mapping", o->entries);
            return SP_ERANGE;
        }
        sp_put_le64(ref, o->map_off + (uint64_t)(p - o->map_lo));
        sp_put_le64(ref + 8, (uint64_t)len);
        val = ref;
        len = sizeof ref;
        if (sp_child_fault == SP_FAULT_REF_PAST_END && o->entries == sp_child_fault_after)
            sp_put_le64(ref, (uint64_t)1 << 40);
        if (sp_child_fault == SP_FAULT_REF_SHORT && o->entries == sp_child_fault_after)
            len = sizeof ref - 1;
    }
    int rc = sp_bundle_write_entry(out_write, o, key, keylen, val, len);
    if (rc == SP_OK && sp_child_fault == SP_FAULT_EXTRA && o->entries == sp_child_fault_after)
        rc = sp_bundle_write_entry(out_write, o, key, keylen, val, len);
    o->entries++;
    return rc;
}

/*
 * A private copy of the ledger with meta page `use` presented at both meta
 * offsets, for LMDB, which refuses a file with one invalid meta page
 * (SPEC.md 14.3). Returns the copy's path in buf, or NULL.
 */
static const char *patched_copy(const char *path, const sp_lmdb_info *info, char *dir, size_t dircap,
                                char *buf, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dircap, "%s/sp-ledger.XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return NULL;
    snprintf(buf, cap, "%s/copy.ledger", dir);
    int in = open(path, O_RDONLY | O_CLOEXEC), out = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int ok = in >= 0 && out >= 0;
    uint8_t b[65536];
    while (ok) {
        ssize_t n = read(in, b, sizeof b);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        ok = write_all(out, b, (size_t)n) == SP_OK;
    }
    int use = info->use, other = 1 - use;
    if (ok)
        ok = pread(in, b, SP_LMDB_META_BYTES, (off_t)use * info->psize) == SP_LMDB_META_BYTES;
    if (ok) {
        for (int i = 0; i < 8; i++) /* the page header's page number */
            b[i] = i == 0 ? (uint8_t)other : 0;
        ok = pwrite(out, b, SP_LMDB_META_BYTES, (off_t)other * info->psize) == SP_LMDB_META_BYTES;
    }
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        ok = 0;
    return ok ? buf : NULL;
}

static void remove_copy(const char *dir, const char *copy)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", copy);
    (void)unlink(lock);
    (void)unlink(copy);
    (void)rmdir(dir);
}

/* Limits: no core files, bounded CPU, and (outside ASan, whose shadow memory
 * needs the address space) bounded address space: what the process has now,
 * plus the map LMDB asks for, plus room for LMDB's own allocations. */
static void set_limits(const sp_lmdb_info *info)
{
    struct rlimit rl = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = rl.rlim_max = 120 + (rlim_t)(info->file_size >> 23);
    (void)setrlimit(RLIMIT_CPU, &rl);
#ifndef SP_UNDER_ASAN
    unsigned long long vsize_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &vsize_pages) != 1)
            vsize_pages = 0;
        fclose(f);
    }
    uint64_t map = info->file_size;
    if (info->use >= 0 && info->page[info->use].mapsize > map)
        map = info->page[info->use].mapsize;
    uint64_t now = (uint64_t)vsize_pages * (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t room = (uint64_t)512 << 20;
    if (vsize_pages > 0 && map < ((uint64_t)1 << 46) && now < ((uint64_t)1 << 46)) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)(now + map + room);
        (void)setrlimit(RLIMIT_AS, &rl);
    }
#endif
}

/* path: the ledger, or the parent's patched copy of it (SPEC.md 14.3). */
static void child_main(const char *path, const sp_lmdb_info *info, int data_fd, int msg_fd,
                       int release_fd, pid_t parent)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* an orphan never outlives the verifier */
    if (getppid() != parent)
        _exit(1);
    /* Die plainly of whatever LMDB meets: the parent names the signal. Handlers
     * the host program (a test framework, a sanitizer) installed would not. */
    static const int fatal[] = {SIGPIPE, SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) { /* no stray output from LMDB or a sanitizer's crash report */
        (void)dup2(devnull, STDOUT_FILENO);
        (void)dup2(devnull, STDERR_FILENO);
    }
    set_limits(info);
    char err[SP_ERRMSG_MAX] = "";
    sp_ledger *l = NULL;
    int rc = sp_ledger_open(&l, path, SP_LEDGER_RDONLY, err);
    if (rc != SP_OK) {
        int unreadable = rc == SP_EFORMAT || rc == SP_EIO || rc == SP_ENOTFOUND;
        report(msg_fd, rc, unreadable, err);
        _exit(CHILD_EXIT_REPORTED);
    }
    static out_buf o;
    o.fd = data_fd;
    struct stat st;
    /* By reference when the file can be told among the mappings, with a snapshot held
     * so that no writer reuses a page before the parent has read it (SPEC.md 14.2). */
    o.by_ref = !sp_child_by_value && stat(path, &st) == 0;
    if (o.by_ref) {
        o.dev = st.st_dev;
        o.ino = st.st_ino;
    }
    /* (no /proc, or LMDB not mapping the file: the values themselves) */
    o.by_ref = o.by_ref && find_mapping(&o, 0, 0, 1) == SP_OK && sp_ledger_hold_snapshot(l) == SP_OK;
    const uint8_t mode = o.by_ref ? SP_CHILD_MODE_REF : SP_CHILD_MODE_VALUE;
    rc = out_write(&o, &mode, 1);
    if (rc == SP_OK)
        rc = sp_ledger_foreach_counted(l, child_count, child_entry, &o);
    if (rc == SP_OK)
        rc = out_flush(&o);
    if (rc != SP_OK) {
        const char *why = sp_ledger_errmsg(l);
        if (child_why[0] != '\0')
            why = child_why;
        else if (why[0] == '\0')
            why = sp_strerror(rc);
        report(msg_fd, rc, 0, why);
        _exit(CHILD_EXIT_REPORTED);
    }
    close(data_fd);   /* the end of the stream; the snapshot stays held */
    uint8_t b;
    while (read(release_fd, &b, 1) < 0 && errno == EINTR)
        ;             /* end of file: the parent has read every value */
    _exit(0);
}

/* ---------------- the parent ---------------- */

/* Closes the first n of the pipes p. */
static void close_pipes(int p[][2], int n)
{
    for (int k = 0; k < n; k++) {
        close(p[k][0]);
        close(p[k][1]);
    }
}

int sp_child_start(sp_child *c, const char *path, const sp_lmdb_info *info, char *err)
{
    enum { DATA, MSG, RELEASE, NPIPES };
    int p[NPIPES][2];
    c->pid = -1;
    c->data_fd = c->msg_fd = c->release_fd = c->file_fd = -1;
    c->timed_out = 0;
    c->rpos = c->rlen = 0;
    for (int k = 0; k < NPIPES; k++)
        if (pipe2(p[k], O_CLOEXEC) != 0) {
            sp_errf(err, "%s: cannot start the ledger reader: pipe: %s", path, strerror(errno));
            close_pipes(p, k);
            return SP_EIO;
        }
    c->dir[0] = c->copy[0] = '\0';
    const char *open_path = path;
    int failed = 0;
    /* The copy is plain reads and writes, safe here; LMDB maps it only in the child. */
    if (info->patch && (open_path = patched_copy(path, info, c->dir, sizeof c->dir, c->copy,
                                                 sizeof c->copy)) == NULL) {
        sp_errf(err, "%s: cannot make a private copy to read the older snapshot: %s", path,
                strerror(errno));
        failed = 1;
    /* The values are read from this descriptor, of the file the child reads. */
    } else if ((c->file_fd = open(open_path, O_RDONLY | O_CLOEXEC)) < 0) {
        sp_errf(err, "%s: cannot open: %s", open_path, strerror(errno));
        failed = 1;
    }
    pid_t parent = getpid(), pid = -1;
    if (!failed) {
        fflush(NULL); /* nothing buffered is written twice */
        if ((pid = fork()) < 0)
            sp_errf(err, "%s: cannot start the ledger reader: fork: %s", path, strerror(errno));
    }
    if (pid < 0) {
        if (c->dir[0] != '\0')
            remove_copy(c->dir, c->copy);
        c->dir[0] = '\0';
        close_pipes(p, NPIPES);
        if (c->file_fd >= 0)
            close(c->file_fd);
        c->file_fd = -1;
        return SP_EIO;
    }
    if (pid == 0) {
        close(p[DATA][0]);
        close(p[MSG][0]);
        close(p[RELEASE][1]);
        child_main(open_path, info, p[DATA][1], p[MSG][1], p[RELEASE][0], parent);
        _exit(1); /* not reached */
    }
    close(p[DATA][1]);
    close(p[MSG][1]);
    close(p[RELEASE][0]);
    c->pid = pid;
    c->data_fd = p[DATA][0];
    c->msg_fd = p[MSG][0];
    c->release_fd = p[RELEASE][1];
    return SP_OK;
}

/* Waits for fd to be readable; 0 ready, 1 timed out, -1 error. */
static int wait_readable(int fd, unsigned ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&p, 1, (int)ms);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 ? 0 : n == 0 ? 1 : -1;
    }
}

int sp_child_read(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err)
{
    sp_child *c = ctx;
    *got = 0;
    if (c->rpos == c->rlen) {
        if (wait_readable(c->data_fd, c->timeout_ms) == 1) {
            c->timed_out = 1;
            sp_errf(err, "the reader stopped responding (nothing for %u ms) and was killed",
                    c->timeout_ms);
            return SP_EIO;
        }
        ssize_t n;
        while ((n = read(c->data_fd, c->rbuf, sizeof c->rbuf)) < 0 && errno == EINTR)
            ;
        if (n < 0) {
            sp_errf(err, "reading from the ledger reader: %s", strerror(errno));
            return SP_EIO;
        }
        c->rpos = 0;
        c->rlen = (size_t)n;
        if (n == 0)
            return SP_OK; /* end of the stream */
    }
    size_t k = c->rlen - c->rpos < len ? c->rlen - c->rpos : len;
    memcpy(buf, c->rbuf + c->rpos, k);
    c->rpos += k;
    *got = k;
    return SP_OK;
}

int sp_child_finish(sp_child *c, int kill_it, int *code, char *why)
{
    *code = SP_OK;
    why[0] = '\0';
    if (c->pid < 0)
        return SP_CHILD_DAMAGED;
    /* A child still writing gets EPIPE or SIGPIPE now instead of blocking; one that
     * holds its snapshot for the values read by reference exits. */
    close(c->data_fd);
    c->data_fd = -1;
    close(c->release_fd);
    c->release_fd = -1;
    child_msg m;
    memset(&m, 0, sizeof m);
    size_t have = 0;
    if (kill_it || c->timed_out) {
        (void)kill(c->pid, SIGKILL);
    } else {
        /* The message pipe reaches end of file when the child exits. */
        while (have < sizeof m) {
            int w = wait_readable(c->msg_fd, c->timeout_ms);
            if (w == 1) {
                c->timed_out = 1; /* silent and not exiting: stuck */
                (void)kill(c->pid, SIGKILL);
                break;
            }
            ssize_t n = w == 0 ? read(c->msg_fd, (uint8_t *)&m + have, sizeof m - have) : -1;
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            have += (size_t)n;
        }
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(c->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    close(c->msg_fd);
    c->msg_fd = -1;
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    c->pid = -1;
    if (c->dir[0] != '\0') { /* the private copy, whatever became of the child */
        remove_copy(c->dir, c->copy);
        c->dir[0] = '\0';
    }
    m.text[sizeof m.text - 1] = '\0';
    if (r < 0) /* SIGCHLD ignored by the host program: the status is gone */
        st = have == sizeof m ? CHILD_EXIT_REPORTED << 8 : 0;
    if (c->timed_out) {
        sp_errf(why, "the reader stopped responding (nothing for %u ms) and was killed", c->timeout_ms);
        return SP_CHILD_DAMAGED;
    }
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        const char *abbr = sigabbrev_np(sig);
        if ((kill_it && sig == SIGKILL) || sig == SIGPIPE) {
            sp_errf(why, "the reader was stopped");
            return SP_CHILD_STOPPED;
        }
        if (abbr != NULL)
            sp_errf(why, "the reader died of SIG%s", abbr);
        else
            sp_errf(why, "the reader died of signal %d", sig);
        return SP_CHILD_DAMAGED;
    }
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (status == CHILD_EXIT_REPORTED && have == sizeof m) {
        *code = m.code < 0 ? m.code : SP_ELEDGER;
        sp_errf(why, "%s", m.text[0] ? m.text : sp_strerror(*code));
        return m.unreadable ? SP_CHILD_UNREADABLE : SP_CHILD_DAMAGED;
    }
    if (status == 0 && have == 0)
        return SP_CHILD_OK;
    sp_errf(why, "the reader failed (exit status %d)", status);
    return SP_CHILD_DAMAGED;
}
