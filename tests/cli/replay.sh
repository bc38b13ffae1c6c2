#!/usr/bin/env bash
# verify --replay and the run-level checks (SPEC.md 7 items 8-10, SPEC.md 12): an honest
# tinytrain run replays bit for bit (every segment, the default choice, a list), within a
# tolerance and under calibration; the nonce repeats a choice; the JSON replay object; a
# trainer that fails, or writes no ledger, is a failed segment (exit 1) with its log tail;
# replay without the checkpoint files names the record; a ledger cut before its final
# record is incomplete; --config binds the configuration file; scratch directories go
# away (TMPDIR honoured) unless --keep-replays; usage errors are exit 2 with one line; on a
# terminal a progress line counts segments and steps (never in a pipe or with --quiet).
# Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-replay.XXXXXX)
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
    bad "$name: exit $got, wanted $want: $(head -c 600 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(head -c 600 "$t/out" "$t/err" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}
R="$tt --replay-from {weights} --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet"
V() { "$sp" verify "$t/run.ledger" --pubkey "$t/k.pub" "$@"; }

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 7 --steps 100 --every 20 --out "$t/ck" --quiet \
  || { bad "tinytrain"; exit 1; }

# --- honest replays ---
expect 0 "every segment replays bit for bit" "VERIFIED" -- V --checkpoints "$t/ck" --replay "$R" --segments all
n=$(grep -c "ok    replay .*: bit for bit" "$t/out")
[ "$n" = 5 ] && ok "five segments named bit for bit" || bad "bit-for-bit segments: $n, wanted 5"
grep -q "segment 1 (steps 1..20, records 0..1): bit for bit" "$t/out" && ok "segment named with steps and records" \
  || bad "segment 1 not named as SPEC 12 says"
grep -q "segment 6 (no steps, records 5..6)" "$t/out" && ok "the empty final segment is checked" \
  || bad "empty final segment not reported"
expect 0 "the default choice verifies" "replay-choice" -- V --checkpoints "$t/ck" --replay "$R"
expect 0 "a list of segments" "segment 3 (steps 41..60" -- V --checkpoints "$t/ck" --replay "$R" --segments 3,5
grep -q "segment 2 (steps" "$t/out" && bad "--segments 3,5 replayed segment 2" || ok "--segments 3,5 replays only those"
expect 0 "first segment without --checkpoints (the genesis is regenerated)" "bit for bit" -- \
  V --replay "$R" --segments first
expect 1 "a later segment without --checkpoints names its start record" \
  "cannot replay steps 21..40: no checkpoint file for record 1" -- V --replay "$R" --segments 2
expect 0 "tolerance mode" "within T = 0.001 (bit for bit)" -- V --checkpoints "$t/ck" --replay "$R" --tolerance 0.001 --segments 1,2
expect 0 "calibration" "suggested --tolerance" -- V --checkpoints "$t/ck" --replay "$R" --calibrate

# --- the nonce and the JSON replay object ---
chosen() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["replay"]
print(r["nonce"], ",".join(str(s["segment"]) for s in r["segments"] if s["chosen"]))' "$1"; }
V --checkpoints "$t/ck" --replay "$R" --json >"$t/a.json" 2>/dev/null
nonce=$(chosen "$t/a.json" | cut -d' ' -f1)
V --checkpoints "$t/ck" --replay "$R" --json --nonce "$nonce" >"$t/b.json" 2>/dev/null
[ -n "$nonce" ] && [ "$(chosen "$t/a.json")" = "$(chosen "$t/b.json")" ] && ok "--nonce repeats the choice" \
  || bad "--nonce $nonce: $(chosen "$t/a.json") vs $(chosen "$t/b.json")"
if "$PY" - "$t/a.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verified"] is True
r = d["replay"]
assert r["schema"] == "scratchproof/replay/v1" and len(r["nonce"]) == 32, r
int(r["nonce"], 16)
assert r["mode"] == "default" and r["segments_total"] == 6 and r["steps_total"] == 100
segs = r["segments"]
assert [s["segment"] for s in segs] == [1, 2, 3, 4, 5, 6]
assert segs[0]["chosen"] and "first" in segs[0]["why"]
ran = [s for s in segs if s["chosen"] and s["first_step"] <= s["last_step"]]
assert all(s["ran"] and s["ok"] and s["mode"] == "exact" and s["max_e"] == 0 for s in ran), ran
assert sum("largest-update" in s["why"] for s in segs) == 1
assert sum("random" in s["why"] for s in segs) == 2
assert r["steps_replayed"] == 20 * len(ran) and abs(r["share"] - r["steps_replayed"] / 100) < 1e-9
assert abs(r["escape_probability"] - 1 / 3) < 1e-9   # segments 2..5: 1 largest, 2 of the other 3 drawn
assert all(s["update"] is None or s["update"] > 0 for s in segs[:5])
assert any(c["name"] == "replay-choice" and c["ok"] for c in d["checks"])
EOF
then ok "JSON replay object"; else bad "JSON replay object"; fi

# --- failures of the trainer are failed segments, not crashes ---
expect 1 "a trainer that exits 1" "exited with status 1; log tail:" -- V --replay "false" --segments 1
expect 1 "a trainer that does not exist" "status 127; log tail: scratchproof verify --replay: cannot execute" -- \
  V --replay "$t/no-such-trainer {out}" --segments 1
expect 1 "a trainer killed by a signal" "killed by signal 9" -- V --replay "sh -c 'kill -9 \$\$'" --segments 1
# a hung trainer, and what it started (a marker argument finds the grandchild): stopped
# after --replay-timeout, the segment failed; SIGTERM ignored still ends in SIGKILL
mark=$((600000 + RANDOM))
expect 1 "a hung trainer is stopped by --replay-timeout" "did not finish within --replay-timeout 1 s and was stopped" -- \
  V --replay "sh -c 'sleep $mark & wait' {out}" --segments 1 --replay-timeout 1
sleep 0.5
pgrep -f "sleep $mark" >/dev/null && { bad "the hung trainer's child still runs"; pkill -f "sleep $mark"; } \
  || ok "the hung trainer's process group is gone"
expect 1 "a trainer ignoring SIGTERM is killed" "did not finish within --replay-timeout 0.5 s" -- \
  V --replay "sh -c 'trap \"\" TERM; sleep $((mark + 1)) & wait; wait' {out}" --segments 1 --replay-timeout 0.5
sleep 0.5
pgrep -f "sleep $((mark + 1))" >/dev/null && { bad "a TERM-ignoring trainer survived"; pkill -9 -f "sleep $((mark + 1))"; } \
  || ok "SIGKILL follows SIGTERM"
expect 0 "--replay-timeout with a trainer that finishes in time" "bit for bit" -- \
  V --replay "$R" --segments first --replay-timeout 600
expect 1 "a trainer that writes no ledger" "no readable replay ledger" -- V --replay "true {out}" --segments 1
expect 1 "a trainer that writes a garbage ledger" "no readable replay ledger" -- \
  V --replay "sh -c 'printf \"\\033[2J junk\" > \$0/replay.ledger; echo \"\\033[31mred\"' {out}" --segments 1
grep -q $'\033' "$t/out" && bad "a control byte from the trainer reached the report" \
  || ok "the log tail is escaped"
expect 1 "a replay from other weights is caught (genesis root)" "did not start from record 0's weights" -- \
  V --replay "$tt --replay-from $t/ck/step000020.safetensors --replay-optimizer {optimizer} --first-step {first} --last-step {last} --seed {seed} --out {out} --quiet" --segments 1
expect 1 "a replay of other steps is caught (batch commitments)" "batch commitments differ" -- \
  V --checkpoints "$t/ck" --replay "$tt --replay-from {weights} --replay-optimizer {optimizer} --first-step 2 --last-step {last} --seed {seed} --out {out} --quiet" --segments 1

# --- scratch directories ---
mkdir -p "$t/tmp"
TMPDIR="$t/tmp" "$sp" verify "$t/run.ledger" --pubkey "$t/k.pub" --replay "$R" --segments first >/dev/null 2>&1
[ -z "$(ls -A "$t/tmp")" ] && ok "scratch removed from TMPDIR" || bad "scratch left in TMPDIR: $(ls "$t/tmp")"
expect 0 "--keep-replays keeps the scratch tree" "replays kept in $t/keep" -- \
  V --replay "$R" --segments first --keep-replays "$t/keep"
ls "$t"/keep/scratchproof-replay.*/seg0001/out/replay.ledger >/dev/null 2>&1 && ok "kept replay ledger" \
  || bad "no kept replay ledger under $t/keep"

# --- completeness: a ledger without its final record (or the last two) ---
mdb_dump -n -s records "$t/run.ledger" >"$t/dump"
"$PY" - "$t" <<'EOF'
import sys
t = sys.argv[1]
lines = open(t + "/dump").read().split("\n")
start = lines.index("HEADER=END") + 1
data = [i for i in range(start, len(lines) - 1, 2) if lines[i].startswith(" ")]
ls = lines[:]; del ls[data[-1]:data[-1] + 2]; open(t + "/dump.nofinal", "w").write("\n".join(ls))
ls = lines[:]; del ls[data[-2]:data[-2] + 4]; open(t + "/dump.nolast2", "w").write("\n".join(ls))
EOF
for k in nofinal nolast2; do
  mdb_dump -n -s meta "$t/run.ledger" | mdb_load -n -s meta "$t/$k.ledger" 2>/dev/null
  mdb_load -n -s records -f "$t/dump.$k" "$t/$k.ledger" 2>/dev/null
done
expect 1 "no final record: incomplete" "incomplete: ends at checkpoint step 100, no final record" -- \
  "$sp" verify "$t/nofinal.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck"
expect 0 "--allow-incomplete passes it and says so" "incomplete run allowed: ends at checkpoint step 100" -- \
  "$sp" verify "$t/nofinal.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" --allow-incomplete
expect 1 "last two records dropped: incomplete" "incomplete: ends at checkpoint step 80, no final record" -- \
  "$sp" verify "$t/nolast2.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck"
expect 1 "last checkpoint published as the model of a cut ledger" "incomplete: ends at checkpoint step 80" -- \
  "$sp" verify "$t/nolast2.ledger" --pubkey "$t/k.pub" --checkpoints "$t/ck" --model "$t/ck/step000080.safetensors"
expect 0 "the honest ledger is complete" "record 6 is the final record (step 100)" -- V
expect 0 "batch counts match the steps" "all 6 segments hold one batch commitment per step x 1" -- V

# --- --config ---
expect 0 "--config binds the configuration file" "config digest .* is the digest of" -- V --config "$t/ck/tinytrain.config"
printf 'lr=0.5\n' >"$t/other.config"
expect 1 "--config with another file" "is not the digest of $t/other.config" -- V --config "$t/other.config"
"$sp" record genesis --ledger "$t/file.ledger" --key "$t/k.key" --seed 1 --external --scheme '*=zeros' \
  "$t/ck/final.safetensors" >/dev/null 2>&1
expect 1 "--config with a genesis that records no config digest" "records no config digest" -- \
  "$sp" verify "$t/file.ledger" --pubkey "$t/k.pub" --config "$t/other.config" --allow-incomplete

# --- usage errors: exit 2, one line naming the flag ---
expect 2 "unbalanced quote in --replay" "--replay: unbalanced single quote" -- V --replay "$tt 'oops"
expect 2 "empty --replay" "--replay: the command has no words" -- V --replay "  "
expect 2 "--segments without --replay" "--segments needs --replay" -- V --segments all
expect 2 "--tolerance without --replay" "--tolerance needs --replay" -- V --tolerance 0.1
expect 2 "bad --segments" "--segments wants" -- V --replay "$R" --segments 0,2
expect 2 "--segments beyond the run" "--segments: segment 9 is beyond this run's 6 segments" -- V --replay "$R" --segments 9
expect 2 "negative --tolerance" "--tolerance wants" -- V --replay "$R" --tolerance -1
expect 2 "--replay-timeout 0" "--replay-timeout wants seconds > 0, not '0'" -- V --replay "$R" --replay-timeout 0
expect 2 "--replay-timeout without --replay" "--replay-timeout needs --replay" -- V --replay-timeout 5
expect 2 "bad --nonce" "--nonce wants 32 hex digits" -- V --replay "$R" --nonce abc
expect 2 "unreadable --config" "--config $t/nope" -- V --config "$t/nope"

# --- progress (SPEC.md 8.6): on a terminal, segments and steps with rate and ETA; never in a
# pipe or with --quiet. A run faster than a redraw shows only its first line ('- /s'), so
# only that line and the format of the others are required, never a speed.
if command -v script >/dev/null 2>&1; then
  RA=$(printf '%s' "$R" | sed "s|^$tt|$PWD/$tt|")
  script -qec "'$sp' verify '$t/run.ledger' --pubkey '$t/k.pub' --checkpoints '$t/ck' --replay '$RA' --segments all" \
    "$t/tty.log" >/dev/null 2>&1
  tr '\r' '\n' <"$t/tty.log" | grep -a '^replay: ' >"$t/lines"
  grep -aqE '^replay: 0/6 segments, steps: 0 / 100 +0%  - /s  ETA -' "$t/lines" \
    && ok "verify --replay on a terminal: a progress line of segments and steps" \
    || bad "replay progress: $(tr '\r\033' '|~' <"$t/tty.log" | grep -a 'replay' | head -c 600)"
  if [ -s "$t/lines" ] && ! grep -avE '^replay: [0-6]/6 segments, steps: [0-9]+ / 100 +[0-9]+%  (- /s  ETA -|[0-9.]+ steps/s  ETA [0-9]+:[0-9]{2}:[0-9]{2})'$'\033''\[K' "$t/lines" | grep -aq .; then
    ok "every replay progress line counts steps, with a rate and ETA once steps are done"
  else bad "replay progress lines: $(grep -avE 'steps/s|- /s' "$t/lines" | head -3 | tr '\033' '~')"; fi
  grep -aq 'VERIFIED' "$t/tty.log" && grep -aq $'\r\033\[K' "$t/tty.log" && ok "the replay line is cleared, the verdict follows" \
    || bad "no verdict or no cleared line on the terminal"
  script -qec "'$sp' verify '$t/run.ledger' --pubkey '$t/k.pub' --replay '$RA' --segments first --quiet" "$t/q.log" >/dev/null 2>&1
  grep -aq 'VERIFIED' "$t/q.log" && ! grep -aq 'segments, steps' "$t/q.log" && ok "--quiet: no replay progress on a terminal" \
    || bad "--quiet replay: $(tr '\r\033' '|~' <"$t/q.log" | head -c 300)"
else
  ok "script(1) absent: replay progress on a terminal not tested"
fi
V --replay "$R" --segments first >"$t/p.out" 2>"$t/p.err"
[ ! -s "$t/p.err" ] && ! grep -q 'segments, steps' "$t/p.out" && ok "replay in a pipe: no progress" \
  || bad "replay progress in a pipe: $(head -c 200 "$t/p.err")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
