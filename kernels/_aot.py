"""Ahead-of-time compilation of every tritongrad kernel for sm_80 and sm_90, with a resource report.

Each public module of ``tritongrad.kernels`` defines ``aot_specs()`` yielding
``(name, jit_fn, signature, constexprs, options)``. `compile_all` compiles every spec with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))`` -- no GPU needed -- in a pool of
worker processes, and reports per spec and arch: registers, local memory (spills), stack and shared
memory (from ``cuobjdump --dump-resource-usage`` on the cubin; Triton's wheel ships it), whether the PTX
uses ``wgmma`` (Hopper tensor cores), and compile time. Code that only the interpreter accepts fails here.

Must not run with ``TRITON_INTERPRET=1``: kernels are then ``InterpretedFunction``s, not compilable.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time

__all__ = ["ARCHS", "kernel_modules", "collect_specs", "compile_spec", "default_processes", "compile_all",
           "format_table"]

ARCHS = (80, 90)
PACKAGE = "tritongrad.kernels"
_RESOURCE_RE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")


def _refuse_interpreter():
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("ahead-of-time compilation cannot run with TRITON_INTERPRET=1: kernels are then "
                           "Triton InterpretedFunctions, not compilable. Run it without TRITON_INTERPRET, "
                           "e.g. `env -u TRITON_INTERPRET python -m bench.inspect_kernels`.")


def kernel_modules():
    """Names of the public modules of ``tritongrad.kernels`` (private ``_*`` modules are helpers)."""
    package = importlib.import_module(PACKAGE)
    return sorted(f"{PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                  if not m.name.startswith("_"))


def _module_problems(module, specs):
    """Kernels (``*_kernel`` JIT functions defined in ``module``) that no spec covers."""
    from triton.runtime.jit import JITFunction
    covered = {id(spec[1]) for spec in specs}
    return [f"{module.__name__}.{name} is a Triton kernel without an aot_specs() entry"
            for name, obj in vars(module).items()
            if isinstance(obj, JITFunction) and name.endswith("_kernel")
            and getattr(obj.fn, "__module__", None) == module.__name__ and id(obj) not in covered]


def collect_specs(modules=None, per_kernel=False):
    """``(tasks, problems)``: tasks are ``(module name, spec index, spec name)`` for every spec of every
    kernel module; problems name modules with Triton kernels but no ``aot_specs`` and uncovered kernels.

    ``per_kernel`` keeps only the first spec of each kernel, plus every ``matmul_bf16*`` spec (whose
    sm_90 code must use wgmma): a quick check that every kernel compiles at all.
    """
    _refuse_interpreter()
    from triton.runtime.jit import JITFunction
    tasks, problems = [], []
    for name in modules or kernel_modules():
        module = importlib.import_module(name)
        aot_specs = getattr(module, "aot_specs", None)
        if aot_specs is None:
            if any(isinstance(v, JITFunction) for v in vars(module).values()):
                problems.append(f"{name} defines Triton kernels but no aot_specs()")
            continue
        specs = list(aot_specs())
        seen = set()
        for i, spec in enumerate(specs):
            if per_kernel and id(spec[1]) in seen and not spec[0].startswith("matmul_bf16"):
                continue
            seen.add(id(spec[1]))
            tasks.append((name, i, spec[0]))
        problems += _module_problems(module, specs)
    return tasks, problems


def _cuobjdump():
    import triton.backends.nvidia as nvidia
    path = os.path.join(os.path.dirname(nvidia.__file__), "bin", "cuobjdump")
    return path if os.path.exists(path) else shutil.which("cuobjdump")


def resource_usage(cubin):
    """``{"regs", "stack", "static_shared", "local"}`` of the first function in ``cubin`` (bytes), parsed
    from ``cuobjdump --dump-resource-usage``; None when cuobjdump is not available."""
    tool = _cuobjdump()
    if tool is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([tool, "--dump-resource-usage", f.name], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    m = _RESOURCE_RE.search(out)
    if m is None:
        raise RuntimeError(f"could not parse cuobjdump's resource usage:\n{out}")
    regs, stack, shared, local = map(int, m.groups())
    return {"regs": regs, "stack": stack, "static_shared": shared, "local": local}


def compile_spec(module_name, index, arch):
    """Compile spec ``index`` of ``module_name`` for ``sm_<arch>``; a report dict (``ok`` False with the
    error on failure)."""
    _refuse_interpreter()
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    name, fn, signature, constexprs, options = list(importlib.import_module(module_name).aot_specs())[index]
    report = {"module": module_name.rsplit(".", 1)[-1], "name": name, "arch": arch, "ok": False}
    start = time.perf_counter()
    try:
        kernel = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                                target=GPUTarget("cuda", arch, 32), options=options)
        report.update(resource_usage(kernel.asm["cubin"]) or {})
        report.update(ok=True, shared=kernel.metadata.shared, num_warps=kernel.metadata.num_warps,
                      num_stages=getattr(kernel.metadata, "num_stages", None),
                      wgmma="wgmma" in kernel.asm["ptx"])
    except Exception as e:  # reported per spec: one broken kernel must not hide the others
        report["error"] = f"{type(e).__name__}: {e}"
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def _compile_job(job):
    module, index, _, arch = job
    return compile_spec(module, index, arch)


def default_processes():
    """Compile workers: 2, or up to 8 on machines with more cores (half of them)."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


def compile_all(archs=ARCHS, modules=None, processes=None, timeout_s=900, per_kernel=False):
    """Compile every spec (with ``per_kernel``, one per kernel: see `collect_specs`) for every arch in
    ``archs`` with a pool of ``processes`` workers (default: `default_processes`).

    Returns ``{"reports": [...], "problems": [...], "seconds": total}``; progress and timing go to stderr.
    A compile still running after ``timeout_s`` seconds in total is reported as failed.
    """
    _refuse_interpreter()
    processes = default_processes() if processes is None else max(1, processes)
    start = time.perf_counter()
    tasks, problems = collect_specs(modules, per_kernel)
    jobs = [(module, index, name, arch) for module, index, name in tasks for arch in archs]
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    reports = []
    with ctx.Pool(processes=processes) as pool:
        pending = [(job, pool.apply_async(_compile_job, (job,))) for job in jobs]
        for (module, _, name, arch), result in pending:
            left = max(1.0, timeout_s - (time.perf_counter() - start))
            try:
                report = result.get(timeout=left)
            except multiprocessing.TimeoutError:
                report = {"module": module.rsplit(".", 1)[-1], "name": name, "arch": arch, "ok": False,
                          "error": f"timed out: compile_all's {timeout_s} s budget ran out"}
            reports.append(report)
            print(f"[aot] sm_{arch} {report['module']}.{name}: {'ok' if report['ok'] else 'FAILED'} "
                  f"in {report.get('seconds', '?')} s", file=sys.stderr)
    total = round(time.perf_counter() - start, 2)
    print(f"[aot] {len(reports)} compiles ({len(tasks)} specs x {len(archs)} archs) in {total} s with "
          f"{processes} processes", file=sys.stderr)
    reports.sort(key=lambda r: (r["module"], r["name"], r["arch"]))
    return {"reports": reports, "problems": problems, "seconds": total}


def format_table(result):
    """A markdown table of `compile_all`'s reports, then its problems and failures."""
    cols = ("module", "name", "arch", "regs", "local", "stack", "shared", "num_warps", "wgmma", "seconds")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["reports"]:
        lines.append("| " + " | ".join("FAILED" if c not in r and not r["ok"] else str(r.get(c, "-"))
                                       for c in cols) + " |")
    for r in result["reports"]:
        if not r["ok"]:
            lines.append(f"\nFAILED {r['module']}.{r['name']} sm_{r['arch']}: {r['error']}")
    for p in result["problems"]:
        lines.append(f"\nPROBLEM: {p}")
    return "\n".join(lines)
