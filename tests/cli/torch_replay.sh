#!/usr/bin/env bash
# Replay tests of the PyTorch side (SPEC.md 12 and 3.6): tests/test_torch_replay.py, run
# the way tests/cli/python.sh runs the binding's tests (same environment, same skip when
# $PYTHON lacks torch). examples/torch_train.py re-executes each of its segments with the
# flags `verify --replay` gives it, and the replay is compared with the recorded run.
exec bash "$(dirname "$0")/python.sh" test_torch_replay
