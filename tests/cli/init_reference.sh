#!/usr/bin/env bash
# The deterministic initialiser against its independent Python model
# (SPEC.md 6): tests/init_vectors.c (C, attest/init.c) and
# tests/init_reference.py must print the same vector table, line for line
# (tensor digests and elementary-function sweeps). Also rechecks the
# constants of attest/init_math.c when mpmath is available.
# Env: PYTHON (default /usr/bin/python3), CC (default cc).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-initref.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -ffp-contract=off -I"$root/attest" \
     "$root/attest/init.c" "$root/attest/init32.c" "$root/attest/init_orth.c" "$root/attest/init_math.c" "$root/attest/sp_base.c" "$root/attest/escape.c" \
     "$root/tests/init_vectors.c" $(pkg-config --cflags --libs libsodium) -lm -o "$t/vectors"; then
  bad "compile tests/init_vectors.c"; echo "$pass passed, $fail failed"; exit 1
fi
"$t/vectors" >"$t/c.txt" || bad "init_vectors exited non-zero"
"$PY" "$root/tests/init_reference.py" >"$t/py.txt" || bad "init_reference.py exited non-zero"

nc=$(wc -l <"$t/c.txt") np=$(wc -l <"$t/py.txt")
if [ "$nc" != "$np" ] || [ "$nc" -lt 50 ]; then
  bad "tables differ in length: C $nc lines, Python $np lines"
fi
# one check per line of the table
while IFS= read -r -u 3 a && IFS= read -r -u 4 b; do
  if [ "$a" = "$b" ]; then ok; else bad "C:      $a"; echo "     Python: $b"; fi
done 3<"$t/c.txt" 4<"$t/py.txt"

if "$PY" -c 'import mpmath' 2>/dev/null; then
  if "$PY" "$root/tests/init_reference.py" --constants >"$t/k.txt"; then ok; else bad "constants: $(tail -3 "$t/k.txt")"; fi
else
  echo "SKIP constants check: mpmath not installed for $PY"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
