#!/usr/bin/env bash
# bench/audit.sh - the audit goal of BRIEF.md: two models compared in at most
# 3x the time it takes to hash them (make bench; BUILD from the environment).
# Two synthetic ~200 MB F32 models, the second derived from the first (the
# first plus noise), so both the aligned and the matched statistics run.
set -eu
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
MB=${AUDIT_BENCH_MB:-200}
d=$(mktemp -d /tmp/sp-bench-audit.XXXXXX)
trap 'rm -rf "$d"' EXIT
echo "== audit (goal: audit.ratio <= 3, the audit of two models against hashing both)"
"$PY" tests/audit_corpus.py synth "$d/a.safetensors" --seed 1 --mb "$MB"
"$PY" tests/audit_corpus.py synth "$d/b.safetensors" --seed 2 --mb "$MB" --from "$d/a.safetensors" --noise 0.5
echo "audit.model_bytes $(stat -c %s "$d/a.safetensors")"
"$B/bench/bench_audit" "$d/b.safetensors" "$d/a.safetensors"
