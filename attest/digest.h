/*
 * digest.h - BLAKE2b-256 digests of tensors and checkpoints (SPEC.md 2).
 *
 * A tensor's bytes are cut into fixed SP_CHUNK_BYTES chunks; each chunk is a
 * leaf hashed on its own (so several threads share one large tensor), and the
 * tensor digest binds the leaves together with the tensor's name, dtype and
 * shape. A checkpoint root binds the tensor digests of one checkpoint, sorted
 * by name. All outputs are caller-owned; nothing here keeps state between
 * calls. nthreads 0 or 1 means the calling thread only.
 */
#ifndef SP_DIGEST_H
#define SP_DIGEST_H

#include "sp_base.h"
#include "sp_digest.h"   /* public: sp_hash_tagged, sp_tensor_digest */

#define SP_CHUNK_BYTES (1u << 20)   /* 1 MiB leaves; part of the format */
#include "pool.h"   /* SP_MAX_THREADS */

/* A tensor name with its digest, the unit of a checkpoint root. */
typedef struct sp_named_digest {
    const char *name;
    uint8_t digest[SP_DIGEST_BYTES];
} sp_named_digest;

/*
 * The chunk-tree root of n raw bytes (SPEC.md 2.1). data may be NULL when n
 * is 0. Returns SP_OK, SP_EINVAL, SP_ENOMEM (thread start failed falls back
 * to one thread, never an error).
 */
int sp_data_root(uint8_t out[SP_DIGEST_BYTES], const void *data, uint64_t n,
                 unsigned nthreads) SP_WUR SP_NONNULL(1);

/*
 * The same root as sp_data_root over the first n bytes of the open file fd,
 * read with pread(2) into one 1 MiB buffer per thread instead of through a
 * mapping (first touches of mapped pages are costly, notably in virtual
 * machines; this reads whole files faster). The file offset is not used or
 * moved. Returns SP_OK, SP_EINVAL, SP_EIO (read error or the file is shorter
 * than n), SP_ENOMEM; on failure out is zeroed.
 */
int sp_fd_root(uint8_t out[SP_DIGEST_BYTES], int fd, uint64_t n,
               unsigned nthreads) SP_WUR SP_NONNULL(1);

/*
 * Progress of long hashing, in bytes: fn(ctx, what, base + bytes hashed so far,
 * total) is called on the calling thread (thread 0 of the pool) after each chunk
 * it hashes, so fn needs no locking; base and total let one job of many calls
 * report as one (SPEC.md 8.6). fn may be NULL.
 */
typedef struct sp_progress {
    void (*fn)(void *ctx, const char *what, uint64_t done, uint64_t total);
    void *ctx;
    const char *what;
    uint64_t base, total;
} sp_progress;

/*
 * Produces bytes [off, off + len) of a tensor into buf (len <= SP_CHUNK_BYTES,
 * off a multiple of SP_CHUNK_BYTES). Called from several threads at once,
 * each with its own buf. Returns SP_OK or an SP_E* code that stops the work.
 */
typedef int (*sp_chunk_source)(void *ctx, uint8_t *buf, uint64_t off, size_t len);

/*
 * The digest of a tensor described by t (t->data is ignored) whose bytes are
 * produced chunk by chunk by gen, on nthreads threads: nothing larger than one
 * chunk per thread is ever materialised (a genesis is checked this way, each
 * chunk regenerated and hashed while it is in cache). Errors: those of
 * sp_tensor_check, SP_ENOMEM, or gen's; on failure out is zeroed.
 */
int sp_tensor_digest_gen(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                         sp_chunk_source gen, void *ctx, unsigned nthreads) SP_WUR SP_NONNULL(1, 2, 3);
/* The same, reporting progress through pg (NULL: none). */
int sp_tensor_digest_gen_progress(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, sp_chunk_source gen,
                                  void *ctx, unsigned nthreads, const sp_progress *pg)
    SP_WUR SP_NONNULL(1, 2, 3);

/*
 * Digests of n tensors at once, out[i] for t[i]; the chunks of all tensors
 * form one pool of work for nthreads threads, so a model of many small
 * tensors and one of a few big ones both use every thread.
 */
int sp_tensors_digest(uint8_t (*out)[SP_DIGEST_BYTES], const sp_tensor *t,
                      size_t n, unsigned nthreads) SP_WUR;

/* sp_tensors_digest reporting progress through pg (NULL: none). */
int sp_tensors_digest_progress(uint8_t (*out)[SP_DIGEST_BYTES], const sp_tensor *t, size_t n,
                               unsigned nthreads, const sp_progress *pg) SP_WUR;

/* Sorts d[0..n) by name, bytewise (strcmp order), in place. */
void sp_named_digest_sort(sp_named_digest *d, size_t n);

/*
 * The checkpoint root over n tensor digests (SPEC.md 2.3). d must be sorted
 * strictly ascending by name: SP_EINVAL for unsorted input or a duplicate
 * name. n may be 0.
 */
int sp_checkpoint_root(uint8_t out[SP_DIGEST_BYTES], const sp_named_digest *d,
                       size_t n) SP_WUR SP_NONNULL(1);

/*
 * The same root over n digests given by at(ctx, i) (32 bytes each, in the
 * tensors' name order), for lists already checked sorted and unique (a
 * decoded record's, SPEC.md 3.3): nothing is copied out or allocated.
 * Returns SP_OK. Thread-safe when at is.
 */
int sp_checkpoint_root_at(uint8_t out[SP_DIGEST_BYTES], size_t n,
                          const uint8_t *(*at)(const void *ctx, size_t i), const void *ctx)
    SP_WUR SP_NONNULL(1, 3);

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void sp_hex(char *out, const uint8_t *in, size_t len) SP_NONNULL(1);

#endif
