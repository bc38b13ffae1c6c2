#!/usr/bin/env bash
# Machine output and progress (SPEC.md 7.1, 8.5, 8.6): the --json objects of verify, log and
# audit validated against docs/schemas/*.json (JSON Schema 2020-12, python3-jsonschema) for
# passing, failing and error (exit 2) runs; check names the same in pass and fail, with
# structured fields; -V, COMMAND --version, --flag=value and option messages naming the flag;
# a byte-based progress line on a terminal (under script(1)) and none in a pipe or with --quiet.
# Env: BUILD (default build), PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
S=docs/schemas CS=tests/check_schema.py
t=$(mktemp -d /tmp/sp-machine.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# js CODE NAME SCHEMA [EXPR] -- CMD...: exit CODE, stdout one object valid under SCHEMA (and EXPR)
js() {
  local want=$1 name=$2 schema=$3 expr="True"; shift 3
  if [ "$1" != "--" ]; then expr=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then bad "$name: exit $got, wanted $want: $(head -c 300 "$t/err" | tr '\n' ' ')"; return; fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then bad "$name: wanted one line on stderr"; return; fi
  local why; if why=$("$PY" "$CS" "$S/$schema.json" "$t/out" "$expr" 2>&1); then ok "$name"
  else bad "$name: $(tr '\n' ' ' <<<"$why" | head -c 600)"; fi
  cp "$t/out" "$t/last.json"
}
# expect CODE NAME GREP -- CMD...: exit CODE and GREP in stdout+stderr
expect() {
  local want=$1 name=$2 pat=$3; shift 4
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then bad "$name: exit $got, wanted $want: $(head -c 300 "$t/err" | tr '\n' ' ')"; return; fi
  if ! grep -qF -- "$pat" "$t/out" "$t/err"; then bad "$name: lacks '$pat': $(head -c 300 "$t/err" "$t/out" | tr '\n' ' ')"; return; fi
  ok "$name"
}

"$PY" -c 'import jsonschema' 2>/dev/null || { bad "python3-jsonschema missing (apt-get install python3-jsonschema)"; exit 1; }
for f in "$S"/*.json; do
  "$PY" -c 'import json,sys,jsonschema; jsonschema.Draft202012Validator.check_schema(json.load(open(sys.argv[1])))' "$f" \
    && ok "schema $f is a valid 2020-12 schema" || bad "schema $f"
done

"$sp" keygen -o "$t/k" >/dev/null && "$sp" keygen -o "$t/other" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 5 --steps 40 --every 20 --out "$t/ck" --quiet || { bad tinytrain; exit 1; }
V() { "$sp" verify "$t/run.ledger" "$@"; }

# --- verify: pass, fail, error ---
js 0 "verify pass: schema" verify 'd["verified"] and all(c["ok"] for c in d["checks"])' -- \
  V --pubkey "$t/k.pub" --checkpoints "$t/ck" --model "$t/ck/final.safetensors" --json
cp "$t/last.json" "$t/pass.json"
js 0 "verify pass: structured fields (seq, step, file) beside the prose" verify \
  'any(c["name"] == "model" and c["seq"] == 3 and c["step"] == 40 and c["file"].endswith("final.safetensors") for c in d["checks"])
   and any(c["name"] == "checkpoint-file" and c.get("step") == 20 and "file" in c for c in d["checks"])' -- cat "$t/pass.json"
js 1 "verify fail (another key): schema, signature named with its seq" verify \
  'not d["verified"] and [c["seq"] for c in d["checks"] if c["name"] == "signature" and not c["ok"]] == [0, 1, 2, 3]' -- \
  V --pubkey "$t/other.pub" --json
cp "$t/last.json" "$t/fail.json"
"$PY" - "$t/pass.json" "$t/fail.json" <<'EOF' && ok "a check has one name whether it passes or fails (signature)" || bad "check names differ between pass and fail"
import json, sys
p, f = (json.load(open(x)) for x in sys.argv[1:])
ok = {c["name"] for c in p["checks"] if c["ok"]}; ko = {c["name"] for c in f["checks"] if not c["ok"]}
assert "signature" in ok and "signature" in ko, (ok, ko)
assert not {"signatures", "checkpoints", "optimizer-files", "records"} & (ok | ko), ok | ko
EOF
cp -r "$t/ck" "$t/ck2"
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-5]^=0x40; open(p,"wb").write(b)' "$t/ck2/step000020.safetensors"
js 1 "verify fail (changed checkpoint byte): checkpoint-file with seq, step, file" verify \
  'any(c["name"] == "checkpoint-file" and not c["ok"] and c["seq"] == 1 and c["step"] == 20 and "file" in c for c in d["checks"])' -- \
  V --pubkey "$t/k.pub" --checkpoints "$t/ck2" --json
"$tt" --ledger "$t/imp.ledger" --key "$t/k.key" --seed 5 --steps 20 --every 10 --out "$t/imp" --quiet \
  --init-from "$t/ck/final.safetensors" || bad "impostor run"
js 1 "verify fail (impostor): init names the tensor, from-scratch fails" verify \
  'any(c["name"] == "init" and not c["ok"] and c["seq"] == 0 and c["tensor"] for c in d["checks"])
   and any(c["name"] == "from-scratch" and not c["ok"] for c in d["checks"])' -- \
  "$sp" verify "$t/imp.ledger" --pubkey "$t/k.pub" --json
js 2 "verify error: JSON error object on exit 2" error 'd["command"] == "verify" and "nokey.pub" in d["error"]' -- \
  V --pubkey "$t/nokey.pub" --json
js 2 "verify error: an unknown option under --json" error 'd["error"] == "unknown option '"'"'--bogus'"'"' (see --help)"' -- \
  V --json --bogus
expect 1 "text output unchanged in form: the failing check by name" "FAIL  signature" -- V --pubkey "$t/other.pub"

# --- log: pass, fail (a record that does not decode), error ---
js 0 "log pass: schema" log 'd["signatures_checked"] and [r["signature"] for r in d["records"]] == ["valid"] * 4' -- \
  "$sp" log "$t/run.ledger" --pubkey "$t/k.pub" --json
mdb_dump -n -s records "$t/run.ledger" >"$t/dump" 2>/dev/null || bad "mdb_dump"
"$PY" - "$t/dump" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
start = lines.index("HEADER=END") + 1
keys = [i for i in range(start, len(lines) - 1, 2) if lines[i].startswith(" ")]
v = lines[keys[2] + 1]; lines[keys[2] + 1] = v[: len(v) // 2]
open(sys.argv[1] + ".cut", "w").write("\n".join(lines))
EOF
mdb_dump -n -s meta "$t/run.ledger" | mdb_load -n -s meta "$t/cut.ledger" 2>/dev/null
mdb_load -n -s records -f "$t/dump.cut" "$t/cut.ledger" 2>/dev/null
js 1 "log fail: an undecodable record named by seq" log '[r["kind"] for r in d["records"]][2] == "undecodable" and d["records"][2]["seq"] == 2' -- \
  "$sp" log "$t/cut.ledger" --json
js 1 "verify fail: the undecodable record is check 'record' with its seq" verify \
  'any(c["name"] == "record" and not c["ok"] and c["seq"] == 2 for c in d["checks"])' -- \
  "$sp" verify "$t/cut.ledger" --pubkey "$t/k.pub" --json
js 2 "log error: JSON error object" error 'd["command"] == "log"' -- "$sp" log "$t/none.ledger" --json
js 2 "log error: --json=1 names the flag" error '"--json takes no value" in d["error"]' -- "$sp" log "$t/run.ledger" --json=1

# --- audit: pass, fail, error ---
"$tt" --ledger "$t/b.ledger" --key "$t/k.key" --seed 99 --steps 40 --every 20 --out "$t/b" --quiet || bad "second run"
js 0 "audit pass (independent models): schema, p and log10_p numbers" audit \
  'd["schema"] == "scratchproof/audit/v1" and not d["derived"] and isinstance(d["p"], float) and isinstance(d["log10_p"], float)
   and all(c["p"] is None or isinstance(c["p"], float) for c in d["components"])' -- \
  "$sp" audit "$t/b/final.safetensors" --ref "$t/ck/final.safetensors" --json
js 1 "audit fail (a fine-tune): derived, p numbers agree with log10_p" audit \
  'd["derived"] and all(abs(c["p"] - 10 ** c["log10_p"]) <= 1e-9 * 10 ** c["log10_p"] for c in d["components"] if c["log10_p"] is not None)' -- \
  "$sp" audit "$t/imp/final.safetensors" --ref "$t/ck/final.safetensors" --json
js 2 "audit error: JSON error object" error 'd["command"] == "audit"' -- "$sp" audit "$t/none.safetensors" --ref "$t/ck/final.safetensors" --json

# --- flags ---
for v in "-V" "--version" "verify --version" "log -V" "keygen --version" "record --version" "audit --version" "head -V" "export --version" "init --version"; do
  # shellcheck disable=SC2086
  expect 0 "scratchproof $v prints the version" "scratchproof " -- "$sp" $v
done
expect 2 "keygen -o without a value" "-o needs a value (PREFIX)" -- "$sp" keygen -o
expect 2 "record --step abc" "--step wants an integer, not 'abc'" -- \
  "$sp" record checkpoint --ledger "$t/x.ledger" --key "$t/k.key" --step abc "$t/ck/final.safetensors"
expect 2 "record --threads=0 names the flag and value" "--threads wants an integer in 1..64, not '0'" -- \
  "$sp" record checkpoint --ledger "$t/x.ledger" --key "$t/k.key" --step 1 --threads=0 "$t/ck/final.safetensors"
expect 2 "verify --pubkey without a value" "--pubkey needs a value (PUB)" -- V --pubkey
expect 0 "--flag=value works" "VERIFIED" -- V --pubkey="$t/k.pub" --checkpoints="$t/ck"

# --- progress: on a terminal, in bytes with rate and ETA; never in a pipe ---
"$PY" - "$t/big.safetensors" <<'EOF'
import json, struct, sys
n = 48 << 20   # two 48 MiB float32 tensors of zeros
h = {"a.weight": {"dtype": "F32", "shape": [n // 4], "data_offsets": [0, n]},
     "b.weight": {"dtype": "F32", "shape": [n // 4], "data_offsets": [n, 2 * n]}}
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(hb)) + hb); f.truncate(8 + len(hb) + 2 * n)
EOF
"$sp" record genesis --ledger "$t/big.ledger" --key "$t/k.key" --seed 1 --scheme '*=zeros' "$t/big.safetensors" >/dev/null 2>"$t/rec.err" \
  && "$sp" record final --ledger "$t/big.ledger" --key "$t/k.key" --step 0 "$t/big.safetensors" >/dev/null 2>>"$t/rec.err" \
  || bad "record the big file: $(head -c 300 "$t/rec.err")"
[ ! -s "$t/rec.err" ] && ok "record: no progress on stderr in a pipe" || bad "record wrote to a piped stderr: $(head -c 200 "$t/rec.err" | od -c | head -3)"
# script(1) gives the command a terminal; its typescript holds what the terminal showed
script -qec "'$sp' verify '$t/big.ledger' --pubkey '$t/k.pub' --model '$t/big.safetensors' --allow-incomplete" "$t/tty.log" >/dev/null 2>&1
if grep -aqE 'regenerating initial tensors: [0-9.]+ MiB / 96\.0 MiB +[0-9]+%' "$t/tty.log" \
   && grep -aqE 'big\.safetensors: [0-9.]+ MiB / 96\.0 MiB +[0-9]+%' "$t/tty.log" \
   && grep -aq 'ETA ' "$t/tty.log" && grep -aq 'VERIFIED' "$t/tty.log"; then
  ok "verify on a terminal: a byte-based progress line (regeneration, hashing) with ETA"
else bad "verify on a terminal: no progress line: $(tr '\r\033' '|~' <"$t/tty.log" | head -c 600)"; fi
# every redraw after a phase's first shows a rate and an ETA (tests/progress_lines.py says why)
"$PY" tests/progress_lines.py "$t/tty.log" && ok "the progress line shows a rate (or '- /s' before the first 0.05 s)" || bad "rate: $(tr '\r\033' '|~' <"$t/tty.log" | head -c 600)"
grep -aq $'\r\033\[K' "$t/tty.log" && ok "the progress line is cleared at the end" || bad "progress line not cleared"
script -qec "'$sp' record genesis --ledger '$t/big2.ledger' --key '$t/k.key' --seed 1 '$t/big.safetensors'" "$t/rtty.log" >/dev/null 2>&1
grep -aqE 'hashing tensors: [0-9.]+ MiB / 96\.0 MiB' "$t/rtty.log" && ok "record on a terminal: hashing progress" \
  || bad "record on a terminal: $(tr '\r\033' '|~' <"$t/rtty.log" | head -c 400)"
script -qec "'$sp' verify '$t/big.ledger' --pubkey '$t/k.pub' --model '$t/big.safetensors' --allow-incomplete --quiet" "$t/q.log" >/dev/null 2>&1
grep -aq 'VERIFIED' "$t/q.log" && ! grep -aq 'MiB' "$t/q.log" && ok "--quiet: no progress on a terminal" \
  || bad "--quiet: $(tr '\r\033' '|~' <"$t/q.log" | head -c 300)"
"$sp" verify "$t/big.ledger" --pubkey "$t/k.pub" --model "$t/big.safetensors" --allow-incomplete >"$t/p.out" 2>"$t/p.err"
[ ! -s "$t/p.err" ] && ! grep -q 'MiB\|ETA' "$t/p.out" && ok "in a pipe: nothing of the progress line" \
  || bad "progress in a pipe: $(head -c 200 "$t/p.err")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
