"""scratchproof.torch - PyTorch helpers: deterministic initialisation with a recorded
genesis, optimizer state for checkpoints, and safetensors files.

initialize(model, run, overrides=None)
    Re-initialises every parameter of the model in place with scratchproof's
    deterministic initialiser (C writes into the parameter's memory; float32, float16
    or bfloat16 CPU tensors), each with PyTorch's default distribution for its module
    type, then records the genesis with exactly those tensors. Names are the model's
    named_parameters() names (a tied parameter once, under its first name).
    Parameters only: buffers (BatchNorm running statistics, masks) are neither
    initialised nor recorded, in the genesis or in checkpoints, so the recorded tensor
    set is the same in every record, as the verifier requires.

    Default schemes (PyTorch's reset_parameters, with kaiming_uniform(a=sqrt(5))
    written as the same distribution uniform(+-1/sqrt(fan_in))):
      Linear, Conv*/ConvTranspose*, Bilinear   weight and bias uniform(+-1/sqrt(fan_in))
      Embedding, EmbeddingBag                  weight normal(0, 1)
      LayerNorm, GroupNorm, BatchNorm*, InstanceNorm*, any *RMSNorm   weight 1, bias 0
      MultiheadAttention   in_proj_weight (or q/k/v_proj_weight) xavier uniform, in_proj_bias
                           and out_proj.bias 0, bias_k/bias_v xavier normal
      RNN, LSTM, GRU and their cells   uniform(+-1/sqrt(hidden_size))
      PReLU                0.25
      nn.Transformer       xavier uniform for every parameter of 2+ dimensions (as its
                           _reset_parameters does)
    overrides: {parameter name or fnmatch pattern: Init}, e.g. {"head.weight":
    sp.normal(0, 0.02), "*.bias": sp.zeros()}; exact names win over patterns, patterns
    apply in the order given, and an override that matches nothing is an error.
    scratchproof.external() keeps a parameter's current values and records them as
    loaded (kind 0). A parameter of any other module type needs an override.
    Returns {name: Init}.

initialize_from(model, run, weights)
    Loads weights (a safetensors path or a mapping) into every parameter and records
    them honestly as external: a verifier will say the run does not start from scratch.

optimizer_tensors(optimizer, named)   the optimizer state as (name, tensor) pairs
load_file(path) / save_file(path, tensors, metadata=None)   safetensors through the C library
"""
import ctypes
import fnmatch
import math
import os
import time

import torch
import torch.nn as nn

from . import _lib
from . import _tensors
from .errors import Error, TensorError
from .run import write_safetensors
from .schemes import EXTERNAL, Init, as_init, constant, normal, ones, uniform, zeros

_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)
_CONVS = (nn.modules.conv._ConvNd,)


def _fan_in(w):
    return nn.init._calculate_fan_in_and_fan_out(w)[0]


def _uniform_fan_in(fan_in, where):
    if fan_in <= 0:
        raise ValueError("scratchproof: %s has fan_in 0; give it an override" % where)
    b = 1.0 / math.sqrt(fan_in)
    return uniform(-b, b)


def _xavier_uniform(w):
    fi, fo = nn.init._calculate_fan_in_and_fan_out(w)
    a = math.sqrt(3.0) * math.sqrt(2.0 / float(fi + fo))
    return uniform(-a, a)


def _xavier_normal(w):
    fi, fo = nn.init._calculate_fan_in_and_fan_out(w)
    return normal(0.0, math.sqrt(2.0 / float(fi + fo)))


def default_scheme(module, local, p, name):
    """PyTorch's default scheme for parameter `local` of module, or None if unknown."""
    if isinstance(module, nn.MultiheadAttention):
        if local in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return _xavier_uniform(p)
        if local == "in_proj_bias":
            return zeros()
        if local in ("bias_k", "bias_v"):
            return _xavier_normal(p)
        return None
    if isinstance(module, (nn.Linear,) + _CONVS):
        if local in ("weight", "bias"):
            return _uniform_fan_in(_fan_in(module.weight), name)
        return None
    if isinstance(module, nn.Bilinear):
        return _uniform_fan_in(module.weight.size(1), name) if local in ("weight", "bias") else None
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        if local != "weight":
            return None
        if getattr(module, "padding_idx", None) is not None:
            raise ValueError("scratchproof: '%s' belongs to an Embedding with padding_idx=%d, "
                             "whose row PyTorch zeroes; the deterministic initialiser fills "
                             "whole tensors, so give it an override (e.g. {'%s': "
                             "scratchproof.normal(0, 1)} accepts a random padding row)"
                             % (name, module.padding_idx, name))
        return normal(0.0, 1.0)
    if isinstance(module, _NORMS) or "rmsnorm" in type(module).__name__.lower():
        if local == "weight":
            return ones()
        if local == "bias":
            return zeros()
        return None
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return _uniform_fan_in(module.hidden_size, name)
    if isinstance(module, nn.PReLU) and local == "weight":
        return constant(0.25)
    return None


def _walk(model):
    """[(full name, parameter, scheme or None)] in named_parameters() order."""
    owner, adjust = {}, {}
    for prefix, mod in model.named_modules():
        dot = prefix + "." if prefix else ""
        for local, p in mod._parameters.items():
            if p is not None and id(p) not in owner:
                owner[id(p)] = (mod, local)
        if isinstance(mod, nn.MultiheadAttention) and mod.out_proj.bias is not None:
            adjust[id(mod.out_proj.bias)] = zeros()
        if isinstance(mod, nn.Transformer):
            for p in mod.parameters():
                if p.dim() > 1:
                    adjust[id(p)] = _xavier_uniform(p)
    out = []
    for name, p in model.named_parameters():
        if id(p) in adjust:
            out.append((name, p, adjust[id(p)]))
            continue
        mod, local = owner[id(p)]
        out.append((name, p, default_scheme(mod, local, p, name)))
    return out


def _apply_overrides(params, overrides):
    if not overrides:
        return params
    ov = [(k, as_init(v, "override '%s'" % k)) for k, v in dict(overrides).items()]
    used = set()
    out = []
    for name, p, s in params:
        hit = next(((k, v) for k, v in ov if k == name), None) or \
            next(((k, v) for k, v in ov if fnmatch.fnmatchcase(name, k)), None)
        if hit is not None:
            used.add(hit[0])
            s = hit[1]
        out.append((name, p, s))
    unused = [k for k, _ in ov if k not in used]
    if unused:
        raise ValueError("scratchproof: overrides %s match no parameter of the model "
                         "(names are those of model.named_parameters())" % unused)
    return out


def _init_dtype(p, name):
    dt, shape, ptr, nbytes = _tensors.torch_layout(p, name, "parameter")
    if dt not in _lib.INIT_DTYPES:
        raise TensorError(_lib.SP_EUNSUPPORTED, "scratchproof: parameter '%s' has dtype %s; the "
                          "deterministic initialiser generates float32, float16 and bfloat16 "
                          "(convert the model, e.g. model.float(), before initialize)"
                          % (name, p.dtype))
    return dt, ptr


def initialize(model, run, overrides=None):
    """See the module docstring. Returns {name: Init}."""
    t0, h0 = time.perf_counter(), run.hook_seconds
    try:
        return _initialize(model, run, overrides)
    finally:   # run.genesis counted its own time already
        run._add_hook_time(time.perf_counter() - t0 - (run.hook_seconds - h0))


def _initialize(model, run, overrides):
    if not isinstance(model, nn.Module):
        raise TypeError("scratchproof: initialize wants a torch.nn.Module, got %s"
                        % type(model).__name__)
    run._handle()                      # a closed run fails before any parameter changes
    params = _apply_overrides(_walk(model), overrides)
    missing = [n for n, _, s in params if s is None]
    if missing:
        kinds = sorted({type(_owner_of(model, n)).__name__ for n in missing})
        raise ValueError("scratchproof: no default scheme for %s (module type %s); pass "
                         "overrides={name or pattern: scratchproof.uniform(...)/normal(...)/...}"
                         % (missing[:8] if len(missing) > 8 else missing, ", ".join(kinds)))
    plan = []
    for name, p, s in params:           # check everything before changing anything
        if s.kind == EXTERNAL:
            _tensors.torch_layout(p, name, "parameter")
            plan.append((name, p, s, None, None))
        else:
            dt, ptr = _init_dtype(p, name)
            plan.append((name, p, s, dt, ptr))
    seed = run.seed
    with torch.no_grad():
        for name, p, s, dt, ptr in plan:
            if s.kind == EXTERNAL or p.numel() == 0:
                continue
            c = s.to_c()
            rc = _lib.sp_init_fill(ptr, dt, name.encode("utf-8"), seed, ctypes.byref(c), 0,
                                   p.numel())
            if rc != _lib.SP_OK:
                raise Error(rc, "scratchproof: cannot initialise '%s' with %r: %s"
                            % (name, s, _lib.strerror(rc)))
    run.genesis([(name, p, s) for name, p, s, _, _ in plan])
    return {name: s for name, _, s, _, _ in plan}


def _owner_of(model, name):
    mod_name = name.rpartition(".")[0]
    return model.get_submodule(mod_name) if mod_name else model


def initialize_from(model, run, weights):
    """Loads weights (safetensors path or mapping) into every parameter; genesis as external."""
    if isinstance(weights, (str, bytes, os.PathLike)):
        weights = load_file(weights)
    params = dict(model.named_parameters())
    if set(weights) != set(params):
        extra = sorted(set(weights) - set(params))
        missing = sorted(set(params) - set(weights))
        raise ValueError("scratchproof: the weights do not fit the model: missing %s, extra %s"
                         % (missing[:8], extra[:8]))
    with torch.no_grad():
        for name, p in params.items():
            src = weights[name]
            if tuple(src.shape) != tuple(p.shape):
                raise ValueError("scratchproof: '%s' has shape %s in the weights, %s in the model"
                                 % (name, tuple(src.shape), tuple(p.shape)))
            p.copy_(src)
    return initialize(model, run, overrides={"*": Init(EXTERNAL)})


def optimizer_tensors(optimizer, named):
    """The optimizer's state as [(name, tensor)]: "opt.<param name>.<key>", keys sorted.

    named: the (name, parameter) pairs of the model; a parameter the model does not
    name is called "group<g>.param<i>". Python numbers in the state (a 'step' count in
    some optimizers) become 0-d int64/float64 tensors.
    """
    ids = {id(p): n for n, p in named}
    out = []
    for gi, group in enumerate(optimizer.param_groups):
        for pi, p in enumerate(group["params"]):
            st = optimizer.state.get(p)
            if not st:
                continue
            base = ids.get(id(p), "group%d.param%d" % (gi, pi))
            for k in sorted(st):
                v = st[k]
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = torch.tensor(v, dtype=torch.bool)
                elif isinstance(v, int):
                    v = torch.tensor(v, dtype=torch.int64)
                elif isinstance(v, float):
                    v = torch.tensor(v, dtype=torch.float64)
                elif not isinstance(v, torch.Tensor):
                    raise TypeError("scratchproof: optimizer state '%s' of '%s' is a %s, not a "
                                    "tensor or number" % (k, base, type(v).__name__))
                out.append(("opt.%s.%s" % (base, k), v))
    return out


_FROM_SP = None


def load_file(path):
    """{name: tensor} from a safetensors file, validated by the C reader; copies the data."""
    global _FROM_SP
    if _FROM_SP is None:
        _FROM_SP = {v: k for k, v in _tensors.torch_dtypes().items()}
    err = ctypes.create_string_buffer(_lib.SP_ERRMSG_MAX)
    h = ctypes.c_void_p()
    rc = _lib.sp_st_open(ctypes.byref(h), os.fsencode(path), ctypes.addressof(err))
    if rc != _lib.SP_OK:
        from .errors import from_code
        raise from_code(rc, "scratchproof: cannot load %s" % os.fspath(path),
                        err.value.decode("utf-8", "replace"))
    try:
        out = {}
        for i in range(_lib.sp_st_count(h)):
            t = _lib.sp_st_tensor(h, i).contents
            shape = tuple(t.shape[k] for k in range(t.ndim))
            x = torch.empty(shape, dtype=_FROM_SP[t.dtype])
            if t.nbytes:
                ctypes.memmove(x.data_ptr(), t.data, t.nbytes)
            out[t.name.decode("utf-8")] = x
        return out
    finally:
        _lib.sp_st_close(h)


def save_file(path, tensors, metadata=None):
    """Writes {name: tensor} (CPU, contiguous) as safetensors, atomically."""
    arr, n, keep = _tensors.describe_all(tensors.items(), "tensor")
    meta = {k.encode("utf-8"): v.encode("utf-8") for k, v in (metadata or {}).items()}
    write_safetensors(path, arr, n, meta)
    del keep
