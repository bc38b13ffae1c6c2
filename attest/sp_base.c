/* sp_base.c - error sentences, dtype tables and tensor checks (sp_base.h). */
#include "sp_base.h"
#include "escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sp_strerror(int rc)
{
    switch (rc) {
    case SP_OK: return "success";
    case SP_EINVAL: return "invalid argument";
    case SP_ENOMEM: return "out of memory";
    case SP_EIO: return "input/output error";
    case SP_EFORMAT: return "malformed input";
    case SP_ECRYPTO: return "signature does not verify";
    case SP_EBUSY: return "ledger is held by another writer";
    case SP_ENOTFOUND: return "not found";
    case SP_EBADSTATE: return "handle unusable or call out of order";
    case SP_ELEDGER: return "ledger database error";
    case SP_EKEY: return "bad key file";
    case SP_EMISMATCH: return "digest mismatch";
    case SP_ERANGE: return "size beyond what the format allows";
    case SP_EUNSUPPORTED: return "unsupported";
    case SP_ENOSPC: return "no space left on device";
    default: return "unknown error";
    }
}

void sp_errf(char *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SP_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    sp_escape_scrub(err);
}

static const struct {
    const char *name;
    size_t size;
} dtypes[SP_DTYPE_MAX + 1] = {
    [SP_DTYPE_INVALID] = {NULL, 0},
    [SP_DTYPE_F32] = {"F32", 4},
    [SP_DTYPE_F16] = {"F16", 2},
    [SP_DTYPE_BF16] = {"BF16", 2},
    [SP_DTYPE_F64] = {"F64", 8},
    [SP_DTYPE_I64] = {"I64", 8},
    [SP_DTYPE_I32] = {"I32", 4},
    [SP_DTYPE_I16] = {"I16", 2},
    [SP_DTYPE_I8] = {"I8", 1},
    [SP_DTYPE_U8] = {"U8", 1},
    [SP_DTYPE_BOOL] = {"BOOL", 1},
    [SP_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [SP_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

size_t sp_dtype_size(sp_dtype dt)
{
    if ((int)dt <= 0 || (int)dt > SP_DTYPE_MAX)
        return 0;
    return dtypes[dt].size;
}

const char *sp_dtype_name(sp_dtype dt)
{
    if ((int)dt <= 0 || (int)dt > SP_DTYPE_MAX)
        return NULL;
    return dtypes[dt].name;
}

sp_dtype sp_dtype_from_name(const char *name)
{
    for (int i = 1; i <= SP_DTYPE_MAX; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return (sp_dtype)i;
    return SP_DTYPE_INVALID;
}

#define SP_SIZE_LIMIT (UINT64_C(1) << 62)

int sp_shape_numel(uint64_t *out, const uint64_t *shape, uint32_t ndim)
{
    if (ndim > SP_MAX_DIMS || (ndim > 0 && shape == NULL))
        return SP_EINVAL;
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; i++)   /* no division: verify checks a million of these */
        if (__builtin_mul_overflow(n, shape[i], &n) || n > SP_SIZE_LIMIT)
            return SP_ERANGE;
    *out = n;
    return SP_OK;
}

int sp_tensor_check(const sp_tensor *t)
{
    if (t->name == NULL || t->name[0] == '\0')
        return SP_EINVAL;
    if (strnlen(t->name, SP_NAME_MAX + 1) > SP_NAME_MAX)
        return SP_EINVAL;
    size_t es = sp_dtype_size(t->dtype);
    if (es == 0)
        return SP_EINVAL;
    uint64_t n;
    int rc = sp_shape_numel(&n, t->shape, t->ndim);
    if (rc != SP_OK)
        return rc;
    if (n > SP_SIZE_LIMIT / es)
        return SP_ERANGE;
    if (n * es != t->nbytes)
        return SP_EINVAL;
    if (t->nbytes > 0 && t->data == NULL)
        return SP_EINVAL;
    return SP_OK;
}
