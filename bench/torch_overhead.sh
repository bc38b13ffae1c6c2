#!/usr/bin/env bash
# torch_overhead.sh - the cost of the Python hook in a PyTorch training job: runs
# examples/torch_train.py (200 steps, a batch commitment every step, a checkpoint every
# 50 steps) with --stats and prints, one "name value" per line:
#   torch.wall_seconds      wall time of the run (after imports)
#   torch.hook_seconds      time inside the binding's calls (C hashing, signing and
#                           fsync'd ledger appends, plus the Python side of every call)
#   torch.hook_fraction     hook_seconds / wall_seconds (goal: at most 0.01)
#   torch.write_seconds     writing the safetensors checkpoint files (a job writes its
#                           checkpoints anyway, so this is not counted as hook cost)
#   torch.hook_fraction_with_writes
# Env: BUILD (default build), PYTHON (default /usr/bin/python3), STEPS, EVERY.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${BUILD:-build}
case $B in /*) BA=$B ;; *) BA=$PWD/$B ;; esac
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "torch_overhead.sh: skipped: $PY cannot import torch and numpy" >&2
  exit 0
fi
[ -e "$B/libscratchproof.so" ] && [ -x "$B/scratchproof" ] ||
  { echo "torch_overhead.sh: $B/libscratchproof.so or $B/scratchproof missing; run make" >&2; exit 2; }
t=$(mktemp -d /tmp/sp-torch-bench.XXXXXX) || exit 2
trap 'rm -rf "$t"' EXIT
"$B/scratchproof" keygen -o "$t/k" >/dev/null || exit 1
SCRATCHPROOF_LIB="$BA/libscratchproof.so" PYTHONPATH="$PWD/hooks/python" PYTHONDONTWRITEBYTECODE=1 \
  "$PY" examples/torch_train.py --ledger "$t/run.ledger" --key "$t/k.key" --seed 7 \
  --steps "${STEPS:-200}" --every "${EVERY:-50}" --out "$t/ck" --quiet --stats >"$t/stats" || exit 1
"$B/scratchproof" verify "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" \
  --model "$t/ck/final.safetensors" >/dev/null || { echo "torch_overhead.sh: the run does not verify" >&2; exit 1; }
for k in wall_seconds hook_seconds hook_fraction write_seconds hook_fraction_with_writes; do
  v=$(awk -v k="torch_train.$k" '$1 == k { print $2 }' "$t/stats")
  echo "torch.$k $v"
done
