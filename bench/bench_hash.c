/*
 * bench_hash.c - hashing throughput: libsodium's raw single-thread BLAKE2b
 * against sp_tensor_digest at 1 and 2 threads, on one 256 MiB buffer of
 * pseudo-random bytes, best of 3 runs each, ratios taken in the same run.
 *
 *   bench_hash [FILE]
 *
 * With FILE, also times the whole file's chunk-tree root at 2 threads, two
 * ways: sp_data_root over a read-only mapping (hash.file_root_gbps) and
 * sp_fd_root reading with pread (hash.file_root_pread_gbps); bench/run.sh
 * compares them with b2sum and sha256sum. Each run includes open and map.
 * Output lines: "hash.<name> <value> [ratio <value>]".
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"

#define BUF_BYTES ((size_t)256 << 20)
#define RUNS 3

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill_random(uint8_t *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
}

static double best_raw(const uint8_t *buf, size_t n)
{
    double best = 1e30;
    uint8_t out[SP_DIGEST_BYTES];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        crypto_generichash(out, sizeof out, buf, n, NULL, 0);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return (double)n / best / 1e9;
}

static double best_tensor(const sp_tensor *t, unsigned threads)
{
    double best = 1e30;
    uint8_t out[SP_DIGEST_BYTES];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        if (sp_tensor_digest(out, t, threads) != SP_OK) {
            fprintf(stderr, "bench_hash: sp_tensor_digest failed\n");
            exit(2);
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return (double)t->nbytes / best / 1e9;
}

/* Best of RUNS: open, mmap, sp_data_root at 2 threads, unmap. */
static int bench_file(const char *path)
{
    double best = 1e30;
    uint64_t size = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fprintf(stderr, "bench_hash: %s: cannot open\n", path);
            if (fd >= 0)
                close(fd);
            return 2;
        }
        size = (uint64_t)st.st_size;
        void *map = NULL;
        if (size > 0) {
            map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (map == MAP_FAILED) {
                fprintf(stderr, "bench_hash: %s: cannot map\n", path);
                close(fd);
                return 2;
            }
        }
        close(fd);
        uint8_t out[SP_DIGEST_BYTES];
        int rc = sp_data_root(out, map, size, 2);
        if (map != NULL)
            munmap(map, (size_t)size);
        if (rc != SP_OK) {
            fprintf(stderr, "bench_hash: sp_data_root: %s\n", sp_strerror(rc));
            return 2;
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("hash.file_root_gbps %.3f\n", (double)size / best / 1e9);
    return 0;
}

/* Best of RUNS: open, sp_fd_root at 2 threads, close. */
static int bench_file_pread(const char *path)
{
    double best = 1e30;
    uint64_t size = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fprintf(stderr, "bench_hash: %s: cannot open\n", path);
            if (fd >= 0)
                close(fd);
            return 2;
        }
        size = (uint64_t)st.st_size;
        uint8_t out[SP_DIGEST_BYTES];
        int rc = sp_fd_root(out, fd, size, 2);
        close(fd);
        if (rc != SP_OK) {
            fprintf(stderr, "bench_hash: sp_fd_root: %s\n", sp_strerror(rc));
            return 2;
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("hash.file_root_pread_gbps %.3f\n", (double)size / best / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: bench_hash [FILE]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_hash: sodium_init failed\n");
        return 2;
    }
    uint8_t *buf = malloc(BUF_BYTES);
    if (buf == NULL) {
        fprintf(stderr, "bench_hash: out of memory\n");
        return 2;
    }
    fill_random(buf, BUF_BYTES);
    sp_tensor t = {.name = "bench.weight", .dtype = SP_DTYPE_F32, .ndim = 1,
                   .shape = {BUF_BYTES / 4}, .data = buf, .nbytes = BUF_BYTES};

    double raw = best_raw(buf, BUF_BYTES);
    double t1 = best_tensor(&t, 1);
    double t2 = best_tensor(&t, 2);
    printf("hash.raw_blake2b_gbps %.3f\n", raw);
    printf("hash.tensor_1t_gbps %.3f ratio %.3f\n", t1, t1 / raw);
    printf("hash.tensor_2t_gbps %.3f ratio %.3f\n", t2, t2 / raw);
    free(buf);
    if (argc < 2)
        return 0;
    int rc = bench_file(argv[1]);
    return rc != 0 ? rc : bench_file_pread(argv[1]);
}
