/*
 * test_audit_quant.c - how the audit reads tensors that are not plain floats
 * (verify/audit/audit_quant.c, SPEC.md 10.1): float8 decoding (every byte
 * of both formats against values worked out by hand from the format
 * definitions), dequantisation with per-tensor, per-channel and grouped
 * scales and zero points, scale tensors absorbed, scales that do
 * not fit left unapplied, bit-cast detection (floats in I32/I16 found, genuine integers
 * left alone), the F8/F16/BF16 round trip through sp_dtype names, and the
 * natural order of the HTML report.
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
#include "audit_quant.h"

static sp_tensor mk(const char *name, sp_dtype dt, uint32_t ndim, uint64_t d0, uint64_t d1, const void *data)
{
    sp_tensor t = {.name = name, .dtype = dt, .ndim = ndim, .shape = {d0, d1}, .data = data};
    uint64_t n = ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1;
    t.nbytes = n * sp_dtype_size(dt);
    return t;
}

static void test_f8(void **state)
{
    (void)state;
    /* e4m3fn: bias 7, 3 mantissa bits, no infinities, S.1111.111 NaN */
    assert_true(sp_audit_f8e4m3(0x00) == 0.0f && signbit(sp_audit_f8e4m3(0x80)));
    assert_true(sp_audit_f8e4m3(0x01) == 0x1p-9f);          /* smallest subnormal */
    assert_true(sp_audit_f8e4m3(0x07) == 7 * 0x1p-9f);      /* largest subnormal */
    assert_true(sp_audit_f8e4m3(0x08) == 0x1p-6f);          /* smallest normal */
    assert_true(sp_audit_f8e4m3(0x38) == 1.0f);
    assert_true(sp_audit_f8e4m3(0xb8) == -1.0f);
    assert_true(sp_audit_f8e4m3(0x3c) == 1.5f);
    assert_true(sp_audit_f8e4m3(0x7e) == 448.0f);           /* largest finite */
    assert_true(isnan(sp_audit_f8e4m3(0x7f)) && isnan(sp_audit_f8e4m3(0xff)));
    assert_true(sp_audit_f8e4m3(0x78) == 256.0f);           /* exponent 15 is finite here */
    /* e5m2: the high byte of an IEEE half */
    assert_true(sp_audit_f8e5m2(0x3c) == 1.0f);
    assert_true(sp_audit_f8e5m2(0xc0) == -2.0f);
    assert_true(sp_audit_f8e5m2(0x01) == 0x1p-16f);
    assert_true(sp_audit_f8e5m2(0x7b) == 57344.0f);
    assert_true(isinf(sp_audit_f8e5m2(0x7c)) && sp_audit_f8e5m2(0xfc) < 0);
    assert_true(isnan(sp_audit_f8e5m2(0x7d)));
    /* every finite byte decodes to a value that is monotone in the byte (positive half) */
    for (int b = 1; b < 0x7e; b++)
        assert_true(sp_audit_f8e4m3((uint8_t)b) < sp_audit_f8e4m3((uint8_t)(b + 1)));
    for (int b = 1; b < 0x7b; b++)
        assert_true(sp_audit_f8e5m2((uint8_t)b) < sp_audit_f8e5m2((uint8_t)(b + 1)));
    /* the dtype table and the converter */
    assert_int_equal(sp_dtype_from_name("F8_E4M3"), SP_DTYPE_F8_E4M3);
    assert_int_equal(sp_dtype_from_name("F8_E5M2"), SP_DTYPE_F8_E5M2);
    assert_string_equal(sp_dtype_name(SP_DTYPE_F8_E5M2), "F8_E5M2");
    assert_int_equal(sp_dtype_size(SP_DTYPE_F8_E4M3), 1);
    assert_int_equal(sp_dtype_size((sp_dtype)13), 0);
    assert_true(sp_audit_dtype_ok(SP_DTYPE_F8_E4M3) && sp_audit_dtype_ok(SP_DTYPE_F8_E5M2));
    uint8_t raw[3] = {0x38, 0xc0, 0x7e};
    sp_tensor t = mk("f", SP_DTYPE_F8_E4M3, 1, 3, 0, raw);
    float out[3];
    sp_audit_to_float(out, &t, 0, 3);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 448.0f);
}

static void test_dequant(void **state)
{
    (void)state;
    int8_t q[6] = {1, -2, 3, -4, 5, -6};              /* 2 x 3 */
    float ch[2] = {0.5f, 2.0f};                         /* per output channel (row) */
    float sc = 0.25f;
    uint8_t u[6] = {129, 126, 131, 124, 133, 122};      /* q + 128 */
    uint8_t zp[1] = {128};
    sp_tensor all[] = {
        mk("a", SP_DTYPE_I8, 2, 2, 3, q),              /* a + a.scale (per channel) */
        mk("a.scale", SP_DTYPE_F32, 1, 2, 0, ch),
        mk("b.weight", SP_DTYPE_U8, 2, 2, 3, u),       /* b.weight + b.weight_scale + zero point */
        mk("b.weight_scale", SP_DTYPE_F32, 0, 0, 0, &sc),
        mk("b.weight_zero_point", SP_DTYPE_U8, 0, 0, 0, zp),
        mk("c", SP_DTYPE_I8, 2, 2, 3, q),              /* no scale: integer values */
    };
    sp_audit_view v;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_audit_interpret(&v, all, 6, err), SP_OK);
    assert_int_equal(v.count, 3);                       /* scales and zero point absorbed */
    assert_string_equal(v.tensors[0].name, "a");
    assert_string_equal(v.tensors[1].name, "b.weight");
    assert_string_equal(v.tensors[2].name, "c");
    assert_int_equal(v.info[0].how, SP_AUDIT_DEQUANT);
    assert_string_equal(v.info[0].scale, "a.scale");
    assert_null(v.info[0].zero);
    assert_int_equal(v.info[1].how, SP_AUDIT_DEQUANT);
    assert_string_equal(v.info[1].zero, "b.weight_zero_point");
    assert_int_equal(v.info[1].stored, SP_DTYPE_U8);
    assert_int_equal(v.info[2].how, SP_AUDIT_INT_VALUES);
    const float *a = v.tensors[0].data, *b = v.tensors[1].data, *c = v.tensors[2].data;
    static const float wa[6] = {0.5f, -1.0f, 1.5f, -8.0f, 10.0f, -12.0f};
    for (int i = 0; i < 6; i++) {
        assert_true(v.tensors[0].dtype == SP_DTYPE_F32 && a[i] == wa[i]);
        assert_true(b[i] == 0.25f * q[i]);
        assert_true(c[i] == (float)q[i]);
    }
    sp_audit_view_free(&v);

    /* grouped: 2 groups per row of 4 */
    int8_t g[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    float gs[4] = {1, 2, 3, 4};
    sp_tensor gt[] = {mk("g", SP_DTYPE_I8, 2, 2, 4, g), mk("g_scale", SP_DTYPE_F32, 2, 2, 2, gs)};
    assert_int_equal(sp_audit_interpret(&v, gt, 2, err), SP_OK);
    assert_int_equal(v.count, 1);
    static const float wg[8] = {1, 1, 2, 2, 3, 3, 4, 4};
    for (int i = 0; i < 8; i++)
        assert_true(((const float *)v.tensors[0].data)[i] == wg[i]);
    sp_audit_view_free(&v);
}

static void test_unknown_layouts(void **state)
{
    (void)state;
    int8_t q[6] = {0};
    float s3[3] = {1, 2, 3};
    int32_t si[2] = {1, 1};
    char err[SP_ERRMSG_MAX] = "";
    sp_audit_view v;
    sp_tensor bad_shape[] = {mk("w", SP_DTYPE_I8, 2, 2, 3, q), mk("w.scale", SP_DTYPE_F32, 2, 3, 1, s3)};
    sp_tensor a3[] = {mk("w", SP_DTYPE_I8, 2, 2, 3, q), mk("w.scale", SP_DTYPE_F32, 1, 3, 0, s3)};
    sp_tensor bad_dtype[] = {mk("w", SP_DTYPE_I8, 2, 2, 3, q), mk("w.scale", SP_DTYPE_I32, 1, 2, 0, si)};
    /* scales of no known layout are not applied: the integers are read as they are and
     * the scale stays a tensor of its own, named in info.unapplied */
    sp_tensor *cases[3] = {a3, bad_shape, bad_dtype};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sp_audit_interpret(&v, cases[k], 2, err), SP_OK);
        assert_int_equal(v.count, 2);
        assert_int_equal(v.info[0].how, SP_AUDIT_INT_VALUES);
        assert_null(v.info[0].scale);
        assert_string_equal(v.info[0].unapplied, "w.scale");
        assert_string_equal(v.tensors[1].name, "w.scale");
        sp_audit_view_free(&v);
    }
}

static void test_bitcast(void **state)
{
    (void)state;
    float f[64];
    int32_t ids[64];
    uint16_t bf[64];
    for (int i = 0; i < 64; i++) {
        f[i] = sinf((float)i) * 0.05f;
        ids[i] = i * 1000;                               /* genuine integers: denormal as floats */
        uint32_t bits;
        memcpy(&bits, &f[i], 4);
        bf[i] = (uint16_t)(bits >> 16);
    }
    sp_tensor all[] = {mk("ids", SP_DTYPE_I32, 1, 64, 0, ids), mk("w", SP_DTYPE_I32, 2, 8, 8, f),
                       mk("x", SP_DTYPE_I16, 2, 8, 8, bf)};
    sp_audit_view v;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_audit_interpret(&v, all, 3, err), SP_OK);
    assert_int_equal(v.count, 3);
    assert_int_equal(v.info[0].how, SP_AUDIT_AS_STORED);
    assert_int_equal(v.tensors[0].dtype, SP_DTYPE_I32);
    assert_int_equal(v.info[1].how, SP_AUDIT_BITCAST);
    assert_int_equal(v.tensors[1].dtype, SP_DTYPE_F32);
    assert_ptr_equal(v.tensors[1].data, f);             /* the same bytes, no copy */
    assert_int_equal(v.info[2].how, SP_AUDIT_BITCAST);
    assert_int_equal(v.tensors[2].dtype, SP_DTYPE_BF16);
    assert_int_equal(v.info[1].stored, SP_DTYPE_I32);
    sp_audit_view_free(&v);
}

static void test_natural_order(void **state)
{
    (void)state;
    assert_true(sp_audit_natcmp("layers.2.w", "layers.10.w") < 0);
    assert_true(sp_audit_natcmp("layers.10.w", "layers.2.w") > 0);
    assert_true(sp_audit_natcmp("layers.1.w", "layers.1.w") == 0);
    assert_true(sp_audit_natcmp("a", "a.1") < 0);
    assert_true(sp_audit_natcmp("l.007", "l.7") == 0);
    assert_true(sp_audit_natcmp("l.9x", "l.10") < 0);
    assert_true(sp_audit_natcmp("B", "a") < 0);        /* bytewise outside digits */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f8),         cmocka_unit_test(test_dequant),
        cmocka_unit_test(test_unknown_layouts),   cmocka_unit_test(test_bitcast),
        cmocka_unit_test(test_natural_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
