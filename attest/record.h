/*
 * record.h - ledger records: DSSE envelopes around protobuf Records (SPEC.md 3).
 *
 * A stored value is an sp.Envelope (DSSE-compatible protobuf) whose payload is
 * a serialized sp.Record, signed with Ed25519 over the DSSE pre-authentication
 * encoding PAE(payload_type, payload). Everything decoded here is untrusted:
 * decode functions validate every field before returning it.
 */
#ifndef SP_RECORD_H
#define SP_RECORD_H

#include "sp_base.h"
#include "record.pb-c.h"
#include "arena.h"

#define SP_PAYLOAD_TYPE "application/vnd.scratchproof.record.v1+protobuf"
#define SP_RECORD_MAX (256u << 20)  /* largest envelope accepted, bytes */

/*
 * DSSE PAE: "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in
 * ASCII decimal. *out is malloc'd (caller frees). SP_ENOMEM.
 */
int sp_pae(uint8_t **out, size_t *outlen, const char *type, const uint8_t *body,
           size_t len) SP_WUR SP_NONNULL(1, 2, 3);

/*
 * Signs payload into a serialized Envelope with one signature (keyid from pk).
 * sk is SP_SK_BYTES. *out is malloc'd. SP_ENOMEM, SP_ECRYPTO.
 */
int sp_envelope_seal(uint8_t **out, size_t *outlen, const uint8_t *payload, size_t len,
                     const uint8_t *sk, const uint8_t *pk) SP_WUR SP_NONNULL(1, 2, 5, 6);

/*
 * Decodes an Envelope and checks its structure: payload type, 1..16
 * signatures of 64 bytes, keyids of at most 64 characters. SP_EFORMAT with err.
 * Free with sp_envelope_free.
 */
int sp_envelope_decode(Sp__Envelope **out, const uint8_t *buf, size_t len, char *err)
    SP_WUR SP_NONNULL(1);
void sp_envelope_free(Sp__Envelope *env);

/*
 * The same, with every allocation taken from arena (NULL: malloc). What an
 * arena holds is released with the arena, never with sp_envelope_free.
 * SP_ENOMEM when the arena runs out.
 */
int sp_envelope_decode_in(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena, char *err)
    SP_WUR SP_NONNULL(1);

/*
 * sp_envelope_decode_in and sp_record_decode_in with the same answers and
 * the same decoded values, except that bytes fields may point into buf, which
 * must outlive the result and not change (SPEC.md 3.7). The canonical
 * encoding (what this library writes) is read without copies by wire.h;
 * any other encoding goes to protobuf-c. arena is required.
 */
int sp_envelope_decode_view(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena,
                            char *err) SP_WUR SP_NONNULL(1, 4);
int sp_record_decode_view(Sp__Record **out, const uint8_t *payload, size_t len, sp_arena *arena,
                          char *err) SP_WUR SP_NONNULL(1, 4);

/*
 * SP_OK when some signature of env verifies under pk over PAE(type, payload)
 * and every signature that verifies carries keyid(pk) (SPEC.md 4.4);
 * SP_EMISMATCH when a signature verifies but names another keyid (the
 * envelope was edited: the keyid is not signed); SP_ECRYPTO when none
 * verifies. err (may be NULL) gets "signature keyid X is not the pinned key's
 * id Y" or "no signature verifies under the pinned key Y" (control bytes of
 * X shown as '?'). SP_ENOMEM.
 */
int sp_envelope_verify_keyid(const Sp__Envelope *env, const uint8_t *pk, char *err)
    SP_WUR SP_NONNULL(1, 2);

/*
 * sp_envelope_verify_keyid building PAE in *buf (grown with realloc as
 * needed, *cap its size; start with NULL and 0, free(*buf) when done), so
 * that many envelopes verified on one thread reuse one buffer. SP_ENOMEM
 * when it cannot grow.
 */
int sp_envelope_verify_buf(const Sp__Envelope *env, const uint8_t *pk, uint8_t **buf, size_t *cap,
                           char *err) SP_WUR SP_NONNULL(1, 2, 3, 4);

/*
 * sp_envelope_verify_buf without copying the payload: PAE's header is
 * written into the `room` bytes just before env->payload.data, which the
 * caller owns and lets be overwritten (the payload itself is not changed).
 * With less room than the header, it is sp_envelope_verify_buf.
 */
int sp_envelope_verify_room(const Sp__Envelope *env, const uint8_t *pk, size_t room, uint8_t **buf,
                            size_t *cap, char *err) SP_WUR SP_NONNULL(1, 2, 4, 5);

/* sp_envelope_verify_keyid without the message. */
int sp_envelope_verify(const Sp__Envelope *env, const uint8_t *pk) SP_WUR SP_NONNULL(1, 2);

/* The record digest that the next record's prev holds: H("scratchproof/record", payload). */
int sp_record_digest(uint8_t out[SP_DIGEST_BYTES], const uint8_t *payload, size_t len)
    SP_NONNULL(1);

/*
 * Decodes a Record payload and validates every field (SPEC.md 3.3): lengths
 * of digests and ids, a body present, tensor names non-empty and unique in
 * ascending order, dtypes and shapes valid, schemes valid. SP_EFORMAT with err.
 * Free with sp_record_free.
 */
int sp_record_decode(Sp__Record **out, const uint8_t *payload, size_t len, char *err)
    SP_WUR SP_NONNULL(1);
void sp_record_free(Sp__Record *r);

/* sp_record_decode from an arena (see sp_envelope_decode_in). */
int sp_record_decode_in(Sp__Record **out, const uint8_t *payload, size_t len, sp_arena *arena, char *err)
    SP_WUR SP_NONNULL(1);

/* Packs a Record into malloc'd bytes. SP_ENOMEM. */
int sp_record_pack(uint8_t **out, size_t *outlen, const Sp__Record *r) SP_WUR SP_NONNULL(1, 2, 3);

/* "genesis", "checkpoint", "final" or "unknown". */
const char *sp_record_kind(const Sp__Record *r) SP_NONNULL(1);

/* The tensor list of any body kind, into *t and *n. */
void sp_record_tensors(const Sp__Record *r, Sp__TensorDigest ***t, size_t *n) SP_NONNULL(1, 2, 3);

/* The root digest of any body kind (32 bytes), or NULL. */
const uint8_t *sp_record_root(const Sp__Record *r) SP_NONNULL(1);

/*
 * Converts a decoded TensorDigest to an init scheme (genesis). Validated
 * records only.
 */
void sp_record_scheme(sp_init_scheme *s, const Sp__TensorDigest *t) SP_NONNULL(1, 2);

/*
 * A decoded genesis TensorDigest's init ranges (SPEC.md 6.10) as a malloc'd
 * array (free() it): *n = 0 and *out = NULL when it has none (one scheme,
 * sp_record_scheme). Validated records only. SP_OK, SP_ENOMEM, SP_EFORMAT.
 */
int sp_record_ranges(sp_init_range **out, size_t *n, const Sp__TensorDigest *t) SP_WUR SP_NONNULL(1, 2, 3);

#endif
