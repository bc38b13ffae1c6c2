/*
 * audit.h - `scratchproof audit`: is a model derived from a reference model?
 * (SPEC.md "Audit").
 *
 * Layers, one file each:
 *   audit_load.c    models as one safetensors file, a directory or a sharded
 *                   index; dtype conversion to float, streamed row by row.
 *   audit_quant.c   quantised (with scales), float8 and bit-cast tensors.
 *   audit_prov.c    the digests of the input files the HTML report cites.
 *   audit_stats.c   p-values in log10 (never underflow), Fisher's method,
 *                   per-pair similarity with a hidden-unit shuffle null.
 *   audit_match.c   the permutation-robust (matched, cross-fitted) statistic
 *                   and pairing of renamed tensors by shape and content.
 *   audit_layout.c  pairing up to a layout change: transposes, axis
 *                   permutations (OIHW/OHWI/HWIO), fused or split projections.
 *   audit_fixed.c   untrained constants (bases, sinusoid tables, masks).
 *   audit_perm.c    hidden-unit permutations carried through the network.
 *   audit_run.c     components, verdicts, the worker threads.
 *   audit_report.c  text, JSON and HTML reports.
 *   verify/cli/cmd_audit.c, the command.
 * Nothing here prints except sp_cmd_audit and the report writers, which take
 * the FILE to write to.
 */
#ifndef SP_AUDIT_H
#define SP_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include "sp_base.h"
#include "digest.h"   /* sp_progress */

/* The command; argv[0] is "audit". Returns the exit code 0, 1, 2 or 3 (inconclusive). */
int sp_cmd_audit(int argc, char **argv);

/* ------------------------------------------------------------ loading */

/* A model: one or more safetensors files seen as one sorted tensor list. */
typedef struct sp_audit_model sp_audit_model;

/*
 * Opens PATH: a .safetensors file, a model.safetensors.index.json (sharded
 * model), or a directory holding either one index or exactly one
 * .safetensors file. Every shard is validated by sp_st_open and memory-mapped;
 * every tensor the index names must be in the file it names, every tensor of
 * a shard must be in the index, and no name may appear twice. On failure
 * *out is NULL and err (SP_ERRMSG_MAX bytes, may be NULL) says why.
 * Returns SP_OK, SP_EIO, SP_EFORMAT, SP_ENOTFOUND, SP_EUNSUPPORTED, SP_ENOMEM.
 */
int sp_audit_model_open(sp_audit_model **out, const char *path, char *err)
    SP_WUR SP_NONNULL(1, 2);
/* Closes; NULL is a no-op. Tensors handed out become invalid. */
void sp_audit_model_close(sp_audit_model *m);
/* Number of tensors, and tensor i in ascending name order (valid until close). */
size_t sp_audit_model_count(const sp_audit_model *m) SP_NONNULL(1);
const sp_tensor *sp_audit_model_tensor(const sp_audit_model *m, size_t i) SP_NONNULL(1);
/* The tensor called name, or NULL. */
const sp_tensor *sp_audit_model_find(const sp_audit_model *m, const char *name) SP_NONNULL(1, 2);
/* Number of shard files. */
size_t sp_audit_model_files(const sp_audit_model *m) SP_NONNULL(1);
/*
 * The tensors as stored (sorted by name, every shard), before the audit's
 * view dequantises integer tensors and absorbs their scales: what a record
 * binds (verify --model, --checkpoints; SPEC.md 2.2).
 */
size_t sp_audit_model_raw_count(const sp_audit_model *m) SP_NONNULL(1);
const sp_tensor *sp_audit_model_raw_tensor(const sp_audit_model *m, size_t i) SP_NONNULL(1);
/* The path of shard i (as opened), or NULL past the end. */
const char *sp_audit_model_file(const sp_audit_model *m, size_t i) SP_NONNULL(1);
/* The path of the shard holding tensor name, or NULL. */
const char *sp_audit_model_file_of(const sp_audit_model *m, const char *name) SP_NONNULL(1, 2);

/* A parsed model.safetensors.index.json: weight_map as parallel arrays. */
typedef struct sp_audit_index {
    size_t n;           /* entries of weight_map */
    char **tensor;      /* n tensor names */
    char **file;        /* n shard names (bare file names, checked) */
    size_t nfiles;      /* distinct shard names, in first-seen order */
    char **files;
} sp_audit_index;

/*
 * Parses an index JSON (untrusted): an object with a "weight_map" object of
 * string values, optional "metadata" object. Shard names must be non-empty
 * bare file names: no '/', no '\\', not "." or "..", no control bytes, at
 * most 255 bytes. Tensor names 1..SP_NAME_MAX bytes. At most 1,000,000
 * entries. Returns SP_OK (free with sp_audit_index_free), SP_EFORMAT with
 * err set, SP_ENOMEM.
 */
int sp_audit_index_parse(sp_audit_index *out, const void *json, size_t len, char *err)
    SP_WUR SP_NONNULL(1);
void sp_audit_index_free(sp_audit_index *ix);

/*
 * How the audit reads a tensor (SPEC.md 10.1). sp_audit_model_tensor hands
 * out the tensor as read: a dequantised tensor is F32 (data owned by the
 * model), a bit-cast one carries the float dtype it holds.
 */
enum {
    SP_AUDIT_AS_STORED = 0,  /* a float dtype, or a dtype never compared */
    SP_AUDIT_DEQUANT = 1,    /* I8/U8/F8 times its scale tensor (minus a zero point) */
    SP_AUDIT_INT_VALUES = 2, /* I8/U8 without a scale: the integers, as floats */
    SP_AUDIT_BITCAST = 3     /* an integer dtype holding float bit patterns */
};
typedef struct sp_audit_tinfo {
    int how;
    sp_dtype stored;         /* the dtype in the file */
    const char *scale;       /* DEQUANT: the scale tensor's name */
    const char *zero;        /* DEQUANT: the zero point's name, or NULL */
    const char *unapplied;   /* a scale or zero point found but of no known layout, or NULL */
    const sp_tensor *scale_t, *zero_t;   /* internal, NULL after open */
} sp_audit_tinfo;
/* How tensor i was read (valid until close). */
const sp_audit_tinfo *sp_audit_model_info(const sp_audit_model *m, size_t i) SP_NONNULL(1);
/* "dequantised", "integer values", "bit-cast float", "as stored". */
const char *sp_audit_how_text(int how);
/* float8 e4m3fn and e5m2 bit patterns to float (exact). */
float sp_audit_f8e4m3(uint8_t b);
float sp_audit_f8e5m2(uint8_t b);

/* 1 for the dtypes audit compares (F32, F16, BF16, F64, F8_E4M3, F8_E5M2), else 0. */
int sp_audit_dtype_ok(sp_dtype dt);
/* Converts elements [first, first + n) of t to float (t's dtype must be ok). */
void sp_audit_to_float(float *dst, const sp_tensor *t, uint64_t first, uint64_t n)
    SP_NONNULL(1, 2);
/* IEEE half and bfloat16 bit patterns to float (exact). */
float sp_audit_f16(uint16_t h);
float sp_audit_bf16(uint16_t h);

/* ------------------------------------------------------------ statistics */

/* log10 of the standard normal upper tail P(Z > z), accurate for any z. */
double sp_audit_log10_norm_sf(double z);
/* log10 P(chi-square with 2k degrees of freedom > x), k >= 1, x >= 0. */
double sp_audit_log10_chi2_sf_even(double x, unsigned k);
/* Fisher's method over n log10 p-values: log10 of the combined p. n >= 1. */
double sp_audit_fisher_log10(const double *log10p, size_t n);
/* log10(n!) */
double sp_audit_log10_factorial(uint64_t n);
/* Pearson correlation and cosine of two float vectors (NaN when undefined). */
double sp_audit_pearson(const float *a, const float *b, size_t n);
double sp_audit_cosine(const float *a, const float *b, size_t n);
/* "< 1e-300", "3.2e-12", "0.41": p from log10 p, into out (32 bytes). */
const char *sp_audit_p_text(char *out, double log10p);

/* A statistic with its calibrated null (SPEC.md "Audit statistics"). */
typedef struct sp_audit_stat {
    int valid;          /* 0: not computed or undefined (constant tensor) */
    double value;       /* observed */
    double null_mean;   /* mean under the null */
    double null_sd;     /* standard deviation under the null */
    double z;           /* (value - null_mean) / null_sd */
    double log10p;      /* one-sided upper tail, <= 0 */
} sp_audit_stat;

enum { SP_AUDIT_AXIS_ROWS = 0, SP_AUDIT_AXIS_COLS = 1 };

/* Everything measured for one tensor pair (model tensor a, reference b). */
typedef struct sp_audit_pairstats {
    uint64_t rows, cols;    /* matrix view: shape[0] x rest; vectors rows = n, cols = 1 */
    int matrix;             /* 1 for ndim >= 2 with rows, cols >= 2 */
    int near_constant;      /* a vector sitting near a constant: raw cosine uninformative */
    sp_audit_stat cosine;   /* raw cosine */
    sp_audit_stat pearson;  /* mean-centred Pearson, same alignment */
    int null_axis;          /* axis whose shuffle null was used (the less significant) */
    sp_audit_stat matched;  /* permutation-robust, cross-fitted matched correlation */
    int matched_axis;       /* the axis matched: rows (units = rows) or cols */
    sp_audit_stat exact;    /* exact unit-match count test (small unit counts), value = share */
    sp_audit_stat prop;     /* matched after carrying a permutation found elsewhere */
    int prop_axis;          /* its units axis */
    unsigned prop_tried;    /* permutation candidates tried (Bonferroni) */
    unsigned nlayouts;      /* layouts the pair was tried in (Bonferroni; 0 counts as 1) */
    double log10p;          /* decision p of a matrix pair; 0 for vectors */
} sp_audit_pairstats;

/*
 * Recomputes o->log10p of a matrix pair: Bonferroni over its 4 tests
 * (aligned Pearson, matched, exact, carried permutation, the last itself
 * Bonferroni over its candidates) and its candidate layouts. Vectors: 0.
 */
void sp_audit_decide(sp_audit_pairstats *o) SP_NONNULL(1);

/*
 * The exact unit-match test along one axis: units of a and b (u of them,
 * each `len` floats, row-major) centred and normalised; N = number of units
 * i whose strictly best partner in b is unit i. Under exchangeable units of
 * b, P(N >= k) <= 1/k! (union bound over k-sets), so log10 p = -log10 N!.
 * Returns N; 0 on allocation failure.
 */
uint64_t sp_audit_exact_count(const float *a, const float *b, size_t u, size_t len);

/*
 * Compares tensors a and b of the same shape (both of an ok dtype): raw
 * cosine, Pearson and, for matrices, the matched statistic. seed makes the
 * decoy choice reproducible. Returns SP_OK, SP_EINVAL (shapes differ, dtype
 * not ok), SP_ENOMEM.
 */
int sp_audit_compare(sp_audit_pairstats *out, const sp_tensor *a, const sp_tensor *b,
                     uint64_t seed) SP_WUR SP_NONNULL(1, 2, 3);

/*
 * The shuffle null of T = sum_ij A_ij B_ij under a uniformly random
 * permutation of B's rows (Hoeffding's combinatorial CLT). A and B are r x c
 * floats, row-major. Exact; O(r^2 c). Used by the tests to check the
 * streamed estimate in sp_audit_compare.
 */
void sp_audit_row_shuffle_null(double *mean, double *var, const float *A, const float *B,
                               size_t r, size_t c) SP_NONNULL(1, 2, 3, 4);

/* ------------------------------------------------------------ matching */

/*
 * For each of the s rows of X (s x m, row-major) the index of the row of Y
 * (n x m) with the highest Pearson correlation; rows are centred and scaled
 * here, constant rows score 0. When exclude is not NULL, row exclude[i] of Y
 * is not a candidate for row i of X (a model matched against itself).
 * best[i] in [0, n). O(s n m). Returns SP_OK, SP_EINVAL, SP_ENOMEM.
 */
int sp_audit_match_rows(uint32_t *best, const float *X, size_t s, const float *Y, size_t n,
                        size_t m, const uint64_t *exclude) SP_WUR SP_NONNULL(1, 2, 4);
/* The same on one code path: lanes 4 the SSE2 one, 8 the AVX one (SP_EINVAL when the CPU
 * lacks AVX), 0 the best the CPU has. Every path gives the same best[] (tests). */
int sp_audit_match_rows_lanes(unsigned lanes, uint32_t *best, const float *X, size_t s, const float *Y,
                              size_t n, size_t m, const uint64_t *exclude);

/*
 * sp_audit_match_rows on rows already standardised (audit_argmax.c): best[i] is the first
 * j (not exclude[i]) with the largest sp_dot(x_i, y_j) (NaN never wins). lanes as above.
 * probe[i] (or NULL: i) is the likely best of row i: a hint that lets the AVX path skip
 * candidates that provably cannot win, never a change of the result. Returns SP_OK
 * (always for lanes 0), or SP_EINVAL for lanes 8 on a CPU without AVX.
 */
int sp_audit_argmax_lanes(unsigned lanes, uint32_t *best, const float *x, size_t s, const float *y,
                          size_t n, size_t m, const uint64_t *exclude, const uint64_t *probe);

/*
 * The matched statistic for matrices a, b (r x c view) along one axis:
 * units along `axis` are matched on one half of the other axis and their
 * correlation is measured on the other half; the null baseline is each
 * model's units matched among themselves the same way (SPEC.md).
 * mean_a/mean_b (one per feature), when not NULL, are subtracted from
 * every unit first; sp_audit_compare passes NULL. seed drives the decoys.
 * Returns SP_OK, SP_ENOMEM; out->valid is 0 when there are fewer than 32
 * units or 16 features.
 */
int sp_audit_matched(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b,
                     uint64_t r, uint64_t c, int axis, const double *mean_a,
                     const double *mean_b, uint64_t seed) SP_WUR;

/*
 * The matched statistic with b's features re-indexed: feature f of a is
 * compared with feature fmap_b[f] of b (fmap_b has as many entries as the
 * feature axis; NULL is the identity). When unit_map is not NULL (one entry
 * per unit of a) and the unit count allows (units^2 * matching features <=
 * 2^33), every unit of a is matched to its best unit of b on the matching
 * features and *have_map is set to 1. out NULL: only the map (the same one), no
 * statistic. Returns SP_OK, SP_ENOMEM.
 */
int sp_audit_matched_map(sp_audit_stat *out, const sp_tensor *a, const sp_tensor *b,
                         uint64_t r, uint64_t c, int axis, const uint64_t *fmap_b,
                         uint32_t *unit_map, int *have_map, uint64_t seed) SP_WUR;

/*
 * The matched statistic, units along rows, when a has ra rows and b has rb
 * (a is a row slice of the model's matrix, b the whole reference matrix),
 * c columns each, b's features re-indexed by fmap_b (NULL: identity).
 */
int sp_audit_matched_rows_of(sp_audit_stat *out, const sp_tensor *a, uint64_t ra, const sp_tensor *b,
                             uint64_t rb, uint64_t c, const uint64_t *fmap_b, uint64_t seed) SP_WUR;

/* Cheap content signature of a tensor for pairing renamed tensors. */
#define SP_AUDIT_SIG 12
typedef struct sp_audit_sig {
    double v[SP_AUDIT_SIG];  /* mean, sd, standardised quantiles */
} sp_audit_sig;
void sp_audit_signature(sp_audit_sig *out, const sp_tensor *t) SP_NONNULL(1, 2);
double sp_audit_sig_distance(const sp_audit_sig *x, const sp_audit_sig *y) SP_NONNULL(1, 2);

/* ------------------------------------------------------------ fixed tensors */

enum {
    SP_AUDIT_FIXED_NONE = 0,
    SP_AUDIT_FIXED_FEW_VALUES,      /* at most 4 distinct values: a mask, an indicator */
    SP_AUDIT_FIXED_IDENTICAL,       /* every row (or every column) the same */
    SP_AUDIT_FIXED_SINUSOID,        /* rows or columns are sampled sinusoids: DFT, positions */
    SP_AUDIT_FIXED_PIECEWISE        /* rows or columns piecewise linear: mel/triangle filters */
};
/* The kind of untrained constant matrix t is, or SP_AUDIT_FIXED_NONE. */
int sp_audit_fixed_kind(const sp_tensor *t) SP_NONNULL(1);
/* "causal mask or indicator (few distinct values)", ... ; "" for NONE. */
const char *sp_audit_fixed_text(int kind);

/* ------------------------------------------------------------ runs */

#define SP_AUDIT_DEFAULT_ALPHA 1e-6

/* Layouts a pair can be found in (sp_audit_pair.layout). */
enum {
    SP_AUDIT_LAYOUT_SAME = 0,
    SP_AUDIT_LAYOUT_AXES,       /* b's axes permuted (transpose, OHWI, HWIO) */
    SP_AUDIT_LAYOUT_SLICE,      /* a is rows [lo, hi) of a fused b (QKV, gate/up) */
    SP_AUDIT_LAYOUT_STACK       /* a is fused; b and nstack - 1 others stacked are its rows */
};
#define SP_AUDIT_STACK_MAX 8
#define SP_AUDIT_LAYOUTS_MAX 24

/* One paired tensor. */
#define SP_AUDIT_FROM_MAX (SP_NAME_MAX + 16)

typedef struct sp_audit_pair {
    const sp_tensor *a;     /* in the audited model */
    const sp_tensor *b;     /* in the reference, or NULL when unpaired */
    int by_content;         /* paired by shape and content, not by name */
    size_t component;       /* index into the components */
    int fixed;              /* SP_AUDIT_FIXED_* of a: shown, never deciding */
    int layout;             /* SP_AUDIT_LAYOUT_* */
    uint8_t axes[SP_MAX_DIMS];      /* AXES: axis k of a is axis axes[k] of b */
    unsigned nlayouts;      /* candidate layouts, tried in order (Bonferroni) */
    uint8_t cand[SP_AUDIT_LAYOUTS_MAX][SP_MAX_DIMS];  /* the candidate axis orders */
    uint64_t slice_lo, slice_hi;    /* SLICE: rows of b */
    size_t nstack;          /* STACK: tensors of the reference stacked */
    const sp_tensor *stack[SP_AUDIT_STACK_MAX];
    sp_tensor view;         /* b as compared (a's shape), when layout != SAME */
    float *owned;           /* materialised data of view, or NULL */
    const sp_tensor *cmp;   /* what a is compared with: b or &view */
    int swapped;            /* AXES: a re-laid in b's axis order instead (b's is the usual one) */
    sp_tensor aview;        /* a as compared when swapped */
    float *aowned;
    const sp_tensor *acmp;  /* a or &aview */
    char *prop_from;        /* "head.weight cols": where a carried permutation came from; NULL
                             * when none (heap, SP_AUDIT_FROM_MAX bytes, freed with the result:
                             * a million pairs do not each carry a name buffer) */
    double unpermuted;      /* share of the units the permutation found left in place */
    sp_audit_pairstats st;
} sp_audit_pair;

/* A component's verdict against one reference. */
typedef struct sp_audit_comp_ref {
    double log10p;          /* Fisher over its matrix pairs; 0 when none */
    int n_matrices;         /* matrix pairs that decided */
    int n_vectors;
    int n_fixed;            /* fixed (untrained) matrices: shown, never deciding */
    int derived;
} sp_audit_comp_ref;

typedef struct sp_audit_component {
    char *name;             /* "fc1" (tensors "fc1.*") */
    uint64_t params;        /* elements of the model's tensors in it */
    double share;           /* params / all of the model's parameters */
    sp_audit_comp_ref *ref; /* one per reference */
    int derived;            /* derived from some reference */
    size_t best_ref;        /* the reference with the smallest p */
    char reason[SP_NAME_MAX + 160]; /* one line, plain language, why the verdict */
} sp_audit_component;

typedef struct sp_audit_refres {
    const char *path;
    sp_audit_model *model;
    size_t npairs;          /* = the audited model's tensor count */
    sp_audit_pair *pairs;
    size_t paired, by_content;
    double log10p;          /* model level against this reference */
    int derived;
} sp_audit_refres;

typedef struct sp_audit_result {
    const char *path;
    sp_audit_model *model;
    uint64_t params;
    size_t ncomp;
    sp_audit_component *comp;
    size_t nref;
    sp_audit_refres *ref;
    double alpha;
    size_t ntests;          /* informative (component, reference) tests, for Bonferroni */
    double log10p;          /* model level: Bonferroni over all tests */
    int derived;
    /* fail closed: matrix parameters (fixed ones excepted) compared with some reference */
    uint64_t matrix_params, compared_params;
    uint64_t uncompared_no_pair, uncompared_dtype, uncompared_layout;
    double compared_share;
    int inconclusive;       /* not derived and compared_share < 0.5 */
    const struct sp_audit_prov *prov;  /* set by the caller for the reports, or NULL */
    unsigned threads;       /* the options' threads (0: all CPUs), for the JSON report */
} sp_audit_result;

/* What a reader cites (SPEC.md 10.6): the tool, the date, each input file's digests. */
typedef struct sp_audit_prov_file {
    const char *path;        /* as opened (untrusted: reports escape it) */
    const char *role;        /* "model" or "reference N" */
    char sha256[65], blake2b[65];   /* lower-case hex of SHA-256 and BLAKE2b-256 */
} sp_audit_prov_file;
typedef struct sp_audit_prov {
    const char *tool;        /* "scratchproof 0.1.0" */
    char date[32];           /* ISO 8601 UTC; SOURCE_DATE_EPOCH when set */
    size_t nfiles;
    sp_audit_prov_file *files;
    char roles[65][16];
} sp_audit_prov;
/*
 * Digests every file of model and refs[0..n) (n <= 64) by reading it once,
 * reporting each file's bytes through pg (what "hashing PATH"; NULL: none). Returns SP_OK, SP_EIO (err names the file), SP_ENOMEM. Free with
 * sp_audit_prov_free.
 */
int sp_audit_prov_make(sp_audit_prov *pv, const char *tool, const sp_audit_model *model,
                       sp_audit_model *const *refs, size_t n, char *err, const sp_progress *pg)
    SP_WUR SP_NONNULL(1, 2, 3);
void sp_audit_prov_free(sp_audit_prov *pv);

typedef struct sp_audit_options {
    double alpha;           /* family-wise level for "derived", default 1e-6 */
    unsigned threads;       /* 0: all online CPUs */
    unsigned depth;         /* 0: automatic component names */
    const char *const *prefixes;   /* explicit component prefixes */
    size_t nprefixes;
    /* progress of the comparison and the carried permutations, in bytes of the model's
     * tensors (what "comparing", "permutations"); NULL: none. Called on the caller's thread. */
    const sp_progress *progress;
} sp_audit_options;

/*
 * Audits a model against n references (already opened; ownership stays with
 * the caller). res is filled; free with sp_audit_result_free. Returns SP_OK,
 * SP_EINVAL, SP_ENOMEM.
 */
int sp_audit_run(sp_audit_result *res, const char *model_path, sp_audit_model *model,
                 const char *const *ref_paths, sp_audit_model *const *refs, size_t n,
                 const sp_audit_options *opt) SP_WUR SP_NONNULL(1, 2, 3, 7);
void sp_audit_result_free(sp_audit_result *res);

/* The component name of a tensor name under the default rule (into out, SP_NAME_MAX+1). */
void sp_audit_component_name(char *out, const char *tensor, unsigned depth) SP_NONNULL(1, 2);

/* ------------------------------------------------------------ internal to audit_run.c */

/*
 * Pairs the still unpaired tensors of rr->pairs (model m) up to a layout
 * change (audit_layout.c): same elements in another axis order, a slice of
 * a fused reference tensor, or several reference tensors stacked. used[j]
 * marks reference tensors already taken. Returns SP_OK or SP_ENOMEM.
 */
int sp_audit_layout_pair(sp_audit_refres *rr, const sp_audit_model *m, char *used) SP_WUR;
/* Before content pairing: same name, shape a permutation of the reference's (a transposed Linear). */
int sp_audit_layout_pair_names(sp_audit_refres *rr, const sp_audit_model *m, char *used) SP_WUR;
/*
 * 1 when both names carry layer numbers and share none ("layers.3.ln" and
 * "blocks.5.norm"), else 0: content pairing prefers tensors of the same
 * layer, so that near-identical tensors of different layers are not crossed.
 */
double sp_audit_layer_penalty(const char *x, const char *y) SP_NONNULL(1, 2);
/* Every candidate axis order of a pair (the identity first when shapes are equal). */
void sp_audit_layout_candidates(sp_audit_pair *p) SP_NONNULL(1);
/* Makes p->view (and p->owned) for candidate axis order k; SP_OK, SP_ENOMEM. */
int sp_audit_layout_view(sp_audit_pair *p, unsigned k) SP_WUR SP_NONNULL(1);
/* A one-line description of a pair's layout ("" for the same layout). */
void sp_audit_layout_text(char *out, size_t len, const sp_audit_pair *p) SP_NONNULL(1, 3);

/*
 * Carries hidden-unit permutations through the network (audit_perm.c): a
 * permutation found on one matrix's axis is tried as the alignment of every
 * other matrix's axis of that size (or a block of it), rounds until nothing
 * new is found; fills st.prop of the pairs and re-decides them. The maps of the
 * first round and the lone matrices are computed on threads (0: all CPUs), the maps
 * taken in pair order, so results do not depend on the thread count; pg (or NULL)
 * reports the first round's maps in bytes of the model's tensors.
 */
int sp_audit_propagate(sp_audit_refres *rr, size_t ref_index, unsigned threads, const sp_progress *pg)
    SP_WUR SP_NONNULL(1);

/* threads, or all online CPUs when 0 (audit_par.c). */
unsigned sp_audit_threads(unsigned threads);

/*
 * Runs fn(ctx, i) for every i in [0, n) on up to threads threads (0: all CPUs) of the
 * pool (audit_par.c). The items must be independent: each writes only its own results.
 * Progress, when pg is not NULL, counts weight[i] (or 1) per finished item from pg->base,
 * reported on the calling thread, at the start and once more at the end. Returns SP_OK or the first
 * failure of fn (remaining items are then skipped).
 */
int sp_audit_par_for(size_t n, unsigned threads, int (*fn)(void *ctx, size_t i), void *ctx,
                     const uint64_t *weight, const sp_progress *pg) SP_WUR;

/* Natural order of names: digit runs compare as numbers ("l.2" < "l.10"), the rest bytewise. */
int sp_audit_natcmp(const char *a, const char *b) SP_NONNULL(1, 2);

/* Why pair p of rr found no partner, in plain words (one line, into out). */
void sp_audit_unpaired_reason(char *out, size_t len, const sp_audit_refres *rr, const sp_audit_pair *p)
    SP_NONNULL(1, 3, 4);

/* Reports. Return 0, or -1 when writing failed. */
int sp_audit_report_text(FILE *f, const sp_audit_result *res) SP_NONNULL(1, 2);
int sp_audit_report_json(FILE *f, const sp_audit_result *res) SP_NONNULL(1, 2);
int sp_audit_report_html(FILE *f, const sp_audit_result *res) SP_NONNULL(1, 2);

#endif
