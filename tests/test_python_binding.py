#!/usr/bin/python3
"""test_python_binding.py - tests of the Python/PyTorch binding (hooks/python/scratchproof).

Run by tests/cli/python.sh with PYTHONPATH=hooks/python, SCRATCHPROOF_LIB and BUILD set.
What is checked against what:
  - genesis digests: the binding's tensors against tinytrain's C genesis (the ledger read
    record by record with mdb_dump and a small protobuf reader written here), against the
    pure-Python initialiser (tests/init_reference.py) and digest formats
    (tests/digest_reference.py), which share no code with the C library;
  - batch chain and optimizer digest recomputed with hashlib from SPEC.md 2.3 and 2.5;
  - the done-when flow: examples/torch_train.py verifies (exit 0); its --init-from
    impostor (honest genesis, other weights before step 1) verifies too without replay;
  - every misuse the issue lists raises its exception and leaves the interpreter alive;
  - the GIL is released while C hashes; no Python-side copy of tensor or batch memory.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import unittest

import numpy as np
import torch
import torch.nn as nn

import scratchproof as sp
import scratchproof.torch as spt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
SPBIN = os.path.join(BUILD, "scratchproof")
TINYTRAIN = os.path.join(BUILD, "tinytrain")
sys.path.insert(0, os.path.join(ROOT, "tests"))
import digest_reference as dref   # noqa: E402
import init_reference as iref     # noqa: E402

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "hooks", "python"),
           PYTHONDONTWRITEBYTECODE="1")


def run_cmd(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=ENV, **kw)


# ---- an independent reader of the ledger: mdb_dump + protobuf wire format ----

def pb_fields(buf):
    """{field number: [values]}: ints for varints, bytes for length-delimited, raw for fixed."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _varint(buf, i):
    v = s = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << s
        s += 7
        if not b & 0x80:
            return v, i


def _packed_varints(b):
    out, i = [], 0
    while i < len(b):
        v, i = _varint(b, i)
        out.append(v)
    return out


def read_ledger(path):
    """[(kind, body fields)] in sequence order, payloads taken from the DSSE envelopes."""
    dump = subprocess.run(["mdb_dump", "-n", "-s", "records", path], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    data = dump[dump.index("HEADER=END") + 1:dump.index("DATA=END")]
    records = []
    for val in data[1::2]:
        env = pb_fields(bytes.fromhex(val.strip()))
        rec = pb_fields(env[1][0])
        for num, kind in ((10, "genesis"), (11, "checkpoint"), (12, "final")):
            if num in rec:
                records.append((kind, pb_fields(rec[num][0])))
    return records


def tensor_entries(body, field):
    """{name: (dtype, shape, digest, (kind, params) or None)} of a record's tensor list."""
    out = {}
    for raw in body.get(field, []):
        t = pb_fields(raw)
        init = None
        if 5 in t:
            s = pb_fields(t[5][0])
            params = struct.unpack("<4d", s[2][0]) if 2 in s else (0.0,) * 4
            init = (s.get(1, [0])[0], params)
        shape = _packed_varints(t[3][0]) if 3 in t else []
        out[t[1][0].decode()] = (t.get(2, [0])[0], shape, t[4][0], init)
    return out


# ---- helpers -------------------------------------------------------------------

class TinyTrainTwin(nn.Module):
    """tinytrain's parameters as PyTorch modules, with the same names and shapes."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.embed = nn.Embedding(64, 64, dtype=dtype)
        self.norm1 = nn.LayerNorm(512, dtype=dtype)
        self.fc1 = nn.Linear(512, 256, dtype=dtype)
        self.norm2 = nn.LayerNorm(256, dtype=dtype)
        self.head = nn.Linear(256, 64, dtype=dtype)


def tensor_bytes(t):
    return t.detach().contiguous().view(torch.uint8).numpy().tobytes() if t.dim() else \
        t.detach().reshape(1).view(torch.uint8).numpy().tobytes()


DT = {torch.float32: 1, torch.float16: 2, torch.bfloat16: 3, torch.float64: 4, torch.int64: 5}


def ref_digest(name, t):
    return dref.tensor_digest(name, DT[t.dtype], tuple(t.shape), tensor_bytes(t))


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sp-python.")
        cls.key = os.path.join(cls.dir, "k.key")
        cls.pub = os.path.join(cls.dir, "k.pub")
        r = run_cmd(SPBIN, "keygen", "-o", os.path.join(cls.dir, "k"))
        assert r.returncode == 0, r.stderr
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name):
        type(self).n += 1
        return os.path.join(self.dir, "%d.%s" % (self.n, name))

    def verify(self, ledger, *extra):
        return run_cmd(SPBIN, "verify", ledger, "--pubkey", self.pub, *extra)


# ---- C and Python give the same genesis ------------------------------------------

class TestSameGenesisAsC(Base):
    def test_tinytrain_genesis_equals_python_genesis(self):
        cl = self.path("c.ledger")
        r = run_cmd(TINYTRAIN, "--ledger", cl, "--key", self.key, "--seed", 7, "--steps", 1,
                    "--every", 1, "--out", self.path("cout"), "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        model = TinyTrainTwin()
        pl = self.path("py.ledger")
        with sp.Run(pl, key=self.key, seed=7, model_name="twin") as run:
            schemes = spt.initialize(model, run)
        b = 1 / math.sqrt(512)
        self.assertEqual(schemes["fc1.weight"], sp.uniform(-b, b))
        self.assertEqual(schemes["embed.weight"], sp.normal(0, 1))
        self.assertEqual(schemes["norm1.weight"], sp.ones())
        self.assertEqual(schemes["norm2.bias"], sp.zeros())
        c_gen = tensor_entries(read_ledger(cl)[0][1], 4)
        p_gen = tensor_entries(read_ledger(pl)[0][1], 4)
        self.assertEqual(sorted(c_gen), sorted(dict(model.named_parameters())))
        for name, p in model.named_parameters():
            with self.subTest(tensor=name):
                # same digest, dtype, shape and recorded scheme as C's tinytrain
                self.assertEqual(p_gen[name], c_gen[name])
                # and the digest is that of the bytes in the tensor, by the reference
                self.assertEqual(p_gen[name][2], ref_digest(name, p))
                self.assertEqual(sp.tensor_digest(name, p), p_gen[name][2])
        self.assertEqual(read_ledger(pl)[0][1][5][0], read_ledger(cl)[0][1][5][0])   # roots

    def test_values_match_the_pure_python_initialiser(self):
        model = TinyTrainTwin()
        with sp.Run(self.path("l"), key=self.key, seed=7) as run:
            spt.initialize(model, run)
        b = 1 / math.sqrt(512)
        want = iref.fill(iref.UNIFORM, (-b, b, 0.0, 0.0), iref.F32, 7, b"fc1.weight", 0, 300)
        self.assertEqual(tensor_bytes(model.fc1.weight)[:1200], want)
        want = iref.fill(iref.NORMAL, (0.0, 1.0, 0.0, 0.0), iref.F32, 7, b"embed.weight", 0, 300)
        self.assertEqual(tensor_bytes(model.embed.weight)[:1200], want)
        self.assertTrue(torch.equal(model.norm1.weight, torch.ones(512)))
        self.assertTrue(torch.equal(model.norm1.bias, torch.zeros(512)))
        w = model.fc1.weight.detach()
        self.assertLessEqual(float(w.abs().max()), b)
        self.assertLess(abs(float(w.std()) - b / math.sqrt(3)), 0.01 * b)

    def test_bf16_and_f16_initial_values(self):
        model = TinyTrainTwin(torch.bfloat16)
        model.head.half()
        ledger = self.path("l")
        with sp.Run(ledger, key=self.key, seed=11) as run:
            spt.initialize(model, run)
            run.final(0, model, path=self.path("final.safetensors"))
        b = 1 / math.sqrt(512)
        want = iref.fill(iref.UNIFORM, (-b, b, 0.0, 0.0), iref.BF16, 11, b"fc1.weight", 0, 200)
        self.assertEqual(tensor_bytes(model.fc1.weight)[:400], want)
        b = 1 / math.sqrt(256)
        want = iref.fill(iref.UNIFORM, (-b, b, 0.0, 0.0), iref.F16, 11, b"head.weight", 0, 200)
        self.assertEqual(tensor_bytes(model.head.weight)[:400], want)
        r = self.verify(ledger)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TestVersion2Kinds(Base):
    """uniform32 and normal32 (SPEC.md 6.8): the values of the reference, recorded and verified."""

    def test_constructors(self):
        self.assertEqual(repr(sp.uniform32(-0.5, 0.5)), "uniform32(-0.5, 0.5)")
        self.assertEqual(repr(sp.normal32(0, 0.02)), "normal32(0.0, 0.02)")
        self.assertEqual(sp.normal32(0, 0.02).kind, 7)
        self.assertEqual(sp.uniform32(0, 1).kind, 6)
        self.assertNotEqual(sp.normal32(0, 0.02), sp.normal(0, 0.02))
        self.assertEqual(sp.Init(7, 0, 0.02), sp.normal32(0, 0.02))
        for bad in (lambda: sp.uniform32(1, 0), lambda: sp.normal32(0, 0),
                    lambda: sp.normal32(0, 1e-50), lambda: sp.normal32(0, 4e38),
                    lambda: sp.normal32(-4e38, 1), lambda: sp.Init(8 + 90, 0)):
            with self.assertRaises(ValueError):
                bad()

    def test_values_match_the_pure_python_initialiser(self):
        for dt, ref in ((torch.float32, iref.F32), (torch.bfloat16, iref.BF16), (torch.float16, iref.F16)):
            with self.subTest(dtype=str(dt)):
                t = torch.empty(301, dtype=dt)
                sp.init_fill(t, "blocks.0.attn.weight", 7, sp.normal32(0, 0.02))
                want = iref.fill(iref.NORMAL32, (0.0, 0.02, 0.0, 0.0), ref, 7, b"blocks.0.attn.weight", 0, 301)
                self.assertEqual(tensor_bytes(t), want)
                sp.init_fill(t, "w", 3, sp.uniform32(-0.1, 0.1))
                want = iref.fill(iref.UNIFORM32, (-0.1, 0.1, 0.0, 0.0), ref, 3, b"w", 0, 301)
                self.assertEqual(tensor_bytes(t), want)

    def test_recorded_genesis_verifies(self):
        model = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 8))
        ledger = self.path("l")
        with sp.Run(ledger, key=self.key, seed=5) as run:
            schemes = spt.initialize(model, run, overrides={"*.weight": sp.normal32(0, 0.02),
                                                            "*.bias": sp.uniform32(-0.1, 0.1)})
            run.final(0, model, path=self.path("final.safetensors"))
        self.assertEqual(schemes["0.weight"], sp.normal32(0, 0.02))
        self.assertLess(float(model[0].weight.abs().max()), 0.02 * 5.77)
        r = self.verify(ledger, "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


# ---- records made from Python ------------------------------------------------------

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(16, 8)
        self.conv = nn.Conv1d(8, 8, 3)
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 16)

    def forward(self, x):
        h = self.emb(x).transpose(1, 2)
        h = self.conv(h).transpose(1, 2)
        return self.out(self.norm(h))


def chain(batches):
    c = bytes(32)
    for step, data in batches:
        d = dref.h("scratchproof/batch", struct.pack("<Q", step), data)
        c = dref.h("scratchproof/batch-chain", c, d)
    return c


class TestRecording(Base):
    def train_small(self, ledger, outdir, steps=4, every=2):
        torch.manual_seed(0)
        model = Small()
        opt = torch.optim.AdamW(model.parameters(), lr=0.01)
        batches = []
        with sp.Run(ledger, key=self.key, seed=3, model_name="small") as run:
            spt.initialize(model, run, overrides={"conv.bias": sp.zeros()})
            for step in range(1, steps + 1):
                x = torch.arange(step, step + 24).reshape(2, 12) % 16
                run.commit_batch(step, x)
                batches.append((step, tensor_bytes(x)))
                loss = model(x[:, :-2]).logsumexp(-1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % every == 0:
                    run.checkpoint(step, model, optimizer=opt,
                                   path=os.path.join(outdir, "step%d.safetensors" % step),
                                   metrics={"loss": float(loss), "tokens": step * 24})
            run.final(steps, model, path=os.path.join(outdir, "final.safetensors"))
        return model, opt, batches

    def test_python_ledger_verifies_with_no_flag(self):
        ledger, out = self.path("l"), self.path("ck")
        os.mkdir(out)
        model, opt, batches = self.train_small(ledger, out)
        r = self.verify(ledger, "--checkpoints", out, "--model", os.path.join(out, "final.safetensors"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)
        log = json.loads(run_cmd(SPBIN, "log", ledger, "--json").stdout)
        kinds = [x["kind"] for x in log["records"]]
        self.assertEqual(kinds, ["genesis", "checkpoint", "checkpoint", "final"])
        self.assertEqual(log["records"][2]["tokens"], 96)
        self.assertAlmostEqual(log["records"][2]["lr"], 0.01)
        self.assertEqual(log["records"][2]["batches"], 2)

        recs = read_ledger(ledger)
        gen = tensor_entries(recs[0][1], 4)
        self.assertEqual(gen["conv.bias"][3], (1, (0.0,) * 4))          # the override
        self.assertEqual(gen["conv.weight"][3][0], 3)                  # uniform by default
        self.assertAlmostEqual(gen["conv.weight"][3][1][1], 1 / math.sqrt(24))
        # batch chains (SPEC 2.5) recomputed with hashlib
        self.assertEqual(recs[1][1][6][0], chain(batches[0:2]))
        self.assertEqual(recs[2][1][6][0], chain(batches[2:4]))
        # the optimizer digest of the last checkpoint: AdamW's state as it is now
        st = spt.optimizer_tensors(opt, list(model.named_parameters()))
        names = [n for n, _ in st]
        self.assertIn("opt.out.weight.exp_avg", names)
        self.assertIn("opt.out.weight.exp_avg_sq", names)
        self.assertIn("opt.out.weight.step", names)
        want = dref.checkpoint_root([(n, ref_digest(n, t)) for n, t in st])
        self.assertEqual(recs[2][1][5][0], want)
        # the optimizer file holds the same tensors
        saved = spt.load_file(os.path.join(out, "step4.opt.safetensors"))
        self.assertEqual(sorted(saved), sorted(names))
        for n, t in st:
            self.assertTrue(torch.equal(saved[n], t), n)
        # the weights file equals the model
        saved = spt.load_file(os.path.join(out, "final.safetensors"))
        for n, p in model.named_parameters():
            self.assertTrue(torch.equal(saved[n], p.detach()), n)

    def test_commit_batch_forms_hash_the_same_bytes(self):
        ledger = self.path("l")
        model = Small()
        data = np.arange(40, dtype=np.int32).reshape(4, 10)
        raw = data.tobytes()
        with sp.Run(ledger, key=self.key, seed=1) as run:
            spt.initialize(model, run, overrides={"conv.*": sp.normal(0, 0.1)})
            run.commit_batch(1, torch.from_numpy(data))
            run.commit_batch(1, data)
            run.commit_batch(2, raw)
            run.commit_batch(2, bytearray(raw))
            run.commit_batch(3, memoryview(raw))
            run.commit_batch(4, (torch.from_numpy(data), b"targets"))
            run.commit_batch(np.int64(5), b"")
            run.checkpoint(torch.tensor(5), model)
        got = read_ledger(ledger)[1][1]
        want = chain([(1, raw), (1, raw), (2, raw), (2, raw), (3, raw), (4, raw),
                      (4, b"targets"), (5, b"")])
        self.assertEqual(got[6][0], want)
        self.assertEqual(got[7][0], 8)

    def test_impostor_from_python_is_external(self):
        ledger = self.path("l")
        src = Small()
        with sp.Run(self.path("l0"), key=self.key, seed=1) as run:
            spt.initialize(src, run, overrides={"conv.bias": sp.zeros()})
        f = self.path("w.safetensors")
        spt.save_file(f, {n: p.detach() for n, p in src.named_parameters()})
        model = Small()
        with sp.Run(ledger, key=self.key, seed=1) as run:
            spt.initialize_from(model, run, f)
            run.final(0, model)
        for n, p in model.named_parameters():
            self.assertTrue(torch.equal(p, dict(src.named_parameters())[n]))
        gen = tensor_entries(read_ledger(ledger)[0][1], 4)
        self.assertTrue(all(v[3][0] == 0 for v in gen.values()))
        r = self.verify(ledger)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("external", r.stdout)

    def test_default_schemes_of_other_modules(self):
        m = nn.Sequential(nn.MultiheadAttention(8, 2), nn.GRU(4, 6), nn.BatchNorm1d(5),
                          nn.PReLU())
        with sp.Run(self.path("l"), key=self.key, seed=2) as run:
            s = spt.initialize(m, run)
        a = math.sqrt(3.0) * math.sqrt(2.0 / (8 + 24))
        self.assertEqual(s["0.in_proj_weight"], sp.uniform(-a, a))
        self.assertEqual(s["0.in_proj_bias"], sp.zeros())
        self.assertEqual(s["0.out_proj.bias"], sp.zeros())
        self.assertEqual(s["0.out_proj.weight"], sp.uniform(-1 / math.sqrt(8), 1 / math.sqrt(8)))
        self.assertEqual(s["1.weight_hh_l0"], sp.uniform(-1 / math.sqrt(6), 1 / math.sqrt(6)))
        self.assertEqual(s["2.weight"], sp.ones())
        self.assertEqual(s["3.weight"], sp.constant(0.25))

    def test_gil_released_while_c_hashes(self):
        big = bytes(48 << 20)
        ticks, done = [0], threading.Event()

        def ticker():
            while not done.is_set():
                ticks[0] += 1
                time.sleep(0.0001)     # gives the GIL back between ticks
        old = sys.getswitchinterval()
        sys.setswitchinterval(30.0)    # without a release the ticker never runs during the call
        t = threading.Thread(target=ticker)
        try:
            with sp.Run(self.path("l"), key=self.key, seed=1) as run:
                run.genesis([])
                t.start()
                time.sleep(0.05)
                before = ticks[0]
                run.commit_batch(1, big)
                during = ticks[0] - before
        finally:
            done.set()
            t.join()
            sys.setswitchinterval(old)
        self.assertGreater(during, 0)

    def test_no_python_copy_of_tensor_or_batch_memory(self):
        n = 8 << 20
        w = torch.zeros(n // 4)
        b = bytes(n)
        with sp.Run(self.path("l"), key=self.key, seed=1) as run:
            run.genesis([("w", w, sp.zeros())])
            tracemalloc.start()
            run.commit_batch(1, b)
            run.commit_batch(1, w)
            run.commit_batch(1, bytearray(64) * (n // 64))
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            run.commit_batch(2, b)
            run.commit_batch(2, w)
            run.checkpoint(2, {"w": w})
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
        self.assertLess(peak, 1 << 20)


# ---- misuse: clear exceptions, never a crash -----------------------------------------

class TestMisuse(Base):
    def open(self, **kw):
        return sp.Run(self.path("l"), key=kw.pop("key", self.key), seed=1, **kw)

    def test_non_contiguous_tensor(self):
        with self.open() as run:
            run.genesis([("w", torch.zeros(4, 3), sp.zeros())])
            with self.assertRaises(sp.TensorError) as cm:
                run.commit_batch(1, torch.zeros(4, 6)[:, ::2])
            self.assertIn("not contiguous", str(cm.exception))
            with self.assertRaises(sp.TensorError):
                run.checkpoint(1, {"w": torch.zeros(3, 4).t()})
            with self.assertRaises(sp.TensorError):
                run.commit_batch(1, np.zeros((4, 6))[:, ::2])
            with self.assertRaises(ValueError):           # TensorError is a ValueError too
                run.commit_batch(1, memoryview(np.zeros((4, 6))[:, ::2]))
            run.checkpoint(1, {"w": torch.zeros(4, 3)})   # the run is still usable
        m = nn.Linear(3, 4)
        m.weight = nn.Parameter(torch.zeros(3, 4).t())
        with self.open() as run, self.assertRaises(sp.TensorError) as cm:
            spt.initialize(m, run)
        self.assertIn("'weight'", str(cm.exception))

    def test_non_cpu_tensor(self):
        with self.open() as run:
            with self.assertRaises(sp.TensorError) as cm:
                run.genesis([("w", torch.empty(3, device="meta"), sp.zeros())])
            self.assertIn("device 'meta'", str(cm.exception))
            run.genesis([("w", torch.zeros(3), sp.zeros())])
            with self.assertRaises(sp.TensorError):
                run.commit_batch(1, torch.empty(8, device="meta"))
            with self.assertRaises(sp.TensorError):
                run.checkpoint(1, {"w": torch.zeros(3).to_sparse()})
        with self.open() as run, self.assertRaises(sp.TensorError):
            spt.initialize(nn.Linear(2, 2, device="meta"), run)

    def test_unsupported_dtype(self):
        with self.open() as run, self.assertRaises(sp.TensorError) as cm:
            spt.initialize(nn.Linear(4, 4).double(), run)
        self.assertIn("float32, float16 and bfloat16", str(cm.exception))
        self.assertEqual(cm.exception.code, -13)
        with self.open() as run:
            run.genesis([("w", torch.zeros(2), sp.zeros())])
            with self.assertRaises(sp.TensorError) as cm:
                run.checkpoint(1, {"w": torch.zeros(2, dtype=torch.complex64)})
            self.assertIn("complex64", str(cm.exception))
            with self.assertRaises(sp.TensorError):
                run.commit_batch(1, np.zeros(3, dtype=">f4"))

    def test_closed_run(self):
        run = self.open()
        run.genesis([("w", torch.zeros(2), sp.zeros())])
        run.close()
        run.close()                                        # idempotent
        self.assertTrue(run.closed)
        for call in (lambda: run.commit_batch(1, b"x"),
                     lambda: run.checkpoint(1, {"w": torch.zeros(2)}),
                     lambda: run.final(1, {"w": torch.zeros(2)}),
                     lambda: run.genesis([]),
                     lambda: spt.initialize(nn.Linear(2, 2), run)):
            with self.assertRaises(sp.StateError) as cm:
                call()
            self.assertIn("closed", str(cm.exception))
            self.assertIsInstance(cm.exception, RuntimeError)
        with self.open() as run2:
            pass
        with self.assertRaises(sp.StateError):
            run2.commit_batch(1, b"")

    def test_missing_or_wrong_key(self):
        cases = {"missing": os.path.join(self.dir, "nope.key"), "public": self.pub}
        bad = self.path("bad.key")
        with open(bad, "w") as f:
            f.write("hello\n")
        os.chmod(bad, 0o600)
        cases["garbage"] = bad
        loose = self.path("loose.key")
        shutil.copy(self.key, loose)
        os.chmod(loose, 0o644)
        cases["mode 0644"] = loose
        for what, key in cases.items():
            with self.subTest(key=what):
                ledger = self.path("l")
                with self.assertRaises(sp.KeyFileError) as cm:
                    sp.Run(ledger, key=key, seed=1)
                self.assertEqual(cm.exception.code, -10)
                self.assertIn(key, str(cm.exception))
        # resuming a ledger with another signer's key
        ledger = self.path("l")
        with sp.Run(ledger, key=self.key, seed=1) as run:
            run.genesis([])
        other = os.path.join(self.dir, "other")
        run_cmd(SPBIN, "keygen", "-o", other)
        with self.assertRaises(sp.Error) as cm:
            sp.Run(ledger, key=other + ".key", seed=1, resume=True)
        self.assertIn("not signed by this key", str(cm.exception))

    def test_ledger_written_by_another_process(self):
        ledger = self.path("l")
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys, scratchproof as sp\n"
             "r = sp.Run(sys.argv[1], key=sys.argv[2], seed=1)\n"
             "print('ready', flush=True)\nsys.stdin.read()\nr.close()\n", ledger, self.key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
        try:
            self.assertEqual(child.stdout.readline().strip(), "ready")
            with self.assertRaises(sp.BusyError) as cm:
                sp.Run(ledger, key=self.key, seed=1)
            self.assertEqual(cm.exception.code, -6)
            self.assertIn("another process", str(cm.exception))
        finally:
            child.stdin.close()
            rc = child.wait(timeout=60)
            child.stdout.close()
        self.assertEqual(rc, 0)
        with self.assertRaises(ValueError):
            sp.Run(ledger + "\0x", key=self.key, seed=1)
        with sp.Run(ledger, key=self.key, seed=1) as run:     # free again
            with self.assertRaises(sp.BusyError) as cm:       # and twice in one process
                sp.Run(ledger, key=self.key, seed=1)
            self.assertIn("already open in this process", str(cm.exception))
            run.genesis([])
        with self.assertRaises(sp.StateError) as cm:          # holds records now
            sp.Run(ledger, key=self.key, seed=1)
        self.assertIn("already holds", str(cm.exception))

    def test_forked_child_cannot_record(self):
        with self.open() as run:
            run.genesis([])
            pid = os.fork()
            if pid == 0:                      # the child: must refuse, and not close the ledger
                try:
                    run.commit_batch(1, b"x")
                    code = 3
                except sp.StateError as e:
                    code = 0 if "forked child" in str(e) else 4
                except BaseException:
                    code = 5
                run.close()
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            run.commit_batch(1, b"x")          # the parent's run still works
            run.final(1, {})

    def test_out_of_order_and_bad_arguments(self):
        with self.open() as run:
            with self.assertRaises(sp.StateError):            # batches after the genesis
                run.commit_batch(1, b"x")
            run.genesis([("w", torch.zeros(2), sp.zeros())])
            with self.assertRaises(sp.StateError):
                run.genesis([("w", torch.zeros(2), sp.zeros())])
            run.commit_batch(5, b"x")
            with self.assertRaises(sp.Error) as cm:
                run.commit_batch(4, b"x")
            self.assertIn("before step 5", str(cm.exception))
            with self.assertRaises(ValueError):
                run.checkpoint(5, {"w": torch.zeros(2)}, metrics={"accuracy": 1.0})
            with self.assertRaises(TypeError):
                run.commit_batch(6, 3.5)
            with self.assertRaises(TypeError):
                run.commit_batch("6", b"")
            with self.assertRaises(ValueError):
                run.commit_batch(-1, b"")
            with self.assertRaises(sp.Error) as cm:
                run.checkpoint(6, {"w": torch.zeros(2)}, path=os.path.join(self.dir, "no", "x"))
            self.assertIn("does not exist", str(cm.exception))
            run.checkpoint(6, {"w": torch.zeros(2)})
            run.checkpoint(6, {"w": torch.zeros(2)})     # the same digests again: accepted, no record
            with self.assertRaises(sp.Error) as cm:
                run.checkpoint(6, {"w": torch.ones(2)})      # another checkpoint at that step
            self.assertIn("other weights", str(cm.exception))
            with self.assertRaises(sp.Error):
                run.checkpoint(5, {"w": torch.zeros(2)})     # steps never decrease
        with self.assertRaises(ValueError):
            sp.uniform(1, 0)
        with self.assertRaises(ValueError):
            self.open(threads=0)
        with self.open() as run:
            with self.assertRaises(ValueError) as cm:          # no default scheme
                spt.initialize(nn.Sequential(nn.Linear(2, 2), Custom()), run)
            self.assertIn("1.scale", str(cm.exception))
            with self.assertRaises(ValueError) as cm:          # an override matching nothing
                spt.initialize(nn.Linear(2, 2), run, overrides={"wieght": sp.zeros()})
            self.assertIn("wieght", str(cm.exception))
            e = nn.Embedding(4, 2, padding_idx=0)             # the padding row: a zeros range
            self.assertEqual(spt.default_scheme(e, "weight", e.weight, "weight"),
                             sp.ranges([(0, 2, sp.zeros()), (2, 6, sp.normal(0, 1))]))
            with self.assertRaises(TypeError):
                spt.initialize(nn.Linear(2, 2), run, overrides={"weight": 0.5})
            spt.initialize(nn.Sequential(nn.Linear(2, 2), Custom()), run,
                           overrides={"1.*": sp.trunc_normal(0, 1, -2, 2)})


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(2))


# ---- the README section, pasted -----------------------------------------------------

class TestReadme(Base):
    def test_pytorch_in_five_lines_works_when_pasted(self):
        readme = os.path.join(ROOT, "README.md")
        text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
        if "## PyTorch in five lines" not in text:
            self.skipTest("README.md has no 'PyTorch in five lines' section")
        section = text.split("## PyTorch in five lines", 1)[1]
        block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
        d = tempfile.mkdtemp(dir=self.dir)
        os.symlink(os.path.join(ROOT, "hooks"), os.path.join(d, "hooks"))
        os.symlink(BUILD, os.path.join(d, "build"))       # the tree's build/, as after make
        env = {k: v for k, v in ENV.items() if k != "SCRATCHPROOF_LIB"}
        r = subprocess.run(["bash", "-e", "-c", block], cwd=d, capture_output=True, text=True,
                           env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERIFIED", r.stdout)


# ---- the done-when flow ------------------------------------------------------------

class TestTorchTrainExample(Base):
    def test_honest_run_verifies_and_impostor_does_not(self):
        ex = os.path.join(ROOT, "examples", "torch_train.py")
        ledger, out = self.path("l"), self.path("ck")
        r = run_cmd(sys.executable, ex, "--ledger", ledger, "--key", self.key, "--seed", 7,
                    "--steps", 200, "--every", 50, "--out", out, "--quiet", "--stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = dict(line.split() for line in r.stdout.splitlines())
        self.assertIn("torch_train.hook_fraction", stats)
        files = sorted(os.listdir(out))
        for s in (50, 100, 150, 200):
            self.assertIn("step%06d.safetensors" % s, files)
            self.assertIn("step%06d.opt.safetensors" % s, files)
        final = os.path.join(out, "final.safetensors")
        r = self.verify(ledger, "--checkpoints", out, "--model", final)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        il, iout = self.path("impostor.l"), self.path("impostor")
        r = run_cmd(sys.executable, ex, "--ledger", il, "--key", self.key, "--seed", 7,
                    "--steps", 50, "--every", 25, "--out", iout, "--init-from", final, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        # --init-from: an honest genesis, then another model's weights before step 1. The
        # ledger alone cannot tell (every record is honest); replaying the first segment
        # does (tests/test_torch_replay.py).
        r = self.verify(il, "--checkpoints", iout, "--model", os.path.join(iout, "final.safetensors"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        kinds = [k for k, _ in read_ledger(il)]
        self.assertEqual(kinds, ["genesis", "checkpoint", "checkpoint", "final"])
        genesis = tensor_entries(read_ledger(il)[0][1], 4)
        self.assertTrue(all(e[3][0] != 0 for e in genesis.values()), "no tensor is external")

        # usage and unreadable input: exit 2, one line on stderr
        r = run_cmd(sys.executable, ex, "--ledger", il, "--key", self.key, "--seed", 7)
        self.assertEqual((r.returncode, len(r.stderr.splitlines())), (2, 1), r.stderr)
        r = run_cmd(sys.executable, ex, "--ledger", self.path("x"), "--key", self.key, "--seed", 7,
                    "--steps", 2, "--every", 1, "--out", self.path("o"), "--init-from", self.pub)
        self.assertEqual((r.returncode, len(r.stderr.splitlines())), (2, 1), r.stderr)
        r = run_cmd(sys.executable, ex, "--ledger", self.path("x"), "--key", self.pub, "--seed", 7,
                    "--steps", 2, "--every", 1, "--out", self.path("o"))
        self.assertEqual((r.returncode, len(r.stderr.splitlines())), (2, 1), r.stderr)


if __name__ == "__main__":
    unittest.main()
