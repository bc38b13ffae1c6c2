/*
 * merkle.c - RFC 9162 Merkle tree heads and proofs (merkle.h, SPEC.md 15.2).
 * The generators follow the RFC's recursive definitions (MTH, PATH, SUBPROOF)
 * literally; the verifiers are the RFC's iterative algorithms of 2.1.3.2 and
 * 2.1.4.2, so a proof made elsewhere checks here and the converse.
 */
#include "merkle.h"

#include <sodium.h>
#include <string.h>

#define HB SP_MERKLE_HASH_BYTES

void sp_merkle_leaf(uint8_t out[HB], const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    const uint8_t zero = 0x00;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void sp_merkle_node(uint8_t out[HB], const uint8_t *l, const uint8_t *r)
{
    uint8_t buf[1 + 2 * HB];
    buf[0] = 0x01;
    memcpy(buf + 1, l, HB);
    memcpy(buf + 1 + HB, r, HB);
    crypto_hash_sha256(out, buf, sizeof buf);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split_of(uint64_t n)
{
    uint64_t k = 1;
    while (k < n - k)   /* k * 2 < n without overflow */
        k <<= 1;
    return k;
}

/* MTH(D[0:n]) of the leaf hashes at leaves (n >= 1). */
static void mth(uint8_t out[HB], const uint8_t *leaves, uint64_t n)
{
    if (n == 1) {
        memcpy(out, leaves, HB);
        return;
    }
    uint64_t k = split_of(n);
    uint8_t l[HB], r[HB];
    mth(l, leaves, k);
    mth(r, leaves + k * HB, n - k);
    sp_merkle_node(out, l, r);
}

void sp_merkle_root(uint8_t out[HB], const uint8_t *leaves, uint64_t n)
{
    if (n == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    mth(out, leaves, n);
}

static int push(uint8_t proof[][HB], size_t *len, const uint8_t *h)
{
    if (*len >= SP_MERKLE_PROOF_MAX)
        return SP_ERANGE;
    memcpy(proof[(*len)++], h, HB);
    return SP_OK;
}

/* PATH(m, D[n]) appended to proof (RFC 9162 2.1.3.1). */
static int path(uint8_t proof[][HB], size_t *len, const uint8_t *leaves, uint64_t n, uint64_t m)
{
    if (n == 1)
        return SP_OK;
    uint64_t k = split_of(n);
    uint8_t h[HB];
    int rc;
    if (m < k) {
        if ((rc = path(proof, len, leaves, k, m)) != SP_OK)
            return rc;
        mth(h, leaves + k * HB, n - k);
    } else {
        if ((rc = path(proof, len, leaves + k * HB, n - k, m - k)) != SP_OK)
            return rc;
        mth(h, leaves, k);
    }
    return push(proof, len, h);
}

int sp_merkle_inclusion_proof(uint8_t proof[][HB], size_t *len, const uint8_t *leaves, uint64_t n,
                              uint64_t m)
{
    *len = 0;
    if (m >= n)
        return SP_EINVAL;
    return path(proof, len, leaves, n, m);
}

/* SUBPROOF(m, D[n], b) appended to proof (RFC 9162 2.1.4.1). */
static int subproof(uint8_t proof[][HB], size_t *len, const uint8_t *leaves, uint64_t n, uint64_t m,
                    int b)
{
    uint8_t h[HB];
    int rc;
    if (m == n) {
        if (b)
            return SP_OK;
        mth(h, leaves, n);
        return push(proof, len, h);
    }
    uint64_t k = split_of(n);
    if (m <= k) {
        if ((rc = subproof(proof, len, leaves, k, m, b)) != SP_OK)
            return rc;
        mth(h, leaves + k * HB, n - k);
    } else {
        if ((rc = subproof(proof, len, leaves + k * HB, n - k, m - k, 0)) != SP_OK)
            return rc;
        mth(h, leaves, k);
    }
    return push(proof, len, h);
}

int sp_merkle_consistency_proof(uint8_t proof[][HB], size_t *len, const uint8_t *leaves, uint64_t n,
                                uint64_t m)
{
    *len = 0;
    if (m == 0 || m > n)
        return SP_EINVAL;
    return subproof(proof, len, leaves, n, m, 1);
}

int sp_merkle_verify_inclusion(const uint8_t *leaf, uint64_t m, uint64_t n, const uint8_t proof[][HB],
                               size_t len, const uint8_t *root)
{
    if (m >= n || (len > 0 && proof == NULL))
        return SP_EMISMATCH;
    uint64_t fn = m, sn = n - 1;
    uint8_t r[HB];
    memcpy(r, leaf, HB);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return SP_EMISMATCH;
        if ((fn & 1) || fn == sn) {
            sp_merkle_node(r, proof[i], r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            sp_merkle_node(r, r, proof[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(r, root, HB) != 0)
        return SP_EMISMATCH;
    return SP_OK;
}

int sp_merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t *root_m, const uint8_t *root_n,
                                 const uint8_t proof[][HB], size_t len)
{
    if (m == 0 || m > n || (len > 0 && proof == NULL))
        return SP_EMISMATCH;
    if (m == n)
        return len == 0 && sodium_memcmp(root_m, root_n, HB) == 0 ? SP_OK : SP_EMISMATCH;
    if (len == 0)
        return SP_EMISMATCH;
    /* When m is a power of two, root_m is the implicit first element of the path. */
    size_t i = 0;
    uint8_t fr[HB], sr[HB];
    if ((m & (m - 1)) == 0) {
        memcpy(fr, root_m, HB);
    } else {
        memcpy(fr, proof[0], HB);
        i = 1;
    }
    memcpy(sr, fr, HB);
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < len; i++) {
        if (sn == 0)
            return SP_EMISMATCH;
        if ((fn & 1) || fn == sn) {
            sp_merkle_node(fr, proof[i], fr);
            sp_merkle_node(sr, proof[i], sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            sp_merkle_node(sr, sr, proof[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(fr, root_m, HB) != 0 || sodium_memcmp(sr, root_n, HB) != 0)
        return SP_EMISMATCH;
    return SP_OK;
}
