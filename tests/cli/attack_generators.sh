#!/usr/bin/env bash
# The proof-of-learning attacks of SPEC.md 11.8-11.9 are real: tinytrain's test-only
# impostor modes (--splice-from/--splice-optimizer/--splice-at/--splice-prefix,
# --init-zeros, --skip-commits) and the generators build/tests/forge_interp and
# build/tests/merge_runs produce ledgers that today's `verify` (chain, genesis,
# bindings; no --replay) accepts, with the lie where it should be (the weights), while
# replaying a segment does not give the recorded files. The verifier's rejection of
# each is tested beside `verify --replay`. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
forge=$B/tests/forge_interp merge=$B/tests/merge_runs
t=$(mktemp -d /tmp/sp-attacks.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
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
jfield() {
  "$sp" log "$1" --json | "$PY" -c 'import json,sys
r=[x for x in json.load(sys.stdin)["records"] if x["seq"]==int(sys.argv[1])][0]; print(r[sys.argv[2]])' "$2" "$3"
}
# passes NAME LEDGER DIR: the record-level checks (chain, genesis, model binding; no
# --checkpoints, so no trajectory screen, and no --replay) accept the ledger: the lie is
# only in the weights. tests/cli/attacks.sh shows replay and the screen rejecting each.
passes() {
  expect 0 "$1: verify without --replay or the screen accepts it" "VERIFIED" -- \
    "$sp" verify "$2" --pubkey "$t/k.pub" --model "$3/final.safetensors"
}
# diverges NAME DIR F L: replaying steps F..L from DIR's files does not give DIR's step L
diverges() {
  local d=$2 f=$3 l=$4 w o
  w="$d/step$(printf %06d $((f - 1))).safetensors" o="$d/step$(printf %06d $((f - 1))).opt.safetensors"
  [ "$f" = 1 ] && w="$t/a/step000000.safetensors" o=""
  mkdir -p "$t/rp-$1"
  "$tt" --replay-from "$w" --replay-optimizer "$o" --first-step "$f" --last-step "$l" --seed 7 \
    --out "$t/rp-$1" --quiet || { bad "$1: replay failed"; return; }
  ! cmp -s "$t/rp-$1/step$(printf %06d "$l").safetensors" "$d/step$(printf %06d "$l").safetensors" \
    && ok "$1: replaying steps $f..$l does not give the recorded step $l" \
    || bad "$1: replaying steps $f..$l gives the recorded files"
}
# py SCRIPT ARGS: numpy checks on safetensors files (load(path) -> {name: float64 array})
py() {
  local s=$1; shift
  "$PY" - "$@" <<EOF
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); d = b[8 + n:]
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).astype(np.float64)
            for k, v in h.items() if k != "__metadata__"}
a = sys.argv[1:]
$s
EOF
}

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
train() { "$tt" --ledger "$t/$1.ledger" --key "$t/k.key" --out "$t/$1" --quiet "${@:2}"; }
train a --seed 7 --steps 300 --every 100 --write-genesis && train b --seed 8 --steps 300 --every 100 \
  || { bad "honest runs A (seed 7) and B (seed 8)"; exit 1; }

# --- forge_interp: checkpoints on the line from the genesis to B's final weights ---
expect 0 "forge_interp runs" -- "$forge" --ledger "$t/fi.ledger" --key "$t/k.key" --seed 7 --steps 300 \
  --every 100 --out "$t/fi" --target "$t/b/final.safetensors"
passes "forge_interp" "$t/fi.ledger" "$t/fi"
[ "$(jfield "$t/fi.ledger" 0 root)" = "$(jfield "$t/a.ledger" 0 root)" ] \
  && [ "$(jfield "$t/fi.ledger" 4 root)" = "$(jfield "$t/b.ledger" 4 root)" ] \
  && [ "$(jfield "$t/fi.ledger" 0 config_digest)" = "$(jfield "$t/a.ledger" 0 config_digest)" ] \
  && ok "forge_interp: honest genesis and config, final record = the target's weights" \
  || bad "forge_interp genesis/final roots"
same=1
for s in 1 2 3; do
  [ "$(jfield "$t/fi.ledger" $s batches_digest)" = "$(jfield "$t/a.ledger" $s batches_digest)" ] || same=0
done
[ "$same" = 1 ] && ok "forge_interp: honest batch commitments (same batches digests as run A)" \
  || bad "forge_interp: batches digests differ from an honest run's"
py '
w0, w1, ws, o1 = load(a[0]), load(a[1]), load(a[2]), load(a[3])
for k in w0:
    want = w0[k] + (100 / 300) * (ws[k] - w0[k])
    assert np.max(np.abs(w1[k] - want)) <= 1e-6 * max(1.0, np.max(np.abs(want))), k
    assert np.allclose(o1["opt." + k + ".momentum"], (w0[k] - ws[k]) / (0.05 * 300), rtol=1e-5, atol=1e-7), k
' "$t/a/step000000.safetensors" "$t/fi/step000100.safetensors" "$t/b/final.safetensors" \
  "$t/fi/step000100.opt.safetensors" \
  && ok "forge_interp: W_100 = W0 + (100/300)(W* - W0), momentum (W0 - W*)/(lr K)" || bad "forge_interp maths"
diverges forge_interp "$t/fi" 101 200
expect 0 "forge_interp --optimizer zeros" -- "$forge" --ledger "$t/fz.ledger" --key "$t/k.key" --seed 7 \
  --steps 100 --every 50 --out "$t/fz" --target "$t/b/final.safetensors" --optimizer zeros
py 'o = load(a[0]); assert all(not v.any() for v in o.values())' "$t/fz/step000050.opt.safetensors" \
  && ok "forge_interp --optimizer zeros writes zero momentum" || bad "forge_interp zeros"
expect 2 "forge_interp needs --target" "target is required" -- "$forge" --ledger "$t/x.ledger" \
  --key "$t/k.key" --seed 7 --steps 10 --every 5 --out "$t/x"
expect 2 "forge_interp refuses a target that is not the model" "tensor" -- "$forge" --ledger "$t/x.ledger" \
  --key "$t/k.key" --seed 7 --steps 10 --every 5 --out "$t/x" --target "$t/b/step000100.opt.safetensors"
expect 2 "forge_interp --optimizer other" "delta or zeros" -- "$forge" --ledger "$t/x.ledger" \
  --key "$t/k.key" --seed 7 --steps 10 --every 5 --out "$t/x" --target "$t/b/final.safetensors" --optimizer adam

# --- merge_runs: A up to step 150, then B ---
expect 0 "merge_runs runs" -- "$merge" --ledger "$t/mr.ledger" --key "$t/k.key" --seed 7 --steps 300 \
  --every 100 --out "$t/mr" --run-a "$t/a" --run-b "$t/b" --switch-at 150
passes "merge_runs" "$t/mr.ledger" "$t/mr"
[ "$(jfield "$t/mr.ledger" 1 root)" = "$(jfield "$t/a.ledger" 1 root)" ] \
  && [ "$(jfield "$t/mr.ledger" 2 root)" = "$(jfield "$t/b.ledger" 2 root)" ] \
  && [ "$(jfield "$t/mr.ledger" 3 root)" = "$(jfield "$t/b.ledger" 3 root)" ] \
  && [ "$(jfield "$t/mr.ledger" 4 root)" = "$(jfield "$t/b.ledger" 4 root)" ] \
  && [ "$(jfield "$t/mr.ledger" 2 optimizer_digest)" = "$(jfield "$t/b.ledger" 2 optimizer_digest)" ] \
  && [ "$(jfield "$t/mr.ledger" 2 batches_digest)" = "$(jfield "$t/a.ledger" 2 batches_digest)" ] \
  && ok "merge_runs: step 100 is A's, steps 200 and 300 and the final B's, batches honest" \
  || bad "merge_runs roots"
[ "$(jfield "$t/mr.ledger" 0 seq)" = 0 ] && [ "$("$sp" log "$t/mr.ledger" --json | grep -c '"seq"')" = 5 ] \
  && ok "merge_runs: one run of 5 records" || bad "merge_runs record count"
diverges merge_runs "$t/mr" 101 200
expect 2 "merge_runs --switch-at at the last step" "switch-at" -- "$merge" --ledger "$t/x.ledger" \
  --key "$t/k.key" --seed 7 --steps 300 --every 100 --out "$t/x" --run-a "$t/a" --run-b "$t/b" --switch-at 300
expect 2 "merge_runs with a run directory lacking the files" "step000100" -- "$merge" --ledger "$t/x2.ledger" \
  --key "$t/k.key" --seed 7 --steps 300 --every 100 --out "$t/x2" --run-a "$t/nope" --run-b "$t/b" --switch-at 150

# --- tinytrain --splice-from at step 1: another model's weights right after an honest genesis ---
train s1 --seed 7 --steps 300 --every 100 --splice-from "$t/b/final.safetensors" --splice-at 1 \
  || bad "tinytrain --splice-at 1"
passes "splice at step 1" "$t/s1.ledger" "$t/s1"
[ "$(jfield "$t/s1.ledger" 0 root)" = "$(jfield "$t/a.ledger" 0 root)" ] \
  && ok "splice at step 1: the genesis is the honest one" || bad "splice at 1: genesis"
py 'x, a1, bf = load(a[0]), load(a[1]), load(a[2])
d = lambda u, v: sum(np.sum((u[k] - v[k]) ** 2) for k in u)
assert d(x, bf) < d(x, a1), (d(x, bf), d(x, a1))' "$t/s1/step000100.safetensors" \
  "$t/a/step000100.safetensors" "$t/b/final.safetensors" \
  && ok "splice at step 1: step 100 is near the donor, far from the honest run" || bad "splice at 1: distances"
diverges splice1 "$t/s1" 1 100

# --- --splice-prefix head. at step 21: one component swapped ---
train h --seed 7 --steps 40 --every 10 && train hs --seed 7 --steps 40 --every 10 \
  --splice-from "$t/b/final.safetensors" --splice-at 21 --splice-prefix head. || bad "tinytrain --splice-prefix"
passes "splice head. at step 21" "$t/hs.ledger" "$t/hs"
cmp -s "$t/hs/step000020.safetensors" "$t/h/step000020.safetensors" \
  && ! cmp -s "$t/hs/step000030.safetensors" "$t/h/step000030.safetensors" \
  && ok "splice head. at 21: steps 1..20 honest, step 30 not" || bad "splice head.: files"
py 'x, h, bf = load(a[0]), load(a[1]), load(a[2])
n = lambda u: np.linalg.norm(u)
assert n(x["head.weight"] - bf["head.weight"]) < n(x["head.weight"] - h["head.weight"])
assert n(x["fc1.weight"] - h["fc1.weight"]) < n(x["fc1.weight"] - bf["fc1.weight"])
share = (x["head.weight"].size + x["head.bias"].size) / sum(v.size for v in x.values())
assert 0.09 < share < 0.12, share' "$t/hs/step000030.safetensors" "$t/h/step000030.safetensors" \
  "$t/b/final.safetensors" \
  && ok "splice head.: head (~10 % of the parameters) is the donor's, fc1 the run's own" \
  || bad "splice head.: tensors"
diverges splice_head "$t/hs" 11 30

# --- --splice-optimizer: another run's momentum at step 101 ---
train so --seed 7 --steps 300 --every 100 --splice-optimizer "$t/b/step000100.opt.safetensors" \
  --splice-at 101 || bad "tinytrain --splice-optimizer"
passes "splice optimizer at 101" "$t/so.ledger" "$t/so"
cmp -s "$t/so/step000100.safetensors" "$t/a/step000100.safetensors" \
  && ! cmp -s "$t/so/step000200.safetensors" "$t/a/step000200.safetensors" \
  && ok "splice optimizer: step 100 honest, step 200 not" || bad "splice optimizer files"
diverges splice_opt "$t/so" 101 200

# --- --init-zeros: a degenerate genesis, recorded honestly ---
train z --seed 7 --steps 100 --every 50 --init-zeros --write-genesis || bad "tinytrain --init-zeros"
passes "init-zeros" "$t/z.ledger" "$t/z"
py 'g = load(a[0])
assert all(not g[k].any() for k in ("embed.weight", "fc1.weight", "fc1.bias", "head.weight", "head.bias"))
assert (g["norm1.weight"] == 1).all() and not g["norm1.bias"].any()' "$t/z/step000000.safetensors" \
  && ok "init-zeros: the genesis is zeros (norm weights 1)" || bad "init-zeros genesis"

# --- --skip-commits: steps without a batch commitment ---
train sk --seed 7 --steps 300 --every 100 --skip-commits 150:160 || bad "tinytrain --skip-commits"
expect 1 "skip-commits 150:160: the batch count check names the record" \
  "record 2 (steps 101..200): 89 batch commitments for 100 steps x 1" -- \
  "$sp" verify "$t/sk.ledger" --pubkey "$t/k.pub" --model "$t/sk/final.safetensors"
[ "$(jfield "$t/sk.ledger" 2 batches)" = 89 ] && [ "$(jfield "$t/sk.ledger" 1 batches)" = 100 ] \
  && cmp -s "$t/sk/step000300.safetensors" "$t/a/step000300.safetensors" \
  && ok "skip-commits: 89 commitments for steps 101..200, weights as trained" || bad "skip-commits counts"

# --- impostor-mode usage errors ---
U=(--ledger "$t/u.ledger" --key "$t/k.key" --seed 7 --steps 10 --every 5 --out "$t/u")
expect 2 "--splice-from needs --splice-at" "splice-from needs --splice-at" -- "$tt" "${U[@]}" --splice-from "$t/b/final.safetensors"
expect 2 "--splice-at needs a source" "splice-at needs" -- "$tt" "${U[@]}" --splice-at 3
expect 2 "--splice-at after the last step" "after the last step" -- "$tt" "${U[@]}" --splice-at 11 --splice-from "$t/b/final.safetensors"
expect 2 "--splice-prefix matching nothing" "matches no tensor" -- "$tt" "${U[@]}" --splice-at 2 \
  --splice-from "$t/b/final.safetensors" --splice-prefix decoder.
expect 2 "--splice-optimizer given weights" "opt.embed.weight.momentum is missing" -- "$tt" "${U[@]}" \
  --splice-at 2 --splice-optimizer "$t/b/final.safetensors"
expect 2 "--skip-commits B < A" "skip-commits wants A:B" -- "$tt" "${U[@]}" --skip-commits 5:4
expect 2 "--skip-commits not a range" "skip-commits wants A:B" -- "$tt" "${U[@]}" --skip-commits 5
expect 2 "--init-zeros with --init-from" "exclude each other" -- "$tt" "${U[@]}" --init-zeros \
  --init-from "$t/b/final.safetensors"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
