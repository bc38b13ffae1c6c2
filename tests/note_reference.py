#!/usr/bin/env python3
"""Independent computation of the signed-note vectors of SPEC.md 15.6.

Key ids with hashlib, Ed25519 with libsodium through ctypes (deterministic
signatures), base64 with the standard library. Prints the values that
tests/test_note.c hard-codes: the Go sumdb/note known answer re-derived, a
scratchproof head signed with the RFC 8032 TEST 1 key, and a cosignature/v1
by the seed 01..20 key at time 1700000000."""
import base64, ctypes, ctypes.util, hashlib, struct

so = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert so.sodium_init() >= 0

def keypair(seed):
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    so.crypto_sign_seed_keypair(pk, sk, seed)
    return pk.raw, sk.raw

def sign(sk, msg):
    sig = ctypes.create_string_buffer(64)
    so.crypto_sign_detached(sig, None, msg, ctypes.c_ulonglong(len(msg)), sk)
    return sig.raw

def keyid(name, typ, pk):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + pk).digest()[:4]

def line(name, b):
    return "\u2014 " + name + " " + base64.b64encode(b).decode() + "\n"

# golang.org/x/mod/sumdb/note TestSign: PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK...
seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
pk, sk = keypair(seed)
text = b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
print("GO_KEYID", keyid("PeterNeumann", 1, pk).hex())
print("GO_LINE", line("PeterNeumann", keyid("PeterNeumann", 1, pk) + sign(sk, text)), end="")

# A scratchproof head (SPEC.md 15.1): RFC 8032 TEST 1 key, run id 00..0f, the 8 CT leaves' root.
seed1 = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
pk1, sk1 = keypair(seed1)
root8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
run = bytes(range(16)).hex()
origin = "scratchproof/run/" + run
body = (origin + "\n8\n" + base64.b64encode(root8).decode() + "\n" +
        "scratchproof-head/1\nlast-record " + bytes(range(0x20, 0x40)).hex() +
        "\nlast-time 1700000000000\n").encode()
print("HEAD_BODY", body)
print("HEAD_KEYID", keyid(origin, 1, pk1).hex())
print("HEAD_LINE", line(origin, keyid(origin, 1, pk1) + sign(sk1, body)), end="")

# cosignature/v1 by the key of seed 01..20, named scratchproof/witness/test, at 1700000000.
pkw, skw = keypair(bytes(range(1, 33)))
t = 1700000000
msg = b"cosignature/v1\ntime %d\n" % t + body
wname = "scratchproof/witness/test"
print("COSIG_KEYID", keyid(wname, 4, pkw).hex())
print("COSIG_LINE", line(wname, keyid(wname, 4, pkw) + struct.pack(">Q", t) + sign(skw, msg)), end="")
