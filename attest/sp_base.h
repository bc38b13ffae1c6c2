/*
 * sp_base.h - what every layer of scratchproof shares: error codes, tensor
 * dtypes, the description of a tensor in memory, and initialisation schemes.
 *
 * This header is installed with the public API (hooks/scratchproof.h) as
 * <scratchproof/sp_base.h>. Nothing here allocates; every function is
 * thread-safe. SP_API marks what libscratchproof.so exports: the library is
 * built with -fvisibility=hidden, so a function declared without it in an
 * installed header would be missing from the shared library
 * (tests/cli/pkg.sh compares `nm -D` with the installed headers).
 */
#ifndef SP_BASE_H
#define SP_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SP_WUR __attribute__((warn_unused_result))
#define SP_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define SP_API __attribute__((visibility("default")))
#else
#define SP_WUR
#define SP_NONNULL(...)
#define SP_API
#endif

/* Sizes fixed by the formats in SPEC.md. */
#define SP_DIGEST_BYTES 32u     /* BLAKE2b-256 */
#define SP_RUN_ID_BYTES 16u
#define SP_MAX_DIMS 8u
#define SP_NAME_MAX 512u        /* longest tensor name accepted, bytes */
#define SP_ERRMSG_MAX 256u      /* size of the optional detail buffers */

/* Error codes: 0 is success, every failure is negative. */
enum {
    SP_OK = 0,
    SP_EINVAL = -1,     /* an argument is invalid (NULL, out of range, unknown flag) */
    SP_ENOMEM = -2,     /* allocation failed */
    SP_EIO = -3,        /* a file could not be opened, read, written or synced */
    SP_EFORMAT = -4,    /* input is malformed: file, header, key or record */
    SP_ECRYPTO = -5,    /* a signature does not verify, or a crypto call failed */
    SP_EBUSY = -6,      /* the ledger is held by another writer */
    SP_ENOTFOUND = -7,  /* no such record, tensor or file */
    SP_EBADSTATE = -8,  /* the handle is unusable after an earlier failure, or
                           the call is out of order */
    SP_ELEDGER = -9,    /* the LMDB environment failed */
    SP_EKEY = -10,      /* a key file is missing, unreadable, of the wrong type
                           or too widely readable */
    SP_EMISMATCH = -11, /* a digest does not match its record */
    SP_ERANGE = -12,    /* a size or count is beyond what the format allows */
    SP_EUNSUPPORTED = -13, /* valid but not supported (e.g. an unknown dtype) */
    SP_ENOSPC = -14     /* a write failed for lack of space (ENOSPC, EDQUOT, a full map) */
};

/* A sentence for any code returned by an sp_ function; never NULL. */
SP_API const char *sp_strerror(int rc);

/*
 * Formats a detail line into err (SP_ERRMSG_MAX bytes) when err is not NULL.
 * Control characters, invalid UTF-8 and the code points escape.h lists
 * become '?', so a message quoting untrusted text (a tensor name from a
 * file) stays one line of valid UTF-8. Printing it still goes through
 * sp_escape (SPEC.md 1.1).
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
SP_API void sp_errf(char *err, const char *fmt, ...);

/* Element types. The numbers are part of the record format (SPEC.md 3). */
typedef enum sp_dtype {
    SP_DTYPE_INVALID = 0,
    SP_DTYPE_F32 = 1,
    SP_DTYPE_F16 = 2,
    SP_DTYPE_BF16 = 3,
    SP_DTYPE_F64 = 4,
    SP_DTYPE_I64 = 5,
    SP_DTYPE_I32 = 6,
    SP_DTYPE_I16 = 7,
    SP_DTYPE_I8 = 8,
    SP_DTYPE_U8 = 9,
    SP_DTYPE_BOOL = 10,
    SP_DTYPE_F8_E4M3 = 11,  /* float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN */
    SP_DTYPE_F8_E5M2 = 12   /* float8 e5m2: bias 15, IEEE-like (the high byte of an F16) */
} sp_dtype;
#define SP_DTYPE_MAX 12

/* Bytes per element, 0 for an invalid dtype. */
SP_API size_t sp_dtype_size(sp_dtype dt);
/* The safetensors name ("F32", "BF16", ...) or NULL for an invalid dtype. */
SP_API const char *sp_dtype_name(sp_dtype dt);
/* The dtype for a safetensors name, SP_DTYPE_INVALID when unknown. */
SP_API sp_dtype sp_dtype_from_name(const char *name) SP_NONNULL(1);

/*
 * A tensor in memory, row-major and contiguous. The struct never owns its
 * name or data. nbytes must equal product(shape) * sp_dtype_size(dtype);
 * ndim 0 is a scalar (one element).
 */
typedef struct sp_tensor {
    const char *name;
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} sp_tensor;

/*
 * Number of elements of a shape, into *out. SP_ERANGE when the product or
 * the byte size would overflow 2^62, SP_EINVAL when ndim > SP_MAX_DIMS.
 */
SP_API int sp_shape_numel(uint64_t *out, const uint64_t *shape, uint32_t ndim) SP_WUR;

/*
 * Checks a tensor description: name non-empty and at most SP_NAME_MAX bytes,
 * valid dtype, ndim <= SP_MAX_DIMS, nbytes consistent with the shape, data
 * non-NULL when nbytes > 0. Returns SP_OK or SP_EINVAL / SP_ERANGE.
 */
SP_API int sp_tensor_check(const sp_tensor *t) SP_WUR SP_NONNULL(1);

/*
 * Initialisation schemes (SPEC.md 6). Parameters, in p[]:
 *   SP_INIT_EXTERNAL      none: the weights came from elsewhere (loaded);
 *                         a verifier can never regenerate them.
 *   SP_INIT_ZEROS         none
 *   SP_INIT_CONSTANT      p[0] = value
 *   SP_INIT_UNIFORM       p[0] = low, p[1] = high       (low < high)
 *   SP_INIT_NORMAL        p[0] = mean, p[1] = std       (std > 0)
 *   SP_INIT_TRUNC_NORMAL  p[0] = mean, p[1] = std, p[2] = low, p[3] = high,
 *                         absolute bounds as torch.nn.init.trunc_normal_
 *                         (low < high, std > 0)
 *   SP_INIT_UNIFORM32     p[0] = low, p[1] = high       (low < high)
 *   SP_INIT_NORMAL32      p[0] = mean, p[1] = std       (std > 0; both round to
 *                         finite binary32, std to one > 0)
 *   The *32 kinds (scheme version 2, SPEC.md 6.8) read 4 keystream bytes per
 *   element: 24-bit uniforms, Box-Muller in binary32 (|z| <= 5.77).
 *   SP_INIT_ORTHOGONAL    p[0] = gain (> 0), p[1] = rows, p[2] = cols: the
 *                         matrix of torch.nn.init.orthogonal_ (rows = shape[0],
 *                         cols = numel / rows; integers, rows * cols at most
 *                         SP_INIT_ORTHO_MAX_NUMEL)
 * Unused parameters must be 0.
 */
typedef enum sp_init_kind {
    SP_INIT_EXTERNAL = 0,
    SP_INIT_ZEROS = 1,
    SP_INIT_CONSTANT = 2,
    SP_INIT_UNIFORM = 3,
    SP_INIT_NORMAL = 4,
    SP_INIT_TRUNC_NORMAL = 5,
    SP_INIT_UNIFORM32 = 6,
    SP_INIT_NORMAL32 = 7,
    SP_INIT_ORTHOGONAL = 8
} sp_init_kind;
#define SP_INIT_KIND_MAX 8
/* ORTHOGONAL: at most 2^24 elements and rows * cols * min(rows, cols) at most 2^36
 * (the QR factorisation's cost), SPEC.md 6.9. */
#define SP_INIT_ORTHO_MAX_NUMEL (UINT64_C(1) << 24)
#define SP_INIT_ORTHO_MAX_WORK (UINT64_C(1) << 36)

typedef struct sp_init_scheme {
    sp_init_kind kind;
    double p[4];
} sp_init_scheme;

/*
 * Per-range schemes (SPEC.md 6.10): elements [first, first + count) of a tensor
 * take the values scheme init gives those same element indices. A tensor's
 * ranges are 2 to SP_INIT_MAX_RANGES, in element order, from element 0, each
 * starting where the previous one ends and covering the tensor, none empty,
 * none EXTERNAL, and no two neighbours with the same scheme.
 */
typedef struct sp_init_range {
    uint64_t first;
    uint64_t count;
    sp_init_scheme init;
} sp_init_range;
#define SP_INIT_MAX_RANGES 65536u

#ifdef __cplusplus
}
#endif
#endif /* SP_BASE_H */
