#!/usr/bin/env bash
# Command-line tests of keygen, log, record and verify (BRIEF.md contract, SPEC.md 7):
# an honest run verifies; every kind of tampering is exit 1 and named; unreadable
# input is exit 2 with one line on stderr. Env: BUILD (default build), PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-cli.XXXXXX)
trap 'rm -rf "$t"' EXIT
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
    bad "$name: output lacks '$pat': $(head -c 400 "$t/out" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}
V() { "$sp" verify "$@"; }

"$sp" keygen -o "$t/k" >/dev/null && "$sp" keygen -o "$t/other" >/dev/null || { bad keygen; exit 1; }
expect 2 "keygen refuses to overwrite" "exists" -- "$sp" keygen -o "$t/k"
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 11 --steps 60 --every 20 --out "$t/ck" --quiet \
  || { bad "tinytrain"; exit 1; }
expect 0 "honest run verifies" "VERIFIED" -- V "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" --model "$t/ck/final.safetensors"
expect 0 "log lists records" "genesis" -- "$sp" log "$t/run.ledger" --pubkey "$t/k.pub"
"$sp" log "$t/run.ledger" --json >"$t/log.json" && "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); k=[r["kind"] for r in d["records"]]
assert k[0]=="genesis" and k[-1]=="final" and k.count("checkpoint")==3, k' "$t/log.json" \
  && ok "log --json" || bad "log --json"

# --- tampering: exit 1, named ---
expect 1 "another key" "signature" -- V "$t/run.ledger" --pubkey "$t/other.pub"
cp -r "$t/ck" "$t/ck2"
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$t/ck2/step000040.safetensors"
expect 1 "a changed byte in a checkpoint file" "step 40" -- V "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck2"
rm "$t/ck2/step000020.safetensors"
expect 1 "a missing checkpoint file" "step 20" -- V "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck2"
cp "$t/ck/final.safetensors" "$t/m.safetensors"
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-5]^=0x40; open(p,"wb").write(b)' "$t/m.safetensors"
expect 1 "a changed byte in the model names its tensor" "changed tensor" -- V "$t/run.ledger" --pubkey "$t/k.pub" --model "$t/m.safetensors"
expect 0 "an intermediate checkpoint as model binds to its record" "checkpoint step 40" -- \
  V "$t/run.ledger" --pubkey "$t/k.pub" --model "$t/ck/step000040.safetensors"

# stored records edited through LMDB's own tools
mdb_dump -n -s records "$t/run.ledger" >"$t/dump" 2>/dev/null || bad "mdb_dump"
"$PY" - "$t" <<'PYEOF'
import sys
t = sys.argv[1]
lines = open(t + "/dump").read().split("\n")
start = lines.index("HEADER=END") + 1
data = [i for i in range(start, len(lines) - 1, 2) if lines[i].startswith(" ")]   # key lines
def w(name, ls): open(f"{t}/dump.{name}", "w").write("\n".join(ls))
for k, i in enumerate(data):                      # flip one byte in each record in turn
    ls = lines[:]; v = ls[i + 1]; m = len(v) // 3 * 2
    ls[i + 1] = v[:m] + ("0" if v[m] != "0" else "1") + v[m + 1:]
    w(f"flip{k}", ls)
ls = lines[:]; del ls[data[1]:data[1] + 2]; w("drop1", ls)          # drop a middle record
ls = lines[:]; del ls[data[-2]:data[-2] + 4]; w("droplast", ls)     # drop the last two
ls = lines[:]; ls[data[1] + 1], ls[data[2] + 1] = ls[data[2] + 1], ls[data[1] + 1]; w("swap", ls)
ls = lines[:]; del ls[data[0]:data[0] + 2]; w("nogenesis", ls)
ls = lines[:]; v = ls[data[2] + 1]; ls[data[2] + 1] = v[: len(v) // 2]; w("truncated", ls)

PYEOF
for f in "$t"/dump.flip* "$t/dump.drop1" "$t/dump.swap" "$t/dump.nogenesis" "$t/dump.truncated"; do
  k=$(basename "$f")
  # a whole ledger again: meta from the original, records from the edited dump
  mdb_dump -n -s meta "$t/run.ledger" | mdb_load -n -s meta "$t/$k.ledger" 2>/dev/null
  mdb_load -n -s records -f "$f" "$t/$k.ledger" 2>/dev/null
  expect 1 "record edit $k" "record" -- V "$t/$k.ledger" --pubkey "$t/k.pub"
done
# dropping the last records is invisible to the chain alone, but not to the model binding
mdb_dump -n -s meta "$t/run.ledger" | mdb_load -n -s meta "$t/droplast.ledger" 2>/dev/null
mdb_load -n -s records -f "$t/dump.droplast" "$t/droplast.ledger" 2>/dev/null
expect 1 "a dropped final record unbinds the model" "model" -- V "$t/droplast.ledger" --pubkey "$t/k.pub" --model "$t/ck/final.safetensors"

# --- not from scratch ---
"$tt" --ledger "$t/imp.ledger" --key "$t/k.key" --seed 11 --steps 20 --every 10 --out "$t/imp" --quiet \
  --init-from "$t/ck/final.safetensors" || bad "impostor run"
expect 1 "impostor: scheme external named" "external" -- V "$t/imp.ledger" --pubkey "$t/k.pub"
# a genesis that claims a scheme its tensors do not come from
"$sp" record genesis --ledger "$t/lie.ledger" --key "$t/k.key" --seed 11 --no-regenerate --scheme '*=uniform:-0.1:0.1' \
  "$t/ck/final.safetensors" >/dev/null || bad "record genesis"
expect 1 "a genesis that does not regenerate" "does not regenerate" -- V "$t/lie.ledger" --pubkey "$t/k.pub"
# the honest file-only flow: genesis from the step-0 file tinytrain can write, then checkpoints
expect 0 "record checkpoint" -- "$sp" record checkpoint --ledger "$t/lie.ledger" --key "$t/k.key" --step 20 "$t/ck/step000020.safetensors"
expect 2 "record checkpoint out of order" -- "$sp" record checkpoint --ledger "$t/lie.ledger" --key "$t/k.key" --step 10 "$t/ck/step000020.safetensors"
expect 2 "record with another key refuses to resume" -- "$sp" record final --ledger "$t/lie.ledger" --key "$t/other.key" --step 60 "$t/ck/final.safetensors"
expect 2 "record genesis into a used ledger" -- "$sp" record genesis --ledger "$t/lie.ledger" --key "$t/k.key" --seed 1 "$t/ck/final.safetensors"

# --- unreadable input: exit 2, one line ---
head -c 65536 /dev/urandom >"$t/garbage"
expect 2 "garbage ledger" -- V "$t/garbage" --pubkey "$t/k.pub"
for n in 100 5000 8192 12000 $(( $(stat -c %s "$t/run.ledger") - 4096 )); do
  head -c $n "$t/run.ledger" >"$t/short.ledger"
  expect 2 "ledger truncated to $n bytes" -- V "$t/short.ledger" --pubkey "$t/k.pub"
done
: >"$t/empty.ledger"
expect 2 "empty ledger file" -- V "$t/empty.ledger" --pubkey "$t/k.pub"
expect 2 "missing ledger" -- V "$t/none.ledger" --pubkey "$t/k.pub"
[ -e "$t/none.ledger-lock" ] && bad "a missing ledger got a lock file" || ok "no lock file for a missing ledger"
expect 2 "directory as ledger" -- V "$t" --pubkey "$t/k.pub"
expect 2 "secret key given as --pubkey" -- V "$t/run.ledger" --pubkey "$t/k.key"
expect 2 "garbage key" -- V "$t/run.ledger" --pubkey "$t/garbage"
expect 2 "missing --pubkey" -- V "$t/run.ledger"
expect 2 "unknown option" -- V "$t/run.ledger" --pubkey "$t/k.pub" --frob
expect 2 "unknown command" -- "$sp" frobnicate
expect 2 "no command" -- "$sp"
expect 0 "--help" "usage" -- "$sp" --help
for c in keygen log record verify audit; do expect 0 "$c --help" "usage" -- "$sp" $c --help; done
# safetensors files that lie about themselves, as --model
"$PY" - "$t" <<'PYEOF'
import json, struct, sys
t = sys.argv[1]
def st(name, header, data=b"", raw=None):
    h = raw if raw is not None else json.dumps(header).encode()
    open(f"{t}/{name}.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
st("past_end", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
st("overlap", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
st("dtype_len", {"a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
st("badjson", None, b"", raw=b"{not json")
open(f"{t}/huge.safetensors", "wb").write(struct.pack("<Q", 1 << 62) + b"{}")
PYEOF
for k in past_end overlap dtype_len badjson huge; do
  expect 2 "lying safetensors: $k" -- V "$t/run.ledger" --pubkey "$t/k.pub" --model "$t/$k.safetensors"
done
chmod 644 "$t/k.key"
expect 2 "tinytrain refuses a world-readable key" -- "$tt" --ledger "$t/x.ledger" --key "$t/k.key" --seed 1 --steps 2 --every 1 --out "$t/x" --quiet
chmod 600 "$t/k.key"
# --- an int8 model with its scales binds as stored (the audit's dequantised view is not what
# a record holds): --model and --checkpoints, and a changed int8 byte is named ---
mkdir -p "$t/q8ck"
"$PY" - "$t/q8ck/step000001.safetensors" <<'EOF2' || bad "write the int8 model"
import json, struct, sys
w = bytes((i * 7) % 256 for i in range(64)); s = struct.pack("<8f", *[0.01 * (i + 1) for i in range(8)])
h = {"lin.weight": {"dtype": "I8", "shape": [8, 8], "data_offsets": [0, 64]},
     "lin.weight_scale": {"dtype": "F32", "shape": [8], "data_offsets": [64, 96]},
     "lin.bias": {"dtype": "F32", "shape": [8], "data_offsets": [96, 128]}}
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + w + s + bytes(32))
EOF2
"$sp" record genesis --ledger "$t/q8.ledger" --key "$t/k.key" --seed 1 --external "$t/q8ck/step000001.safetensors" >/dev/null \
  && "$sp" record final --ledger "$t/q8.ledger" --key "$t/k.key" --step 0 "$t/q8ck/step000001.safetensors" >/dev/null \
  || bad "record the int8 model"
V "$t/q8.ledger" --pubkey "$t/k.pub" --model "$t/q8ck/step000001.safetensors" >"$t/out" 2>&1
grep -q "ok    model .*bound to record 1 (final step 0), all 3 tensors" "$t/out" && ok "an int8 model with scales binds with --model" \
  || bad "int8 --model: $(grep model "$t/out")"
"$sp" record genesis --ledger "$t/q8c.ledger" --key "$t/k.key" --seed 1 --external "$t/q8ck/step000001.safetensors" >/dev/null \
  && "$sp" record checkpoint --ledger "$t/q8c.ledger" --key "$t/k.key" --step 1 "$t/q8ck/step000001.safetensors" >/dev/null \
  || bad "record the int8 checkpoint"
V "$t/q8c.ledger" --pubkey "$t/k.pub" --checkpoints "$t/q8ck" --allow-incomplete >"$t/out" 2>&1
grep -q "ok    checkpoint-file    record 1 (checkpoint step 1) bound to" "$t/out" && ok "an int8 checkpoint binds with --checkpoints" \
  || bad "int8 --checkpoints: $(grep checkpoint-file "$t/out")"
cp "$t/q8ck/step000001.safetensors" "$t/q8x.safetensors"
"$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(-100, 2); b = f.read(1); f.seek(-100, 2); f.write(bytes([b[0] ^ 1]))' "$t/q8x.safetensors"
V "$t/q8.ledger" --pubkey "$t/k.pub" --model "$t/q8x.safetensors" >"$t/out" 2>&1
grep -q "changed tensor 'lin.weight'" "$t/out" && ok "a changed int8 byte is named" || bad "int8 changed: $(grep model "$t/out")"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
