#!/usr/bin/env bash
# The multi-rank hook under mpirun (SPEC.md 17): sharded digests equal one
# process's (the files rank 0 writes whole bind to the records, the genesis
# regenerates from its seed), the same genesis root for 1 and 4 ranks, the
# batch count is ranks x steps, and a diverged replica, a byte held by no rank
# and a tensor list that differs between ranks each fail on every rank.
# Env: BUILD (default build). Skips (exit 0, SKIP line) only without mpirun.
set -u
B=${BUILD:-build}
sp=$B/scratchproof
t=$(mktemp -d /tmp/sp-mpi.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
if ! command -v mpirun >/dev/null || [ ! -x "$B/tests/mpi_shards" ]; then
  echo "SKIP mpirun or $B/tests/mpi_shards missing (apt-get install openmpi-bin libopenmpi-dev)"; exit 0
fi
# CI runs as root; OpenMPI refuses root unless told. Sanitizer builds: OpenMPI's own
# allocations outlive MPI_Finalize, so leak reports at exit are not ours.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
mpi() { timeout 300 mpirun -np "$1" --oversubscribe "${@:2}"; }
"$sp" keygen -o "$t/k" >/dev/null

for np in 1 4; do
  mkdir -p "$t/o$np"
  if mpi "$np" "$B/tests/mpi_shards" "$t/r$np.ledger" "$t/k.key" "$t/o$np" >"$t/log$np" 2>&1; then
    ok "mpirun -np $np: genesis, batches, checkpoint and final recorded"
  else bad "mpirun -np $np failed: $(head -c 400 "$t/log$np" | tr '\n' ' ')"; fi
  if "$sp" verify "$t/r$np.ledger" --pubkey "$t/k.pub" --checkpoints "$t/o$np" \
       --model "$t/o$np/final.safetensors" >"$t/v$np" 2>&1; then
    ok "-np $np: the ledger verifies; whole files bind to the sharded records"
  else bad "-np $np: verify: $(grep -v '^  ok' "$t/v$np" | head -c 600 | tr '\n' ' ')"; fi
done
root() { "$sp" log "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["root"])'; }
r1=$(root "$t/r1.ledger") r4=$(root "$t/r4.ledger")
[ -n "$r1" ] && [ "$r1" = "$r4" ] && ok "same genesis root for 1 and 4 ranks" \
  || bad "genesis roots differ: 1 rank $r1, 4 ranks $r4"
cmp -s "$t/o1/final.safetensors" "$t/o4/final.safetensors" && ok "same final weights for 1 and 4 ranks" \
  || bad "final weights differ between 1 and 4 ranks"
"$sp" log "$t/r4.ledger" | grep -q ' 8 batches' && ok "4 ranks x 2 steps = 8 batch commitments" \
  || bad "batch count: $("$sp" log "$t/r4.ledger" | sed -n 2p)"

for f in replica gap shape; do
  mkdir -p "$t/$f"
  case $f in
    replica) want="replicas disagree: rank 1's copy of tensor 'b.weight'" ;;
    gap) want="is held by no rank" ;;
    shape) want="rank 1 passes another tensor list than rank 0" ;;
  esac
  if mpi 4 "$B/tests/mpi_shards" "$t/$f.ledger" "$t/k.key" "$t/$f" "$f" >"$t/log" 2>&1; then
    bad "$f: the run succeeded"
  elif grep -q -- "$want" "$t/log"; then ok "$f: refused on every rank ($want)"
  else bad "$f: wrong failure: $(head -c 400 "$t/log" | tr '\n' ' ')"; fi
done

# tinytrain_mpi: 4 data-parallel ranks; the genesis equals tinytrain's for the seed
if [ -x "$B/tinytrain_mpi" ]; then
  if mpi 4 "$B/tinytrain_mpi" --ledger "$t/tt4.ledger" --key "$t/k.key" --seed 7 --steps 40 --every 20 \
       --batch 16 --micro 2 --out "$t/tt4" --quiet >"$t/log" 2>&1; then ok "mpirun -np 4 tinytrain_mpi"
  else bad "tinytrain_mpi: $(head -c 400 "$t/log" | tr '\n' ' ')"; fi
  "$B/tinytrain" --ledger "$t/tt1.ledger" --key "$t/k.key" --seed 7 --steps 40 --every 20 --batch 16 \
    --micro 2 --out "$t/tt1" --quiet >/dev/null 2>&1
  if "$sp" verify "$t/tt4.ledger" --pubkey "$t/k.pub" --checkpoints "$t/tt4" \
       --model "$t/tt4/final.safetensors" >"$t/v" 2>&1; then ok "tinytrain_mpi's ledger verifies and binds its final model"
  else bad "tinytrain_mpi verify: $(grep -v '^  ok' "$t/v" | head -c 600 | tr '\n' ' ')"; fi
  a=$(root "$t/tt1.ledger") b=$(root "$t/tt4.ledger")
  [ -n "$a" ] && [ "$a" = "$b" ] && ok "tinytrain_mpi -np 4 has tinytrain's genesis digests for seed 7" \
    || bad "genesis roots: tinytrain $a, tinytrain_mpi $b"
  "$sp" log "$t/tt4.ledger" | grep -q ' 160 batches' && ok "4 ranks x 2 micro-batches x 20 steps = 160 commitments per segment" \
    || bad "batch count: $("$sp" log "$t/tt4.ledger" | sed -n 2p)"
  expect_mpi_usage=$(mpi 2 "$B/tinytrain_mpi" --ledger "$t/x.ledger" --key "$t/k.key" --seed 1 --steps 2 \
                     --every 1 --out "$t/x" --init-from "$t/tt1/final.safetensors" 2>&1; echo "exit $?")
  case $expect_mpi_usage in *"one process) only"*"exit 2") ok "tinytrain_mpi refuses tinytrain's one-process modes (exit 2)" ;;
    *) bad "tinytrain_mpi --init-from: $(echo "$expect_mpi_usage" | head -c 300 | tr '\n' ' ')" ;; esac
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
