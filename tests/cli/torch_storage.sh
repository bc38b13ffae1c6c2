#!/usr/bin/env bash
# Where the binding's checkpoints go (issues 8 and 11): sharded checkpoints in Hugging Face's
# layout verified by the CLI, write errors that say why, and the device copy path forced on
# CPU (SP_FORCE_COPY_PATH); see tests/test_torch_storage.py.
exec bash "$(dirname "$0")/python.sh" test_torch_storage
