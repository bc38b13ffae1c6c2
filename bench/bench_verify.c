/*
 * bench_verify.c - records verified per second against the machine's raw
 * Ed25519 verify rate, in one run. Writes a ledger of N small checkpoint
 * records through the public API, then times sp_verify_ledger over it.
 *   bench_verify [DIR] [N]
 * Prints: verify.ed25519_per_sec X (one core), then records verified per
 * second with 1 and 2 threads, each as a ratio to X.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "scratchproof.h"
#include "verify.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (sodium_init() < 0 || n < 1)
        return 1;
    char prefix[512], ledger[600], key[600];
    snprintf(prefix, sizeof prefix, "%s/spbench-verify-%d", dir, (int)getpid());
    snprintf(ledger, sizeof ledger, "%s.ledger", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    char err[SP_ERRMSG_MAX] = "";
    if (sp_keygen_files(prefix, err) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    /* a run of n records: genesis of 4 small tensors, n-2 checkpoints, a final */
    float w[4][256];
    sp_record_tensor rt[4];
    sp_tensor t[4];
    static const char *names[4] = {"a.weight", "b.weight", "c.bias", "d.weight"};
    sp_init_scheme s = {.kind = SP_INIT_UNIFORM, .p = {-0.1, 0.1, 0, 0}};
    for (int i = 0; i < 4; i++) {
        if (sp_init_fill(w[i], SP_DTYPE_F32, names[i], 1, &s, 0, 256) != SP_OK)
            return 1;
        t[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {256},
                           .data = w[i], .nbytes = sizeof w[i]};
        rt[i] = (sp_record_tensor){.t = t[i], .init = s};
    }
    sp_run *run;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 1, .model_name = "bench",
                        .err = err};
    if (sp_run_open(&run, &o) != SP_OK || sp_run_genesis(run, rt, 4) != SP_OK) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return 1;
    }
    for (int i = 1; i < n - 1; i++) {
        sp_checkpoint_info info = {.step = (uint64_t)i, .loss = 1.0 / i};
        w[0][i % 256] += 1e-3f;
        if (sp_run_checkpoint(run, &info, t, 4) != SP_OK)
            return 1;
    }
    if (sp_run_final(run, (uint64_t)n, t, 4) != SP_OK)
        return 1;
    sp_run_close(run);

    /* raw Ed25519 verify rate on messages of a record's size */
    uint8_t pk[32], sk[64], msg[600], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    double best_raw = 0, best_rec[3] = {0, 0, 0};
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        int k = 0;
        for (; k < n; k++)
            if (crypto_sign_verify_detached(sig, msg, sizeof msg, pk) != 0)
                return 1;
        double r = k / (now() - t0);
        best_raw = r > best_raw ? r : best_raw;

        uint8_t vpk[32];
        char pub[600];
        snprintf(pub, sizeof pub, "%s.pub", prefix);
        if (sp_key_load_public(vpk, pub, err) != SP_OK)
            return 1;
        for (unsigned th = 1; th <= 2; th++) {
            sp_verify_opts vo = {.ledger_path = ledger, .pk = vpk, .threads = th};
            sp_report rep2;
            sp_verify_summary sum;
            sp_report_init(&rep2);
            t0 = now();
            if (sp_verify_ledger(&vo, &rep2, &sum, err) != SP_OK || !sp_report_ok(&rep2)) {
                fprintf(stderr, "bench_verify: ledger did not verify\n");
                return 1;
            }
            r = (double)sum.records / (now() - t0);
            best_rec[th] = r > best_rec[th] ? r : best_rec[th];
            sp_report_free(&rep2);
        }
    }
    printf("verify.ed25519_per_sec %.0f\n", best_raw);
    printf("verify.records_1t_per_sec %.0f ratio %.3f\n", best_rec[1], best_rec[1] / best_raw);
    printf("verify.records_2t_per_sec %.0f ratio %.3f\n", best_rec[2], best_rec[2] / best_raw);
    char path[700];
    snprintf(path, sizeof path, "%s.ledger-lock", prefix);
    unlink(path);
    unlink(ledger);
    unlink(key);
    snprintf(path, sizeof path, "%s.pub", prefix);
    unlink(path);
    return 0;
}
