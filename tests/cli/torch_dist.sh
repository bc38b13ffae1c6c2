#!/usr/bin/env bash
# The torch.distributed binding (scratchproof.dist): tests/test_torch_dist.py starts two
# gloo ranks with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
# MASTER_PORT) and checks the ledgers they record; skipped without torch (see python.sh).
# Under an AddressSanitizer build it is skipped: ASan's runtime aborts inside torch's own
# gloo threads when they throw C++ exceptions (libtorch_cpu), before any of our code runs.
B=${BUILD:-build}
if ldd "$B/libscratchproof.so" 2>/dev/null | grep -q libasan; then
  echo "SKIP torch_dist.sh under ASan (gloo's C++ exceptions abort in the ASan runtime)"; exit 0
fi
exec bash "$(dirname "$0")/python.sh" test_torch_dist
