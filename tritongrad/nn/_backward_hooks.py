"""Full backward hooks of modules (``Module.register_full_backward_hook`` / ``_pre_hook``), as PyTorch's
``torch.utils.hooks.BackwardHook``.

When a module with such hooks is called with grad mode on, its positional Tensor inputs pass through one
identity node (a custom `Function`) before ``forward`` and its top-level Tensor outputs through another after
the forward hooks. In the backward pass the output node runs first: it calls the pre-hooks
``hook(module, grad_output)`` (a non-None result replaces ``grad_output``) and passes the gradients on into
the module's graph; then the input node calls the hooks ``hook(module, grad_input, grad_output)`` with the
gradients w.r.t. the module's inputs (a non-None result replaces ``grad_input``). ``grad_input`` has one entry
per positional argument and ``grad_output`` one per top-level output (None for non-Tensors, for inputs that do
not require grad and for unused outputs). When no input requires grad, the hooks run from the output node with
``grad_input`` all None and must return None. Modules without these hooks never build any of this.
"""
from __future__ import annotations

from .._custom_function import Function
from ..autograd import is_grad_enabled
from ..tensor import Tensor

__all__ = ["BackwardHook"]


class BackwardHookFunction(Function):
    """Identity on the Tensors; its backward hands their gradients to a `BackwardHook`."""

    @staticmethod
    def forward(ctx, hook, side, *tensors):
        ctx.hook, ctx.side = hook, side
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        grads = ctx.hook._output_grads(grads) if ctx.side == "output" else ctx.hook._input_grads(grads)
        return (None, None) + tuple(grads)


def _pack(index, values, n):
    out = [None] * n
    for i, v in zip(index, values):
        out[i] = v
    return tuple(out)


def _run(hooks, hook_args, grads, message):
    """Call each hook on ``hook_args(grads)``; a non-None result (a tuple of the same length) replaces ``grads``."""
    for hook in hooks:
        res = hook(*hook_args(grads))
        if res is None:
            continue
        res = res if isinstance(res, tuple) else (res,)
        if len(res) != len(grads):
            raise RuntimeError(f"{message}, got {len(res)}, but expected {len(grads)}")
        grads = res
    return grads


class BackwardHook:
    """The per-call state of the full backward hooks of one module call (see the module docstring)."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.n_inputs = 0
        self.input_index = None         # positions of the Tensor inputs, when the input node exists
        self.n_outputs = 0
        self.output_index = ()
        self.grad_outputs = None

    def _wrap(self, side, values):
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        tensors = [values[i] for i in index]
        if not (is_grad_enabled() and any(t.requires_grad for t in tensors)):
            return None, values
        new = BackwardHookFunction.apply(self, side, *tensors)
        out = list(values)
        for i, t in zip(index, new):
            out[i] = t
        return index, tuple(out)

    def setup_input_hook(self, args):
        """Route the positional Tensor arguments through the input node; returns the new arguments."""
        self.n_inputs = len(args)
        self.input_index, args = self._wrap("input", args)
        return args

    def setup_output_hook(self, result):
        """Route the top-level Tensor outputs through the output node; returns the new result."""
        single = not isinstance(result, tuple)
        values = (result,) if single else result
        self.n_outputs = len(values)
        index, new = self._wrap("output", values)
        if index is None:
            return result
        self.output_index = index
        if single:
            return new[0]
        return type(result)(*new) if hasattr(result, "_fields") else new

    def _output_grads(self, grads):
        grad_outputs = _run(self.pre_hooks, lambda g: (self.module, g), _pack(self.output_index, grads, self.n_outputs),
                            "Backward pre hook returned an invalid number of grad_output")
        self.grad_outputs = grad_outputs
        if self.input_index is None:        # no input requires grad: the hooks run here, with no grad_input
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, grad_inputs, grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
        return tuple(grad_outputs[i] for i in self.output_index)

    def _input_grads(self, grads):
        grad_inputs = _run(self.hooks, lambda g: (self.module, g, self.grad_outputs),
                           _pack(self.input_index, grads, self.n_inputs),
                           "Backward hook returned an invalid number of grad_input")
        return tuple(grad_inputs[i] for i in self.input_index)
