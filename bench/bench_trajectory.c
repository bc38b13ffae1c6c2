/*
 * bench_trajectory.c - trajectory screening (SPEC.md 13) against hashing the
 * checkpoint files it reads, in one run (BRIEF.md goal: screening at most 2x
 * the time to hash the checkpoint files).
 *   bench_trajectory LEDGER PUB DIR LABEL     an existing run (tinytrain)
 *   bench_trajectory --synthetic DIR MIB N    writes a run of N checkpoints of
 *                                             MIB MiB of F32 weights first
 * Prints, for 1 and 2 threads: trajectory.LABEL.hash_seconds_tT (best of 3,
 * every weights file of DIR hashed as verify binds it), screen_seconds_tT
 * (the screen's own wall time inside verify, best of 3) and ratio_tT.
 */
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bind.h"
#include "keys.h"
#include "safetensors.h"
#include "scratchproof.h"
#include "verify.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_weights_file(const char *n)
{
    size_t a = strlen(n);
    return a > 12 && strcmp(n + a - 12, ".safetensors") == 0 &&
           !(a > 16 && strcmp(n + a - 16, ".opt.safetensors") == 0);
}

/* Seconds to hash every weights file of dir once, as verify does. */
static double hash_dir(const char *dir, unsigned threads)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    double t0 = now();
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !is_weights_file(e->d_name))
            continue;
        char path[4096], err[SP_ERRMSG_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sp_weight_file w;
        if (sp_weight_file_load(&w, path, threads, err) == SP_OK)
            sp_weight_file_free(&w);
    }
    if (d != NULL)
        closedir(d);
    return now() - t0;
}

static double screen(const char *ledger, const uint8_t *pk, const char *dir, unsigned threads, size_t *flagged)
{
    sp_trajectory traj;
    memset(&traj, 0, sizeof traj);
    sp_verify_opts o = {.ledger_path = ledger, .pk = pk, .checkpoint_dir = dir, .threads = threads,
                        .trajectory = &traj};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX] = "";
    sp_report_init(&rep);
    double s = -1;
    if (sp_verify_ledger(&o, &rep, &sum, err) == SP_OK && traj.npts > 0) {
        s = traj.seconds;
        *flagged = traj.flagged;
    } else {
        fprintf(stderr, "bench_trajectory: verify failed: %s\n", err);
    }
    sp_trajectory_free(&traj);
    sp_report_free(&rep);
    return s;
}

/* A run of n checkpoints: the genesis from the initialiser, then small steps. */
static int synthetic(const char *dir, size_t mib, int n)
{
    enum { NT = 4 };
    char ledger[4096], prefix[4096], key[4200], err[SP_ERRMSG_MAX] = "";
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    snprintf(key, sizeof key, "%s.key", prefix);
    snprintf(ledger, sizeof ledger, "%s/run.ledger", dir);
    if (sp_keygen_files(prefix, err) != SP_OK)
        return -1;
    uint64_t rows = (uint64_t)mib * (1u << 20) / 4 / NT / 1024;
    static const char *names[NT] = {"a.weight", "b.weight", "c.weight", "d.weight"};
    sp_record_tensor rt[NT];
    sp_tensor t[NT];
    float *w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = malloc(rows * 1024 * sizeof(float));
        if (w[i] == NULL)
            return -1;
        sp_init_scheme s = {.kind = SP_INIT_NORMAL, .p = {0, 0.02, 0, 0}};
        if (sp_init_fill(w[i], SP_DTYPE_F32, names[i], 7, &s, 0, rows * 1024) != SP_OK)
            return -1;
        t[i] = (sp_tensor){names[i], SP_DTYPE_F32, 2, {rows, 1024}, w[i], rows * 1024 * sizeof(float)};
        rt[i] = (sp_record_tensor){t[i], s};
    }
    sp_run *run = NULL;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 7, .model_name = "synthetic",
                        .threads = 2, .err = err};
    if (sp_run_open(&run, &o) != SP_OK || sp_run_genesis(run, rt, NT) != SP_OK)
        return -1;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int k = 1; k <= n; k++) {
        for (int i = 0; i < NT; i++)
            for (uint64_t j = 0; j < rows * 1024; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                w[i][j] += (float)((double)(x >> 40) / 16777216.0 - 0.5) * 0.002f;
            }
        char path[4200];
        snprintf(path, sizeof path, "%s/step%06d.safetensors", dir, k * 100);
        sp_checkpoint_info ci = {.step = (uint64_t)k * 100, .loss = 1.0 / k};
        if (sp_st_write(path, t, NT, NULL, 0) != SP_OK || sp_run_checkpoint(run, &ci, t, NT) != SP_OK)
            return -1;
    }
    if (sp_run_final(run, (uint64_t)n * 100, t, NT) != SP_OK)
        return -1;
    sp_run_close(run);
    for (int i = 0; i < NT; i++)
        free(w[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    char ledger[4096], pubpath[4096];
    const char *dir, *label;
    if (argc == 5 && strcmp(argv[1], "--synthetic") == 0) {
        dir = argv[2];
        label = "synthetic";
        if (synthetic(dir, (size_t)atoi(argv[3]), atoi(argv[4])) != 0) {
            fprintf(stderr, "bench_trajectory: cannot write the synthetic run in %s\n", dir);
            return 1;
        }
        snprintf(ledger, sizeof ledger, "%s/run.ledger", dir);
        snprintf(pubpath, sizeof pubpath, "%s/k.pub", dir);
    } else if (argc == 5) {
        snprintf(ledger, sizeof ledger, "%s", argv[1]);
        snprintf(pubpath, sizeof pubpath, "%s", argv[2]);
        dir = argv[3];
        label = argv[4];
    } else {
        fprintf(stderr, "usage: bench_trajectory LEDGER PUB DIR LABEL | --synthetic DIR MIB N\n");
        return 2;
    }
    uint8_t pk[SP_PK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (sp_key_load_public(pk, pubpath, err) != SP_OK) {
        fprintf(stderr, "bench_trajectory: %s\n", err);
        return 2;
    }
    for (unsigned threads = 1; threads <= 2; threads++) {
        double h = 1e30, s = 1e30;
        size_t flagged = 0;
        for (int rep = 0; rep < 3; rep++) {
            double a = hash_dir(dir, threads), b = screen(ledger, pk, dir, threads, &flagged);
            if (b < 0)
                return 1;
            h = a < h ? a : h;
            s = b < s ? b : s;
        }
        printf("trajectory.%s.hash_seconds_t%u %.4f\n", label, threads, h);
        printf("trajectory.%s.screen_seconds_t%u %.4f\n", label, threads, s);
        printf("trajectory.%s.ratio_t%u %.3f (goal <= 2; %zu segments flagged)\n", label, threads, s / h,
               flagged);
    }
    return 0;
}
