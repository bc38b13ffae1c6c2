"""scratchproof - the Python binding of libscratchproof: record a training run's
initialisation, data commitments and checkpoints into a signed, hash-linked ledger.

    import scratchproof as sp, scratchproof.torch as spt
    with sp.Run("run.ledger", key="trainer.key", seed=7, model_name="tiny-lm") as run:
        spt.initialize(model, run)            # deterministic init, genesis recorded
        for step, batch in enumerate(loader, 1):
            run.commit_batch(step, batch)     # data commitment for this step
            ...                               # forward, backward, optimizer step
            if step % 100 == 0:
                run.checkpoint(step, model, optimizer=opt,
                               path=f"ckpt/step{step}.safetensors", metrics={"loss": float(loss)})
        run.final(step, model, path="ckpt/final.safetensors")

Replay (SPEC.md 12, `scratchproof verify --replay`): the trainer re-executes steps
first..last from given weights and optimizer state into a scratch ledger:

    with sp.Run.replay(out, seed=seed, model_name="tiny-lm", config=cfg) as run:
        spt.start_replay(model, run, weights, optimizer=opt, optimizer_state=opt_file)
        for step in range(first, last + 1):
            g = run.step_generator(step)      # the step's randomness, from (seed, step) only
            ...                               # commit_batch, forward, backward, step
        run.checkpoint(last, model, optimizer=opt, path=run.replay_checkpoint_path(last))

CPU tensors are hashed in place through their pointers (contiguous; never copied), with
the GIL released while C works; tensors on a device (CUDA) are copied into reused host
buffers (pinned), each copy overlapping the hashing of the tensor before it (_device.py;
SP_FORCE_COPY_PATH=1 sends CPU tensors that way too, for tests). The same digests either
way. Run.checkpoint/final(..., max_shard_size=...) write a sharded model in Hugging Face's
layout (model-0000K-of-0000N.safetensors + model.safetensors.index.json), one record. The ledger is the same format the C API writes;
`scratchproof verify` checks either. The library is found through SCRATCHPROOF_LIB,
else build/libscratchproof.so of this source tree, else the system library path.
"""
from . import _lib
from .errors import BusyError, Error, KeyFileError, StateError, TensorError
from .derive import config_digest, step_seed
from .run import keep_files, strip_prefixes, unwrap
from .run import REPLAY_LEDGER, Run
from .schemes import (Init, Ranges, constant, external, normal, normal32, ones, orthogonal,
                      ranges, trunc_normal, uniform, uniform32, zeros)

__version__ = "0.1.0"
library_path = _lib.path

__all__ = ["Run", "Error", "TensorError", "StateError", "BusyError", "KeyFileError", "Init",
           "zeros", "ones", "constant", "uniform", "normal", "trunc_normal", "external",
           "uniform32", "normal32", "orthogonal", "ranges", "Ranges",
           "tensor_digest", "init_fill", "library_path", "config_digest", "step_seed",
           "REPLAY_LEDGER", "keep_files", "strip_prefixes", "unwrap"]


def tensor_digest(name, tensor, threads=1):
    """The SPEC.md 2.2 digest (32 bytes) of a CPU contiguous tensor or numpy array; a tensor
    on a device (CUDA) is copied to the host first (its elements in row-major order)."""
    from . import _device, _tensors
    import ctypes
    if _device.staged(tensor):
        _device.check(tensor, name, "tensor")
        tensor = _device.fresh_copy(tensor)
    t = _lib.SpTensor()
    b = _tensors.encode_name(name, "tensor")
    _tensors.fill(t, b, tensor, name, "tensor")
    out = (ctypes.c_uint8 * _lib.SP_DIGEST_BYTES)()
    rc = _lib.sp_tensor_digest(ctypes.byref(out), ctypes.byref(t), threads)
    if rc != _lib.SP_OK:
        raise Error(rc, "scratchproof: cannot digest '%s': %s" % (name, _lib.strerror(rc)))
    return bytes(out)


def init_fill(tensor, name, seed, scheme):
    """Fills a CPU contiguous float32/float16/bfloat16 tensor (or numpy float32/16 array) in
    place with what the deterministic initialiser generates for (seed, name, scheme)."""
    from . import _tensors
    import ctypes
    from .schemes import as_init
    s = as_init(scheme, "init_fill")
    dt, shape, ptr, nbytes = _tensors.layout(tensor, name, "tensor")
    s = s.bind(shape)
    if dt not in _lib.INIT_DTYPES:
        raise TensorError(_lib.SP_EUNSUPPORTED, "scratchproof: tensor '%s': the initialiser "
                          "generates float32, float16 and bfloat16 only" % name)
    n = nbytes // _lib.DTYPE_SIZES[dt]
    if n == 0:
        return tensor
    if isinstance(s, Ranges):
        arr, nr = s.c_ranges()
        rc = _lib.sp_init_fill_ranges(ptr, dt, _tensors.encode_name(name, "tensor"), seed, arr, nr,
                                      0, n)
    else:
        c = s.to_c()
        rc = _lib.sp_init_fill(ptr, dt, _tensors.encode_name(name, "tensor"), seed,
                               ctypes.byref(c), 0, n)
    if rc != _lib.SP_OK:
        raise Error(rc, "scratchproof: cannot fill '%s' with %r: %s" % (name, s, _lib.strerror(rc)))
    return tensor
