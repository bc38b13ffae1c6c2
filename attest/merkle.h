/*
 * merkle.h - the RFC 9162 (RFC 6962) Merkle tree over a ledger's record
 * digests (SPEC.md 15.2): SHA-256, leaf = H(0x00 || data), node =
 * H(0x01 || left || right), the split at the largest power of two below n.
 * Tree heads, inclusion proofs (RFC 9162 2.1.3) and consistency proofs
 * (2.1.4), each with its verifier.
 *
 * Leaves are given as leaf hashes (sp_merkle_leaf of the leaf data), n of
 * them, 32 bytes each, contiguous. Proofs go into caller buffers of
 * SP_MERKLE_PROOF_MAX hashes. Nothing allocates except the proof
 * generators' recursion on the stack (depth <= 64). Thread-safe.
 */
#ifndef SP_MERKLE_H
#define SP_MERKLE_H

#include "sp_base.h"

#define SP_MERKLE_HASH_BYTES 32u
#define SP_MERKLE_PROOF_MAX 128u     /* hashes in any proof for n < 2^64 */

/* out = SHA-256(0x00 || data). */
void sp_merkle_leaf(uint8_t out[SP_MERKLE_HASH_BYTES], const uint8_t *data, size_t len)
    SP_NONNULL(1);

/* out = SHA-256(0x01 || l || r). out may alias l or r. */
void sp_merkle_node(uint8_t out[SP_MERKLE_HASH_BYTES], const uint8_t *l, const uint8_t *r)
    SP_NONNULL(1, 2, 3);

/* The tree head MTH of n leaf hashes (n = 0 gives SHA-256 of nothing). */
void sp_merkle_root(uint8_t out[SP_MERKLE_HASH_BYTES], const uint8_t *leaves, uint64_t n)
    SP_NONNULL(1);

/*
 * Inclusion proof PATH(m, D[n]) into proof, its length into *len.
 * SP_EINVAL when m >= n.
 */
int sp_merkle_inclusion_proof(uint8_t proof[][SP_MERKLE_HASH_BYTES], size_t *len,
                              const uint8_t *leaves, uint64_t n, uint64_t m)
    SP_WUR SP_NONNULL(1, 2, 3);

/*
 * SP_OK when proof shows leaf hash `leaf` at index m of the tree of size n
 * with head root; SP_EMISMATCH otherwise (m >= n included).
 */
int sp_merkle_verify_inclusion(const uint8_t *leaf, uint64_t m, uint64_t n,
                               const uint8_t proof[][SP_MERKLE_HASH_BYTES], size_t len,
                               const uint8_t *root) SP_WUR SP_NONNULL(1, 6);

/*
 * Consistency proof PROOF(m, D[n]) between the first m of n leaves into
 * proof, its length into *len. 0 < m <= n (m == n gives the empty proof);
 * SP_EINVAL otherwise.
 */
int sp_merkle_consistency_proof(uint8_t proof[][SP_MERKLE_HASH_BYTES], size_t *len,
                                const uint8_t *leaves, uint64_t n, uint64_t m)
    SP_WUR SP_NONNULL(1, 2, 3);

/*
 * SP_OK when proof shows the tree of size m with head root_m is a prefix of
 * the tree of size n with head root_n (RFC 9162 2.1.4.2); m == n needs an
 * empty proof and equal roots. SP_EMISMATCH otherwise, including m > n and
 * m == 0 (an empty tree is not a head scratchproof signs).
 */
int sp_merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t *root_m,
                                 const uint8_t *root_n,
                                 const uint8_t proof[][SP_MERKLE_HASH_BYTES], size_t len)
    SP_WUR SP_NONNULL(3, 4);

#endif
