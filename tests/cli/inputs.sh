#!/usr/bin/env bash
# tests/cli/inputs.sh - inputs that are not regular files, and full disks (SPEC.md 1.2).
# A FIFO given as a model, checkpoint, reference, record file, ledger, lock file, key or
# index must be refused at once with "not a regular file (a FIFO)", exit 2, one line: each
# command runs under `timeout 20` only as a hang guard (exit 124 = it waited on the FIFO).
# A full tmpfs must give "no space left on device" naming the file, for the safetensors
# writer (tinytrain), keygen and a ledger append, and leave the ledger intact. Mounting
# needs root; without it those cases print SKIP. Env: BUILD (default build), PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-inputs.XXXXXX)
mnt=""
cleanup() { [ -n "$mnt" ] && umount "$mnt" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# refused NAME PATTERN -- CMD...: exit 2 (not a hang), one line on stderr holding PATTERN
refused() {
  local name=$1 pat=$2; shift 3
  timeout 20 "$@" >"$t/out" 2>"$t/err" </dev/null; local got=$?
  if [ $got = 124 ]; then bad "$name: hung on the FIFO (killed after 20 s)"
  elif [ $got != 2 ]; then bad "$name: exit $got, wanted 2: $(head -c 300 "$t/err")"
  elif [ "$(wc -l <"$t/err")" != 1 ]; then bad "$name: $(wc -l <"$t/err") lines on stderr"
  elif ! grep -qF -- "$pat" "$t/err"; then bad "$name: stderr lacks '$pat': $(cat "$t/err")"
  else ok "$name"; fi
}
F="not a regular file (a FIFO)"

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 3 --steps 4 --every 2 --out "$t/ck" --quiet \
  || { bad tinytrain; exit 1; }
mkfifo "$t/fifo" "$t/fifo.safetensors.index.json"
mkdir "$t/ckf" && cp "$t/ck"/*.safetensors "$t/ckf/" && mkfifo "$t/ckf/x.safetensors"
cp "$t/run.ledger" "$t/l2.ledger" && mkfifo "$t/l2.ledger-lock"
V="$sp verify"

refused "verify --model FIFO" "fifo: $F" -- $V "$t/run.ledger" --pubkey "$t/k.pub" --model "$t/fifo"
refused "verify LEDGER=FIFO" "fifo: $F" -- $V "$t/fifo" --pubkey "$t/k.pub"
refused "verify --pubkey FIFO" "fifo: $F" -- $V "$t/run.ledger" --pubkey "$t/fifo"
refused "verify with a FIFO as PATH-lock" "l2.ledger-lock: $F" -- $V "$t/l2.ledger" --pubkey "$t/k.pub"
refused "verify --model /dev/zero" "not a regular file (a character device)" -- \
  $V "$t/run.ledger" --pubkey "$t/k.pub" --model /dev/zero
refused "log FIFO" "fifo: $F" -- "$sp" log "$t/fifo"
refused "log --pubkey FIFO" "fifo: $F" -- "$sp" log "$t/run.ledger" --pubkey "$t/fifo"
refused "audit MODEL=FIFO" "fifo: $F" -- "$sp" audit "$t/fifo" --ref "$t/ck/final.safetensors"
refused "audit --ref FIFO" "fifo: $F" -- "$sp" audit "$t/ck/final.safetensors" --ref "$t/fifo"
refused "audit index FIFO" "fifo.safetensors.index.json: $F" -- \
  "$sp" audit "$t/fifo.safetensors.index.json" --ref "$t/ck/final.safetensors"
refused "record genesis FILE=FIFO" "fifo: $F" -- \
  "$sp" record genesis --ledger "$t/new.ledger" --key "$t/k.key" --seed 1 "$t/fifo"
refused "record --key FIFO" "fifo: $F" -- \
  "$sp" record checkpoint --ledger "$t/run.ledger" --key "$t/fifo" --step 9 "$t/ck/final.safetensors"
refused "record --ledger FIFO" "fifo: $F" -- \
  "$sp" record checkpoint --ledger "$t/fifo" --key "$t/k.key" --step 9 "$t/ck/final.safetensors"
refused "record with a FIFO as PATH-lock" "l2.ledger-lock: $F" -- \
  "$sp" record checkpoint --ledger "$t/l2.ledger" --key "$t/k.key" --step 9 "$t/ck/final.safetensors"
# a FIFO among checkpoint files is not a checkpoint: skipped at once (stat, never opened)
timeout 20 "$sp" verify "$t/run.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ckf" >"$t/out" 2>&1; rc=$?
if [ $rc = 124 ]; then bad "verify --checkpoints with a FIFO inside: hung"
elif [ $rc = 0 ] && grep -qF "skipped $t/ckf/x.safetensors: $F" "$t/out"; then
  ok "verify --checkpoints skips a FIFO named x.safetensors and says so"
else bad "verify --checkpoints with a FIFO: exit $rc: $(tail -n 3 "$t/out" | tr '\n' ' ')"; fi

# the writer's PATH.tmp taken by a FIFO: refused, not a wait for a reader
mkdir "$t/ckw" && mkfifo "$t/ckw/step000002.safetensors.tmp"
timeout 20 "$tt" --ledger "$t/w.ledger" --key "$t/k.key" --seed 3 --steps 2 --every 2 --out "$t/ckw" --quiet \
  >"$t/out" 2>"$t/err" </dev/null; rc=$?
if [ $rc = 124 ]; then bad "safetensors writer with a FIFO at PATH.tmp: hung"
elif [ $rc != 0 ] && grep -qF "cannot write $t/ckw/step000002.safetensors" "$t/err"; then
  ok "safetensors writer refuses a FIFO at PATH.tmp"
else bad "safetensors writer with a FIFO at PATH.tmp: exit $rc: $(cat "$t/err")"; fi

# --- a full disk ---
mnt="$t/full"
mkdir "$mnt"
if ! mount -t tmpfs -o size=256k tmpfs "$mnt" 2>/dev/null; then
  mnt=""
  echo "SKIP full-disk cases: cannot mount a tmpfs here (needs root)"
else
  "$sp" record genesis --ledger "$mnt/r.ledger" --key "$t/k.key" --seed 3 "$t/ck/step000002.safetensors" \
    >/dev/null 2>&1 || bad "genesis on the small tmpfs"
  # tinytrain writes DIR/tinytrain.config before any checkpoint: let it exist already, so that
  # rewriting it (same size) needs no new space and the first write to fail is the safetensors one.
  "$tt" --ledger "$t/t1.ledger" --key "$t/k.key" --seed 3 --steps 2 --every 2 --out "$mnt/ck" --quiet \
    >/dev/null 2>&1 && rm -f "$mnt/ck/"*.safetensors
  dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null      # fills it: dd stops at ENOSPC
  [ "$(df --output=avail "$mnt" | tail -n 1 | tr -d ' ')" = 0 ] && ok "tmpfs filled" || bad "tmpfs not full"
  "$sp" record checkpoint --ledger "$mnt/r.ledger" --key "$t/k.key" --step 2 "$t/ck/step000002.safetensors" \
    >"$t/out" 2>"$t/err"; rc=$?
  if [ $rc != 0 ] && grep -q "no space left on device" "$t/err" && grep -qF "$mnt/r.ledger" "$t/err"; then
    ok "ledger append on a full disk: no space left on device, ledger named"
  else bad "ledger append on a full disk: exit $rc: $(cat "$t/err")"; fi
  "$sp" log "$mnt/r.ledger" --json >"$t/log.json" 2>&1 && "$PY" -c '
import json, sys; d = json.load(open(sys.argv[1])); assert [r["kind"] for r in d["records"]] == ["genesis"]' \
    "$t/log.json" && ok "the ledger still holds exactly its genesis" || bad "ledger after ENOSPC: $(cat "$t/log.json")"
  "$sp" keygen -o "$mnt/k2" >"$t/out" 2>"$t/err"; rc=$?
  if [ $rc = 2 ] && grep -qi "no space left on device" "$t/err" && grep -qF "$mnt/k2.key" "$t/err" \
     && [ ! -e "$mnt/k2.key" ]; then ok "keygen on a full disk: no space left, file named, nothing left"
  else bad "keygen on a full disk: exit $rc: $(cat "$t/err")"; fi
  "$tt" --ledger "$t/t2.ledger" --key "$t/k.key" --seed 3 --steps 2 --every 2 --out "$mnt/ck" --quiet \
    >"$t/out" 2>"$t/err"; rc=$?
  if [ $rc != 0 ] && grep -qF "cannot write $mnt/ck/step000002.safetensors: no space left on device" "$t/err" \
     && [ "$(ls "$mnt/ck" 2>/dev/null)" = tinytrain.config ]; then ok "safetensors writer on a full disk: no space left, no .tmp left"
  else bad "safetensors writer on a full disk: exit $rc: $(cat "$t/err")"; fi
  rm -f "$mnt/fill"
  "$sp" record checkpoint --ledger "$mnt/r.ledger" --key "$t/k.key" --step 2 "$t/ck/step000002.safetensors" \
    >/dev/null 2>&1 && ok "with space again, the ledger takes the append" || bad "append after freeing space"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
