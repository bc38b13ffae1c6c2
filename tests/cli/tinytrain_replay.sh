#!/usr/bin/env bash
# tinytrain's replay mode and run options (SPEC.md 11): a segment replayed from the
# recorded start (the genesis dumped by --write-genesis, or a checkpoint with its
# momentum file) gives the recorded checkpoint files bit for bit and a replay ledger
# whose records match the run's; the configuration digest is the tagged hash of
# DIR/tinytrain.config; --math-threads N is deterministic per N and differs (slightly)
# across N; --micro N commits N batches per step with the maths unchanged. Flags that
# do not belong to a mode are refused with one line, exit 2. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-ttreplay.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# expect CODE NAME [GREP] -- CMD...: exit code, and GREP (if given) in stdout+stderr
expect() {
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then
    bad "$name: exit $got, wanted $want: $(head -c 400 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(head -c 400 "$t/err" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}
# same_files NAME A B...: every pair (dirA/file, dirB/file) identical
# jfield LEDGER SEQ FIELD: one field of one record of `scratchproof log --json`
jfield() {
  "$sp" log "$1" --json | "$PY" -c 'import json,sys
r=[x for x in json.load(sys.stdin)["records"] if x["seq"]==int(sys.argv[1])][0]; print(r[sys.argv[2]])' "$2" "$3"
}
# replay OUT W O F L [extra flags]: the verifier's command line
replay() {
  local out=$1 w=$2 o=$3 f=$4 l=$5; shift 5
  mkdir -p "$out" && "$tt" --replay-from "$w" --replay-optimizer "$o" --first-step "$f" \
    --last-step "$l" --seed 7 --out "$out" --quiet "$@"
}

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 7 --steps 300 --every 100 --out "$t/ck" \
  --quiet --write-genesis || { bad "tinytrain seed 7"; exit 1; }
[ -f "$t/ck/step000000.safetensors" ] && ok "--write-genesis writes step000000.safetensors" \
  || bad "--write-genesis wrote no step000000.safetensors"
expect 0 "the run with its genesis file verifies" "VERIFIED" -- \
  "$sp" verify "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" --model "$t/ck/final.safetensors"

# --- replay every segment ---
prev=000000 pstep=0
for s in 100 200 300; do
  cur=$(printf %06d "$s") r="$t/r$s" o=""
  [ "$pstep" != 0 ] && o="$t/ck/step$prev.opt.safetensors"
  if replay "$r" "$t/ck/step$prev.safetensors" "$o" $((pstep + 1)) "$s"; then
    if cmp -s "$r/step$cur.safetensors" "$t/ck/step$cur.safetensors" \
       && cmp -s "$r/step$cur.opt.safetensors" "$t/ck/step$cur.opt.safetensors"; then
      ok "replay of steps $((pstep + 1))..$s gives the recorded files bit for bit"
    else
      bad "replay of steps $((pstep + 1))..$s differs from the recorded files"
    fi
    seq=$((s / 100))
    [ "$(jfield "$r/replay.ledger" 0 root)" = "$(jfield "$t/run.ledger" $((seq - 1)) root)" ] \
      && ok "replay $s: its genesis root is the start record's root" \
      || bad "replay $s: genesis root differs from the start record's"
    for f in step root batches batches_digest optimizer_digest tokens; do
      a=$(jfield "$r/replay.ledger" 1 "$f") b=$(jfield "$t/run.ledger" "$seq" "$f")
      [ -n "$a" ] && [ "$a" = "$b" ] && ok "replay $s: checkpoint $f equals the run's ($a)" \
        || bad "replay $s: checkpoint $f '$a', the run has '$b'"
    done
    for f in model_name config_digest batches_per_step; do
      [ "$(jfield "$r/replay.ledger" 0 "$f")" = "$(jfield "$t/run.ledger" 0 "$f")" ] \
        && ok "replay $s: genesis $f equals the run's" || bad "replay $s: genesis $f differs"
    done
    [ "$(ls "$r" | sort | tr '\n' ' ')" = "replay.ledger replay.ledger-lock step$cur.opt.safetensors step$cur.safetensors " ] \
      && ok "replay $s: writes only the ledger and the step $s files" || bad "replay $s: files $(ls "$r")"
  else
    bad "replay of steps $((pstep + 1))..$s failed: $(cat "$t/err" 2>/dev/null)"
  fi
  prev=$cur pstep=$s
done
"$sp" log "$t/r100/replay.ledger" --json | "$PY" -c '
import json,sys; k=[r["kind"] for r in json.load(sys.stdin)["records"]]
assert k==["genesis","checkpoint"], k' && ok "a replay ledger holds a genesis and one checkpoint" \
  || bad "replay ledger records"
expect 1 "a replay ledger is signed by an ephemeral key, not the team's" "signature" -- \
  "$sp" verify "$t/r100/replay.ledger" --pubkey "$t/k.pub"
# a segment that does not start at a checkpoint: half of one, from the replayed files
replay "$t/h1" "$t/ck/step000100.safetensors" "$t/ck/step000100.opt.safetensors" 101 150 \
  && replay "$t/h2" "$t/h1/step000150.safetensors" "$t/h1/step000150.opt.safetensors" 151 200 \
  && cmp -s "$t/h2/step000200.safetensors" "$t/ck/step000200.safetensors" \
  && ok "two half segments chained give the recorded step 200" || bad "half segments"
# the optimizer state matters: starting step 101 from zero momentum diverges
replay "$t/z" "$t/ck/step000100.safetensors" "" 101 200 \
  && ! cmp -s "$t/z/step000200.safetensors" "$t/ck/step000200.safetensors" \
  && ok "replay with zero momentum instead of the recorded state diverges" \
  || bad "zero momentum gave the recorded step 200"

# --- configuration digest ---
"$PY" - "$t/ck/tinytrain.config" "$(jfield "$t/run.ledger" 0 config_digest)" <<'EOF' \
  && ok "genesis config_digest = H(\"scratchproof/config\", DIR/tinytrain.config)" || bad "config digest"
import hashlib, sys
b = open(sys.argv[1], "rb").read()
assert b.startswith(b"format=tinytrain-config/1\n") and b"\nbatch=32\n" in b and b"\nlr=0.05\n" in b, b
assert hashlib.blake2b(b"scratchproof/config\0" + b, digest_size=32).hexdigest() == sys.argv[2]
EOF
printf 'format=tinytrain-config/1\nmodel=tinytrain\nvocab=64\nctx=8\npred=3\nemb=64\nhid=256\nlayernorm_eps=1e-05\ntext=tinytrai/262144\nbatch=32\nmicro_batches=1\noptimizer=sgd\nlr=0.05\nmomentum=0.9\nweight_decay=0\n' >"$t/spec.config"
cmp -s "$t/spec.config" "$t/ck/tinytrain.config" \
  && [ "$(jfield "$t/run.ledger" 0 config_digest)" = 4f95d7c8a045c10ccfd2a779195417161d61dd167d4ed12c3dafa69996b33681 ] \
  && ok "SPEC 11.6 vector: the default configuration bytes and digest" || bad "SPEC 11.6 default vector"
"$tt" --ledger "$t/m4.ledger" --key "$t/k.key" --seed 7 --steps 1 --every 1 --out "$t/m4" --quiet --micro 4
[ "$(jfield "$t/m4.ledger" 0 config_digest)" = 8d1595df5dcfe4427466dfc472467a30eb746b4fcd1e4076a8fa2063a77ffaae ] \
  && ok "SPEC 11.6 vector: --micro 4" || bad "SPEC 11.6 --micro 4 vector"
"$tt" --ledger "$t/lr.ledger" --key "$t/k.key" --seed 7 --steps 1 --every 1 --out "$t/lr" --quiet --lr 0.1
[ "$(jfield "$t/lr.ledger" 0 config_digest)" != "$(jfield "$t/run.ledger" 0 config_digest)" ] \
  && grep -qx "lr=0.1" "$t/lr/tinytrain.config" && ok "another --lr, another config digest" \
  || bad "--lr 0.1 config digest"

# --- --math-threads: deterministic per N, other rounding across N ---
G="$t/ck/step000000.safetensors"
replay "$t/t2" "$G" "" 1 100 --math-threads 2 && SP_REPLAY_THREADS=2 replay "$t/t2e" "$G" "" 1 100 \
  && SP_REPLAY_THREADS=2 replay "$t/t1" "$G" "" 1 100 --math-threads 1 || bad "math-threads replays"
cmp -s "$t/t2/step000100.safetensors" "$t/t2e/step000100.safetensors" \
  && ok "SP_REPLAY_THREADS=2 is the --math-threads default" || bad "SP_REPLAY_THREADS=2 differs from --math-threads 2"
cmp -s "$t/t1/step000100.safetensors" "$t/ck/step000100.safetensors" \
  && ok "--math-threads 1 overrides SP_REPLAY_THREADS and is training's maths" || bad "--math-threads 1"
[ "$(jfield "$t/t2/replay.ledger" 1 batches_digest)" = "$(jfield "$t/run.ledger" 1 batches_digest)" ] \
  && ok "--math-threads 2 commits the same batches" || bad "--math-threads 2 batches digest"
"$PY" - "$t/t2/step000100.safetensors" "$t/ck/step000100.safetensors" "$G" <<'EOF' \
  && ok "--math-threads 2 differs from 1 in rounding only (0 < e < 1e-4 for every tensor)" \
  || bad "--math-threads 2 versus 1"
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); d = b[8 + n:]
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).astype(np.float64)
            for k, v in h.items() if k != "__metadata__"}
a, r, s = (load(p) for p in sys.argv[1:4])
es = {k: np.linalg.norm(a[k] - r[k]) / np.linalg.norm(r[k] - s[k]) for k in r}
assert max(es.values()) > 0 and max(es.values()) < 1e-4, es
EOF
"$tt" --ledger "$t/t2.ledger" --key "$t/k.key" --seed 7 --steps 100 --every 100 --out "$t/t2run" --quiet \
  --math-threads 2 && cmp -s "$t/t2run/step000100.safetensors" "$t/t2/step000100.safetensors" \
  && ok "--math-threads 2 training equals its replay bit for bit" || bad "--math-threads 2 training vs replay"

# --- --micro: N commitments per step, same weights ---
"$tt" --ledger "$t/mi.ledger" --key "$t/k.key" --seed 7 --steps 200 --every 100 --out "$t/mi" --quiet \
  --micro 5 || bad "tinytrain --micro 5"
[ "$(jfield "$t/mi.ledger" 0 batches_per_step)" = 5 ] && [ "$(jfield "$t/mi.ledger" 1 batches)" = 500 ] \
  && ok "--micro 5: batches_per_step 5 in the genesis, 500 commitments per 100 steps" || bad "--micro 5 counts"
cmp -s "$t/mi/step000200.safetensors" "$t/ck/step000200.safetensors" \
  && ok "--micro 5 trains the same weights as --micro 1" || bad "--micro 5 weights"
[ "$(jfield "$t/mi.ledger" 1 batches_digest)" != "$(jfield "$t/run.ledger" 1 batches_digest)" ] \
  && [ "$(jfield "$t/mi.ledger" 0 config_digest)" != "$(jfield "$t/run.ledger" 0 config_digest)" ] \
  && ok "--micro 5 commits other batch bytes under another config digest" || bad "--micro 5 digests"
replay "$t/mr" "$t/mi/step000100.safetensors" "$t/mi/step000100.opt.safetensors" 101 200 --micro 5 \
  --math-threads 2 && [ "$(jfield "$t/mr/replay.ledger" 1 batches_digest)" = "$(jfield "$t/mi.ledger" 2 batches_digest)" ] \
  && [ "$(jfield "$t/mr/replay.ledger" 1 batches)" = 500 ] \
  && [ "$(jfield "$t/mr/replay.ledger" 0 config_digest)" = "$(jfield "$t/mi.ledger" 0 config_digest)" ] \
  && ok "--micro 5 replay (2 threads) commits the run's batches" || bad "--micro 5 replay"
replay "$t/mr1" "$t/mi/step000100.safetensors" "$t/mi/step000100.opt.safetensors" 101 200 \
  && [ "$(jfield "$t/mr1/replay.ledger" 1 batches_digest)" != "$(jfield "$t/mi.ledger" 2 batches_digest)" ] \
  && ok "a replay without --micro 5 commits other batches" || bad "replay without --micro"

# --- usage errors: one line, exit 2 ---
W="$t/ck/step000100.safetensors" O="$t/ck/step000100.opt.safetensors"
R=(--replay-from "$W" --replay-optimizer "$O" --first-step 101 --last-step 110 --seed 7)
for f in "--ledger $t/x.ledger" "--key $t/k.key" "--steps 10" "--every 5" "--init-from $W" \
         "--write-genesis" "--splice-from $W" "--init-zeros" "--skip-commits 1:2"; do
  mkdir -p "$t/u"
  # shellcheck disable=SC2086
  expect 2 "replay mode refuses ${f%% *}" "${f%% *} is not used in replay mode" -- "$tt" "${R[@]}" --out "$t/u" $f
done
expect 2 "replay mode needs --replay-optimizer" "replay-optimizer is required" -- \
  "$tt" --replay-from "$W" --first-step 101 --last-step 110 --seed 7 --out "$t/u"
expect 2 "replay mode needs --seed" "seed is required" -- \
  "$tt" --replay-from "$W" --replay-optimizer "" --first-step 101 --last-step 110 --out "$t/u"
expect 2 "--first-step after --last-step" "first-step 111 is after --last-step 110" -- \
  "$tt" --replay-from "$W" --replay-optimizer "$O" --first-step 111 --last-step 110 --seed 7 --out "$t/u"
expect 2 "--first-step 0" "first-step wants an integer in \[1," -- \
  "$tt" --replay-from "$W" --replay-optimizer "$O" --first-step 0 --last-step 110 --seed 7 --out "$t/u"
expect 2 "training refuses --first-step" "first-step is for replay mode only" -- \
  "$tt" --ledger "$t/y.ledger" --key "$t/k.key" --seed 7 --steps 2 --every 1 --out "$t/y" --first-step 1
expect 2 "replay from an optimizer file as weights" "tensor embed.weight is missing" -- \
  "$tt" --replay-from "$O" --replay-optimizer "" --first-step 101 --last-step 110 --seed 7 --out "$t/u"
expect 2 "replay with weights as optimizer" "replay-optimizer" -- \
  "$tt" --replay-from "$W" --replay-optimizer "$W" --first-step 101 --last-step 110 --seed 7 --out "$t/u"
expect 2 "replay from a missing file" "replay-from" -- \
  "$tt" --replay-from "$t/nope" --replay-optimizer "" --first-step 1 --last-step 2 --seed 7 --out "$t/u"
expect 1 "replay into a directory that already holds a replay ledger" "already holds" -- \
  "$tt" "${R[@]}" --out "$t/r200" --quiet
expect 2 "a flag given twice" "given twice" -- "$tt" "${R[@]}" --seed 8 --out "$t/u"
expect 2 "bad SP_REPLAY_THREADS" "SP_REPLAY_THREADS" -- env SP_REPLAY_THREADS=zero "$tt" "${R[@]}" --out "$t/u"
expect 2 "--micro above --batch" "micro 9 is more than --batch 8" -- "$tt" "${R[@]}" --out "$t/u" --batch 8 --micro 9
expect 0 "--help lists the replay flags" "replay-optimizer" -- "$tt" --help

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
