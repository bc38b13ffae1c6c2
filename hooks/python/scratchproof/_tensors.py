"""_tensors.py - describing tensors in memory as struct sp_tensor, without copying.

A description points at the tensor's own memory (torch: data_ptr(); numpy:
ctypes.data), so C hashes the exact bytes the training job holds. Anything C could
not read in place is refused with a TensorError before C is called: a tensor not in
CPU memory, a non-contiguous view (copying it would record bytes other than the
tensor's), a dtype with no number in the record format, more than 8 dimensions.
Tensors on a device (CUDA) do not come here as they are: run.py sends them through
_device.py, which copies them to host buffers first (a copy that has to be made).
Torch is imported only when a torch tensor is seen.
"""
import ctypes
import sys

from . import _lib
from .errors import TensorError

SUPPORTED = "float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool"
_torch_map = None


def torch_dtypes():
    """{torch dtype: sp dtype number}, built on first use."""
    global _torch_map
    if _torch_map is None:
        import torch
        _torch_map = {torch.float32: _lib.F32, torch.float16: _lib.F16,
                      torch.bfloat16: _lib.BF16, torch.float64: _lib.F64,
                      torch.int64: _lib.I64, torch.int32: _lib.I32, torch.int16: _lib.I16,
                      torch.int8: _lib.I8, torch.uint8: _lib.U8, torch.bool: _lib.BOOL}
    return _torch_map


_NUMPY = {"float32": _lib.F32, "float16": _lib.F16, "float64": _lib.F64, "int64": _lib.I64,
          "int32": _lib.I32, "int16": _lib.I16, "int8": _lib.I8, "uint8": _lib.U8,
          "bool": _lib.BOOL}


def is_torch_tensor(x):
    t = sys.modules.get("torch")
    return t is not None and isinstance(x, t.Tensor)


def _bad(code, what, name, why):
    return TensorError(code, "scratchproof: %s '%s' %s" % (what, name, why))


def torch_layout(t, name, what):
    """(sp dtype, shape tuple, data pointer, nbytes) of a CPU contiguous torch tensor."""
    dev = t.device.type
    if dev != "cpu":
        raise _bad(_lib.SP_EINVAL, what, name,
                   "is on device '%s'; the hook hashes CPU memory in place: give it a CPU "
                   "tensor (e.g. .cpu(), a copy you make and keep)" % dev)
    import torch
    if t.layout != torch.strided or t.is_quantized:
        raise _bad(_lib.SP_EUNSUPPORTED, what, name,
                   "is not a dense strided tensor (layout %s)" % (t.layout,))
    dt = torch_dtypes().get(t.dtype)
    if dt is None:
        raise _bad(_lib.SP_EUNSUPPORTED, what, name,
                   "has dtype %s, which scratchproof cannot record; supported: %s"
                   % (t.dtype, SUPPORTED))
    if not t.is_contiguous() or t.is_neg() or t.is_conj():
        raise _bad(_lib.SP_EINVAL, what, name,
                   "is not contiguous (a view with strides %s); the hook records the bytes in "
                   "memory and never copies: pass t.contiguous() if that copy is what you "
                   "mean to record" % (tuple(t.stride()),))
    shape = tuple(t.shape)
    if len(shape) > _lib.SP_MAX_DIMS:
        raise _bad(_lib.SP_ERANGE, what, name, "has %d dimensions (at most %d)"
                   % (len(shape), _lib.SP_MAX_DIMS))
    return dt, shape, t.data_ptr(), t.numel() * t.element_size()


def numpy_layout(a, name, what):
    """The same for a numpy array."""
    dt = _NUMPY.get(a.dtype.name) if a.dtype.byteorder in "=|<" else None
    if dt is None:
        raise _bad(_lib.SP_EUNSUPPORTED, what, name,
                   "has dtype %s, which scratchproof cannot record; supported: %s"
                   % (a.dtype, SUPPORTED))
    if not a.flags["C_CONTIGUOUS"]:
        raise _bad(_lib.SP_EINVAL, what, name,
                   "is not C-contiguous; the hook never copies: pass numpy.ascontiguousarray(a) "
                   "if that copy is what you mean to record")
    if a.ndim > _lib.SP_MAX_DIMS:
        raise _bad(_lib.SP_ERANGE, what, name, "has %d dimensions (at most %d)"
                   % (a.ndim, _lib.SP_MAX_DIMS))
    return dt, tuple(a.shape), a.ctypes.data, a.nbytes


def layout(x, name, what):
    """(dtype, shape, pointer, nbytes) of a torch tensor or numpy array, else TensorError."""
    if is_torch_tensor(x):
        return torch_layout(x, name, what)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return numpy_layout(x, name, what)
    raise TensorError(_lib.SP_EINVAL, "scratchproof: %s '%s' is a %s, not a torch tensor or "
                      "numpy array" % (what, name, type(x).__name__))


def fill(dst, name_b, x, name, what):
    """Describes x into the SpTensor dst (name_b: the encoded name, kept alive by the caller)."""
    dt, shape, ptr, nbytes = layout(x, name, what)
    dst.name = name_b
    dst.dtype = dt
    dst.ndim = len(shape)
    for i, s in enumerate(shape):
        dst.shape[i] = s
    dst.data = ptr if nbytes else None
    dst.nbytes = nbytes


def encode_name(name, what):
    """A tensor name as bytes: non-empty UTF-8 of at most SP_NAME_MAX bytes, no NUL."""
    if not isinstance(name, str):
        raise TypeError("scratchproof: %s names are str, got %r" % (what, name))
    b = name.encode("utf-8")
    if not b or len(b) > _lib.SP_NAME_MAX or b"\0" in b:
        raise TensorError(_lib.SP_EINVAL, "scratchproof: %s name %r must be 1..%d bytes of "
                          "UTF-8 without NUL" % (what, name, _lib.SP_NAME_MAX))
    return b


def describe_all(named, what):
    """(SpTensor array, keepalive) for an iterable of (name, tensor) pairs."""
    pairs = list(named)
    arr = (_lib.SpTensor * max(len(pairs), 1))()
    keep = []
    seen = set()
    for i, (name, x) in enumerate(pairs):
        b = encode_name(name, what)
        if b in seen:
            raise TensorError(_lib.SP_EINVAL, "scratchproof: %s name '%s' appears twice"
                              % (what, name))
        seen.add(b)
        fill(arr[i], b, x, name, what)
        keep.append((b, x))
    return arr, len(pairs), keep


def buffer_pointer(data, what):
    """(pointer, length, keepalive) of bytes-like data or a tensor/array, read in place."""
    if isinstance(data, bytes):
        return data, len(data), data            # ctypes passes bytes' own buffer
    if is_torch_tensor(data) or type(data).__name__ == "ndarray":
        _, _, ptr, n = layout(data, "batch", what)
        return (ptr if n else None), n, data
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError("scratchproof: %s wants a tensor, numpy array or bytes-like object, "
                        "got %s" % (what, type(data).__name__)) from None
    if not mv.c_contiguous:
        raise TensorError(_lib.SP_EINVAL, "scratchproof: %s: the buffer is not contiguous"
                          % what)
    n = mv.nbytes
    if n == 0:
        return None, 0, mv
    if mv.readonly:
        import numpy
        a = numpy.frombuffer(mv.cast("B"), dtype=numpy.uint8)   # a view, no copy
        return a.ctypes.data, n, (mv, a)
    c = (ctypes.c_char * n).from_buffer(mv.cast("B"))
    return ctypes.addressof(c), n, (mv, c)


def raw_bytes(t):
    """A CPU torch tensor's elements as bytes, row-major (a copy: for comparisons only)."""
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    n = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), n) if n else b""
