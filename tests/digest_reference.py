#!/usr/bin/python3
"""digest_reference.py - independent reference for the digest formats (SPEC.md 2).

Computes the known-answer vectors hard-coded in tests/test_digest.c with
Python's hashlib.blake2b (digest_size=32), following only the byte layouts
in the spec; shares no code with attest/digest.c. Run: /usr/bin/python3
tests/digest_reference.py
"""
import hashlib
import struct

CHUNK = 1 << 20


def h(tag, *parts):
    """BLAKE2b-256(tag || 0x00 || parts...)."""
    m = hashlib.blake2b(digest_size=32)
    m.update(tag.encode("ascii") + b"\x00")
    for p in parts:
        m.update(p)
    return m.digest()


def data_root(data):
    leaves = [h("scratchproof/leaf", struct.pack("<Q", i), data[off:off + CHUNK])
              for i, off in enumerate(range(0, len(data), CHUNK))]
    return h("scratchproof/tree", struct.pack("<Q", len(data)), *leaves)


def tensor_digest(name, dtype, shape, data):
    nb = name.encode("utf-8")
    parts = [struct.pack("<I", len(nb)), nb, struct.pack("<II", dtype, len(shape))]
    parts += [struct.pack("<Q", d) for d in shape]
    parts.append(data_root(data))
    return h("scratchproof/tensor", *parts)


def checkpoint_root(named):
    named = sorted(named, key=lambda x: x[0].encode("utf-8"))
    return h("scratchproof/checkpoint", struct.pack("<Q", len(named)),
             *[d for _, d in named])


def pattern(n):
    """byte i = (i*31 + 7) & 0xff"""
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


F32, I32 = 1, 6


def main():
    vec = []
    vec.append(("tagged_abc", h("scratchproof/batch", b"abc")))
    vec.append(("tagged_empty", h("scratchproof/batch", b"")))
    vec.append(("root_0", data_root(b"")))
    vec.append(("root_3", data_root(b"abc")))
    vec.append(("root_1m", data_root(pattern(CHUNK))))
    vec.append(("root_1m1", data_root(pattern(CHUNK + 1))))
    vec.append(("root_2m5", data_root(pattern(5 * CHUNK // 2 + 123))))
    w = struct.pack("<6f", *[float(i) for i in range(6)])
    tw = tensor_digest("layer.0.weight", F32, [2, 3], w)
    vec.append(("tensor_w", tw))
    b = struct.pack("<3i", -1, 0, 1)
    tb = tensor_digest("layer.0.bias", I32, [3], b)
    vec.append(("tensor_b", tb))
    vec.append(("tensor_scalar", tensor_digest("s", F32, [], struct.pack("<f", 1.5))))
    vec.append(("tensor_empty", tensor_digest("e", F32, [0, 4], b"")))
    vec.append(("ckpt_2", checkpoint_root([("layer.0.weight", tw), ("layer.0.bias", tb)])))
    vec.append(("ckpt_0", checkpoint_root([])))
    for name, d in vec:
        print(f"{name} {d.hex()}")


if __name__ == "__main__":
    main()
