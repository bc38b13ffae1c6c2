/*
 * test_audit_perm.c - the permutation-, layout- and constant-aware parts of
 * `scratchproof audit` (SPEC.md 10.2-10.4): the exact unit-match test and
 * its bound, the matched statistic with re-indexed features and the full
 * unit map (a matrix permuted on both axes), untrained-constant detection
 * (DFT, sinusoid tables, mel filters, masks, identical rows; trained-like
 * matrices and bf16-stored bases), axis-order candidates and views (OHWI,
 * transposes), the Bonferroni of the decision, the layer-number penalty and
 * component names of TensorFlow and Paddle tensors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"

static uint64_t rng_state = 7;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}
static float gauss(void)
{
    double u = urand(), v = urand();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(2 * M_PI * v));
}
static void shuffle(uint32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(urand() * (double)(i + 1));
        uint32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}
static sp_tensor mat(const char *name, float *data, uint64_t r, uint64_t c)
{
    sp_tensor t = {name, SP_DTYPE_F32, 2, {r, c}, data, r * c * sizeof(float)};
    return t;
}

/* ------------------------------------------------------------ exact test */

static void test_exact_count(void **state)
{
    (void)state;
    enum { U = 24, L = 9 };
    float a[U * L], b[U * L], z[U * L] = {0};
    for (size_t i = 0; i < U * L; i++)
        a[i] = gauss();
    memcpy(b, a, sizeof b);
    assert_int_equal(sp_audit_exact_count(a, b, U, L), U);          /* a copy: every unit */
    for (size_t i = 0; i < U * L; i++)
        b[i] = a[i] + 0.1f * gauss();
    assert_int_equal(sp_audit_exact_count(a, b, U, L), U);          /* a fine-tune */
    uint32_t p[U];
    shuffle(p, U);
    for (size_t i = 0; i < U; i++)
        memcpy(b + i * L, a + p[i] * L, L * sizeof(float));
    uint64_t fixed = 0;
    for (size_t i = 0; i < U; i++)
        fixed += p[i] == i;
    assert_int_equal(sp_audit_exact_count(a, b, U, L), fixed);      /* only the fixed points */
    assert_int_equal(sp_audit_exact_count(a, z, U, L), 0);          /* zeros: ties, no match */
    for (size_t i = 0; i < U * L; i++)
        b[i] = gauss();
    assert_true(sp_audit_exact_count(a, b, U, L) <= 4);             /* independent: ~Poisson(1) */
}

static void test_exact_in_compare(void **state)
{
    (void)state;
    /* the case: an exact copy of a 24x1x3x3 kernel */
    float a[24 * 9];
    for (size_t i = 0; i < 24 * 9; i++)
        a[i] = gauss();
    sp_tensor ta = {"k", SP_DTYPE_F32, 4, {24, 1, 3, 3}, a, sizeof a};
    sp_audit_pairstats st;
    assert_int_equal(sp_audit_compare(&st, &ta, &ta, 1), SP_OK);
    assert_true(st.exact.valid);
    assert_true(fabs(st.exact.value - 1.0) < 1e-12);
    assert_true(fabs(st.exact.log10p + sp_audit_log10_factorial(24)) < 1e-9);    /* 1/24! */
    assert_true(st.log10p < -20.0);
    /* the same numbers as a plain 24 x 9 matrix: 9 columns bound it by 1/9! */
    sp_tensor tm = mat("m", a, 24, 9);
    assert_int_equal(sp_audit_compare(&st, &tm, &tm, 1), SP_OK);
    assert_true(fabs(st.exact.log10p + sp_audit_log10_factorial(9)) < 1e-9);
}

/* ------------------------------------------------------------ matched with a feature map */

static void test_matched_both_axes(void **state)
{
    (void)state;
    enum { R = 96, C = 80 };
    float *a = malloc(R * C * sizeof *a), *b = malloc(R * C * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < R * C; i++)
        a[i] = gauss();
    uint32_t pr[R], pc[C];
    shuffle(pr, R);
    shuffle(pc, C);
    /* b = a with rows and columns permuted, plus noise: b[pr[i]][pc[j]] = a[i][j] */
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++)
            b[pr[i] * C + pc[j]] = a[i * C + j] + 0.2f * gauss();
    sp_tensor ta = mat("a", a, R, C), tb = mat("b", b, R, C);
    sp_audit_stat m;
    /* one axis at a time sees nothing */
    assert_int_equal(sp_audit_matched(&m, &ta, &tb, R, C, SP_AUDIT_AXIS_ROWS, NULL, NULL, 5), SP_OK);
    assert_true(m.valid && m.value < 0.5 && m.z < 6);
    /* with the column permutation carried over, the rows match, and the map is found */
    uint64_t fmap[C];
    for (size_t j = 0; j < C; j++)
        fmap[j] = pc[j];
    uint32_t map[R];
    int have = 0;
    assert_int_equal(sp_audit_matched_map(&m, &ta, &tb, R, C, SP_AUDIT_AXIS_ROWS, fmap, map, &have, 5), SP_OK);
    assert_true(m.valid && m.value > 0.9 && m.z > 10);
    assert_int_equal(have, 1);
    for (size_t i = 0; i < R; i++)
        assert_int_equal(map[i], pr[i]);
    /* a wrong map gives nothing */
    for (size_t j = 0; j < C; j++)
        fmap[j] = (pc[j] + 1) % C;
    assert_int_equal(sp_audit_matched_map(&m, &ta, &tb, R, C, SP_AUDIT_AXIS_ROWS, fmap, NULL, NULL, 5), SP_OK);
    assert_true(m.z < 6);
    /* units along the columns, features (rows) carried */
    uint64_t rmap[R];
    for (size_t i = 0; i < R; i++)
        rmap[i] = pr[i];
    uint32_t cmap[C];
    assert_int_equal(sp_audit_matched_map(&m, &ta, &tb, R, C, SP_AUDIT_AXIS_COLS, rmap, cmap, &have, 6), SP_OK);
    assert_true(m.value > 0.9 && m.z > 10);
    for (size_t j = 0; j < C; j++)
        assert_int_equal(cmap[j], pc[j]);
    free(a);
    free(b);
}

/* ------------------------------------------------------------ fixed tensors */

static void test_fixed(void **state)
{
    (void)state;
    enum { R = 65, C = 128 };
    float *x = malloc(R * C * sizeof *x);
    assert_non_null(x);
    sp_tensor t = mat("x", x, R, C);
    for (size_t k = 0; k < R; k++)      /* a real DFT basis */
        for (size_t n = 0; n < C; n++)
            x[k * C + n] = (float)cos(2 * M_PI * (double)k * (double)n / C);
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_SINUSOID);
    for (size_t p = 0; p < R; p++)      /* sinusoidal positions, columns in p */
        for (size_t i = 0; i < C; i++) {
            double f = exp(-(double)(i / 2 * 2) * log(10000.0) / C);
            x[p * C + i] = (float)(i % 2 ? cos((double)p * f) : sin((double)p * f));
        }
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_SINUSOID);
    for (size_t m = 0; m < R; m++)      /* triangular filters */
        for (size_t n = 0; n < C; n++) {
            double lo = (double)m * 1.5, c = lo + 2 + (double)m * 0.05, hi = c + 2 + (double)m * 0.05;
            double v = fmin(((double)n - lo) / (c - lo), (hi - (double)n) / (hi - c));
            x[m * C + n] = (float)(v > 0 ? v : 0);
        }
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_PIECEWISE);
    for (size_t i = 0; i < R; i++)      /* a causal mask */
        for (size_t j = 0; j < C; j++)
            x[i * C + j] = j <= i ? 1.0f : 0.0f;
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_FEW_VALUES);
    for (size_t i = 0; i < R; i++)      /* identical rows */
        for (size_t j = 0; j < C; j++)
            x[i * C + j] = (float)sin((double)j * (double)j);
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_IDENTICAL);
    for (size_t i = 0; i < R * C; i++)  /* trained-like: init plus a low-rank update */
        x[i] = gauss();
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++)
            x[i * C + j] += 0.5f * (float)(sin((double)i) * cos((double)j * 0.1));
    assert_int_equal(sp_audit_fixed_kind(&t), SP_AUDIT_FIXED_NONE);
    /* a DFT basis stored as bf16 is still recognised */
    uint16_t *h = malloc(R * C * sizeof *h);
    assert_non_null(h);
    for (size_t k = 0; k < R; k++)
        for (size_t n = 0; n < C; n++) {
            float f = (float)cos(2 * M_PI * (double)k * (double)n / C);
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            h[k * C + n] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        }
    sp_tensor tb = {"b", SP_DTYPE_BF16, 2, {R, C}, h, R * C * 2};
    assert_int_equal(sp_audit_fixed_kind(&tb), SP_AUDIT_FIXED_SINUSOID);
    /* vectors and tiny matrices are never judged */
    sp_tensor v = {"v", SP_DTYPE_F32, 1, {R}, x, R * 4};
    assert_int_equal(sp_audit_fixed_kind(&v), SP_AUDIT_FIXED_NONE);
    assert_string_equal(sp_audit_fixed_text(SP_AUDIT_FIXED_NONE), "");
    free(h);
    free(x);
}

/* ------------------------------------------------------------ layouts */

static void test_layout_views(void **state)
{
    (void)state;
    /* a: OIHW [6, 4, 2, 3]; b: the same kernel stored OHWI [6, 2, 3, 4] */
    enum { O = 6, I = 4, H = 2, W = 3 };
    float a[O * I * H * W], b[O * H * W * I];
    for (size_t o = 0; o < O; o++)
        for (size_t i = 0; i < I; i++)
            for (size_t y = 0; y < H; y++)
                for (size_t x = 0; x < W; x++) {
                    float v = (float)(((o * I + i) * H + y) * W + x);
                    a[((o * I + i) * H + y) * W + x] = v;
                    b[((o * H + y) * W + x) * I + i] = v;
                }
    sp_tensor ta = {"a", SP_DTYPE_F32, 4, {O, I, H, W}, a, sizeof a};
    sp_tensor tb = {"b", SP_DTYPE_F32, 4, {O, H, W, I}, b, sizeof b};
    sp_audit_pair p;
    memset(&p, 0, sizeof p);
    p.a = &ta;
    p.b = &tb;
    p.acmp = &ta;
    p.layout = SP_AUDIT_LAYOUT_AXES;
    sp_audit_layout_candidates(&p);
    assert_int_equal(p.nlayouts, 1);        /* all sizes distinct: one order */
    assert_int_equal(sp_audit_layout_view(&p, 0), SP_OK);
    assert_ptr_equal(p.acmp, &ta);
    const float *v = p.cmp->data;
    assert_int_equal(p.cmp->shape[1], I);
    assert_memory_equal(v, a, sizeof a);    /* b re-laid as OIHW is a */
    char txt[128];
    sp_audit_layout_text(txt, sizeof txt, &p);
    assert_string_equal(txt, "reference stored OHWI, read as OIHW");
    free(p.owned);

    /* a square matrix has the identity first, then its transpose */
    float m[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    sp_tensor tm = mat("m", m, 3, 3);
    memset(&p, 0, sizeof p);
    p.a = &tm;
    p.b = &tm;
    p.acmp = &tm;
    sp_audit_layout_candidates(&p);
    assert_int_equal(p.nlayouts, 2);
    assert_int_equal(sp_audit_layout_view(&p, 0), SP_OK);
    assert_ptr_equal(p.cmp, &tm);
    assert_int_equal(sp_audit_layout_view(&p, 1), SP_OK);
    v = p.cmp->data;
    assert_true(v[1] == 4 && v[3] == 2 && v[5] == 8);
    sp_audit_layout_text(txt, sizeof txt, &p);
    assert_string_equal(txt, "transposed");
    free(p.owned);

    /* the model stored HWIO, the reference OIHW: the model is re-laid instead */
    sp_tensor th = {"h", SP_DTYPE_F32, 4, {H, W, I, O}, b, sizeof b};
    memset(&p, 0, sizeof p);
    p.a = &th;
    p.b = &ta;
    p.acmp = &th;
    p.layout = SP_AUDIT_LAYOUT_AXES;
    sp_audit_layout_candidates(&p);
    assert_int_equal(p.nlayouts, 1);
    assert_int_equal(sp_audit_layout_view(&p, 0), SP_OK);
    assert_int_equal(p.swapped, 1);
    assert_int_equal(p.acmp->shape[0], O);
    sp_audit_layout_text(txt, sizeof txt, &p);
    assert_string_equal(txt, "stored HWIO here, OIHW in the reference");
    free(p.aowned);
    free(p.owned);
}

/* ------------------------------------------------------------ decision, names */

static void test_decide(void **state)
{
    (void)state;
    sp_audit_pairstats st;
    memset(&st, 0, sizeof st);
    st.matrix = 1;
    st.pearson = (sp_audit_stat){1, 0, 0, 0, 0, -10.0};
    st.matched = (sp_audit_stat){1, 0, 0, 0, 0, -3.0};
    sp_audit_decide(&st);
    assert_true(fabs(st.log10p - (-10.0 + log10(4.0))) < 1e-12);      /* Bonferroni over 4 tests */
    st.prop = (sp_audit_stat){1, 0, 0, 0, 0, -20.0};
    st.prop_tried = 10;
    st.nlayouts = 2;
    sp_audit_decide(&st);
    assert_true(fabs(st.log10p - (-20.0 + 1.0 + log10(4.0) + log10(2.0))) < 1e-12);
    st.matrix = 0;
    sp_audit_decide(&st);
    assert_true(st.log10p == 0.0);
    assert_true(sp_audit_layer_penalty("model.layers.3.ln.weight", "blocks.5.norm.weight") == 1.0);
    assert_true(sp_audit_layer_penalty("h.3.ln_1.weight", "model.layers.3.input_layernorm.weight") == 0.0);
    assert_true(sp_audit_layer_penalty("ln_in.scale", "norm1.weight") == 0.0);
}

static void test_component_names_tf_paddle(void **state)
{
    (void)state;
    char out[SP_NAME_MAX + 1];
    static const char *const cases[][2] = {
        {"conv2d_107.w_0", "conv2d"},
        {"batch_norm_3.b_0", "batch_norm"},
        {"model/conv2d_3/kernel:0", "model/conv2d"},
        {"encoder/layer_0/attention/self/query/kernel:0", "encoder"},
        {"dense_1/bias:0", "dense"},
        {"sequential/dense/kernel:0", "sequential"},
        {"model.layers.7.mlp.up_proj.weight", "model.layers"},
        {"fc1.weight", "fc1"},
        {"layer_12", "layer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_audit_component_name(out, cases[i][0], 0);
        assert_string_equal(out, cases[i][1]);
    }
    sp_audit_component_name(out, "model/block_1/conv/kernel:0", 3);
    assert_string_equal(out, "model/block_1/conv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_count),
        cmocka_unit_test(test_exact_in_compare),
        cmocka_unit_test(test_matched_both_axes),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_layout_views),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_component_names_tf_paddle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
