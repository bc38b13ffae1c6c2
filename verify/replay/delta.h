/*
 * delta.h - the weights of a point as floats, and the size of the change
 * between two sets of weights (SPEC.md 12, tolerance mode, and 13,
 * trajectory screening).
 *
 * A point's tensor is read in blocks, never copied whole: a genesis tensor
 * is regenerated block by block from its seed and scheme (sp_init_fill is
 * random access), a checkpoint or final tensor is converted from the bound,
 * memory-mapped file (F32, F16, BF16, F64 through sp_audit_to_float). Sums
 * are taken in double; each block is centred on its own mean and blocks are
 * merged with Chan's pairwise formulas, so a constant tensor has a variance
 * of exactly 0 and results do not depend on the thread count.
 */
#ifndef SP_DELTA_H
#define SP_DELTA_H

#include "sp_base.h"
#include "segments.h"

/* Elements per block: 4 floats x 4096 per stream, small enough for L2. */
#define SP_DELTA_BLOCK 4096u

enum sp_src_kind { SP_SRC_NONE, SP_SRC_TENSOR, SP_SRC_GENESIS, SP_SRC_ZEROS };

/* Where one tensor's values come from. Small; copy freely. */
typedef struct sp_src {
    enum sp_src_kind kind;
    const char *name;                 /* points into the record or file */
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    uint64_t numel;
    const sp_tensor *t;               /* SP_SRC_TENSOR: a mapped tensor of an ok dtype */
    sp_dtype dtype;                   /* SP_SRC_GENESIS: generated dtype */
    uint64_t seed;                    /* SP_SRC_GENESIS */
    sp_init_scheme scheme;            /* SP_SRC_GENESIS, when the tensor has no ranges */
    const Sp__TensorDigest *g;        /* SP_SRC_GENESIS: its record entry (ranges read from it) */
} sp_src;

/*
 * A plain tensor as a source. SP_EUNSUPPORTED when its dtype is not one
 * float conversion knows (sp_audit_dtype_ok), SP_EINVAL when it fails
 * sp_tensor_check. t must outlive the source.
 */
int sp_src_tensor(sp_src *out, const sp_tensor *t) SP_WUR SP_NONNULL(1, 2);

/* Zeros in the shape of ref (the optimizer state at the genesis). */
void sp_src_zeros(sp_src *out, const sp_src *ref) SP_NONNULL(1, 2);

/*
 * The tensor called name at point `point` of tab. The genesis is regenerated
 * (its tensors must not be external); other points read their bound weights
 * file. Returns SP_OK; SP_EINVAL (point out of range); SP_ENOTFOUND (the
 * point has no bound file, or the record or file has no such tensor);
 * SP_EUNSUPPORTED (external genesis tensor, or a dtype that is not F32, F16,
 * BF16 or F64); SP_EFORMAT (the file's shape differs from the genesis's).
 */
int sp_src_point(sp_src *out, const sp_run_table *tab, size_t point, const char *name)
    SP_WUR SP_NONNULL(1, 2, 4);

/*
 * Elements [first, first + n) of src as floats into dst (n floats).
 * n <= SP_DELTA_BLOCK is not required. Returns SP_OK, SP_ERANGE (past the
 * end), or what sp_init_fill returns for a genesis source.
 */
int sp_src_read(const sp_src *src, float *dst, uint64_t first, uint64_t n) SP_WUR SP_NONNULL(1, 2);

/* 1 when a and b have the same shape. */
int sp_src_same_shape(const sp_src *a, const sp_src *b) SP_NONNULL(1, 2);

/*
 * Second moments of a pair of equally long vectors x, y: counts, means,
 * centred sums of squares and products, and the squared distance, all in
 * double. Merge partial results with sp_moments_merge (Chan et al.).
 */
typedef struct sp_moments {
    double n;
    double mx, my;                    /* means */
    double cxx, cyy, cxy;             /* sum (x-mx)^2, (y-my)^2, (x-mx)(y-my) */
    double dd;                        /* sum (y - x)^2 */
} sp_moments;

/* Accumulates one block (n > 0 elements) into m. */
void sp_moments_add(sp_moments *m, const float *x, const float *y, size_t n) SP_NONNULL(1, 2, 3);
/* m = m (+) b. */
void sp_moments_merge(sp_moments *m, const sp_moments *b) SP_NONNULL(1, 2);
/* ||y - x||_2, ||x||_2, ||y||_2 (sum of squares = c + n mean^2). */
double sp_moments_dist(const sp_moments *m) SP_NONNULL(1);
double sp_moments_norm_x(const sp_moments *m) SP_NONNULL(1);
double sp_moments_norm_y(const sp_moments *m) SP_NONNULL(1);
/* Mean-centred Pearson correlation; NaN when either side is constant. */
double sp_moments_pearson(const sp_moments *m) SP_NONNULL(1);

/*
 * The moments of (a, b) over the whole tensors, streamed block by block.
 * For replay's tolerance test: e = ||W_replay - W_end|| / ||W_end - W_start||
 * is sp_moments_dist of (replay, end) over sp_moments_dist of (start, end).
 * Returns SP_OK, SP_EINVAL (shapes differ), or a read error.
 */
int sp_delta_pair(sp_moments *out, const sp_src *a, const sp_src *b) SP_WUR SP_NONNULL(1, 2, 3);

/* One tensor's change over a segment. */
typedef struct sp_tensor_delta {
    const char *name;                 /* the genesis's name (points into the record) */
    uint64_t numel;
    int rc;                           /* SP_OK, or why this tensor could not be read */
    double diff;                      /* ||W_end - W_start||_2 */
    double start;                     /* ||W_start||_2 */
    double end;                       /* ||W_end||_2 */
    double pearson;                   /* corr(W_start, W_end), NaN when undefined */
} sp_tensor_delta;

/*
 * Fills out[0 .. n_tensors) (the genesis's tensors, in its order) for
 * segment seg (points seg and seg + 1), on up to `threads` threads; work is
 * split into pieces of tensors, merged in a fixed order, so the numbers do
 * not depend on threads. A tensor that cannot be read has rc set and zeros.
 * Returns SP_OK, SP_EINVAL (seg out of range, no genesis), SP_ENOMEM.
 */
int sp_delta_segment(sp_tensor_delta *out, const sp_run_table *tab, size_t seg,
                     unsigned threads) SP_WUR SP_NONNULL(1, 2);

/* Tensors of the table (the genesis's), 0 without a genesis. */
size_t sp_delta_ntensors(const sp_run_table *tab) SP_NONNULL(1);

/*
 * Runs fn(ctx, i) for i in [0, n) on up to `threads` threads of the shared
 * pool (attest/pool.h; the caller is one of them), items taken in order
 * from a shared counter. fn returns 0 or a negative code; the first failure
 * stops further items and is returned.
 */
int sp_delta_parallel(size_t n, int (*fn)(void *ctx, size_t i), void *ctx, unsigned threads)
    SP_WUR SP_NONNULL(2);

#endif
