/*
 * lmdb_meta.c - strict reading of an LMDB file's two meta pages
 * (lmdb_meta.h, SPEC.md 14.3). Written from LMDB's documented on-disk
 * layout, not from its code: every field is read by offset with pread and
 * checked before anyone maps the file.
 */
#include "lmdb_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Offsets inside a meta page (SPEC.md 14.3). */
#define OFF_PGNO 0
#define OFF_FLAGS 10
#define OFF_MAGIC 16
#define OFF_VERSION 20
#define OFF_MAPSIZE 32
#define OFF_PSIZE 40          /* the free database's md_pad holds the page size */
#define OFF_FREE_ROOT 80
#define OFF_MAIN_ROOT 128
#define OFF_LAST_PG 136
#define OFF_TXNID 144
#define P_META 0x08u
#define P_INVALID UINT64_MAX
#define PSIZE_MIN 512u
#define PSIZE_MAX 65536u

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }
static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

static int psize_ok(uint32_t ps) { return ps >= PSIZE_MIN && ps <= PSIZE_MAX && (ps & (ps - 1)) == 0; }

/* Reads the meta at offset off into buf; 1 when the whole meta is in the file, 0 when not. */
static int read_meta(int fd, uint64_t size, uint64_t off, uint8_t buf[SP_LMDB_META_BYTES], int *ioerr)
{
    if (off > size || size - off < SP_LMDB_META_BYTES)
        return 0;
    size_t have = 0;
    while (have < SP_LMDB_META_BYTES) {
        ssize_t n = pread(fd, buf + have, SP_LMDB_META_BYTES - have, (off_t)(off + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *ioerr = n < 0 ? errno : EIO;
            return 0;
        }
        have += (size_t)n;
    }
    return 1;
}

/* Fills p from buf: page i of a file whose page size is believed to be psize. */
static void check_page(sp_lmdb_page *p, const uint8_t *b, int i, uint32_t psize)
{
    p->present = 1;
    p->psize = get32(b + OFF_PSIZE);
    p->txnid = get64(b + OFF_TXNID);
    p->last_pg = get64(b + OFF_LAST_PG);
    p->mapsize = get64(b + OFF_MAPSIZE);
    p->free_root = get64(b + OFF_FREE_ROOT);
    p->main_root = get64(b + OFF_MAIN_ROOT);
    uint16_t flags = (uint16_t)(b[OFF_FLAGS] | (b[OFF_FLAGS + 1] << 8));
    const char *why = NULL;
    if (get32(b + OFF_MAGIC) != SP_LMDB_MAGIC)
        why = "no LMDB magic";
    else if (get32(b + OFF_VERSION) != SP_LMDB_VERSION)
        why = "not LMDB data version 1";
    else if (get64(b + OFF_PGNO) != (uint64_t)i)
        why = "wrong page number";
    else if (flags != P_META)
        why = "not flagged as a meta page";
    else if (!psize_ok(p->psize) || p->psize != psize)
        why = "bad page size";
    else if ((p->txnid & 1u) != (uint64_t)i && p->txnid != 0)
        why = "transaction id of the wrong parity for this page";
    else if (p->last_pg < 1)
        why = "last page number below the meta pages";
    else if ((p->free_root != P_INVALID && (p->free_root < 2 || p->free_root > p->last_pg)) ||
             (p->main_root != P_INVALID && (p->main_root < 2 || p->main_root > p->last_pg)))
        why = "a root page outside the file's pages";
    if (why != NULL)
        snprintf(p->why, sizeof p->why, "%s", why);
    else
        p->valid = 1;
}

/* The page size to look for page 1 with: page 0's when it has the magic, else a scan. */
static uint32_t find_psize(int fd, uint64_t size, const uint8_t *b0, int have0, int *ioerr)
{
    if (have0 && get32(b0 + OFF_MAGIC) == SP_LMDB_MAGIC && psize_ok(get32(b0 + OFF_PSIZE)))
        return get32(b0 + OFF_PSIZE);
    uint8_t b[SP_LMDB_META_BYTES];
    for (uint32_t ps = PSIZE_MIN; ps <= PSIZE_MAX; ps *= 2)
        if (read_meta(fd, size, ps, b, ioerr) && get32(b + OFF_MAGIC) == SP_LMDB_MAGIC &&
            get32(b + OFF_PSIZE) == ps)
            return ps;
    return 0;
}

int sp_lmdb_inspect(sp_lmdb_info *info, int fd, uint64_t size, char *err)
{
    memset(info, 0, sizeof *info);
    info->file_size = size;
    info->use = -1;
    uint8_t b0[SP_LMDB_META_BYTES], b1[SP_LMDB_META_BYTES];
    int ioerr = 0;
    int have0 = read_meta(fd, size, 0, b0, &ioerr);
    uint32_t ps = find_psize(fd, size, b0, have0, &ioerr);
    if (ioerr != 0) {
        sp_errf(err, "cannot read the meta pages: %s", strerror(ioerr));
        return SP_EIO;
    }
    int have1 = ps != 0 && read_meta(fd, size, ps, b1, &ioerr);
    if (ioerr != 0) {
        sp_errf(err, "cannot read the meta pages: %s", strerror(ioerr));
        return SP_EIO;
    }
    info->looks_lmdb = (have0 && get32(b0 + OFF_MAGIC) == SP_LMDB_MAGIC) ||
                       (have1 && get32(b1 + OFF_MAGIC) == SP_LMDB_MAGIC);
    if (!info->looks_lmdb)
        return SP_OK;
    info->psize = ps;
    if (have0)
        check_page(&info->page[0], b0, 0, ps);
    else
        snprintf(info->page[0].why, sizeof info->page[0].why, "missing");
    if (have1)
        check_page(&info->page[1], b1, 1, ps);
    else
        snprintf(info->page[1].why, sizeof info->page[1].why, "missing");
    sp_lmdb_page *p0 = &info->page[0], *p1 = &info->page[1];

    if (p0->valid && p1->valid) {
        info->use = p1->txnid > p0->txnid ? 1 : 0; /* LMDB's rule: page 1 only when newer */
        uint64_t hi = p0->txnid > p1->txnid ? p0->txnid : p1->txnid;
        uint64_t lo = p0->txnid > p1->txnid ? p1->txnid : p0->txnid;
        if (hi - lo != 1 && !(hi == 0 && lo == 0)) {
            info->damaged = 1;
            sp_errf(info->damage, "ledger damaged: its two meta pages disagree (transaction %llu "
                    "on page 0, %llu on page 1); LMDB reads transaction %llu and the newest "
                    "commit may be lost", ull(p0->txnid), ull(p1->txnid), ull(hi));
        }
    } else if (p0->valid || p1->valid) {
        int j = p0->valid ? 0 : 1, k = 1 - j;
        sp_lmdb_page *good = &info->page[j], *bad = &info->page[k];
        info->use = j;
        info->patch = 1;
        info->damaged = 1;
        /* The bad page was the newer one when what is left of it says so. */
        if (bad->present && bad->txnid == good->txnid + 1)
            sp_errf(info->damage, "the ledger's newest commit is unreadable (meta page %d: %s); "
                    "it was rolled back to transaction %llu", k, bad->why, ull(good->txnid));
        else
            sp_errf(info->damage, "ledger damaged: meta page %d is unreadable (%s); read as of "
                    "transaction %llu from meta page %d", k, bad->why, ull(good->txnid), j);
    } else {
        info->damaged = 1;
        sp_errf(info->damage, "ledger damaged: neither LMDB meta page is readable (page 0: %s; "
                "page 1: %s)", p0->why, p1->why);
        return SP_OK;
    }
    const sp_lmdb_page *u = &info->page[info->use];
    uint64_t pages = size / ps;
    if (u->last_pg >= pages) {
        sp_errf(err, "truncated ledger (%llu bytes; its pages need %llu)", ull(size),
                u->last_pg < UINT64_MAX / ps ? ull((u->last_pg + 1) * ps) : ull(UINT64_MAX));
        return SP_EFORMAT;
    }
    return SP_OK;
}
