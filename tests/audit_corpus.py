#!/usr/bin/python3
"""audit_corpus.py - builds test models for `scratchproof audit` from
safetensors files, with numpy only (the format is written by hand here, on
purpose independently of attest/safetensors.c).

  permute IN OUT [--seed N] [--rename]   permute tinytrain's hidden units
        (rows of fc1.weight/fc1.bias, norm2.*, columns of head.weight) and
        optionally rename every tensor: the function is unchanged
  cast IN OUT --dtype bf16|f16           round-to-nearest-even cast
  splice BASE DONOR OUT --prefix P       BASE with DONOR's tensors named P*
  shard IN DIR --parts N                 DIR/model-0000i-of-0000N.safetensors
                                         and DIR/model.safetensors.index.json
  lie DIR KIND                           make DIR's index lie: missing-file,
                                         not-in-file, slash, dotdot, unlisted
  synth OUT --seed N --mb M [--from IN --noise X]
                                         random f32 matrices of about M MB;
                                         with --from: IN plus noise (derived)
  torch OUTDIR --seeds N [--finetune [--permute]]
                                         small PyTorch MLPs (needs torch); --permute:
                                         the fine-tune with both hidden layers permuted
"""
import json
import os
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out, meta = {}, hdr.pop("__metadata__", None)
    for k, v in hdr.items():
        s, e = v["data_offsets"]
        raw = data[s:e]
        if v["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(DT[v["dtype"]]).newbyteorder("<"))
        out[k] = arr.reshape(v["shape"]).astype(np.float32)
    return out, meta


def to_bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16        # round to nearest even
    return r.astype("<u2")


def save(path, tensors, dtype="F32", meta=None):
    hdr, blobs, off = {}, [], 0
    if meta:
        hdr["__metadata__"] = meta
    for k in sorted(tensors):
        x = np.asarray(tensors[k], dtype=np.float32)
        if dtype == "BF16":
            raw = to_bf16_bits(x).tobytes()
        elif dtype == "F16":
            raw = x.astype("<f2").tobytes()
        else:
            raw = x.astype("<f4").tobytes()
        hdr[k] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


RENAME = {"embed.weight": "tok.table", "fc1.weight": "layers.0.up.weight",
          "fc1.bias": "layers.0.up.bias", "norm1.weight": "ln_in.scale",
          "norm1.bias": "ln_in.shift", "norm2.weight": "layers.0.ln.scale",
          "norm2.bias": "layers.0.ln.shift", "head.weight": "lm_out.weight",
          "head.bias": "lm_out.bias"}


def permute(a):
    t, meta = load(a[0])
    seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 1
    h = t["fc1.weight"].shape[0]
    p = np.random.default_rng(seed).permutation(h)
    t["fc1.weight"] = t["fc1.weight"][p]
    for k in ("fc1.bias", "norm2.weight", "norm2.bias"):
        if k in t:
            t[k] = t[k][p]
    t["head.weight"] = t["head.weight"][:, p]
    if "--rename" in a:
        t = {RENAME.get(k, "x." + k): v for k, v in t.items()}
    save(a[1], t)


def cast(a):
    t, meta = load(a[0])
    save(a[1], t, dtype=a[a.index("--dtype") + 1].upper(), meta=meta)


def splice(a):
    base, _ = load(a[0])
    donor, _ = load(a[1])
    prefix = a[a.index("--prefix") + 1]
    for k in donor:
        if k.startswith(prefix):
            base[k] = donor[k]
    save(a[2], base)


def shard(a):
    t, _ = load(a[0])
    d, parts = a[1], int(a[a.index("--parts") + 1])
    os.makedirs(d, exist_ok=True)
    names = sorted(t)
    wm = {}
    for i in range(parts):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, parts)
        chunk = {k: t[k] for k in names[i::parts]}
        save(os.path.join(d, fn), chunk)
        wm.update({k: fn for k in chunk})
    json.dump({"metadata": {"total_size": 0}, "weight_map": wm},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=1)


def lie(a):
    d, kind = a[0], a[1]
    p = os.path.join(d, "model.safetensors.index.json")
    ix = json.load(open(p))
    wm = ix["weight_map"]
    first = sorted(wm)[0]
    if kind == "missing-file":
        wm[first] = "model-99999-of-99999.safetensors"
    elif kind == "not-in-file":
        other = [f for f in set(wm.values()) if f != wm[first]][0]
        wm[first] = other
    elif kind == "slash":
        wm[first] = "../" + wm[first]
    elif kind == "dotdot":
        wm[first] = ".."
    elif kind == "unlisted":
        del wm[first]
    else:
        sys.exit("unknown lie " + kind)
    json.dump(ix, open(p, "w"))


def synth(a):
    out, seed, mb = a[0], int(a[a.index("--seed") + 1]), float(a[a.index("--mb") + 1])
    rng = np.random.default_rng(seed)
    if "--from" in a:
        t, _ = load(a[a.index("--from") + 1])
        noise = float(a[a.index("--noise") + 1])
        for k in t:
            t[k] = t[k] + noise * t[k].std() * rng.standard_normal(t[k].shape, dtype=np.float32)
        save(out, t)
        return
    d = 2048
    t, total, i = {}, 0, 0
    while total + d * d * 4 <= mb * 1e6:
        t["layers.%d.up.weight" % i] = rng.standard_normal((2 * d, d), dtype=np.float32) * 0.02
        t["layers.%d.norm.weight" % i] = 1 + 0.01 * rng.standard_normal(d, dtype=np.float32)
        total += 2 * d * d * 4 + 4 * d
        i += 1
    save(out, t)


def torch_models(a):
    import torch
    outdir, n = a[0], int(a[a.index("--seeds") + 1])
    os.makedirs(outdir, exist_ok=True)
    g = torch.Generator().manual_seed(12345)
    X = torch.randn(2048, 32, generator=g)
    Y = torch.cat([(X[:, :8].sum(1, keepdim=True) > 0).float(), torch.sin(X[:, 8:16])], 1)

    def train(model, steps):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for s in range(steps):
            i = (s * 128) % 2048
            loss = ((model(X[i:i + 128]) - Y[i:i + 128]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def mk(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.LayerNorm(128), torch.nn.ReLU(),
                                   torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 9))

    def dump(model, path):
        save(path, {k: v.detach().numpy() for k, v in model.state_dict().items()})

    for s in range(1, n + 1):
        m = mk(s)
        train(m, 300)
        dump(m, os.path.join(outdir, "seed%d.safetensors" % s))
        if s == 1 and "--finetune" in a:
            train(m, 200)
            dump(m, os.path.join(outdir, "finetune1.safetensors"))
            if "--permute" in a:
                # both hidden layers permuted through the network: the function is unchanged
                g2 = torch.Generator().manual_seed(4242)
                p1, p2 = torch.randperm(128, generator=g2), torch.randperm(128, generator=g2)
                sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
                for k in ("0.weight", "0.bias", "1.weight", "1.bias"):
                    sd[k] = sd[k][p1]
                sd["3.weight"] = sd["3.weight"][p2][:, p1]
                sd["3.bias"] = sd["3.bias"][p2]
                sd["5.weight"] = sd["5.weight"][:, p2]
                x = X[:64]
                before = m(x)
                m.load_state_dict(sd)
                assert torch.allclose(before, m(x), atol=1e-5), "permutation changed the function"
                dump(m, os.path.join(outdir, "permuted1.safetensors"))


def main():
    cmds = {"permute": permute, "cast": cast, "splice": splice, "shard": shard, "lie": lie,
            "synth": synth, "torch": torch_models}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
