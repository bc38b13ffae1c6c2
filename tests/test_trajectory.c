/*
 * test_trajectory.c - segment deltas and trajectory screening
 * (verify/replay/delta.c, trajectory.c; SPEC.md 12, 13): moments on small
 * vectors with known answers, block merging against a one-shot long-double
 * reference, dtype conversion, genesis tensors regenerated block by block
 * against sp_init_fill of the whole tensor, a segment with known norms (the
 * same numbers on one and two threads), and the screening rule.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "delta.h"
#include "init.h"
#include "safetensors.h"
#include "trajectory.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))
#define REL(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol) * fabs((double)(b)))

static uint64_t rng_state = 7;
static double urand(void)   /* splitmix64 -> [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static sp_tensor vec(const char *name, sp_dtype dt, const void *data, uint64_t n)
{
    sp_tensor t = {name, dt, 1, {n}, data, n * sp_dtype_size(dt)};
    return t;
}

/* ------------------------------------------------------------ moments */

static void test_moments_known(void **state)
{
    (void)state;
    const float x[] = {1, 2, 3, 4}, y[] = {2, 4, 6, 8}, r[] = {4, 3, 2, 1};
    sp_moments m = {0};
    sp_moments_add(&m, x, y, 4);
    NEAR(sp_moments_dist(&m), sqrt(30.0), 1e-12);
    NEAR(sp_moments_norm_x(&m), sqrt(30.0), 1e-12);
    NEAR(sp_moments_norm_y(&m), sqrt(120.0), 1e-12);
    NEAR(sp_moments_pearson(&m), 1.0, 1e-15);
    sp_moments q = {0};
    sp_moments_add(&q, x, r, 4);
    NEAR(sp_moments_dist(&q), sqrt(20.0), 1e-12);
    NEAR(sp_moments_pearson(&q), -1.0, 1e-15);
    /* the same vectors in two blocks */
    sp_moments s = {0};
    sp_moments_add(&s, x, r, 1);
    sp_moments_add(&s, x + 1, r + 1, 3);
    NEAR(sp_moments_dist(&s), sqrt(20.0), 1e-12);
    NEAR(sp_moments_pearson(&s), -1.0, 1e-15);
    NEAR(s.mx, 2.5, 1e-15);
    NEAR(s.cxx, 5.0, 1e-12);
    NEAR(s.cxy, -5.0, 1e-12);
}

static void test_moments_constant(void **state)
{
    (void)state;
    float c[5000], y[5000];
    for (int i = 0; i < 5000; i++) {
        c[i] = 1.0f;
        y[i] = (float)urand();
    }
    sp_moments m = {0};
    for (int k = 0; k < 5000; k += 1000)
        sp_moments_add(&m, c + k, y + k, 1000);
    assert_true(m.cxx == 0.0);            /* exactly: each block centred on its mean */
    assert_true(isnan(sp_moments_pearson(&m)));
    NEAR(sp_moments_norm_x(&m), sqrt(5000.0), 1e-9);
}

/* Blocks of uneven sizes merged = one pass in long double. */
static void test_moments_merge(void **state)
{
    (void)state;
    enum { N = 10007 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(3.0 + urand());
        y[i] = (float)(0.5 * x[i] + urand() - 0.2);
    }
    long double sx = 0, sy = 0;
    for (int i = 0; i < N; i++) {
        sx += x[i];
        sy += y[i];
    }
    long double mx = sx / N, my = sy / N, cxx = 0, cyy = 0, cxy = 0, dd = 0;
    for (int i = 0; i < N; i++) {
        cxx += (x[i] - mx) * (x[i] - mx);
        cyy += (y[i] - my) * (y[i] - my);
        cxy += (x[i] - mx) * (y[i] - my);
        dd += ((long double)y[i] - x[i]) * ((long double)y[i] - x[i]);
    }
    const size_t cuts[] = {0, 1, 4097, 4100, 9000, N};
    sp_moments m = {0};
    for (size_t k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; k++)
        sp_moments_add(&m, x + cuts[k], y + cuts[k], cuts[k + 1] - cuts[k]);
    REL(m.n, N, 0);
    REL(m.mx, mx, 1e-14);
    REL(m.cxx, cxx, 1e-12);
    REL(m.cyy, cyy, 1e-12);
    REL(m.cxy, cxy, 1e-12);
    REL(m.dd, dd, 1e-12);
    REL(sp_moments_pearson(&m), cxy / sqrtl(cxx * cyy), 1e-12);
    free(x);
    free(y);
}

/* ------------------------------------------------------------ sources */

static void test_src_dtypes(void **state)
{
    (void)state;
    const uint16_t h[] = {0x3C00, 0xC000, 0x3800};   /* F16 1, -2, 0.5 */
    const uint16_t b[] = {0x3F80, 0xC040};           /* BF16 1, -3 */
    const double d[] = {1.5, -2.25};
    const int32_t i32[] = {1, 2};
    sp_tensor th = vec("h", SP_DTYPE_F16, h, 3), tb = vec("b", SP_DTYPE_BF16, b, 2),
              td = vec("d", SP_DTYPE_F64, d, 2), ti = vec("i", SP_DTYPE_I32, i32, 2);
    sp_src s;
    float out[4];
    assert_int_equal(sp_src_tensor(&s, &th), SP_OK);
    assert_int_equal(s.numel, 3);
    assert_int_equal(sp_src_read(&s, out, 0, 3), SP_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.5f);
    assert_int_equal(sp_src_read(&s, out, 1, 2), SP_OK);
    assert_true(out[0] == -2.0f && out[1] == 0.5f);
    assert_int_equal(sp_src_read(&s, out, 2, 2), SP_ERANGE);
    assert_int_equal(sp_src_read(&s, out, 4, 0), SP_ERANGE);
    assert_int_equal(sp_src_tensor(&s, &tb), SP_OK);
    assert_int_equal(sp_src_read(&s, out, 0, 2), SP_OK);
    assert_true(out[0] == 1.0f && out[1] == -3.0f);
    assert_int_equal(sp_src_tensor(&s, &td), SP_OK);
    assert_int_equal(sp_src_read(&s, out, 0, 2), SP_OK);
    assert_true(out[0] == 1.5f && out[1] == -2.25f);
    assert_int_equal(sp_src_tensor(&s, &ti), SP_EUNSUPPORTED);
    sp_tensor bad = th;
    bad.nbytes = 4;                       /* does not match the shape */
    assert_int_equal(sp_src_tensor(&s, &bad), SP_EINVAL);
    /* zeros in the shape of another source; ||A - 0|| = ||A|| */
    sp_src a, z;
    assert_int_equal(sp_src_tensor(&a, &td), SP_OK);
    sp_src_zeros(&z, &a);
    sp_moments m;
    assert_int_equal(sp_delta_pair(&m, &z, &a), SP_OK);
    NEAR(sp_moments_dist(&m), sqrt(1.5 * 1.5 + 2.25 * 2.25), 1e-12);
    NEAR(sp_moments_norm_x(&m), 0.0, 0);
    assert_int_equal(sp_src_tensor(&s, &td), SP_OK);
    assert_int_equal(sp_delta_pair(&m, &a, &s), SP_OK);                /* both [2] */
    NEAR(sp_moments_dist(&m), 0.0, 0);
    sp_src h3;
    assert_int_equal(sp_src_tensor(&h3, &th), SP_OK);
    assert_int_equal(sp_delta_pair(&m, &a, &h3), SP_EINVAL);           /* [2] vs [3] */
}

/* ------------------------------------------------------------ a run */

typedef struct fixture {
    Sp__Record rec;
    Sp__Genesis gen;
    Sp__TensorDigest td[5];
    Sp__TensorDigest *tdp[5];
    Sp__InitScheme sch[5];
    double params[5][4];
    uint64_t shapes[5][2];
    sp_point pts[2];
    sp_run_table tab;
    sp_weight_file wf;
    char path[64];
} fixture;

enum { A_W, B_W, C_B, D_EXT, E_W, NT };
#define E_ROWS 2500u
#define E_COLS 1000u

static void tensor_def(fixture *f, int i, const char *name, sp_dtype dt, uint32_t ndim,
                       uint64_t r, uint64_t c, sp_init_kind kind, double p0, double p1)
{
    Sp__TensorDigest *t = &f->td[i];
    sp__tensor_digest__init(t);
    sp__init_scheme__init(&f->sch[i]);
    t->name = (char *)name;
    t->dtype = dt;
    f->shapes[i][0] = r;
    f->shapes[i][1] = c;
    t->n_shape = ndim;
    t->shape = f->shapes[i];
    f->params[i][0] = p0;
    f->params[i][1] = p1;
    f->sch[i].kind = kind;
    f->sch[i].n_params = 4;
    f->sch[i].params = f->params[i];
    t->init = &f->sch[i];
    f->tdp[i] = t;
}

/* The genesis tensor i as float, whole, straight from sp_init_fill. */
static float *genesis_whole(const fixture *f, int i, uint64_t n)
{
    sp_init_scheme s;
    sp_record_scheme(&s, &f->td[i]);
    size_t es = sp_dtype_size((sp_dtype)f->td[i].dtype);
    void *raw = malloc(n * es);
    float *out = malloc(n * sizeof *out);
    assert_non_null(raw);
    assert_non_null(out);
    assert_int_equal(sp_init_fill(raw, (sp_dtype)f->td[i].dtype, f->td[i].name, f->gen.seed, &s, 0, n),
                     SP_OK);
    for (uint64_t k = 0; k < n; k++) {
        uint16_t h;
        if (es == 4) {
            memcpy(&out[k], (char *)raw + 4 * k, 4);
        } else {
            memcpy(&h, (char *)raw + 2 * k, 2);
            out[k] = f->td[i].dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(h) : sp_f16_to_f32(h);
        }
    }
    free(raw);
    return out;
}

static int fixture_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tensor_def(f, A_W, "a.weight", SP_DTYPE_F32, 2, 300, 50, SP_INIT_NORMAL, 0, 0.02);
    tensor_def(f, B_W, "b.weight", SP_DTYPE_BF16, 1, 5000, 0, SP_INIT_UNIFORM, -1, 1);
    tensor_def(f, C_B, "c.bias", SP_DTYPE_F32, 1, 10, 0, SP_INIT_ZEROS, 0, 0);
    tensor_def(f, D_EXT, "d.ext", SP_DTYPE_F32, 1, 4, 0, SP_INIT_EXTERNAL, 0, 0);
    tensor_def(f, E_W, "e.weight", SP_DTYPE_F16, 2, E_ROWS, E_COLS, SP_INIT_NORMAL, 0, 1);
    sp__genesis__init(&f->gen);
    f->gen.seed = 1234;
    f->gen.n_tensors = NT;
    f->gen.tensors = f->tdp;
    sp__record__init(&f->rec);
    f->rec.body_case = SP__RECORD__BODY_GENESIS;
    f->rec.genesis = &f->gen;

    /* the checkpoint: a = 2 g, b = g (as F32), c = (3, 4, 0...), d = 1, e = g + 0.5 */
    uint64_t n[NT] = {300 * 50, 5000, 10, 4, (uint64_t)E_ROWS * E_COLS};
    float *data[NT];
    sp_tensor t[NT];
    for (int i = 0; i < NT; i++) {
        data[i] = i == D_EXT || i == C_B ? calloc(n[i], sizeof(float)) : genesis_whole(f, i, n[i]);
        assert_non_null(data[i]);
        t[i] = (sp_tensor){f->td[i].name, SP_DTYPE_F32, f->td[i].n_shape,
                           {f->shapes[i][0], f->shapes[i][1]}, data[i], n[i] * sizeof(float)};
    }
    for (uint64_t k = 0; k < n[A_W]; k++)
        data[A_W][k] *= 2;
    data[C_B][0] = 3;
    data[C_B][1] = 4;
    for (uint64_t k = 0; k < n[D_EXT]; k++)
        data[D_EXT][k] = 1;
    for (uint64_t k = 0; k < n[E_W]; k++)
        data[E_W][k] += 0.5f;
    snprintf(f->path, sizeof f->path, "/tmp/test_trajectory.%ld.safetensors", (long)getpid());
    assert_int_equal(sp_st_write(f->path, t, NT, NULL, 0), SP_OK);
    for (int i = 0; i < NT; i++)
        free(data[i]);
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_weight_file_load(&f->wf, f->path, 1, err), SP_OK);
    f->pts[0] = (sp_point){.kind = SP_POINT_GENESIS, .rec = &f->rec};
    f->pts[1] = (sp_point){.seq = 1, .kind = SP_POINT_CHECKPOINT, .step = 10, .weights = &f->wf};
    f->tab = (sp_run_table){.genesis = &f->rec, .pts = f->pts, .n = 2, .batches_per_step = 1};
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture *f = *state;
    sp_weight_file_free(&f->wf);
    unlink(f->path);
    free(f);
    return 0;
}

/* Genesis tensors regenerated block by block equal the whole tensor. */
static void test_src_genesis(void **state)
{
    fixture *f = *state;
    sp_src s;
    for (int i = A_W; i <= B_W; i++) {
        uint64_t n = f->shapes[i][0] * (f->shapes[i][1] ? f->shapes[i][1] : 1);
        float *want = genesis_whole(f, i, n), *got = malloc(n * sizeof *got);
        assert_non_null(got);
        assert_int_equal(sp_src_point(&s, &f->tab, 0, f->td[i].name), SP_OK);
        assert_int_equal(s.kind, SP_SRC_GENESIS);
        assert_int_equal(s.numel, n);
        for (uint64_t k = 0; k < n; k += 777)
            assert_int_equal(sp_src_read(&s, got + k, k, n - k < 777 ? n - k : 777), SP_OK);
        assert_memory_equal(got, want, n * sizeof *got);
        free(want);
        free(got);
    }
    assert_int_equal(sp_src_point(&s, &f->tab, 0, "d.ext"), SP_EUNSUPPORTED);
    assert_int_equal(sp_src_point(&s, &f->tab, 0, "nope"), SP_ENOTFOUND);
    assert_int_equal(sp_src_point(&s, &f->tab, 2, "a.weight"), SP_EINVAL);
    assert_int_equal(sp_src_point(&s, &f->tab, 1, "d.ext"), SP_OK);       /* in the file */
    assert_int_equal(s.kind, SP_SRC_TENSOR);
    f->pts[1].weights = NULL;
    assert_int_equal(sp_src_point(&s, &f->tab, 1, "a.weight"), SP_ENOTFOUND);
    f->pts[1].weights = &f->wf;
}

static void test_segment_known(void **state)
{
    fixture *f = *state;
    sp_tensor_delta d1[NT], d2[NT];
    assert_int_equal(sp_delta_segment(d1, &f->tab, 0, 1), SP_OK);
    assert_int_equal(sp_delta_segment(d2, &f->tab, 0, 2), SP_OK);
    assert_int_equal(sp_delta_segment(d2, &f->tab, 1, 2), SP_EINVAL);
    assert_int_equal(sp_delta_segment(d2, &f->tab, 0, 2), SP_OK);
    /* a = 2 g: ||a - g|| = ||g||, ||a|| = 2 ||g||, corr 1 */
    assert_int_equal(d1[A_W].rc, SP_OK);
    assert_string_equal(d1[A_W].name, "a.weight");
    assert_int_equal(d1[A_W].numel, 15000);
    REL(d1[A_W].diff, d1[A_W].start, 1e-12);
    REL(d1[A_W].end, 2 * d1[A_W].start, 1e-12);
    NEAR(d1[A_W].pearson, 1.0, 1e-12);
    /* N(0, 0.02): ||g|| near 0.02 sqrt(15000) */
    REL(d1[A_W].start, 0.02 * sqrt(15000.0), 0.03);
    /* b: the bf16 genesis written as F32 unchanged */
    assert_true(d1[B_W].diff == 0.0);
    NEAR(d1[B_W].pearson, 1.0, 1e-12);
    REL(d1[B_W].start, sqrt(5000.0 / 3), 0.03);                 /* U(-1, 1): E x^2 = 1/3 */
    /* c: zeros -> (3, 4, 0, ...) */
    NEAR(d1[C_B].diff, 5.0, 1e-12);
    NEAR(d1[C_B].start, 0.0, 0);
    NEAR(d1[C_B].end, 5.0, 1e-12);
    assert_true(isnan(d1[C_B].pearson));
    /* d: external at the genesis */
    assert_int_equal(d1[D_EXT].rc, SP_EUNSUPPORTED);
    /* e = g + 0.5 over several pieces: ||e - g|| = 0.5 sqrt(n) (f16 g + 0.5 exact in f32) */
    double n = (double)E_ROWS * E_COLS;
    REL(d1[E_W].diff, 0.5 * sqrt(n), 1e-12);
    NEAR(d1[E_W].pearson, 1.0, 1e-9);
    REL(d1[E_W].start, sqrt(n), 0.01);
    /* the same numbers on any thread count */
    for (int i = 0; i < NT; i++) {
        assert_int_equal(d1[i].rc, d2[i].rc);
        assert_true(d1[i].diff == d2[i].diff && d1[i].start == d2[i].start && d1[i].end == d2[i].end);
    }
}


/* ------------------------------------------------------------ the rule */

/* A component's segments: every one `steps` long, update rel[s], correlation with the genesis cg[s]. */
static void segs(sp_traj_seg *v, size_t n, const double *rel, const double *cg, double sqrt_n)
{
    for (size_t s = 0; s < n; s++) {
        memset(&v[s], 0, sizeof v[s]);
        v[s].ok = 1;
        v[s].gen_ok = 1;
        v[s].steps = 50;
        v[s].rel = rel[s];
        v[s].upd = rel[s] * 10;
        v[s].corr_gen = cg[s];
        v[s].z_gen = cg[s] * sqrt_n;
    }
}

/* tinytrain-like: a big first update, then a slow decay; the trace decays smoothly */
static const double honest_rel[] = {0.75, 0.22, 0.14, 0.125, 0.11, 0.106, 0.1, 0.098};
static const double honest_cg[] = {0.80, 0.77, 0.755, 0.745, 0.736, 0.729, 0.723, 0.718};
#define NH (sizeof honest_rel / sizeof honest_rel[0])

static void test_rule_honest(void **state)
{
    (void)state;
    sp_traj_seg v[NH];
    sp_traj_comp c = {0};
    segs(v, NH, honest_rel, honest_cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
    assert_true(c.have_history);
    assert_true(isnan(v[0].ratio));                 /* the first segment has no history */
    for (size_t s = 1; s < NH; s++) {
        assert_true(v[s].ratio > 0.5 && v[s].ratio < 2.5);
        assert_true(v[s].kept > 0.95 && v[s].kept <= 1.0);
    }
    NEAR(v[0].kept, 0.80, 1e-12);
    /* an empty final segment is never judged */
    v[NH - 1].steps = 0;
    v[NH - 1].upd = v[NH - 1].rel = 0;
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
    assert_true(isnan(v[NH - 1].ratio));
}

static void test_rule_jump(void **state)
{
    (void)state;
    double rel[NH], cg[NH];
    memcpy(rel, honest_rel, sizeof rel);
    memcpy(cg, honest_cg, sizeof cg);
    rel[4] = 1.2;                                   /* 11x its neighbours */
    sp_traj_seg v[NH];
    sp_traj_comp c = {0};
    segs(v, NH, rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 1);
    assert_true(v[4].jump && !v[4].lost);
    assert_true(v[4].ratio > 8 && v[4].robust_z >= SP_TRAJ_JUMP_Z);
    /* just under the ratio: not a jump */
    rel[4] = 0.115 * (SP_TRAJ_JUMP_RATIO - 0.5);
    segs(v, NH, rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
    /* too few segments for a history: rule 1 is silent, never wrong */
    rel[2] = 1.2;
    segs(v, 3, rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, 3, 360), 0);
    assert_false(c.have_history);
    /* a segment that cannot be read is left out, not a jump */
    segs(v, NH, honest_rel, honest_cg, 360);
    v[3].ok = 0;
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
}

static void test_rule_lost(void **state)
{
    (void)state;
    double cg[NH];
    sp_traj_seg v[NH];
    sp_traj_comp c = {0};
    /* (a) another model from the first checkpoint: nothing of the genesis left */
    for (size_t s = 0; s < NH; s++)
        cg[s] = 0.003;
    segs(v, NH, honest_rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 1);
    assert_true(v[0].lost);
    assert_true(isnan(v[1].kept));                  /* no trace to lose any more */
    /* (b) a component swapped at segment 4, training brings back a little */
    memcpy(cg, honest_cg, sizeof cg);
    cg[4] = 0.24;
    cg[5] = cg[6] = cg[7] = 0.25;
    segs(v, NH, honest_rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 1);
    assert_true(v[4].lost);
    NEAR(v[4].kept, 0.24 / 0.745, 1e-12);
    /* (c) a trace that decays fast but steadily, then vanishes: the last segment */
    const double fade[] = {0.96, 0.82, 0.59, 0.34, 0.14, 0.0};
    segs(v, 6, honest_rel, fade, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, 6, 360), 1);
    assert_true(v[5].lost);
    /* the same fade on a small matrix, where 0.14 was never strongly measurable: silent */
    segs(v, 6, honest_rel, fade, 100);
    assert_int_equal(sp_trajectory_rule(&c, v, 6, 100), 0);
    /* a first segment keeping a third of the trace is not lost */
    memcpy(cg, honest_cg, sizeof cg);
    cg[0] = 0.34;
    for (size_t s = 1; s < NH; s++)
        cg[s] = 0.34 - 0.005 * (double)s;
    segs(v, NH, honest_rel, cg, 360);
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
    /* a genesis that cannot be regenerated: no trace to follow */
    segs(v, NH, honest_rel, honest_cg, 360);
    for (size_t s = 0; s < NH; s++)
        v[s].gen_ok = 0;
    v[3].corr_gen = 0;
    assert_int_equal(sp_trajectory_rule(&c, v, NH, 360), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments_known),
        cmocka_unit_test(test_moments_constant),
        cmocka_unit_test(test_moments_merge),
        cmocka_unit_test(test_src_dtypes),
        cmocka_unit_test_setup_teardown(test_src_genesis, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_segment_known, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_rule_honest),
        cmocka_unit_test(test_rule_jump),
        cmocka_unit_test(test_rule_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
