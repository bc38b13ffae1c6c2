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
import operator
import os
import threading
import time

from . import _lib
from . import _tensors
from . import derive
from .derive import ConfigSource
from .errors import BusyError, Error, StateError, from_code
from .schemes import as_init

REPLAY_LEDGER = "replay.ledger"   # the ledger a replay writes in its {out} directory

_open_ledgers = set()          # real paths of ledgers this process holds open
_open_lock = threading.Lock()
_METRICS = ("loss", "lr", "tokens")


def _u64(x, what):
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


def _named(model, what):
    """(name, tensor) pairs: a module's named_parameters(), a mapping's items(), or pairs."""
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    if hasattr(model, "items"):
        return list(model.items())
    try:
        return [(n, t) for n, t in model]
    except (TypeError, ValueError):
        raise TypeError("scratchproof: %s wants a torch.nn.Module, a mapping of name to tensor "
                        "or (name, tensor) pairs, got %s" % (what, type(model).__name__)) from None


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
    Raises KeyFileError (missing or bad key), BusyError (another writer), StateError
    (ledger already holds records), Error (anything else), TypeError/ValueError.
    """

    def __init__(self, ledger: "os.PathLike[str] | str", key: "os.PathLike[str] | str | None",
                 seed: int, model_name: str = "", threads: int = 1,
                 config_digest: "bytes | None" = None, resume: bool = False, *,
                 config: "ConfigSource | None" = None, batches_per_step: "int | None" = None,
                 replay: bool = False) -> None:
        self._h = None
        self._lock = threading.Lock()
        self._hook = 0.0
        self._write = 0.0
        self._c_hook_last = 0.0
        self._real = None
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
        weights as loaded). scratchproof.torch.initialize calls this for you.
        """
        t0 = time.perf_counter()
        with self._lock:
            h = self._handle()
            entries = list(entries)
            arr = (_lib.SpRecordTensor * max(len(entries), 1))()
            keep, seen = [], set()
            for i, e in enumerate(entries):
                try:
                    name, x, init = e
                except (TypeError, ValueError):
                    raise TypeError("scratchproof: genesis entries are (name, tensor, Init) "
                                    "triples") from None
                b = _tensors.encode_name(name, "genesis tensor")
                if b in seen:
                    raise ValueError("scratchproof: genesis tensor '%s' appears twice" % name)
                seen.add(b)
                _tensors.fill(arr[i].t, b, x, name, "genesis tensor")
                arr[i].init = as_init(init, "genesis tensor '%s'" % name).to_c()
                keep.append((b, x))
            rc = _lib.sp_run_genesis(h, arr, len(entries))
            if rc != _lib.SP_OK:
                raise self._fail(rc, "genesis")
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
                ptr, n, keep = _tensors.buffer_pointer(part, "commit_batch")
                rc = _lib.sp_run_commit_batch(h, step, ptr, n)
                del keep
                if rc != _lib.SP_OK:
                    raise self._fail(rc, "commit_batch(step %d)" % step)
        self._hook += time.perf_counter() - t0

    def checkpoint(self, step, model, optimizer=None, path=None, metrics=None):
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
        """
        t0 = time.perf_counter()
        w0 = self._write
        try:
            with self._lock:
                self._checkpoint(step, model, optimizer, path, metrics)
        finally:
            self._hook += time.perf_counter() - t0 - (self._write - w0)

    def _checkpoint(self, step, model, optimizer, path, metrics):
        h = self._handle()
        step = _u64(step, "step")
        m = dict(metrics or {})
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
        named = _named(model, "checkpoint")
        arr, n, keep = _tensors.describe_all(named, "checkpoint tensor")
        oarr, on, okeep = None, 0, None
        if optimizer is not None:
            from . import torch as spt
            oarr, on, okeep = _tensors.describe_all(spt.optimizer_tensors(optimizer, named),
                                                    "optimizer state tensor")
        if path is not None:
            self._write_file(path, arr, n, step, b"checkpoint")
            if on:
                self._write_file(opt_path(path), oarr, on, step, b"optimizer")
        if on:
            info.optimizer = ctypes.cast(oarr, ctypes.POINTER(_lib.SpTensor))
            info.n_optimizer = on
        rc = _lib.sp_run_checkpoint(h, ctypes.byref(info), arr, n)
        del keep, okeep
        if rc != _lib.SP_OK:
            raise self._fail(rc, "checkpoint(step %d)" % step)

    def final(self, step, model, path=None):
        """Records the final (published) weights, once and last; writes them to path if given."""
        t0 = time.perf_counter()
        w0 = self._write
        try:
            with self._lock:
                h = self._handle()
                step = _u64(step, "step")
                arr, n, keep = _tensors.describe_all(_named(model, "final"), "final tensor")
                if path is not None:
                    self._write_file(path, arr, n, step, b"final")
                rc = _lib.sp_run_final(h, step, arr, n)
                del keep
                if rc != _lib.SP_OK:
                    raise self._fail(rc, "final(step %d)" % step)
        finally:
            self._hook += time.perf_counter() - t0 - (self._write - w0)

    def _write_file(self, path, arr, n, step, kind):
        t0 = time.perf_counter()
        try:
            write_safetensors(path, arr, n, {b"scratchproof.step": str(step).encode(),
                                             b"scratchproof.model": self._name_b,
                                             b"scratchproof.kind": kind})
        finally:
            self._write += time.perf_counter() - t0


def opt_path(path):
    """Where the optimizer state of checkpoint file path goes: X.safetensors -> X.opt.safetensors."""
    p = os.fspath(path)
    return p[:-len(".safetensors")] + ".opt.safetensors" if p.endswith(".safetensors") \
        else p + ".opt.safetensors"


def write_safetensors(path, arr, n, meta):
    """sp_st_write of n described tensors with metadata {bytes: bytes}; Error on failure."""
    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    if not os.path.isdir(d):
        raise Error(_lib.SP_EIO, "scratchproof: cannot write %s: directory %s does not exist"
                    % (path, d))
    flat = [x for kv in sorted(meta.items()) for x in kv]
    cm = (ctypes.c_char_p * max(len(flat), 1))(*flat)
    rc = _lib.sp_st_write(os.fsencode(path), arr, n, cm, len(meta))
    if rc != _lib.SP_OK:
        raise from_code(rc, "scratchproof: cannot write %s" % path)
