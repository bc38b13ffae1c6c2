#!/usr/bin/env bash
# torch_copy_path.sh - the cost of the device copy path (hooks/python/scratchproof/_device.py)
# forced on CPU (no GPU here): a checkpoint of a ~100 MB model (6 x Linear(2048, 2048), F32)
# recorded directly (hashed in place) and through the copy path (staged into reused host
# buffers, then hashed), interleaved in one process, median of REPS (default 5) each; without
# a file (streaming through two buffers) and with a safetensors file (one arena). Prints:
#   torch_copy.model_mb, torch_copy.{nofile,file}_{direct,copy}_s, torch_copy.{nofile,file}_extra_s,
#   torch_copy.{nofile,file}_ratio (copy / direct). On CUDA the copies overlap the hashing;
#   on CPU they are synchronous memcpy, so this is an upper bound of the extra cost.
# Env: BUILD (default build), PYTHON (default /usr/bin/python3), REPS.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${BUILD:-build}
case $B in /*) BA=$B ;; *) BA=$PWD/$B ;; esac
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "torch_copy_path.sh: skipped: $PY cannot import torch and numpy" >&2
  exit 0
fi
[ -e "$B/libscratchproof.so" ] && [ -x "$B/scratchproof" ] ||
  { echo "torch_copy_path.sh: $B/libscratchproof.so or $B/scratchproof missing; run make" >&2; exit 2; }
t=$(mktemp -d /tmp/sp-copy-bench.XXXXXX) || exit 2
trap 'rm -rf "$t"' EXIT
"$B/scratchproof" keygen -o "$t/k" >/dev/null || exit 1
echo "== device copy path forced on CPU: ~100 MB checkpoint, direct vs copy (median of ${REPS:-5}; load average $(cut -d' ' -f1-3 /proc/loadavg))"
SCRATCHPROOF_LIB="$BA/libscratchproof.so" PYTHONPATH="$PWD/hooks/python" PYTHONDONTWRITEBYTECODE=1 \
  T="$t" REPS="${REPS:-5}" "$PY" - <<'PY'
import os, statistics, time
import torch, torch.nn as nn
import scratchproof as sp, scratchproof.torch as spt
t, reps = os.environ["T"], int(os.environ["REPS"])
torch.set_num_threads(1)
model = nn.Sequential(*[nn.Linear(2048, 2048, bias=False) for _ in range(6)])
mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
runs = {}
for mode in ("direct", "copy"):
    runs[mode] = sp.Run(os.path.join(t, mode + ".ledger"), os.path.join(t, "k.key"), 1,
                        force_copy_path=(mode == "copy"))
    spt.initialize(model, runs[mode])
times = {(f, m): [] for f in ("nofile", "file") for m in runs}
step = 0
for _ in range(reps):
    for f in ("nofile", "file"):
        step += 1
        for m, run in runs.items():
            path = os.path.join(t, "%s.safetensors" % m) if f == "file" else None
            t0 = time.perf_counter()
            run.checkpoint(step, model, path=path)
            times[(f, m)].append(time.perf_counter() - t0)
for run in runs.values():
    run.close()
print("torch_copy.model_mb %.1f" % mb)
for f in ("nofile", "file"):
    d = statistics.median(times[(f, "direct")])
    c = statistics.median(times[(f, "copy")])
    print("torch_copy.%s_direct_s %.4f" % (f, d))
    print("torch_copy.%s_copy_s %.4f" % (f, c))
    print("torch_copy.%s_extra_s %.4f" % (f, c - d))
    print("torch_copy.%s_ratio %.3f" % (f, c / d))
PY
