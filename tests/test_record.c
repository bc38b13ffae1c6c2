/*
 * test_record.c - DSSE PAE, envelope sealing and verification, and record
 * validation: known-answer vectors (SPEC.md 3.5) and negative cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "record.h"

/* SPEC.md 3.5; checked independently by tests/record_reference.py. */
#define KAT_PAYLOAD_HEX \
    "1220000000000000000000000000000000000000000000000000000000000000" \
    "00001a10000102030405060708090a0b0c0d0e0f2080d095ffbc3152b2010a03" \
    "6b617410071a2000000000000000000000000000000000000000000000000000" \
    "0000000000000022510a017710011a0202032220a0a1a2a3a4a5a6a7a8a9aaab" \
    "acadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf2a2408031220000000000000" \
    "e0bf000000000000e03f000000000000000000000000000000002a2040414243" \
    "4445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f32127363" \
    "726174636870726f6f662f302e312e30"
#define KAT_SIG_HEX \
    "911ebb11849bd40a15c7aca3169fb8aedf1a1542cbc92680990abf820094a985" \
    "f9b0e10ebfef9f809bb722dc8ae78b96752d5f2a55360d34f14a448c4fa03009"
#define KAT_KEYID "938e528d2c2c1cc9"
#define KAT_RECORD_DIGEST_HEX "1f45055884584ba435b75600ff5629dea7f2e9e5d3c42bc25f6a1e803394d3cf"

/* Fixed key: Ed25519 seed 0x01 0x02 ... 0x20. */
static void kat_key(uint8_t sk[64], uint8_t pk[32])
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void hex(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

/* The KAT record: a genesis of one tensor (SPEC.md 3.5). */
static uint8_t *kat_payload(size_t *len)
{
    static uint8_t zeros[32], run_id[16], digest[32], root[32], cfg[32];
    for (int i = 0; i < 16; i++)
        run_id[i] = (uint8_t)i;
    for (int i = 0; i < 32; i++) {
        digest[i] = (uint8_t)(0xa0 + i);
        root[i] = (uint8_t)(0x40 + i);
    }
    static uint64_t shape[2] = {2, 3};
    static double params[4] = {-0.5, 0.5, 0, 0};
    Sp__InitScheme s = SP__INIT_SCHEME__INIT;
    s.kind = 3;
    s.n_params = 4;
    s.params = params;
    Sp__TensorDigest t = SP__TENSOR_DIGEST__INIT;
    t.name = (char *)"w";
    t.dtype = 1;
    t.n_shape = 2;
    t.shape = shape;
    t.digest.data = digest;
    t.digest.len = 32;
    t.init = &s;
    Sp__TensorDigest *tp[1] = {&t};
    Sp__Genesis g = SP__GENESIS__INIT;
    g.model_name = (char *)"kat";
    g.seed = 7;
    g.config_digest.data = cfg;
    g.config_digest.len = 32;
    g.n_tensors = 1;
    g.tensors = tp;
    g.root.data = root;
    g.root.len = 32;
    g.tool = (char *)"scratchproof/0.1.0";
    Sp__Record r = SP__RECORD__INIT;
    r.seq = 0;
    r.prev.data = zeros;
    r.prev.len = 32;
    r.run_id.data = run_id;
    r.run_id.len = 16;
    r.time_unix_ms = 1700000000000;
    r.body_case = SP__RECORD__BODY_GENESIS;
    r.genesis = &g;
    uint8_t *out;
    assert_int_equal(sp_record_pack(&out, len, &r), SP_OK);
    return out;
}

static void test_pae_vector(void **state)
{
    (void)state;
    /* The example from the DSSE protocol document. */
    uint8_t *p;
    size_t n;
    assert_int_equal(sp_pae(&p, &n, "http://example.com/HelloWorld", (const uint8_t *)"hello world", 11), SP_OK);
    const char *want = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
    free(p);
    assert_int_equal(sp_pae(&p, &n, "t", NULL, 0), SP_OK);
    assert_int_equal(n, strlen("DSSEv1 1 t 0 "));
    assert_memory_equal(p, "DSSEv1 1 t 0 ", n);
    free(p);
}

/* Ed25519 is deterministic: the payload, signature and record digest are fixed. */
static void test_signed_record_vector(void **state)
{
    (void)state;
    uint8_t sk[64], pk[32];
    kat_key(sk, pk);
    size_t plen;
    uint8_t *payload = kat_payload(&plen);
    char h[2048];
    hex(h, payload, plen);
    assert_string_equal(h, KAT_PAYLOAD_HEX);
    uint8_t *env;
    size_t elen;
    assert_int_equal(sp_envelope_seal(&env, &elen, payload, plen, sk, pk), SP_OK);
    Sp__Envelope *e;
    assert_int_equal(sp_envelope_decode(&e, env, elen, NULL), SP_OK);
    hex(h, e->signatures[0]->sig.data, 64);
    assert_string_equal(h, KAT_SIG_HEX);
    assert_string_equal(e->signatures[0]->keyid, KAT_KEYID);
    assert_int_equal(sp_envelope_verify(e, pk), SP_OK);
    uint8_t d[32];
    assert_int_equal(sp_record_digest(d, payload, plen), SP_OK);
    hex(h, d, 32);
    assert_string_equal(h, KAT_RECORD_DIGEST_HEX);
    const char *dir = getenv("SP_WRITE_CORPUS");
    if (dir != NULL) {
        char path[512];
        snprintf(path, sizeof path, "%s/kat-envelope", dir);
        FILE *f = fopen(path, "wb");
        if (f != NULL) {
            fwrite(env, 1, elen, f);
            fclose(f);
        }
    }
    sp_envelope_free(e);
    free(env);
    free(payload);
}

/*
 * sp_envelope_verify, and sp_envelope_verify_buf (verify's reused buffer) on
 * the same envelope: the same verdict, the buffer reused or grown (it starts
 * one byte long).
 */
static uint8_t *vbuf;
static size_t vcap;
static int verify2(const Sp__Envelope *e, const uint8_t *pk)
{
    if (vbuf == NULL) {
        vbuf = malloc(1);
        vcap = 1;
    }
    char why[SP_ERRMSG_MAX] = "";
    int a = sp_envelope_verify(e, pk), b = sp_envelope_verify_buf(e, pk, &vbuf, &vcap, why);
    assert_int_equal(a, b);
    assert_true(vcap >= e->payload.len);
    if (b == SP_EMISMATCH)
        assert_non_null(strstr(why, "is not the pinned key's id"));
    return a;
}

static void test_envelope_negative(void **state)
{
    (void)state;
    uint8_t sk[64], pk[32], sk2[64], pk2[32];
    kat_key(sk, pk);
    crypto_sign_keypair(pk2, sk2);
    size_t plen, elen;
    uint8_t *payload = kat_payload(&plen), *env;
    assert_int_equal(sp_envelope_seal(&env, &elen, payload, plen, sk, pk), SP_OK);
    Sp__Envelope *e;
    char err[SP_ERRMSG_MAX];

    /* another key */
    assert_int_equal(sp_envelope_decode(&e, env, elen, err), SP_OK);
    assert_int_equal(verify2(e, pk2), SP_ECRYPTO);
    /* malleated signature: every bit of the signature matters */
    e->signatures[0]->sig.data[63] ^= 0x80;
    assert_int_equal(verify2(e, pk), SP_ECRYPTO);
    e->signatures[0]->sig.data[63] ^= 0x80;
    /* the unsigned keyid hint changed: the signature no longer counts (SPEC.md 3.1, 4.4) */
    e->signatures[0]->keyid[3] ^= 0x01;
    assert_int_equal(verify2(e, pk), SP_EMISMATCH);
    e->signatures[0]->keyid[3] ^= 0x01;
    assert_int_equal(verify2(e, pk), SP_OK);
    /* a payload byte changed */
    e->payload.data[e->payload.len / 2] ^= 1;
    assert_int_equal(verify2(e, pk), SP_ECRYPTO);
    sp_envelope_free(e);

    /* truncated: every proper prefix fails to decode or to verify, never crashes */
    for (size_t n = 0; n < elen; n++) {
        e = NULL;
        int rc = sp_envelope_decode(&e, env, n, err);
        if (rc == SP_OK) {
            assert_int_equal(verify2(e, pk), SP_ECRYPTO);
            sp_envelope_free(e);
        } else {
            assert_int_equal(rc, SP_EFORMAT);
            assert_null(e);
            assert_true(err[0] != '\0');
        }
    }
    /* garbage */
    uint8_t junk[300];
    randombytes_buf(junk, sizeof junk);
    e = NULL;
    if (sp_envelope_decode(&e, junk, sizeof junk, err) == SP_OK)
        sp_envelope_free(e);

    /* wrong payload type */
    Sp__Envelope *ok;
    assert_int_equal(sp_envelope_decode(&ok, env, elen, err), SP_OK);
    char *orig_type = ok->payload_type;
    ok->payload_type = (char *)"application/json";
    size_t n2 = sp__envelope__get_packed_size(ok);
    uint8_t *b2 = malloc(n2);
    sp__envelope__pack(ok, b2);
    assert_int_equal(sp_envelope_decode(&e, b2, n2, err), SP_EFORMAT);
    assert_non_null(strstr(err, "payload type"));
    free(b2);
    ok->payload_type = orig_type;      /* the decoder owns and frees the original */
    sp_envelope_free(ok);
    free(env);
    free(payload);
    free(vbuf);
    vbuf = NULL;
}

/*
 * An arena for the record a test mutates: mutations detach sub-messages that
 * free_unpacked could no longer reach, so everything is freed at once instead.
 */
typedef struct arena {
    void *p[256];
    size_t n;
} arena;

static void *arena_alloc(void *data, size_t size)
{
    arena *a = data;
    if (a->n == 256)
        return NULL;
    return a->p[a->n++] = malloc(size);
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;   /* released by arena_release */
}

static void arena_release(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    a->n = 0;
}

/* Re-packs a decoded KAT record after mutate() and expects decode to refuse it. */
static void expect_refused(void (*mutate)(Sp__Record *), const char *needle)
{
    size_t plen;
    uint8_t *payload = kat_payload(&plen);
    static arena a;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &a};
    Sp__Record *r = sp__record__unpack(&alloc, plen, payload);
    assert_non_null(r);
    mutate(r);
    uint8_t *p2;
    size_t n2;
    assert_int_equal(sp_record_pack(&p2, &n2, r), SP_OK);
    Sp__Record *r2 = NULL;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_record_decode(&r2, p2, n2, err), SP_EFORMAT);
    assert_null(r2);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
    free(p2);
    arena_release(&a);
    free(payload);
}

static void short_prev(Sp__Record *r) { r->prev.len = 31; }
static void short_run_id(Sp__Record *r) { r->run_id.len = 8; }
static void bad_dtype(Sp__Record *r) { r->genesis->tensors[0]->dtype = 99; }
static void huge_shape(Sp__Record *r) { r->genesis->tensors[0]->shape[0] = UINT64_C(1) << 62; }
static void no_scheme(Sp__Record *r) { r->genesis->tensors[0]->init = NULL; }
static void bad_scheme(Sp__Record *r) { r->genesis->tensors[0]->init->params[1] = -1.0; }
static void empty_name(Sp__Record *r) { r->genesis->tensors[0]->name[0] = '\0'; }
static void short_digest(Sp__Record *r) { r->genesis->tensors[0]->digest.len = 16; }
static void no_body(Sp__Record *r) { r->body_case = SP__RECORD__BODY__NOT_SET; }

/* Per-range schemes (SPEC.md 3.3, 6.10) on the KAT's tensor "w" [2, 3]. */
static double rp[3][4] = {{0, 0, 0, 0}, {1.0, 0, 0, 0}, {0, 0, 0, 0}};
static Sp__InitScheme rs[3];
static Sp__InitRange rr[3];
static Sp__InitRange *rrp[3] = {&rr[0], &rr[1], &rr[2]};
static void set_ranges(Sp__Record *r, size_t n, const uint64_t (*fc)[2], const uint32_t *kind)
{
    for (size_t k = 0; k < n; k++) {
        sp__init_scheme__init(&rs[k]);
        rs[k].kind = kind[k];
        rs[k].n_params = 4;
        rs[k].params = rp[kind[k] == SP_INIT_CONSTANT ? 1 : 0];
        sp__init_range__init(&rr[k]);
        rr[k].first = fc[k][0];
        rr[k].count = fc[k][1];
        rr[k].init = &rs[k];
    }
    Sp__TensorDigest *t = r->genesis->tensors[0];
    t->init = NULL;
    t->n_ranges = n;
    t->ranges = rrp;
}
static const uint64_t two[2][2] = {{0, 2}, {2, 4}}, gap[2][2] = {{0, 2}, {3, 3}};
static const uint32_t zc[2] = {SP_INIT_ZEROS, SP_INIT_CONSTANT}, zz[2] = {SP_INIT_ZEROS, SP_INIT_ZEROS};
static void ranges_good(Sp__Record *r) { set_ranges(r, 2, two, zc); }
static void ranges_and_init(Sp__Record *r)
{
    Sp__InitScheme *keep = r->genesis->tensors[0]->init;
    set_ranges(r, 2, two, zc);
    r->genesis->tensors[0]->init = keep;
}
static void ranges_gap(Sp__Record *r) { set_ranges(r, 2, gap, zc); }
static void ranges_one(Sp__Record *r) { set_ranges(r, 1, two, zc); }
static void ranges_same(Sp__Record *r) { set_ranges(r, 2, two, zz); }
static void ranges_short(Sp__Record *r)
{
    static const uint64_t s[2][2] = {{0, 2}, {2, 3}};
    set_ranges(r, 2, s, zc);
}
static void ranges_external(Sp__Record *r)
{
    static const uint32_t k[2] = {SP_INIT_ZEROS, SP_INIT_EXTERNAL};
    set_ranges(r, 2, two, k);
}
static double orth_p[4] = {1.0, 3.0, 2.0, 0.0};
static void orth_wrong_shape(Sp__Record *r)
{
    r->genesis->tensors[0]->init->kind = SP_INIT_ORTHOGONAL;   /* [2, 3] is 2 x 3, not 3 x 2 */
    r->genesis->tensors[0]->init->params = orth_p;
}
static void kind_reserved(Sp__Record *r) { r->genesis->tensors[0]->init->kind = SP_INIT_KIND_MAX + 1; }

/* The same tensor with valid ranges decodes, and sp_record_ranges gives them back. */
static void test_record_ranges(void **state)
{
    (void)state;
    size_t plen;
    uint8_t *payload = kat_payload(&plen);
    static arena a;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &a};
    Sp__Record *r = sp__record__unpack(&alloc, plen, payload);
    assert_non_null(r);
    ranges_good(r);
    uint8_t *p2;
    size_t n2;
    assert_int_equal(sp_record_pack(&p2, &n2, r), SP_OK);
    Sp__Record *r2 = NULL;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_record_decode(&r2, p2, n2, err), SP_OK);
    sp_init_range *got = NULL;
    size_t ng = 0;
    assert_int_equal(sp_record_ranges(&got, &ng, r2->genesis->tensors[0]), SP_OK);
    assert_int_equal(ng, 2);
    assert_true(got[0].first == 0 && got[0].count == 2 && got[0].init.kind == SP_INIT_ZEROS);
    assert_true(got[1].first == 2 && got[1].count == 4 && got[1].init.kind == SP_INIT_CONSTANT &&
                got[1].init.p[0] == 1.0);
    free(got);
    sp_record_free(r2);
    free(p2);
    arena_release(&a);
    free(payload);
}

static void test_record_negative(void **state)
{
    (void)state;
    expect_refused(short_prev, "prev");
    expect_refused(short_run_id, "run id");
    expect_refused(bad_dtype, "dtype");
    expect_refused(huge_shape, "shape");
    expect_refused(no_scheme, "scheme");
    expect_refused(bad_scheme, "init parameters");
    expect_refused(empty_name, "name");
    expect_refused(short_digest, "digest");
    expect_refused(no_body, "body");
    expect_refused(ranges_and_init, "both an init scheme and init ranges");
    expect_refused(ranges_gap, "ranges are not valid");
    expect_refused(ranges_one, "1 init ranges");
    expect_refused(ranges_same, "ranges are not valid");
    expect_refused(ranges_short, "ranges are not valid");
    expect_refused(ranges_external, "ranges are not valid");
    expect_refused(orth_wrong_shape, "orthogonal");
    expect_refused(kind_reserved, "no valid init scheme");   /* an unknown kind */
    char err[SP_ERRMSG_MAX];
    Sp__Record *r;
    assert_int_equal(sp_record_decode(&r, (const uint8_t *)"\xff\xff\xff", 3, err), SP_EFORMAT);
    assert_int_equal(sp_record_decode(&r, NULL, 0, err), SP_EFORMAT);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pae_vector),
        cmocka_unit_test(test_signed_record_vector),
        cmocka_unit_test(test_envelope_negative),
        cmocka_unit_test(test_record_negative),
        cmocka_unit_test(test_record_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
