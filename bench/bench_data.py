"""DataLoader benchmarks.

CPU (``python -m bench.bench_data`` prints a table; ``pytest bench/bench_data.py`` runs the same cases under
pytest-benchmark): samples/s of one shuffled epoch over an in-memory dataset of 60,000 x 784 float32 (plus
int64 labels), batch 256, with 0 and 2 worker processes, beside ``torch.utils.data.DataLoader`` on the same
arrays in the same run when torch is importable (optional: torch is never needed). Worker start-up is
counted, as a user's first epoch pays it.

GPU (``gpu_bench_data(out)``, called by the GPU benchmark script; uses ``bench/gpu_timer.py``):
* host-to-device bandwidth of one batch-sized and one 64 MiB copy: ``Tensor.to("cuda", non_blocking=True)``
  from pinned memory, ``Tensor.to("cuda")`` from pageable memory, and a plain synchronous
  ``cuMemcpyHtoD`` from pinned memory of the same size (the ceiling);
* GPU idle time per step of a small MLP training loop, fed by ``DataLoader(pin_memory=True)`` with
  ``.to("cuda")`` in the loop (no prefetch) and by ``DataLoader(..., device="cuda")`` (prefetch): CUDA
  events on the compute stream mark the start and the end of each step's work; idle is the gap between
  one step's end and the next step's start, as the GPU saw it.
"""
from __future__ import annotations

import time

import numpy as np

N, D, BATCH = 60_000, 784, 256


def make_arrays(n=N, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def tritongrad_epoch(X, y, num_workers, batch_size=BATCH):
    """One shuffled epoch with tritongrad's DataLoader; returns the number of samples seen."""
    import tritongrad as tg
    from tritongrad.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(tg.from_numpy(X), tg.from_numpy(y)), batch_size=batch_size, shuffle=True,
                        num_workers=num_workers)
    return sum(int(bx.shape[0]) for bx, _ in loader)


def torch_epoch(X, y, num_workers, batch_size=BATCH):
    """The same epoch with PyTorch's DataLoader (needs torch)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=batch_size,
                        shuffle=True, num_workers=num_workers)
    return sum(int(bx.shape[0]) for bx, _ in loader)


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def samples_per_s(epoch_fn, X, y, num_workers, repeats=3):
    """Best samples/s over ``repeats`` epochs."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = epoch_fn(X, y, num_workers)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def cpu_table(repeats=3):
    """Rows ``(library, num_workers, samples/s, ratio tritongrad/torch or None)``."""
    X, y = make_arrays()
    rows = []
    for workers in (0, 2):
        ours = samples_per_s(tritongrad_epoch, X, y, workers, repeats)
        theirs = samples_per_s(torch_epoch, X, y, workers, repeats) if _torch_available() else None
        rows.append(("tritongrad", workers, ours, None if theirs is None else ours / theirs))
        if theirs is not None:
            rows.append(("torch", workers, theirs, None))
    return rows


def main():
    rows = cpu_table()
    print(f"DataLoader, {N} x {D} float32 + int64 labels, batch {BATCH}, shuffle, one epoch (best of 3)")
    print(f"{'library':<12}{'workers':>8}{'samples/s':>14}{'vs torch':>10}")
    for lib, workers, sps, ratio in rows:
        print(f"{lib:<12}{workers:>8}{sps:>14,.0f}{'' if ratio is None else f'{ratio:.2f}x':>10}")
    if not _torch_available():
        print("(torch is not installed: no PyTorch comparison in this run)")


# --------------------------------------------------------------------------------------------- pytest-benchmark
def _bench(benchmark, epoch_fn, workers):
    X, y = make_arrays()
    n = benchmark.pedantic(epoch_fn, args=(X, y, workers), rounds=2, iterations=1)
    assert n == N


def test_tritongrad_loader_0_workers(benchmark):
    _bench(benchmark, tritongrad_epoch, 0)


def test_tritongrad_loader_2_workers(benchmark):
    _bench(benchmark, tritongrad_epoch, 2)


def test_torch_loader_0_workers(benchmark):
    import pytest
    pytest.importorskip("torch", reason="torch is not installed: the PyTorch comparison is optional")
    _bench(benchmark, torch_epoch, 0)


def test_torch_loader_2_workers(benchmark):
    import pytest
    pytest.importorskip("torch", reason="torch is not installed: the PyTorch comparison is optional")
    _bench(benchmark, torch_epoch, 2)


# --------------------------------------------------------------------------------------------- GPU
def _h2d_bandwidth(nbytes, repeats):
    """GB/s of pinned non-blocking, pageable blocking and plain cuMemcpyHtoD copies of ``nbytes``."""
    import tritongrad as tg
    from tritongrad import runtime
    from tritongrad.runtime.device import bindings

    from . import gpu_timer

    n = nbytes // 4
    pinned = runtime.pinned_empty((n,), np.float32)
    pinned[...] = 1.0
    pageable = np.ones(n, np.float32)
    t_pinned, t_pageable = tg.from_numpy(pinned), tg.from_numpy(pageable)
    pinned_ms = gpu_timer.benchmark(lambda: t_pinned.to("cuda", non_blocking=True), warmup=3, repeats=repeats,
                                    flush_l2=False).median_ms
    pageable_ms = gpu_timer.benchmark(lambda: t_pageable.to("cuda"), warmup=3, repeats=repeats,
                                      flush_l2=False).median_ms
    dst = runtime.empty((n,), np.float32)
    d = bindings()
    runtime.synchronize()
    times = []
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        (err,) = d.cuMemcpyHtoD(dst.data_ptr(), pinned.ctypes.data, n * 4)
        if err:
            raise RuntimeError(f"cuMemcpyHtoD failed: {err}")
        if i >= 3:
            times.append((time.perf_counter() - t0) * 1e3)
    plain_ms = float(np.median(times))
    gbs = gpu_timer.gb_per_s
    return {"nbytes": n * 4, "pinned_non_blocking_gb_s": gbs(n * 4, pinned_ms),
            "pageable_gb_s": gbs(n * 4, pageable_ms), "plain_cuMemcpyHtoD_gb_s": gbs(n * 4, plain_ms),
            "pinned_vs_plain": plain_ms / pinned_ms, "pageable_vs_plain": plain_ms / pageable_ms}


def _idle_per_step(prefetch, steps=60, n=16384, hidden=1024):
    """Mean GPU idle ms per step and mean step ms of a 2-layer MLP trained on batches of 256 x 784."""
    import tritongrad as tg
    from tritongrad import optim, runtime
    from tritongrad.utils.data import DataLoader, TensorDataset

    X, y = make_arrays(n)
    ds = TensorDataset(tg.from_numpy(X), tg.from_numpy(y.astype(np.float32)))
    g = tg.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, drop_last=True, pin_memory=True, generator=g,
                        device="cuda" if prefetch else None)
    w1 = (tg.randn(D, hidden, device="cuda") * 0.03).requires_grad_(True)
    w2 = (tg.randn(hidden, 1, device="cuda") * 0.03).requires_grad_(True)
    opt = optim.SGD([w1, w2], lr=1e-3)
    starts, ends = [], []
    done = 0
    while done < steps:
        for bx, by in loader:
            if not prefetch:
                bx, by = bx.to("cuda"), by.to("cuda")
            start = runtime.Event(enable_timing=True)
            start.record()
            loss = (((bx @ w1).relu() @ w2).reshape(-1) - by).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            end = runtime.Event(enable_timing=True)
            end.record()
            starts.append(start)
            ends.append(end)
            done += 1
            if done == steps:
                break
    runtime.synchronize()
    skip = 5                                  # warm-up steps (kernel compilation, pool growth)
    idle = [ends[i].elapsed_time(starts[i + 1]) for i in range(skip, steps - 1)]
    busy = [starts[i].elapsed_time(ends[i]) for i in range(skip, steps)]
    return {"idle_ms_per_step": float(np.mean(idle)), "busy_ms_per_step": float(np.mean(busy)),
            "steps": steps - skip}


def gpu_bench_data(out, repeats=20):
    """Fill ``out`` with the GPU DataLoader figures (see the module docstring); returns ``out``."""
    out["h2d_batch"] = _h2d_bandwidth(BATCH * D * 4, repeats)
    out["h2d_64mib"] = _h2d_bandwidth(64 << 20, repeats)
    out["train_no_prefetch"] = _idle_per_step(prefetch=False)
    out["train_prefetch"] = _idle_per_step(prefetch=True)
    return out


if __name__ == "__main__":
    main()
