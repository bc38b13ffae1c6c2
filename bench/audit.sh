#!/usr/bin/env bash
# bench/audit.sh - the audit goals of BRIEF.md (make bench; BUILD from the
# environment):
#  1. two models compared in at most 2x the time it takes to hash them: two
#     synthetic F32 models of AUDIT_BENCH_MB MB each (default 1024), the second
#     derived from the first (the first plus noise), so both the aligned and the
#     matched statistics run; bench_audit prints audit.ratio;
#  2. near-linear in the number of tensors: a model of AUDIT_BENCH_TENSORS tiny
#     (2x2) tensors (default 1,000,000) against a noisy copy, the whole command
#     timed (open, pair, compare, report) at 1/10 and at the full count, text and
#     --json; goal: the full count in under 60 s.
set -eu
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
MB=${AUDIT_BENCH_MB:-1024}
NT=${AUDIT_BENCH_TENSORS:-1000000}
d=$(mktemp -d /tmp/sp-bench-audit.XXXXXX)
trap 'rm -rf "$d"' EXIT
now() { date +%s.%N; }

echo "== audit scaling (goal: audit.tensors_seconds < 60 at $NT tensors, near-linear)"
for n in $((NT / 10)) "$NT"; do
  "$PY" tests/audit_quant.py tiny "$d/t1.safetensors" --count "$n" --seed 1
  "$PY" tests/audit_quant.py tiny "$d/t2.safetensors" --count "$n" --seed 2 --from "$d/t1.safetensors"
  cat "$d/t1.safetensors" "$d/t2.safetensors" >/dev/null   # warm the page cache
  t0=$(now)
  rc=0; "$B/scratchproof" audit "$d/t2.safetensors" --ref "$d/t1.safetensors" >/dev/null || rc=$?
  t1=$(now)
  [ "$rc" -le 3 ] && [ "$rc" != 2 ] || { echo "audit failed (exit $rc)"; exit 1; }
  echo "audit.tensors $n"
  echo "audit.tensors_seconds $(echo "$t1 - $t0" | bc -l | sed 's/^\./0./' | cut -c1-6)"
  # the same audit with --json (the tensors array is streamed, SPEC.md 10)
  t0=$(now)
  rc=0; "$B/scratchproof" audit "$d/t2.safetensors" --ref "$d/t1.safetensors" --json >/dev/null || rc=$?
  t1=$(now)
  [ "$rc" -le 3 ] && [ "$rc" != 2 ] || { echo "audit --json failed (exit $rc)"; exit 1; }
  echo "audit.tensors_json_seconds $(echo "$t1 - $t0" | bc -l | sed 's/^\./0./' | cut -c1-6)"
  rm -f "$d/t1.safetensors" "$d/t2.safetensors"
done

echo "== audit (goal: audit.ratio <= 2, the audit of two models against hashing both)"
"$PY" tests/audit_corpus.py synth "$d/a.safetensors" --seed 1 --mb "$MB"
"$PY" tests/audit_corpus.py synth "$d/b.safetensors" --seed 2 --mb "$MB" --from "$d/a.safetensors" --noise 0.5
echo "audit.model_bytes $(stat -c %s "$d/a.safetensors")"
"$B/bench/bench_audit" "$d/b.safetensors" "$d/a.safetensors"
