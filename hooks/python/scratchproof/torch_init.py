"""torch_init.py - the model's own initialisation, recorded (SPEC.md 3.6, "own init").

scratchproof.torch.initialize(model, run, own_init=...) runs the model's own
initialisation code with its torch.nn.init.* calls and the in-place tensor fills that
code uses (normal_, uniform_, zero_, fill_) routed to a recorder: each call on a
parameter's whole tensor becomes that parameter's scheme (the last call wins, as the
values would), then every parameter is filled by the deterministic initialiser with its
scheme and the genesis is recorded. So nanoGPT's _init_weights (normal 0.02, zero biases,
the scaled residual projections) and Hugging Face's _init_weights keep their intended
distributions with no overrides.

Routed (the deterministic equivalent, SPEC 6): nn.init.uniform_, normal_, trunc_normal_,
constant_, ones_, zeros_, xavier_uniform_, xavier_normal_, kaiming_uniform_,
kaiming_normal_ (each reduces to a uniform or normal of the bounds torch computes),
orthogonal_ (the ORTHOGONAL scheme with its gain, bound to the parameter's shape, SPEC 6.9),
and Tensor.uniform_, normal_, zero_, fill_ (a number). A routed call on a contiguous part
of a parameter (a row slice: weight.data[vocab:].zero_() after normal_ on the whole, or
nn.Embedding's padding_idx row) sets the scheme of that range of elements: the parameter
is recorded with per-range schemes (SPEC 6.10, scratchproof.ranges), each element from the
last call that covered it; elements no call covered take the module's default. No
deterministic equivalent (an error naming the parameter and the call): nn.init.eye_,
dirac_, sparse_ (not schemes of SPEC 6), orthogonal_ on part of a tensor, a call on a part
that is not one contiguous range of elements (a column slice), and copy_ or arithmetic on a
parameter after its init call (the values would no longer be the scheme's). A parameter no
routed call touched keeps the scheme of PyTorch's defaults for its module type, or, when
its values are all one number (a norm's torch.ones, a torch.zeros bias), that constant.
"""
import math

import torch
import torch.nn as nn

from .schemes import ORTHOGONAL, constant, normal, orthogonal, ranges, trunc_normal, uniform, zeros

_UNSUPPORTED = {"eye_": "the identity is not a scheme of SPEC 6",
                "dirac_": "the Dirac delta is not a scheme of SPEC 6",
                "sparse_": "sparse initialisation is not a scheme of SPEC 6"}
_MODIFIERS = ("copy_", "mul_", "div_", "add_", "sub_", "clamp_", "clamp_min_", "clamp_max_")


def _key(t):
    return t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage") \
        else t.storage().data_ptr()


def _whole(t):
    try:
        nbytes = t.untyped_storage().nbytes() if hasattr(t, "untyped_storage") \
            else t.storage().size() * t.element_size()
    except RuntimeError:
        return False
    return t.storage_offset() == 0 and t.is_contiguous() and \
        t.numel() * t.element_size() == nbytes


class Recorder:
    """Records, per tensor storage, the scheme the routed init calls give it.

    Use as a context manager around code that initialises (a model's constructor,
    model.apply(model._init_weights)); scheme_of(p) then says what p got."""

    def __init__(self):
        self.schemes = {}        # storage pointer -> (Init, call)
        self.parts = {}          # storage pointer -> [(start, end, Init)]: calls on a
                                 #   contiguous part, in storage elements, after the whole's
        self.bad = {}            # storage pointer -> why it cannot be expressed
        self._keep = []          # the tensors seen, kept alive: no storage pointer is reused
        self._depth = 0
        self._saved = []

    # ---- recording -----------------------------------------------------------------

    def _set(self, t, scheme, call):
        if not isinstance(t, torch.Tensor):
            return
        k = _key(t)
        self._keep.append(t)
        if _whole(t):
            self.schemes[k] = (scheme, call)
            self.parts.pop(k, None)
            self.bad.pop(k, None)
        elif t.is_contiguous() and t.numel() > 0 and scheme.kind != ORTHOGONAL:
            # a row slice (weight.data[vocab:].zero_(), an Embedding's padding row): a range
            start = t.storage_offset()
            self.parts.setdefault(k, []).append((start, start + t.numel(), scheme))
        elif t.numel() > 0 and scheme.kind == ORTHOGONAL:
            self.bad[k] = "%s on part of the tensor (shape %s): the orthogonal matrix of a part " \
                          "is not a range of the whole's (SPEC 6.9)" % (call, tuple(t.shape))
        elif t.numel() > 0:
            self.bad[k] = "%s on part of the tensor (storage offset %d, shape %s) that is not one " \
                          "contiguous range of its elements%s" % (
                              call, t.storage_offset(), tuple(t.shape),
                              "" if t.is_contiguous() else " (e.g. a column slice)")

    def _mark(self, t, why):
        if isinstance(t, torch.Tensor):
            k = _key(t)
            if k in self.schemes or k in self.bad or k in self.parts:
                self.bad[k] = why

    def _wrap_init(self, name, scheme_fn):
        orig = getattr(nn.init, name)

        def routed(tensor, *a, **kw):
            outer = self._depth == 0
            self._depth += 1
            try:
                out = orig(tensor, *a, **kw)
            finally:
                self._depth -= 1
            if outer:
                s = scheme_fn(tensor, *a, **kw) if scheme_fn is not None else None
                if scheme_fn is None:
                    self._set_bad(tensor, "torch.nn.init.%s: %s" % (name, _UNSUPPORTED[name]))
                elif isinstance(s, str):
                    self._set_bad(tensor, s)
                else:
                    self._set(tensor, s, "torch.nn.init.%s" % name)
            return out
        return orig, routed

    def _set_bad(self, t, why):
        self._keep.append(t)
        self.bad[_key(t)] = why

    def _wrap_method(self, name, scheme_fn):
        orig = getattr(torch.Tensor, name)

        def routed(t, *a, **kw):
            out = orig(t, *a, **kw)
            if self._depth == 0:
                s = scheme_fn(t, *a, **kw) if scheme_fn is not None else None
                if scheme_fn is None:
                    self._mark(t, "Tensor.%s after its initialisation: the values are no longer "
                               "a scheme's" % name)
                elif isinstance(s, str):
                    self._set_bad(t, s)
                else:
                    self._set(t, s, "Tensor.%s" % name)
            return out
        return orig, routed

    def __enter__(self):
        fan = nn.init._calculate_fan_in_and_fan_out

        def _gain(nonlinearity, param):
            return nn.init.calculate_gain(nonlinearity, param)

        def k_fan(t, mode):
            fi, fo = fan(t)
            return fi if mode == "fan_in" else fo

        inits = {
            "uniform_": lambda t, a=0.0, b=1.0, **k: uniform(a, b),
            "normal_": lambda t, mean=0.0, std=1.0, **k: normal(mean, std),
            "trunc_normal_": lambda t, mean=0.0, std=1.0, a=-2.0, b=2.0, **k:
                trunc_normal(mean, std, a, b),
            "constant_": lambda t, val: _const(val),
            "ones_": lambda t: constant(1.0),
            "zeros_": lambda t: zeros(),
            "xavier_uniform_": lambda t, gain=1.0, **k: _sym_uniform(
                gain * math.sqrt(2.0 / float(sum(fan(t)))) * math.sqrt(3.0)),
            "xavier_normal_": lambda t, gain=1.0, **k: normal(
                0.0, gain * math.sqrt(2.0 / float(sum(fan(t))))),
            "kaiming_uniform_": lambda t, a=0, mode="fan_in", nonlinearity="leaky_relu", **k:
                _sym_uniform(math.sqrt(3.0) * _gain(nonlinearity, a) / math.sqrt(k_fan(t, mode))),
            "kaiming_normal_": lambda t, a=0, mode="fan_in", nonlinearity="leaky_relu", **k:
                normal(0.0, _gain(nonlinearity, a) / math.sqrt(k_fan(t, mode))),
            "orthogonal_": lambda t, gain=1, **k: _orthogonal(t, gain),
        }
        for name in _UNSUPPORTED:
            inits[name] = None
        methods = {
            "normal_": lambda t, mean=0.0, std=1.0, **k: normal(mean, std),
            "uniform_": lambda t, from_=0.0, to=1.0, **k: uniform(from_, to),
            "zero_": lambda t: zeros(),
            "fill_": lambda t, v: _const(v) if not isinstance(v, torch.Tensor) or v.dim() == 0
                else "Tensor.fill_ with a tensor",
        }
        for m in _MODIFIERS:
            methods[m] = None
        for name, fn in inits.items():
            if hasattr(nn.init, name):
                orig, routed = self._wrap_init(name, fn)
                self._saved.append((nn.init, name, orig))
                setattr(nn.init, name, routed)
        for name, fn in methods.items():
            orig, routed = self._wrap_method(name, fn)
            self._saved.append((torch.Tensor, name, orig))
            setattr(torch.Tensor, name, routed)
        return self

    def __exit__(self, *exc):
        for obj, name, orig in reversed(self._saved):
            setattr(obj, name, orig)
        self._saved = []
        return False

    # ---- reading -------------------------------------------------------------------

    def scheme_of(self, p):
        """(Init or None, why not or None) for parameter p; an Init may be a Ranges (calls
        on parts of it), or a Partial when parts were set and the rest was never touched."""
        k = _key(p)
        if k in self.bad:
            return None, self.bad[k]
        s = self.schemes.get(k)
        whole = s[0] if s else None
        parts = self.parts.get(k)
        if not parts:
            return whole, None
        off, n = p.storage_offset(), p.numel()
        segs = [(0, n, whole)]           # painted in call order: the last call wins
        for a, b, sch in parts:
            a, b = a - off, b - off
            if a < 0 or b > n:
                return None, "an init call on storage elements [%d, %d) outside the parameter" \
                    % (a + off, b + off)
            out = []
            for x, y, q in segs:
                if y <= a or x >= b:
                    out.append((x, y, q))
                    continue
                if x < a:
                    out.append((x, a, q))
                if y > b:
                    out.append((b, y, q))
            out.append((a, b, sch))
            segs = sorted(out)
        part = Partial(segs)
        return (part, None) if any(q is None for _, _, q in segs) else part.complete(None)


class Partial:
    """Ranges painted by init calls on parts of a parameter, some of it (scheme None) untouched:
    complete(default) gives those elements the parameter's default scheme."""

    def __init__(self, segs):
        self.segs = segs

    def complete(self, default):
        """(Init or Ranges, None), or (None, why) when an untouched part has no default."""
        parts = []
        for x, y, q in self.segs:
            if q is None:
                if default is None:
                    return None, "elements [%d, %d) were never initialised (only parts of " \
                        "the tensor were) and its module has no default scheme" % (x, y)
                if getattr(default, "parts", None):   # a default that is itself ranges
                    for f, c, d in default.parts:
                        lo, hi = max(f, x), min(f + c, y)
                        if lo < hi:
                            parts.append((lo, hi - lo, d))
                    continue
                q = default
            parts.append((x, y - x, q))
        return ranges(parts), None


def _const(v):
    v = float(v)
    return zeros() if v == 0.0 and math.copysign(1.0, v) > 0 else constant(v)


def _orthogonal(t, gain):
    """orthogonal_(t, gain) bound to t's shape (torch refused fewer than 2 dimensions
    already); an empty tensor has no values, zeros() records it as well as any."""
    if t.numel() == 0:
        return zeros()
    if not float(gain) > 0:
        return "torch.nn.init.orthogonal_ with gain %r: SPEC 6.9 takes a gain > 0" % (gain,)
    try:
        return orthogonal(float(gain)).bind(t.shape)
    except ValueError as e:
        return "torch.nn.init.orthogonal_: %s" % str(e).replace("scratchproof: ", "")


def _sym_uniform(b):
    return uniform(-b, b)


def constant_of(p):
    """The constant scheme reproducing p's current values when they are all one number."""
    if p.numel() == 0:
        return None
    with torch.no_grad():
        flat = p.detach().reshape(-1)
        v = flat[0]
        if not bool(torch.isfinite(v)) or not bool((flat == v).all()):
            return None
        if bool((torch.signbit(flat) != torch.signbit(v)).any()):
            return None
        return _const(v.item())


def run_own_init(model, own_init):
    """Runs the model's own initialisation under a Recorder; returns the Recorder.

    own_init: a Recorder already filled (the model was built under it), a callable
    own_init(model), or True: every module's reset_parameters() (PyTorch's defaults, in
    module order), then model._init_weights applied to every module when the model has
    one (nanoGPT's and Hugging Face's convention), then model's own post-init hook
    `_init_residuals` when present."""
    if isinstance(own_init, Recorder):
        return own_init
    rec = Recorder()
    with rec, torch.no_grad():
        if callable(own_init) and own_init is not True:
            own_init(model)
        else:
            for m in model.modules():
                if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
                    m.reset_parameters()
            iw = getattr(model, "_init_weights", None)
            if callable(iw):
                model.apply(iw)
    return rec
