"""dist.py - scratchproof.dist: one run recorded from the ranks of a torch.distributed job
(SPEC.md 17 and 3.6.3; the semantics of the C MPI hook, hooks/mpi.c, over
torch.distributed collectives: gloo on CPU here, the same calls serve NCCL).

    import torch.distributed as dist, scratchproof.dist as spd, scratchproof.torch as spt
    dist.init_process_group("gloo")               # RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    with spd.Run("run.ledger", key="trainer.key", seed=7, model_name="m") as run:
        spt.initialize(model, run)                # every rank: the same deterministic init
        ddp = DistributedDataParallel(model)
        for step in ...:
            run.commit_batch(step, my_batch)      # every rank its own batch, collectively
            ...
            run.checkpoint(step, ddp, optimizer=opt, path="ckpt/stepN.safetensors")

Every method is collective: every rank calls it, in the same order, with the same tensor
list (names, dtypes, shapes of the whole tensors, in the same order). Rank 0 holds the
ledger and the key (the other ranks may pass key=None); the other ranks send leaf digests
and batch digests. Per tensor each rank gives the byte range of the whole tensor it holds:
a plain tensor is the whole tensor (a data-parallel replica); a Shard(local, shape,
offset) is the bytes [offset, offset + local's bytes) of a tensor of that shape (a flat
FSDP shard, a row block). The 1 MiB chunks (SPEC 2.1) are hashed by an owner among the
ranks holding them whole ((g + e) mod count, e = records made so far); a chunk no rank
holds whole is assembled by the lowest rank holding its first byte (point-to-point
send/recv of the pieces); rank 0 gathers the leaves, builds the tensor digests, the
checkpoint root and the record. Genesis fields world_size, sharding_digest and
batches_per_step = world x per-rank are those the MPI hook records for the same sharding,
so `scratchproof verify` treats both alike, and the digests equal one process's.
Replicas agree: at the genesis and the final record every whole holder hashes and compares
its leaves with the recorded ones; at a checkpoint one rotating chunk is compared.
Errors are agreed: every call ends with an exchange of each rank's outcome, and all ranks
raise the lowest failing rank's error; after a failure the run is unusable.
Tensors (and Shard locals) on a device (CUDA, NCCL jobs) are copied to the host first,
one copy per record (_device.fresh_copy; not overlapped with the hashing as a one-process
Run's are); SP_FORCE_COPY_PATH=1 sends CPU tensors that way too (tests).
"""
import ctypes
import hashlib
import os
import struct
import time

from . import _device
from . import _lib
from . import _tensors
from .errors import Error, StateError, TensorError
from .run import Run as _LocalRun, _u64, check_names, named_tensors, opt_path

CHUNK = 1 << 20        # SP_CHUNK_BYTES
_D32 = ctypes.c_uint8 * _lib.SP_DIGEST_BYTES


class Shard:
    """This rank's bytes of a whole tensor: local (a CPU contiguous tensor) holds the bytes
    [offset, offset + local's nbytes) of the whole tensor of `shape` (dtype: local's),
    laid out row-major as SPEC.md 2.2 hashes it. offset is in bytes."""

    __slots__ = ("local", "shape", "offset")

    def __init__(self, local, shape, offset=0):
        self.local = local
        self.shape = tuple(_u64(s, "Shard shape") for s in shape)
        self.offset = _u64(offset, "Shard offset")

    def __repr__(self):
        return "Shard(shape=%s, offset=%d)" % (self.shape, self.offset)


def flat_shard(tensor, rank, world):
    """The flat slice [n*rank//world, n*(rank+1)//world) of tensor's elements (n = numel) as
    a Shard over a view of tensor's own memory (tinytrain_mpi's split, FSDP's flat shards)."""
    n = tensor.numel()
    lo, hi = n * rank // world, n * (rank + 1) // world
    local = tensor.detach().reshape(-1)[lo:hi]
    return Shard(local, tuple(tensor.shape), lo * tensor.element_size())


def init_shard(shard, name, seed, scheme):
    """Fills shard.local in place with elements [offset/size, ...) of what the deterministic
    initialiser generates for the whole tensor (SPEC.md 6.6: any slice equals that slice of
    the whole), so a rank generates only the part it holds."""
    from .schemes import as_init
    s = as_init(scheme, "init_shard")
    dt, _, ptr, nbytes = _tensors.layout(shard.local, name, "shard")
    if dt not in _lib.INIT_DTYPES:
        raise TensorError(_lib.SP_EUNSUPPORTED, "scratchproof: shard '%s': the initialiser "
                          "generates float32, float16 and bfloat16 only" % name)
    size = _lib.DTYPE_SIZES[dt]
    if shard.offset % size:
        raise ValueError("scratchproof: shard '%s' starts at byte %d, inside an element"
                         % (name, shard.offset))
    if nbytes:
        c = s.to_c()
        rc = _lib.sp_init_fill(ptr, dt, _tensors.encode_name(name, "shard"), seed,
                               ctypes.byref(c), shard.offset // size, nbytes // size)
        if rc != _lib.SP_OK:
            raise Error(rc, "scratchproof: cannot fill shard '%s': %s" % (name, _lib.strerror(rc)))
    return shard


def sharding_digest(world, names, ranges):
    """SPEC.md 17: H(tag("scratchproof/sharding") || u32le(world) || for each tensor in the
    order given: u32le(len(name)) || name || for each rank r: u64le(offset_r) || u64le(len_r)).
    ranges[r][i] = (offset, len) of tensor i on rank r."""
    h = hashlib.blake2b(digest_size=32)
    h.update(b"scratchproof/sharding\0" + struct.pack("<I", world))
    for i, name in enumerate(names):
        b = name.encode("utf-8")
        h.update(struct.pack("<I", len(b)) + b)
        for r in range(world):
            h.update(struct.pack("<QQ", *ranges[r][i]))
    return h.digest()


class _Failed(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code, self.msg = code, msg


def _host(x, name, what):
    """x itself, or for a tensor on a device (CUDA; any torch tensor under
    SP_FORCE_COPY_PATH) a host copy of it (_device.py): its elements in row-major order."""
    if _device.staged(x):
        _device.check(x, name, what)
        return _device.fresh_copy(x)
    return x


def _entry(name, x, what):
    """(name, dtype, shape, pointer, offset, len, keep) of a tensor (whole) or a Shard."""
    if isinstance(x, Shard):
        local = _host(x.local, name, what)
        dt, _, ptr, nbytes = _tensors.layout(local, name, what)
        shape = x.shape
        if len(shape) > _lib.SP_MAX_DIMS:
            raise TensorError(_lib.SP_ERANGE, "scratchproof: %s '%s' has %d dimensions"
                              % (what, name, len(shape)))
        whole = _lib.DTYPE_SIZES[dt]
        for s in shape:
            whole *= s
        if x.offset + nbytes > whole:
            raise _Failed(_lib.SP_EINVAL, "tensor '%s': bytes %d..+%d are not inside its %d bytes"
                          % (name, x.offset, nbytes, whole))
        return (name, dt, shape, ptr, x.offset, nbytes, local)
    x = _host(x, name, what)
    dt, shape, ptr, nbytes = _tensors.layout(x, name, what)
    return (name, dt, shape, ptr, 0, nbytes, x)


def _whole_bytes(dt, shape):
    n = _lib.DTYPE_SIZES[dt]
    for s in shape:
        n *= s
    return n


class Run:
    """A run recorded by every rank of a torch.distributed process group (collective).

    Run(ledger, key, seed, model_name="", threads=1, config_digest=None, resume=False, *,
        config=None, batches_per_step=None, group=None, keep_files=None, on_checkpoint=None)
    takes scratchproof.Run's arguments; rank 0 opens the ledger with them (key may be None
    on the other ranks), batches_per_step is per rank (the genesis records world x it).
    group: the process group (default: the whole world)."""

    def __init__(self, ledger, key, seed, model_name="", threads=1, config_digest=None,
                 resume=False, *, config=None, batches_per_step=None, group=None,
                 keep_files=None, on_checkpoint=None):
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            raise StateError(_lib.SP_EBADSTATE, "scratchproof.dist.Run wants an initialised "
                             "torch.distributed process group (dist.init_process_group)")
        self._dist = dist
        self._group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.seed = _u64(seed, "seed")
        self.is_replay = False
        self._epoch = 0
        self._failed = False
        self._closed = False
        self._hook = 0.0
        self._genesis_names = None
        self.last_step = 0
        self.step = 0
        t0 = time.perf_counter()
        per = 1 if batches_per_step is None else _u64(batches_per_step, "batches_per_step")
        self.batches_per_step = per * self.world_size
        self._local = None
        err = None
        if self.rank == 0:
            try:
                self._local = _LocalRun(ledger, key, seed, model_name, threads, config_digest,
                                        resume, config=config,
                                        batches_per_step=self.batches_per_step,
                                        keep_files=keep_files, on_checkpoint=on_checkpoint)
                self.last_step = self._local.last_step
            except Error as e:
                err = (e.code, str(e), type(e).__name__)
            except (TypeError, ValueError) as e:
                err = (_lib.SP_EINVAL, str(e), type(e).__name__)
        self.ledger = os.fspath(ledger)
        self._agree(err)
        self.last_step = self._bcast(self.last_step)
        self.step = self.last_step
        self._hook += time.perf_counter() - t0

    # ---- collectives ------------------------------------------------------

    def _gather_all(self, obj):
        out = [None] * self.world_size
        self._dist.all_gather_object(out, obj, group=self._group)
        return out

    def _gather0(self, obj):
        out = [None] * self.world_size if self.rank == 0 else None
        self._dist.gather_object(obj, out, dst=self._src0(), group=self._group)
        return out

    def _src0(self):
        return self._dist.get_global_rank(self._group, 0) if self._group is not None and \
            hasattr(self._dist, "get_global_rank") else 0

    def _bcast(self, obj):
        box = [obj]
        self._dist.broadcast_object_list(box, src=self._src0(), group=self._group)
        return box[0]

    def _agree(self, err):
        """err: None or (code, message[, kind]) of this rank; raises the lowest failing rank's
        error on every rank (and makes the run unusable)."""
        allerr = self._gather_all(err)
        for r, e in enumerate(allerr):
            if e is not None:
                self._failed = True
                code, msg = e[0], e[1]
                kind = e[2] if len(e) > 2 else ""
                if r and not msg.startswith("scratchproof: rank"):
                    msg = "scratchproof: rank %d: %s" % (r, msg.replace("scratchproof: ", "", 1))
                if kind == "TypeError":
                    raise TypeError(msg)
                if kind == "ValueError":
                    raise ValueError(msg)
                from .errors import from_code
                raise from_code(code, "x").__class__(code, msg)

    def _usable(self):
        if self._closed:
            raise StateError(_lib.SP_EBADSTATE, "scratchproof: the run on %s is closed"
                             % self.ledger)
        if self._failed:
            raise StateError(_lib.SP_EBADSTATE, "scratchproof: the run is unusable after an "
                             "earlier failure")

    def _handle(self):
        self._usable()
        return self._local._handle() if self._local is not None else None

    @staticmethod
    def _local_err(e):
        if isinstance(e, Error):
            return (e.code, str(e), "Error")
        if isinstance(e, _Failed):
            return (e.code, "scratchproof: " + e.msg, "Error")
        if isinstance(e, (TypeError, ValueError)):
            return (_lib.SP_EINVAL, str(e), type(e).__name__)
        return (_lib.SP_EINVAL, "scratchproof: %s: %s" % (type(e).__name__, e), "Error")

    # ---- the leaves (SPEC 17, "Digests equal one process's") -------------------

    def _digests(self, entries, full_check):
        """Collective: the tensor digests of entries (rank 0; None elsewhere), the agreed
        ranges[r][i] and descriptions. entries: _entry() tuples in the caller's order."""
        import torch
        desc = [(e[0], e[1], tuple(e[2])) for e in entries]
        mine = [(e[4], e[5]) for e in entries]
        got = self._gather_all((desc, mine))
        err = None
        for r, (d, _) in enumerate(got):
            if d != got[0][0]:
                err = (_lib.SP_EINVAL, "scratchproof: rank %d passes another tensor list than "
                       "rank 0 (names, dtypes, shapes and order must be the same on every rank)"
                       % r, "Error")
                break
        self._agree(err if self.rank == 0 else None)
        ranges = [g[1] for g in got]
        W, me, e = self.world_size, self.rank, self._epoch
        nbytes = [_whole_bytes(dt, sh) for _, dt, sh in desc]
        first = [0]
        for nb in nbytes:
            first.append(first[-1] + (nb + CHUNK - 1) // CHUNK)
        total = first[-1]
        spot = e % total if total else 0
        err = None
        for i, nb in enumerate(nbytes):     # every byte held by some rank
            pos = 0
            for o, ln in sorted(ranges[r][i] for r in range(W)):
                if ln and o <= pos:
                    pos = max(pos, o + ln)
            if pos < nb:
                err = (_lib.SP_EINVAL, "scratchproof: tensor '%s': byte %d is held by no rank"
                       % (desc[i][0], pos), "Error")
                break
        self._agree(err if self.rank == 0 else None)
        mine_leaves, checks = [], []
        lerr = None
        buf = None
        for i, nb in enumerate(nbytes):
            rng = [ranges[r][i] for r in range(W)]
            ptr = entries[i][3]
            c = 0
            while c * CHUNK < nb:
                g, cs = first[i] + c, c * CHUNK
                ce = min(nb, cs + CHUNK)
                cover = [r for r in range(W) if rng[r][0] <= cs and rng[r][0] + rng[r][1] >= ce]
                if cover:
                    owner = cover[(g + e) % len(cover)]
                    if me in cover and (me == owner or full_check or g == spot):
                        leaf = _D32()
                        _lib.sp_leaf_digest(ctypes.byref(leaf), c, ptr + (cs - rng[me][0]), ce - cs)
                        (mine_leaves if me == owner else checks).append((g, bytes(leaf), i, c))
                else:               # straddling: the lowest holder of byte cs assembles it
                    asm = min(r for r in range(W) if rng[r][0] <= cs < rng[r][0] + rng[r][1])
                    if me == asm and buf is None:
                        buf = torch.empty(CHUNK, dtype=torch.uint8)
                    pos = cs
                    while pos < ce:
                        src = min(r for r in range(W) if rng[r][0] <= pos < rng[r][0] + rng[r][1])
                        end = min(ce, rng[src][0] + rng[src][1])
                        n = end - pos
                        if me == src:
                            where = ptr + (pos - rng[me][0])
                            if me == asm:
                                ctypes.memmove(buf.data_ptr() + (pos - cs), where, n)
                            else:
                                piece = torch.empty(n, dtype=torch.uint8)
                                ctypes.memmove(piece.data_ptr(), where, n)
                                self._dist.send(piece, self._peer(asm), group=self._group)
                        elif me == asm:
                            piece = torch.empty(n, dtype=torch.uint8)
                            self._dist.recv(piece, self._peer(src), group=self._group)
                            ctypes.memmove(buf.data_ptr() + (pos - cs), piece.data_ptr(), n)
                        pos = end
                    if me == asm:
                        leaf = _D32()
                        _lib.sp_leaf_digest(ctypes.byref(leaf), c, buf.data_ptr(), ce - cs)
                        mine_leaves.append((g, bytes(leaf), i, c))
                c += 1
        sent = b"".join(struct.pack("<Q", g) + lf for g, lf, _, _ in mine_leaves)
        allsent = self._gather0(sent)
        digests, leaves = None, None
        if me == 0:
            try:
                leaves = [None] * total
                for blob in allsent:
                    for k in range(0, len(blob), 40):
                        g = struct.unpack_from("<Q", blob, k)[0]
                        if g >= total or leaves[g] is not None:
                            raise _Failed(_lib.SP_EINVAL, "leaf %d was hashed twice or is out of "
                                          "range" % g)
                        leaves[g] = blob[k + 8:k + 40]
                if any(lf is None for lf in leaves):
                    raise _Failed(_lib.SP_EINVAL, "the ranks' leaves do not cover the tensors once")
                digests = []
                for i, (name, dt, sh) in enumerate(desc):
                    t = self._desc(name, dt, sh)
                    k = first[i + 1] - first[i]
                    arr = (_D32 * max(k, 1)).from_buffer_copy(
                        b"".join(leaves[first[i]:first[i + 1]]) or bytes(32))
                    out = _D32()
                    rc = _lib.sp_tensor_digest_leaves(ctypes.byref(out), ctypes.byref(t[0]),
                                                      ctypes.addressof(arr), k)
                    if rc != _lib.SP_OK:
                        raise _Failed(rc, "tensor '%s': %s" % (name, _lib.strerror(rc)))
                    digests.append(bytes(out))
            except Exception as ex:     # noqa: BLE001  (agreed below)
                lerr = self._local_err(ex)
        self._agree(lerr)
        any_check = self._gather_all(bool(checks))
        if any(any_check):
            rec = self._bcast(leaves if me == 0 else None)
            for g, lf, i, c in checks:
                if lf != rec[g]:
                    lerr = (_lib.SP_EMISMATCH, "scratchproof: replicas disagree: rank %d's copy of "
                            "tensor '%s' (chunk %d) differs from the copy that was recorded"
                            % (me, desc[i][0], c), "Error")
                    break
            self._agree(lerr)
        return digests, ranges, desc

    def _peer(self, r):
        if self._group is None:
            return r
        return self._dist.get_global_rank(self._group, r)

    @staticmethod
    def _desc(name, dt, shape):
        b = _tensors.encode_name(name, "tensor")
        t = _lib.SpTensor()
        t.name, t.dtype, t.ndim = b, dt, len(shape)
        for k, s in enumerate(shape):
            t.shape[k] = s
        t.data = None
        t.nbytes = _whole_bytes(dt, shape)
        return t, b

    def _record(self, fn):
        """Rank 0 calls fn() (appending through the local run), then the outcome is agreed."""
        err = None
        if self.rank == 0:
            try:
                fn()
            except Exception as ex:     # noqa: BLE001
                err = self._local_err(ex)
        self._epoch += 1
        self._agree(err)

    def _prepare(self, pairs, what):
        err, entries = None, []
        try:
            entries = [_entry(n, x, what) for n, x in pairs]
        except Exception as ex:     # noqa: BLE001
            err = self._local_err(ex)
        self._agree(err)
        return entries

    # ---- records ------------------------------------------------------------

    def genesis(self, entries):
        """Collective: (name, tensor or Shard, Init) for every initial tensor, on every rank."""
        t0 = time.perf_counter()
        self._usable()
        from .schemes import as_init
        entries = list(entries)
        schemes = [as_init(s, "genesis tensor '%s'" % n) for n, _, s in entries]
        ent = self._prepare([(n, x) for n, x, _ in entries], "genesis tensor")
        d, ranges, desc = self._digests(ent, True)

        def rec():
            n = len(desc)
            arr = (_lib.SpRecordTensor * max(n, 1))()
            keep = []
            for i, (name, dt, sh) in enumerate(desc):
                t, b = self._desc(name, dt, sh)
                keep.append(b)
                arr[i].t = t
                arr[i].init = schemes[i].to_c()
            dd = (_D32 * max(n, 1)).from_buffer_copy(b"".join(d) or bytes(32))
            sh = _D32.from_buffer_copy(sharding_digest(self.world_size, [x[0] for x in desc],
                                                       ranges))
            self._local._genesis_digests(arr, dd, n, self.world_size, sh)
        self._record(rec)
        self._genesis_names = {x[0] for x in desc}
        self._hook += time.perf_counter() - t0

    def commit_batch(self, step, data):
        """Collective: every rank commits its own batch for the same step (a tuple/list is
        several commitments, in order); the chain takes d_0 .. d_{W-1} in rank order."""
        t0 = time.perf_counter()
        self._usable()
        step = _u64(step, "step")
        parts = data if isinstance(data, (tuple, list)) else (data,)
        n = self._gather_all(len(parts))
        if len(set(n)) != 1:
            self._agree((_lib.SP_EINVAL, "scratchproof: ranks commit %s batches at step %d (the "
                         "same number on every rank)" % (n, step), "Error") if self.rank == 0
                        else None)
        for part in parts:
            part = _host(part, "batch", "commit_batch")
            ptr, ln, keep = _tensors.buffer_pointer(part, "commit_batch")
            d = _D32()
            _lib.sp_batch_digest(ctypes.byref(d), step, ptr, ln)
            del keep
            got = self._gather0((step, bytes(d)))
            err = None
            if self.rank == 0:
                try:
                    for r, (s, dr) in enumerate(got):
                        if s != step:
                            raise _Failed(_lib.SP_EINVAL, "rank %d commits a batch of step %d "
                                          "while rank 0 commits step %d" % (r, s, step))
                    for s, dr in got:
                        self._local._commit_digest(s, dr)
                except Exception as ex:     # noqa: BLE001
                    err = self._local_err(ex)
            self._agree(err)
        self._hook += time.perf_counter() - t0

    def _pairs(self, model, what):
        pairs = named_tensors(model, what)
        if self._genesis_names is not None:
            pairs = check_names(pairs, self._genesis_names, what)
        return pairs

    def checkpoint(self, step=None, model=None, optimizer=None, path=None, metrics=None, *,
                   max_shard_size: "int | str | None" = None) -> None:
        """Collective: records a checkpoint (scratchproof.Run.checkpoint's arguments; model
        a module, its DDP/compile wrapper, a mapping or pairs whose values are tensors or
        Shards; optimizer a torch optimizer (replicated state) or (name, tensor|Shard)
        pairs). step None: run.step. Rank 0 writes path (gathering shards it lacks); with
        max_shard_size, as a sharded model in directory path (Run.checkpoint)."""
        t0 = time.perf_counter()
        self._usable()
        _LocalRun._check_shards(path, max_shard_size)
        step = self.step if step is None else _u64(step, "step")
        pairs = self._pairs(model, "checkpoint")
        opairs = []
        if optimizer is not None:
            if hasattr(optimizer, "param_groups"):
                from . import torch as spt
                opairs = spt.optimizer_tensors(optimizer, [(n, x.local if isinstance(x, Shard)
                                                            else x) for n, x in pairs])
            else:
                opairs = list(optimizer.items()) if hasattr(optimizer, "items") else list(optimizer)
        ent = self._prepare(pairs, "checkpoint tensor")
        oent = self._prepare(opairs, "optimizer state tensor")
        d, _, desc = self._digests(ent, False)
        od, _, odesc = self._digests(oent, False) if oent else (None, None, [])
        files = self._files(path, ent, oent)

        def rec():
            if files is not None:
                self._local._write_whole(path, files[0], files[1], step,
                                         max_shard_size=max_shard_size)
            self._local._checkpoint_digests(step, desc, d, odesc, od, metrics, optimizer)
        self._record(rec)
        self.last_step = max(self.last_step, step)
        self.step = max(self.step, step)
        self._hook += time.perf_counter() - t0

    def final(self, step=None, model=None, path=None, *,
              max_shard_size: "int | str | None" = None) -> None:
        """Collective: records the final weights (every replica checked); max_shard_size
        as for checkpoint."""
        t0 = time.perf_counter()
        self._usable()
        _LocalRun._check_shards(path, max_shard_size)
        step = self.step if step is None else _u64(step, "step")
        ent = self._prepare(self._pairs(model, "final"), "final tensor")
        d, _, desc = self._digests(ent, True)
        files = self._files(path, ent, [])

        def rec():
            if files is not None:
                self._local._write_whole(path, files[0], None, step, kind=b"final",
                                         max_shard_size=max_shard_size)
            self._local._final_digests(step, desc, d)
        self._record(rec)
        self._hook += time.perf_counter() - t0

    def _files(self, path, ent, oent):
        """Rank 0's whole tensors for the files at path: its own when it holds them whole,
        else gathered from the shards (collective when path is given)."""
        if path is None:
            return None
        return (self._whole(ent), self._whole(oent) if oent else None)

    def _whole(self, ent):
        import torch
        need = [i for i, x in enumerate(ent) if not (x[4] == 0 and x[5] == _whole_bytes(x[1], x[2]))]
        need_any = self._gather_all(need)
        idx = sorted(set().union(*need_any))
        pieces = {}
        for i in idx:
            x = ent[i]
            pieces[i] = (x[4], ctypes.string_at(x[3], x[5]) if x[5] else b"")
        got = self._gather0(pieces) if idx else None
        if self.rank != 0:
            return None
        from .torch import _FROM_SP_map
        out = []
        fm = _FROM_SP_map()
        for i, x in enumerate(ent):
            name, dt, sh = x[0], x[1], x[2]
            if i not in idx:
                out.append((name, x[6]))
                continue
            t = torch.zeros(tuple(sh), dtype=fm[dt])
            for r in range(self.world_size):
                o, b = got[r][i]
                if b:
                    ctypes.memmove(t.data_ptr() + o, b, len(b))
            out.append((name, t))
        return out

    # ---- the rest -------------------------------------------------------

    def next_step(self):
        """Advances the automatic step counter (every rank) and returns the new step."""
        self.step += 1
        return self.step

    @property
    def hook_seconds(self):
        return self._hook

    def _add_hook_time(self, s):
        self._hook += s

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Closes the run (rank 0 releases the ledger). Not collective; idempotent."""
        if self._local is not None:
            self._local.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "<scratchproof.dist.Run %s rank %d of %d>" % (self.ledger, self.rank,
                                                            self.world_size)


__all__ = ["Run", "Shard", "flat_shard", "init_shard", "sharding_digest", "opt_path"]
