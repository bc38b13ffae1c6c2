/*
 * mpi_shards.c - the multi-rank hook under mpirun (tests/cli/mpi.sh).
 *
 *   mpirun -np N mpi_shards LEDGER KEY OUTDIR [FAULT]
 *
 * Four tensors held four ways: a.weight in row blocks (tensor-parallel; the
 * block boundaries fall inside 1 MiB chunks, so chunks straddle ranks),
 * b.weight replicated on every rank (data-parallel), c.bias on rank 1 only,
 * d.flat in uneven flat byte ranges, one boundary inside an element
 * (FSDP-style). Every rank generates its tensors with the deterministic
 * initialiser; the genesis, a batch commitment per rank per step, one
 * checkpoint (with optimizer state) and the final record go through
 * sp_mpi_*. Rank 0 also writes the whole tensors as OUTDIR/step000002 and
 * OUTDIR/final safetensors files, so `scratchproof verify` can check that the
 * sharded digests equal one process's (binding) and that the genesis
 * regenerates. FAULT: "replica" (rank 1's copy of b.weight differs at the
 * final record), "gap" (nobody holds the last rows of a.weight), "shape"
 * (rank 1 describes d.flat with another shape); each must fail on every rank.
 * Exit 0 on success, 1 when a call failed (message on stderr from rank 0).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratchproof_mpi.h"

#define NT 4

static const struct {
    const char *name;
    sp_dtype dt;
    uint32_t ndim;
    uint64_t shape[2];
    sp_init_scheme s;
} T[NT] = {
    {"a.weight", SP_DTYPE_F32, 2, {300, 1000}, {SP_INIT_UNIFORM, {-0.05, 0.05, 0, 0}}},
    {"b.weight", SP_DTYPE_BF16, 2, {1024, 1024}, {SP_INIT_NORMAL, {0.0, 0.02, 0, 0}}},
    {"c.bias", SP_DTYPE_F32, 1, {10, 0}, {SP_INIT_ZEROS, {0, 0, 0, 0}}},
    {"d.flat", SP_DTYPE_F16, 2, {5, 100000}, {SP_INIT_TRUNC_NORMAL, {0.0, 0.02, -0.04, 0.04}}},
};

static uint64_t numel(int i) { return T[i].shape[0] * (T[i].ndim == 2 ? T[i].shape[1] : 1); }

/* This rank's byte range of tensor i, for world size w. */
static void range_of(int i, int rank, int w, const char *fault, uint64_t *off, uint64_t *len)
{
    uint64_t nb = numel(i) * sp_dtype_size(T[i].dt);
    switch (i) {
    case 0: {   /* row blocks */
        uint64_t rows = T[0].shape[0], row = T[0].shape[1] * 4;
        uint64_t r0 = rows * (uint64_t)rank / (uint64_t)w, r1 = rows * (uint64_t)(rank + 1) / (uint64_t)w;
        if (fault && strcmp(fault, "gap") == 0 && rank == w - 1)
            r1 = r0 + (r1 - r0) / 2;
        *off = r0 * row;
        *len = (r1 - r0) * row;
        return;
    }
    case 1: *off = 0; *len = nb; return;
    case 2: *off = 0; *len = rank == (w > 1 ? 1 : 0) ? nb : 0; return;
    default: {  /* uneven flat ranges; the first boundary is odd: inside an element */
        uint64_t a = rank == 0 ? 0 : nb * (uint64_t)rank / (uint64_t)w + (rank == 1 ? 1 : 0);
        uint64_t b = rank == w - 1 ? nb : nb * (uint64_t)(rank + 1) / (uint64_t)w + (rank == 0 ? 1 : 0);
        *off = a;
        *len = b - a;
        return;
    }
    }
}

static int check(int rc, const char *what, sp_mpi_run *run, int rank)
{
    if (rc != SP_OK && rank == 0)
        fprintf(stderr, "mpi_shards: %s: %s: %s\n", what, sp_strerror(rc), sp_mpi_errmsg(run));
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, w;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w);
    if (argc < 4) {
        if (rank == 0)
            fprintf(stderr, "usage: mpi_shards LEDGER KEY OUTDIR [replica|gap|shape]\n");
        MPI_Finalize();
        return 2;
    }
    const char *fault = argc > 4 ? argv[4] : NULL;
    void *full[NT], *opt[NT];
    sp_shard sh[NT], osh[NT];
    sp_tensor whole[NT], owhole[NT];
    char oname[NT][32];
    for (int i = 0; i < NT; i++) {
        uint64_t nb = numel(i) * sp_dtype_size(T[i].dt);
        full[i] = malloc(nb);
        opt[i] = calloc(1, nb);
        /* Each rank fills the whole tensor here, to keep the test short; a real job
           fills only its slice (sp_init_fill with first = element offset). */
        if (!full[i] || !opt[i] || sp_init_fill(full[i], T[i].dt, T[i].name, 11, &T[i].s, 0, numel(i)) != SP_OK) {
            fprintf(stderr, "mpi_shards: rank %d: setup failed\n", rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        uint64_t off, len;
        range_of(i, rank, w, fault, &off, &len);
        sh[i] = (sp_shard){.name = T[i].name, .dtype = T[i].dt, .ndim = T[i].ndim,
                           .offset = off, .len = len, .data = (const uint8_t *)full[i] + off};
        memcpy(sh[i].shape, T[i].shape, sizeof T[i].shape);
        if (fault && strcmp(fault, "shape") == 0 && rank == 1 && i == 3) {
            sh[i].shape[0] = T[i].shape[1];
            sh[i].shape[1] = T[i].shape[0];
        }
        snprintf(oname[i], sizeof oname[i], "opt.%s", T[i].name);
        osh[i] = sh[i];
        osh[i].name = oname[i];
        osh[i].data = (const uint8_t *)opt[i] + off;
        whole[i] = (sp_tensor){.name = T[i].name, .dtype = T[i].dt, .ndim = T[i].ndim, .data = full[i], .nbytes = nb};
        memcpy(whole[i].shape, T[i].shape, sizeof T[i].shape);
        owhole[i] = whole[i];
        owhole[i].name = oname[i];
        owhole[i].data = opt[i];
    }
    char err[SP_ERRMSG_MAX] = "";
    sp_run_options o = {.ledger_path = rank == 0 ? argv[1] : NULL, .key_path = rank == 0 ? argv[2] : NULL,
                        .seed = 11, .model_name = "mpi_shards", .threads = 1, .err = err};
    sp_mpi_run *run = NULL;
    int rc = sp_mpi_open(&run, MPI_COMM_WORLD, &o);
    if (rc != SP_OK) {
        if (rank == 0)
            fprintf(stderr, "mpi_shards: open: %s: %s\n", sp_strerror(rc), err);
        MPI_Finalize();
        return 1;
    }
    sp_init_scheme schemes[NT];
    for (int i = 0; i < NT; i++)
        schemes[i] = T[i].s;
    if (rc == SP_OK)
        rc = check(sp_mpi_genesis(run, sh, schemes, NT), "genesis", run, rank);
    for (uint64_t step = 1; rc == SP_OK && step <= 2; step++) {
        char batch[64];
        int n = snprintf(batch, sizeof batch, "rank %d step %llu", rank, (unsigned long long)step);
        rc = check(sp_mpi_commit_batch(run, step, batch, (size_t)n), "commit", run, rank);
        for (int i = 0; rc == SP_OK && i < NT; i++) {   /* an "update" every rank applies alike */
            uint8_t *b = full[i], *ob = opt[i];
            for (uint64_t k = 0; k < whole[i].nbytes; k += 7) {
                b[k] ^= 0x01;
                ob[k] += 1;
            }
        }
    }
    if (rc == SP_OK && rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/step000002.safetensors", argv[3]);
        rc = sp_st_write(path, whole, NT, NULL, 0);
        snprintf(path, sizeof path, "%s/step000002.opt.safetensors", argv[3]);
        if (rc == SP_OK)
            rc = sp_st_write(path, owhole, NT, NULL, 0);
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    sp_checkpoint_info ci = {.step = 2, .tokens = 2, .loss = 1.0, .lr = 0.1};
    if (rc == SP_OK)
        rc = check(sp_mpi_checkpoint(run, &ci, sh, NT, osh, NT), "checkpoint", run, rank);
    if (rc == SP_OK && fault && strcmp(fault, "replica") == 0 && rank == 1)
        ((uint8_t *)full[1])[12345] ^= 0x40;
    if (rc == SP_OK)
        rc = check(sp_mpi_final(run, 2, sh, NT), "final", run, rank);
    if (rc == SP_OK && rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/final.safetensors", argv[3]);
        rc = sp_st_write(path, whole, NT, NULL, 0);
    }
    sp_mpi_close(run);
    for (int i = 0; i < NT; i++) {
        free(full[i]);
        free(opt[i]);
    }
    MPI_Finalize();
    return rc == SP_OK ? 0 : 1;
}
