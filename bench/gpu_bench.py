"""GPU benchmarks: every tritongrad measurement beside PyTorch and the hardware ceiling, in one run.

    python -m bench.gpu_bench --out DIR [--budget-s 230] [--only SECTION ...] [--no-compile] [--smoke] [--append]
                              [--train-dtypes DTYPE ...]

writes ``DIR/gpu_bench.json`` and ``DIR/gpu_bench.md`` (rewritten after every section, so a run cut short
keeps what it measured; with ``--append`` the rows and sections already there are kept and added to).
``--only`` runs the named sections in the order given. PyTorch is the peer (imported here only, never by tritongrad); timing is
`bench.gpu_timer` (CUDA events on the current stream, L2 flushed before every timed call). tritongrad and
torch share the device's primary context and its legacy default stream, so the same events time both.

Sections (`SECTIONS`, in this order; each in its own try/except, its error recorded in the JSON):

* ``copy_bandwidth``: device-to-device copy of 1 GiB by the driver (``cuMemcpyDtoDAsync``) and by tritongrad's
  Triton copy kernel, vs ``torch.Tensor.copy_`` -- the best of the two is the ceiling (GB/s) that memory-bound
  rows are judged by;
* ``peak_matmul``: ``torch.matmul`` at 8192^3 in bf16 and tf32 and 4096^3 in fp32, TFLOP/s -- the measured
  ceiling the ``matmul`` rows are judged by (the data-sheet peak when torch is missing);
* ``launch_overhead``: host microseconds per launch of an empty Triton kernel through tritongrad's driver,
  and of a tiny add through the Tensor API, vs a tiny ``torch.add``;
* ``elementwise_add``: fp32/bf16 ``a + b`` at 2^20..2^28 elements, GB/s and % of the copy ceiling;
* ``fused_ops``: softmax, layer_norm, rms_norm, cross_entropy forward + backward, GB/s (nominal bytes:
  each input read and each output written once per pass) vs torch eager (and ``torch.compile``, below);
* ``matmul``: bf16, fp32 exact and fp32 tf32 at 4096^3 and 8192^3, TFLOP/s vs ``torch.matmul`` and the
  data-sheet peak;
* ``attention``: causal and full bf16 ``scaled_dot_product_attention`` forward + backward, TFLOP/s vs torch's
  flash backend (backward counted as 2.5x the forward's FLOPs, half of all for causal);
* ``train_gpt``: one training step (forward, loss, backward, grad clip, AdamW) of ``examples.train_gpt``'s
  model (its GPU configuration, float32 then bfloat16 weights, then float32 weights under bfloat16 autocast) in
  tokens/s and peak memory, vs `torch_gpt`, its torch twin (same parameter names: tritongrad's initial weights
  are copied in and the losses compared), and the same tritongrad step replayed from a CUDA graph
  (``make_graphed_step``);
* ``conv2d``: forward + backward (input and weight gradients), TFLOP/s vs torch/cuDNN (tf32 off for fp32);
* ``lstm``: one LSTM layer forward + backward, a single step and a whole sequence, fp32 and fp16, TFLOP/s
  (the input, hidden and weight-gradient matmuls) vs torch/cuDNN (``torch._VF.lstm``, what ``nn.LSTM`` runs);
* ``nn_breadth``: group_norm forward + backward (GB/s) and conv_transpose2d forward + backward (TFLOP/s) vs torch;
* ``cross_entropy_memory``: peak memory above the inputs of cross_entropy forward + backward at vocabulary
  50,304 vs torch eager (the floor: the logits' gradient itself);
* ``adamw`` (`bench.bench_optim.gpu_bench_adamw`), ``dataloader`` (`bench.bench_data.gpu_bench_data`, when
  that module exists), ``serialization`` (`bench.bench_serialization.run`: load to the device);
* ``torch_compile``: the ``torch.compile`` column of the fused ops and the GPT step, while budget remains.

Check before timing: every case first runs tritongrad and the peer on the same inputs and records the
largest error relative to the peer's largest magnitude (``max|a - b| / max|b|``) against a per-dtype
tolerance; a failed check is reported, and makes the exit status 1, but the case is still timed.

Without torch (``--smoke``, e.g. ``TRITON_INTERPRET=1 python -m bench.gpu_bench --smoke --out /tmp/b`` on a
machine with no GPU) the peer is tritongrad's cpu device (the NumPy reference): the checks run, nothing is
timed beside tritongrad, and the sizes are tiny. That exercises every tritongrad call of this script.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback

import numpy as np

from .gpu_peers import ReferencePeer, TorchPeer, _gpt_step, _np_dtype, _torch_optimizer, torch_gpt  # noqa: F401

SECTIONS = ("copy_bandwidth", "peak_matmul", "launch_overhead", "elementwise_add", "fused_ops", "matmul", "attention", "train_gpt",
            "conv2d", "lstm", "nn_breadth", "cross_entropy_memory", "adamw", "dataloader", "serialization",
            "torch_compile")
# seconds a section needs at least; it is skipped (and says so) when less of the budget is left
SECTION_MIN_S = {"copy_bandwidth": 2, "peak_matmul": 5, "launch_overhead": 3, "elementwise_add": 10, "fused_ops": 15, "matmul": 30,
                 "attention": 15, "conv2d": 15, "cross_entropy_memory": 5, "adamw": 10, "dataloader": 10,
                 "serialization": 15, "train_gpt": 25, "torch_compile": 30, "lstm": 10, "nn_breadth": 10}
HIGHER_IS_BETTER = {"GB/s": True, "TFLOP/s": True, "tokens/s": True, "us/launch": False, "MB": False, "ms": False}
# dense data-sheet peaks (TFLOP/s) of the SXM parts, the matmul rows' ceiling
SPEC_TFLOPS = {"H200": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},
               "H100": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},
               "A100": {"bfloat16": 312.0, "tf32": 156.0, "float32": 19.5}}
TOL = {"float32": 1e-4, "bfloat16": 2e-2, "float16": 1e-2, "tf32": 1e-2}
GPT_BATCH = 64   # examples/train_gpt.py's GPU default batch size (its GPTConfig() is the GPU workload)
GPT_DTYPES = ("float32", "bfloat16", "amp_bf16")   # weights' dtype; amp_bf16: fp32 weights, bf16 autocast


# ------------------------------------------------------------------------------ results: pure Python
def make_row(section, case, unit, tritongrad, torch=None, torch_compile=None, ceiling=None, ceiling_name=None,
             check=None, **extra):
    """One measurement: tritongrad's value beside the peer's and the ceiling's, in ``unit`` (a key of
    `HIGHER_IS_BETTER`). ``check`` is `make_check`'s dict or None. Derived fields are filled by `derive`."""
    if unit not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown unit {unit!r}, expected one of {sorted(HIGHER_IS_BETTER)}")
    row = {"section": section, "case": case, "unit": unit, "tritongrad": tritongrad, "torch": torch,
           "torch_compile": torch_compile, "ceiling": ceiling, "ceiling_name": ceiling_name, "check": check}
    row.update(extra)
    return derive(row)


def derive(row):
    """Fill ``vs_torch`` (> 1: tritongrad is better, whatever the unit's direction), ``vs_torch_compile``
    and ``pct_of_ceiling`` (throughput units only) from the row's values; None where a value is missing."""
    higher = HIGHER_IS_BETTER[row["unit"]]

    def ratio(ours, theirs):
        if ours is None or theirs is None or ours <= 0 or theirs <= 0:
            return None
        return ours / theirs if higher else theirs / ours

    row["vs_torch"] = ratio(row["tritongrad"], row["torch"])
    row["vs_torch_compile"] = ratio(row["tritongrad"], row.get("torch_compile"))
    ceiling = row.get("ceiling")
    row["pct_of_ceiling"] = (100.0 * row["tritongrad"] / ceiling
                             if higher and ceiling and row["tritongrad"] is not None else None)
    return row


def make_check(errors, tol, against):
    """``{"max_rel_err", "tol", "ok", "against", "errors"}`` from named relative errors (a dict)."""
    worst = max(errors.values()) if errors else None
    ok = worst is not None and math.isfinite(worst) and worst <= tol
    return {"max_rel_err": worst, "tol": tol, "ok": ok, "against": against,
            "errors": {k: float(v) for k, v in errors.items()}}


def _fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def _fmt_check(check):
    if not check:
        return "–"
    if check.get("error"):
        return f"ERROR {check['error']}"
    err = check["max_rel_err"]
    err_s = "nan" if err is None else f"{err:.1e}"
    return (f"ok {err_s}" if check["ok"] else f"**FAIL** {err_s} > {check['tol']:.0e}") + f" vs {check['against']}"


def to_markdown(results):
    """The results as a markdown report: versions, the measurement table, section status, extras."""
    meta = results["meta"]
    lines = [f"# tritongrad GPU benchmarks, {meta.get('date', '?')}", "",
             "| | |", "|---|---|"]
    for key in ("gpu", "capability", "driver", "cuda", "triton", "torch", "tritongrad", "python", "numpy",
                "git_commit", "copy_bandwidth_gbs", "budget_s", "mode"):
        if key in meta:
            lines.append(f"| {key} | {_fmt(meta[key])} |")
    lines += ["", "Ratios: > 1 means tritongrad is better (faster, or less memory). Check: the largest error "
              "relative to the peer's largest magnitude.", "",
              "| section | case | unit | tritongrad | torch eager | torch.compile | ceiling | vs torch | "
              "vs compile | % of ceiling | check |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        ceiling = _fmt(r["ceiling"]) + (f" ({r['ceiling_name']})" if r.get("ceiling_name") else "")
        vs = [("–" if v is None else f"{v:.2f}x") for v in (r["vs_torch"], r["vs_torch_compile"])]
        pct = "–" if r["pct_of_ceiling"] is None else f"{r['pct_of_ceiling']:.0f}%"
        lines.append(f"| {r['section']} | {r['case']} | {r['unit']} | {_fmt(r['tritongrad'])} | {_fmt(r['torch'])} | "
                     f"{_fmt(r['torch_compile'])} | {ceiling} | {vs[0]} | {vs[1]} | {pct} | {_fmt_check(r['check'])} |")
    lines += ["", "| section | status | seconds | note |", "|---|---|---:|---|"]
    for name, s in results["sections"].items():
        note = (s.get("error") or s.get("note") or "").strip().splitlines()
        lines.append(f"| {name} | {s['status']} | {_fmt(s.get('seconds'))} | {note[-1] if note else ''} |")
    for name, s in results["sections"].items():
        if s.get("extra"):
            lines += ["", f"### {name}", "", "```", json.dumps(s["extra"], indent=1, default=str), "```"]
    return "\n".join(lines) + "\n"


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_results(results, out_dir):
    """Write ``gpu_bench.json`` and ``gpu_bench.md`` into ``out_dir`` (created); returns both paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path, md_path = os.path.join(out_dir, "gpu_bench.json"), os.path.join(out_dir, "gpu_bench.md")
    _write_atomic(json_path, json.dumps(results, indent=1, default=str) + "\n")
    _write_atomic(md_path, to_markdown(results))
    return json_path, md_path


def failures(results):
    """Names of failed checks and sections in error (empty when the run is clean)."""
    bad = [f"{r['section']}/{r['case']}: check failed" for r in results["rows"]
           if r["check"] and not r["check"].get("ok")]
    return bad + [f"{n}: {s['status']}" for n, s in results["sections"].items() if s["status"] == "error"]


def parse_args(argv=None):
    """Command line: ``--out`` (required), ``--budget-s``, ``--only``, ``--no-compile``, ``--smoke``."""
    p = argparse.ArgumentParser(prog="python -m bench.gpu_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for gpu_bench.json and gpu_bench.md")
    p.add_argument("--budget-s", type=float, default=230.0,
                   help="wall-clock budget in seconds; sections that would not fit are skipped (default 230)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                   help=f"run only these sections (of: {', '.join(SECTIONS)})")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    p.add_argument("--append", action="store_true",
                   help="keep the rows and sections of an existing DIR/gpu_bench.json and add to them")
    p.add_argument("--train-dtypes", nargs="+", choices=GPT_DTYPES, default=list(GPT_DTYPES), metavar="DTYPE",
                   help=f"train_gpt's cases, in this order (of: {', '.join(GPT_DTYPES)})")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and 1-2 repeats: checks the script itself (also in Triton's interpreter)")
    args = p.parse_args(argv)
    if args.budget_s <= 0:
        p.error("--budget-s must be positive")
    return args


# ------------------------------------------------------------------------------ the run
class Bench:
    """One run: the peer, the budget, the timing helper and the results (written after every section)."""

    def __init__(self, args):
        import tritongrad as tg
        import tritongrad.nn.functional  # noqa: F401  (tg.nn.functional below)
        from tritongrad import runtime

        from . import gpu_timer
        self.args, self.smoke, self.tg, self.runtime, self.gpu_timer = args, args.smoke, tg, runtime, gpu_timer
        self.t0 = time.perf_counter()
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and not runtime.interpreting():
            self.torch, self.peer = torch, TorchPeer(torch)
        elif args.smoke:
            self.torch, self.peer = None, ReferencePeer()
        else:
            raise SystemExit("gpu_bench needs torch (the peer) on a GPU; without them run it with --smoke")
        self.compile_enabled = self.torch is not None and not args.no_compile and not args.smoke
        self.deferred = []   # (name, fn) torch.compile measurements run by the torch_compile section
        self.copy_gbs = None
        self.peak_tflops = {}
        self.results = {"meta": self._meta(), "rows": [], "sections": {}}
        path = os.path.join(args.out, "gpu_bench.json")
        if getattr(args, "append", False) and os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            self.results["rows"], self.results["sections"] = old.get("rows", []), old.get("sections", {})
            for key in ("copy_bandwidth_gbs", "torch_matmul_peak_tflops"):
                if key in old.get("meta", {}):
                    self.results["meta"][key] = old["meta"][key]
            self.copy_gbs = self.results["meta"].get("copy_bandwidth_gbs")
            self.peak_tflops = self.results["meta"].get("torch_matmul_peak_tflops", {})

    # -- budget and timing --------------------------------------------------------------------------
    def time_left(self):
        return self.args.budget_s - (time.perf_counter() - self.t0)

    def time_ms(self, fn, heavy=False, flush_l2=True):
        """Median milliseconds of ``fn()`` (CUDA events, L2 flushed); fewer repeats when ``heavy``."""
        warmup, repeats = (1, 2) if self.smoke else ((2, 5) if heavy else (5, 20))
        return self.gpu_timer.benchmark(fn, warmup=warmup, repeats=repeats, flush_l2=flush_l2).median_ms

    def sync(self):
        self.runtime.synchronize()

    def add(self, row):
        """Append a row and rewrite the results (a run stopped mid-section keeps the rows it measured)."""
        self.results["rows"].append(row)
        write_results(self.results, self.args.out)
        return row

    # -- sections -----------------------------------------------------------------------------------
    def run(self, names):
        for name in names:
            self._run_section(name)
        self.results["meta"]["seconds"] = round(time.perf_counter() - self.t0, 1)
        write_results(self.results, self.args.out)
        return self.results

    def _run_section(self, name):
        sections = self.results["sections"]
        if self.time_left() < SECTION_MIN_S[name] and not self.smoke:
            sections[name] = {"status": "skipped", "note": f"time budget: {self.time_left():.0f} s left, "
                                                           f"needs {SECTION_MIN_S[name]} s"}
            write_results(self.results, self.args.out)
            return
        print(f"[gpu_bench] {name} ({self.time_left():.0f} s left)", flush=True)
        t0 = time.perf_counter()
        extra = {}
        try:
            note = getattr(self, "section_" + name)(extra)
            status = "skipped" if isinstance(note, str) and note.startswith("skipped") else "ok"
            sections[name] = {"status": status, "note": note or ""}
        except Exception as e:  # one section's failure must not lose the others
            sections[name] = {"status": "error", "error": f"{type(e).__name__}: {e}",
                              "traceback": traceback.format_exc()}
            print(traceback.format_exc(), file=sys.stderr, flush=True)
        except KeyboardInterrupt:   # stopped from outside (gpu_check.sh's stage limit): say so, then stop
            sections[name] = {"status": "interrupted", "seconds": round(time.perf_counter() - t0, 2),
                              "note": "stopped from outside (SIGINT) during this section"}
            write_results(self.results, self.args.out)
            raise
        sections[name]["seconds"] = round(time.perf_counter() - t0, 2)
        if extra:
            sections[name]["extra"] = extra
        with contextlib.suppress(Exception):
            self.sync()
            self.peer.empty_cache()
        write_results(self.results, self.args.out)

    def _meta(self):
        import triton
        meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "python": platform.python_version(), "numpy": np.__version__, "triton": triton.__version__,
                "tritongrad": self.tg.__version__, "torch": self.torch.__version__ if self.torch else "not installed",
                "peer": self.peer.name, "budget_s": self.args.budget_s,
                "mode": "smoke" if self.smoke else "full", "git_commit": _git_commit()}
        if self.runtime.interpreting():
            meta.update(gpu="none: Triton interpreter (TRITON_INTERPRET=1)", driver=None, cuda=None)
        else:
            capability = ".".join(map(str, self.runtime.get_device_capability()))
            meta.update(gpu=self.runtime.get_device_name(), capability=capability, driver=_nvidia_driver(),
                        cuda=_cuda_versions(self.torch))
        return meta

    # -- shared case runner -------------------------------------------------------------------------
    @contextlib.contextmanager
    def precision(self, tf32):
        """fp32 matmuls/convolutions exact (``tf32=False``) or tf32, for tritongrad and the peer alike."""
        self.tg.set_float32_matmul_precision("high" if tf32 else "highest")
        self.peer.set_fp32_precision(tf32)
        try:
            yield
        finally:
            self.tg.set_float32_matmul_precision("highest")
            self.peer.set_fp32_precision(False)

    def case(self, section, name, fn, make_inputs, unit="GB/s", ceiling=None, ceiling_name=None, **kw):
        """Check, then time, one op: ``fn(lib, F, *inputs)`` on tritongrad and on the peer (see `_case`).
        An exception loses this case only: its row records the error (and counts as a failed check)."""
        try:
            return self._case(section, name, fn, make_inputs, unit=unit, ceiling=ceiling, ceiling_name=ceiling_name,
                              **kw)
        except Exception as e:
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                self.sync()
            return self.add(make_row(section, name, unit, None, ceiling=ceiling, ceiling_name=ceiling_name,
                                     check={"ok": False, "error": f"{type(e).__name__}: {e}"},
                                     traceback=traceback.format_exc()))

    def _case(self, section, name, fn, make_inputs, grad_args=(), unit="GB/s", amount=None, tol=1e-4,
              tf32=False, peer_context=None, heavy=False, ceiling=None, ceiling_name=None, compile_ok=True):
        """``make_inputs(peer)`` returns the peer's input tensors; those at ``grad_args`` require grad and the op
        is timed forward + backward (with a fixed random upstream gradient for a non-scalar output). ``amount``
        is bytes (unit GB/s) or FLOPs (TFLOP/s) per timed call. ``peer_context()``: a context manager around
        the peer's calls (e.g. choosing torch's SDPA backend). Adds and returns the row."""
        tg, peer = self.tg, self.peer
        ctx = peer_context or contextlib.nullcontext
        with self.precision(tf32):
            p_in = list(make_inputs(peer))
            for i in grad_args:
                p_in[i].requires_grad_(True)
            t_in = [peer.to_tg(x, requires_grad=i in grad_args) for i, x in enumerate(p_in)]
            with ctx():
                p_out = fn(peer.lib, peer.F, *p_in)
            t_out = fn(tg, tg.nn.functional, *t_in)
            p_gy = t_gy = None
            if grad_args and p_out.dim() > 0:
                p_gy = peer.randn(tuple(p_out.shape), str(p_out.dtype).split(".")[-1])
                t_gy = peer.to_tg(p_gy)
            errors = {"out": peer.rel_err(peer.from_tg(t_out), p_out)}
            if grad_args:
                with ctx():
                    p_out.backward(p_gy)
                t_out.backward(t_gy)
                for i in grad_args:
                    errors[f"grad{i}"] = peer.rel_err(peer.from_tg(t_in[i].grad), p_in[i].grad)
            check = make_check(errors, tol, peer.kind)
            del p_out, t_out

            t_step = _step(fn, tg, tg.nn.functional, t_in, [t_in[i] for i in grad_args], t_gy)
            ours = self.time_ms(t_step, heavy)
            theirs = None
            if peer.timed:
                p_step = _step(fn, peer.lib, peer.F, p_in, [p_in[i] for i in grad_args], p_gy)
                with ctx():
                    theirs = self.time_ms(p_step, heavy)
        scale = 1e9 if unit == "GB/s" else 1e12
        value = (lambda ms: None if ms is None else amount / (ms * 1e-3) / scale) if amount else (lambda ms: ms)
        row = self.add(make_row(section, name, unit, value(ours), value(theirs), ceiling=ceiling,
                                ceiling_name=ceiling_name, check=check, tritongrad_ms=ours, torch_ms=theirs))
        if self.compile_enabled and compile_ok:
            self.deferred.append((f"{section}/{name}", functools.partial(
                self._compile_case, row, fn, make_inputs, grad_args, tf32, ctx, heavy, value, tol)))
        return row

    def _compile_case(self, row, fn, make_inputs, grad_args, tf32, ctx, heavy, value, tol):
        torch, peer = self.torch, self.peer
        with self.precision(tf32), ctx():
            p_in = list(make_inputs(peer))
            for i in grad_args:
                p_in[i].requires_grad_(True)
            compiled = torch.compile(lambda *a: fn(torch, peer.F, *a))
            t0 = time.perf_counter()
            out = compiled(*p_in)
            ref = fn(torch, peer.F, *p_in)
            gy = peer.randn(tuple(out.shape), str(out.dtype).split(".")[-1]) if grad_args and out.dim() > 0 else None
            if grad_args:
                out.backward(gy)
            self.sync()
            row["compile_s"] = round(time.perf_counter() - t0, 1)
            row["torch_compile_check"] = make_check({"out": peer.rel_err(out, ref)}, tol, "torch eager")
            ms = self.time_ms(_step(lambda lib, F, *a: compiled(*a), torch, peer.F, p_in,
                                    [p_in[i] for i in grad_args], gy), heavy)
        row["torch_compile"] = value(ms)
        row["torch_compile_ms"] = ms
        derive(row)

    def peak_extra_mb(self, step, grads_of):
        """MB allocated at the peak of ``step()`` above what was allocated just before (grads cleared)."""
        for t in grads_of:
            t.grad = None
        gc.collect()   # Triton's interpreter keeps kernel arguments in reference cycles until collected
        self.sync()
        self.runtime.reset_peak_memory_stats()
        base = self.runtime.memory_allocated()
        step()
        self.sync()
        return (self.runtime.max_memory_allocated() - base) / 2**20

    # -- the sections, in SECTIONS order --------------------------------------------------------------
    def section_copy_bandwidth(self, extra):
        """The memory-bound rows' ceiling: the best of the driver's device-to-device copy and tritongrad's Triton
        copy kernel, both over ``nbytes`` (GB/s counting bytes read and written), beside torch's ``copy_``."""
        from tritongrad.kernels import copy as kcopy
        nbytes = (1 << 20) if self.smoke else (1 << 30)
        tg_copy = self.gpu_timer.copy_bandwidth(nbytes=nbytes, warmup=1 if self.smoke else 3,
                                                repeats=2 if self.smoke else 20)
        theirs = None
        if self.peer.timed:
            src = self.torch.empty(nbytes, dtype=self.torch.uint8, device="cuda").fill_(1)
            dst = self.torch.empty_like(src)
            theirs = self.gpu_timer.gb_per_s(2 * nbytes, self.time_ms(lambda: dst.copy_(src)))
            del src, dst
        a = kcopy.full((nbytes // 4,), 1.5, np.float32)
        b = self.runtime.empty((nbytes // 4,), np.float32)
        kernel_gbs = self.gpu_timer.gb_per_s(2 * nbytes, self.time_ms(lambda: kcopy.copy_(b, a)))
        self.sync()
        host = np.empty(b.shape, np.float32)
        self.runtime.copy_device_to_host(host, b)      # every element written by the timed copies
        wrong = int(np.count_nonzero(host != 1.5))
        del a, b, host
        self.copy_gbs = max(tg_copy["gb_per_s"], kernel_gbs)
        self.results["meta"]["copy_bandwidth_gbs"] = self.copy_gbs
        self.add(make_row("copy_bandwidth", f"device-to-device copy (cuMemcpyDtoDAsync), {nbytes >> 20} MiB "
                          "(read + write)", "GB/s", tg_copy["gb_per_s"], theirs))
        self.add(make_row("copy_bandwidth", f"Triton copy kernel (kernels.copy.copy_), {nbytes >> 20} MiB float32",
                          "GB/s", kernel_gbs, theirs, ceiling=tg_copy["gb_per_s"], ceiling_name="cuMemcpy",
                          check=make_check({"wrong elements": float(wrong)}, 0.0, "the source values")))

    def section_peak_matmul(self, extra):
        if not self.peer.timed:
            return "skipped: needs torch (the peer) on a GPU"
        torch = self.torch
        spec = next((v for k, v in SPEC_TFLOPS.items() if k in self.results["meta"]["gpu"]), {})
        for label, dtype, tf32, s in (("bfloat16", torch.bfloat16, False, 8192), ("tf32", torch.float32, True, 8192),
                                      ("float32", torch.float32, False, 4096)):
            with self.precision(tf32):
                a = self.peer.randn((s, s), "float32").to(dtype)
                b = self.peer.randn((s, s), "float32", 1 / math.sqrt(s)).to(dtype)
                ms = self.time_ms(lambda: torch.matmul(a, b), heavy=True)
            self.peak_tflops[label] = 2 * s ** 3 / (ms * 1e-3) / 1e12
            self.add(make_row("peak_matmul", f"torch.matmul {s}^3 {label} (random data)", "TFLOP/s", None,
                              self.peak_tflops[label], ceiling=spec.get(label), ceiling_name="spec" if spec else None,
                              torch_ms=ms))
            del a, b
        self.results["meta"]["torch_matmul_peak_tflops"] = {k: round(v, 1) for k, v in self.peak_tflops.items()}
        return ""

    def section_launch_overhead(self, extra):
        tg, n = self.tg, 20 if self.smoke else 2000
        kernel = _empty_kernel()
        buf = self.runtime.empty((16,), np.float32)
        a = tg.ones(16, device="cuda")
        self.add(make_row("launch_overhead", "empty Triton kernel (tritongrad's driver)", "us/launch",
                          _host_us_per_call(lambda: kernel[(1,)](buf), n, self.sync)))
        theirs = None
        if self.peer.timed:
            ta = self.torch.ones(16, device="cuda")
            theirs = _host_us_per_call(lambda: ta + ta, n, self.sync)
        self.add(make_row("launch_overhead", "a + a, 16 fp32 elements (Tensor API)", "us/launch",
                          _host_us_per_call(lambda: a + a, n, self.sync), theirs))

    def section_elementwise_add(self, extra):
        exps = (10, 12) if self.smoke else (20, 22, 24, 26, 28)
        for dtype in ("float32", "bfloat16"):
            for e in exps:
                n = 1 << e
                self.case("elementwise_add", f"a + b, 2^{e} {dtype}", lambda lib, F, a, b: a + b,
                          lambda p, n=n, dtype=dtype: (p.randn((n,), dtype), p.randn((n,), dtype)),
                          amount=3 * n * _np_dtype(dtype).itemsize, tol=1e-6 if dtype == "float32" else 4e-3,
                          ceiling=self.copy_gbs, ceiling_name="copy", compile_ok=False)

    def section_fused_ops(self, extra):
        m, n = (33, 70) if self.smoke else (8192, 4096)
        mc, vocab = (17, 101) if self.smoke else (4096, 50304)
        ceiling = dict(ceiling=self.copy_gbs, ceiling_name="copy")
        for dtype in ("float32", "bfloat16"):
            size = _np_dtype(dtype).itemsize
            tol = TOL[dtype]
            # nominal bytes: forward reads x, writes y; backward reads y (or x) and dy, writes dx
            self.case("fused_ops", f"softmax fwd+bwd ({m}, {n}) {dtype}",
                      lambda lib, F, x: F.softmax(x, dim=-1), lambda p: (p.randn((m, n), dtype),),
                      grad_args=(0,), amount=5 * m * n * size, tol=tol, **ceiling)
            self.case("fused_ops", f"layer_norm fwd+bwd ({m}, {n}) {dtype}",
                      lambda lib, F, x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, 1e-5),
                      lambda p: (p.randn((m, n), dtype), p.randn((n,), dtype, 0.1), p.randn((n,), dtype, 0.1)),
                      grad_args=(0, 1, 2), amount=5 * m * n * size, tol=tol, **ceiling)
            self.case("fused_ops", f"rms_norm fwd+bwd ({m}, {n}) {dtype}",
                      lambda lib, F, x, w: F.rms_norm(x, (x.shape[-1],), w, 1e-6),
                      lambda p: (p.randn((m, n), dtype), p.randn((n,), dtype, 0.1)),
                      grad_args=(0, 1), amount=5 * m * n * size, tol=tol, **ceiling)
            # forward reads the logits; backward reads them again and writes their gradient
            self.case("fused_ops", f"cross_entropy fwd+bwd ({mc}, {vocab}) {dtype}",
                      lambda lib, F, x, t: F.cross_entropy(x, t),
                      lambda p: (p.randn((mc, vocab), dtype, 2.0), p.randint(vocab, (mc,))),
                      grad_args=(0,), amount=3 * mc * vocab * size, tol=tol, **ceiling)

    def section_matmul(self, extra):
        sizes = (64, 96) if self.smoke else (4096, 8192)
        gpu = self.results["meta"]["gpu"]
        spec = next((v for k, v in SPEC_TFLOPS.items() if k in gpu), {})
        for s in sizes:
            for dtype, tf32, label in (("bfloat16", False, "bfloat16"), ("float32", False, "float32"),
                                       ("float32", True, "tf32")):
                scale = 1 / math.sqrt(s)
                ceiling, ceiling_name = self.peak_tflops.get(label), "torch peak"
                if ceiling is None:
                    ceiling, ceiling_name = spec.get(label), "spec" if spec else None
                self.case("matmul", f"{s}^3 {label}" + (" (fp32 in, tf32 dot)" if tf32 else ""),
                          lambda lib, F, a, b: a @ b,
                          lambda p, s=s, dtype=dtype, scale=scale: (p.randn((s, s), dtype),
                                                                    p.randn((s, s), dtype, scale)),
                          unit="TFLOP/s", amount=2 * s ** 3, tol=TOL[label], tf32=tf32, heavy=s >= 8192,
                          ceiling=ceiling, ceiling_name=ceiling_name, compile_ok=False)

    def section_attention(self, extra):
        shapes = ([(1, 2, 64, 16, True), (1, 2, 48, 32, False)] if self.smoke else
                  [(4, 16, 2048, 64, True), (4, 16, 2048, 64, False), (2, 16, 4096, 128, True)])
        flash = self._torch_sdpa_flash
        for b, h, t, d, causal in shapes:
            flops = 4 * b * h * t * t * d * 3.5 * (0.5 if causal else 1.0)
            self.case("attention", f"sdpa fwd+bwd B{b} H{h} T{t} D{d} {'causal' if causal else 'full'} bfloat16",
                      lambda lib, F, q, k, v, causal=causal: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                      lambda p, b=b, h=h, t=t, d=d: tuple(p.randn((b, h, t, d), "bfloat16") for _ in range(3)),
                      grad_args=(0, 1, 2), unit="TFLOP/s", amount=flops, tol=TOL["bfloat16"],
                      peer_context=flash if self.peer.timed else None, compile_ok=False)

    def _torch_sdpa_flash(self):
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel(SDPBackend.FLASH_ATTENTION)

    def section_conv2d(self, extra):
        shapes = ([(2, 3, 9, 9, 4, 3, "float32"), (2, 4, 8, 8, 4, 3, "bfloat16")] if self.smoke else
                  [(32, 64, 56, 56, 64, 3, "bfloat16"), (32, 256, 14, 14, 256, 3, "bfloat16"),
                   (32, 64, 56, 56, 64, 3, "float32")])
        for n, cin, hgt, wid, cout, k, dtype in shapes:
            flops = 3 * 2 * n * cout * hgt * wid * cin * k * k   # forward, input grad, weight grad (padding keeps HxW)
            self.case("conv2d", f"conv2d fwd+bwd x({n},{cin},{hgt},{wid}) w({cout},{cin},{k},{k}) pad {k // 2} {dtype}",
                      lambda lib, F, x, w, bias, k=k: F.conv2d(x, w, bias, 1, k // 2),
                      lambda p, n=n, cin=cin, hgt=hgt, wid=wid, cout=cout, k=k, dtype=dtype: (
                          p.randn((n, cin, hgt, wid), dtype),
                          p.randn((cout, cin, k, k), dtype, 1 / math.sqrt(cin * k * k)),
                          p.randn((cout,), dtype, 0.1)),
                      grad_args=(0, 1, 2), unit="TFLOP/s", amount=flops, tol=TOL[dtype], heavy=True, compile_ok=False)

    def section_lstm(self, extra):
        shapes = ([(1, 2, 8, 16, "float32"), (5, 3, 8, 16, "float16")] if self.smoke else
                  [(1, 64, 1024, 1024, "float32"), (1, 64, 1024, 1024, "float16"),
                   (128, 32, 512, 512, "float32"), (128, 32, 512, 512, "float16"), (64, 64, 1024, 1024, "float16")])
        tg = self.tg
        for t, b, i, h, dtype in shapes:
            # forward: x W_ih^T and h W_hh^T; backward: dx, dh and the two weight gradients
            flops = 3 * 2 * t * b * 4 * h * (i + h)

            def lstm(lib, F, x, w_ih, w_hh, b_ih, b_hh, h0):
                if lib is tg:
                    from tritongrad.nn._rnn import rnn_forward
                    return rnn_forward("lstm", x, h0, h0, [(w_ih, w_hh, b_ih, b_hh, None)])[0]
                return lib._VF.lstm(x, (h0, h0), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, False)[0]

            self.case("lstm", f"lstm fwd+bwd {'step' if t == 1 else 'sequence'} T{t} B{b} I{i} H{h} {dtype}", lstm,
                      lambda p, t=t, b=b, i=i, h=h, dtype=dtype: (
                          p.randn((t, b, i), dtype), p.randn((4 * h, i), dtype, 1 / math.sqrt(h)),
                          p.randn((4 * h, h), dtype, 1 / math.sqrt(h)), p.randn((4 * h,), dtype, 0.1),
                          p.randn((4 * h,), dtype, 0.1), p.randn((1, b, h), dtype, 0.5)),
                      grad_args=(0, 1, 2, 3, 4), unit="TFLOP/s", amount=flops, tol=TOL[dtype], compile_ok=False)

    def section_nn_breadth(self, extra):
        gn = [(2, 8, 5, 7, 4, "float32")] if self.smoke else [(32, 256, 56, 56, 32, "float32"),
                                                              (32, 256, 56, 56, 32, "bfloat16")]
        for n, c, hgt, wid, groups, dtype in gn:
            size = _np_dtype(dtype).itemsize
            self.case("nn_breadth", f"group_norm fwd+bwd ({n}, {c}, {hgt}, {wid}) G{groups} {dtype}",
                      lambda lib, F, x, w, b, groups=groups: F.group_norm(x, groups, w, b, 1e-5),
                      lambda p, n=n, c=c, hgt=hgt, wid=wid, dtype=dtype: (
                          p.randn((n, c, hgt, wid), dtype), p.randn((c,), dtype, 0.1), p.randn((c,), dtype, 0.1)),
                      grad_args=(0, 1, 2), amount=5 * n * c * hgt * wid * size, tol=TOL[dtype],
                      ceiling=self.copy_gbs, ceiling_name="copy")
        ct = [(2, 4, 5, 5, 3, 4, "float32")] if self.smoke else [(32, 128, 28, 28, 64, 4, "bfloat16"),
                                                                 (32, 128, 28, 28, 64, 4, "float32")]
        for n, cin, hgt, wid, cout, k, dtype in ct:
            flops = 3 * 2 * n * cin * hgt * wid * cout * k * k   # forward, input grad, weight grad
            self.case("nn_breadth", f"conv_transpose2d fwd+bwd x({n},{cin},{hgt},{wid}) w({cin},{cout},{k},{k}) "
                                    f"stride 2 pad 1 {dtype}",
                      lambda lib, F, x, w, bias: F.conv_transpose2d(x, w, bias, 2, 1),
                      lambda p, n=n, cin=cin, hgt=hgt, wid=wid, cout=cout, k=k, dtype=dtype: (
                          p.randn((n, cin, hgt, wid), dtype), p.randn((cin, cout, k, k), dtype, 1 / math.sqrt(cin * k)),
                          p.randn((cout,), dtype, 0.1)),
                      grad_args=(0, 1, 2), unit="TFLOP/s", amount=flops, tol=TOL[dtype], heavy=True,
                      compile_ok=False)

    def section_cross_entropy_memory(self, extra):
        tg, peer = self.tg, self.peer
        m, vocab, dtype = (4, 50304, "bfloat16") if self.smoke else (8192, 50304, "bfloat16")
        p_x, p_t = peer.randn((m, vocab), dtype, 2.0).requires_grad_(True), peer.randint(vocab, (m,))
        t_x, t_t = peer.to_tg(p_x, requires_grad=True), peer.to_tg(p_t)

        def t_step():
            tg.nn.functional.cross_entropy(t_x, t_t).backward()

        t_step()
        check = make_check({"grad": peer.rel_err(peer.from_tg(t_x.grad), _peer_ce_grad(peer, p_x, p_t))},
                           TOL[dtype], peer.kind)
        ours = self.peak_extra_mb(t_step, [t_x])
        theirs = None
        if peer.timed:
            def p_step():
                peer.F.cross_entropy(p_x, p_t).backward()
            p_x.grad = None
            base = peer.reset_peak()
            p_step()
            theirs = (peer.peak() - base) / 2**20
        floor = m * vocab * _np_dtype(dtype).itemsize / 2**20
        self.add(make_row("cross_entropy_memory", f"peak extra memory, fwd+bwd ({m}, {vocab}) {dtype}", "MB",
                          ours, theirs, ceiling=floor, ceiling_name="the logits' gradient", check=check))

    def section_adamw(self, extra):
        if self.smoke:
            return "skipped: GPT-2-124M-sized, too big for --smoke"
        from . import bench_optim
        bench_optim.gpu_bench_adamw(extra)
        self.add(make_row("adamw", f"AdamW step, {extra['adamw_tensors']} tensors, {extra['adamw_numel']:,} fp32 "
                          "(ours fused vs torch fused)", "GB/s", extra["tritongrad_fused_gbs"],
                          extra.get("torch_fused_gbs"), ceiling=extra["copy_gbs"], ceiling_name="copy"))

    def section_dataloader(self, extra):
        if self.smoke:
            return "skipped: not part of --smoke"
        try:
            from . import bench_data
        except ImportError as e:
            return f"skipped: bench/bench_data.py is not there ({e})"
        bench_data.gpu_bench_data(extra)
        return ""

    def section_serialization(self, extra):
        from . import bench_serialization
        extra.update(bench_serialization.run(gb=0.01 if self.smoke else 0.25, repeats=1))
        return ""

    def section_train_gpt(self, extra):
        from examples import train_gpt
        tg, peer = self.tg, self.peer
        cfg = (train_gpt.GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32) if self.smoke
               else train_gpt.GPTConfig())
        batch = 2 if self.smoke else GPT_BATCH
        extra.update(config=dict(vars(cfg)), batch_size=batch, tokens_per_step=batch * cfg.block_size,
                     optimizer="AdamW lr 1e-3 betas (0.9, 0.95) wd 0.1 on matrices; clip_grad_norm_ 1.0",
                     torch_optimizer="torch.optim.AdamW(fused=True)")
        dtypes = self.args.train_dtypes
        for dtype in [d for d in dtypes if d != "bfloat16"] if self.smoke else dtypes:
            if not self.smoke and self.time_left() < SECTION_MIN_S["train_gpt"]:
                extra[f"{dtype}_skipped"] = "time budget"
                continue
            self._gpt_case(train_gpt, cfg, batch, dtype, extra)

    def _gpt_case(self, train_gpt, cfg, batch, dtype, extra):
        """One GPT step case; ``dtype`` is the weights' dtype, or ``amp_bf16``: float32 weights with the
        forward under ``autocast('cuda', bfloat16)`` in both libraries."""
        tg, peer = self.tg, self.peer
        gc.collect()
        tg_base = self.runtime.memory_allocated()
        torch_base = self.torch.cuda.memory_allocated() if self.torch is not None else 0
        amp = dtype == "amp_bf16"
        wdtype = "float32" if amp else dtype
        tg.manual_seed(0)
        model = train_gpt.build_model(cfg).to(dtype=getattr(tg, wdtype))
        x = peer.randint(cfg.vocab_size, (batch, cfg.block_size))
        y = peer.randint(cfg.vocab_size, (batch, cfg.block_size))
        tx, ty = peer.to_tg(x), peer.to_tg(y)
        twin = reference_loss = None
        if self.torch is None:  # the reference: the same model on tritongrad's cpu device, before it moves
            with tg.no_grad():
                reference_loss = model(x, y)[1]
        model.to("cuda")
        if self.torch is not None:
            try:  # a twin that does not fit the model loses the peer's numbers, not tritongrad's
                twin = self._gpt_twin(model, cfg, wdtype)
                with self.torch.no_grad(), self.torch.autocast("cuda", self.torch.bfloat16, enabled=amp):
                    reference_loss = twin(x, y)[1]   # no graph kept alive into the memory measurement
            except Exception as e:
                twin = None
                extra[f"{dtype}_twin_error"] = f"{type(e).__name__}: {e}"
        opt = train_gpt.configure_optimizer(model, 1e-3, 0.1)
        params = list(model.parameters())
        n_params = sum(p.numel() for p in params)
        tokens = batch * cfg.block_size
        if reference_loss is None:
            check = {"ok": False, "error": "no reference: the torch twin failed (see extra)"}
        else:
            with tg.no_grad(), tg.autocast("cuda", tg.bfloat16, enabled=amp):
                loss = model(tx, ty)[1]
            check = make_check({"initial loss": peer.rel_err(peer.from_tg(loss), reference_loss)},
                               1e-3 if dtype == "float32" else 3e-2, peer.kind)
            del loss, reference_loss

        self.sync()
        self.runtime.reset_peak_memory_stats()
        ours_ms = self.time_ms(functools.partial(_gpt_step, tg, model, opt, params, tx, ty, amp), heavy=True,
                               flush_l2=False)
        ours_peak = (self.runtime.max_memory_allocated() - tg_base) / 2**20
        theirs_ms = theirs_peak = None
        if twin is not None:
            topt, tparams = _torch_optimizer(self.torch, twin)
            peer.reset_peak()
            theirs_ms = self.time_ms(functools.partial(_gpt_step, self.torch, twin, topt, tparams, x, y, amp),
                                     heavy=True, flush_l2=False)
            theirs_peak = (peer.peak() - torch_base) / 2**20
            if self.compile_enabled:
                self.deferred.append((f"train_gpt/{dtype}", functools.partial(
                    self._compile_gpt, twin, x, y, tokens, dtype, amp)))
        label = f"GPT {cfg.n_layer}x{cfg.n_embd} ({n_params / 1e6:.1f}M params) B{batch} T{cfg.block_size} {dtype}"
        tps = (lambda ms: None if ms is None else tokens / (ms * 1e-3))
        self.add(make_row("train_gpt", f"train step, {label}", "tokens/s", tps(ours_ms), tps(theirs_ms),
                          check=check, tritongrad_ms=ours_ms, torch_ms=theirs_ms, key=f"step/{dtype}"))
        self.add(make_row("train_gpt", f"peak memory during the steps (model, optimizer state, activations), {label}",
                          "MB", ours_peak, theirs_peak, key=f"peak/{dtype}"))
        extra[f"{dtype}_params"] = n_params
        self._graphed_gpt_case(model, opt, params, tx, ty, label, tokens, theirs_ms, dtype, extra)

    def _graphed_gpt_case(self, model, opt, params, tx, ty, label, tokens, theirs_ms, dtype, extra):
        """The same step captured once in a CUDA graph (`tritongrad.cuda.make_graphed_step`) and replayed:
        what launch overhead costs the eager step. A failed capture is recorded, not raised."""
        tg = self.tg
        try:
            step = functools.partial(_gpt_step, tg, model, opt, params)
            graphed = tg.cuda.make_graphed_step(step, tx, ty, warmup=1)
            graphed_ms = self.time_ms(graphed, heavy=True, flush_l2=False)
        except Exception as e:
            extra[f"{dtype}_graphed_error"] = f"{type(e).__name__}: {e}"
            return
        self.add(make_row("train_gpt", f"train step replayed from a CUDA graph, {label}", "tokens/s",
                          tokens / (graphed_ms * 1e-3), None if theirs_ms is None else tokens / (theirs_ms * 1e-3),
                          tritongrad_ms=graphed_ms, torch_ms=theirs_ms, key=f"graphed_step/{dtype}"))
        del graphed

    def _gpt_twin(self, model, cfg, dtype):
        """The torch twin with tritongrad's initial weights (None without torch)."""
        if self.torch is None:
            return None
        torch, peer = self.torch, self.peer
        twin = torch_gpt(torch, cfg).to(device="cuda", dtype=getattr(torch, dtype))
        state = {name: peer.from_tg(t) for name, t in model.state_dict().items()}
        twin.load_state_dict(state, strict=True)
        return twin

    def _compile_gpt(self, twin, x, y, tokens, dtype, amp=False):
        torch = self.torch
        compiled = torch.compile(twin)
        topt, tparams = _torch_optimizer(torch, twin)
        t0 = time.perf_counter()
        _gpt_step(torch, compiled, topt, tparams, x, y, amp)
        self.sync()
        compile_s = time.perf_counter() - t0
        ms = self.time_ms(functools.partial(_gpt_step, torch, compiled, topt, tparams, x, y, amp), heavy=True,
                          flush_l2=False)
        for row in self.results["rows"]:
            if row["section"] == "train_gpt" and row.get("key") == f"step/{dtype}":
                row.update(torch_compile=tokens / (ms * 1e-3), torch_compile_ms=ms, compile_s=round(compile_s, 1))
                derive(row)

    def section_torch_compile(self, extra):
        if not self.compile_enabled:
            return "skipped: " + ("torch is not installed" if self.torch is None else "--no-compile or --smoke")
        done, skipped = [], []
        # the end-to-end step first, then bf16 before fp32
        for name, fn in sorted(self.deferred, key=lambda d: (not d[0].startswith("train_gpt"), "float32" in d[0])):
            if self.time_left() < SECTION_MIN_S["torch_compile"]:
                skipped.append(name)
                continue
            try:
                fn()
                done.append(name)
            except Exception as e:  # a compile failure loses one cell, not the section
                extra[name] = f"{type(e).__name__}: {e}"
        extra.update(compiled=done, skipped_for_time=skipped)
        return f"{len(done)} compiled, {len(skipped)} skipped for time"


# ------------------------------------------------------------------------------ helpers
def _step(fn, lib, F, inputs, leaves, gy):
    """A timed call: clear the leaves' grads, run ``fn``, and backpropagate ``gy`` when there are leaves."""
    def step():
        for t in leaves:
            t.grad = None
        out = fn(lib, F, *inputs)
        if leaves:
            out.backward(gy)
        return out
    return step


def _host_us_per_call(fn, n, sync):
    """Host microseconds per call of ``n`` back-to-back calls (then one synchronization)."""
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n * 1e6


@functools.lru_cache(maxsize=None)
def _empty_kernel():
    """A Triton kernel that does nothing (made on first use: no kernel is decorated at import)."""
    import triton

    @triton.jit
    def _empty_fwd_kernel(x_ptr):
        pass

    return _empty_fwd_kernel


def _peer_ce_grad(peer, x, t):
    x.grad = None
    peer.F.cross_entropy(x, t).backward()
    g = x.grad
    x.grad = None
    return g


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _nvidia_driver():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cuda_versions(torch):
    from cuda.bindings import driver
    err, version = driver.cuDriverGetVersion()
    text = f"driver API {version // 1000}.{version % 1000 // 10}" if not int(err) else "driver API unknown"
    if torch is not None:
        text += f", torch built with {torch.version.cuda}"
    return text


def main(argv=None):
    args = parse_args(argv)
    bench = Bench(args)
    names = list(dict.fromkeys(args.only)) if args.only else list(SECTIONS)
    results = bench.run(names)
    bad = failures(results)
    print(f"[gpu_bench] wrote {os.path.join(args.out, 'gpu_bench.md')} in {results['meta']['seconds']} s", flush=True)
    for line in bad:
        print(f"[gpu_bench] {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
