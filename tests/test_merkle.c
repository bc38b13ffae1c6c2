/*
 * test_merkle.c - the RFC 9162 tree (attest/merkle.c, SPEC.md 15.2): tree
 * heads, inclusion and consistency proofs against the RFC 6962 test vectors
 * of the Certificate Transparency project (8 leaves), every proof of every
 * tree up to 40 leaves checked, and each mutation (a bit, a length, an index,
 * a size, the roots) refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "merkle.h"

#define HB SP_MERKLE_HASH_BYTES

static const char *LEAF_HEX[8] = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                  "606162636465666768696a6b6c6d6e6f"};
static const char *ROOT_HEX[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

struct proof_vec {
    uint64_t m, n;
    size_t len;
    const char *hex[3];
};
static const struct proof_vec INCL[] = {
    {0, 1, 0, {NULL}},
    {0, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8, 3, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5, 3, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};
static const struct proof_vec CONS[] = {
    {1, 1, 0, {NULL}},
    {1, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, 2, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static void unhex(uint8_t *out, const char *hex, size_t *len)
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, 64, hex, strlen(hex), NULL, &n, NULL), 0);
    if (len)
        *len = n;
}

static uint8_t ct_leaves[8][HB];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 8; i++) {
        uint8_t d[64];
        size_t n;
        unhex(d, LEAF_HEX[i], &n);
        sp_merkle_leaf(ct_leaves[i], d, n);
    }
    return 0;
}

static void test_roots(void **state)
{
    (void)state;
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t r[HB], want[HB];
        sp_merkle_root(r, &ct_leaves[0][0], n);
        unhex(want, ROOT_HEX[n], NULL);
        assert_memory_equal(r, want, HB);
    }
}

static void check_vec(const struct proof_vec *v, int consistency)
{
    uint8_t p[SP_MERKLE_PROOF_MAX][HB], want[HB], rm[HB], rn[HB];
    size_t len = 99;
    int rc = consistency ? sp_merkle_consistency_proof(p, &len, &ct_leaves[0][0], v->n, v->m)
                         : sp_merkle_inclusion_proof(p, &len, &ct_leaves[0][0], v->n, v->m);
    assert_int_equal(rc, SP_OK);
    assert_int_equal(len, v->len);
    for (size_t i = 0; i < len; i++) {
        unhex(want, v->hex[i], NULL);
        assert_memory_equal(p[i], want, HB);
    }
    sp_merkle_root(rn, &ct_leaves[0][0], v->n);
    if (consistency) {
        sp_merkle_root(rm, &ct_leaves[0][0], v->m);
        assert_int_equal(sp_merkle_verify_consistency(v->m, v->n, rm, rn, p, len), SP_OK);
    } else {
        assert_int_equal(sp_merkle_verify_inclusion(ct_leaves[v->m], v->m, v->n, p, len, rn), SP_OK);
    }
}

static void test_ct_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof INCL / sizeof INCL[0]; i++)
        check_vec(&INCL[i], 0);
    for (size_t i = 0; i < sizeof CONS / sizeof CONS[0]; i++)
        check_vec(&CONS[i], 1);
}

#define NMAX 40
static uint8_t big[NMAX][HB];
static uint8_t roots[NMAX + 1][HB];

static void make_big(void)
{
    for (int i = 0; i < NMAX; i++) {
        char s[16];
        snprintf(s, sizeof s, "leaf-%d", i);
        sp_merkle_leaf(big[i], (const uint8_t *)s, strlen(s));
    }
    for (int n = 0; n <= NMAX; n++)
        sp_merkle_root(roots[n], &big[0][0], (uint64_t)n);
}

static void test_every_inclusion(void **state)
{
    (void)state;
    make_big();
    uint8_t p[SP_MERKLE_PROOF_MAX][HB];
    size_t len;
    for (uint64_t n = 1; n <= NMAX; n++) {
        for (uint64_t m = 0; m < n; m++) {
            assert_int_equal(sp_merkle_inclusion_proof(p, &len, &big[0][0], n, m), SP_OK);
            assert_int_equal(sp_merkle_verify_inclusion(big[m], m, n, p, len, roots[n]), SP_OK);
            /* wrong leaf, wrong index, wrong root, short proof, long proof, a flipped bit */
            assert_int_not_equal(sp_merkle_verify_inclusion(big[(m + 1) % NMAX], m, n, p, len, roots[n]), SP_OK);
            if (n > 1)
                assert_int_not_equal(sp_merkle_verify_inclusion(big[m], (m + 1) % n, n, p, len, roots[n]), SP_OK);
            assert_int_not_equal(sp_merkle_verify_inclusion(big[m], m, n, p, len, roots[n - 1]), SP_OK);
            if (len > 0) {
                assert_int_not_equal(sp_merkle_verify_inclusion(big[m], m, n, p, len - 1, roots[n]), SP_OK);
                p[len - 1][7] ^= 0x10;
                assert_int_not_equal(sp_merkle_verify_inclusion(big[m], m, n, p, len, roots[n]), SP_OK);
                p[len - 1][7] ^= 0x10;
            }
            memcpy(p[len], roots[0], HB);
            assert_int_not_equal(sp_merkle_verify_inclusion(big[m], m, n, p, len + 1, roots[n]), SP_OK);
        }
        assert_int_not_equal(sp_merkle_verify_inclusion(big[0], n, n, p, 0, roots[n]), SP_OK);
        assert_int_equal(sp_merkle_inclusion_proof(p, &len, &big[0][0], n, n), SP_EINVAL);
    }
}

static void test_every_consistency(void **state)
{
    (void)state;
    make_big();
    uint8_t p[SP_MERKLE_PROOF_MAX][HB];
    size_t len;
    for (uint64_t n = 1; n <= NMAX; n++) {
        for (uint64_t m = 1; m <= n; m++) {
            assert_int_equal(sp_merkle_consistency_proof(p, &len, &big[0][0], n, m), SP_OK);
            assert_int_equal(sp_merkle_verify_consistency(m, n, roots[m], roots[n], p, len), SP_OK);
            if (m == n) {
                assert_int_equal(len, 0);
                continue;
            }
            /* a fork: the same sizes with another first root or second root */
            assert_int_not_equal(sp_merkle_verify_consistency(m, n, roots[m - 1], roots[n], p, len), SP_OK);
            assert_int_not_equal(sp_merkle_verify_consistency(m, n, roots[m], roots[n - 1], p, len), SP_OK);
            assert_int_not_equal(sp_merkle_verify_consistency(m, n, roots[m], roots[n], p, len - 1), SP_OK);
            p[0][0] ^= 1;
            assert_int_not_equal(sp_merkle_verify_consistency(m, n, roots[m], roots[n], p, len), SP_OK);
            p[0][0] ^= 1;
            /* shrinking is never consistent */
            assert_int_not_equal(sp_merkle_verify_consistency(n, m, roots[n], roots[m], p, len), SP_OK);
        }
        assert_int_equal(sp_merkle_consistency_proof(p, &len, &big[0][0], n, 0), SP_EINVAL);
        assert_int_equal(sp_merkle_consistency_proof(p, &len, &big[0][0], n, n + 1), SP_EINVAL);
        /* equal sizes: empty proof, equal roots */
        assert_int_not_equal(sp_merkle_verify_consistency(n, n, roots[n], roots[n - 1], p, 0), SP_OK);
        assert_int_not_equal(sp_merkle_verify_consistency(n, n, roots[n], roots[n], p, 1), SP_OK);
        assert_int_not_equal(sp_merkle_verify_consistency(0, n, roots[0], roots[n], p, 0), SP_OK);
    }
}

/* A tree diverging after leaf k is inconsistent with every head past k. */
static void test_fork(void **state)
{
    (void)state;
    make_big();
    uint8_t fork[NMAX][HB], fr[HB], p[SP_MERKLE_PROOF_MAX][HB];
    size_t len;
    memcpy(fork, big, sizeof fork);
    sp_merkle_leaf(fork[5], (const uint8_t *)"other", 5);
    for (uint64_t m = 6; m <= 20; m++) {
        sp_merkle_root(fr, &fork[0][0], m);
        assert_int_equal(sp_merkle_consistency_proof(p, &len, &big[0][0], 20, m), SP_OK);
        assert_int_not_equal(sp_merkle_verify_consistency(m, 20, fr, roots[20], p, len), SP_OK);
    }
    for (uint64_t m = 1; m <= 5; m++) {   /* before the fork both agree */
        assert_int_equal(sp_merkle_consistency_proof(p, &len, &fork[0][0], 20, m), SP_OK);
        sp_merkle_root(fr, &fork[0][0], 20);
        assert_int_equal(sp_merkle_verify_consistency(m, 20, roots[m], fr, p, len), SP_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_ct_vectors),
        cmocka_unit_test(test_every_inclusion),
        cmocka_unit_test(test_every_consistency),
        cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
