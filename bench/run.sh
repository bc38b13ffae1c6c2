#!/usr/bin/env bash
# make bench: every measured goal of BRIEF.md, ratios taken in the same run.
# The machine is shared and noisy: read ratios, not absolute figures.
set -u
B=${BUILD:-build}
d=$(mktemp -d /tmp/sp-bench.XXXXXX)
trap 'rm -rf "$d"' EXIT
echo "== hashing (goal: tensor >= 0.95x raw BLAKE2b at 1 thread, >= 1.8x at 2)"
"$B/scratchproof" keygen -o "$d/k" >/dev/null
"$B/tinytrain" --ledger "$d/t.ledger" --key "$d/k.key" --seed 1 --steps 1 --every 1 --out "$d/t" --quiet
# a 512 MiB safetensors-sized file for whole-file hashing against b2sum and sha256sum
head -c $((512 << 20)) /dev/urandom >"$d/big.bin"
"$B/bench/bench_hash" "$d/big.bin"
best() {  # best of 3 wall seconds of a command
  local b=""; for _ in 1 2 3; do
    local s=$(date +%s.%N); "$@" >/dev/null; local e=$(date +%s.%N)
    b=$(echo "$s $e $b" | awk '{t=$2-$1; if ($3=="" || t<$3) print t; else print $3}')
  done; echo "$b"; }
sz=$(stat -c %s "$d/big.bin")
for tool in b2sum sha256sum; do
  s=$(best $tool "$d/big.bin")
  echo "hash.${tool}_gbps $(awk -v n=$sz -v s=$s 'BEGIN{printf "%.3f", n/s/1e9}')"
done
echo
echo "== initialiser (goal: uniform >= 0.5x, normal >= 0.3x the ChaCha20 keystream rate per thread; genesis check <= 1.5x hashing)"
"$B/bench/bench_init" 64
echo
echo "== scale: a 4 GiB model in 8 shards (goal: genesis check <= 1.5x hashing the same bytes)"
"$B/bench/bench_scale" "$d" 4096 2
echo "-- the same with normal32 (version 2, SPEC.md 6.8: 4 keystream bytes per element)"
"$B/bench/bench_scale" "$d" 4096 2 normal32
echo
echo "== ledger (goal: durable append near the disk's fsync rate)"
"$B/bench/bench_ledger" "$d"
echo
echo "== verify (goal: >= 0.8x the raw Ed25519 verify rate)"
"$B/bench/bench_verify" "$d" 2000
echo
echo "== multi-rank checkpoint record (goal: 4 ranks <= 1.2x one rank hashing a quarter; this machine has 2 cores, so 4 ranks share them)"
if [ -x "$B/bench/bench_mpi" ] && command -v mpirun >/dev/null; then
  for np in 2 4; do
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np $np --oversubscribe \
      "$B/bench/bench_mpi" "$d/mpi$np.ledger" "$d/k.key" 256 | grep record_vs
  done
else echo "mpi: skipped (no mpirun or bench_mpi)"; fi
echo
echo "== hook overhead in tinytrain (goal: <= 0.005 of wall time; checkpoint every 100 steps)"
"$B/tinytrain" --ledger "$d/o.ledger" --key "$d/k.key" --seed 3 --steps 300 --every 100 \
  --out "$d/o" --quiet --stats | grep hook_fraction
for extra in bench/torch_overhead.sh bench/torch_copy_path.sh bench/audit.sh bench/replay.sh bench/trajectory.sh; do
  if [ -x "$extra" ] || [ -f "$extra" ]; then echo; BUILD=$B bash "$extra"; fi
done
