"""The CPU benchmarks in a few seconds, without pytest-benchmark: a markdown table of the ratios.

    python -m bench.cpu_summary [--rounds 15] [--json PATH]

* dispatch overhead per op (`bench.bench_ops`): microseconds per call of tritongrad on a 4x4 cpu tensor
  minus the raw NumPy call, without and with ``requires_grad`` (forward only: recording the graph);
  target under 4 us without grad;
* the 3-layer MLP step (`bench.bench_mlp`): tritongrad / hand-written NumPy, and PyTorch CPU / NumPy when
  torch is installed; target tritongrad within 1.25x of NumPy at the ``mnist`` size.

Timings are the minimum over ``--rounds`` rounds, the implementations interleaved within each round so that
a busy machine slows all of them alike. On a shared machine, ``OPENBLAS_NUM_THREADS=1`` (set before Python
starts) keeps BLAS thread contention out of the MLP numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from . import bench_mlp, bench_ops


def _per_call_s(fn, args, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - t0) / number


def _calls_for(fn, args, target_s=0.02):
    """How many calls take about ``target_s`` (at least 1)."""
    t = _per_call_s(fn, args, 3)
    return max(1, int(target_s / max(t, 1e-9)))


def interleaved_min(cases, rounds):
    """``cases``: name -> (fn, args). Returns name -> minimum seconds per call over ``rounds`` rounds, each
    round timing every case once (about 20 ms each) in turn."""
    numbers = {name: _calls_for(fn, args) for name, (fn, args) in cases.items()}
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, (fn, args) in cases.items():
            best[name] = min(best[name], _per_call_s(fn, args, numbers[name]))
    return best


def measure_dispatch(rounds):
    """Rows ``{op, numpy_us, tritongrad_us, tritongrad_requires_grad_us, overhead_us, overhead_grad_us}``."""
    rows = []
    for op, fn in bench_ops.OPS.items():
        bench_ops.check_op(op)
        best = interleaved_min({kind: (fn, bench_ops.operands(kind)) for kind in bench_ops.KINDS}, rounds)
        us = {kind: best[kind] * 1e6 for kind in bench_ops.KINDS}
        rows.append({"op": op, "shape": list(bench_ops.SHAPE), "numpy_us": us["numpy"],
                     "tritongrad_us": us["tritongrad"],
                     "tritongrad_requires_grad_us": us["tritongrad_requires_grad"],
                     "overhead_us": us["tritongrad"] - us["numpy"],
                     "overhead_grad_us": us["tritongrad_requires_grad"] - us["numpy"]})
    return rows


def measure_mlp(rounds):
    """Rows ``{size, dims, numpy_ms, tritongrad_ms, torch_ms (None without torch), ratios}``."""
    try:
        import torch  # noqa: F401  (optional peer)
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    for size in bench_mlp.SIZES:
        bench_mlp.check_agrees(size)
        cases = {"numpy": (bench_mlp.numpy_step, bench_mlp.problem(size)),
                 "tritongrad": (bench_mlp.framework_step, bench_mlp.tritongrad_problem(size))}
        if have_torch:
            bench_mlp.check_agrees(size, bench_mlp.torch_problem)
            cases["torch"] = (bench_mlp.framework_step, bench_mlp.torch_problem(size))
        best = interleaved_min(cases, rounds)
        ms = {name: best[name] * 1e3 for name in best}
        rows.append({"size": size, "dims": list(bench_mlp.SIZES[size]), "numpy_ms": ms["numpy"],
                     "tritongrad_ms": ms["tritongrad"], "torch_ms": ms.get("torch"),
                     "tritongrad_vs_numpy": ms["tritongrad"] / ms["numpy"],
                     "torch_vs_numpy": ms["torch"] / ms["numpy"] if "torch" in ms else None})
    return rows


def _verdict(ok):
    return "meets target" if ok else "misses target"


def markdown(result):
    """The summary as markdown text (pure formatting of `run`'s result)."""
    m = result["machine"]
    lines = [f"CPU benchmarks, {m['date']}: {m['platform']}, Python {m['python']}, NumPy {m['numpy']}, "
             f"{m['cpus']} CPUs (load average {m['load_average']}), OPENBLAS_NUM_THREADS="
             f"{m['openblas_threads']}, torch: {m['torch']}", "",
             f"Dispatch overhead on a {tuple(bench_ops.SHAPE)} float32 cpu tensor (target: under "
             f"{bench_ops.OVERHEAD_TARGET_US:g} us above NumPy without grad)", "",
             "| op | NumPy us | tritongrad us | overhead us | with requires_grad us | overhead us (grad) | |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in result["dispatch"]:
        lines.append(f"| {r['op']} | {r['numpy_us']:.2f} | {r['tritongrad_us']:.2f} | {r['overhead_us']:.2f} | "
                     f"{r['tritongrad_requires_grad_us']:.2f} | {r['overhead_grad_us']:.2f} | "
                     f"{_verdict(r['overhead_us'] < bench_ops.OVERHEAD_TARGET_US)} |")
    lines += ["", f"3-layer MLP step, forward + backward, float32 (target: tritongrad within "
              f"{bench_mlp.MLP_RATIO_TARGET:g}x of NumPy at the mnist size)", "",
              "| size | batch, dims | NumPy ms | tritongrad ms | tritongrad / NumPy | torch ms | torch / NumPy | |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in result["mlp"]:
        torch_ms = "n/a" if r["torch_ms"] is None else f"{r['torch_ms']:.3f}"
        torch_ratio = "n/a" if r["torch_vs_numpy"] is None else f"{r['torch_vs_numpy']:.2f}"
        verdict = _verdict(r["tritongrad_vs_numpy"] <= bench_mlp.MLP_RATIO_TARGET) if r["size"] == "mnist" else ""
        lines.append(f"| {r['size']} | {tuple(r['dims'])} | {r['numpy_ms']:.3f} | {r['tritongrad_ms']:.3f} | "
                     f"{r['tritongrad_vs_numpy']:.2f} | {torch_ms} | {torch_ratio} | {verdict} |")
    return "\n".join(lines)


def _machine():
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "load_average": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"), "torch": torch_version}


def run(rounds=15):
    """Check, then measure everything; returns ``{"machine", "dispatch", "mlp"}``."""
    return {"machine": _machine(), "dispatch": measure_dispatch(rounds), "mlp": measure_mlp(rounds)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per case; the minimum is reported")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    result = run(args.rounds)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
