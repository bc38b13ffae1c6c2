#!/usr/bin/env bash
# Tests of the Python/PyTorch binding: runs tests/test_python_binding.py (or the test
# module named by $1, e.g. test_torch_replay for tests/cli/torch_replay.sh) with unittest,
# the package from hooks/python and the library of $BUILD, and ends with "N passed,
# M failed". Skips (exit 0, saying "skipped") when $PYTHON lacks torch or numpy.
# Env: BUILD (default build), PYTHON (default /usr/bin/python3).
# Sanitizer builds: an ASan libscratchproof.so can only be loaded into python with the
# ASan runtime preloaded, so it is preloaded (leak checks off: the interpreter's own
# allocations are not ours to judge); a UBSan library loads as it is.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${BUILD:-build}
case $B in /*) BA=$B ;; *) BA=$PWD/$B ;; esac
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "python.sh: skipped: $PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
  exit 0
fi
for f in "$B/libscratchproof.so" "$B/scratchproof" "$B/tinytrain"; do
  if [ ! -e "$f" ]; then
    echo "python.sh: $f is missing; run make BUILD=$B first"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
export BUILD="$B" SP_TEST_MODULE="${1:-test_python_binding}"
. tests/cli/python_env.inc
exec "$PY" - <<'EOF'
import os, sys, unittest
sys.path.insert(0, "tests")
suite = unittest.defaultTestLoader.loadTestsFromName(os.environ["SP_TEST_MODULE"])
r = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
bad = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
print("%d passed, %d failed" % (r.testsRun - bad - len(r.skipped), bad))
sys.exit(1 if bad else 0)
EOF
