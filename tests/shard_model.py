#!/usr/bin/env python3
"""Splits a safetensors file into N shards plus a Hugging Face index, the layout
`model.safetensors.index.json` + `model-0000K-of-0000N.safetensors`, with
"format": "pt" in each shard's __metadata__. Used by tests/cli/shards.sh.

    shard_model.py IN.safetensors OUTDIR N
"""
import json, os, struct, sys

def read(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    hdr = json.loads(b[8:8 + n])
    data = b[8 + n:]
    meta = hdr.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in hdr.items()}, meta

def write(path, tensors):
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        dt, shape, raw = tensors[name]
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def main():
    src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tensors, _ = read(src)
    names = sorted(tensors)
    os.makedirs(out, exist_ok=True)
    weight_map = {}
    for k in range(n):
        part = {x: tensors[x] for i, x in enumerate(names) if i % n == k}
        shard = "model-%05d-of-%05d.safetensors" % (k + 1, n)
        write(os.path.join(out, shard), part)
        weight_map.update({x: shard for x in part})
    total = sum(len(v[2]) for v in tensors.values())
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

if __name__ == "__main__":
    main()
