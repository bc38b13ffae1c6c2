/*
 * bench_scale.c - the scale section of `make bench` (BRIEF.md, issue 8 item
 * 5): a synthetic model of MiB (default 4096) in 8 shards with an index,
 * its genesis written by the deterministic initialiser on all threads, then
 *   - the sharded model hashed as verify binds it (sp_weight_file_load on
 *     the index: every shard on one pool of threads), as GB/s;
 *   - the genesis checked as verify checks it (sp_init_digest per tensor,
 *     regenerated and hashed chunk by chunk), as a ratio to hashing the same
 *     bytes (goal <= 1.5).
 * One run each after a warm-up read (the page cache holds the files).
 * SCHEME is the genesis's scheme: normal (default: normal(0, 0.02), SPEC.md
 * 6.3) or normal32 / uniform32 (the version-2 kinds of 6.8).
 *
 *   bench_scale DIR [MiB] [THREADS] [SCHEME]
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "init.h"
#include "safetensors.h"

#define SHARDS 8
#define PER_SHARD 8

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: bench_scale DIR [MiB] [THREADS] [normal|normal32|uniform32]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 4096;
    unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
    uint64_t per = (mib << 20) / (SHARDS * PER_SHARD) / 4;   /* F32 elements per tensor */
    if (per == 0)
        return 2;
    const char *scheme = argc > 4 ? argv[4] : "normal";
    sp_init_scheme s = {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}};
    if (strcmp(scheme, "normal32") == 0) {
        s.kind = SP_INIT_NORMAL32;
    } else if (strcmp(scheme, "uniform32") == 0) {
        s = (sp_init_scheme){SP_INIT_UNIFORM32, {-0.1, 0.1, 0, 0}};
    } else if (strcmp(scheme, "normal") != 0) {
        fprintf(stderr, "bench_scale: unknown scheme '%s'\n", scheme);
        return 2;
    }
    char path[4096], idx[4096];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    FILE *ix = fopen(idx, "w");
    if (ix == NULL)
        return 1;
    fprintf(ix, "{\"metadata\":{\"total_size\":%llu},\"weight_map\":{",
            (unsigned long long)(per * 4 * SHARDS * PER_SHARD));
    double t0 = now();
    for (int k = 0; k < SHARDS; k++) {
        /* one tensor in memory at a time: each shard is written one tensor per file pass */
        sp_tensor t[PER_SHARD];
        char names[PER_SHARD][48];
        float *data[PER_SHARD];
        for (int j = 0; j < PER_SHARD; j++) {
            snprintf(names[j], sizeof names[j], "layers.%02d.mlp.w%d.weight", k, j);
            data[j] = malloc(per * 4);
            if (data[j] == NULL ||
                sp_init_fill_threads(data[j], SP_DTYPE_F32, names[j], 7, &s, 0, per, threads) != SP_OK)
                return 1;
            t[j] = (sp_tensor){.name = names[j], .dtype = SP_DTYPE_F32, .ndim = 2,
                               .shape = {per / 1024, 1024}, .data = data[j], .nbytes = per * 4};
            if (per % 1024 != 0) {
                t[j].ndim = 1;
                t[j].shape[0] = per;
                t[j].shape[1] = 0;
            }
            fprintf(ix, "%s\"%s\":\"model-%05d-of-%05d.safetensors\"", k || j ? "," : "", names[j], k + 1,
                    SHARDS);
        }
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, k + 1, SHARDS);
        if (sp_st_write(path, t, PER_SHARD, NULL, 0) != SP_OK) {
            fprintf(stderr, "bench_scale: cannot write %s\n", path);
            return 1;
        }
        for (int j = 0; j < PER_SHARD; j++)
            free(data[j]);
    }
    fprintf(ix, "}}\n");
    if (fclose(ix) != 0)
        return 1;
    double gen = now() - t0;
    double bytes = (double)per * 4 * SHARDS * PER_SHARD;

    char err[SP_ERRMSG_MAX] = "";
    sp_weight_file w;
    if (sp_weight_file_load(&w, idx, threads, err) != SP_OK) {   /* warm-up: page cache */
        fprintf(stderr, "bench_scale: %s\n", err);
        return 1;
    }
    sp_weight_file_free(&w);
    t0 = now();
    if (sp_weight_file_load(&w, idx, threads, err) != SP_OK)
        return 1;
    double hash = now() - t0;
    t0 = now();
    for (size_t i = 0; i < sp_weight_file_count(&w); i++) {
        const sp_tensor *x = sp_weight_file_tensor(&w, i);
        uint8_t d[SP_DIGEST_BYTES];
        if (sp_init_digest(d, x, 7, &s, threads) != SP_OK ||
            sodium_memcmp(d, w.nd[i].digest, SP_DIGEST_BYTES) != 0) {
            fprintf(stderr, "bench_scale: %s does not regenerate\n", x->name);
            return 1;
        }
    }
    double check = now() - t0;
    sp_weight_file_free(&w);
    printf("scale.model_gib %.2f in %d shards, %u threads, scheme %s\n", bytes / (1 << 30), SHARDS,
           threads, scheme);
    printf("scale.genesis_written_gbps %.3f\n", bytes / gen / 1e9);
    printf("scale.sharded_hash_gbps %.3f\n", bytes / hash / 1e9);
    if (strcmp(scheme, "normal") == 0)
        printf("scale.genesis_check_vs_hash ratio %.3f (goal <= 1.5)\n", check / hash);
    else
        printf("scale.genesis_check_vs_hash.%s ratio %.3f (goal <= 1.5)\n", scheme, check / hash);
    for (int k = 0; k < SHARDS; k++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, k + 1, SHARDS);
        unlink(path);
    }
    unlink(idx);
    return 0;
}
