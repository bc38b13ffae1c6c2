#!/usr/bin/env bash
# tests/cli/audit_arch.sh - `scratchproof audit` on real architectures built
# here (tests/audit_arch.py): transformer blocks with a permuted residual
# stream, heads and MLP units; fused and split QKV / gate-up; transposed
# (TensorFlow-style) Linears; conv stacks with channels permuted along the
# chain, stored OHWI (TFLite) or HWIO with TensorFlow and Paddle names;
# tinytrain permuted on both axes of fc1; fixed DFT / mel / sinusoid / mask
# buffers shared by independent models; small kernels; nothing comparable
# (exit 3); calibration over 32 independent pairs. SPEC.md 10.
# Env: BUILD (build dir), PYTHON.
set -u
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
SP=$B/scratchproof
TT=$B/tinytrain
G="$PY tests/audit_arch.py"
t=$(mktemp -d /tmp/sp-audit-arch.XXXXXX)
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
check() {
  local name=$1 code=$2
  if "$PY" - "$t/out" >"$t/chk" 2>&1 <<EOF
import json, math, sys
d = json.load(open(sys.argv[1]))
comp = {c["name"]: c for c in d["components"]}
tens = {t["name"]: t for t in d["tensors"]}
def share_of(prefix):
    n = sum(math.prod(t["shape"]) for t in d["tensors"] if t["name"].startswith(prefix))
    return n / d["parameters"]
$code
EOF
  then ok "$name"; else bad "$name: $(tail -n 3 "$t/chk" | tr '\n' ' ')"; fi
}

for f in "$SP" "$TT"; do [ -x "$f" ] || { bad "missing $f (make first)"; finish; }; done
"$PY" -c "import numpy" 2>/dev/null || { echo "SKIP numpy missing"; finish; }

# ---------------------------------------------------------------- corpus
for s in 1 2 3 4 5; do
  $G transformer "$t/tr$s.st" --seed "$s" && $G conv "$t/c$s.st" --seed "$s" || { bad "corpus"; finish; }
done
for s in 1 2 3 4; do
  $G audio "$t/au$s.st" --seed "$s" && $G small "$t/sm$s.st" --seed "$s" || { bad "corpus"; finish; }
done
$G transformer "$t/tr_perm.st" --from "$t/tr1.st" --noise 0.05 --permute 3 &&
$G transformer "$t/tr_fused.st" --from "$t/tr1.st" --noise 0.05 --fuse &&
$G transformer "$t/tr_fused_perm.st" --from "$t/tr1.st" --noise 0.05 --fuse --permute 4 &&
$G transformer "$t/tr_tf.st" --from "$t/tr1.st" --noise 0.05 --transpose &&
$G transformer "$t/tr_splice.st" --seed 2 --splice-ends "$t/tr_perm.st" &&
$G conv "$t/c_perm.st" --from "$t/c1.st" --noise 0.05 --permute 4 &&
$G conv "$t/c_tflite.st" --from "$t/c1.st" --noise 0.05 --permute 5 --layout ohwi --names tf &&
$G conv "$t/c_paddle.st" --from "$t/c1.st" --noise 0.05 --layout hwio --names paddle &&
$G int8 "$t/tr1.st" "$t/tr_int8.st" || { bad "building the derived corpus"; finish; }
"$SP" keygen -o "$t/k" >/dev/null 2>&1 || { bad "keygen"; finish; }
"$TT" --ledger "$t/l1" --key "$t/k.key" --seed 1 --steps 150 --every 150 --out "$t/m1" --quiet --threads 1 >/dev/null 2>&1 &&
$G tinyperm "$t/m1/final.safetensors" "$t/tiny_perm.st" --seed 9 &&
$G lone "$t/m1/final.safetensors" "$t/tiny_lone.st" --tensor fc1.weight --seed 4 --noise 0.1 || { bad "tinytrain corpus"; finish; }

# ---------------------------------------------------------------- permutations through the network
expect 1 "transformer, residual stream + heads + MLP units permuted: derived" \
  "$SP" audit "$t/tr_perm.st" --ref "$t/tr1.st" --depth 3 --json
check "every interior block derived with its share; interior matrices decided by a carried permutation" '
assert d["derived"] is True
for i in range(3):
    c = comp["model.layers.%d" % i]
    assert c["derived"] is True and c["log10_p"] < -100, c
    assert abs(c["share"] - share_of("model.layers.%d." % i)) < 1e-9, (c["share"], share_of("model.layers.%d." % i))
    for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
        x = tens["model.layers.%d.%s.weight" % (i, n)]
        assert abs(x["pearson"]["value"]) < 0.1, x["pearson"]            # aligned: nothing
        pm = x["permutation"]
        assert pm is not None and pm["matched"]["value"] > 0.9 and pm["from"], (x["name"], pm)
        assert pm["units_in_place"] is None or pm["units_in_place"] < 0.2, pm
        assert x["log10_p"] < -50, (x["name"], x["log10_p"])
assert comp["model.embed_tokens"]["derived"] and comp["lm_head"]["derived"]'
expect 1 "independent blocks under a copied, permuted embedding and head: only the ends derived" \
  "$SP" audit "$t/tr_splice.st" --ref "$t/tr1.st" --depth 3 --json
check "splice: the carried permutation does not make independent blocks derived" '
assert comp["model.embed_tokens"]["derived"] and comp["lm_head"]["derived"], comp
for i in range(3):
    c = comp["model.layers.%d" % i]
    assert c["derived"] is False and c["verdict"] == "not derived", c
    assert c["log10_p"] > -2, c
tried = [x for x in d["tensors"] if x["name"].startswith("model.layers.") and x["permutation"]]
assert len(tried) >= 18, len(tried)           # the residual permutation was carried and tried'
expect 1 "tinytrain with fc1 permuted on both axes: derived" "$SP" audit "$t/tiny_perm.st" --ref "$t/m1/final.safetensors" --json
check "tinytrain both axes: fc1 (85.6 %) derived through the carried permutation" '
f = comp["fc1"]
assert f["derived"] is True and f["log10_p"] < -100, f
assert abs(f["share"] - share_of("fc1.")) < 1e-9 and f["share"] > 0.85, f
w = tens["fc1.weight"]
assert w["matched"]["value"] < 0.5, w["matched"]                 # one axis at a time: nothing
assert w["permutation"]["matched"]["value"] > 0.9, w["permutation"]
assert "both axes" in f["reason"], f["reason"]
for c in ("embed", "head"):
    assert comp[c]["derived"] is True, comp[c]'
expect 1 "tinytrain fc1 alone permuted on both axes (+ noise), nothing else touched: derived" \
  "$SP" audit "$t/tiny_lone.st" --ref "$t/m1/final.safetensors" --json
check "lone matrix: both axes recovered from the matrix itself" '
f = comp["fc1"]
assert f["derived"] is True and f["log10_p"] < -50, f
pm = tens["fc1.weight"]["permutation"]
assert pm["matched"]["value"] > 0.9 and "itself" in pm["from"], pm'
expect 1 "conv stack, channels permuted along the chain: derived" "$SP" audit "$t/c_perm.st" --ref "$t/c1.st" --depth 2 --json
check "conv chain: every interior conv derived" '
for i in range(4):
    c = comp["features.%d" % i]
    assert c["derived"] is True, c
for i in (1, 2, 3):
    pm = tens["features.%d.weight" % i]["permutation"]
    assert pm and pm["matched"]["value"] > 0.9 and "per block" in pm["from"], pm
assert comp["classifier"]["derived"]'

# ---------------------------------------------------------------- layouts
expect 1 "TFLite-style: OHWI kernels, TensorFlow names, channels permuted: derived" \
  "$SP" audit "$t/c_tflite.st" --ref "$t/c1.st" --json
check "OHWI found and named; components from / names" '
assert set(comp) == {"model/conv2d", "model/batch_normalization", "model/dense"}, sorted(comp)
assert comp["model/conv2d"]["derived"] and comp["model/dense"]["derived"], comp
k = tens["model/conv2d_12/kernel:0"]
assert k["layout"]["kind"] == "axes" and "OHWI" in k["layout"]["text"], k["layout"]
assert k["ref_name"] == "features.2.weight", k["ref_name"]'
expect 1 "HWIO kernels, Paddle names: derived" "$SP" audit "$t/c_paddle.st" --ref "$t/c1.st" --json
check "HWIO named; numbered Paddle names make one component per kind" '
assert set(comp) == {"conv2d", "batch_norm", "linear"}, sorted(comp)
assert comp["conv2d"]["derived"] is True and comp["conv2d"]["log10_p"] < -100, comp["conv2d"]
assert "HWIO" in tens["conv2d_101.w_0"]["layout"]["text"], tens["conv2d_101.w_0"]["layout"]
assert d["tests"] <= 3, d["tests"]'
expect 1 "every Linear transposed (TensorFlow [in, out]): derived" "$SP" audit "$t/tr_tf.st" --ref "$t/tr1.st" --depth 3 --json
check "transposed: found by name, square ones too" '
for n in ("lm_head.weight", "model.layers.1.mlp.up_proj.weight", "model.layers.1.self_attn.q_proj.weight"):
    x = tens[n]
    assert x["layout"]["text"] == "transposed" and x["ref_name"] == n, x
    assert x["log10_p"] < -50, x
assert all(comp["model.layers.%d" % i]["derived"] for i in range(3))'
expect 1 "fused QKV and gate/up in the model: derived" "$SP" audit "$t/tr_fused.st" --ref "$t/tr1.st" --depth 3 --json
check "fused: stacked from the right reference tensors" '
x = tens["model.layers.1.self_attn.qkv_proj.weight"]
assert x["layout"]["kind"] == "stack", x["layout"]
assert x["layout"]["tensors"] == ["model.layers.1.self_attn.%s_proj.weight" % n for n in "qkv"], x["layout"]
g = tens["model.layers.2.mlp.gate_up_proj.weight"]["layout"]
assert g["tensors"] == ["model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight"], g
assert all(comp["model.layers.%d" % i]["derived"] for i in range(3))'
expect 1 "split in the model, fused in the reference: derived" "$SP" audit "$t/tr1.st" --ref "$t/tr_fused.st" --depth 3 --json
check "split: each projection a row slice of the fused reference" '
for n, lo in (("q", 0), ("k", 128), ("v", 256)):
    x = tens["model.layers.0.self_attn.%s_proj.weight" % n]
    assert x["layout"]["kind"] == "slice" and x["layout"]["rows"] == [lo, lo + 128], x["layout"]
    assert x["ref_name"] == "model.layers.0.self_attn.qkv_proj.weight", x["ref_name"]
assert all(comp["model.layers.%d" % i]["derived"] for i in range(3))'
expect 1 "fused and permuted: derived" "$SP" audit "$t/tr_fused_perm.st" --ref "$t/tr1.st" --depth 3 --json
check "fused and permuted: every block derived" 'assert all(comp["model.layers.%d" % i]["derived"] for i in range(3)), comp'

# ---------------------------------------------------------------- fixed buffers, small tensors
expect 0 "independent models sharing only DFT / mel / sinusoid / mask buffers: not derived" \
  "$SP" audit "$t/au2.st" --ref "$t/au1.st" --json
check "fixed buffers are identical, named, and never decide" '
kinds = {"frontend.dft_real": "sinusoid", "frontend.dft_imag": "sinusoid", "frontend.mel_filters": "piecewise",
         "encoder.pos_table": "sinusoid", "encoder.causal_mask": "mask"}
for n, k in kinds.items():
    x = tens[n]
    assert x["fixed"] and k in x["fixed"], (n, x["fixed"])
    assert x["decides"] is False and x["log10_p"] is None, x
assert tens["frontend.dft_real"]["pearson"]["value"] > 0.9999        # the same buffer in both
assert share_of("frontend.") > 0.5
assert comp["frontend"]["verdict"] == "uninformative" and "untrained constant" in comp["frontend"]["reason"], comp["frontend"]
assert comp["encoder"]["verdict"] == "not derived" and d["derived"] is False
assert d["inconclusive"] is False and d["compared_share"] == 1.0, d["compared_share"]'
cp "$t/sm1.st" "$t/sm_copy.st"
expect 1 "exact copy of small kernels (24x1x3x3, 24x24x1x1): derived" "$SP" audit "$t/sm_copy.st" --ref "$t/sm1.st" --json
check "small kernels: exact unit-match test reaches significance" '
x = tens["conv2d_0.w_0"]
assert x["shape"] == [24, 1, 3, 3] and x["exact"]["value"] == 1.0, x["exact"]
assert x["log10_p"] < -20, x["log10_p"]
assert comp["conv2d"]["derived"] and "exactly" in comp["conv2d"]["reason"], comp["conv2d"]'

# ---------------------------------------------------------------- fail closed
expect 3 "nothing comparable (conv stack against tinytrain): inconclusive" "$SP" audit "$t/c1.st" --ref "$t/m1/final.safetensors" --json
check "inconclusive: the share compared and why" '
assert d["derived"] is False and d["inconclusive"] is True, d
assert d["compared_share"] < 0.5 and d["uncompared"]["no_pair"] > 0, d["uncompared"]
assert "compared" in d["inconclusive_reason"], d["inconclusive_reason"]'
expect 3 "text report says INCONCLUSIVE" "$SP" audit "$t/c1.st" --ref "$t/m1/final.safetensors"
grep -q "^verdict: INCONCLUSIVE: 0.0 % of the matrix parameters compared" "$t/out" && ok "INCONCLUSIVE line" || bad "INCONCLUSIVE line: $(grep verdict "$t/out")"
# int8 without scales is read as its integer values (SPEC 10.1): a copy is found
expect 1 "matrices stored as int8 without scales: compared by their values, derived" "$SP" audit "$t/tr_int8.st" --ref "$t/tr1.st" --json
check "int8: read as integer values, nothing left out for the dtype" '
assert d["inconclusive"] is False and d["uncompared"]["dtype"] == 0, d["uncompared"]
assert all(x["read_as"] == "integer_values" for x in d["tensors"] if x["dtype"] == "I8"), d["tensors"][0]'

$G audio "$t/au_fixed.st" --seed 7 --fixed-only || bad "fixed-only corpus"
expect 3 "only fixed buffers and vectors: inconclusive" "$SP" audit "$t/au_fixed.st" --ref "$t/au1.st" --json
check "fixed only: no weight matrix to compare" '
assert d["inconclusive"] is True and d["matrix_parameters"] == 0, d
assert "no weight matrix" in d["inconclusive_reason"], d["inconclusive_reason"]'

$G hostile "$t/hostile.st" || bad "hostile corpus"
for ref in "$t/hostile.st" "$t/tr1.st"; do
  "$SP" audit "$t/hostile.st" --ref "$ref" --json >"$t/out" 2>"$t/err"; rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 1 ] || [ "$rc" = 3 ]; then
    "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$t/out" && ok "NaN / inf / degenerate tensors against $(basename "$ref"): exit $rc, valid JSON" ||
      bad "hostile tensors: invalid JSON"
  else bad "hostile tensors against $(basename "$ref"): exit $rc $(head -c 200 "$t/err")"; fi
done

# ---------------------------------------------------------------- calibration
: >"$t/cal.log"
for fam in tr c au sm; do
  for i in 1 2 3 4 5; do for j in 1 2 3 4 5; do
    [ "$i" -lt "$j" ] && [ -f "$t/$fam$i.st" ] && [ -f "$t/$fam$j.st" ] || continue
    "$SP" audit "$t/$fam$i.st" --ref "$t/$fam$j.st" --json >"$t/cal" 2>/dev/null
    echo "$fam$i $fam$j $? $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["log10_p"])' "$t/cal" 2>/dev/null || echo err)" >>"$t/cal.log"
  done; done
done
if "$PY" - "$t/cal.log" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
bad = [r for r in rows if r[2] != "0" or r[3] == "err" or float(r[3]) < -2]
worst = min(float(r[3]) for r in rows if r[3] != "err")
print("%d independent pairs, smallest model-level log10 p %.3f" % (len(rows), worst))
sys.exit(1 if bad or len(rows) < 30 else 0)
EOF
then ok "calibration: $(wc -l <"$t/cal.log") independent pairs (transformer, conv, audio with shared buffers, small kernels): none derived, every p >= 0.01"
else bad "calibration: $(cat "$t/cal.log" | tr '\n' ';')"; fi
finish
