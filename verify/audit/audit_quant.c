/*
 * audit_quant.c - how `scratchproof audit` reads tensors that are not plain
 * floats (SPEC.md 10.1): float8 decoding, integer tensors quantised with a
 * scale tensor beside them (dequantised once, at open, into owned F32
 * buffers), integer tensors without a scale (their integer values, as
 * floats), and integer tensors that are floats bit-cast to an integer dtype
 * (flagged, then read as the float they hold). Scale and zero-point tensors
 * are absorbed into the tensor they belong to. Used by audit_load.c.
 */
#include "audit.h"
#include "audit_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float sp_audit_f8e4m3(uint8_t b)
{
    uint32_t sign = b >> 7, exp = (b >> 3) & 0xf, man = b & 7;
    float v;
    if (exp == 0xf && man == 7)
        v = NAN;
    else if (exp == 0)
        v = ldexpf((float)man, -9);             /* subnormal: man * 2^-3 * 2^-6 */
    else
        v = ldexpf((float)(8 + man), (int)exp - 10);   /* (1 + man/8) * 2^(exp-7) */
    return sign ? -v : v;
}

float sp_audit_f8e5m2(uint8_t b)
{
    return sp_audit_f16((uint16_t)(b << 8));
}

/* Element k of an integer or float tensor as a double (any stored dtype). */
static double elem(const sp_tensor *t, uint64_t k)
{
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case SP_DTYPE_I8: return (int8_t)p[k];
    case SP_DTYPE_U8: return p[k];
    case SP_DTYPE_BOOL: return p[k] != 0;
    case SP_DTYPE_I16: { int16_t v; memcpy(&v, p + 2 * k, 2); return v; }
    case SP_DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * k, 4); return v; }
    case SP_DTYPE_I64: { int64_t v; memcpy(&v, p + 8 * k, 8); return (double)v; }
    default: {
        float f;
        sp_audit_to_float(&f, t, k, 1);
        return f;
    }
    }
}

static uint64_t count_of(const sp_tensor *t)
{
    uint64_t n = 0;
    return sp_shape_numel(&n, t->shape, t->ndim) == SP_OK ? n : 0;
}

static int is_int(sp_dtype d)
{
    return d == SP_DTYPE_I8 || d == SP_DTYPE_U8 || d == SP_DTYPE_I16 || d == SP_DTYPE_I32 ||
           d == SP_DTYPE_I64;
}

/*
 * The layout of a scale (or zero point) s for a tensor of r rows and c
 * columns: groups per row G, so element (i, j) uses s[i G + j / (c / G)].
 * A scalar is r = 1 style "per tensor" (returns 0); -1 when s does not fit.
 */
static int64_t groups(const sp_tensor *s, uint64_t r, uint64_t c)
{
    uint64_t n = count_of(s);
    if (n == 1)
        return 0;
    if (n == 0 || r == 0 || n % r != 0)
        return -1;
    uint64_t g = n / r;
    return g >= 1 && g <= c && c % g == 0 ? (int64_t)g : -1;
}

static double at(const sp_tensor *s, int64_t g, uint64_t r_i, uint64_t j, uint64_t c)
{
    if (g == 0)
        return elem(s, 0);
    return elem(s, r_i * (uint64_t)g + j / (c / (uint64_t)g));
}

/* Looks up name+suffix (or, for "X.weight", "X"+suffix2) in the model's sorted list. */
static const sp_tensor *find_aux(const sp_tensor *all, size_t n, const char *name,
                                 const char *const *suffixes, size_t ns, char *taken)
{
    char buf[2 * SP_NAME_MAX + 32];
    size_t len = strlen(name);
    size_t stem = len >= 7 && strcmp(name + len - 7, ".weight") == 0 ? len - 7 : len;
    for (int pass = 0; pass < 2; pass++) {
        size_t base = pass == 0 ? len : stem;
        if (pass == 1 && stem == len)
            break;
        for (size_t k = 0; k < ns; k++) {
            memcpy(buf, name, base);
            strcpy(buf + base, suffixes[k]);
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(all[mid].name, buf);
                if (cmp == 0) {
                    if (taken[mid])
                        break;
                    taken[mid] = 1;
                    return &all[mid];
                }
                if (cmp < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
    }
    return NULL;
}

static int float_like(sp_dtype d)
{
    return sp_audit_dtype_ok(d);
}

/* Plausible weights: >= 99 % of up to 4096 sampled values finite, zero or of magnitude
 * in [2^-40, 2^20], and at least half of them non-zero. */
static int plausible_floats(const sp_tensor *t, sp_dtype as)
{
    uint64_t n = count_of(t);
    if (n < 2)
        return 0;
    uint64_t k = n < 4096 ? n : 4096, good = 0, nonzero = 0;
    sp_tensor v = *t;
    v.dtype = as;
    for (uint64_t i = 0; i < k; i++) {
        float x;
        sp_audit_to_float(&x, &v, i * n / k, 1);
        float a = fabsf(x);
        if (x == 0.0f) {
            good++;
        } else if (isfinite(x) && a >= 0x1p-40f && a <= 0x1p20f) {
            good++;
            nonzero++;
        }
    }
    return good * 100 >= k * 99 && nonzero * 2 >= k;
}

static const char *const scale_sfx[] = {".scale", "_scale", ".scales", "_scales", ".SCB"};
static const char *const zero_sfx[] = {".zero_point", "_zero_point", ".zeros", ".zero", "_zp"};

int sp_audit_interpret(sp_audit_view *v, const sp_tensor *all, size_t n, char *err)
{
    (void)err;
    memset(v, 0, sizeof *v);
    v->info = calloc(n ? n : 1, sizeof *v->info);
    v->tensors = calloc(n ? n : 1, sizeof *v->tensors);
    v->owned = calloc(n ? n : 1, sizeof *v->owned);
    char *taken = calloc(n ? n : 1, 1);
    int rc = SP_OK;
    if (v->info == NULL || v->tensors == NULL || v->owned == NULL || taken == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    /* 1. quantised tensors claim their scale and zero point */
    sp_audit_tinfo *tmp = calloc(n ? n : 1, sizeof *tmp);
    if (tmp == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        tmp[i].stored = all[i].dtype;
        if (all[i].dtype != SP_DTYPE_I8 && all[i].dtype != SP_DTYPE_U8 &&
            all[i].dtype != SP_DTYPE_F8_E4M3 && all[i].dtype != SP_DTYPE_F8_E5M2)
            continue;
        if (taken[i])
            continue;
        uint64_t cnt = count_of(&all[i]);
        uint64_t r = all[i].ndim >= 1 ? all[i].shape[0] : 1, c = r ? cnt / r : 0;
        const sp_tensor *s = find_aux(all, n, all[i].name, scale_sfx,
                                      sizeof scale_sfx / sizeof *scale_sfx, taken);
        if (s == NULL)
            continue;
        if (!float_like(s->dtype) || groups(s, r, c) < 0) {
            /* a layout we do not know (block-wise, transposed): the integers are compared as
             * they are, and the scale stays a tensor of its own, named in the report */
            taken[s - all] = 0;
            tmp[i].unapplied = s->name;
            continue;
        }
        const sp_tensor *z = find_aux(all, n, all[i].name, zero_sfx,
                                      sizeof zero_sfx / sizeof *zero_sfx, taken);
        if (z != NULL && ((!is_int(z->dtype) && !float_like(z->dtype)) || groups(z, r, c) < 0)) {
            taken[s - all] = 0;
            taken[z - all] = 0;
            tmp[i].unapplied = z->name;
            continue;
        }
        tmp[i].how = SP_AUDIT_DEQUANT;
        tmp[i].scale = s->name;
        tmp[i].zero = z ? z->name : NULL;
        tmp[i].scale_t = s;
        tmp[i].zero_t = z;
    }
    /* 2. the visible list: every tensor not absorbed, floats as they are */
    for (size_t i = 0; i < n && rc == SP_OK; i++) {
        if (taken[i])
            continue;
        size_t k = v->count;
        sp_audit_tinfo *inf = &v->info[k];
        *inf = tmp[i];
        sp_tensor t = all[i];
        uint64_t cnt = count_of(&t);
        if (inf->how == SP_AUDIT_DEQUANT || (cnt >= 2 && (t.dtype == SP_DTYPE_I8 || t.dtype == SP_DTYPE_U8))) {
            float *buf = malloc((cnt ? cnt : 1) * sizeof *buf);
            if (buf == NULL) {
                rc = SP_ENOMEM;
                break;
            }
            uint64_t r = t.ndim >= 1 ? t.shape[0] : 1, c = r ? cnt / r : 0;
            int64_t gs = inf->scale_t ? groups(inf->scale_t, r, c) : 0;
            int64_t gz = inf->zero_t ? groups(inf->zero_t, r, c) : 0;
            double mul = inf->scale && strcmp(inf->scale + strlen(inf->scale) - 4, ".SCB") == 0
                             ? 1.0 / 127.0 : 1.0;
            for (uint64_t e = 0; e < cnt; e++) {
                uint64_t ri = c ? e / c : 0, j = c ? e % c : 0;
                double q = elem(&t, e);
                if (inf->zero_t)
                    q -= at(inf->zero_t, gz, ri, j, c);
                if (inf->scale_t)
                    q *= at(inf->scale_t, gs, ri, j, c) * mul;
                buf[e] = (float)q;
            }
            if (inf->how != SP_AUDIT_DEQUANT)
                inf->how = SP_AUDIT_INT_VALUES;
            v->owned[k] = buf;
            t.dtype = SP_DTYPE_F32;
            t.data = buf;
            t.nbytes = cnt * 4;
        } else if (t.dtype == SP_DTYPE_I32 && plausible_floats(&t, SP_DTYPE_F32)) {
            inf->how = SP_AUDIT_BITCAST;
            t.dtype = SP_DTYPE_F32;
        } else if (t.dtype == SP_DTYPE_I64 && plausible_floats(&t, SP_DTYPE_F64)) {
            inf->how = SP_AUDIT_BITCAST;
            t.dtype = SP_DTYPE_F64;
        } else if (t.dtype == SP_DTYPE_I16 && plausible_floats(&t, SP_DTYPE_BF16)) {
            inf->how = SP_AUDIT_BITCAST;
            t.dtype = SP_DTYPE_BF16;
        } else if (t.dtype == SP_DTYPE_I16 && plausible_floats(&t, SP_DTYPE_F16)) {
            inf->how = SP_AUDIT_BITCAST;
            t.dtype = SP_DTYPE_F16;
        }
        inf->scale_t = inf->zero_t = NULL;   /* only names stay: all[] is the caller's */
        v->tensors[k] = t;
        v->count++;
    }
    free(tmp);
out:
    free(taken);
    if (rc != SP_OK)
        sp_audit_view_free(v);
    return rc;
}

void sp_audit_view_free(sp_audit_view *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v->owned != NULL && i < v->count; i++)
        free(v->owned[i]);
    free(v->owned);
    free(v->info);
    free(v->tensors);
    memset(v, 0, sizeof *v);
}

const char *sp_audit_how_text(int how)
{
    switch (how) {
    case SP_AUDIT_DEQUANT: return "dequantised";
    case SP_AUDIT_INT_VALUES: return "integer values";
    case SP_AUDIT_BITCAST: return "bit-cast float";
    default: return "as stored";
    }
}
