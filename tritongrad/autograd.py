"""Autograd: `Op`, the backward engine, grad-mode switches and `gradcheck`.

An op is an `Op` subclass. ``forward`` receives backend arrays (``np.ndarray`` on cpu, `DeviceArray`
on cuda) and returns array(s); ``backward`` receives one gradient array per output and returns one per
positional input. `Op.apply` wraps Tensors in and out and records the graph. User code extends autograd
with `Function`, PyTorch's custom-Function API on Tensors (``_custom_function.py``), whose nodes are Ops too.

With ``create_graph=True`` the engine of ``_higher_order.py`` runs instead: each node's ``backward_graph``
computes its input gradients with recorded Tensor ops, so they can be differentiated again.

The engine walks the graph iteratively (no recursion: a 100,000-op chain is fine): a topological order of
the nodes reachable from the roots, then one reverse pass. Gradients that meet at a node are summed
before its ``backward`` runs; leaves accumulate into ``.grad``.
"""
from __future__ import annotations

import functools
import sys
import weakref

import numpy as np

from . import dtypes as _dt
from ._state import tls as _tls

__all__ = [
    "Op", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
    "is_grad_enabled", "is_inference_mode_enabled", "gradcheck", "gradgradcheck", "Function", "FunctionCtx",
    "BackwardCFunction", "once_differentiable", "functional",
]

_FLOAT_NP = frozenset(d.np for d in _dt.ALL if d.is_floating_point)
"""NumPy dtypes of the floating tritongrad dtypes (outputs of other dtypes never require grad)."""


def is_grad_enabled():
    """True when operations are being recorded for autograd in this thread (``torch.is_grad_enabled``)."""
    return _tls.grad_enabled


def is_inference_mode_enabled():
    """True inside an ``inference_mode()`` block of this thread (``torch.is_inference_mode_enabled``)."""
    return _tls.inference_mode


class _GradMode:
    """Context manager and decorator that sets this thread's grad mode (and inference mode), restoring the
    previous modes on exit. Grad mode is per thread, as in PyTorch: a ``no_grad`` block in one thread leaves
    every other thread recording."""

    _mode = True
    _inference = None   # None: leave inference mode as it is; True/False: set it (inference_mode)

    def __new__(cls, *args, **kwargs):
        # ``@no_grad`` without parentheses decorates directly, as in PyTorch
        if cls in (no_grad, enable_grad) and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def _set(self):
        """Switch this thread to the modes of ``self``; returns the previous (grad, inference) modes."""
        tls = _tls
        prev = (tls.grad_enabled, tls.inference_mode)
        tls.grad_enabled = self._mode
        if self._inference is not None:
            tls.inference_mode = self._inference
        return prev

    def __enter__(self):
        # the previous modes go on this thread's stack, not on the instance: one instance may be entered
        # again while active, or by several threads at once
        _tls.mode_stack.append(self._set())
        return self

    def __exit__(self, *exc):
        _tls.grad_enabled, _tls.inference_mode = _tls.mode_stack.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = self._set()
            try:
                return fn(*args, **kwargs)
            finally:
                _tls.grad_enabled, _tls.inference_mode = prev
        return wrapper


class no_grad(_GradMode):
    """Disable gradient recording in this thread (``torch.no_grad``); a context manager or a decorator."""

    _mode = False


class enable_grad(_GradMode):
    """Enable gradient recording inside a ``no_grad`` region of this thread (``torch.enable_grad``)."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Set this thread's grad mode to ``mode`` (``torch.set_grad_enabled``): as a plain call it takes effect
    at once; as a context manager or decorator it is restored afterwards."""

    def __init__(self, mode):
        self._mode = bool(mode)
        self._prev = self._set()

    def __enter__(self):
        _tls.mode_stack.append(self._prev)     # the mode was set by the call itself
        return self

    def __call__(self, fn):
        _tls.grad_enabled, _tls.inference_mode = self._prev
        return super().__call__(fn)


class inference_mode(_GradMode):
    """``torch.inference_mode``: grad mode off and `is_inference_mode_enabled` true in this thread;
    ``inference_mode(False)`` turns grad mode back on, as PyTorch's. (tritongrad has no separate inference
    tensors: a tensor made here is an ordinary tensor that does not require grad.)"""

    def __init__(self, mode=True):
        self._mode = not mode
        self._inference = bool(mode)


_TENSOR = []


def _tensor_class():
    """`tritongrad.Tensor` (imported on first use: the tensor package imports this module)."""
    if not _TENSOR:
        from .tensor import Tensor
        _TENSOR.append(Tensor)
    return _TENSOR[0]


class AccumulateGrad:
    """What `Op.next_functions` shows for a leaf that requires grad, as PyTorch's ``AccumulateGrad`` node:
    ``variable`` is the leaf; it has no further ``next_functions``."""

    __slots__ = ("variable",)
    next_functions = ()
    name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable

    def __repr__(self):
        return "<AccumulateGrad>"


class _Output:
    """A node's record of a non-leaf input: the producing node and output slot *at record time*, so an
    in-place op that later makes the tensor the output of a new node does not re-route this edge."""

    __slots__ = ("grad_fn", "_out_idx", "shape", "dtype", "_be", "requires_grad")

    def __init__(self, t):
        self.grad_fn, self._out_idx, self.shape, self.dtype, self._be = t.grad_fn, t._out_idx, t.shape, t.dtype, t._be
        self.requires_grad = True


def _edge(t):
    """What a node keeps of input ``t``: the leaf itself (gradients accumulate into its ``.grad``), an
    `_Output` for a non-leaf, None when it needs no gradient."""
    if t is None or not t.requires_grad:
        return None
    return t if t.grad_fn is None else _Output(t)


def _device_mismatch(cls, a, b):
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{a.device} and {b.device}! (in {cls.__name__.lower()})")


class Op:
    """Base class of every internal differentiable op (on backend arrays); see the module docstring for the contract."""

    # per-node state: class-level defaults, set on the instance only when an op is recorded
    be = None
    needs_input_grad = ()
    parents = ()
    saved_tensors = ()
    _saved_checks = ()
    _non_diff = ()
    _out_refs = ()
    _freed = False
    _shares_grads = False   # True: the gradients backward returns may be held elsewhere (user code)

    # -- used inside forward -----------------------------------------------------------------------
    def save_for_backward(self, *arrays):
        """Keep arrays (or None) for backward; inputs/outputs among them are checked for in-place changes.
        Inside ``forward``, ``self.needs_input_grad`` already says which inputs will get a gradient (all False
        when the op is not recorded), so a forward saves only what those gradients read."""
        self.saved_tensors = arrays

    def mark_non_differentiable(self, *arrays):
        """Outputs (arrays returned by forward) that never require grad."""
        self._non_diff = tuple(id(a) for a in arrays)

    def forward(self, *args, **params):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError

    def backward_graph(self, *grads):
        """``backward`` on Tensors, recorded (used only under ``create_graph=True``): one gradient Tensor (or
        None) per output in, one per positional input out, computed with differentiable Tensor ops so the
        result can be differentiated again. Subclasses reach their inputs and outputs as graph Tensors through
        `_higher_order.input_tensor`/`output_tensor`. This default runs the array ``backward`` and marks its
        results so that differentiating them raises "<Name>Backward is not differentiable twice"."""
        from ._higher_order import once_only
        return once_only(self, grads)

    @property
    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    @property
    def next_functions(self):
        """``grad_fn.next_functions`` (PyTorch's graph introspection, walked in the 60-minute blitz tutorial):
        one ``(node, output_index)`` per input of this op: the node that made a non-leaf input, an
        `AccumulateGrad` (whose ``variable`` is the leaf) for a leaf that requires grad, ``(None, 0)`` for an
        input that needs no gradient."""
        out = []
        for p in self.parents:
            if p is None:
                out.append((None, 0))
            elif isinstance(p, _Output):
                out.append((p.grad_fn, p._out_idx))
            else:
                out.append((AccumulateGrad(p), 0))
        return tuple(out)

    # -- graph recording ---------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (None and Python scalars pass through) and record it for backward."""
        Tensor = _TENSOR[0] if _TENSOR else _tensor_class()
        make = Tensor._make
        ctx = cls()
        n = len(inputs)
        # forward sees ``needs_input_grad`` (all False when nothing will be recorded) to save only what the
        # gradients that will be asked for read, as PyTorch's nodes do
        if n == 1 and isinstance(inputs[0], Tensor):      # the common unary and binary cases, without a loop
            first = inputs[0]
            requires = first.requires_grad
            be = ctx.be = first._be
            if requires and _tls.grad_enabled:
                ctx.needs_input_grad = (True,)
            out = ctx.forward(first._data, **params)
        elif n == 2 and isinstance(inputs[0], Tensor) and isinstance(inputs[1], Tensor):
            first, second = inputs
            if second.device is not first.device and second.device != first.device:
                raise _device_mismatch(cls, first, second)
            requires = first.requires_grad or second.requires_grad
            be = ctx.be = first._be
            if requires and _tls.grad_enabled:
                ctx.needs_input_grad = (first.requires_grad, second.requires_grad)
            out = ctx.forward(first._data, second._data, **params)
        else:
            first = None
            requires = False
            arrays = []
            for x in inputs:
                if isinstance(x, Tensor):
                    if first is None:
                        first = x
                    elif x.device is not first.device and x.device != first.device:
                        raise _device_mismatch(cls, first, x)
                    if x.requires_grad:
                        requires = True
                    arrays.append(x._data)
                else:
                    arrays.append(x)
            be = ctx.be = first._be
            if requires and _tls.grad_enabled:
                ctx.needs_input_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
            out = ctx.forward(*arrays, **params)
        device = first.device
        if not (requires and _tls.grad_enabled):
            if type(out) is not tuple:
                return make(out, device, be)
            return tuple(None if a is None else make(a, device, be) for a in out)
        single = type(out) is not tuple
        outs = (out,) if single else out
        results = tuple(None if a is None else make(a, device, be) for a in outs)
        needs, parents = [], []
        for x in inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                needs.append(True)
                parents.append(_edge(x))
            else:
                needs.append(False)
                parents.append(None)
        ctx.needs_input_grad = tuple(needs)
        ctx.parents = tuple(parents)
        non_diff = ctx._non_diff
        refs = []
        for i, t in enumerate(results):
            if t is None or t._data.dtype not in _FLOAT_NP or (non_diff and id(outs[i]) in non_diff):
                refs.append(None)
                continue
            t.requires_grad = True
            t.grad_fn = ctx
            t._out_idx = i
            refs.append(weakref.ref(t))
        ctx._out_refs = tuple(refs)
        saved = ctx.saved_tensors
        if saved:
            ids = {id(a) for a in saved if a is not None}
            checks = [(t._version, t._version[0], t) for t in inputs
                      if isinstance(t, Tensor) and id(t._data) in ids]
            checks += [(t._version, t._version[0], None) for t in results
                       if t is not None and id(t._data) in ids]
            ctx._saved_checks = tuple(checks)
        return results[0] if single else results

    def _check_saved(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed when "
                "you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
                "through the graph a second time or if you need to access saved tensors after calling "
                "backward.")
        for box, version, t in self._saved_checks:
            if box[0] != version:
                what = f"[{t.type_name()} {list(t.shape)}]" if t is not None else "an output"
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: {what}, which is output 0 of {self.name}, is at version {box[0]}; expected "
                    f"version {version} instead.")


def _topo_order(roots):
    """Nodes reachable from ``roots`` (graph nodes), each after every node that consumes its outputs."""
    order, visited = [], set()
    for root in roots:
        if root is None or id(root) in visited:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for p in node.parents:
                if p is not None and p.grad_fn is not None and id(p.grad_fn) not in visited:
                    stack.append((p.grad_fn, False))
    order.reverse()
    return order


def _needed(order, capture, inputs):
    """ids of the nodes (of ``order``, from `_topo_order`) whose backward leads to a captured input: `grad`
    runs no other node's backward (PyTorch's rule), so the graph beyond its inputs is neither run nor freed."""
    cap_outputs = {(id(x.grad_fn), x._out_idx) for x in inputs if x.grad_fn is not None}
    needed = set()
    for node in reversed(order):            # producers before consumers
        for p in node.parents:
            if p is None:
                continue
            if (id(p) in capture) if p.grad_fn is None else \
                    (id(p.grad_fn) in needed or (id(p.grad_fn), p._out_idx) in cap_outputs):
                needed.add(id(node))
                break
    return needed


def _storage(a):
    """The object that owns array ``a``'s memory (the base of a NumPy view chain, a `DeviceArray`'s
    buffer), or None when that cannot be told (NumPy memory owned by something else)."""
    if isinstance(a, np.ndarray):
        while isinstance(a.base, np.ndarray):
            a = a.base
        return a if a.flags.owndata else None
    return getattr(a, "buffer", None)


_SHARED = 2
"""A use count meaning "seen outside the engine's gradient slots" (root gradients, hooks, saved arrays)."""


class _Uses:
    """How many gradient slots hold an array over each storage, so a leaf can adopt its gradient without
    a copy when nothing else can see that memory (PyTorch's AccumulateGrad steals a gradient likewise)."""

    __slots__ = ("counts",)

    def __init__(self):
        self.counts = {}

    def add(self, a, n=1):
        s = _storage(a)
        if s is not None:
            self.counts[id(s)] = self.counts.get(id(s), 0) + n

    def owned(self, a):
        """True when ``a`` is a C-contiguous writeable array over storage that only one slot holds."""
        s = _storage(a)
        if s is None or self.counts.get(id(s), 0) != 1:
            return False
        return _plain(a)


def _plain(a):
    """C-contiguous and writeable (so it can be a ``.grad`` accumulated into in place)."""
    if isinstance(a, np.ndarray):
        return a.flags.c_contiguous and a.flags.writeable
    return a.is_contiguous()


def _accumulate(be, prev, g, uses):
    """The sum of a slot's gradient so far (``prev``) and ``g``; counts the array the slot now holds."""
    out = g if prev is None else be.binary("add", prev, g)
    uses.add(out)
    return out


def _run_backward(roots, root_grads, retain_graph, capture=None, inputs=()):
    """The engine. ``capture`` maps id(tensor) -> slot for `grad` (``inputs`` the tensors); then leaves' .grad
    is left alone and only the nodes leading to the inputs run."""
    Tensor = _TENSOR[0] if _TENSOR else _tensor_class()
    pending = {}        # id(node) -> list of grads per output
    leaf_grads = {}     # id(leaf) -> [leaf, grad]
    captured = {}
    nodes = []
    uses = _Uses()
    for t, g in zip(roots, root_grads):
        uses.add(g, _SHARED)       # the caller may hold a root gradient
        if t.grad_fn is None:
            if capture is not None and id(t) in capture:
                captured[id(t)] = _accumulate(t._be, captured.get(id(t)), g, uses)
            elif capture is None:
                slot = leaf_grads.setdefault(id(t), [t, None])
                slot[1] = _accumulate(t._be, slot[1], g, uses)
            continue
        node = t.grad_fn
        lst = pending.setdefault(id(node), [None] * len(node._out_refs))
        lst[t._out_idx] = _accumulate(t._be, lst[t._out_idx], g, uses)
        nodes.append(node)
    order = _topo_order(nodes)
    # leaves with post-accumulate hooks (DDP) are finished as soon as their last producer has run
    early = _early_leaves(order) if capture is None and POST_ACCUMULATE_HOOKS[0] else None
    needed = None if capture is None else _needed(order, capture, inputs)
    for node in order:
        grads = pending.pop(id(node), None)
        if grads is None or all(g is None for g in grads):
            if early:
                _release_leaves(node, early, leaf_grads, uses, Tensor)
            continue
        node._check_saved()
        for i, ref in enumerate(node._out_refs):
            t = ref() if ref is not None else None
            if t is None or grads[i] is None:
                continue
            if t._hooks:
                uses.add(grads[i], _SHARED)
                grads[i] = _apply_hooks(t, grads[i])
                uses.add(grads[i], _SHARED)
            if capture is not None and id(t) in capture:
                captured[id(t)] = _accumulate(t._be, captured.get(id(t)), grads[i], uses)
            if capture is None and t._retains_grad:
                gt = Tensor._make(t._be.contiguous(grads[i]), t.device)
                t.grad = gt if t.grad is None else t.grad + gt
        if needed is not None and id(node) not in needed:
            continue
        in_grads = node.backward(*grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for g in grads:             # the node's gradient slots are consumed
            if g is not None:
                uses.add(g, -1)
        for a in node.saved_tensors:    # a backward may hand back (a view of) a saved array
            if a is not None:
                uses.add(a, _SHARED)
        if node._shares_grads:
            for g in in_grads:
                if g is not None:
                    uses.add(g, _SHARED)
        if not retain_graph:
            node.saved_tensors = ()
            node._freed = True
        for p, g in zip(node.parents, in_grads):
            if p is None or g is None:
                continue
            if tuple(g.shape) != p.shape:
                raise RuntimeError(f"Function {node.name} returned an invalid gradient - got shape "
                                   f"{list(g.shape)} but expected shape {list(p.shape)}")
            if g.dtype != p.dtype.np:
                g = p._be.cast(g, p.dtype.np)
            if p.grad_fn is None:
                if capture is not None:
                    if id(p) in capture:
                        captured[id(p)] = _accumulate(p._be, captured.get(id(p)), g, uses)
                else:
                    slot = leaf_grads.setdefault(id(p), [p, None])
                    slot[1] = _accumulate(p._be, slot[1], g, uses)
            else:
                lst = pending.setdefault(id(p.grad_fn), [None] * len(p.grad_fn._out_refs))
                lst[p._out_idx] = _accumulate(p._be, lst[p._out_idx], g, uses)
        if early:
            _release_leaves(node, early, leaf_grads, uses, Tensor)
    if capture is not None:
        return captured
    for leaf, g in leaf_grads.values():
        _finish_leaf(leaf, g, uses, Tensor)
    return None


POST_ACCUMULATE_HOOKS = [0]
"""How many post-accumulate-grad hooks are registered anywhere; while 0 the engine skips their bookkeeping."""


def _early_leaves(order):
    """id(leaf) -> number of edges from the nodes of ``order`` into it, for leaves with post-accumulate hooks."""
    counts = {}
    for node in order:
        for p in node.parents:
            if p is not None and p.grad_fn is None and p._post_acc_hooks:
                counts[id(p)] = counts.get(id(p), 0) + 1
    return counts


def _release_leaves(node, counts, leaf_grads, uses, Tensor):
    """``node`` has run: a hooked leaf none of whose producers is left gets its gradient now (as PyTorch's
    AccumulateGrad node runs as soon as its inputs are ready), so its hooks fire during the backward."""
    for p in node.parents:
        if p is not None and id(p) in counts:
            counts[id(p)] -= 1
            if counts[id(p)] == 0:
                del counts[id(p)]
                slot = leaf_grads.pop(id(p), None)
                if slot is not None:
                    _finish_leaf(p, slot[1], uses, Tensor)


def _finish_leaf(leaf, g, uses, Tensor):
    """Run ``leaf``'s gradient hooks on ``g``, accumulate it into ``.grad``, then its post-accumulate hooks."""
    if leaf._hooks:
        uses.add(g, _SHARED)
        g = _apply_hooks(leaf, g)
        uses.add(g, _SHARED)
    if not leaf.requires_grad:
        return
    _accumulate_leaf(leaf, g, uses, Tensor)
    if leaf._post_acc_hooks:
        for hook in list(leaf._post_acc_hooks.values()):
            hook(leaf)


def _accumulate_leaf(leaf, g, uses, Tensor):
    """Add ``g`` into ``leaf.grad`` as PyTorch's AccumulateGrad: a first gradient is adopted without a copy
    when it is contiguous and nothing else holds its memory (else copied); a later one is added in place,
    so ``.grad`` keeps its address (CUDA-graph replay, the optimizers' cached pointer tables)."""
    be = leaf._be
    if leaf.grad is None:
        leaf.grad = Tensor._make(g if uses.owned(g) else be.contiguous(g), leaf.device, be)
        return
    gt = leaf.grad
    dst = gt._data
    if type(dst) is type(g) and dst.shape == g.shape and dst.dtype == g.dtype and _plain(dst):
        be._accumulate_(dst, g)
        gt._version[0] += 1
    else:
        gt._data = be.binary("add", dst, g)


def _apply_hooks(t, g):
    from .tensor import Tensor
    for hook in list(t._hooks.values()):
        res = hook(Tensor._make(g, t.device))
        if res is not None:
            g = res._data
    return g


def _root_grads(tensors, grad_tensors, what):
    from .tensor import Tensor
    grads = []
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        g = grad_tensors[i] if grad_tensors is not None else None
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(in {what}: the output has shape {list(t.shape)})")
            g = t._be.full(t.shape, 1, t.dtype.np, t._dev_index)
        else:
            if not isinstance(g, Tensor):
                from .tensor import tensor as _tensor
                g = _tensor(g, dtype=t.dtype, device=t.device)
            if g.shape != t.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                                   f"output[{i}] has a shape of {list(t.shape)}.")
            if g.device != t.device:
                raise RuntimeError(f"grad_output[{i}] is on {g.device} but output[{i}] is on {t.device}")
            g = t._be.cast(g._data, t.dtype.np)
        grads.append(g)
    return grads


def _report_device_errors(tensors):
    """End of a backward pass: raise a bad index (or integer division by zero) the cuda kernels have recorded
    so far (`runtime.error_word`: a read of host memory, not a synchronization)."""
    if any(t.device.type == "cuda" for t in tensors):
        from .runtime import error_word
        error_word.raise_pending()


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Compute the gradient of ``tensors`` w.r.t. graph leaves and accumulate it into their ``.grad``
    (``torch.autograd.backward``)."""
    from .tensor import Tensor
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, Tensor) or grad_tensors is None:
        grad_tensors = None if grad_tensors is None else [grad_tensors]
    if inputs is not None:
        raise NotImplementedError("backward(inputs=...) is not supported; use tritongrad.autograd.grad")
    tensors = list(tensors)
    grads = _root_grads(tensors, grad_tensors, "backward")
    if create_graph:
        from ._higher_order import root_grad_tensors, run_backward_graph
        run_backward_graph(tensors, root_grad_tensors(tensors, grads, grad_tensors),
                           True if retain_graph is None else bool(retain_graph))
    else:
        _run_backward(tensors, grads, bool(retain_graph))
    _report_device_errors(tensors)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None):
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` without touching ``.grad``
    (``torch.autograd.grad``). With ``create_graph=True`` the gradients are computed with recorded Tensor
    ops, so they have a ``grad_fn`` and can be differentiated again (``retain_graph`` then defaults to True)."""
    from .tensor import Tensor
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
    grads = _root_grads(outputs, grad_outputs, "grad")
    if create_graph:
        from ._higher_order import grad_graph
        return grad_graph(outputs, inputs, grads, grad_outputs, retain_graph, allow_unused)
    captured = _run_backward(outputs, grads, bool(retain_graph), capture={id(x): i for i, x in enumerate(inputs)},
                             inputs=inputs)
    _report_device_errors(outputs)
    result = []
    for i, x in enumerate(inputs):
        g = captured.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been "
                                   f"used in the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(Tensor._make(x._be.contiguous(g), x.device))
    return tuple(result)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check analytic gradients of ``fn`` against central finite differences (``torch.autograd.gradcheck``).

    ``inputs`` are float64 Tensors; those with ``requires_grad`` are perturbed one element at a time. The
    outputs are contracted with a fixed random upstream gradient, so every output element counts.
    Returns True, or raises (or returns False) describing the first mismatch.
    """
    import numpy as np

    from .tensor import Tensor, tensor
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.name != "float64":
            raise ValueError(f"gradcheck expects float64 inputs, got {x.dtype}")

    def outs_of(args):
        out = fn(*args)
        return out if isinstance(out, (tuple, list)) else (out,)

    def differentiable(outs):
        return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]

    outs = outs_of(inputs)
    rng = np.random.default_rng(0)
    ups = [rng.standard_normal(o.shape) for o in differentiable(outs)]

    def scalar(args):
        with no_grad():
            vals = differentiable(outs_of(args))
        return sum(float((v.detach().cpu().numpy().astype(np.float64) * u).sum()) for v, u in zip(vals, ups))

    diff_inputs = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    pairs = [(o, u) for o, u in zip(differentiable(outs), ups) if o.requires_grad]
    if not pairs:
        raise ValueError("gradcheck: no output of fn requires grad")
    analytic = grad([o for o, _ in pairs], diff_inputs, [tensor(u, dtype=o.dtype, device=o.device) for o, u in pairs],
                    allow_unused=True)
    for k, x in enumerate(diff_inputs):
        base = x.detach().cpu().numpy().astype(np.float64)
        num = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            vals = []
            for sign in (1, -1):
                pert = base.copy()
                pert[idx] += sign * eps
                args = [tensor(pert, device=x.device) if a is x else a for a in inputs]
                vals.append(scalar(args))
            num[idx] = (vals[0] - vals[1]) / (2 * eps)
        ana = np.zeros_like(base) if analytic[k] is None else analytic[k].cpu().numpy().astype(np.float64)
        bad = np.abs(ana - num) > atol + rtol * np.abs(num)
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            msg = (f"Jacobian mismatch for input {k} at index {i}: analytical {ana[i]!r} vs numerical "
                   f"{num[i]!r} (atol={atol}, rtol={rtol})")
            if raise_exception:
                raise RuntimeError(msg)
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True):
    """Check second derivatives of ``func`` against finite differences of its first derivatives
    (``torch.autograd.gradgradcheck``).

    The function checked with `gradcheck` is ``(inputs, grad_outputs) -> grad(func(inputs), inputs,
    grad_outputs, create_graph=True)``: the double backward must match finite differences with respect to both
    the inputs and the upstream gradients. ``grad_outputs`` default to fixed random float64 tensors (made
    non-contiguous when ``gen_non_contig_grad_outputs``). Since tritongrad computes ``create_graph=True``
    gradients with a separate (recorded) backward, it first checks that they equal the plain backward's.
    Returns True, or raises (or returns False).
    """
    from .tensor import Tensor, tensor
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_pos = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def outs_of(args):
        out = func(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point and o.requires_grad]

    if grad_outputs is None:
        rng = np.random.default_rng(1)
        grad_outputs = []
        for o in outs_of(inputs):
            if gen_non_contig_grad_outputs and o.ndim:
                g = tensor(np.repeat(rng.standard_normal(o.shape), 2, axis=-1), dtype=o.dtype, device=o.device)
                g = g[..., ::2].detach()
            else:
                g = tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device)
            grad_outputs.append(g.requires_grad_(True))
    else:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    n = len(inputs)

    def first_grads(*args):
        xs = list(args[:n])
        for i in diff_pos:      # finite-difference copies come without requires_grad
            if not xs[i].requires_grad:
                xs[i] = xs[i].detach().requires_grad_(True)
        with enable_grad():
            outs = outs_of(xs)
            gs = grad(outs, [xs[i] for i in diff_pos], list(args[n:]), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    # tritongrad runs a separate (recorded) backward under create_graph: it must agree with the plain one
    outs = outs_of(inputs)
    xs = [inputs[i] for i in diff_pos]
    plain = grad(outs, xs, grad_outputs, retain_graph=True, allow_unused=True)
    recorded = grad(outs_of(inputs), xs, grad_outputs, create_graph=True, allow_unused=True)
    for k, (p, r) in enumerate(zip(plain, recorded)):
        if (p is None) != (r is None) or (p is not None and not np.allclose(
                r.detach().cpu().numpy().astype(np.float64), p.cpu().numpy().astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)):
            msg = f"gradgradcheck: the gradient of input {diff_pos[k]} with create_graph=True differs from the plain one"
            if raise_exception:
                raise RuntimeError(msg)
            return False
    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


from ._custom_function import BackwardCFunction, Function, FunctionCtx, once_differentiable  # noqa: E402
from . import _autograd_functional as functional  # noqa: E402

sys.modules[__name__ + ".functional"] = functional     # ``import tritongrad.autograd.functional`` works too
