#!/usr/bin/env bash
# Sharded models everywhere in verify (SPEC.md 7): a model given as its directory or its
# index JSON binds to the record its shards make up; a changed byte in one shard is named
# with its shard and tensor; --checkpoints finds sharded checkpoints (an index in DIR, or
# a subdirectory) by content, and does not hash their shards twice as loose files;
# tinytrain --shards N writes such checkpoints and final weights, which verify binds and
# replays; record takes a sharded model (directory or index) and names the file it refuses.
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

# --- tinytrain --shards N (SPEC.md 11.4): every checkpoint and the final weights as a
# Hugging Face sharded model, one record binding all shards ---
"$tt" --ledger "$t/s.ledger" --key "$t/k.key" --seed 5 --steps 40 --every 20 --out "$t/sck" --shards 3 \
  --write-genesis --quiet >/dev/null 2>&1 || bad "tinytrain --shards 3"
if [ -f "$t/sck/step000020/model.safetensors.index.json" ] && [ -f "$t/sck/final/model-00003-of-00003.safetensors" ] \
   && [ -f "$t/sck/step000020.opt.safetensors" ] && [ ! -e "$t/sck/final.safetensors" ] \
   && grep -q '"format":"pt"' "$t/sck/final/model-00002-of-00003.safetensors"; then
  ok "tinytrain --shards 3 writes DIR/stepNNNNNN/ and DIR/final/ shards with an index, format pt"
else bad "tinytrain --shards layout: $(cd "$t/sck" 2>/dev/null && find . | sort | tr '\n' ' ')"; fi
"$PY" - "$t/sck/final" <<'PY' && ok "the index maps every tensor to a shard that holds it" || bad "index of tinytrain's shards"
import json, os, struct, sys
d = sys.argv[1]; ix = json.load(open(os.path.join(d, "model.safetensors.index.json")))
held = {}
for f in set(ix["weight_map"].values()):
    b = open(os.path.join(d, f), "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); assert h.pop("__metadata__")["format"] == "pt"
    held.update({k: f for k in h})
assert held == ix["weight_map"] and len(held) == 9, (held, ix)
assert ix["metadata"]["total_size"] == 153408 * 4
PY
SV() { "$sp" verify "$t/s.ledger" --pubkey "$t/k.pub" "$@"; }
if SV --checkpoints "$t/sck" --model "$t/sck/final" --model "$t/sck/final/model.safetensors.index.json" >"$t/out" 2>&1 \
   && grep -q "all 2 checkpoint records bound" "$t/out" && grep -q "all 2 optimizer states bound" "$t/out" \
   && [ "$(grep -c 'bound to record 3 (final step 40), all 9 tensors' "$t/out")" = 2 ]; then
  ok "a --shards 3 run verifies: --checkpoints finds its shard directories, --model takes the final directory and its index"
else bad "sharded tinytrain run: $(grep -v '^  ok' "$t/out" | head -c 500 | tr '\n' ' ')"; fi
cp -r "$t/sck/final" "$t/sbad"
"$PY" - "$t/sbad/model-00003-of-00003.safetensors" <<'PY'
import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-3] ^= 0x01; open(p, "wb").write(b)
PY
SV --model "$t/sbad" >"$t/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "changed tensor 'norm2.weight' in shard 'model-00003-of-00003.safetensors'" "$t/out"; then
  ok "a changed byte in tinytrain's shard 3 is named with its shard and tensor"
else bad "changed tinytrain shard: exit $rc: $(grep -v '^  ok' "$t/out" | head -c 400 | tr '\n' ' ')"; fi
R="$tt --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet"
if SV --checkpoints "$t/sck" --replay "$R" --segments 2 >"$t/out" 2>&1 && grep -q "segment 2 (steps 21..40, records 1..2): bit for bit" "$t/out"; then
  ok "verify --replay starts tinytrain from a sharded checkpoint directory, bit for bit"
else bad "replay from shards: $(grep -v '^  ok' "$t/out" | head -c 500 | tr '\n' ' ')"; fi
for a in "--shards 0" "--shards 10"; do
  "$tt" --ledger "$t/u.ledger" --key "$t/k.key" --seed 5 --steps 4 --every 2 --out "$t/u" $a >"$t/out" 2>&1; rc=$?
  [ $rc = 2 ] && grep -q -- "--shards" "$t/out" && ok "tinytrain $a: usage error naming the flag" || bad "tinytrain $a: exit $rc"
done

# --- record takes a sharded model: its directory or its index ---
"$sp" record genesis --ledger "$t/f.ledger" --key "$t/k.key" --seed 5 --external "$t/sck/step000000" >"$t/out" 2>&1 \
  && grep -q "recorded genesis of 9 tensors .* from $t/sck/step000000 " "$t/out" \
  && ok "record genesis from a sharded model's directory" || bad "record genesis from a directory: $(head -c 300 "$t/out")"
"$sp" record checkpoint --ledger "$t/f.ledger" --key "$t/k.key" --step 20 "$t/sck/step000020/model.safetensors.index.json" \
  >"$t/out" 2>&1 && grep -q "recorded checkpoint of 9 tensors" "$t/out" \
  && ok "record checkpoint from a sharded model's index" || bad "record checkpoint from an index: $(head -c 300 "$t/out")"
"$sp" record final --ledger "$t/f.ledger" --key "$t/k.key" --step 40 "$t/sck/final" >"$t/out" 2>&1 \
  && ok "record final from a sharded model's directory" || bad "record final from a directory: $(head -c 300 "$t/out")"
if "$sp" verify "$t/f.ledger" --pubkey "$t/k.pub" --model "$t/ck/final.safetensors" --checkpoints "$t/sck" --allow-incomplete \
   >"$t/out" 2>&1; [ $? = 1 ] && grep -q "ok    model .*final.safetensors bound to record 2 (final step 40), all 9 tensors" "$t/out" \
   && grep -q "ok    checkpoint-file    record 1 (checkpoint step 20) bound to $t/sck/step000020" "$t/out"; then
  ok "records made from shards bind the one-file model and the shard directories (fails only its external genesis, no batches)"
else bad "records from shards: $(grep -v '^  ok' "$t/out" | head -c 500 | tr '\n' ' ')"; fi
grep -q "FAIL  \(model\|checkpoint-file\|root\|tensors\)" "$t/out" && bad "a binding check failed for records from shards" \
  || ok "no binding check fails for records from shards"
cp -r "$t/sck/final" "$t/miss"; rm "$t/miss/model-00002-of-00003.safetensors"
"$sp" record final --ledger "$t/f.ledger" --key "$t/k.key" --step 41 "$t/miss" >"$t/out" 2>"$t/err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$t/err")" = 1 ] && grep -q "model-00002-of-00003.safetensors" "$t/err" \
  && ok "record: a missing shard is exit 2, one line naming the shard" || bad "record missing shard: exit $rc: $(head -c 300 "$t/err")"
"$PY" - "$t/miss" <<'PY'
import json, os, shutil, sys
d = sys.argv[1]; shutil.copy(os.path.join(d, "model-00001-of-00003.safetensors"), os.path.join(d, "model-00002-of-00003.safetensors"))
PY
"$sp" record final --ledger "$t/f.ledger" --key "$t/k.key" --step 41 "$t/miss/model.safetensors.index.json" >"$t/out" 2>"$t/err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$t/err")" = 1 ] && grep -q "model.safetensors.index.json" "$t/err" \
  && ok "record: an index that does not match its shards is exit 2, one line naming the file" \
  || bad "record bad index: exit $rc: $(head -c 300 "$t/err")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
