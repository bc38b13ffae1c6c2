/*
 * tinytrain_model.c - tinytrain's model, synthetic data and maths (SPEC.md
 * 11.2, 11.3, 11.5) and its configuration text (11.6).
 *
 * A next-token model over a 64-symbol vocabulary, trained on a synthetic text
 * it generates itself (a seeded little "language": a fixed lexicon of words
 * chained by a word-level Markov chain). A batch is B sequences of 11 tokens;
 * each gives 3 predictions (tokens 8..10, each from the 8 tokens before it):
 *
 *   8 previous tokens -> embed.weight [64 x 64] -> concat (512)
 *   -> LayerNorm norm1 [512] -> fc1 [256 x 512] + bias -> ReLU
 *   -> LayerNorm norm2 [256] -> head [64 x 256] + bias -> softmax cross-entropy
 *
 * float32 throughout, loops in a fixed order, compiled with -ffp-contract=off:
 * the same inputs and thread count give bit-identical gradients. With n
 * gradient threads the batch is cut into n fixed chunks whose partial
 * gradients are summed in chunk order: deterministic for a given n, but a
 * different n rounds differently (the honest non-bit-reproducible run).
 */
#include "tinytrain_model.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const tt_param TT_PARAMS[TT_NPARAMS] = {
    { "embed.weight", "opt.embed.weight.momentum", 2, { TT_VOCAB, TT_EMB } },
    { "fc1.bias",     "opt.fc1.bias.momentum",     1, { TT_HID, 0 } },
    { "fc1.weight",   "opt.fc1.weight.momentum",   2, { TT_HID, TT_IN } },
    { "head.bias",    "opt.head.bias.momentum",    1, { TT_VOCAB, 0 } },
    { "head.weight",  "opt.head.weight.momentum",  2, { TT_VOCAB, TT_HID } },
    { "norm1.bias",   "opt.norm1.bias.momentum",   1, { TT_IN, 0 } },
    { "norm1.weight", "opt.norm1.weight.momentum", 1, { TT_IN, 0 } },
    { "norm2.bias",   "opt.norm2.bias.momentum",   1, { TT_HID, 0 } },
    { "norm2.weight", "opt.norm2.weight.momentum", 1, { TT_HID, 0 } },
};

int tt_model_alloc(tt_model *md)
{
    size_t total = 0;
    memset(md, 0, sizeof *md);
    for (int i = 0; i < TT_NPARAMS; i++) {
        md->numel[i] = TT_PARAMS[i].shape[0] * (TT_PARAMS[i].ndim == 2 ? TT_PARAMS[i].shape[1] : 1);
        total += md->numel[i];
    }
    md->total = total;
    md->all = calloc(3 * total, sizeof(float));
    if (!md->all)
        return -1;
    size_t off = 0;
    for (int i = 0; i < TT_NPARAMS; i++) {
        md->p[i] = md->all + off;
        md->g[i] = md->all + total + off;
        md->m[i] = md->all + 2 * total + off;
        off += md->numel[i];
    }
    return 0;
}

void tt_model_free(tt_model *md)
{
    free(md->all);
    md->all = NULL;
}

sp_tensor tt_describe(const tt_model *md, float *const *block, int i, const char *name)
{
    sp_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = SP_DTYPE_F32;
    t.ndim = TT_PARAMS[i].ndim;
    t.shape[0] = TT_PARAMS[i].shape[0];
    t.shape[1] = TT_PARAMS[i].shape[1];
    t.data = block[i];
    t.nbytes = md->numel[i] * sizeof(float);
    return t;
}

/*
 * PyTorch's defaults: nn.Embedding normal(0, 1); nn.Linear weight and bias
 * uniform(+-1/sqrt(fan_in)); LayerNorm weight 1, bias 0.
 */
sp_init_scheme tt_scheme(int i)
{
    sp_init_scheme s;
    memset(&s, 0, sizeof s);
    double fan_in = 0;
    switch (i) {
    case TT_EMBED_W: s.kind = SP_INIT_NORMAL; s.p[0] = 0.0; s.p[1] = 1.0; return s;
    case TT_NORM1_W: case TT_NORM2_W: s.kind = SP_INIT_CONSTANT; s.p[0] = 1.0; return s;
    case TT_NORM1_B: case TT_NORM2_B: s.kind = SP_INIT_ZEROS; return s;
    case TT_FC1_W: case TT_FC1_B: fan_in = TT_IN; break;
    default: fan_in = TT_HID; break;    /* head */
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
 * and a space.
 */
uint8_t *tt_make_text(void)
{
    uint64_t s = 0x74696e7974726169ull;   /* "tinytrai" */
    uint8_t word[NWORDS][5], len[NWORDS];
    uint8_t succ[NWORDS][NSUCC];
    for (int w = 0; w < NWORDS; w++) {
        len[w] = (uint8_t)(2 + below(&s, 4));
        for (int k = 0; k < len[w]; k++)
            word[w][k] = (uint8_t)(2 + below(&s, TT_VOCAB - 2));
        for (int k = 0; k < NSUCC; k++)
            succ[w][k] = (uint8_t)below(&s, NWORDS);
    }
    uint8_t *text = malloc(TT_TEXT_LEN);
    if (!text)
        return NULL;
    uint32_t n = 0, w = 0;
    while (n < TT_TEXT_LEN) {
        for (int k = 0; k < len[w] && n < TT_TEXT_LEN; k++)
            text[n++] = word[w][k];
        if (n < TT_TEXT_LEN && below(&s, 6) == 0)
            text[n++] = TOK_STOP;
        if (n < TT_TEXT_LEN)
            text[n++] = TOK_SPACE;
        uint32_t r = below(&s, 8);
        w = succ[w][r < 5 ? 0 : r < 7 ? 1 : 2];
    }
    return text;
}

/*
 * Sequence b is the TT_SEQ tokens at a position drawn from splitmix64 seeded
 * by the step; the sequences one after another are what the ledger commits to.
 */
void tt_make_batch(uint8_t *out, const uint8_t *text, uint64_t step, uint32_t batch)
{
    uint64_t s = 0x6261746368657321ull ^ step;   /* "batches!" */
    for (uint32_t b = 0; b < batch; b++) {
        uint32_t pos = below(&s, TT_TEXT_LEN - TT_SEQ);
        memcpy(out + (size_t)b * TT_SEQ, text + pos, TT_SEQ);
    }
}

/* ---- forward and backward ---------------------------------------------- */

/* Scratch activations of one prediction. */
typedef struct acts {
    float x[TT_IN], xhat1[TT_IN], h1[TT_IN], dh1[TT_IN], dx[TT_IN];
    float z[TT_HID], r[TT_HID], rhat2[TT_HID], h2[TT_HID], dh2[TT_HID], dr[TT_HID];
    float logits[TT_VOCAB], dlogits[TT_VOCAB];
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
    *rstd = 1.0f / sqrtf(var + TT_LN_EPS);
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
 * Forward and backward over nb sequences, prediction by prediction in order
 * (sequence b, then position t); adds the gradient of (loss sum / npred) to
 * g and each prediction's loss to *loss_sum, in order.
 */
static void forward_backward(float *const *p, float *const *g, acts *a, const uint8_t *seqs,
                             uint32_t nb, uint32_t npred, double *loss_sum)
{
    const uint32_t nchunk = nb * TT_PRED;
    for (uint32_t n = 0; n < nchunk; n++) {
        const uint8_t *tk = seqs + (size_t)(n / TT_PRED) * TT_SEQ + n % TT_PRED;
        const int target = tk[TT_CTX];

        /* forward */
        for (int i = 0; i < TT_CTX; i++)
            memcpy(a->x + i * TT_EMB, p[TT_EMBED_W] + tk[i] * TT_EMB, TT_EMB * sizeof(float));
        layernorm_forward(a->h1, a->xhat1, &a->rstd1, a->x, p[TT_NORM1_W], p[TT_NORM1_B], TT_IN);
        for (int j = 0; j < TT_HID; j++) {
            a->z[j] = p[TT_FC1_B][j] + dot(p[TT_FC1_W] + j * TT_IN, a->h1, TT_IN);
            a->r[j] = a->z[j] > 0.0f ? a->z[j] : 0.0f;
        }
        layernorm_forward(a->h2, a->rhat2, &a->rstd2, a->r, p[TT_NORM2_W], p[TT_NORM2_B], TT_HID);
        float maxl = -INFINITY;
        for (int v = 0; v < TT_VOCAB; v++) {
            a->logits[v] = p[TT_HEAD_B][v] + dot(p[TT_HEAD_W] + v * TT_HID, a->h2, TT_HID);
            if (a->logits[v] > maxl)
                maxl = a->logits[v];
        }
        float sum = 0.0f;
        for (int v = 0; v < TT_VOCAB; v++) {
            a->dlogits[v] = expf(a->logits[v] - maxl);
            sum += a->dlogits[v];
        }
        *loss_sum += (double)(logf(sum) + maxl - a->logits[target]);

        /* backward: d(mean loss)/dlogits = (softmax - onehot) / npred */
        for (int v = 0; v < TT_VOCAB; v++)
            a->dlogits[v] = (a->dlogits[v] / sum - (v == target ? 1.0f : 0.0f)) / (float)npred;
        memset(a->dh2, 0, sizeof a->dh2);
        for (int v = 0; v < TT_VOCAB; v++) {
            const float d = a->dlogits[v];
            const float *w = p[TT_HEAD_W] + v * TT_HID;
            float *dw = g[TT_HEAD_W] + v * TT_HID;
            g[TT_HEAD_B][v] += d;
            for (int k = 0; k < TT_HID; k++) {
                dw[k] += d * a->h2[k];
                a->dh2[k] += d * w[k];
            }
        }
        layernorm_backward(a->dr, g[TT_NORM2_W], g[TT_NORM2_B], a->dh2, a->rhat2, a->rstd2,
                           p[TT_NORM2_W], TT_HID);
        memset(a->dh1, 0, sizeof a->dh1);
        for (int j = 0; j < TT_HID; j++) {
            const float dz = a->z[j] > 0.0f ? a->dr[j] : 0.0f;
            const float *w = p[TT_FC1_W] + j * TT_IN;
            float *dw = g[TT_FC1_W] + j * TT_IN;
            g[TT_FC1_B][j] += dz;
            for (int k = 0; k < TT_IN; k++) {
                dw[k] += dz * a->h1[k];
                a->dh1[k] += dz * w[k];
            }
        }
        layernorm_backward(a->dx, g[TT_NORM1_W], g[TT_NORM1_B], a->dh1, a->xhat1, a->rstd1,
                           p[TT_NORM1_W], TT_IN);
        for (int i = 0; i < TT_CTX; i++) {
            float *de = g[TT_EMBED_W] + tk[i] * TT_EMB;
            for (int e = 0; e < TT_EMB; e++)
                de[e] += a->dx[i * TT_EMB + e];
        }
    }
}

/* ---- gradient threads -------------------------------------------------- */

/* One chunk's work: sequences [lo, hi) of the batch into its own gradient. */
typedef struct chunk {
    const tt_model *md;
    float *g[TT_NPARAMS];
    float *gbase;                 /* the partial block to zero first, or NULL (md->g) */
    acts *a;
    const uint8_t *seqs;
    uint32_t lo, hi, npred;
    double loss;
} chunk;

struct tt_workers {
    unsigned n;
    acts *a;                      /* n */
    float *partial;               /* (n - 1) * md->total */
    chunk *jobs;                  /* n */
    pthread_t *tid;               /* n */
};

int tt_workers_create(tt_workers **out, const tt_model *md, unsigned n)
{
    *out = NULL;
    if (n == 0 || n > TT_MAX_THREADS)
        return -1;
    tt_workers *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->n = n;
    w->a = calloc(n, sizeof *w->a);
    w->jobs = calloc(n, sizeof *w->jobs);
    w->tid = calloc(n, sizeof *w->tid);
    w->partial = n > 1 ? calloc((size_t)(n - 1) * md->total, sizeof(float)) : NULL;
    if (!w->a || !w->jobs || !w->tid || (n > 1 && !w->partial)) {
        tt_workers_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void tt_workers_free(tt_workers *w)
{
    if (!w)
        return;
    free(w->a);
    free(w->jobs);
    free(w->tid);
    free(w->partial);
    free(w);
}

static void *chunk_run(void *arg)
{
    chunk *c = arg;
    if (c->gbase)
        memset(c->gbase, 0, c->md->total * sizeof(float));
    forward_backward(c->md->p, c->g, c->a, c->seqs + (size_t)c->lo * TT_SEQ, c->hi - c->lo,
                     c->npred, &c->loss);
    return NULL;
}

double tt_accumulate(tt_model *md, tt_workers *w, const uint8_t *seqs, uint32_t nb,
                     uint32_t npred_total)
{
    const unsigned n = w->n;
    for (unsigned c = 0; c < n; c++) {
        chunk *j = &w->jobs[c];
        memset(j, 0, sizeof *j);
        j->md = md;
        j->a = &w->a[c];
        j->seqs = seqs;
        j->lo = (uint32_t)((uint64_t)nb * c / n);
        j->hi = (uint32_t)((uint64_t)nb * (c + 1) / n);
        j->npred = npred_total;
        if (c == 0) {
            memcpy(j->g, md->g, sizeof j->g);
        } else {
            j->gbase = w->partial + (size_t)(c - 1) * md->total;
            for (int i = 0; i < TT_NPARAMS; i++)
                j->g[i] = j->gbase + (md->g[i] - md->g[0]);
        }
    }
    /* A chunk whose thread cannot start runs here: the result is the same. */
    unsigned char started[TT_MAX_THREADS] = { 0 };
    for (unsigned c = 1; c < n; c++)
        started[c] = pthread_create(&w->tid[c], NULL, chunk_run, &w->jobs[c]) == 0;
    chunk_run(&w->jobs[0]);
    for (unsigned c = 1; c < n; c++) {
        if (started[c])
            pthread_join(w->tid[c], NULL);
        else
            chunk_run(&w->jobs[c]);
    }
    double loss = w->jobs[0].loss;
    float *g = md->g[0];
    for (unsigned c = 1; c < n; c++) {
        const float *part = w->jobs[c].gbase;
        for (size_t i = 0; i < md->total; i++)
            g[i] += part[i];
        loss += w->jobs[c].loss;
    }
    return loss;
}

void tt_zero_grad(tt_model *md)
{
    memset(md->g[0], 0, md->total * sizeof(float));
}

/* The first step's buffer is the gradient (PyTorch semantics). */
void tt_sgd_step(tt_model *md, float lr)
{
    float *p = md->p[0], *g = md->g[0], *m = md->m[0];
    for (size_t i = 0; i < md->total; i++) {
        m[i] = TT_MOMENTUM * m[i] + g[i];
        p[i] -= lr * m[i];
    }
}

/* ---- names and configuration ------------------------------------------- */

void tt_model_name(char *buf, size_t cap, uint64_t batch, double lr)
{
    snprintf(buf, cap, "tinytrain vocab=%d ctx=%d pred=%d emb=%d hid=%d batch=%llu"
             " lr=%g momentum=%g", TT_VOCAB, TT_CTX, TT_PRED, TT_EMB, TT_HID,
             (unsigned long long)batch, lr, (double)TT_MOMENTUM);
}

/* The shortest %.Ng (N = 1..17) that reads back as exactly x. */
static void shortest_double(char *buf, size_t cap, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

size_t tt_config_text(char *buf, size_t cap, uint64_t batch, uint64_t micro, double lr)
{
    char lrs[40];
    shortest_double(lrs, sizeof lrs, lr);
    int n = snprintf(buf, cap,
        "format=tinytrain-config/1\n"
        "model=tinytrain\n"
        "vocab=%d\nctx=%d\npred=%d\nemb=%d\nhid=%d\n"
        "layernorm_eps=1e-05\n"
        "text=tinytrai/%u\n"
        "batch=%llu\nmicro_batches=%llu\n"
        "optimizer=sgd\nlr=%s\nmomentum=0.9\nweight_decay=0\n",
        TT_VOCAB, TT_CTX, TT_PRED, TT_EMB, TT_HID, (unsigned)TT_TEXT_LEN,
        (unsigned long long)batch, (unsigned long long)micro, lrs);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
