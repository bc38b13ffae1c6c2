"""derive.py - the two values a replayable trainer derives: the config digest a run
records (SPEC.md 3.6, `sp_config_digest`) and the per-step seed of its randomness
(SPEC.md 3.6.1, H("scratchproof/step-seed", u64le(seed) || u64le(step)), first 8
bytes little-endian). Both are computed by the C library (SPEC.md 2.0 tagged hash).
"""
import ctypes
import operator
import os
from typing import Union

from . import _lib
from .errors import Error

STEP_SEED_TAG = b"scratchproof/step-seed"
ConfigSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


def _u64(x: int, what: str) -> int:
    """x as an int in [0, 2**64): ints and integer scalars (numpy, 0-d torch), not bools."""
    try:
        if isinstance(x, bool):
            raise TypeError
        x = operator.index(x)
    except TypeError:
        raise TypeError("scratchproof: %s must be an int, got %r" % (what, x)) from None
    if not 0 <= x < 1 << 64:
        raise ValueError("scratchproof: %s must be in [0, 2**64), got %d" % (what, x))
    return x


def config_bytes(config: ConfigSource) -> bytes:
    """The bytes of a config: bytes-like as given, a str or path-like names a file to read."""
    if isinstance(config, (bytes, bytearray, memoryview)):
        return bytes(config)
    if isinstance(config, (str, os.PathLike)):
        p = os.fspath(config)
        try:
            with open(p, "rb") as f:
                return f.read()
        except OSError as e:
            raise Error(_lib.SP_EIO, "scratchproof: cannot read the config %s: %s"
                        % (p, e.strerror or e)) from None
    raise TypeError("scratchproof: config wants bytes (the config itself) or a path (str or "
                    "os.PathLike) of the file, got %s" % type(config).__name__)


def config_digest(config: ConfigSource) -> bytes:
    """H("scratchproof/config", bytes) (32 bytes) of a config given as bytes or a file path:
    the digest Run(config=...) records and `scratchproof verify --config FILE` checks."""
    b = config_bytes(config)
    out = (ctypes.c_uint8 * _lib.SP_DIGEST_BYTES)()
    rc = _lib.sp_config_digest(ctypes.byref(out), b, len(b))
    if rc != _lib.SP_OK:
        raise Error(rc, "scratchproof: config digest: %s" % _lib.strerror(rc))
    return bytes(out)


def step_seed(seed: int, step: int) -> int:
    """The seed of step `step`'s randomness (dropout masks, shuffles) in a run of `seed`:
    the first 8 bytes, little-endian, of H("scratchproof/step-seed", u64le(seed) ||
    u64le(step)) (SPEC.md 3.6.1), an int in [0, 2**64). A pure function of (seed, step),
    so a replay that starts at any step draws what training drew."""
    data = _u64(seed, "seed").to_bytes(8, "little") + _u64(step, "step").to_bytes(8, "little")
    out = (ctypes.c_uint8 * _lib.SP_DIGEST_BYTES)()
    rc = _lib.sp_hash_tagged(ctypes.byref(out), STEP_SEED_TAG, data, len(data))
    if rc != _lib.SP_OK:
        raise Error(rc, "scratchproof: step seed: %s" % _lib.strerror(rc))
    return int.from_bytes(bytes(out)[:8], "little")
