/*
 * test_verify_records.c - SPEC.md 7 item 5 as verify runs it on several
 * threads (verify/chain/records.c): a signed, linked record whose root is
 * not its tensor list's fails `root`; one that drops, adds or reshapes a
 * genesis tensor fails `tensors`, naming it; many such records are reported
 * once each, in ledger order, with 1 and with 2 threads alike; the scratch
 * arena verify reuses per record keeps its newest block. The records
 * are forged honestly: decoded, changed, re-packed, signed with the run's
 * key and linked to the previous record, so only item 5 can catch them.
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
#include <unistd.h>

#include "arena.h"
#include "digest.h"
#include "keys.h"
#include "ledger.h"
#include "record.h"
#include "scratchproof.h"
#include "verify.h"

typedef struct fixture {
    char dir[64], ledger[128], key[128], pub[128];
    uint8_t pk[SP_PK_BYTES], sk[SP_SK_BYTES];
} fixture;

static const char *const NAMES[3] = {"a.bias", "b.weight", "c.weight"};

/* A run of genesis (3 tensors, all zeros) and one checkpoint at step 1. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/sp-vrec.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->ledger, sizeof f->ledger, "%s/run.ledger", f->dir);
    snprintf(f->key, sizeof f->key, "%s/k.key", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s/k.pub", f->dir);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/k", f->dir);
    if (sp_keygen_files(prefix, NULL) != SP_OK || sp_key_load_public(f->pk, f->pub, NULL) != SP_OK ||
        sp_key_load_secret(f->sk, f->key, NULL) != SP_OK)
        return -1;
    static float w[3][6];
    sp_tensor t[3];
    sp_record_tensor rt[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (sp_tensor){.name = NAMES[i], .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {2, 3},
                           .data = w[i], .nbytes = sizeof w[i]};
        rt[i] = (sp_record_tensor){.t = t[i], .init = {SP_INIT_ZEROS, {0, 0, 0, 0}}};
    }
    sp_run *run = NULL;
    sp_run_options o = {.ledger_path = f->ledger, .key_path = f->key, .seed = 3, .model_name = "vrec"};
    sp_checkpoint_info info = {.step = 1};
    if (sp_run_open(&run, &o) != SP_OK || sp_run_genesis(run, rt, 3) != SP_OK ||
        sp_run_commit_batch(run, 1, "x", 1) != SP_OK || sp_run_checkpoint(run, &info, t, 3) != SP_OK)
        return -1;
    sp_run_close(run);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    sodium_memzero(f->sk, sizeof f->sk);
    free(f);
    return 0;
}

/* The stored values of record 1 (the honest checkpoint) and of the last record. */
typedef struct values {
    uint8_t *first, *last;
    size_t first_len, last_len, seen;
} values;

static int keep(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    (void)key;
    (void)keylen;
    values *v = ctx;
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return -1;
    memcpy(copy, val, len);
    if (v->seen++ == 1) {
        v->first = copy;
        v->first_len = len;
    }
    if (v->last != v->first)
        free(v->last);
    v->last = copy;
    v->last_len = len;
    return 0;
}

typedef void (*mutate_fn)(Sp__Checkpoint *c);

/*
 * Appends `copies` checkpoints made from record 1: each one step after the
 * last record, changed by mutate, then (unless keep_root) its root
 * recomputed from its changed list, re-packed, signed and linked to the
 * last record.
 */
static void append_forged(fixture *f, mutate_fn mutate, int keep_root, int copies)
{
    sp_ledger *l = NULL;
    assert_int_equal(sp_ledger_open(&l, f->ledger, SP_LEDGER_CREATE, NULL), SP_OK);
    for (int k = 0; k < copies; k++) {
        values v = {0};
        uint64_t n = 0;
        assert_int_equal(sp_ledger_count(l, &n), SP_OK);
        assert_int_equal(sp_ledger_foreach(l, keep, &v), 0);
        /* everything decoded into one arena: the mutations may point anywhere */
        sp_arena a;
        sp_arena_init(&a);
        Sp__Envelope *env = NULL, *last = NULL;
        Sp__Record *r = NULL, *lr = NULL;
        assert_int_equal(sp_envelope_decode_in(&env, v.first, v.first_len, &a, NULL), SP_OK);
        assert_int_equal(sp_record_decode_in(&r, env->payload.data, env->payload.len, &a, NULL), SP_OK);
        assert_int_equal(sp_envelope_decode_in(&last, v.last, v.last_len, &a, NULL), SP_OK);
        assert_int_equal(sp_record_decode_in(&lr, last->payload.data, last->payload.len, &a, NULL), SP_OK);
        uint8_t prev[SP_DIGEST_BYTES], root[SP_DIGEST_BYTES];
        assert_int_equal(sp_record_digest(prev, last->payload.data, last->payload.len), SP_OK);
        assert_int_equal(r->body_case, SP__RECORD__BODY_CHECKPOINT);
        Sp__Checkpoint *c = r->checkpoint;
        r->seq = n;
        memcpy(r->prev.data, prev, SP_DIGEST_BYTES);
        c->step = (lr->body_case == SP__RECORD__BODY_CHECKPOINT ? lr->checkpoint->step : 0) + 1;
        mutate(c);
        if (!keep_root) {
            sp_named_digest nd[8];
            assert_true(c->n_tensors <= 8);
            for (size_t i = 0; i < c->n_tensors; i++) {
                nd[i].name = c->tensors[i]->name;
                memcpy(nd[i].digest, c->tensors[i]->digest.data, SP_DIGEST_BYTES);
            }
            assert_int_equal(sp_checkpoint_root(root, nd, c->n_tensors), SP_OK);
            memcpy(c->root.data, root, SP_DIGEST_BYTES);
        }
        uint8_t *payload = NULL, *sealed = NULL;
        size_t plen = 0, slen = 0;
        assert_int_equal(sp_record_pack(&payload, &plen, r), SP_OK);
        assert_int_equal(sp_envelope_seal(&sealed, &slen, payload, plen, f->sk, f->pk), SP_OK);
        assert_int_equal(sp_ledger_append(l, n, sealed, slen), SP_OK);
        free(payload);
        free(sealed);
        sp_arena_release(&a);
        if (v.last != v.first)
            free(v.last);
        free(v.first);
    }
    sp_ledger_close(l);
}

/* Verifies on `threads` threads; returns the report (caller frees). */
static sp_report verify(const fixture *f, unsigned threads)
{
    sp_verify_opts vo = {.ledger_path = f->ledger, .pk = f->pk, .threads = threads,
                         .allow_incomplete = 1};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX] = "";
    sp_report_init(&rep);
    assert_int_equal(sp_verify_ledger(&vo, &rep, &sum, err), SP_OK);
    return rep;
}

/* The failed checks called name, in report order, their details joined by '|'. */
static void failures(const sp_report *rep, const char *name, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rep->n; i++)
        if (!rep->v[i].ok && strcmp(rep->v[i].name, name) == 0 && len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "|" : "", rep->v[i].detail);
}

static int passed(const sp_report *rep, const char *name)
{
    for (size_t i = 0; i < rep->n; i++)
        if (rep->v[i].ok && strcmp(rep->v[i].name, name) == 0)
            return 1;
    return 0;
}

static void flip_digest(Sp__Checkpoint *c) { c->tensors[1]->digest.data[5] ^= 1; }
static char bb[] = "bb.weight", zero[] = "0.bias";
static void rename_b(Sp__Checkpoint *c) { c->tensors[1]->name = bb; }
static void rename_a(Sp__Checkpoint *c) { c->tensors[0]->name = zero; }
static void reshape_c(Sp__Checkpoint *c) { c->tensors[2]->shape[0] = 3; c->tensors[2]->shape[1] = 2; }
static void drop_c(Sp__Checkpoint *c) { c->n_tensors = 2; }
static void nothing(Sp__Checkpoint *c) { (void)c; }

static void test_honest(void **state)
{
    fixture *f = *state;
    append_forged(f, nothing, 0, 10);   /* 12 records: the threaded path */
    for (unsigned th = 1; th <= 2; th++) {
        sp_report rep = verify(f, th);
        assert_true(passed(&rep, "root"));
        assert_true(passed(&rep, "tensors"));
        sp_report_free(&rep);
    }
}

static void test_bad_root(void **state)
{
    fixture *f = *state;
    append_forged(f, flip_digest, 1, 1);
    sp_report rep = verify(f, 1);
    char got[1024];
    failures(&rep, "root", got, sizeof got);
    assert_string_equal(got, "record 2: root does not match its tensor digests");
    assert_true(passed(&rep, "signature"));
    assert_true(passed(&rep, "chain"));
    sp_report_free(&rep);
}

static void test_tensor_sets(void **state)
{
    fixture *f = *state;
    append_forged(f, rename_b, 0, 1);
    append_forged(f, rename_a, 0, 1);
    append_forged(f, drop_c, 0, 1);
    append_forged(f, nothing, 0, 7);   /* 12 records: the threaded path */
    sp_report rep = verify(f, 2);
    char got[1024];
    failures(&rep, "tensors", got, sizeof got);
    assert_string_equal(got, "record 2: tensor 'b.weight' of the genesis is missing|"
                             "record 3: tensor '0.bias' is not in the genesis|"
                             "record 4: tensor 'c.weight' of the genesis is missing");
    assert_true(passed(&rep, "root"));
    sp_report_free(&rep);
}

static void test_shape(void **state)
{
    fixture *f = *state;
    append_forged(f, reshape_c, 0, 1);
    sp_report rep = verify(f, 1);
    char got[1024];
    failures(&rep, "tensors", got, sizeof got);
    assert_string_equal(got, "record 2: tensor 'c.weight' changed shape since the genesis");
    for (size_t i = 0; i < rep.n; i++)
        if (!rep.v[i].ok && strcmp(rep.v[i].name, "tensors") == 0) {
            assert_string_equal(rep.v[i].tensor, "c.weight");
            assert_int_equal(rep.v[i].seq, 2);
        }
    sp_report_free(&rep);
}

/* Ten bad roots among the records: each reported once, in order, on 1 and 2 threads. */
static void test_many_in_order(void **state)
{
    fixture *f = *state;
    append_forged(f, flip_digest, 1, 10);
    char want[1024] = "", got[1024];
    size_t len = 0;
    for (int s = 2; s <= 11; s++)
        len += (size_t)snprintf(want + len, sizeof want - len, "%srecord %d: root does not match its "
                                "tensor digests", s > 2 ? "|" : "", s);
    for (unsigned th = 1; th <= 2; th++) {
        sp_report rep = verify(f, th);
        failures(&rep, "root", got, sizeof got);
        assert_string_equal(got, want);
        sp_report_free(&rep);
    }
}

/* Under another key every record fails `signature`, naming the keyid it claims (kept from its envelope). */
static void test_other_key(void **state)
{
    fixture *f = *state;
    append_forged(f, nothing, 0, 10);
    uint8_t pk2[SP_PK_BYTES], sk2[SP_SK_BYTES];
    crypto_sign_keypair(pk2, sk2);
    char mine[SP_KEYID_CHARS + 1], other[SP_KEYID_CHARS + 1], want[4096] = "", got[4096];
    sp_keyid(mine, f->pk);
    sp_keyid(other, pk2);
    size_t len = 0;
    for (int s = 0; s <= 11; s++)
        len += (size_t)snprintf(want + len, sizeof want - len, "%srecord %d: no signature verifies under "
                                "the pinned key %s (record claims keyid %s)", s ? "|" : "", s, other, mine);
    memcpy(f->pk, pk2, sizeof pk2);              /* verify pins the other key */
    sp_report rep = verify(f, 2);
    failures(&rep, "signature", got, sizeof got);
    assert_string_equal(got, want);
    sp_report_free(&rep);
}

/* sp_arena_reset keeps its newest block: the next allocations reuse it, nothing else survives. */
static void test_arena_reset(void **state)
{
    (void)state;
    sp_arena a;
    sp_arena_init(&a);
    sp_arena_reset(&a);                          /* empty: a no-op */
    sp_arena_reset(NULL);
    unsigned char *p = sp_arena_alloc(&a, 100);
    assert_non_null(p);
    memset(p, 0xab, 100);
    unsigned char *first = sp_arena_alloc(&a, 300u << 10);   /* past the first block: a new one */
    assert_non_null(first);
    unsigned char *big = sp_arena_alloc(&a, 1000);   /* blocks double: this one has room */
    assert_ptr_equal(big, first + (300u << 10));
    assert_non_null(big);
    memset(first, 0xcd, 300u << 10);             /* all of it is usable memory */
    sp_arena_reset(&a);
    unsigned char *q = sp_arena_alloc(&a, 1000);
    assert_ptr_equal(q, first);                  /* the newest block, from its start */
    unsigned char *huge = sp_arena_alloc(&a, 5u << 20);   /* larger than a block: its own */
    assert_non_null(huge);
    memset(huge, 0xef, 5u << 20);
    assert_int_equal(a.oom, 0);
    sp_arena_release(&a);
    assert_null(a.head);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_honest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tensor_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key, setup, teardown),
        cmocka_unit_test(test_arena_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
