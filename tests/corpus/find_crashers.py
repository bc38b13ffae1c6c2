#!/usr/bin/env python3
"""find_crashers.py - how tests/corpus/damaged_ledgers was made (SPEC.md 14.4).

Mutates a small ledger (half the time one byte XOR 0x01, 0xff or one bit; otherwise
1-4 bytes set at random) and runs an OLD, in-process-LMDB `scratchproof verify` on each
mutant; keeps the mutants that killed it with a signal (SIGSEGV, SIGBUS, SIGABRT).

  find_crashers.py OLD_SCRATCHPROOF LEDGER PUB OUTDIR [COUNT] [SEED]

The corpus was found with main's build at commit 6410c22 against a 3-record ledger made with
`scratchproof record genesis|checkpoint|final` (48 crashers in 113,391 mutants, 7 minutes).
"""
import os, random, subprocess, sys

old, ledger, pub, outdir = sys.argv[1:5]
want = int(sys.argv[5]) if len(sys.argv) > 5 else 48
random.seed(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
orig = open(ledger, "rb").read()
os.makedirs(outdir, exist_ok=True)
found = runs = 0
p = f"{outdir}/.mutant{os.getpid()}.ledger"
while found < want:
    b = bytearray(orig)
    if random.random() < 0.5:
        i = random.randrange(len(b)); b[i] ^= random.choice([0x01, 0xff, 1 << random.randrange(8)])
    else:
        for _ in range(random.randint(1, 4)):
            b[random.randrange(len(b))] = random.randrange(256)
    open(p, "wb").write(b)
    if os.path.exists(p + "-lock"):
        os.unlink(p + "-lock")
    r = subprocess.run([old, "verify", p, "--pubkey", pub, "--quiet"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs += 1
    if r.returncode < 0 or r.returncode >= 128:
        sig = -r.returncode if r.returncode < 0 else r.returncode - 128
        open(f"{outdir}/crash-{found:02d}-sig{sig}.ledger", "wb").write(b)
        found += 1
for q in (p, p + "-lock"):
    if os.path.exists(q):
        os.unlink(q)
print(f"{runs} mutants, {found} crashed the old reader")
