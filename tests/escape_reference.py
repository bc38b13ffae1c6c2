"""escape_reference.py - an independent Python reference of SPEC.md 1.1.

Implements the escaping rule from its text (Python's strict UTF-8 decoder
decides what a valid character is), checks every test vector of the table in
SPEC.md 1.1.1 and the truncation example, and compares it with the C library
(sp_escape_n and sp_utf8_valid of libscratchproof.so, through ctypes) on the
vectors and on random inputs.

usage: escape_reference.py SPEC.md build/libscratchproof.so
"""
import ctypes
import random
import re
import sys

DANGEROUS = set(range(0x80, 0xA0)) | {0x061C, 0x200E, 0x200F} | set(range(0x2028, 0x202F)) \
    | set(range(0x2066, 0x206A))


def units(b):
    """The units of SPEC.md 1.1: (bytes, escaped text) pairs, left to right."""
    i = 0
    while i < len(b):
        ch = None
        for n in (1, 2, 3, 4):
            try:
                ch = b[i:i + n].decode("utf-8", "strict")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                break
            ch = None
        cp = ord(ch) if ch is not None else None
        if ch is not None and cp >= 0x20 and cp != 0x7F and cp not in DANGEROUS:
            raw = ch.encode("utf-8")
            yield raw, ("\\\\" if ch == "\\" else ch)
        else:
            raw = ch.encode("utf-8") if ch is not None else b[i:i + 1]
            yield raw, "".join("\\x%02x" % x for x in raw)
        i += len(raw)


def escape(b):
    return "".join(u for _, u in units(b))


def escape_cut(b, cap):
    out = ""
    for _, u in units(b):
        if len((out + u).encode("utf-8")) >= cap:
            break
        out += u
    return out


def spec_vectors(spec):
    text = open(spec, encoding="utf-8").read()
    sec = text[text.index("#### 1.1.1"):text.index("### 1.2")]
    rows = re.findall(r"^\| `([0-9a-f]+)` \| `([^`]*)`", sec, re.M)
    trunc = re.search(r"escaped form of `([0-9a-f]+)` is the (\d+) bytes\n`([^`]*)`", sec)
    return rows, trunc


def main():
    spec, lib = sys.argv[1], sys.argv[2]
    so = ctypes.CDLL(lib)
    so.sp_escape_n.restype = ctypes.c_size_t
    so.sp_escape_n.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    so.sp_utf8_valid.restype = ctypes.c_int
    so.sp_utf8_valid.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

    def c_escape(b, cap=None):
        full = so.sp_escape_n(None, 0, b, len(b))
        if cap is None:
            cap = full + 1
        buf = ctypes.create_string_buffer(max(cap, 1))
        assert so.sp_escape_n(buf, cap, b, len(b)) == full
        return buf.value.decode("utf-8"), full

    failed = 0
    rows, trunc = spec_vectors(spec)
    assert len(rows) >= 20, "SPEC.md 1.1.1 table not found (%d rows)" % len(rows)
    for hexin, want in rows:
        b = bytes.fromhex(hexin)
        got, n = c_escape(b)
        if escape(b) != want or got != want or n != len(want.encode()):
            print("FAIL vector %s: spec %r, python %r, C %r" % (hexin, want, escape(b), got))
            failed += 1
    b = bytes.fromhex(trunc.group(1))
    want = trunc.group(3)
    if escape(b) != want or len(want.encode()) != int(trunc.group(2)):
        print("FAIL truncation example: %r" % escape(b))
        failed += 1
    for cap in range(1, len(want.encode()) + 3):
        if escape_cut(b, cap) != c_escape(b, cap)[0]:
            print("FAIL cut at cap %d: python %r, C %r" % (cap, escape_cut(b, cap), c_escape(b, cap)[0]))
            failed += 1
    rng = random.Random(20261201)
    alphabet = [b"a", b"\\", b"\n", b"\x1b", b"\x00", b"\x7f", b"\xff", b"\x80", b"\xc2\x9b",
                b"\xc3\xa9", b"\xed\xa0\x80", b"\xe2\x80\xae", b"\xe2\x81\xa6", b"\xf0\x9f\x98\x80",
                b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xd8\x9c", b"\xea\xb5\xad"]
    for k in range(20000):
        if k % 2:
            b = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        else:
            b = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        cap = rng.randrange(1, 4 * len(b) + 3)
        valid = 1
        try:
            b.decode("utf-8", "strict")
        except UnicodeDecodeError:
            valid = 0
        if c_escape(b)[0] != escape(b) or c_escape(b, cap)[0] != escape_cut(b, cap) \
                or so.sp_utf8_valid(b, len(b)) != valid:
            print("FAIL random input %s (cap %d): python %r, C %r" % (b.hex(), cap, escape(b),
                                                                       c_escape(b)[0]))
            failed += 1
            if failed > 10:
                break
    print("%d SPEC vectors, truncation example and 20000 random inputs: %s"
          % (len(rows), "FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
