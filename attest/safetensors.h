/*
 * safetensors.h - reading and writing the safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON (parsed with
 * jansson, never by hand), then the data region. Every file is untrusted: the
 * reader checks the header length against the file, every dtype, shape and
 * offset, that the byte length matches dtype and shape, and that tensors
 * neither overlap nor leave holes, before any tensor is handed out. Files are
 * memory-mapped read-only; tensor data points into the mapping.
 * Part of the public API, installed as <scratchproof/safetensors.h>.
 * Threading: a handle may be read from several threads at once.
 */
#ifndef SP_SAFETENSORS_H
#define SP_SAFETENSORS_H

#include "sp_base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_ST_HEADER_MAX (100u << 20)   /* the header may not exceed 100 MiB */

typedef struct sp_st_file sp_st_file;

/*
 * Opens and validates a safetensors file. On failure *out is NULL and, when
 * err is not NULL, err (SP_ERRMSG_MAX bytes) holds one line saying what is
 * wrong. Returns SP_OK, SP_EIO (cannot open/read/map, or not a regular file:
 * a FIFO or device is refused at once, never waited on), SP_EFORMAT (the file
 * lies about itself), SP_EUNSUPPORTED (a dtype scratchproof does not know),
 * SP_ENOMEM.
 */
SP_API int sp_st_open(sp_st_file **out, const char *path, char *err) SP_WUR SP_NONNULL(1, 2);

/*
 * The same checks on a buffer already in memory (used by the fuzz target).
 * The buffer is not copied and must outlive the handle.
 */
SP_API int sp_st_parse(sp_st_file **out, const void *buf, size_t len, char *err) SP_WUR SP_NONNULL(1);

/* Closes; NULL is a no-op. Tensor pointers become invalid. */
SP_API void sp_st_close(sp_st_file *f);

/* Number of tensors. */
SP_API size_t sp_st_count(const sp_st_file *f) SP_NONNULL(1);

/*
 * Tensor i, 0 <= i < count, in ascending name order; name and data point
 * into the handle and stay valid until sp_st_close.
 */
SP_API const sp_tensor *sp_st_tensor(const sp_st_file *f, size_t i) SP_NONNULL(1);

/* The tensor called name, or NULL. */
SP_API const sp_tensor *sp_st_find(const sp_st_file *f, const char *name) SP_NONNULL(1, 2);

/* A "__metadata__" string value, or NULL when absent. */
SP_API const char *sp_st_metadata(const sp_st_file *f, const char *key) SP_NONNULL(1, 2);

/*
 * Writes n tensors (any order in; written sorted by name) with optional
 * metadata pairs meta[2*i] = key, meta[2*i+1] = value. Atomic: writes
 * PATH.tmp, fsyncs, renames over path. Returns SP_OK, SP_EINVAL (bad tensor,
 * duplicate name), SP_ENOSPC (the disk or quota is full; PATH.tmp removed),
 * SP_EIO, SP_ENOMEM.
 */
SP_API int sp_st_write(const char *path, const sp_tensor *t, size_t n,
                       const char *const *meta, size_t nmeta) SP_WUR SP_NONNULL(1);

/*
 * sp_st_write, and on failure one line in err (SP_ERRMSG_MAX bytes, when not
 * NULL) naming the file and what failed: the tensor that is invalid or
 * repeated ("ckpt/a.safetensors: tensor name 'w' given twice"), or the
 * system call and its reason ("ckpt/a.safetensors.tmp: cannot write: No
 * space left on device (removed)"). err is "" on success.
 */
SP_API int sp_st_write_err(const char *path, const sp_tensor *t, size_t n,
                           const char *const *meta, size_t nmeta, char *err)
    SP_WUR SP_NONNULL(1);

#ifdef __cplusplus
}
#endif
#endif
