#!/usr/bin/python3
"""torch_train.py - a small transformer language model trained on CPU with PyTorch,
recorded with the scratchproof Python binding (the PyTorch twin of tinytrain).

    PYTHONPATH=hooks/python /usr/bin/python3 examples/torch_train.py \\
        --ledger L --key K --seed N --steps N --every N --out DIR [--init-from FILE]

A decoder-only transformer (vocabulary 64, width 64, 2 layers of 4 heads, context 32)
learns a synthetic "language" generated here from a fixed seed: the text and the
batches are the same for every --seed, so two runs differ only by their
initialisation. Deterministic: torch.use_deterministic_algorithms(True), a fixed
number of threads, no dropout; the same flags give bit-identical checkpoints.

The run: scratchproof.torch.initialize fills every parameter from the deterministic
initialiser and records the genesis; every step commits its batch; every --every
steps the weights go to DIR/stepNNNNNN.safetensors (AdamW state to
DIR/stepNNNNNN.opt.safetensors) and are recorded; the final weights go to
DIR/final.safetensors and the final record. With --init-from the weights are loaded
from a safetensors file instead and recorded as external (kind 0): the fine-tune
impostor that `scratchproof verify` rejects.

Exit: 0 done, 1 a ledger or checkpoint write failed, 2 usage or unreadable input.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import scratchproof as sp
import scratchproof.torch as spt

VOCAB, CTX, WIDTH, LAYERS, HEADS = 64, 32, 64, 2, 4
TEXT_LEN = 1 << 16
M64 = (1 << 64) - 1


# ---- the data: the same for every seed ---------------------------------------

class SplitMix64:
    def __init__(self, s):
        self.s = s & M64

    def next(self):
        self.s = (self.s + 0x9e3779b97f4a7c15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def make_text():
    """48 words of 2-5 letters (tokens 2..63), each followed by one of 3 successors with
    probability 5/8, 2/8, 1/8; a space (0) after each word, sometimes a stop (1) first."""
    r = SplitMix64(0x746f726368747261)   # "torchtra"
    words = []
    for _ in range(48):
        n = 2 + r.below(4)
        words.append([2 + r.below(VOCAB - 2) for _ in range(n)])
    succ = [[r.below(48) for _ in range(3)] for _ in range(48)]
    text, w = [], 0
    while len(text) < TEXT_LEN:
        text.extend(words[w])
        if r.below(6) == 0:
            text.append(1)
        text.append(0)
        k = r.below(8)
        w = succ[w][0 if k < 5 else 1 if k < 7 else 2]
    return np.array(text[:TEXT_LEN], dtype=np.int64)


def make_batch(text, step, batch):
    """The batch of a step, a pure function of (step, batch): [batch, CTX+1] int64 tokens."""
    r = SplitMix64(0x6261746368657321 ^ step)
    pos = [r.below(TEXT_LEN - CTX - 1) for _ in range(batch)]
    return torch.from_numpy(np.stack([text[p:p + CTX + 1] for p in pos]))


# ---- the model ---------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)
        self.register_buffer("mask", torch.tril(torch.ones(CTX, CTX, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // HEADS)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(WIDTH)
        self.attn = Attention()
        self.ln2 = nn.LayerNorm(WIDTH)
        self.fc1 = nn.Linear(WIDTH, 4 * WIDTH)
        self.fc2 = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, WIDTH)
        self.pos = nn.Embedding(CTX, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


# ---- command line ------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):          # one line on stderr, exit 2, like tinytrain
        sys.stderr.write("torch_train: %s (see --help)\n" % message)
        sys.exit(2)


def positive(lo, hi):
    def f(s):
        try:
            v = int(s, 10)
        except ValueError:
            raise argparse.ArgumentTypeError("wants an integer, got '%s'" % s) from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("wants an integer in [%d, %d], got '%s'" % (lo, hi, s))
        return v
    return f


def parse_args(argv):
    p = Parser(prog="torch_train", formatter_class=argparse.RawDescriptionHelpFormatter,
               description="Trains a small transformer language model on built-in synthetic "
               "text, recording its\ngenesis, a batch commitment per step, a checkpoint every N "
               "steps (DIR/stepNNNNNN.safetensors,\nAdamW state in DIR/stepNNNNNN.opt."
               "safetensors) and the final weights (DIR/final.safetensors)\nin the signed "
               "ledger.",
               epilog="Exit: 0 done, 1 a ledger or checkpoint write failed, 2 usage or "
               "unreadable input.")
    p.add_argument("--ledger", required=True, help="the ledger to create")
    p.add_argument("--key", required=True, help="the signing key (scratchproof keygen)")
    p.add_argument("--seed", required=True, type=positive(0, (1 << 64) - 1),
                   help="seed of the deterministic initialiser")
    p.add_argument("--steps", required=True, type=positive(1, 10 ** 9), help="training steps")
    p.add_argument("--every", required=True, type=positive(1, 10 ** 9),
                   help="checkpoint every N steps")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the checkpoints")
    p.add_argument("--init-from", metavar="FILE", help="start from these weights (recorded as external)")
    p.add_argument("--threads", type=positive(1, 64), default=1,
                   help="torch and hashing threads (default 1)")
    p.add_argument("--batch", type=positive(1, 4096), default=16,
                   help="sequences of %d tokens per step (default 16)" % (CTX + 1))
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 0.003)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--stats", action="store_true",
                   help="print wall time, hook time and hook fraction on stdout")
    a = p.parse_args(argv)
    if not (a.lr > 0 and a.lr <= 10):
        p.error("--lr wants a number in (0, 10], got %r" % a.lr)
    return a


def train(a, run, model, text):
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.01)
    window = 0.0
    for step in range(1, a.steps + 1):
        batch = make_batch(text, step, a.batch)
        run.commit_batch(step, batch)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window += loss.item()
        if step % a.every == 0:
            run.checkpoint(step, model, optimizer=opt,
                           path=os.path.join(a.out, "step%06d.safetensors" % step),
                           metrics={"loss": float(loss), "tokens": step * a.batch * CTX})
            if not a.quiet:
                sys.stderr.write("torch_train: step %d/%d loss %.4f (mean of last %d: %.4f)\n"
                                 % (step, a.steps, loss.item(), a.every, window / a.every))
            window = 0.0
    run.final(a.steps, model, path=os.path.join(a.out, "final.safetensors"))


def main(argv):
    a = parse_args(argv)
    t0 = time.perf_counter()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)               # nothing here draws from it; fixed all the same
    try:
        os.makedirs(a.out, exist_ok=True)
    except OSError as e:
        sys.stderr.write("torch_train: cannot create %s: %s\n" % (a.out, e.strerror))
        return 2
    weights = None
    if a.init_from:
        try:
            weights = spt.load_file(a.init_from)
        except sp.Error as e:
            sys.stderr.write("torch_train: %s\n" % e)
            return 2
    model = TinyLM()
    text = make_text()
    config = {"model": "TinyLM", "vocab": VOCAB, "ctx": CTX, "width": WIDTH, "layers": LAYERS,
              "heads": HEADS, "batch": a.batch, "lr": a.lr, "optimizer": "AdamW(0.9,0.95,wd=0.01)"}
    cfg = json.dumps(config, sort_keys=True).encode()
    name = "torch_train " + " ".join("%s=%s" % kv for kv in sorted(config.items()))
    try:
        run = sp.Run(a.ledger, key=a.key, seed=a.seed, model_name=name, threads=a.threads,
                     config_digest=hashlib.blake2b(cfg, digest_size=32).digest())
    except sp.KeyFileError as e:
        sys.stderr.write("torch_train: %s\n" % e)
        return 2
    except sp.Error as e:
        sys.stderr.write("torch_train: %s\n" % e)
        return 1
    with run:
        try:
            if weights is not None:
                spt.initialize_from(model, run, weights)
            else:
                spt.initialize(model, run)
            train(a, run, model, text)
        except sp.Error as e:
            sys.stderr.write("torch_train: %s\n" % e)
            return 1
        except ValueError as e:        # --init-from weights that do not fit the model
            sys.stderr.write("torch_train: %s: %s\n" % (a.init_from, e))
            return 2
        hook, chook, write = run.hook_seconds, run.c_hook_seconds, run.write_seconds
    wall = time.perf_counter() - t0
    if a.stats:
        print("torch_train.wall_seconds %.6f" % wall)
        print("torch_train.hook_seconds %.6f" % hook)
        print("torch_train.hook_fraction %.6f" % (hook / wall if wall > 0 else 0.0))
        print("torch_train.c_hook_seconds %.6f" % chook)
        print("torch_train.write_seconds %.6f" % write)
        print("torch_train.hook_fraction_with_writes %.6f" % ((hook + write) / wall if wall else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
