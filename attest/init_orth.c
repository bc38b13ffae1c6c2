/*
 * init_orth.c - the ORTHOGONAL scheme (SPEC.md 6.9): torch.nn.init.orthogonal_
 * made deterministic. A rows x cols matrix of NORMAL(0, 1) values (6.3) is
 * factorised by Householder QR in binary64, every operation in the order
 * SPEC.md writes out (no BLAS or LAPACK, whose blocking and threading change
 * rounding), so the result is bit-exact wherever binary64 arithmetic is
 * IEEE with round-to-nearest-even and no contraction (-ffp-contract=off).
 * Q's columns take the signs of R's diagonal, as torch does, and the gain.
 *
 * The whole matrix is computed for any slice: two rows*cols arrays of
 * doubles on the heap (at most SP_INIT_ORTHO_MAX_NUMEL elements). Callers
 * that read a tensor in small slices (trajectory screening reads 4096
 * elements at a time) would compute it once per slice, so the binary32
 * values of the last ORTH_CACHE matrices are kept in a process-wide cache
 * (a mutex around a few entries, least recently used evicted): the one piece
 * of global state of the initialiser, and it never changes a value.
 */
#include "init_orth.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ORTH_CACHE 4   /* matrices kept: at most 4 x 64 MiB of binary32 */

/*
 * Householder step k on the column-major m x n matrix a (column j at a + j*m):
 * reflects column k onto alpha e_k and every later column with it. Keeps
 * v = (v0, a[k+1..m) of column k) and beta = 2 / (v . v); beta 0 when the
 * column below the diagonal is all zero (no reflection).
 */
static void householder_step(double *a, size_t m, size_t n, size_t k, double *alpha_out,
                             double *v0_out, double *beta_out)
{
    double *col = a + k * m;
    double ss = col[k] * col[k];
    for (size_t i = k + 1; i < m; i++)
        ss = ss + col[i] * col[i];
    double norm = sqrt(ss);
    if (norm == 0.0) {
        *alpha_out = 0.0;
        *v0_out = 0.0;
        *beta_out = 0.0;
        return;
    }
    double alpha = col[k] >= 0.0 ? -norm : norm;
    double v0 = col[k] - alpha;
    double vv = v0 * v0;
    for (size_t i = k + 1; i < m; i++)
        vv = vv + col[i] * col[i];
    double beta = 2.0 / vv;
    for (size_t j = k + 1; j < n; j++) {
        double *cj = a + j * m;
        double t = v0 * cj[k];
        for (size_t i = k + 1; i < m; i++)
            t = t + col[i] * cj[i];
        t = t * beta;
        cj[k] = cj[k] - t * v0;
        for (size_t i = k + 1; i < m; i++)
            cj[i] = cj[i] - t * col[i];
    }
    col[k] = alpha;
    *alpha_out = alpha;
    *v0_out = v0;
    *beta_out = beta;
}

int sp_init_orth_values(double **vals, const sp_init_scheme *s, uint64_t seed, const char *name,
                        size_t name_len)
{
    *vals = NULL;
    size_t rows = (size_t)s->p[1], cols = (size_t)s->p[2], numel = rows * cols;
    int tr = rows < cols;   /* factorise the transpose, so that m >= n */
    size_t m = tr ? cols : rows, n = tr ? rows : cols;
    double gain = s->p[0];
    double *a = malloc(numel * sizeof *a);
    double *q = malloc(numel * sizeof *q);
    double *d = malloc(3 * n * sizeof *d);   /* alpha (R's diagonal), v0, beta per step */
    if (a == NULL || q == NULL || d == NULL) {
        free(a);
        free(q);
        free(d);
        return SP_ENOMEM;
    }
    /* A (m x n, column-major). G row-major rows x cols; with tr, A = G^T, whose
       column-major layout is G's row-major layout. */
    if (tr) {
        sp_init_normal_values(a, seed, name, name_len, numel);
    } else {
        sp_init_normal_values(q, seed, name, name_len, numel);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                a[j * m + i] = q[i * n + j];
    }
    double *alpha = d, *v0 = d + n, *beta = d + 2 * n;
    for (size_t k = 0; k < n; k++)
        householder_step(a, m, n, k, &alpha[k], &v0[k], &beta[k]);
    /* Q = H_0 H_1 ... H_{n-1} I[:, 0..n), accumulated backwards: H_k touches rows
       k.. and, at that point, only columns k.. are non-trivial there. */
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < m; i++)
            q[j * m + i] = i == j ? 1.0 : 0.0;
    for (size_t k = n; k-- > 0;) {
        if (beta[k] == 0.0)
            continue;
        const double *col = a + k * m;
        for (size_t j = k; j < n; j++) {
            double *qj = q + j * m;
            double t = v0[k] * qj[k];
            for (size_t i = k + 1; i < m; i++)
                t = t + col[i] * qj[i];
            t = t * beta[k];
            qj[k] = qj[k] - t * v0[k];
            for (size_t i = k + 1; i < m; i++)
                qj[i] = qj[i] - t * col[i];
        }
    }
    /* Column j times sign(R_jj) (0 for a zero diagonal, as torch's sign), then the
       gain; element (r, c) of the rows x cols tensor is Q'[r][c], or Q'[c][r] with tr. */
    for (size_t j = 0; j < n; j++) {
        double sg = alpha[j] > 0.0 ? 1.0 : alpha[j] < 0.0 ? -1.0 : 0.0;
        const double *qj = q + j * m;
        for (size_t i = 0; i < m; i++) {
            double v = gain * (sg * qj[i]);
            if (tr)
                a[j * m + i] = v;          /* r = j, c = i: row-major index j*cols + i */
            else
                a[i * n + j] = v;          /* r = i, c = j */
        }
    }
    free(q);
    free(d);
    *vals = a;
    return SP_OK;
}

/* ---- the cache of computed matrices (binary32 values, row-major) ---- */

typedef struct orth_entry {
    float *f;               /* NULL: empty slot */
    uint64_t seed, tick;
    sp_init_scheme s;
    size_t name_len;
    char name[SP_NAME_MAX];
} orth_entry;

static orth_entry cache[ORTH_CACHE];
static uint64_t cache_tick;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int entry_is(const orth_entry *e, const sp_init_scheme *s, uint64_t seed, const char *name,
                    size_t name_len)
{
    return e->f != NULL && e->seed == seed && e->s.kind == s->kind &&
           memcmp(e->s.p, s->p, sizeof s->p) == 0 && e->name_len == name_len &&
           memcmp(e->name, name, name_len) == 0;
}

/* Copies [first, first + count) of a cached matrix into out: 1 found, 0 not. */
static int cache_get(float *out, const sp_init_scheme *s, uint64_t seed, const char *name,
                     size_t name_len, uint64_t first, uint64_t count)
{
    int found = 0;
    pthread_mutex_lock(&cache_lock);
    for (size_t k = 0; k < ORTH_CACHE && !found; k++)
        if (entry_is(&cache[k], s, seed, name, name_len)) {
            memcpy(out, cache[k].f + first, (size_t)count * sizeof *out);
            cache[k].tick = ++cache_tick;
            found = 1;
        }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

/* Keeps f (taken over: freed here if another thread cached the same matrix first). */
static void cache_put(float *f, const sp_init_scheme *s, uint64_t seed, const char *name,
                      size_t name_len)
{
    pthread_mutex_lock(&cache_lock);
    size_t slot = 0;
    for (size_t k = 0; k < ORTH_CACHE; k++) {
        if (entry_is(&cache[k], s, seed, name, name_len)) {
            pthread_mutex_unlock(&cache_lock);
            free(f);
            return;
        }
        if (cache[k].f == NULL || (cache[slot].f != NULL && cache[k].tick < cache[slot].tick))
            slot = k;
    }
    orth_entry *e = &cache[slot];
    free(e->f);
    e->f = f;
    e->seed = seed;
    e->s = *s;
    e->name_len = name_len;
    memcpy(e->name, name, name_len);
    e->tick = ++cache_tick;
    pthread_mutex_unlock(&cache_lock);
}

int sp_init_orth_f32(float *out, const sp_init_scheme *s, uint64_t seed, const char *name,
                     size_t name_len, uint64_t first, uint64_t count)
{
    if (cache_get(out, s, seed, name, name_len, first, count))
        return SP_OK;
    double *v = NULL;
    int rc = sp_init_orth_values(&v, s, seed, name, name_len);
    if (rc != SP_OK)
        return rc;
    size_t numel = (size_t)s->p[1] * (size_t)s->p[2];
    float *f = malloc(numel * sizeof *f);
    if (f == NULL) {
        free(v);
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < numel; i++)
        f[i] = (float)v[i];
    free(v);
    memcpy(out, f + first, (size_t)count * sizeof *out);
    cache_put(f, s, seed, name, name_len);
    return SP_OK;
}
