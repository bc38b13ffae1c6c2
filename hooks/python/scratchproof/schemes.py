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
  orthogonal(gain=1.0)              kind 8, torch.nn.init.orthogonal_ (SPEC 6.9): p0 = gain > 0,
                                    p1, p2 = rows, cols of the tensor it is bound to
                                    (.bind(shape); scratchproof.torch.initialize binds it)
  ranges([(first, count, Init), ...]) per-range schemes (SPEC 6.10): element i of the tensor,
                                    in [first, first + count), is element i of that Init;
                                    in element order from 0, covering the tensor (a padded
                                    vocabulary: [(0, V*d, normal(0, .02)), (V*d, P*d, zeros())])
  external()                        kind 0: the tensor's current values are recorded as
                                    they are (loaded weights); a verifier will say that the
                                    run does not start from scratch.
"""
import math
import struct

from . import _lib

EXTERNAL, ZEROS, CONSTANT, UNIFORM, NORMAL, TRUNC_NORMAL, UNIFORM32, NORMAL32, ORTHOGONAL = range(9)
_KIND_NAMES = {EXTERNAL: "external", ZEROS: "zeros", CONSTANT: "constant", UNIFORM: "uniform",
               NORMAL: "normal", TRUNC_NORMAL: "trunc_normal", UNIFORM32: "uniform32",
               NORMAL32: "normal32", ORTHOGONAL: "orthogonal"}
_USED = {EXTERNAL: 0, ZEROS: 0, CONSTANT: 1, UNIFORM: 2, NORMAL: 2, TRUNC_NORMAL: 4,
         UNIFORM32: 2, NORMAL32: 2, ORTHOGONAL: 3}
# ORTHOGONAL's size limits (SP_INIT_ORTHO_MAX_NUMEL, SP_INIT_ORTHO_MAX_WORK in sp_base.h)
ORTHO_MAX_NUMEL = 1 << 24
ORTHO_MAX_WORK = 1 << 36


class Init:
    """An initialisation scheme: kind (0..8) and up to four float parameters."""

    __slots__ = ("kind", "params")

    def __init__(self, kind, *params):
        if not isinstance(kind, int) or kind not in _KIND_NAMES:
            raise ValueError("scratchproof: unknown init kind %r (0..%d)" % (kind, max(_KIND_NAMES)))
        p = tuple(float(x) for x in params)
        if len(p) > 4:
            raise ValueError("scratchproof: an init scheme has at most 4 parameters")
        self.kind = kind
        self.params = p + (0.0,) * (4 - len(p))
        _check(self)

    @property
    def kind_name(self):
        return _KIND_NAMES[self.kind]

    @property
    def bound(self):
        """False for an orthogonal(gain) not yet bound to a tensor's shape."""
        return self.kind != ORTHOGONAL or self.params[1] != 0.0

    def bind(self, shape):
        """This scheme for a tensor of this shape: orthogonal takes rows = shape[0] and
        cols = the product of the other dimensions (sp_init_orthogonal); other kinds, and an
        orthogonal already bound to this shape, are returned as they are."""
        if self.kind != ORTHOGONAL:
            return self
        shape = tuple(int(d) for d in shape)
        numel = 1
        for d in shape:
            numel *= d
        if len(shape) < 2 or numel == 0:
            raise ValueError("scratchproof: orthogonal needs a tensor of 2 or more dimensions "
                             "with elements, not shape %s" % (shape,))
        return Init(ORTHOGONAL, self.params[0], shape[0], numel // shape[0])

    def to_c(self):
        """The scheme as a struct sp_init_scheme."""
        if not self.bound:
            raise ValueError("scratchproof: orthogonal(gain) is not bound to a tensor; "
                             "scratchproof.torch.initialize binds it, else pass "
                             "orthogonal(gain).bind(tensor.shape)")
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
        if self.kind == ORTHOGONAL:
            return "orthogonal(%r%s)" % (self.params[0], "" if not self.bound else
                                         ", rows=%d, cols=%d" % self.params[1:3])
        n = _USED[self.kind]
        return "%s(%s)" % (self.kind_name, ", ".join(repr(x) for x in self.params[:n]))


def _check(s):
    """The checks of sp_init_check, with a sentence saying which one failed."""
    p = s.params
    if not all(math.isfinite(x) for x in p):
        raise ValueError("scratchproof: init parameters must be finite, got %r" % (p,))
    used = _USED[s.kind]
    if any(x != 0.0 or math.copysign(1.0, x) < 0 for x in p[used:]):
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
    if s.kind == ORTHOGONAL:
        if not p[0] > 0:
            raise ValueError("scratchproof: orthogonal needs gain > 0, got %r" % (p[0],))
        rows, cols = p[1], p[2]
        if (rows, cols) == (0.0, 0.0):
            return   # not bound to a shape yet
        if rows != int(rows) or cols != int(cols) or rows < 1 or cols < 1:
            raise ValueError("scratchproof: orthogonal's rows and cols are integers >= 1, got %r"
                             % ((rows, cols),))
        r, c = int(rows), int(cols)
        if r * c > ORTHO_MAX_NUMEL or r * c * min(r, c) > ORTHO_MAX_WORK:
            raise ValueError("scratchproof: orthogonal of %d x %d is beyond the limits of SPEC "
                             "6.9 (at most 2^24 elements and rows*cols*min(rows, cols) <= 2^36: "
                             "the QR factorisation's cost)" % (r, c))


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


RANGES = -1   # not a C kind: a Ranges object, recorded as TensorDigest.ranges


class Ranges(Init):
    """Per-range schemes of one tensor (SPEC.md 6.10): parts ((first, count, Init), ...) in
    element order from 0, contiguous, none empty or external, neighbours differing (ranges()
    merges them). Recorded by scratchproof.torch.initialize with sp_run_genesis_ranges."""

    __slots__ = ("parts",)

    def __init__(self, parts):   # pylint: disable=super-init-not-called
        self.kind = RANGES
        self.params = ()
        self.parts = tuple(parts)

    @property
    def kind_name(self):
        return "ranges"

    @property
    def numel(self):
        f, c, _ = self.parts[-1]
        return f + c

    @property
    def bound(self):
        return all(s.bound for _, _, s in self.parts)

    def bind(self, shape):
        """Binds orthogonal parts to shape and checks the parts cover its elements."""
        numel = 1
        for d in shape:
            numel *= int(d)
        if self.numel != numel:
            raise ValueError("scratchproof: ranges cover %d elements, the tensor has %d (shape %s)"
                             % (self.numel, numel, tuple(shape)))
        return Ranges([(f, c, s.bind(shape)) for f, c, s in self.parts])

    def to_c(self):
        raise ValueError("scratchproof: per-range schemes are recorded by "
                         "scratchproof.torch.initialize (sp_run_genesis_ranges), not as one "
                         "struct sp_init_scheme")

    def c_ranges(self):
        """(array of struct sp_init_range, count)."""
        arr = (_lib.SpInitRange * len(self.parts))()
        for i, (f, c, s) in enumerate(self.parts):
            arr[i].first, arr[i].count, arr[i].init = f, c, s.to_c()
        return arr, len(self.parts)

    def __eq__(self, other):
        return isinstance(other, Ranges) and self.parts == other.parts

    def __hash__(self):
        return hash(self.parts)

    def __repr__(self):
        return "ranges([%s])" % ", ".join("(%d, %d, %r)" % p for p in self.parts)


def ranges(parts):
    """Per-range schemes from [(first, count, Init), ...] in element order from element 0
    (SPEC.md 6.10). Neighbours with the same scheme are merged; a single range left is
    returned as its Init."""
    out, at = [], 0
    for e in parts:
        try:
            first, count, s = e
        except (TypeError, ValueError):
            raise TypeError("scratchproof: ranges() wants (first, count, scheme) triples") from None
        s = as_init(s, "ranges()")
        first, count = int(first), int(count)
        if isinstance(s, Ranges) or s.kind == EXTERNAL:
            raise ValueError("scratchproof: a range's scheme is one generated scheme, not %r" % (s,))
        if first != at or count < 1:
            raise ValueError("scratchproof: ranges must start at element 0, follow each other "
                             "without gaps and hold at least one element (range at %d, count %d; "
                             "expected to start at %d)" % (first, count, at))
        at += count
        if out and out[-1][2] == s:
            out[-1] = (out[-1][0], out[-1][1] + count, s)
        else:
            out.append((first, count, s))
    if not out:
        raise ValueError("scratchproof: ranges() needs at least one range")
    if len(out) > 65536:
        raise ValueError("scratchproof: at most 65536 ranges in a tensor")
    return out[0][2] if len(out) == 1 else Ranges(out)


def orthogonal(gain=1.0):
    """torch.nn.init.orthogonal_(gain=gain), bound to a tensor's shape when it is used."""
    return Init(ORTHOGONAL, gain)


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
                    "constant(v), zeros(), ones(), orthogonal(gain), ranges([...]) or external()"
                    % (where, x))
