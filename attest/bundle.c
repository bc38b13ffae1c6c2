/*
 * bundle.c - the bundle format (bundle.h, SPEC.md 14.1): a strict streaming
 * reader and the writer. Every length is checked against its limit before
 * it is used, buffers grow with the bytes actually read (a length that lies
 * costs nothing), and the reader ends only at the exact end of its input.
 */
#include "bundle.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"

enum { ST_ENTRIES, ST_END, ST_FAILED };

struct sp_bundle_reader {
    sp_bundle_read_fn rd;
    void *ctx;
    uint64_t offset;      /* bytes consumed */
    uint64_t count;       /* declared */
    uint64_t seen;        /* entries returned */
    uint32_t flags;
    int state;
    uint8_t *buf;         /* key || value of the current entry */
    size_t cap;
    uint8_t *head;
    size_t headlen;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

/* Marks the reader failed and returns rc. */
static int fail(sp_bundle_reader *r, int rc)
{
    r->state = ST_FAILED;
    return rc;
}

/*
 * Reads exactly n bytes into dst. A short input is SP_EFORMAT naming what
 * was being read; the total is capped at SP_BUNDLE_TOTAL_MAX.
 */
static int read_exact(sp_bundle_reader *r, uint8_t *dst, size_t n, const char *what, char *err)
{
    if (n > SP_BUNDLE_TOTAL_MAX - r->offset) {
        sp_errf(err, "bundle larger than %llu bytes (at byte %llu, %s)", ull(SP_BUNDLE_TOTAL_MAX),
                ull(r->offset), what);
        return fail(r, SP_ERANGE);
    }
    size_t have = 0;
    while (have < n) {
        size_t got = 0;
        int rc = r->rd(r->ctx, dst + have, n - have, &got, err);
        if (rc != SP_OK)
            return fail(r, rc);
        if (got == 0) {
            sp_errf(err, "truncated bundle: ends at byte %llu inside %s (%zu of %zu bytes)",
                    ull(r->offset + have), what, have, n);
            return fail(r, SP_EFORMAT);
        }
        if (got > n - have) { /* a read function that overruns its buffer is a bug */
            sp_errf(err, "bundle read function returned more than asked");
            return fail(r, SP_EINVAL);
        }
        have += got;
    }
    r->offset += n;
    return SP_OK;
}

/*
 * Reads n bytes into r->buf at off, growing the buffer only as bytes arrive:
 * a declared length the input does not back costs at most one step.
 */
static int read_grow(sp_bundle_reader *r, size_t off, size_t n, const char *what, char *err)
{
    size_t done = 0;
    while (done < n) {
        size_t need = off + done + 1; /* room for at least one more byte */
        if (r->cap < need) {
            size_t cap = r->cap < 65536 ? 65536 : r->cap * 2;
            if (cap > off + n)
                cap = off + n;
            if (cap < need)
                cap = need;
            uint8_t *nb = realloc(r->buf, cap);
            if (nb == NULL) {
                sp_errf(err, "out of memory reading %s", what);
                return fail(r, SP_ENOMEM);
            }
            r->buf = nb;
            r->cap = cap;
        }
        size_t chunk = r->cap - off - done;
        if (chunk > n - done)
            chunk = n - done;
        int rc = read_exact(r, r->buf + off + done, chunk, what, err);
        if (rc != SP_OK)
            return rc;
        done += chunk;
    }
    return SP_OK;
}

int sp_bundle_reader_open(sp_bundle_reader **out, sp_bundle_read_fn rd, void *ctx, char *err)
{
    *out = NULL;
    sp_bundle_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        sp_errf(err, "out of memory");
        return SP_ENOMEM;
    }
    r->rd = rd;
    r->ctx = ctx;
    uint8_t h[SP_BUNDLE_HEADER_BYTES];
    int rc = read_exact(r, h, SP_BUNDLE_MAGIC_BYTES, "the magic", err);
    if (rc == SP_OK && memcmp(h, SP_BUNDLE_MAGIC, SP_BUNDLE_MAGIC_BYTES) != 0) {
        sp_errf(err, "not a scratchproof bundle (bad magic)");
        rc = SP_EFORMAT;
    }
    if (rc == SP_OK)
        rc = read_exact(r, h + 8, 4, "the version", err);
    if (rc == SP_OK && get32(h + 8) != SP_BUNDLE_VERSION) {
        sp_errf(err, "bundle version %lu is not supported (this reader knows version %u)",
                (unsigned long)get32(h + 8), SP_BUNDLE_VERSION);
        rc = SP_EUNSUPPORTED;
    }
    if (rc == SP_OK)
        rc = read_exact(r, h + 12, 12, "the header", err);
    if (rc == SP_OK) {
        r->flags = get32(h + 12);
        r->count = get64(h + 16);
        if ((r->flags & ~SP_BUNDLE_F_HEAD) != 0) {
            sp_errf(err, "bundle header has unknown flags 0x%08lx", (unsigned long)r->flags);
            rc = SP_EFORMAT;
        } else if (r->count > SP_BUNDLE_COUNT_MAX) {
            sp_errf(err, "bundle declares %llu records; the limit is %u", ull(r->count),
                    SP_BUNDLE_COUNT_MAX);
            rc = SP_ERANGE;
        }
    }
    if (rc != SP_OK) {
        sp_bundle_reader_free(r);
        return rc;
    }
    r->state = ST_ENTRIES;
    *out = r;
    return SP_OK;
}

uint64_t sp_bundle_reader_count(const sp_bundle_reader *r) { return r->count; }
uint64_t sp_bundle_reader_offset(const sp_bundle_reader *r) { return r->offset; }

/* After the last entry: the head section when flagged, then end of input. */
static int read_tail(sp_bundle_reader *r, char *err)
{
    uint8_t b[4];
    int rc;
    if (r->flags & SP_BUNDLE_F_HEAD) {
        if ((rc = read_exact(r, b, 4, "the head length", err)) != SP_OK)
            return rc;
        uint32_t n = get32(b);
        if (n == 0 || n > SP_BUNDLE_HEAD_MAX) {
            sp_errf(err, "bundle head section of %lu bytes at byte %llu (1..%u allowed)",
                    (unsigned long)n, ull(r->offset - 4), SP_BUNDLE_HEAD_MAX);
            return fail(r, n == 0 ? SP_EFORMAT : SP_ERANGE);
        }
        if ((r->head = malloc(n)) == NULL) {
            sp_errf(err, "out of memory reading the head section");
            return fail(r, SP_ENOMEM);
        }
        if ((rc = read_exact(r, r->head, n, "the head section", err)) != SP_OK)
            return rc;
        r->headlen = n;
    }
    size_t got = 0;
    rc = r->rd(r->ctx, b, 1, &got, err);
    if (rc != SP_OK)
        return fail(r, rc);
    if (got != 0) {
        sp_errf(err, "trailing bytes after the end of the bundle at byte %llu", ull(r->offset));
        return fail(r, SP_EFORMAT);
    }
    r->state = ST_END;
    return 0;
}

int sp_bundle_reader_next(sp_bundle_reader *r, const uint8_t **key, size_t *keylen,
                          const uint8_t **val, size_t *vallen, char *err)
{
    *key = *val = NULL;
    *keylen = *vallen = 0;
    if (r->state == ST_END)
        return 0;
    if (r->state != ST_ENTRIES) {
        sp_errf(err, "bundle reader unusable after an earlier failure");
        return SP_EBADSTATE;
    }
    if (r->seen == r->count)
        return read_tail(r, err);
    uint8_t b[4];
    uint64_t at = r->offset;
    int rc = read_exact(r, b, 2, "an entry's key length", err);
    if (rc != SP_OK)
        return rc;
    size_t kl = get16(b);
    if (kl == 0 || kl > SP_BUNDLE_KEY_MAX) {
        sp_errf(err, "entry %llu at byte %llu: key length %zu (1..%u allowed)", ull(r->seen), ull(at),
                kl, SP_BUNDLE_KEY_MAX);
        return fail(r, kl == 0 ? SP_EFORMAT : SP_ERANGE);
    }
    if ((rc = read_grow(r, 0, kl, "an entry's key", err)) != SP_OK)
        return rc;
    if ((rc = read_exact(r, b, 4, "an entry's value length", err)) != SP_OK)
        return rc;
    size_t vl = get32(b);
    if (vl > SP_RECORD_MAX) {
        sp_errf(err, "entry %llu at byte %llu: value of %zu bytes (the limit is %u)", ull(r->seen),
                ull(at), vl, SP_RECORD_MAX);
        return fail(r, SP_ERANGE);
    }
    if ((rc = read_grow(r, kl, vl, "an entry's value", err)) != SP_OK)
        return rc;
    r->seen++;
    *key = r->buf;
    *keylen = kl;
    *val = r->buf + kl;
    *vallen = vl;
    return 1;
}

int sp_bundle_reader_head(const sp_bundle_reader *r, const uint8_t **head, size_t *len)
{
    *head = NULL;
    *len = 0;
    if (r->state != ST_END)
        return SP_EBADSTATE;
    if (r->head == NULL)
        return SP_ENOTFOUND;
    *head = r->head;
    *len = r->headlen;
    return SP_OK;
}

void sp_bundle_reader_free(sp_bundle_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r->head);
    free(r);
}

/* ---- in memory ---- */

typedef struct mem_in {
    const uint8_t *p;
    size_t len, off;
} mem_in;

static int mem_read(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err)
{
    (void)err;
    mem_in *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;
    if (n > 0)
        memcpy(buf, m->p + m->off, n);
    m->off += n;
    *got = n;
    return SP_OK;
}

int sp_bundle_parse(const uint8_t *buf, size_t len, sp_bundle_visit_fn fn, void *ctx,
                    uint64_t *count, const uint8_t **head, size_t *headlen, char *err)
{
    if (count != NULL)
        *count = 0;
    if (head != NULL)
        *head = NULL;
    if (headlen != NULL)
        *headlen = 0;
    if (buf == NULL && len != 0)
        return SP_EINVAL;
    mem_in m = {.p = buf, .len = len};
    sp_bundle_reader *r;
    int rc = sp_bundle_reader_open(&r, mem_read, &m, err);
    if (rc != SP_OK)
        return rc;
    if (count != NULL)
        *count = r->count;
    for (;;) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = sp_bundle_reader_next(r, &k, &kl, &v, &vl, err);
        if (rc <= 0)
            break;
        if ((rc = fn(ctx, k, kl, v, vl)) != 0)
            break;
    }
    if (rc == 0 && r->head != NULL && head != NULL && headlen != NULL) {
        /* point into buf, not into the reader that is freed below */
        *head = buf + len - r->headlen;
        *headlen = r->headlen;
    }
    sp_bundle_reader_free(r);
    return rc;
}

/* ---- writing ---- */

int sp_bundle_write_header(sp_bundle_write_fn wr, void *ctx, uint64_t count, uint32_t flags)
{
    if (count > SP_BUNDLE_COUNT_MAX)
        return SP_ERANGE;
    if ((flags & ~SP_BUNDLE_F_HEAD) != 0)
        return SP_EINVAL;
    uint8_t h[SP_BUNDLE_HEADER_BYTES];
    memcpy(h, SP_BUNDLE_MAGIC, SP_BUNDLE_MAGIC_BYTES);
    put32(h + 8, SP_BUNDLE_VERSION);
    put32(h + 12, flags);
    put64(h + 16, count);
    return wr(ctx, h, sizeof h);
}

int sp_bundle_write_entry(sp_bundle_write_fn wr, void *ctx, const uint8_t *key, size_t keylen,
                          const uint8_t *val, size_t vallen)
{
    if (keylen == 0 || (val == NULL && vallen != 0))
        return SP_EINVAL;
    if (keylen > SP_BUNDLE_KEY_MAX || vallen > SP_RECORD_MAX)
        return SP_ERANGE;
    uint8_t b[4];
    put16(b, (uint16_t)keylen);
    int rc = wr(ctx, b, 2);
    if (rc == SP_OK)
        rc = wr(ctx, key, keylen);
    put32(b, (uint32_t)vallen);
    if (rc == SP_OK)
        rc = wr(ctx, b, 4);
    if (rc == SP_OK && vallen > 0)
        rc = wr(ctx, val, vallen);
    return rc;
}

int sp_bundle_write_head(sp_bundle_write_fn wr, void *ctx, const uint8_t *head, size_t len)
{
    if (len == 0)
        return SP_EINVAL;
    if (len > SP_BUNDLE_HEAD_MAX)
        return SP_ERANGE;
    uint8_t b[4];
    put32(b, (uint32_t)len);
    int rc = wr(ctx, b, 4);
    return rc == SP_OK ? wr(ctx, head, len) : rc;
}
