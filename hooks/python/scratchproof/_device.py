"""_device.py - recording tensors that are not in CPU memory (CUDA): the copy path.

C hashes host memory in place (_tensors.py). A tensor on a device is copied to host
buffers first and the copy is hashed: its bytes are the tensor's elements in row-major
order, exactly what a contiguous CPU copy holds, so the digests equal those of
t.cpu().contiguous() and a checkpoint taken on the GPU binds to the same file a CPU run
writes. A non-contiguous device tensor is copied element by element into a contiguous
buffer (that copy is made anyway).

The copies overlap the hashing: tensor k+1 is copied (CUDA: non_blocking=True, on a
side stream that first waits for the producing stream; otherwise copy_ on one worker
thread) into one buffer while C hashes tensor k in another, with the GIL released; the
copy's event (or the worker's future) is waited on before its buffer is hashed. The
buffers are kept by the run and reused from one record to the next (grown when a record
needs more): page-locked (pinned) memory when CUDA is available, which is what makes a
device-to-host copy asynchronous, plain memory otherwise. Streaming (no
file written): two buffers the size of the largest tensor. Writing a file: one arena
holding the file's tensors (a sharded write: one shard at a time), which the file is
written from, the same memory that was hashed.

SP_FORCE_COPY_PATH=1 (or force=True below) sends CPU tensors through the same path, so
the device-to-host logic runs and is tested on a machine without a GPU; with CPU tensors
the copies run on the worker thread and nothing is pinned.
"""
import ctypes
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:                     # names in annotations only; torch is imported lazily
    from collections.abc import Iterator
    from concurrent.futures import ThreadPoolExecutor

    import torch

from . import _lib
from . import _tensors
from .errors import Error, TensorError

FORCE_ENV = "SP_FORCE_COPY_PATH"
_ALIGN = 64            # each tensor of an arena starts at a multiple of this
_GROW = 1 << 20        # buffers grow in whole MiB


def forced() -> bool:
    """True when SP_FORCE_COPY_PATH is set to something other than '' or '0'."""
    return os.environ.get(FORCE_ENV, "") not in ("", "0")


def staged(x: object, force: "bool | None" = None) -> bool:
    """True when x goes through the copy path: a torch tensor off the CPU, or any torch
    tensor when the copy path is forced (force, else SP_FORCE_COPY_PATH)."""
    if not _tensors.is_torch_tensor(x):
        return False
    return x.device.type != "cpu" or (forced() if force is None else force)


def any_staged(tensors: "list[object]", force: "bool | None" = None) -> bool:
    return any(staged(t, force) for t in tensors)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def check(t: "torch.Tensor", name: str, what: str) -> "tuple[int, tuple[int, ...], int]":
    """(sp dtype, shape, nbytes) of a tensor the copy path can stage; TensorError else.
    Unlike the in-place path, any strides are fine (the copy is made contiguous)."""
    import torch
    if t.device.type == "meta":
        raise TensorError(_lib.SP_EINVAL, "scratchproof: %s '%s' is on device 'meta', which "
                          "holds no data to record" % (what, name))
    if t.layout != torch.strided or t.is_quantized:
        raise TensorError(_lib.SP_EUNSUPPORTED, "scratchproof: %s '%s' is not a dense strided "
                          "tensor (layout %s)" % (what, name, t.layout))
    dt = _tensors.torch_dtypes().get(t.dtype)
    if dt is None:
        raise TensorError(_lib.SP_EUNSUPPORTED, "scratchproof: %s '%s' has dtype %s, which "
                          "scratchproof cannot record; supported: %s"
                          % (what, name, t.dtype, _tensors.SUPPORTED))
    shape = tuple(t.shape)
    if len(shape) > _lib.SP_MAX_DIMS:
        raise TensorError(_lib.SP_ERANGE, "scratchproof: %s '%s' has %d dimensions (at most %d)"
                          % (what, name, len(shape), _lib.SP_MAX_DIMS))
    return dt, shape, t.numel() * t.element_size()


class _Pending:
    """A copy running on the worker thread, waited on like a CUDA event."""

    def __init__(self, fut) -> None:
        self._fut = fut

    def synchronize(self) -> None:
        self._fut.result()            # re-raises the copy's exception, if any


class Stager:
    """Host buffers a run reuses for its device tensors, and the copies into them."""

    def __init__(self) -> None:
        self._bufs: "list" = []       # uint8 CPU tensors, pinned when CUDA is available
        self._streams: "dict" = {}    # device -> the side stream copies run on
        self._pin: "bool | None" = None
        self._worker = None           # the thread copies without CUDA run on

    @property
    def pinned(self) -> bool:
        """Whether the buffers are page-locked (only when CUDA is available)."""
        if self._pin is None:
            import torch
            self._pin = bool(torch.cuda.is_available())
        return self._pin

    def held_bytes(self) -> int:
        """Bytes of host buffers held for reuse."""
        return sum(b.numel() for b in self._bufs if b is not None)

    def release(self) -> None:
        """Frees the buffers (the next record allocates them again) and the copy thread."""
        self._bufs = []
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None


    def _buf(self, i: int, nbytes: int) -> "torch.Tensor":
        import torch
        while len(self._bufs) <= i:
            self._bufs.append(None)
        b = self._bufs[i]
        if b is None or b.numel() < nbytes:
            size = max(_GROW, (nbytes + _GROW - 1) // _GROW * _GROW)
            self._bufs[i] = None            # free the old one before allocating
            b = torch.empty(size, dtype=torch.uint8, pin_memory=self.pinned)
            self._bufs[i] = b
        return b

    def _stream(self, device: "torch.device") -> "torch.cuda.Stream":
        import torch
        s = self._streams.get(device)
        if s is None:
            s = self._streams[device] = torch.cuda.Stream(device=device)
        return s

    @staticmethod
    def _view(buf: "torch.Tensor", offset: int, t: "torch.Tensor") -> "torch.Tensor":
        """A contiguous CPU tensor of t's dtype and shape over buf[offset:]."""
        n = t.numel() * t.element_size()
        return buf[offset:offset + n].view(t.dtype).view(t.shape)

    def _copy(self, host: "torch.Tensor", t: "torch.Tensor") -> "_Pending | torch.cuda.Event":
        """Starts copying t into host; returns what to wait on (.synchronize())."""
        import torch
        src = t.detach()
        if src.is_cuda:
            s = self._stream(src.device)
            s.wait_stream(torch.cuda.current_stream(src.device))   # after the producing kernels
            with torch.cuda.stream(s):
                host.copy_(src, non_blocking=self.pinned)
                ev = torch.cuda.Event()
                ev.record(s)
            src.record_stream(s)      # the allocator keeps src until the copy is done
            return ev
        # CPU (the forced path) or another device: copy_ on a worker thread (torch releases
        # the GIL in it), so this copy too runs while C hashes the previous tensor
        return _Pending(self._pool().submit(host.copy_, src))

    def _pool(self) -> "ThreadPoolExecutor":
        if self._worker is None:
            from concurrent.futures import ThreadPoolExecutor
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sp-copy")
        return self._worker

    def stream(self, tensors: "list[torch.Tensor]", keep: bool) \
            -> "Iterator[tuple[int, torch.Tensor]]":
        """Yields (i, host copy of tensors[i]) in order, the copy of the next tensor started
        before the current one is yielded (so it runs while the caller hashes).

        keep False: two buffers in turn; a yielded copy is valid until the generator is
        advanced. keep True: one arena; every copy stays valid until the next call
        of stream() (the caller writes a file from them)."""
        n = len(tensors)
        if n == 0:
            return
        sizes = [t.numel() * t.element_size() for t in tensors]
        if keep:
            offs, total = [], 0
            for nb in sizes:
                offs.append(total)
                total += _aligned(nb)
            arena = self._buf(0, total)
            hosts = [self._view(arena, offs[i], t) for i, t in enumerate(tensors)]
            evs = [self._copy(h, x) for h, x in zip(hosts, tensors)]   # all queued at once
            for i in range(n):
                evs[i].synchronize()
                yield i, hosts[i]
            return
        big = max(sizes)
        bufs = (self._buf(0, big), self._buf(1, big))
        nxt = self._view(bufs[0], 0, tensors[0])
        ev = self._copy(nxt, tensors[0])
        for i in range(n):
            cur, cur_ev = nxt, ev
            if i + 1 < n:            # buffer (i+1)%2 held tensor i-1, hashed already
                nxt = self._view(bufs[(i + 1) % 2], 0, tensors[i + 1])
                ev = self._copy(nxt, tensors[i + 1])
            cur_ev.synchronize()
            yield i, cur

    def host_copy(self, t: "torch.Tensor", slot: int = 2) -> "torch.Tensor":
        """One tensor copied into buffer slot (kept for reuse), complete on return: for
        batch commitments. Valid until the next host_copy with that slot."""
        host = self._view(self._buf(slot, t.numel() * t.element_size()), 0, t)
        self._copy(host, t).synchronize()
        return host


def fresh_copy(t: "torch.Tensor") -> "torch.Tensor":
    """A new contiguous CPU tensor equal to t, complete on return (a one-off copy: the
    genesis, whose tensors are recorded once)."""
    import torch
    host = torch.empty(tuple(t.shape), dtype=t.dtype)
    host.copy_(t.detach())
    return host


def digest(name_b: bytes, x: object, threads: int) -> bytes:
    """sp_tensor_digest (SPEC.md 2.2) of a CPU contiguous tensor or numpy array, in place,
    GIL released."""
    t = _lib.SpTensor()
    _tensors.fill(t, name_b, x, name_b.decode("utf-8"), "tensor")
    out = (ctypes.c_uint8 * _lib.SP_DIGEST_BYTES)()
    rc = _lib.sp_tensor_digest(ctypes.byref(out), ctypes.byref(t), threads)
    if rc != _lib.SP_OK:
        raise Error(rc, "scratchproof: cannot digest '%s': %s" % (name_b.decode("utf-8"),
                                                                  _lib.strerror(rc)))
    return bytes(out)


class Staged:
    """The tensors of one record on the copy path: descriptions (no data pointer) for the
    *_digests entry points, and the digests, computed as the copies arrive."""

    def __init__(self, pairs: "list", what: str, force: "bool | None" = None) -> None:
        self.names: "list[bytes]" = []
        self.tensors = []
        self.force = force
        seen = set()
        for name, x in pairs:
            b = _tensors.encode_name(name, what)
            if b in seen:
                raise TensorError(_lib.SP_EINVAL, "scratchproof: %s name '%s' appears twice"
                                  % (what, name))
            seen.add(b)
            if _tensors.is_torch_tensor(x):
                check(x, name, what)
            else:
                _tensors.layout(x, name, what)      # numpy: hashed in place
            self.names.append(b)
            self.tensors.append(x)
        self.n = len(self.names)
        self.digests: "list[bytes | None]" = [None] * self.n

    def sizes(self) -> "list[int]":
        return [_tensors.layout(x, "", "")[3] if not _tensors.is_torch_tensor(x)
                else x.numel() * x.element_size() for x in self.tensors]

    def descs(self) -> "tuple[ctypes.Array, list[bytes]]":
        """(SpTensor array with data NULL, keepalive) of every tensor."""
        arr = (_lib.SpTensor * max(self.n, 1))()
        for i, (b, x) in enumerate(zip(self.names, self.tensors)):
            if _tensors.is_torch_tensor(x):
                dt, shape, nb = check(x, b.decode("utf-8"), "tensor")
            else:
                dt, shape, _, nb = _tensors.layout(x, b.decode("utf-8"), "tensor")
            arr[i].name, arr[i].dtype, arr[i].ndim = b, dt, len(shape)
            for k, s in enumerate(shape):
                arr[i].shape[k] = s
            arr[i].data = None
            arr[i].nbytes = nb
        return arr, self.names

    def digest_array(self) -> "ctypes.Array":
        D = ctypes.c_uint8 * _lib.SP_DIGEST_BYTES
        assert all(d is not None for d in self.digests)
        return (D * max(self.n, 1)).from_buffer_copy(b"".join(self.digests) or bytes(32))

    def hash(self, stager: Stager, idx: "list[int]", threads: int, keep: bool) -> "list":
        """Digests tensors idx (copying those the copy path takes, hashing the others in
        place); returns their host forms (keep: the copies, valid until the next stream();
        else None for a copied tensor), in the order of idx."""
        hosts = [self.tensors[i] for i in idx]
        moved = [j for j, i in enumerate(idx) if staged(self.tensors[i], self.force)]
        ms = set(moved)
        for j, i in enumerate(idx):
            if j not in ms:
                self.digests[i] = digest(self.names[i], self.tensors[i], threads)
        for k, host in stager.stream([self.tensors[idx[j]] for j in moved], keep):
            j = moved[k]
            self.digests[idx[j]] = digest(self.names[idx[j]], host, threads)
            hosts[j] = host if keep else None
        return hosts
