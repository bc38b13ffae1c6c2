/*
 * tinytrain_mpi.c - tinytrain on several MPI ranks, data parallel, with the
 * multi-rank hook (scratchproof_mpi.h, SPEC.md 17):
 *
 *   mpirun -np N tinytrain_mpi --ledger L --key K --seed S --steps N --every N --out DIR
 *                              [--batch B] [--micro M] [--lr X] [--threads T] [--quiet]
 *
 * The same model, data and flags as tinytrain (the replay and impostor modes
 * are tinytrain's alone). The genesis: each rank generates only its flat
 * slice of every parameter with sp_init_fill, the slices are recorded as
 * shards (so the genesis digests are tinytrain's for the seed) and then
 * gathered so every rank holds the whole model. Each step: rank r takes the
 * contiguous sequences [r*B/N, (r+1)*B/N) of the step's batch (cut into M
 * micro-batches, each committed), computes their share of the mean gradient,
 * rank 0 sums the shares in rank order (MPI_Reduce) and broadcasts the sum,
 * and every rank applies the same SGD update: the replicas stay identical,
 * which the hook checks. Rank 0 writes the files (whole tensors, as
 * tinytrain does); every rank passes its replica to the records. The
 * weights differ from a one-process run after step 1 only by the order of
 * the float sums.
 */
#include <mpi.h>

#include "tinytrain.h"
#include "tinytrain_model.h"
#include "scratchproof_mpi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct mtrainer {
    const tt_config *c;
    sp_mpi_run *run;
    int rank, size;
    tt_model md;
    tt_workers *wk;
    uint8_t *text, *batch;
    float *sum;                     /* rank 0: the reduced gradients */
    sp_tensor w[TT_NPARAMS], opt[TT_NPARAMS];
    sp_shard ws[TT_NPARAMS], os[TT_NPARAMS];
} mtrainer;

/* One error line from rank 0 (the hook's messages are the same on every rank). */
static int failed(const mtrainer *t, const char *what, int rc)
{
    if (t->rank == 0) {
        char e[SP_ERRMSG_MAX + 64];
        fprintf(stderr, "tinytrain_mpi: %s: %s: %s\n", what, sp_strerror(rc),
                tt_esc(e, sizeof e, t->run ? sp_mpi_errmsg(t->run) : ""));
    }
    return 1;
}

static sp_shard replica(const sp_tensor *x)
{
    sp_shard s = {.name = x->name, .dtype = x->dtype, .ndim = x->ndim, .offset = 0, .len = x->nbytes,
                  .data = x->data};
    memcpy(s.shape, x->shape, sizeof s.shape);
    return s;
}

/* The genesis: this rank's slices generated and recorded, then gathered. Exit code. */
static int genesis(mtrainer *t)
{
    sp_shard sl[TT_NPARAMS];
    sp_init_scheme sch[TT_NPARAMS];
    int *counts = malloc((size_t)t->size * sizeof *counts), *displs = malloc((size_t)t->size * sizeof *displs);
    if (counts == NULL || displs == NULL) {
        free(counts);
        free(displs);
        return failed(t, "genesis", SP_ENOMEM);
    }
    int code = 0;
    for (int i = 0; i < TT_NPARAMS && code == 0; i++) {
        uint64_t n = t->md.numel[i];
        uint64_t a = n * (uint64_t)t->rank / (uint64_t)t->size, b = n * (uint64_t)(t->rank + 1) / (uint64_t)t->size;
        sch[i] = tt_scheme(i);
        int rc = sp_init_fill(t->md.p[i] + a, SP_DTYPE_F32, TT_PARAMS[i].name, t->c->seed, &sch[i], a, b - a);
        if (rc != SP_OK)
            code = failed(t, "initialiser", rc);
        sl[i] = replica(&t->w[i]);
        sl[i].offset = a * sizeof(float);
        sl[i].len = (b - a) * sizeof(float);
        sl[i].data = t->md.p[i] + a;
    }
    int rc = code == 0 ? sp_mpi_genesis(t->run, sl, sch, TT_NPARAMS) : SP_EINVAL;
    if (code == 0 && rc != SP_OK)
        code = failed(t, "genesis", rc);
    for (int i = 0; i < TT_NPARAMS && code == 0; i++) {
        uint64_t n = t->md.numel[i];
        for (int r = 0; r < t->size; r++) {
            uint64_t a = n * (uint64_t)r / (uint64_t)t->size, b = n * (uint64_t)(r + 1) / (uint64_t)t->size;
            displs[r] = (int)a;
            counts[r] = (int)(b - a);
        }
        if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, t->md.p[i], counts, displs, MPI_FLOAT,
                           MPI_COMM_WORLD) != MPI_SUCCESS)
            code = failed(t, "gathering the genesis", SP_EIO);
    }
    free(counts);
    free(displs);
    return code;
}

/* One step: this rank's sequences committed and differentiated, gradients summed. */
static int step_once(mtrainer *t, uint64_t step, double *loss)
{
    const tt_config *c = t->c;
    const uint32_t nb = (uint32_t)c->batch, nm = (uint32_t)c->micro;
    const uint32_t lo = (uint32_t)((uint64_t)nb * (uint64_t)t->rank / (uint64_t)t->size);
    const uint32_t hi = (uint32_t)((uint64_t)nb * (uint64_t)(t->rank + 1) / (uint64_t)t->size);
    tt_make_batch(t->batch, t->text, step, nb);
    tt_zero_grad(&t->md);
    double sum = 0.0, all = 0.0;
    for (uint32_t m = 0; m < nm; m++) {
        uint32_t a = lo + (uint32_t)((uint64_t)(hi - lo) * m / nm);
        uint32_t b = lo + (uint32_t)((uint64_t)(hi - lo) * (m + 1) / nm);
        const uint8_t *seqs = t->batch + (size_t)a * TT_SEQ;
        int rc = sp_mpi_commit_batch(t->run, step, seqs, (size_t)(b - a) * TT_SEQ);
        if (rc != SP_OK)
            return failed(t, "batch commitment", rc);
        if (b > a)
            sum += tt_accumulate(&t->md, t->wk, seqs, b - a, nb * TT_PRED);
    }
    /* Rank 0 sums in rank order and sends the sum back: every replica gets the same bits. */
    float *g = t->md.g[0];
    int n = (int)t->md.total;
    if (MPI_Reduce(g, t->sum, n, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        (t->rank == 0 && (memcpy(g, t->sum, (size_t)n * sizeof *g), 0)) ||
        MPI_Bcast(g, n, MPI_FLOAT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Allreduce(&sum, &all, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return failed(t, "reducing the gradients", SP_EIO);
    *loss = all / (nb * TT_PRED);
    tt_sgd_step(&t->md, (float)c->lr);
    return 0;
}

static int train(mtrainer *t)
{
    const tt_config *c = t->c;
    int code = genesis(t);
    for (uint64_t step = 1; step <= c->steps && code == 0; step++) {
        double loss = 0.0;
        if ((code = step_once(t, step, &loss)) != 0 || step % c->every != 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "step%06" PRIu64, step);
        int wrote = t->rank == 0 ? tt_write_files_sharded(c->out, name, step, t->w, t->opt, (unsigned)c->shards) : 0;
        MPI_Bcast(&wrote, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (wrote != 0) {
            code = 1;
            break;
        }
        sp_checkpoint_info info = {.step = step, .tokens = step * c->batch * TT_PRED, .loss = loss, .lr = c->lr};
        int rc = sp_mpi_checkpoint(t->run, &info, t->ws, TT_NPARAMS, t->os, TT_NPARAMS);
        if (rc != SP_OK)
            code = failed(t, "checkpoint", rc);
        else if (!c->quiet && t->rank == 0)
            fprintf(stderr, "tinytrain_mpi: step %" PRIu64 "/%" PRIu64 " loss %.4f on %d ranks\n", step,
                    c->steps, loss, t->size);
    }
    int wrote = code == 0 && t->rank == 0 ? tt_write_files_sharded(c->out, "final", c->steps, t->w, NULL, (unsigned)c->shards) : 0;
    MPI_Bcast(&wrote, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (code == 0 && wrote != 0)
        code = 1;
    int rc;
    if (code == 0 && (rc = sp_mpi_final(t->run, c->steps, t->ws, TT_NPARAMS)) != SP_OK)
        code = failed(t, "final", rc);
    return code;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    tt_progname = "tinytrain_mpi";
    mtrainer t;
    memset(&t, 0, sizeof t);
    MPI_Comm_rank(MPI_COMM_WORLD, &t.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t.size);
    tt_config c;
    int pa = tt_parse_args(argc, argv, &c), code = 0;
    if (pa == 0 && (c.replay || c.init_from || c.init_zeros || c.splice_from || c.splice_opt ||
                    c.skip_last || c.write_genesis)) {
        if (t.rank == 0)
            fprintf(stderr, "tinytrain_mpi: replay, --init-from, --write-genesis and the impostor modes "
                            "are tinytrain's (one process) only\n");
        pa = -1;
    }
    if (pa == 0 && c.batch < (uint64_t)t.size) {
        if (t.rank == 0)
            fprintf(stderr, "tinytrain_mpi: --batch %" PRIu64 " is smaller than the %d ranks\n", c.batch, t.size);
        pa = -1;
    }
    if (pa != 0) {
        if (pa == 1 && t.rank == 0)
            tt_usage(stdout);
        MPI_Finalize();
        return pa == 1 ? 0 : 2;
    }
    char e[512];
    if (t.rank == 0 && mkdir(c.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tinytrain_mpi: --out %s: cannot create: %s\n", tt_esc(e, sizeof e, c.out), strerror(errno));
        code = 2;
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    t.c = &c;
    t.text = code == 0 ? tt_make_text() : NULL;
    if (code == 0 && (!t.text || tt_model_alloc(&t.md) != 0 ||
                      tt_workers_create(&t.wk, &t.md, (unsigned)c.math_threads) != 0 ||
                      !(t.batch = malloc((size_t)c.batch * TT_SEQ)) ||
                      (t.rank == 0 && !(t.sum = malloc(t.md.total * sizeof(float)))))) {
        fprintf(stderr, "tinytrain_mpi: rank %d: out of memory\n", t.rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (code == 0) {
        for (int i = 0; i < TT_NPARAMS; i++) {
            t.w[i] = tt_describe(&t.md, t.md.p, i, TT_PARAMS[i].name);
            t.opt[i] = tt_describe(&t.md, t.md.m, i, TT_PARAMS[i].opt_name);
            t.ws[i] = replica(&t.w[i]);
            t.os[i] = replica(&t.opt[i]);
        }
        char model_name[160], cfg[512];
        tt_model_name(model_name, sizeof model_name, c.batch, c.lr);
        size_t cl = tt_config_text(cfg, sizeof cfg, c.batch, c.micro, c.lr);
        uint8_t cd[SP_DIGEST_BYTES];
        char path[4096], err[SP_ERRMSG_MAX] = "";
        snprintf(path, sizeof path, "%s/tinytrain.config", c.out);
        FILE *f = t.rank == 0 ? fopen(path, "wb") : NULL;
        int ok = cl > 0 && sp_config_digest(cd, cfg, cl) == SP_OK &&
                 (t.rank != 0 || (f && fwrite(cfg, 1, cl, f) == cl));
        if (f && fclose(f) != 0)
            ok = 0;
        int all_ok = 0;
        MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        sp_run_options o = {.ledger_path = c.ledger, .key_path = c.key, .seed = c.seed, .model_name = model_name,
                            .config_digest = cd, .threads = (unsigned)c.threads, .err = err,
                            .batches_per_step = (uint32_t)c.micro};
        int rc = all_ok ? sp_mpi_open(&t.run, MPI_COMM_WORLD, &o) : SP_EIO;
        if (!all_ok) {
            if (t.rank == 0)
                fprintf(stderr, "tinytrain_mpi: cannot write %s\n", tt_esc(e, sizeof e, path));
            code = 1;
        } else if (rc != SP_OK) {
            if (t.rank == 0)
                fprintf(stderr, "tinytrain_mpi: cannot open the run (ledger %s): %s: %s\n",
                        tt_esc(e, sizeof e, c.ledger), sp_strerror(rc), err);
            code = rc == SP_EKEY ? 2 : 1;
        } else {
            code = train(&t);
        }
    }
    sp_mpi_close(t.run);
    tt_workers_free(t.wk);
    tt_model_free(&t.md);
    free(t.text);
    free(t.batch);
    free(t.sum);
    MPI_Finalize();
    return code;
}
