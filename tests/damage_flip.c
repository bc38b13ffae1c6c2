/*
 * damage_flip.c - every single-byte flip of a ledger or bundle, verified
 * through the library with the child reader (SPEC.md 14.4). For each offset
 * and each of XOR 0x01 and XOR 0xff the mutant is written to a new file and
 * read through sp_source; when the records it yields differ from the
 * original's and no damage was reported, the whole verification runs and
 * must fail. This process never crashes (a crash fails the test), and a
 * mutant that takes longer than the limit below counts as a hang.
 *
 *   damage_flip FILE PUB [STRIDE [WORKERS]]
 *   damage_flip --lost OLD NEW PUB
 *   damage_flip --lost-run PREFIX     (writes PREFIX.key/.pub and the snapshots
 *                                      PREFIX.0 .1 .2 of a run after each record)
 *
 * --lost: NEW is OLD after one more commit. For every page (4 KiB) that
 * differs, the write of that page is lost (OLD's page in NEW) or torn (only
 * its first 1..7 sectors of 512 B written): never a crash or hang, and a
 * mutant that verifies must hold NEW's records or OLD's (a rollback to the
 * commit before, which no reader can see: SPEC.md 14.3).
 *
 * WORKERS processes (default 2) share the offsets; each counts into shared
 * memory, and a worker that dies of a signal fails the run.
 * Prints one line of counts and exits 1 if a changed record was accepted
 * or a mutant hung, 2 on a usage or setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "record.h"
#include "scratchproof.h"
#include "report.h"
#include "source.h"
#include "verify.h"

#define HANG_SECONDS 20.0   /* the reader's own timeout is 60 s; nothing honest takes this long */

typedef struct recs {
    uint8_t *bytes;         /* key || value of every record, with lengths, in order */
    size_t n, cap;
    int oom;
} recs;

static int put(recs *r, const void *p, size_t len)
{
    if (len > r->cap - r->n) {
        size_t cap = r->cap ? r->cap * 2 : 65536;
        while (cap - r->n < len)
            cap *= 2;
        uint8_t *nb = realloc(r->bytes, cap);
        if (nb == NULL) {
            r->oom = 1;
            return -1;
        }
        r->bytes = nb;
        r->cap = cap;
    }
    memcpy(r->bytes + r->n, p, len);
    r->n += len;
    return 0;
}

static int collect(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    recs *r = ctx;
    uint64_t kl = keylen, vl = len;
    if (put(r, &kl, sizeof kl) || put(r, key, keylen) || put(r, &vl, sizeof vl) || put(r, val, len))
        return SP_ENOMEM;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* -1 unreadable (exit 2), 1 damage finding (exit 1), 0 read cleanly into *out. */
static int read_records(const char *path, recs *out)
{
    sp_source *s;
    char err[SP_ERRMSG_MAX];
    out->n = 0;
    if (sp_source_open(&s, path, err) != SP_OK)
        return -1;
    int rc = sp_source_foreach(s, collect, out);
    int damaged = sp_source_damage(s) != NULL;
    sp_source_close(s);
    if (rc != SP_OK)
        return -1;
    return damaged;
}

/*
 * 0 when some record fails to decode or to verify under pk: sp_verify_ledger
 * then fails its "record" or "signature" check for certain, with the same
 * library calls, and the costly rest (regenerating the genesis) is skipped.
 * 1 when every record decodes and is signed.
 */
static int all_signed(const recs *r, const uint8_t *pk)
{
    size_t off = 0;
    while (off < r->n) {
        uint64_t kl, vl;
        memcpy(&kl, r->bytes + off, 8);
        off += 8 + kl;
        memcpy(&vl, r->bytes + off, 8);
        off += 8;
        Sp__Envelope *env = NULL;
        char err[SP_ERRMSG_MAX];
        int ok = sp_envelope_decode(&env, r->bytes + off, vl, err) == SP_OK &&
                 sp_envelope_verify(env, pk) == SP_OK;
        sp_envelope_free(env);
        if (!ok)
            return 0;
        off += vl;
    }
    return 1;
}

/* 1 verified, 0 not verified, -1 unreadable. */
static int verify(const char *path, const uint8_t *pk)
{
    /* --allow-incomplete: a snapshot between commits has no final record yet */
    sp_verify_opts o = {.ledger_path = path, .pk = pk, .threads = 1, .allow_incomplete = 1};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX];
    sp_report_init(&rep);
    int rc = sp_verify_ledger(&o, &rep, &sum, err);
    int ok = rc == SP_OK ? sp_report_ok(&rep) : -1;
    sp_report_free(&rep);
    return ok;
}

static int write_file(const char *path, const uint8_t *b, size_t n)
{
    (void)unlink(path); /* a new file: rewriting one a reader had mapped is slow */
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

enum { C_UNREADABLE, C_DAMAGED, C_SAME, C_REJECTED, C_ACCEPTED, C_HANGS, C_N };

typedef struct tally {
    unsigned long c[C_N];
    double worst;
    size_t worst_at;
} tally;

/* One worker: the offsets off = first, first + step, ... */
static int worker(const uint8_t *orig, size_t n, const uint8_t *pk, const recs *base, size_t first,
                  size_t step, tally *t)
{
    uint8_t *mut = malloc(n);
    recs got = {0};
    char path[128], lock[140];
    snprintf(path, sizeof path, "/tmp/sp_damage_%ld.mutant", (long)getpid());
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (mut == NULL)
        return 2;
    for (size_t off = first; off < n; off += step) {
        for (int x = 0; x < 2; x++) {
            memcpy(mut, orig, n);
            mut[off] ^= x ? 0xff : 0x01;
            if (write_file(path, mut, n) != 0) {
                fprintf(stderr, "damage_flip: cannot write %s\n", path);
                return 2;
            }
            (void)unlink(lock);
            double t0 = now();
            int r = read_records(path, &got);
            if (got.oom)
                return 2;
            if (r < 0) {
                t->c[C_UNREADABLE]++;
            } else if (r > 0) {
                t->c[C_DAMAGED]++;
            } else if (got.n == base->n && memcmp(got.bytes, base->bytes, base->n) == 0) {
                t->c[C_SAME]++; /* a flip in free space or in LMDB bookkeeping that is not used */
            } else if (all_signed(&got, pk) && verify(path, pk) == 1) {
                t->c[C_ACCEPTED]++;
                printf("ACCEPTED: byte %zu XOR 0x%02x changes the records yet verifies\n", off,
                       x ? 0xff : 0x01);
            } else {
                t->c[C_REJECTED]++;
            }
            double dt = now() - t0;
            if (dt > t->worst) {
                t->worst = dt;
                t->worst_at = off;
            }
            if (dt > HANG_SECONDS)
                t->c[C_HANGS]++;
        }
    }
    (void)unlink(path);
    (void)unlink(lock);
    free(mut);
    free(got.bytes);
    return 0;
}

/* Reads a whole file; NULL on failure. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    uint8_t *b = sz > 0 ? malloc((size_t)sz) : NULL;
    if (b != NULL && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static int lost_writes(const char *oldp, const char *newp, const char *pubp)
{
    uint8_t pk[SP_PK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    size_t no, nn;
    uint8_t *o = slurp(oldp, &no), *nw = slurp(newp, &nn);
    if (o == NULL || nw == NULL || nn < no || sp_key_load_public(pk, pubp, err) != SP_OK) {
        fprintf(stderr, "damage_flip --lost: cannot read %s, %s or the key %s\n", oldp, newp, err);
        return 2;
    }
    char path[128], lock[140];
    snprintf(path, sizeof path, "/tmp/sp_damage_%ld.lost", (long)getpid());
    snprintf(lock, sizeof lock, "%s-lock", path);
    recs ro = {0}, rn = {0}, got = {0};
    int clean = write_file(path, o, no) == 0 && read_records(path, &ro) == 0 && verify(path, pk) == 1 &&
                write_file(path, nw, nn) == 0 && read_records(path, &rn) == 0 && verify(path, pk) == 1;
    if (!clean) {
        fprintf(stderr, "damage_flip --lost: %s and %s must both verify\n", oldp, newp);
        return 2;
    }
    uint8_t *m = malloc(nn);
    unsigned long mutants = 0, unreadable = 0, damaged = 0, as_new = 0, as_old = 0, rejected = 0,
                  accepted = 0;
    for (size_t pg = 0; m != NULL && pg * 4096 < nn; pg++) {
        size_t at = pg * 4096, len = nn - at < 4096 ? nn - at : 4096;
        if (at + len <= no && memcmp(o + at, nw + at, len) == 0)
            continue; /* not written by the commit */
        for (size_t sectors = 0; sectors * 512 < len; sectors++) {
            memcpy(m, nw, nn);
            /* the first `sectors` sectors reached the disk; the rest is what was there before */
            for (size_t b = at + sectors * 512; b < at + len; b++)
                m[b] = b < no ? o[b] : 0;
            if (write_file(path, m, nn) != 0)
                return 2;
            (void)unlink(lock);
            int r = read_records(path, &got);
            mutants++;
            if (r < 0)
                unreadable++;
            else if (r > 0)
                damaged++;
            else if (got.n == rn.n && memcmp(got.bytes, rn.bytes, rn.n) == 0)
                as_new++;
            else if (got.n == ro.n && memcmp(got.bytes, ro.bytes, ro.n) == 0)
                as_old++;
            else if (all_signed(&got, pk) && verify(path, pk) == 1) {
                accepted++;
                printf("ACCEPTED: page %zu, %zu sectors written: other records verify\n", pg, sectors);
            } else
                rejected++;
        }
    }
    (void)unlink(path);
    (void)unlink(lock);
    printf("%s -> %s: %lu lost or torn page writes: %lu unreadable (exit 2), %lu damaged (exit 1), "
           "%lu read as the new commit, %lu as the one before, %lu other records rejected, %lu "
           "other records ACCEPTED\n", oldp, newp, mutants, unreadable, damaged, as_new, as_old,
           rejected, accepted);
    free(o);
    free(nw);
    free(m);
    free(ro.bytes);
    free(rn.bytes);
    free(got.bytes);
    return m != NULL && accepted == 0 && mutants > 0 ? 0 : 1;
}

/* Copies the ledger as it is now (between commits) to dst. */
static int snapshot(const char *src, const char *dst)
{
    size_t n;
    uint8_t *b = slurp(src, &n);
    int rc = b != NULL ? write_file(dst, b, n) : -1;
    free(b);
    return rc;
}

/* A run of genesis, one checkpoint and a final through the hook, snapshotted after each. */
static int lost_run(const char *prefix)
{
    char ledger[512], key[512], snap[520], err[SP_ERRMSG_MAX] = "";
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    if (sp_keygen_files(prefix, err) != SP_OK) {
        fprintf(stderr, "damage_flip --lost-run: %s\n", err);
        return 2;
    }
    static float w[2][64];
    static const char *names[2] = {"a.weight", "b.bias"};
    sp_init_scheme s = {.kind = SP_INIT_UNIFORM, .p = {-0.1, 0.1, 0, 0}};
    sp_record_tensor rt[2];
    sp_tensor t[2];
    for (int i = 0; i < 2; i++) {
        if (sp_init_fill(w[i], SP_DTYPE_F32, names[i], 3, &s, 0, 64) != SP_OK)
            return 2;
        t[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {64},
                           .data = w[i], .nbytes = sizeof w[i]};
        rt[i] = (sp_record_tensor){.t = t[i], .init = s};
    }
    sp_run *run;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 3, .model_name = "lost", .err = err};
    int rc = sp_run_open(&run, &o);
    if (rc == SP_OK)
        rc = sp_run_genesis(run, rt, 2);
    snprintf(snap, sizeof snap, "%s.0", prefix);
    if (rc == SP_OK && snapshot(ledger, snap) != 0)
        rc = SP_EIO;
    for (uint64_t step = 1; rc == SP_OK && step <= 2; step++) {
        w[0][step] += 0.5f;
        rc = sp_run_commit_batch(run, step, "batch", 5);
        if (rc == SP_OK && step == 1) {
            sp_checkpoint_info info = {.step = 1, .loss = 1.0};
            rc = sp_run_checkpoint(run, &info, t, 2);
        } else if (rc == SP_OK) {
            rc = sp_run_final(run, 2, t, 2);
        }
        snprintf(snap, sizeof snap, "%s.%llu", prefix, (unsigned long long)step);
        if (rc == SP_OK && snapshot(ledger, snap) != 0)
            rc = SP_EIO;
    }
    sp_run_close(run);
    if (rc != SP_OK) {
        fprintf(stderr, "damage_flip --lost-run: %s\n", err[0] ? err : sp_strerror(rc));
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--lost") == 0)
        return lost_writes(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "--lost-run") == 0)
        return lost_run(argv[2]);
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: damage_flip FILE PUB [STRIDE [WORKERS]]\n");
        return 2;
    }
    size_t stride = argc >= 4 ? (size_t)strtoul(argv[3], NULL, 10) : 1;
    int workers = argc == 5 ? atoi(argv[4]) : 2;
    uint8_t pk[SP_PK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (stride == 0 || workers < 1 || workers > 64 || sp_key_load_public(pk, argv[2], err) != SP_OK) {
        fprintf(stderr, "damage_flip: bad stride, workers or key %s\n", err);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        fprintf(stderr, "damage_flip: cannot read %s\n", argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    uint8_t *orig = sz > 0 ? malloc((size_t)sz) : NULL;
    if (orig == NULL || fread(orig, 1, (size_t)sz, f) != (size_t)sz) {
        fprintf(stderr, "damage_flip: cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    size_t n = (size_t)sz;
    char path[128], lock[140];
    snprintf(path, sizeof path, "/tmp/sp_damage_%ld.orig", (long)getpid());
    snprintf(lock, sizeof lock, "%s-lock", path);
    recs base = {0};
    int clean = write_file(path, orig, n) == 0 && read_records(path, &base) == 0 && verify(path, pk) == 1;
    (void)unlink(path);
    (void)unlink(lock);
    if (!clean) {
        fprintf(stderr, "damage_flip: %s does not read and verify cleanly to begin with\n", argv[1]);
        return 2;
    }
    tally *t = mmap(NULL, (size_t)workers * sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return 2;
    memset(t, 0, (size_t)workers * sizeof *t);
    double t_all = now();
    fflush(stdout);
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            int rc = worker(orig, n, pk, &base, (size_t)w * stride, (size_t)workers * stride, &t[w]);
            fflush(stdout);
            _exit(rc);
        }
    }
    int failed = 0, st;
    pid_t pid;
    while ((pid = wait(&st)) > 0) {
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("FAIL: a worker %s %d\n", WIFSIGNALED(st) ? "died of signal" : "exited with",
                   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            failed = 1;
        }
    }
    tally sum = {{0}, 0, 0};
    for (int w = 0; w < workers; w++) {
        for (int k = 0; k < C_N; k++)
            sum.c[k] += t[w].c[k];
        if (t[w].worst > sum.worst) {
            sum.worst = t[w].worst;
            sum.worst_at = t[w].worst_at;
        }
    }
    unsigned long all = 0;
    for (int k = 0; k < C_HANGS; k++)
        all += sum.c[k];
    printf("%s: %lu mutants: %lu unreadable (exit 2), %lu damaged (exit 1), %lu changed and "
           "rejected (exit 1), %lu unchanged records, %lu changed records ACCEPTED, %lu hangs; "
           "slowest %.1f ms (byte %zu), %.1f s in all\n",
           argv[1], all, sum.c[C_UNREADABLE], sum.c[C_DAMAGED], sum.c[C_REJECTED], sum.c[C_SAME],
           sum.c[C_ACCEPTED], sum.c[C_HANGS], sum.worst * 1e3, sum.worst_at, now() - t_all);
    free(orig);
    free(base.bytes);
    return !failed && sum.c[C_ACCEPTED] == 0 && sum.c[C_HANGS] == 0 && all == 2 * ((n + stride - 1) / stride) ? 0 : 1;
}
