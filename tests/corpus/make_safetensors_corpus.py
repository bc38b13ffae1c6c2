#!/usr/bin/python3
"""make_safetensors_corpus.py - writes the seed corpus of fuzz_safetensors.

Each file in tests/corpus/safetensors/ is a small safetensors file: valid
ones (several dtypes, scalars, empty tensors, metadata, padded headers) and
one of each kind of invalid one the reader must reject. Run from the
repository root: /usr/bin/python3 tests/corpus/make_safetensors_corpus.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4,
         "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def raw(header_bytes, data=b""):
    return struct.pack("<Q", len(header_bytes)) + header_bytes + data


def st(tensors, meta=None, pad=True):
    """A valid file: tensors is [(name, dtype, shape, bytes)], laid out in order."""
    hdr, data = {}, b""
    for name, dt, shape, payload in tensors:
        hdr[name] = {"dtype": dt, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if meta is not None:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr, separators=(",", ":"), sort_keys=True).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return raw(h, data)


def entry(dt, shape, offs):
    return {"dtype": dt, "shape": shape, "data_offsets": offs}


def hdr(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def cases():
    f32 = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    yield "valid_one_f32", st([("layer.0.weight", "F32", [2, 3], f32)])
    yield "valid_many_dtypes", st([
        ("a.bias", "I64", [2], struct.pack("<2q", -1, 7)),
        ("b.half", "F16", [2], b"\x00\x3c\x00\xc0"),
        ("c.bf", "BF16", [1, 2], b"\x80\x3f\x00\x40"),
        ("d.f64", "F64", [], struct.pack("<d", 2.5)),
        ("e.i32", "I32", [1], struct.pack("<i", -5)),
        ("f.i16", "I16", [1], struct.pack("<h", 3)),
        ("g.i8", "I8", [3], b"\x01\xff\x02"),
        ("h.u8", "U8", [1, 1, 1], b"\x09"),
        ("i.bool", "BOOL", [2], b"\x00\x01")])
    yield "valid_metadata", st([("w", "F32", [1], f32[:4])], {"format": "pt", "step": "100"})
    yield "valid_empty_tensor", st([("empty", "F32", [0, 3], b""), ("x", "U8", [1], b"\x05")])
    yield "valid_no_tensors", st([])
    yield "valid_unpadded", st([("u", "U8", [3], b"abc")], pad=False)
    yield "valid_unsorted_offsets", raw(hdr({
        "z": entry("U8", [2], [0, 2]), "a": entry("U8", [1], [2, 3])}), b"xyz")
    yield "valid_utf8_name", st([("caf\u00e9.\u4e2d", "U8", [1], b"\x01")])

    one = lambda h, d=b"": raw(h if isinstance(h, bytes) else hdr(h), d)
    yield "bad_short", b"\x02\x00\x00"
    yield "bad_header_past_end", struct.pack("<Q", 64) + b"{}"
    yield "bad_header_huge", struct.pack("<Q", 1 << 63) + b"{}"
    yield "bad_json", one(b'{"a":{"dtype":')
    yield "bad_not_object", one(b"[1,2,3]")
    yield "bad_duplicate_key", one(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                   b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"xy")
    yield "bad_unknown_dtype", one({"a": entry("F8_E4M3", [1], [0, 1])}, b"x")
    yield "bad_negative_shape", one({"a": entry("U8", [-1], [0, 1])}, b"x")
    yield "bad_float_shape", one({"a": entry("U8", [1.0], [0, 1])}, b"x")
    yield "bad_huge_shape", one({"a": entry("U8", [1 << 32, 1 << 32, 1 << 32], [0, 1])}, b"x")
    yield "bad_too_many_dims", one({"a": entry("U8", [1] * 9, [0, 1])}, b"x")
    yield "bad_offsets_past_end", one({"a": entry("F32", [2], [0, 8])}, b"abcd")
    yield "bad_begin_after_end", one({"a": entry("F32", [1], [4, 0])}, b"abcd")
    yield "bad_overlap", one({"a": entry("F32", [2], [0, 8]), "b": entry("F32", [2], [4, 12])},
                             bytes(12))
    yield "bad_hole", one({"a": entry("F32", [1], [0, 4]), "b": entry("F32", [1], [8, 12])},
                          bytes(12))
    yield "bad_trailing_bytes", one({"a": entry("F32", [1], [0, 4])}, bytes(8))
    yield "bad_length_mismatch", one({"a": entry("F32", [2], [0, 4])}, bytes(4))
    yield "bad_unknown_field", one({"a": dict(entry("U8", [1], [0, 1]), extra=1)}, b"x")
    yield "bad_metadata_value", one({"__metadata__": {"k": 1}})
    yield "bad_empty_name", one({"": entry("U8", [1], [0, 1])}, b"x")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, blob in cases():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
