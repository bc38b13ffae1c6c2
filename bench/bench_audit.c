/*
 * bench_audit.c - the audit goal of BRIEF.md: two models compared in at most
 * 2x the time it takes to hash them. Usage: bench_audit MODEL REF [THREADS].
 * Both timings start from opening the files (page cache warm: each is run
 * once before timing) and use the same threads; best of 3. Prints
 * audit.seconds, audit.hash_seconds and audit.ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "digest.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Hashes every tensor of both models with sp_tensors_digest. */
static int hash_both(const char *a, const char *b, unsigned threads)
{
    const char *paths[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        sp_audit_model *m = NULL;
        char err[SP_ERRMSG_MAX];
        if (sp_audit_model_open(&m, paths[k], err) != SP_OK) {
            fprintf(stderr, "bench_audit: %s\n", err);
            return -1;
        }
        size_t n = sp_audit_model_count(m);
        sp_tensor *t = malloc((n ? n : 1) * sizeof *t);
        uint8_t (*d)[SP_DIGEST_BYTES] = malloc((n ? n : 1) * sizeof *d);
        int rc = t && d ? SP_OK : SP_ENOMEM;
        for (size_t i = 0; i < n && rc == SP_OK; i++)
            t[i] = *sp_audit_model_tensor(m, i);
        if (rc == SP_OK)
            rc = sp_tensors_digest(d, t, n, threads);
        free(t);
        free(d);
        sp_audit_model_close(m);
        if (rc != SP_OK)
            return -1;
    }
    return 0;
}

static int audit_both(const char *a, const char *b, unsigned threads)
{
    sp_audit_model *m = NULL, *r = NULL;
    char err[SP_ERRMSG_MAX];
    if (sp_audit_model_open(&m, a, err) != SP_OK || sp_audit_model_open(&r, b, err) != SP_OK) {
        fprintf(stderr, "bench_audit: %s\n", err);
        sp_audit_model_close(m);
        return -1;
    }
    sp_audit_options opt = {SP_AUDIT_DEFAULT_ALPHA, threads, 0, NULL, 0, NULL};
    sp_audit_result res;
    const char *rp[1] = {b};
    int rc = sp_audit_run(&res, a, m, rp, &r, 1, &opt);
    if (rc == SP_OK)
        sp_audit_result_free(&res);
    sp_audit_model_close(r);
    sp_audit_model_close(m);
    return rc == SP_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_audit MODEL REF [THREADS]\n");
        return 2;
    }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : (unsigned)(nc > 0 ? nc : 1);
    double best_h = 1e30, best_a = 1e30;
    if (hash_both(argv[1], argv[2], threads) != 0 || audit_both(argv[1], argv[2], threads) != 0)
        return 1;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        if (hash_both(argv[1], argv[2], threads) != 0)
            return 1;
        double t1 = now();
        if (audit_both(argv[1], argv[2], threads) != 0)
            return 1;
        double t2 = now();
        if (t1 - t0 < best_h)
            best_h = t1 - t0;
        if (t2 - t1 < best_a)
            best_a = t2 - t1;
    }
    printf("audit.threads %u\n", threads);
    printf("audit.seconds %.3f\n", best_a);
    printf("audit.hash_seconds %.3f\n", best_h);
    printf("audit.ratio %.2f\n", best_a / best_h);
    return 0;
}
