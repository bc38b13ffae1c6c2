#!/usr/bin/env bash
# Bit-exactness of the deterministic initialiser across compilers and
# optimisation levels (SPEC.md 6): tests/init_vectors.c built with gcc -O0,
# gcc -O2, gcc -O3, clang -O0 and clang -O2 (clang skipped with a message when
# absent) must print the same table, equal to the Python model's.
# Env: PYTHON (default /usr/bin/python3).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-initcc.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

src=("$root/attest/init.c" "$root/attest/init32.c" "$root/attest/init_orth.c" "$root/attest/init_math.c" "$root/attest/sp_base.c" "$root/attest/escape.c" "$root/tests/init_vectors.c")
sodium=$(pkg-config --cflags --libs libsodium 2>/dev/null || echo -lsodium)

"$PY" "$root/tests/init_reference.py" >"$t/python.txt" || bad "init_reference.py exited non-zero"

configs=("gcc -O0" "gcc -O2" "gcc -O3")
if command -v clang >/dev/null 2>&1; then
  configs+=("clang -O0" "clang -O2")
else
  echo "SKIP clang: not installed"
fi
for cfg in "${configs[@]}"; do
  read -r cc opt <<<"$cfg"
  if ! command -v "$cc" >/dev/null 2>&1; then echo "SKIP $cfg: $cc not installed"; continue; fi
  out="$t/${cc}${opt}.txt"
  if ! $cc -std=c11 -D_GNU_SOURCE $opt -ffp-contract=off -I"$root/attest" "${src[@]}" $sodium -lm \
       -o "$t/vec-$cc$opt" 2>"$t/err"; then
    bad "$cfg: does not compile: $(head -c 300 "$t/err")"; continue
  fi
  if ! "$t/vec-$cc$opt" >"$out"; then bad "$cfg: init_vectors exited non-zero"; continue; fi
  if cmp -s "$out" "$t/python.txt"; then
    ok "$cfg equals the Python model ($(wc -l <"$out") lines)"
  else
    bad "$cfg differs from the Python model:"; diff "$out" "$t/python.txt" | head -10
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
