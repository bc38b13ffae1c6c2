/*
 * bench_ledger.c - ledger throughput against the disk's own fsync rate.
 *
 *   bench_ledger [DIR]     (DIR defaults to /tmp; temporary files go there)
 *
 * Prints:
 *   ledger.fsync_per_sec X          pwrite 200 bytes + fsync, 200 times
 *   ledger.append_per_sec Y ratio R 200 durable appends of 1 KiB (R = Y / X)
 *   ledger.read_per_sec Z           records visited per second by foreach
 *                                   over a 10,000-record ledger
 * Exits 1 if any step fails.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "ledger.h"

#define FSYNC_ROUNDS 200
#define APPEND_ROUNDS 200
#define APPEND_BYTES 1024
#define READ_RECORDS 10000
#define READ_PASSES 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void remove_ledger(const char *path)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    unlink(path);
    unlink(lock);
}

/* Baseline: what one durable small write costs on this file system. */
static int bench_fsync(const char *dir, double *per_sec)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sp-bench-fsync-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    char buf[200];
    memset(buf, 'x', sizeof buf);
    int rc = 0;
    double t0 = now();
    for (int i = 0; i < FSYNC_ROUNDS && rc == 0; i++)
        if (pwrite(fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf) != (ssize_t)sizeof buf ||
            fsync(fd) != 0)
            rc = -1;
    double t = now() - t0;
    close(fd);
    unlink(path);
    if (rc != 0) {
        perror("fsync baseline");
        return -1;
    }
    *per_sec = FSYNC_ROUNDS / t;
    return 0;
}

static int bench_append(const char *dir, double *per_sec)
{
    char path[4096], err[SP_ERRMSG_MAX];
    snprintf(path, sizeof path, "%s/sp-bench-append-%ld.ledger", dir, (long)getpid());
    remove_ledger(path);
    sp_ledger *l = NULL;
    if (sp_ledger_open(&l, path, SP_LEDGER_CREATE, err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    unsigned char val[APPEND_BYTES];
    memset(val, 0xa5, sizeof val);
    int rc = SP_OK;
    double t0 = now();
    for (uint64_t i = 0; i < APPEND_ROUNDS && rc == SP_OK; i++) {
        val[0] = (unsigned char)i;
        rc = sp_ledger_append(l, i, val, sizeof val);
    }
    double t = now() - t0;
    if (rc != SP_OK)
        fprintf(stderr, "append: %s\n", sp_ledger_errmsg(l));
    sp_ledger_close(l);
    remove_ledger(path);
    if (rc != SP_OK)
        return -1;
    *per_sec = APPEND_ROUNDS / t;
    return 0;
}

/*
 * Fills a ledger with READ_RECORDS records in one LMDB transaction (the
 * append path is measured above; this only sets up the read benchmark).
 */
static int fill_ledger(const char *path)
{
    char err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL;
    if (sp_ledger_open(&l, path, SP_LEDGER_CREATE, err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    sp_ledger_close(l);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 4);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, (size_t)1 << 30);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0644);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "records", 0, &dbi);
    unsigned char key[8], val[APPEND_BYTES];
    memset(val, 0x5a, sizeof val);
    for (uint64_t i = 0; i < READ_RECORDS && rc == 0; i++) {
        sp_seq_key(key, i);
        MDB_val k = {sizeof key, key}, v = {sizeof val, val};
        rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    mdb_env_close(env);
    if (rc != 0)
        fprintf(stderr, "fill: %s\n", mdb_strerror(rc));
    return rc == 0 ? 0 : -1;
}

struct sink {
    uint64_t records, bytes, touch;
};

static int visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen)
{
    struct sink *s = ctx;
    s->records++;
    s->bytes += vallen;
    s->touch += key[keylen - 1] + (vallen ? val[0] + val[vallen - 1] : 0);
    return 0;
}

static int bench_read(const char *dir, double *per_sec)
{
    char path[4096], err[SP_ERRMSG_MAX];
    snprintf(path, sizeof path, "%s/sp-bench-read-%ld.ledger", dir, (long)getpid());
    remove_ledger(path);
    if (fill_ledger(path) != 0) {
        remove_ledger(path);
        return -1;
    }
    sp_ledger *l = NULL;
    if (sp_ledger_open(&l, path, SP_LEDGER_RDONLY, err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        remove_ledger(path);
        return -1;
    }
    struct sink s = {0, 0, 0};
    int rc = sp_ledger_foreach(l, visit, &s); /* warm the page cache */
    double t0 = now();
    for (int pass = 0; pass < READ_PASSES && rc == 0; pass++)
        rc = sp_ledger_foreach(l, visit, &s);
    double t = now() - t0;
    sp_ledger_close(l);
    remove_ledger(path);
    if (rc != 0 || s.records != (uint64_t)READ_RECORDS * (READ_PASSES + 1)) {
        fprintf(stderr, "read: foreach failed (%d, %llu records)\n", rc,
                (unsigned long long)s.records);
        return -1;
    }
    *per_sec = (double)READ_RECORDS * READ_PASSES / t;
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    double fs, ap, rd;
    if (bench_fsync(dir, &fs) != 0)
        return 1;
    printf("ledger.fsync_per_sec %.0f\n", fs);
    if (bench_append(dir, &ap) != 0)
        return 1;
    printf("ledger.append_per_sec %.0f ratio %.2f\n", ap, ap / fs);
    if (bench_read(dir, &rd) != 0)
        return 1;
    printf("ledger.read_per_sec %.0f\n", rd);
    return 0;
}
