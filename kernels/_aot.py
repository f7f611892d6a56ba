"""Ahead-of-time compilation of every tritongrad kernel for sm_80 and sm_90, with an honest resource report.

Each public module of ``tritongrad.kernels`` defines ``aot_specs()`` yielding
``(name, kernel, signature, constexprs, options)``. ``kernel`` is a ``@triton.jit`` function or a
``@triton.autotune`` kernel: an autotuned spec is compiled once per config the autotuner could pick (its
``early_config_prune`` applied to the spec's arguments), as the autotuner compiles every config it benchmarks.
Signature types may carry the JIT's specialization hints as in Triton's AOT tool: ``"i32:16"`` (the value is a
multiple of 16 for typical shapes) and ``"i32:1"`` (it is 1, e.g. a unit stride: the JIT then makes it a
constexpr). Pointers are 16-byte aligned, as every buffer of tritongrad's allocator is. `compile_all` compiles
every spec with ``triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))`` -- no GPU needed -- in
a pool of worker processes, and reports per spec, config and arch: registers, spill stores and loads (from
``ptxas -v`` on the kernel's PTX; Triton's wheel ships ptxas), stack frame (where spills live), local memory
(declared local arrays only, not spills), shared memory against the arch's limit, whether the PTX uses
``wgmma`` (Hopper tensor cores), and compile time. ``ok`` means compiled, within the shared-memory limit and
without spills. Code that only the interpreter accepts fails here.

Must not run with ``TRITON_INTERPRET=1``: kernels are then ``InterpretedFunction``s, not compilable.
"""
from __future__ import annotations

import hashlib
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

__all__ = ["ARCHS", "SHARED_LIMIT", "kernel_modules", "collect_specs", "compile_spec", "default_processes",
           "compile_all", "format_table", "config_label"]

ARCHS = (80, 90)
PACKAGE = "tritongrad.kernels"
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}
"""Most dynamic shared memory one block may use (bytes): A100 (sm_80) 163 KB, H100/H200 (sm_90) 227 KB."""
_RESOURCE_RE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")
_PTXAS_RE = {key: re.compile(pattern) for key, pattern in (
    ("stack", r"(\d+) bytes stack frame"), ("spill_bytes", r"(\d+) bytes spill stores"),
    ("spill_loads", r"(\d+) bytes spill loads"), ("ptxas_regs", r"Used (\d+) registers"))}


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


def _is_autotuned(kernel):
    from triton.runtime.autotuner import Autotuner
    return isinstance(kernel, Autotuner)


def _jit_fn(kernel):
    """The ``JITFunction`` under an autotuned (or heuristics-wrapped) kernel."""
    from triton.runtime.jit import JITFunction
    while not isinstance(kernel, JITFunction):
        kernel = kernel.fn
    return kernel


def _module_problems(module, specs):
    """Kernels (``*_kernel`` Triton functions defined in ``module``) that no spec covers."""
    from triton.runtime.jit import KernelInterface
    covered = {id(k) for spec in specs for k in (spec[1], _jit_fn(spec[1]))}
    return [f"{module.__name__}.{name} is a Triton kernel without an aot_specs() entry"
            for name, obj in vars(module).items()
            if isinstance(obj, KernelInterface) and name.endswith("_kernel")
            and getattr(_jit_fn(obj).fn, "__module__", None) == module.__name__ and id(obj) not in covered]


class _AotPointer:
    """Stands for a pointer argument when an autotuner's ``early_config_prune`` is asked which configs it
    would keep: it has the ``dtype`` (a NumPy-style name, as a `DeviceArray`'s) and nothing else."""
    _NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64", "i32": "int32",
              "i64": "int64", "i8": "int8", "i16": "int16", "u8": "uint8", "i1": "bool"}

    def __init__(self, ty):
        self.dtype = self._NAMES.get(ty, ty)


def _autotune_configs(kernel, signature, constexprs):
    """The configs the autotuner ``kernel`` could pick for a launch with these argument types: all of them,
    less those its ``early_config_prune`` drops."""
    configs = list(kernel.configs)
    prune = getattr(kernel, "early_config_prune", None)
    if prune:
        named = {p: _AotPointer(t.split(":")[0][1:]) if t.startswith("*") else None
                 for p, t in signature.items() if t != "constexpr"}
        configs = list(prune(configs, named, **constexprs))
    return configs


def config_label(config):
    """``"BLOCK_M=128 BLOCK_N=64 warps=8 stages=3"`` for a ``triton.Config`` (``""`` for None)."""
    if config is None:
        return ""
    return " ".join([f"{k}={v}" for k, v in config.kwargs.items()]
                    + [f"warps={config.num_warps}", f"stages={config.num_stages}"])


def _expand(spec):
    """``[(config index or None, config label)]`` of one spec: every config of an autotuned kernel."""
    name, kernel, signature, constexprs, _ = spec
    if not _is_autotuned(kernel):
        return [(None, "")]
    return [(i, config_label(c)) for i, c in enumerate(_autotune_configs(kernel, signature, constexprs))]


def collect_specs(modules=None, per_kernel=False):
    """``(tasks, problems)``: tasks are ``(module name, spec index, config index, spec name, config label)``
    for every spec of every kernel module and every config an autotuned spec could pick; problems name
    modules with Triton kernels but no ``aot_specs`` and uncovered kernels.

    ``per_kernel`` keeps only the first spec of each kernel, in its first config, plus every ``matmul_bf16*``
    spec (whose sm_90 code must use wgmma): a quick check that every kernel compiles at all and that the
    default configs fit.
    """
    _refuse_interpreter()
    from triton.runtime.jit import KernelInterface
    tasks, problems = [], []
    for name in modules or kernel_modules():
        module = importlib.import_module(name)
        aot_specs = getattr(module, "aot_specs", None)
        if aot_specs is None:
            if any(isinstance(v, KernelInterface) for v in vars(module).values()):
                problems.append(f"{name} defines Triton kernels but no aot_specs()")
            continue
        specs = list(aot_specs())
        seen = set()
        for i, spec in enumerate(specs):
            if per_kernel and id(spec[1]) in seen and not spec[0].startswith("matmul_bf16"):
                continue
            seen.add(id(spec[1]))
            configs = _expand(spec)
            if not configs:
                problems.append(f"{name}.{spec[0]}: the autotuner would keep no config")
            for config_index, label in configs[:1] if per_kernel else configs:
                tasks.append((name, i, config_index, spec[0], label))
        problems += _module_problems(module, specs)
    return tasks, problems


def _specialize(fn, signature, constexprs):
    """``(signature, constexprs, attrs)`` for ``ASTSource`` with the JIT's specializations: pointers and
    ``":16"`` integers divisible by 16, ``":1"`` integers made the constexpr 1.

    The one version-specific part: Triton >= 3.3 (3.6 on the reference GPU machine, 3.9 here) takes
    ``attrs`` as ``{(arg index,): [["tt.divisibility", 16]]}`` (what ``BaseBackend.parse_attr("D")`` gives);
    older versions took an ``AttrsDescriptor`` and are not supported."""
    from triton.backends.compiler import BaseBackend
    if not hasattr(BaseBackend, "parse_attr"):
        import triton
        raise RuntimeError(f"triton {triton.__version__} has no BaseBackend.parse_attr: tritongrad's AOT "
                           "specializations need triton >= 3.3")
    divisible = BaseBackend.parse_attr("D")
    sig, const, attrs = {}, dict(constexprs), {}
    for p, t in signature.items():
        ty, _, hint = t.partition(":")
        if hint == "1":
            sig[p], const[p] = "constexpr", 1
            continue
        sig[p] = ty
        if ty.startswith("*") or hint == "16":
            attrs[(fn.arg_names.index(p),)] = divisible
        elif hint:
            raise ValueError(f"{fn.__name__}: hint {t!r} for {p} must be ':16' or ':1'")
    return sig, const, attrs


def _tool(name):
    import triton.backends.nvidia as nvidia
    path = os.path.join(os.path.dirname(nvidia.__file__), "bin", name)
    return path if os.path.exists(path) else shutil.which(name)


def resource_usage(cubin):
    """``{"regs", "stack", "static_shared", "local"}`` of the first function in ``cubin`` (bytes), parsed
    from ``cuobjdump --dump-resource-usage``; None when cuobjdump is not available. ``local`` counts declared
    local arrays only: spills live in the stack frame (see `ptxas_usage`)."""
    tool = _tool("cuobjdump")
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


def ptxas_usage(ptx, arch):
    """``{"spill_bytes", "spill_loads", "stack", "ptxas_regs"}`` from ``ptxas -v`` on ``ptx`` for ``arch``
    with the options Triton's NVIDIA backend compiles with (so the same allocation); None without ptxas.
    Results are cached by the PTX's hash next to Triton's cache (a second ptxas run costs as much as the
    first)."""
    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability
    # the ptxas Triton itself runs for this arch (3.9 picks a newer one for sm_90 than for sm_80; 3.6 takes none)
    try:
        tool = get_ptxas(arch).path
    except TypeError:
        tool = get_ptxas().path
    gpu = sm_arch_from_capability(arch)
    key = hashlib.sha256(f"{gpu}\0{ptx}".encode()).hexdigest()
    cache = os.path.join(os.environ.get("TRITON_CACHE_DIR") or os.path.expanduser("~/.triton/cache"),
                         "tritongrad-ptxas", key + ".log")
    if os.path.exists(cache):
        with open(cache) as f:
            log = f.read()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "k.ptx")
            with open(src, "w") as f:
                f.write(ptx)
            log = subprocess.run([tool, "-lineinfo", "-v", "--regAllocOptLevel=2", f"--gpu-name={gpu}", src,
                                  "-o", os.path.join(tmp, "k.cubin")], capture_output=True, text=True,
                                 timeout=600, check=True).stderr
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache + f".{os.getpid()}", "w") as f:
            f.write(log)
        os.replace(cache + f".{os.getpid()}", cache)
    usage = {}
    for key, pattern in _PTXAS_RE.items():
        found = pattern.search(log)
        if found is None:
            raise RuntimeError(f"could not parse '{key}' from ptxas -v:\n{log}")
        usage[key] = int(found.group(1))
    return usage


def _load_spec(module_name, index, config_index):
    name, kernel, signature, constexprs, options = list(importlib.import_module(module_name).aot_specs())[index]
    config = None
    if config_index is not None:
        config = _autotune_configs(kernel, signature, constexprs)[config_index]
        constexprs = {**constexprs, **config.kwargs}
        options = {**options, "num_warps": config.num_warps, "num_stages": config.num_stages}
        signature = {p: "constexpr" if p in config.kwargs else signature[p] for p in _jit_fn(kernel).arg_names}
    return name, _jit_fn(kernel), signature, constexprs, options, config


def compile_spec(module_name, index, arch, config_index=None):
    """Compile spec ``index`` of ``module_name`` (in autotune config ``config_index`` if autotuned) for
    ``sm_<arch>`` with the JIT's specializations; a report dict: ``module``, ``name``, ``config``, ``arch``,
    ``regs``, ``spill_bytes`` (spill stores), ``spill_loads``, ``stack``, ``local``, ``shared``,
    ``num_warps``, ``num_stages``, ``wgmma``, ``seconds``, ``problems`` and ``ok`` (compiled, within the
    shared-memory limit, no spills); ``error`` when the compile failed."""
    _refuse_interpreter()
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    name, fn, signature, constexprs, options, config = _load_spec(module_name, index, config_index)
    report = {"module": module_name.rsplit(".", 1)[-1], "name": name, "config": config_label(config),
              "arch": arch, "ok": False, "problems": []}
    start = time.perf_counter()
    try:
        sig, const, attrs = _specialize(fn, signature, constexprs)
        kernel = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=const, attrs=attrs),
                                target=GPUTarget("cuda", arch, 32), options=options)
        report.update(resource_usage(kernel.asm["cubin"]) or {})
        report.update(ptxas_usage(kernel.asm["ptx"], arch) or {})
        report.update(shared=kernel.metadata.shared, num_warps=kernel.metadata.num_warps,
                      num_stages=getattr(kernel.metadata, "num_stages", None), wgmma="wgmma" in kernel.asm["ptx"])
        if report["shared"] > SHARED_LIMIT[arch]:
            report["problems"].append(f"shared memory {report['shared']} B over sm_{arch}'s "
                                      f"{SHARED_LIMIT[arch]} B")
        if report.get("spill_bytes", 0):
            report["problems"].append(f"{report['spill_bytes']} B of register spill stores")
        report["ok"] = not report["problems"]
    except Exception as e:  # reported per spec: one broken kernel must not hide the others
        report["error"] = f"{type(e).__name__}: {e}"
        report["problems"].append("compile failed")
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def _compile_job(job):
    module, index, config_index, _, _, arch = job
    return compile_spec(module, index, arch, config_index)


def default_processes():
    """Compile workers: 2, or up to 8 on machines with more cores (half of them)."""
    return max(2, min(8, (os.cpu_count() or 2) // 2))


def compile_all(archs=ARCHS, modules=None, processes=None, timeout_s=900, per_kernel=False):
    """Compile every spec and config (with ``per_kernel``, one per kernel: see `collect_specs`) for every
    arch in ``archs`` with a pool of ``processes`` workers (default: `default_processes`).

    Returns ``{"reports": [...], "problems": [...], "seconds": total}``; progress and timing go to stderr.
    A compile still running after ``timeout_s`` seconds in total is reported as failed.
    """
    _refuse_interpreter()
    processes = default_processes() if processes is None else max(1, processes)
    start = time.perf_counter()
    tasks, problems = collect_specs(modules, per_kernel)
    jobs = [(*task, arch) for task in tasks for arch in archs]
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    reports = []
    with ctx.Pool(processes=processes) as pool:
        pending = [(job, pool.apply_async(_compile_job, (job,))) for job in jobs]
        for (module, _, _, name, label, arch), result in pending:
            left = max(1.0, timeout_s - (time.perf_counter() - start))
            try:
                report = result.get(timeout=left)
            except multiprocessing.TimeoutError:
                report = {"module": module.rsplit(".", 1)[-1], "name": name, "config": label, "arch": arch,
                          "ok": False, "problems": ["timed out"],
                          "error": f"timed out: compile_all's {timeout_s} s budget ran out"}
            reports.append(report)
            status = "ok" if report["ok"] else "; ".join(report["problems"])
            print(f"[aot] sm_{arch} {report['module']}.{name} {label}: {status} in {report.get('seconds', '?')} s",
                  file=sys.stderr)
    total = round(time.perf_counter() - start, 2)
    print(f"[aot] {len(reports)} compiles ({len(tasks)} specs x configs, {len(archs)} archs) in {total} s with "
          f"{processes} processes", file=sys.stderr)
    reports.sort(key=lambda r: (r["module"], r["name"], r["config"], r["arch"]))
    return {"reports": reports, "problems": problems, "seconds": total}


LEGEND = ("regs: registers per thread (255 is the ceiling). spill: bytes of register spill stores reported by "
          "`ptxas -v` (run with Triton's own ptxas options on the kernel's PTX); spills live in the stack frame, "
          "so a non-zero spill comes with a stack frame at least that big. stack: the stack frame in bytes (also "
          "holds local arrays and call frames, e.g. libdevice's sin/cos argument reduction, without any spill). "
          "local: declared local arrays only (cuobjdump's LOCAL), never spills. shared: shared memory per block "
          "in bytes (limit 163 KB on sm_80, 227 KB on sm_90). config: the autotune config (every config the "
          "autotuner could pick is compiled). ok: compiled, within the shared-memory limit and without spills.")


def format_table(result):
    """A markdown table of `compile_all`'s reports, then its problems and failures."""
    cols = ("module", "name", "config", "arch", "regs", "spill_bytes", "stack", "local", "shared", "num_warps",
            "num_stages", "wgmma", "ok", "seconds")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["reports"]:
        lines.append("| " + " | ".join("FAILED" if c not in r and "error" in r else str(r.get(c, "-"))
                                       for c in cols) + " |")
    for r in result["reports"]:
        if not r["ok"]:
            why = r.get("error") or "; ".join(r["problems"])
            lines.append(f"\nNOT OK {r['module']}.{r['name']} [{r['config']}] sm_{r['arch']}: {why}")
    for p in result["problems"]:
        lines.append(f"\nPROBLEM: {p}")
    return "\n".join(lines)
