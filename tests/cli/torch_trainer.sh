#!/usr/bin/env bash
# The trainer's hand (issue 11): own init recorded, tied aliases, wrapper prefixes,
# repeated checkpoints at a resume step, keep_files; see tests/test_torch_trainer.py.
exec bash "$(dirname "$0")/python.sh" test_torch_trainer
