#!/usr/bin/env bash
# tests/cli/audit.sh - `scratchproof audit` end to end on a corpus it builds:
# independent tinytrain models, a fine-tune (--init-from), a permuted and
# renamed copy, bf16/f16 casts, a one-component splice, a sharded model, lying
# indexes; calibration over 21 independent pairs; the HTML report; PyTorch
# models when torch is installed. Env: BUILD (build dir), PYTHON.
set -u
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
SP=$B/scratchproof
TT=$B/tinytrain
STEPS=${AUDIT_STEPS:-200}
C="$PY tests/audit_corpus.py"
t=$(mktemp -d /tmp/sp-audit-test.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }
# expect CODE NAME CMD... : exit code of CMD; stdout kept in $t/out
expect() {
  local want=$1 name=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"
  else bad "$name: exit $got, wanted $want; stderr: $(head -c 300 "$t/err" | tr '\n' ' ')"; fi
}
# check NAME PYTHON-ASSERTIONS : runs assertions on the JSON in $t/out as d
check() {
  local name=$1 code=$2
  if "$PY" - "$t/out" >"$t/chk" 2>&1 <<EOF
import json, sys
d = json.load(open(sys.argv[1]))
comp = {c["name"]: c for c in d["components"]}
tens = {t["name"]: t for t in d["tensors"]}
$code
EOF
  then ok "$name"; else bad "$name: $(tail -n 2 "$t/chk" | tr '\n' ' ')"; fi
}

for f in "$SP" "$TT"; do [ -x "$f" ] || { bad "missing $f (make first)"; finish; }; done
"$SP" keygen -o "$t/k" >/dev/null 2>&1 || { bad "keygen"; finish; }

# ---------------------------------------------------------------- corpus
train() {  # train SEED OUT [--init-from FILE]
  local s=$1 o=$2; shift 2
  "$TT" --ledger "$t/l$s.$(basename "$o")" --key "$t/k.key" --seed "$s" --steps "$STEPS" \
    --every "$STEPS" --out "$o" --quiet --threads 1 "$@" >/dev/null 2>&1
}
pids=()
for s in 1 2 3 4 5 6 7; do
  train "$s" "$t/m$s" & pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait
for s in 1 2 3 4 5 6 7; do
  [ -f "$t/m$s/final.safetensors" ] || { bad "tinytrain seed $s did not write final.safetensors"; finish; }
done
train 99 "$t/ft" --init-from "$t/m1/final.safetensors" || bad "tinytrain --init-from"
M1=$t/m1/final.safetensors M2=$t/m2/final.safetensors FT=$t/ft/final.safetensors
$C permute "$FT" "$t/perm.safetensors" --seed 5 --rename &&
$C cast "$M1" "$t/bf16.safetensors" --dtype bf16 &&
$C cast "$M1" "$t/f16.safetensors" --dtype f16 &&
$C splice "$M2" "$M1" "$t/splice.safetensors" --prefix fc1. &&
$C shard "$FT" "$t/sharded" --parts 3 || { bad "building the corpus with audit_corpus.py"; finish; }

# ---------------------------------------------------------------- derived
expect 1 "fine-tune of the reference is derived" "$SP" audit "$FT" --ref "$M1" --json
check "fine-tune: every matrix component derived" '
assert d["derived"] is True
for c in ("embed", "fc1", "head"):     # floored at -log10(u!): 64 units allow 1e-89
    assert comp[c]["derived"] is True and comp[c]["log10_p"] < -80, comp[c]
assert comp["fc1"]["log10_p"] < -300 and comp["fc1"]["p"] == "< 1e-300", comp["fc1"]
for c in ("norm1", "norm2"):
    assert comp[c]["verdict"] == "uninformative", comp[c]'
expect 1 "hidden units permuted and tensors renamed: still derived" "$SP" audit "$t/perm.safetensors" --ref "$M1" --json
check "permuted+renamed: paired by content, matched statistic decides" '
assert d["derived"] is True
assert d["references"][0]["paired_by_content"] == 9, d["references"]
up = tens["layers.0.up.weight"]
assert up["ref_name"] == "fc1.weight" and up["paired_by"] == "content"
assert abs(up["pearson"]["value"]) < 0.1, up["pearson"]        # aligned: nothing
assert up["matched"]["value"] > 0.9 and up["matched"]["log10_p"] < -50, up["matched"]
assert comp["layers"]["derived"] and comp["lm_out"]["derived"]'
expect 1 "reference cast to bf16 is derived" "$SP" audit "$t/bf16.safetensors" --ref "$M1" --json
check "bf16: Pearson near 1" 'assert tens["fc1.weight"]["pearson"]["value"] > 0.999'
expect 1 "reference cast to f16 is derived" "$SP" audit "$t/f16.safetensors" --ref "$M1"
expect 1 "bf16 model as the reference" "$SP" audit "$FT" --ref "$t/bf16.safetensors"
expect 1 "one component copied into an independent model" "$SP" audit "$t/splice.safetensors" --ref "$M1" --json
check "splice: fc1 derived with its parameter share, the rest not" '
import math
n_fc1 = sum(math.prod(t["shape"]) for t in d["tensors"] if t["name"].startswith("fc1."))
n_all = sum(math.prod(t["shape"]) for t in d["tensors"])
assert n_fc1 > 0 and n_all == d["parameters"]
assert comp["fc1"]["derived"] is True, comp["fc1"]
assert comp["fc1"]["parameters"] == n_fc1, (comp["fc1"], n_fc1)
assert abs(comp["fc1"]["share"] - n_fc1 / n_all) < 1e-9, (comp["fc1"]["share"], n_fc1 / n_all)
for c in ("embed", "head"):
    assert comp[c]["derived"] is False and comp[c]["verdict"] == "not derived", comp[c]
assert sum(c["share"] for c in d["components"]) > 0.999999'
expect 1 "sharded model (index JSON) is derived" "$SP" audit "$t/sharded" --ref "$M1"
expect 1 "sharded model named by its index, as reference" "$SP" audit "$M1" --ref "$t/sharded/model.safetensors.index.json"
expect 1 "two references: derived from the second" "$SP" audit "$FT" --ref "$M2" --ref "$M1" --json
check "two references: names the right one" '
assert comp["fc1"]["derived_from"].endswith("m1/final.safetensors"), comp["fc1"]
by = {b["reference"].split("/")[-2]: b for b in comp["fc1"]["by_reference"]}
assert by["m1"]["derived"] and not by["m2"]["derived"], by'

# ---------------------------------------------------------------- not derived
expect 0 "independent seeds are not derived" "$SP" audit "$M2" --ref "$M1" --json
check "independent: norm weights near 1 raise no alarm" '
assert d["derived"] is False
nw = tens["norm1.weight"]
assert nw["cosine"]["value"] > 0.9, nw["cosine"]        # the 0.989-style raw cosine
assert nw["near_constant"] is True and nw["decides"] is False
assert comp["norm1"]["verdict"] == "uninformative" and comp["norm1"]["log10_p"] is None'
worst=0 npairs=0 ndrv=0
for i in 1 2 3 4 5 6 7; do for j in 1 2 3 4 5 6 7; do
  [ "$i" -lt "$j" ] || continue
  "$SP" audit "$t/m$i/final.safetensors" --ref "$t/m$j/final.safetensors" --json >"$t/cal" 2>/dev/null
  rc=$?
  lp=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["log10_p"])' "$t/cal" 2>/dev/null || echo err)
  npairs=$((npairs + 1))
  [ "$rc" = 0 ] || ndrv=$((ndrv + 1))
  echo "calibration m$i vs m$j: exit $rc log10_p $lp" >>"$t/cal.log"
  worst=$("$PY" -c 'import sys; a,b=sys.argv[1:]; print(min(float(a), float(b)) if b != "err" else -999)' "$worst" "$lp")
done; done
if [ "$ndrv" = 0 ] && "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= -2 else 1)' "$worst"; then
  ok "calibration: $npairs independent pairs, none derived, smallest model-level p 10^$worst >= 0.01"
else
  bad "calibration: $ndrv of $npairs derived, smallest log10 p $worst"; cat "$t/cal.log"
fi

# ---------------------------------------------------------------- errors
expect 0 "--help" "$SP" audit --help
expect 2 "no --ref" "$SP" audit "$M1"
expect 2 "no model" "$SP" audit --ref "$M1"
expect 2 "unknown option" "$SP" audit "$M1" --ref "$M1" --frobnicate
expect 2 "missing model file" "$SP" audit "$t/nope.safetensors" --ref "$M1"
head -c 4096 /dev/urandom >"$t/garbage.safetensors"
expect 2 "garbage model file" "$SP" audit "$t/garbage.safetensors" --ref "$M1"
head -c 100 "$M1" >"$t/short.safetensors"
expect 2 "truncated reference" "$SP" audit "$M1" --ref "$t/short.safetensors"
grep -q "^scratchproof audit: " "$t/err" && ok "error line is prefixed" || bad "error line: $(cat "$t/err")"
for lie in missing-file not-in-file slash dotdot unlisted; do
  rm -rf "$t/lie"; $C shard "$FT" "$t/lie" --parts 2 && $C lie "$t/lie" "$lie"
  expect 2 "lying index: $lie" "$SP" audit "$t/lie" --ref "$M1"
done

# ---------------------------------------------------------------- HTML
expect 1 "--html report" "$SP" audit "$t/splice.safetensors" --ref "$M1" --html "$t/report.html"
if grep -q "<svg" "$t/report.html" && grep -q "null band" "$t/report.html" &&
   ! grep -Eq "https?://" "$t/report.html"; then ok "HTML is self-contained with an SVG chart"
else bad "HTML report not self-contained or has no chart"; fi
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  prof=$(mktemp -d "$t/chrome.XXXXXX")
  timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --screenshot="$t/report.png" --window-size=1200,900 \
    "file://$t/report.html" >/dev/null 2>&1
  if [ -s "$t/report.png" ] && [ "$(stat -c %s "$t/report.png")" -gt 20000 ]; then
    ok "headless Chromium renders the report ($(stat -c %s "$t/report.png") bytes of PNG)"
  else bad "headless Chromium did not render the report"; fi
else
  echo "SKIP headless Chromium rendering (apt-get install chromium)"
fi

# ---------------------------------------------------------------- PyTorch
if "$PY" -c "import torch" >/dev/null 2>&1; then
  if $C torch "$t/torch" --seeds 4 --finetune --permute >/dev/null 2>&1; then
    expect 1 "PyTorch fine-tune is derived" "$SP" audit "$t/torch/finetune1.safetensors" --ref "$t/torch/seed1.safetensors"
    expect 1 "PyTorch fine-tune with both hidden layers permuted is derived" \
      "$SP" audit "$t/torch/permuted1.safetensors" --ref "$t/torch/seed1.safetensors" --json
    check "PyTorch permuted: the interior layer is derived through the carried permutation" '
assert comp["0"]["derived"] and comp["3"]["derived"], (comp["0"], comp["3"])
assert tens["3.weight"]["matched"]["value"] < 0.5 and tens["3.weight"]["permutation"]["matched"]["value"] > 0.9
assert "both axes" in comp["3"]["reason"], comp["3"]["reason"]' 
    n=0 nd=0
    for i in 1 2 3 4; do for j in 1 2 3 4; do
      [ "$i" -lt "$j" ] || continue; n=$((n + 1))
      "$SP" audit "$t/torch/seed$i.safetensors" --ref "$t/torch/seed$j.safetensors" >/dev/null 2>&1 || nd=$((nd + 1))
    done; done
    [ "$nd" = 0 ] && ok "PyTorch: $n independent pairs not derived" || bad "PyTorch: $nd of $n independent pairs derived"
  else bad "building PyTorch models"; fi
else
  echo "SKIP PyTorch models (python3-torch not installed)"
fi
finish
