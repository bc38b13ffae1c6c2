#!/usr/bin/env python3
"""Independent model of the encrypted secret key file of SPEC.md 4.6.

Lays the file out by hand (struct, base64 from the standard library) and runs
Argon2id and XChaCha20-Poly1305 from libsodium through ctypes, so nothing of
attest/keyseal.c is shared.

  keys_reference.py                      prints the SPEC 4.6 vector (file bytes as hex
                                         and as text, the public key)
  keys_reference.py --open KEY PASSFILE  decrypts a key file written by scratchproof,
                                         prints the Ed25519 public key as base64
                                         (compare with PREFIX.pub); exit 1 when the
                                         file does not open
"""
import base64, ctypes, ctypes.util, struct, sys

so = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert so.sodium_init() >= 0
ALG_ARGON2ID13 = so.crypto_pwhash_argon2id_alg_argon2id13()
ULL = ctypes.c_ulonglong

TEXT_HDR = b"scratchproof-ed25519-secret-enc-v1 "
assert len(TEXT_HDR) == 35


def argon2id(passphrase, salt, ops, mem):
    key = ctypes.create_string_buffer(32)
    rc = so.crypto_pwhash_argon2id(key, ULL(32), passphrase, ULL(len(passphrase)), salt,
                                   ULL(ops), ctypes.c_size_t(mem), ctypes.c_int(ALG_ARGON2ID13))
    assert rc == 0, "argon2id failed"
    return key.raw


def header(ops, mem, salt, nonce):
    assert len(salt) == 16 and len(nonce) == 24
    return struct.pack("<BBBBIQ", 1, 1, 1, 0, ops, mem) + salt + nonce   # 56 bytes


def seal(seed, passphrase, salt, nonce, ops, mem):
    hdr = header(ops, mem, salt, nonce)
    ad = TEXT_HDR + hdr
    key = argon2id(passphrase, salt, ops, mem)
    c = ctypes.create_string_buffer(48)
    clen = ULL(0)
    so.crypto_aead_xchacha20poly1305_ietf_encrypt(c, ctypes.byref(clen), seed, ULL(32), ad,
                                                  ULL(len(ad)), None, nonce, key)
    assert clen.value == 48
    return TEXT_HDR + base64.b64encode(hdr + c.raw) + b"\n"


def unseal(data, passphrase):
    assert data.startswith(TEXT_HDR), "not an encrypted scratchproof key"
    body = data[len(TEXT_HDR):]
    if body.endswith(b"\n"):
        body = body[:-1]
    blob = base64.b64decode(body, validate=True)
    assert len(blob) == 104, len(blob)
    ver, kdf, aead, res, ops, mem = struct.unpack("<BBBBIQ", blob[:16])
    assert (ver, kdf, aead, res) == (1, 1, 1, 0), (ver, kdf, aead, res)
    salt, nonce, c = blob[16:32], blob[32:56], blob[56:]
    key = argon2id(passphrase, salt, ops, mem)
    seed = ctypes.create_string_buffer(32)
    mlen = ULL(0)
    ad = TEXT_HDR + blob[:56]
    rc = so.crypto_aead_xchacha20poly1305_ietf_decrypt(seed, ctypes.byref(mlen), None, c,
                                                       ULL(len(c)), ad, ULL(len(ad)), nonce, key)
    if rc != 0:
        return None
    return seed.raw


def public_key(seed):
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    so.crypto_sign_seed_keypair(pk, sk, seed)
    return pk.raw


if len(sys.argv) == 4 and sys.argv[1] == "--open":
    data = open(sys.argv[2], "rb").read()
    passphrase = open(sys.argv[3], "rb").read().split(b"\n", 1)[0]
    seed = unseal(data, passphrase)
    if seed is None:
        print("does not open: wrong passphrase or damaged file")
        sys.exit(1)
    print(base64.b64encode(public_key(seed)).decode())
    sys.exit(0)

# SPEC.md 4.6 vector: RFC 8032 TEST 1 seed, a fixed passphrase, salt and nonce.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PASS = b"correct horse battery staple"
SALT = bytes(range(0x00, 0x10))
NONCE = bytes(range(0x10, 0x28))
for name, ops, mem in (("interactive", 2, 64 << 20), ("min", 1, 8192)):
    f = seal(SEED, PASS, SALT, NONCE, ops, mem)
    assert len(f) == 176 and unseal(f, PASS) == SEED and unseal(f, PASS + b"!") is None
    print(f"VECTOR_{name.upper()}_HEX", f.hex())
    print(f"VECTOR_{name.upper()}_TEXT", f[:-1].decode())
    print(f"VECTOR_{name.upper()}_ARGON2ID", argon2id(PASS, SALT, ops, mem).hex())
    print(f"VECTOR_{name.upper()}_BLOB", base64.b64decode(f[35:-1]).hex())
print("VECTOR_PUBLIC_KEY", public_key(SEED).hex())
