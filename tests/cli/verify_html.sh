#!/usr/bin/env bash
# `scratchproof verify --html FILE` (SPEC.md 13.5): one self-contained page (inline CSS
# and SVG, no script, no network reference) with every check, and with --checkpoints the
# trajectory charts and table; hostile strings from the ledger and the file system
# (markup, quotes, control bytes, invalid UTF-8) are escaped and never break the page;
# the page renders in headless Chromium at 1200 px and at 420 px. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-vhtml.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
train() { "$tt" --ledger "$t/$1.ledger" --key "$t/k.key" --out "$t/$1" --quiet "${@:2}"; }

# check_page NAME PAGE JSON [PY-ASSERTIONS]: the page is well formed, self-contained, valid
# UTF-8, shows every check of the JSON report; extra assertions see `page` and `report`.
check_page() {
  "$PY" - "$2" "$3" "${4:-}" <<'EOF' && ok "$1" || bad "$1"
import html.parser, json, sys
raw = open(sys.argv[1], "rb").read()
page = raw.decode("utf-8")                      # strict: invalid UTF-8 raises
report = json.load(open(sys.argv[2])) if sys.argv[2] != "-" else {"checks": [], "verified": False}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.stack = []; self.rows = 0; self.text = []
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            assert k not in ("src", "href", "srcset", "action", "formaction", "xlink:href"), (tag, k, v)
            assert not k.startswith("on"), (tag, k)
        if tag not in ("meta", "br", "line", "rect", "circle", "path", "col"):
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, ("unbalanced", tag, self.stack[-5:])
        self.stack.pop()
    def handle_data(self, d):
        self.text.append(d)
p = P(); p.feed(page); p.close()
assert not p.stack, p.stack
for banned in ("script", "iframe", "img", "link", "object", "embed", "style_src", "foreignobject"):
    assert banned not in p.tags, banned
assert "http://" not in page.replace('http-equiv', '') and "https://" not in page and "url(" not in page
text = "".join(p.text)
# every check of the JSON report is on the page (detail text, unescaped by the parser)
for c in report["checks"]:
    assert c["detail"] in text, c["detail"][:80]
verdict = "NOT VERIFIED" if not report["verified"] else "VERIFIED"
assert verdict in text
exec(sys.argv[3])
EOF
}

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
train donor --seed 41 --steps 100 --every 50 || bad "donor run"
train h --seed 42 --steps 420 --every 20 || bad "honest run, 21 checkpoints"
train s --seed 42 --steps 420 --every 20 --splice-from "$t/donor/final.safetensors" --splice-at 221 \
  --splice-prefix head. || bad "spliced run"

# --- an honest run with 21 checkpoints ---
"$sp" verify "$t/h.ledger" --pubkey "$t/k.pub" --checkpoints "$t/h" --quiet --json >"$t/h.json"; a=$?
"$sp" verify "$t/h.ledger" --pubkey "$t/k.pub" --checkpoints "$t/h" --quiet --html "$t/h.html" >"$t/out"; b=$?
[ "$a" = 0 ] && [ "$b" = 0 ] && ok "--html keeps the exit code (0 for an honest run)" || bad "exit codes $a $b"
check_page "honest page: self-contained, every check, charts of 21 checkpoints" "$t/h.html" "$t/h.json" '
assert "VERIFIED: " in text and text.count("<svg") == 0
assert page.count("<svg") == 3, page.count("<svg")             # loss, update size, correlation
assert "Training loss" in text and "Correlation with the genesis" in text
assert "checkpoint-file \u00d721" in text                          # 21 passed checks folded, all listed
assert page.count("<tr") >= 22 + 1                                # one table row per segment (22)
assert "flagged segment" not in text and "fbd5d5\"/>" not in page'

# --- a spliced run: the flagged segment is on the page, shaded in the charts ---
"$sp" verify "$t/s.ledger" --pubkey "$t/k.pub" --checkpoints "$t/s" --quiet --ref "$t/donor/final.safetensors" \
  --json >"$t/s.json"; a=$?
"$sp" verify "$t/s.ledger" --pubkey "$t/k.pub" --checkpoints "$t/s" --quiet --ref "$t/donor/final.safetensors" \
  --html "$t/s.html" >/dev/null; b=$?
[ "$a" = 1 ] && [ "$b" = 1 ] && ok "--html keeps the exit code (1 for a splice)" || bad "exit codes $a $b"
check_page "splice page: failed checks first, segment 220..240 marked, reference table" "$t/s.html" "$t/s.json" '
assert text.index("Failed checks") < text.index("All checks")
assert "steps 220..240" in text and "head.*" in text
assert page.count("fill=\"#fbd5d5\"/>") == 3, page.count("fill=\"#fbd5d5\"/>")   # one band per chart
assert "Against reference models" in text and "step 240" in text'

# --- with --replay: the replay table, replayed segments shaded ---
R="$tt --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet"
"$sp" verify "$t/s.ledger" --pubkey "$t/k.pub" --checkpoints "$t/s" --quiet --replay "$R" --segments 1,12 --nonce 00112233445566778899aabbccddeeff \
  --json >"$t/r.json"; a=$?
"$sp" verify "$t/s.ledger" --pubkey "$t/k.pub" --checkpoints "$t/s" --quiet --replay "$R" --segments 1,12 --nonce 00112233445566778899aabbccddeeff \
  --html "$t/r.html" >/dev/null; b=$?
[ "$a" = 1 ] && [ "$b" = 1 ] && ok "--html with --replay keeps the exit code" || bad "replay exit codes $a $b"
check_page "replay page: segments 1 and 12 in the replay table, 12 diverged, both shaded" "$t/r.html" "$t/r.json" '
import re
assert "3 of 22 segments replayed" in text, text[text.find("Segment replay"):][:300]   # and the empty one
rows = re.findall(r"<tr[^>]*><td class=\"n\">(\d+)</td>.*?</tr>", page[page.index("Segment replay"):page.index("<h2>Trajectory")], re.S)
assert rows == ["1", "12", "22"], rows
seg = page[page.index("Segment replay"):page.index("<h2>Trajectory")]
assert "bit for bit" in seg and "diverged" in seg
assert page.count("fill=\"#d6e6fb\"/>") == 6 and page.count("stroke=\"#5b8fd6\"") == 3   # 1, 22 replayed; 12 both'

# --- hostile strings: a model name and a directory name with markup, quotes, bad bytes ---
train x0 --seed 43 --steps 40 --every 10 --write-genesis || bad "run x0"
D="$t/dir<i>&\"'x"
mkdir -p "$D" && cp "$t/x0"/step0000[1-4]0.safetensors "$D/" || bad "hostile directory"
"$sp" record genesis --ledger "$t/x.ledger" --key "$t/k.key" --seed 43 \
  --model-name $'<script>alert(1)</script> caf\xc3\xa9 \xff\xfe \xed\xa0\x80 \x01 &amp; \xe2\x80\xaeevil' \
  "$t/x0/step000000.safetensors" >/dev/null || bad "record genesis with a hostile name"
for s in 10 20 30 40; do
  "$sp" record checkpoint --ledger "$t/x.ledger" --key "$t/k.key" --step $s --loss 1.5 \
    "$t/x0/step0000$s.safetensors" >/dev/null || bad "record checkpoint $s"
done
"$sp" verify "$t/x.ledger" --pubkey "$t/k.pub" --checkpoints "$D" --quiet --html "$t/x.html" >/dev/null
[ $? = 1 ] && ok "hostile ledger: exit 1 (external genesis)" || bad "hostile ledger exit"
# (no JSON report to compare with: a model name that is not UTF-8 cannot go into JSON as it is)
check_page "hostile strings are escaped as in the text report (\\xNN), then as HTML" "$t/x.html" - '
assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
assert "caf\u00e9" in text and "\\xff\\xfe \\xed\\xa0\\x80 \\x01" in text and "\x01" not in page
assert "\u202e" not in page and "\\xe2\\x80\\xaeevil" in text      # a bidi override is shown, not obeyed
assert "&amp;amp;" in page                                        # a literal "&amp;" stays text
assert "dir&lt;i&gt;&amp;&quot;&#39;x" in page                     # the directory in check details
assert "not regenerable" in text'

# --- usage errors ---
"$sp" verify "$t/h.ledger" --pubkey "$t/k.pub" --html "$t/no/such/dir/r.html" >"$t/out" 2>"$t/err"
[ $? = 2 ] && [ "$(wc -l <"$t/err")" = 1 ] && grep -q -- "--html" "$t/err" \
  && ok "--html into a missing directory: exit 2, one line" || bad "--html unwritable: $(cat "$t/err")"
"$sp" verify "$t/h.ledger" --pubkey "$t/k.pub" --html >"$t/out" 2>"$t/err"
[ $? = 2 ] && ok "--html without FILE: exit 2" || bad "--html without FILE"
"$sp" verify "$t/h.ledger" --pubkey "$t/k.pub" --quiet --html "$t/nock.html" >/dev/null
grep -q "Not screened" "$t/nock.html" && ok "without --checkpoints the page says the trajectory was not screened" \
  || bad "page without --checkpoints"

# --- headless Chromium renders it, wide and narrow ---
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  for w in 1200 420; do
    prof=$(mktemp -d "$t/chrome.XXXXXX")
    "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$prof" --screenshot="$t/s$w.png" --window-size=$w,2000 \
      "file://$t/s.html" >/dev/null 2>&1
    "$PY" - "$t/s$w.png" "$w" <<'EOF' && ok "headless Chromium renders the page at $w px" \
      || bad "headless Chromium at $w px"
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) > 20000, len(b)
w, h = struct.unpack(">II", b[16:24])
assert w == int(sys.argv[2]) and h == 2000, (w, h)
EOF
  done
else
  echo "SKIP headless Chromium rendering (apt-get install chromium)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
