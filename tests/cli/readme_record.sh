#!/usr/bin/env bash
# The file-only workflow (issue 11, SPEC.md 8.1-8.2): README.md's `init` + `record` example,
# extracted from README.md and pasted into a fresh directory, runs and verifies; then the
# refusals around it: an ambiguous --scheme, a scheme or seed the file does not match, a
# tensor no --scheme matches (each named with the file and the tensor, exit 2, one line),
# --external recording such tensors honestly (and verify then failing, exit 1), and init's
# own inputs (--like, --tensor, --dtype, bad layouts, existing output). Env: BUILD.
set -u
B=$(cd "${BUILD:-build}" && pwd)
sp=$B/scratchproof
t=$(mktemp -d /tmp/sp-readme.XXXXXX)
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

# --- README.md's example, as written there ---
awk '/tests\/cli\/readme_record.sh runs the next block/ {want = 1; next}
     want && /^```sh$/ {on = 1; next}
     on && /^```$/ {exit}
     on {print}' README.md >"$t/example.sh"
if [ "$(grep -c '^scratchproof ' "$t/example.sh")" -lt 6 ]; then
  bad "README example not found (or shorter than keygen, init, 3 records, verify)"
else
  ok "README example extracted ($(wc -l <"$t/example.sh") lines)"
fi
mkdir "$t/fresh"
(cd "$t/fresh" && PATH="$B:$PATH" bash -e "$t/example.sh") >"$t/ex.out" 2>"$t/ex.err"; rc=$?
if [ "$rc" = 0 ] && grep -q '^VERIFIED' "$t/ex.out" && grep -q 'all 5 initial tensors regenerated' "$t/ex.out"; then
  ok "README example runs and verifies in a fresh directory"
else
  bad "README example: exit $rc: $(tail -c 600 "$t/ex.err" "$t/ex.out" | tr '\n' ' ')"
fi
d=$t/fresh
schemes=(--scheme '*.weight=normal:0:0.02' --scheme '*norm*.weight=constant:1' --scheme '*=zeros')

# the values init wrote are the deterministic initialiser's: norm weights 1, biases 0
/usr/bin/python3 - "$d/init.safetensors" <<'PY' && ok "init: LayerNorm weight 1, bias 0, others normal(0, 0.02)" || bad "init values"
import json, struct, sys, array
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
def get(k):
    s, e = h[k]["data_offsets"]; a = array.array("f"); a.frombytes(b[8 + n + s:8 + n + e]); return a
assert all(x == 1.0 for x in get("norm.weight")) and all(x == 0.0 for x in get("norm.bias"))
assert all(x == 0.0 for x in get("head.bias"))
w = get("embed.weight"); m = sum(w) / len(w); sd = (sum((x - m) ** 2 for x in w) / len(w)) ** 0.5
assert abs(m) < 0.003 and 0.018 < sd < 0.022, (m, sd)
PY

# --- record genesis refuses what the file does not match, naming file and tensor ---
expect 2 "ambiguous scheme refused at record time, naming the tensor" \
  "init.safetensors: tensor 'norm.weight' matches --scheme '*.weight=normal:0:0.02' and '*norm*=constant:1'" -- \
  "$sp" record genesis --ledger "$t/r1.ledger" --key "$d/trainer.key" --seed 7 \
  --scheme '*.weight=normal:0:0.02' --scheme '*norm*=constant:1' --scheme '*=zeros' "$d/init.safetensors"
expect 2 "the flag order does not hide the ambiguity" "tensor 'norm.weight'" -- \
  "$sp" record genesis --ledger "$t/r1.ledger" --key "$d/trainer.key" --seed 7 \
  --scheme '*norm*=constant:1' --scheme '*.weight=normal:0:0.02' --scheme '*=zeros' "$d/init.safetensors"
[ ! -e "$t/r1.ledger" ] && ok "a refused genesis writes no ledger" || bad "a refused genesis left a ledger"
expect 2 "wrong seed refused, naming the tensor" "init.safetensors: tensor 'embed.weight' is not scheme normal:0:0.02 from seed 8" -- \
  "$sp" record genesis --ledger "$t/r2.ledger" --key "$d/trainer.key" --seed 8 "${schemes[@]}" "$d/init.safetensors"
expect 2 "wrong scheme refused, naming the tensor" "tensor 'norm.weight' is not scheme constant:2" -- \
  "$sp" record genesis --ledger "$t/r2.ledger" --key "$d/trainer.key" --seed 7 \
  --scheme '*.weight=normal:0:0.02' --scheme '*norm*.weight=constant:2' --scheme '*=zeros' "$d/init.safetensors"
expect 0 "a tensor no --scheme matches is recorded as external, and the output says so" \
  "recorded genesis of 5 tensors (2 external: recorded as loaded, not from scratch)" -- \
  "$sp" record genesis --ledger "$t/r2.ledger" --key "$d/trainer.key" --seed 7 \
  --scheme '*.weight=normal:0:0.02' --scheme '*norm*.weight=constant:1' "$d/init.safetensors"
expect 0 "--external records mismatched tensors as external" "recorded genesis of 5 tensors (3 external" -- \
  "$sp" record genesis --ledger "$t/r3.ledger" --key "$d/trainer.key" --seed 7 --external \
  --scheme '*.weight=normal:0:0.02' --scheme '*norm*.weight=constant:2' "$d/init.safetensors"
grep -q "tensor 'norm.weight' is not scheme constant:2 from seed 7; recorded as external" "$t/err" \
  && ok "--external says which tensors it recorded as external" || bad "--external notes: $(cat "$t/err")"
expect 0 "--no-regenerate records a lying scheme (a test ledger)" "recorded genesis" -- \
  "$sp" record genesis --ledger "$t/lie.ledger" --key "$d/trainer.key" --seed 8 --no-regenerate "${schemes[@]}" \
  "$d/init.safetensors"
expect 1 "verify reports the lie" "does not regenerate" -- "$sp" verify "$t/lie.ledger" --pubkey "$d/trainer.pub"
expect 1 "verify then says those tensors are external" "scheme external" -- \
  "$sp" verify "$t/r3.ledger" --pubkey "$d/trainer.pub"
expect 0 "an explicit =external scheme needs no --external" "recorded genesis" -- \
  "$sp" record genesis --ledger "$t/r4.ledger" --key "$d/trainer.key" --seed 7 \
  --scheme '*=external' --scheme '*.weight=normal:0:0.02' --scheme '*norm*.weight=constant:1' "$d/init.safetensors"

# --- every error names its file ---
expect 2 "missing FILE named" "nope.safetensors" -- \
  "$sp" record genesis --ledger "$t/r5.ledger" --key "$d/trainer.key" --seed 7 "${schemes[@]}" "$t/nope.safetensors"
expect 2 "missing key file named" "nokey.key" -- \
  "$sp" record genesis --ledger "$t/r5.ledger" --key "$t/nokey.key" --seed 7 "${schemes[@]}" "$d/init.safetensors"
expect 2 "missing ledger directory named" "nodir/r.ledger" -- \
  "$sp" record genesis --ledger "$t/nodir/r.ledger" --key "$d/trainer.key" --seed 7 "${schemes[@]}" "$d/init.safetensors"
expect 2 "checkpoint into a ledger that does not exist: named, not created" "none.ledger: no such ledger" -- \
  "$sp" record checkpoint --ledger "$t/none.ledger" --key "$d/trainer.key" --step 1 "$d/init.safetensors"
[ ! -e "$t/none.ledger" ] && ok "no ledger created by a checkpoint" || bad "record checkpoint created a ledger"
expect 2 "an out-of-order record names the ledger" "run.ledger: " -- \
  "$sp" record checkpoint --ledger "$d/run.ledger" --key "$d/trainer.key" --step 2000 "$d/init.safetensors"
expect 2 "--scheme with record checkpoint is a usage error" "genesis only" -- \
  "$sp" record checkpoint --ledger "$d/run.ledger" --key "$d/trainer.key" --step 2000 --scheme '*=zeros' "$d/init.safetensors"

# --- --batches: the data commitments of a file-only job ---
cp "$d/run.ledger" "$t/b.ledger"
printf '5 data/step3.bin\n' >"$d/b5.txt"
printf '6 data/nope.bin\n' >"$d/b6.txt"
printf '7 data/step1.bin\n6 data/step2.bin\n' >"$d/b7.txt"
printf 'x data/step1.bin\n' >"$d/b8.txt"
expect 2 "--batches: a missing batch file is named with its list line" "--batches line 1: $d/data/nope.bin" -- \
  "$sp" record checkpoint --ledger "$t/b.ledger" --key "$d/trainer.key" --step 6 --batches "$d/b6.txt" "$d/init.safetensors"
expect 2 "--batches: decreasing steps named by line" "b7.txt: line 2: step 6 comes after step 7" -- \
  "$sp" record checkpoint --ledger "$t/b.ledger" --key "$d/trainer.key" --step 7 --batches "$d/b7.txt" "$d/init.safetensors"
expect 2 "--batches: a bad step named by line" "b8.txt: line 1: 'x' is not a step" -- \
  "$sp" record checkpoint --ledger "$t/b.ledger" --key "$d/trainer.key" --step 7 --batches "$d/b8.txt" "$d/init.safetensors"
expect 2 "--batches: a missing list is named" "--batches $d/none.txt" -- \
  "$sp" record checkpoint --ledger "$t/b.ledger" --key "$d/trainer.key" --step 7 --batches "$d/none.txt" "$d/init.safetensors"
expect 2 "--batches is not for the genesis" "checkpoint and final" -- \
  "$sp" record genesis --ledger "$t/b2.ledger" --key "$d/trainer.key" --seed 7 --batches "$d/b5.txt" "${schemes[@]}" "$d/init.safetensors"
# a segment with fewer batches than steps: recorded (the list is the job's word), caught by verify
mkdir "$t/bc" && cp "$d/init.safetensors" "$t/bc/"
"$sp" keygen -o "$t/bk" >/dev/null
"$sp" record genesis --ledger "$t/bc.ledger" --key "$t/bk.key" --seed 7 "${schemes[@]}" "$d/init.safetensors" >/dev/null
expect 0 "a final record with one batch for 5 steps is recorded" "recorded final" -- \
  "$sp" record final --ledger "$t/bc.ledger" --key "$t/bk.key" --step 5 --batches "$d/b5.txt" "$d/init.safetensors"
expect 1 "verify names the missing batch commitments" "1 batch commitments for 5 steps" -- \
  "$sp" verify "$t/bc.ledger" --pubkey "$t/bk.pub" --checkpoints "$t/bc"

# --- init's inputs ---
expect 0 "init --like another file's layout" "wrote 5 tensors" -- \
  "$sp" init --seed 7 --like "$d/model.safetensors" -o "$t/like.safetensors" "${schemes[@]}"
cmp -s "$t/like.safetensors" "$d/init.safetensors" && ok "--like gives the same bytes as the layout" || bad "--like differs"
expect 0 "init --tensor" "wrote 2 tensors" -- \
  "$sp" init --seed 3 --tensor 'w 4x4' --tensor 'b 4 BF16' -o "$t/tensor.safetensors" \
  --scheme 'w=uniform:-0.5:0.5' --scheme '*=zeros'
expect 0 "init --dtype BF16, then record and verify" "wrote 5 tensors" -- \
  "$sp" init --seed 9 --layout "$d/layout.txt" --dtype BF16 -o "$t/bf16.safetensors" "${schemes[@]}"
expect 0 "BF16 genesis records" "recorded genesis" -- \
  "$sp" record genesis --ledger "$t/bf.ledger" --key "$d/trainer.key" --seed 9 "${schemes[@]}" "$t/bf16.safetensors"
expect 0 "BF16 genesis verifies (a run in progress)" "VERIFIED" -- "$sp" verify "$t/bf.ledger" --pubkey "$d/trainer.pub" --allow-incomplete
expect 2 "init refuses an existing output" "exists" -- \
  "$sp" init --seed 7 --layout "$d/layout.txt" -o "$d/init.safetensors" "${schemes[@]}"
expect 2 "init refuses an ambiguous scheme" "tensor 'norm.weight' matches --scheme" -- \
  "$sp" init --seed 7 --layout "$d/layout.txt" -o "$t/x.safetensors" \
  --scheme '*.weight=normal:0:0.02' --scheme '*norm*=constant:1' --scheme '*=zeros'
expect 2 "init: a tensor without a scheme" "tensor 'norm.bias' matches no --scheme" -- \
  "$sp" init --seed 7 --layout "$d/layout.txt" -o "$t/x.safetensors" --scheme '*.weight=zeros'
expect 2 "init cannot generate external" "external cannot be generated" -- \
  "$sp" init --seed 7 --layout "$d/layout.txt" -o "$t/x.safetensors" --scheme '*=external'
expect 2 "init: an invalid scheme" "invalid scheme 'uniform:1:0'" -- \
  "$sp" init --seed 7 --tensor 'w 2' -o "$t/x.safetensors" --scheme '*=uniform:1:0'
expect 2 "init: a missing layout is named" "--layout $t/nolayout.txt" -- \
  "$sp" init --seed 7 --layout "$t/nolayout.txt" -o "$t/x.safetensors" --scheme '*=zeros'
printf 'a 2\nb 3y\n' >"$t/bad.txt"
expect 2 "init: a bad layout line is named by file and number" "bad.txt: line 2: bad shape '3y'" -- \
  "$sp" init --seed 7 --layout "$t/bad.txt" -o "$t/x.safetensors" --scheme '*=zeros'
printf 'a 2 I64\n' >"$t/int.txt"
expect 2 "init: an integer dtype cannot be generated" "dtype I64 cannot be generated" -- \
  "$sp" init --seed 7 --layout "$t/int.txt" -o "$t/x.safetensors" --scheme '*=zeros'
mkfifo "$t/fifo"
expect 2 "init: a FIFO as layout is refused at once" "not a regular file" -- \
  "$sp" init --seed 7 --layout "$t/fifo" -o "$t/x.safetensors" --scheme '*=zeros'
expect 2 "init: a missing output directory is named" "nodir/x.safetensors.tmp" -- \
  "$sp" init --seed 7 --tensor 'w 2' -o "$t/nodir/x.safetensors" --scheme '*=zeros'
expect 2 "init needs its flags" "needs --seed" -- "$sp" init --seed 7 -o "$t/x.safetensors"
[ ! -e "$t/x.safetensors" ] && ok "no output left by a refused init" || bad "refused init wrote a file"
expect 0 "init --help" "--layout" -- "$sp" init --help

# --- orthogonal and row-range rules (SPEC.md 6.9, 6.10, 8.1) ---
pr=(--scheme 'emb=normal:0:0.02' --scheme 'emb[60:)=zeros' --scheme 'rnn=orthogonal:2' --scheme 'b[0:1)=constant:1' --scheme 'b[1:)=zeros')
expect 0 "init: orthogonal and row ranges" "wrote 3 tensors" -- \
  "$sp" init --seed 4 --tensor 'emb 64x8' --tensor 'rnn 16x4x2' --tensor 'b 8' -o "$t/pr.safetensors" "${pr[@]}"
expect 0 "record genesis with the same rules" "recorded genesis of 3 tensors" -- \
  "$sp" record genesis --ledger "$t/pr.ledger" --key "$d/trainer.key" --seed 4 "${pr[@]}" "$t/pr.safetensors"
expect 0 "it verifies" "VERIFIED" -- "$sp" verify "$t/pr.ledger" --pubkey "$d/trainer.pub" --allow-incomplete
expect 0 "log lists the ranges" "tensor 'emb': 2 init ranges: [0, 480) normal:0:0.02, [480, 512) zeros" -- \
  "$sp" log "$t/pr.ledger"
# the trajectory screen regenerates a ranged genesis too (its trace is followed)
mkdir -p "$t/prck"
"${PYTHON:-/usr/bin/python3}" - "$t/pr.safetensors" "$t/prck" <<'EOF2' || bad "write the ranged checkpoints"
import json, struct, sys, random
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = bytearray(raw[8 + n:]); rng = random.Random(5)
for step in (1, 2, 3):
    for k, v in hdr.items():
        if k == "__metadata__": continue
        a, b = v["data_offsets"]
        vals = struct.unpack("<%df" % ((b - a) // 4), data[a:b])
        data[a:b] = struct.pack("<%df" % len(vals), *(x + rng.gauss(0, 1e-3) for x in vals))
    open("%s/step%06d.safetensors" % (sys.argv[2], step), "wb").write(raw[:8 + n] + bytes(data))
EOF2
for s in 1 2 3; do echo "batch $s" >"$t/prck/b$s.bin"; echo "$s b$s.bin" >"$t/prck/b$s.list"
  "$sp" record checkpoint --ledger "$t/pr.ledger" --key "$d/trainer.key" --step $s --batches "$t/prck/b$s.list" \
  "$t/prck/step00000$s.safetensors" >/dev/null || bad "record ranged checkpoint $s"; done
expect 0 "trajectory: a ranged genesis is regenerated, its trace followed" "the initialisation's trace followed" -- \
  "$sp" verify "$t/pr.ledger" --pubkey "$d/trainer.pub" --checkpoints "$t/prck" --allow-incomplete
expect 2 "record: other rows than the file's are refused" "tensor 'emb' is not scheme of 2 ranges" -- \
  "$sp" record genesis --ledger "$t/pr2.ledger" --key "$d/trainer.key" --seed 4 --scheme 'emb=normal:0:0.02' \
  --scheme 'emb[59:)=zeros' --scheme 'rnn=orthogonal:2' --scheme 'b=constant:1' --scheme 'b[1:)=zeros' "$t/pr.safetensors"
expect 2 "init: overlapping row ranges" "select overlapping rows" -- \
  "$sp" init --seed 4 --tensor 'emb 64x8' -o "$t/x.safetensors" --scheme 'emb=zeros' \
  --scheme 'emb[0:10)=normal:0:1' --scheme 'emb[9:12)=constant:2'
expect 2 "init: rows past the tensor" "has 64 rows" -- \
  "$sp" init --seed 4 --tensor 'emb 64x8' -o "$t/x.safetensors" --scheme 'emb=zeros' --scheme 'emb[60:65)=normal:0:1'
expect 2 "init: rows no rule covers" "rows [0, 60) match no --scheme" -- \
  "$sp" init --seed 4 --tensor 'emb 64x8' -o "$t/x.safetensors" --scheme 'emb[60:)=zeros'
expect 2 "init: a malformed row range" "--scheme" -- \
  "$sp" init --seed 4 --tensor 'emb 64x8' -o "$t/x.safetensors" --scheme 'emb[9:3)=zeros'
expect 2 "init: orthogonal of a vector" "orthogonal needs a matrix" -- \
  "$sp" init --seed 4 --tensor 'b 8' -o "$t/x.safetensors" --scheme 'b=orthogonal'
expect 2 "init: orthogonal too large" "orthogonal needs a matrix" -- \
  "$sp" init --seed 4 --tensor 'w 8192x4096' -o "$t/x.safetensors" --scheme 'w=orthogonal'
expect 2 "init: an external row range" "not a scheme a range can take" -- \
  "$sp" init --seed 4 --tensor 'w 8x8' -o "$t/x.safetensors" --scheme 'w=zeros' --scheme 'w[0:4)=external'
[ ! -e "$t/x.safetensors" ] && ok "no output left by the refused inits" || bad "a refused init wrote a file"

echo "readme_record.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
