"""progress_lines.py LOG - checks the progress lines in a script(1) typescript (SPEC.md 8.6).

A byte-based progress line is "WHAT: DONE / TOTAL  PCT%  RATE  ETA H:MM:SS". A redraw comes
at most every 0.1 s and a rate once a phase has run 0.05 s, so on a fast machine a phase can
end before its second redraw and its only line shows the "- /s  ETA -" placeholder. Every
redraw of a phase after its first must show a rate and an ETA; the first shows them or the
placeholder. Exit 1 (with the offending lines on stderr) when a line breaks that, or when the
log holds no progress line at all.
"""
import re
import sys

text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
seen, bad = {}, []
for line in text.split("\r"):
    m = re.match(r"([^\n]*?): [0-9.]+ [MG]iB / [0-9.]+ [MG]iB +[0-9]+%(.*)", line)
    if not m:
        continue
    phase, rest = m.group(1), m.group(2)
    n = seen.get(phase, 0)
    seen[phase] = n + 1
    has_rate = re.search(r"  [0-9.]+ ([KMGT]i)?B/s  ETA [0-9]+:[0-9]{2}:[0-9]{2}", rest)
    placeholder = rest.startswith("  - /s  ETA -")
    if not has_rate and not (n == 0 and placeholder):
        bad.append(line)
if not seen or bad:
    print("progress lines without a rate:", bad[:3], file=sys.stderr)
    sys.exit(1)
