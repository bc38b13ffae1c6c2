/*
 * test_ledger.c - the LMDB ledger (attest/ledger.c): append and read back,
 * sequence rules, one writer at a time across processes, reader snapshots
 * while a writer appends, files that are not ledgers, map growth, and an
 * injected commit failure at every point of a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "ledger.h"

static char tmpdir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/sp_test_ledger_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return sodium_init() < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* The value stored under seq i in these tests: 16..215 bytes, i-dependent. */
static size_t make_value(uint64_t i, uint8_t *buf)
{
    size_t len = 16 + (size_t)(i * 37 % 200);
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 31 + j * 7 + 1);
    return len;
}

static int append_range(sp_ledger *l, uint64_t from, uint64_t to)
{
    uint8_t buf[256];
    for (uint64_t i = from; i < to; i++) {
        int rc = sp_ledger_append(l, i, buf, make_value(i, buf));
        if (rc != SP_OK)
            return rc;
    }
    return SP_OK;
}

struct walk {
    uint64_t next;    /* expected seq of the next record */
    uint64_t stop_at; /* return 42 after visiting this seq (UINT64_MAX: never) */
    int bad;          /* set on any mismatch */
};

static int check_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val,
                       size_t vallen)
{
    struct walk *w = ctx;
    uint8_t want_key[8], want_val[256];
    sp_seq_key(want_key, w->next);
    size_t want_len = make_value(w->next, want_val);
    if (keylen != 8 || memcmp(key, want_key, 8) != 0 || vallen != want_len ||
        memcmp(val, want_val, want_len) != 0)
        w->bad = 1;
    return w->next++ == w->stop_at ? 42 : 0;
}

/* Checks that the ledger at path holds exactly records 0..n-1. */
static void expect_records(const char *path, uint64_t n)
{
    sp_ledger *l = NULL;
    char err[SP_ERRMSG_MAX];
    uint64_t count = 999;
    assert_int_equal(sp_ledger_open(&l, path, SP_LEDGER_RDONLY, err), SP_OK);
    assert_int_equal(sp_ledger_count(l, &count), SP_OK);
    assert_int_equal(count, n);
    struct walk w = {0, UINT64_MAX, 0};
    assert_int_equal(sp_ledger_foreach(l, check_visit, &w), 0);
    assert_int_equal(w.next, n);
    assert_false(w.bad);
    sp_ledger_close(l);
}

static void test_seq_key(void **state)
{
    (void)state;
    uint8_t k[8];
    static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    sp_seq_key(k, UINT64_C(0x0102030405060708));
    assert_memory_equal(k, want, 8);
    sp_seq_key(k, 0);
    assert_true(sodium_is_zero(k, 8));
    sp_seq_key(k, 256);
    assert_int_equal(k[6], 1);
    assert_int_equal(k[7], 0);
}

static void test_append_and_read(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL;
    tpath(p, "basic.ledger");
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_non_null(l);
    assert_string_equal(sp_ledger_errmsg(l), "");
    uint64_t n = 1;
    assert_int_equal(sp_ledger_count(l, &n), SP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(append_range(l, 0, 100), SP_OK);
    assert_int_equal(sp_ledger_count(l, &n), SP_OK); /* the writer reads too */
    assert_int_equal(n, 100);
    sp_ledger_close(l);
    assert_true(exists(p));

    expect_records(p, 100);

    /* An early stop returns the visitor's value. */
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_OK);
    struct walk w = {0, 10, 0};
    assert_int_equal(sp_ledger_foreach(l, check_visit, &w), 42);
    assert_int_equal(w.next, 11);
    assert_false(w.bad);
    /* Appending through a read-only handle is out of order, not fatal. */
    uint8_t b[4] = {0};
    assert_int_equal(sp_ledger_append(l, 100, b, sizeof b), SP_EBADSTATE);
    assert_non_null(strstr(sp_ledger_errmsg(l), p));
    sp_ledger_close(l);

    /* A writer reopening the ledger continues the sequence; empty values are allowed. */
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_int_equal(sp_ledger_append(l, 0, b, sizeof b), SP_EINVAL);
    assert_int_equal(append_range(l, 100, 120), SP_OK);
    assert_int_equal(sp_ledger_append(l, 120, b, 0), SP_OK);
    assert_int_equal(sp_ledger_count(l, &n), SP_OK);
    assert_int_equal(n, 121);
    sp_ledger_close(l);
    sp_ledger_close(NULL);
    assert_string_equal(sp_ledger_errmsg(NULL), "");
}

static void test_seq_rules_and_flags(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = (sp_ledger *)1;
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tpath(p, "seq.ledger");
    assert_int_equal(sp_ledger_open(&l, p, 0, err), SP_EINVAL);
    assert_null(l);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY | SP_LEDGER_CREATE, err), SP_EINVAL);
    assert_int_equal(sp_ledger_open(&l, p, 0x4, NULL), SP_EINVAL);
    assert_false(exists(p));

    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_int_equal(sp_ledger_append(l, 1, b, sizeof b), SP_EINVAL); /* first must be 0 */
    assert_non_null(strstr(sp_ledger_errmsg(l), p));
    assert_int_equal(sp_ledger_append(l, 0, b, sizeof b), SP_OK);
    assert_string_equal(sp_ledger_errmsg(l), "");
    assert_int_equal(sp_ledger_append(l, 0, b, sizeof b), SP_EINVAL); /* duplicate */
    assert_int_equal(sp_ledger_append(l, 2, b, sizeof b), SP_EINVAL); /* gap */
    assert_int_equal(sp_ledger_append(l, UINT64_MAX, b, sizeof b), SP_EINVAL);
    assert_int_equal(sp_ledger_append(l, 1, b, sizeof b), SP_OK);     /* still usable */
    uint64_t n = 0;
    assert_int_equal(sp_ledger_count(l, &n), SP_OK);
    assert_int_equal(n, 2);
    sp_ledger_close(l);
}

/* Exit codes of the children, one per check, so a failure says which. */
static void test_second_writer_busy(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL, *l2 = (sp_ledger *)1;
    tpath(p, "busy.ledger");
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_int_equal(append_range(l, 0, 5), SP_OK);

    /* A second writer in this process is refused too (flock is per open file). */
    assert_int_equal(sp_ledger_open(&l2, p, SP_LEDGER_CREATE, err), SP_EBUSY);
    assert_null(l2);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sp_ledger *c = NULL;
        char cerr[SP_ERRMSG_MAX] = "";
        if (sp_ledger_open(&c, p, SP_LEDGER_CREATE, cerr) != SP_EBUSY || c != NULL)
            _exit(10);
        if (strstr(cerr, "being written by another process") == NULL || strstr(cerr, p) == NULL)
            _exit(11);
        if (sp_ledger_open(&c, p, SP_LEDGER_RDONLY, cerr) != SP_OK)
            _exit(12);
        uint64_t n = 0;
        if (sp_ledger_count(c, &n) != SP_OK || n != 5)
            _exit(13);
        struct walk w = {0, UINT64_MAX, 0};
        if (sp_ledger_foreach(c, check_visit, &w) != 0 || w.next != 5 || w.bad)
            _exit(14);
        sp_ledger_close(c);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The parent's writer is unaffected; once closed, a new writer may open. */
    assert_int_equal(append_range(l, 5, 8), SP_OK);
    sp_ledger_close(l);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    sp_ledger_close(l);
    expect_records(p, 8);
}

struct pause_walk {
    struct walk w;
    int to_parent, from_parent;
};

/* On the first record, tells the parent and waits until it has appended. */
static int pausing_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val,
                         size_t vallen)
{
    struct pause_walk *pw = ctx;
    if (pw->w.next == 0) {
        char c = 'r';
        if (write(pw->to_parent, &c, 1) != 1 || read(pw->from_parent, &c, 1) != 1 || c != 'g')
            pw->w.bad = 1;
    }
    return check_visit(&pw->w, key, keylen, val, vallen);
}

static void test_reader_snapshot(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL;
    int c2p[2], p2c[2];
    tpath(p, "snap.ledger");
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_int_equal(append_range(l, 0, 10), SP_OK);
    assert_int_equal(pipe(c2p), 0);
    assert_int_equal(pipe(p2c), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        sp_ledger *c = NULL;
        char cerr[SP_ERRMSG_MAX];
        if (sp_ledger_open(&c, p, SP_LEDGER_RDONLY, cerr) != SP_OK)
            _exit(20);
        struct pause_walk pw = {{0, UINT64_MAX, 0}, c2p[1], p2c[0]};
        if (sp_ledger_foreach(c, pausing_visit, &pw) != 0)
            _exit(21);
        if (pw.w.bad || pw.w.next != 10) /* the snapshot taken before the appends */
            _exit(22);
        uint64_t n = 0;
        if (sp_ledger_count(c, &n) != SP_OK || n != 30) /* a new snapshot sees them */
            _exit(23);
        struct walk w = {0, UINT64_MAX, 0};
        if (sp_ledger_foreach(c, check_visit, &w) != 0 || w.bad || w.next != 30)
            _exit(24);
        sp_ledger_close(c);
        _exit(0);
    }
    alarm(60); /* a writer blocked by the reader would hang here: fail instead */
    char ch = 0;
    assert_int_equal(read(c2p[0], &ch, 1), 1);
    assert_int_equal(ch, 'r');
    assert_int_equal(append_range(l, 10, 30), SP_OK); /* while the child's snapshot is open */
    ch = 'g';
    assert_int_equal(write(p2c[1], &ch, 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    alarm(0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(c2p[0]); close(c2p[1]); close(p2c[0]); close(p2c[1]);
    sp_ledger_close(l);
    expect_records(p, 30);
}

static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_not_a_ledger(void **state)
{
    (void)state;
    char p[256], lk[300], err[SP_ERRMSG_MAX];
    sp_ledger *l = (sp_ledger *)1;

    /* Missing: SP_ENOTFOUND and nothing created, not even the -lock file. */
    tpath(p, "absent.ledger");
    snprintf(lk, sizeof lk, "%s-lock", p);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_ENOTFOUND);
    assert_null(l);
    assert_non_null(strstr(err, p));
    assert_false(exists(p));
    assert_false(exists(lk));

    /* 64 KiB of random bytes, for both modes; the file is left untouched. */
    size_t n = 64u << 10;
    uint8_t *g = malloc(n), *back = malloc(n);
    assert_non_null(g);
    assert_non_null(back);
    randombytes_buf(g, n);
    tpath(p, "garbage.ledger");
    write_bytes(p, g, n);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_EFORMAT);
    assert_null(l);
    assert_non_null(strstr(err, "not an LMDB ledger"));
    assert_non_null(strstr(err, p));
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_EFORMAT);
    assert_null(l);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, n, f), n);
    fclose(f);
    assert_memory_equal(g, back, n);

    /* Short garbage, zeros, and an empty file. */
    tpath(p, "short.ledger");
    write_bytes(p, g, 100);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_EFORMAT);
    tpath(p, "zeros.ledger");
    memset(g, 0, n);
    write_bytes(p, g, n);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_EFORMAT);
    tpath(p, "empty.ledger");
    write_bytes(p, g, 0);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_EFORMAT);
    free(g);
    free(back);

    /* A directory is neither readable nor writable as a ledger. */
    assert_int_equal(sp_ledger_open(&l, tmpdir, SP_LEDGER_RDONLY, err), SP_EIO);
    assert_int_equal(sp_ledger_open(&l, tmpdir, SP_LEDGER_CREATE, err), SP_EIO);
    assert_null(l);
}

/*
 * Makes an LMDB file with the plain LMDB API: main-db entry "hello" when
 * plain, else a "meta" database holding format (if not NULL) and, when
 * with_records, an empty "records" database.
 */
static void make_lmdb(const char *path, int plain, const char *format, int with_records)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    if (plain) {
        MDB_val k = {5, "hello"}, v = {5, "world"};
        assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    } else {
        assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
        if (format != NULL) {
            MDB_val k = {6, "format"}, v = {strlen(format), (void *)format};
            assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        }
        if (with_records)
            assert_int_equal(mdb_dbi_open(txn, "records", MDB_CREATE, &dbi), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void expect_foreign(const char *name, int plain, const char *format, int with_records)
{
    char p[256], err[SP_ERRMSG_MAX] = "";
    sp_ledger *l = (sp_ledger *)1;
    tpath(p, name);
    make_lmdb(p, plain, format, with_records);
    int rc = sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err);
    if (rc != SP_EFORMAT)
        fail_msg("%s read-only: rc %d (%s)", name, rc, err);
    assert_null(l);
    assert_non_null(strstr(err, p));
    rc = sp_ledger_open(&l, p, SP_LEDGER_CREATE, err);
    if (rc != SP_EFORMAT)
        fail_msg("%s create: rc %d (%s)", name, rc, err);
    assert_null(l);
}

static void test_foreign_lmdb(void **state)
{
    (void)state;
    expect_foreign("plain.mdb", 1, NULL, 0);
    expect_foreign("nofmt.mdb", 0, NULL, 1);
    expect_foreign("otherfmt.mdb", 0, "scratchproof-ledger/2", 1);
    expect_foreign("prefixfmt.mdb", 0, "scratchproof-ledger/1\n", 1);
    expect_foreign("norecords.mdb", 0, SP_LEDGER_FORMAT, 0);
    /* The control: the same construction with everything right is a ledger. */
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL;
    tpath(p, "good.mdb");
    make_lmdb(p, 0, SP_LEDGER_FORMAT, 1);
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_RDONLY, err), SP_OK);
    sp_ledger_close(l);
}

/*
 * For each N, the (N+1)th commit fails: exactly N records survive, the handle
 * is then unusable, and a new writer can carry on from record N.
 */
static void test_fault_injection(void **state)
{
    (void)state;
    for (int fail_n = 0; fail_n <= 5; fail_n++) {
        char name[64], p[256], err[SP_ERRMSG_MAX];
        sp_ledger *l = NULL;
        snprintf(name, sizeof name, "fault%d.ledger", fail_n);
        tpath(p, name);
        assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
        sp_ledger_fail_after(fail_n);
        uint64_t ok = 0;
        uint8_t buf[256];
        int rc = SP_OK;
        for (uint64_t i = 0; i < 8; i++) {
            rc = sp_ledger_append(l, i, buf, make_value(i, buf));
            if (rc != SP_OK)
                break;
            ok++;
        }
        sp_ledger_fail_after(-1);
        assert_int_equal(rc, SP_EIO);
        assert_int_equal(ok, (uint64_t)fail_n);
        assert_non_null(strstr(sp_ledger_errmsg(l), "injected"));
        uint64_t n = 0;
        assert_int_equal(sp_ledger_append(l, ok, buf, make_value(ok, buf)), SP_EBADSTATE);
        assert_int_equal(sp_ledger_count(l, &n), SP_EBADSTATE);
        struct walk w = {0, UINT64_MAX, 0};
        assert_int_equal(sp_ledger_foreach(l, check_visit, &w), SP_EBADSTATE);
        sp_ledger_close(l);

        expect_records(p, ok);
        assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
        assert_int_equal(append_range(l, ok, ok + 3), SP_OK);
        sp_ledger_close(l);
        expect_records(p, ok + 3);
    }
}

/* A small starting map fills and is doubled inside append, transparently. */
static void test_map_growth(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX];
    sp_ledger *l = NULL;
    uint8_t *big = calloc(1, 1u << 20);
    assert_non_null(big);
    sp_ledger_test_mapsize(64u << 10);

    tpath(p, "grow.ledger");
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    uint8_t v[1024];
    for (uint64_t i = 0; i < 300; i++) {
        memset(v, (int)(i & 0xff), sizeof v);
        int rc = sp_ledger_append(l, i, v, sizeof v);
        if (rc != SP_OK)
            fail_msg("append %llu: %d %s", (unsigned long long)i, rc, sp_ledger_errmsg(l));
    }
    sp_ledger_close(l);
    struct stat st; /* the data outgrew the 64 KiB start: the map was grown */
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size > (off_t)(256u << 10));
    /* Reopening with the small start size keeps the grown map. */
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    memset(v, 0x5a, sizeof v);
    assert_int_equal(sp_ledger_append(l, 300, v, sizeof v), SP_OK);
    uint64_t n = 0;
    assert_int_equal(sp_ledger_count(l, &n), SP_OK);
    assert_int_equal(n, 301);
    sp_ledger_close(l);

    /* One value larger than twice the map: a single retry is not enough. */
    tpath(p, "toobig.ledger");
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, err), SP_OK);
    assert_int_equal(sp_ledger_append(l, 0, big, 1u << 20), SP_ELEDGER);
    assert_non_null(strstr(sp_ledger_errmsg(l), "MDB_MAP_FULL"));
    assert_int_equal(sp_ledger_append(l, 0, v, 8), SP_EBADSTATE);
    sp_ledger_close(l);
    sp_ledger_test_mapsize(0);
    expect_records(p, 0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_key),
        cmocka_unit_test(test_append_and_read),
        cmocka_unit_test(test_seq_rules_and_flags),
        cmocka_unit_test(test_second_writer_busy),
        cmocka_unit_test(test_reader_snapshot),
        cmocka_unit_test(test_not_a_ledger),
        cmocka_unit_test(test_foreign_lmdb),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_map_growth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
