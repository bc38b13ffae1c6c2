#!/usr/bin/env bash
# `scratchproof export --intoto` (SPEC.md 16) checked by outside verifiers that share no
# code with scratchproof: sigstore-js (@sigstore/verify, tests/js, run by node) and
# Debian's python3-securesystemslib (tests/intoto_sslib.py). An honest export verifies
# in both; one changed byte anywhere that matters, another key or a changed model file is
# rejected by both; a ledger that does not verify is never attested. Each outside
# verifier prints SKIP only when its runtime is absent (node/npm; securesystemslib).
# Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
js=tests/js
t=$(mktemp -d /tmp/sp-intoto.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
expect() {
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then
    bad "$name: exit $got, wanted $want: $(head -c 400 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(head -c 400 "$t/out" "$t/err" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}

# The outside verifiers available here.
have_js=0 have_ssl=0
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d "$js/node_modules/@sigstore/verify" ]; then
    npm ci --prefix "$js" --no-audit --no-fund >"$t/npm.log" 2>&1 || bad "npm ci --prefix $js: $(tail -c 300 "$t/npm.log")"
  fi
  [ -d "$js/node_modules/@sigstore/verify" ] && have_js=1
else
  echo "SKIP sigstore-js checks: node and npm are not installed"
fi
if "$PY" -c 'import securesystemslib.signer' 2>/dev/null; then have_ssl=1
else echo "SKIP securesystemslib checks: python3-securesystemslib is not installed"; fi
# both VERDICT NAME ENVELOPE PUB [FILE...]: every available outside verifier gives VERDICT (0 or 1)
both() {
  local want=$1 name=$2; shift 2
  if [ $have_js = 1 ]; then expect "$want" "sigstore-js: $name" -- node "$js/verify-dsse.js" "$@"; fi
  if [ $have_ssl = 1 ]; then expect "$want" "securesystemslib: $name" -- "$PY" tests/intoto_sslib.py "$@"; fi
}

"$sp" keygen -o "$t/k" >/dev/null && "$sp" keygen -o "$t/o" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 3 --steps 40 --every 20 --out "$t/ck" --quiet \
  || { bad tinytrain; exit 1; }
m=$t/ck/final.safetensors

expect 0 "export --intoto of an honest run" -- "$sp" export "$t/run.ledger" --intoto "$t/a.json" --key "$t/k.key" \
  --model "$m" --checkpoints "$t/ck"
"$PY" - "$t/a.json" "$m" "$t/run.ledger" <<'PYEOF' && ok "statement: type, subject digests, predicate" || bad "statement contents"
import base64, hashlib, json, sys
e = json.load(open(sys.argv[1]))
assert set(e) == {"payload", "payloadType", "signatures"} and e["payloadType"] == "application/vnd.in-toto+json"
assert len(e["signatures"]) == 1 and len(base64.b64decode(e["signatures"][0]["sig"])) == 64
s = json.loads(base64.b64decode(e["payload"]))
assert s["_type"] == "https://in-toto.io/Statement/v1", s["_type"]
assert s["predicateType"].startswith("https://scratchproof.dev/attestation/run/v")
data = open(sys.argv[2], "rb").read()
assert s["subject"] == [{"name": "final.safetensors", "digest": {"sha256": hashlib.sha256(data).hexdigest(),
                                                               "blake2b": hashlib.blake2b(data).hexdigest()}}]
p = s["predicate"]
assert p["seed"] == 3 and p["records"] == 4 and p["head"]["size"] == 4 and len(p["run_id"]) == 32
assert p["weights"]["kind"] == "final" and p["weights"]["step"] == 40 and len(p["genesis_root"]) == 64
names = {c["name"] for c in p["verification"]["checks"]}
assert {"signatures", "chain", "init", "model", "checkpoints"} <= names and all(c["ok"] for c in p["verification"]["checks"]), names
assert p["resources"] == [{"name": "final.safetensors", "algorithm": "sha256", "digest": hashlib.sha256(data).hexdigest()}]
PYEOF
# the head root in the predicate is the one `scratchproof head` signs
"$sp" head "$t/run.ledger" --key "$t/k.key" -o "$t/run.head" || bad "head"
"$PY" -c 'import base64,json,sys; e=json.load(open(sys.argv[1])); p=json.loads(base64.b64decode(e["payload"]))["predicate"]
assert open(sys.argv[2]).read().split("\n")[2] == p["head"]["root"]' "$t/a.json" "$t/run.head" \
  && ok "predicate head root equals the signed head's" || bad "predicate head root differs from the head"

both 0 "honest export verifies" "$t/a.json" "$t/k.pub" "$m"
both 1 "another public key" "$t/a.json" "$t/o.pub"
cp "$m" "$t/final.safetensors"
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-3]^=1; open(p,"wb").write(b)' "$t/final.safetensors"
both 1 "a changed byte in the model file" "$t/a.json" "$t/k.pub" "$t/final.safetensors"
# one changed byte in the envelope: in the payload, in the signature, in the payload type
"$PY" - "$t/a.json" "$t" <<'PYEOF'
import json, sys
src, t = sys.argv[1], sys.argv[2]
text = open(src).read()
e = json.loads(text)
def flip(s, i):   # another base64 character at position i
    return s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
for name, field, i in [("payload-start", "payload", 0), ("payload-mid", "payload", len(e["payload"]) // 2),
                       ("payload-end", "payload", len(e["payload"]) - 5)]:
    open(f"{t}/{name}.json", "w").write(text.replace(e[field], flip(e[field], i)))
sig = e["signatures"][0]["sig"]
open(f"{t}/sig.json", "w").write(text.replace(sig, flip(sig, 10)))
open(f"{t}/type.json", "w").write(text.replace("vnd.in-toto+json", "vnd.in-toto+jsoN"))
PYEOF
for k in payload-start payload-mid payload-end sig type; do
  cmp -s "$t/$k.json" "$t/a.json" && bad "$k: the edit changed nothing"
  both 1 "one changed byte ($k)" "$t/$k.json" "$t/k.pub"
done

# without --model the ledger file itself is the subject
expect 0 "export without --model" -- "$sp" export "$t/run.ledger" --intoto "$t/l.json" --key "$t/k.key"
both 0 "the ledger as subject" "$t/l.json" "$t/k.pub" "$t/run.ledger"

# a bundle (SPEC.md 14) exports the same statement as its ledger
"$sp" export "$t/run.ledger" -o "$t/run.bundle" >/dev/null || bad "export -o bundle"
expect 0 "export --intoto of a bundle" -- "$sp" export "$t/run.bundle" --intoto "$t/b.json" --key "$t/k.key" --model "$m"
"$PY" -c 'import base64,json,sys; p=[json.loads(base64.b64decode(json.load(open(f))["payload"]))["predicate"] for f in sys.argv[1:]]
assert p[0]["head"] == p[1]["head"] and p[0]["run_id"] == p[1]["run_id"]' "$t/a.json" "$t/b.json" \
  && ok "a bundle and its ledger attest the same head" || bad "bundle and ledger statements differ"
expect 2 "--head goes with -o, not --intoto" -- "$sp" export "$t/run.ledger" --intoto "$t/x.json" --key "$t/k.key" --head "$t/run.head"
expect 2 "--key goes with --intoto, not -o" -- "$sp" export "$t/run.ledger" -o "$t/y.bundle" --key "$t/k.key"

# nothing is attested about a ledger that does not verify
"$tt" --ledger "$t/imp.ledger" --key "$t/k.key" --seed 3 --steps 20 --every 10 --out "$t/imp" --quiet \
  --init-from "$m" || bad "impostor run"
expect 1 "export refuses a ledger that does not verify (fine-tune impostor)" "nothing attested" -- \
  "$sp" export "$t/imp.ledger" --intoto "$t/imp.json" --key "$t/k.key"
[ ! -e "$t/imp.json" ] && ok "no envelope written for it" || bad "an envelope was written for a failed ledger"
expect 1 "export refuses a model that is not the run's" "nothing attested" -- \
  "$sp" export "$t/run.ledger" --intoto "$t/x.json" --key "$t/k.key" --model "$t/final.safetensors"
expect 1 "export with another key than the ledger's" "nothing attested" -- \
  "$sp" export "$t/run.ledger" --intoto "$t/x.json" --key "$t/o.key"

# usage
expect 2 "export --intoto without --key" "--key" -- "$sp" export "$t/run.ledger" --intoto "$t/x.json"
expect 2 "export with neither -o nor --intoto" -- "$sp" export "$t/run.ledger" --key "$t/k.key"
expect 2 "export with a missing model" "--model" -- "$sp" export "$t/run.ledger" --intoto "$t/x.json" --key "$t/k.key" --model "$t/nope.safetensors"
expect 2 "export of a missing ledger" -- "$sp" export "$t/nope.ledger" --intoto "$t/x.json" --key "$t/k.key"
expect 2 "export to an unwritable file" "-o\|cannot write" -- "$sp" export "$t/run.ledger" --intoto "$t/no/such/dir/x.json" --key "$t/k.key"
expect 0 "export --help" "usage" -- "$sp" export --help

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
