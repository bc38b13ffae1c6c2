#!/usr/bin/env python3
"""Independent model of the segment draw of SPEC.md 12.4 (hashlib only).

Prints the known-answer values that tests/test_replay.c checks and SPEC.md
12.4 lists: the draw key, the first stream words, five draws below 19, and
six draws below 2^63 + 1 (stream words 4, 6, 7 and 8 are rejected), and
the default choice over a 21-segment run (segments 1..20 of 20 steps each,
update of segment k = k % 7, segment 21 empty; Q = 1, R = 2).
"""
import hashlib
import struct


def tagged(tag, data):
    return hashlib.blake2b(tag.encode() + b"\0" + data, digest_size=32).digest()


class Draw:
    def __init__(self, nonce, last):
        self.key = tagged("scratchproof/segment-draw", nonce + last)
        self.block = 0
        self.words = []

    def u64(self):
        if not self.words:
            out = hashlib.blake2b(struct.pack("<Q", self.block), digest_size=64, key=self.key).digest()
            self.words = list(struct.unpack("<8Q", out))
            self.block += 1
        return self.words.pop(0)

    def below(self, n):
        reject = (2**64) % n
        while True:
            x = self.u64()
            if x <= 2**64 - 1 - reject:
                return x % n


def choose(updates, empty, q, r, d):
    n = len(updates)
    chosen = {0: "first"}
    for _ in range(q):
        best = None
        for i in range(1, n):
            if i in chosen or empty[i]:
                continue
            if best is None or updates[i] > updates[best]:
                best = i
        if best is None:
            break
        chosen[best] = "largest"
    cand = [i for i in range(1, n) if i not in chosen and not empty[i]]
    take = min(r, len(cand))
    for k in range(take):
        j = k + d.below(len(cand) - k)
        cand[k], cand[j] = cand[j], cand[k]
        chosen[cand[k]] = "random"
    m = len(cand)
    escape = 0.0 if m == 0 else (m - take) / m
    return chosen, escape


nonce = bytes(range(16))
last = bytes(range(16, 48))
d = Draw(nonce, last)
print("key", d.key.hex())
print("words", " ".join("%016x" % d.u64() for _ in range(3)))
d = Draw(nonce, last)
print("below19", " ".join(str(d.below(19)) for _ in range(5)))
d = Draw(nonce, last)
print("below2^63+1", " ".join("%d" % d.below(2**63 + 1) for _ in range(6)))
d = Draw(nonce, last)
updates = [float(k % 7) for k in range(1, 22)]
empty = [False] * 20 + [True]
chosen, escape = choose(updates, empty, 1, 2, d)
print("chosen", " ".join("%d:%s" % (i + 1, chosen[i]) for i in sorted(chosen)))
print("escape %.6f" % escape)
