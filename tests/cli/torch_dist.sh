#!/usr/bin/env bash
# The torch.distributed binding (scratchproof.dist): tests/test_torch_dist.py starts two
# gloo ranks with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
# MASTER_PORT) and checks the ledgers they record; skipped without torch (see python.sh).
exec bash "$(dirname "$0")/python.sh" test_torch_dist
