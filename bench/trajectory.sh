#!/usr/bin/env bash
# Trajectory screening (SPEC.md 13) against hashing the checkpoint files it reads
# (goal: screen <= 2x hash), on a tinytrain run with 20 checkpoints and on a synthetic
# run of 20 checkpoints of 16 MiB. Ratios are taken in the same run. Env: BUILD.
set -u
B=${BUILD:-build}
d=$(mktemp -d /tmp/sp-bench-traj.XXXXXX)
trap 'rm -rf "$d"' EXIT
echo "== trajectory screening (goal: <= 2x the time to hash the checkpoint files)"
"$B/scratchproof" keygen -o "$d/k" >/dev/null
"$B/tinytrain" --ledger "$d/t.ledger" --key "$d/k.key" --seed 1 --steps 1000 --every 50 --out "$d/t" --quiet
"$B/bench/bench_trajectory" "$d/t.ledger" "$d/k.pub" "$d/t" tinytrain20
mkdir "$d/s" && "$B/bench/bench_trajectory" --synthetic "$d/s" 16 20
