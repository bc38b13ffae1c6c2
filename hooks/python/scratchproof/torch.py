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
      Embedding, EmbeddingBag                  weight normal(0, 1) (with padding_idx: that
                                               row zeros, per-range schemes, SPEC 6.10)
      LayerNorm, GroupNorm, BatchNorm*, InstanceNorm*, any *RMSNorm   weight 1, bias 0
      MultiheadAttention   in_proj_weight (or q/k/v_proj_weight) xavier uniform, in_proj_bias
                           and out_proj.bias 0, bias_k/bias_v xavier normal
      RNN, LSTM, GRU and their cells   uniform(+-1/sqrt(hidden_size))
      PReLU                0.25
      nn.Transformer       xavier uniform for every parameter of 2+ dimensions (as its
                           _reset_parameters does)
    overrides: {parameter name or glob: Init}, e.g. {"head.weight": sp.normal(0, 0.02),
    "*.bias": sp.zeros()}, decided as `scratchproof init --scheme` rules are (SPEC.md 8.1):
    '*' any run of characters (dots included), '?' one, nothing else special (no [...]);
    the most specific matching glob decides (an exact name beats every glob,
    "*norm*.weight" beats "*.weight"); matching globs of which none is most specific and
    that name different schemes are refused, naming the parameter and both patterns; the
    order given never matters. An override that matches nothing is an error.
    scratchproof.external() keeps a parameter's current values and records them as
    loaded (kind 0). A parameter of any other module type needs an override. An override
    may name a tied parameter by any of its names (lm_head.weight for the recorded
    transformer.wte.weight) and a wrapped model's parameter by its module./_orig_mod. name.
    own_init: the model's own initialisation, recorded (torch_init.py): own_init(model) a
    callable, True (every reset_parameters(), then model._init_weights on every module), or
    a Recorder the model was built under:
        with scratchproof.torch.own_init() as rec:
            model = GPT(config)                   # its constructor's init calls are recorded
        scratchproof.torch.initialize(model, run, own_init=rec)
    Each routed torch.nn.init / Tensor fill call becomes the parameter's scheme (orthogonal_
    too, SPEC 6.9), a call on a contiguous part (a padded vocabulary's rows) a range of it
    (scratchproof.ranges, SPEC 6.10); a call with no deterministic equivalent is an error
    naming it, unless an override covers it.
    DDP and torch.compile wrappers are unwrapped: names carry no module./_orig_mod. prefix.
    Returns {name: Init}.

initialize_from(model, run, weights)
    Loads weights (a safetensors path or a mapping) into every parameter and records
    them honestly as external: a verifier will say the run does not start from scratch.

optimizer_tensors(optimizer, named)   the optimizer state as (name, tensor) pairs

Replay (SPEC.md 12; `scratchproof verify --replay` runs the trainer on one segment):
load_weights(model, weights)                  checkpoint weights into the parameters, exactly
load_optimizer_state(optimizer, model, state) an .opt.safetensors file back into the optimizer
start_replay(model, run, weights, optimizer, optimizer_state)
    both of these, then the replay's genesis (every tensor external): its root must equal
    the root of the record the segment starts from.
load_file(path) / save_file(path, tensors, metadata=None)   safetensors through the C library
save_sharded(directory, tensors, max_shard_size, metadata=None)   Hugging Face's sharded layout
    (model-0000K-of-0000N.safetensors + model.safetensors.index.json); Run.checkpoint and
    Run.final write it with max_shard_size=...
"""
import ctypes
import math
import os
import time

import torch
import torch.nn as nn

from . import _device
from . import _lib
from . import _tensors
from .errors import Error, TensorError
from .run import strip_prefixes, unwrap, write_safetensors, write_sharded
from .schemes import EXTERNAL, Init, Ranges, as_init, constant, normal, ones, ranges, uniform, zeros

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
        idx = getattr(module, "padding_idx", None)
        if idx is not None and p.dim() == 2 and p.numel() > 0:   # PyTorch zeroes that row
            d = p.shape[1]
            parts = [(0, idx * d, normal(0.0, 1.0)), (idx * d, d, zeros()),
                     ((idx + 1) * d, (p.shape[0] - idx - 1) * d, normal(0.0, 1.0))]
            return ranges([x for x in parts if x[1] > 0])
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


def _walk(model, strict=True):
    """[(full name, parameter, scheme or None)] in named_parameters() order."""
    model = unwrap(model)
    owner, adjust = {}, {}
    for prefix, mod in model.named_modules():
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
        try:
            out.append((name, p, default_scheme(mod, local, p, name)))
        except ValueError:
            if strict:
                raise
            out.append((name, p, None))
    return out


def _aliases(model):
    """{alias name or wrapped name: recorded name} for tied parameters (every name
    named_parameters(remove_duplicate=False) gives a tensor, the first being the one
    recorded) and for the module./_orig_mod. names of a wrapped model."""
    out, first = {}, {n: None for n, _ in ()}
    for name, p in unwrap(model).named_parameters():
        first[id(p)] = name
    for prefix, mod in unwrap(model).named_modules(remove_duplicate=False):
        for local, p in mod._parameters.items():
            if p is not None and id(p) in first:
                out[(prefix + "." if prefix else "") + local] = first[id(p)]
    for name, _ in model.named_parameters():
        out.setdefault(name, out.get(strip_prefixes(name), strip_prefixes(name)))
    return out


def _glob(g: str, s: str, symbolic: bool) -> bool:
    """SPEC.md 8.1 glob matching, as verify/cli/cli_schemes.c's match(): '*' any run of
    symbols (dots included), '?' one symbol, every other character itself (no classes, no
    escapes). symbolic: s is itself a glob, and '?' of g may not stand for a '*' of s."""
    gi = si = 0
    star = retry = -1
    while si < len(s):
        if gi < len(g) and g[gi] == "*":
            gi += 1
            star, retry = gi, si
            continue
        one = gi < len(g) and ((g[gi] == "?" and not (symbolic and s[si] == "*"))
                               or (g[gi] != "?" and g[gi] == s[si]))
        if one:
            gi += 1
            si += 1
        elif star >= 0:
            gi = star
            retry += 1
            si = retry
        else:
            return False
    while gi < len(g) and g[gi] == "*":
        gi += 1
    return gi == len(g)


def glob_match(glob: str, name: str) -> bool:
    """True when glob (SPEC.md 8.1) matches name."""
    return _glob(glob, name, False)


def glob_within(p: str, q: str) -> bool:
    """True when glob p is at least as specific as glob q (SPEC.md 8.1): q matches p read
    as symbols, so every name p matches, q matches too."""
    return _glob(q, p, True)


def _same_scheme(a: Init, b: Init) -> bool:
    """Schemes equal bit for bit (as the C code's memcmp: -0.0 is not 0.0)."""
    import struct
    return a.kind == b.kind and struct.pack("<4d", *a.params) == struct.pack("<4d", *b.params)


def pick_override(rules: "list[tuple[str, str, Init]]", name: str) \
        -> "tuple[str, str, Init] | None":
    """The rule (pattern as given, glob, Init) that decides name's scheme (SPEC.md 8.1): of
    the matching rules, the candidates are those no other matching rule is more specific
    than; they must all name the same scheme. None when no rule matches; ValueError naming
    the tensor and two disagreeing patterns when the candidates disagree. The order of the
    rules never matters."""
    matching = [r for r in rules if glob_match(r[1], name)]
    cands = [r for r in matching
             if not any(o is not r and glob_within(o[1], r[1]) and not glob_within(r[1], o[1])
                        for o in matching)]
    for c in cands[1:]:
        if not _same_scheme(c[2], cands[0][2]):
            raise ValueError("scratchproof: parameter '%s' matches overrides '%s' (%r) and '%s' "
                             "(%r) and neither is more specific (SPEC.md 8.1); add an override "
                             "for it" % (name, cands[0][0], cands[0][2], c[0], c[2]))
    return cands[0] if cands else None


def _apply_overrides(params, overrides, aliases=None):
    """params with each scheme replaced by the override that decides it (pick_override);
    an override naming a tied or wrapped name stands for the recorded name."""
    if not overrides:
        return params
    aliases = aliases or {}
    rules = [(k, aliases.get(k, k), as_init(v, "override '%s'" % k))
             for k, v in dict(overrides).items()]
    used = set()
    out = []
    for name, p, s in params:
        hit = pick_override(rules, name)
        if hit is not None:
            used.update(k for k, g, _ in rules if glob_match(g, name))
            s = hit[2]
        out.append((name, p, s))
    unused = [k for k, _, _ in rules if k not in used]
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


def initialize(model, run, overrides=None, own_init=None):
    """See the module docstring. Returns {name: Init}."""
    t0, h0 = time.perf_counter(), run.hook_seconds
    try:
        return _initialize(model, run, overrides, own_init)
    finally:   # run.genesis counted its own time already
        run._add_hook_time(time.perf_counter() - t0 - (run.hook_seconds - h0))


def _initialize(model, run, overrides, own_init=None):
    if not isinstance(model, nn.Module):
        raise TypeError("scratchproof: initialize wants a torch.nn.Module, got %s"
                        % type(model).__name__)
    run._handle()                      # a closed run fails before any parameter changes
    own = own_init is not None and own_init is not False
    params = _walk(model, strict=not own)
    if own:
        from . import torch_init
        rec = torch_init.run_own_init(unwrap(model), own_init)
        routed, bad = [], []
        for name, p, s in params:
            got, why = rec.scheme_of(p)
            if isinstance(got, torch_init.Partial):    # parts painted, the rest not touched
                got, why = got.complete(s)
            if why is not None:
                bad.append("'%s': %s" % (name, why))
            if got is None and why is None:
                got = torch_init.constant_of(p) if s is None or not _is_torch_default(
                    _owner_of(unwrap(model), name)) else s
            routed.append((name, p, got if got is not None else s))
        if bad and not overrides:
            raise ValueError("scratchproof: the model's own initialisation has no deterministic "
                             "equivalent for %s; give those parameters an override" % "; ".join(bad[:8]))
        if bad:
            names = {b.split("'")[1] for b in bad}
            routed = [(n, p, None if n in names else s) for n, p, s in routed]
        params = routed
    params = _apply_overrides(params, overrides, _aliases(model) if overrides else None)
    missing = [n for n, _, s in params if s is None]
    if missing:
        kinds = sorted({_type_name(_owner_of(unwrap(model), n)) for n in missing})
        raise ValueError("scratchproof: no default scheme for %s (module type %s); pass "
                         "overrides={name or pattern: scratchproof.uniform(...)/normal(...)/...}"
                         % (missing[:8] if len(missing) > 8 else missing, ", ".join(kinds)))
    plan = []
    force = getattr(run, "_force_copy", None)
    for name, p, s in params:           # check everything before changing anything
        s = s.bind(p.shape)             # orthogonal: rows and cols from the parameter; ranges: cover it
        dev = _device.staged(p, force)  # on a device (CUDA): filled on the host, copied in
        if dev:
            dt = _device.check(p, name, "parameter")[0]
            if s.kind != EXTERNAL and dt not in _lib.INIT_DTYPES:
                _init_dtype(p.new_empty(0, device="cpu"), name)      # the dtype error
            plan.append((name, p, s, dt, None))
        elif s.kind == EXTERNAL:
            _tensors.torch_layout(p, name, "parameter")
            plan.append((name, p, s, None, None))
        else:
            dt, ptr = _init_dtype(p, name)
            plan.append((name, p, s, dt, ptr))
    seed = run.seed
    entries = []
    with torch.no_grad():
        for name, p, s, dt, ptr in plan:
            rec = p
            if s.kind != EXTERNAL and p.numel() > 0:
                host = None
                if ptr is None:         # the device path: the same bytes, made on the host
                    host = torch.empty(tuple(p.shape), dtype=p.dtype)
                    ptr = host.data_ptr()
                if isinstance(s, Ranges):
                    arr, nr = s.c_ranges()
                    rc = _lib.sp_init_fill_ranges(ptr, dt, name.encode("utf-8"), seed, arr, nr, 0,
                                                  p.numel())
                else:
                    c = s.to_c()
                    rc = _lib.sp_init_fill(ptr, dt, name.encode("utf-8"), seed, ctypes.byref(c), 0,
                                           p.numel())
                if rc != _lib.SP_OK:
                    raise Error(rc, "scratchproof: cannot initialise '%s' with %r: %s"
                                % (name, s, _lib.strerror(rc)))
                if host is not None:
                    p.copy_(host)
                    rec = host          # recorded from the host copy (Run.genesis copies p)
            entries.append((name, rec, s))
    run.genesis(entries)
    return {name: s for name, _, s, _, _ in plan}


def _is_torch_default(module):
    """True when module is a torch.nn class whose defaults _walk knows."""
    return type(module).__module__.startswith("torch.nn")


def _type_name(module):
    """A module's class as a user would name it: torch.nn classes by their name, others
    qualified by their module (a custom LayerNorm is not torch.nn.LayerNorm)."""
    t = type(module)
    if t.__module__.startswith("torch.nn"):
        return t.__name__
    return "%s.%s (not a torch.nn class)" % (t.__module__, t.__qualname__)


def _owner_of(model, name):
    mod_name = name.rpartition(".")[0]
    return model.get_submodule(mod_name) if mod_name else model


def _copy_into(model, weights, exact_dtype):
    if isinstance(weights, (str, bytes, os.PathLike)):
        weights = load_file(weights)
    params = dict(unwrap(model).named_parameters())
    if set(weights) != set(params):
        extra = sorted(set(weights) - set(params))
        missing = sorted(set(params) - set(weights))
        raise ValueError("scratchproof: the weights do not fit the model: missing %s, extra %s"
                         % (missing[:8], extra[:8]))
    for name, p in params.items():     # check everything before changing anything
        src = weights[name]
        if tuple(src.shape) != tuple(p.shape):
            raise ValueError("scratchproof: '%s' has shape %s in the weights, %s in the model"
                             % (name, tuple(src.shape), tuple(p.shape)))
        if exact_dtype and src.dtype != p.dtype:
            raise ValueError("scratchproof: '%s' has dtype %s in the weights, %s in the model "
                             "(a replay loads weights exactly, never casting)"
                             % (name, src.dtype, p.dtype))
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    return list(params)


def initialize_from(model, run, weights):
    """Loads weights (safetensors path or mapping) into every parameter; genesis as external."""
    _copy_into(model, weights, exact_dtype=False)
    return initialize(model, run, overrides={"*": Init(EXTERNAL)})


def load_weights(model: nn.Module, weights) -> "list[str]":
    """Copies weights (a safetensors path, e.g. a checkpoint file, or a mapping name ->
    tensor) into the model's parameters in place: the names must be exactly those of
    named_parameters(), shapes and dtypes equal (nothing is cast). Returns the names.
    Raises ValueError when the weights do not fit, scratchproof.Error when the file does
    not open or validate."""
    if not isinstance(model, nn.Module):
        raise TypeError("scratchproof: load_weights wants a torch.nn.Module, got %s"
                        % type(model).__name__)
    return _copy_into(model, weights, exact_dtype=True)


def _as_state_value(v):
    """A recorded state tensor as the optimizer keeps it: optimizer_tensors() records a
    Python number as a 0-d int64/float64/bool tensor, so those come back as numbers."""
    if v.dim() == 0 and v.dtype in (torch.int64, torch.float64, torch.bool):
        return v.item()
    return v


def load_optimizer_state(optimizer: "torch.optim.Optimizer", model: nn.Module, state) -> int:
    """Loads optimizer state written by Run.checkpoint(..., optimizer=opt, path=P) (the file
    opt_path(P), or a mapping) back into optimizer, whose param_groups (hyperparameters)
    stay as constructed. Names are "opt.<parameter name>.<state key>" as optimizer_tensors()
    makes them (the state key is what follows the last dot); every named parameter must
    be one the optimizer holds. Goes through optimizer.load_state_dict, then checks that
    optimizer_tensors() gives back exactly the loaded bytes (an optimizer that casts or
    drops state is an Error, not a silently different replay). Returns the number of
    tensors loaded."""
    if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "load_state_dict"):
        raise TypeError("scratchproof: load_optimizer_state wants a torch.optim.Optimizer, "
                        "got %s" % type(optimizer).__name__)
    where = os.fspath(state) if isinstance(state, (str, bytes, os.PathLike)) else "the state"
    if isinstance(state, (str, bytes, os.PathLike)):
        state = load_file(state)
    named = list(model.named_parameters())
    ids = {id(p): n for n, p in named}
    sd = optimizer.state_dict()
    base_index = {}
    for gi, (group, packed) in enumerate(zip(optimizer.param_groups, sd["param_groups"])):
        for pi, (p, idx) in enumerate(zip(group["params"], packed["params"])):
            base_index.setdefault(ids.get(id(p), "group%d.param%d" % (gi, pi)), idx)
    new_state = {}
    for name in sorted(state):
        base, dot, key = name[4:].rpartition(".") if name.startswith("opt.") else ("", "", "")
        if not dot or not base or not key:
            raise ValueError("scratchproof: %s: '%s' is not an optimizer state name "
                             "(opt.<parameter>.<key>)" % (where, name))
        if base not in base_index:
            raise ValueError("scratchproof: %s: '%s' is the state of '%s', which the optimizer "
                             "does not hold" % (where, name, base))
        new_state.setdefault(base_index[base], {})[key] = _as_state_value(state[name])
    sd["state"] = new_state
    optimizer.load_state_dict(sd)
    got = dict(optimizer_tensors(optimizer, named))
    if set(got) != set(state):
        raise Error(_lib.SP_EMISMATCH, "scratchproof: %s: the optimizer did not keep the state "
                    "as given (names differ: %s)" % (where, sorted(set(got) ^ set(state))[:8]))
    for name, v in got.items():
        w = state[name]
        if v.dtype != w.dtype or tuple(v.shape) != tuple(w.shape) or \
                _tensors.raw_bytes(v) != _tensors.raw_bytes(w):
            raise Error(_lib.SP_EMISMATCH, "scratchproof: %s: the optimizer changed '%s' while "
                        "loading it (%s %s became %s %s)" % (where, name, w.dtype,
                                                             tuple(w.shape), v.dtype,
                                                             tuple(v.shape)))
    return len(state)


def start_replay(model: nn.Module, run, weights, optimizer=None, optimizer_state=None) -> None:
    """The start of a replay (SPEC.md 12, steps 1-2): loads weights ({weights}: the regenerated
    genesis or a checkpoint file; a path or a mapping) into the model with load_weights
    and, when optimizer_state ({optimizer}: a path or a mapping) is not empty, the state
    into optimizer with load_optimizer_state; an empty optimizer_state ("", None or {}: the
    segment starts at the genesis) wants a fresh optimizer without state. Then records the replay's genesis: every parameter with scheme
    external, so its root is the start weights' root, which the verifier compares with the
    record the segment starts from. run must be a replay run (Run.replay)."""
    if not getattr(run, "is_replay", False):
        from .errors import StateError
        raise StateError(_lib.SP_EBADSTATE, "scratchproof: start_replay wants a replay run "
                         "(scratchproof.Run.replay); a training run starts with initialize()")
    run._handle()
    if optimizer_state:
        if optimizer is None:
            raise ValueError("scratchproof: start_replay was given an optimizer state file "
                             "but no optimizer to load it into")
    elif optimizer is not None and any(optimizer.state.values()):
        raise ValueError("scratchproof: start_replay from the genesis wants a fresh optimizer; "
                         "this one already holds state")
    load_weights(model, weights)
    if optimizer_state:
        load_optimizer_state(optimizer, model, optimizer_state)
    run.genesis([(name, p, Init(EXTERNAL)) for name, p in unwrap(model).named_parameters()])


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


def own_init():
    """A Recorder (torch_init.py): build the model inside `with own_init() as rec:` and pass
    initialize(..., own_init=rec)."""
    from .torch_init import Recorder
    return Recorder()


_FROM_SP = None


def _FROM_SP_map():
    """{sp dtype number: torch dtype}."""
    global _FROM_SP
    if _FROM_SP is None:
        _FROM_SP = {v: k for k, v in _tensors.torch_dtypes().items()}
    return _FROM_SP


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


def save_sharded(directory: "os.PathLike[str] | str", tensors: "dict[str, torch.Tensor]",
                 max_shard_size: "int | str", metadata: "dict[str, str] | None" = None) \
        -> "list[str]":
    """Writes {name: tensor} (CPU, contiguous) as a sharded safetensors model in directory:
    model-0000K-of-0000N.safetensors shards of at most max_shard_size bytes ("format": "pt"
    and metadata in each __metadata__) and model.safetensors.index.json, Hugging Face's
    layout (run.write_sharded). Returns the shard file names."""
    arr, n, keep = _tensors.describe_all(tensors.items(), "tensor")
    meta = {k.encode("utf-8"): v.encode("utf-8") for k, v in (metadata or {}).items()}
    names = write_sharded(directory, arr, n, meta, max_shard_size)
    del keep
    return names
