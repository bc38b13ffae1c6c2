/*
 * bench_init.c - the deterministic initialiser (SPEC.md 6) against the
 * ChaCha20 keystream it consumes, ratios taken in the same run (BRIEF.md:
 * uniform >= 0.5x and normal >= 0.3x the keystream rate per thread).
 *
 *   bench_init [MiB]
 *
 * The keystream rate is libsodium's crypto_stream_chacha20_ietf_xor_ic over
 * a 4 KiB stack buffer (as the initialiser uses it), in bytes per second.
 * The initialiser's rate is counted in keystream bytes consumed: 8 per
 * element for uniform and normal. Each figure is the median of 5 runs.
 * Then sp_init_fill_threads at 2 threads against 1, and the cost of checking
 * a genesis (regenerate + digest, sp_init_digest) against hashing the same
 * bytes. Output lines: "init.<name> <value> [ratio <value>]".
 * The version-2 kinds (SPEC.md 6.8: uniform32, normal32) consume 4 keystream
 * bytes per element; their genesis checks are timed beside the old kinds'
 * ("init.genesis_check_vs_hash.<kind>_<n>thread"), as wall-time ratios and as ratios of
 * the process's CPU time (cpu_ratio: what the check costs, less inflated by other jobs).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "init.h"

#define RUNS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread): a cost that other jobs on a shared
   machine do not inflate the way they inflate wall time. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Keystream bytes per second, one thread. */
static double keystream_rate(size_t bytes)
{
    unsigned char key[32] = {1}, nonce[12] = {0}, buf[4096];
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        uint32_t ic = 0;
        for (size_t done = 0; done < bytes; done += sizeof buf) {
            memset(buf, 0, sizeof buf);
            crypto_stream_chacha20_ietf_xor_ic(buf, buf, sizeof buf, nonce, ic, key);
            ic += sizeof buf / 64;
        }
        t[r] = now() - t0;
        if (buf[0] == 0 && buf[1] == 0 && buf[2] == 0)
            fputc(' ', stderr);   /* keeps the loop from being dropped */
    }
    return (double)bytes / median(t, RUNS);
}

/* Elements per second of sp_init_fill_threads for one scheme. */
static double fill_rate(float *out, uint64_t n, const sp_init_scheme *s, unsigned threads)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        if (sp_init_fill_threads(out, SP_DTYPE_F32, "bench.weight", 7, s, 0, n, threads) != SP_OK) {
            fprintf(stderr, "bench_init: sp_init_fill failed\n");
            exit(1);
        }
        t[r] = now() - t0;
    }
    return (double)n / median(t, RUNS);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 64;
    if (sodium_init() < 0 || mib == 0) {
        fprintf(stderr, "usage: bench_init [MiB]\n");
        return 2;
    }
    uint64_t n = (uint64_t)(mib << 20) / sizeof(float);
    float *out = malloc((size_t)n * sizeof *out);
    if (out == NULL) {
        fprintf(stderr, "bench_init: out of memory\n");
        return 1;
    }
    double ks = keystream_rate((size_t)n * 8);
    printf("init.keystream_gbps %.3f\n", ks / 1e9);
    static const struct {
        const char *name;
        sp_init_scheme s;
        double goal;
    } schemes[] = {
        {"uniform", {SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}}, 0.5},
        {"normal", {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}}, 0.3},
        {"trunc_normal", {SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}}, 0.0},
    };
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        double e1 = fill_rate(out, n, &schemes[k].s, 1);
        double e2 = fill_rate(out, n, &schemes[k].s, 2);
        printf("init.%s_melem_s %.1f ratio %.3f (keystream bytes consumed / keystream rate, goal >= %.1f)\n",
               schemes[k].name, e1 / 1e6, e1 * 8 / ks, schemes[k].goal);
        printf("init.%s_2threads_speedup %.2f\n", schemes[k].name, e2 / e1);
    }
    static const struct {
        const char *name;
        sp_init_scheme s;
    } v2[] = {
        {"uniform32", {SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}}},
        {"normal32", {SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}}},
    };
    for (size_t k = 0; k < sizeof v2 / sizeof v2[0]; k++) {
        double e1 = fill_rate(out, n, &v2[k].s, 1);
        double e2 = fill_rate(out, n, &v2[k].s, 2);
        printf("init.%s_melem_s %.1f ratio %.3f (4 keystream bytes per element / keystream rate)\n",
               v2[k].name, e1 / 1e6, e1 * 4 / ks);
        printf("init.%s_2threads_speedup %.2f\n", v2[k].name, e2 / e1);
    }
    /* Checking a genesis tensor: regenerate and digest in one pass, vs hashing the bytes. */
    static const struct {
        const char *name;
        sp_init_scheme s;
    } checks[] = {
        {"normal", {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}}},
        {"uniform", {SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}}},
        {"uniform32", {SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}}},
        {"normal32", {SP_INIT_NORMAL32, {0.0, 0.02, 0, 0}}},
    };
    sp_tensor t = {.name = "bench.weight", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {n},
                   .data = out, .nbytes = n * sizeof(float)};
    uint8_t d[SP_DIGEST_BYTES], d2[SP_DIGEST_BYTES];
    for (size_t c = 0; c < sizeof checks / sizeof checks[0]; c++) {
        const sp_init_scheme *s = &checks[c].s;
        if (sp_init_fill_threads(out, SP_DTYPE_F32, "bench.weight", 7, s, 0, n, 2) != SP_OK)
            return 1;
        for (unsigned threads = 1; threads <= 2; threads++) {
            double th[RUNS], tc[RUNS], ch[RUNS], cc[RUNS];
            for (int r = 0; r < RUNS; r++) {
                double t0 = now(), c0 = cpu_now();
                if (sp_tensor_digest(d, &t, threads) != SP_OK)
                    return 1;
                th[r] = now() - t0;
                ch[r] = cpu_now() - c0;
                t0 = now();
                c0 = cpu_now();
                if (sp_init_digest(d2, &t, 7, s, threads) != SP_OK)
                    return 1;
                tc[r] = now() - t0;
                cc[r] = cpu_now() - c0;
            }
            if (sodium_memcmp(d, d2, sizeof d) != 0) {
                fprintf(stderr, "bench_init: sp_init_digest disagrees with fill + digest\n");
                return 1;
            }
            double ratio = median(tc, RUNS) / median(th, RUNS);
            if (c == 0)   /* the old line, for scripts that read it */
                printf("init.genesis_check_%uthread ratio %.3f (regenerate+digest / digest, goal <= 1.5)\n",
                       threads, ratio);
            printf("init.genesis_check_vs_hash.%s_%uthread ratio %.3f cpu_ratio %.3f (hash %.3f GB/s)\n",
                   checks[c].name, threads, ratio, median(cc, RUNS) / median(ch, RUNS),
                   (double)t.nbytes / median(th, RUNS) / 1e9);
        }
    }
    free(out);
    return 0;
}
