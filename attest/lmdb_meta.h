/*
 * lmdb_meta.h - a strict, independent reading of the two meta pages at the
 * start of an LMDB data file (SPEC.md 14.3), done with pread before LMDB
 * maps anything: is this an LMDB file at all, which snapshot will LMDB read,
 * is the file long enough for it, and do the two meta pages agree.
 *
 * Layout (LMDB 0.9, 64-bit, little-endian; SPEC.md 14.3 gives the offsets):
 * page i (i = 0, 1) starts at i * psize; its 16-byte page header holds the
 * page number and the P_META flag; the meta follows: magic 0xBEEFC0DE,
 * data version 1, the free and main database records (the free one's first
 * field is the page size), the last page number and the transaction id.
 * Transaction t writes meta page t mod 2.
 */
#ifndef SP_LMDB_META_H
#define SP_LMDB_META_H

#include "sp_base.h"

#define SP_LMDB_MAGIC 0xBEEFC0DEu
#define SP_LMDB_VERSION 1u
#define SP_LMDB_META_BYTES 168u   /* page header (16) + meta (152) */

typedef struct sp_lmdb_page {
    int present;        /* the file holds the whole meta at this page's offset */
    int valid;          /* page number, flag, magic, version, page size all right */
    char why[96];       /* when not valid */
    uint32_t psize;
    uint64_t txnid, last_pg, mapsize, free_root, main_root;
} sp_lmdb_page;

typedef struct sp_lmdb_info {
    int looks_lmdb;     /* LMDB's magic at meta page 0 or 1: a ledger, maybe damaged */
    uint64_t file_size;
    uint32_t psize;     /* 0 when no page was valid */
    sp_lmdb_page page[2];
    int use;            /* the page LMDB reads (the valid one with the larger txnid), -1 none */
    int patch;          /* 1: the other page is invalid and LMDB would refuse the file;
                           a reader must present page `use` at both offsets (SPEC 14.3) */
    int damaged;        /* the finding in damage[] applies */
    char damage[SP_ERRMSG_MAX];
} sp_lmdb_info;

/*
 * Reads the meta pages of the open file fd of size size. Returns SP_OK with
 * info filled (looks_lmdb 0 means "not an LMDB file"; damaged 1 means a
 * finding about the file, which may still be readable when use >= 0);
 * SP_EFORMAT "truncated ledger" when the file is shorter than the pages the
 * chosen meta page claims; SP_EIO on a read error. err: SP_ERRMSG_MAX.
 */
int sp_lmdb_inspect(sp_lmdb_info *info, int fd, uint64_t size, char *err) SP_WUR SP_NONNULL(1);

#endif
