/*
 * test_wire.c - the hand decoder of wire.h against protobuf-c, and the
 * _view decoders of record.h against the _in ones (SPEC.md 3.7).
 *
 * The key property, checked on every input here: whenever sp_wire_record /
 * sp_wire_envelope says SP_OK, protobuf-c's unpack of the same bytes
 * succeeds and both decoded messages are equal (field by field, doubles by
 * their bits, and packed again by protobuf-c to the same bytes), and every
 * bytes field points into the input. And sp_*_decode_view always answers
 * what sp_*_decode_in answers, with equal values on SP_OK.
 *
 * Inputs: records packed by protobuf-c from structs filled here (every
 * field, odd doubles, extreme integers), the stored values of a ledger
 * written through the public API (sp_run_*), envelopes of 1 and 16
 * signatures; hand-built non-canonical but valid encodings, which the hand
 * decoder must refuse (SP_EFORMAT) and the _view decoders must still read as
 * protobuf-c does; invalid encodings; every truncation of real records; and
 * a fixed-seed mutation loop.

 *
 * SP_WRITE_CORPUS=DIR writes the seed corpus of tests/fuzz/fuzz_wire.c
 * (tests/corpus/wire) into DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "record.h"
#include "scratchproof.h"
#include "source.h"
#include "wire.h"
#include "wire_cmp.h"

/* ---- a growable byte buffer, and the protobuf encoding by hand ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *x, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n)
            c *= 2;
        b->p = realloc(b->p, c);
        assert_non_null(b->p);
        b->cap = c;
    }
    if (n > 0)
        memcpy(b->p + b->n, x, n);
    b->n += n;
}

static void put_byte(buf *b, uint8_t c)
{
    put(b, &c, 1);
}

static void put_varint(buf *b, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(b, (uint8_t)v);
}

static void put_tag(buf *b, uint32_t field, unsigned wt)
{
    put_varint(b, ((uint64_t)field << 3) | wt);
}

static void put_uint(buf *b, uint32_t field, uint64_t v)
{
    put_tag(b, field, 0);
    put_varint(b, v);
}

static void put_lendelim(buf *b, uint32_t field, const void *x, size_t n)
{
    put_tag(b, field, 2);
    put_varint(b, n);
    put(b, x, n);
}

static void put_msg(buf *b, uint32_t field, const buf *m)
{
    put_lendelim(b, field, m->p, m->n);
}

static void put_fixed64(buf *b, uint32_t field, uint64_t v)
{
    put_tag(b, field, 1);
    for (int i = 0; i < 8; i++)
        put_byte(b, (uint8_t)(v >> (8 * i)));
}

static void put_fixed32(buf *b, uint32_t field, uint32_t v)
{
    put_tag(b, field, 5);
    for (int i = 0; i < 4; i++)
        put_byte(b, (uint8_t)(v >> (8 * i)));
}

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Deterministic bytes: splitmix64. */
static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(first + i);
}

/* ---- the checks ---- */

#define ANY 1  /* check_record / check_envelope: no expectation on the hand decoder's answer */

/*
 * Runs one input through all four record decoders and asserts the key
 * property and _view == _in. want: SP_OK or SP_EFORMAT to require that answer
 * of sp_wire_record, ANY for none. Returns the hand decoder's answer.
 */
static int check_record(const uint8_t *in, size_t len, int want)
{
    static const uint8_t dummy = 0;
    const uint8_t *p = in != NULL ? in : &dummy;
    sp_arena a;
    sp_arena_init(&a);
    Sp__Record *w = NULL;
    int rc = sp_wire_record(&w, p, len, &a);
    assert_true(rc == SP_OK || rc == SP_EFORMAT);
    if (want != ANY)
        assert_int_equal(rc, want);
    Sp__Record *u = sp__record__unpack(NULL, len, p);
    if (rc == SP_OK) {
        assert_non_null(w);
        assert_non_null(u);  /* the key property: protobuf-c accepts what wire accepts */
        assert_int_equal(w->base.n_unknown_fields, 0);
        assert_int_equal(wire_cmp_msg(&w->base, &u->base, "record"), 0);
        assert_int_equal(wire_cmp_packed(&w->base, &u->base), 0);
        assert_int_equal(wire_cmp_inside(&w->base, p, len, "record"), 0);
    }

    sp_arena av, ai;
    sp_arena_init(&av);
    sp_arena_init(&ai);
    Sp__Record *v = NULL, *i = NULL;
    char ev[SP_ERRMSG_MAX] = "", ei[SP_ERRMSG_MAX] = "";
    int rv = sp_record_decode_view(&v, p, len, &av, ev);
    int ri = sp_record_decode_in(&i, p, len, &ai, ei);
    if (rv != ri)
        fprintf(stderr, "record: _view says %d (%s), _in says %d (%s)\n", rv, ev, ri, ei);
    assert_int_equal(rv, ri);
    if (rv == SP_OK) {
        assert_non_null(v);
        assert_non_null(i);
        assert_int_equal(wire_cmp_msg(&v->base, &i->base, "record"), 0);
        assert_int_equal(wire_cmp_packed(&v->base, &i->base), 0);
        if (rc == SP_OK)  /* the canonical encoding is read without copies (record.h) */
            assert_int_equal(wire_cmp_inside(&v->base, p, len, "record"), 0);
    } else {
        assert_null(v);
    }
    if (u != NULL)
        sp__record__free_unpacked(u, NULL);
    sp_arena_release(&a);
    sp_arena_release(&av);
    sp_arena_release(&ai);
    return rc;
}

/* check_record for envelopes; a decoded envelope's payload goes through check_record too. */
static int check_envelope(const uint8_t *in, size_t len, int want)
{
    static const uint8_t dummy = 0;
    const uint8_t *p = in != NULL ? in : &dummy;
    sp_arena a;
    sp_arena_init(&a);
    Sp__Envelope *w = NULL;
    int rc = sp_wire_envelope(&w, p, len, &a);
    assert_true(rc == SP_OK || rc == SP_EFORMAT);
    if (want != ANY)
        assert_int_equal(rc, want);
    Sp__Envelope *u = sp__envelope__unpack(NULL, len, p);
    if (rc == SP_OK) {
        assert_non_null(w);
        assert_non_null(u);
        assert_int_equal(w->base.n_unknown_fields, 0);
        assert_int_equal(wire_cmp_msg(&w->base, &u->base, "envelope"), 0);
        assert_int_equal(wire_cmp_packed(&w->base, &u->base), 0);
        assert_int_equal(wire_cmp_inside(&w->base, p, len, "envelope"), 0);
    }

    sp_arena av, ai;
    sp_arena_init(&av);
    sp_arena_init(&ai);
    Sp__Envelope *v = NULL, *i = NULL;
    char ev[SP_ERRMSG_MAX] = "", ei[SP_ERRMSG_MAX] = "";
    int rv = sp_envelope_decode_view(&v, p, len, &av, ev);
    int ri = sp_envelope_decode_in(&i, p, len, &ai, ei);
    if (rv != ri)
        fprintf(stderr, "envelope: _view says %d (%s), _in says %d (%s)\n", rv, ev, ri, ei);
    assert_int_equal(rv, ri);
    if (rv == SP_OK) {
        assert_non_null(v);
        assert_non_null(i);
        assert_int_equal(wire_cmp_msg(&v->base, &i->base, "envelope"), 0);
        assert_int_equal(wire_cmp_packed(&v->base, &i->base), 0);
        if (rc == SP_OK)
            assert_int_equal(wire_cmp_inside(&v->base, p, len, "envelope"), 0);
        check_record(v->payload.data, v->payload.len, ANY);
    }
    if (u != NULL)
        sp__envelope__free_unpacked(u, NULL);
    sp_arena_release(&a);
    sp_arena_release(&av);
    sp_arena_release(&ai);
    return rc;
}

/* ---- records packed by protobuf-c from filled structs ---- */

static uint8_t zeros32[32], run_id[16], dig[8][32], pk32[32];
static uint64_t shape1[1] = {7}, shape4[4] = {4, 3, 2, 5}, shape2[2] = {10, 4}, shape33[2] = {3, 3};
static double p_zeros[4], p_normal[4] = {0, 0.02, 0, 0}, p_uniform[4] = {-0.1, 0.1, 0, 0},
              p_const[4] = {1.5, 0, 0, 0}, p_trunc[4] = {0, 1, -2, 2}, p_orth[4] = {1.0, 3, 3, 0};

static void init_bytes(void)
{
    fill(run_id, 16, 0x10);
    for (int k = 0; k < 8; k++)
        fill(dig[k], 32, (uint8_t)(0x20 * k + 1));
    fill(pk32, 32, 0xc0);
}

static uint8_t *pack_record(const Sp__Record *r, size_t *len)
{
    uint8_t *out;
    assert_int_equal(sp_record_pack(&out, len, r), SP_OK);
    return out;
}

static Sp__InitScheme scheme(uint32_t kind, double *params)
{
    Sp__InitScheme s = SP__INIT_SCHEME__INIT;
    s.kind = kind;
    s.n_params = 4;
    s.params = params;
    return s;
}

/* A genesis using every field: schemes, ranges, shapes of 0, 1, 2 and 4 dims, strings, keys. */
static uint8_t *genesis_full(size_t *len)
{
    Sp__InitScheme s_zeros = scheme(1, p_zeros), s_normal = scheme(4, p_normal),
                   s_uniform = scheme(3, p_uniform), s_const = scheme(2, p_const),
                   s_trunc = scheme(5, p_trunc), s_orth = scheme(8, p_orth);
    Sp__InitRange r0 = SP__INIT_RANGE__INIT, r1 = SP__INIT_RANGE__INIT;
    r0.first = 0;
    r0.count = 20;
    r0.init = &s_uniform;
    r1.first = 20;
    r1.count = 20;
    r1.init = &s_zeros;
    Sp__InitRange *ranges[2] = {&r0, &r1};
    Sp__TensorDigest t[6];
    for (int k = 0; k < 6; k++) {
        Sp__TensorDigest z = SP__TENSOR_DIGEST__INIT;
        t[k] = z;
        t[k].digest.data = dig[k];
        t[k].digest.len = 32;
        t[k].dtype = 1;
    }
    t[0].name = (char *)"a.bias";
    t[0].n_shape = 1;
    t[0].shape = shape1;
    t[0].init = &s_zeros;
    t[1].name = (char *)"b.weight";
    t[1].n_shape = 4;
    t[1].shape = shape4;
    t[1].init = &s_normal;
    t[2].name = (char *)"c.ranges";
    t[2].dtype = 2;
    t[2].n_shape = 2;
    t[2].shape = shape2;
    t[2].n_ranges = 2;
    t[2].ranges = ranges;
    t[3].name = (char *)"d.scalar";
    t[3].init = &s_const;
    t[4].name = (char *)"e.orth";
    t[4].n_shape = 2;
    t[4].shape = shape33;
    t[4].init = &s_orth;
    t[5].name = (char *)"f.trunc\xc3\xa9";  /* UTF-8 in a name */
    t[5].n_shape = 1;
    t[5].shape = shape1;
    t[5].init = &s_trunc;
    Sp__TensorDigest *tp[6] = {&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]};
    Sp__Genesis g = SP__GENESIS__INIT;
    g.model_name = (char *)"tiny-lm \xce\xb2 (wire test)";
    g.seed = UINT64_C(0x8000000000000005);
    g.config_digest.data = dig[6];
    g.config_digest.len = 32;
    g.n_tensors = 6;
    g.tensors = tp;
    g.root.data = dig[7];
    g.root.len = 32;
    g.tool = (char *)"scratchproof/0.1.0";
    g.public_key.data = pk32;
    g.public_key.len = 32;
    g.batches_per_step = 4;
    g.world_size = 8;
    g.sharding_digest.data = dig[5];
    g.sharding_digest.len = 32;
    Sp__Record r = SP__RECORD__INIT;
    r.seq = 0;
    r.prev.data = zeros32;
    r.prev.len = 32;
    r.run_id.data = run_id;
    r.run_id.len = 16;
    r.time_unix_ms = INT64_C(1700000000123);
    r.body_case = SP__RECORD__BODY_GENESIS;
    r.genesis = &g;
    return pack_record(&r, len);
}

/*
 * A genesis with no tensors and no optional fields; prev of prevlen bytes (32
 * is valid); u32max: its uint32 fields at 2^32 - 1 (five-byte varints).
 */
static uint8_t *genesis_empty(size_t *len, size_t prevlen, int u32max)
{
    Sp__Genesis g = SP__GENESIS__INIT;
    if (u32max)
        g.batches_per_step = g.world_size = UINT32_MAX;
    g.model_name = (char *)"m";
    g.root.data = dig[0];
    g.root.len = 32;
    g.tool = (char *)"t";
    Sp__Record r = SP__RECORD__INIT;
    r.prev.data = zeros32;
    r.prev.len = prevlen;
    r.run_id.data = run_id;
    r.run_id.len = 16;
    r.body_case = SP__RECORD__BODY_GENESIS;
    r.genesis = &g;
    return pack_record(&r, len);
}

/*
 * A checkpoint of nt tensors (names t0000...) with the given loss and lr
 * bits, seq and time: the doubles' bit patterns must survive both decoders.
 */
static uint8_t *checkpoint(size_t *len, size_t nt, uint64_t loss, uint64_t lr, uint64_t seq, int64_t time)
{
    Sp__TensorDigest *t = calloc(nt ? nt : 1, sizeof *t);
    Sp__TensorDigest **tp = calloc(nt ? nt : 1, sizeof *tp);
    char (*names)[16] = calloc(nt ? nt : 1, sizeof *names);
    assert_true(t && tp && names);
    for (size_t k = 0; k < nt; k++) {
        Sp__TensorDigest z = SP__TENSOR_DIGEST__INIT;
        t[k] = z;
        snprintf(names[k], sizeof names[k], "t%04zu", k);
        t[k].name = names[k];
        t[k].dtype = (uint32_t)(1 + k % 12);
        t[k].n_shape = k % 3 == 0 ? 2 : 1;
        t[k].shape = k % 3 == 0 ? shape2 : shape1;
        t[k].digest.data = dig[k % 8];
        t[k].digest.len = 32;
        tp[k] = &t[k];
    }
    Sp__Checkpoint c = SP__CHECKPOINT__INIT;
    c.step = seq * 10;
    c.tokens = UINT64_C(1) << 40;
    c.n_tensors = nt;
    c.tensors = tp;
    c.root.data = dig[1];
    c.root.len = 32;
    c.optimizer_digest.data = dig[2];
    c.optimizer_digest.len = 32;
    c.batches_digest.data = dig[3];
    c.batches_digest.len = 32;
    c.batches = 12345;
    c.loss = double_of(loss);
    c.lr = double_of(lr);
    Sp__Record r = SP__RECORD__INIT;
    r.seq = seq;
    r.prev.data = dig[4];
    r.prev.len = 32;
    r.run_id.data = run_id;
    r.run_id.len = 16;
    r.time_unix_ms = time;
    r.body_case = SP__RECORD__BODY_CHECKPOINT;
    r.checkpoint = &c;
    uint8_t *out = pack_record(&r, len);
    free(t);
    free(tp);
    free(names);
    return out;
}

static uint8_t *final_rec(size_t *len)
{
    Sp__TensorDigest t = SP__TENSOR_DIGEST__INIT;
    t.name = (char *)"w";
    t.dtype = 3;
    t.n_shape = 4;
    t.shape = shape4;
    t.digest.data = dig[0];
    t.digest.len = 32;
    Sp__TensorDigest *tp[1] = {&t};
    Sp__Final f = SP__FINAL__INIT;
    f.step = 99;
    f.n_tensors = 1;
    f.tensors = tp;
    f.root.data = dig[1];
    f.root.len = 32;
    f.batches_digest.data = dig[2];
    f.batches_digest.len = 32;
    f.batches = 1;
    Sp__Record r = SP__RECORD__INIT;
    r.seq = 41;
    r.prev.data = dig[3];
    r.prev.len = 32;
    r.run_id.data = run_id;
    r.run_id.len = 16;
    r.time_unix_ms = 5;
    r.body_case = SP__RECORD__BODY_FINAL;
    r.final = &f;
    return pack_record(&r, len);
}

/* An envelope of ns signatures of 64 bytes, keyids of 0..64 characters, over payload. */
static uint8_t *envelope_n(size_t *len, const uint8_t *payload, size_t plen, size_t ns, const char *type)
{
    Sp__Signature s[20], *sp[20];
    uint8_t sig[20][64];
    char keyid[20][65];
    assert_true(ns <= 20);
    for (size_t k = 0; k < ns; k++) {
        Sp__Signature z = SP__SIGNATURE__INIT;
        s[k] = z;
        fill(sig[k], 64, (uint8_t)(k * 7));
        size_t kl = (k * 9) % 65;
        for (size_t c = 0; c < kl; c++)
            keyid[k][c] = "0123456789abcdef"[(k + c) % 16];
        keyid[k][kl] = '\0';
        s[k].sig.data = sig[k];
        s[k].sig.len = 64;
        s[k].keyid = keyid[k];
        sp[k] = &s[k];
    }
    Sp__Envelope e = SP__ENVELOPE__INIT;
    e.payload.data = (uint8_t *)payload;
    e.payload.len = plen;
    e.payload_type = (char *)type;
    e.n_signatures = ns;
    e.signatures = sp;
    *len = sp__envelope__get_packed_size(&e);
    uint8_t *out = malloc(*len ? *len : 1);
    assert_non_null(out);
    assert_int_equal(sp__envelope__pack(&e, out), *len);
    return out;
}

/* The same envelope sealed by the library (one real signature). */
static uint8_t *envelope_sealed(size_t *len, const uint8_t *payload, size_t plen)
{
    uint8_t sk[64], pk[32], seed[32];
    fill(seed, 32, 1);
    crypto_sign_seed_keypair(pk, sk, seed);
    uint8_t *out;
    assert_int_equal(sp_envelope_seal(&out, len, payload, plen, sk, pk), SP_OK);
    sodium_memzero(sk, sizeof sk);
    return out;
}

/* The fixtures: canonical records and envelopes, all of which protobuf-c wrote. */
typedef struct fixture {
    const char *name;
    uint8_t *p;
    size_t n;
    int envelope;
    int valid;  /* sp_*_decode_in accepts it */
} fixture;

#define NFIX 20
static fixture fix[NFIX];
static size_t nfix;

static void add_fixture(const char *name, uint8_t *p, size_t n, int envelope, int valid)
{
    assert_true(nfix < NFIX);
    fix[nfix++] = (fixture){name, p, n, envelope, valid};
}

static void make_fixtures(void)
{
    if (nfix > 0)
        return;
    init_bytes();
    size_t n, gn;
    uint8_t *g = genesis_full(&gn), *p;
    add_fixture("payload-genesis", g, gn, 0, 1);
    p = genesis_empty(&n, 32, 0);
    add_fixture("payload-genesis-empty", p, n, 0, 1);
    p = genesis_empty(&n, 31, 0);
    add_fixture("payload-invalid-prev", p, n, 0, 0);
    p = genesis_empty(&n, 32, 1);
    add_fixture("payload-genesis-u32-max", p, n, 0, 1);
    p = checkpoint(&n, 5, bits_of(-0.0), UINT64_C(0x7ff8000000000123), 3, 1700000000000);
    add_fixture("payload-checkpoint-negzero-nan", p, n, 0, 1);
    p = checkpoint(&n, 3, UINT64_C(1), UINT64_C(0xfff0000000000001), 4, -1);
    add_fixture("payload-checkpoint-subnormal-snan", p, n, 0, 1);
    p = checkpoint(&n, 1, bits_of(INFINITY), bits_of(-DBL_MIN), UINT64_MAX, INT64_MIN);
    add_fixture("payload-checkpoint-huge-seq", p, n, 0, 1);
    p = checkpoint(&n, 300, bits_of(2.5), bits_of(1e-4), 7, 1);
    add_fixture("payload-checkpoint-many", p, n, 0, 1);
    p = checkpoint(&n, 0, 0, bits_of(-1e300), 2, -12345);
    add_fixture("payload-checkpoint-no-tensors", p, n, 0, 1);
    p = final_rec(&n);
    add_fixture("payload-final", p, n, 0, 1);
    p = envelope_sealed(&n, g, gn);
    add_fixture("envelope-sealed", p, n, 1, 1);
    p = envelope_n(&n, g, gn, 1, SP_PAYLOAD_TYPE);
    add_fixture("envelope-1sig", p, n, 1, 1);
    p = envelope_n(&n, g, gn, 16, SP_PAYLOAD_TYPE);
    add_fixture("envelope-16sig", p, n, 1, 1);
    p = envelope_n(&n, g, gn, 17, SP_PAYLOAD_TYPE);
    add_fixture("envelope-17sig", p, n, 1, 0);
    p = envelope_n(&n, g, gn, 2, "text/plain");
    add_fixture("envelope-other-type", p, n, 1, 0);
}

/* The fixture of that name. */
static const fixture *fx(const char *name)
{
    make_fixtures();
    for (size_t k = 0; k < nfix; k++)
        if (strcmp(fix[k].name, name) == 0)
            return &fix[k];
    fail_msg("no fixture %s", name);
    return NULL;
}

#define GENESIS fx("payload-genesis")
#define NEGZERO fx("payload-checkpoint-negzero-nan")
#define HUGESEQ fx("payload-checkpoint-huge-seq")
#define ENV16 fx("envelope-16sig")

/* ---- the tests ---- */

/* The fixtures are what they claim (no decoder under test is needed here). */
static void test_fixtures(void **state)
{
    (void)state;
    make_fixtures();
    for (size_t k = 0; k < nfix; k++) {
        char err[SP_ERRMSG_MAX] = "";
        sp_arena a;
        sp_arena_init(&a);
        int rc;
        if (fix[k].envelope) {
            Sp__Envelope *e;
            rc = sp_envelope_decode_in(&e, fix[k].p, fix[k].n, &a, err);
        } else {
            Sp__Record *r;
            rc = sp_record_decode_in(&r, fix[k].p, fix[k].n, &a, err);
        }
        if ((rc == SP_OK) != fix[k].valid)
            fprintf(stderr, "%s: %d %s\n", fix[k].name, rc, err);
        assert_int_equal(rc == SP_OK, fix[k].valid);
        sp_arena_release(&a);
    }
    /* the odd doubles really are in the packed bytes */
    Sp__Record *r = sp__record__unpack(NULL, NEGZERO->n, NEGZERO->p);
    assert_non_null(r);
    /* protobuf-c's pack drops -0.0 as a zero value: it is read back as +0.0 */
    assert_int_equal(bits_of(r->checkpoint->loss), 0);
    assert_int_equal(bits_of(r->checkpoint->lr), UINT64_C(0x7ff8000000000123));
    sp__record__free_unpacked(r, NULL);
    r = sp__record__unpack(NULL, HUGESEQ->n, HUGESEQ->p);
    assert_non_null(r);
    assert_true(r->seq == UINT64_MAX);
    assert_true(r->time_unix_ms == INT64_MIN);
    sp__record__free_unpacked(r, NULL);
}

/* Every fixture: the hand decoder reads it (SP_OK), equal to protobuf-c, bytes into the input. */
static void test_canonical(void **state)
{
    (void)state;
    make_fixtures();
    for (size_t k = 0; k < nfix; k++) {
        print_message("%s (%zu bytes)\n", fix[k].name, fix[k].n);
        /* at an aligned address, and at an odd one (fixed64 fields read unaligned) */
        uint8_t *odd = malloc(fix[k].n + 1);
        assert_non_null(odd);
        memcpy(odd + 1, fix[k].p, fix[k].n);
        if (fix[k].envelope) {
            check_envelope(fix[k].p, fix[k].n, SP_OK);
            check_envelope(odd + 1, fix[k].n, SP_OK);
        } else {
            check_record(fix[k].p, fix[k].n, SP_OK);
            check_record(odd + 1, fix[k].n, SP_OK);
        }
        free(odd);
    }
    /* a few fields directly, beside the generic comparison */
    sp_arena a;
    sp_arena_init(&a);
    Sp__Record *r;
    assert_int_equal(sp_wire_record(&r, GENESIS->p, GENESIS->n, &a), SP_OK);
    assert_int_equal(r->body_case, SP__RECORD__BODY_GENESIS);
    assert_string_equal(r->genesis->model_name, "tiny-lm \xce\xb2 (wire test)");
    assert_string_equal(r->genesis->tool, "scratchproof/0.1.0");
    assert_int_equal(r->genesis->n_tensors, 6);
    assert_string_equal(r->genesis->tensors[5]->name, "f.trunc\xc3\xa9");
    assert_int_equal(r->genesis->tensors[1]->n_shape, 4);
    assert_int_equal(r->genesis->tensors[1]->shape[3], 5);
    assert_int_equal(r->genesis->tensors[2]->n_ranges, 2);
    assert_int_equal(r->genesis->tensors[2]->ranges[1]->first, 20);
    assert_null(r->genesis->tensors[2]->init);
    assert_memory_equal(r->genesis->tensors[4]->digest.data, dig[4], 32);
    assert_memory_equal(r->genesis->public_key.data, pk32, 32);
    assert_int_equal(r->genesis->world_size, 8);
    assert_true(r->genesis->seed == UINT64_C(0x8000000000000005));
    assert_int_equal(r->genesis->tensors[3]->n_shape, 0);
    assert_true(r->genesis->tensors[5]->init->params[2] == -2.0);
    const fixture *u32 = fx("payload-genesis-u32-max");
    assert_int_equal(sp_wire_record(&r, u32->p, u32->n, &a), SP_OK);
    assert_true(r->genesis->world_size == UINT32_MAX && r->genesis->batches_per_step == UINT32_MAX);
    assert_int_equal(sp_wire_record(&r, HUGESEQ->p, HUGESEQ->n, &a), SP_OK);
    assert_true(r->seq == UINT64_MAX);
    assert_true(r->time_unix_ms == INT64_MIN);
    assert_int_equal(bits_of(r->checkpoint->loss), bits_of(INFINITY));
    assert_int_equal(sp_wire_record(&r, NEGZERO->p, NEGZERO->n, &a), SP_OK);
    assert_int_equal(bits_of(r->checkpoint->loss), 0);
    assert_int_equal(bits_of(r->checkpoint->lr), UINT64_C(0x7ff8000000000123));
    assert_string_equal(r->checkpoint->tensors[4]->name, "t0004");
    Sp__Envelope *e;
    assert_int_equal(sp_wire_envelope(&e, ENV16->p, ENV16->n, &a), SP_OK);
    assert_int_equal(e->n_signatures, 16);
    assert_string_equal(e->payload_type, SP_PAYLOAD_TYPE);
    assert_int_equal(strlen(e->signatures[15]->keyid), (15 * 9) % 65);
    assert_int_equal(e->payload.len, GENESIS->n);
    assert_memory_equal(e->payload.data, GENESIS->p, GENESIS->n);
    assert_true(e->payload.data > ENV16->p && e->payload.data < ENV16->p + ENV16->n);
    sp_arena_release(&a);
}

/* ---- records written through the public API ---- */

typedef struct stored {
    uint8_t *p[16];
    size_t n[16], count;
} stored;

static int collect(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    (void)key;
    (void)keylen;
    stored *s = ctx;
    if (s->count == 16)
        return 0;
    s->p[s->count] = malloc(len ? len : 1);
    if (s->p[s->count] == NULL)
        return SP_ENOMEM;
    memcpy(s->p[s->count], val, len);
    s->n[s->count++] = len;
    return 0;
}

static stored ledger_values;

/* A run of genesis, two checkpoints and a final, through sp_run_*; its stored values. */
static void make_ledger(void)
{
    if (ledger_values.count > 0)
        return;
    char dir[] = "/tmp/sp-test-wire-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prefix[600], ledger[700], key[700], pub[700], err[SP_ERRMSG_MAX] = "";
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    snprintf(ledger, sizeof ledger, "%s/run.ledger", dir);
    snprintf(key, sizeof key, "%s.key", prefix);
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    assert_int_equal(sp_keygen_files(prefix, err), SP_OK);
    static float w0[12], w1[6];
    sp_init_scheme su = {.kind = SP_INIT_UNIFORM, .p = {-0.1, 0.1, 0, 0}};
    sp_init_scheme sz = {.kind = SP_INIT_ZEROS};
    sp_tensor t[2] = {
        {.name = "layer.bias", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {6}, .data = w1, .nbytes = sizeof w1},
        {.name = "layer.weight", .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {3, 4}, .data = w0, .nbytes = sizeof w0},
    };
    assert_int_equal(sp_init_fill(w0, SP_DTYPE_F32, t[1].name, 1, &su, 0, 12), SP_OK);
    sp_record_tensor rt[2] = {{.t = t[0], .init = sz}, {.t = t[1], .init = su}};
    sp_run *run;
    sp_run_options o = {.ledger_path = ledger, .key_path = key, .seed = 1, .model_name = "wire", .err = err};
    assert_int_equal(sp_run_open(&run, &o), SP_OK);
    assert_int_equal(sp_run_genesis(run, rt, 2), SP_OK);
    for (int s = 1; s <= 2; s++) {
        sp_checkpoint_info info = {.step = (uint64_t)s, .tokens = 1000u * (unsigned)s, .loss = -0.0, .lr = 1e-3};
        w0[s] += 0.5f;
        assert_int_equal(sp_run_commit_batch(run, (uint64_t)s, "batch", 5), SP_OK);
        assert_int_equal(sp_run_checkpoint(run, &info, t, 2), SP_OK);
    }
    assert_int_equal(sp_run_commit_batch(run, 3, "b", 1), SP_OK);
    assert_int_equal(sp_run_final(run, 3, t, 2), SP_OK);
    sp_run_close(run);
    sp_source *src = NULL;
    assert_int_equal(sp_source_open(&src, ledger, err), SP_OK);
    assert_int_equal(sp_source_foreach(src, collect, &ledger_values), SP_OK);
    sp_source_close(src);
    assert_int_equal(ledger_values.count, 4);
    unlink(ledger);
    char lock[720];
    snprintf(lock, sizeof lock, "%s-lock", ledger);
    unlink(lock);
    unlink(key);
    unlink(pub);
    rmdir(dir);
}

static void test_ledger_records(void **state)
{
    (void)state;
    make_ledger();
    for (size_t k = 0; k < ledger_values.count; k++) {
        check_envelope(ledger_values.p[k], ledger_values.n[k], SP_OK);
        sp_arena a;
        sp_arena_init(&a);
        Sp__Envelope *e;
        assert_int_equal(sp_wire_envelope(&e, ledger_values.p[k], ledger_values.n[k], &a), SP_OK);
        check_record(e->payload.data, e->payload.len, SP_OK);
        Sp__Record *r;
        assert_int_equal(sp_wire_record(&r, e->payload.data, e->payload.len, &a), SP_OK);
        assert_true(r->seq == k);
        if (k == 0)
            assert_string_equal(r->genesis->tensors[1]->name, "layer.weight");
        sp_arena_release(&a);
    }
}

/* ---- non-canonical but valid encodings, built by hand ---- */

/* The parts of a hand-built checkpoint record; each variant changes one thing. */
enum variant {
    V_CANONICAL,
    V_ORDER_RECORD,     /* prev before seq */
    V_ORDER_TENSOR,     /* digest before name inside a tensor */
    V_DUP_SEQ,          /* seq twice: protobuf-c keeps the last */
    V_DUP_BODY,         /* the checkpoint twice: protobuf-c merges them */
    V_DUP_NAME,         /* a tensor name twice */
    V_UNKNOWN0,         /* an unknown field of each wire type, in the record */
    V_UNKNOWN1,
    V_UNKNOWN2,
    V_UNKNOWN5,
    V_UNKNOWN_NESTED,   /* an unknown varint inside a tensor */
    V_UNPACKED_SHAPE,   /* shape as one varint field per element */
    V_SPLIT_SHAPE,      /* shape packed in two runs */
    V_SPLIT_TENSORS,    /* the tensors split by the root field */
    V_TWO_BODIES,       /* checkpoint and final: two oneof members */
    V_NONMIN_VARINT,    /* seq as 0x85 0x80 0x00 */
    V_NONMIN_LENGTH,    /* prev's length as 0xa0 0x00 */
    V_NONMIN_TAG,       /* seq's tag as 0x88 0x00 */
    V_NONMIN_PACKED,    /* a shape element 0x83 0x00 inside the packed run */
    V_U32_BIG,          /* dtype 2^32 + 1 */
    V_U32_MAX_PLUS,     /* dtype 2^63 + 2 (a ten-byte varint) */
    V_NVARIANTS
};

static const char *variant_name[V_NVARIANTS] = {
    "canonical", "order-record", "order-tensor", "dup-seq", "dup-body", "dup-name", "unknown-0",
    "unknown-1", "unknown-2", "unknown-5", "unknown-nested", "unpacked-shape", "split-shape",
    "split-tensors", "two-bodies", "nonmin-varint", "nonmin-length", "nonmin-tag", "nonmin-packed",
    "u32-big", "u32-huge",
};

/*
 * What sp_wire_record must answer for each variant: SP_EFORMAT for every
 * encoding protobuf-c's pack does not write (wire.h), except a packed field
 * in two adjacent runs, which a decoder may join without changing a value
 * (ANY: the key property only).
 */
static int variant_want(int v)
{
    if (v == V_CANONICAL)
        return SP_OK;
    if (v == V_SPLIT_SHAPE)
        return ANY;
    return SP_EFORMAT;
}

static void hand_tensor(buf *t, int v, const char *name, const uint8_t *digest)
{
    if (v == V_ORDER_TENSOR)
        put_lendelim(t, 4, digest, 32);
    put_lendelim(t, 1, name, strlen(name));
    if (v == V_DUP_NAME)
        put_lendelim(t, 1, name, strlen(name));
    if (v == V_U32_BIG)
        put_uint(t, 2, (UINT64_C(1) << 32) + 1);
    else if (v == V_U32_MAX_PLUS)
        put_uint(t, 2, (UINT64_C(1) << 63) + 2);
    else
        put_uint(t, 2, 1);
    if (v == V_UNKNOWN_NESTED)
        put_uint(t, 7, 3);
    if (v == V_UNPACKED_SHAPE) {
        put_uint(t, 3, 2);
        put_uint(t, 3, 3);
    } else if (v == V_SPLIT_SHAPE) {
        uint8_t a[1] = {2}, b[1] = {3};
        put_lendelim(t, 3, a, 1);
        put_lendelim(t, 3, b, 1);
    } else if (v == V_NONMIN_PACKED) {
        uint8_t a[3] = {2, 0x83, 0x00};
        put_lendelim(t, 3, a, 3);
    } else {
        uint8_t a[2] = {2, 3};
        put_lendelim(t, 3, a, 2);
    }
    if (v != V_ORDER_TENSOR)
        put_lendelim(t, 4, digest, 32);
}

static void hand_checkpoint(buf *c, int v)
{
    buf t1 = {0}, t2 = {0};
    hand_tensor(&t1, v, "alpha", dig[0]);
    hand_tensor(&t2, V_CANONICAL, "beta", dig[1]);
    put_uint(c, 1, 10);
    put_uint(c, 2, 5000);
    put_msg(c, 3, &t1);
    if (v == V_SPLIT_TENSORS)
        put_lendelim(c, 4, dig[2], 32);
    put_msg(c, 3, &t2);
    if (v != V_SPLIT_TENSORS)
        put_lendelim(c, 4, dig[2], 32);
    put_lendelim(c, 6, dig[3], 32);
    put_uint(c, 7, 3);
    put_fixed64(c, 8, bits_of(-1.0));
    put_fixed64(c, 9, UINT64_C(0x7ff4000000000001));
    buf_free(&t1);
    buf_free(&t2);
}

static void hand_record(buf *r, int v)
{
    buf c = {0};
    hand_checkpoint(&c, v);
    if (v == V_ORDER_RECORD) {
        put_lendelim(r, 2, dig[4], 32);
        put_uint(r, 1, 5);
    } else if (v == V_NONMIN_VARINT) {
        uint8_t x[4] = {0x08, 0x85, 0x80, 0x00};
        put(r, x, 4);
    } else if (v == V_NONMIN_TAG) {
        uint8_t x[3] = {0x88, 0x00, 0x05};
        put(r, x, 3);
    } else {
        put_uint(r, 1, 5);
        if (v == V_DUP_SEQ)
            put_uint(r, 1, 6);
    }
    if (v == V_NONMIN_LENGTH) {
        uint8_t x[3] = {0x12, 0xa0, 0x00};
        put(r, x, 3);
        put(r, dig[4], 32);
    } else if (v != V_ORDER_RECORD) {
        put_lendelim(r, 2, dig[4], 32);
    }
    put_lendelim(r, 3, run_id, 16);
    put_uint(r, 4, (uint64_t)INT64_C(-7));  /* a negative int64: ten bytes */
    if (v == V_UNKNOWN0)
        put_uint(r, 5, 1);
    if (v == V_UNKNOWN1)
        put_fixed64(r, 6, 42);
    if (v == V_UNKNOWN2)
        put_lendelim(r, 7, "xyz", 3);
    if (v == V_UNKNOWN5)
        put_fixed32(r, 9, 42);
    if (v == V_DUP_BODY) {
        /* the first copy carries a different step and one tensor less */
        buf c0 = {0};
        put_uint(&c0, 1, 9);
        put_lendelim(&c0, 4, dig[5], 32);
        put_msg(r, 11, &c0);
        buf_free(&c0);
    }
    put_msg(r, 11, &c);
    if (v == V_TWO_BODIES) {
        buf f = {0};
        put_uint(&f, 1, 11);
        put_lendelim(&f, 3, dig[2], 32);
        put_lendelim(&f, 4, dig[3], 32);
        put_msg(r, 12, &f);
        buf_free(&f);
    }
    buf_free(&c);
}

static void test_noncanonical_records(void **state)
{
    (void)state;
    init_bytes();
    for (int v = 0; v < V_NVARIANTS; v++) {
        buf r = {0};
        hand_record(&r, v);
        print_message("%s (%zu bytes)\n", variant_name[v], r.n);
        /* valid protobuf: protobuf-c reads every variant */
        Sp__Record *u = sp__record__unpack(NULL, r.n, r.p);
        assert_non_null(u);
        if (v == V_CANONICAL) {
            /* the hand encoding is protobuf-c's own, byte for byte, and valid */
            size_t n = sp__record__get_packed_size(u);
            uint8_t *q = malloc(n);
            assert_non_null(q);
            sp__record__pack(u, q);
            assert_int_equal(n, r.n);
            assert_memory_equal(q, r.p, n);
            free(q);
            Sp__Record *i;
            sp_arena a;
            sp_arena_init(&a);
            assert_int_equal(sp_record_decode_in(&i, r.p, r.n, &a, NULL), SP_OK);
            sp_arena_release(&a);
        }
        if (v == V_DUP_SEQ)
            assert_int_equal(u->seq, 6);
        if (v == V_TWO_BODIES)
            assert_int_equal(u->body_case, SP__RECORD__BODY_FINAL);
        if (v == V_DUP_BODY)
            assert_int_equal(u->checkpoint->n_tensors, 2);
        if (v == V_U32_BIG)
            assert_int_equal(u->checkpoint->tensors[0]->dtype, 1);
        sp__record__free_unpacked(u, NULL);
        check_record(r.p, r.n, variant_want(v));
        buf_free(&r);
    }
}

/* Envelope variant v (0 canonical) of two signatures around the genesis fixture. */
#define ENV_VARIANTS 8
static void hand_envelope(buf *e, int v)
{
    buf s1 = {0}, s2 = {0};
    uint8_t sig[64];
    fill(sig, 64, 3);
    const char *kid = "938e528d2c2c1cc9";
    if (v == 1)  /* keyid before sig */
        put_lendelim(&s1, 2, kid, strlen(kid));
    put_lendelim(&s1, 1, sig, 64);
    if (v != 1)
        put_lendelim(&s1, 2, kid, strlen(kid));
    if (v == 2)  /* an unknown field in a signature */
        put_fixed32(&s1, 3, 0);
    if (v == 3)  /* the sig twice */
        put_lendelim(&s1, 1, sig, 64);
    put_lendelim(&s2, 1, sig, 64);
    put_lendelim(&s2, 2, kid, 4);
    if (v == 4)  /* payload type before payload */
        put_lendelim(e, 2, SP_PAYLOAD_TYPE, strlen(SP_PAYLOAD_TYPE));
    put_lendelim(e, 1, GENESIS->p, GENESIS->n);
    if (v == 5)  /* signatures split by the payload type */
        put_msg(e, 3, &s1);
    if (v != 4)
        put_lendelim(e, 2, SP_PAYLOAD_TYPE, strlen(SP_PAYLOAD_TYPE));
    if (v == 6)  /* the payload twice */
        put_lendelim(e, 1, GENESIS->p, GENESIS->n);
    if (v != 5)
        put_msg(e, 3, &s1);
    put_msg(e, 3, &s2);
    if (v == 7)  /* an unknown length-delimited field after everything */
        put_lendelim(e, 15, "x", 1);
    buf_free(&s1);
    buf_free(&s2);
}

static void test_noncanonical_envelopes(void **state)
{
    (void)state;
    make_fixtures();
    for (int v = 0; v < ENV_VARIANTS; v++) {
        buf e = {0};
        hand_envelope(&e, v);
        Sp__Envelope *u = sp__envelope__unpack(NULL, e.n, e.p);
        assert_non_null(u);
        assert_int_equal(u->n_signatures, 2);
        sp__envelope__free_unpacked(u, NULL);
        print_message("envelope variant %d (%zu bytes)\n", v, e.n);
        check_envelope(e.p, e.n, v == 0 ? SP_OK : SP_EFORMAT);
        buf_free(&e);
    }
}

/*
 * Valid protobuf that protobuf-c's pack would not write but the contract
 * does not name: explicit zero values, empty packed runs, empty strings. No
 * demand on the hand decoder's answer, only the key property.
 */
static void test_explicit_defaults(void **state)
{
    (void)state;
    init_bytes();
    for (int v = 0; v < 5; v++) {
        buf r = {0}, c = {0}, t = {0};
        put_lendelim(&t, 1, "n", 1);
        put_uint(&t, 2, 1);
        if (v == 0)
            put_lendelim(&t, 3, "", 0);  /* an empty packed shape */
        put_lendelim(&t, 4, dig[0], 32);
        if (v == 1)
            put_msg(&t, 5, &(buf){0});  /* a present empty init: not NULL */
        put_uint(&c, 1, 0);            /* step 0, explicit */
        put_msg(&c, 3, &t);
        put_lendelim(&c, 4, dig[1], 32);
        if (v == 2)
            put_lendelim(&c, 5, "", 0);  /* an empty optimizer digest, explicit */
        put_lendelim(&c, 6, dig[2], 32);
        if (v == 3)
            put_fixed64(&c, 8, 0);      /* loss +0.0, explicit */
        if (v == 4)                     /* loss -0.0: protobuf-c reads it, but never writes it */
            put_fixed64(&c, 8, bits_of(-0.0));
        put_uint(&r, 1, 0);
        put_lendelim(&r, 2, dig[3], 32);
        put_lendelim(&r, 3, run_id, 16);
        put_msg(&r, 11, &c);
        check_record(r.p, r.n, ANY);
        buf_free(&r);
        buf_free(&c);
        buf_free(&t);
    }
    /* present empty strings: "" (not NULL) as protobuf-c gives, if accepted at all */
    static const uint8_t empty_str[6] = {0x52, 0x04, 0x0a, 0x00, 0x32, 0x00};
    check_record(empty_str, sizeof empty_str, ANY);
    /* strings protobuf-c takes as they are: invalid UTF-8, an embedded NUL */
    static const uint8_t bad_utf8[6] = {0x52, 0x04, 0x0a, 0x02, 0xff, 0xfe};
    static const uint8_t nul[7] = {0x52, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
    check_record(bad_utf8, sizeof bad_utf8, ANY);
    check_record(nul, sizeof nul, ANY);
    /* a record that is only an empty body, and one with no field at all */
    static const uint8_t body_only[2] = {0x5a, 0x00}, genesis_only[2] = {0x52, 0x00};
    check_record(body_only, 2, ANY);
    check_record(genesis_only, 2, ANY);
    check_record(body_only, 0, ANY);
    check_envelope(body_only, 0, ANY);
    static const uint8_t empty_sig[2] = {0x1a, 0x00};
    check_envelope(empty_sig, 2, ANY);
}

/* ---- invalid encodings ---- */

static void test_invalid(void **state)
{
    (void)state;
    init_bytes();
    /* each case must be refused by protobuf-c, hence by the hand decoder (key property) */
    for (int v = 0; v < 16; v++) {
        buf r = {0};
        put_uint(&r, 1, 5);
        switch (v) {
        case 0:  /* a length past the end */
            put_tag(&r, 2, 2);
            put_varint(&r, 33);
            put(&r, dig[0], 32);
            break;
        case 1:  /* a length of 2^32 - 1 */
            put_tag(&r, 2, 2);
            put_varint(&r, UINT32_MAX);
            put(&r, dig[0], 32);
            break;
        case 2:  /* a length of 2^64 - 1: pointer arithmetic must not wrap */
            put_tag(&r, 2, 2);
            put_varint(&r, UINT64_MAX);
            put(&r, dig[0], 32);
            break;
        case 3: {  /* a submessage longer than what is left */
            put_tag(&r, 11, 2);
            put_varint(&r, 40);
            put_uint(&r, 1, 1);
            break;
        }
        case 4: {  /* an 11-byte varint */
            uint8_t x[12] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
            r.n = 0;
            put(&r, x, 12);
            break;
        }
        case 5: {  /* a varint that never ends */
            uint8_t x[4] = {0x20, 0xff, 0xff, 0xff};
            put(&r, x, 4);
            break;
        }
        case 6:  /* wire types 3, 4, 6, 7 on a known field */
        case 7:
        case 8:
        case 9: {
            unsigned wt[4] = {3, 4, 6, 7};
            put_tag(&r, 4, wt[v - 6]);
            put_byte(&r, 0);
            break;
        }
        case 10:  /* wire types 3 and 7 on an unknown field */
            put_tag(&r, 20, 3);
            put_byte(&r, 0);
            break;
        case 11:
            put_tag(&r, 20, 7);
            put_byte(&r, 0);
            break;
        case 12:  /* field number 0 */
            put_byte(&r, 0x00);
            put_byte(&r, 0x01);
            break;
        case 13:
            put_byte(&r, 0x02);
            put_byte(&r, 0x00);
            break;
        case 14: {  /* a tensor whose packed shape's length runs past the tensor */
            buf c = {0}, t = {0};
            put_lendelim(&t, 1, "w", 1);
            uint8_t x[3] = {0x1a, 0x05, 0x01};
            put(&t, x, 3);
            put_msg(&c, 3, &t);
            put_msg(&r, 11, &c);
            buf_free(&c);
            buf_free(&t);
            break;
        }
        case 15: {  /* a fixed64 cut short */
            uint8_t x[4] = {0x41, 1, 2, 3};
            buf c = {0};
            put(&c, x, 4);
            put_msg(&r, 11, &c);
            buf_free(&c);
            break;
        }
        }
        Sp__Record *u = sp__record__unpack(NULL, r.n, r.p);
        if (u != NULL)
            fprintf(stderr, "invalid case %d: protobuf-c accepts it\n", v);
        assert_null(u);
        print_message("invalid case %d (%zu bytes)\n", v, r.n);
        check_record(r.p, r.n, SP_EFORMAT);
        check_envelope(r.p, r.n, SP_EFORMAT);
        buf_free(&r);
    }
    /*
     * ten-byte varints whose last byte carries bits past 2^64: pack never
     * writes them, so SP_EFORMAT whether protobuf-c takes them or not
     */
    static const uint8_t big[11] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    check_record(big, sizeof big, SP_EFORMAT);
    static const uint8_t big_time[11] = {0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    check_record(big_time, sizeof big_time, SP_EFORMAT);
    /* a 5-byte tag: field 2^29 - 1 */
    static const uint8_t big_tag[6] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01};
    check_record(big_tag, 6, ANY);
}

/* Every prefix of real records and envelopes. */
static void test_truncations(void **state)
{
    (void)state;
    make_fixtures();
    make_ledger();
    const uint8_t *src[4] = {GENESIS->p, NEGZERO->p, ENV16->p, ledger_values.p[1]};
    size_t n[4] = {GENESIS->n, NEGZERO->n, ENV16->n, ledger_values.n[1]};
    for (int k = 0; k < 4; k++) {
        for (size_t cut = 0; cut < n[k]; cut++) {
            /* a copy of exactly cut bytes, so that reading past it is caught by ASan / valgrind */
            uint8_t *p = malloc(cut ? cut : 1);
            assert_non_null(p);
            memcpy(p, src[k], cut);
            check_record(p, cut, ANY);
            check_envelope(p, cut, ANY);
            free(p);
        }
    }
}

/* Fixed-seed mutants of real records: the key property and _view == _in on each. */
static void test_mutations(void **state)
{
    (void)state;
    make_fixtures();
    make_ledger();
    rng_state = 20261201;
    size_t ok = 0, total = 0;
    for (int m = 0; m < 6000; m++) {
        const uint8_t *src;
        size_t sn;
        int pick = (int)(rng() % (nfix + ledger_values.count));
        if (pick < (int)nfix) {
            src = fix[pick].p;
            sn = fix[pick].n;
        } else {
            src = ledger_values.p[pick - (int)nfix];
            sn = ledger_values.n[pick - (int)nfix];
        }
        if (sn > 4096)  /* keep the loop fast: the 300-tensor record only now and then */
            if (rng() % 8 != 0)
                continue;
        buf b = {0};
        put(&b, src, sn);
        int edits = 1 + (int)(rng() % 3);
        for (int e = 0; e < edits && b.n > 0; e++) {
            size_t at = (size_t)(rng() % b.n);
            switch (rng() % 7) {
            case 0:  /* flip a bit */
                b.p[at] ^= (uint8_t)(1u << (rng() % 8));
                break;
            case 1: {  /* set a byte to an interesting value */
                static const uint8_t vals[8] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x5a};
                b.p[at] = vals[rng() % 8];
                break;
            }
            case 2: {  /* insert up to 4 bytes */
                size_t k = 1 + (size_t)(rng() % 4);
                uint8_t ins[4];
                for (size_t i = 0; i < k; i++)
                    ins[i] = (uint8_t)rng();
                put(&b, ins, k);  /* grow, then move the tail */
                memmove(b.p + at + k, b.p + at, b.n - k - at);
                memcpy(b.p + at, ins, k);
                break;
            }
            case 3: {  /* delete up to 8 bytes */
                size_t k = 1 + (size_t)(rng() % 8);
                if (k > b.n - at)
                    k = b.n - at;
                memmove(b.p + at, b.p + at + k, b.n - at - k);
                b.n -= k;
                break;
            }
            case 4:  /* truncate */
                b.n = at;
                break;
            case 5: {  /* duplicate a slice in place: repeated fields, doubled fields */
                size_t k = 1 + (size_t)(rng() % 40);
                if (k > b.n - at)
                    k = b.n - at;
                uint8_t *dup = malloc(k);
                assert_non_null(dup);
                memcpy(dup, b.p + at, k);
                put(&b, dup, k);
                memmove(b.p + at + k, b.p + at, b.n - k - at);
                memcpy(b.p + at, dup, k);
                free(dup);
                break;
            }
            default:  /* add or subtract one from a byte (lengths, tags) */
                b.p[at] = (uint8_t)(b.p[at] + ((rng() & 1) ? 1 : 0xff));
                break;
            }
        }
        /* an exact-size copy so that over-reads are caught under a sanitizer */
        uint8_t *p = malloc(b.n ? b.n : 1);
        assert_non_null(p);
        memcpy(p, b.p, b.n);
        ok += check_record(p, b.n, ANY) == SP_OK;
        ok += check_envelope(p, b.n, ANY) == SP_OK;
        total += 2;
        free(p);
        buf_free(&b);
    }
    print_message("%zu of %zu mutant decodes accepted by the hand decoder\n", ok, total);
}

/* SP_WRITE_CORPUS=DIR: the seed corpus of tests/fuzz/fuzz_wire.c (tests/corpus/wire). */
static void write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_write_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("SP_WRITE_CORPUS");
    if (dir == NULL)
        return;
    make_fixtures();
    make_ledger();
    for (size_t k = 0; k < nfix; k++)
        if (fix[k].n <= 4096)
            write_seed(dir, fix[k].name, fix[k].p, fix[k].n);
    static const char *kinds[4] = {"genesis", "checkpoint-1", "checkpoint-2", "final"};
    for (size_t k = 0; k < ledger_values.count && k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "ledger-%s", kinds[k]);
        write_seed(dir, name, ledger_values.p[k], ledger_values.n[k]);
    }
    for (int v = 1; v < V_NVARIANTS; v++) {
        buf r = {0};
        hand_record(&r, v);
        char name[64];
        snprintf(name, sizeof name, "noncanonical-%s", variant_name[v]);
        write_seed(dir, name, r.p, r.n);
        buf_free(&r);
    }
    for (int v = 1; v < ENV_VARIANTS; v++) {
        buf e = {0};
        hand_envelope(&e, v);
        char name[64];
        snprintf(name, sizeof name, "noncanonical-envelope-%d", v);
        write_seed(dir, name, e.p, e.n);
        buf_free(&e);
    }
}

static void free_all(void)
{
    for (size_t k = 0; k < nfix; k++)
        free(fix[k].p);
    for (size_t k = 0; k < ledger_values.count; k++)
        free(ledger_values.p[k]);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_ledger_records),
        cmocka_unit_test(test_noncanonical_records),
        cmocka_unit_test(test_noncanonical_envelopes),
        cmocka_unit_test(test_explicit_defaults),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_write_corpus),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free_all();
    return rc;
}
