/*
 * tinytrain.c - a small deterministic trainer that uses only the public API.
 *
 * A next-token model over a 64-symbol vocabulary, trained on a synthetic text
 * it generates itself (a seeded little "language": a fixed lexicon of words
 * chained by a word-level Markov chain). The text and the batches are the same
 * for every --seed, so two runs differ only by their initialisation. A batch
 * is --batch sequences of 11 tokens; each gives 3 predictions (tokens 8..10,
 * each from the 8 tokens before it), as a language model learns every position:
 *
 *   8 previous tokens -> embed.weight [64 x 64] -> concat (512)
 *   -> LayerNorm norm1 [512] -> fc1 [256 x 512] + bias -> ReLU
 *   -> LayerNorm norm2 [256] -> head [64 x 256] + bias -> softmax cross-entropy
 *
 * SGD with momentum 0.9 (PyTorch semantics: v = 0.9 v + g; p -= lr v), float32
 * parameters, single-threaded math in a fixed order: the same flags give
 * bit-identical checkpoints. Every step commits its batch to the ledger, every
 * --every steps a checkpoint is written (weights in DIR/stepNNNNNN.safetensors,
 * momentum in DIR/stepNNNNNN.opt.safetensors) and recorded, the final weights
 * (DIR/final.safetensors) last. SPEC.md describes every byte of this.
 * With --init-from the weights are loaded instead and recorded as external:
 * the fine-tune impostor a verifier must reject.
 */
#include "scratchproof.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define VOCAB 64
#define CTX 8                 /* tokens of context */
#define EMB 64                /* embedding width */
#define IN (CTX * EMB)        /* 512: the concatenated context */
#define HID 256               /* hidden width */
#define LN_EPS 1e-5f
#define MOMENTUM 0.9f
#define TEXT_LEN (1u << 18)   /* tokens of synthetic text */
#define PRED 3                /* predictions per sequence */
#define SEQ (CTX + PRED)      /* 11 tokens per sequence */

/* ---- the parameters ---------------------------------------------------- */

/* Sorted by name, as the records and safetensors files list them. */
enum { P_EMBED_W, P_FC1_B, P_FC1_W, P_HEAD_B, P_HEAD_W,
       P_NORM1_B, P_NORM1_W, P_NORM2_B, P_NORM2_W, NPARAMS };

static const struct {
    const char *name, *opt_name;
    uint32_t ndim;
    uint64_t shape[2];
} PARAMS[NPARAMS] = {
    { "embed.weight", "opt.embed.weight.momentum", 2, { VOCAB, EMB } },
    { "fc1.bias",     "opt.fc1.bias.momentum",     1, { HID, 0 } },
    { "fc1.weight",   "opt.fc1.weight.momentum",   2, { HID, IN } },
    { "head.bias",    "opt.head.bias.momentum",    1, { VOCAB, 0 } },
    { "head.weight",  "opt.head.weight.momentum",  2, { VOCAB, HID } },
    { "norm1.bias",   "opt.norm1.bias.momentum",   1, { IN, 0 } },
    { "norm1.weight", "opt.norm1.weight.momentum", 1, { IN, 0 } },
    { "norm2.bias",   "opt.norm2.bias.momentum",   1, { HID, 0 } },
    { "norm2.weight", "opt.norm2.weight.momentum", 1, { HID, 0 } },
};

typedef struct model {
    float *all;               /* params, grads and momentum, one allocation */
    size_t total;             /* elements per block */
    float *p[NPARAMS], *g[NPARAMS], *m[NPARAMS];
    size_t numel[NPARAMS];
} model;

static int model_alloc(model *md)
{
    size_t total = 0;
    for (int i = 0; i < NPARAMS; i++) {
        md->numel[i] = PARAMS[i].shape[0] * (PARAMS[i].ndim == 2 ? PARAMS[i].shape[1] : 1);
        total += md->numel[i];
    }
    md->total = total;
    md->all = calloc(3 * total, sizeof(float));
    if (!md->all)
        return -1;
    size_t off = 0;
    for (int i = 0; i < NPARAMS; i++) {
        md->p[i] = md->all + off;
        md->g[i] = md->all + total + off;
        md->m[i] = md->all + 2 * total + off;
        off += md->numel[i];
    }
    return 0;
}

/* Describes block[i] (params or momentum) as an sp_tensor. */
static sp_tensor describe(const model *md, float *const *block, int i, const char *name)
{
    sp_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = SP_DTYPE_F32;
    t.ndim = PARAMS[i].ndim;
    t.shape[0] = PARAMS[i].shape[0];
    t.shape[1] = PARAMS[i].shape[1];
    t.data = block[i];
    t.nbytes = md->numel[i] * sizeof(float);
    return t;
}

/*
 * The from-scratch schemes, PyTorch's defaults: nn.Embedding normal(0, 1);
 * nn.Linear weight and bias uniform(+-1/sqrt(fan_in)); LayerNorm weight 1,
 * bias 0.
 */
static sp_init_scheme scheme_for(int i)
{
    sp_init_scheme s;
    memset(&s, 0, sizeof s);
    double fan_in = 0;
    switch (i) {
    case P_EMBED_W: s.kind = SP_INIT_NORMAL; s.p[0] = 0.0; s.p[1] = 1.0; return s;
    case P_NORM1_W: case P_NORM2_W: s.kind = SP_INIT_CONSTANT; s.p[0] = 1.0; return s;
    case P_NORM1_B: case P_NORM2_B: s.kind = SP_INIT_ZEROS; return s;
    case P_FC1_W: case P_FC1_B: fan_in = IN; break;
    default: fan_in = HID; break;    /* head */
    }
    s.kind = SP_INIT_UNIFORM;
    s.p[0] = -1.0 / sqrt(fan_in);
    s.p[1] = 1.0 / sqrt(fan_in);
    return s;
}

/* ---- the data ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for small n; the tiny modulo bias does not matter here. */
static uint32_t below(uint64_t *s, uint32_t n) { return (uint32_t)(splitmix64(s) % n); }

#define TOK_SPACE 0
#define TOK_STOP 1            /* tokens 2..63 are "letters" */
#define NWORDS 48
#define NSUCC 3

/*
 * The synthetic language, fixed by a constant seed: NWORDS words of 2-5
 * letters; each word has NSUCC possible successors taken with probability
 * 5/8, 2/8, 1/8; after a word comes a space, or with probability 1/6 a stop
 * and a space. Returns the text (TEXT_LEN tokens) or NULL.
 */
static uint8_t *make_text(void)
{
    uint64_t s = 0x74696e7974726169ull;   /* "tinytrai" */
    uint8_t word[NWORDS][5], len[NWORDS];
    uint8_t succ[NWORDS][NSUCC];
    for (int w = 0; w < NWORDS; w++) {
        len[w] = (uint8_t)(2 + below(&s, 4));
        for (int k = 0; k < len[w]; k++)
            word[w][k] = (uint8_t)(2 + below(&s, VOCAB - 2));
        for (int k = 0; k < NSUCC; k++)
            succ[w][k] = (uint8_t)below(&s, NWORDS);
    }
    uint8_t *text = malloc(TEXT_LEN);
    if (!text)
        return NULL;
    uint32_t n = 0, w = 0;
    while (n < TEXT_LEN) {
        for (int k = 0; k < len[w] && n < TEXT_LEN; k++)
            text[n++] = word[w][k];
        if (n < TEXT_LEN && below(&s, 6) == 0)
            text[n++] = TOK_STOP;
        if (n < TEXT_LEN)
            text[n++] = TOK_SPACE;
        uint32_t r = below(&s, 8);
        w = succ[w][r < 5 ? 0 : r < 7 ? 1 : 2];
    }
    return text;
}

/*
 * The batch of a step, a pure function of (step, batch size): sequence b is
 * the SEQ tokens at a position drawn from splitmix64 seeded by the step.
 * Out holds batch * SEQ bytes, the sequences one after another; these bytes
 * are what the ledger commits to. Like a language model trained on every
 * position, each sequence gives PRED predictions: token CTX + t from the CTX
 * tokens before it, t = 0 .. PRED-1.
 */
static void make_batch(uint8_t *out, const uint8_t *text, uint64_t step, uint32_t batch)
{
    uint64_t s = 0x6261746368657321ull ^ step;   /* "batches!" */
    for (uint32_t b = 0; b < batch; b++) {
        uint32_t pos = below(&s, TEXT_LEN - SEQ);
        memcpy(out + (size_t)b * SEQ, text + pos, SEQ);
    }
}

/* ---- forward and backward ---------------------------------------------- */

/* Scratch activations of one prediction. */
typedef struct acts {
    float x[IN], xhat1[IN], h1[IN], dh1[IN], dx[IN];
    float z[HID], r[HID], rhat2[HID], h2[HID], dh2[HID], dr[HID];
    float logits[VOCAB], dlogits[VOCAB];
    float rstd1, rstd2;
} acts;

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* out = xhat * g + bias, xhat = (x - mean) / sqrt(var + eps); keeps xhat, rstd. */
static void layernorm_forward(float *out, float *xhat, float *rstd, const float *x,
                              const float *g, const float *bias, int n)
{
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    *rstd = 1.0f / sqrtf(var + LN_EPS);
    for (int i = 0; i < n; i++) {
        xhat[i] = (x[i] - mean) * *rstd;
        out[i] = xhat[i] * g[i] + bias[i];
    }
}

/* dx from dout; accumulates dg, dbias. */
static void layernorm_backward(float *dx, float *dg, float *dbias, const float *dout,
                               const float *xhat, float rstd, const float *g, int n)
{
    float mean_d = 0.0f, mean_dx = 0.0f;
    for (int i = 0; i < n; i++) {
        float d = dout[i] * g[i];
        mean_d += d;
        mean_dx += d * xhat[i];
        dg[i] += dout[i] * xhat[i];
        dbias[i] += dout[i];
    }
    mean_d /= (float)n;
    mean_dx /= (float)n;
    for (int i = 0; i < n; i++)
        dx[i] = rstd * (dout[i] * g[i] - mean_d - xhat[i] * mean_dx);
}

/*
 * One training step's forward and backward over the batch, prediction by
 * prediction in order (sequence b, then position t); leaves the gradient of
 * the mean loss over the nb * PRED predictions in md->g and returns that
 * mean cross-entropy loss (nats).
 */
static double forward_backward(model *md, acts *a, const uint8_t *batch, uint32_t nb)
{
    float *const *p = md->p, *const *g = md->g;
    const uint32_t npred = nb * PRED;
    memset(md->g[0], 0, md->total * sizeof(float));
    double loss_sum = 0.0;
    for (uint32_t n = 0; n < npred; n++) {
        const uint8_t *tk = batch + (size_t)(n / PRED) * SEQ + n % PRED;
        const int target = tk[CTX];

        /* forward */
        for (int i = 0; i < CTX; i++)
            memcpy(a->x + i * EMB, p[P_EMBED_W] + tk[i] * EMB, EMB * sizeof(float));
        layernorm_forward(a->h1, a->xhat1, &a->rstd1, a->x, p[P_NORM1_W], p[P_NORM1_B], IN);
        for (int j = 0; j < HID; j++) {
            a->z[j] = p[P_FC1_B][j] + dot(p[P_FC1_W] + j * IN, a->h1, IN);
            a->r[j] = a->z[j] > 0.0f ? a->z[j] : 0.0f;
        }
        layernorm_forward(a->h2, a->rhat2, &a->rstd2, a->r, p[P_NORM2_W], p[P_NORM2_B], HID);
        float maxl = -INFINITY;
        for (int v = 0; v < VOCAB; v++) {
            a->logits[v] = p[P_HEAD_B][v] + dot(p[P_HEAD_W] + v * HID, a->h2, HID);
            if (a->logits[v] > maxl)
                maxl = a->logits[v];
        }
        float sum = 0.0f;
        for (int v = 0; v < VOCAB; v++) {
            a->dlogits[v] = expf(a->logits[v] - maxl);
            sum += a->dlogits[v];
        }
        loss_sum += (double)(logf(sum) + maxl - a->logits[target]);

        /* backward: d(mean loss)/dlogits = (softmax - onehot) / npred */
        for (int v = 0; v < VOCAB; v++)
            a->dlogits[v] = (a->dlogits[v] / sum - (v == target ? 1.0f : 0.0f)) / (float)npred;
        memset(a->dh2, 0, sizeof a->dh2);
        for (int v = 0; v < VOCAB; v++) {
            const float d = a->dlogits[v];
            const float *w = p[P_HEAD_W] + v * HID;
            float *dw = g[P_HEAD_W] + v * HID;
            g[P_HEAD_B][v] += d;
            for (int k = 0; k < HID; k++) {
                dw[k] += d * a->h2[k];
                a->dh2[k] += d * w[k];
            }
        }
        layernorm_backward(a->dr, g[P_NORM2_W], g[P_NORM2_B], a->dh2, a->rhat2, a->rstd2,
                           p[P_NORM2_W], HID);
        memset(a->dh1, 0, sizeof a->dh1);
        for (int j = 0; j < HID; j++) {
            const float dz = a->z[j] > 0.0f ? a->dr[j] : 0.0f;
            const float *w = p[P_FC1_W] + j * IN;
            float *dw = g[P_FC1_W] + j * IN;
            g[P_FC1_B][j] += dz;
            for (int k = 0; k < IN; k++) {
                dw[k] += dz * a->h1[k];
                a->dh1[k] += dz * w[k];
            }
        }
        layernorm_backward(a->dx, g[P_NORM1_W], g[P_NORM1_B], a->dh1, a->xhat1, a->rstd1,
                           p[P_NORM1_W], IN);
        for (int i = 0; i < CTX; i++) {
            float *de = g[P_EMBED_W] + tk[i] * EMB;
            for (int e = 0; e < EMB; e++)
                de[e] += a->dx[i * EMB + e];
        }
    }
    return loss_sum / npred;
}

/* SGD with momentum, PyTorch semantics (the first step's buffer is the gradient). */
static void sgd_step(model *md, float lr)
{
    float *p = md->p[0], *g = md->g[0], *m = md->m[0];
    for (size_t i = 0; i < md->total; i++) {
        m[i] = MOMENTUM * m[i] + g[i];
        p[i] -= lr * m[i];
    }
}

/* ---- command line and the run ------------------------------------------ */

typedef struct config {
    const char *ledger, *key, *out, *init_from;
    uint64_t seed, steps, every, threads, batch;
    double lr;
    int quiet, stats, have_seed;
} config;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tinytrain --ledger LEDGER --key KEY --seed N --steps N --every N --out DIR\n"
        "                 [--init-from FILE] [--threads N] [--batch N] [--lr X]\n"
        "                 [--quiet] [--stats]\n"
        "Trains a small next-token model on built-in synthetic text, recording its\n"
        "genesis, a batch commitment per step, a checkpoint every N steps\n"
        "(DIR/stepNNNNNN.safetensors, optimizer state in DIR/stepNNNNNN.opt.safetensors)\n"
        "and the final weights (DIR/final.safetensors) in the signed ledger.\n"
        "  --init-from FILE  start from these weights (recorded as external)\n"
        "  --threads N       hashing threads of the hook (default 1)\n"
        "  --batch N         sequences of 11 tokens per step (default 32)\n"
        "  --lr X            learning rate (default 0.05), momentum 0.9\n"
        "  --quiet           no progress lines\n"
        "  --stats           print wall time, hook time and hook fraction on stdout\n"
        "Exit: 0 done, 1 a ledger or checkpoint write failed, 2 usage or unreadable input.\n");
}

/* Parses a whole decimal uint64 in [lo, hi]; 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parses argv into c; 0 ok, 1 for --help, -1 after printing one error line. */
static int parse_args(int argc, char **argv, config *c)
{
    static const struct option opts[] = {
        { "ledger", required_argument, 0, 'l' }, { "key", required_argument, 0, 'k' },
        { "seed", required_argument, 0, 's' },   { "steps", required_argument, 0, 'n' },
        { "every", required_argument, 0, 'e' },  { "out", required_argument, 0, 'o' },
        { "init-from", required_argument, 0, 'i' }, { "threads", required_argument, 0, 't' },
        { "batch", required_argument, 0, 'b' },  { "lr", required_argument, 0, 'r' },
        { "quiet", no_argument, 0, 'q' },        { "stats", no_argument, 0, 'S' },
        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 }
    };
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->lr = 0.05;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        const char *what = NULL;
        switch (ch) {
        case 'l': c->ledger = optarg; break;
        case 'k': c->key = optarg; break;
        case 'o': c->out = optarg; break;
        case 'i': c->init_from = optarg; break;
        case 's': bad = parse_u64(optarg, 0, UINT64_MAX, &c->seed); c->have_seed = 1;
                  what = "--seed wants an integer in [0, 2^64)"; break;
        case 'n': bad = parse_u64(optarg, 1, 1000000000, &c->steps);
                  what = "--steps wants an integer in [1, 10^9]"; break;
        case 'e': bad = parse_u64(optarg, 1, 1000000000, &c->every);
                  what = "--every wants an integer in [1, 10^9]"; break;
        case 't': bad = parse_u64(optarg, 0, 256, &c->threads);
                  what = "--threads wants an integer in [0, 256]"; break;
        case 'b': bad = parse_u64(optarg, 1, 65536, &c->batch);
                  what = "--batch wants an integer in [1, 65536]"; break;
        case 'r': {
            char *end = NULL;
            errno = 0;
            c->lr = strtod(optarg, &end);
            bad = (errno || end == optarg || *end || !(c->lr > 0.0 && c->lr <= 10.0)) ? -1 : 0;
            what = "--lr wants a number in (0, 10]";
            break;
        }
        case 'q': c->quiet = 1; break;
        case 'S': c->stats = 1; break;
        case 'h': return 1;
        default:
            fprintf(stderr, "tinytrain: unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "tinytrain: %s, got '%s'\n", what, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tinytrain: unexpected argument: %s (see --help)\n", argv[optind]);
        return -1;
    }
    const char *missing = !c->ledger ? "--ledger" : !c->key ? "--key" : !c->have_seed ? "--seed"
                        : !c->steps ? "--steps" : !c->every ? "--every" : !c->out ? "--out" : NULL;
    if (missing) {
        fprintf(stderr, "tinytrain: %s is required (see --help)\n", missing);
        return -1;
    }
    return 0;
}

/*
 * Loads every parameter from a safetensors file. Names, F32 dtype and shapes
 * must match the model exactly, with no other tensors. 0 or -1 after one
 * error line.
 */
static int load_weights(model *md, const char *path)
{
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = NULL;
    int rc = sp_st_open(&f, path, err);
    if (rc != SP_OK) {
        fprintf(stderr, "tinytrain: cannot load %s: %s\n", path, err[0] ? err : sp_strerror(rc));
        return -1;
    }
    if (sp_st_count(f) != NPARAMS) {
        fprintf(stderr, "tinytrain: %s holds %zu tensors, the model has %d\n",
                path, sp_st_count(f), NPARAMS);
        sp_st_close(f);
        return -1;
    }
    for (int i = 0; i < NPARAMS; i++) {
        const sp_tensor *t = sp_st_find(f, PARAMS[i].name);
        sp_tensor want = describe(md, md->p, i, PARAMS[i].name);
        if (!t || t->dtype != SP_DTYPE_F32 || t->ndim != want.ndim
            || t->shape[0] != want.shape[0] || (want.ndim == 2 && t->shape[1] != want.shape[1])
            || t->nbytes != want.nbytes) {
            char shape[48];
            if (want.ndim == 2)
                snprintf(shape, sizeof shape, "[%" PRIu64 ", %" PRIu64 "]",
                         want.shape[0], want.shape[1]);
            else
                snprintf(shape, sizeof shape, "[%" PRIu64 "]", want.shape[0]);
            fprintf(stderr, "tinytrain: %s: tensor %s is %s; the model wants F32 %s\n", path,
                    PARAMS[i].name, t ? "of another dtype or shape" : "missing", shape);
            sp_st_close(f);
            return -1;
        }
        memcpy(md->p[i], t->data, t->nbytes);
    }
    sp_st_close(f);
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Prints a failed hook call and returns exit code 1. */
static int hook_failed(const sp_run *run, const char *what, int rc)
{
    fprintf(stderr, "tinytrain: %s: %s%s%s\n", what, sp_strerror(rc),
            run && sp_run_errmsg(run)[0] ? ": " : "", run ? sp_run_errmsg(run) : "");
    return 1;
}

/*
 * Writes DIR/NAME.safetensors (weights, and optimizer state to
 * DIR/NAME.opt.safetensors when opt is set). 0 or -1 after an error line.
 */
static int write_files(const config *c, const char *name, uint64_t step,
                       const sp_tensor *w, const sp_tensor *opt)
{
    char path[4096], stepstr[32];
    snprintf(stepstr, sizeof stepstr, "%" PRIu64, step);
    const char *meta[] = { "scratchproof.step", stepstr, "scratchproof.model", "tinytrain" };
    for (int k = 0; k < (opt ? 2 : 1); k++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s%s.safetensors", c->out, name,
                             k ? ".opt" : "") >= sizeof path) {
            fprintf(stderr, "tinytrain: output path too long\n");
            return -1;
        }
        int rc = sp_st_write(path, k ? opt : w, NPARAMS, meta, 2);
        if (rc != SP_OK) {
            fprintf(stderr, "tinytrain: cannot write %s: %s\n", path, sp_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* The training loop, after the run is open. Returns the exit code. */
static int train(const config *c, sp_run *run, model *md, const uint8_t *text)
{
    sp_tensor w[NPARAMS], opt[NPARAMS];
    sp_record_tensor gen[NPARAMS];
    for (int i = 0; i < NPARAMS; i++) {
        w[i] = describe(md, md->p, i, PARAMS[i].name);
        opt[i] = describe(md, md->m, i, PARAMS[i].opt_name);
        gen[i].t = w[i];
        gen[i].init = scheme_for(i);
        if (c->init_from) {
            memset(&gen[i].init, 0, sizeof gen[i].init);
            gen[i].init.kind = SP_INIT_EXTERNAL;
        }
    }
    int rc = sp_run_genesis(run, gen, NPARAMS);
    if (rc != SP_OK)
        return hook_failed(run, "genesis", rc);

    uint8_t *batch = malloc((size_t)c->batch * SEQ);
    acts *a = malloc(sizeof *a);
    if (!batch || !a) {
        free(batch);
        free(a);
        fprintf(stderr, "tinytrain: out of memory\n");
        return 1;
    }
    int code = 0;
    double window = 0.0;
    for (uint64_t step = 1; step <= c->steps && code == 0; step++) {
        make_batch(batch, text, step, (uint32_t)c->batch);
        rc = sp_run_commit_batch(run, step, batch, (size_t)c->batch * SEQ);
        if (rc != SP_OK) {
            code = hook_failed(run, "batch commitment", rc);
            break;
        }
        double loss = forward_backward(md, a, batch, (uint32_t)c->batch);
        sgd_step(md, (float)c->lr);
        window += loss;
        if (step % c->every != 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "step%06" PRIu64, step);
        if (write_files(c, name, step, w, opt) != 0) {
            code = 1;
            break;
        }
        sp_checkpoint_info info = { .step = step, .tokens = step * c->batch * PRED,
                                    .loss = loss, .lr = c->lr,
                                    .optimizer = opt, .n_optimizer = NPARAMS };
        rc = sp_run_checkpoint(run, &info, w, NPARAMS);
        if (rc != SP_OK)
            code = hook_failed(run, "checkpoint", rc);
        if (!c->quiet && code == 0)
            fprintf(stderr, "tinytrain: step %" PRIu64 "/%" PRIu64 " loss %.4f (mean of last %"
                    PRIu64 ": %.4f) tokens %" PRIu64 "\n", step, c->steps, loss, c->every,
                    window / (double)c->every, step * c->batch * PRED);
        window = 0.0;
    }
    if (code == 0 && write_files(c, "final", c->steps, w, NULL) != 0)
        code = 1;
    if (code == 0 && (rc = sp_run_final(run, c->steps, w, NPARAMS)) != SP_OK)
        code = hook_failed(run, "final", rc);
    free(batch);
    free(a);
    return code;
}

int main(int argc, char **argv)
{
    config c;
    int pa = parse_args(argc, argv, &c);
    if (pa == 1) {
        usage(stdout);
        return 0;
    }
    if (pa != 0)
        return 2;
    const double t0 = now_seconds();

    if (mkdir(c.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tinytrain: cannot create %s: %s\n", c.out, strerror(errno));
        return 2;
    }
    struct stat st;
    if (stat(c.out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tinytrain: %s is not a directory\n", c.out);
        return 2;
    }
    model md;
    uint8_t *text = make_text();
    if (!text || model_alloc(&md) != 0) {
        free(text);
        fprintf(stderr, "tinytrain: out of memory\n");
        return 1;
    }
    int code = 0;
    if (c.init_from) {
        if (load_weights(&md, c.init_from) != 0)
            code = 2;
    } else {
        for (int i = 0; i < NPARAMS && code == 0; i++) {
            sp_init_scheme s = scheme_for(i);
            int rc = sp_init_fill(md.p[i], SP_DTYPE_F32, PARAMS[i].name, c.seed, &s,
                                  0, md.numel[i]);
            if (rc != SP_OK) {
                fprintf(stderr, "tinytrain: init of %s: %s\n", PARAMS[i].name, sp_strerror(rc));
                code = 1;
            }
        }
    }
    if (code == 0) {
        char model_name[160];
        snprintf(model_name, sizeof model_name,
                 "tinytrain vocab=%d ctx=%d pred=%d emb=%d hid=%d batch=%" PRIu64
                 " lr=%g momentum=%g", VOCAB, CTX, PRED, EMB, HID, c.batch, c.lr, (double)MOMENTUM);
        char open_err[SP_ERRMSG_MAX] = "";
        sp_run_options o = { .ledger_path = c.ledger, .key_path = c.key, .seed = c.seed,
                             .model_name = model_name, .config_digest = NULL,
                             .threads = (unsigned)c.threads, .err = open_err };
        sp_run *run = NULL;
        int rc = sp_run_open(&run, &o);
        if (rc != SP_OK) {
            /* An unusable key file is unreadable input (2); the rest is the hook's (1). */
            fprintf(stderr, "tinytrain: cannot open the run (ledger %s, key %s): %s%s\n",
                    c.ledger, c.key, open_err[0] ? open_err : sp_strerror(rc), rc == SP_EBADSTATE
                    ? " (the ledger already holds records: give a new --ledger path)" : "");
            code = rc == SP_EKEY ? 2 : 1;
        } else {
            code = train(&c, run, &md, text);
            double hook = sp_run_hook_seconds(run);
            sp_run_close(run);
            double wall = now_seconds() - t0;
            if (code == 0 && c.stats)
                printf("tinytrain.wall_seconds %.6f\ntinytrain.hook_seconds %.6f\n"
                       "tinytrain.hook_fraction %.6f\n", wall, hook, wall > 0 ? hook / wall : 0.0);
        }
    }
    free(md.all);
    free(text);
    return code;
}
