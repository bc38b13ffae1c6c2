/*
 * bench_mpi.c - a multi-rank checkpoint record against one rank hashing its
 * share of the weights (BRIEF.md: a 4-rank record at most 1.2x one rank
 * hashing a quarter), ratios taken in the same run.
 *
 *   mpirun -np N bench_mpi LEDGER KEY [MiB]
 *
 * The model: 16 F32 tensors, MiB in all (default 256), each split into N
 * flat byte ranges (FSDP-style; boundaries inside chunks, so some bytes
 * cross ranks). Rank 0 first times sp_tensors_digest over 1/N of the bytes
 * on one thread (the baseline every rank pays at least); then every rank
 * times sp_mpi_checkpoint (median of 5, the slowest rank counted). Prints
 * "mpi.record_vs_share_hash_np<N> <ratio>". With more ranks than cores the
 * ranks share cores, and that ratio cannot approach 1 (4 ranks on 2 cores
 * hash twice a quarter per core). So a second baseline has every rank hash
 * its share at the same time (the slowest rank counted): the same contention
 * as the record, so "mpi.record_vs_concurrent_hash_np<N>" is what recording
 * adds over the hashing itself on any core count (equal to the first
 * baseline when every rank has its own core).
 */
#include <mpi.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "scratchproof_mpi.h"

#define NT 16
#define RUNS 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, w;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    if (argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np N bench_mpi LEDGER KEY [MiB]\n");
        MPI_Finalize();
        return 2;
    }
    size_t mib = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 256;
    uint64_t per = ((uint64_t)mib << 20) / NT / 4;   /* elements per tensor */
    char names[NT][16];
    float *data[NT];
    sp_shard sh[NT];
    sp_tensor part[NT];
    for (int i = 0; i < NT; i++) {
        snprintf(names[i], sizeof names[i], "layer%02d.weight", i);
        data[i] = malloc(per * 4);
        if (data[i] == NULL)
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (uint64_t k = 0; k < per; k++)
            data[i][k] = (float)(k % 977) * 0.001f + (float)i;
        uint64_t nb = per * 4, a = nb * (uint64_t)rank / (uint64_t)w, b = nb * (uint64_t)(rank + 1) / (uint64_t)w;
        sh[i] = (sp_shard){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {per},
                           .offset = a, .len = b - a, .data = (uint8_t *)data[i] + a};
        part[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_U8, .ndim = 1, .shape = {b - a},
                              .data = (uint8_t *)data[i] + a, .nbytes = b - a};
    }
    double base[RUNS], conc[RUNS], rec[RUNS];
    uint8_t (*d)[SP_DIGEST_BYTES] = malloc(NT * SP_DIGEST_BYTES);
    for (int r = 0; r < RUNS; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (rank == 0 && sp_tensors_digest(d, part, NT, 1) != SP_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
        base[r] = MPI_Wtime() - t0;
    }
    for (int r = 0; r < RUNS; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (sp_tensors_digest(d, part, NT, 1) != SP_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
        double mine = MPI_Wtime() - t0;
        MPI_Reduce(&mine, &conc[r], 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    }
    sp_run_options o = {.ledger_path = argv[1], .key_path = argv[2], .seed = 1, .model_name = "bench_mpi",
                        .threads = 1};
    sp_mpi_run *run = NULL;
    int rc = sp_mpi_open(&run, MPI_COMM_WORLD, &o);
    if (rc == SP_OK)
        rc = sp_mpi_genesis(run, sh, NULL, NT);
    for (int r = 0; rc == SP_OK && r < RUNS; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (sp_mpi_commit_batch(run, (uint64_t)r + 1, "b", 1) != SP_OK)
            break;
        sp_checkpoint_info ci = {.step = (uint64_t)r + 1};
        rc = sp_mpi_checkpoint(run, &ci, sh, NT, NULL, 0);
        double mine = MPI_Wtime() - t0;
        MPI_Reduce(&mine, &rec[r], 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    }
    if (rc != SP_OK && rank == 0)
        fprintf(stderr, "bench_mpi: %s: %s\n", sp_strerror(rc), run ? sp_mpi_errmsg(run) : "");
    if (rc == SP_OK && rank == 0) {
        qsort(base, RUNS, sizeof *base, cmp_double);
        qsort(conc, RUNS, sizeof *conc, cmp_double);
        qsort(rec, RUNS, sizeof *rec, cmp_double);
        printf("mpi.share_hash_seconds_np%d %.4f\nmpi.concurrent_hash_seconds_np%d %.4f\n"
               "mpi.record_seconds_np%d %.4f\n"
               "mpi.record_vs_share_hash_np%d %.3f (goal at 4 ranks <= 1.2, with a core per rank)\n"
               "mpi.record_vs_concurrent_hash_np%d %.3f (every rank hashing its share at once)\n",
               w, base[RUNS / 2], w, conc[RUNS / 2], w, rec[RUNS / 2], w, rec[RUNS / 2] / base[RUNS / 2], w,
               rec[RUNS / 2] / conc[RUNS / 2]);
    }
    sp_mpi_close(run);
    for (int i = 0; i < NT; i++)
        free(data[i]);
    free(d);
    MPI_Finalize();
    return rc == SP_OK ? 0 : 1;
}
