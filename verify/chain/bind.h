/*
 * bind.h - weight files against recorded digests (SPEC.md 7.5): a safetensors
 * file is hashed once, tensor by tensor, and compared with the tensor list of
 * a checkpoint or final record, by content, never by file name.
 */
#ifndef SP_BIND_H
#define SP_BIND_H

#include "audit.h"
#include "digest.h"
#include "record.h"
#include "safetensors.h"

/*
 * A set of weights as one tensor list: a .safetensors file, or a sharded
 * model (its index JSON, or a directory holding one index or one file),
 * opened with sp_audit_model_open; every tensor of every shard is hashed on
 * one pool of threads, and the root is over the whole sorted list, so a
 * record binds a model however it is sharded (SPEC.md 7).
 */
typedef struct sp_weight_file {
    char *path;
    sp_audit_model *model;
    sp_named_digest *nd;      /* sorted by name, one per tensor */
    size_t n;
    uint8_t root[SP_DIGEST_BYTES];
} sp_weight_file;

/*
 * Opens, validates and hashes a safetensors file. SP_EIO / SP_EFORMAT /
 * SP_EUNSUPPORTED / SP_ENOMEM with err. The struct is zeroed first.
 */
int sp_weight_file_load(sp_weight_file *w, const char *path, unsigned threads, char *err)
    SP_WUR SP_NONNULL(1, 2);
/*
 * The same, reporting the bytes hashed through pg->fn (digest.h) with pg->what;
 * pg->total 0 means "this weight set's bytes". pg NULL: none.
 */
int sp_weight_file_load_progress(sp_weight_file *w, const char *path, unsigned threads,
                                 const sp_progress *pg, char *err) SP_WUR SP_NONNULL(1, 2);
void sp_weight_file_free(sp_weight_file *w);

/*
 * Tensors as the audit reads them, for float maths (trajectory, tolerance
 * replay): sorted by name, int8 dequantised and their scales absorbed
 * (audit.h); valid until sp_weight_file_free. The digests and root (nd, root)
 * are over the tensors as stored. And the number of shard files.
 */
size_t sp_weight_file_count(const sp_weight_file *w) SP_NONNULL(1);
const sp_tensor *sp_weight_file_tensor(const sp_weight_file *w, size_t i) SP_NONNULL(1);
const sp_tensor *sp_weight_file_find(const sp_weight_file *w, const char *name) SP_NONNULL(1, 2);
size_t sp_weight_file_shards(const sp_weight_file *w) SP_NONNULL(1);

/* 1 when the file's root equals the record's root (constant time). */
int sp_weight_file_matches(const sp_weight_file *w, const Sp__Record *r) SP_NONNULL(1, 2);

/* How many of the record's tensors the file holds with the same digest. */
size_t sp_weight_file_common(const sp_weight_file *w, const Sp__Record *r) SP_NONNULL(1, 2);

/*
 * One line naming the tensors that differ, are missing or are extra in the
 * file compared with the record (at most a few named, then a count).
 */
void sp_weight_file_diff(char *out, size_t cap, const sp_weight_file *w, const Sp__Record *r)
    SP_NONNULL(1, 3, 4);

#endif
