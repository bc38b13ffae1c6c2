/*
 * wire.c - the canonical-encoding decoder of envelopes and records (wire.h,
 * SPEC.md 3.7). Every read is bounded by the end of its enclosing message;
 * every rule of the canonical subset that an input breaks is SP_EFORMAT, and
 * the caller then asks protobuf-c, which is the reference for everything
 * outside it.
 *
 * The subset, per message: tags in strictly increasing field number, except
 * that a repeated message field's elements follow one another; the wire type
 * the schema gives (repeated scalars packed, one run each); known fields
 * only; varints (tags, lengths, values) in their minimal form, of at most 10
 * bytes, whose value fits the field (uint32 fields below 2^32); at most one
 * member of the oneof `body`.
 */
#include "wire.h"

#include <string.h>

#include "le.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

typedef struct rd {
    const uint8_t *p, *end;
} rd;

/* A varint in its minimal form, of at most 10 bytes (the 10th holding only bit 63). */
static int varint_slow(rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (r->p == r->end)
            return SP_EFORMAT;
        uint8_t b = *r->p++;
        if (i == 9 && b > 1)
            return SP_EFORMAT;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (b == 0)
                return SP_EFORMAT;   /* not minimal: a final byte of zeros */
            *v = x;
            return SP_OK;
        }
    }
    return SP_EFORMAT;
}

/* Most varints here (tags, lengths, dimensions) are one byte. */
static inline int varint(rd *r, uint64_t *v)
{
    if (r->p < r->end && *r->p < 0x80) {
        *v = *r->p++;
        return SP_OK;
    }
    return varint_slow(r, v);
}

static int u32(rd *r, uint32_t *v)
{
    uint64_t x;
    if (varint(r, &x) != SP_OK || x > UINT32_MAX)
        return SP_EFORMAT;
    *v = (uint32_t)x;
    return SP_OK;
}

/* The next tag: field number (1 .. 2^29-1) and wire type. */
static inline int tag(rd *r, uint32_t *field, unsigned *wt)
{
    uint64_t t;
    if (varint(r, &t) != SP_OK || (t >> 3) == 0 || (t >> 3) > 0x1fffffff)
        return SP_EFORMAT;
    *field = (uint32_t)(t >> 3);
    *wt = (unsigned)(t & 7);
    return SP_OK;
}

/* A length-delimited field's contents, as a reader of their own. */
static inline int sub(rd *r, rd *out)
{
    uint64_t n;
    if (varint(r, &n) != SP_OK || n > (uint64_t)(r->end - r->p))
        return SP_EFORMAT;
    out->p = r->p;
    out->end = r->p + n;
    r->p += n;
    return SP_OK;
}

/* The next byte is the one-byte tag t (a tag's minimal encoding); it is consumed. */
static inline int next_is(rd *r, uint8_t t)
{
    if (r->p < r->end && *r->p == t) {
        r->p++;
        return 1;
    }
    return 0;
}

static int bytes(rd *r, ProtobufCBinaryData *b)
{
    rd s;
    if (sub(r, &s) != SP_OK)
        return SP_EFORMAT;
    b->len = (size_t)(s.end - s.p);
    b->data = b->len ? (uint8_t *)s.p : NULL;   /* protobuf-c's empty value */
    return SP_OK;
}

/* A string: copied with its terminating NUL (the structs hold C strings). */
static int string(rd *r, sp_arena *a, char **out)
{
    rd s;
    if (sub(r, &s) != SP_OK)
        return SP_EFORMAT;
    size_t n = (size_t)(s.end - s.p);
    char *c = sp_arena_take(a, n + 1);
    if (c == NULL)
        return SP_ENOMEM;
    memcpy(c, s.p, n);
    c[n] = '\0';
    *out = c;
    return SP_OK;
}

static double le_double(const uint8_t *p)
{
    uint64_t u = sp_get_le64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int fixed_double(rd *r, double *d)
{
    if (r->end - r->p < 8)
        return SP_EFORMAT;
    *d = le_double(r->p);
    r->p += 8;
    return SP_OK;
}

static int packed_doubles(rd *r, sp_arena *a, size_t *n, double **out)
{
    rd s;
    if (sub(r, &s) != SP_OK || (s.end - s.p) % 8 != 0)
        return SP_EFORMAT;
    *n = (size_t)(s.end - s.p) / 8;
    *out = NULL;
    if (*n == 0)
        return SP_OK;
    double *d = sp_arena_take(a, *n * sizeof *d);
    if (d == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < *n; i++)
        d[i] = le_double(s.p + 8 * i);
    *out = d;
    return SP_OK;
}

static int packed_u64(rd *r, sp_arena *a, size_t *n, uint64_t **out)
{
    rd s;
    if (sub(r, &s) != SP_OK)
        return SP_EFORMAT;
    size_t k = 0;
    uint8_t high = 0;
    for (const uint8_t *q = s.p; q < s.end; q++) {
        k += (*q & 0x80) == 0;
        high |= *q;
    }
    if (s.p < s.end && (s.end[-1] & 0x80) != 0)
        return SP_EFORMAT;   /* the last varint runs past the field */
    *n = k;
    *out = NULL;
    if (k == 0)
        return SP_OK;
    uint64_t *v = sp_arena_take(a, k * sizeof *v);
    if (v == NULL)
        return SP_ENOMEM;
    if ((high & 0x80) == 0) {   /* every value one byte (dimensions below 128) */
        for (size_t i = 0; i < k; i++)
            v[i] = s.p[i];
    } else {
        for (size_t i = 0; i < k; i++)
            if (varint(&s, &v[i]) != SP_OK)
                return SP_EFORMAT;
    }
    *out = v;
    return SP_OK;
}

/*
 * How many elements a repeated message field has: the run of one-byte tags
 * t (field numbers below 16, wire type 2) starting at r, the first tag
 * already read. An element whose tag is encoded longer ends the run, and the
 * tag loop then finds it out of order.
 */
static int run_length(const rd *r, uint8_t t, size_t *n)
{
    rd s = *r, body;
    size_t k = 0;
    do {
        if (sub(&s, &body) != SP_OK)
            return SP_EFORMAT;
        k++;
    } while (next_is(&s, t));
    *n = k;
    return SP_OK;
}

/* The arrays of a repeated message field of n elements of `size` bytes each, initialised to init. */
static int message_array(sp_arena *a, size_t n, size_t size, const void *init, void ***ptrs)
{
    if (n > SIZE_MAX / (size + sizeof(void *)))
        return SP_ENOMEM;
    unsigned char *m = sp_arena_take(a, n * size);
    void **p = sp_arena_take(a, n * sizeof *p);
    if (m == NULL || p == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(m + i * size, init, size);
        p[i] = m + i * size;
    }
    *ptrs = p;
    return SP_OK;
}

/*
 * A message's field function: given each tag (field f, wire type wt) in
 * turn by MESSAGE_LOOP_FROM, which has checked the order, it checks the wire
 * type and reads the field; for a repeated message field it reads the whole
 * run at its first tag (READ_RUN).
 */
#define FIELD_FN(name, type) static int name(rd *r, uint32_t f, unsigned wt, sp_arena *a, type *m)

#define CHECK(x)                                                                                 \
    do {                                                                                         \
        int rc_ = (x);                                                                           \
        if (rc_ != SP_OK)                                                                        \
            return rc_;                                                                          \
    } while (0)

#define EXPECT(wt_, want)                                                                        \
    do {                                                                                         \
        if ((wt_) != (want))                                                                     \
            return SP_EFORMAT;                                                                   \
    } while (0)

/* Reads a run of repeated messages at r (its first tag, f's one-byte tag, read) with parse_one. */
#define READ_RUN(r, f, a, n, arr, type, init, parse_one)                                         \
    do {                                                                                         \
        static const type init_ = init;                                                          \
        const uint8_t t_ = (uint8_t)((f) << 3 | WT_LEN);                                         \
        size_t k_;                                                                               \
        void **p_;                                                                               \
        CHECK(run_length((r), t_, &k_));                                                         \
        CHECK(message_array((a), k_, sizeof(type), &init_, &p_));                                \
        for (size_t i_ = 0; i_ < k_; i_++) {                                                     \
            rd s_;                                                                               \
            if (i_ > 0 && !next_is((r), t_))                                                     \
                return SP_EFORMAT;                                                               \
            CHECK(sub((r), &s_));                                                                \
            CHECK(parse_one(&s_, (a), (type *)p_[i_]));                                          \
        }                                                                                        \
        *(n) = k_;                                                                               \
        *(arr) = (type **)p_;                                                                    \
    } while (0)

/*
 * Runs the tag loop of one message over r with the field function fn; the
 * fields up to number `from` have been read.
 */
#define MESSAGE_LOOP_FROM(r, a, m, fn, from)                                                     \
    do {                                                                                         \
        uint32_t last_ = (from);                                                                 \
        while ((r)->p < (r)->end) {                                                              \
            uint32_t f_;                                                                         \
            unsigned w_;                                                                         \
            CHECK(tag((r), &f_, &w_));                                                           \
            if (f_ <= last_)                                                                     \
                return SP_EFORMAT;                                                               \
            last_ = f_;                                                                          \
            CHECK(fn((r), f_, w_, (a), (m)));                                                    \
        }                                                                                        \
    } while (0)

#define MESSAGE_LOOP(r, a, m, fn) MESSAGE_LOOP_FROM(r, a, m, fn, 0)

/* ---- InitScheme, InitRange, TensorDigest ---- */

FIELD_FN(scheme_field, Sp__InitScheme)
{
    (void)a;
    switch (f) {
    case 1: EXPECT(wt, WT_VARINT); return u32(r, &m->kind);
    case 2: EXPECT(wt, WT_LEN); return packed_doubles(r, a, &m->n_params, &m->params);
    default: return SP_EFORMAT;
    }
}

static int scheme(rd *r, sp_arena *a, Sp__InitScheme *m)
{
    MESSAGE_LOOP(r, a, m, scheme_field);
    return SP_OK;
}

static int scheme_new(rd *r, sp_arena *a, Sp__InitScheme **out)
{
    static const Sp__InitScheme init = SP__INIT_SCHEME__INIT;
    rd s;
    CHECK(sub(r, &s));
    Sp__InitScheme *m = sp_arena_take(a, sizeof *m);
    if (m == NULL)
        return SP_ENOMEM;
    *m = init;
    *out = m;
    return scheme(&s, a, m);
}

FIELD_FN(range_field, Sp__InitRange)
{
    switch (f) {
    case 1: EXPECT(wt, WT_VARINT); return varint(r, &m->first);
    case 2: EXPECT(wt, WT_VARINT); return varint(r, &m->count);
    case 3: EXPECT(wt, WT_LEN); return scheme_new(r, a, &m->init);
    default: return SP_EFORMAT;
    }
}

static int range(rd *r, sp_arena *a, Sp__InitRange *m)
{
    MESSAGE_LOOP(r, a, m, range_field);
    return SP_OK;
}

FIELD_FN(tensor_field, Sp__TensorDigest)
{
    switch (f) {
    case 1: EXPECT(wt, WT_LEN); return string(r, a, &m->name);
    case 2: EXPECT(wt, WT_VARINT); return u32(r, &m->dtype);
    case 3: EXPECT(wt, WT_LEN); return packed_u64(r, a, &m->n_shape, &m->shape);
    case 4: EXPECT(wt, WT_LEN); return bytes(r, &m->digest);
    case 5: EXPECT(wt, WT_LEN); return scheme_new(r, a, &m->init);
    case 6:
        EXPECT(wt, WT_LEN);
        READ_RUN(r, f, a, &m->n_ranges, &m->ranges, Sp__InitRange, SP__INIT_RANGE__INIT, range);
        return SP_OK;
    default: return SP_EFORMAT;
    }
}

/*
 * A checkpoint's tensor is name, dtype, shape and digest in that order: read
 * straight when the tags are those four, one byte each (field << 3 | wire
 * type), then the general loop takes whatever follows.
 */
static int tensor(rd *r, sp_arena *a, Sp__TensorDigest *m)
{
    uint32_t from = 0;
    if (next_is(r, 1 << 3 | WT_LEN)) {
        CHECK(string(r, a, &m->name));
        from = 1;
    }
    if (next_is(r, 2 << 3 | WT_VARINT)) {
        CHECK(u32(r, &m->dtype));
        from = 2;
    }
    if (next_is(r, 3 << 3 | WT_LEN)) {
        CHECK(packed_u64(r, a, &m->n_shape, &m->shape));
        from = 3;
    }
    if (next_is(r, 4 << 3 | WT_LEN)) {
        CHECK(bytes(r, &m->digest));
        from = 4;
    }
    MESSAGE_LOOP_FROM(r, a, m, tensor_field, from);
    return SP_OK;
}

/* ---- Genesis, Checkpoint, Final ---- */

FIELD_FN(genesis_field, Sp__Genesis)
{
    switch (f) {
    case 1: EXPECT(wt, WT_LEN); return string(r, a, &m->model_name);
    case 2: EXPECT(wt, WT_VARINT); return varint(r, &m->seed);
    case 3: EXPECT(wt, WT_LEN); return bytes(r, &m->config_digest);
    case 4:
        EXPECT(wt, WT_LEN);
        READ_RUN(r, f, a, &m->n_tensors, &m->tensors, Sp__TensorDigest, SP__TENSOR_DIGEST__INIT, tensor);
        return SP_OK;
    case 5: EXPECT(wt, WT_LEN); return bytes(r, &m->root);
    case 6: EXPECT(wt, WT_LEN); return string(r, a, &m->tool);
    case 7: EXPECT(wt, WT_LEN); return bytes(r, &m->public_key);
    case 8: EXPECT(wt, WT_VARINT); return u32(r, &m->batches_per_step);
    case 9: EXPECT(wt, WT_VARINT); return u32(r, &m->world_size);
    case 10: EXPECT(wt, WT_LEN); return bytes(r, &m->sharding_digest);
    default: return SP_EFORMAT;
    }
}

FIELD_FN(checkpoint_field, Sp__Checkpoint)
{
    switch (f) {
    case 1: EXPECT(wt, WT_VARINT); return varint(r, &m->step);
    case 2: EXPECT(wt, WT_VARINT); return varint(r, &m->tokens);
    case 3:
        EXPECT(wt, WT_LEN);
        READ_RUN(r, f, a, &m->n_tensors, &m->tensors, Sp__TensorDigest, SP__TENSOR_DIGEST__INIT, tensor);
        return SP_OK;
    case 4: EXPECT(wt, WT_LEN); return bytes(r, &m->root);
    case 5: EXPECT(wt, WT_LEN); return bytes(r, &m->optimizer_digest);
    case 6: EXPECT(wt, WT_LEN); return bytes(r, &m->batches_digest);
    case 7: EXPECT(wt, WT_VARINT); return varint(r, &m->batches);
    case 8: EXPECT(wt, WT_I64); return fixed_double(r, &m->loss);
    case 9: EXPECT(wt, WT_I64); return fixed_double(r, &m->lr);
    default: return SP_EFORMAT;
    }
}

FIELD_FN(final_field, Sp__Final)
{
    switch (f) {
    case 1: EXPECT(wt, WT_VARINT); return varint(r, &m->step);
    case 2:
        EXPECT(wt, WT_LEN);
        READ_RUN(r, f, a, &m->n_tensors, &m->tensors, Sp__TensorDigest, SP__TENSOR_DIGEST__INIT, tensor);
        return SP_OK;
    case 3: EXPECT(wt, WT_LEN); return bytes(r, &m->root);
    case 4: EXPECT(wt, WT_LEN); return bytes(r, &m->batches_digest);
    case 5: EXPECT(wt, WT_VARINT); return varint(r, &m->batches);
    default: return SP_EFORMAT;
    }
}

/* A body message of the oneof: allocated, initialised and read from its field. */
#define BODY(r, a, type, init, fn, out)                                                          \
    do {                                                                                         \
        static const type init_ = init;                                                          \
        rd s_;                                                                                   \
        CHECK(sub((r), &s_));                                                                    \
        type *b_ = sp_arena_take((a), sizeof *b_);                                              \
        if (b_ == NULL)                                                                          \
            return SP_ENOMEM;                                                                    \
        *b_ = init_;                                                                             \
        (out) = b_;                                                                              \
        MESSAGE_LOOP(&s_, (a), b_, fn);                                                          \
    } while (0)

FIELD_FN(record_field, Sp__Record)
{
    uint64_t v;
    if (f >= 10 && f <= 12 && m->body_case != SP__RECORD__BODY__NOT_SET)
        return SP_EFORMAT;   /* a second member of the oneof */
    switch (f) {
    case 1: EXPECT(wt, WT_VARINT); return varint(r, &m->seq);
    case 2: EXPECT(wt, WT_LEN); return bytes(r, &m->prev);
    case 3: EXPECT(wt, WT_LEN); return bytes(r, &m->run_id);
    case 4:
        EXPECT(wt, WT_VARINT);
        CHECK(varint(r, &v));
        m->time_unix_ms = (int64_t)v;   /* two's complement, as the wire defines int64 */
        return SP_OK;
    case 10:
        EXPECT(wt, WT_LEN);
        BODY(r, a, Sp__Genesis, SP__GENESIS__INIT, genesis_field, m->genesis);
        m->body_case = SP__RECORD__BODY_GENESIS;
        return SP_OK;
    case 11:
        EXPECT(wt, WT_LEN);
        BODY(r, a, Sp__Checkpoint, SP__CHECKPOINT__INIT, checkpoint_field, m->checkpoint);
        m->body_case = SP__RECORD__BODY_CHECKPOINT;
        return SP_OK;
    case 12:
        EXPECT(wt, WT_LEN);
        BODY(r, a, Sp__Final, SP__FINAL__INIT, final_field, m->final);
        m->body_case = SP__RECORD__BODY_FINAL;
        return SP_OK;
    default: return SP_EFORMAT;
    }
}

static int record(rd *r, sp_arena *a, Sp__Record *m)
{
    MESSAGE_LOOP(r, a, m, record_field);
    return SP_OK;
}

int sp_wire_record(Sp__Record **out, const uint8_t *buf, size_t len, sp_arena *arena)
{
    static const Sp__Record init = SP__RECORD__INIT;
    *out = NULL;
    if (buf == NULL && len != 0)
        return SP_EFORMAT;
    Sp__Record *m = sp_arena_take(arena, sizeof *m);
    if (m == NULL)
        return SP_ENOMEM;
    *m = init;
    rd r = {buf, buf + len};
    int rc = record(&r, arena, m);
    if (rc == SP_OK)
        *out = m;
    return rc;
}

/* ---- Signature, Envelope ---- */

FIELD_FN(signature_field, Sp__Signature)
{
    switch (f) {
    case 1: EXPECT(wt, WT_LEN); return bytes(r, &m->sig);
    case 2: EXPECT(wt, WT_LEN); return string(r, a, &m->keyid);
    default: return SP_EFORMAT;
    }
}

static int signature(rd *r, sp_arena *a, Sp__Signature *m)
{
    MESSAGE_LOOP(r, a, m, signature_field);
    return SP_OK;
}

FIELD_FN(envelope_field, Sp__Envelope)
{
    switch (f) {
    case 1: EXPECT(wt, WT_LEN); return bytes(r, &m->payload);
    case 2: EXPECT(wt, WT_LEN); return string(r, a, &m->payload_type);
    case 3:
        EXPECT(wt, WT_LEN);
        READ_RUN(r, f, a, &m->n_signatures, &m->signatures, Sp__Signature, SP__SIGNATURE__INIT, signature);
        return SP_OK;
    default: return SP_EFORMAT;
    }
}

static int envelope(rd *r, sp_arena *a, Sp__Envelope *m)
{
    MESSAGE_LOOP(r, a, m, envelope_field);
    return SP_OK;
}

int sp_wire_envelope(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena)
{
    static const Sp__Envelope init = SP__ENVELOPE__INIT;
    *out = NULL;
    if (buf == NULL && len != 0)
        return SP_EFORMAT;
    Sp__Envelope *m = sp_arena_take(arena, sizeof *m);
    if (m == NULL)
        return SP_ENOMEM;
    *m = init;
    rd r = {buf, buf + len};
    int rc = envelope(&r, arena, m);
    if (rc == SP_OK)
        *out = m;
    return rc;
}
