#!/usr/bin/env bash
# Issue 7, proof of learning: every attack is built (tinytrain's test-only impostor modes,
# tests/attacks/forge_interp and merge_runs, ledgers cut with mdb_dump/mdb_load, the
# PyTorch example's splice) and `verify --replay` (SPEC.md 12) or the run-level checks
# (SPEC.md 7 items 8-9) reject it, exit 1, naming the segment and the component; the
# honest runs verify: bit for bit at one thread, and within the calibrated tolerance when
# trained at two math threads. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
forge=$B/tests/forge_interp merge=$B/tests/merge_runs
t=$(mktemp -d /tmp/sp-attacks2.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# expect CODE NAME [GREP] -- CMD...: exit code, and GREP (a grep -E pattern) in stdout+stderr
expect() {
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then
    bad "$name: exit $got, wanted $want: $(grep -v '  ok  ' "$t/out" | head -c 700 | tr '\n' ' ') $(head -c 300 "$t/err")"
    return
  fi
  if [ -n "$pat" ] && ! grep -Eq -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(grep -v '  ok  ' "$t/out" | head -c 700 | tr '\n' ' ')"; return
  fi
  ok "$name"
}
R="$tt --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet"
# V NAME [flags]: verify run NAME with its checkpoint files and the default replay choice
V() { local n=$1; shift; "$sp" verify "$t/$n.ledger" --pubkey "$t/k.pub" --checkpoints "$t/$n" --replay "$R" "$@"; }
train() { "$tt" --ledger "$t/$1.ledger" --key "$t/k.key" --out "$t/$1" --quiet "${@:2}"; }

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
train a --seed 7 --steps 300 --every 100 && train b --seed 8 --steps 300 --every 100 \
  || { bad "honest runs A (seed 7) and B (seed 8)"; exit 1; }

# --- honest runs ---
expect 0 "honest run: every segment bit for bit" "VERIFIED" -- V a --segments all
[ "$(grep -c ': bit for bit' "$t/out")" = 3 ] && ok "honest run: three segments bit for bit" \
  || bad "honest run: $(grep -c ': bit for bit' "$t/out") segments bit for bit, wanted 3"
expect 0 "honest run: the default choice" "replay-choice .*exact mode" -- V a
train m --seed 7 --steps 300 --every 100 --math-threads 2 || bad "tinytrain --math-threads 2"
expect 1 "trained at 2 math threads, replayed at 1: exact mode fails" \
  "segment 1 \(steps 1..100, records 0..1\): diverged: .*\(e = " -- V m --segments all
expect 0 "calibration measures the honest noise of every segment" "suggested --tolerance" -- \
  V m --segments all --calibrate
T=$(sed -n 's/.*suggested --tolerance \([0-9.e+-]*\) .*/\1/p' "$t/out")
[ -n "$T" ] && ok "calibrated T = $T" || bad "no suggested tolerance in the calibration"
expect 0 "2-thread run within the calibrated tolerance" "VERIFIED" -- V m --segments all --tolerance "${T:-0}"
[ "$(grep -c ': within T = ' "$t/out")" = 3 ] && ok "three segments within T" || bad "segments within T"
expect 0 "2-thread run replayed with the trainer's --math-threads 2: bit for bit" "VERIFIED" -- \
  "$sp" verify "$t/m.ledger" --pubkey "$t/k.pub" --checkpoints "$t/m" --replay "$R --math-threads 2" --segments all
[ "$(grep -c ': bit for bit' "$t/out")" = 3 ] && ok "2 threads: three segments bit for bit" \
  || bad "2 threads: $(grep -c ': bit for bit' "$t/out") segments bit for bit"
train mi --seed 7 --steps 60 --every 20 --micro 2 || bad "tinytrain --micro 2"
expect 0 "micro-batches: 2 commitments per step, replayed bit for bit" "x 2" -- \
  "$sp" verify "$t/mi.ledger" --pubkey "$t/k.pub" --checkpoints "$t/mi" --replay "$R --micro 2" --segments all

# --- --splice-from at step 1: another model's weights right after an honest genesis ---
train s1 --seed 7 --steps 300 --every 100 --splice-from "$t/b/final.safetensors" --splice-at 1 || bad "splice at 1"
expect 1 "splice at step 1: the first segment diverges, tensors named" \
  "FAIL +replay +segment 1 \(steps 1..100, records 0..1\): diverged: [a-z0-9.]+ \(e = " -- V s1
grep -q "segment 2 (steps 101..200, records 1..2): bit for bit" "$t/out" \
  && ok "splice at step 1: the later segments are honest training (bit for bit)" || bad "splice at 1: segment 2"

# --- --splice-prefix head. at step 20: one component swapped, the largest update ---
train hs --seed 7 --steps 60 --every 10 --splice-from "$t/b/final.safetensors" --splice-at 20 \
  --splice-prefix head. || bad "splice head."
expect 1 "splice head. at step 20: caught by the default choice, head.weight named first" \
  "FAIL +replay +segment 2 \(steps 11..20, records 1..2\): diverged: head.weight \(e = " -- V hs
V hs --json >"$t/hs.json" 2>/dev/null
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["replay"]["segments"][1]
assert "largest-update" in s["why"] and s["ok"] is False and s["worst"] == "head.weight", s' "$t/hs.json" \
  && ok "splice head.: segment 2 chosen as the largest update, worst tensor head.weight" \
  || bad "splice head.: not chosen as the largest update"

# --- forge_interp: checkpoints on the line from the genesis to B's final weights ---
"$forge" --ledger "$t/fi.ledger" --key "$t/k.key" --seed 7 --steps 300 --every 100 --out "$t/fi" \
  --target "$t/b/final.safetensors" >/dev/null 2>&1 || bad "forge_interp"
expect 1 "forge_interp: the interpolated segments diverge" \
  "FAIL +replay +segment 1 \(steps 1..100, records 0..1\): diverged: " -- V fi
expect 1 "forge_interp: every segment diverges (--segments all)" \
  "FAIL +replay +segment 3 \(steps 201..300, records 2..3\): diverged: " -- V fi --segments all

# --- --init-zeros + splice at step 1: a degenerate genesis that regenerates, then a model ---
train z --seed 7 --steps 100 --every 50 --init-zeros --splice-from "$t/b/final.safetensors" --splice-at 1 \
  || bad "init-zeros + splice"
expect 1 "init-zeros + splice at 1: the genesis regenerates, the first segment diverges" \
  "FAIL +replay +segment 1 \(steps 1..50, records 0..1\): diverged: " -- V z
grep -q "ok    init .*regenerated bit for bit" "$t/out" && ok "init-zeros: the zeros genesis itself regenerates" \
  || bad "init-zeros: genesis check"

# --- merge_runs: A up to step 150, then B ---
"$merge" --ledger "$t/mr.ledger" --key "$t/k.key" --seed 7 --steps 300 --every 100 --out "$t/mr" \
  --run-a "$t/a" --run-b "$t/b" --switch-at 150 >/dev/null 2>&1 || bad "merge_runs"
expect 1 "merge_runs: the segment where the runs meet diverges" \
  "FAIL +replay +segment 2 \(steps 101..200, records 1..2\): diverged: " -- V mr
grep -q "segment 1 (steps 1..100, records 0..1): bit for bit" "$t/out" \
  && ok "merge_runs: A's own segment replays" || bad "merge_runs: segment 1"

# --- --splice-optimizer: another run's momentum at step 101 ---
train so --seed 7 --steps 300 --every 100 --splice-optimizer "$t/b/step000100.opt.safetensors" \
  --splice-at 101 || bad "splice optimizer"
expect 1 "splice optimizer at 101: segment 2 diverges (weights and momentum named)" \
  "FAIL +replay +segment 2 \(steps 101..200, records 1..2\): diverged: [a-z0-9.]+ \(e = " -- V so
grep -q "segment 1 (steps 1..100, records 0..1): bit for bit" "$t/out" \
  && ok "splice optimizer: the segment before it replays" || bad "splice optimizer: segment 1"

# --- --skip-commits 1:250: steps without batch commitments ---
train sk --seed 7 --steps 300 --every 100 --skip-commits 1:250 || bad "skip-commits"
expect 1 "skip-commits 1:250: the batches check names the records and counts" \
  "FAIL +batches +record 1 \(steps 1..100\): 0 batch commitments for 100 steps x 1" -- \
  "$sp" verify "$t/sk.ledger" --pubkey "$t/k.pub" --checkpoints "$t/sk"
grep -q "record 3 (steps 201..300): 50 batch commitments for 100 steps x 1" "$t/out" \
  && ok "skip-commits: record 3 holds 50 for 100 steps" || bad "skip-commits: record 3"
expect 1 "skip-commits: the replay's commitments differ too" "batch commitments differ" -- V sk --segments 1

# --- the final record, or the last two, removed; the last checkpoint published ---
mdb_dump -n -s records "$t/a.ledger" >"$t/dump"
"$PY" - "$t" <<'EOF'
import sys
t = sys.argv[1]
lines = open(t + "/dump").read().split("\n")
start = lines.index("HEADER=END") + 1
data = [i for i in range(start, len(lines) - 1, 2) if lines[i].startswith(" ")]
ls = lines[:]; del ls[data[-1]:data[-1] + 2]; open(t + "/dump.cut1", "w").write("\n".join(ls))
ls = lines[:]; del ls[data[-2]:data[-2] + 4]; open(t + "/dump.cut2", "w").write("\n".join(ls))
EOF
for k in cut1 cut2; do
  mdb_dump -n -s meta "$t/a.ledger" | mdb_load -n -s meta "$t/$k.ledger" 2>/dev/null
  mdb_load -n -s records -f "$t/dump.$k" "$t/$k.ledger" 2>/dev/null
done
expect 1 "final record removed: incomplete" "FAIL +complete +incomplete: ends at checkpoint step 300, no final record" -- \
  "$sp" verify "$t/cut1.ledger" --pubkey "$t/k.pub" --checkpoints "$t/a" --replay "$R"
expect 1 "last two records removed, last checkpoint published as the model: incomplete" \
  "FAIL +complete +incomplete: ends at checkpoint step 200, no final record" -- \
  "$sp" verify "$t/cut2.ledger" --pubkey "$t/k.pub" --checkpoints "$t/a" --model "$t/a/step000200.safetensors"
grep -q "ok    model .*bound to record 2 (checkpoint step 200)" "$t/out" \
  && ok "cut ledger: the published checkpoint still binds (only completeness catches it)" \
  || bad "cut ledger: model binding"

# --- PyTorch: torch_train replayed bit for bit; its --init-from splice caught ---
. tests/cli/python_env.inc
if "$PY" -c 'import torch' 2>/dev/null; then
  TP=("$PY" examples/torch_train.py --key "$t/k.key" --seed 7 --steps 20 --every 10 --batch 4 --accum 2 --quiet)
  TR="$PY examples/torch_train.py --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --batch 4 --accum 2 --quiet"
  "${TP[@]}" --ledger "$t/ta.ledger" --out "$t/ta" && "$PY" examples/torch_train.py --key "$t/k.key" --seed 8 \
    --steps 20 --every 10 --batch 4 --accum 2 --quiet --ledger "$t/tb.ledger" --out "$t/tb" \
    && "${TP[@]}" --ledger "$t/ts.ledger" --out "$t/ts" --init-from "$t/tb/final.safetensors" --splice-at 11 \
    || bad "torch_train runs"
  expect 0 "torch_train: every segment bit for bit" "VERIFIED" -- \
    "$sp" verify "$t/ta.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ta" --replay "$TR" --segments all
  expect 1 "torch_train spliced at step 11: segment 2 diverges" \
    "FAIL +replay +segment 2 \(steps 11..20, records 1..2\): diverged: [a-z0-9_.]+ \(e = " -- \
    "$sp" verify "$t/ts.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ts" --replay "$TR" --segments all
else
  echo "SKIP PyTorch attacks: $PY has no torch"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
