/*
 * test_audit.c - the statistics of `scratchproof audit` (verify/audit_*.c):
 * p-value functions against values computed independently (mpmath, 50
 * digits), Fisher's method, Pearson and cosine on small vectors, the
 * Hoeffding shuffle null against brute force over every permutation, the
 * streamed pair statistics against the exact null, matching on a permuted
 * matrix, the matched statistic, dtype conversion, the index parser and the
 * component names.
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

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static uint64_t rng_state = 42;
static double urand(void)   /* splitmix64 -> [0, 1) */
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

static sp_tensor mat(const char *name, float *data, uint64_t r, uint64_t c)
{
    sp_tensor t = {name, SP_DTYPE_F32, 2, {r, c}, data, r * c * sizeof(float)};
    return t;
}

/* ------------------------------------------------------------ p-values */

static void test_norm_sf(void **state)
{
    (void)state;
    NEAR(sp_audit_log10_norm_sf(0.0), log10(0.5), 1e-12);
    NEAR(sp_audit_log10_norm_sf(1.959963984540054), log10(0.025), 1e-9);
    NEAR(sp_audit_log10_norm_sf(3.0), log10(0.0013498980316300957), 1e-9);
    NEAR(sp_audit_log10_norm_sf(5.0), -6.542645672390654, 1e-9);
    NEAR(sp_audit_log10_norm_sf(25.0), -137.51474765099547, 1e-8);
    /* both sides of the switch to the asymptotic series */
    NEAR(sp_audit_log10_norm_sf(29.9), -196.00705043724337, 1e-7);
    NEAR(sp_audit_log10_norm_sf(30.1), -198.61570623725257, 1e-7);
    NEAR(sp_audit_log10_norm_sf(40.0), -349.43700645934584, 1e-7);
    NEAR(sp_audit_log10_norm_sf(100.0), -2173.8715428690344, 1e-6);
    NEAR(sp_audit_log10_norm_sf(1000.0), -217150.64004199439, 1e-3);
    /* the lower side tends to p = 1 */
    NEAR(sp_audit_log10_norm_sf(-10.0), 0.0, 1e-12);
    assert_true(isfinite(sp_audit_log10_norm_sf(1e300)));
    assert_true(sp_audit_log10_norm_sf(NAN) == 0.0);
}

static void test_chi2_fisher(void **state)
{
    (void)state;
    /* chi-square with 2 dof: P = exp(-x/2) */
    NEAR(sp_audit_log10_chi2_sf_even(10.0, 1), -5.0 / M_LN10, 1e-12);
    /* 4 dof at x = 4: 3 exp(-2) */
    NEAR(sp_audit_log10_chi2_sf_even(4.0, 2), log10(3.0 * exp(-2.0)), 1e-12);
    NEAR(sp_audit_log10_chi2_sf_even(0.0, 3), 0.0, 1e-15);
    double a[2] = {log10(0.05), log10(0.05)};
    NEAR(sp_audit_fisher_log10(a, 2), -1.757491831590201, 1e-9);
    double b[3] = {log10(0.01), log10(0.02), log10(0.03)};
    NEAR(sp_audit_fisher_log10(b, 3), -3.2908536632193957, 1e-9);
    double c[1] = {log10(0.5)};
    NEAR(sp_audit_fisher_log10(c, 1), log10(0.5), 1e-12);
    /* far beyond double's range: 10 p-values of 1e-200 */
    double d[10];
    for (int i = 0; i < 10; i++)
        d[i] = -200.0;
    NEAR(sp_audit_fisher_log10(d, 10), -1972.5897024754639, 1e-6);
    /* p-values of 1 change nothing but the degrees of freedom; positive input is clamped */
    double e[2] = {0.0, 0.5};
    NEAR(sp_audit_fisher_log10(e, 2), 0.0, 1e-15);
    assert_true(sp_audit_fisher_log10(NULL, 0) == 0.0);
    NEAR(sp_audit_log10_factorial(10), log10(3628800.0), 1e-12);
}

static void test_p_text(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(sp_audit_p_text(buf, -400.0), "< 1e-300");
    assert_string_equal(sp_audit_p_text(buf, -5.0), "1.0e-05");
    assert_string_equal(sp_audit_p_text(buf, log10(0.25)), "0.25");
    assert_string_equal(sp_audit_p_text(buf, 0.0), "1");
}

/* ------------------------------------------------------------ similarity */

static void test_pearson_cosine(void **state)
{
    (void)state;
    float a[4] = {1, 2, 3, 4}, b[4] = {2, 4, 6, 8.5f};
    NEAR(sp_audit_pearson(a, b, 4), 0.9983814394570298, 1e-7);
    NEAR(sp_audit_cosine(a, b, 4), 0.9995450557071273, 1e-7);
    float x[2] = {1, 0}, y[2] = {0, 1};
    NEAR(sp_audit_cosine(x, y, 2), 0.0, 1e-15);
    float k[3] = {1, 1, 1};
    assert_true(isnan(sp_audit_pearson(k, a, 3)));
    /* norm weights near 1: raw cosine near 1, Pearson near 0 */
    float n1[512], n2[512];
    for (int i = 0; i < 512; i++) {
        n1[i] = 1.0f + 0.02f * gauss();
        n2[i] = 1.0f + 0.02f * gauss();
    }
    assert_true(sp_audit_cosine(n1, n2, 512) > 0.99);
    assert_true(fabs(sp_audit_pearson(n1, n2, 512)) < 0.2);
}

/* Hoeffding's formula against brute force over all 5! row permutations. */
static void test_hoeffding_brute_force(void **state)
{
    (void)state;
    enum { R = 5, C = 3 };
    float A[R * C], B[R * C];
    for (int i = 0; i < R * C; i++) {
        A[i] = gauss() + 0.3f;
        B[i] = gauss() - 0.2f;
    }
    int p[R] = {0, 1, 2, 3, 4};
    double s1 = 0, s2 = 0;
    int n = 0;
    for (;;) {  /* lexicographic permutations */
        double t = 0;
        for (int i = 0; i < R; i++)
            for (int k = 0; k < C; k++)
                t += (double)A[i * C + k] * B[p[i] * C + k];
        s1 += t;
        s2 += t * t;
        n++;
        int i = R - 2;
        while (i >= 0 && p[i] > p[i + 1])
            i--;
        if (i < 0)
            break;
        int j = R - 1;
        while (p[j] < p[i])
            j--;
        int tmp = p[i]; p[i] = p[j]; p[j] = tmp;
        for (int l = i + 1, r = R - 1; l < r; l++, r--) {
            tmp = p[l]; p[l] = p[r]; p[r] = tmp;
        }
    }
    assert_int_equal(n, 120);
    double mean = s1 / n, var = s2 / n - mean * mean, hm, hv;
    sp_audit_row_shuffle_null(&hm, &hv, A, B, R, C);
    NEAR(hm, mean, 1e-9 * (1 + fabs(mean)));
    NEAR(hv, var, 1e-9 * (1 + var));
}

/* The streamed statistics equal the exact shuffle null when every row is sampled. */
static void test_compare_exact_null(void **state)
{
    (void)state;
    enum { R = 40, C = 24 };
    float *A = malloc(R * C * sizeof(float)), *B = malloc(R * C * sizeof(float));
    float *At = malloc(R * C * sizeof(float)), *Bt = malloc(R * C * sizeof(float));
    assert_non_null(A);
    assert_non_null(B);
    assert_non_null(At);
    assert_non_null(Bt);
    for (int i = 0; i < R * C; i++) {
        float shared = gauss();
        A[i] = shared + gauss() + 0.1f;
        B[i] = 0.3f * shared + gauss();
    }
    for (int i = 0; i < R; i++)
        for (int k = 0; k < C; k++) {
            At[k * R + i] = A[i * C + k];
            Bt[k * R + i] = B[i * C + k];
        }
    sp_tensor ta = mat("a", A, R, C), tb = mat("b", B, R, C);
    sp_audit_pairstats st;
    assert_int_equal(sp_audit_compare(&st, &ta, &tb, 1), SP_OK);
    assert_true(st.matrix);
    double t = 0, saa = 0, sbb = 0;
    for (int i = 0; i < R * C; i++) {
        t += (double)A[i] * B[i];
        saa += (double)A[i] * A[i];
        sbb += (double)B[i] * B[i];
    }
    double mr, vr, mc, vc;
    sp_audit_row_shuffle_null(&mr, &vr, A, B, R, C);
    sp_audit_row_shuffle_null(&mc, &vc, At, Bt, C, R);   /* column shuffle = rows of the transpose */
    double zr = (t - mr) / sqrt(vr), zc = (t - mc) / sqrt(vc);
    double z = zr < zc ? zr : zc, m = zr < zc ? mr : mc, v = zr < zc ? vr : vc;
    NEAR(st.cosine.z, z, 1e-4 * (1 + fabs(z)));
    NEAR(st.pearson.z, z, 1e-4 * (1 + fabs(z)));
    NEAR(st.cosine.value, t / sqrt(saa * sbb), 1e-6);
    NEAR(st.cosine.null_mean, m / sqrt(saa * sbb), 1e-6);
    NEAR(st.cosine.null_sd, sqrt(v / (saa * sbb)), 1e-6);
    NEAR(st.pearson.value, sp_audit_pearson(A, B, R * C), 1e-6);
    assert_true(st.pearson.z > 5);     /* they share a component */
    free(A);
    free(B);
    free(At);
    free(Bt);
}

static void test_vectors_never_decide(void **state)
{
    (void)state;
    float n1[256], n2[256];
    for (int i = 0; i < 256; i++) {
        n1[i] = 1.0f + 0.01f * gauss();
        n2[i] = n1[i];              /* even an exact copy of a vector */
    }
    sp_tensor a = {"n.weight", SP_DTYPE_F32, 1, {256}, n1, sizeof n1};
    sp_tensor b = {"n.weight", SP_DTYPE_F32, 1, {256}, n2, sizeof n2};
    sp_audit_pairstats st;
    assert_int_equal(sp_audit_compare(&st, &a, &b, 1), SP_OK);
    assert_false(st.matrix);
    assert_true(st.near_constant);
    assert_true(st.log10p == 0.0);
    assert_true(st.cosine.null_mean > 0.99);          /* the null predicts the raw cosine */
    NEAR(st.pearson.value, 1.0, 1e-6);
    /* the exact permutation test cannot say more than 1/256! */
    assert_true(st.pearson.log10p >= -sp_audit_log10_factorial(256) - 1e-9);
    /* shapes must agree */
    sp_tensor c = {"n.weight", SP_DTYPE_F32, 1, {128}, n2, 128 * sizeof(float)};
    assert_int_equal(sp_audit_compare(&st, &a, &c, 1), SP_EINVAL);
}

/* ------------------------------------------------------------ matching */

static void test_match_recovers_permutation(void **state)
{
    (void)state;
    enum { N = 200, M = 64 };
    float *Y = malloc(N * M * sizeof(float)), *X = malloc(N * M * sizeof(float));
    uint32_t perm[N], best[N];
    uint64_t self[N];
    assert_non_null(X);
    assert_non_null(Y);
    for (int i = 0; i < N; i++)
        perm[i] = (uint32_t)i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(urand() * (i + 1));
        uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < N * M; i++)
        Y[i] = gauss();
    for (int i = 0; i < N; i++)     /* X row i is Y row perm[i], scaled, shifted, with noise */
        for (int k = 0; k < M; k++)
            X[i * M + k] = 3.0f * Y[perm[i] * M + k] + 1.0f + 0.3f * gauss();
    assert_int_equal(sp_audit_match_rows(best, X, N, Y, N, M, NULL), SP_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(best[i], perm[i]);
    /* against itself with the diagonal excluded: never itself */
    for (int i = 0; i < N; i++)
        self[i] = (uint64_t)i;
    assert_int_equal(sp_audit_match_rows(best, Y, N, Y, N, M, self), SP_OK);
    for (int i = 0; i < N; i++)
        assert_int_not_equal(best[i], (uint32_t)i);
    assert_int_equal(sp_audit_match_rows(best, Y, 0, Y, N, M, NULL), SP_EINVAL);
    free(X);
    free(Y);
}

/*
 * The SSE2 and AVX paths of the matching give the same best[] bit for bit: row lengths that
 * leave tails, unit counts not a multiple of 4, several cache blocks of reference rows,
 * duplicated reference rows (exact ties: the first index wins), the self exclusion, and
 * rows whose partner has their own index (the AVX path's pruning).
 */
static void test_match_paths_agree(void **state)
{
    (void)state;
    static const size_t ms[] = {3, 13, 64, 300};
    enum { S = 37, N = 500 };
    float *Y = malloc(N * 300 * sizeof(float)), *X = malloc(S * 300 * sizeof(float));
    uint32_t b4[S], b8[S], b0[S];
    uint64_t ex[S];
    assert_non_null(X);
    assert_non_null(Y);
    for (size_t t = 0; t < sizeof ms / sizeof ms[0]; t++) {
        size_t m = ms[t];
        for (size_t i = 0; i < N * m; i++)
            Y[i] = gauss();
        for (size_t j = 0; j < N; j += 7)     /* exact ties */
            memcpy(Y + (j + 3 < N ? j + 3 : j) * m, Y + j * m, m * sizeof(float));
        for (int e = 0; e < 4; e++) {
            /* e < 2: X's rows are noisy copies of scattered Y rows; e >= 2: of the Y row of the
             * same index (the AVX path then skips candidates by a bound: the same result) */
            size_t stride = e < 2 ? 13 : 1;
            for (size_t i = 0; i < S; i++) {
                for (size_t k = 0; k < m; k++)
                    X[i * m + k] = Y[(i * stride % N) * m + k] + (e < 2 ? 0.5f : 0.2f) * gauss();
                ex[i] = i * stride % N;
            }
            /* e == 3: the exclusion removes the partner itself (the probe moves on) */
            const uint64_t *exc = e % 2 ? ex : NULL;
            assert_int_equal(sp_audit_match_rows_lanes(4, b4, X, S, Y, N, m, exc), SP_OK);
            assert_int_equal(sp_audit_match_rows_lanes(0, b0, X, S, Y, N, m, exc), SP_OK);
            assert_memory_equal(b4, b0, sizeof b4);
            int rc = sp_audit_match_rows_lanes(8, b8, X, S, Y, N, m, exc);
            if (rc == SP_OK)
                assert_memory_equal(b4, b8, sizeof b4);
            else
                assert_int_equal(rc, SP_EINVAL);   /* a CPU without AVX */
            for (size_t i = 0; i < S && exc; i++)
                assert_int_not_equal(b4[i], (uint32_t)ex[i]);
        }
    }
    assert_int_equal(sp_audit_match_rows_lanes(5, b4, X, S, Y, N, 3, NULL), SP_EINVAL);
    free(X);
    free(Y);
}

/* A derived matrix with permuted rows: Pearson sees nothing, matching sees it. */
static void test_matched_statistic(void **state)
{
    (void)state;
    enum { R = 128, C = 96 };
    float *A = malloc(R * C * sizeof(float)), *P = malloc(R * C * sizeof(float));
    float *I = malloc(R * C * sizeof(float));
    assert_non_null(A);
    assert_non_null(P);
    assert_non_null(I);
    for (int i = 0; i < R * C; i++) {
        A[i] = gauss();
        I[i] = gauss();
    }
    for (int i = 0; i < R; i++) {
        int src = (i * 37 + 11) % R;      /* a permutation of the rows (37 is prime to 128) */
        for (int k = 0; k < C; k++)
            P[i * C + k] = A[src * C + k] + 0.5f * gauss();
    }
    sp_tensor ta = mat("a", A, R, C), tp = mat("p", P, R, C), ti = mat("i", I, R, C);
    sp_audit_pairstats st;
    assert_int_equal(sp_audit_compare(&st, &tp, &ta, 7), SP_OK);
    assert_true(fabs(st.pearson.value) < 0.1);
    assert_true(st.matched.valid);
    assert_int_equal(st.matched_axis, SP_AUDIT_AXIS_ROWS);
    assert_true(st.matched.value > 0.8);
    assert_true(st.matched.log10p < -50);
    assert_true(st.log10p < -50);
    assert_int_equal(sp_audit_compare(&st, &ti, &ta, 7), SP_OK);
    assert_true(st.matched.valid);
    assert_true(st.matched.log10p > -3);
    assert_true(st.log10p > -3);
    /* too few units for a matched statistic */
    sp_tensor small_a = mat("a", A, 8, 16), small_b = mat("b", I, 8, 16);
    sp_audit_stat ms;
    assert_int_equal(sp_audit_matched(&ms, &small_a, &small_b, 8, 16, SP_AUDIT_AXIS_ROWS, NULL, NULL, 1),
                     SP_OK);
    assert_false(ms.valid);
    free(A);
    free(P);
    free(I);
}

/* ------------------------------------------------------------ conversion, index, names */

static void test_conversion(void **state)
{
    (void)state;
    assert_true(sp_audit_bf16(0x3f80) == 1.0f);
    assert_true(sp_audit_bf16(0xc000) == -2.0f);
    assert_true(sp_audit_f16(0x3c00) == 1.0f);
    assert_true(sp_audit_f16(0xc000) == -2.0f);
    assert_true(sp_audit_f16(0x0001) == ldexpf(1.0f, -24));    /* smallest subnormal */
    assert_true(sp_audit_f16(0x03ff) == ldexpf(1023.0f, -24)); /* largest subnormal */
    assert_true(sp_audit_f16(0x7bff) == 65504.0f);
    assert_true(isinf(sp_audit_f16(0x7c00)));
    assert_true(isnan(sp_audit_f16(0x7e00)));
    assert_true(signbit(sp_audit_f16(0x8000)));
    uint8_t raw[6] = {0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40};   /* bf16 1, -2, 3.140625 */
    sp_tensor t = {"x", SP_DTYPE_BF16, 1, {3}, raw, sizeof raw};
    float out[3];
    sp_audit_to_float(out, &t, 0, 3);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 3.140625f);
    assert_true(sp_audit_dtype_ok(SP_DTYPE_F16) && !sp_audit_dtype_ok(SP_DTYPE_I32));
}

static int parse(const char *json)
{
    sp_audit_index ix;
    char err[SP_ERRMSG_MAX] = "";
    int rc = sp_audit_index_parse(&ix, json, strlen(json), err);
    if (rc == SP_OK)
        sp_audit_index_free(&ix);
    else
        assert_true(err[0] != '\0');
    return rc;
}

static void test_index(void **state)
{
    (void)state;
    const char *good = "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a.weight\":\"m-1.safetensors\","
                       "\"b.weight\":\"m-2.safetensors\",\"c.weight\":\"m-1.safetensors\"}}";
    sp_audit_index ix;
    assert_int_equal(sp_audit_index_parse(&ix, good, strlen(good), NULL), SP_OK);
    assert_int_equal(ix.n, 3);
    assert_int_equal(ix.nfiles, 2);
    assert_string_equal(ix.files[0], "m-1.safetensors");
    assert_string_equal(ix.files[1], "m-2.safetensors");
    sp_audit_index_free(&ix);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"../x.safetensors\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"..\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"x\\u0001y\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":7}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":[]}"), SP_EFORMAT);
    assert_int_equal(parse("{\"metadata\":3,\"weight_map\":{\"a\":\"x\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}"), SP_EFORMAT);
    assert_int_equal(parse("{\"weight_map\":{\"\":\"x\"}}"), SP_EFORMAT);
    assert_int_equal(parse("[1,2]"), SP_EFORMAT);
    assert_int_equal(parse("{"), SP_EFORMAT);
    assert_int_equal(sp_audit_index_parse(&ix, "", 0, NULL), SP_EFORMAT);
}

static void test_component_names(void **state)
{
    (void)state;
    char out[SP_NAME_MAX + 1];
    sp_audit_component_name(out, "fc1.weight", 0);
    assert_string_equal(out, "fc1");
    sp_audit_component_name(out, "model.layers.0.mlp.up_proj.weight", 0);
    assert_string_equal(out, "model.layers");
    sp_audit_component_name(out, "model.embed_tokens.weight", 0);
    assert_string_equal(out, "model.embed_tokens");
    sp_audit_component_name(out, "vision_model.encoder.layers.3.attn.weight", 0);
    assert_string_equal(out, "vision_model");
    sp_audit_component_name(out, "0.weight", 0);
    assert_string_equal(out, "0");
    sp_audit_component_name(out, "weight", 0);
    assert_string_equal(out, "weight");
    sp_audit_component_name(out, "a.b.c.weight", 2);
    assert_string_equal(out, "a.b");
    sp_audit_component_name(out, "a.b.weight", 5);
    assert_string_equal(out, "a.b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_sf),
        cmocka_unit_test(test_chi2_fisher),
        cmocka_unit_test(test_p_text),
        cmocka_unit_test(test_pearson_cosine),
        cmocka_unit_test(test_hoeffding_brute_force),
        cmocka_unit_test(test_compare_exact_null),
        cmocka_unit_test(test_vectors_never_decide),
        cmocka_unit_test(test_match_recovers_permutation),
        cmocka_unit_test(test_match_paths_agree),
        cmocka_unit_test(test_matched_statistic),
        cmocka_unit_test(test_conversion),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_component_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
