/*
 * tinytrain_model.h - tinytrain's model, data, maths and configuration text
 * (SPEC.md 11.2, 11.3, 11.5, 11.6), shared by the trainer (tinytrain.c) and
 * the attack generators of tests/attacks/, which must produce batches,
 * schemes and configuration bytes indistinguishable from tinytrain's.
 * Uses only the public API (scratchproof.h).
 */
#ifndef TINYTRAIN_MODEL_H
#define TINYTRAIN_MODEL_H

#include "scratchproof.h"

#include <stddef.h>
#include <stdint.h>

#define TT_VOCAB 64
#define TT_CTX 8                   /* tokens of context */
#define TT_EMB 64                  /* embedding width */
#define TT_IN (TT_CTX * TT_EMB)    /* 512: the concatenated context */
#define TT_HID 256                 /* hidden width */
#define TT_LN_EPS 1e-5f
#define TT_MOMENTUM 0.9f
#define TT_TEXT_LEN (1u << 18)     /* tokens of synthetic text */
#define TT_PRED 3                  /* predictions per sequence */
#define TT_SEQ (TT_CTX + TT_PRED)  /* 11 tokens per sequence */
#define TT_MAX_THREADS 256         /* --math-threads upper bound */

/* The parameters, sorted by name as records and safetensors files list them. */
enum { TT_EMBED_W, TT_FC1_B, TT_FC1_W, TT_HEAD_B, TT_HEAD_W,
       TT_NORM1_B, TT_NORM1_W, TT_NORM2_B, TT_NORM2_W, TT_NPARAMS };

typedef struct tt_param {
    const char *name, *opt_name;   /* "fc1.weight", "opt.fc1.weight.momentum" */
    uint32_t ndim;
    uint64_t shape[2];
} tt_param;

extern const tt_param TT_PARAMS[TT_NPARAMS];

/* Parameters, gradients and momentum buffers: three blocks of one allocation. */
typedef struct tt_model {
    float *all;
    size_t total;                  /* elements per block */
    float *p[TT_NPARAMS], *g[TT_NPARAMS], *m[TT_NPARAMS];
    size_t numel[TT_NPARAMS];
} tt_model;

/* Allocates a zeroed model; 0 or -1 (out of memory). tt_model_free(NULL-all) is safe. */
int tt_model_alloc(tt_model *md);
void tt_model_free(tt_model *md);

/* Describes block[i] (md->p or md->m) as an F32 sp_tensor named name. */
sp_tensor tt_describe(const tt_model *md, float *const *block, int i, const char *name);

/* The from-scratch scheme of parameter i (PyTorch's defaults, SPEC.md 11.2). */
sp_init_scheme tt_scheme(int i);

/* The synthetic text (TT_TEXT_LEN tokens, malloc'd) or NULL. */
uint8_t *tt_make_text(void);

/* The batch of a step: batch * TT_SEQ bytes, a pure function of (step, batch). */
void tt_make_batch(uint8_t *out, const uint8_t *text, uint64_t step, uint32_t batch);

/*
 * The gradient workers: n threads' scratch (activations, partial gradients).
 * n = 1 computes on the calling thread only. 0 or -1 (out of memory).
 */
typedef struct tt_workers tt_workers;
int tt_workers_create(tt_workers **out, const tt_model *md, unsigned n);
void tt_workers_free(tt_workers *w);

/*
 * Adds to md->g the gradient, with respect to md->p, of
 * (sum of the cross-entropy losses of the nb sequences at seqs) / npred_total,
 * npred_total being the number of predictions of the whole step (the batch
 * may be one micro-batch of it). The sequences are cut into the workers' n
 * contiguous chunks; chunk 0 accumulates straight into md->g, the others into
 * zeroed partial buffers added to md->g in chunk order (SPEC.md 11.5).
 * Returns the sum of the losses (nats), summed in the same order.
 */
double tt_accumulate(tt_model *md, tt_workers *w, const uint8_t *seqs, uint32_t nb,
                     uint32_t npred_total);

void tt_zero_grad(tt_model *md);

/* SGD with momentum, PyTorch semantics: m = 0.9 m + g; p -= lr m. */
void tt_sgd_step(tt_model *md, float lr);

/* The genesis model_name of a run (SPEC.md 11.4). */
void tt_model_name(char *buf, size_t cap, uint64_t batch, double lr);

/*
 * The configuration text whose exact bytes are DIR/tinytrain.config and whose
 * sp_config_digest the genesis records (SPEC.md 11.6). Returns the length
 * written (without the NUL), or 0 if cap is too small.
 */
size_t tt_config_text(char *buf, size_t cap, uint64_t batch, uint64_t micro, double lr);

/* ---- files (tinytrain_io.c) ---- */

/* The program name error lines start with ("tinytrain"; the attack programs set theirs). */
extern const char *tt_progname;

/*
 * Copies s into buf (cap >= 6) for a terminal: control bytes and non-ASCII
 * as \xNN, truncated to fit. Returns buf.
 */
const char *tt_esc(char *buf, size_t cap, const char *s);

/* 1 when name starts with prefix (always when prefix is NULL). */
int tt_matches(const char *name, const char *prefix);

#define TT_MAX_SHARDS 64   /* files of a sharded model tinytrain reads */

/*
 * Loads the parameters (opt = 0: the model's names) or the momentum buffers
 * (opt = 1: opt.<param>.momentum) from a safetensors file, or a sharded
 * model (its directory or its index: every *.safetensors there), into block (md->p,
 * md->m or another model's). Without a prefix the file must hold exactly the
 * 9 tensors; with one, only the parameters whose names start with it are
 * read (and must be present). F32 and the model's shapes, always. 0, or -1
 * after one error line on stderr naming flag and file.
 */
int tt_load_tensors(tt_model *md, float *const *block, int opt, const char *path,
                    const char *prefix, const char *flag);

/*
 * Writes OUT/NAME.safetensors from w (and OUT/NAME.opt.safetensors from opt
 * unless NULL), 9 tensors each, metadata scratchproof.step = step and
 * scratchproof.model = tinytrain. 0, or -1 after one error line.
 */
int tt_write_files(const char *out, const char *name, uint64_t step,
                   const sp_tensor *w, const sp_tensor *opt);

/*
 * The same with the weights in `shards` files (1: OUT/NAME.safetensors as
 * above; 2..9: a Hugging Face sharded model in the directory OUT/NAME/,
 * model-0000K-of-0000N.safetensors and model.safetensors.index.json, SPEC.md
 * 11.4). The momentum file stays one file beside it.
 */
int tt_write_files_sharded(const char *out, const char *name, uint64_t step,
                           const sp_tensor *w, const sp_tensor *opt, unsigned shards);

#endif
