/*
 * mpi.c - the multi-rank hook (scratchproof_mpi.h, SPEC.md 17).
 *
 * One record of a sharded model is made in five steps, on every rank:
 *   1. the tensor descriptions are checked to be the same on every rank
 *      (a digest of them is gathered and compared);
 *   2. every rank's byte ranges are gathered (allgather), and every rank
 *      computes the same plan: each 1 MiB chunk of each tensor is owned by
 *      one rank holding all of it (rotating among those that do, record by
 *      record), or, when no rank holds all of it, assembled by the rank
 *      holding its first byte from the pieces the others send;
 *   3. each rank hashes the leaves it owns (on opts.threads threads);
 *   4. rank 0 gathers the leaves, builds the tensor digests (equal to one
 *      process's: the chunk tree does not know about ranks), signs and
 *      appends through the single-process run (run_internal.h);
 *   5. replicas are checked: at the genesis and the final record every rank
 *      holding a whole chunk hashes it and compares with the owner's leaf
 *      (rank 0 broadcasts the leaves); at checkpoints one replicated chunk,
 *      in rotation.
 * Every step ends with an agreement (allreduce of the return codes), so all
 * ranks return the same code and the first failing rank's message.
 */
#include "scratchproof_mpi.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "pool.h"
#include "run_internal.h"

struct sp_mpi_run {
    MPI_Comm comm;
    int rank, size;
    sp_run *run;                 /* rank 0 only */
    unsigned threads;
    uint64_t epoch;              /* records made so far: rotates owners and the spot check */
    int failed;
    char err[SP_ERRMSG_MAX];
};

__attribute__((format(printf, 3, 4)))
static int fail(sp_mpi_run *m, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return rc;
}

static int mpi_fail(sp_mpi_run *m, const char *call, int mrc)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mrc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", mrc);
    m->failed = 1;
    return fail(m, SP_EIO, "%s failed on rank %d: %s", call, m->rank, s);
}

/*
 * Every rank learns the outcome: the most negative code wins, and the lowest
 * failing rank's message is broadcast. An MPI failure here leaves ranks out
 * of step, so the run is marked unusable.
 */
static int agree(sp_mpi_run *m, int rc)
{
    int all = SP_OK, src = m->size, mine = rc != SP_OK ? m->rank : m->size;
    int mrc = MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, m->comm);
    if (mrc == MPI_SUCCESS && all != SP_OK)
        mrc = MPI_Allreduce(&mine, &src, 1, MPI_INT, MPI_MIN, m->comm);
    if (mrc == MPI_SUCCESS && all != SP_OK && src < m->size)
        mrc = MPI_Bcast(m->err, (int)sizeof m->err, MPI_CHAR, src, m->comm);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(m, "MPI_Allreduce", mrc);
    m->err[sizeof m->err - 1] = '\0';
    if (all != SP_OK)
        m->failed = 1;
    return all;
}

int sp_mpi_open(sp_mpi_run **out, MPI_Comm comm, const sp_run_options *opts)
{
    *out = NULL;
    int inited = 0;
    if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited)
        return SP_EBADSTATE;
    sp_mpi_run *m = calloc(1, sizeof *m);
    if (m == NULL)
        return SP_ENOMEM;   /* not agreed: the other ranks fail in their next call */
    if (MPI_Comm_dup(comm, &m->comm) != MPI_SUCCESS) {
        free(m);
        return SP_EIO;
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    m->threads = opts->threads ? opts->threads : 1;
    int rc = SP_OK;
    if (m->rank == 0) {
        sp_run_options o = *opts;
        uint32_t per = opts->batches_per_step ? opts->batches_per_step : 1;
        o.batches_per_step = per * (uint32_t)m->size;
        o.err = m->err;
        rc = sp_run_open(&m->run, &o);
        if (rc != SP_OK && m->err[0] == '\0')
            fail(m, rc, "%s", sp_strerror(rc));
    }
    rc = agree(m, rc);
    if (rc != SP_OK) {
        if (opts->err != NULL)
            snprintf(opts->err, SP_ERRMSG_MAX, "%s", m->err);
        sp_mpi_close(m);
        return rc;
    }
    *out = m;
    return SP_OK;
}

const char *sp_mpi_errmsg(const sp_mpi_run *m)
{
    return m ? m->err : "";
}

int sp_mpi_rank(const sp_mpi_run *m) { return m->rank; }
int sp_mpi_size(const sp_mpi_run *m) { return m->size; }

/* ---- the plan: who hashes which chunk ---- */

typedef struct leaf_job {          /* a chunk this rank hashes from its own bytes */
    uint64_t g;                    /* global leaf number over all tensors */
    uint64_t local;                /* leaf number within its tensor */
    const uint8_t *bytes;
    size_t len;
    int check;                     /* 1: a replica check, not the owner's leaf */
    uint8_t leaf[SP_DIGEST_BYTES];
} leaf_job;

typedef struct plan {
    size_t n;                      /* tensors */
    sp_tensor *desc;               /* whole tensors, data NULL */
    uint64_t *first_leaf;          /* n + 1 entries */
    uint64_t *rng;                 /* [rank][tensor] = {offset, len} */
    leaf_job *jobs;
    size_t njobs, cap;
    atomic_uint_least64_t next;
} plan;

static void plan_free(plan *p)
{
    free(p->desc);
    free(p->first_leaf);
    free(p->rng);
    free(p->jobs);
    memset(p, 0, sizeof *p);
}

static int add_job(plan *p, uint64_t g, uint64_t local, const uint8_t *bytes, size_t len, int check)
{
    if (p->njobs == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        leaf_job *j = realloc(p->jobs, cap * sizeof *j);
        if (j == NULL)
            return SP_ENOMEM;
        p->jobs = j;
        p->cap = cap;
    }
    p->jobs[p->njobs++] = (leaf_job){.g = g, .local = local, .bytes = bytes, .len = len, .check = check};
    return SP_OK;
}

/* The lowest rank whose range of tensor i holds byte pos, or -1. */
static int holder(const sp_mpi_run *m, const plan *p, size_t i, uint64_t pos, uint64_t *end)
{
    for (int r = 0; r < m->size; r++) {
        const uint64_t *x = &p->rng[((size_t)r * p->n + i) * 2];
        if (x[1] > 0 && x[0] <= pos && pos < x[0] + x[1]) {
            *end = x[0] + x[1];
            return r;
        }
    }
    return -1;
}

/* Steps 1 and 2: descriptions agreed, ranges gathered. */
static int plan_build(sp_mpi_run *m, plan *p, const sp_shard *t, size_t n)
{
    memset(p, 0, sizeof *p);
    atomic_init(&p->next, 0);
    p->n = n;
    int rc = SP_OK;
    size_t nn = n ? n : 1;
    p->desc = calloc(nn, sizeof *p->desc);
    p->first_leaf = calloc(n + 1, sizeof *p->first_leaf);
    p->rng = calloc((size_t)m->size * nn * 2, sizeof *p->rng);
    uint64_t *mine = calloc(nn * 2, sizeof *mine);
    if (!p->desc || !p->first_leaf || !p->rng || !mine || n > (size_t)(INT32_MAX / 2) / (size_t)m->size)
        rc = fail(m, SP_ENOMEM, "out of memory planning %zu tensors on %d ranks", n, m->size);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, SP_DIGEST_BYTES);
    for (size_t i = 0; rc == SP_OK && i < n; i++) {
        sp_tensor *d = &p->desc[i];
        d->name = t[i].name;
        d->dtype = t[i].dtype;
        d->ndim = t[i].ndim;
        if (t[i].name == NULL || t[i].ndim > SP_MAX_DIMS) {
            rc = fail(m, SP_EINVAL, "rank %d: tensor %zu has no name or too many dimensions", m->rank, i);
            break;
        }
        memcpy(d->shape, t[i].shape, sizeof d->shape);
        uint64_t numel = 0;
        rc = sp_shape_numel(&numel, d->shape, d->ndim);
        d->nbytes = numel * sp_dtype_size(d->dtype);
        sp_tensor probe = *d;
        probe.data = d->nbytes ? (const void *)d : NULL;
        if (rc == SP_OK)
            rc = sp_tensor_check(&probe);
        if (rc != SP_OK) {
            rc = fail(m, rc, "rank %d: tensor '%.200s': bad description", m->rank, t[i].name);
            break;
        }
        if (t[i].offset > d->nbytes || t[i].len > d->nbytes - t[i].offset || (t[i].len > 0 && !t[i].data)) {
            rc = fail(m, SP_EINVAL, "rank %d: tensor '%.200s': bytes %llu..+%llu are not inside its %llu bytes",
                      m->rank, t[i].name, (unsigned long long)t[i].offset, (unsigned long long)t[i].len,
                      (unsigned long long)d->nbytes);
            break;
        }
        mine[2 * i] = t[i].offset;
        mine[2 * i + 1] = t[i].len;
        uint8_t h[4 + 4 + 4];
        uint32_t nl = (uint32_t)strlen(d->name);
        memcpy(h, &nl, 4);
        memcpy(h + 4, &d->dtype, 4);
        memcpy(h + 8, &d->ndim, 4);
        crypto_generichash_update(&st, h, sizeof h);
        crypto_generichash_update(&st, (const uint8_t *)d->name, nl);
        crypto_generichash_update(&st, (const uint8_t *)d->shape, d->ndim * sizeof d->shape[0]);
        p->first_leaf[i + 1] = p->first_leaf[i] + (d->nbytes + SP_CHUNK_BYTES - 1) / SP_CHUNK_BYTES;
    }
    uint8_t desc[SP_DIGEST_BYTES], first[SP_DIGEST_BYTES];
    crypto_generichash_update(&st, (const uint8_t *)&n, sizeof n);
    crypto_generichash_final(&st, desc, sizeof desc);
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    memcpy(first, desc, sizeof first);
    int mrc = MPI_Bcast(first, SP_DIGEST_BYTES, MPI_BYTE, 0, m->comm);
    if (mrc != MPI_SUCCESS) {
        rc = mpi_fail(m, "MPI_Bcast", mrc);
        goto out;
    }
    if (sodium_memcmp(first, desc, sizeof desc) != 0)
        rc = fail(m, SP_EINVAL, "rank %d passes another tensor list than rank 0 (names, dtypes, shapes "
                  "and order must be the same on every rank)", m->rank);
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    mrc = MPI_Allgather(mine, (int)(2 * nn), MPI_UINT64_T, p->rng, (int)(2 * nn), MPI_UINT64_T, m->comm);
    if (mrc != MPI_SUCCESS)
        rc = mpi_fail(m, "MPI_Allgather", mrc);
out:
    free(mine);
    return rc;
}

/*
 * Step 3a: this rank's jobs; straddling chunks assembled and hashed as they
 * arrive (every rank walks the chunks in the same order, so the blocking
 * sends and receives pair up). full_check: every whole holder hashes.
 */
static int plan_jobs(sp_mpi_run *m, plan *p, const sp_shard *t, int full_check, uint8_t *buf,
                     leaf_job **straddled, size_t *nstraddled)
{
    int lrc = SP_OK;   /* a local failure: this rank keeps exchanging so no peer blocks */
    uint64_t total = p->first_leaf[p->n];
    uint64_t spot = total ? m->epoch % total : 0;   /* the one replica check of a checkpoint */
    *straddled = NULL;
    *nstraddled = 0;
    size_t scap = 0;
    int rc = SP_OK;
    for (size_t i = 0; rc == SP_OK && i < p->n; i++) {
        uint64_t nb = p->desc[i].nbytes;
        for (uint64_t c = 0; rc == SP_OK && c * SP_CHUNK_BYTES < nb; c++) {
            uint64_t g = p->first_leaf[i] + c, cs = c * SP_CHUNK_BYTES;
            uint64_t ce = nb - cs < SP_CHUNK_BYTES ? nb : cs + SP_CHUNK_BYTES;
            int ncover = 0, me_covers = 0;
            for (int r = 0; r < m->size; r++) {
                const uint64_t *x = &p->rng[((size_t)r * p->n + i) * 2];
                if (x[0] <= cs && x[0] + x[1] >= ce) {
                    ncover++;
                    me_covers |= r == m->rank;
                }
            }
            const uint8_t *mine = (const uint8_t *)t[i].data;
            if (ncover > 0) {
                int pick = (int)((g + m->epoch) % (uint64_t)ncover), owner = -1;
                for (int r = 0, k = 0; r < m->size && owner < 0; r++) {
                    const uint64_t *x = &p->rng[((size_t)r * p->n + i) * 2];
                    if (x[0] <= cs && x[0] + x[1] >= ce && k++ == pick)
                        owner = r;
                }
                int check = me_covers && owner != m->rank && ncover > 1 && (full_check || g == spot);
                if ((owner == m->rank || check) && lrc == SP_OK &&
                    add_job(p, g, c, mine + (cs - t[i].offset), (size_t)(ce - cs), check) != SP_OK)
                    lrc = fail(m, SP_ENOMEM, "out of memory");
                continue;
            }
            /* No rank holds the whole chunk: the holder of its first byte assembles it. */
            uint64_t end = 0;
            int owner = holder(m, p, i, cs, &end);
            if (owner < 0) {
                rc = fail(m, SP_EINVAL, "tensor '%.200s': byte %llu is held by no rank", p->desc[i].name,
                          (unsigned long long)cs);
                break;
            }
            for (uint64_t pos = cs; pos < ce;) {
                int r = holder(m, p, i, pos, &end);
                if (r < 0) {
                    rc = fail(m, SP_EINVAL, "tensor '%.200s': byte %llu is held by no rank", p->desc[i].name,
                              (unsigned long long)pos);
                    break;
                }
                uint64_t stop = end < ce ? end : ce;
                int mrc = MPI_SUCCESS;
                if (r == m->rank && owner == m->rank)
                    memcpy(buf + (pos - cs), mine + (pos - t[i].offset), (size_t)(stop - pos));
                else if (owner == m->rank)
                    mrc = MPI_Recv(buf + (pos - cs), (int)(stop - pos), MPI_BYTE, r, 0, m->comm, MPI_STATUS_IGNORE);
                else if (r == m->rank)
                    mrc = MPI_Send(mine + (pos - t[i].offset), (int)(stop - pos), MPI_BYTE, owner, 0, m->comm);
                if (mrc != MPI_SUCCESS)
                    return mpi_fail(m, "MPI_Send/MPI_Recv", mrc);
                pos = stop;
            }
            if (rc == SP_OK && lrc == SP_OK && owner == m->rank) {
                if (*nstraddled == scap) {
                    scap = scap ? 2 * scap : 8;
                    leaf_job *s = realloc(*straddled, scap * sizeof *s);
                    if (s == NULL) {
                        lrc = fail(m, SP_ENOMEM, "out of memory");
                        continue;
                    }
                    *straddled = s;
                }
                leaf_job *s = &(*straddled)[(*nstraddled)++];
                *s = (leaf_job){.g = g, .local = c};
                sp_leaf_digest(s->leaf, c, buf, (size_t)(ce - cs));
            }
        }
    }
    return rc != SP_OK ? rc : lrc;
}

static void hash_worker(void *arg, unsigned thread_index)
{
    (void)thread_index;
    plan *p = arg;
    uint64_t end;
    for (uint64_t k; (k = sp_pool_take(&p->next, p->njobs, 1, &end)) < p->njobs;)
        sp_leaf_digest(p->jobs[k].leaf, p->jobs[k].local, p->jobs[k].bytes, p->jobs[k].len);
}

/*
 * Steps 1 to 5 for one tensor list: on success rank 0 has the tensor digests
 * in out (n entries) and the descriptions in p->desc. Collective.
 */
static int shard_digests(sp_mpi_run *m, plan *p, const sp_shard *t, size_t n, int full_check,
                         uint8_t (**out)[SP_DIGEST_BYTES])
{
    *out = NULL;
    int rc = plan_build(m, p, t, n);
    if (rc != SP_OK)
        return rc;
    uint64_t total = p->first_leaf[n];
    if (total > (uint64_t)INT32_MAX / 40)   /* the same on every rank */
        return fail(m, SP_ERANGE, "%llu chunks in one record: more than one gather can carry",
                    (unsigned long long)total);
    leaf_job *st = NULL;
    size_t nst = 0;
    uint8_t *buf = malloc(SP_CHUNK_BYTES), *send = NULL, *recv = NULL;
    uint8_t (*leaves)[SP_DIGEST_BYTES] = NULL;
    int *counts = NULL, *displs = NULL;
    if (buf == NULL)
        rc = fail(m, SP_ENOMEM, "out of memory");
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    rc = agree(m, plan_jobs(m, p, t, full_check, buf, &st, &nst));
    if (rc != SP_OK)
        goto out;
    sp_pool_run(m->threads, hash_worker, p);

    /* Step 4: the owners' leaves (and the assembled ones) as (g, leaf) records of 40 bytes. */
    size_t w = 0;
    if ((send = malloc((p->njobs + nst) * 40 + 1)) == NULL)
        rc = fail(m, SP_ENOMEM, "out of memory");
    for (size_t k = 0; send && k < p->njobs + nst; k++) {
        const leaf_job *j = k < p->njobs ? &p->jobs[k] : &st[k - p->njobs];
        if (j->check)
            continue;
        memcpy(send + 40 * w, &j->g, 8);
        memcpy(send + 40 * w + 8, j->leaf, SP_DIGEST_BYTES);
        w++;
    }
    if (m->rank == 0 && rc == SP_OK) {
        counts = calloc((size_t)m->size, sizeof *counts);
        displs = calloc((size_t)m->size, sizeof *displs);
        leaves = calloc(total ? total : 1, SP_DIGEST_BYTES);
        *out = calloc(n ? n : 1, SP_DIGEST_BYTES);
        if (!counts || !displs || !leaves || !*out)
            rc = fail(m, SP_ENOMEM, "out of memory gathering %llu leaves", (unsigned long long)total);
    }
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    int cnt = (int)(w * 40);
    int mrc = MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, m->comm);
    if (mrc != MPI_SUCCESS) {
        rc = mpi_fail(m, "MPI_Gather", mrc);
        goto out;
    }
    if (m->rank == 0) {
        long long sum = 0;
        for (int r = 0; r < m->size; r++) {
            displs[r] = (int)sum;
            sum += counts[r];
        }
        if (sum != (long long)total * 40)   /* every chunk has exactly one owner in the plan */
            rc = fail(m, SP_EINVAL, "the ranks' leaves do not cover the tensors once (%lld of %llu)",
                      sum / 40, (unsigned long long)total);
        else if ((recv = malloc(total * 40 + 1)) == NULL)
            rc = fail(m, SP_ENOMEM, "out of memory");
    }
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    mrc = MPI_Gatherv(send, cnt, MPI_BYTE, recv, counts, displs, MPI_BYTE, 0, m->comm);
    if (mrc != MPI_SUCCESS) {
        rc = mpi_fail(m, "MPI_Gatherv", mrc);
        goto out;
    }
    if (m->rank == 0) {
        uint8_t *seen = calloc(total ? total : 1, 1);
        if (seen == NULL)
            rc = fail(m, SP_ENOMEM, "out of memory");
        for (uint64_t k = 0; seen && rc == SP_OK && k < total; k++) {
            uint64_t g;
            memcpy(&g, recv + 40 * k, 8);
            if (g >= total || seen[g]++)
                rc = fail(m, SP_EINVAL, "leaf %llu was hashed twice or is out of range", (unsigned long long)g);
            else
                memcpy(leaves[g], recv + 40 * k + 8, SP_DIGEST_BYTES);
        }
        free(seen);
        for (size_t i = 0; rc == SP_OK && i < n; i++)
            rc = sp_tensor_digest_leaves((*out)[i], &p->desc[i],
                                         (const uint8_t (*)[SP_DIGEST_BYTES])leaves[p->first_leaf[i]],
                                         p->first_leaf[i + 1] - p->first_leaf[i]);
    }
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;

    /* Step 5: replicas compare their leaves with the recorded ones. */
    int checks = 0, any_check = 0;
    for (size_t k = 0; k < p->njobs; k++)
        checks |= p->jobs[k].check;
    mrc = MPI_Allreduce(&checks, &any_check, 1, MPI_INT, MPI_MAX, m->comm);
    if (mrc != MPI_SUCCESS) {
        rc = mpi_fail(m, "MPI_Allreduce", mrc);
        goto out;
    }
    if (!any_check)
        goto out;
    if (m->rank != 0 && (leaves = malloc(total * SP_DIGEST_BYTES + 1)) == NULL)
        rc = fail(m, SP_ENOMEM, "out of memory");
    if ((rc = agree(m, rc)) != SP_OK)
        goto out;
    mrc = MPI_Bcast(leaves, (int)(total * SP_DIGEST_BYTES), MPI_BYTE, 0, m->comm);
    if (mrc != MPI_SUCCESS) {
        rc = mpi_fail(m, "MPI_Bcast", mrc);
        goto out;
    }
    for (size_t k = 0; rc == SP_OK && k < p->njobs; k++) {
        const leaf_job *j = &p->jobs[k];
        if (j->check && sodium_memcmp(j->leaf, leaves[j->g], SP_DIGEST_BYTES) != 0) {
            size_t i = 0;
            while (i + 1 < n && p->first_leaf[i + 1] <= j->g)
                i++;
            rc = fail(m, SP_EMISMATCH, "replicas disagree: rank %d's copy of tensor '%.200s' (chunk %llu) "
                      "differs from the copy that was recorded", m->rank, p->desc[i].name,
                      (unsigned long long)j->local);
        }
    }
    rc = agree(m, rc);
out:
    free(buf);
    free(send);
    free(recv);
    free(st);
    free(counts);
    free(displs);
    free(leaves);
    if (rc != SP_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/*
 * The sharding digest of the genesis (SPEC.md 17): H("scratchproof/sharding",
 * u32le(world) || for each tensor in the order given: u32le(len(name)) || name
 * || for each rank: u64le(offset) || u64le(len)).
 */
static void sharding_digest(uint8_t out[SP_DIGEST_BYTES], const sp_mpi_run *m, const plan *p)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, SP_DIGEST_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)"scratchproof/sharding", 22);   /* with its NUL */
    uint8_t b[8];
    uint32_t w = (uint32_t)m->size;
    for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(w >> (8 * k));
    crypto_generichash_update(&st, b, 4);
    for (size_t i = 0; i < p->n; i++) {
        uint32_t nl = (uint32_t)strlen(p->desc[i].name);
        for (int k = 0; k < 4; k++)
            b[k] = (uint8_t)(nl >> (8 * k));
        crypto_generichash_update(&st, b, 4);
        crypto_generichash_update(&st, (const uint8_t *)p->desc[i].name, nl);
        for (int r = 0; r < m->size; r++)
            for (int f = 0; f < 2; f++) {
                uint64_t v = p->rng[((size_t)r * p->n + i) * 2 + (size_t)f];
                for (int k = 0; k < 8; k++)
                    b[k] = (uint8_t)(v >> (8 * k));
                crypto_generichash_update(&st, b, 8);
            }
    }
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
}

static int usable(sp_mpi_run *m)
{
    return m->failed ? fail(m, SP_EBADSTATE, "the run is unusable after an earlier failure") : SP_OK;
}

/* Rank 0's append, agreed; the run's own message travels to every rank. */
static int record(sp_mpi_run *m, int rc)
{
    if (rc != SP_OK && m->rank == 0)
        fail(m, rc, "%s", sp_run_errmsg(m->run));
    rc = agree(m, rc);
    m->epoch++;
    return rc;
}

int sp_mpi_genesis(sp_mpi_run *m, const sp_shard *t, const sp_init_scheme *schemes, size_t n)
{
    int rc = usable(m);
    if (rc != SP_OK)
        return rc;
    plan p;
    uint8_t (*d)[SP_DIGEST_BYTES] = NULL;
    rc = shard_digests(m, &p, t, n, 1, &d);
    if (rc == SP_OK) {
        int local = SP_OK;
        if (m->rank == 0) {
            sp_record_tensor *rt = calloc(n ? n : 1, sizeof *rt);
            uint8_t sh[SP_DIGEST_BYTES];
            sharding_digest(sh, m, &p);
            if (rt == NULL) {
                local = fail(m, SP_ENOMEM, "out of memory");
            } else {
                for (size_t i = 0; i < n; i++) {
                    rt[i].t = p.desc[i];
                    rt[i].init = schemes ? schemes[i] : (sp_init_scheme){.kind = SP_INIT_EXTERNAL};
                }
                local = sp_run_genesis_digests(m->run, rt, (const uint8_t (*)[SP_DIGEST_BYTES])d, n,
                                               (uint32_t)m->size, sh);
            }
            free(rt);
        }
        rc = record(m, local);
    }
    free(d);
    plan_free(&p);
    return rc;
}

int sp_mpi_commit_batch(sp_mpi_run *m, uint64_t step, const void *data, size_t len)
{
    int rc = usable(m);
    if (rc != SP_OK)
        return rc;
    uint8_t mine[40], *all = NULL;
    memcpy(mine, &step, 8);
    sp_batch_digest(mine + 8, step, data, len);
    if (m->rank == 0 && (all = malloc((size_t)m->size * 40)) == NULL)
        rc = fail(m, SP_ENOMEM, "out of memory");
    if ((rc = agree(m, rc)) != SP_OK)
        return rc;
    int mrc = MPI_Gather(mine, 40, MPI_BYTE, all, 40, MPI_BYTE, 0, m->comm);
    if (mrc != MPI_SUCCESS)
        rc = mpi_fail(m, "MPI_Gather", mrc);
    for (int r = 0; rc == SP_OK && m->rank == 0 && r < m->size; r++) {
        uint64_t s;
        memcpy(&s, all + 40 * r, 8);
        if (s != step)
            rc = fail(m, SP_EINVAL, "rank %d commits a batch of step %llu while rank 0 commits step %llu",
                      r, (unsigned long long)s, (unsigned long long)step);
        else if ((rc = sp_run_commit_digest(m->run, step, all + 40 * r + 8)) != SP_OK)
            fail(m, rc, "%s", sp_run_errmsg(m->run));
    }
    free(all);
    return agree(m, rc);
}

int sp_mpi_checkpoint(sp_mpi_run *m, const sp_checkpoint_info *info, const sp_shard *t, size_t n,
                      const sp_shard *opt, size_t n_opt)
{
    int rc = usable(m);
    if (rc != SP_OK)
        return rc;
    plan p, q;
    memset(&q, 0, sizeof q);
    uint8_t (*d)[SP_DIGEST_BYTES] = NULL, (*od)[SP_DIGEST_BYTES] = NULL;
    rc = shard_digests(m, &p, t, n, 0, &d);
    if (rc == SP_OK && n_opt > 0)
        rc = shard_digests(m, &q, opt, n_opt, 0, &od);
    if (rc == SP_OK) {
        int local = SP_OK;
        if (m->rank == 0) {
            sp_checkpoint_info ci = *info;
            ci.optimizer = n_opt ? q.desc : NULL;
            ci.n_optimizer = n_opt;
            local = sp_run_checkpoint_digests(m->run, &ci, p.desc, (const uint8_t (*)[SP_DIGEST_BYTES])d, n,
                                              (const uint8_t (*)[SP_DIGEST_BYTES])od);
        }
        rc = record(m, local);
    }
    free(d);
    free(od);
    plan_free(&p);
    plan_free(&q);
    return rc;
}

int sp_mpi_final(sp_mpi_run *m, uint64_t step, const sp_shard *t, size_t n)
{
    int rc = usable(m);
    if (rc != SP_OK)
        return rc;
    plan p;
    uint8_t (*d)[SP_DIGEST_BYTES] = NULL;
    rc = shard_digests(m, &p, t, n, 1, &d);
    if (rc == SP_OK)
        rc = record(m, m->rank == 0 ? sp_run_final_digests(m->run, step, p.desc,
                                                           (const uint8_t (*)[SP_DIGEST_BYTES])d, n)
                                    : SP_OK);
    free(d);
    plan_free(&p);
    return rc;
}

void sp_mpi_close(sp_mpi_run *m)
{
    if (m == NULL)
        return;
    sp_run_close(m->run);
    MPI_Comm_free(&m->comm);
    sodium_memzero(m, sizeof *m);
    free(m);
}
