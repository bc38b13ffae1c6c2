#!/usr/bin/python3
"""audit_quant.py - quantised, float8 and bit-cast copies of a model for
`scratchproof audit` (SPEC.md 10.1), written with numpy only and a hand-made
safetensors writer (independent of attest/safetensors.c and audit_quant.c).

  int8 IN OUT --layout tensor|channel|group [--zero] [--naming dot|under|weight]
        every matrix becomes I8 (U8 with --zero: zero point 128) with an F32
        scale tensor named W.scale (dot), W_scale (under) or X.weight_scale
        (weight); vectors stay F32
  int8raw IN OUT     matrices as I8 of round(127 x / max|x|), no scale at all
  bitcast IN OUT     matrices stored as I32 holding the F32 bit patterns
  f8 IN OUT --dtype F8_E4M3|F8_E5M2   every tensor rounded to float8
  ints OUT           a model of I64 and BOOL tensors only (nothing comparable)
  layers OUT --layers N --seed S [--from IN --noise X]
        a small transformer-shaped F32 model (8 tensors per layer, hidden 64):
        model.layers.<i>.{self_attn.{q,k,v,o}_proj,mlp.{up,down}_proj}.weight,
        input/post_attention_layernorm.weight; with --from, IN plus noise
  tiny OUT --count N --seed S [--from IN]
        N tensors of shape 2x2 named b.<i>.w (the scaling benchmark); with
        --from, IN's tensors plus a little noise
  f8table            prints the 256 values of both float8 formats (for tests)
"""
import json
import struct
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from audit_corpus import load  # noqa: E402


def write(path, items):
    """items: list of (name, dtype, shape, raw bytes)."""
    hdr, off, blobs = {}, 0, []
    for name, dt, shape, raw in sorted(items, key=lambda x: x[0]):
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def f32(name, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    return (name, "F32", x.shape, x.tobytes())


def scale_name(w, naming):
    if naming == "dot":
        return w + ".scale"
    if naming == "under":
        return w + "_scale"
    return (w[:-7] if w.endswith(".weight") else w) + ".weight_scale"


def int8(a):
    src, out = a[0], a[1]
    layout = a[a.index("--layout") + 1] if "--layout" in a else "channel"
    naming = a[a.index("--naming") + 1] if "--naming" in a else "dot"
    zero = "--zero" in a
    items = []
    for k, x in load(src)[0].items():
        if x.ndim < 2:
            items.append(f32(k, x))
            continue
        r = x.shape[0]
        m = x.reshape(r, -1)
        if layout == "tensor":
            s = np.array(np.abs(m).max() / 127.0, dtype=np.float32).reshape(())
            sc = np.full_like(m, s)
        elif layout == "channel":
            s = (np.abs(m).max(axis=1) / 127.0).astype(np.float32)
            sc = s[:, None] * np.ones_like(m)
        else:  # two groups per row
            g = m.reshape(r, 2, -1)
            s = (np.abs(g).max(axis=2) / 127.0).astype(np.float32)
            sc = np.repeat(s, m.shape[1] // 2, axis=1)
        q = np.clip(np.rint(m / sc), -127, 127).astype(np.int8)
        if zero:
            items.append((k, "U8", x.shape, (q.astype(np.int16) + 128).astype(np.uint8).tobytes()))
            zp = np.full(s.shape, 128, dtype=np.uint8)
            items.append((k + "_zero_point" if naming != "dot" else k + ".zero_point", "U8",
                          zp.shape, zp.tobytes()))
        else:
            items.append((k, "I8", x.shape, q.tobytes()))
        items.append(f32(scale_name(k, naming), s))
    write(out, items)


def int8raw(a):
    items = []
    for k, x in load(a[0])[0].items():
        if x.ndim < 2:
            items.append(f32(k, x))
        else:
            q = np.clip(np.rint(127 * x / np.abs(x).max()), -127, 127).astype(np.int8)
            items.append((k, "I8", x.shape, q.tobytes()))
    write(a[1], items)


def bitcast(a):
    items = []
    for k, x in load(a[0])[0].items():
        x = np.ascontiguousarray(x, dtype="<f4")
        items.append((k, "I32" if x.ndim >= 2 else "F32", x.shape, x.tobytes()))
    write(a[1], items)


def f8_values(fmt):
    """The float value of each of the 256 bytes (NaN where the format has NaN)."""
    v = np.empty(256)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        if fmt == "F8_E4M3":
            e, m = (b >> 3) & 15, b & 7
            if e == 15 and m == 7:
                v[b] = np.nan
            elif e == 0:
                v[b] = s * m * 2.0 ** -9
            else:
                v[b] = s * (1 + m / 8) * 2.0 ** (e - 7)
        else:
            e, m = (b >> 2) & 31, b & 3
            if e == 31:
                v[b] = np.nan if m else s * np.inf
            elif e == 0:
                v[b] = s * m * 2.0 ** -16
            else:
                v[b] = s * (1 + m / 4) * 2.0 ** (e - 15)
    return v


def f8(a):
    fmt = a[a.index("--dtype") + 1]
    vals = f8_values(fmt)
    ok = np.where(np.isfinite(vals))[0]
    order = ok[np.argsort(vals[ok], kind="stable")]
    sv = vals[order]
    items = []
    for k, x in load(a[0])[0].items():
        flat = x.astype(np.float64).ravel()
        i = np.clip(np.searchsorted(sv, flat), 1, len(sv) - 1)
        near = np.where(np.abs(sv[i - 1] - flat) <= np.abs(sv[i] - flat), i - 1, i)
        items.append((k, fmt, x.shape, order[near].astype(np.uint8).tobytes()))
    write(a[1], items)


def ints(a):
    ids = np.arange(64, dtype="<i8")
    mask = np.ones((8, 8), dtype=np.uint8)
    write(a[0], [("pos.ids", "I64", ids.shape, ids.tobytes()),
                 ("attn.mask", "BOOL", mask.shape, mask.tobytes())])


def layers(a):
    out = a[0]
    n = int(a[a.index("--layers") + 1])
    seed = int(a[a.index("--seed") + 1])
    rng = np.random.default_rng(seed)
    if "--from" in a:
        base = load(a[a.index("--from") + 1])[0]
        noise = float(a[a.index("--noise") + 1])
        write(out, [f32(k, x + noise * x.std() * rng.standard_normal(x.shape)) for k, x in base.items()])
        return
    h, f = 64, 128
    items = [f32("model.embed_tokens.weight", rng.standard_normal((256, h)) * 0.02),
             f32("model.norm.weight", 1 + 0.01 * rng.standard_normal(h)),
             f32("lm_head.weight", rng.standard_normal((256, h)) * 0.02)]
    for i in range(n):
        p = "model.layers.%d." % i
        for m in ("q", "k", "v", "o"):
            items.append(f32(p + "self_attn.%s_proj.weight" % m, rng.standard_normal((h, h)) / 8))
        items.append(f32(p + "mlp.up_proj.weight", rng.standard_normal((f, h)) / 8))
        items.append(f32(p + "mlp.down_proj.weight", rng.standard_normal((h, f)) / 11))
        items.append(f32(p + "input_layernorm.weight", 1 + 0.01 * rng.standard_normal(h)))
        items.append(f32(p + "post_attention_layernorm.weight", 1 + 0.01 * rng.standard_normal(h)))
    write(out, items)


def tiny(a):
    out, n = a[0], int(a[a.index("--count") + 1])
    rng = np.random.default_rng(int(a[a.index("--seed") + 1]))
    if "--from" in a:
        src = open(a[a.index("--from") + 1], "rb").read()
        hl = struct.unpack("<Q", src[:8])[0]
        x = np.frombuffer(src[8 + hl:], dtype="<f4")
        data = (x + 0.1 * rng.standard_normal(x.size)).astype("<f4").tobytes()
    else:
        data = rng.standard_normal(4 * n).astype("<f4").tobytes()
    parts = ['"b.%d.w":{"dtype":"F32","shape":[2,2],"data_offsets":[%d,%d]}' % (i, 16 * i, 16 * i + 16)
             for i in range(n)]
    h = ("{" + ",".join(parts) + "}").encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def f8table(_a):
    for fmt in ("F8_E4M3", "F8_E5M2"):
        print(fmt, " ".join(repr(float(x)) for x in f8_values(fmt)))


if __name__ == "__main__":
    {"int8": int8, "int8raw": int8raw, "bitcast": bitcast, "f8": f8, "ints": ints, "layers": layers, "tiny": tiny,
     "f8table": f8table}[sys.argv[1]](sys.argv[2:])
