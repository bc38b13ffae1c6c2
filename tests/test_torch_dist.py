#!/usr/bin/python3
"""test_torch_dist.py - the torch.distributed binding (scratchproof.dist, SPEC.md 17 and
3.6.3) with two gloo ranks on this machine, started the way torchrun would start them
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in the environment; Debian's
torchrun fails inside its launcher on Python 3.11).

Run by tests/cli/torch_dist.sh (PYTHONPATH=hooks/python, SCRATCHPROOF_LIB, BUILD). The
same file is the rank program: `test_torch_dist.py --rank MODE OUT` (one process per rank).
What is checked against what:
  - DDP: a model wrapped in DistributedDataParallel, each rank committing its own batches;
    the ledger verifies with `scratchproof verify --checkpoints`; its genesis digests equal
    a one-process run's (same seed, no torch.distributed); world_size, batches_per_step and
    sharding_digest as SPEC 17 defines them (recomputed here with hashlib from the ranges);
    the batch chain recomputed with hashlib in rank order;
  - flat shards (the explicit-range API; FSDP itself does not run on CPU in Debian's torch
    1.13): a hand-sharded model whose shard boundary falls inside a chunk (assembled
    across ranks), initialised slice by slice; digests equal the one-process run's, the
    consolidated checkpoint file written by rank 0 binds, the ledger verifies;
  - refusals agreed on every rank: another tensor list on one rank, a replica that differs.
"""
import hashlib
import json
import os
import socket
import time
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
SPBIN = os.path.join(BUILD, "scratchproof")
SEED = 11
STEPS = 4


def mlp():
    import torch.nn as nn
    # fc1.weight is 300 x 1000 F32 = 1.2 MB: two chunks, so the owners rotate.
    return nn.Sequential(nn.Linear(300, 1000), nn.Tanh(), nn.Linear(1000, 3))


def batch(step, rank):
    import torch
    g = torch.Generator()
    g.manual_seed(1000 * step + rank)
    return torch.randn(4, 300, generator=g), torch.randint(0, 3, (4,), generator=g)


# ---- the rank programs -------------------------------------------------------

def rank_ddp(out, world, max_shard_size=None):
    import torch
    import torch.nn.functional as F
    import scratchproof.torch as spt
    dist_on = world > 1
    if dist_on:
        import torch.distributed as dist
        import scratchproof.dist as spd
        from torch.nn.parallel import DistributedDataParallel as DDP
        dist.init_process_group("gloo")
        rank = dist.get_rank()
        Run = spd.Run
    else:
        import scratchproof as sp
        rank, Run = 0, sp.Run
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = mlp()
    key = os.path.join(out, "k.key") if rank == 0 else None
    os.makedirs(os.path.join(out, "ckpt"), exist_ok=True)
    with Run(os.path.join(out, "run.ledger"), key, SEED, model_name="ddp-test") as run:
        spt.initialize(model, run)
        if not dist_on:
            return
        ddp = DDP(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        for step in range(1, STEPS + 1):
            x, y = batch(step, rank)
            run.commit_batch(step, x)
            loss = F.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 2 == 0:
                run.checkpoint(step, ddp, optimizer=opt,
                               path=os.path.join(out, "ckpt", "step%d%s" % (
                                   step, "" if max_shard_size else ".safetensors")),
                               metrics={"loss": float(loss)}, max_shard_size=max_shard_size)
        run.final(STEPS, ddp, path=os.path.join(out, "ckpt", "final" if max_shard_size
                                                else "final.safetensors"),
                  max_shard_size=max_shard_size)
    # DDP's reducer freed after destroy_process_group() can hang in torch 1.13 (gloo): a
    # rank then never exits after returning from here. Free it while the group lives.
    del ddp, opt
    dist.barrier()
    dist.destroy_process_group()


def sharded_params():
    """The hand-sharded model: (name, shape) in order; w0 is 600 x 1000 F32 = 2.4 MB, its
    flat half boundary (1.2 MB) falls inside chunk 1."""
    return [("w0", (600, 1000)), ("b0", (1000,)), ("w1", (3, 1000))]


def rank_shards(out, world):
    import torch
    import scratchproof as sp
    schemes = {"w0": sp.normal(0, 0.02), "b0": sp.zeros(), "w1": sp.uniform(-0.1, 0.1)}
    if world == 1:
        with sp.Run(os.path.join(out, "run.ledger"), os.path.join(out, "k.key"), SEED,
                    model_name="shard-test") as run:
            ts = [(n, torch.empty(sh), schemes[n]) for n, sh in sharded_params()]
            for n, t, s in ts:
                sp.init_fill(t, n, SEED, s)
            run.genesis(ts)
        return
    import torch.distributed as dist
    import scratchproof.dist as spd
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    whole = {n: torch.empty(sh) for n, sh in sharded_params()}
    shards = [(n, spd.flat_shard(whole[n], rank, world)) for n, _ in sharded_params()]
    key = os.path.join(out, "k.key") if rank == 0 else None
    os.makedirs(os.path.join(out, "ckpt"), exist_ok=True)
    with spd.Run(os.path.join(out, "run.ledger"), key, SEED, model_name="shard-test") as run:
        for n, s in shards:
            spd.init_shard(s, n, SEED, schemes[n])
        run.genesis([(n, s, schemes[n]) for n, s in shards])
        for step in (1, 2):
            run.commit_batch(step, torch.full((8,), float(rank * 10 + step)))
            with torch.no_grad():
                for _, s in shards:
                    s.local.mul_(0.5)          # a "training step" on each rank's own shard
        run.checkpoint(2, shards, path=os.path.join(out, "ckpt", "step2.safetensors"))
        run.final(2, shards, path=os.path.join(out, "ckpt", "final.safetensors"))
    dist.barrier()
    dist.destroy_process_group()


def rank_refusals(out, world):
    import torch
    import torch.distributed as dist
    import scratchproof as sp
    import scratchproof.dist as spd
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    res = {}
    key = os.path.join(out, "k.key") if rank == 0 else None
    with spd.Run(os.path.join(out, "a.ledger"), key, SEED) as run:
        name = "w" if rank == 0 else "v"
        try:
            run.genesis([(name, torch.zeros(4), sp.zeros())])
            res["names"] = "accepted"
        except Exception as e:   # noqa: BLE001
            res["names"] = "%s: %s" % (type(e).__name__, e)
        try:
            run.commit_batch(1, b"x")
            res["after"] = "accepted"
        except Exception as e:   # noqa: BLE001
            res["after"] = "%s: %s" % (type(e).__name__, e)
    with spd.Run(os.path.join(out, "b.ledger"), key, SEED) as run:
        t = torch.zeros(300000)
        run.genesis([("w", t, sp.zeros())])
        if rank == 1:
            t[123456] = 1.0                       # this replica drifts
        try:
            run.final(1, [("w", t)])
            res["replica"] = "accepted"
        except Exception as e:   # noqa: BLE001
            res["replica"] = "%s: %s" % (type(e).__name__, e)
    with open(os.path.join(out, "result%d.json" % rank), "w") as f:
        json.dump(res, f)
    dist.barrier()
    dist.destroy_process_group()


MODES = {"ddp": rank_ddp, "shards": rank_shards, "refusals": rank_refusals,
         "ddp_sharded": lambda out, world: rank_ddp(out, world, max_shard_size="1MB")}


# ---- the launcher (what torchrun would do) -------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def launch(mode, out, world):
    """Starts `world` ranks with torchrun's environment; [(rc, stderr)] per rank."""
    port = str(free_port())
    procs, logs = [], []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r),
                   LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                   OMP_NUM_THREADS="1")
        log = open(os.path.join(out, "rank%d.log" % r), "w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rank", mode,
                                       out, str(world)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
    # A rank that fails leaves its peers blocked in a collective: stop them then. A rank
    # that is still running 120 s after a peer ended (or 600 s in all) is stopped too:
    # a hang is a failure of the test, never a hang of the suite.
    start, first_end = time.monotonic(), None
    alive = list(procs)
    while alive:
        for p in list(alive):
            if p.poll() is not None:
                alive.remove(p)
                first_end = first_end or time.monotonic()
                if p.returncode != 0:
                    for q in alive:
                        q.terminate()
        now = time.monotonic()
        if alive and ((first_end is not None and now - first_end > 120) or now - start > 600):
            for q in alive:
                q.kill()
                q.wait()
            alive = []
        time.sleep(0.05)
    res = []
    for p, log in zip(procs, logs):
        rc = p.wait()
        log.seek(0)
        res.append((rc, log.read()))
        log.close()
    return res


def sp_cmd(*args):
    return subprocess.run([SPBIN] + [str(a) for a in args], capture_output=True, text=True)


def keygen(out):
    r = sp_cmd("keygen", "-o", os.path.join(out, "k"))
    assert r.returncode == 0, r.stderr


def records(ledger):
    """[(kind, fields)] read with the independent reader of test_python_binding."""
    sys.path.insert(0, HERE)
    import test_python_binding as tpb
    return tpb.read_ledger(ledger), tpb.tensor_entries


class TorchDist(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp_dist_")

    def dir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        keygen(d)
        return d

    def run_ranks(self, mode, world):
        d = self.dir("%s%d" % (mode, world))
        if world == 1:          # the one-process reference: no torch.distributed at all
            MODES[mode](d, 1)
            return d
        res = launch(mode, d, world)
        for r, (rc, err) in enumerate(res):
            self.assertEqual(rc, 0, "rank %d of %s failed:\n%s" % (r, mode, err))
        return d

    def genesis_of(self, d):
        recs, entries = records(os.path.join(d, "run.ledger"))
        kind, g = recs[0]
        self.assertEqual(kind, "genesis")
        return {"tensors": {n: v[2] for n, v in entries(g, 4).items()},
                "order": list(entries(g, 4)), "root": g[5][0],
                "batches_per_step": g.get(8, [0])[0], "world_size": g.get(9, [0])[0],
                "sharding_digest": g.get(10, [b""])[0]}

    def verify(self, d):
        r = sp_cmd("verify", os.path.join(d, "run.ledger"), "--pubkey", os.path.join(d, "k.pub"),
                   "--checkpoints", os.path.join(d, "ckpt"), "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(json.loads(r.stdout)["verified"])

    def check_dist_genesis(self, two, one, ranges):
        g2, g1 = self.genesis_of(two), self.genesis_of(one)
        self.assertEqual(g2["tensors"], g1["tensors"], "two-rank digests differ from one process's")
        self.assertEqual(len(g2["tensors"]), len(ranges[0]))
        self.assertEqual(g2["root"], g1["root"])
        self.assertEqual(g1["world_size"], 0)
        self.assertEqual(g2["world_size"], 2)
        self.assertEqual(g2["batches_per_step"], 2)
        self.assertEqual(g2["sharding_digest"], sharding_ref(2, ranges))

    def test_ddp_two_ranks(self):
        two = self.run_ranks("ddp", 2)
        one = self.run_ranks("ddp", 1)
        names = [("0.weight", 1200000), ("0.bias", 4000), ("2.weight", 12000), ("2.bias", 12)]
        self.check_dist_genesis(two, one, [[(n, 0, b) for n, b in names]] * 2)
        self.verify(two)
        recs, entries = records(os.path.join(two, "run.ledger"))
        chain = bytes(32)
        for step in (1, 2):
            for r in range(2):
                x, _ = batch(step, r)
                d = tagged("scratchproof/batch", struct.pack("<Q", step) +
                           x.contiguous().numpy().tobytes())
                chain = tagged("scratchproof/batch-chain", chain + d)
        kind, c = recs[1]
        self.assertEqual(kind, "checkpoint")
        self.assertEqual(c[6][0], chain)
        self.assertEqual(c[7][0], 4)
        self.assertEqual(sorted(entries(c, 3)), sorted(n for n, _ in names))
        self.assertEqual(len(c[5][0]), 32)          # the optimizer digest
        self.assertEqual([k for k, _ in recs], ["genesis", "checkpoint", "checkpoint", "final"])

    def test_ddp_two_ranks_copy_path_sharded_files(self):
        """The path CUDA tensors take (host copies), forced on CPU, with sharded files
        (max_shard_size): the same records as the direct path with one file each."""
        direct = self.run_ranks("ddp", 2)
        os.environ["SP_FORCE_COPY_PATH"] = "1"
        try:
            d = self.dir("ddp2copy")
            res = launch("ddp_sharded", d, 2)
        finally:
            del os.environ["SP_FORCE_COPY_PATH"]
        for r, (rc, err) in enumerate(res):
            self.assertEqual(rc, 0, "rank %d failed:\n%s" % (r, err))
        self.verify(d)
        self.assertEqual(sorted(os.listdir(os.path.join(d, "ckpt", "final"))),
                         ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                          "model.safetensors.index.json"])
        r = sp_cmd("verify", os.path.join(d, "run.ledger"), "--pubkey", os.path.join(d, "k.pub"),
                   "--model", os.path.join(d, "ckpt", "final"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        a = sp_log(os.path.join(direct, "run.ledger"))
        b = sp_log(os.path.join(d, "run.ledger"))
        keys = ("kind", "step", "root", "batches_digest", "optimizer_digest", "batches")
        self.assertEqual([{k: x.get(k) for k in keys} for x in a],
                         [{k: x.get(k) for k in keys} for x in b])

    def test_flat_shards_two_ranks(self):
        two = self.run_ranks("shards", 2)
        one = self.run_ranks("shards", 1)
        ranges = []
        for r in range(2):
            row = []
            for n, sh in sharded_params():
                k = 1
                for s in sh:
                    k *= s
                lo, hi = k * r // 2, k * (r + 1) // 2
                row.append((n, lo * 4, (hi - lo) * 4))
            ranges.append(row)
        self.check_dist_genesis(two, one, ranges)
        self.verify(two)
        # the consolidated file's weights are the genesis halved twice
        import scratchproof.torch as spt
        import torch
        w = spt.load_file(os.path.join(two, "ckpt", "final.safetensors"))
        ref = torch.empty(600, 1000)
        import scratchproof as sp
        sp.init_fill(ref, "w0", SEED, sp.normal(0, 0.02))
        self.assertTrue(torch.equal(w["w0"], ref * 0.25))

    def test_refusals_agreed(self):
        d = self.run_ranks("refusals", 2)
        res = [json.load(open(os.path.join(d, "result%d.json" % r))) for r in range(2)]
        self.assertEqual(res[0], res[1], "ranks disagree on the outcome")
        self.assertIn("another tensor list than rank 0", res[0]["names"])
        self.assertIn("unusable", res[0]["after"])
        # the recorded leaf is the chunk owner's; the other replica reports the disagreement
        self.assertRegex(res[0]["replica"], r"replicas disagree: rank [01]'s copy of tensor 'w' "
                         r"\(chunk 0\)")
        self.assertIn("Error: scratchproof: ", res[0]["replica"])


def tagged(tag, data):
    return hashlib.blake2b(tag.encode() + b"\0" + data, digest_size=32).digest()


def sharding_ref(world, ranges):
    """SPEC 17 sharding digest from [(name, offset, len)] per rank, tensors in given order."""
    h = tagged("scratchproof/sharding", b"")   # not used: build the input by hand below
    buf = b"scratchproof/sharding\0" + struct.pack("<I", world)
    for i, (name, _, _) in enumerate(ranges[0]):
        b = name.encode()
        buf += struct.pack("<I", len(b)) + b
        for r in range(world):
            buf += struct.pack("<QQ", ranges[r][i][1], ranges[r][i][2])
    del h
    return hashlib.blake2b(buf, digest_size=32).digest()


def sp_log(ledger):
    r = sp_cmd("log", ledger, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    return j["records"]


if __name__ == "__main__" and len(sys.argv) >= 5 and sys.argv[1] == "--rank":
    MODES[sys.argv[2]](sys.argv[3], int(sys.argv[4]))
    sys.exit(0)
