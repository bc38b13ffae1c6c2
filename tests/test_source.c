/*
 * test_source.c - record sources (attest/source.c, SPEC.md 14.2-14.3): a
 * ledger read through the child reader and a bundle give the same records;
 * a child that crashes, hangs, writes garbage or too much becomes a finding;
 * the meta pages are checked (a lost newest meta page is a rollback finding,
 * a damaged older one is damage, disagreeing txnids are damage); unreadable
 * inputs are errors; nothing is left running or created.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "bundle.h"
#include "ledger.h"
#include "source.h"

#define NREC 5

static char tmpdir[64];
static int by_value;   /* sp_source_test_by_value's setting, for the checks */
static char ledger_path[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

static void value_of(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "record number %u with some bytes", i);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/sp_test_source_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(ledger_path, sizeof ledger_path, "%s/run.ledger", tmpdir);
    setenv("TMPDIR", tmpdir, 1); /* where the private copies of 14.3 go: checked below */
    sp_ledger *l;
    if (sp_ledger_open(&l, ledger_path, SP_LEDGER_CREATE, NULL) != SP_OK)
        return -1;
    for (unsigned i = 0; i < NREC; i++) {
        char v[64];
        value_of(v, sizeof v, i);
        if (sp_ledger_append(l, i, v, strlen(v)) != SP_OK)
            return -1;
    }
    sp_ledger_close(l);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct got {
    unsigned n;
    int bad;
    int stop_at;     /* >0: return -77 at this record */
} got;

static int check_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    got *g = ctx;
    char want[64];
    value_of(want, sizeof want, g->n);
    uint8_t k[8];
    sp_seq_key(k, g->n);
    if (keylen != 8 || memcmp(key, k, 8) != 0 || len != strlen(want) || memcmp(val, want, len) != 0)
        g->bad = 1;
    g->n++;
    if (g->stop_at > 0 && (int)g->n == g->stop_at)
        return -77;
    return 0;
}

/* Reads path through a source; returns open's code, fills g and the damage line. */
static int read_all(const char *path, got *g, char *damage, size_t cap)
{
    sp_source *s;
    char err[SP_ERRMSG_MAX] = "";
    memset(g, 0, sizeof *g);
    damage[0] = '\0';
    int rc = sp_source_open(&s, path, err);
    if (rc != SP_OK)
        return rc;
    if (sp_source_get_kind(s) == SP_SOURCE_LEDGER && sp_source_damage(s) == NULL)
        assert_int_equal(sp_source_by_reference(s), !by_value);   /* the mode asked for */
    assert_int_equal(sp_source_foreach(s, check_visit, g), SP_OK);
    if (sp_source_damage(s) != NULL)
        snprintf(damage, cap, "%s", sp_source_damage(s));
    sp_source_close(s);
    return SP_OK;
}

/* No child of ours is left behind (reaped, not a zombie). */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_ledger_reads(void **state)
{
    (void)state;
    got g;
    char d[512];
    assert_int_equal(read_all(ledger_path, &g, d, sizeof d), SP_OK);
    assert_int_equal(g.n, NREC);
    assert_false(g.bad);
    assert_string_equal(d, "");
    assert_no_children();
}

static int bundle_file_write(void *ctx, const uint8_t *buf, size_t len)
{
    return fwrite(buf, 1, len, ctx) == len ? SP_OK : SP_EIO;
}

static void test_bundle_reads(void **state)
{
    (void)state;
    char p[256];
    FILE *f = fopen(tpath(p, "run.bundle"), "wb");
    assert_non_null(f);
    assert_int_equal(sp_bundle_write_header(bundle_file_write, f, NREC, SP_BUNDLE_F_HEAD), SP_OK);
    for (unsigned i = 0; i < NREC; i++) {
        char v[64];
        uint8_t k[8];
        value_of(v, sizeof v, i);
        sp_seq_key(k, i);
        assert_int_equal(sp_bundle_write_entry(bundle_file_write, f, k, 8, (uint8_t *)v, strlen(v)), SP_OK);
    }
    assert_int_equal(sp_bundle_write_head(bundle_file_write, f, (const uint8_t *)"a head\n", 7), SP_OK);
    fclose(f);
    sp_source *s;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_source_open(&s, p, err), SP_OK);
    assert_int_equal(sp_source_get_kind(s), SP_SOURCE_BUNDLE);
    got g = {0};
    assert_int_equal(sp_source_foreach(s, check_visit, &g), SP_OK);
    assert_int_equal(g.n, NREC);
    assert_false(g.bad);
    size_t hl;
    const uint8_t *h = sp_source_head(s, &hl);
    assert_int_equal(hl, 7);
    assert_memory_equal(h, "a head\n", 7);
    assert_null(sp_source_damage(s));
    assert_int_equal(sp_source_foreach(s, check_visit, &g), SP_EBADSTATE);
    sp_source_close(s);

    /* a bundle cut short is unreadable input, not a finding */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size - 3), 0);
    assert_int_equal(sp_source_open(&s, p, err), SP_OK);
    g.n = 0;
    assert_int_equal(sp_source_foreach(s, check_visit, &g), SP_EFORMAT);
    assert_non_null(strstr(sp_source_errmsg(s), "truncated"));
    sp_source_close(s);
}

static void test_visitor_stops(void **state)
{
    (void)state;
    sp_source *s;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_source_open(&s, ledger_path, err), SP_OK);
    got g = {.stop_at = 2};
    assert_int_equal(sp_source_foreach(s, check_visit, &g), -77);
    assert_null(sp_source_damage(s));
    sp_source_close(s);
    assert_no_children();
    /* closed without reading: the child is stopped and reaped */
    assert_int_equal(sp_source_open(&s, ledger_path, err), SP_OK);
    sp_source_close(s);
    sp_source_close(NULL);
    assert_no_children();
}

static void expect_fault(sp_source_fault f, unsigned after, const char *want, unsigned want_n)
{
    got g;
    char d[512];
    sp_source_test_fault(f, after);
    /* a short timeout only where the child hangs on purpose: a loaded machine is slow */
    sp_source_test_timeout(f == SP_FAULT_HANG ? 300 : 0);
    int rc = read_all(ledger_path, &g, d, sizeof d);
    sp_source_test_fault(SP_FAULT_NONE, 0);
    sp_source_test_timeout(0);
    assert_int_equal(rc, SP_OK);
    if (strstr(d, want) == NULL || strncmp(d, "ledger damaged: ", 16) != 0)
        fail_msg("fault %d: damage '%s' lacks '%s'", (int)f, d, want);
    if (f != SP_FAULT_EXTRA) /* a duplicated entry shifts the ones after it */
        assert_false(g.bad);
    if (want_n != (unsigned)-1)
        assert_int_equal(g.n, want_n);
    assert_no_children();
}

static void test_child_faults(void **state)
{
    (void)state;
    /* the child buffers 64 KiB, so a crash at record 2 loses what it had not sent */
    expect_fault(SP_FAULT_SEGV, 2, "the reader died of SIGSEGV", (unsigned)-1);
    expect_fault(SP_FAULT_SEGV, 0, "SIGSEGV", 0);
    expect_fault(SP_FAULT_HANG, 2, "stopped responding", (unsigned)-1);
    expect_fault(SP_FAULT_GARBAGE, 1, "malformed", 1);
    expect_fault(SP_FAULT_EXTRA, 2, "malformed", NREC);
    /* references the parent cannot follow: the stream is malformed, the records before it stand */
    expect_fault(SP_FAULT_REF_PAST_END, 3, "past the end of the file", 3);
    expect_fault(SP_FAULT_REF_SHORT, 1, "not a 16-byte reference", 1);
}

/* The same records and the same faults when the child sends the values themselves. */
static void test_by_value(void **state)
{
    (void)state;
    sp_source_test_by_value(by_value = 1);
    test_ledger_reads(state);
    expect_fault(SP_FAULT_SEGV, 2, "the reader died of SIGSEGV", (unsigned)-1);
    expect_fault(SP_FAULT_GARBAGE, 1, "malformed", 1);
    expect_fault(SP_FAULT_EXTRA, 2, "malformed", NREC);
    sp_source_test_by_value(by_value = 0);
    assert_no_children();
}

/* Values of several pages (LMDB's overflow pages) read by reference, each byte right. */
static uint8_t big_byte(unsigned rec, size_t i)
{
    return (uint8_t)((i * 131u + rec * 7u) ^ (i >> 9));
}

typedef struct big_got {
    unsigned n;
    int bad;
} big_got;

static int big_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    big_got *g = ctx;
    (void)key;
    (void)keylen;
    size_t want = 70000 + 4096 * (size_t)g->n;
    if (len != want)
        g->bad = 1;
    for (size_t i = 0; !g->bad && i < len; i++)
        if (val[i] != big_byte(g->n, i))
            g->bad = 1;
    g->n++;
    return 0;
}

static void test_large_values(void **state)
{
    (void)state;
    char p[256];
    tpath(p, "big.ledger");
    sp_ledger *l;
    assert_int_equal(sp_ledger_open(&l, p, SP_LEDGER_CREATE, NULL), SP_OK);
    static uint8_t v[70000 + 4096 * 8];
    for (unsigned r = 0; r < 8; r++) {
        size_t n = 70000 + 4096 * (size_t)r;
        for (size_t i = 0; i < n; i++)
            v[i] = big_byte(r, i);
        assert_int_equal(sp_ledger_append(l, r, v, n), SP_OK);
    }
    sp_ledger_close(l);
    for (int mode = 0; mode < 2; mode++) {   /* by reference, then by value */
        sp_source_test_by_value(mode == 1);
        sp_source *s;
        char err[SP_ERRMSG_MAX];
        assert_int_equal(sp_source_open(&s, p, err), SP_OK);
        big_got g = {0};
        assert_int_equal(sp_source_by_reference(s), mode == 0);
        assert_int_equal(sp_source_foreach(s, big_visit, &g), SP_OK);
        assert_null(sp_source_damage(s));
        assert_int_equal(g.n, 8);
        if (g.bad)
            fail_msg("mode %d: a value read back differs", mode);
        sp_source_close(s);
        assert_no_children();
    }
    sp_source_test_by_value(0);
}

/*
 * A writer appending while the records are read: its commits copy the leaf
 * pages that hold the small records and reuse freed pages, unless a reader
 * still holds the snapshot that uses them. The child holds it until the
 * parent has read every value by reference, so every value reads back right.
 */
static char writer_path[256];

static int writer_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    got *g = ctx;
    if (g->n == 0) {
        sp_ledger *w;
        assert_int_equal(sp_ledger_open(&w, writer_path, SP_LEDGER_CREATE, NULL), SP_OK);
        for (unsigned i = 0; i < 300; i++) {
            char v[64];
            snprintf(v, sizeof v, "a later record %u, written meanwhile", i);
            assert_int_equal(sp_ledger_append(w, NREC + i, v, strlen(v)), SP_OK);
        }
        sp_ledger_close(w);
    }
    return check_visit(ctx, key, keylen, val, len);
}

static void test_writer_meanwhile(void **state)
{
    (void)state;
    tpath(writer_path, "writer.ledger");
    sp_ledger *l;
    assert_int_equal(sp_ledger_open(&l, writer_path, SP_LEDGER_CREATE, NULL), SP_OK);
    for (unsigned i = 0; i < NREC; i++) {
        char v[64];
        value_of(v, sizeof v, i);
        assert_int_equal(sp_ledger_append(l, i, v, strlen(v)), SP_OK);
    }
    sp_ledger_close(l);
    sp_source *s;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_source_open(&s, writer_path, err), SP_OK);
    assert_true(sp_source_by_reference(s));   /* the case the held snapshot is for */
    got g = {0};
    assert_int_equal(sp_source_foreach(s, writer_visit, &g), SP_OK);
    assert_null(sp_source_damage(s));
    assert_int_equal(g.n, NREC);   /* the snapshot the child took */
    assert_false(g.bad);
    sp_source_close(s);
    assert_no_children();
}

/* Writes a copy of the ledger with the byte at off replaced by the function's result. */
static const char *mutate(char *out, const char *name, void (*fn)(uint8_t *b, size_t n))
{
    FILE *f = fopen(ledger_path, "rb");
    assert_non_null(f);
    static uint8_t b[1 << 20];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    fn(b, n);
    f = fopen(tpath(out, name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    return out;
}

static uint64_t txnid_at(const uint8_t *b, size_t page)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[page * 4096 + 144 + i];
    return v;
}

static int newest_page(const uint8_t *b) { return txnid_at(b, 1) > txnid_at(b, 0) ? 1 : 0; }

static void kill_newest_magic(uint8_t *b, size_t n) { (void)n; b[newest_page(b) * 4096 + 16] ^= 0xff; }
static void kill_older_magic(uint8_t *b, size_t n) { (void)n; b[(1 - newest_page(b)) * 4096 + 16] ^= 0xff; }
static void kill_both_magic(uint8_t *b, size_t n) { (void)n; b[16] ^= 0xff; b[4096 + 16] ^= 0xff; }
static void older_txnid_far(uint8_t *b, size_t n)
{
    (void)n;
    b[(1 - newest_page(b)) * 4096 + 144 + 4] ^= 0x01; /* + 2^32: same parity, far off */
}
static void older_txnid_parity(uint8_t *b, size_t n)
{
    (void)n;
    b[(1 - newest_page(b)) * 4096 + 144] ^= 0x01;
}
static void cut_last_page(uint8_t *b, size_t n) { (void)b; (void)n; }
/* the newest meta page lost and the older snapshot's root page wrecked: the child dies */
static void kill_newest_and_roots(uint8_t *b, size_t n)
{
    kill_newest_magic(b, n);
    for (size_t i = 2 * 4096; i < n; i++)
        b[i] ^= 0x5a;
}

/* No private copy (sp-ledger.*) is left in TMPDIR. */
static void assert_no_copies(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls -d %s/sp-ledger.* >/dev/null 2>&1", tmpdir);
    assert_int_not_equal(system(cmd), 0);
}

static void test_meta_pages(void **state)
{
    (void)state;
    char p[256], d[512];
    got g;
    /* the newest meta page lost: the older snapshot is read, one record short, and named */
    assert_int_equal(read_all(mutate(p, "newest.ledger", kill_newest_magic), &g, d, sizeof d), SP_OK);
    if (strstr(d, "the ledger's newest commit is unreadable") == NULL || strstr(d, "rolled back to transaction") == NULL)
        fail_msg("damage: '%s' (%u records)", d, g.n);
    assert_int_equal(g.n, NREC - 1);
    assert_false(g.bad);
    assert_no_copies();
    assert_int_equal(read_all(mutate(p, "wrecked.ledger", kill_newest_and_roots), &g, d, sizeof d), SP_OK);
    if (strstr(d, "rolled back") == NULL || strstr(d, "ledger damaged") == NULL)
        fail_msg("damage: '%s'", d);
    assert_no_copies();
    /* the older meta page lost: every record is read, and the damage is named */
    assert_int_equal(read_all(mutate(p, "older.ledger", kill_older_magic), &g, d, sizeof d), SP_OK);
    assert_non_null(strstr(d, "ledger damaged: meta page"));
    assert_int_equal(g.n, NREC);
    assert_false(g.bad);
    /* transaction ids that cannot both be right */
    assert_int_equal(read_all(mutate(p, "far.ledger", older_txnid_far), &g, d, sizeof d), SP_OK);
    assert_non_null(strstr(d, "ledger damaged"));
    assert_int_equal(read_all(mutate(p, "parity.ledger", older_txnid_parity), &g, d, sizeof d), SP_OK);
    assert_non_null(strstr(d, "ledger damaged"));
    /* no LMDB magic anywhere: not a ledger at all */
    assert_int_equal(read_all(mutate(p, "nomagic.ledger", kill_both_magic), &g, d, sizeof d), SP_EFORMAT);
    /* shorter than its pages: unreadable (SPEC 5.2) */
    mutate(p, "short.ledger", cut_last_page);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size - 4096), 0);
    assert_int_equal(read_all(p, &g, d, sizeof d), SP_EFORMAT);
    assert_no_children();
}

static void test_unreadable(void **state)
{
    (void)state;
    char p[256], q[300];
    got g;
    char d[512];
    assert_int_equal(read_all(tpath(p, "absent.ledger"), &g, d, sizeof d), SP_ENOTFOUND);
    snprintf(q, sizeof q, "%s-lock", p);
    assert_int_not_equal(access(q, F_OK), 0);
    assert_int_equal(read_all(tmpdir, &g, d, sizeof d), SP_EIO);
    FILE *f = fopen(tpath(p, "empty"), "wb");
    fclose(f);
    assert_int_equal(read_all(p, &g, d, sizeof d), SP_EFORMAT);
    f = fopen(tpath(p, "garbage"), "wb");
    for (int i = 0; i < 20000; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    assert_int_equal(read_all(p, &g, d, sizeof d), SP_EFORMAT);
    /* a foreign LMDB file (no scratchproof databases): not a ledger, not damage */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {3, "key"}, v = {5, "value"};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, tpath(p, "foreign.mdb"), MDB_NOSUBDIR, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(read_all(p, &g, d, sizeof d), SP_EFORMAT);
    assert_no_children();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_reads),  cmocka_unit_test(test_bundle_reads),
        cmocka_unit_test(test_visitor_stops), cmocka_unit_test(test_child_faults),
        cmocka_unit_test(test_meta_pages),    cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_by_value),      cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_writer_meanwhile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
