/*
 * wire.h - a hand decoder for the canonical protobuf encoding of envelopes
 * and records (SPEC.md 3.7), the hot path of verify. protobuf-c copies every
 * string and bytes field and allocates per field; this decoder reads the
 * encoding protobuf-c itself writes (fields in number order, each singular
 * field at most once, repeated scalars packed, no unknown fields) straight
 * into protobuf-c's structs, taken from an arena, with bytes fields pointing
 * into the input. Anything else, valid or not, is SP_EFORMAT: the caller
 * hands it to protobuf-c (record.h, sp_*_decode_view), so what is accepted
 * and what it decodes to never depend on which decoder read it.
 *
 * Nothing here validates beyond the wire (record.c does). The input must
 * outlive the result and not change while it is used.
 */
#ifndef SP_WIRE_H
#define SP_WIRE_H

#include "arena.h"
#include "record.pb-c.h"
#include "sp_base.h"

/* SP_OK, SP_EFORMAT (not the canonical subset: decode with protobuf-c) or SP_ENOMEM. */
int sp_wire_envelope(Sp__Envelope **out, const uint8_t *buf, size_t len, sp_arena *arena)
    SP_WUR SP_NONNULL(1, 4);
int sp_wire_record(Sp__Record **out, const uint8_t *buf, size_t len, sp_arena *arena)
    SP_WUR SP_NONNULL(1, 4);

#endif
