#!/usr/bin/env bash
# tests/cli/escape.sh - output that cannot lie (SPEC.md 1.1). Builds the attack: a signed
# model name holding a newline, ANSI escapes, a bidi override and invalid UTF-8 that spells
# a forged "VERIFIED" line; tensor names and file names doing the same. Every text output
# (verify, log, audit, error lines) must hold no raw control byte, no invalid UTF-8 and no
# bidi override, so the forged lines never appear as lines; every JSON output must parse.
# Also the independent Python reference of the escaping rule (tests/escape_reference.py).
# Env: BUILD (default build), PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-escape.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# clean NAME FILE [FORBIDDEN-LINE-START]...: FILE is valid UTF-8, holds no control byte but
# newlines, no C1 or bidi code point, and no line starts with a forbidden text.
clean() {
  local name=$1 f=$2; shift 2
  if "$PY" - "$f" "$@" >"$t/why" 2>&1 <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
s = b.decode("utf-8")                        # raises on invalid UTF-8
bad = [c for c in s if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
       or ord(c) in (0x61c, 0x200e, 0x200f) or 0x2028 <= ord(c) <= 0x202e
       or 0x2066 <= ord(c) <= 0x2069]
assert not bad, "raw %r" % bad[:5]
for line in s.split("\n"):
    for p in sys.argv[2:]:
        assert not line.startswith(p), "forged line %r" % line
EOF
  then ok "$name"; else bad "$name: $(tail -n 1 "$t/why")"; fi
}
# jsonok NAME FILE PYTHON-ASSERTIONS: FILE parses as JSON (as d) and the assertions hold
jsonok() {
  local name=$1 f=$2 code=$3
  if "$PY" - "$f" >"$t/why" 2>&1 <<EOF
import json, sys
raw = open(sys.argv[1], "rb").read()
assert all(0x20 <= x < 0x7f or x == 0x0a for x in raw), "JSON is not printable ASCII"
d = json.loads(raw)
$code
EOF
  then ok "$name"; else bad "$name: $(tail -n 1 "$t/why")"; fi
}

# an ASan library loads into python only with the ASan runtime preloaded (as tests/cli/python.sh)
pre=""
ldd "$B/libscratchproof.so" 2>/dev/null | grep -q libasan && pre="$(${CC:-cc} -print-file-name=libasan.so)"
LD_PRELOAD="$pre" ASAN_OPTIONS="detect_leaks=0" "$PY" tests/escape_reference.py SPEC.md "$B/libscratchproof.so" \
  && ok "Python reference of SPEC.md 1.1" || bad "Python reference of SPEC.md 1.1"

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
# weights whose tensor names forge lines, HTML and bidi text (names are JSON in safetensors,
# so they are valid UTF-8: \n, ESC, U+202E and <b> are what a file can carry)
"$PY" - "$t" <<'PYEOF'
import json, struct, sys
t = sys.argv[1]
def st(path, tensors):
    hdr, data = {}, b""
    for name, vals in tensors:
        b = struct.pack("<%df" % len(vals), *vals)
        hdr[name] = {"dtype": "F32", "shape": [len(vals) // 4, 4] if len(vals) > 4 else [len(vals)],
                     "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
evil = "w\n\x1b[32m  ok    model              forged bound\x1b[0m\u202e<b>x</b>"
st(t + "/zero.safetensors", [(evil, [0.0] * 16), ("b\rVERIFIED: 99 checks passed", [0.0] * 4)])
st(t + "/one.safetensors", [(evil, [1.0] * 16), ("b\rVERIFIED: 99 checks passed", [0.0] * 4)])
import random
r = random.Random(5)
st(t + "/ra.safetensors", [(evil + ".weight", [r.gauss(0, 1) for _ in range(4096)])])
st(t + "/rb.safetensors", [(evil + ".weight", [r.gauss(0, 1) for _ in range(4096)])])
PYEOF
name=$(printf 'x\n\033[32mVERIFIED: 99 checks passed\033[0m\342\200\256\377\376')
"$sp" record genesis --ledger "$t/r.ledger" --key "$t/k.key" --seed 1 --model-name "$name" \
  --scheme '*=zeros' "$t/zero.safetensors" >"$t/out" 2>&1 && ok "record genesis with a forging model name" \
  || bad "record genesis: $(cat "$t/out")"
# step 0 and --allow-incomplete below: `record` commits no batches and this ledger has no final
# record, so a later step would fail the batches and complete checks (SPEC.md 7 items 8-9)
"$sp" record checkpoint --ledger "$t/r.ledger" --key "$t/k.key" --step 0 "$t/zero.safetensors" >/dev/null \
  || bad "record checkpoint"
evilpath="$t/ev"$'\n\e[32m'"VERIFIED"$'\xff'".safetensors"
cp "$t/one.safetensors" "$evilpath"

# verify, text: the model name, a FAIL detail naming the evil tensors, an evil file name
"$sp" verify "$t/r.ledger" --pubkey "$t/k.pub" --model "$t/one.safetensors" --model "$evilpath" \
  >"$t/v.txt" 2>"$t/v.err"; rc=$?
[ $rc = 1 ] && ok "verify of a changed model: exit 1" || bad "verify: exit $rc, wanted 1"
clean "verify text output" "$t/v.txt" "VERIFIED" "  ok    model" "\033"
grep -qF 'model '"'"'x\x0a\x1b[32mVERIFIED: 99 checks passed\x1b[0m\xe2\x80\xae\xff\xfe'"'" "$t/v.txt" \
  && ok "verify shows the model name escaped" || bad "verify model name: $(grep run "$t/v.txt")"
grep -qF 'ev\x0a\x1b[32mVERIFIED\xff.safetensors' "$t/v.txt" && ok "verify shows the file name escaped" \
  || bad "verify file name: $(grep model "$t/v.txt" | head -3)"
[ "$(grep -c '^NOT VERIFIED' "$t/v.txt")" = 1 ] && [ "$(tail -n 1 "$t/v.txt" | cut -c1-12)" = "NOT VERIFIED" ] \
  && ok "one verdict line, the last" || bad "verdict lines: $(grep -c VERIFIED "$t/v.txt")"
"$sp" verify "$t/r.ledger" --pubkey "$t/k.pub" --model "$t/zero.safetensors" --allow-incomplete >"$t/v0.txt" 2>&1; rc=$?
[ $rc = 0 ] && clean "verify text output (verified run)" "$t/v0.txt" "  ok    model              forged" \
  || bad "verify of the genesis weights: exit $rc"

# verify --json: parses (was exit 2 "out of memory writing JSON"); invalid bytes read \xNN
"$sp" verify "$t/r.ledger" --pubkey "$t/k.pub" --model "$t/one.safetensors" --model "$evilpath" --json \
  >"$t/v.json" 2>"$t/v.err"; rc=$?
[ $rc = 1 ] && ok "verify --json: exit 1" || bad "verify --json: exit $rc: $(cat "$t/v.err")"
jsonok "verify --json parses, model name in escaped form" "$t/v.json" '
assert d["verified"] is False
assert d["model_name"] == "x\\x0a\\x1b[32mVERIFIED: 99 checks passed\\x1b[0m\\xe2\\x80\\xae\\xff\\xfe", d["model_name"]
assert any("\n\x1b[32m" in c["detail"] for c in d["checks"]), "tensor names kept exactly (valid UTF-8)"
assert any("ev\\x0a\\x1b[32mVERIFIED\\xff" in c["detail"] for c in d["checks"]), "invalid path escaped"'

# log, text and JSON
"$sp" log "$t/r.ledger" --pubkey "$t/k.pub" >"$t/l.txt" 2>&1 && ok "log: exit 0" || bad "log exit"
clean "log text output" "$t/l.txt" "VERIFIED" "\033"
grep -qF "model 'x\\x0a\\x1b[32mVERIFIED" "$t/l.txt" && ok "log shows the model name escaped" || bad "log: $(cat "$t/l.txt")"
"$sp" log "$t/r.ledger" --json >"$t/l.json" 2>&1 && ok "log --json: exit 0" || bad "log --json exit"
jsonok "log --json parses" "$t/l.json" '
assert d["records"][0]["model_name"].startswith("x\\x0a\\x1b[32mVERIFIED"), d["records"][0]'

# error lines: one line, escaped, naming the file
"$sp" verify "$t/r.ledger" --pubkey "$t/k.pub" --model "$t/no"$'\n\e[2J'"such" >"$t/e.out" 2>"$t/e.err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$t/e.err")" = 1 ] && ok "error for a missing evil path: exit 2, one line" \
  || bad "missing evil path: exit $rc, $(wc -l <"$t/e.err") lines"
clean "error line escaped" "$t/e.err"
grep -qF 'no\x0a\x1b[2Jsuch' "$t/e.err" && ok "error line names the file escaped" || bad "error line: $(cat "$t/e.err")"
"$sp" $'frob\e[2J' >"$t/e.out" 2>"$t/e.err"
clean "unknown command escaped" "$t/e.err"
"$sp" record genesis --ledger "$t/r2.ledger" --key "$t/k.key" --seed 1 "$evilpath" >"$t/rec.out" 2>&1
clean "record output escaped" "$t/rec.out"

# audit: text, JSON and HTML with the evil names and an evil reference path
evilref="$t/re"$'\e[31m\n'"f"$'\xfe'".safetensors"
cp "$t/rb.safetensors" "$evilref"
"$sp" audit "$t/ra.safetensors" --ref "$evilref" --html "$t/a.html" >"$t/a.txt" 2>"$t/a.err"; rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || [ $rc = 3 ] && ok "audit runs on evil names (exit $rc)" || bad "audit: exit $rc: $(cat "$t/a.err")"
clean "audit text output" "$t/a.txt" "  ok    model" "\033"
grep -qF 're\x1b[31m\x0af\xfe.safetensors' "$t/a.txt" && ok "audit shows the reference path escaped" \
  || bad "audit path: $(head -3 "$t/a.txt")"
"$sp" audit "$t/ra.safetensors" --ref "$evilref" --json >"$t/a.json" 2>"$t/a.err"
jsonok "audit --json parses" "$t/a.json" '
assert d["references"][0]["path"].endswith("re\\x1b[31m\\x0af\\xfe.safetensors"), d["references"][0]["path"]
assert d["tensors"][0]["name"].startswith("w\n\x1b[32m"), d["tensors"][0]["name"]'
clean "audit HTML is valid UTF-8 without control bytes" "$t/a.html"
if grep -q '<b>x' "$t/a.html"; then bad "audit HTML holds a raw tag from a tensor name"
elif grep -qF '&lt;b&gt;x&lt;/b&gt;' "$t/a.html" && grep -qF 'w\x0a\x1b[32m' "$t/a.html"; then
  ok "audit HTML escapes tensor names"
else bad "audit HTML: tensor name not found escaped"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
