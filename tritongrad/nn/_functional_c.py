"""More of ``torch.nn.functional``: the remaining pointwise activations, the 1-D pools, and the spatial
transformer's ``affine_grid``/``grid_sample``.

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
           "glu", "prelu", "softmin", "max_pool1d", "avg_pool1d", "affine_grid", "grid_sample"]

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


# ------------------------------------------------------------------------------------------------- sampling grids
def _align_default(align_corners, fn):
    if align_corners is None:
        import warnings
        warnings.warn("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                      "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                      f"{fn} for details.", stacklevel=3)
        return False
    return bool(align_corners)


def _base_coords(n, align_corners, like):
    """The normalized [-1, 1] coordinates of ``n`` pixel centres (``align_corners=False``) or corners."""
    from ..tensor import arange
    if n == 1:
        return arange(1, dtype=like.dtype, device=like.device) * 0.0
    i = arange(n, dtype=like.dtype, device=like.device)
    return i * (2.0 / (n - 1)) - 1.0 if align_corners else (i * 2.0 + 1.0) / n - 1.0


def affine_grid(theta, size, align_corners=None):
    """``F.affine_grid`` for 2-D: the (N, H, W, 2) sampling grid ``theta @ [x, y, 1]`` over the normalized
    output coordinates of ``size = (N, C, H, W)``; differentiable in ``theta`` (N, 2, 3)."""
    _check("affine_grid", theta)
    align_corners = _align_default(align_corners, "affine_grid")
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4D sizes, for 2D affine transformations; got size "
                                  f"{list(size)}")
    n, _, h, w = (int(v) for v in size)
    if tuple(theta.shape) != (n, 2, 3) or not theta.dtype.is_floating_point:
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {list(size)}. Got "
                         f"{list(theta.shape)}.")
    xs = _base_coords(w, align_corners, theta).reshape(1, w, 1).expand(h, w, 1)
    ys = _base_coords(h, align_corners, theta).reshape(h, 1, 1).expand(h, w, 1)
    from ..tensor import cat
    base = cat([xs, ys, xs * 0.0 + 1.0], dim=2).reshape(1, h * w, 3)        # (1, H*W, 3): x, y, 1
    return base.matmul(theta.transpose(1, 2)).reshape(n, h, w, 2)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """``F.grid_sample`` for 4-D input: sample ``input`` (N, C, H, W) at the normalized locations ``grid``
    (N, Ho, Wo, 2; x then y, -1..1) by ``mode`` 'bilinear' or 'nearest', reading 0 outside (``padding_mode``
    'zeros') or the nearest edge pixel ('border'). Differentiable in ``input`` and (bilinear) in ``grid``."""
    _check("grid_sample", input)
    align_corners = _align_default(align_corners, "grid_sample")
    if mode not in ("bilinear", "nearest"):
        raise NotImplementedError(f"grid_sample: mode {mode!r} is not supported (bilinear, nearest)")
    if padding_mode not in ("zeros", "border"):
        raise NotImplementedError(f"grid_sample: padding_mode {padding_mode!r} is not supported (zeros, border)")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"grid_sample(): expected 4D input (N, C, H, W) and grid (N, H_out, W_out, 2) with the "
                           f"same N, got input {list(input.shape)} and grid {list(grid.shape)}")
    n, c, h, w = input.shape
    ho, wo = grid.shape[1], grid.shape[2]

    def unnormalize(g, size):
        return (g + 1.0) * ((size - 1) / 2.0) if align_corners else ((g + 1.0) * size - 1.0) / 2.0

    gx, gy = unnormalize(grid[..., 0], w), unnormalize(grid[..., 1], h)
    if padding_mode == "border":
        gx, gy = gx.clamp(0, w - 1), gy.clamp(0, h - 1)
    flat = input.reshape(n, c, h * w)

    def tap(ix, iy):
        """input at integer pixels (ix, iy) (float tensors), 0 outside the image."""
        inside = ((ix >= 0) & (ix <= w - 1) & (iy >= 0) & (iy <= h - 1)).reshape(n, 1, ho * wo)
        idx = (iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)).reshape(n, 1, ho * wo).long()
        vals = flat.gather(2, idx.expand(n, c, ho * wo))
        return vals.where(inside, vals.detach() * 0.0)

    if mode == "nearest":     # as PyTorch, the grid stays in the graph with a zero gradient
        anchor = gx + gy
        anchor = anchor.where(zeros_like(anchor, dtype=_dt.bool), zeros_like(anchor)).reshape(n, 1, ho * wo)
        out = tap(gx.detach().round(), gy.detach().round()) + anchor
    else:
        x0, y0 = gx.detach().floor(), gy.detach().floor()
        wx1, wy1 = (gx - x0).reshape(n, 1, ho * wo), (gy - y0).reshape(n, 1, ho * wo)
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        out = (tap(x0, y0) * (wx0 * wy0) + tap(x0 + 1, y0) * (wx1 * wy0)
               + tap(x0, y0 + 1) * (wx0 * wy1) + tap(x0 + 1, y0 + 1) * (wx1 * wy1))
    return out.reshape(n, c, ho, wo)
