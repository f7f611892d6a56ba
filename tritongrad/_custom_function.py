"""PyTorch's custom-Function API (``torch.autograd.Function``) on tritongrad Tensors.

A user subclasses `Function` with static ``forward(ctx, *args, **kwargs)`` and ``backward(ctx, *grads)``
(or ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``) and calls ``apply``. Unlike the internal
`autograd.Op` (which works on backend arrays), both methods receive and return Tensors, so forward may
launch the user's own Triton kernels on them and backward may use tritongrad ops or more kernels.

``ctx`` is the graph node itself (as in PyTorch, ``y.grad_fn`` is the ctx): an instance of
``<Name>Backward``, a subclass of `BackwardCFunction` made for each Function class. To the engine it is an
`Op` whose ``backward`` takes and returns backend arrays; it wraps them as Tensors around the user's
``backward`` and checks what comes back (count, shapes, devices) with PyTorch's messages.

Backward runs with grad mode off, as PyTorch runs it without ``create_graph``; with ``create_graph=True`` it
runs with grad mode on (`BackwardCFunction.backward_graph`), so its Tensor ops are recorded: double backward.
"""
from __future__ import annotations

import functools
import inspect
import warnings
import weakref

from .autograd import Op, _edge, _tensor_class, is_grad_enabled, no_grad

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable"]


class FunctionCtx:
    """What ``ctx`` offers inside ``forward``/``setup_context`` (``torch.autograd.function.FunctionCtx``).
    Any other attribute may be set on ``ctx`` to pass non-tensor state to ``backward``."""

    to_save = ()
    dirty_tensors = ()
    non_differentiable = ()
    materialize_grads = True

    def save_for_backward(self, *tensors):
        """Save Tensors (or None) for ``backward``, where ``ctx.saved_tensors`` returns them; saving is checked
        against later in-place changes (``FunctionCtx.save_for_backward``). Call it at most once."""
        Tensor = _tensor_class()
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {i} is of type "
                                f"{type(t).__name__}")
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        """Forward-mode AD (``jvp``) is not supported by tritongrad."""
        raise NotImplementedError("save_for_forward: forward-mode AD (jvp) is not supported by tritongrad")

    def mark_dirty(self, *tensors):
        """Declare inputs that ``forward`` modified in place; each must also be returned as an output
        (``FunctionCtx.mark_dirty``)."""
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        """Declare outputs that never require grad; ``backward`` still receives a (zero) gradient for them
        (``FunctionCtx.mark_non_differentiable``)."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
        """With True (the default), ``backward`` gets zero tensors for outputs that received no gradient;
        with False it gets None for them (``FunctionCtx.set_materialize_grads``)."""
        self.materialize_grads = bool(value)


class _Meta:
    """Shape, dtype, device and backend of a forward input or output."""

    __slots__ = ("shape", "dtype", "device", "be", "dev_index")

    def __init__(self, t):
        self.shape, self.dtype, self.device, self.be, self.dev_index = t.shape, t.dtype, t.device, t._be, t._dev_index


class BackwardCFunction(FunctionCtx, Op):
    """The graph node of one `Function.apply` call, and the ``ctx`` its methods receive."""

    _forward_cls = None
    _shares_grads = True    # gradients come from user code, which may keep them: never adopted as .grad
    _in_meta = ()
    _out_meta = ()
    _saved = ()
    _saved_outputs = ()     # (position in saved_tensors, output index) of the saved outputs

    @property
    def name(self):
        return self._forward_cls.__name__ + "Backward"

    @property
    def saved_tensors(self):
        """The Tensors given to ``save_for_backward``; raises after the graph was freed by a backward without
        ``retain_graph``, or when one of them was changed in place since."""
        self._check_saved()
        return self._saved

    @saved_tensors.setter
    def saved_tensors(self, value):     # the engine frees saved state after backward
        self._saved = tuple(value)

    # -- graph recording (from Function.apply) ---------------------------------------------------------
    def _wrap_outputs(self, args, out, record):
        Tensor = _tensor_class()
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        input_ids = {id(a) for a in args if isinstance(a, Tensor)}
        dirty = {id(t) for t in self.dirty_tensors}
        out_ids = {id(o) for o in outs}
        for t in self.dirty_tensors:
            if id(t) not in input_ids:
                raise RuntimeError("mark_dirty: only inputs of forward can be marked dirty, got a tensor that is "
                                   "not one of them")
            if id(t) not in out_ids:
                raise RuntimeError("Some elements marked as dirty during the forward method were not returned as "
                                   "output. The inputs that are modified inplace must all be outputs of the "
                                   "Function.")
            if record and t.requires_grad and t.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
            t._version[0] += 1
        if record:
            self.parents = tuple(_edge(a) if isinstance(a, Tensor) else None for a in args)
            self._in_meta = tuple(_Meta(a) if isinstance(a, Tensor) else None for a in args)
        non_diff = {id(t) for t in self.non_differentiable}
        results, refs, metas = [], [], []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                refs.append(None)
                metas.append(None)
                continue
            if id(o) not in dirty and (id(o) in input_ids or o.requires_grad):
                o = o.detach()      # an input returned as is becomes an alias with its own history (PyTorch)
            metas.append(_Meta(o))
            results.append(o)
            if record and id(outs[i]) not in non_diff and o.dtype.is_floating_point:
                o.requires_grad = True
                o.grad_fn = self
                o._out_idx = i
                refs.append(weakref.ref(o))
            else:
                refs.append(None)
        if record:
            self._out_refs = tuple(refs)
            self._out_meta = tuple(metas)
            out_index = {id(o): i for i, o in enumerate(outs)}
            out_index.update((id(r), i) for i, r in enumerate(results))
            self._save(input_ids, out_index)
        return results[0] if single else tuple(results)

    def _save(self, input_ids, output_index):
        """Keep ``ctx.to_save``: inputs as they are, outputs as detached twins (no node -> output -> node
        cycle; `backward_graph` reconnects them), each with its version at save time for the in-place check."""
        saved, checks = [], []
        for k, t in enumerate(self.to_save):
            if t is None:
                saved.append(None)
                continue
            if id(t) in output_index or t.grad_fn is self:
                i = output_index.get(id(t), t._out_idx)
                self._saved_outputs = self._saved_outputs + ((k, i),)
                t = t.detach()
            saved.append(t)
            checks.append((t._version, t._version[0], t))
        self._saved = tuple(saved)
        self._saved_checks = tuple(checks)
        self.to_save = ()

    # -- the engine's side ------------------------------------------------------------------------------
    def backward(self, *grad_arrays):
        """Engine protocol: gradient arrays per output in, gradient arrays per input out."""
        Tensor = _tensor_class()
        grads = []
        for g, meta in zip(grad_arrays, self._out_meta):
            if meta is not None and g is None and self.materialize_grads:
                g = meta.be.full(tuple(meta.shape), 0, meta.dtype.np, meta.dev_index)
            grads.append(None if g is None or meta is None else Tensor._make(g, meta.device, meta.be))
        cls = self._forward_cls
        user_backward = cls.vjp if cls.vjp is not Function.vjp else cls.backward
        with no_grad():
            result = user_backward(self, *grads)
        return self._check_grads(result)

    def backward_graph(self, *grad_tensors):
        """``create_graph=True``: the user's ``backward`` runs with grad mode on, so the Tensor ops it uses are
        recorded (saved outputs are seen connected to this node, as in PyTorch); ``once_differentiable``
        backwards raise when differentiated."""
        from ._higher_order import output_tensor
        grads = []
        for g, meta in zip(grad_tensors, self._out_meta):
            if meta is not None and g is None and self.materialize_grads:
                g = _tensor_class()._make(meta.be.full(tuple(meta.shape), 0, meta.dtype.np, meta.dev_index),
                                          meta.device, meta.be)
            grads.append(None if meta is None else g)
        cls = self._forward_cls
        user_backward = cls.vjp if cls.vjp is not Function.vjp else cls.backward
        plain = self._saved
        if self._saved_outputs:
            saved = list(plain)
            for k, i in self._saved_outputs:
                saved[k] = output_tensor(self, i, plain[k]._data)
            self._saved = tuple(saved)
        try:
            result = user_backward(self, *grads)
        finally:
            self._saved = plain
        return self._check_grads(result, keep_tensors=True)

    def _check_grads(self, result, keep_tensors=False):
        Tensor = _tensor_class()
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self._in_meta)
        if len(result) > n and all(g is None for g in result[n:]):
            result = result[:n]
        if len(result) != n:
            raise RuntimeError(f"function {self.name} returned an incorrect number of gradients (expected {n}, "
                               f"got {len(result)})")
        arrays = []
        for i, (g, meta, parent) in enumerate(zip(result, self._in_meta, self.parents)):
            if g is None:
                arrays.append(None)
                continue
            if meta is None:
                raise RuntimeError(f"function {self.name} returned a gradient different than None at position "
                                   f"{i + 1}, but the corresponding forward input was not a Variable")
            if not isinstance(g, Tensor):
                raise TypeError(f"function {self.name} returned a gradient of type {type(g).__name__} at index "
                                f"{i}: expected a Tensor or None")
            if parent is None:      # that input needs no gradient
                arrays.append(None)
                continue
            if g.device != meta.device:
                raise RuntimeError(f"Function {self.name} returned an invalid gradient at index {i} - expected "
                                   f"device {meta.device} but got {g.device}")
            if g.shape != meta.shape:
                if not _expandable(meta.shape, g.shape):
                    raise RuntimeError(f"Function {self.name} returned an invalid gradient at index {i} - got "
                                       f"{list(g.shape)} but expected shape compatible with {list(meta.shape)}")
                g = g.sum_to_size(*meta.shape)
            arrays.append(g if keep_tensors else g._data)
        return tuple(arrays)


def _expandable(shape, target):
    """True when ``shape`` broadcasts to ``target`` (so a gradient of shape ``target`` sums back to it)."""
    if len(shape) > len(target):
        return False
    return all(a == b or a == 1 for a, b in zip(reversed(shape), reversed(target)))


class _FunctionMeta(type):
    """Gives each Function class its node class ``<Name>Backward`` (PyTorch's ``FunctionMeta``)."""

    def __init__(cls, name, bases, attrs):
        cls._backward_cls = type(name + "Backward", (BackwardCFunction,), {"_forward_cls": cls})
        super().__init__(name, bases, attrs)


class Function(FunctionCtx, metaclass=_FunctionMeta):
    """Base class of custom differentiable functions (``torch.autograd.Function``).

    Subclass it with static ``forward`` and ``backward`` and call ``apply``::

        class Scale(tritongrad.autograd.Function):
            @staticmethod
            def forward(ctx, x, s):
                ctx.s = s
                return x * s            # or launch a Triton kernel on x

            @staticmethod
            def backward(ctx, grad_out):
                return grad_out * ctx.s, None

        y = Scale.apply(x, 2.0)

    ``forward`` runs under ``no_grad`` and gets the arguments as given (Tensors, numbers, anything); it returns
    a Tensor or a tuple (non-Tensor items pass through). ``backward`` gets one gradient per output (None for
    non-Tensor outputs) and returns one per positional input of ``forward`` (None where there is none).
    Not supported: forward-mode AD (``jvp``), ``vmap``, saved-tensor hooks, nested (list/dict) outputs.
    """

    def __init__(self, *args, **kwargs):
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd functions are all static, "
                      "so you should invoke them on the class itself.", DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use "
                           "new-style autograd function with static forward method, called through apply().")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """``forward(ctx, *args, **kwargs)``, or ``forward(*args, **kwargs)`` with `setup_context`."""
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Fill ``ctx`` from the inputs (a tuple, defaults bound) and the output, when ``forward`` takes no ctx."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """One gradient per input of ``forward`` from one gradient per output."""
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        """Forward-mode AD: not supported by tritongrad."""
        raise NotImplementedError("forward-mode AD (jvp) is not supported by tritongrad")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on the arguments and, when grad mode is on and a Tensor argument requires grad,
        record the call so that ``backward`` runs in the backward pass."""
        Tensor = _tensor_class()
        if cls.backward is not Function.backward and cls.vjp is not Function.vjp:
            raise RuntimeError("Implementing both 'backward' and 'vjp' for a custom Function is not allowed. You "
                               "should only implement one of them.")
        separate = cls.setup_context is not Function.setup_context
        if separate:
            bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        ctx = cls._backward_cls()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        with no_grad():
            if separate:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        return ctx._wrap_outputs(args, out, record)


class _DelayedError(Op):
    """Identity whose backward raises: marks the results of a `once_differentiable` backward run with grad
    mode on, so that differentiating them fails with a clear message."""

    def forward(self, *arrays):
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn):
    """Decorator for a ``backward`` that is not itself differentiable (``torch.autograd.function.
    once_differentiable``): it runs under ``no_grad``, and differentiating its result raises."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        Tensor = _tensor_class()
        if not is_grad_enabled() or not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        fakes = [o.detach().requires_grad_() if isinstance(o, Tensor) else None for o in outs]
        tensors = [f for f in fakes if f is not None]
        if not tensors:
            return outputs
        wrapped = _DelayedError.apply(*tensors)
        wrapped = iter(wrapped if isinstance(wrapped, tuple) else (wrapped,))
        res = tuple(next(wrapped) if f is not None else None for f in fakes)
        return res[0] if single else res
    return wrapper

