#!/usr/bin/python3
"""test_torch_trainer.py - the trainer's hand (issue 11, SPEC.md 3.6): the model's own
initialisation recorded (nanoGPT's recipe and a Hugging Face-style _init_weights, with no
overrides), tied-alias overrides, a custom norm class named as such, wrapper prefixes
(DDP's module., torch.compile's _orig_mod.) normalised at record time, a repeated checkpoint
at a resume step, last_step and the step counter, keep_files for a rolling checkpoint.
Run by tests/cli/torch_trainer.sh. Every ledger is checked with `scratchproof verify`.
"""
import math
import os
import subprocess
import sys
import tempfile
import unittest

import torch
import torch.nn as nn

import scratchproof as sp
import scratchproof.torch as spt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPBIN = os.path.join(ROOT, os.environ.get("BUILD", "build"), "scratchproof")


class LayerNorm(nn.Module):           # nanoGPT's own LayerNorm (optional bias)
    def __init__(self, n, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return nn.functional.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1 = LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_c_proj = nn.Linear(4 * d, d)


class GPT(nn.Module):
    """nanoGPT's initialisation recipe, written as nanoGPT writes it."""

    def __init__(self, vocab=512, d=64, layers=2):
        super().__init__()
        self.n_layer = layers
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(128, d)
        self.h = nn.ModuleList([Block(d) for _ in range(layers)])
        self.ln_f = LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.wte.weight = self.lm_head.weight          # tied
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)


class HFModel(nn.Module):
    """A Hugging Face-style model: _init_weights with .data.normal_/zero_/fill_."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.dense = nn.Linear(256, 256)
        self.norm = nn.LayerNorm(256)
        self.out = nn.Linear(256, 10)

    def _init_weights(self, module):
        std = 0.03
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)


def std_ok(t, want):
    return abs(float(t.detach().double().std()) / want - 1.0) < 0.01


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp_trainer_")
        r = subprocess.run([SPBIN, "keygen", "-o", os.path.join(self.tmp, "k")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.key = os.path.join(self.tmp, "k.key")
        self.n = 0

    def ledger(self):
        self.n += 1
        return os.path.join(self.tmp, "r%d.ledger" % self.n)

    def verify(self, ledger, *extra):
        r = subprocess.run([SPBIN, "verify", ledger, "--pubkey", os.path.join(self.tmp, "k.pub")]
                           + list(extra), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class OwnInit(Base):
    def test_nanogpt_recipe_no_overrides(self):
        rec = spt.own_init()
        with rec:
            torch.manual_seed(0)
            model = GPT(vocab=2048, d=64, layers=2)
        led = self.ledger()
        with sp.Run(led, self.key, 5, model_name="gpt") as run:
            s = spt.initialize(model, run, own_init=rec)
            run.final(0, model)
        self.verify(led)
        self.assertEqual(s["wte.weight"], sp.normal(0, 0.02))
        self.assertNotIn("lm_head.weight", s)                 # tied: recorded once
        self.assertEqual(s["h.0.c_proj.weight"], sp.normal(0, 0.02 / math.sqrt(4)))
        self.assertEqual(s["h.1.c_attn.bias"], sp.zeros())
        self.assertEqual(s["h.0.ln_1.weight"], sp.ones())     # custom LayerNorm: torch.ones
        self.assertEqual(s["ln_f.bias"], sp.zeros())
        self.assertTrue(std_ok(model.wte.weight, 0.02))
        self.assertTrue(std_ok(model.h[0].c_proj.weight, 0.01))
        self.assertTrue(std_ok(model.h[1].c_fc.weight, 0.02))
        self.assertTrue(model.lm_head.weight is model.wte.weight)

    def test_hf_init_weights_no_overrides(self):
        model = HFModel()
        led = self.ledger()
        with sp.Run(led, self.key, 6) as run:
            s = spt.initialize(model, run, own_init=True)
            run.final(0, model)
        self.verify(led)
        self.assertEqual(s["embed.weight"], sp.normal(0, 0.03))
        self.assertEqual(s["dense.bias"], sp.zeros())
        self.assertEqual(s["norm.weight"], sp.ones())
        self.assertTrue(std_ok(model.embed.weight, 0.03))
        self.assertTrue(std_ok(model.dense.weight, 0.03))

    def test_unexpressible_calls_named(self):
        class Orth(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Linear(8, 8)
                self.e = nn.Embedding(10, 4, padding_idx=0)
        m = Orth()
        with sp.Run(self.ledger(), self.key, 1) as run:
            with self.assertRaisesRegex(ValueError, "eye_"):
                spt.initialize(m, run, own_init=lambda mod: nn.init.eye_(mod.w.weight))
            with self.assertRaisesRegex(ValueError, "not one contiguous range"):
                spt.initialize(m, run, own_init=lambda mod: mod.w.weight.data[:, :3].zero_())

    def test_tied_alias_override_and_custom_norm_name(self):
        class Tied(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(50, 8)
                self.head = nn.Linear(8, 50, bias=False)
                self.emb.weight = self.head.weight
                self.ln = LayerNorm(8)
        m = Tied()
        led = self.ledger()
        with sp.Run(led, self.key, 2) as run:
            with self.assertRaisesRegex(ValueError, r"test_torch_trainer\.LayerNorm \(not a torch"):
                spt.initialize(m, run)
            s = spt.initialize(m, run, overrides={"head.weight": sp.normal(0, 0.02),
                                                  "ln.*": sp.ones()})
            run.final(0, m)
        self.verify(led)
        self.assertEqual(s["emb.weight"], sp.normal(0, 0.02))


class RNNLM(nn.Module):               # a char-RNN: orthogonal recurrent weights
    def __init__(self, vocab=64, d=32, h=48):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.rnn = nn.LSTM(d, h, num_layers=2)
        self.head = nn.Linear(h, vocab)
        for name, p in self.rnn.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
            elif "weight_ih" in name:
                nn.init.orthogonal_(p, gain=nn.init.calculate_gain("tanh"))
            else:
                nn.init.zeros_(p)
        nn.init.normal_(self.emb.weight, 0.0, 0.1)


class Schemes(Base):
    def test_rnn_orthogonal_no_overrides(self):
        with spt.own_init() as rec:
            model = RNNLM()
        led = self.ledger()
        with sp.Run(led, self.key, 11, model_name="rnn") as run:
            s = spt.initialize(model, run, own_init=rec)
            run.final(0, model)
        self.verify(led)
        self.assertEqual(s["rnn.weight_hh_l0"], sp.orthogonal(1.0).bind((192, 48)))
        self.assertEqual(s["rnn.weight_ih_l1"], sp.orthogonal(5.0 / 3).bind((192, 48)))
        self.assertEqual(s["rnn.bias_hh_l1"], sp.zeros())
        # orthonormal columns (tall 192 x 48) scaled by the gain, as torch's own
        for name, gain in (("weight_hh_l0", 1.0), ("weight_hh_l1", 1.0), ("weight_ih_l1", 5.0 / 3)):
            w = getattr(model.rnn, name).detach().double()
            err = (w.T @ w / gain ** 2 - torch.eye(48, dtype=torch.float64)).abs().max()
            self.assertLess(float(err), 1e-6, name)
            self.assertTrue(torch.allclose(w.norm(dim=0), torch.full((48,), gain,
                                                                      dtype=torch.float64),
                                           atol=1e-6))
        # a wide matrix: orthonormal rows, like torch.nn.init.orthogonal_
        w = torch.empty(20, 70)
        sp.init_fill(w, "wide", 3, sp.orthogonal(0.5))
        ref = torch.empty(20, 70)
        nn.init.orthogonal_(ref, gain=0.5)
        for x in (w.double(), ref.double()):
            self.assertLess(float((x @ x.T / 0.25 - torch.eye(20, dtype=torch.float64))
                                  .abs().max()), 1e-6)
            self.assertAlmostEqual(float(x.norm(dim=1).mean()), 0.5, places=6)
        # the same normals factorised by torch in double give the same matrix
        g = torch.empty(40, 25, dtype=torch.float32)
        q = torch.empty(40, 25)
        sp.init_fill(q, "m", 4, sp.orthogonal(1.0))
        sp.init_fill(g, "m", 4, sp.normal(0.0, 1.0))   # the F32 rounding of the same normals
        gd = g.double()
        tq, tr = torch.linalg.qr(gd)
        tq = tq * torch.sign(torch.diagonal(tr))
        self.assertLess(float((tq - q.double()).abs().max()), 1e-5)

    def test_padded_vocab_and_padding_idx_no_overrides(self):
        class LM(nn.Module):               # nanoGPT-style: vocab 50257 padded to 50304 (scaled down)
            def __init__(self, vocab=1000, padded=1024, d=16):
                super().__init__()
                self.vocab = vocab
                self.wte = nn.Embedding(padded, d)
                self.tok = nn.Embedding(40, d, padding_idx=0)
                self.head = nn.Linear(d, padded, bias=False)
                self.apply(self._init_weights)

            def _init_weights(self, m):
                if isinstance(m, (nn.Linear, nn.Embedding)) and m is not self.tok:
                    nn.init.normal_(m.weight, mean=0.0, std=0.02)
                    m.weight.data[self.vocab:].zero_()          # the padding rows
        with spt.own_init() as rec:
            model = LM()
        led = self.ledger()
        with sp.Run(led, self.key, 9, model_name="padded") as run:
            s = spt.initialize(model, run, own_init=rec)
            run.final(0, model)
        self.verify(led)
        want = sp.ranges([(0, 1000 * 16, sp.normal(0, 0.02)), (1000 * 16, 24 * 16, sp.zeros())])
        self.assertEqual(s["wte.weight"], want)
        self.assertEqual(s["head.weight"], want)
        self.assertEqual(s["tok.weight"], sp.ranges([(0, 16, sp.zeros()),
                                                     (16, 39 * 16, sp.normal(0, 1))]))
        self.assertTrue(std_ok(model.wte.weight[:1000], 0.02))
        self.assertEqual(float(model.wte.weight[1000:].abs().sum()), 0.0)
        self.assertEqual(float(model.tok.weight[0].abs().sum()), 0.0)
        self.assertLess(abs(float(model.tok.weight[1:].std()) - 1.0), 0.1)
        # the normal rows are those the whole tensor would have: the keystream position is i
        whole = torch.empty(1024, 16)
        sp.init_fill(whole, "wte.weight", 9, sp.normal(0, 0.02))
        self.assertTrue(torch.equal(whole[:1000], model.wte.weight.detach()[:1000]))
        # the CLI's row-range rules give the same bytes, and record genesis verifies them
        out = os.path.join(self.tmp, "pad.safetensors")
        rules = ["--scheme", "wte.weight=normal:0:0.02", "--scheme", "wte.weight[1000:)=zeros"]
        r = subprocess.run([SPBIN, "init", "--seed", "9", "--tensor", "wte.weight 1024x16", "-o", out]
                           + rules, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(torch.equal(spt.load_file(out)["wte.weight"], model.wte.weight.detach()))
        led2 = self.ledger()
        r = subprocess.run([SPBIN, "record", "genesis", "--ledger", led2, "--key", self.key, "--seed",
                            "9", out] + rules, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.verify(led2, "--allow-incomplete")
        r = subprocess.run([SPBIN, "log", led2, "--json"], capture_output=True, text=True)
        import json
        ir = json.loads(r.stdout)["records"][0]["init_ranges"]
        self.assertEqual(ir, [{"tensor": "wte.weight", "ranges": [
            {"first": 0, "count": 16000, "kind": 4, "scheme": "normal:0:0.02"},
            {"first": 16000, "count": 384, "kind": 1, "scheme": "zeros"}]}])
        r = subprocess.run([SPBIN, "log", led], capture_output=True, text=True)
        self.assertIn("tensor 'wte.weight': 2 init ranges: [0, 16000) normal:0:0.02, "
                      "[16000, 16384) zeros", r.stdout)

    def test_run_genesis_takes_ranges(self):
        # Run.genesis itself records per-range schemes (sp_run_genesis_ranges), no initialize
        r = sp.ranges([(0, 12, sp.normal(0, 0.02)), (12, 4, sp.zeros())])
        w, b = torch.empty(4, 4), torch.empty(3)
        sp.init_fill(w, "w", 21, r)
        sp.init_fill(b, "b", 21, sp.ones())
        led = self.ledger()
        with sp.Run(led, self.key, 21, model_name="ranges") as run:
            run.genesis([("w", w, r), ("b", b, sp.ones())])
            run.final(0, {"w": w, "b": b})
        self.verify(led)
        w[3, 3] = 1.0                       # a padding element that is not zero: refused at verify
        led2 = self.ledger()
        with sp.Run(led2, self.key, 21, model_name="ranges") as run:
            run.genesis([("w", w, r), ("b", b, sp.ones())])
            run.final(0, {"w": w, "b": b})
        p = subprocess.run([SPBIN, "verify", led2, "--pubkey", os.path.join(self.tmp, "k.pub")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("'w'", p.stdout)

    def test_ranges_api(self):
        r = sp.ranges([(0, 4, sp.zeros()), (4, 4, sp.zeros()), (8, 2, sp.ones())])
        self.assertEqual(r.parts, ((0, 8, sp.zeros()), (8, 2, sp.ones())))
        self.assertEqual(sp.ranges([(0, 5, sp.ones())]), sp.ones())
        for bad in ([(1, 4, sp.zeros())], [(0, 4, sp.zeros()), (5, 1, sp.ones())],
                    [(0, 0, sp.zeros())], [(0, 2, sp.external()), (2, 2, sp.ones())]):
            with self.assertRaises(ValueError):
                sp.ranges(bad)
        x = torch.empty(2, 5)
        with self.assertRaisesRegex(ValueError, "cover 10 elements, the tensor has 15"):
            sp.init_fill(torch.empty(3, 5), "x", 1, r)
        sp.init_fill(x, "x", 1, r)
        self.assertEqual(x.reshape(-1).tolist(), [0.0] * 8 + [1.0, 1.0])
        with self.assertRaisesRegex(ValueError, "sp_run_genesis_ranges"):
            r.to_c()

    def test_orthogonal_cli_init_and_record(self):
        out = os.path.join(self.tmp, "w.safetensors")
        r = subprocess.run([SPBIN, "init", "--seed", "5", "--scheme", "*.weight_hh=orthogonal",
                            "--scheme", "*.weight_ih=orthogonal:2", "--scheme", "*=zeros",
                            "--tensor", "l.weight_hh 64x16", "--tensor", "l.weight_ih 16x4x4",
                            "--tensor", "l.bias 64", "-o", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        w = spt.load_file(out)
        x = w["l.weight_ih"].reshape(16, 16).double()
        self.assertLess(float((x.T @ x / 4 - torch.eye(16, dtype=torch.float64)).abs().max()), 1e-6)
        # the Python binding generates the same bytes
        y = torch.empty(64, 16)
        sp.init_fill(y, "l.weight_hh", 5, sp.orthogonal())
        self.assertTrue(torch.equal(y, w["l.weight_hh"]))
        led = self.ledger()
        r = subprocess.run([SPBIN, "record", "genesis", "--ledger", led, "--key", self.key,
                            "--seed", "5", "--scheme", "*.weight_hh=orthogonal", "--scheme",
                            "*.weight_ih=orthogonal:2", "--scheme", "*=zeros", out],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.verify(led, "--allow-incomplete")
        r = subprocess.run([SPBIN, "init", "--seed", "5", "--scheme", "*=orthogonal", "--tensor",
                            "b 64", "-o", out + "2"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("orthogonal needs a matrix", r.stderr)


class Overrides(Base):
    """SPEC.md 8.1 for initialize's overrides: the most specific matching glob decides."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)
            self.head = nn.Linear(4, 6, bias=False)
            self.emb = nn.Embedding(6, 4)
            self.emb.weight = self.head.weight            # tied: recorded as head.weight

    def init(self, overrides):
        with sp.Run(self.ledger(), self.key, 4) as run:
            return spt.initialize(self.Net(), run, overrides=overrides)

    def test_more_specific_glob_wins_in_any_order(self):
        a = {"*.weight": sp.normal(0, 0.02), "*norm*.weight": sp.constant(2.0)}
        for ov in (a, dict(reversed(list(a.items())))):
            s = self.init(ov)
            self.assertEqual(s["norm.weight"], sp.constant(2.0))
            self.assertEqual(s["fc.weight"], sp.normal(0, 0.02))
            self.assertEqual(s["norm.bias"], sp.zeros())      # no override: the default

    def test_incomparable_globs_with_different_schemes_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"'norm\.weight' matches overrides "
                                    r"'(\*\.weight|\*norm\*)' .* and '(\*norm\*|\*\.weight)'"):
            self.init({"*.weight": sp.normal(0, 0.02), "*norm*": sp.ones()})
        # the same scheme is no conflict; a more specific rule resolves a conflict
        s = self.init({"*.weight": sp.ones(), "*norm*": sp.ones()})
        self.assertEqual(s["norm.weight"], sp.ones())
        s = self.init({"*.weight": sp.normal(0, 0.02), "*norm*": sp.ones(),
                       "*norm*.weight": sp.constant(3.0)})
        self.assertEqual(s["norm.weight"], sp.constant(3.0))
        self.assertEqual(s["norm.bias"], sp.ones())

    def test_exact_name_beats_glob_and_brackets_are_literal(self):
        s = self.init({"fc.weight": sp.zeros(), "fc.*": sp.normal(0, 1), "*": sp.ones()})
        self.assertEqual(s["fc.weight"], sp.zeros())
        self.assertEqual(s["fc.bias"], sp.normal(0, 1))
        self.assertEqual(s["head.weight"], sp.ones())
        with self.assertRaisesRegex(ValueError, r"match no parameter"):
            self.init({"f[c].weight": sp.zeros()})           # no character classes (8.1)
        self.assertTrue(spt.glob_within("norm.weight", "*norm*.weight"))
        self.assertTrue(spt.glob_within("*norm*.weight", "*.weight"))
        self.assertFalse(spt.glob_within("*.weight", "*norm*"))
        self.assertFalse(spt.glob_within("*norm*", "*.weight"))
        self.assertFalse(spt.glob_within("a*", "a?"))        # ? never stands for a *

    def test_tied_alias_names_still_accepted(self):
        s = self.init({"emb.weight": sp.normal(0, 0.02), "*.weight": sp.ones()})
        self.assertEqual(s["head.weight"], sp.normal(0, 0.02))
        self.assertNotIn("emb.weight", s)
        with self.assertRaisesRegex(ValueError, r"'head\.weight' matches overrides "
                                    r"'(emb|head)\.weight' .* and '(head|emb)\.weight'"):
            self.init({"emb.weight": sp.normal(0, 0.02), "head.weight": sp.zeros()})


class Compiled(nn.Module):
    """The layout torch.compile's OptimizedModule has (_orig_mod); torch 1.13 has no
    torch.compile, so the test builds the wrapper the same way."""

    def __init__(self, m):
        super().__init__()
        self._orig_mod = m


class DataParallelLike(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.module = m


DataParallelLike.__name__ = "DistributedDataParallel"


class TrainingLoop(Base):
    def small(self):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 2))

    def test_wrapped_models_checkpoint_and_verify(self):
        for wrap in (Compiled, DataParallelLike, lambda m: DataParallelLike(Compiled(m))):
            m = self.small()
            w = wrap(m)
            led = self.ledger()
            d = tempfile.mkdtemp(dir=self.tmp)
            with sp.Run(led, self.key, 3) as run:
                spt.initialize(w, run)
                run.commit_batch(1, b"x")
                run.checkpoint(1, w, path=os.path.join(d, "c1.safetensors"))
                sd = {("module._orig_mod." + k): v for k, v in m.state_dict().items()}
                run.commit_batch(2, b"y")
                run.checkpoint(2, sd, path=os.path.join(d, "c2.safetensors"))
                with self.assertRaisesRegex(ValueError, "not the genesis's"):
                    run.checkpoint(3, {"x.weight": m[0].weight})
                run.final(2, w, path=os.path.join(d, "final.safetensors"))
            self.assertEqual(sorted(spt.load_file(os.path.join(d, "c1.safetensors"))),
                             ["0.bias", "0.weight", "1.bias", "1.weight"])
            self.verify(led, "--checkpoints", d)

    def test_resume_repeats_checkpoint_and_counters(self):
        m = self.small()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        led = self.ledger()
        d = os.path.join(self.tmp, "ck")
        os.makedirs(d)
        roll = os.path.join(d, "ckpt.safetensors")        # one rolling file
        keep = os.path.join(self.tmp, "kept")
        with sp.Run(led, self.key, 4, keep_files=keep) as run:
            spt.initialize(m, run)
            self.assertEqual((run.last_step, run.step), (0, 0))
            for _ in range(4):
                step = run.next_step()
                run.commit_batch(step, torch.full((3,), float(step)))
                m(torch.ones(1, 6)).sum().backward()
                opt.step()
                opt.zero_grad()
                if step % 2 == 0:
                    run.checkpoint(None, m, optimizer=opt, path=roll)
            self.assertEqual(run.last_step, 4)
        with sp.Run(led, self.key, 4, resume=True, keep_files=keep) as run:
            self.assertEqual((run.last_step, run.step), (4, 4))
            run.checkpoint(4, m, optimizer=opt, path=roll)    # nanoGPT re-saves on resume
            with torch.no_grad():
                m[0].weight.add_(1.0)
            with self.assertRaises(sp.Error) as cm:
                run.checkpoint(4, m, optimizer=opt, path=roll)
            self.assertIn("other weights", str(cm.exception))
        with sp.Run(led, self.key, 4, resume=True, keep_files=keep) as run:
            run.commit_batch(5, b"z")
            with self.assertRaisesRegex(sp.Error, "after 1 batch commitments"):
                run.checkpoint(4, m, optimizer=opt)
        kept = sorted(os.listdir(keep))
        self.assertIn("step000002.ckpt.safetensors", kept)
        self.assertIn("step000004.ckpt.opt.safetensors", kept)
        recs = subprocess.run([SPBIN, "log", led], capture_output=True, text=True).stdout
        self.assertEqual(recs.count("checkpoint"), 2, recs)
        self.verify(led, "--checkpoints", keep, "--allow-incomplete")


if __name__ == "__main__":
    unittest.main()
