"""schemes.py - initialisation schemes (SPEC.md 6; sp_init_scheme in sp_base.h).

An ``Init`` names the kind and its parameters exactly as the genesis records them:

  zeros()                           kind 1
  constant(v), ones()               kind 2, p0 = v
  uniform(low, high)                kind 3, low < high
  normal(mean, std)                 kind 4, std > 0
  trunc_normal(mean, std, low, high) kind 5, absolute bounds as torch.nn.init.trunc_normal_
  external()                        kind 0: the tensor's current values are recorded as
                                    they are (loaded weights); a verifier will say that the
                                    run does not start from scratch.
"""
import math

from . import _lib

EXTERNAL, ZEROS, CONSTANT, UNIFORM, NORMAL, TRUNC_NORMAL = range(6)
_KIND_NAMES = ("external", "zeros", "constant", "uniform", "normal", "trunc_normal")


class Init:
    """An initialisation scheme: kind (0..5) and up to four float parameters."""

    __slots__ = ("kind", "params")

    def __init__(self, kind, *params):
        if not isinstance(kind, int) or not 0 <= kind <= TRUNC_NORMAL:
            raise ValueError("scratchproof: unknown init kind %r (0..5)" % (kind,))
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
        n = {EXTERNAL: 0, ZEROS: 0, CONSTANT: 1, UNIFORM: 2, NORMAL: 2, TRUNC_NORMAL: 4}[self.kind]
        return "%s(%s)" % (self.kind_name, ", ".join(repr(x) for x in self.params[:n]))


def _check(s):
    """The checks of sp_init_check, with a sentence saying which one failed."""
    p = s.params
    if not all(math.isfinite(x) for x in p):
        raise ValueError("scratchproof: init parameters must be finite, got %r" % (p,))
    used = {EXTERNAL: 0, ZEROS: 0, CONSTANT: 1, UNIFORM: 2, NORMAL: 2, TRUNC_NORMAL: 4}[s.kind]
    if any(x != 0.0 for x in p[used:]):
        raise ValueError("scratchproof: %s takes %d parameter(s)" % (_KIND_NAMES[s.kind], used))
    if s.kind == UNIFORM and not p[0] < p[1]:
        raise ValueError("scratchproof: uniform(low, high) needs low < high, got %r" % (p[:2],))
    if s.kind in (NORMAL, TRUNC_NORMAL) and not p[1] > 0:
        raise ValueError("scratchproof: %s needs std > 0, got %r" % (_KIND_NAMES[s.kind], p[1]))
    if s.kind == TRUNC_NORMAL and not p[2] < p[3]:
        raise ValueError("scratchproof: trunc_normal needs low < high, got %r" % (p[2:],))


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


def as_init(x, where):
    """x as an Init (an Init, or one of the names 'zeros', 'ones', 'external')."""
    if isinstance(x, Init):
        return x
    named = {"zeros": zeros, "ones": ones, "external": external}
    if isinstance(x, str) and x in named:
        return named[x]()
    raise TypeError("scratchproof: %s: %r is not an init scheme; use "
                "scratchproof.uniform(low, high), normal(mean, std), trunc_normal(...), "
                "constant(v), zeros(), ones() or external()" % (where, x))
