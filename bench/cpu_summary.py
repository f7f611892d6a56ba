"""The CPU benchmarks without pytest-benchmark: markdown tables of the ratios, in one run.

    python -m bench.cpu_summary [--rounds 15] [--step-rounds 15] [--only steps] [--json PATH]

* dispatch overhead per op (`bench.bench_ops`): microseconds per call of tritongrad on a 4x4 cpu tensor
  minus the raw NumPy call, without and with ``requires_grad`` (forward only: recording the graph);
  target under 4 us without grad;
* the 3-layer MLP step (`bench.bench_mlp`): tritongrad / hand-written NumPy, and PyTorch CPU / NumPy when
  torch is installed; target tritongrad within 1.25x of NumPy at the ``mnist`` size.

* training steps beside the peers (`bench.bench_gpt`, `bench.bench_steps`): the small GPT step (the
  ``--tiny`` config of ``examples/train_gpt.py``: 2 layers, 64 wide, block 64, batch 16, AdamW, gradient
  clipping); the MLP step (64-256-256-10, Adam, batch 128); the small CNN step (two 3x3 convs and a linear on
  8x8 images, Adam, batch 64); each against PyTorch CPU and the same step in raw NumPy (backward by hand). Each
  runs with one thread (BLAS through threadpoolctl, ``torch.set_num_threads(1)``) and with the libraries'
  default thread counts (all cores), in the same interleaved rounds. Targets: GPT <= 1.5x PyTorch, MLP
  <= 1.1x raw NumPy, CNN <= 2x PyTorch (each compared at the same thread setting).

Dispatch and the forward/backward MLP report the minimum over ``--rounds`` rounds; the training steps the
median over ``--step-rounds`` rounds (each round times every case once, about 50 ms of calls, in turn), so a
busy machine slows all of them alike and a burst of other work moves the median little. On a shared machine,
``OPENBLAS_NUM_THREADS=1`` (set before Python starts) keeps BLAS thread contention out of the MLP numbers.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import time

import numpy as np

from . import bench_gpt, bench_mlp, bench_ops, bench_steps

STEP_TARGETS = {"gpt": ("torch", 1.5), "mlp": ("numpy", 1.1), "cnn": ("torch", 2.0)}
"""problem -> (the peer, the largest ratio tritongrad / peer that meets the target)."""
THREAD_SETTINGS = ("1", "default")


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


def _threads(setting):
    """A context manager running BLAS and torch on one thread (``"1"``), or as they are (``"default"``)."""
    if setting == "default":
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(limits=int(setting), user_api="blas"))
    try:
        import torch
    except ImportError:
        return stack
    before = torch.get_num_threads()
    torch.set_num_threads(int(setting))
    stack.callback(torch.set_num_threads, before)
    return stack


def interleaved_median(cases, rounds, target_s=0.05):
    """``cases``: name -> (step function, thread setting). Each round times every case once (as many calls as
    take about ``target_s``) in turn; returns name -> ``{"median_ms", "min_ms", "cpu_median_ms"}`` per call over
    the rounds: wall-clock time, and the process's CPU time (all its threads), which time-slicing by other
    jobs on a shared machine does not inflate."""
    numbers, wall, cpu = {}, {name: [] for name in cases}, {name: [] for name in cases}
    for name, (fn, setting) in cases.items():
        with _threads(setting):
            numbers[name] = _calls_for(fn, (), target_s)
    for _ in range(rounds):
        for name, (fn, setting) in cases.items():
            with _threads(setting):
                c0 = time.process_time()
                wall[name].append(_per_call_s(fn, (), numbers[name]))
                cpu[name].append((time.process_time() - c0) / numbers[name])
    return {name: {"median_ms": statistics.median(wall[name]) * 1e3, "min_ms": min(wall[name]) * 1e3,
                   "cpu_median_ms": statistics.median(cpu[name]) * 1e3} for name in cases}


def _step_makers(have_torch):
    """problem -> implementation -> function of nothing returning a step (checked against each other first)."""
    import tritongrad
    makers = {"gpt": {"tritongrad": lambda: bench_gpt.tritongrad_problem()[0], "numpy": bench_gpt.numpy_problem}}
    bench_gpt.check_numpy_agrees()
    for name in ("mlp", "cnn"):
        makers[name] = {"tritongrad": functools.partial(bench_steps.framework_problem, tritongrad, name),
                        "numpy": functools.partial(bench_steps.numpy_problem, name)}
        bench_steps.check_agrees(name, functools.partial(bench_steps.framework_problem, tritongrad))
    if have_torch:
        import torch
        bench_gpt.check_agrees()
        makers["gpt"]["torch"] = lambda: bench_gpt.torch_problem()[0]
        for name in ("mlp", "cnn"):
            makers[name]["torch"] = functools.partial(bench_steps.framework_problem, torch, name)
            bench_steps.check_agrees(name, functools.partial(bench_steps.framework_problem, torch))
    return makers


def measure_steps(rounds):
    """Rows ``{problem, impl, threads, median_ms, min_ms}`` for every problem, implementation and thread setting,
    all interleaved in one set of rounds."""
    makers = _step_makers(_have_torch())
    cases = {}
    for problem, impls in makers.items():
        for impl, make in impls.items():
            for setting in THREAD_SETTINGS:
                step = make()
                with _threads(setting):
                    for _ in range(3):          # warm up: first calls allocate optimizer state and caches
                        step()
                cases[(problem, impl, setting)] = (step, setting)
    timed = interleaved_median(cases, rounds)
    return [{"problem": p, "impl": i, "threads": t, **timed[(p, i, t)]} for (p, i, t) in cases]


def step_ratios(rows, key="median_ms"):
    """``{(problem, threads): {impl: ms}}`` (``key``: "median_ms" wall-clock, or "cpu_median_ms") and the
    target verdicts: per problem and thread setting, tritongrad / the peer named in `STEP_TARGETS`."""
    table = {}
    for r in rows:
        table.setdefault((r["problem"], r["threads"]), {})[r["impl"]] = r[key]
    verdicts = {}
    for (problem, threads), ms in table.items():
        peer, limit = STEP_TARGETS[problem]
        if peer in ms:
            ratio = ms["tritongrad"] / ms[peer]
            verdicts[(problem, threads)] = (peer, ratio, ratio <= limit)
    return table, verdicts


def _have_torch():
    try:
        import torch  # noqa: F401  (optional peer)
    except ImportError:
        return False
    return True


def _verdict(ok):
    return "meets target" if ok else "misses target"


def markdown(result):
    """The summary as markdown text (pure formatting of `run`'s result)."""
    m = result["machine"]
    lines = [f"CPU benchmarks, {m['date']}: {m['platform']}, Python {m['python']}, NumPy {m['numpy']}"
             f"{' (' + m['blas'] + ')' if m.get('blas') else ''}, {m['cpus']} CPUs (load average {m['load_average']}"
             f"{' before, ' + m['load_average_after'] + ' after' if m.get('load_average_after') else ''}), "
             f"OPENBLAS_NUM_THREADS={m['openblas_threads']}, torch: {m['torch']}"]
    if result["dispatch"]:
        lines += ["", f"Dispatch overhead on a {tuple(bench_ops.SHAPE)} float32 cpu tensor (target: under "
                  f"{bench_ops.OVERHEAD_TARGET_US:g} us above NumPy without grad)", "",
                  "| op | NumPy us | tritongrad us | overhead us | with requires_grad us | overhead us (grad) | |",
                  "|---|---:|---:|---:|---:|---:|---|"]
    for r in result["dispatch"]:
        lines.append(f"| {r['op']} | {r['numpy_us']:.2f} | {r['tritongrad_us']:.2f} | {r['overhead_us']:.2f} | "
                     f"{r['tritongrad_requires_grad_us']:.2f} | {r['overhead_grad_us']:.2f} | "
                     f"{_verdict(r['overhead_us'] < bench_ops.OVERHEAD_TARGET_US)} |")
    if result["mlp"]:
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
    if result.get("steps"):
        lines += ["", "Training steps, float32: median ms per step over interleaved rounds (wall clock, min in "
                  "brackets; with one thread also the process's CPU time per step, which other jobs' time slices do "
                  "not inflate); targets: GPT <= 1.5x PyTorch, MLP <= 1.1x raw NumPy, CNN <= 2x PyTorch", "",
                  "| step | threads | clock | tritongrad ms | PyTorch CPU ms | raw NumPy ms | tritongrad / peer | |",
                  "|---|---|---|---:|---:|---:|---:|---|"]
        cells = {(r["problem"], r["threads"], r["impl"]): r for r in result["steps"]}
        for key, clock in (("median_ms", "wall"), ("cpu_median_ms", "CPU")):
            table, verdicts = step_ratios(result["steps"], key)
            for (problem, threads) in table:
                if clock == "CPU" and threads != "1":
                    continue              # CPU time sums the threads: a speed only with one thread
                peer, ratio, ok = verdicts.get((problem, threads), (None, None, None))
                ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x {'PyTorch' if peer == 'torch' else 'NumPy'}"

                def cell(impl):
                    r = cells.get((problem, threads, impl))
                    if r is None:
                        return "n/a"
                    return f"{r[key]:.2f}" + (f" ({r['min_ms']:.2f})" if clock == "wall" else "")
                lines.append(f"| {problem} | {threads} | {clock} | {cell('tritongrad')} | {cell('torch')} | "
                             f"{cell('numpy')} | {ratio_text} | {'' if ok is None else _verdict(ok)} |")
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
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"), "torch": torch_version,
            "blas": _blas()}


def _blas():
    """NumPy's BLAS library, version and default thread count, as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    return "; ".join(f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
                     for i in threadpool_info() if i.get("user_api") == "blas" and "numpy" in i.get("filepath", ""))


def run(rounds=15, step_rounds=15, only=None):
    """Check, then measure; returns ``{"machine", "dispatch", "mlp", "steps"}`` (``only="steps"``: the training
    steps alone, the other sections empty)."""
    result = {"machine": _machine(), "dispatch": [], "mlp": [], "steps": []}
    if only in (None, "dispatch"):
        result["dispatch"] = measure_dispatch(rounds)
    if only in (None, "mlp"):
        result["mlp"] = measure_mlp(rounds)
    if only in (None, "steps"):
        result["steps"] = measure_steps(step_rounds)
    result["machine"]["load_average_after"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per case; the minimum is reported")
    parser.add_argument("--step-rounds", type=int, default=15,
                        help="rounds of the training steps; the median is reported")
    parser.add_argument("--only", choices=["dispatch", "mlp", "steps"], help="measure one section only")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    result = run(args.rounds, args.step_rounds, args.only)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
