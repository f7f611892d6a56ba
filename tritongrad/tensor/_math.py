"""Elementwise math, comparisons and reductions of `Tensor` (`_MathMixin`), and the binary-op dispatch they
share: type promotion, device and broadcast checks, then the `Binary` Function (`_binary`)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes as _dt
from .. import functions as F
from .._autocast import autocast_op
from .._strides import broadcast_shapes
from ._helpers import _TYPE_NAMES, _norm_dim, _norm_dims, _pybool, _pyfloat, _pyint, _scalar, values_indices

_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_LOGICAL = {"logical_and", "logical_or", "logical_xor"}
_BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor"}


_ALL_DIMS = tuple(tuple(range(n)) for n in range(17))
"""``dims`` of a whole-tensor reduction per ndim."""
_NO_PARAMS = {}
"""Shared empty ``params`` of a reduction (never mutated)."""
_FLOAT_NP = frozenset(d.np for d in _dt.ALL if d.is_floating_point)
_FLOAT_BINARY = frozenset(("add", "sub", "mul", "div", "pow", "maximum", "minimum", "floor_divide", "remainder",
                           "atan2"))
"""Binary ops that keep a floating dtype and go through the `Binary` Function."""


class _MathMixin:
    """`Tensor`'s elementwise math, comparisons and reductions."""

    # ------------------------------------------------------------------ elementwise math
    def _unary(self, op, **params):
        x = self
        if not x.dtype.is_floating_point and op not in ("neg", "abs", "sign", "relu", "square", "logical_not",
                                                         "floor", "ceil", "round", "trunc", "isnan", "isinf"):
            x = x.to(_dt.get_default_dtype())
        if op in ("isnan", "isinf", "logical_not"):
            return Tensor._make(x._be.unary(op, x._data), x.device)
        return F.Unary.apply(x, op=op, params=params)

    def __neg__(self):
        if self.dtype is _dt.bool:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                               "to invert a mask, use the `~` or `logical_not()` operator instead.")
        return self._unary("neg")

    def neg(self):
        return -self

    negative = neg

    def __pos__(self):
        return self

    def abs(self):
        return self._unary("abs")

    __abs__ = abs

    @autocast_op("exp")
    def exp(self):
        return self._unary("exp")

    @autocast_op("log")
    def log(self):
        return self._unary("log")

    @autocast_op("log1p")
    def log1p(self):
        return self._unary("log1p")

    @autocast_op("expm1")
    def expm1(self):
        return self._unary("expm1")

    def sqrt(self):
        return self._unary("sqrt")

    @autocast_op("rsqrt")
    def rsqrt(self):
        return self._unary("rsqrt")

    def sin(self):
        return self._unary("sin")

    def cos(self):
        return self._unary("cos")

    def tanh(self):
        return self._unary("tanh")

    def sigmoid(self):
        return self._unary("sigmoid")

    def relu(self):
        return self._unary("relu")

    def sign(self):
        return self._unary("sign")

    def floor(self):
        return self._unary("floor")

    def ceil(self):
        return self._unary("ceil")

    def round(self, decimals=0):
        if decimals:
            s = 10.0 ** decimals
            return (self * s)._unary("round") / s
        return self._unary("round")

    def trunc(self):
        return self._unary("trunc")

    @autocast_op("reciprocal")
    def reciprocal(self):
        return self._unary("reciprocal")

    def square(self):
        return self._unary("square")

    def isnan(self):
        return self._unary("isnan")

    def isinf(self):
        return self._unary("isinf")

    def logical_not(self):
        return self._unary("logical_not")

    def __invert__(self):
        if self.dtype is _dt.bool:
            return self.logical_not()
        ones = -1 if self.dtype.is_signed else int(np.iinfo(self.dtype.np).max)   # every bit set
        return Tensor._make(self._be.binary("bitwise_xor", self._data, ones), self.device)

    @autocast_op("pow")
    def pow(self, exponent):
        return _binary("pow", self, exponent)

    @autocast_op("pow")
    def __pow__(self, other):
        return _binary("pow", self, other)

    @autocast_op("pow")
    def __rpow__(self, other):
        return _binary("pow", other, self)

    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("div", self, other)

    def __rtruediv__(self, other):
        return _binary("div", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("remainder", self, other)

    def __rmod__(self, other):
        return _binary("remainder", other, self)

    @autocast_op("matmul")
    def __matmul__(self, other):
        return matmul(self, other)

    @autocast_op("matmul")
    def __rmatmul__(self, other):
        return matmul(tensor(other, device=self.device), self)

    def __eq__(self, other):
        return _binary("eq", self, other)

    def __ne__(self, other):
        return _binary("ne", self, other)

    def __lt__(self, other):
        return _binary("lt", self, other)

    def __le__(self, other):
        return _binary("le", self, other)

    def __gt__(self, other):
        return _binary("gt", self, other)

    def __ge__(self, other):
        return _binary("ge", self, other)

    def __and__(self, other):
        return _binary("logical_and" if self.dtype is _dt.bool else "bitwise_and", self, other)

    def __or__(self, other):
        return _binary("logical_or" if self.dtype is _dt.bool else "bitwise_or", self, other)

    def __xor__(self, other):
        return _binary("logical_xor" if self.dtype is _dt.bool else "bitwise_xor", self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def bitwise_and(self, other):
        """``Tensor.bitwise_and``: ``&`` of integer or bool tensors."""
        return self & other

    def bitwise_or(self, other):
        """``Tensor.bitwise_or``: ``|`` of integer or bool tensors."""
        return self | other

    def bitwise_xor(self, other):
        """``Tensor.bitwise_xor``: ``^`` of integer or bool tensors."""
        return self ^ other

    def add(self, other, *, alpha=1):
        return _binary("add", self, other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return _binary("sub", self, other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return _binary("mul", self, other)

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return _binary("div", self, other)
        if rounding_mode == "floor":
            return _binary("floor_divide", self, other)
        if rounding_mode == "trunc":
            return _binary("div", self, other).trunc().to(_dt.result_type(self, other))
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")

    divide = true_divide = div

    def floor_divide(self, other):
        return _binary("floor_divide", self, other)

    def remainder(self, other):
        return _binary("remainder", self, other)

    def fmod(self, other):
        """``torch.fmod``: the remainder of truncated division, with the sign of the dividend (``remainder``
        has the divisor's sign; the two differ by ``other`` where they disagree)."""
        r = _binary("remainder", self, other)
        fix = (r != 0) & ((r < 0) != (self < 0))
        return where(fix, r - other, r)

    def maximum(self, other):
        return _binary("maximum", self, other)

    def minimum(self, other):
        return _binary("minimum", self, other)

    def atan2(self, other):
        return _binary("atan2", self, other)

    def eq(self, other):
        return _binary("eq", self, other)

    def ne(self, other):
        return _binary("ne", self, other)

    def lt(self, other):
        return _binary("lt", self, other)

    def le(self, other):
        return _binary("le", self, other)

    def gt(self, other):
        return _binary("gt", self, other)

    def ge(self, other):
        return _binary("ge", self, other)

    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def logical_and(self, other):
        return _binary("logical_and", self, other)

    def logical_or(self, other):
        return _binary("logical_or", self, other)

    def logical_xor(self, other):
        return _binary("logical_xor", self, other)

    def equal(self, other):
        """True when both tensors have the same shape and values (``torch.equal``)."""
        return self.shape == other.shape and _pybool((self == other).all())

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """``torch.allclose``: all of ``|self - other| <= atol + rtol * |other|``."""
        return _pybool(np.allclose(self.detach().cpu().numpy().astype(np.float64),
                                   other.detach().cpu().numpy().astype(np.float64), rtol, atol, equal_nan))

    def clamp(self, min=None, max=None):
        """Clamp into [min, max] (``Tensor.clamp``); bounds are numbers, tensors or None."""
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        for name, v in (("min", min), ("max", max)):
            if v is not None and not isinstance(v, (Tensor, numbers.Number, np.generic)):
                raise TypeError(f"clamp(): argument '{name}' must be a number or a Tensor, not {type(v).__name__}")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = _binary("maximum", out, min)
            if max is not None:
                out = _binary("minimum", out, max)
            return out
        x = self
        if not x.dtype.is_floating_point and any(isinstance(v, _pyfloat) for v in (min, max)):
            x = x.to(_dt.get_default_dtype())
        return F.Clamp.apply(x, lo=_scalar(min), hi=_scalar(max))

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def where(self, condition, other):
        return where(condition, self, other)

    def lerp(self, end, weight):
        return self + (end - self) * weight

    # ------------------------------------------------------------------ reductions
    def _reduce(self, op, dim, keepdim, **params):
        dims = _norm_dims(dim, self.ndim, empty_means_all=True)
        x = self
        if op in ("mean", "var", "logsumexp", "norm") and not x.dtype.is_floating_point:
            if op == "mean":
                raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                                   f"point or complex dtype. Got: {_TYPE_NAMES[x.dtype.name]}")
            x = x.to(_dt.get_default_dtype())
        if op in ("amax", "amin") and x.numel() == 0:
            if len(dims) == x.ndim:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   f"Specify the reduction dim with the 'dim' argument.")
            d = next(d for d in dims if x.shape[d] == 0) if any(x.shape[d] == 0 for d in dims) else None
            if d is not None:
                raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        if op in ("all", "any"):
            return Tensor._make(x._be.reduce(op, x._data, dims, keepdim), x.device)
        if not x.dtype.is_floating_point:
            return Tensor._make(x._be.reduce(op, x._data, dims, keepdim, **params), x.device)
        return F.Reduce.apply(x, op=op, dims=dims, keepdim=keepdim, params=params)

    @autocast_op("sum")
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        """Sum over ``dim`` (int, tuple or None for all) (``Tensor.sum``)."""
        if dim is None and dtype is None and self._data.dtype in _FLOAT_NP:
            # fast path: a floating tensor summed whole
            nd = len(self._data.shape)
            return F.Reduce.apply(self, op="sum", dims=_ALL_DIMS[nd] if nd < len(_ALL_DIMS) else tuple(range(nd)),
                                  keepdim=keepdim, params=_NO_PARAMS)
        x = self if dtype is None else self.to(dtype)
        return x._reduce("sum", dim, keepdim)

    def nansum(self, dim=None, keepdim=False):
        return where(self.isnan(), 0.0, self).sum(dim, keepdim)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return x._reduce("mean", dim, keepdim)

    @autocast_op("prod")
    def prod(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return x._reduce("prod", dim, keepdim)

    def amax(self, dim=(), keepdim=False):
        return self._reduce("amax", None if dim == () else dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        return self._reduce("amin", None if dim == () else dim, keepdim)

    def _minmax(self, op, dim, keepdim):
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   f"Specify the reduction dim with the 'dim' argument.")
            return self._reduce("a" + op, None, False)
        if isinstance(dim, Tensor):
            return _binary("maximum" if op == "max" else "minimum", self, dim)
        d = _norm_dim(dim, self.ndim)
        if self.ndim and self.shape[d] == 0:    # other empty dims are fine: ones(0, 5).max(1) is empty
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        if self.dtype.is_floating_point:
            v, i = F.ArgReduce.apply(self, op=op, dim=d, keepdim=keepdim)
        else:
            v, i = (Tensor._make(a, self.device) for a in self._be.argreduce(op, self._data, d, keepdim))
        return values_indices(v, i)

    def max(self, dim=None, keepdim=False):
        """Without ``dim`` the largest value; with ``dim`` a (values, indices) pair; with a tensor the
        elementwise maximum (``Tensor.max``)."""
        return self._minmax("max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._minmax("min", dim, keepdim)

    def _argreduce(self, op, dim, keepdim):
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _norm_dim(dim, self.ndim)
        if x.ndim and x.shape[d] == 0:
            raise IndexError(f"arg{op}(): Expected reduction dim {d} to have non-zero size.")
        idx = Tensor._make(x._be.argreduce(op, x._data, d, keepdim)[1], self.device)
        return idx.reshape((1,) * self.ndim) if dim is None and keepdim else idx

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest value, the first on ties (of the flattened tensor when ``dim`` is None)
        (``Tensor.argmax``)."""
        return self._argreduce("max", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest value, the first on ties (``Tensor.argmin``)."""
        return self._argreduce("min", dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance with Bessel's ``correction`` (default 1) (``Tensor.var``)."""
        if isinstance(dim, _pybool):
            unbiased, dim = dim, None
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"std and var only support floating point and complex dtypes (got {self.dtype})")
        return self._reduce("var", dim, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    @autocast_op("logsumexp")
    def logsumexp(self, dim, keepdim=False):
        return self._reduce("logsumexp", dim, keepdim)

    @autocast_op("norm")
    def norm(self, p="fro", dim=None, keepdim=False):
        """Vector p-norm over ``dim`` (all elements when None); 'fro' is 2 (``Tensor.norm``)."""
        if p == "fro" or p is None:
            p = 2
        if p == "nuc":
            raise NotImplementedError("nuclear norm is not supported")
        if not (isinstance(p, (_pyint, _pyfloat, np.integer, np.floating)) and p > 0):
            raise ValueError(f"norm: p must be a positive number or inf, got {p!r} (p <= 0 is not supported)")
        return self._reduce("norm", dim, keepdim, p=_pyfloat(p))

    def all(self, dim=None, keepdim=False):
        return self._reduce("all", dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return self._reduce("any", dim, keepdim)

    def count_nonzero(self, dim=None):
        return (self != 0).sum(dim)

    @autocast_op("cumsum")
    def cumsum(self, dim, *, dtype=None):
        """Inclusive prefix sum along ``dim`` (``Tensor.cumsum``)."""
        x = self if dtype is None else self.to(dtype)
        d = _norm_dim(dim, x.ndim)
        if not x.dtype.is_floating_point:
            return Tensor._make(x._be.cumsum(x._data, d), x.device)
        return F.Cumsum.apply(x, dim=d)

    @autocast_op("softmax")
    def softmax(self, dim, dtype=None):
        """Softmax along ``dim`` (``Tensor.softmax``)."""
        x = self if dtype is None else self.to(dtype)
        _check_softmax_dtype("softmax", x)
        return F.Softmax.apply(x, dim=_norm_dim(dim, x.ndim), log=False)

    @autocast_op("log_softmax")
    def log_softmax(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        _check_softmax_dtype("log_softmax", x)
        return F.Softmax.apply(x, dim=_norm_dim(dim, x.ndim), log=True)


# ---------------------------------------------------------------------------------------- binary dispatch
def _binary(op, a, b):
    """Type promotion, device checks and broadcasting checks, then the `Binary` Function."""
    if op in _FLOAT_BINARY and isinstance(a, Tensor):
        # fast paths (nothing to promote or check): two floating tensors of one dtype, shape and device,
        # or a floating tensor and a Python float/int (the tensor's dtype wins, as in `dtypes.result_type`)
        da = a._data
        if isinstance(b, Tensor):
            db = b._data
            if da.dtype == db.dtype and da.dtype in _FLOAT_NP and da.shape == db.shape and (
                    a.device is b.device or a.device == b.device):
                return F.Binary.apply(a, b, op=op)
        elif (type(b) is _pyfloat or type(b) is _pyint) and da.dtype in _FLOAT_NP:
            return F.Binary.apply(a, _pyfloat(b), op=op)
    elif op in _FLOAT_BINARY and (type(a) is _pyfloat or type(a) is _pyint) and isinstance(b, Tensor) \
            and b._data.dtype in _FLOAT_NP:
        return F.Binary.apply(_pyfloat(a), b, op=op)
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta and not tb:
        raise TypeError(f"{op} needs at least one tensor")
    if ta and tb and a.device != b.device:
        if b.ndim == 0 and b.device.type == "cpu":
            b, tb = b.item(), False
        elif a.ndim == 0 and a.device.type == "cpu":
            a, ta = a.item(), False
        else:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{a.device} and {b.device}!")
    if not ta:
        a = _coerce_operand(a, b)
        ta = isinstance(a, Tensor)
    if not tb:
        b = _coerce_operand(b, a)
        tb = isinstance(b, Tensor)
    dt = _dt.result_type(a, b)
    if op in ("div", "atan2") and not dt.is_floating_point:
        dt = _dt.get_default_dtype()
    if op in _LOGICAL:
        dt = _dt.bool if dt is _dt.bool else dt
    if op in _BITWISE and dt.is_floating_point:
        raise RuntimeError(f"\"{op}\" not implemented for '{_TYPE_NAMES[dt.name]}'")
    if op == "sub" and dt is _dt.bool:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    if op == "pow" and not dt.is_floating_point and not tb and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if ta and tb:
        try:
            broadcast_shapes(a.shape, b.shape)
        except ValueError as e:
            d = e.args[0]
            nd = max(a.ndim, b.ndim)
            sa = a.shape[d - (nd - a.ndim)] if d >= nd - a.ndim else 1
            sb = b.shape[d - (nd - b.ndim)] if d >= nd - b.ndim else 1
            raise RuntimeError(f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                               f"non-singleton dimension {d} (shapes {list(a.shape)} and {list(b.shape)})") from None
    if ta and a.dtype is not dt:
        a = a.to(dt)
    if tb and b.dtype is not dt:
        b = b.to(dt)
    if not ta:
        a = _pyfloat(a) if dt.is_floating_point else (_pybool(a) if dt is _dt.bool else _pyint(a))
    if not tb:
        b = _pyfloat(b) if dt.is_floating_point else (_pybool(b) if dt is _dt.bool else _pyint(b))
    if op in _COMPARE or op in _LOGICAL or op in _BITWISE or not dt.is_floating_point:
        t = a if ta else b
        return Tensor._make(t._be.binary(op, a._data if ta else a, b._data if tb else b), t.device)
    return F.Binary.apply(a, b, op=op)


def _coerce_operand(x, other):
    x = _scalar(x)
    if isinstance(x, numbers.Number):
        return x
    if isinstance(x, (list, tuple, np.ndarray)):
        return tensor(x, device=other.device)
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def _check_softmax_dtype(name, x):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{_TYPE_NAMES[x.dtype.name]}' (pass dtype= to "
                           f"compute in a floating dtype)")


def _late_imports():
    """Import what this module shares in an import cycle (`_core` builds `Tensor` from this module's mixin;
    the factories need `Tensor`); called by the package once they all exist."""
    global Tensor, matmul, tensor, where
    from ._core import Tensor
    from ._factories import matmul, tensor, where
