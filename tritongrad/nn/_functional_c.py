"""More of ``torch.nn.functional``: the remaining pointwise activations and the 1-D pools.

Every function is a composite of existing ops (its gradient comes from autograd) with PyTorch's formula,
defaults and in-place variants. Where PyTorch's derivative excludes a boundary point that the composite
would include (hardtanh's clamp ends), the composite routes the gradient as PyTorch does.
"""
from __future__ import annotations

import numbers

from .. import dtypes as _dt
from ..ops_extra import inplace as _inplace
from ..tensor import Tensor, full_like, zeros_like

__all__ = ["elu", "elu_", "selu", "selu_", "celu", "celu_", "hardtanh", "hardtanh_", "relu6", "hardsigmoid",
           "hardswish", "mish", "softsign", "softshrink", "hardshrink", "tanhshrink", "threshold", "threshold_",
           "glu", "prelu", "softmin", "max_pool1d", "avg_pool1d"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check(fn, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}(): argument 'input' must be Tensor, not {type(input).__name__}")


def _maybe_inplace(input, compute, inplace):
    return _inplace(input, compute) if inplace else compute(input)


def _neg_expm1(x, alpha):
    """``alpha * (exp(x) - 1)`` on the non-positive part only (so that large x never overflow into NaN grads)."""
    return x.clamp(max=0.0).expm1() * alpha


def elu(input, alpha=1.0, inplace=False):
    """``x if x > 0 else alpha * (exp(x) - 1)`` (``F.elu``)."""
    _check("elu", input)
    return _maybe_inplace(input, lambda x: x.where(x > 0, _neg_expm1(x, alpha)), inplace)


def elu_(input, alpha=1.0):
    """In-place `elu` (``F.elu_``)."""
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with PyTorch's constants alpha = 1.6733, scale = 1.0507 (``F.selu``)."""
    _check("selu", input)
    return _maybe_inplace(input, lambda x: x.where(x > 0, _neg_expm1(x, _SELU_ALPHA)) * _SELU_SCALE, inplace)


def selu_(input):
    """In-place `selu` (``F.selu_``)."""
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (``F.celu``); ``alpha`` must not be 0."""
    _check("celu", input)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu's alpha must not be 0")
    return _maybe_inplace(input, lambda x: x.where(x > 0, _neg_expm1(x / alpha, alpha)), inplace)


def celu_(input, alpha=1.0):
    """In-place `celu` (``F.celu_``)."""
    return celu(input, alpha, inplace=True)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(x, min_val, max_val)`` (``F.hardtanh``); as in PyTorch the gradient flows only strictly inside
    ``(min_val, max_val)``."""
    _check("hardtanh", input)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")

    def compute(x):
        return x.where((x > min_val) & (x < max_val), x.detach().clamp(min_val, max_val))
    return _maybe_inplace(input, compute, inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """In-place `hardtanh` (``F.hardtanh_``)."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """``min(max(0, x), 6)`` (``F.relu6``): `hardtanh` on [0, 6]."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6`` (``F.hardsigmoid``)."""
    _check("hardsigmoid", input)
    return _maybe_inplace(input, lambda x: hardtanh(x + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6`` (``F.hardswish``, MobileNetV3's activation)."""
    _check("hardswish", input)
    return _maybe_inplace(input, lambda x: x * (hardtanh(x + 3.0, 0.0, 6.0) / 6.0), inplace)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))`` (``F.mish``)."""
    _check("mish", input)
    from .functional import softplus
    return _maybe_inplace(input, lambda x: x * softplus(x).tanh(), inplace)


def softsign(input):
    """``x / (1 + |x|)`` (``F.softsign``)."""
    _check("softsign", input)
    return input / (input.abs() + 1.0)


def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0 (``F.softshrink``)."""
    _check("softshrink", input)
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    zero = zeros_like(input)
    return (input - lambd).where(input > lambd, (input + lambd).where(input < -lambd, zero))


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0 (``F.hardshrink``)."""
    _check("hardshrink", input)
    return input.where(input.abs() > lambd, zeros_like(input))


def tanhshrink(input):
    """``x - tanh(x)`` (``F.tanhshrink``)."""
    _check("tanhshrink", input)
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value`` (``F.threshold``)."""
    _check("threshold", input)
    return _maybe_inplace(input, lambda x: x.where(x > threshold, full_like(x, value)), inplace)


def threshold_(input, threshold, value):
    """In-place `threshold` (``F.threshold_``)."""
    return globals()["threshold"](input, threshold, value, inplace=True)


def glu(input, dim=-1):
    """Gated linear unit (``F.glu``): split ``input`` in halves ``a, b`` along ``dim``; ``a * sigmoid(b)``."""
    _check("glu", input)
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {n}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def prelu(input, weight):
    """``x if x >= 0 else weight * x`` (``F.prelu``): ``weight`` has 1 element, or one per channel (dim 1)."""
    _check("prelu", input)
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.ndim != 1 or weight.numel() != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {channels}.")
        weight = weight.reshape([1, channels] + [1] * (input.ndim - 2))
    else:
        weight = weight.reshape([1] * input.ndim) if input.ndim else weight.reshape(())
    return input.where(input >= 0, input * weight)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x, dim)`` (``F.softmin``)."""
    _check("softmin", input)
    from .functional import softmax
    return softmax(-input, dim, _stacklevel=_stacklevel + 1, dtype=dtype)


def _single(v, name):
    if isinstance(v, numbers.Integral):
        return int(v)
    if len(v) != 1:
        raise ValueError(f"{name} must be an int or a 1-tuple for a 1-D pool, got {v!r}")
    return int(v[0])


def _pool1d(fn, input, *args):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{fn.__name__.replace('2d', '1d')}: Expected 2D or 3D (batch mode) tensor for input, "
                           f"got {input.ndim}D")
    out = fn(input.unsqueeze(-2), *args)
    if isinstance(out, tuple):
        return tuple(o.squeeze(-2) for o in out)
    return out.squeeze(-2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L) (``F.max_pool1d``), as a 2-D pool over a height of 1; the
    indices (``return_indices``) are positions along L."""
    _check("max_pool1d", input)
    from .functional import max_pool2d
    k = _single(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _single(stride, "stride")
    return _pool1d(max_pool2d, input, (1, k), (1, s), (0, _single(padding, "padding")),
                   (1, _single(dilation, "dilation")), ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L) (``F.avg_pool1d``), as a 2-D pool over a height of 1."""
    _check("avg_pool1d", input)
    from .functional import avg_pool2d
    k = _single(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _single(stride, "stride")
    return _pool1d(avg_pool2d, input, (1, k), (1, s), (0, _single(padding, "padding")), ceil_mode,
                   count_include_pad)
