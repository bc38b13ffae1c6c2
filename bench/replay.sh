#!/usr/bin/env bash
# replay.sh - the cost of segment replay (SPEC.md 12.4) as a share of training: a
# tinytrain run with 20 checkpoints (400 steps, every 20: 21 segments, the last empty)
# is trained, then verified with --checkpoints alone, with --replay --segments all and
# with the default choice. Prints one "name value" per line:
#   replay.train_seconds        wall time of the training run
#   replay.verify_seconds       verify without --replay (chain, genesis, files, screen)
#   replay.all_ratio            (verify --segments all - verify) / training
#   replay.default_ratio        (verify default choice - verify) / training (goal: <= 0.25)
#   replay.default_step_share   share of the steps the default choice re-executes
#   replay.default_escape       chance one forged segment outside first/top-Q escapes
# Best of 3 for each; the machine is shared: read the ratios. Env: BUILD, STEPS, EVERY.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-replay-bench.XXXXXX) || exit 2
trap 'rm -rf "$t"' EXIT
steps=${STEPS:-400} every=${EVERY:-20}
"$B/scratchproof" keygen -o "$t/k" >/dev/null || exit 1
now() { date +%s.%N; }
best() {  # best of 3 wall seconds of a command (run in $t/i, cleaned each time)
  local b=""; for i in 1 2 3; do
    rm -rf "$t/i"; mkdir "$t/i"
    local s=$(now); "$@" >"$t/last.out" 2>/dev/null; local e=$(now)
    b=$(echo "$s $e $b" | awk '{d=$2-$1; if ($3=="" || d<$3) print d; else print $3}')
  done; echo "$b"; }
train() { "$B/tinytrain" --ledger "$t/i/run.ledger" --key "$t/k.key" --seed 7 --steps "$steps" \
  --every "$every" --out "$t/i/ck" --quiet; }
tr=$(best train)
"$B/tinytrain" --ledger "$t/run.ledger" --key "$t/k.key" --seed 7 --steps "$steps" --every "$every" \
  --out "$t/ck" --quiet || exit 1
R="$B/tinytrain --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet"
V() { "$B/scratchproof" verify "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" --quiet "$@"; }
v0=$(best V)
va=$(best V --replay "$R" --segments all)
vd=$(best V --replay "$R" --json)
echo "replay.train_seconds $tr"
echo "replay.verify_seconds $v0"
echo "replay.all_ratio $(awk -v a="$va" -v v="$v0" -v t="$tr" 'BEGIN{printf "%.3f", (a-v)/t}')"
echo "replay.default_ratio $(awk -v a="$vd" -v v="$v0" -v t="$tr" 'BEGIN{printf "%.3f", (a-v)/t}')"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["replay"]
print("replay.default_step_share %.3f" % r["share"]); print("replay.default_escape %.3f" % r["escape_probability"])' \
  "$t/last.out"
