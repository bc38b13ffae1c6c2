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
            with self.assertRaisesRegex(ValueError, "orthogonal"):
                spt.initialize(m, run, own_init=lambda mod: nn.init.orthogonal_(mod.w.weight))
            with self.assertRaisesRegex(ValueError, "part of the tensor"):
                spt.initialize(m, run, own_init=True)          # the padding row

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
