#!/usr/bin/env bash
# tests/cli/audit_progress.sh - the progress line of `scratchproof audit` (SPEC.md 8.6, 10):
# on a terminal (script(1), as machine.sh does) the phases comparing, permutations and
# hashing PATH (--html) show bytes, a rate and an ETA, and the line is cleared at the end;
# in a pipe and with --quiet nothing of it appears, and --json output is unchanged; the
# results do not depend on --threads or the CPU path. No test depends on speed: a phase
# that ends before its second redraw shows "- /s".
set -u
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
SP=$B/scratchproof
t=$(mktemp -d /tmp/sp-audit-progress.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }

[ -x "$SP" ] || { bad "missing $SP (make first)"; finish; }
command -v script >/dev/null || { bad "script(1) missing (bsdutils)"; finish; }
# a derived pair (a noisy copy): comparing, then the permutation maps of its matrices
"$PY" tests/audit_corpus.py synth "$t/a.safetensors" --seed 1 --mb 24 &&
  "$PY" tests/audit_corpus.py synth "$t/b.safetensors" --seed 2 --mb 24 --from "$t/a.safetensors" --noise 0.5 ||
  { bad "audit_corpus.py synth"; finish; }

# --- on a terminal ---
script -qec "'$SP' audit '$t/b.safetensors' --ref '$t/a.safetensors' --html '$t/r.html'" "$t/tty.log" >/dev/null 2>&1
grep -aq 'verdict: DERIVED' "$t/tty.log" && ok "on a terminal: the report is printed" \
  || bad "on a terminal: no report: $(tr '\r\033' '|~' <"$t/tty.log" | head -c 400)"
for phase in 'comparing' 'permutations' "hashing $t/b.safetensors" "hashing $t/a.safetensors"; do
  grep -aqE "$phase: [0-9.]+ [MG]iB / [0-9.]+ [MG]iB +[0-9]+%" "$t/tty.log" && ok "progress of '$phase' in bytes of a total" \
    || bad "no progress line for '$phase': $(tr '\r\033' '|~' <"$t/tty.log" | head -c 600)"
done
"$PY" tests/progress_lines.py "$t/tty.log" && ok "every progress line shows a rate and an ETA (or '- /s' on its first redraw)" || bad "rate: $(tr '\r\033' '|~' <"$t/tty.log" | head -c 600)"
grep -aq $'\r\033\[K' "$t/tty.log" && ok "the progress line is cleared" || bad "progress line not cleared"
# the report starts on a clean line: the last progress line was cleared before it
"$PY" - "$t/tty.log" <<'PYEOF' && ok "the report does not share a line with a progress line" || bad "report after an uncleared progress line"
import sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
i = text.find("scratchproof audit: ")
before = text[:i].split("\n")[-1]
sys.exit(0 if i >= 0 and (before == "" or before.endswith("\r\033[K") or before.endswith("\033[K")) else 1)
PYEOF

# --- --quiet on a terminal, and pipes ---
script -qec "'$SP' audit '$t/b.safetensors' --ref '$t/a.safetensors' --html '$t/r.html' --quiet" "$t/q.log" >/dev/null 2>&1
grep -aq 'verdict: DERIVED' "$t/q.log" && ! grep -aqE 'MiB|GiB|ETA|\[K' "$t/q.log" && ok "--quiet: no progress on a terminal" \
  || bad "--quiet: $(tr '\r\033' '|~' <"$t/q.log" | head -c 400)"
"$SP" audit "$t/b.safetensors" --ref "$t/a.safetensors" --html "$t/r.html" >"$t/p.out" 2>"$t/p.err"
[ $? = 1 ] && [ ! -s "$t/p.err" ] && ! grep -qE 'ETA|MiB/s' "$t/p.out" && ok "in a pipe: nothing of the progress line (exit 1)" \
  || bad "progress in a pipe: $(head -c 200 "$t/p.err" | od -c | head -3)"
"$SP" audit "$t/b.safetensors" --ref "$t/a.safetensors" --json >"$t/j.out" 2>"$t/j.err"
[ ! -s "$t/j.err" ] && "$PY" tests/check_schema.py docs/schemas/audit.json "$t/j.out" 'd["derived"]' \
  && ok "--json in a pipe: valid JSON, nothing on stderr" || bad "--json in a pipe: $(head -c 200 "$t/j.err")"
# the results do not depend on the thread count nor on the CPU path (SSE2 forced)
"$SP" audit "$t/b.safetensors" --ref "$t/a.safetensors" --json --threads 1 >"$t/j1.out" 2>/dev/null
SP_AUDIT_LANES=4 "$SP" audit "$t/b.safetensors" --ref "$t/a.safetensors" --json --threads 2 >"$t/j4.out" 2>/dev/null
cmp -s "$t/j.out" "$t/j1.out" && cmp -s "$t/j.out" "$t/j4.out" && ok "the same JSON on 1 thread, on 2, and on the SSE2 path" \
  || bad "results differ with --threads 1 or SP_AUDIT_LANES=4"
# a failure mid-way: the message is on its own line, not after a progress line
script -qec "'$SP' audit '$t/b.safetensors' --ref '$t/missing.safetensors'" "$t/f.log" >/dev/null 2>&1
grep -aqE '^scratchproof audit: .*missing' <(tr '\r' '\n' <"$t/f.log" | sed 's/\x1b\[K//g') && ok "an error on a terminal starts its own line" \
  || bad "error line: $(tr '\r\033' '|~' <"$t/f.log" | head -c 400)"
finish
