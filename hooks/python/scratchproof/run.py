"""run.py - scratchproof.Run: one training run signing its records into a ledger.

A thin, checked wrapper over sp_run_* (hooks/scratchproof.h). Every argument is
checked in Python first, so misuse is a clear exception and never reaches C as a bad
pointer; C's own refusals come back as errors.Error subclasses carrying the code and
sp_run_errmsg's detail. Tensors are described in place (see _tensors.py) and C hashes
them with the GIL released. One lock serialises the run's calls (the C handle is
single-threaded), so close() can never free the handle under a running call.

Cost accounting: hook_seconds is the wall time spent inside this object's methods
(and scratchproof.torch.initialize), Python overhead included, but not the time spent
writing safetensors files, which is write_seconds: a job writes its checkpoints
anyway; the hook's cost is what recording them adds.
"""
import ctypes
import os
import threading
import time

from . import _device
from . import _lib
from . import _tensors
from . import derive
from .derive import ConfigSource, _u64
from .errors import BusyError, Error, StateError, from_code
from .schemes import Ranges, as_init

REPLAY_LEDGER = "replay.ledger"   # the ledger a replay writes in its {out} directory

_open_ledgers = set()          # real paths of ledgers this process holds open
_open_lock = threading.Lock()
_METRICS = ("loss", "lr", "tokens")


_WRAPPER_PREFIXES = ("module.", "_orig_mod.")   # DistributedDataParallel/DataParallel, torch.compile


def unwrap(model):
    """The module a DDP/DataParallel (.module) or torch.compile (._orig_mod) wrapper holds,
    through any nesting of the two; any other object as it is."""
    for _ in range(16):
        inner = getattr(model, "_orig_mod", None)
        if inner is None and type(model).__name__ in ("DistributedDataParallel", "DataParallel",
                                                      "FullyShardedDataParallel"):
            inner = getattr(model, "module", None)
        if inner is None or not hasattr(inner, "named_parameters"):
            return model
        model = inner
    return model


def strip_prefixes(name):
    """name without leading wrapper prefixes (module., _orig_mod.), as the genesis records it."""
    changed = True
    while changed:
        changed = False
        for p in _WRAPPER_PREFIXES:
            if name.startswith(p) and len(name) > len(p):
                name, changed = name[len(p):], True
    return name


def named_tensors(model, what):
    """(name, tensor) pairs: a module's named_parameters() (of the module inside DDP and
    torch.compile wrappers, so names carry no module./_orig_mod. prefix), a mapping's
    items(), or pairs."""
    if hasattr(model, "named_parameters"):
        return list(unwrap(model).named_parameters())
    if hasattr(model, "items"):
        return list(model.items())
    try:
        return [(n, t) for n, t in model]
    except (TypeError, ValueError):
        raise TypeError("scratchproof: %s wants a torch.nn.Module, a mapping of name to tensor "
                        "or (name, tensor) pairs, got %s" % (what, type(model).__name__)) from None


_named = named_tensors


def check_names(pairs, genesis, what):
    """pairs with the genesis's names: unchanged when the names are the genesis names; with
    the wrapper prefixes stripped when that makes them so (a state dict of a wrapped model);
    else a ValueError naming what is missing and what is extra."""
    names = [n for n, _ in pairs]
    if set(names) == genesis and len(names) == len(genesis):
        return pairs
    stripped = [(strip_prefixes(n), t) for n, t in pairs]
    sn = [n for n, _ in stripped]
    if set(sn) == genesis and len(sn) == len(genesis):
        return stripped
    missing = sorted(genesis - set(sn))
    extra = sorted(set(sn) - genesis)
    raise ValueError("scratchproof: %s: the tensor names are not the genesis's: missing %s, "
                     "extra %s (a checkpoint records the same parameters as the genesis)"
                     % (what, missing[:8], extra[:8]))


def keep_files(directory):
    """An on_checkpoint hook that keeps every recorded file: after each checkpoint and final
    record, each file written is hard-linked (copied where links fail) to
    directory/<its step>.<name>, so a trainer that overwrites one rolling checkpoint file
    still leaves verify every recorded file (verify --checkpoints DIR finds them by digest)."""
    d = os.fspath(directory)

    def hook(step, paths):
        os.makedirs(d, exist_ok=True)
        for p in paths:
            dst = os.path.join(d, "step%06d.%s" % (step, os.path.basename(os.path.normpath(p))))
            if os.path.isdir(p):          # a sharded checkpoint: its files, linked one by one
                _keep_dir(p, dst)
                continue
            tmp = dst + ".tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            try:
                os.link(p, tmp)
            except OSError:
                import shutil
                shutil.copyfile(p, tmp)
            os.replace(tmp, dst)
    hook.directory = d
    return hook


def _link_or_copy(src: str, dst: str) -> None:
    tmp = dst + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _keep_dir(src: str, dst: str) -> None:
    """keep_files for a sharded checkpoint directory: dst/ gets every regular file of src/
    (shards and index), the index last, so dst is complete whenever it has an index."""
    os.makedirs(dst, exist_ok=True)
    files = sorted(f for f in os.listdir(src) if os.path.isfile(os.path.join(src, f))
                   and not f.endswith(".tmp"))
    files.sort(key=lambda f: f == SHARD_INDEX)
    for f in files:
        _link_or_copy(os.path.join(src, f), os.path.join(dst, f))


class Run:
    """A run recording into one ledger; a context manager that closes on exit.

    Run(ledger, key, seed, model_name="", threads=1, config_digest=None, resume=False, *,
        config=None, batches_per_step=None, replay=False)
      ledger            path of the ledger file; created, must hold no records (unless resume)
      key               PREFIX.key written by `scratchproof keygen`; None in replay mode
      seed              seed of the deterministic initialiser, 0 <= seed < 2**64
      model_name        free text recorded in the genesis
      threads           hashing threads (1..64)
      config_digest     32 bytes recorded in the genesis, or None (32 zero bytes)
      resume            append to a ledger that already holds this run (SP_RUN_RESUME)
      config            the training configuration, bytes or the path of a file: its
                        scratchproof.config_digest() is recorded (`verify --config FILE`
                        checks it); not together with config_digest
      batches_per_step  batch commitments one step makes (micro-batches), recorded in the
                        genesis; None records 0, which means 1
      replay            replay mode (SP_RUN_REPLAY, SPEC.md 12): key must be None, the
                        records are signed with an ephemeral key; see Run.replay()
      keep_files        a directory: every checkpoint/final file written is also kept there
                        as a hard link stepNNNNNN.<file name> (see keep_files())
      on_checkpoint     callable(step, [paths written]) after each checkpoint/final record
      force_copy_path   True: every torch tensor takes the copy path device tensors take
                        (_device.py); None: as SP_FORCE_COPY_PATH says (default off); for
                        tests and benchmarks, the records are the same either way
    Tensors on a device (CUDA) are copied to reusable host buffers (pinned when CUDA is
    available), overlapped with the hashing of the previous tensor; CPU tensors are hashed
    in place. The digests are those of the tensors' elements in row-major order either way.
    last_step is the step of the last checkpoint (read back on resume, 0 if none); step is
    an automatic counter (starts at last_step; next_step() advances it; checkpoint(None,
    ...) and final(None, ...) record at it).
    Raises KeyFileError (missing or bad key), BusyError (another writer), StateError
    (ledger already holds records), Error (anything else), TypeError/ValueError.
    """

    def __init__(self, ledger: "os.PathLike[str] | str", key: "os.PathLike[str] | str | None",
                 seed: int, model_name: str = "", threads: int = 1,
                 config_digest: "bytes | None" = None, resume: bool = False, *,
                 config: "ConfigSource | None" = None, batches_per_step: "int | None" = None,
                 replay: bool = False, keep_files: "os.PathLike[str] | str | None" = None,
                 on_checkpoint=None, force_copy_path: "bool | None" = None) -> None:
        self._h = None
        self._lock = threading.Lock()
        self._hook = 0.0
        self._write = 0.0
        self._c_hook_last = 0.0
        self._real = None
        self._genesis_names = None
        self.last_step = 0
        self.step = 0
        self.threads = threads
        self._stager = None
        if force_copy_path is not None and not isinstance(force_copy_path, bool):
            raise TypeError("scratchproof: force_copy_path must be a bool or None")
        self._force_copy = force_copy_path
        hooks = []
        if keep_files is not None:
            hooks.append(globals()["keep_files"](keep_files))
        if on_checkpoint is not None:
            if not callable(on_checkpoint):
                raise TypeError("scratchproof: on_checkpoint must be callable(step, paths)")
            hooks.append(on_checkpoint)
        self._hooks = hooks
        t0 = time.perf_counter()
        self.seed = _u64(seed, "seed")
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
            raise ValueError("scratchproof: threads must be an int in 1..64, got %r" % (threads,))
        if not isinstance(model_name, str):
            raise TypeError("scratchproof: model_name must be a str")
        if config is not None:
            if config_digest is not None:
                raise ValueError("scratchproof: give config or config_digest, not both")
            config_digest = derive.config_digest(config)
        if config_digest is not None and (not isinstance(config_digest, (bytes, bytearray))
                                          or len(config_digest) != _lib.SP_DIGEST_BYTES):
            raise ValueError("scratchproof: config_digest must be %d bytes or None"
                             % _lib.SP_DIGEST_BYTES)
        if batches_per_step is None:
            bps = 0
        else:
            bps = _u64(batches_per_step, "batches_per_step")
            if not 1 <= bps < 1 << 32:
                raise ValueError("scratchproof: batches_per_step must be in [1, 2**32), got %d"
                                 % bps)
        if not isinstance(replay, bool):
            raise TypeError("scratchproof: replay must be a bool, got %r" % (replay,))
        if replay and resume:
            raise ValueError("scratchproof: a replay run cannot resume a ledger")
        if replay and key is not None:
            raise ValueError("scratchproof: a replay run signs with an ephemeral key: pass "
                             "key=None (the team's key is never used for a replay)")
        if not replay and key is None:
            raise TypeError("scratchproof: key is required (the PREFIX.key of `scratchproof "
                            "keygen`), except in replay mode")
        self.ledger = os.fspath(ledger)
        self.key = os.fspath(key) if key is not None else None
        self.model_name = model_name
        self.config_digest = bytes(config_digest) if config_digest is not None else None
        self.batches_per_step = bps or 1
        self.is_replay = replay
        # a replay's {out}: where replay_checkpoint_path() puts the files
        self.out_dir = (os.path.dirname(self.ledger) or ".") if replay else None
        self._name_b = model_name.encode("utf-8")
        if b"\0" in self._name_b:
            raise ValueError("scratchproof: model_name contains a NUL character")
        if "\0" in self.ledger or (self.key is not None and "\0" in self.key):
            raise ValueError("scratchproof: a path contains a NUL character")
        self._pid = os.getpid()
        real = os.path.realpath(self.ledger)
        with _open_lock:
            if real in _open_ledgers:
                raise BusyError(_lib.SP_EBUSY, "scratchproof: cannot open the run: %s is already "
                                "open in this process (close the other Run first)" % self.ledger)
            _open_ledgers.add(real)
        try:
            self._open(os.fsencode(self.ledger),
                       os.fsencode(self.key) if self.key is not None else None,
                       config_digest, threads,
                       (_lib.SP_RUN_RESUME if resume else 0) | (_lib.SP_RUN_REPLAY if replay else 0),
                       bps)
        except BaseException:
            with _open_lock:
                _open_ledgers.discard(real)
            raise
        self._real = real
        last = ctypes.c_uint64(0)
        _lib.sp_run_last_step(self._h, ctypes.byref(last))
        self.last_step = self.step = last.value
        self._hook += time.perf_counter() - t0

    @classmethod
    def replay(cls, out_dir: "os.PathLike[str] | str", seed: int, model_name: str = "",
               threads: int = 1, config_digest: "bytes | None" = None, *,
               config: "ConfigSource | None" = None,
               batches_per_step: "int | None" = None) -> "Run":
        """Opens the run of a replay (SPEC.md 12): `scratchproof verify --replay` ran this
        trainer to re-execute one segment, with {out} = out_dir.

        The records go to out_dir/replay.ledger (REPLAY_LEDGER), a new ledger signed with
        an ephemeral key. seed is the run's seed ({seed}); model_name, config (or
        config_digest) and batches_per_step must be what training gave Run. Then, as the
        contract says: scratchproof.torch.start_replay(model, run, {weights}, optimizer,
        {optimizer}) loads and records the start point, the steps {first}..{last} run as in
        training (commit_batch for each), and run.checkpoint({last}, model, optimizer=opt,
        path=run.replay_checkpoint_path({last})) writes and records the end. No final().
        """
        d = os.fspath(out_dir)
        if not os.path.isdir(d):
            raise Error(_lib.SP_EIO, "scratchproof: the replay directory %s does not exist" % d)
        run = cls(os.path.join(d, REPLAY_LEDGER), None, seed, model_name, threads, config_digest,
                  config=config, batches_per_step=batches_per_step, replay=True)
        run.out_dir = d
        return run

    def replay_checkpoint_path(self, step: int) -> str:
        """Where a replay writes its weights at step: {out}/stepNNNNNN.safetensors (the
        optimizer state goes beside it, opt_path() of this); replay runs only."""
        if not self.is_replay:
            raise StateError(_lib.SP_EBADSTATE, "scratchproof: replay_checkpoint_path is for "
                             "replay runs (Run.replay)")
        return os.path.join(self.out_dir, "step%06d.safetensors" % _u64(step, "step"))

    def step_seed(self, step: int) -> int:
        """scratchproof.step_seed(self.seed, step): the seed of this step's randomness."""
        return derive.step_seed(self.seed, step)

    def step_generator(self, step: int):
        """A fresh torch.Generator seeded with step_seed(seed, step) (SPEC.md 3.6.1): draw
        a step's dropout masks and shuffles from it, and a replay that starts at any step
        draws the same numbers as training did."""
        import torch
        g = torch.Generator()
        g.manual_seed(derive.step_seed(self.seed, step))
        return g

    def _open(self, ledger_b, key_b, config_digest, threads, flags, bps):
        err = ctypes.create_string_buffer(_lib.SP_ERRMSG_MAX)
        cfg = ctypes.create_string_buffer(bytes(config_digest), _lib.SP_DIGEST_BYTES) \
            if config_digest is not None else None
        o = _lib.SpRunOptions()
        o.ledger_path = ledger_b
        o.key_path = key_b
        o.seed = self.seed
        o.model_name = self._name_b
        o.config_digest = ctypes.addressof(cfg) if cfg is not None else None
        o.threads = threads
        o.flags = flags
        o.err = ctypes.addressof(err)
        o.batches_per_step = bps
        h = ctypes.c_void_p()
        rc = _lib.sp_run_open(ctypes.byref(h), ctypes.byref(o))
        if rc != _lib.SP_OK:
            what = "replay, ephemeral key" if self.is_replay else "key %s" % self.key
            raise from_code(rc, "scratchproof: cannot open the run (ledger %s, %s)"
                            % (self.ledger, what), err.value.decode("utf-8", "replace"))
        self._h = h

    # ---- state -------------------------------------------------------------

    @property
    def closed(self):
        return self._h is None

    def _handle(self):
        if self._h is None:
            raise StateError(_lib.SP_EBADSTATE, "scratchproof: the run on %s is closed"
                             % self.ledger)
        if os.getpid() != self._pid:
            raise StateError(_lib.SP_EBADSTATE, "scratchproof: the run on %s belongs to process "
                             "%d; a forked child cannot record into it" % (self.ledger, self._pid))
        return self._h

    def _fail(self, rc, what):
        return from_code(rc, "scratchproof: " + what,
                         _lib.sp_run_errmsg(self._h).decode("utf-8", "replace"))

    @property
    def c_hook_seconds(self):
        """Seconds inside sp_run_* calls (sp_run_hook_seconds)."""
        if self._h is not None:
            self._c_hook_last = _lib.sp_run_hook_seconds(self._h)
        return self._c_hook_last

    @property
    def hook_seconds(self):
        """Wall seconds inside the binding's calls, Python overhead included, file writes not."""
        return self._hook

    @property
    def write_seconds(self):
        """Wall seconds spent writing safetensors files for checkpoint() and final()."""
        return self._write

    def _add_hook_time(self, seconds):
        self._hook += seconds

    def close(self):
        """Closes the run: releases the ledger lock and wipes the key. Idempotent."""
        with self._lock:
            h, self._h = self._h, None
            if h is None:
                return
            self._c_hook_last = _lib.sp_run_hook_seconds(h)
            if os.getpid() == self._pid:   # a forked child must not close the parent's ledger
                _lib.sp_run_close(h)
                if self._stager is not None:   # host buffers and the copy thread
                    self._stager.release()
                    self._stager = None
            with _open_lock:
                _open_ledgers.discard(self._real)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_h", None) is not None:
            try:
                self.close()
            except Exception:      # interpreter shutdown: modules may be gone already
                pass

    def __repr__(self):
        return "<scratchproof.Run %s seed=%d%s%s>" % (self.ledger, self.seed,
                                                      " replay" if self.is_replay else "",
                                                      " closed" if self.closed else "")

    # ---- records -----------------------------------------------------------

    def genesis(self, entries):
        """Records the genesis: entries are (name, tensor, Init) for every initial tensor.

        The tensors must already hold what the scheme generates (or, for external(), the
        weights as loaded). An Init may be per-range schemes (scratchproof.ranges, SPEC.md
        6.10): then the genesis goes through sp_run_genesis_ranges. scratchproof.torch.initialize
        calls this for you.
        """
        t0 = time.perf_counter()
        with self._lock:
            h = self._handle()
            entries = list(entries)
            arr = (_lib.SpRecordTensor * max(len(entries), 1))()
            rng = (_lib.SpInitRanges * max(len(entries), 1))()
            ranged = False
            keep, seen = [], set()
            for i, e in enumerate(entries):
                try:
                    name, x, init = e
                except (TypeError, ValueError):
                    raise TypeError("scratchproof: genesis entries are (name, tensor, Init) "
                                    "triples") from None
                b = _tensors.encode_name(name, "genesis tensor")
                if _device.staged(x, self._force_copy):     # a device tensor: a host copy
                    _device.check(x, name, "genesis tensor")
                    x = _device.fresh_copy(x)
                if b in seen:
                    raise ValueError("scratchproof: genesis tensor '%s' appears twice" % name)
                seen.add(b)
                _tensors.fill(arr[i].t, b, x, name, "genesis tensor")
                init = as_init(init, "genesis tensor '%s'" % name)
                if isinstance(init, Ranges):    # arr[i].init stays zeroed: no scheme beside ranges
                    r, nr = init.c_ranges()
                    rng[i].range, rng[i].n = ctypes.cast(r, ctypes.POINTER(_lib.SpInitRange)), nr
                    keep.append(r)
                    ranged = True
                else:
                    arr[i].init = init.to_c()
                keep.append((b, x))
            rc = _lib.sp_run_genesis_ranges(h, arr, len(entries), rng) if ranged \
                else _lib.sp_run_genesis(h, arr, len(entries))
            if rc != _lib.SP_OK:
                raise self._fail(rc, "genesis")
            self._genesis_names = {e[0] for e in entries}
        self._hook += time.perf_counter() - t0

    def commit_batch(self, step, data):
        """Commits the data of one training step (SPEC.md 2.5).

        data: a CPU contiguous tensor or numpy array (its bytes in memory), bytes-like,
        or a tuple/list of these (committed one after the other under the same step,
        e.g. (inputs, targets)). Steps must not decrease.
        """
        t0 = time.perf_counter()
        with self._lock:
            h = self._handle()
            step = _u64(step, "step")
            parts = data if isinstance(data, (tuple, list)) else (data,)
            for part in parts:
                if _device.staged(part, self._force_copy):   # a device tensor: its bytes on host
                    _device.check(part, "batch", "commit_batch")
                    part = self._stage().host_copy(part)
                ptr, n, keep = _tensors.buffer_pointer(part, "commit_batch")
                rc = _lib.sp_run_commit_batch(h, step, ptr, n)
                del keep
                if rc != _lib.SP_OK:
                    raise self._fail(rc, "commit_batch(step %d)" % step)
        self._hook += time.perf_counter() - t0

    def next_step(self):
        """Advances the automatic step counter and returns the new step (a loop that counts
        steps per epoch gets the run's global step from here)."""
        self.step += 1
        return self.step

    def checkpoint(self, step, model, optimizer=None, path=None, metrics=None, *,
                   max_shard_size: "int | str | None" = None) -> None:
        """Records a checkpoint of the model's parameters and the optimizer's state.

        model: a torch.nn.Module (its named_parameters()), or a mapping name -> tensor.
        optimizer: a torch.optim.Optimizer; its state tensors are recorded as
          "opt.<parameter name>.<state key>" (e.g. opt.fc.weight.exp_avg) in the
          checkpoint's optimizer digest.
        path: when given, the weights are written there as safetensors (and the
          optimizer state to the same name with .opt.safetensors), from the same memory
          that was hashed, so the file's digests equal the record's.
        metrics: {"loss": float, "lr": float, "tokens": int}, recorded in the checkpoint;
          lr defaults to the optimizer's first param group's lr.
        max_shard_size: with path, writes the weights as a sharded model instead (Hugging
          Face's layout, write_sharded): path is a directory (created when missing) of
          model-0000K-of-0000N.safetensors shards of at most that many bytes (an int, or
          "5GB", "500MB", "2GiB") and model.safetensors.index.json; the optimizer state
          goes to path + ".opt.safetensors", one file. Still one checkpoint record: its root
          is the root over all the shards' tensors, so `scratchproof verify --checkpoints`
          (the parent directory) and `--model` (the directory or its index) bind it.
        step None records at run.step (the automatic counter). A DDP or torch.compile
        wrapper is unwrapped (names without module./_orig_mod.), and the names must be the
        genesis's. A checkpoint at the last checkpoint's step (a trainer re-saving the step it
        resumed from) records nothing and succeeds when its digests equal that record's.
        """
        t0 = time.perf_counter()
        w0 = self._write
        try:
            with self._lock:
                self._checkpoint(step, model, optimizer, path, metrics, max_shard_size)
        finally:
            self._hook += time.perf_counter() - t0 - (self._write - w0)

    @staticmethod
    def _check_shards(path, max_shard_size) -> None:
        if max_shard_size is not None:
            if path is None:
                raise ValueError("scratchproof: max_shard_size is for a written checkpoint: "
                                 "give path (the directory of the shards) too")
            shard_size(max_shard_size)

    def _checkpoint(self, step, model, optimizer, path, metrics, max_shard_size=None):
        h = self._handle()
        self._check_shards(path, max_shard_size)
        step = self.step if step is None else _u64(step, "step")
        m = dict(metrics or {})
        info = self._info(step, m, optimizer)
        named = self._names_checked(_named(model, "checkpoint"), "checkpoint")
        opairs = []
        if optimizer is not None:
            from . import torch as spt
            opairs = spt.optimizer_tensors(optimizer, named)
        if _device.any_staged([t for _, t in named] + [t for _, t in opairs], self._force_copy):
            return self._checkpoint_staged(h, step, info, named, opairs, path, max_shard_size)
        arr, n, keep = _tensors.describe_all(named, "checkpoint tensor")
        oarr, on, okeep = None, 0, None
        if optimizer is not None:
            oarr, on, okeep = _tensors.describe_all(opairs, "optimizer state tensor")
        written = []
        if path is not None:
            self._write_file(path, arr, n, step, b"checkpoint", max_shard_size)
            written.append(os.fspath(path))
            if on:
                self._write_file(opt_path(path), oarr, on, step, b"optimizer")
                written.append(opt_path(path))
        if on:
            info.optimizer = ctypes.cast(oarr, ctypes.POINTER(_lib.SpTensor))
            info.n_optimizer = on
        rc = _lib.sp_run_checkpoint(h, ctypes.byref(info), arr, n)
        del keep, okeep
        if rc != _lib.SP_OK:
            raise self._fail(rc, "checkpoint(step %d)" % step)
        self._recorded(step, written)

    # ---- the copy path: tensors on a device (_device.py) --------------------------

    def _stage(self) -> "_device.Stager":
        if self._stager is None:
            self._stager = _device.Stager()
        return self._stager

    def release_staging(self) -> None:
        """Frees the host buffers kept for device tensors (allocated again when needed)."""
        if self._stager is not None:
            self._stager.release()

    def _hash_write(self, st: "_device.Staged", path, step: int, kind: bytes,
                    max_shard_size) -> None:
        """Digests every tensor of st (device ones through host buffers) and, with path,
        writes the file (or the shards) from the host copies that were hashed."""
        stager = self._stage()
        if path is None:
            st.hash(stager, list(range(st.n)), self.threads, keep=False)
            return
        meta = {b"scratchproof.step": str(step).encode(), b"scratchproof.model": self._name_b,
                b"scratchproof.kind": kind}
        if max_shard_size is None:
            hosts = st.hash(stager, list(range(st.n)), self.threads, keep=True)
            self._timed_write(write_safetensors, path, zip(st.names, hosts), meta)
            return
        limit = shard_size(max_shard_size)
        d = prepare_shard_dir(path)
        plan = shard_plan(st.sizes(), limit)
        meta[b"format"] = b"pt"
        names, weight_map, total = [], {}, 0
        for k, idx in enumerate(plan, 1):      # one shard in host memory at a time
            name = shard_name(k, len(plan))
            hosts = st.hash(stager, idx, self.threads, keep=True)
            self._timed_write(write_safetensors, os.path.join(d, name),
                              zip((st.names[i] for i in idx), hosts), meta)
            for i, x in zip(idx, hosts):
                weight_map[st.names[i].decode("utf-8")] = name
                total += x.numel() * x.element_size() if _tensors.is_torch_tensor(x) \
                    else x.nbytes
            names.append(name)
        t0 = time.perf_counter()
        try:
            finish_shards(d, weight_map, total, names)
        finally:
            self._write += time.perf_counter() - t0

    def _timed_write(self, fn, path, pairs, meta) -> None:
        pairs = [(b.decode("utf-8"), x) for b, x in pairs]
        arr, n, keep = _tensors.describe_all(pairs, "tensor")
        t0 = time.perf_counter()
        try:
            fn(path, arr, n, meta)
        finally:
            self._write += time.perf_counter() - t0
        del keep

    def _checkpoint_staged(self, h, step, info, named, opairs, path, max_shard_size) -> None:
        w = _device.Staged(named, "checkpoint tensor", self._force_copy)
        o = _device.Staged(opairs, "optimizer state tensor", self._force_copy) if opairs else None
        written = []
        self._hash_write(w, path, step, b"checkpoint", max_shard_size)
        if path is not None:
            written.append(os.fspath(path))
        oarr = oda = okeep = None
        if o is not None:
            self._hash_write(o, opt_path(path) if path is not None else None, step,
                             b"optimizer", None)
            if path is not None:
                written.append(opt_path(path))
            oarr, okeep = o.descs()
            oda = o.digest_array()
            info.optimizer = ctypes.cast(oarr, ctypes.POINTER(_lib.SpTensor))
            info.n_optimizer = o.n
        arr, keep = w.descs()
        da = w.digest_array()
        rc = _lib.sp_run_checkpoint_digests(h, ctypes.byref(info), arr, ctypes.addressof(da),
                                            w.n, ctypes.addressof(oda) if oda is not None
                                            else None)
        del keep, okeep
        if rc != _lib.SP_OK:
            raise self._fail(rc, "checkpoint(step %d)" % step)
        self._recorded(step, written)

    def _final_staged(self, h, step, named, path, max_shard_size) -> None:
        w = _device.Staged(named, "final tensor", self._force_copy)
        self._hash_write(w, path, step, b"final", max_shard_size)
        arr, keep = w.descs()
        da = w.digest_array()
        rc = _lib.sp_run_final_digests(h, step, arr, ctypes.addressof(da), w.n)
        del keep
        if rc != _lib.SP_OK:
            raise self._fail(rc, "final(step %d)" % step)
        self._recorded(step, [os.fspath(path)] if path is not None else [])

    @staticmethod
    def _info(step, m, optimizer):
        unknown = sorted(set(m) - set(_METRICS))
        if unknown:
            raise ValueError("scratchproof: checkpoint metrics %s are not recorded; a checkpoint "
                             "record holds %s" % (unknown, ", ".join(_METRICS)))
        info = _lib.SpCheckpointInfo()
        info.step = step
        info.tokens = _u64(m.get("tokens", 0), "metrics['tokens']")
        info.loss = float(m.get("loss", 0.0))
        lr = m.get("lr")
        if lr is None and optimizer is not None and getattr(optimizer, "param_groups", None):
            lr = optimizer.param_groups[0].get("lr")
        info.lr = float(lr) if lr is not None else 0.0
        return info

    def _names_checked(self, pairs, what):
        if self._genesis_names is None:     # resumed: the genesis names are in the ledger
            return [(strip_prefixes(n), t) for n, t in pairs]
        return check_names(pairs, self._genesis_names, what)

    def _recorded(self, step, written):
        self.last_step = max(self.last_step, step)
        self.step = max(self.step, step)
        for hook in self._hooks:
            hook(step, list(written))

    def final(self, step, model, path=None, *, max_shard_size: "int | str | None" = None) -> None:
        """Records the final (published) weights, once and last; writes them to path if given
        (with max_shard_size: as a sharded model in directory path, as checkpoint() does)."""
        t0 = time.perf_counter()
        w0 = self._write
        try:
            with self._lock:
                h = self._handle()
                self._check_shards(path, max_shard_size)
                step = self.step if step is None else _u64(step, "step")
                named = self._names_checked(_named(model, "final"), "final")
                if _device.any_staged([t for _, t in named], self._force_copy):
                    self._final_staged(h, step, named, path, max_shard_size)
                    return
                arr, n, keep = _tensors.describe_all(named, "final tensor")
                if path is not None:
                    self._write_file(path, arr, n, step, b"final", max_shard_size)
                rc = _lib.sp_run_final(h, step, arr, n)
                del keep
                if rc != _lib.SP_OK:
                    raise self._fail(rc, "final(step %d)" % step)
                self._recorded(step, [os.fspath(path)] if path is not None else [])
        finally:
            self._hook += time.perf_counter() - t0 - (self._write - w0)

    # ---- digests computed on other ranks (scratchproof.dist) -------------------

    @staticmethod
    def _digest_array(ds):
        D = ctypes.c_uint8 * _lib.SP_DIGEST_BYTES
        return (D * max(len(ds), 1)).from_buffer_copy(b"".join(ds) or bytes(32))

    def _genesis_digests(self, arr, d, n, world, sharding):
        with self._lock:
            h = self._handle()
            rc = _lib.sp_run_genesis_digests(h, arr, ctypes.addressof(d), n, world, sharding)
            if rc != _lib.SP_OK:
                raise self._fail(rc, "genesis")
            self._genesis_names = {arr[i].t.name.decode("utf-8") for i in range(n)}

    def _commit_digest(self, step, d):
        with self._lock:
            h = self._handle()
            D = ctypes.c_uint8 * _lib.SP_DIGEST_BYTES
            rc = _lib.sp_run_commit_digest(h, step, D.from_buffer_copy(d))
            if rc != _lib.SP_OK:
                raise self._fail(rc, "commit_batch(step %d)" % step)

    def _descs(self, desc):
        from .dist import Run as _D
        arr = (_lib.SpTensor * max(len(desc), 1))()
        keep = []
        for i, (name, dt, sh) in enumerate(desc):
            t, b = _D._desc(name, dt, sh)
            arr[i] = t
            keep.append(b)
        return arr, keep

    def _checkpoint_digests(self, step, desc, d, odesc, od, metrics, optimizer):
        with self._lock:
            h = self._handle()
            info = self._info(step, dict(metrics or {}), optimizer)
            arr, keep = self._descs(desc)
            da = self._digest_array(d)
            oarr, okeep = self._descs(odesc)
            oda = None
            if odesc:
                info.optimizer = ctypes.cast(oarr, ctypes.POINTER(_lib.SpTensor))
                info.n_optimizer = len(odesc)
                oda = self._digest_array(od)
            rc = _lib.sp_run_checkpoint_digests(h, ctypes.byref(info), arr, ctypes.addressof(da),
                                                len(desc),
                                                ctypes.addressof(oda) if oda is not None else None)
            del keep, okeep
            if rc != _lib.SP_OK:
                raise self._fail(rc, "checkpoint(step %d)" % step)
            written = getattr(self, "_pending_files", [])
            self._pending_files = []
            self._recorded(step, written)

    def _final_digests(self, step, desc, d):
        with self._lock:
            h = self._handle()
            arr, keep = self._descs(desc)
            da = self._digest_array(d)
            rc = _lib.sp_run_final_digests(h, step, arr, ctypes.addressof(da), len(desc))
            del keep
            if rc != _lib.SP_OK:
                raise self._fail(rc, "final(step %d)" % step)
            written = getattr(self, "_pending_files", [])
            self._pending_files = []
            self._recorded(step, written)

    def _write_whole(self, path, pairs, opairs, step, kind=b"checkpoint", max_shard_size=None):
        """Writes the files of a multi-rank record (rank 0, whole tensors)."""
        arr, n, keep = _tensors.describe_all(pairs, "checkpoint tensor")
        self._write_file(path, arr, n, step, kind, max_shard_size)
        self._pending_files = [os.fspath(path)]
        if opairs:
            oarr, on, okeep = _tensors.describe_all(opairs, "optimizer state tensor")
            self._write_file(opt_path(path), oarr, on, step, b"optimizer")
            self._pending_files.append(opt_path(path))
        del keep

    def _write_file(self, path, arr, n, step, kind, max_shard_size=None):
        t0 = time.perf_counter()
        meta = {b"scratchproof.step": str(step).encode(), b"scratchproof.model": self._name_b,
                b"scratchproof.kind": kind}
        try:
            if max_shard_size is not None:
                write_sharded(path, arr, n, meta, max_shard_size)
            else:
                write_safetensors(path, arr, n, meta)
        finally:
            self._write += time.perf_counter() - t0


def opt_path(path):
    """Where the optimizer state of checkpoint file path goes: X.safetensors -> X.opt.safetensors."""
    p = os.fspath(path)
    return p[:-len(".safetensors")] + ".opt.safetensors" if p.endswith(".safetensors") \
        else p + ".opt.safetensors"


def write_safetensors(path: "os.PathLike[str] | str", arr, n: int,
                      meta: "dict[bytes, bytes]") -> None:
    """sp_st_write_err of n described tensors with metadata {bytes: bytes}; Error on failure,
    saying which tensor or system call failed and why (sp_st_write_err's line)."""
    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    if not os.path.isdir(d):
        raise Error(_lib.SP_EIO, "scratchproof: cannot write %s: directory %s does not exist"
                    % (path, d))
    flat = [x for kv in sorted(meta.items()) for x in kv]
    cm = (ctypes.c_char_p * max(len(flat), 1))(*flat)
    err = ctypes.create_string_buffer(_lib.SP_ERRMSG_MAX)
    rc = _lib.sp_st_write_err(os.fsencode(path), arr, n, cm, len(meta), ctypes.addressof(err))
    if rc != _lib.SP_OK:
        detail = err.value.decode("utf-8", "replace")     # names the file itself
        raise from_code(rc, "scratchproof: cannot write" + ("" if detail else " " + path), detail)


SHARD_INDEX = "model.safetensors.index.json"   # Hugging Face's name for a sharded model's index
_SIZE_UNITS = {"B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12,
               "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def shard_size(x: "int | str") -> int:
    """max_shard_size as bytes: a positive int, or a string as Hugging Face writes it
    ("5GB" = 5 * 10**9, "500MB", "2GiB" = 2 * 2**30; case-insensitive)."""
    if isinstance(x, str):
        t = x.strip().upper().replace(" ", "")
        unit = next((u for u in sorted(_SIZE_UNITS, key=len, reverse=True) if t.endswith(u)), "")
        try:
            v = float(t[:len(t) - len(unit)]) * _SIZE_UNITS.get(unit, 1)
        except ValueError:
            raise ValueError("scratchproof: max_shard_size %r is not a size (e.g. 5GB, 500MB, "
                             "2GiB, or an int of bytes)" % (x,)) from None
        if not (v >= 1 and v < 2 ** 63):
            raise ValueError("scratchproof: max_shard_size %r must be at least 1 byte" % (x,))
        return int(v)
    n = _u64(x, "max_shard_size")
    if n < 1:
        raise ValueError("scratchproof: max_shard_size must be at least 1 byte")
    return n


def shard_plan(sizes: "list[int]", max_shard_size: int) -> "list[list[int]]":
    """Indices of tensors in each shard, in the order given: a shard takes tensors until
    the next would make it larger than max_shard_size (a larger tensor gets a shard of its
    own), as Hugging Face's save_pretrained splits a state dict."""
    shards: "list[list[int]]" = []
    cur, size = [], 0
    for i, nb in enumerate(sizes):
        if cur and size + nb > max_shard_size:
            shards.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += nb
    if cur or not shards:
        shards.append(cur)
    return shards


def shard_name(k: int, n: int) -> str:
    """The file name of shard k (1-based) of n: model-0000K-of-0000N.safetensors."""
    return "model-%05d-of-%05d.safetensors" % (k, n)


def _fsync_dir(d: str) -> None:
    fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_index(directory: str, weight_map: "dict[str, str]", total_size: int) -> str:
    """Writes directory/model.safetensors.index.json atomically (tmp, fsync, rename)."""
    import json
    path = os.path.join(directory, SHARD_INDEX)
    tmp = path + ".tmp"
    doc = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise Error(_lib.SP_EIO, "scratchproof: cannot write %s: %s" % (path, e.strerror or e)) \
            from None
    return path


def prepare_shard_dir(path: "os.PathLike[str] | str") -> str:
    """path as the directory of a sharded write, created when missing (its parent must
    exist); Error when path is a file or its parent is missing."""
    d = os.fspath(path)
    if d.endswith(".safetensors"):
        raise ValueError("scratchproof: with max_shard_size, path is the directory of the shards "
                         "(e.g. ckpt/step100), not a .safetensors file: %s" % d)
    parent = os.path.dirname(os.path.abspath(d))
    if not os.path.isdir(parent):
        raise Error(_lib.SP_EIO, "scratchproof: cannot write %s: directory %s does not exist"
                    % (d, parent))
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise Error(_lib.SP_EIO, "scratchproof: cannot create the shard directory %s: %s"
                    % (d, e.strerror or e)) from None
    if not os.path.isdir(d):
        raise Error(_lib.SP_EIO, "scratchproof: %s is not a directory" % d)
    return d


def finish_shards(d: str, weight_map: "dict[str, str]", total: int, names: "list[str]") -> None:
    """The index of a sharded write, then the removal of stale shards a former write with
    another shard count left in d (model-*-of-*.safetensors not in names)."""
    import re
    write_index(d, weight_map, total)
    keep = set(names)
    pat = re.compile(r"model-[0-9]{5}-of-[0-9]{5}\.safetensors\Z")
    for f in os.listdir(d):
        if pat.match(f) and f not in keep:
            try:
                os.unlink(os.path.join(d, f))
            except OSError:
                pass


def write_sharded(path: "os.PathLike[str] | str", arr, n: int, meta: "dict[bytes, bytes]",
                  max_shard_size: "int | str") -> "list[str]":
    """Writes n described tensors as a sharded safetensors model in Hugging Face's layout:
    directory path (created when missing) gets model-0000K-of-0000N.safetensors shards of at
    most max_shard_size bytes of tensor data each (shard_plan; one tensor larger than that
    gets a shard of its own), each with "format": "pt" and meta in its __metadata__, written
    atomically, and then model.safetensors.index.json ({"metadata": {"total_size": bytes},
    "weight_map": {tensor: shard}}). One shard is still an index and model-00001-of-00001.
    Returns the shard file names. Error on failure, naming the file and why."""
    limit = shard_size(max_shard_size)
    d = prepare_shard_dir(path)
    plan = shard_plan([arr[i].nbytes for i in range(n)], limit)
    meta = dict(meta)
    meta[b"format"] = b"pt"
    names, weight_map, total = [], {}, 0
    for k, idx in enumerate(plan, 1):
        name = shard_name(k, len(plan))
        sub = (_lib.SpTensor * max(len(idx), 1))()
        for j, i in enumerate(idx):
            sub[j] = arr[i]
            weight_map[arr[i].name.decode("utf-8")] = name
            total += arr[i].nbytes
        write_safetensors(os.path.join(d, name), sub, len(idx), meta)
        names.append(name)
    finish_shards(d, weight_map, total, names)
    return names
