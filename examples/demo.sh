#!/usr/bin/env bash
# demo.sh - a narrated tour of scratchproof (run by `make demo`, from the project root).
#
# Trains tinytrain from scratch with the hook, verifies the ledger (VERIFIED), then shows
# what verify rejects: a fine-tune impostor that starts from another model's weights, and a
# checkpoint file with one byte changed. Exits non-zero if any expectation fails; the last
# line is "demo: all expectations met". Env: BUILD (build dir, default build), KEEP=1 keeps
# the temporary directory.
set -u
BUILD=${BUILD:-build}
SP=$BUILD/scratchproof
TT=$BUILD/tinytrain
PY=${PYTHON:-/usr/bin/python3}

for f in "$SP" "$TT"; do
  [ -x "$f" ] || { echo "demo: $f is missing; run make first" >&2; exit 2; }
done
d=$(mktemp -d /tmp/scratchproof-demo.XXXXXX) || exit 2
if [ "${KEEP:-0}" = 1 ]; then echo "demo: keeping $d"; else trap 'rm -rf "$d"' EXIT; fi

failed=0
say()  { printf '\n'; for l in "$@"; do printf '== %s\n' "$l"; done; }
show() { printf '$ %s\n' "$*"; }
# expect CODE CMD...: shows and runs CMD (its output goes to the terminal), checks its exit code
expect() {
  local want=$1; shift
  show "$*"
  "$@"; local got=$?
  if [ "$got" = "$want" ]; then echo "-> exit $got, as expected"
  else echo "-> exit $got, EXPECTED $want"; failed=$((failed + 1)); fi
  return 0
}

say "A trainer makes a signing key pair (the evaluator will pin trainer.pub)"
expect 0 "$SP" keygen -o "$d/trainer"

say "Training from scratch: the hook records the generated initial weights (genesis)," \
  "a commitment to every batch, a checkpoint every 100 steps and the final weights"
expect 0 "$TT" --ledger "$d/run.ledger" --key "$d/trainer.key" --seed 7 --steps 300 \
  --every 100 --out "$d/run" --stats
show "ls $d/run"; ls "$d/run"

say "The ledger, record by record"
expect 0 "$SP" log "$d/run.ledger"

say "The evaluator verifies: signatures and hash chain, the initial weights regenerated" \
  "from the recorded seed and schemes, checkpoint files and the published model bound"
show "$SP verify $d/run.ledger --pubkey $d/trainer.pub --checkpoints $d/run" \
  "--model $d/run/final.safetensors"
"$SP" verify "$d/run.ledger" --pubkey "$d/trainer.pub" --checkpoints "$d/run" \
  --model "$d/run/final.safetensors"
rc=$?
if [ "$rc" = 0 ]; then echo "-> exit 0: VERIFIED, the model grew from its own initialisation"
else echo "-> exit $rc, EXPECTED 0 (VERIFIED)"; failed=$((failed + 1)); fi

say "The impostor: 'trains' a model that starts from the weights above (a fine-tune)." \
  "Its ledger is signed and complete, but the genesis honestly says where weights came from"
expect 0 "$TT" --init-from "$d/run/final.safetensors" --ledger "$d/impostor.ledger" \
  --key "$d/trainer.key" --seed 7 --steps 100 --every 50 --out "$d/impostor" --quiet
say "Verify rejects it (exit 1), naming the reason"
expect 1 "$SP" verify "$d/impostor.ledger" --pubkey "$d/trainer.pub" \
  --checkpoints "$d/impostor" --model "$d/impostor/final.safetensors"

say "Tampering: one byte of the step-200 checkpoint's tensor data is changed"
cp -r "$d/run" "$d/tampered"
show "flip one data byte of $d/tampered/step000200.safetensors"
"$PY" - "$d/tampered/step000200.safetensors" <<'EOF' || { echo "demo: cannot tamper"; exit 2; }
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) - 3] ^= 0x01      # inside the last tensor's data, far from the header
open(p, "wb").write(b)
EOF
expect 1 "$SP" verify "$d/run.ledger" --pubkey "$d/trainer.pub" --checkpoints "$d/tampered" \
  --model "$d/tampered/final.safetensors"

say "The same tampered files, as one JSON object for tools"
show "$SP verify ... --json"
"$SP" verify "$d/run.ledger" --pubkey "$d/trainer.pub" --checkpoints "$d/tampered" \
  --model "$d/tampered/final.safetensors" --json
rc=$?
echo
if [ "$rc" = 1 ]; then echo "-> exit 1, as expected"
else echo "-> exit $rc, EXPECTED 1"; failed=$((failed + 1)); fi

echo
if [ "$failed" != 0 ]; then
  echo "demo: $failed expectation(s) failed"
  exit 1
fi
echo "demo: all expectations met"
