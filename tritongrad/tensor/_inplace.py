"""In-place ops of `Tensor` (`_InplaceMixin`): PyTorch's checks (leaves that require grad, expanded views,
result dtypes), the version counter, rebinding the result into the graph (`_rebind`, views through
`CopySlices`), and the ``<op>_`` variants that write an out-of-place op into self (`_inplace_variant`, through
`tritongrad.ops_extra.inplace`)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import autograd
from .. import dtypes as _dt
from .. import functions as F
from .._strides import broadcast_shapes
from ._helpers import _TYPE_NAMES, _scalar
from ._math import _binary


def _inplace_variant(name):
    """The in-place ``Tensor.<name>_``: ``Tensor.<name>`` written into self by `tritongrad.ops_extra.inplace`
    (PyTorch's checks: leaves that require grad, expanded views, result dtypes; the version counter bumped)."""
    def method(self, *args, **kwargs):
        return _ox.inplace(self, lambda t: getattr(t, name)(*args, **kwargs), *args, *kwargs.values())
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"``Tensor.{name}_``: `Tensor.{name}` written into self, in place (checked, versioned)."
    return method


class _InplaceMixin:
    """`Tensor`'s in-place methods."""

    # ------------------------------------------------------------------ in place
    def _check_inplace(self):
        """Raise where PyTorch refuses an in-place op: leaves that require grad (and their views) under
        autograd, and tensors whose elements share memory (expanded views)."""
        if any(st == 0 and n > 1 for st, n in zip(self._data.strides, self._data.shape)):
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                               "single memory location. Please clone() the tensor before performing the operation.")
        if autograd.is_grad_enabled() and self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            base = self._base
            if base is not None and base.requires_grad and base.grad_fn is None:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                                   "operation.")

    def _tracks(self, other=None):
        return autograd.is_grad_enabled() and (self.requires_grad or
                                               (isinstance(other, Tensor) and other.requires_grad))

    def _adopt(self, result):
        """Take over ``result``'s place in the graph (its node now names this tensor as its output); the
        node that made the old value no longer reports its gradient to this tensor (hooks, retain_grad)."""
        old = self.grad_fn
        if old is not None and old is not result.grad_fn:
            refs = list(old._out_refs)
            refs[self._out_idx] = None
            old._out_refs = tuple(refs)
        self.grad_fn = result.grad_fn
        self._out_idx = result._out_idx
        self.requires_grad = result.requires_grad
        if result.grad_fn is not None:
            import weakref
            refs = list(result.grad_fn._out_refs)
            refs[result._out_idx] = weakref.ref(self)
            result.grad_fn._out_refs = tuple(refs)

    def _rebind(self, result):
        """Finish an in-place op under autograd: ``result`` (computed out of place from ``self``) is written
        into this tensor's memory, so its views and its base see the new values, and this tensor becomes
        the output of ``result``'s node. A node that saved this tensor's old values gets a private copy of
        them (PyTorch's "original self"). On a view, the base gets a `CopySlices` node and the view becomes
        a view of the updated base, as in PyTorch."""
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        if result.dtype is not self.dtype:
            if result.dtype.is_floating_point and not self.dtype.is_floating_point:
                raise RuntimeError(f"result type {_TYPE_NAMES[result.dtype.name]} can't be cast to the desired output "
                                   f"type {_TYPE_NAMES[self.dtype.name]}")
            result = result.to(self.dtype)
        node = result.grad_fn
        if node is not None and any(a is self._data for a in node.saved_tensors):
            node.saved_tensors = tuple(self._be.contiguous(a) if a is self._data else a for a in node.saved_tensors)
            node._saved_checks = tuple(c for c in node._saved_checks if c[0] is not self._version)
        if self._base is not None:
            base = self._base
            base._adopt(F.CopySlices.apply(base, result, ops=self._view_ops))
            view = base
            for fn, params in self._view_ops:
                view = fn.apply(view, **params)
            self._adopt(view)
        else:
            self._be.copy_(self._data, result._data)
            self._adopt(result)
        self._version[0] += 1
        return self

    def _inplace_binary(self, op, other):
        self._check_inplace()
        if self._tracks(other):
            return self._rebind(_binary(op, self, other))
        if isinstance(other, Tensor):
            if other.device != self.device:
                if other.ndim == 0 and other.device.type == "cpu":
                    other = other.item()
                else:
                    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                                       f"devices, {self.device} and {other.device}!")
        res = _binary(op, self.detach(), other)
        if res.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(res.shape)}")
        if res.dtype.is_floating_point and not self.dtype.is_floating_point:
            raise RuntimeError(f"result type {_TYPE_NAMES[res.dtype.name]} can't be cast to the desired output "
                               f"type {_TYPE_NAMES[self.dtype.name]}")
        self._be.copy_(self._data, res._data)
        self._version[0] += 1
        return self

    def add_(self, other, *, alpha=1):
        return self._inplace_binary("add", other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        return self._inplace_binary("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._inplace_binary("mul", other)

    def div_(self, other):
        return self._inplace_binary("div", other)

    def pow_(self, other):
        return self._inplace_binary("pow", other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def clamp_(self, min=None, max=None):
        self._check_inplace()
        res = self.clamp(min, max) if self._tracks() else self.detach().clamp(min, max)
        if self._tracks():
            return self._rebind(res)
        self._be.copy_(self._data, res._data)
        self._version[0] += 1
        return self

    clip_ = clamp_

    def copy_(self, src, non_blocking=False):
        """Copy ``src``'s values (broadcast, cast, from any device) into this tensor in place."""
        self._check_inplace()
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self.dtype, device=self.device)
        if src.device != self.device:
            src = src.to(self.device, non_blocking=non_blocking)
        try:
            out_shape = broadcast_shapes(self.shape, src.shape)
        except ValueError:
            raise RuntimeError(f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
                               f"({list(src.shape)}) in copy_") from None
        if tuple(out_shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out_shape)} (copy_ of a source of shape {list(src.shape)})")
        if self._tracks(src):
            return self._rebind(F.SetSlice.apply(self, src, key=(Ellipsis,)))
        self._be.copy_(self._data, src._data if src.dtype is self.dtype else src._data)
        self._version[0] += 1
        return self

    def fill_(self, value):
        """Fill with ``value`` in place."""
        self._check_inplace()
        if not isinstance(value, (Tensor, numbers.Number, np.generic)):
            raise TypeError(f"fill_(): argument 'value' must be a number or a 0-d Tensor, not {type(value).__name__}")
        value = _scalar(value.item() if isinstance(value, Tensor) else value)
        if self._tracks():
            return self._rebind(F.SetSlice.apply(self, value, key=(Ellipsis,)))
        self._be.copy_(self._data, value)
        self._version[0] += 1
        return self

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill with normal samples in place (``Tensor.normal_``)."""
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("randn", self.shape, self.dtype, self.device, generator)
            self._be.copy_(self._data, r._data if mean == 0 and std == 1 else (r * std + mean)._data)
        self._version[0] += 1
        return self

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """Fill with uniform samples from [a, b) in place (``Tensor.uniform_``)."""
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("rand", self.shape, self.dtype, self.device, generator)
            self._be.copy_(self._data, (r * (b - a) + a)._data)
        self._version[0] += 1
        return self

    def bernoulli_(self, p=0.5, *, generator=None):
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("rand", self.shape, _dt.float32, self.device, generator)
            self._be.copy_(self._data, (r < p)._data)
        self._version[0] += 1
        return self

    # ------------------------------------------------------------------ in-place variants (ops_extra.inplace)
    (neg_, negative_, abs_, absolute_, exp_, log_, log1p_, expm1_, sqrt_, rsqrt_, sin_, cos_, tanh_, sigmoid_,
     relu_, sign_, floor_, ceil_, round_, trunc_, fix_, reciprocal_, square_, floor_divide_, remainder_, fmod_,
     atan2_, arctan2_, clamp_min_, clamp_max_, eq_, ne_, lt_, le_, gt_, ge_, logical_and_, logical_or_,
     logical_xor_, logical_not_, true_divide_, multiply_, subtract_, divide_) = (
        _inplace_variant(n) for n in (
            "neg", "neg", "abs", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh",
            "sigmoid", "relu", "sign", "floor", "ceil", "round", "trunc", "trunc", "reciprocal", "square",
            "floor_divide", "remainder", "fmod", "atan2", "atan2", "clamp_min", "clamp_max", "eq", "ne", "lt",
            "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not", "div", "mul", "sub",
            "div"))

    # ------------------------------------------------------------------ in-place ops of tritongrad.ops_extra
    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        """``Tensor.addmm_``: `tritongrad.ops_extra.addmm` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addmm(t, mat1, mat2, beta=beta, alpha=alpha), mat1, mat2)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcmul_``: `tritongrad.ops_extra.addcmul` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addcmul(t, tensor1, tensor2, value=value), tensor1, tensor2)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcdiv_``: `tritongrad.ops_extra.addcdiv` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addcdiv(t, tensor1, tensor2, value=value), tensor1, tensor2)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        """``Tensor.nan_to_num_``: `tritongrad.ops_extra.nan_to_num` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.nan_to_num(t, nan, posinf, neginf))

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """``Tensor.scatter_``: `tritongrad.ops_extra.scatter` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.scatter(t, dim, index, src, value=value, reduce=reduce), src)

    def index_add_(self, dim, index, source, *, alpha=1):
        """``Tensor.index_add_``: `tritongrad.ops_extra.index_add` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.index_add(t, dim, index, source, alpha=alpha), source)

    def scatter_add_(self, dim, index, src):
        """``Tensor.scatter_add_``: `Tensor.scatter_add` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: t.scatter_add(dim, index, src), src)

    def lerp_(self, end, weight):
        """``Tensor.lerp_``: `Tensor.lerp` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: t.lerp(end, weight), end, weight)


def _late_imports():
    """Import what this module shares in an import cycle (`_core` builds `Tensor` from this module's mixin;
    the factories and `tritongrad.ops_extra` need `Tensor`); called by the package once they all exist."""
    global Tensor, _ox, tensor
    from ._core import Tensor
    from ._factories import tensor
    from .. import ops_extra as _ox
