#!/usr/bin/env bash
# The measurements behind the thresholds of SPEC.md 13.3 (not part of `make bench`: about
# five minutes). Honest runs: 10 tinytrain seeds (300 steps, every 50), 3 torch_train seeds
# (400 steps, every 20), and stress runs (lr 0.2, every 10, every 150, batch 8, torch lr
# 0.01); then the attacks of tests/cli/trajectory.sh. For each run: the trajectory findings
# and the statistics the rules compare with their thresholds: the largest update ratio
# (rule 1 fires at >= 5), the smallest kept fraction of the genesis trace over the first
# segment (rule 2a fires below 0.25) and over later ones (2b: below 0.5), the smallest
# trace z (2c: below 4 after >= 20). Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
d=$(mktemp -d /tmp/sp-traj-cal.XXXXXX)
trap 'rm -rf "$d"' EXIT
"$sp" keygen -o "$d/k" >/dev/null
tt() { "$tt" --ledger "$d/$1.ledger" --key "$d/k.key" --out "$d/$1" --quiet "${@:2}"; }
torch() { PYTHONPATH=hooks/python "$PY" examples/torch_train.py --ledger "$d/$1.ledger" --key "$d/k.key" \
  --out "$d/$1" --quiet "${@:2}"; }
show() {
  "$sp" verify "$d/$1.ledger" --pubkey "$d/k.pub" --checkpoints "$d/$1" --quiet --json >"$d/$1.json"
  "$PY" - "$d/$1.json" "$1" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))["trajectory"]
r, k0, k, z = 0, 1, 1, 1e9
for c in t["components"]:
    if not c["matrices"]:
        continue
    for i, s in enumerate(c["segments"]):
        if s["ratio"] is not None: r = max(r, s["ratio"])
        if s["kept"] is not None:
            if i == 0: k0 = min(k0, s["kept"])
            else: k = min(k, s["kept"])
        if s["z_genesis"] is not None: z = min(z, s["z_genesis"])
print("%-14s flagged %d  max ratio %5.2f  min kept first %6.3f  min kept later %6.3f  min z %6.1f"
      % (sys.argv[2], t["flagged"], r, k0, k, z))
PYEOF
}
echo "== honest runs (no finding allowed)"
for s in 1 2 3 4 5 6 7 8 9 10; do tt s$s --seed $s --steps 300 --every 50 && show s$s; done
for s in 1 2 3; do torch t$s --seed $s --steps 400 --every 20 && show t$s; done
tt lr02 --seed 51 --steps 300 --every 50 --lr 0.2 && show lr02
tt every10 --seed 52 --steps 200 --every 10 && show every10
tt every150 --seed 53 --steps 600 --every 150 && show every150
tt batch8 --seed 54 --steps 300 --every 25 --batch 8 && show batch8
torch tlr01 --seed 55 --steps 300 --every 30 --lr 0.01 && show tlr01
echo "== attacks (each must be found)"
tt donor --seed 99 --steps 300 --every 50
tt impostor --seed 21 --steps 300 --every 50 --splice-from "$d/donor/final.safetensors" --splice-at 1 && show impostor
for at in 51 151 251; do
  tt head$at --seed 21 --steps 300 --every 50 --splice-from "$d/donor/final.safetensors" --splice-at $at \
    --splice-prefix head. && show head$at
done
tt fc1_151 --seed 21 --steps 300 --every 50 --splice-from "$d/donor/final.safetensors" --splice-at 151 \
  --splice-prefix fc1. && show fc1_151
"$B/tests/merge_runs" --ledger "$d/merge.ledger" --key "$d/k.key" --seed 1 --steps 300 --every 50 \
  --out "$d/merge" --run-a "$d/s1" --run-b "$d/s2" --switch-at 125 >/dev/null 2>&1 && show merge
"$B/tests/forge_interp" --ledger "$d/interp.ledger" --key "$d/k.key" --seed 21 --steps 300 --every 50 \
  --out "$d/interp" --target "$d/donor/final.safetensors" >/dev/null 2>&1 && show interp
