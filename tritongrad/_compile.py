"""`tritongrad.compile` (``torch.compile``): CUDA-graph replay of inference calls; everything else eager.

What it does, exactly. ``compile(fn_or_module, **torch_compile_arguments)`` returns a callable (for a `Module`,
an `OptimizedModule` wrapping it as ``_orig_mod``, as PyTorch's). There is no tracing and no code generation:
tritongrad's ops already run fused Triton kernels. What it adds is PyTorch's ``mode="reduce-overhead"``
benefit: on ``cuda``, a call made **without gradients** (``no_grad``/``inference_mode``, or no tensor
involved requires grad) is captured once per input signature (shapes, dtypes, strides and devices of the
tensor arguments, the other arguments, the module's training flag and its parameters' addresses) in a CUDA
graph, checked once (the first replay must equal the eager result bit for bit, else that signature stays
eager, with a warning), and later calls copy their inputs into the graph's static inputs, replay it, and return
copies of its outputs (so results never alias the graph's buffers). A call with gradients, a call on ``cpu``,
an argument structure the graph cannot hold, or a capture that fails (a host synchronization inside the call,
a GPU-less interpreter without graph support) runs eagerly, with the same results. ``mode=
"max-autotune-no-cudagraphs"`` and ``disable=True`` always run eagerly; ``fullgraph``, ``dynamic``,
``backend`` and ``options`` are accepted and ignored.
"""
from __future__ import annotations

import functools
import warnings

from . import autograd
from .nn.module import Module

__all__ = ["compile", "OptimizedModule"]

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_EAGER = object()


def _flatten(obj, out):
    """Tensors of a nested tuple/list/dict, in order; returns a rebuild function of the structure or None
    when the structure holds something else than tensors, None, numbers, strings and bools."""
    from .tensor import Tensor
    if isinstance(obj, Tensor):
        out.append(obj)
        return lambda it: next(it)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return lambda it: obj
    if isinstance(obj, (tuple, list)):
        parts = [_flatten(x, out) for x in obj]
        if any(p is None for p in parts):
            return None
        kind = type(obj)
        return lambda it: kind(p(it) for p in parts) if kind in (tuple, list) else kind(*(p(it) for p in parts))
    if isinstance(obj, dict):
        parts = {k: _flatten(v, out) for k, v in obj.items()}
        if any(p is None for p in parts.values()):
            return None
        return lambda it: {k: p(it) for k, p in parts.items()}
    return None


class _Graphed:
    """One captured signature: static inputs, the graph, its outputs and their structure."""

    def __init__(self, graph, static_inputs, static_outputs, rebuild):
        self.graph, self.static_inputs, self.static_outputs, self.rebuild = graph, static_inputs, static_outputs, rebuild

    def run(self, tensors):
        for dst, src in zip(self.static_inputs, tensors):
            dst.copy_(src)
        self.graph.replay()
        return self.rebuild(iter([t.clone() for t in self.static_outputs]))


class _CompiledCall:
    """The cache of graphs of one compiled callable (see the module docstring)."""

    def __init__(self, fn, module=None, mode=None, disable=False):
        self.fn, self.module, self.mode, self.disable = fn, module, mode, disable
        self.cache = {}
        functools.update_wrapper(self, fn)

    def graph_count(self):
        """Number of input signatures running from a CUDA graph."""
        return sum(1 for v in self.cache.values() if isinstance(v, _Graphed))

    def _key(self, tensors, args, kwargs):
        from .tensor import Tensor
        others = tuple(a for a in list(args) + list(kwargs.items()) if not isinstance(a, Tensor))
        sig = tuple((tuple(t.shape), t.dtype.name, t.stride(), str(t.device)) for t in tensors)
        params = ()
        if self.module is not None:
            params = (self.module.training,) + tuple(p.data_ptr() for p in self.module.parameters()) + \
                tuple(b.data_ptr() for b in self.module.buffers())
        try:
            return hash((sig, repr(others), tuple(kwargs), params)) and (sig, repr(others), tuple(kwargs), params)
        except TypeError:
            return None

    def _wants_graph(self, tensors):
        if self.disable or self.mode == "max-autotune-no-cudagraphs" or not tensors:
            return False
        if any(t.device.type != "cuda" for t in tensors):
            return False
        if autograd.is_grad_enabled():
            if any(t.requires_grad for t in tensors):
                return False
            if self.module is not None and any(p.requires_grad for p in self.module.parameters()):
                return False
        return True

    def __call__(self, *args, **kwargs):
        tensors = []
        rebuild_in = _flatten((args, kwargs), tensors)
        if rebuild_in is None or not self._wants_graph(tensors):
            return self.fn(*args, **kwargs)
        key = self._key(tensors, args, kwargs)
        entry = self.cache.get(key, None) if key is not None else _EAGER
        if entry is _EAGER:
            return self.fn(*args, **kwargs)
        if entry is None:
            out = self.fn(*args, **kwargs)   # the eager result, also the warm-up (kernels compile outside)
            self.cache[key] = self._capture(tensors, rebuild_in, out)
            return out
        return entry.run(tensors)

    def _capture(self, tensors, rebuild_in, eager_out):
        from . import cuda
        from .tensor import Tensor
        static_in = [t.clone() for t in tensors]
        static_args, static_kwargs = rebuild_in(iter(static_in))
        try:
            with autograd.no_grad():
                self.fn(*static_args, **static_kwargs)
                g = cuda.CUDAGraph()
                with cuda.graph(g):
                    static_out = self.fn(*static_args, **static_kwargs)
                outs = []
                rebuild_out = _flatten(static_out, outs)
                if rebuild_out is None:
                    return _EAGER
                g.replay()
        except RuntimeError as e:   # no graph support here, or the call synchronizes the host
            warnings.warn(f"tritongrad.compile: this call runs eagerly ({e})", stacklevel=3)
            return _EAGER
        eager = []
        _flatten(eager_out, eager)
        same = len(eager) == len(outs) and all(
            isinstance(a, Tensor) and a.shape == b.shape and a.dtype is b.dtype and bool((a == b).all())
            for a, b in zip(eager, outs))
        if not same:
            warnings.warn("tritongrad.compile: the CUDA graph's first replay differs from the eager result; this "
                          "input signature runs eagerly", stacklevel=3)
            return _EAGER
        return _Graphed(g, static_in, outs, rebuild_out)


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """``torch.compile``: see the module docstring for exactly what it does (CUDA-graph replay of gradient-free
    cuda calls per input signature; eager otherwise; never different results). Usable as ``compile(fn)``,
    ``compile(module)`` (returns an `OptimizedModule`) or as a decorator with or without arguments."""
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(str(m) for m in _MODES[1:])}")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable)
    if not callable(model):
        raise RuntimeError("compile: model must be a callable (a function or a Module)")
    if isinstance(model, Module):
        return OptimizedModule(model, mode=mode, disable=disable)
    return _CompiledCall(model, mode=mode, disable=disable)


class OptimizedModule(Module):
    """The result of ``compile(module)`` (PyTorch's ``OptimizedModule``): calls run the module through
    `compile`'s graph cache; the module is ``_orig_mod`` (so ``state_dict`` keys get the ``_orig_mod.``
    prefix, as in PyTorch) and its other attributes read through."""

    def __init__(self, mod, mode=None, disable=False):
        super().__init__()
        self._orig_mod = mod
        self.__dict__["_compiled_call"] = _CompiledCall(mod, module=mod, mode=mode, disable=disable)

    def forward(self, *args, **kwargs):
        return self.__dict__["_compiled_call"](*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._orig_mod, name)
