"""schemes.py - initialisation schemes (SPEC.md 6; sp_init_scheme in sp_base.h).

An ``Init`` names the kind and its parameters exactly as the genesis records them:

  zeros()                           kind 1
  constant(v), ones()               kind 2, p0 = v
  uniform(low, high)                kind 3, low < high
  normal(mean, std)                 kind 4, std > 0
  trunc_normal(mean, std, low, high) kind 5, absolute bounds as torch.nn.init.trunc_normal_
  uniform32(low, high)              kind 6, low < high        } scheme version 2 (SPEC.md 6.8):
  normal32(mean, std)               kind 7, std > 0           } 4 keystream bytes per element,
                                    binary32 math: a genesis check at 100B scale costs little
                                    more than hashing; 24-bit uniforms, normal tail cut at
                                    5.77 std. mean and std must round to finite float32, std
                                    to one > 0. Never chosen by default.
  external()                        kind 0: the tensor's current values are recorded as
                                    they are (loaded weights); a verifier will say that the
                                    run does not start from scratch.
"""
import math
import struct

from . import _lib

EXTERNAL, ZEROS, CONSTANT, UNIFORM, NORMAL, TRUNC_NORMAL, UNIFORM32, NORMAL32 = range(8)
_KIND_NAMES = ("external", "zeros", "constant", "uniform", "normal", "trunc_normal",
               "uniform32", "normal32")
_USED = {EXTERNAL: 0, ZEROS: 0, CONSTANT: 1, UNIFORM: 2, NORMAL: 2, TRUNC_NORMAL: 4,
         UNIFORM32: 2, NORMAL32: 2}


class Init:
    """An initialisation scheme: kind (0..7) and up to four float parameters."""

    __slots__ = ("kind", "params")

    def __init__(self, kind, *params):
        if not isinstance(kind, int) or kind not in _USED:
            raise ValueError("scratchproof: unknown init kind %r (0..%d)" % (kind, max(_USED)))
        p = tuple(float(x) for x in params)
        if len(p) > 4:
            raise ValueError("scratchproof: an init scheme has at most 4 parameters")
        self.kind = kind
        self.params = p + (0.0,) * (4 - len(p))
        _check(self)

    @property
    def kind_name(self):
        return _KIND_NAMES[self.kind]

    def to_c(self):
        """The scheme as a struct sp_init_scheme."""
        s = _lib.SpInitScheme()
        s.kind = self.kind
        for i, v in enumerate(self.params):
            s.p[i] = v
        return s

    def __eq__(self, other):
        return isinstance(other, Init) and (self.kind, self.params) == (other.kind, other.params)

    def __hash__(self):
        return hash((self.kind, self.params))

    def __repr__(self):
        n = _USED[self.kind]
        return "%s(%s)" % (self.kind_name, ", ".join(repr(x) for x in self.params[:n]))


def _check(s):
    """The checks of sp_init_check, with a sentence saying which one failed."""
    p = s.params
    if not all(math.isfinite(x) for x in p):
        raise ValueError("scratchproof: init parameters must be finite, got %r" % (p,))
    used = _USED[s.kind]
    if any(x != 0.0 for x in p[used:]):
        raise ValueError("scratchproof: %s takes %d parameter(s)" % (_KIND_NAMES[s.kind], used))
    if s.kind in (UNIFORM, UNIFORM32) and not p[0] < p[1]:
        raise ValueError("scratchproof: %s(low, high) needs low < high, got %r"
                         % (_KIND_NAMES[s.kind], p[:2]))
    if s.kind in (UNIFORM, UNIFORM32) and not math.isfinite(p[1] - p[0]):
        raise ValueError("scratchproof: %s(low, high): high - low overflows" % _KIND_NAMES[s.kind])
    if s.kind == NORMAL32:
        m, sd = _float32(p[0]), _float32(p[1])
        if not (math.isfinite(m) and math.isfinite(sd) and sd > 0):
            raise ValueError("scratchproof: normal32(mean, std) needs mean and std that round to "
                             "finite float32 values, std to one > 0, got %r" % (p[:2],))
    if s.kind in (NORMAL, TRUNC_NORMAL, NORMAL32) and not p[1] > 0:
        raise ValueError("scratchproof: %s needs std > 0, got %r" % (_KIND_NAMES[s.kind], p[1]))
    if s.kind == TRUNC_NORMAL and not p[2] < p[3]:
        raise ValueError("scratchproof: trunc_normal needs low < high, got %r" % (p[2:],))


def _float32(x):
    """x rounded to float32 (infinity when it overflows), as sp_init_check rounds it."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def external():
    return Init(EXTERNAL)


def zeros():
    return Init(ZEROS)


def constant(value):
    return Init(CONSTANT, value)


def ones():
    return Init(CONSTANT, 1.0)


def uniform(low, high):
    return Init(UNIFORM, low, high)


def normal(mean, std):
    return Init(NORMAL, mean, std)


def trunc_normal(mean, std, low, high):
    return Init(TRUNC_NORMAL, mean, std, low, high)


def uniform32(low, high):
    """Uniform on [low, high] from 24-bit uniforms, 4 keystream bytes per element (SPEC.md 6.8)."""
    return Init(UNIFORM32, low, high)


def normal32(mean, std):
    """Normal(mean, std) by Box-Muller in float32, |z| <= 5.77, 4 keystream bytes per element
    (SPEC.md 6.8)."""
    return Init(NORMAL32, mean, std)


def as_init(x, where):
    """x as an Init (an Init, or one of the names 'zeros', 'ones', 'external')."""
    if isinstance(x, Init):
        return x
    named = {"zeros": zeros, "ones": ones, "external": external}
    if isinstance(x, str) and x in named:
        return named[x]()
    raise TypeError("scratchproof: %s: %r is not an init scheme; use "
                "scratchproof.uniform(low, high), normal(mean, std), trunc_normal(...), "
                "uniform32(low, high), normal32(mean, std), "
                "constant(v), zeros(), ones() or external()" % (where, x))
