#!/usr/bin/env bash
# Signed heads and witnesses (SPEC.md 15): `head`, `cosign`, `verify --head --witness`.
# An honest run with a cosigned head verifies; each attack is built and caught (exit 1,
# check "head"): the tail dropped, a rolled-back ledger file, a fork of one key's run,
# another team's run re-signed under a new key, a missing or wrong witness, a changed
# head; a witness with memory (--state) refuses to cosign a re-signed run, a rollback
# and a fork. A head file that is not a signed note is exit 2. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-heads.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# expect CODE NAME [GREP] -- CMD...: exit code, and GREP (if given) in stdout+stderr
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
V() { "$sp" verify "$@" --quiet; }
# keep LEDGER N OUT: a ledger with the first N records of LEDGER (LMDB's own tools)
keep() {
  mdb_dump -n -s records "$1" >"$t/k.dump" || return 1
  "$PY" - "$t/k.dump" "$2" <<'PYEOF' || return 1
import sys
p, n = sys.argv[1], int(sys.argv[2])
ls = open(p).read().split("\n")
s = ls.index("HEADER=END") + 1
body = [l for l in ls[s:] if l.startswith(" ")]
open(p, "w").write("\n".join(ls[:s] + body[:2 * n] + ["DATA=END", ""]))
PYEOF
  rm -f "$3" "$3-lock"
  mdb_dump -n -s meta "$1" | mdb_load -n -s meta "$3" 2>/dev/null && mdb_load -n -s records -f "$t/k.dump" "$3" 2>/dev/null
}
command -v mdb_dump >/dev/null || { bad "mdb_dump missing (apt-get install lmdb-utils)"; exit 1; }

for k in a b w w2; do "$sp" keygen -o "$t/$k" >/dev/null || { bad "keygen $k"; exit 1; }; done
"$tt" --ledger "$t/a.ledger" --key "$t/a.key" --seed 11 --steps 60 --every 20 --out "$t/ck" --quiet \
  || { bad "tinytrain"; exit 1; }

# --- honest: a head, a witness cosignature, verified ---
expect 0 "head of an honest run" -- "$sp" head "$t/a.ledger" --key "$t/a.key" -o "$t/a.head"
grep -q "^scratchproof/run/[0-9a-f]\{32\}$" "$t/a.head" && sed -n 2p "$t/a.head" | grep -qx 5 \
  && ok "head body: origin and 5 records" || bad "head body: $(head -3 "$t/a.head" | tr '\n' ' ')"
"$sp" head "$t/a.ledger" --key "$t/a.key" | cmp -s - "$t/a.head" && ok "head to stdout is the same note" \
  || bad "head to stdout differs"
expect 0 "cosign with the witness's key" -- "$sp" cosign "$t/a.head" --key "$t/w.key" --pubkey "$t/a.pub" -o "$t/a.head.w"
expect 0 "honest run, head and witness verify" "cosigned by witness" -- \
  V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head.w" --witness "$t/w.pub" --model "$t/ck/final.safetensors"
expect 0 "a second witness" -- "$sp" cosign "$t/a.head.w" --key "$t/w2.key" -o "$t/a.head.ww"
expect 0 "two witnesses required, both cosigned" -- \
  V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head.ww" --witness "$t/w.pub" --witness "$t/w2.pub"
"$sp" cosign "$t/a.head.ww" --key "$t/w.key" -o "$t/a.head.again" 2>/dev/null
[ "$(grep -c "scratchproof/witness/" "$t/a.head.again")" = 2 ] && ok "cosigning again replaces the witness's line" \
  || bad "cosigning again: $(grep -c "scratchproof/witness/" "$t/a.head.again") witness lines"
V "$t/a.ledger" --pubkey "$t/a.pub" --json --head "$t/a.head.w" >"$t/v.json"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); h=[c for c in d["checks"] if c["name"]=="head"]
assert d["verified"] and len(h)==1 and h[0]["ok"], d' "$t/v.json" && ok "verify --json has the head check" \
  || bad "verify --json head check"

# --- a bundle (SPEC.md 14) has the same head as its ledger, and verifies against it ---
expect 0 "export a bundle with its head" -- "$sp" export "$t/a.ledger" -o "$t/a.bundle" --head "$t/a.head.w"
"$sp" head "$t/a.bundle" --key "$t/a.key" | cmp -s - "$t/a.head" && ok "the bundle's head is the ledger's, byte for byte" \
  || bad "the bundle's head differs from the ledger's"
expect 0 "a bundle verifies against the head and witness" "cosigned by witness" -- \
  V "$t/a.bundle" --pubkey "$t/a.pub" --head "$t/a.head.w" --witness "$t/w.pub"

# --- tail truncated: the last record dropped with mdb_dump/mdb_load ---
keep "$t/a.ledger" 4 "$t/cut.ledger" || bad "mdb_load of the cut ledger"
# only_fails NAME "CHECKS" -- CMD: the chain checks pass and the only failed checks are CHECKS
# (e.g. "complete batches": ledgers built with `record` make no batch commitments)
only_fails() {
  local name=$1 allowed=$2; shift 3
  "$@" >"$t/out" 2>"$t/err"
  local other; other=$(grep '^  FAIL' "$t/out" | awk '{print $2}' | grep -vxF -f <(tr ' ' '\n' <<<"$allowed") | sort -u | tr '\n' ' ')
  if [ -z "$other" ] && grep -q '^  ok    chain' "$t/out" && grep -q '^  ok    signatures' "$t/out"; then ok "$name"
  else bad "$name: other failed checks: $other"; fi
}
only_fails "without a head, a ledger missing its last record passes the chain checks (the attack; --allow-incomplete, as for a run still training)" "batches" -- V "$t/cut.ledger" --pubkey "$t/a.pub" --allow-incomplete
expect 1 "head: the dropped tail is caught" "dropped" -- V "$t/cut.ledger" --pubkey "$t/a.pub" --head "$t/a.head.w" --witness "$t/w.pub"

# --- rolled back: the ledger file as it was before its last commit ---
"$sp" record genesis --ledger "$t/r.ledger" --key "$t/a.key" --seed 5 --scheme '*=external' "$t/ck/step000020.safetensors" >/dev/null \
  && "$sp" record checkpoint --ledger "$t/r.ledger" --key "$t/a.key" --step 40 "$t/ck/step000040.safetensors" >/dev/null \
  || bad "record a file-only run"
cp "$t/r.ledger" "$t/r.old"
"$sp" record checkpoint --ledger "$t/r.ledger" --key "$t/a.key" --step 60 "$t/ck/step000060.safetensors" >/dev/null || bad "record step 60"
"$sp" head "$t/r.ledger" --key "$t/a.key" -o "$t/r.head" || bad "head of the file-only run"
rm -f "$t/r.ledger-lock"; cp "$t/r.old" "$t/r.ledger"
expect 1 "head: a rolled-back ledger (an older file) is caught" "rolled back" -- V "$t/r.ledger" --pubkey "$t/a.pub" --head "$t/r.head"

# --- fork: one key, two ledgers of one run diverging after record 2 ---
keep "$t/a.ledger" 3 "$t/f.ledger" || bad "mdb_load of the fork base"
"$sp" record checkpoint --ledger "$t/f.ledger" --key "$t/a.key" --step 60 "$t/ck/step000040.safetensors" >/dev/null || bad "fork: record step 60"
"$sp" head "$t/f.ledger" --key "$t/a.key" -o "$t/f4.head" || bad "fork: head at 4"
"$sp" record final --ledger "$t/f.ledger" --key "$t/a.key" --step 60 "$t/ck/step000040.safetensors" >/dev/null || bad "fork: record final"
only_fails "the fork alone passes the chain checks under the same key (the attack)" "batches" -- V "$t/f.ledger" --pubkey "$t/a.pub"
expect 1 "head: a fork of the same size is caught" "fork" -- V "$t/f.ledger" --pubkey "$t/a.pub" --head "$t/a.head.w"
expect 1 "head: a longer ledger that is not an extension of the head is caught" "fork" -- \
  V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/f4.head"
keep "$t/a.ledger" 2 "$t/p.ledger" && "$sp" head "$t/p.ledger" --key "$t/a.key" -o "$t/p.head" || bad "head at 2"
expect 0 "an earlier head of the same ledger: the ledger extends it" "extend" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/p.head"
only_fails "both branches extend the head before the fork point" "batches" -- V "$t/f.ledger" --pubkey "$t/a.pub" --head "$t/p.head"

# --- another team's run re-signed under a new key ---
keep "$t/a.ledger" 1 "$t/g.ledger" && "$sp" head "$t/g.ledger" --key "$t/a.key" -o "$t/g.head" || bad "genesis head"
expect 0 "witness with memory cosigns team A's genesis head" -- \
  "$sp" cosign "$t/g.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" -o "$t/g.head.w"
expect 1 "witness refuses a larger head without the ledger to check it" "ledger" -- \
  "$sp" cosign "$t/a.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" -o "$t/x"
expect 0 "witness cosigns A's final head, consistent with the genesis head" -- \
  "$sp" cosign "$t/a.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" --ledger "$t/a.ledger" -o "$t/a.head.ws"
mdb_dump -n -s records "$t/a.ledger" >"$t/resign.dump"
"$PY" - "$t/resign.dump" "$t/b.key" <<'PYEOF' || bad "re-sign"
# Team B: every record of team A's ledger, payload untouched, re-signed under B's key.
import base64, ctypes, ctypes.util, hashlib, sys
so = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23"); so.sodium_init()
seed = base64.b64decode(open(sys.argv[2]).read().split()[1])
pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
so.crypto_sign_seed_keypair(pk, sk, seed)
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7F) << s; s += 7
        if c < 0x80: return v, i
def enc(n):
    o = b""
    while True:
        if n < 0x80: return o + bytes([n])
        o += bytes([n & 0x7F | 0x80]); n >>= 7
def fld(num, data): return enc(num << 3 | 2) + enc(len(data)) + data
def fields(b):
    i, out = 0, {}
    while i < len(b):
        k, i = varint(b, i); n, i = varint(b, i); out.setdefault(k >> 3, b[i:i + n]); i += n
    return out
ls = open(sys.argv[1]).read().split("\n")
s = ls.index("HEADER=END") + 1
vals = [j for j in range(s, len(ls)) if ls[j].startswith(" ")][1::2]
keyid = hashlib.blake2b(b"scratchproof/keyid\0" + pk.raw, digest_size=32).digest()[:8].hex().encode()
for j in vals:
    f = fields(bytes.fromhex(ls[j].strip()))
    payload, ptype = f[1], f[2]
    pae = b"DSSEv1 %d %s %d " % (len(ptype), ptype, len(payload)) + payload
    sig = ctypes.create_string_buffer(64)
    so.crypto_sign_detached(sig, None, pae, ctypes.c_ulonglong(len(pae)), sk)
    ls[j] = " " + (fld(1, payload) + fld(2, ptype) + fld(3, fld(1, sig.raw) + fld(2, keyid))).hex()
open(sys.argv[1], "w").write("\n".join(ls))
PYEOF
mdb_dump -n -s meta "$t/a.ledger" | mdb_load -n -s meta "$t/b.ledger" 2>/dev/null && mdb_load -n -s records -f "$t/resign.dump" "$t/b.ledger" 2>/dev/null \
  || bad "mdb_load of the re-signed ledger"
expect 0 "the re-signed copy verifies under team B's key without a head (the attack)" -- V "$t/b.ledger" --pubkey "$t/b.pub"
expect 0 "team B signs a head of the copy" -- "$sp" head "$t/b.ledger" --key "$t/b.key" -o "$t/b.head"
expect 1 "re-signed: B's head was never cosigned by the witness" "not cosigned" -- \
  V "$t/b.ledger" --pubkey "$t/b.pub" --head "$t/b.head" --witness "$t/w.pub"
expect 1 "re-signed: A's cosigned head is not signed by B's key" "not signed by the pinned key" -- \
  V "$t/b.ledger" --pubkey "$t/b.pub" --head "$t/a.head.ws" --witness "$t/w.pub"
expect 1 "re-signed: the witness refuses to cosign the run under a second key" "another key" -- \
  "$sp" cosign "$t/b.head" --key "$t/w.key" --pubkey "$t/b.pub" --state "$t/w.state" --ledger "$t/b.ledger" -o "$t/x"
expect 1 "witness refuses a rollback to the genesis head" "rollback" -- \
  "$sp" cosign "$t/g.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" -o "$t/x"
"$sp" head "$t/f.ledger" --key "$t/a.key" -o "$t/f.head" || bad "fork head"
expect 1 "witness refuses a fork of a cosigned size" "fork" -- \
  "$sp" cosign "$t/f.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" --ledger "$t/f.ledger" -o "$t/x"
if command -v flock >/dev/null; then
  expect 2 "witness state in use by another cosign" "in use" -- flock "$t/w.state.lock" \
    "$sp" cosign "$t/a.head.ws" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" -o "$t/x"
fi
expect 0 "witness cosigns the same head again" -- \
  "$sp" cosign "$t/a.head.ws" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/w.state" -o "$t/x"

# --- missing or wrong witness, a changed head ---
expect 1 "missing witness: an uncosigned head" "not cosigned" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head" --witness "$t/w.pub"
expect 1 "missing witness: cosigned by another witness" "not cosigned" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head.w" --witness "$t/w2.pub"
expect 1 "one of two required witnesses missing" "w2.pub" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head.w" --witness "$t/w.pub" --witness "$t/w2.pub"
expect 1 "a head of another key" "not signed by the pinned key" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/b.head"
sed '2s/.*/4/' "$t/a.head.w" >"$t/lie.head"
expect 1 "a head whose size was edited" "does not verify" -- V "$t/cut.ledger" --pubkey "$t/a.pub" --head "$t/lie.head"
expect 1 "cosign refuses a head not signed by the log key" "refused" -- "$sp" cosign "$t/lie.head" --key "$t/w.key" --pubkey "$t/a.pub" -o "$t/x"
"$sp" cosign "$t/lie.head" --key "$t/w.key" -o "$t/lie.head.w" 2>/dev/null
expect 1 "a changed head: the witness's cosignature holds but the head's does not" "does not verify" -- \
  V "$t/cut.ledger" --pubkey "$t/a.pub" --head "$t/lie.head.w" --witness "$t/w.pub"
"$PY" - "$t/a.head.w" "$t/wtime.head" <<'PYEOF'
import base64, sys
ls = open(sys.argv[1], encoding="utf-8").read().split("\n")
i = [k for k, l in enumerate(ls) if "scratchproof/witness/" in l][0]
head, b64 = ls[i].rsplit(" ", 1)
b = bytearray(base64.b64decode(b64)); b[11] ^= 1          # the cosignature's timestamp, one bit
ls[i] = head + " " + base64.b64encode(bytes(b)).decode()
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(ls))
PYEOF
expect 1 "a cosignature whose time was changed" "does not verify" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/wtime.head" --witness "$t/w.pub"

# --- a head file that is not a signed note: exit 2, one line; usage errors ---
head -c 3000 /dev/urandom >"$t/garbage.head"
expect 2 "garbage head file" "not a signed head" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/garbage.head"
head -n 3 "$t/a.head" >"$t/nosig.head"
expect 2 "a head with no signature block" "--head" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/nosig.head"
expect 2 "missing head file" "--head" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/nope.head"
expect 2 "--witness without --head" -- V "$t/a.ledger" --pubkey "$t/a.pub" --witness "$t/w.pub"
expect 2 "--witness with a secret key file" "--witness" -- V "$t/a.ledger" --pubkey "$t/a.pub" --head "$t/a.head" --witness "$t/w.key"
expect 2 "head without --key" -- "$sp" head "$t/a.ledger"
expect 2 "head of a missing ledger" -- "$sp" head "$t/nope.ledger" --key "$t/a.key"
expect 1 "head refuses records not signed by its key" "not signed\|no signature" -- "$sp" head "$t/a.ledger" --key "$t/b.key"
expect 2 "head with a bad name" -- "$sp" head "$t/a.ledger" --key "$t/a.key" --name "a b"
expect 2 "cosign a garbage head" -- "$sp" cosign "$t/garbage.head" --key "$t/w.key"
expect 2 "cosign --state without --pubkey" -- "$sp" cosign "$t/a.head" --key "$t/w.key" --state "$t/w.state"
echo "not a state" >"$t/bad.state"
expect 2 "cosign with a malformed state file" "--state" -- "$sp" cosign "$t/a.head" --key "$t/w.key" --pubkey "$t/a.pub" --state "$t/bad.state"
for c in head cosign; do expect 0 "$c --help" "usage" -- "$sp" $c --help; done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
