#!/usr/bin/env bash
# The version-2 kinds uniform32 and normal32 (SPEC.md 6.8) through the command line:
# `scratchproof init` writes them (F32, BF16, F16), `record genesis` regenerates and
# records them, `verify` regenerates them again (exit 0); a file made with normal32 is
# not normal (nor the reverse), a normal32 std that rounds to 0 in binary32 is a usage
# error, and a genesis recorded unchecked with the wrong kind fails verify. Env: BUILD.
set -u
B=$(cd "${BUILD:-build}" && pwd)
sp=$B/scratchproof
t=$(mktemp -d /tmp/sp-init32.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
expect() {   # expect CODE NAME [GREP] -- CMD...
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then
    bad "$name: exit $got, wanted $want: $(head -c 400 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(head -c 400 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}

"$sp" keygen -o "$t/k" >/dev/null 2>&1 || { bad "keygen"; echo "$pass passed, $fail failed"; exit 1; }
cat >"$t/layout.txt" <<'L'
blocks.0.attn.weight 96x64
blocks.0.mlp.weight  64x33 BF16
head.weight          17x9 F16
head.bias            17
norm.weight          64
L
schemes=(--scheme '*.weight=normal32:0:0.02' --scheme 'head.bias=uniform32:-0.1:0.1'
         --scheme 'norm.weight=constant:1')
expect 0 "init writes normal32 and uniform32 tensors" -- \
  "$sp" init --seed 7 --layout "$t/layout.txt" -o "$t/init.safetensors" "${schemes[@]}"

# the bytes are the reference's (tests/init_reference.py)
/usr/bin/python3 - "$t/init.safetensors" "$(dirname "$0")/.." <<'PY' && ok "init's bytes equal the Python reference" || bad "init's bytes differ from the reference"
import json, struct, sys
sys.path.insert(0, sys.argv[2])
import init_reference as iref
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
def get(k):
    s, e = h[k]["data_offsets"]; return b[8 + n + s:8 + n + e]
dt = {"F32": iref.F32, "BF16": iref.BF16, "F16": iref.F16}
for name, kind, p in (("blocks.0.attn.weight", iref.NORMAL32, (0.0, 0.02, 0.0, 0.0)),
                      ("blocks.0.mlp.weight", iref.NORMAL32, (0.0, 0.02, 0.0, 0.0)),
                      ("head.weight", iref.NORMAL32, (0.0, 0.02, 0.0, 0.0)),
                      ("head.bias", iref.UNIFORM32, (-0.1, 0.1, 0.0, 0.0))):
    cnt = 1
    for d in h[name]["shape"]:
        cnt *= d
    want = iref.fill(kind, p, dt[h[name]["dtype"]], 7, name.encode(), 0, cnt)
    assert get(name) == want, name
PY

expect 0 "record genesis regenerates the *32 tensors" "recorded genesis of 5 tensors" -- \
  "$sp" record genesis --ledger "$t/run.ledger" --key "$t/k.key" --seed 7 "${schemes[@]}" "$t/init.safetensors"
expect 0 "verify regenerates them" "all 5 initial tensors regenerated" -- \
  "$sp" verify "$t/run.ledger" --pubkey "$t/k.pub" --allow-incomplete
expect 2 "a normal32 file is not normal" "tensor 'blocks.0.attn.weight' is not scheme normal:0:0.02" -- \
  "$sp" record genesis --ledger "$t/r2.ledger" --key "$t/k.key" --seed 7 \
  --scheme '*.weight=normal:0:0.02' --scheme 'head.bias=uniform32:-0.1:0.1' \
  --scheme 'norm.weight=constant:1' "$t/init.safetensors"
expect 0 "init writes the same layout with normal and uniform" -- \
  "$sp" init --seed 7 --layout "$t/layout.txt" -o "$t/v1.safetensors" \
  --scheme '*.weight=normal:0:0.02' --scheme 'head.bias=uniform:-0.1:0.1' --scheme 'norm.weight=constant:1'
expect 2 "a uniform file is not uniform32" "tensor 'head.bias' is not scheme uniform32:-0.1:0.1 from seed 7" -- \
  "$sp" record genesis --ledger "$t/r3.ledger" --key "$t/k.key" --seed 7 \
  --scheme '*.weight=normal:0:0.02' --scheme 'head.bias=uniform32:-0.1:0.1' \
  --scheme 'norm.weight=constant:1' "$t/v1.safetensors"
expect 2 "normal32 with a std that rounds to 0 in binary32 is refused" "normal32:0:1e-50" -- \
  "$sp" init --seed 7 --layout "$t/layout.txt" -o "$t/bad.safetensors" --scheme '*=normal32:0:1e-50'
expect 2 "normal32 takes two parameters" "--scheme wants GLOB=SCHEME" -- \
  "$sp" init --seed 7 --layout "$t/layout.txt" -o "$t/bad.safetensors" --scheme '*=normal32:0'
# a genesis recorded unchecked with the wrong kind is caught by verify (exit 1)
expect 0 "a lying genesis can be recorded with --no-regenerate" -- \
  "$sp" record genesis --ledger "$t/lie.ledger" --key "$t/k.key" --seed 7 --no-regenerate \
  --scheme '*.weight=normal:0:0.02' --scheme 'head.bias=uniform32:-0.1:0.1' \
  --scheme 'norm.weight=constant:1' "$t/init.safetensors"
expect 1 "verify refuses it, naming the tensor" "blocks.0.attn.weight" -- \
  "$sp" verify "$t/lie.ledger" --pubkey "$t/k.pub" --allow-incomplete
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
