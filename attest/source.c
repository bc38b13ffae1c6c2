/*
 * source.c - one way to get a verifier's records (source.h, SPEC.md 14):
 * from a bundle, parsed in process, or from an LMDB ledger, read in a child
 * process (source_child.c) after its meta pages were checked here
 * (lmdb_meta.c). Damage of a ledger becomes a finding; a malformed bundle
 * is unreadable input.
 */
#include "source.h"
#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "le.h"
#include "lmdb_meta.h"
#include "record.h"
#include "source_child.h"

#define DEFAULT_TIMEOUT_MS 60000u

static unsigned test_timeout_ms = 0;

void sp_source_test_fault(sp_source_fault f, unsigned after)
{
    sp_child_fault = f;
    sp_child_fault_after = after;
}

void sp_source_test_by_value(int on)
{
    sp_child_by_value = on != 0;
}

void sp_source_test_timeout(unsigned ms)
{
    test_timeout_ms = ms;
}

struct sp_source {
    sp_source_kind kind;
    char *path;
    int fd;                   /* the file while it is being identified; -1 after */
    FILE *file;               /* the bundle, buffered */
    sp_child child;           /* the ledger's reader */
    sp_bundle_reader *rd;     /* NULL: a damaged ledger with nothing to read */
    uint64_t seen;
    int used;
    int damaged;
    char damage[2 * SP_ERRMSG_MAX];
    char errmsg[SP_ERRMSG_MAX];
    uint8_t *head;
    size_t headlen;
    int by_ref;               /* the child sends references into child.file_fd (SPEC.md 14.2) */
    uint8_t *vbuf;            /* one value read by reference */
    size_t vcap;
};

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

/* Adds a finding; a second one is appended after "; ". */
static void add_damage(sp_source *s, const char *text)
{
    size_t n = strlen(s->damage);
    if (n > 0 && n + 2 < sizeof s->damage) {
        memcpy(s->damage + n, "; ", 2);
        n += 2;
    }
    snprintf(s->damage + n, sizeof s->damage - n, "%s", text);
    s->damaged = 1;
}

static int file_read(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err)
{
    sp_source *s = ctx;
    *got = fread(buf, 1, len, s->file);
    if (*got == 0 && ferror(s->file)) {
        sp_errf(err, "read error: %s", strerror(errno));
        return SP_EIO;
    }
    return SP_OK;
}

/*
 * The stored value an entry of a by-reference stream names: its offset and
 * length are checked against the limits and the file, and the bytes read
 * with pread (a file shortened meanwhile is a short read, never a fault).
 * SP_EFORMAT with err when the reference is not one; SP_ENOMEM.
 */
static int fetch_value(sp_source *s, const uint8_t **v, size_t *vl, sp_source_alloc_fn alloc,
                       void *ctx, char *err)
{
    if (*vl != SP_CHILD_REF_BYTES) {
        sp_errf(err, "entry %llu is %zu bytes, not a %d-byte reference", ull(s->seen), *vl,
                SP_CHILD_REF_BYTES);
        return SP_EFORMAT;
    }
    uint64_t off = sp_get_le64(*v), len = sp_get_le64(*v + 8);
    if (len > SP_RECORD_MAX || off > (uint64_t)INT64_MAX - len) {
        sp_errf(err, "entry %llu refers to %llu bytes at offset %llu (at most %u bytes)",
                ull(s->seen), ull(len), ull(off), SP_RECORD_MAX);
        return SP_EFORMAT;
    }
    uint8_t *dst;
    if (alloc != NULL) {
        dst = alloc(ctx, (size_t)len);
    } else {
        if (len > s->vcap) {
            size_t cap = s->vcap ? s->vcap : 65536;
            while (cap < len)
                cap *= 2;
            uint8_t *b = realloc(s->vbuf, cap);
            if (b != NULL) {
                s->vbuf = b;
                s->vcap = cap;
            }
        }
        dst = len <= s->vcap ? s->vbuf : NULL;
    }
    if (dst == NULL) {
        sp_errf(err, "out of memory reading a value of %llu bytes", ull(len));
        return SP_ENOMEM;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(s->child.file_fd, dst + done, (size_t)len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sp_errf(err, "entry %llu refers to %llu bytes at offset %llu, %s", ull(s->seen),
                    ull(len), ull(off), n < 0 ? strerror(errno) : "past the end of the file");
            return n < 0 ? SP_EIO : SP_EFORMAT;
        }
        done += (size_t)n;
    }
    *v = dst;
    *vl = (size_t)len;
    return SP_OK;
}

/*
 * After the child's stream failed or ended: how the child ended decides the
 * finding. Returns SP_OK, or the child's code when it reported the file
 * unreadable rather than damaged.
 */
static int end_child(sp_source *s, int kill, const char *stream_err, char *err)
{
    int code;
    char why[SP_ERRMSG_MAX], line[2 * SP_ERRMSG_MAX];
    int out = sp_child_finish(&s->child, kill, &code, why);
    if (kill)
        return SP_OK; /* the caller stopped the walk: its reason is the one that counts */
    uint64_t n = s->rd != NULL ? sp_bundle_reader_count(s->rd) : 0;
    if (out == SP_CHILD_UNREADABLE) {
        sp_errf(err, "%s", why);
        return code;
    }
    if (out == SP_CHILD_OK && stream_err == NULL)
        return SP_OK;
    if (out == SP_CHILD_DAMAGED && s->rd == NULL)
        snprintf(line, sizeof line, "ledger damaged: %s, before any record was read", why);
    else if (out == SP_CHILD_DAMAGED)
        snprintf(line, sizeof line, "ledger damaged: %s, after %llu of %llu records", why,
                 ull(s->seen), ull(n));
    else
        snprintf(line, sizeof line, "ledger damaged: the reader's output is malformed: %s",
                 stream_err != NULL ? stream_err : why);
    add_damage(s, line);
    return SP_OK;
}

/* Opens a ledger: meta pages here, then the child, whose stream header is read now. */
static int open_ledger(sp_source *s, uint64_t size, char *err)
{
    sp_lmdb_info info;
    char e[SP_ERRMSG_MAX] = "";
    int rc = sp_lmdb_inspect(&info, s->fd, size, e);
    close(s->fd);
    s->fd = -1;
    if (rc != SP_OK) {
        sp_errf(err, "%s: %s", s->path, e);
        return rc;
    }
    if (!info.looks_lmdb) {
        sp_errf(err, "%s: neither a scratchproof ledger nor a bundle (no LMDB meta page, no "
                "bundle magic)", s->path);
        return SP_EFORMAT;
    }
    if (info.damaged)
        add_damage(s, info.damage);
    if (info.use < 0)
        return SP_OK; /* nothing LMDB could read: the finding stands alone */
    s->child.timeout_ms = test_timeout_ms ? test_timeout_ms : DEFAULT_TIMEOUT_MS;
    if ((rc = sp_child_start(&s->child, s->path, &info, err)) != SP_OK)
        return rc;
    uint8_t mode = 0;
    size_t got = 0;
    rc = sp_child_read(&s->child, &mode, 1, &got, e);
    if (rc == SP_OK && got == 1 && mode != SP_CHILD_MODE_REF && mode != SP_CHILD_MODE_VALUE) {
        rc = SP_EFORMAT;
        sp_errf(e, "the stream does not start with a mode byte");
    }
    s->by_ref = got == 1 && mode == SP_CHILD_MODE_REF;
    if (rc == SP_OK)   /* nothing at all (got 0) fails here, as the child's report explains */
        rc = sp_bundle_reader_open(&s->rd, sp_child_read, &s->child, e);
    if (rc != SP_OK) {
        char ce[SP_ERRMSG_MAX] = "";
        int crc = end_child(s, 0, e, ce);
        if (crc != SP_OK) {
            sp_errf(err, "%s", ce);
            return crc;
        }
    }
    return SP_OK;
}

/*
 * A detail line with the path verbatim: the command line escapes the whole
 * line it prints (SPEC.md 1.1), so control bytes in a path show as \xNN there.
 */
__attribute__((format(printf, 2, 3)))
static void putf(char *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SP_ERRMSG_MAX, fmt, ap);
    va_end(ap);
}

int sp_source_open(sp_source **out, const char *path, char *err)
{
    *out = NULL;
    char e[SP_ERRMSG_MAX] = "";
    if (path[0] == '\0') {
        putf(err, "empty ledger path");
        return SP_EINVAL;
    }
    /* Non-blocking open, then fstat: a FIFO or device is refused at once (SPEC.md 1.2). */
    struct stat st;
    int fd = sp_open_input(path, &st, e);
    if (fd == SP_ENOTFOUND) {
        putf(err, "%s: no such ledger or bundle", path);
        return SP_ENOTFOUND;
    }
    if (fd < 0) {
        putf(err, "%s: %s", path, e);
        return SP_EIO;
    }
    sp_source *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        close(fd);
        putf(err, "%s: out of memory", path);
        return SP_ENOMEM;
    }
    s->child.pid = -1;
    s->fd = fd;
    int rc = SP_OK;
    uint8_t magic[SP_BUNDLE_MAGIC_BYTES];
    ssize_t got = pread(s->fd, magic, sizeof magic, 0);
    if (got < 0) {
        putf(err, "%s: cannot read: %s", path, strerror(errno));
        rc = SP_EIO;
    } else if (st.st_size == 0) {
        putf(err, "%s: empty file, neither a ledger nor a bundle", path);
        rc = SP_EFORMAT;
    } else if (got == (ssize_t)sizeof magic && memcmp(magic, SP_BUNDLE_MAGIC, sizeof magic) == 0) {
        s->kind = SP_SOURCE_BUNDLE;
        if ((s->file = fdopen(s->fd, "rb")) == NULL) {
            putf(err, "%s: cannot read: %s", path, strerror(errno));
            rc = SP_EIO;
        } else {
            s->fd = -1; /* owned by s->file now */
            rc = sp_bundle_reader_open(&s->rd, file_read, s, e);
            if (rc != SP_OK)
                putf(err, "%s: %s", path, e);
        }
    } else {
        s->kind = SP_SOURCE_LEDGER;
        rc = open_ledger(s, (uint64_t)st.st_size, err);
    }
    if (rc != SP_OK) {
        sp_source_close(s);
        return rc;
    }
    *out = s;
    return SP_OK;
}

static int foreach(sp_source *s, sp_source_alloc_fn alloc, sp_ledger_visit_fn fn, void *ctx);

int sp_source_foreach(sp_source *s, sp_ledger_visit_fn fn, void *ctx)
{
    return foreach(s, NULL, fn, ctx);
}

int sp_source_foreach_into(sp_source *s, sp_source_alloc_fn alloc, sp_ledger_visit_fn fn, void *ctx)
{
    return foreach(s, alloc, fn, ctx);
}

static int foreach(sp_source *s, sp_source_alloc_fn alloc, sp_ledger_visit_fn fn, void *ctx)
{
    if (s->used) {
        sp_errf(s->errmsg, "%s: records already read", s->path);
        return SP_EBADSTATE;
    }
    s->used = 1;
    if (s->rd == NULL)
        return SP_OK;
    char e[SP_ERRMSG_MAX] = "";
    int rc;
    for (;;) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = sp_bundle_reader_next(s->rd, &k, &kl, &v, &vl, e);
        if (rc <= 0)
            break;
        s->seen++;
        rc = SP_OK;
        if (s->by_ref) {
            rc = fetch_value(s, &v, &vl, alloc, ctx, e);
        } else if (alloc != NULL) {   /* a value in the stream: copied to the caller's memory */
            uint8_t *dst = alloc(ctx, vl);
            if (dst != NULL)
                memcpy(dst, v, vl);
            v = dst;
            rc = dst != NULL ? SP_OK : SP_ENOMEM;
        }
        if (rc == SP_ENOMEM) {
            if (s->kind == SP_SOURCE_LEDGER)
                (void)end_child(s, 1, NULL, e);
            sp_errf(s->errmsg, "%s: out of memory", s->path);
            return rc;
        }
        if (rc != SP_OK)   /* a reference the parent cannot follow: a malformed stream */
            break;
        int vrc = fn(ctx, k, kl, v, vl);
        if (vrc != 0) {
            if (s->kind == SP_SOURCE_LEDGER)
                (void)end_child(s, 1, NULL, e);
            return vrc;
        }
    }
    if (s->kind == SP_SOURCE_BUNDLE) {
        if (rc < 0) {
            sp_errf(s->errmsg, "%s: %s", s->path, e);
            return rc;
        }
        const uint8_t *h;
        size_t hl;
        if (sp_bundle_reader_head(s->rd, &h, &hl) == SP_OK) {
            if ((s->head = malloc(hl)) == NULL) {
                sp_errf(s->errmsg, "%s: out of memory", s->path);
                return SP_ENOMEM;
            }
            memcpy(s->head, h, hl);
            s->headlen = hl;
        }
        return SP_OK;
    }
    char ce[SP_ERRMSG_MAX] = "";
    int crc = end_child(s, 0, rc < 0 ? e : NULL, ce);
    if (crc != SP_OK) { /* cannot happen after a header; reported as damage all the same */
        char line[2 * SP_ERRMSG_MAX];
        snprintf(line, sizeof line, "ledger damaged: %s", ce);
        add_damage(s, line);
    }
    return SP_OK;
}

const char *sp_source_damage(const sp_source *s)
{
    return s != NULL && s->damaged ? s->damage : NULL;
}

sp_source_kind sp_source_get_kind(const sp_source *s) { return s->kind; }

int sp_source_by_reference(const sp_source *s) { return s->by_ref; }

const uint8_t *sp_source_head(const sp_source *s, size_t *len)
{
    *len = s->headlen;
    return s->head;
}

const char *sp_source_errmsg(const sp_source *s)
{
    return s == NULL ? "" : s->errmsg;
}

void sp_source_close(sp_source *s)
{
    if (s == NULL)
        return;
    if (s->child.pid > 0) {
        int code;
        char why[SP_ERRMSG_MAX];
        (void)sp_child_finish(&s->child, 1, &code, why);
    }
    if (s->fd >= 0)
        close(s->fd);
    if (s->file != NULL)
        fclose(s->file);
    sp_bundle_reader_free(s->rd);
    free(s->vbuf);
    free(s->head);
    free(s->path);
    free(s);
}
