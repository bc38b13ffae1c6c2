/*
 * bench_verify.c - records verified per second against the machine's raw
 * Ed25519 verify rate, in one run. Writes a ledger of N small checkpoint
 * records through the public API, then times sp_verify_ledger over it.
 *   bench_verify [DIR] [N] [TENSORS [REPEATS]]
 * Two cases: records of 4 tensors (N of them) and of 1,000 tensors (N/10);
 * with TENSORS, only one case: N records of TENSORS tensors, verified
 * REPEATS times (default 3; more for a profiler).
 * Prints for each: the mean stored record size, the raw Ed25519 verify rate
 * for messages of that size (one core), then records verified per second
 * with 1 and 2 threads, each as a ratio to the raw rate, and the CPU time
 * per record (every thread's; a shared machine's load does not inflate it).
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

/*
 * One case: a run of n records of nt tensors each (genesis, n-2 checkpoints,
 * a final), written through the public API, then verified at 1 and 2
 * threads; the raw Ed25519 rate is measured on messages of the records'
 * mean stored size. Best of repeats. Returns 0 or 1.
 */
static int bench_case(const char *dir, int n, int nt, int repeats)
{
    char prefix[512], ledger[600], key[600];
    snprintf(prefix, sizeof prefix, "%s/spbench-verify-%d-%d", dir, (int)getpid(), nt);
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    char err[SP_ERRMSG_MAX] = "";
    if (sp_keygen_files(prefix, err) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    float (*w)[16] = calloc((size_t)nt, sizeof *w);
    sp_record_tensor *rt = calloc((size_t)nt, sizeof *rt);
    sp_tensor *t = calloc((size_t)nt, sizeof *t);
    char (*names)[32] = calloc((size_t)nt, sizeof *names);
    if (!w || !rt || !t || !names)
        return 1;
    sp_init_scheme s = {.kind = SP_INIT_UNIFORM, .p = {-0.1, 0.1, 0, 0}};
    for (int i = 0; i < nt; i++) {
        snprintf(names[i], sizeof names[i], "layers.%04d.weight", i);
        if (sp_init_fill(w[i], SP_DTYPE_F32, names[i], 1, &s, 0, 16) != SP_OK)
            return 1;
        t[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {4, 4},
                           .data = w[i], .nbytes = sizeof w[i]};
        rt[i] = (sp_record_tensor){.t = t[i], .init = s};
    }
    sp_run *run;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 1, .model_name = "bench",
                        .err = err};
    if (sp_run_open(&run, &o) != SP_OK || sp_run_genesis(run, rt, (size_t)nt) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    for (int i = 1; i < n - 1; i++) {
        sp_checkpoint_info info = {.step = (uint64_t)i, .loss = 1.0 / i};
        w[i % nt][i % 16] += 1e-3f;
        if (sp_run_commit_batch(run, (uint64_t)i, "b", 1) != SP_OK ||
            sp_run_checkpoint(run, &info, t, (size_t)nt) != SP_OK)
            return 1;
    }
    /* the final step follows the last checkpoint's, with its one batch (7, item 9) */
    if (sp_run_commit_batch(run, (uint64_t)(n - 1), "b", 1) != SP_OK ||
        sp_run_final(run, (uint64_t)(n - 1), t, (size_t)nt) != SP_OK)
        return 1;
    sp_run_close(run);

    size_ctx sz = {0, 0};
    sp_source *src = NULL;
    if (sp_source_open(&src, ledger, err) != SP_OK || sp_source_foreach(src, add_size, &sz) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    sp_source_close(src);
    size_t msglen = (size_t)(sz.bytes / (sz.n ? sz.n : 1));
    uint8_t pk[32], sk[64], sig[64], *msg = malloc(msglen);
    if (msg == NULL)
        return 1;
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, msglen);
    crypto_sign_detached(sig, NULL, msg, msglen, sk);
    double best_raw = 0, best_rec[3] = {0, 0, 0}, cpu_raw = 1e30, cpu_rec[3] = {1e30, 1e30, 1e30};
    uint8_t vpk[32];
    char pub[600];
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    if (sp_key_load_public(vpk, pub, err) != SP_OK)
        return 1;
    for (int rep = 0; rep < repeats; rep++) {
        double t0 = now(), c0 = cpu_now();
        int k = 0;
        for (; k < n; k++)
            if (crypto_sign_verify_detached(sig, msg, msglen, pk) != 0)
                return 1;
        double r = k / (now() - t0), c = (cpu_now() - c0) / k;
        best_raw = r > best_raw ? r : best_raw;
        cpu_raw = c < cpu_raw ? c : cpu_raw;
        for (unsigned th = 1; th <= 2; th++) {
            sp_verify_opts vo = {.ledger_path = ledger, .pk = vpk, .threads = th};
            sp_report rep2;
            sp_verify_summary sum;
            sp_report_init(&rep2);
            t0 = now();
            c0 = cpu_now();
            if (sp_verify_ledger(&vo, &rep2, &sum, err) != SP_OK || !sp_report_ok(&rep2)) {
                fprintf(stderr, "bench_verify: ledger did not verify\n");
                sp_report_print(&rep2, stderr, 0);
                return 1;
            }
            r = (double)sum.records / (now() - t0);
            c = (cpu_now() - c0) / (double)sum.records;
            best_rec[th] = r > best_rec[th] ? r : best_rec[th];
            cpu_rec[th] = c < cpu_rec[th] ? c : cpu_rec[th];
            sp_report_free(&rep2);
        }
    }
    printf("verify.tensors_%d.record_bytes %zu\n", nt, msglen);
    printf("verify.tensors_%d.ed25519_per_sec %.0f\n", nt, best_raw);
    printf("verify.tensors_%d.records_1t_per_sec %.0f ratio %.3f\n", nt, best_rec[1], best_rec[1] / best_raw);
    printf("verify.tensors_%d.records_2t_per_sec %.0f ratio %.3f (goal >= 0.8)\n", nt, best_rec[2],
           best_rec[2] / best_raw);
    /* CPU per record (all threads): what verifying costs, whatever else the machine runs */
    printf("verify.tensors_%d.cpu_us_per_record raw %.1f 1t %.1f 2t %.1f (2t/raw %.2f)\n", nt,
           cpu_raw * 1e6, cpu_rec[1] * 1e6, cpu_rec[2] * 1e6, cpu_rec[2] / cpu_raw);
    char path[700];
    snprintf(path, sizeof path, "%s.ledger-lock", prefix);
    unlink(path);
    unlink(ledger);
    unlink(key);
    unlink(pub);
    free(w);
    free(rt);
    free(t);
    free(names);
    free(msg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int only = argc > 3 ? atoi(argv[3]) : 0, repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (sodium_init() < 0 || n < 3 || only < 0 || repeats < 1)
        return 1;
    if (only > 0)
        return bench_case(dir, n, only, repeats);
    /* small records (4 tensors) and large ones (1,000 tensors, a tenth as many) */
    if (bench_case(dir, n, 4, 3) != 0 || bench_case(dir, n / 10 > 3 ? n / 10 : 3, 1000, 3) != 0)
        return 1;
    return 0;
}
