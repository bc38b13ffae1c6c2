/*
 * bench_verify.c - records verified per second against the machine's raw
 * Ed25519 verify rate, in one run. Writes a ledger of N small checkpoint
 * records through the public API, then times sp_verify_ledger over it.
 *   bench_verify [DIR] [N] [TENSORS [REPEATS]]
 * Two cases: records of 4 tensors (N of them) and of 1,000 tensors (N/2);
 * with TENSORS, only one case: N records of TENSORS tensors, verified
 * REPEATS times (default 3; more for a profiler).
 * Prints for each: the mean stored record size, the raw Ed25519 verify rate
 * for messages of that size (one core), then records verified per second
 * with 1 and 2 threads (the whole verify of the ledger), each as a ratio to
 * the raw rate, and the CPU time per record (every thread's; a shared
 * machine's load does not inflate it). Then what one verify costs whatever
 * its length (opening, starting the reader, regenerating the genesis),
 * measured on a 3-record ledger of the same tensors, and the records'
 * marginal rate, the whole verify less that cost: the goal's figure.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "scratchproof.h"
#include "source.h"
#include "verify.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of every thread of the process: a cost that a loaded machine does not inflate. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct size_ctx {
    uint64_t n, bytes;
} size_ctx;

static int add_size(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    (void)key;
    (void)keylen;
    (void)val;
    size_ctx *c = ctx;
    c->n++;
    c->bytes += len;
    return 0;
}

/* A ledger of n records of nt tensors each (genesis, n-2 checkpoints, a final), written through
 * the public API at prefix.ledger, its key at prefix.key/.pub. Returns 0 or 1. */
static int make_ledger(const char *prefix, int n, int nt)
{
    char ledger[600], key[600], err[SP_ERRMSG_MAX] = "";
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    if (sp_keygen_files(prefix, err) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    float (*w)[16] = calloc((size_t)nt, sizeof *w);
    sp_record_tensor *rt = calloc((size_t)nt, sizeof *rt);
    sp_tensor *t = calloc((size_t)nt, sizeof *t);
    char (*names)[32] = calloc((size_t)nt, sizeof *names);
    int bad = !w || !rt || !t || !names;
    sp_init_scheme s = {.kind = SP_INIT_UNIFORM, .p = {-0.1, 0.1, 0, 0}};
    for (int i = 0; !bad && i < nt; i++) {
        snprintf(names[i], sizeof names[i], "layers.%04d.weight", i);
        bad = sp_init_fill(w[i], SP_DTYPE_F32, names[i], 1, &s, 0, 16) != SP_OK;
        t[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {4, 4},
                           .data = w[i], .nbytes = sizeof w[i]};
        rt[i] = (sp_record_tensor){.t = t[i], .init = s};
    }
    sp_run *run = NULL;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 1, .model_name = "bench",
                        .err = err};
    if (!bad && (sp_run_open(&run, &o) != SP_OK || sp_run_genesis(run, rt, (size_t)nt) != SP_OK))
        bad = 1;
    for (int i = 1; !bad && i < n - 1; i++) {
        sp_checkpoint_info info = {.step = (uint64_t)i, .loss = 1.0 / i};
        w[i % nt][i % 16] += 1e-3f;
        bad = sp_run_commit_batch(run, (uint64_t)i, "b", 1) != SP_OK ||
              sp_run_checkpoint(run, &info, t, (size_t)nt) != SP_OK;
    }
    /* the final step follows the last checkpoint's, with its one batch (7, item 9) */
    if (!bad)
        bad = sp_run_commit_batch(run, (uint64_t)(n - 1), "b", 1) != SP_OK ||
              sp_run_final(run, (uint64_t)(n - 1), t, (size_t)nt) != SP_OK;
    if (bad)
        fprintf(stderr, "bench_verify: cannot write the ledger: %s\n", err);
    sp_run_close(run);
    free(w);
    free(rt);
    free(t);
    free(names);
    return bad;
}

static void remove_ledger(const char *prefix)
{
    static const char *const ext[] = {".ledger", ".ledger-lock", ".key", ".pub"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s%s", prefix, ext[i]);
        unlink(path);
    }
}

/* Best of repeats: verify seconds and CPU seconds per verify, at 1 and 2 threads ([1], [2]). */
typedef struct timing {
    double wall[3], cpu[3];
    size_t records;
} timing;

static int time_verify(const char *prefix, int repeats, timing *tm)
{
    char ledger[600], pub[600], err[SP_ERRMSG_MAX] = "";
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    uint8_t vpk[32];
    if (sp_key_load_public(vpk, pub, err) != SP_OK)
        return 1;
    for (unsigned th = 1; th <= 2; th++)
        tm->wall[th] = tm->cpu[th] = 1e30;
    for (int rep = 0; rep < repeats; rep++)
        for (unsigned th = 1; th <= 2; th++) {
            sp_verify_opts vo = {.ledger_path = ledger, .pk = vpk, .threads = th};
            sp_report rep2;
            sp_verify_summary sum;
            sp_report_init(&rep2);
            double t0 = now(), c0 = cpu_now();
            if (sp_verify_ledger(&vo, &rep2, &sum, err) != SP_OK || !sp_report_ok(&rep2)) {
                fprintf(stderr, "bench_verify: ledger did not verify\n");
                sp_report_print(&rep2, stderr, 0);
                return 1;
            }
            double w = now() - t0, c = cpu_now() - c0;
            tm->wall[th] = w < tm->wall[th] ? w : tm->wall[th];
            tm->cpu[th] = c < tm->cpu[th] ? c : tm->cpu[th];
            tm->records = sum.records;
            sp_report_free(&rep2);
        }
    return 0;
}

/* The raw Ed25519 verify rate on one core for messages of msglen bytes (best of repeats, runs n). */
static double raw_rate(size_t msglen, int n, int repeats, double *cpu_each)
{
    uint8_t pk[32], sk[64], sig[64], *msg = malloc(msglen ? msglen : 1);
    if (msg == NULL)
        return 0;
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, msglen);
    crypto_sign_detached(sig, NULL, msg, msglen, sk);
    double best = 0;
    *cpu_each = 1e30;
    for (int rep = 0; rep < repeats; rep++) {
        double t0 = now(), c0 = cpu_now();
        for (int k = 0; k < n; k++)
            if (crypto_sign_verify_detached(sig, msg, msglen, pk) != 0)
                return 0;
        double r = n / (now() - t0), c = (cpu_now() - c0) / n;
        best = r > best ? r : best;
        *cpu_each = c < *cpu_each ? c : *cpu_each;
    }
    sodium_memzero(sk, sizeof sk);
    free(msg);
    return best;
}

/* The mean stored size of the records of prefix.ledger. */
static size_t mean_record(const char *prefix)
{
    char ledger[600], err[SP_ERRMSG_MAX];
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    size_ctx sz = {0, 0};
    sp_source *src = NULL;
    if (sp_source_open(&src, ledger, err) != SP_OK || sp_source_foreach(src, add_size, &sz) != SP_OK) {
        sp_source_close(src);
        return 0;
    }
    sp_source_close(src);
    return (size_t)(sz.bytes / (sz.n ? sz.n : 1));
}

/*
 * One case: n records of nt tensors, verified at 1 and 2 threads against the raw Ed25519 rate
 * for their mean size; with fixed, a 3-record ledger of the same tensors too, for the cost of a
 * verify whatever its length and the records' marginal rate. Returns 0 or 1.
 */
static int bench_case(const char *dir, int n, int nt, int repeats, int fixed)
{
    char prefix[512], small[520];
    snprintf(prefix, sizeof prefix, "%s/spbench-verify-%d-%d", dir, (int)getpid(), nt);
    snprintf(small, sizeof small, "%s-3", prefix);
    timing tm, t3;
    int bad = make_ledger(prefix, n, nt) || (fixed && make_ledger(small, 3, nt));
    size_t msglen = bad ? 0 : mean_record(prefix);
    double cpu_raw = 0, raw = msglen ? raw_rate(msglen, n, repeats, &cpu_raw) : 0;
    bad = bad || raw <= 0 || time_verify(prefix, repeats, &tm) || (fixed && time_verify(small, repeats, &t3));
    if (!bad) {
        double r1 = (double)tm.records / tm.wall[1], r2 = (double)tm.records / tm.wall[2];
        printf("verify.tensors_%d.record_bytes %zu\n", nt, msglen);
        printf("verify.tensors_%d.ed25519_per_sec %.0f\n", nt, raw);
        printf("verify.tensors_%d.records_1t_per_sec %.0f ratio %.3f\n", nt, r1, r1 / raw);
        printf("verify.tensors_%d.records_2t_per_sec %.0f ratio %.3f%s\n", nt, r2, r2 / raw,
               fixed ? " (whole verify of the ledger)" : " (goal >= 0.8)");
        /* CPU per record (all threads): what verifying costs, whatever else the machine runs */
        printf("verify.tensors_%d.cpu_us_per_record raw %.1f 1t %.1f 2t %.1f (2t/raw %.2f)\n", nt,
               cpu_raw * 1e6, tm.cpu[1] / (double)tm.records * 1e6, tm.cpu[2] / (double)tm.records * 1e6,
               tm.cpu[2] / (double)tm.records / cpu_raw);
        if (fixed) {
            double m1 = (double)(tm.records - t3.records) / (tm.wall[1] - t3.wall[1]);
            double m2 = (double)(tm.records - t3.records) / (tm.wall[2] - t3.wall[2]);
            printf("verify.tensors_%d.fixed_ms 1t %.2f 2t %.2f (a 3-record ledger: open, reader, genesis "
                   "regeneration)\n", nt, t3.wall[1] * 1e3, t3.wall[2] * 1e3);
            printf("verify.tensors_%d.marginal_1t_per_sec %.0f ratio %.3f\n", nt, m1, m1 / raw);
            printf("verify.tensors_%d.marginal_2t_per_sec %.0f ratio %.3f (goal >= 0.8)\n", nt, m2, m2 / raw);
        }
    }
    remove_ledger(prefix);
    if (fixed)
        remove_ledger(small);
    return bad;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int only = argc > 3 ? atoi(argv[3]) : 0, repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (sodium_init() < 0 || n < 4 || only < 0 || repeats < 1)
        return 1;
    if (only > 0)
        return bench_case(dir, n, only, repeats, only >= 100);
    /* small records (4 tensors) and large ones (1,000 tensors, half as many) */
    if (bench_case(dir, n, 4, 3, 0) != 0 || bench_case(dir, n / 2 > 4 ? n / 2 : 4, 1000, 3, 1) != 0)
        return 1;
    return 0;
}
