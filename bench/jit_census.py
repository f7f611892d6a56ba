"""Count the kernel specializations a test selection would make Triton's JIT compile on a GPU, without one.

    TRITON_INTERPRET=1 python -P -m pytest tests/test_ops.py -k "cuda and float32" -p no:xdist -q \\
        -p bench.jit_census [--jit-census-json census.json]

A pytest plugin for interpreter runs (``TRITON_INTERPRET=1``, as ``tests/conftest.py`` sets it on a machine
without a GPU). Every kernel launch goes through ``InterpretedFunction.run``; the plugin hands the same
arguments to the binder the JIT builds for a ``JITFunction`` of the same Python function
(``create_function_from_signature`` with the CUDA backend for sm_90): its specialization (argument types,
16-byte pointer alignment, integers divisible by 16 or equal to 1, constexpr values) plus the launch options
is the key under which the JIT compiles on a GPU. The census is the number of distinct keys per kernel.

Triton 3.6 also compiles, with the host's C compiler, one launcher per distinct list of argument types (the
census counts those too: ``launchers``); both kinds of build are cached in ``TRITON_CACHE_DIR``.

Autotuned kernels (``triton.autotune``) are counted separately: in the interpreter they have one config, on a
GPU the autotuner compiles every config its pruner keeps (up to 9 for tritongrad's matmul) and benchmarks
them once per distinct tuning key (the ``key`` arguments and the dtypes), per process. ``--jit-census-json``
writes ``{"kernels": {name: specializations}, "autotuned": {name: {"specializations", "tuning_keys"}},
"total_specializations", ...}``; a one-line summary is printed at the end of the run either way.

Triton 3.6's JIT internals (``create_function_from_signature``); an other version the plugin cannot follow is
reported at the end rather than failing the tests.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict

_state = {"specs": defaultdict(set), "autotuned": defaultdict(set), "tuning_keys": defaultdict(set),
          "launchers": set(), "binders": {}, "error": None, "launches": 0}


def pytest_addoption(parser):
    parser.addoption("--jit-census-json", default=None, help="write the JIT census (bench/jit_census.py) here")


def _binder(fn, kwargs):
    """The JIT's binder for the Python function ``fn`` (cached), built as ``JITFunction.create_binder``
    does for an sm_90 target."""
    found = _state["binders"].get(fn)
    if found is None:
        from triton.backends.compiler import GPUTarget
        from triton.compiler.compiler import make_backend
        from triton.runtime.jit import JITFunction, create_function_from_signature
        keep = {k: v for k, v in kwargs.items() if k in ("do_not_specialize", "do_not_specialize_on_alignment")}
        jit = JITFunction(fn, **keep)
        backend = make_backend(GPUTarget("cuda", 90, 32))
        found = _state["binders"][fn] = create_function_from_signature(jit.signature, jit.params, backend)
    return found


def _key(self, args, kwargs):
    """The JIT's compile key of this launch; also records its launcher: Triton 3.6 builds a C launcher with the
    host compiler for every distinct list of argument types (``make_launcher`` reads the types only)."""
    _, specialization, options = _binder(self.fn, self.kwargs)(*args, **kwargs)
    _state["launchers"].add(tuple(str(s[0]) for s in specialization))
    return repr(specialization) + repr(sorted(options.items()))


def pytest_configure(config):
    if os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
        _state["error"] = "not an interpreter run (TRITON_INTERPRET is not set): nothing counted"
        return
    from triton.runtime import autotuner, interpreter
    run, tune = interpreter.InterpretedFunction.run, autotuner.Autotuner.run

    def counting_run(self, *args, grid, warmup, **kwargs):
        if _state["error"] is None:
            try:
                key = _key(self, args, kwargs)
                name = f"{self.fn.__module__}.{self.fn.__name__}"
                (_state["autotuned"] if getattr(self, "_census_tuned", False) else _state["specs"])[name].add(key)
                _state["launches"] += 1
            except Exception as e:  # an other triton version: say so at the end, never break the tests
                _state["error"] = f"{type(e).__name__}: {e}"
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    def counting_tune(self, *args, **kwargs):
        inner = self.fn
        while not isinstance(inner, interpreter.InterpretedFunction):
            inner = inner.fn
        inner._census_tuned = True
        named = {**dict(zip(self.arg_names, args)), **kwargs}
        key = [named[k] for k in self.keys if k in named]
        key += [str(v.dtype) for k, v in named.items() if k in self.arg_names and hasattr(v, "dtype")]
        _state["tuning_keys"][f"{inner.fn.__module__}.{inner.fn.__name__}"].add(repr(key))
        return tune(self, *args, **kwargs)

    interpreter.InterpretedFunction.run = counting_run
    autotuner.Autotuner.run = counting_tune


def census():
    """The counts so far, as the JSON ``--jit-census-json`` writes."""
    kernels = {k: len(v) for k, v in sorted(_state["specs"].items())}
    tuned = {k: {"specializations": len(_state["autotuned"].get(k, ())), "tuning_keys": len(v)}
             for k, v in sorted(_state["tuning_keys"].items())}
    return {"kernels": kernels, "autotuned": tuned, "launches": _state["launches"], "launchers": len(_state["launchers"]),
            "total_specializations": sum(kernels.values()),
            "total_autotuned_specializations": sum(t["specializations"] for t in tuned.values()),
            "total_tuning_keys": sum(t["tuning_keys"] for t in tuned.values()), "error": _state["error"]}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    c = census()
    terminalreporter.write_line(
        f"jit census: {c['total_specializations']} specializations of {len(c['kernels'])} kernels, "
        f"{c['total_autotuned_specializations']} of autotuned kernels ({c['total_tuning_keys']} tuning keys), "
        f"{c['launches']} launches, {c['launchers']} distinct launchers (argument type lists)" + (f"; census incomplete: {c['error']}" if c["error"] else ""))
    path = config.getoption("--jit-census-json")
    if path:
        with open(path, "w") as f:
            json.dump(c, f, indent=1)
