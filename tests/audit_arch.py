#!/usr/bin/python3
"""audit_arch.py - real architectures for `scratchproof audit` tests (SPEC.md
10), with numpy only; safetensors written by audit_corpus.save.

"Training" is cheap: a model of seed S is a random initialisation of seed S
plus a low-rank update drawn from seed S too, so two seeds share nothing but
the architecture (and fixed buffers). Derived models are copies plus a small
perturbation (a fine-tune), then disguised.

  transformer OUT --seed N [--from IN --noise X] [--permute P] [--fuse]
                  [--transpose]
      HF-named decoder (d 128, ff 256, vocab 256, 3 layers, 4 heads).
      --permute P: the residual stream, every MLP's units and every layer's
      heads (and the dimensions inside them) permuted, function unchanged.
      --fuse: q/k/v into one qkv_proj, gate/up into gate_up_proj.
      --transpose: every Linear weight stored [in, out] (TensorFlow style).
      --splice-ends FILE: embedding, final norm and lm_head taken from FILE.
  conv OUT --seed N [--from IN --noise X] [--permute P] [--layout oihw|ohwi|hwio]
           [--names torch|tf|paddle]
      conv stack 3-32-64-64-128 (3x3) with batch norms and a 32-class head;
      --permute: every hidden channel permuted along the chain.
  tinyperm IN OUT --seed N      tinytrain's embedding and hidden axes both
                                permuted (fc1 on both axes), function unchanged
  audio OUT --seed N [--fixed-only]
                                independent encoder + fixed DFT, mel,
                                sinusoid-position and causal-mask buffers
                                (--fixed-only: the buffers and norms alone)
  small OUT --seed N            depthwise-separable stack of small kernels
                                (24x1x3x3 ...), Paddle names
  int8 IN OUT                   IN with every matrix stored as I8 (not comparable)
  hostile OUT                   NaN, inf, zero, 1-row and 3-d tensors
  lone IN OUT --tensor NAME --seed N [--noise X]
                                NAME alone permuted on both axes (plus noise)
"""
import os
import struct
import sys
import json

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_corpus import load, save  # noqa: E402


def arg(a, flag, default=None, cast=str):
    return cast(a[a.index(flag) + 1]) if flag in a else default


def trained(rng, shape, scale=None, rank=4):
    """init + a low-rank update, both from this model's own generator"""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
    w = rng.standard_normal(shape).astype(np.float32) * s
    if len(shape) >= 2:
        r, c = shape[0], int(np.prod(shape[1:]))
        u = rng.standard_normal((r, rank)).astype(np.float32)
        v = rng.standard_normal((rank, c)).astype(np.float32)
        w += (0.5 * s / np.sqrt(rank)) * (u @ v).reshape(shape)
    return w


def norm_vec(rng, n):
    return (1.0 + 0.05 * rng.standard_normal(n)).astype(np.float32)


def perturb(t, rng, noise):
    return {k: (v + noise * (v.std() + 1e-8) * rng.standard_normal(v.shape)).astype(np.float32)
            for k, v in t.items()}


# ------------------------------------------------------------------ transformer

D, FF, V, L, H = 128, 256, 256, 3, 4


def transformer_weights(seed):
    rng = np.random.default_rng(1000 + seed)
    t = {"model.embed_tokens.weight": trained(rng, (V, D), 1.0),
         "model.norm.weight": norm_vec(rng, D),
         "lm_head.weight": trained(rng, (V, D))}
    for i in range(L):
        p = "model.layers.%d." % i
        for n in ("q", "k", "v", "o"):
            t[p + "self_attn.%s_proj.weight" % n] = trained(rng, (D, D))
        t[p + "mlp.gate_proj.weight"] = trained(rng, (FF, D))
        t[p + "mlp.up_proj.weight"] = trained(rng, (FF, D))
        t[p + "mlp.down_proj.weight"] = trained(rng, (D, FF))
        t[p + "input_layernorm.weight"] = norm_vec(rng, D)
        t[p + "post_attention_layernorm.weight"] = norm_vec(rng, D)
    return t


def head_perm(rng):
    """a permutation of D that moves whole heads and the dimensions inside each"""
    hd = D // H
    heads = rng.permutation(H)
    return np.concatenate([h * hd + rng.permutation(hd) for h in heads])


def transformer_permute(t, rng):
    res = rng.permutation(D)
    t = dict(t)
    t["model.embed_tokens.weight"] = t["model.embed_tokens.weight"][:, res]
    t["lm_head.weight"] = t["lm_head.weight"][:, res]
    t["model.norm.weight"] = t["model.norm.weight"][res]
    for i in range(L):
        p = "model.layers.%d." % i
        qk, vo, ff = head_perm(rng), head_perm(rng), rng.permutation(FF)
        for n, rows in (("q", qk), ("k", qk), ("v", vo)):
            k = p + "self_attn.%s_proj.weight" % n
            t[k] = t[k][rows][:, res]
        k = p + "self_attn.o_proj.weight"
        t[k] = t[k][res][:, vo]
        for n in ("gate", "up"):
            k = p + "mlp.%s_proj.weight" % n
            t[k] = t[k][ff][:, res]
        k = p + "mlp.down_proj.weight"
        t[k] = t[k][res][:, ff]
        for n in ("input_layernorm", "post_attention_layernorm"):
            t[p + n + ".weight"] = t[p + n + ".weight"][res]
    return t


def transformer_fuse(t):
    t = dict(t)
    for i in range(L):
        p = "model.layers.%d." % i
        qkv = [t.pop(p + "self_attn.%s_proj.weight" % n) for n in ("q", "k", "v")]
        t[p + "self_attn.qkv_proj.weight"] = np.concatenate(qkv, 0)
        gu = [t.pop(p + "mlp.%s_proj.weight" % n) for n in ("gate", "up")]
        t[p + "mlp.gate_up_proj.weight"] = np.concatenate(gu, 0)
    return t


def transformer(a):
    out, seed = a[0], arg(a, "--seed", 1, int)
    rng = np.random.default_rng(77 + seed)
    t = load(arg(a, "--from"))[0] if "--from" in a else transformer_weights(seed)
    if "--noise" in a:
        t = perturb(t, rng, arg(a, "--noise", 0.0, float))
    if "--permute" in a:
        t = transformer_permute(t, np.random.default_rng(arg(a, "--permute", 1, int)))
    if "--splice-ends" in a:
        # the embedding, final norm and head of another model (already disguised), the blocks this model's own
        donor = load(arg(a, "--splice-ends"))[0]
        for k in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
            t[k] = donor[k]
    if "--fuse" in a:
        t = transformer_fuse(t)
    if "--transpose" in a:
        t = {k: (np.ascontiguousarray(v.T) if v.ndim == 2 and "embed" not in k else v) for k, v in t.items()}
    save(out, t)


# ------------------------------------------------------------------ conv stack

CH = [3, 32, 64, 64, 128]
CLASSES = 32


def conv_weights(seed):
    rng = np.random.default_rng(2000 + seed)
    t = {}
    for i in range(len(CH) - 1):
        t["features.%d.weight" % i] = trained(rng, (CH[i + 1], CH[i], 3, 3))
        t["features.%d.bn.weight" % i] = norm_vec(rng, CH[i + 1])
        t["features.%d.bn.bias" % i] = (0.05 * rng.standard_normal(CH[i + 1])).astype(np.float32)
    t["classifier.weight"] = trained(rng, (CLASSES, CH[-1]))
    t["classifier.bias"] = (0.05 * rng.standard_normal(CLASSES)).astype(np.float32)
    return t


def conv_permute(t, rng):
    t = dict(t)
    prev = np.arange(CH[0])
    for i in range(len(CH) - 1):
        p = rng.permutation(CH[i + 1])
        k = "features.%d.weight" % i
        t[k] = t[k][p][:, prev]
        for n in ("bn.weight", "bn.bias"):
            t["features.%d.%s" % (i, n)] = t["features.%d.%s" % (i, n)][p]
        prev = p
    t["classifier.weight"] = t["classifier.weight"][:, prev]
    return t


def conv_rename(t, style):
    if style == "torch":
        return t
    out = {}
    for k, v in t.items():
        parts = k.split(".")
        if parts[0] == "features":
            i, rest = int(parts[1]), ".".join(parts[2:])
            if style == "tf":
                nk = {"weight": "model/conv2d_%d/kernel:0", "bn.weight": "model/batch_normalization_%d/gamma:0",
                      "bn.bias": "model/batch_normalization_%d/beta:0"}[rest] % (i + 10)
            else:
                nk = {"weight": "conv2d_%d.w_0", "bn.weight": "batch_norm_%d.w_0",
                      "bn.bias": "batch_norm_%d.b_0"}[rest] % (i + 100)
        else:
            nk = ("model/dense/kernel:0" if parts[1] == "weight" else "model/dense/bias:0") if style == "tf" \
                else ("linear_0.w_0" if parts[1] == "weight" else "linear_0.b_0")
        out[nk] = v
    return out


def conv(a):
    out, seed = a[0], arg(a, "--seed", 1, int)
    rng = np.random.default_rng(99 + seed)
    t = load(arg(a, "--from"))[0] if "--from" in a else conv_weights(seed)
    if "--noise" in a:
        t = perturb(t, rng, arg(a, "--noise", 0.0, float))
    if "--permute" in a:
        t = conv_permute(t, np.random.default_rng(arg(a, "--permute", 1, int)))
    lay = arg(a, "--layout", "oihw")
    order = {"oihw": (0, 1, 2, 3), "ohwi": (0, 2, 3, 1), "hwio": (2, 3, 1, 0)}[lay]
    t = {k: (np.ascontiguousarray(v.transpose(order)) if v.ndim == 4 else v) for k, v in t.items()}
    save(out, conv_rename(t, arg(a, "--names", "torch")))


# ------------------------------------------------------------------ tinytrain, both axes

def tinyperm(a):
    t, _ = load(a[0])
    rng = np.random.default_rng(arg(a, "--seed", 1, int))
    emb = t["embed.weight"].shape[1]
    hid = t["fc1.weight"].shape[0]
    ctx = t["fc1.weight"].shape[1] // emb
    e, h = rng.permutation(emb), rng.permutation(hid)
    blk = np.concatenate([j * emb + e for j in range(ctx)])     # the same e in every token block
    t["embed.weight"] = t["embed.weight"][:, e]
    t["norm1.weight"], t["norm1.bias"] = t["norm1.weight"][blk], t["norm1.bias"][blk]
    t["fc1.weight"] = t["fc1.weight"][h][:, blk]
    for k in ("fc1.bias", "norm2.weight", "norm2.bias"):
        t[k] = t[k][h]
    t["head.weight"] = t["head.weight"][:, h]
    save(a[1], t)


# ------------------------------------------------------------------ fixed buffers

def audio(a):
    out, seed = a[0], arg(a, "--seed", 1, int)
    rng = np.random.default_rng(3000 + seed)
    nfft, nfreq, nmel, T, d = 512, 257, 64, 256, 128
    n = np.arange(nfft)
    f = np.arange(nfreq)[:, None]
    t = {"frontend.dft_real": np.cos(2 * np.pi * f * n / nfft).astype(np.float32),
         "frontend.dft_imag": (-np.sin(2 * np.pi * f * n / nfft)).astype(np.float32)}
    # HTK-style triangular mel filters on the FFT bins
    mel = lambda hz: 2595 * np.log10(1 + hz / 700.0)      # noqa: E731
    imel = lambda m: 700 * (10 ** (m / 2595.0) - 1)       # noqa: E731
    pts = imel(np.linspace(mel(0), mel(8000), nmel + 2))
    bins = np.linspace(0, 8000, nfreq)
    fb = np.zeros((nmel, nfreq), np.float32)
    for m in range(nmel):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.maximum(0, np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)))
    t["frontend.mel_filters"] = fb
    pos = np.arange(T)[:, None]
    div = np.exp(np.arange(0, d, 2) * (-np.log(10000.0) / d))
    pe = np.zeros((T, d), np.float32)
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
    t["encoder.pos_table"] = pe
    t["encoder.causal_mask"] = np.tril(np.ones((T, T), np.float32))
    t["encoder.in_proj.weight"] = trained(rng, (d, nmel))
    for i in range(2):
        t["encoder.layers.%d.fc1.weight" % i] = trained(rng, (2 * d, d))
        t["encoder.layers.%d.fc2.weight" % i] = trained(rng, (d, 2 * d))
        t["encoder.layers.%d.norm.weight" % i] = norm_vec(rng, d)
    if "--fixed-only" in a:
        t = {k: v for k, v in t.items() if "frontend" in k or "pos_table" in k or "mask" in k or "norm" in k}
    save(out, t)


# ------------------------------------------------------------------ small kernels

def small(a):
    out, seed = a[0], arg(a, "--seed", 1, int)
    rng = np.random.default_rng(4000 + seed)
    t, c = {}, 24
    for i in range(4):
        t["conv2d_%d.w_0" % (2 * i)] = trained(rng, (c, 1, 3, 3), rank=2)       # depthwise
        t["conv2d_%d.w_0" % (2 * i + 1)] = trained(rng, (c, c, 1, 1), rank=2)   # pointwise
        t["batch_norm_%d.w_0" % i] = norm_vec(rng, c)
    save(out, t)


def lone(a):
    """one tensor permuted on both axes (nothing else touched), plus relative noise"""
    t, _ = load(a[0])
    k = arg(a, "--tensor")
    rng = np.random.default_rng(arg(a, "--seed", 1, int))
    w = t[k]
    w = w[rng.permutation(w.shape[0])][:, rng.permutation(w.shape[1])]
    t[k] = (w + arg(a, "--noise", 0.0, float) * w.std() * rng.standard_normal(w.shape)).astype(np.float32)
    save(a[1], t)


def hostile(a):
    """non-finite and degenerate tensors: NaN, inf, zeros, one row, a huge 1 x N, 3-d"""
    rng = np.random.default_rng(5)
    t = {"nan.weight": np.full((64, 64), np.nan, np.float32),
         "inf.weight": np.where(rng.standard_normal((64, 48)) > 0, np.inf, -np.inf).astype(np.float32),
         "zeros.weight": np.zeros((40, 40), np.float32),
         "row.weight": rng.standard_normal((1, 4096)).astype(np.float32),
         "cube.weight": rng.standard_normal((8, 16, 32)).astype(np.float32),
         "mixed.weight": rng.standard_normal((96, 80)).astype(np.float32)}
    t["mixed.weight"][::7, ::5] = np.nan
    save(a[0], t)


def int8(a):
    t, _ = load(a[0])
    hdr, blobs, off = {}, [], 0
    for k in sorted(t):
        x = t[k]
        if x.ndim >= 2:
            q = np.clip(np.round(x / (np.abs(x).max() + 1e-12) * 127), -127, 127).astype(np.int8)
            raw, dt = q.tobytes(), "I8"
        else:
            raw, dt = x.astype("<f4").tobytes(), "F32"
        hdr[k] = {"dtype": dt, "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(a[1], "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    cmds = {"transformer": transformer, "conv": conv, "tinyperm": tinyperm, "audio": audio,
            "small": small, "int8": int8, "lone": lone, "hostile": hostile}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
