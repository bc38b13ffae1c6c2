#!/usr/bin/env bash
# Runs every test program given, then the command-line tests (tests/cli/*.sh),
# and prints one closing line "N passed, M failed" counting test programs.
set -u
: "${BUILD:=build}"
export BUILD SP_BUILD="$BUILD" PYTHON="${PYTHON:-/usr/bin/python3}"
pass=0 fail=0 failed=()
run() {  # run NAME CMD...
  local name=$1; shift
  echo "== $name"
  # stdin from /dev/null: no test may wait on a terminal (keygen asks for a passphrase there)
  if "$@" </dev/null; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}
for t in "$@"; do
  case "$(basename "$t")" in
    replay_fuzz_*) c=$(basename "$t"); c=${c#replay_fuzz_}; run "$(basename "$t")" "$t" "tests/corpus/$c" ;;
    *) run "$(basename "$t")" "$t" ;;
  esac
done
for s in tests/cli/*.sh; do
  [ -f "$s" ] && run "$(basename "$s")" bash "$s"
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
