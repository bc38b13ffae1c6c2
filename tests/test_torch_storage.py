#!/usr/bin/python3
"""test_torch_storage.py - where the binding's checkpoints go (issues 8 and 11): sharded
checkpoints in Hugging Face's layout written by Run.checkpoint/final(max_shard_size=...),
bound and verified by `scratchproof verify --checkpoints` and `--model`, a changed byte in
one shard named; write errors that say why (sp_st_write_err); and the device copy path
(_device.py: staging through reusable host buffers, as CUDA tensors are recorded), forced
on CPU with SP_FORCE_COPY_PATH=1: the same digests, records and files as the direct path,
non-contiguous tensors included. Run by tests/cli/torch_storage.sh.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import torch
import torch.nn as nn

import scratchproof as sp
import scratchproof.torch as spt
from scratchproof import _device
from scratchproof.run import SHARD_INDEX, shard_plan, shard_size

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPBIN = os.path.join(ROOT, os.environ.get("BUILD", "build"), "scratchproof")


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.LayerNorm(64), nn.Linear(64, 32))


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp_storage_")
        r = subprocess.run([SPBIN, "keygen", "-o", os.path.join(self.tmp, "k")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.key = os.path.join(self.tmp, "k.key")
        self.n = 0

    def tearDown(self):
        os.environ.pop("SP_FORCE_COPY_PATH", None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *names):
        return os.path.join(self.tmp, *names)

    def ledger(self):
        self.n += 1
        return self.p("r%d.ledger" % self.n)

    def verify(self, ledger, *extra):
        return subprocess.run([SPBIN, "verify", ledger, "--pubkey", self.p("k.pub")] + list(extra),
                              capture_output=True, text=True)

    def train(self, ledger, ck, final, steps=2, **kw):
        """A short AdamW run: a checkpoint every step into ck(step), final into final."""
        m = model()
        opt = torch.optim.AdamW(m.parameters(), lr=0.01)
        with sp.Run(ledger, self.key, 5, model_name="storage") as run:
            spt.initialize(m, run)
            for step in range(1, steps + 1):
                x = torch.arange(step, step + 128, dtype=torch.float32).reshape(2, 64) / 100
                run.commit_batch(step, x)
                loss = m(x).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                run.checkpoint(step, m, optimizer=opt, path=ck(step), **kw)
            run.final(steps, m, path=final, **kw)
        return m, opt


class Sharded(Base):
    def test_sharded_checkpoints_bind_and_verify(self):
        os.mkdir(self.p("ck"))
        os.mkdir(self.p("pub"))
        led = self.ledger()
        m, _ = self.train(led, lambda s: self.p("ck", "step%d" % s), self.p("pub", "final"),
                          max_shard_size="9KB")
        d = self.p("pub", "final")
        shards = ["model-%05d-of-00003.safetensors" % k for k in (1, 2, 3)]
        self.assertEqual(sorted(os.listdir(d)), shards + [SHARD_INDEX])
        idx = json.load(open(os.path.join(d, SHARD_INDEX)))
        params = dict(m.named_parameters())
        self.assertEqual(set(idx["weight_map"]), set(params))
        self.assertEqual(idx["metadata"]["total_size"],
                         sum(p.numel() * p.element_size() for p in params.values()))
        self.assertEqual(idx["weight_map"]["0.weight"], shards[0])   # 16 KiB: alone
        self.assertEqual(idx["weight_map"]["2.weight"], shards[1])
        self.assertEqual(idx["weight_map"]["2.bias"], shards[2])
        for s in shards:
            h = header(os.path.join(d, s))
            self.assertEqual(h["__metadata__"]["format"], "pt")
            self.assertEqual(h["__metadata__"]["scratchproof.kind"], "final")
            self.assertEqual({k for k in h if k != "__metadata__"},
                             {n for n, f in idx["weight_map"].items() if f == s})
        self.assertTrue(os.path.isfile(self.p("ck", "step1.opt.safetensors")))
        for model_arg in (d, os.path.join(d, SHARD_INDEX)):
            r = self.verify(led, "--checkpoints", self.p("ck"), "--model", model_arg)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("all 2 checkpoint records bound", r.stdout)
            self.assertRegex(r.stdout, r"bound to record .* \(final step 2\), all 6 tensors")
        loaded = spt.load_file(os.path.join(d, shards[1]))
        self.assertTrue(torch.equal(loaded["2.weight"], params["2.weight"].detach()))

        # one changed byte in shard 2: named with its shard and tensor
        bad = self.p("bad")
        shutil.copytree(d, bad)
        f = os.path.join(bad, shards[1])
        b = bytearray(open(f, "rb").read())
        b[-5] ^= 0x10
        open(f, "wb").write(b)
        r = self.verify(led, "--model", bad)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"changed tensor '2\.weight' in shard '%s'" % shards[1])
        # and in a sharded checkpoint: that checkpoint record is not bound
        f = self.p("ck", "step1", shards[1])
        b = bytearray(open(f, "rb").read())
        b[-5] ^= 0x10
        open(f, "wb").write(b)
        r = self.verify(led, "--checkpoints", self.p("ck"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("2.weight", r.stdout)

    def test_rolling_sharded_checkpoint_kept_and_rewritten(self):
        os.mkdir(self.p("ck"))
        led = self.ledger()
        with sp.Run(led, self.key, 5, keep_files=self.p("kept")) as run:
            m = model()
            spt.initialize(m, run)
            for step, limit in ((1, 10 ** 6), (2, 9000)):      # 1 shard, then 3
                run.commit_batch(step, b"x")
                with torch.no_grad():
                    m[0].weight.add_(0.5)
                run.checkpoint(step, m, path=self.p("ck", "rolling"), max_shard_size=limit)
            run.final(2, m)
        self.assertEqual(sorted(os.listdir(self.p("ck", "rolling"))),
                         ["model-0000%d-of-00003.safetensors" % k for k in (1, 2, 3)]
                         + [SHARD_INDEX])                        # the 1-shard file removed
        self.assertEqual(sorted(os.listdir(self.p("kept"))), ["step000001.rolling",
                                                              "step000002.rolling"])
        self.assertEqual(sorted(os.listdir(self.p("kept", "step000001.rolling"))),
                         ["model-00001-of-00001.safetensors", SHARD_INDEX])
        r = self.verify(led, "--checkpoints", self.p("kept"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all 2 checkpoint records bound", r.stdout)

    def test_shard_sizes_and_refusals(self):
        self.assertEqual(shard_size("5GB"), 5 * 10 ** 9)
        self.assertEqual(shard_size("2GiB"), 2 << 30)
        self.assertEqual(shard_size("500mb"), 500 * 10 ** 6)
        self.assertEqual(shard_size(4096), 4096)
        for bad in ("five", "0MB", 0, -1, "1XB"):
            with self.assertRaises((ValueError, TypeError)):
                shard_size(bad)
        self.assertEqual(shard_plan([5, 5, 20, 1, 1], 10), [[0, 1], [2], [3, 4]])
        with sp.Run(self.ledger(), self.key, 1) as run:
            m = model()
            spt.initialize(m, run)
            with self.assertRaisesRegex(ValueError, "directory of the shards"):
                run.final(0, m, path=self.p("f.safetensors"), max_shard_size="1MB")
            with self.assertRaisesRegex(sp.Error, "does not exist"):
                run.final(0, m, path=self.p("no", "such"), max_shard_size="1MB")
            with self.assertRaisesRegex(ValueError, "give path"):
                run.final(0, m, max_shard_size="1MB")
            with self.assertRaisesRegex(ValueError, "not a size"):
                run.final(0, m, path=self.p("d"), max_shard_size="lots")
            self.assertFalse(os.path.exists(self.p("d")))

    def test_write_errors_say_why(self):
        os.mkdir(self.p("x.safetensors"))                # a directory where the file goes
        with self.assertRaises(sp.Error) as cm:
            spt.save_file(self.p("x.safetensors"), {"w": torch.ones(2)})
        self.assertIn("x.safetensors", str(cm.exception))
        self.assertIn("Is a directory", str(cm.exception))


FIELDS = ("kind", "step", "tensors", "root", "tokens", "loss", "lr", "batches", "batches_digest",
          "optimizer_digest", "seed", "model_name")


class CopyPath(Base):
    """The path device (CUDA) tensors take, forced on CPU: nothing may change but speed."""

    def log(self, ledger):
        r = subprocess.run([SPBIN, "log", ledger, "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [{k: x.get(k) for k in FIELDS} for x in json.loads(r.stdout)["records"]]

    def run_both(self, **kw):
        """The same training run twice, direct and forced copy path: (ledgers, dirs)."""
        out = []
        for force in ("0", "1"):
            os.environ["SP_FORCE_COPY_PATH"] = force
            d = self.p("out" + force)
            os.mkdir(d)
            led = self.ledger()
            self.train(led, lambda s: os.path.join(d, "step%d%s" % (
                s, "" if kw else ".safetensors")), os.path.join(d, "final" if kw else
                                                            "final.safetensors"), steps=3, **kw)
            out.append((led, d))
        os.environ.pop("SP_FORCE_COPY_PATH")
        return out

    def same_files(self, a, b):
        for root, _, files in os.walk(a):
            for f in files:
                x = os.path.join(root, f)
                y = os.path.join(b, os.path.relpath(x, a))
                self.assertEqual(open(x, "rb").read(), open(y, "rb").read(), x)

    def test_digests_records_and_files_identical(self):
        (la, da), (lb, db) = self.run_both()
        self.assertEqual(self.log(la), self.log(lb))
        self.assertEqual(len(self.log(la)), 5)
        self.assertEqual(sorted(os.listdir(da)), sorted(os.listdir(db)))
        self.same_files(da, db)
        r = self.verify(lb, "--checkpoints", db, "--model", os.path.join(db, "final.safetensors"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all 3 checkpoint records bound", r.stdout)

    def test_sharded_through_the_copy_path(self):
        (la, da), (lb, db) = self.run_both(max_shard_size="9KB")
        self.assertEqual(self.log(la), self.log(lb))
        self.same_files(da, db)
        self.assertEqual(len([f for f in os.listdir(os.path.join(db, "final"))
                              if f.startswith("model-")]), 3)
        r = self.verify(lb, "--checkpoints", db, "--model", os.path.join(db, "final"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_non_contiguous_and_buffers_reused(self):
        base = torch.arange(48, dtype=torch.float32).reshape(6, 8)
        nc = {"w": base.t(), "v": base[:, ::2]}              # two non-contiguous views
        self.assertFalse(nc["w"].is_contiguous() or nc["v"].is_contiguous())
        led = self.ledger()
        with sp.Run(led, self.key, 1, force_copy_path=True) as run:
            run.genesis([(n, t, sp.external()) for n, t in nc.items()])
            run.commit_batch(1, base.t())
            run.checkpoint(1, nc)                            # streaming: two buffers
            held = run._stager.held_bytes()
            ptrs = [b.data_ptr() for b in run._stager._bufs if b is not None]
            self.assertEqual(len(ptrs), 3)                  # and the batch's
            run.commit_batch(2, b"x")
            run.checkpoint(2, nc, path=self.p("c2.safetensors"))   # a file: the same buffers
            self.assertEqual(run._stager.held_bytes(), held)
            self.assertEqual([b.data_ptr() for b in run._stager._bufs if b is not None], ptrs)
            run.final(2, nc, path=self.p("f.safetensors"))
        saved = spt.load_file(self.p("c2.safetensors"))
        for n, t in nc.items():
            self.assertTrue(torch.equal(saved[n], t), n)
        # the same tensors made contiguous, recorded directly: the same records
        led2 = self.ledger()
        cc = {n: t.contiguous() for n, t in nc.items()}
        with sp.Run(led2, self.key, 1, force_copy_path=False) as run:
            run.genesis([(n, t, sp.external()) for n, t in cc.items()])
            run.commit_batch(1, base.t().contiguous())
            run.checkpoint(1, cc)
            run.commit_batch(2, b"x")
            run.checkpoint(2, cc, path=self.p("d2.safetensors"))
            run.final(2, cc)
            with self.assertRaisesRegex(sp.TensorError, "not contiguous"):
                run.commit_batch(3, base.t())               # the direct path never copies
        self.assertEqual(self.log(led), self.log(led2))
        self.assertEqual(open(self.p("c2.safetensors"), "rb").read(),
                         open(self.p("d2.safetensors"), "rb").read())
        r = self.verify(led, "--checkpoints", self.tmp, "--model", self.p("f.safetensors"),
                        "--allow-incomplete")
        self.assertEqual(r.returncode, 1, r.stdout)          # external genesis: not from scratch
        self.assertIn("bound to record", r.stdout)

    def test_initialize_on_the_copy_path(self):
        ms = []
        for force in (False, True):
            m = model()
            with sp.Run(self.ledger(), self.key, 9, force_copy_path=force) as run:
                spt.initialize(m, run)
                run.final(0, m)
            ms.append(m)
        self.assertEqual(self.log(self.p("r1.ledger")), self.log(self.p("r2.ledger")))
        for (n, a), (_, b) in zip(ms[0].named_parameters(), ms[1].named_parameters()):
            self.assertTrue(torch.equal(a, b), n)
        self.assertEqual(self.verify(self.p("r2.ledger")).returncode, 0)

    def test_every_dtype_and_odd_shapes_staged(self):
        ts = {"z": torch.zeros(0, 5), "b": torch.tensor([True, False, True]),
              "h": torch.randn(3, 7).bfloat16(), "s": torch.tensor(3.5),
              "i8": torch.arange(9, dtype=torch.int8).reshape(3, 3).t(),
              "f64": torch.randn(5, dtype=torch.float64)[::2], "f16": torch.randn(2, 1, 3).half()}
        st = _device.Staged(list(ts.items()), "tensor", True)
        stager = _device.Stager()
        for keep in (False, True):
            st.digests = [None] * st.n
            st.hash(stager, list(range(st.n)), 1, keep)
            for (n, t), d in zip(ts.items(), st.digests):
                self.assertEqual(d, sp.tensor_digest(n, t.contiguous()), n)
        stager.release()

    def test_switches(self):
        t = torch.ones(2)
        os.environ["SP_FORCE_COPY_PATH"] = "1"
        self.assertTrue(_device.staged(t))
        self.assertFalse(_device.staged(t, force=False))
        os.environ["SP_FORCE_COPY_PATH"] = "0"
        self.assertFalse(_device.staged(t))
        self.assertTrue(_device.staged(t, force=True))
        self.assertFalse(_device.staged(t.numpy(), force=True))      # numpy: in place
        self.assertEqual(_device.Stager().pinned, torch.cuda.is_available())
        with self.assertRaises(TypeError):
            sp.Run(self.ledger(), self.key, 1, force_copy_path="yes")
        with sp.Run(self.ledger(), self.key, 1, force_copy_path=True) as run:
            with self.assertRaisesRegex(sp.TensorError, "dtype"):
                run.genesis([("c", torch.ones(2, dtype=torch.complex64), sp.external())])


if __name__ == "__main__":
    unittest.main()
