/*
 * ledger.c - the append-only LMDB ledger (ledger.h, SPEC.md 5).
 *
 * One LMDB environment per handle (MDB_NOSUBDIR). A writer holds flock(2) on
 * a separate descriptor of the data file for its whole life, so a second
 * writer fails at open with SP_EBUSY instead of queueing on LMDB's mutex.
 * Every append is one write transaction that checks the sequence number
 * against the last key and commits durably (LMDB fdatasyncs on commit).
 * Readers use LMDB snapshots and never block the writer.
 *
 * A process must not open the same ledger twice at once (LMDB's rule: its
 * POSIX locks on the -lock file are per process), and must not append from
 * inside a foreach visitor.
 */
#include "ledger.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#define DEFAULT_MAPSIZE ((size_t)1 << 30) /* 1 GiB; doubled on MDB_MAP_FULL */
#define DB_META "meta"
#define DB_RECORDS "records"
#define META_FORMAT_KEY "format"

struct sp_ledger {
    MDB_env *env;
    MDB_dbi meta;
    MDB_dbi records;
    int lock_fd;      /* flock'd descriptor of the data file; -1 when read-only */
    unsigned flags;   /* SP_LEDGER_RDONLY or SP_LEDGER_CREATE */
    int failed;       /* set after a failed append: every later call is SP_EBADSTATE */
    size_t mapsize;   /* current map size of a writer */
    MDB_txn *held;    /* sp_ledger_hold_snapshot's transaction, or NULL */
    char *path;
    char errmsg[SP_ERRMSG_MAX];
};

/* Fault injection and map size for tests (ledger.h, "testing only"). */
static int fail_after = -1;
static size_t test_mapsize = 0;

void sp_ledger_fail_after(int n)
{
    fail_after = n < 0 ? -1 : n;
}

void sp_ledger_test_mapsize(size_t bytes)
{
    test_mapsize = bytes;
}

static void vput(char *buf, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vput(char *buf, const char *fmt, va_list ap)
{
    vsnprintf(buf, SP_ERRMSG_MAX, fmt, ap);
}

/* Formats an error into err (may be NULL) and returns rc. */
static int fail_open(int rc, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_open(int rc, char *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vput(err, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Records an error in the handle's message and returns rc. */
static int fail_handle(sp_ledger *l, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_handle(sp_ledger *l, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(l->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* SP_ENOSPC when an errno-style result says the disk or quota is full, else other. */
static int no_space(int rc, int other)
{
    return sp_write_errno(rc) == SP_ENOSPC ? SP_ENOSPC : other;
}

void sp_seq_key(uint8_t key[8], uint64_t seq)
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)(seq & 0xffu);
        seq >>= 8;
    }
}

static uint64_t seq_from_key(const uint8_t key[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | key[i];
    return v;
}

const char *sp_ledger_errmsg(const sp_ledger *l)
{
    return l == NULL ? "" : l->errmsg;
}

void sp_ledger_close(sp_ledger *l)
{
    if (l == NULL)
        return;
    if (l->held != NULL)
        mdb_txn_abort(l->held);
    if (l->env != NULL)
        mdb_env_close(l->env);
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the writer's flock */
    free(l->path);
    free(l);
}

/*
 * Begins a read transaction. When another process grew the map since this
 * environment was opened, adopts the new size and retries once.
 */
static int begin_read(sp_ledger *l, MDB_txn **txn)
{
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(l->env, 0);
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

/*
 * Checks that meta["format"] is SP_LEDGER_FORMAT inside txn, whose meta
 * handle is already open. SP_OK or SP_EFORMAT (err set).
 */
static int check_format(MDB_txn *txn, MDB_dbi meta, const char *path, char *err)
{
    MDB_val k = {sizeof(META_FORMAT_KEY) - 1, (void *)META_FORMAT_KEY}, v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc != MDB_SUCCESS)
        return fail_open(rc == MDB_NOTFOUND ? SP_EFORMAT : SP_ELEDGER, err, "%s: not a scratchproof ledger (no format entry: %s)",
                         path, mdb_strerror(rc));
    if (v.mv_size != sizeof(SP_LEDGER_FORMAT) - 1 ||
        memcmp(v.mv_data, SP_LEDGER_FORMAT, v.mv_size) != 0)
        return fail_open(SP_EFORMAT, err, "%s: not a scratchproof ledger (format is not %s)",
                         path, SP_LEDGER_FORMAT);
    return SP_OK;
}

/* Maps a failure of mdb_env_open on an existing, readable file. */
static int env_open_error(int rc, const char *path, char *err)
{
    if (rc == EACCES || rc == EPERM || rc == EROFS)
        return fail_open(SP_EIO, err, "%s: cannot open ledger: %s", path, mdb_strerror(rc));
    return fail_open(SP_EFORMAT, err, "%s: not an LMDB ledger (%s)", path, mdb_strerror(rc));
}

/*
 * LMDB maps the file and trusts its meta page: a file shorter than the pages
 * the meta page claims would fault (SIGBUS) on first access. Checked right
 * after mdb_env_open, before any transaction touches the map.
 */
static int check_size(sp_ledger *l, const char *path, char *err)
{
    MDB_envinfo info;
    MDB_stat ms;
    int fd;
    struct stat fs;
    if (mdb_env_info(l->env, &info) != MDB_SUCCESS || mdb_env_stat(l->env, &ms) != MDB_SUCCESS ||
        mdb_env_get_fd(l->env, &fd) != MDB_SUCCESS || fstat(fd, &fs) != 0)
        return fail_open(SP_EIO, err, "%s: cannot read ledger size", path);
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    if (ms.ms_psize == 0 || (uint64_t)fs.st_size < need)
        return fail_open(SP_EFORMAT, err, "%s: truncated ledger (%lld bytes; its pages need %llu)",
                         path, (long long)fs.st_size, (unsigned long long)need);
    return SP_OK;
}

/*
 * LMDB opens PATH-lock itself, and would wait on a FIFO put there: an existing
 * lock file must be a regular file (SPEC.md 5.2). stat(2) never blocks; an
 * absent or unreadable lock file is left to LMDB.
 */
static int check_lockfile(const char *path, char *err)
{
    size_t n = strlen(path);
    char *lock = malloc(n + sizeof "-lock");
    if (lock == NULL)
        return fail_open(SP_ENOMEM, err, "%s: out of memory", path);
    memcpy(lock, path, n);
    memcpy(lock + n, "-lock", sizeof "-lock");
    struct stat st;
    int rc = SP_OK;
    if (stat(lock, &st) == 0 && !S_ISREG(st.st_mode))
        rc = fail_open(SP_EIO, err, "%s: not a regular file (%s)", lock, sp_file_kind(st.st_mode));
    free(lock);
    return rc;
}

/* Opens the named databases of an existing ledger read-only and checks its format. */
static int open_rdonly(sp_ledger *l, const char *path, char *err)
{
    /* Opened here first, without blocking, so a FIFO or device is refused before LMDB sees it. */
    struct stat st;
    char e[SP_ERRMSG_MAX] = "";
    int fd = sp_open_input(path, &st, e);
    if (fd == SP_ENOTFOUND)
        return fail_open(SP_ENOTFOUND, err, "%s: no such ledger", path);
    if (fd < 0)
        return fail_open(SP_EIO, err, "%s: %s", path, e);
    close(fd);
    int lrc = check_lockfile(path, err);
    if (lrc != SP_OK)
        return lrc;
    if (st.st_size == 0)
        return fail_open(SP_EFORMAT, err, "%s: not an LMDB ledger (empty file)", path);

    int rc = mdb_env_create(&l->env);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: mdb_env_create: %s", path, mdb_strerror(rc));
    rc = mdb_env_set_maxdbs(l->env, 4);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: mdb_env_set_maxdbs: %s", path, mdb_strerror(rc));
    rc = mdb_env_open(l->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS, 0644);
    if (rc != MDB_SUCCESS)
        return env_open_error(rc, path, err);
    if ((rc = check_size(l, path, err)) != SP_OK)
        return rc;

    MDB_txn *txn;
    rc = begin_read(l, &txn);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: mdb_txn_begin: %s", path, mdb_strerror(rc));
    /* Absent databases make a foreign file (SP_EFORMAT); any other LMDB error
     * on a file with valid meta pages is damage (SP_ELEDGER, SPEC.md 14.3). */
    rc = mdb_dbi_open(txn, DB_META, 0, &l->meta);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return fail_open(rc == MDB_NOTFOUND ? SP_EFORMAT : SP_ELEDGER, err,
                         "%s: not a scratchproof ledger (no meta database: %s)", path,
                         mdb_strerror(rc));
    }
    int src = check_format(txn, l->meta, path, err);
    if (src != SP_OK) {
        mdb_txn_abort(txn);
        return src;
    }
    rc = mdb_dbi_open(txn, DB_RECORDS, 0, &l->records);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return fail_open(rc == MDB_NOTFOUND ? SP_EFORMAT : SP_ELEDGER, err,
                         "%s: not a scratchproof ledger (no records database: %s)", path,
                         mdb_strerror(rc));
    }
    /* Committing (not aborting) keeps the database handles for later transactions. */
    rc = mdb_txn_commit(txn);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: mdb_txn_commit: %s", path, mdb_strerror(rc));
    return SP_OK;
}

/*
 * In a write transaction: creates "meta" and "records" with the format entry
 * when the environment is brand new (its main database is empty), otherwise
 * requires both to exist with the right format.
 */
static int setup_dbs(sp_ledger *l, MDB_txn *txn, const char *path, char *err)
{
    MDB_dbi main_db;
    MDB_stat ms;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (rc == MDB_SUCCESS)
        rc = mdb_stat(txn, main_db, &ms);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: cannot read the main database: %s", path,
                         mdb_strerror(rc));
    if (ms.ms_entries == 0) {
        MDB_val k = {sizeof(META_FORMAT_KEY) - 1, (void *)META_FORMAT_KEY};
        MDB_val v = {sizeof(SP_LEDGER_FORMAT) - 1, (void *)SP_LEDGER_FORMAT};
        rc = mdb_dbi_open(txn, DB_META, MDB_CREATE, &l->meta);
        if (rc == MDB_SUCCESS)
            rc = mdb_dbi_open(txn, DB_RECORDS, MDB_CREATE, &l->records);
        if (rc == MDB_SUCCESS)
            rc = mdb_put(txn, l->meta, &k, &v, MDB_NOOVERWRITE);
        if (rc != MDB_SUCCESS)
            return fail_open(SP_ELEDGER, err, "%s: cannot create the ledger databases: %s",
                             path, mdb_strerror(rc));
        return SP_OK;
    }
    rc = mdb_dbi_open(txn, DB_META, 0, &l->meta);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_EFORMAT, err, "%s: not a scratchproof ledger (no meta database: %s)",
                         path, mdb_strerror(rc));
    int src = check_format(txn, l->meta, path, err);
    if (src != SP_OK)
        return src;
    rc = mdb_dbi_open(txn, DB_RECORDS, 0, &l->records);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_EFORMAT, err, "%s: not a scratchproof ledger (no records database: %s)",
                         path, mdb_strerror(rc));
    return SP_OK;
}

/* Opens (creating if needed) a ledger for appending, as its only writer. */
static int open_writer(sp_ledger *l, const char *path, char *err)
{
    /* O_NONBLOCK: never wait on a FIFO or device put at PATH; fstat then refuses it. */
    l->lock_fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
    if (l->lock_fd < 0)
        return fail_open(no_space(errno, SP_EIO), err,
                         "%s: cannot open ledger for writing: %s", path, strerror(errno));
    struct stat st;
    if (fstat(l->lock_fd, &st) != 0)
        return fail_open(SP_EIO, err, "%s: cannot stat ledger: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail_open(SP_EIO, err, "%s: not a regular file (%s)", path,
                         sp_file_kind(st.st_mode));
    int lrc = check_lockfile(path, err);
    if (lrc != SP_OK)
        return lrc;
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return fail_open(SP_EBUSY, err, "%s: ledger is being written by another process",
                             path);
        return fail_open(SP_EIO, err, "%s: cannot lock ledger: %s", path, strerror(errno));
    }

    l->mapsize = test_mapsize != 0 ? test_mapsize : DEFAULT_MAPSIZE;
    int rc = mdb_env_create(&l->env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(l->env, 4);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize(l->env, l->mapsize);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: cannot set up LMDB: %s", path, mdb_strerror(rc));
    rc = mdb_env_open(l->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0644);
    if (rc != MDB_SUCCESS) {
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            return fail_open(SP_EFORMAT, err, "%s: not an LMDB ledger (%s)", path,
                             mdb_strerror(rc));
        return fail_open(no_space(rc, SP_ELEDGER), err, "%s: mdb_env_open: %s", path,
                         mdb_strerror(rc));
    }
    if ((rc = check_size(l, path, err)) != SP_OK)
        return rc;
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) == MDB_SUCCESS)
        l->mapsize = info.me_mapsize; /* LMDB keeps a larger size found in the file */
    int dead;
    (void)mdb_reader_check(l->env, &dead); /* free slots of crashed readers */

    MDB_txn *txn;
    rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS)
        return fail_open(SP_ELEDGER, err, "%s: mdb_txn_begin: %s", path, mdb_strerror(rc));
    int src = setup_dbs(l, txn, path, err);
    if (src != SP_OK) {
        mdb_txn_abort(txn);
        return src;
    }
    rc = mdb_txn_commit(txn);
    if (rc != MDB_SUCCESS)
        return fail_open(no_space(rc, SP_ELEDGER), err, "%s: mdb_txn_commit: %s", path,
                         mdb_strerror(rc));
    return SP_OK;
}

int sp_ledger_open(sp_ledger **out, const char *path, unsigned flags, char *err)
{
    *out = NULL;
    if (err != NULL)
        err[0] = '\0';
    if (flags != SP_LEDGER_RDONLY && flags != SP_LEDGER_CREATE)
        return fail_open(SP_EINVAL, err, "%s: exactly one of SP_LEDGER_RDONLY and "
                         "SP_LEDGER_CREATE is required", path);
    if (path[0] == '\0')
        return fail_open(SP_EINVAL, err, "empty ledger path");
    sp_ledger *l = calloc(1, sizeof *l);
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        return fail_open(SP_ENOMEM, err, "%s: out of memory", path);
    }
    l->lock_fd = -1;
    l->flags = flags;
    int rc = flags == SP_LEDGER_RDONLY ? open_rdonly(l, path, err) : open_writer(l, path, err);
    if (rc != SP_OK) {
        sp_ledger_close(l);
        return rc;
    }
    *out = l;
    return SP_OK;
}

/*
 * Turns an errno-style LMDB result into SP_ENOSPC (a full disk or quota) or
 * SP_EIO, an LMDB code into SP_ELEDGER.
 */
static int lmdb_rc(int rc)
{
    return rc > 0 ? sp_write_errno(rc) : SP_ELEDGER;
}

/*
 * One attempt at an append in its own write transaction. Returns SP_OK,
 * SP_EINVAL (wrong seq; nothing changed), MDB_MAP_FULL (raw, so the caller
 * may grow the map and retry) or another failure code with l->errmsg set.
 */
static int append_once(sp_ledger *l, uint64_t seq, const void *val, size_t len)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS)
        return fail_handle(l, lmdb_rc(rc), "%s: mdb_txn_begin: %s", l->path, mdb_strerror(rc));
    rc = mdb_cursor_open(txn, l->records, &cur);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return fail_handle(l, lmdb_rc(rc), "%s: mdb_cursor_open: %s", l->path, mdb_strerror(rc));
    }
    MDB_val k, v;
    uint64_t expect = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_SUCCESS) {
        if (k.mv_size != 8) {
            mdb_txn_abort(txn);
            return fail_handle(l, SP_EFORMAT, "%s: last record key is %zu bytes, not 8",
                               l->path, k.mv_size);
        }
        expect = seq_from_key(k.mv_data) + 1;
        if (expect == 0) {
            mdb_txn_abort(txn);
            return fail_handle(l, SP_ERANGE, "%s: sequence numbers exhausted", l->path);
        }
    } else if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return fail_handle(l, lmdb_rc(rc), "%s: reading the last record: %s", l->path,
                           mdb_strerror(rc));
    }
    if (seq != expect) {
        mdb_txn_abort(txn);
        return fail_handle(l, SP_EINVAL, "%s: append of seq %llu refused: next is %llu",
                           l->path, (unsigned long long)seq, (unsigned long long)expect);
    }

    uint8_t key[8];
    sp_seq_key(key, seq);
    k.mv_size = sizeof key;
    k.mv_data = key;
    v.mv_size = len;
    v.mv_data = (void *)val;
    rc = mdb_put(txn, l->records, &k, &v, MDB_APPEND | MDB_NOOVERWRITE);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL)
            return MDB_MAP_FULL;
        return fail_handle(l, lmdb_rc(rc), "%s: mdb_put: %s", l->path, mdb_strerror(rc));
    }
    if (fail_after == 0) { /* injected disk failure: the commit never happens */
        fail_after = -1;
        mdb_txn_abort(txn);
        return fail_handle(l, SP_EIO, "%s: mdb_txn_commit: injected failure (testing)", l->path);
    }
    rc = mdb_txn_commit(txn); /* frees txn whatever the outcome */
    if (rc == MDB_MAP_FULL)
        return MDB_MAP_FULL;
    if (rc != MDB_SUCCESS)
        return fail_handle(l, lmdb_rc(rc), "%s: mdb_txn_commit: %s", l->path, mdb_strerror(rc));
    if (fail_after > 0)
        fail_after--;
    return SP_OK;
}

int sp_ledger_append(sp_ledger *l, uint64_t seq, const void *val, size_t len)
{
    if (l->failed)
        return fail_handle(l, SP_EBADSTATE, "%s: ledger handle unusable after an earlier failure",
                           l->path);
    if (l->flags != SP_LEDGER_CREATE)
        return fail_handle(l, SP_EBADSTATE, "%s: ledger opened read-only", l->path);
    int rc = append_once(l, seq, val, len);
    if (rc == MDB_MAP_FULL) {
        /* No transaction is open here, as mdb_env_set_mapsize requires. */
        size_t grown = l->mapsize * 2;
        int mrc = grown > l->mapsize ? mdb_env_set_mapsize(l->env, grown) : ENOMEM;
        if (mrc == MDB_SUCCESS) {
            l->mapsize = grown;
            rc = append_once(l, seq, val, len);
        } else {
            rc = fail_handle(l, SP_ELEDGER, "%s: cannot grow the map to %zu bytes: %s",
                             l->path, grown, mdb_strerror(mrc));
        }
        if (rc == MDB_MAP_FULL)
            rc = fail_handle(l, SP_ELEDGER, "%s: mdb_put: %s (map of %zu bytes)", l->path,
                             mdb_strerror(MDB_MAP_FULL), l->mapsize);
    }
    /* A wrong seq is the caller's mistake and changes nothing; anything else is fatal. */
    if (rc != SP_OK && rc != SP_EINVAL)
        l->failed = 1;
    else if (rc == SP_OK)
        l->errmsg[0] = '\0';
    return rc;
}

int sp_ledger_count(sp_ledger *l, uint64_t *n)
{
    *n = 0;
    if (l->failed)
        return fail_handle(l, SP_EBADSTATE, "%s: ledger handle unusable after an earlier failure",
                           l->path);
    MDB_txn *txn;
    MDB_stat ms;
    int rc = begin_read(l, &txn);
    if (rc != MDB_SUCCESS)
        return fail_handle(l, SP_ELEDGER, "%s: mdb_txn_begin: %s", l->path, mdb_strerror(rc));
    rc = mdb_stat(txn, l->records, &ms);
    mdb_txn_abort(txn);
    if (rc != MDB_SUCCESS)
        return fail_handle(l, SP_ELEDGER, "%s: mdb_stat: %s", l->path, mdb_strerror(rc));
    *n = (uint64_t)ms.ms_entries;
    return SP_OK;
}

int sp_ledger_foreach(sp_ledger *l, sp_ledger_visit_fn fn, void *ctx)
{
    return sp_ledger_foreach_counted(l, NULL, fn, ctx);
}

int sp_ledger_foreach_counted(sp_ledger *l, sp_ledger_count_fn on_count, sp_ledger_visit_fn fn,
                              void *ctx)
{
    if (l->failed)
        return fail_handle(l, SP_EBADSTATE, "%s: ledger handle unusable after an earlier failure",
                           l->path);
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = begin_read(l, &txn);
    if (rc != MDB_SUCCESS)
        return fail_handle(l, SP_ELEDGER, "%s: mdb_txn_begin: %s", l->path, mdb_strerror(rc));
    rc = mdb_cursor_open(txn, l->records, &cur);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return fail_handle(l, SP_ELEDGER, "%s: mdb_cursor_open: %s", l->path, mdb_strerror(rc));
    }
    MDB_val k, v;
    int ret = SP_OK;
    if (on_count != NULL) {
        MDB_stat ms;
        rc = mdb_stat(txn, l->records, &ms);
        if (rc != MDB_SUCCESS) {
            mdb_cursor_close(cur);
            mdb_txn_abort(txn);
            return fail_handle(l, SP_ELEDGER, "%s: mdb_stat: %s", l->path, mdb_strerror(rc));
        }
        if ((ret = on_count(ctx, (uint64_t)ms.ms_entries)) != 0) {
            mdb_cursor_close(cur);
            mdb_txn_abort(txn);
            return ret;
        }
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ret = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != MDB_NOTFOUND)
        ret = fail_handle(l, SP_ELEDGER, "%s: walking records: %s", l->path, mdb_strerror(rc));
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
}

int sp_ledger_hold_snapshot(sp_ledger *l)
{
    if (l->held != NULL)
        return fail_handle(l, SP_EBADSTATE, "%s: a snapshot is already held", l->path);
    int rc = begin_read(l, &l->held);
    if (rc != MDB_SUCCESS) {
        l->held = NULL;
        return fail_handle(l, SP_ELEDGER, "%s: mdb_txn_begin: %s", l->path, mdb_strerror(rc));
    }
    return SP_OK;
}
