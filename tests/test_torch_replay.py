#!/usr/bin/python3
"""test_torch_replay.py - tests of the Python side of replay (SPEC.md 12, 3.6): the
binding's replay mode, config digests, batches_per_step, step seeds, loading optimizer
state back, and examples/torch_train.py re-executing its own segments bit for bit.

Run by tests/cli/torch_replay.sh (PYTHONPATH=hooks/python, SCRATCHPROOF_LIB, BUILD).
What is checked against what:
  - step seeds and config digests against hashlib (SPEC 2.0 tagged hash), and a fixed
    vector (SPEC 3.6.1);
  - every segment of an honest torch_train run replayed with the contract's flags, as
    `verify --replay` runs it: the replay ledger (read with an independent protobuf reader
    and with `scratchproof log --json`) has a genesis whose root is the start record's and a
    checkpoint whose root, per-tensor digests, optimizer digest (recomputed with hashlib
    from the replay's optimizer file) and batch chain equal the recorded end record's; the
    weight files are byte-identical;
  - the attacks: a segment replayed from the wrong optimizer state, and the --init-from
    splice (honest genesis, other weights before step 1), both diverge;
  - usage errors exit 2 with one line on stderr.
"""
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch
import torch.nn as nn

import scratchproof as sp
import scratchproof.torch as spt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_python_binding as tpb   # noqa: E402  (its ledger reader; no tests imported)
import digest_reference as dref     # noqa: E402

ROOT, SPBIN, ENV = tpb.ROOT, tpb.SPBIN, tpb.ENV
EXAMPLE = os.path.join(ROOT, "examples", "torch_train.py")
# What `verify --replay` is given for torch_train (plus this test's small-model flags).
REPLAY = ("--replay-from {weights} --replay-optimizer {optimizer} --first-step {first} "
          "--last-step {last} --seed {seed} --out {out}")
SMALL = ["--batch", "4", "--accum", "2"]
TORCH_DT = {1: torch.float32, 2: torch.float16, 3: torch.bfloat16}


def run_cmd(*args, env=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          env=env or ENV)


def tagged(tag, data):
    return hashlib.blake2b(tag.encode() + b"\0" + data, digest_size=32).digest()


def points(ledger):
    """The weight points (SPEC 12): [(seq, kind, step, body)] for genesis, checkpoints, final."""
    out = []
    for seq, (kind, body) in enumerate(tpb.read_ledger(ledger)):
        step = 0 if kind == "genesis" else body.get(1, [0])[0]
        out.append((seq, kind, step, body))
    return out


def root_of(kind, body):
    return body[{"genesis": 5, "checkpoint": 4, "final": 3}[kind]][0]


def digests_of(kind, body):
    ents = tpb.tensor_entries(body, {"genesis": 4, "checkpoint": 3, "final": 2}[kind])
    return {n: e[2] for n, e in ents.items()}


def write_genesis(ledger, path):
    """Regenerates the genesis as the verifier does, from the recorded seed and schemes
    (with sp.init_fill, not the trainer's code) and writes it as safetensors."""
    kind, g = tpb.read_ledger(ledger)[0]
    out = {}
    for name, (dt, shape, digest, init) in tpb.tensor_entries(g, 4).items():
        t = torch.empty(shape, dtype=TORCH_DT[dt])
        sp.init_fill(t, name, g[2][0], sp.Init(init[0], *init[1]))
        assert sp.tensor_digest(name, t) == digest, name
        out[name] = t
    spt.save_file(path, out)


def file_digests(path):
    return {n: sp.tensor_digest(n, t) for n, t in spt.load_file(path).items()}


def file_root(path):
    """SPEC 2.3 root of a safetensors file's tensors, with the hashlib reference."""
    ts = spt.load_file(path)
    return dref.checkpoint_root(sorted((n, tpb.ref_digest(n, t)) for n, t in ts.items()))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(16, 8)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 16)

    def forward(self, x):
        return self.fc(self.ln(self.emb(x)))


class Base(tpb.Base):
    pass


# ---- the binding -------------------------------------------------------------------

class TestDerivations(Base):
    def test_step_seed_vector_and_definition(self):
        # SPEC 3.6.1 vector (also computed by hashlib below, independently of C)
        self.assertEqual(sp.step_seed(7, 1), 11916738064072891113)
        self.assertEqual(sp.step_seed(0, 0), 11872658246396046154)
        self.assertEqual(sp.step_seed(2 ** 64 - 1, 2 ** 64 - 1), 9376680574976077285)
        for seed, step in ((7, 1), (0, 0), (2 ** 64 - 1, 2 ** 64 - 1), (123456789, 1000)):
            h = tagged("scratchproof/step-seed", seed.to_bytes(8, "little") + step.to_bytes(8, "little"))
            self.assertEqual(sp.step_seed(seed, step), int.from_bytes(h[:8], "little"))
        self.assertNotEqual(sp.step_seed(7, 1), sp.step_seed(7, 2))
        self.assertNotEqual(sp.step_seed(7, 1), sp.step_seed(8, 1))
        for bad in ((-1, 1), (1, 2 ** 64), (1.0, 1), (True, 1)):
            with self.assertRaises((TypeError, ValueError)):
                sp.step_seed(*bad)
        d = self.path("d")
        os.mkdir(d)
        with sp.Run.replay(d, seed=7) as run:
            g = run.step_generator(5)
            want = torch.rand(4, generator=torch.Generator().manual_seed(sp.step_seed(7, 5)))
            self.assertTrue(torch.equal(torch.rand(4, generator=g), want))
            self.assertEqual(run.step_seed(5), sp.step_seed(7, 5))

    def test_config_digest_bytes_or_path_recorded(self):
        cfg = b'{"lr": 0.003}'
        p = self.path("cfg.json")
        with open(p, "wb") as f:
            f.write(cfg)
        want = tagged("scratchproof/config", cfg)
        self.assertEqual(sp.config_digest(cfg), want)
        self.assertEqual(sp.config_digest(p), want)
        self.assertEqual(sp.config_digest(bytearray(cfg)), want)
        with self.assertRaises(sp.Error):
            sp.config_digest(self.path("missing"))
        with self.assertRaises(TypeError):
            sp.config_digest(42)
        ledger = self.path("l")
        with sp.Run(ledger, key=self.key, seed=1, config=p, batches_per_step=3) as run:
            spt.initialize(Tiny(), run)
        g = tpb.read_ledger(ledger)[0][1]
        self.assertEqual(g[3][0], want)
        self.assertEqual(g[8][0], 3)
        with self.assertRaises(ValueError):
            sp.Run(self.path("l"), key=self.key, seed=1, config=cfg, config_digest=want)
        for bad in (0, 2 ** 32, -1):
            with self.assertRaises(ValueError):
                sp.Run(self.path("l"), key=self.key, seed=1, batches_per_step=bad)
        ledger = self.path("l")                     # None records nothing (0, meaning 1)
        with sp.Run(ledger, key=self.key, seed=1) as run:
            spt.initialize(Tiny(), run)
            self.assertEqual(run.batches_per_step, 1)
        self.assertNotIn(8, tpb.read_ledger(ledger)[0][1])


class TestReplayRun(Base):
    def test_replay_run_writes_an_ephemerally_signed_scratch_ledger(self):
        d = self.path("out")
        os.mkdir(d)
        with sp.Run.replay(d, seed=9, model_name="m", config=b"c", batches_per_step=2) as run:
            self.assertTrue(run.is_replay)
            self.assertEqual(run.ledger, os.path.join(d, sp.REPLAY_LEDGER))
            self.assertEqual(run.replay_checkpoint_path(12), os.path.join(d, "step000012.safetensors"))
            spt.start_replay(Tiny(), run, {n: p.detach().clone() for n, p in Tiny().named_parameters()})
        g = tpb.read_ledger(os.path.join(d, "replay.ledger"))[0][1]
        self.assertEqual((g[1][0], g[2][0], g[3][0], g[8][0]),
                         (b"m", 9, tagged("scratchproof/config", b"c"), 2))
        self.assertTrue(all(e[3][0] == 0 for e in tpb.tensor_entries(g, 4).values()))
        with open(self.pub) as f:
            team = f.read()
        self.assertNotIn(g[7][0].hex(), team)
        d2 = self.path("out")
        os.mkdir(d2)
        with sp.Run.replay(d2, seed=9, model_name="m") as run:
            spt.start_replay(Tiny(), run, {n: p.detach().clone() for n, p in Tiny().named_parameters()})
        g2 = tpb.read_ledger(os.path.join(d2, "replay.ledger"))[0][1]
        self.assertNotEqual(g[7][0], g2[7][0], "each replay signs with a fresh key")
        d3 = self.path("out")
        os.mkdir(d3)
        with sp.Run(os.path.join(d3, "x.ledger"), None, 9, replay=True) as run:
            self.assertEqual(run.replay_checkpoint_path(3), os.path.join(d3, "step000003.safetensors"))
        # it does not verify as the team's run
        r = run_cmd(SPBIN, "verify", os.path.join(d2, "replay.ledger"), "--pubkey", self.pub)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"FAIL +signature +record 0: no signature verifies")

    def test_replay_misuse(self):
        d = self.path("out")
        with self.assertRaises(sp.Error):                # no such directory
            sp.Run.replay(d, seed=1)
        os.mkdir(d)
        with self.assertRaises(ValueError):
            sp.Run(os.path.join(d, "x.ledger"), key=self.key, seed=1, replay=True)
        with self.assertRaises(TypeError):
            sp.Run(os.path.join(d, "x.ledger"), key=None, seed=1)
        with self.assertRaises(ValueError):
            sp.Run(os.path.join(d, "x.ledger"), key=None, seed=1, replay=True, resume=True)
        with sp.Run(self.path("l"), key=self.key, seed=1) as run:
            with self.assertRaises(sp.StateError):
                spt.start_replay(Tiny(), run, {})
            with self.assertRaises(sp.StateError):
                run.replay_checkpoint_path(1)
        with sp.Run.replay(d, seed=1) as run:
            m = Tiny()
            good = {n: p.detach().clone() for n, p in m.named_parameters()}
            bad = dict(good, **{"fc.bias": good["fc.bias"].double()})
            with self.assertRaises(ValueError):          # replays never cast
                spt.start_replay(m, run, bad)
            with self.assertRaises(ValueError):
                spt.start_replay(m, run, dict(good, extra=torch.zeros(1)))
            opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
            m(torch.arange(4)).sum().backward()
            opt.step()
            with self.assertRaises(ValueError):          # genesis wants a fresh optimizer
                spt.start_replay(m, run, good, optimizer=opt, optimizer_state="")
            with self.assertRaises(ValueError):          # state but no optimizer
                spt.start_replay(m, run, good, optimizer_state={"opt.fc.bias.x": torch.zeros(1)})
            spt.start_replay(m, run, good)
        with self.assertRaises(sp.StateError):           # the scratch ledger is new or refused
            sp.Run.replay(d, seed=1)

    def test_optimizer_state_loads_back_exactly(self):
        for make in (lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.95)),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
                     lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True)):
            torch.manual_seed(1)
            a = Tiny()
            oa = make(a.parameters())
            x = torch.arange(12).reshape(3, 4) % 16

            def step(m, o):
                o.zero_grad()
                m(x).logsumexp(-1).mean().backward()
                o.step()
            for _ in range(3):
                step(a, oa)
            f = self.path("opt.safetensors")
            named = list(a.named_parameters())
            spt.save_file(f, dict(spt.optimizer_tensors(oa, named)))
            b = Tiny()
            spt.load_weights(b, {n: p.detach().clone() for n, p in named})
            ob = make(b.parameters())
            self.assertEqual(spt.load_optimizer_state(ob, b, f), len(spt.optimizer_tensors(oa, named)))
            nb = list(b.named_parameters())
            ra = dref.checkpoint_root(sorted((n, tpb.ref_digest(n, t)) for n, t in spt.optimizer_tensors(oa, named)))
            rb = dref.checkpoint_root(sorted((n, tpb.ref_digest(n, t)) for n, t in spt.optimizer_tensors(ob, nb)))
            self.assertEqual(ra, rb, type(oa).__name__)
            for _ in range(2):
                step(a, oa)
                step(b, ob)
            for (n, p), (_, q) in zip(named, nb):
                self.assertTrue(torch.equal(p, q), "%s %s" % (type(oa).__name__, n))
        with self.assertRaises(ValueError):
            spt.load_optimizer_state(ob, b, {"opt.nothere.exp_avg": torch.zeros(1)})
        with self.assertRaises(ValueError):
            spt.load_optimizer_state(ob, b, {"fc.weight": torch.zeros(1)})


# ---- torch_train replays its own segments ---------------------------------------------

class TestTorchTrainReplay(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ledger = os.path.join(cls.dir, "run.ledger")
        cls.ck = os.path.join(cls.dir, "ck")
        # 25 steps, checkpoints at 10 and 20, final at 25: segments 1..10 (from the genesis,
        # fresh AdamW), 11..20, 21..25 (ending at the final record)
        r = run_cmd(sys.executable, EXAMPLE, "--ledger", cls.ledger, "--key", cls.key, "--seed", 11,
                    "--steps", 25, "--every", 10, "--out", cls.ck, "--quiet", *SMALL)
        assert r.returncode == 0, r.stderr
        cls.genesis = os.path.join(cls.dir, "genesis.safetensors")
        write_genesis(cls.ledger, cls.genesis)

    def start_files(self, pts, i, ckdir):
        """{weights} and {optimizer} for segment i, found by content as verify does."""
        seq, kind, step, body = pts[i]
        if kind == "genesis":
            return self.genesis, ""
        root, opt = root_of(kind, body), body[5][0]
        files = [os.path.join(ckdir, f) for f in sorted(os.listdir(ckdir)) if f.endswith(".safetensors")]
        w = next(f for f in files if not f.endswith(".opt.safetensors") and file_root(f) == root)
        o = next(f for f in files if f.endswith(".opt.safetensors") and file_root(f) == opt)
        return w, o

    def replay(self, weights, optimizer, first, last, seed=11, extra=SMALL, env=None):
        """Runs the replay command as verify --replay does: the template split into argv
        without a shell (shlex here), placeholders substituted inside each word."""
        out = tempfile.mkdtemp(dir=self.dir, prefix="replay.")
        os.chmod(out, 0o700)
        subst = {"weights": weights, "optimizer": optimizer, "first": str(first),
                 "last": str(last), "seed": str(seed), "out": out}
        argv = [w.format(**subst) for w in shlex.split(REPLAY)]
        r = run_cmd(sys.executable, EXAMPLE, *argv, *extra, env=env)
        return r, out

    def check_replay(self, out, start, end, first, last):
        rl = os.path.join(out, "replay.ledger")
        got = points(rl)
        self.assertEqual([k for _, k, _, _ in got], ["genesis", "checkpoint"])
        (_, _, _, g), (_, _, cstep, c) = got
        self.assertEqual(root_of("genesis", g), root_of(start[1], start[3]), "start weights")
        self.assertEqual(cstep, last)
        self.assertEqual(c[7][0], end[3][{"checkpoint": 7, "final": 5}[end[1]]][0])
        self.assertEqual(c[7][0], (last - first + 1) * 2, "steps x batches_per_step")
        self.assertEqual(c[6][0], end[3][{"checkpoint": 6, "final": 4}[end[1]]][0], "batches")
        self.assertEqual(digests_of("checkpoint", c), digests_of(end[1], end[3]))
        self.assertEqual(root_of("checkpoint", c), root_of(end[1], end[3]))
        w = os.path.join(out, "step%06d.safetensors" % last)
        ow = os.path.join(out, "step%06d.opt.safetensors" % last)
        self.assertEqual(file_root(w), root_of("checkpoint", c))
        self.assertEqual(file_root(ow), c[5][0], "optimizer file = optimizer digest (hashlib)")
        if end[1] == "checkpoint":
            self.assertEqual(c[5][0], end[3][5][0], "optimizer digest")
            with open(w, "rb") as f1, open(os.path.join(self.ck, "step%06d.safetensors" % last), "rb") as f2:
                self.assertEqual(f1.read(), f2.read(), "the replayed file is byte-identical")
        log = json.loads(run_cmd(SPBIN, "log", rl, "--json").stdout)
        self.assertEqual([(x["kind"], x["step"]) for x in log["records"]],
                         [("genesis", 0), ("checkpoint", last)])
        self.assertEqual(log["records"][1]["root"], root_of(end[1], end[3]).hex())
        self.assertEqual(log["records"][1]["batches"], (last - first + 1) * 2)

    def test_every_segment_replays_bit_for_bit(self):
        pts = points(self.ledger)
        self.assertEqual([(k, s) for _, k, s, _ in pts],
                         [("genesis", 0), ("checkpoint", 10), ("checkpoint", 20), ("final", 25)])
        for i in range(len(pts) - 1):
            first, last = pts[i][2] + 1, pts[i + 1][2]
            w, o = self.start_files(pts, i, self.ck)
            r, out = self.replay(w, o, first, last)
            self.assertEqual(r.returncode, 0, r.stderr)
            with self.subTest(segment=i):
                self.check_replay(out, pts[i], pts[i + 1], first, last)

    def test_wrong_optimizer_state_diverges(self):
        pts = points(self.ledger)
        w, _ = self.start_files(pts, 1, self.ck)          # weights of step 10 ...
        _, o20 = self.start_files(pts, 2, self.ck)        # ... AdamW state of step 20
        r, out = self.replay(w, o20, 11, 20)
        self.assertEqual(r.returncode, 0, r.stderr)
        (_, _, _, g), (_, _, _, c) = points(os.path.join(out, "replay.ledger"))
        self.assertEqual(root_of("genesis", g), root_of("checkpoint", pts[1][3]))
        self.assertNotEqual(c[5][0], pts[2][3][5][0], "optimizer digest must differ")
        self.assertNotEqual(root_of("checkpoint", c), root_of("checkpoint", pts[2][3]))
        self.assertEqual(c[6][0], pts[2][3][6][0], "same batches all the same")
        # another --seed: other dropout masks, other weights
        r, out = self.replay(w, self.start_files(pts, 1, self.ck)[1], 11, 20, seed=12)
        self.assertEqual(r.returncode, 0, r.stderr)
        c = points(os.path.join(out, "replay.ledger"))[1][3]
        self.assertNotEqual(root_of("checkpoint", c), root_of("checkpoint", pts[2][3]))

    def test_init_from_impostor_verifies_but_does_not_replay(self):
        # an honest genesis (seed 11: the same as the honest run's), then the honest run's
        # final weights before step 1, or before step 15; every record signed honestly
        for splice, steps, bad_seg in ((None, 10, "steps 1..10"), (15, 20, "steps 11..20")):
            il, iout = self.path("imp.ledger"), self.path("imp")
            extra = ["--splice-at", str(splice)] if splice else []
            r = run_cmd(sys.executable, EXAMPLE, "--ledger", il, "--key", self.key, "--seed", 11,
                        "--steps", steps, "--every", 10, "--out", iout, "--quiet",
                        "--init-from", os.path.join(self.ck, "final.safetensors"), *extra, *SMALL)
            self.assertEqual(r.returncode, 0, r.stderr)
            pts = points(il)
            self.assertEqual(root_of("genesis", pts[0][3]), root_of("genesis", points(self.ledger)[0][3]))
            r = self.verify(il, "--checkpoints", iout, "--model", os.path.join(iout, "final.safetensors"))
            self.assertEqual(r.returncode, 0, "every record is honest: " + r.stdout + r.stderr)
            rc, d, reps = self.verify_replay(il, iout, "--segments", "all")
            self.assertEqual(rc, 1, json.dumps(d, indent=1))
            self.assertFalse(d["verified"])
            self.assertEqual([c["name"] for c in d["checks"] if not c["ok"]], ["replay"])
            bad = [c for c in reps if not c["ok"]]
            self.assertEqual(len(bad), 1, reps)
            self.assertIn(bad_seg, bad[0]["detail"])
            self.assertIn("diverged", bad[0]["detail"])
            self.assertEqual(len([c for c in reps if c["ok"] and "bit for bit" in c["detail"]]),
                             steps // 10 - 1, reps)

    # ---- end to end: scratchproof verify --replay runs torch_train ------------------

    def verify_replay(self, ledger, ckdir, *extra):
        cmd = "%s '%s' %s %s" % (sys.executable, EXAMPLE, REPLAY, " ".join(SMALL))
        r = self.verify(ledger, "--checkpoints", ckdir, "--replay", cmd, "--json", *extra)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            self.fail("verify --json printed no JSON: " + r.stdout + r.stderr)
        return r.returncode, d, [c for c in d["checks"] if c["name"] == "replay"]

    def test_verify_replay_all_segments_bit_for_bit(self):
        rc, d, reps = self.verify_replay(self.ledger, self.ck, "--segments", "all",
                                         "--model", os.path.join(self.ck, "final.safetensors"),
                                         "--config", os.path.join(self.ck, "config.json"))
        self.assertEqual(rc, 0, json.dumps(d, indent=1))
        self.assertTrue(d["verified"])
        self.assertEqual([c["ok"] for c in reps], [True] * 3, reps)
        for c, steps in zip(reps, ("1..10", "11..20", "21..25")):
            self.assertIn("steps %s" % steps, c["detail"])
            self.assertIn("bit for bit", c["detail"])
        names = {c["name"] for c in d["checks"]}
        self.assertTrue({"batches", "config", "replay-choice"} <= names, names)

    def test_verify_replay_calibrate_honours_thread_count(self):
        rc, d, _ = self.verify_replay(self.ledger, self.ck, "--calibrate", "--segments", "1")
        self.assertEqual(rc, 0, json.dumps(d, indent=1))
        cal = [c for c in d["checks"] if c["name"] == "calibrate" and "segment 1 " in c["detail"]]
        self.assertEqual(len(cal), 1, d["checks"])
        self.assertIn("e = 0 at 1 thread", cal[0]["detail"])

    def test_replay_usage_errors_exit_2(self):
        pts = points(self.ledger)
        w, o = self.start_files(pts, 1, self.ck)
        cases = [
            ["--replay-from", w, "--replay-optimizer", o, "--first-step", 11, "--seed", 11,
             "--out", self.dir],                                         # no --last-step
            ["--replay-from", w, "--replay-optimizer", o, "--first-step", 11, "--last-step", 20,
             "--seed", 11, "--out", self.dir, "--ledger", self.path("l")],  # a training flag
            ["--replay-from", self.path("missing"), "--replay-optimizer", "", "--first-step", 1,
             "--last-step", 2, "--seed", 11, "--out", self.dir],
            ["--replay-from", o, "--replay-optimizer", "", "--first-step", 1, "--last-step", 2,
             "--seed", 11, "--out", tempfile.mkdtemp(dir=self.dir)],    # not the model's weights
        ]
        for args in cases:
            r = run_cmd(sys.executable, EXAMPLE, *args)
            self.assertEqual((r.returncode, len(r.stderr.splitlines())), (2, 1),
                             "%s: %s" % (args, r.stderr))
        r, out = self.replay(w, o, 11, 20, env=dict(ENV, SP_REPLAY_THREADS="two"))
        self.assertEqual((r.returncode, len(r.stderr.splitlines())), (2, 1), r.stderr)
        self.assertIn("SP_REPLAY_THREADS", r.stderr)

    def test_three_seeds_give_distinct_honest_runs(self):
        roots = []
        for seed in (1, 2, 3):
            l, d = self.path("s.ledger"), self.path("s")
            r = run_cmd(sys.executable, EXAMPLE, "--ledger", l, "--key", self.key, "--seed", seed,
                        "--steps", 4, "--every", 2, "--out", d, "--quiet", *SMALL)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.verify(l, "--checkpoints", d, "--model", os.path.join(d, "final.safetensors"))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(d, "config.json"), "rb") as f:   # what verify --config checks
                self.assertEqual(points(l)[0][3][3][0], tagged("scratchproof/config", f.read()))
            roots.append(tuple(root_of(k, b) for _, k, _, b in points(l)))
        self.assertEqual(len({r[0] for r in roots}), 3)
        self.assertEqual(len({r[-1] for r in roots}), 3)


# ---- the README subsection, pasted ------------------------------------------------------

class TestReadmeReplay(Base):
    def test_make_your_trainer_replayable_works_when_pasted(self):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("### Make your trainer replayable", text)
        section = text.split("### Make your trainer replayable", 1)[1].split("\n## ", 1)[0]
        blocks = [b.split("\n```", 1)[0] for b in section.split("```sh\n")[1:]]
        self.assertEqual(len(blocks), 2, "a C block and a PyTorch block")
        d = tempfile.mkdtemp(dir=self.dir)
        for sub in ("hooks", "attest"):
            os.symlink(os.path.join(ROOT, sub), os.path.join(d, sub))
        os.symlink(tpb.BUILD, os.path.join(d, "build"))     # the tree's build/, as after make
        env = {k: v for k, v in ENV.items() if k not in ("SCRATCHPROOF_LIB", "PYTHONPATH")}
        for block, segments in zip(blocks, (4, 2)):        # one directory: they coexist
            r = subprocess.run(["bash", "-e", "-c", block], cwd=d, capture_output=True,
                               text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("VERIFIED", r.stdout)
            self.assertEqual(len([x for x in r.stdout.splitlines() if " replay " in x and "bit for bit" in x]),
                             segments, r.stdout)


if __name__ == "__main__":
    unittest.main()
