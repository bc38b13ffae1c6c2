#!/usr/bin/env bash
# tests/cli/audit_quant.sh - `scratchproof audit` on quantised, float8,
# integer and bit-cast models (SPEC.md 10.1), the command's long options
# (--flag=value, errors naming flag and value, -V), and the HTML report at
# 200 tensors (natural order, unpaired reasons, the "what this shows" text,
# tool version, date and each input file's SHA-256 and BLAKE2b-256, checked
# against sha256sum and b2sum; rendered by headless Chromium at 1200 and 420
# px when installed). Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
SP=$B/scratchproof
TT=$B/tinytrain
Q="$PY tests/audit_quant.py"
t=$(mktemp -d /tmp/sp-audit-quant.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }
expect() {
  local want=$1 name=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"
  else bad "$name: exit $got, wanted $want; stderr: $(head -c 300 "$t/err" | tr '\n' ' ')"; fi
}
# check NAME PYTHON-ASSERTIONS : runs assertions on the JSON in $t/out as d
check() {
  local name=$1 code=$2
  if "$PY" - "$t/out" >"$t/chk" 2>&1 <<PYEOF
import json, sys
d = json.load(open(sys.argv[1]))
comp = {c["name"]: c for c in d["components"]}
tens = {t["name"]: t for t in d["tensors"]}
$code
PYEOF
  then ok "$name"; else bad "$name: $(tail -n 2 "$t/chk" | tr '\n' ' ')"; fi
}

for f in "$SP" "$TT"; do [ -x "$f" ] || { bad "missing $f (make first)"; finish; }; done
"$SP" keygen -o "$t/k" >/dev/null 2>&1 || { bad "keygen"; finish; }
train() {
  local s=$1 o=$2; shift 2
  "$TT" --ledger "$t/l$s" --key "$t/k.key" --seed "$s" --steps 200 --every 200 --out "$o" \
    --quiet --threads 1 "$@" >/dev/null 2>&1
}
train 1 "$t/m1" & train 2 "$t/m2"; wait
train 9 "$t/ft" --init-from "$t/m1/final.safetensors"
M1=$t/m1/final.safetensors M2=$t/m2/final.safetensors FT=$t/ft/final.safetensors
for f in "$M1" "$M2" "$FT"; do [ -f "$f" ] || { bad "tinytrain did not write $f"; finish; }; done

# ---------------------------------------------------------------- quantised copies
for v in "channel dot" "tensor under" "group weight --zero"; do
  set -- $v
  o=$t/q-$1.safetensors zero=${3:-}
  $Q int8 "$FT" "$o" --layout "$1" --naming "$2" $zero || bad "audit_quant.py int8 $v"
  expect 1 "int8 ($v) of a fine-tune is derived" "$SP" audit "$o" --ref "$M1" --json
  check "int8 ($v): dequantised with its scale, scales absorbed, fc1 derived" "
assert comp['fc1']['derived'] and comp['head']['derived'], comp
w = tens['fc1.weight']
assert w['read_as'] == 'dequantised' and w['dtype'] in ('I8', 'U8'), w
assert w['scale'] and 'scale' in w['scale'], w
assert not any('scale' in n or 'zero_point' in n for n in tens), list(tens)
assert ('$zero' == '--zero') == (w['zero_point'] is not None), w"
  expect 0 "int8 ($v) against an independent model: not derived" "$SP" audit "$o" --ref "$M2"
done
$Q int8raw "$FT" "$t/raw.safetensors"
expect 1 "I8 without scales (integer values) is derived" "$SP" audit "$t/raw.safetensors" --ref "$M1" --json
check "I8 without scales: read as integer values" 'assert tens["fc1.weight"]["read_as"] == "integer_values"'
$Q bitcast "$FT" "$t/bc.safetensors"
expect 1 "F32 bit-cast to I32 is flagged and derived" "$SP" audit "$t/bc.safetensors" --ref "$M1" --json
check "bit-cast: read as F32" '
w = tens["fc1.weight"]
assert w["dtype"] == "I32" and w["read_as"] == "bitcast" and w["bitcast_as"] == "F32", w
assert w["paired_by"] == "name"'
for f8 in F8_E4M3 F8_E5M2; do
  $Q f8 "$FT" "$t/$f8.safetensors" --dtype $f8
  expect 1 "$f8 copy is read and derived" "$SP" audit "$t/$f8.safetensors" --ref "$M1"
  expect 0 "$f8 copy against an independent model: not derived" "$SP" audit "$t/$f8.safetensors" --ref "$M2"
done
$Q ints "$t/ints.safetensors"
expect 3 "a model of integer and boolean tensors only is inconclusive" "$SP" audit "$t/ints.safetensors" --ref "$M1" --json
check "unpaired tensors carry their reason" '
assert "dtype I64 is not compared" in tens["pos.ids"]["unpaired_reason"], tens["pos.ids"]
assert "BOOL" in tens["attn.mask"]["unpaired_reason"]'
expect 3 "a float model against an integer-only reference is inconclusive" "$SP" audit "$M2" --ref "$t/ints.safetensors" --json
check "reason: no float tensor of that shape" '
assert "no float tensor of shape 256x512" in tens["fc1.weight"]["unpaired_reason"], tens["fc1.weight"]'

# ---------------------------------------------------------------- the command's options
expect 0 "--ref=FILE works" "$SP" audit "$M2" --ref="$M1"
expect 0 "options before MODEL, --threads=1 --alpha=1e-6" "$SP" audit --threads=1 --alpha=1e-6 --ref "$M1" "$M2"
expect 2 "--threads=abc refused" "$SP" audit "$M2" --ref "$M1" --threads=abc
grep -q -- "--threads abc" "$t/err" && ok "error names the flag and its value" || bad "error line: $(cat "$t/err")"
expect 2 "--alpha 2 refused" "$SP" audit "$M2" --ref "$M1" --alpha 2
grep -q -- "--alpha 2" "$t/err" && ok "--alpha error names the value" || bad "alpha error: $(cat "$t/err")"
expect 2 "--json=1 refused" "$SP" audit "$M2" --ref "$M1" --json=1
grep -q "takes no value" "$t/err" && ok "--json=1: takes no value" || bad "json=1 error: $(cat "$t/err")"
expect 2 "--ref without a value" "$SP" audit "$M2" --ref
grep -q -- "--ref needs a value" "$t/err" && ok "missing value names the flag" || bad "missing value: $(cat "$t/err")"
expect 2 "unknown --bogus" "$SP" audit "$M2" --ref "$M1" --bogus
[ "$(wc -l <"$t/err")" = 1 ] && ok "one error line" || bad "error lines: $(cat "$t/err")"
expect 0 "audit -V" "$SP" audit -V
grep -q "^scratchproof [0-9]" "$t/out" && ok "-V prints the version" || bad "-V: $(cat "$t/out")"

# ---------------------------------------------------------------- HTML at 200 tensors
$Q layers "$t/L1.safetensors" --layers 25 --seed 1 && $Q layers "$t/L2.safetensors" --layers 25 --seed 2 &&
  $Q layers "$t/Lft.safetensors" --layers 25 --seed 3 --from "$t/L1.safetensors" --noise 0.5 &&
  $Q int8 "$t/Lft.safetensors" "$t/Lq.safetensors" --layout channel --naming weight || bad "layers corpus"
expect 1 "int8 copy of a 203-tensor model is derived, with --html" \
  "$SP" audit "$t/Lq.safetensors" --ref "$t/L1.safetensors" --ref "$t/L2.safetensors" --html "$t/r.html" --json
check "JSON: 203 tensors per reference, files with both digests" '
assert len(tens) == 203 and d["derived"], len(tens)
assert comp["model.layers"]["derived_from"].endswith("L1.safetensors"), comp["model.layers"]
assert d["tool"].startswith("scratchproof ") and d["date"].endswith("Z")
assert [f["role"] for f in d["files"]] == ["model", "reference 1", "reference 2"], d["files"]'
H=$t/r.html
sha=$(sha256sum "$t/Lq.safetensors" | cut -d" " -f1) b2=$(b2sum -l 256 "$t/Lq.safetensors" | cut -d" " -f1)
grep -q "$sha" "$H" && ok "HTML carries the model's SHA-256 (as sha256sum)" || bad "SHA-256 $sha not in the page"
grep -q "$b2" "$H" && ok "HTML carries the model's BLAKE2b-256 (as b2sum -l 256)" || bad "BLAKE2b $b2 not in the page"
sha=$(sha256sum "$t/L2.safetensors" | cut -d" " -f1)
grep -q "$sha" "$H" && ok "HTML carries the second reference's SHA-256" || bad "reference SHA-256 missing"
grep -q "What this shows, and what it does not" "$H" && grep -q "not</strong> show which" "$H" &&
  ok "HTML says what the verdict shows and does not" || bad "no plain-words paragraph"
grep -Eq "scratchproof [0-9]+\.[0-9]+" "$H" && grep -Eq "[0-9]{4}-[0-9]{2}-[0-9]{2}T" "$H" &&
  ok "HTML carries the tool version and date" || bad "no version or date"
grep -q 'name="viewport"' "$H" && grep -q 'class="scroll"' "$H" && ok "HTML is made for narrow screens" || bad "no viewport"
! grep -Eq "https?://|<script" "$H" && ok "HTML is self-contained" || bad "network reference or script in the page"
n2=$(grep -n ">model.layers.2.mlp.down_proj.weight<" "$H" | head -1 | cut -d: -f1)
n10=$(grep -n ">model.layers.10.mlp.down_proj.weight<" "$H" | head -1 | cut -d: -f1)
[ -n "$n2" ] && [ -n "$n10" ] && [ "$n2" -lt "$n10" ] && ok "natural order: layer 2 before layer 10" ||
  bad "natural order: line of layer 2 $n2, layer 10 $n10"
charts=$(grep -c "<svg" "$H")
[ "$charts" -ge 8 ] && ok "small multiples: $charts charts for 2 references" || bad "only $charts charts"
"$SP" audit "$t/ints.safetensors" --ref "$M1" --html "$t/u.html" >/dev/null 2>&1
grep -q "dtype I64 is not compared" "$t/u.html" && ok "HTML gives the unpaired reason" || bad "no reason in the HTML"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  for w in 1200 420; do
    prof=$(mktemp -d "$t/chrome.XXXXXX")
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$prof" --screenshot="$t/r$w.png" --window-size=$w,1600 \
      "file://$H" >/dev/null 2>&1
    if [ -s "$t/r$w.png" ] && [ "$(stat -c %s "$t/r$w.png")" -gt 20000 ]; then
      ok "headless Chromium renders 200 tensors at $w px ($(stat -c %s "$t/r$w.png") bytes of PNG)"
    else bad "headless Chromium at $w px wrote no screenshot"; fi
  done
else
  echo "SKIP headless Chromium rendering (apt-get install chromium)"
fi
finish
