#!/usr/bin/env bash
# Command-line tests of key files (SPEC.md 4): the encrypted-key vector against its
# independent Python model (tests/keys_reference.py), keygen's choice between plain and
# encrypted, every passphrase source (file, descriptor, terminal under util-linux
# `script`), tinytrain and record loading encrypted keys, wrong passphrases and damaged
# files (exit 2, one line), symbolic links refused, and a record whose signature verifies
# but names another keyid (exit 1, named). Env: BUILD (default build), PYTHON.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-keys.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# expect CODE NAME [GREP] -- CMD...: exit code, and GREP (if given) in stdout+stderr
expect() {
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err" </dev/null; local got=$?
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
size() { stat -c %s "$1" 2>/dev/null; }
mode() { stat -c %a "$1" 2>/dev/null; }
unset SCRATCHPROOF_PASSPHRASE_FILE SCRATCHPROOF_PASSPHRASE_FD
export SCRATCHPROOF_KDF_COST=interactive   # 64 MiB, two passes: cheap enough for tests
TT() { "$tt" --seed 3 --steps 4 --every 2 --quiet "$@"; }

# --- the SPEC.md 4.6 vector: Python model == tests/test_keys.c == SPEC.md ---
if "$PY" tests/keys_reference.py >"$t/ref.txt"; then
  "$PY" - "$t/ref.txt" <<'PYEOF' && ok "vector: keys_reference.py, test_keys.c and SPEC.md agree" || bad "vector mismatch"
import re, sys
ref = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines())
c = open("tests/test_keys.c").read()
spec = open("SPEC.md").read()
for name in ("INTERACTIVE", "MIN"):
    m = re.search(r'static const char \*VEC_%s =\s*((?:"[^"]*"\s*)+);' % name, c)
    lit = "".join(re.findall(r'"([^"]*)"', m.group(1))).replace("\\n", "\n")
    text = ref["VECTOR_%s_TEXT" % name]
    assert lit == text + "\n", (name, lit, text)
    assert bytes.fromhex(ref["VECTOR_%s_HEX" % name]) == (text + "\n").encode()
    assert text in spec, "SPEC.md lacks the %s vector" % name
    assert ref["VECTOR_%s_ARGON2ID" % name] in spec, "SPEC.md lacks the %s Argon2id key" % name
blobs = ["".join(b.split()) for b in re.findall(r"^blob((?:\s+[0-9a-f]{8,}\n)+)", spec, re.M)]
assert blobs == [ref["VECTOR_INTERACTIVE_BLOB"], ref["VECTOR_MIN_BLOB"]], blobs
PYEOF
else
  bad "keys_reference.py failed"
fi

# --- keygen: plain without a source, encrypted with one ---
expect 0 "keygen without a passphrase source writes a plain key" "not encrypted" -- "$sp" keygen -o "$t/plain"
[ "$(size "$t/plain.key")" = 76 ] && [ "$(mode "$t/plain.key")" = 600 ] && ok "plain key: 76 bytes, mode 600" \
  || bad "plain key: $(size "$t/plain.key") bytes, mode $(mode "$t/plain.key")"
printf 'open sesame\n' >"$t/pw"; chmod 600 "$t/pw"
printf 'open sesamE\n' >"$t/wrong"; chmod 600 "$t/wrong"
expect 0 "keygen with SCRATCHPROOF_PASSPHRASE_FILE encrypts" "encrypted: Argon2id interactive" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$sp" keygen -o "$t/enc"
[ "$(size "$t/enc.key")" = 176 ] && [ "$(mode "$t/enc.key")" = 600 ] && ok "encrypted key: 176 bytes, mode 600" \
  || bad "encrypted key: $(size "$t/enc.key") bytes, mode $(mode "$t/enc.key")"
grep -q '^scratchproof-ed25519-secret-enc-v1 ' "$t/enc.key" && ok "encrypted key header" || bad "encrypted key header"
grep -q "$(cut -d' ' -f2 "$t/plain.key")" "$t/enc.key" && bad "seed in the clear" || ok "no base64 seed in the encrypted file"
# the independent model opens what the C code wrote, to the key of enc.pub
pub=$("$PY" tests/keys_reference.py --open "$t/enc.key" "$t/pw")
[ "scratchproof-ed25519-public-v1 $pub" = "$(cat "$t/enc.pub")" ] && ok "keys_reference.py opens keygen's file" \
  || bad "keys_reference.py: '$pub' vs $(cat "$t/enc.pub")"
"$PY" tests/keys_reference.py --open "$t/enc.key" "$t/wrong" >/dev/null && bad "reference opened with a wrong passphrase" \
  || ok "keys_reference.py refuses the wrong passphrase"
expect 0 "keygen --passphrase-fd" "encrypted" -- bash -c '"$0" keygen -o "$1" --passphrase-fd 3 3<"$2"' "$sp" "$t/fd" "$t/pw"
pub=$("$PY" tests/keys_reference.py --open "$t/fd.key" "$t/pw")
[ "scratchproof-ed25519-public-v1 $pub" = "$(cat "$t/fd.pub")" ] && ok "--passphrase-fd key opens" || bad "--passphrase-fd key"
expect 0 "keygen with SCRATCHPROOF_PASSPHRASE_FD" "encrypted" -- \
  bash -c 'SCRATCHPROOF_PASSPHRASE_FD=4 "$0" keygen -o "$1" 4<"$2"' "$sp" "$t/envfd" "$t/pw"
expect 0 "keygen --kdf-cost moderate (flag over the variable)" "moderate, 3 passes over 256 MiB" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$sp" keygen -o "$t/mod" --kdf-cost moderate
expect 0 "keygen --no-passphrase ignores a source" "not encrypted" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$sp" keygen -o "$t/nopass" --no-passphrase
[ "$(size "$t/nopass.key")" = 76 ] && ok "--no-passphrase key is plain" || bad "--no-passphrase key size $(size "$t/nopass.key")"
expect 2 "keygen --passphrase without a source" "no passphrase source" -- "$sp" keygen -o "$t/x1" --passphrase
expect 2 "keygen --passphrase --no-passphrase" "exclude" -- "$sp" keygen -o "$t/x2" --passphrase --no-passphrase
expect 2 "keygen --kdf-cost unknown" "--kdf-cost: unknown cost" -- "$sp" keygen -o "$t/x3" --kdf-cost cheap
expect 2 "SCRATCHPROOF_KDF_COST unknown" "SCRATCHPROOF_KDF_COST: unknown cost" -- \
  env SCRATCHPROOF_KDF_COST=huge "$sp" keygen -o "$t/x4"
expect 2 "keygen --passphrase-fd not open" "not an open file descriptor" -- "$sp" keygen -o "$t/x5" --passphrase-fd 9
expect 2 "keygen --passphrase-fd not a number" "not a file descriptor number" -- "$sp" keygen -o "$t/x6" --passphrase-fd x
: >"$t/empty"; chmod 600 "$t/empty"
expect 2 "keygen with an empty passphrase file" "empty passphrase" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/empty" "$sp" keygen -o "$t/x7"
chmod 644 "$t/pw"
expect 2 "a group/world-readable passphrase file" "permissions too open" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$sp" keygen -o "$t/x8"
chmod 600 "$t/pw"
ls "$t"/x[0-9]* >/dev/null 2>&1 && bad "failed keygens left files: $(ls "$t"/x[0-9]*)" || ok "failed keygens leave no files"
expect 0 "keygen --help says when keys are encrypted" "plain when none is" -- "$sp" keygen --help

# --- loading encrypted keys: tinytrain (the library) and record ---
expect 0 "tinytrain with SCRATCHPROOF_PASSPHRASE_FILE" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$tt" --ledger "$t/a.ledger" --key "$t/enc.key" --seed 3 --steps 4 --every 2 --out "$t/a" --quiet
expect 0 "the ledger verifies under enc.pub" "VERIFIED" -- "$sp" verify "$t/a.ledger" --pubkey "$t/enc.pub"
expect 0 "tinytrain with SCRATCHPROOF_PASSPHRASE_FD" -- \
  bash -c 'SCRATCHPROOF_PASSPHRASE_FD=3 "$0" --ledger "$1" --key "$2" --seed 3 --steps 4 --every 2 --out "$3" --quiet 3<"$4"' \
  "$tt" "$t/b.ledger" "$t/enc.key" "$t/b" "$t/pw"
expect 2 "tinytrain: wrong passphrase" "wrong passphrase or damaged key file $t/enc.key" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/wrong" "$tt" --ledger "$t/c.ledger" --key "$t/enc.key" --seed 3 --steps 4 --every 2 --out "$t/c" --quiet
expect 2 "tinytrain: encrypted key, no source" "is encrypted" -- \
  "$tt" --ledger "$t/d.ledger" --key "$t/enc.key" --seed 3 --steps 4 --every 2 --out "$t/d" --quiet
expect 0 "record genesis --passphrase-fd" "recorded genesis" -- \
  bash -c '"$0" record genesis --ledger "$1" --key "$2" --seed 3 --passphrase-fd 3 "$3" 3<"$4"' \
  "$sp" "$t/r.ledger" "$t/enc.key" "$t/a/final.safetensors" "$t/pw"
expect 2 "record: wrong passphrase" "wrong passphrase or damaged key file" -- \
  bash -c '"$0" record checkpoint --ledger "$1" --key "$2" --step 2 --passphrase-fd 3 "$3" 3<"$4"' \
  "$sp" "$t/r.ledger" "$t/enc.key" "$t/a/final.safetensors" "$t/wrong"
expect 0 "record checkpoint with SCRATCHPROOF_PASSPHRASE_FILE" "recorded" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" "$sp" record checkpoint --ledger "$t/r.ledger" --key "$t/enc.key" --step 2 "$t/a/final.safetensors"
expect 0 "plain keys still work, whatever the source says" -- \
  env SCRATCHPROOF_PASSPHRASE_FILE="$t/wrong" "$tt" --ledger "$t/p.ledger" --key "$t/plain.key" --seed 3 --steps 4 --every 2 --out "$t/p" --quiet

# damaged encrypted files: exit 2, one line, never a crash
"$PY" - "$t/enc.key" "$t" <<'PYEOF'
import base64, sys
src, t = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
blob = bytearray(base64.b64decode(data[35:-1]))
for i in (0, 4, 12, 20, 40, 60, 103):            # version, cost, salt, nonce, ciphertext, tag
    b = bytearray(blob); b[i] ^= 1
    open(f"{t}/dmg{i}.key", "wb").write(data[:35] + base64.b64encode(bytes(b)) + b"\n")
open(f"{t}/dmgcut.key", "wb").write(data[:100])
PYEOF
for f in "$t"/dmg*.key; do
  chmod 600 "$f"
  expect 2 "damaged $(basename "$f")" "$f" -- env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" \
    "$sp" record genesis --ledger "$t/dmg.ledger" --key "$f" --seed 3 "$t/a/final.safetensors"
done
cp "$t/enc.key" "$t/open.key"; chmod 640 "$t/open.key"
expect 2 "group-readable encrypted key" "permissions too open" -- env SCRATCHPROOF_PASSPHRASE_FILE="$t/pw" \
  "$tt" --ledger "$t/e.ledger" --key "$t/open.key" --seed 3 --steps 4 --every 2 --out "$t/e" --quiet

# --- symbolic links ---
ln -s "$t/plain.key" "$t/link.key"; ln -s plain.pub "$t/link.pub"
expect 2 "tinytrain refuses a symlinked key" "symbolic link" -- \
  "$tt" --ledger "$t/f.ledger" --key "$t/link.key" --seed 3 --steps 4 --every 2 --out "$t/f" --quiet
expect 2 "record refuses a symlinked key" "symbolic link" -- \
  "$sp" record genesis --ledger "$t/g.ledger" --key "$t/link.key" --seed 3 "$t/a/final.safetensors"
expect 2 "verify refuses a symlinked public key" "symbolic link" -- "$sp" verify "$t/a.ledger" --pubkey "$t/link.pub"
expect 2 "keygen does not write through a dangling link" "exists" -- \
  bash -c 'ln -s "$1/nowhere" "$1/dl.key" && "$0" keygen -o "$1/dl"' "$sp" "$t"
[ -e "$t/nowhere" ] && bad "keygen wrote through a link" || ok "nothing written through the link"

# --- the terminal: util-linux script gives the command a pseudo-terminal ---
if command -v script >/dev/null 2>&1; then
  tty() { printf "$1" | script -qec "$2" /dev/null >"$t/tty.out" 2>&1; }
  tty 'tty pass\ntty pass\n' "$sp keygen -o $t/tty"
  [ $? = 0 ] && [ "$(size "$t/tty.key")" = 176 ] && ok "keygen on a terminal: asked twice, encrypted" \
    || bad "keygen on a terminal: $(tr '\n' ' ' <"$t/tty.out")"
  grep -q "Same passphrase again" "$t/tty.out" && ok "keygen asks for confirmation" || bad "no confirmation prompt"
  printf 'tty pass\n' >"$t/ttypw"; chmod 600 "$t/ttypw"
  pub=$("$PY" tests/keys_reference.py --open "$t/tty.key" "$t/ttypw")
  [ "scratchproof-ed25519-public-v1 $pub" = "$(cat "$t/tty.pub")" ] && ok "terminal passphrase opens the key" \
    || bad "terminal key: $pub"
  tty 'one\ntwo\n' "$sp keygen -o $t/ttyx"
  [ $? = 2 ] && [ ! -e "$t/ttyx.key" ] && grep -q "differ" "$t/tty.out" && ok "different confirmation: exit 2, nothing written" \
    || bad "mismatched confirmation: $(tr '\n' ' ' <"$t/tty.out")"
  tty '\n' "$sp keygen -o $t/ttyplain"
  [ $? = 0 ] && [ "$(size "$t/ttyplain.key")" = 76 ] && ok "empty answer on a terminal: plain key" \
    || bad "empty terminal answer: $(tr '\n' ' ' <"$t/tty.out")"
  tty 'tty pass\n' "$tt --ledger $t/h.ledger --key $t/tty.key --seed 3 --steps 4 --every 2 --out $t/h --quiet"
  [ $? = 0 ] && grep -q "Passphrase for $t/tty.key" "$t/tty.out" && ok "tinytrain asks on the terminal" \
    || bad "tinytrain on a terminal: $(tr '\n' ' ' <"$t/tty.out")"
  expect 0 "the terminal-keyed ledger verifies" "VERIFIED" -- "$sp" verify "$t/h.ledger" --pubkey "$t/tty.pub"
  tty 'wrong\n' "$tt --ledger $t/i.ledger --key $t/tty.key --seed 3 --steps 4 --every 2 --out $t/i --quiet"
  [ $? = 2 ] && grep -q "wrong passphrase or damaged key file" "$t/tty.out" && ok "tinytrain, wrong passphrase on a terminal: exit 2" \
    || bad "wrong terminal passphrase: $(tr '\n' ' ' <"$t/tty.out")"
else
  echo "SKIP terminal tests: util-linux script is not installed"
fi

# --- a signature that verifies but names another keyid (SPEC.md 4.4) ---
id=$("$sp" verify "$t/a.ledger" --pubkey "$t/enc.pub" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["keyid"])')
mdb_dump -n -s records "$t/a.ledger" >"$t/dump" 2>/dev/null || bad "mdb_dump"
"$PY" - "$t" "$id" <<'PYEOF'
import sys
t, kid = sys.argv[1], sys.argv[2]
lines = open(t + "/dump").read().split("\n")
start = lines.index("HEADER=END") + 1
keys = [i for i in range(start, len(lines) - 1, 2) if lines[i].startswith(" ")]
v = lines[keys[1] + 1]
h = kid.encode().hex()
assert v.count(h) == 1, "keyid not found once in record 1"
lines[keys[1] + 1] = v.replace(h, b"0000000000000000".hex())
open(t + "/dump.keyid", "w").write("\n".join(lines))
PYEOF
mdb_dump -n -s meta "$t/a.ledger" | mdb_load -n -s meta "$t/keyid.ledger" 2>/dev/null
mdb_load -n -s records -f "$t/dump.keyid" "$t/keyid.ledger" 2>/dev/null
expect 1 "a record re-labelled with another keyid is not verified" \
  "record 1: signature keyid 0000000000000000 is not the pinned key's id $id" -- \
  "$sp" verify "$t/keyid.ledger" --pubkey "$t/enc.pub"
expect 0 "log marks its signature INVALID" "sig INVALID" -- "$sp" log "$t/keyid.ledger" --pubkey "$t/enc.pub"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
