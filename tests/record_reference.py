#!/usr/bin/env python3
"""Independent check of the signed-record vector of SPEC.md 3.5.

Builds the KAT payload by hand from the protobuf wire format (no protobuf
library), the DSSE PAE, the keyid and the record digest with hashlib, and
signs with libsodium through ctypes (Ed25519 signing is deterministic).
Prints the four values that tests/test_record.c hard-codes."""
import ctypes, ctypes.util, hashlib, struct, sys

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload

def H(tag, data):
    return hashlib.blake2b(tag.encode() + b"\0" + data, digest_size=32).digest()

scheme = field(1, 0, 3) + field(2, 2, struct.pack("<4d", -0.5, 0.5, 0, 0))
tensor = (field(1, 2, b"w") + field(2, 0, 1) + field(3, 2, varint(2) + varint(3)) +
          field(4, 2, bytes(range(0xA0, 0xC0))) + field(5, 2, scheme))
genesis = (field(1, 2, b"kat") + field(2, 0, 7) + field(3, 2, bytes(32)) + field(4, 2, tensor) +
           field(5, 2, bytes(range(0x40, 0x60))) + field(6, 2, b"scratchproof/0.1.0"))
record = (field(2, 2, bytes(32)) + field(3, 2, bytes(range(16))) + field(4, 0, 1700000000000) +
          field(10, 2, genesis))

ptype = b"application/vnd.scratchproof.record.v1+protobuf"
pae = b"DSSEv1 %d %s %d " % (len(ptype), ptype, len(record)) + record

so = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert so.sodium_init() >= 0
pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
so.crypto_sign_seed_keypair(pk, sk, bytes(range(1, 33)))
sig = ctypes.create_string_buffer(64)
so.crypto_sign_detached(sig, None, pae, ctypes.c_ulonglong(len(pae)), sk)

print("KAT_PAYLOAD_HEX", record.hex())
print("KAT_SIG_HEX", sig.raw.hex())
print("KAT_KEYID", H("scratchproof/keyid", pk.raw)[:8].hex())
print("KAT_RECORD_DIGEST_HEX", H("scratchproof/record", record).hex())
