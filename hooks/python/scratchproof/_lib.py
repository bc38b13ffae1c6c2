"""_lib.py - loads libscratchproof with ctypes and declares the C API it uses.

The structs mirror attest/sp_base.h, attest/safetensors.h and hooks/scratchproof.h
field by field (ctypes lays them out as the C compiler does). Every function gets
argtypes and restype, so a wrong Python value is a ctypes.ArgumentError, never a
stray pointer. ctypes.CDLL releases the GIL for the duration of each call: C hashes,
fills and fsyncs while other Python threads run.

Where the library is looked for, first hit wins:
  1. the file named by the environment variable SCRATCHPROOF_LIB;
  2. build/libscratchproof.so of the source tree this package sits in
     (hooks/python/scratchproof/../../../build);
  3. ctypes.util.find_library("scratchproof") (an installed library).
"""
import ctypes
import ctypes.util
import os

SP_DIGEST_BYTES = 32
SP_MAX_DIMS = 8
SP_NAME_MAX = 512
SP_ERRMSG_MAX = 256
SP_RUN_RESUME = 0x1
SP_RUN_REPLAY = 0x2

# Error codes (sp_base.h).
SP_OK = 0
SP_EINVAL = -1
SP_ENOMEM = -2
SP_EIO = -3
SP_EFORMAT = -4
SP_ECRYPTO = -5
SP_EBUSY = -6
SP_ENOTFOUND = -7
SP_EBADSTATE = -8
SP_ELEDGER = -9
SP_EKEY = -10
SP_EMISMATCH = -11
SP_ERANGE = -12
SP_EUNSUPPORTED = -13
SP_ENOSPC = -14

# dtypes (sp_base.h; the numbers are part of the record format).
F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL = range(1, 11)
DTYPE_NAMES = {F32: "F32", F16: "F16", BF16: "BF16", F64: "F64", I64: "I64",
               I32: "I32", I16: "I16", I8: "I8", U8: "U8", BOOL: "BOOL"}
DTYPE_SIZES = {F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1,
               U8: 1, BOOL: 1}
INIT_DTYPES = (F32, F16, BF16)   # what sp_init_fill generates


class SpTensor(ctypes.Structure):
    """struct sp_tensor: a tensor in memory; never owns name or data."""
    _fields_ = [("name", ctypes.c_char_p),
                ("dtype", ctypes.c_int),
                ("ndim", ctypes.c_uint32),
                ("shape", ctypes.c_uint64 * SP_MAX_DIMS),
                ("data", ctypes.c_void_p),
                ("nbytes", ctypes.c_uint64)]


class SpInitScheme(ctypes.Structure):
    """struct sp_init_scheme: kind and p[4]."""
    _fields_ = [("kind", ctypes.c_int),
                ("p", ctypes.c_double * 4)]


class SpInitRange(ctypes.Structure):
    """struct sp_init_range: elements [first, first + count) and their scheme (SPEC 6.10)."""
    _fields_ = [("first", ctypes.c_uint64),
                ("count", ctypes.c_uint64),
                ("init", SpInitScheme)]


class SpInitRanges(ctypes.Structure):
    """struct sp_init_ranges: one tensor's ranges for sp_run_genesis_ranges (n 0: none)."""
    _fields_ = [("range", ctypes.POINTER(SpInitRange)),
                ("n", ctypes.c_size_t)]


class SpRecordTensor(ctypes.Structure):
    """struct sp_record_tensor: a genesis tensor with its scheme."""
    _fields_ = [("t", SpTensor),
                ("init", SpInitScheme)]


class SpRunOptions(ctypes.Structure):
    """struct sp_run_options."""
    _fields_ = [("ledger_path", ctypes.c_char_p),
                ("key_path", ctypes.c_char_p),
                ("seed", ctypes.c_uint64),
                ("model_name", ctypes.c_char_p),
                ("config_digest", ctypes.c_void_p),
                ("threads", ctypes.c_uint),
                ("flags", ctypes.c_uint),
                ("err", ctypes.c_void_p),
                ("batches_per_step", ctypes.c_uint32)]


class SpCheckpointInfo(ctypes.Structure):
    """struct sp_checkpoint_info."""
    _fields_ = [("step", ctypes.c_uint64),
                ("tokens", ctypes.c_uint64),
                ("loss", ctypes.c_double),
                ("lr", ctypes.c_double),
                ("optimizer", ctypes.POINTER(SpTensor)),
                ("n_optimizer", ctypes.c_size_t)]


def _candidates():
    env = os.environ.get("SCRATCHPROOF_LIB")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "libscratchproof.so"))
    found = ctypes.util.find_library("scratchproof")
    return [tree] + ([found] if found else []), False


def _load():
    paths, explicit = _candidates()
    errors = []
    for p in paths:
        if explicit or os.path.exists(p) or not os.path.isabs(p):
            try:
                return ctypes.CDLL(p), p
            except OSError as e:
                errors.append("%s: %s" % (p, e))
    if explicit:
        hint = "SCRATCHPROOF_LIB=%s cannot be loaded (%s)" % (paths[0], "; ".join(errors))
    else:
        hint = ("libscratchproof.so not found (looked for %s and the system library path%s); "
                "run `make` in the scratchproof source tree, or set SCRATCHPROOF_LIB to the "
                "library's path" % (paths[0], ": " + "; ".join(errors) if errors else ""))
    raise ImportError("scratchproof: " + hint)


lib, path = _load()

_P = ctypes.c_void_p
_I = ctypes.c_int
_U64 = ctypes.c_uint64
_SZ = ctypes.c_size_t


def _decl(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


sp_strerror = _decl("sp_strerror", ctypes.c_char_p, _I)
sp_run_open = _decl("sp_run_open", _I, ctypes.POINTER(_P), ctypes.POINTER(SpRunOptions))
sp_run_errmsg = _decl("sp_run_errmsg", ctypes.c_char_p, _P)
sp_run_seed = _decl("sp_run_seed", _U64, _P)
sp_run_is_replay = _decl("sp_run_is_replay", _I, _P)
sp_config_digest = _decl("sp_config_digest", _I, ctypes.POINTER(ctypes.c_uint8 * SP_DIGEST_BYTES),
                         _P, _SZ)
sp_init_fill = _decl("sp_init_fill", _I, _P, _I, ctypes.c_char_p, _U64,
                     ctypes.POINTER(SpInitScheme), _U64, _U64)
sp_run_genesis = _decl("sp_run_genesis", _I, _P, ctypes.POINTER(SpRecordTensor), _SZ)
sp_run_genesis_ranges = _decl("sp_run_genesis_ranges", _I, _P, ctypes.POINTER(SpRecordTensor), _SZ,
                              ctypes.POINTER(SpInitRanges))
sp_init_fill_ranges = _decl("sp_init_fill_ranges", _I, _P, _I, ctypes.c_char_p, _U64,
                            ctypes.POINTER(SpInitRange), _SZ, _U64, _U64)
sp_run_commit_batch = _decl("sp_run_commit_batch", _I, _P, _U64, _P, _SZ)
sp_run_checkpoint = _decl("sp_run_checkpoint", _I, _P, ctypes.POINTER(SpCheckpointInfo),
                          ctypes.POINTER(SpTensor), _SZ)
sp_run_final = _decl("sp_run_final", _I, _P, _U64, ctypes.POINTER(SpTensor), _SZ)
sp_run_close = _decl("sp_run_close", None, _P)
sp_run_hook_seconds = _decl("sp_run_hook_seconds", ctypes.c_double, _P)
sp_st_write = _decl("sp_st_write", _I, ctypes.c_char_p, ctypes.POINTER(SpTensor), _SZ,
                    ctypes.POINTER(ctypes.c_char_p), _SZ)
# sp_st_write with one line in err (SP_ERRMSG_MAX bytes) saying which tensor or system call
# failed and why (attest/safetensors.h).
sp_st_write_err = _decl("sp_st_write_err", _I, ctypes.c_char_p, ctypes.POINTER(SpTensor), _SZ,
                        ctypes.POINTER(ctypes.c_char_p), _SZ, _P)
sp_st_open = _decl("sp_st_open", _I, ctypes.POINTER(_P), ctypes.c_char_p, _P)
sp_st_close = _decl("sp_st_close", None, _P)
sp_st_count = _decl("sp_st_count", _SZ, _P)
sp_st_tensor = _decl("sp_st_tensor", ctypes.POINTER(SpTensor), _P, _SZ)
sp_st_metadata = _decl("sp_st_metadata", ctypes.c_char_p, _P, ctypes.c_char_p)
# SPEC.md 2.2, from attest/sp_digest.h (public: scratchproof.h includes it).
sp_tensor_digest = _decl("sp_tensor_digest", _I, ctypes.POINTER(ctypes.c_uint8 * SP_DIGEST_BYTES),
                         ctypes.POINTER(SpTensor), ctypes.c_uint)
# SPEC.md 2.0 tagged hash H(tag || 0x00 || data), from attest/sp_digest.h (public).
sp_hash_tagged = _decl("sp_hash_tagged", _I, ctypes.POINTER(ctypes.c_uint8 * SP_DIGEST_BYTES),
                       ctypes.c_char_p, _P, _SZ)


def strerror(rc):
    """sp_strerror(rc) as str."""
    return sp_strerror(rc).decode("utf-8", "replace")
sp_run_last_step = _decl("sp_run_last_step", _I, _P, ctypes.POINTER(_U64))

# The multi-rank binding (scratchproof.dist, SPEC.md 17) and the device copy path
# (_device.py) record digests computed elsewhere: the chunk-tree leaves (SPEC 2.1,
# attest/sp_digest.h) and the *_digests entry points of hooks/scratchproof.h (its
# multi-rank building blocks). All are public and exported by libscratchproof.so.
_D32 = ctypes.c_uint8 * SP_DIGEST_BYTES
sp_leaf_digest = _decl("sp_leaf_digest", None, ctypes.POINTER(_D32), _U64, _P, _SZ)
sp_tensor_digest_leaves = _decl("sp_tensor_digest_leaves", _I, ctypes.POINTER(_D32),
                                ctypes.POINTER(SpTensor), _P, _U64)
sp_batch_digest = _decl("sp_batch_digest", None, ctypes.POINTER(_D32), _U64, _P, _SZ)
sp_run_commit_digest = _decl("sp_run_commit_digest", _I, _P, _U64, ctypes.POINTER(_D32))
sp_run_genesis_digests = _decl("sp_run_genesis_digests", _I, _P, ctypes.POINTER(SpRecordTensor),
                               _P, _SZ, ctypes.c_uint32, ctypes.POINTER(_D32))
sp_run_checkpoint_digests = _decl("sp_run_checkpoint_digests", _I, _P,
                                  ctypes.POINTER(SpCheckpointInfo), ctypes.POINTER(SpTensor),
                                  _P, _SZ, _P)
sp_run_final_digests = _decl("sp_run_final_digests", _I, _P, _U64, ctypes.POINTER(SpTensor),
                             _P, _SZ)
