#!/usr/bin/python3
"""torch_train.py - a small transformer language model trained on CPU with PyTorch,
recorded with the scratchproof Python binding (the PyTorch twin of tinytrain), and
replayable segment by segment by `scratchproof verify --replay` (SPEC.md 12).

    PYTHONPATH=hooks/python /usr/bin/python3 examples/torch_train.py \\
        --ledger L --key K --seed N --steps N --every N --out DIR [--init-from FILE]
    PYTHONPATH=hooks/python /usr/bin/python3 examples/torch_train.py \\
        --replay-from W --replay-optimizer O --first-step A --last-step B --seed N --out DIR

A decoder-only transformer (vocabulary 64, width 64, 2 layers of 4 heads, context 32)
learns a synthetic "language" generated here from a fixed seed: the text and the
batches are the same for every --seed. Residual dropout (--dropout, default 0.1) draws
its masks from run.step_generator(step), a pure function of (seed, step). Deterministic:
torch.use_deterministic_algorithms(True), a fixed number of threads; the same flags give
bit-identical checkpoints.

Training: scratchproof.torch.initialize fills every parameter from the deterministic
initialiser and records the genesis; every step commits its --accum micro-batches; every
--every steps the weights go to DIR/stepNNNNNN.safetensors (AdamW state to
DIR/stepNNNNNN.opt.safetensors) and are recorded; the final weights go to
DIR/final.safetensors and the final record; DIR/config.json holds the configuration whose
digest the genesis records (`verify --config DIR/config.json`).
--init-from FILE is the impostor the replay catches: an honest genesis, then, before step
1 (or --splice-at N), the parameters are overwritten with FILE's weights
(model.load_state_dict); everything after is recorded and signed honestly, so the ledger
verifies, but the segment holding that step does not replay. (tinytrain's --init-from is
the other impostor, recorded as external: spt.initialize_from does that in Python.)

Replay (the contract of SPEC.md 12): opens sp.Run.replay(DIR) (DIR/replay.ledger,
ephemeral key), loads W and, unless O is "", the AdamW state O, records them as the
replay's genesis, executes steps A..B exactly as training does and writes
DIR/stepBBBBBB.safetensors (+ .opt.safetensors) and their checkpoint record. Math
threads: SP_REPLAY_THREADS when set, else --threads when given, else torch's default.
--batch, --lr, --dropout and --accum must be those of training (they are in the config).

Exit: 0 done, 1 a ledger or checkpoint write failed, 2 usage or unreadable input.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import scratchproof as sp
except ImportError:                    # run from the source tree without PYTHONPATH=hooks/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hooks",
                                    "python"))
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

    def forward(self, x, drop):
        x = x + drop(self.attn(self.ln1(x)))
        return x + drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, WIDTH)
        self.pos = nn.Embedding(CTX, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, idx, drop=None):
        drop = drop or (lambda z: z)
        x = drop(self.tok(idx) + self.pos(torch.arange(idx.shape[1])))
        for blk in self.blocks:
            x = blk(x, drop)
        return self.head(self.ln_f(x))


def dropout(p, gen):
    """Inverted dropout with probability p whose masks come from gen (the step's generator,
    run.step_generator(step)), in a fixed order within the step: a replay of any segment
    draws the masks training drew. nn.Dropout would draw from torch's global generator,
    whose state after step k depends on every step before it."""
    if p <= 0:
        return None
    scale = 1.0 / (1.0 - p)

    def drop(z):
        keep = torch.rand(z.shape, generator=gen) >= p
        return z * keep * scale
    return drop


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


TRAIN_ONLY = ("ledger", "key", "steps", "every", "init_from", "splice_at")
REPLAY_ONLY = ("replay_optimizer", "first_step", "last_step")


def parse_args(argv):
    p = Parser(prog="torch_train", formatter_class=argparse.RawDescriptionHelpFormatter,
               description="Trains a small transformer language model on built-in synthetic "
               "text, recording its\ngenesis, a batch commitment per micro-batch, a checkpoint "
               "every N steps (DIR/stepNNNNNN.safetensors,\nAdamW state in DIR/stepNNNNNN.opt."
               "safetensors) and the final weights (DIR/final.safetensors)\nin the signed "
               "ledger. With --replay-from it re-executes steps A..B instead (SPEC.md 12).",
               epilog="Exit: 0 done, 1 a ledger or checkpoint write failed, 2 usage or "
               "unreadable input.")
    p.add_argument("--ledger", help="the ledger to create (training)")
    p.add_argument("--key", help="the signing key (scratchproof keygen) (training)")
    p.add_argument("--seed", required=True, type=positive(0, (1 << 64) - 1),
                   help="seed of the deterministic initialiser and of the step randomness")
    p.add_argument("--steps", type=positive(1, 10 ** 9), help="training steps (training)")
    p.add_argument("--every", type=positive(1, 10 ** 9),
                   help="checkpoint every N steps (training)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the checkpoints")
    p.add_argument("--init-from", metavar="FILE",
                   help="impostor: honest genesis, then these weights before step 1 "
                   "(or --splice-at N)")
    p.add_argument("--splice-at", type=positive(1, 10 ** 9), metavar="N",
                   help="with --init-from: load FILE before step N instead (default 1)")
    p.add_argument("--replay-from", metavar="FILE", help="replay: the start weights")
    p.add_argument("--replay-optimizer", metavar="FILE",
                   help="replay: the start AdamW state (\"\" at the genesis: a fresh AdamW)")
    p.add_argument("--first-step", type=positive(1, 10 ** 9), help="replay: first step to run")
    p.add_argument("--last-step", type=positive(1, 10 ** 9), help="replay: last step to run")
    p.add_argument("--threads", type=positive(1, 64), default=None,
                   help="torch and hashing threads (default 1 in training)")
    p.add_argument("--batch", type=positive(1, 4096), default=16,
                   help="sequences of %d tokens per micro-batch (default 16)" % (CTX + 1))
    p.add_argument("--accum", type=positive(1, 1024), default=1,
                   help="micro-batches per step, gradients accumulated (default 1)")
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 0.003)")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="residual dropout probability (default 0.1; 0 for none)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--stats", action="store_true",
                   help="print wall time, hook time and hook fraction on stdout")
    a = p.parse_args(argv)
    if not (a.lr > 0 and a.lr <= 10):
        p.error("--lr wants a number in (0, 10], got %r" % a.lr)
    if not (0 <= a.dropout < 1):
        p.error("--dropout wants a number in [0, 1), got %r" % a.dropout)
    a.replay = a.replay_from is not None
    given = lambda names: [n for n in names if getattr(a, n) is not None]   # noqa: E731
    flag = lambda n: "--" + n.replace("_", "-")                             # noqa: E731
    if a.replay:
        if given(TRAIN_ONLY):
            p.error("%s is for training, not with --replay-from" % flag(given(TRAIN_ONLY)[0]))
        missing = [n for n in REPLAY_ONLY if getattr(a, n) is None]
        if missing:
            p.error("--replay-from needs %s" % flag(missing[0]))
        if a.first_step > a.last_step:
            p.error("--first-step %d is after --last-step %d" % (a.first_step, a.last_step))
    else:
        if given(REPLAY_ONLY):
            p.error("%s needs --replay-from" % flag(given(REPLAY_ONLY)[0]))
        missing = [n for n in TRAIN_ONLY[:4] if getattr(a, n) is None]
        if missing:
            p.error("the following arguments are required: %s" % flag(missing[0]))
        if a.splice_at is not None and a.init_from is None:
            p.error("--splice-at needs --init-from")
        if a.splice_at is not None and a.splice_at > a.steps:
            p.error("--splice-at %d is after the last step %d" % (a.splice_at, a.steps))
    return a


def math_threads(a):
    """Training: --threads (default 1). Replay: SP_REPLAY_THREADS, else --threads, else
    torch's default (None: leave it). ValueError for a bad SP_REPLAY_THREADS."""
    if not a.replay:
        return a.threads or 1
    env = os.environ.get("SP_REPLAY_THREADS")
    if env is not None and env != "":
        if not env.isdigit() or not 1 <= int(env) <= 64:
            raise ValueError("SP_REPLAY_THREADS wants an integer in [1, 64], got '%s'" % env[:32])
        return int(env)
    return a.threads


def configuration(a):
    """The training configuration (what a replay must repeat), as the bytes whose digest
    the genesis records, and the model name derived from it."""
    config = {"model": "TinyLM", "vocab": VOCAB, "ctx": CTX, "width": WIDTH, "layers": LAYERS,
              "heads": HEADS, "batch": a.batch, "lr": a.lr, "accum": a.accum,
              "dropout": a.dropout, "optimizer": "AdamW(0.9,0.95,wd=0.01)"}
    cfg = json.dumps(config, sort_keys=True).encode()
    name = "torch_train " + " ".join("%s=%s" % kv for kv in sorted(config.items()))
    return cfg, name


def make_optimizer(a, model):
    return torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.01)


def run_steps(a, run, model, opt, text, first, last, every=None, before=None):
    """Steps first..last, the same code in training and in replay: micro-batch m of step s
    is make_batch(text, (s-1)*accum + m + 1), committed under step s; dropout masks from
    run.step_generator(s). Checkpoints every `every` steps (training only); before(step)
    is called first (the impostor's splice). Returns the last step's loss (mean over its
    micro-batches)."""
    window, loss_v = 0.0, 0.0
    for step in range(first, last + 1):
        if before is not None:
            before(step)
        drop = dropout(a.dropout, run.step_generator(step)) if a.dropout > 0 else None
        opt.zero_grad(set_to_none=True)
        loss_v = 0.0
        for m in range(a.accum):
            batch = make_batch(text, (step - 1) * a.accum + m + 1, a.batch)
            run.commit_batch(step, batch)
            logits = model(batch[:, :-1], drop)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
            (loss / a.accum if a.accum > 1 else loss).backward()
            loss_v += loss.item() / a.accum
        opt.step()
        window += loss_v
        if every and step % every == 0:
            run.checkpoint(step, model, optimizer=opt,
                           path=os.path.join(a.out, "step%06d.safetensors" % step),
                           metrics=metrics(a, step, loss_v))
            if not a.quiet:
                sys.stderr.write("torch_train: step %d/%d loss %.4f (mean of last %d: %.4f)\n"
                                 % (step, last, loss_v, every, window / every))
            window = 0.0
    return loss_v


def metrics(a, step, loss_v):
    return {"loss": loss_v, "tokens": step * a.batch * a.accum * CTX}


def train(a, run, model, text, weights):
    spt.initialize(model, run)
    splice_at = a.splice_at or 1

    def splice(step):                  # the impostor: someone else's weights after the genesis
        if weights is not None and step == splice_at:
            with torch.no_grad():
                model.load_state_dict(weights)
    opt = make_optimizer(a, model)
    run_steps(a, run, model, opt, text, 1, a.steps, every=a.every, before=splice)
    run.final(a.steps, model, path=os.path.join(a.out, "final.safetensors"))


def load_replay_inputs(a):
    """The start weights and AdamW state ({} when --replay-optimizer is ""), read and
    validated before the replay opens its run; sp.Error when a file does not load."""
    weights = spt.load_file(a.replay_from)
    state = spt.load_file(a.replay_optimizer) if a.replay_optimizer else {}
    return weights, state


def replay(a, run, model, text, weights, state):
    opt = make_optimizer(a, model)
    spt.start_replay(model, run, weights, optimizer=opt, optimizer_state=state or None)
    loss_v = run_steps(a, run, model, opt, text, a.first_step, a.last_step)
    path = run.replay_checkpoint_path(a.last_step)
    run.checkpoint(a.last_step, model, optimizer=opt, path=path,
                   metrics=metrics(a, a.last_step, loss_v))
    if not a.quiet:
        sys.stderr.write("torch_train: replayed steps %d..%d, loss %.4f, checkpoint %s\n"
                         % (a.first_step, a.last_step, loss_v, path))


def load_impostor_weights(path, model):
    """FILE's weights for --init-from, checked against the model before the run opens."""
    weights = spt.load_file(path)
    want = {n: tuple(p.shape) for n, p in model.named_parameters()}
    got = {n: tuple(t.shape) for n, t in weights.items()}
    if want != got:
        diff = sorted(set(want) ^ set(got)) or sorted(n for n in want if want[n] != got[n])
        raise ValueError("the weights do not fit the model (%s)" % ", ".join(diff[:4]))
    return weights


def main(argv):
    a = parse_args(argv)
    t0 = time.perf_counter()
    try:
        threads = math_threads(a)
    except ValueError as e:
        sys.stderr.write("torch_train: %s\n" % e)
        return 2
    torch.use_deterministic_algorithms(True)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)               # nothing here draws from it; fixed all the same
    if a.replay:
        if not os.path.isdir(a.out):
            sys.stderr.write("torch_train: --out %s: not a directory (the replay writes into "
                             "the directory it is given)\n" % a.out)
            return 2
    else:
        try:
            os.makedirs(a.out, exist_ok=True)
        except OSError as e:
            sys.stderr.write("torch_train: cannot create %s: %s\n" % (a.out, e.strerror))
            return 2
    model = TinyLM()
    weights, state = None, None
    if a.replay:
        try:
            weights, state = load_replay_inputs(a)
        except sp.Error as e:
            sys.stderr.write("torch_train: %s\n" % e)
            return 2
    if a.init_from:
        try:
            weights = load_impostor_weights(a.init_from, model)
        except (sp.Error, ValueError) as e:
            sys.stderr.write("torch_train: --init-from %s: %s\n" % (a.init_from, e))
            return 2
    text = make_text()
    cfg, name = configuration(a)
    hashing = threads or 1
    try:
        if a.replay:
            run = sp.Run.replay(a.out, seed=a.seed, model_name=name, threads=hashing, config=cfg,
                                batches_per_step=a.accum)
        else:
            run = sp.Run(a.ledger, key=a.key, seed=a.seed, model_name=name, threads=hashing,
                         config=cfg, batches_per_step=a.accum)
    except sp.KeyFileError as e:
        sys.stderr.write("torch_train: %s\n" % e)
        return 2
    except sp.Error as e:
        sys.stderr.write("torch_train: %s\n" % e)
        return 1
    with run:
        try:
            if a.replay:
                try:
                    replay(a, run, model, text, weights, state)
                except ValueError as e:   # files that load but do not fit the model
                    sys.stderr.write("torch_train: --replay-from %s --replay-optimizer '%s': "
                                     "%s\n" % (a.replay_from, a.replay_optimizer, e))
                    return 2
            else:
                with open(os.path.join(a.out, "config.json"), "wb") as f:
                    f.write(cfg)
                train(a, run, model, text, weights)
        except sp.Error as e:
            sys.stderr.write("torch_train: %s\n" % e)
            return 1
        except OSError as e:
            sys.stderr.write("torch_train: cannot write %s: %s\n" % (e.filename, e.strerror))
            return 1
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
