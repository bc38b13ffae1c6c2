#!/usr/bin/env bash
# Sharded models everywhere in verify (SPEC.md 7): a model given as its directory or its
# index JSON binds to the record its shards make up; a changed byte in one shard is named
# with its shard and tensor; --checkpoints finds sharded checkpoints (an index in DIR, or
# a subdirectory) by content, and does not hash their shards twice as loose files.
# Env: BUILD (default build), PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-shards.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
"$sp" keygen -o "$t/k" >/dev/null
"$tt" --ledger "$t/r.ledger" --key "$t/k.key" --seed 5 --steps 40 --every 20 --out "$t/ck" --quiet >/dev/null 2>&1 \
  || { bad "tinytrain"; echo "$pass passed, $fail failed"; exit 1; }
"$PY" tests/shard_model.py "$t/ck/final.safetensors" "$t/model" 3
V() { "$sp" verify "$t/r.ledger" --pubkey "$t/k.pub" "$@"; }
for m in "$t/model" "$t/model/model.safetensors.index.json"; do
  if V --model "$m" >"$t/out" 2>&1 && grep -q "bound to record .* (final step 40), all 9 tensors" "$t/out"; then
    ok "a 3-shard model given as ${m##*/} binds to the final record"
  else bad "sharded --model ${m##*/}: $(grep -v '^  ok' "$t/out" | head -c 400 | tr '\n' ' ')"; fi
done
grep -q '"format":"pt"' "$t/model/model-00001-of-00003.safetensors" && ok "shards carry format pt" || bad "no format pt"
# one changed byte in the middle shard: named with shard and tensor
cp -r "$t/model" "$t/bad"
"$PY" - "$t/bad/model-00002-of-00003.safetensors" <<'PY'
import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-5] ^= 0x10; open(p, "wb").write(b)
PY
V --model "$t/bad" >"$t/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "changed tensor '[a-z0-9.]*' in shard 'model-00002-of-00003.safetensors'" "$t/out"; then
  ok "a changed byte in shard 2 is named with its shard and tensor"
else bad "changed shard: exit $rc: $(grep -v '^  ok' "$t/out" | head -c 400 | tr '\n' ' ')"; fi
# sharded checkpoints: step 20 as a subdirectory, step 40 as an index beside its shards
mkdir -p "$t/cks"
"$PY" tests/shard_model.py "$t/ck/step000020.safetensors" "$t/cks/step000020" 2
"$PY" tests/shard_model.py "$t/ck/step000040.safetensors" "$t/cks" 4
cp "$t/ck/"*.opt.safetensors "$t/cks/"
if V --checkpoints "$t/cks" >"$t/out" 2>&1 && grep -q "all 2 checkpoint records bound" "$t/out"; then
  ok "--checkpoints binds a checkpoint in a subdirectory and one given by an index"
else bad "sharded --checkpoints: $(grep -v '^  ok' "$t/out" | head -c 500 | tr '\n' ' ')"; fi
if grep -q "skipped .*model-0000" "$t/out"; then bad "a shard was also hashed as a loose file"
else ok "shards of a loaded index are not hashed again as loose files"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
