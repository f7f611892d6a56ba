"""Data-parallel benchmarks: all-reduce bandwidth and the DDP step's scaling from 1 to N ranks.

    python -m bench.bench_distributed [--ranks 2] [--json PATH]            # MPI on cpu
    python -m bench.bench_distributed --nccl                               # NCCL on the GPUs (1 .. count)

Starts its own ``mpiexec`` runs (the one beside this Python, from the ``distributed`` extra):

* **all-reduce bandwidth**: ``dist.all_reduce`` (SUM, float32, in place) over message sizes from 4 KiB to
  64 MiB on ``--ranks`` ranks; reports the time per call (median of the repeats, after a warm-up) and the bus
  bandwidth ``size * 2 (n - 1) / n / time`` (NCCL's convention: the bytes each rank sends and receives);
* **DDP step scaling**: one AdamW training step (forward, cross-entropy, backward with the bucketed
  all-reduce, optimizer step) of a MLP (256 inputs, 4 ReLU layers 1024 wide, 10 classes: 3.4 M parameters) on a fixed global batch of 256,
  in one process (no DDP) and then split over 2 .. ``--ranks`` ranks (each taking its share of the batch);
  reports ms per step, the same step under ``no_sync`` (the computation without the communication), the
  speed-up over one process and the parallel efficiency (speed-up / ranks).

On cpu each rank is one process with BLAS limited to one thread (so one process uses one core: the scaling is
that of processes, not of BLAS threads). Timings are medians; on a machine shared with other work they move
by tens of percent.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = [4 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
GLOBAL_BATCH, WIDTH, DEPTH = 256, 1024, 4


def _median_s(fn, repeats, barrier):
    times = []
    for _ in range(repeats):
        barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _allreduce_rows(device, sync):
    import tritongrad as tg
    import tritongrad.distributed as dist
    world = dist.get_world_size()
    rows = []
    for nbytes in SIZES:
        t = tg.ones(nbytes // 4, device=device)
        repeats = 20 if nbytes <= (1 << 20) else 5

        def once():
            dist.all_reduce(t)
            sync()
        once()
        sec = _median_s(once, repeats, dist.barrier)
        rows.append({"bytes": nbytes, "ms": sec * 1e3, "busbw_GBps": nbytes * 2 * (world - 1) / world / sec / 1e9})
    return rows


def _mlp(device):
    import tritongrad as tg
    import tritongrad.nn as nn
    tg.manual_seed(0)
    layers = []
    for i in range(DEPTH):
        layers += [nn.Linear(WIDTH if i else 256, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, 10)).to(device)


def _ddp_step_ms(device, sync, use_ddp):
    """(ms per step, ms per step under no_sync: the same work without the all-reduce) on this rank."""
    import tritongrad as tg
    import tritongrad.distributed as dist
    import tritongrad.nn.functional as F
    from tritongrad.nn.parallel import DistributedDataParallel as DDP
    rank, world = dist.get_rank(), dist.get_world_size()
    per = GLOBAL_BATCH // world
    g = np.random.default_rng(0)
    x = tg.tensor(g.standard_normal((GLOBAL_BATCH, 256)).astype(np.float32), device=device)[rank * per:(rank + 1) * per]
    y = tg.tensor(g.integers(0, 10, GLOBAL_BATCH), device=device)[rank * per:(rank + 1) * per]
    model = _mlp(device)
    net = DDP(model) if use_ddp else model
    opt = tg.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        sync()

    def local_step():
        with net.no_sync():
            step()
    for _ in range(2):
        step()
    full = _median_s(step, 7, dist.barrier) * 1e3
    return full, (_median_s(local_step, 7, dist.barrier) * 1e3 if use_ddp else full)


def worker(backend):
    """One rank: run the measurements, rank 0 prints one JSON line."""
    import tritongrad.distributed as dist
    dist.init_process_group(backend)
    device = "cuda" if backend == "nccl" else "cpu"
    if device == "cuda":
        import tritongrad.cuda as tcuda
        sync = tcuda.synchronize
    else:
        def sync():
            return None
    world = dist.get_world_size()
    result = {"world": world, "backend": backend,
              "allreduce": _allreduce_rows(device, sync) if world > 1 else [],
              "step_ms": None, "local_step_ms": None}
    result["step_ms"], result["local_step_ms"] = _ddp_step_ms(device, sync, use_ddp=world > 1)
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)
    dist.destroy_process_group()


def _launch(n, backend):
    from tritongrad.distributed.run import find_mpiexec
    mpiexec = find_mpiexec()
    if mpiexec is None:
        sys.exit("no mpiexec: pip install -e '.[distributed]'")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if backend == "nccl":
        env.pop("TRITON_INTERPRET", None)
    out = subprocess.run([mpiexec, "-n", str(n), sys.executable, "-m", "bench.bench_distributed", "--worker",
                          backend], capture_output=True, text=True, env=env, timeout=900)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        sys.exit(f"mpiexec -n {n} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def _table(runs):
    lines = []
    bw = [r for r in runs if r["allreduce"]]
    if bw:
        lines += ["| message | " + " | ".join(f"{r['world']} ranks: ms, bus GB/s" for r in bw) + " |",
                  "|---|" + "---|" * len(bw)]
        for i, nbytes in enumerate(SIZES):
            cells = [f"{r['allreduce'][i]['ms']:.3f} ms, {r['allreduce'][i]['busbw_GBps']:.2f}" for r in bw]
            lines.append(f"| {nbytes / 1024:.0f} KiB | " + " | ".join(cells) + " |")
        lines.append("")
    base = runs[0]["step_ms"]
    lines += ["| ranks | ms / step (global batch 256) | same step without the all-reduce (no_sync) | speed-up | "
              "efficiency |", "|---|---|---|---|---|"]
    for r in runs:
        speedup = base / r["step_ms"]
        lines.append(f"| {r['world']} | {r['step_ms']:.1f} | {r['local_step_ms']:.1f} | {speedup:.2f}x | "
                     f"{speedup / r['world']:.0%} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, default=2, help="largest world size (default 2)")
    p.add_argument("--nccl", action="store_true", help="cuda tensors over NCCL (one GPU per rank)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    backend = "nccl" if args.nccl else "mpi"
    top = args.ranks
    if args.nccl:
        import tritongrad.cuda as tcuda
        top = min(top, tcuda.device_count())
    runs = [_launch(n, backend) for n in range(1, top + 1)]
    print(f"{backend}: all-reduce (float32 SUM) and DDP step of a {DEPTH}x{WIDTH} MLP, global batch {GLOBAL_BATCH}")
    print(_table(runs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
