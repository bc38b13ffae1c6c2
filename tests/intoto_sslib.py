#!/usr/bin/env python3
"""An outside verifier for `scratchproof export --intoto` (SPEC.md 16), run by
tests/cli/intoto.sh: Debian's python3-securesystemslib checks the Ed25519
signature of the DSSE envelope over the pre-authentication encoding, computed
here from the DSSE specification; then the in-toto Statement's subjects are
compared with the files (hashlib). No scratchproof code is used.

usage: intoto_sslib.py ENVELOPE.json KEY.pub [FILE...]   exit 0 verified, 1 not"""
import base64, hashlib, json, os, sys

from securesystemslib.signer import Signature, SSlibKey


def fail(msg):
    print("NOT VERIFIED: " + msg)
    sys.exit(1)


env_path, pub_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    env = json.load(open(env_path, encoding="utf-8"))
    payload = base64.b64decode(env["payload"], validate=True)
    ptype = env["payloadType"].encode()
    sigs = env["signatures"]
except (ValueError, KeyError, TypeError) as e:
    fail("not a DSSE envelope: %r" % e)
hdr, b64 = open(pub_path).read().split()
pk = base64.b64decode(b64)
if hdr != "scratchproof-ed25519-public-v1" or len(pk) != 32:
    fail("bad public key file")
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
ok = False
for s in sigs:
    key = SSlibKey(s.get("keyid", ""), "ed25519", "ed25519", {"public": pk.hex()})
    try:
        key.verify_signature(Signature(key.keyid, base64.b64decode(s["sig"]).hex()), pae)
        ok = True
    except Exception:  # securesystemslib raises UnverifiedSignatureError / VerificationError
        pass
if not ok:
    fail("securesystemslib: no signature verifies over the DSSE PAE")
if ptype != b"application/vnd.in-toto+json":
    fail("payloadType %r" % ptype)
st = json.loads(payload)
if st.get("_type") != "https://in-toto.io/Statement/v1":
    fail("not an in-toto Statement v1")
for f in files:
    data = open(f, "rb").read()
    subj = [s for s in st["subject"] if s["name"] == os.path.basename(f)]
    if not subj:
        fail("no subject named " + os.path.basename(f))
    d = subj[0]["digest"]
    if d.get("sha256") != hashlib.sha256(data).hexdigest() or d.get("blake2b") != hashlib.blake2b(data).hexdigest():
        fail("digest of %s differs" % f)
print("VERIFIED: securesystemslib checked the Ed25519 signature over the PAE; %d subject(s)" % len(st["subject"]))
