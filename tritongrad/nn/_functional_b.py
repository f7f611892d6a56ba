"""More of ``torch.nn.functional``, re-exported by `tritongrad.nn.functional`: normalize, cosine_similarity,
channel dropout, pixel (un)shuffle, interpolate, conv1d, transposed convolutions, group and instance norm.

Each is built on fused ops that already have a Triton kernel pair and a NumPy reference (norms, conv's
implicit GEMMs, index_select / gather, elementwise), so forward and backward run on the device's kernels:
``conv_transpose2d`` *is* conv2d's input-gradient GEMM (its own backward is conv2d forward plus conv2d's
weight-gradient GEMM), ``group_norm``/``instance_norm`` normalise each group with the layer-norm kernel pair on
an ``(N * G, C / G * spatial)`` view, and ``interpolate`` gathers the source rows of each spatial dim (linear
modes blend two gathers) with indices and weights computed on the host from the sizes only.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import autograd
from .._autocast import autocast_op
from ..autograd import Op
from ..tensor import empty, tensor
from . import _functions as _fn

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "dropout1d", "dropout2d", "dropout3d",
           "pixel_shuffle", "pixel_unshuffle", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
           "conv1d", "conv_transpose1d", "conv_transpose2d", "group_norm", "instance_norm"]


def _tuple(v, n, name):
    t = (v,) * n if isinstance(v, numbers.Integral) else tuple(v)
    if len(t) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v!r}")
    return tuple(int(a) for a in t)


# ------------------------------------------------------------------------------------------------- distances
@autocast_op("normalize")
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim`` (``F.normalize``)."""
    if out is not None:
        raise TypeError("normalize: out= is not supported")
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denom


@autocast_op("cosine_similarity")
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim`` (``F.cosine_similarity``), after
    broadcasting. As PyTorch, each norm is clamped to ``eps`` outside autograd (the gradient is the unclamped
    norm's)."""
    x1, x2 = (x1, x2) if tuple(x1.shape) == tuple(x2.shape) else _broadcast(x1, x2)

    def clamped_norm(x):
        nrm = x.norm(2, dim, keepdim=True)
        return nrm + (nrm.detach().clamp_min(eps) - nrm.detach())

    return ((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2))).sum(dim)


def _broadcast(a, b):
    from .._strides import broadcast_shapes
    try:
        shape = broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(a.shape)}) must match the size of tensor b "
                           f"({list(b.shape)}) for broadcasting") from None
    return a.expand(shape), b.expand(shape)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` over the last dim (``F.pairwise_distance``)."""
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)


# ------------------------------------------------------------------------------------------------- dropout
def _channel_dropout(input, p, training, inplace, spatial, name):
    """PyTorch's channel ("feature") dropout: one Bernoulli draw per (sample, channel), broadcast over the rest.

    As in PyTorch, dropout1d accepts only (N, C, L) or unbatched (C, L); dropout2d/dropout3d warn on other
    ranks but still run: dropout2d treats any input of rank >= 2 as batched (N, C, ...) (a 3-D input gets
    dropout1d's behaviour, a 2-D one element-wise dropout), dropout3d batches a non-5-D input by unsqueezing
    dim 0 first.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    expected = (spatial + 1, spatial + 2)
    if input.ndim not in expected:
        if spatial == 1 or input.ndim < (2 if spatial == 2 else 1):
            raise RuntimeError(f"{name}: Expected {spatial + 1}D or {spatial + 2}D input, but received a "
                               f"{input.ndim}D input (feature dropout needs a batch and a channel dimension)")
        warnings.warn(f"{name}: Received a {input.ndim}-D input to {name}, which is deprecated and will result in "
                      f"an error in a future release. To retain the behavior and silence this warning, please use "
                      f"dropout instead.", stacklevel=3)
    if not training or p == 0.0:
        return input
    batched = spatial == 2 or input.ndim == spatial + 2  # PyTorch's dropout2d never adds a batch dim
    x = input if batched else input.unsqueeze(0)
    noise = empty(*x.shape[:2], *([1] * (x.ndim - 2)), dtype=x.dtype, device=x.device)
    if p == 1.0:
        noise.zero_()
    else:
        noise.bernoulli_(1 - p)
        noise.div_(1 - p)
    if inplace:
        x.mul_(noise)
        return input
    out = x * noise
    return out if batched else out.squeeze(0)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability ``p``, scaling the rest by
    ``1/(1-p)`` (``F.dropout1d``); the channel mask comes from the device's default generator."""
    return _channel_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout of (N, C, H, W) input (``F.dropout2d``). As in PyTorch, a 3-D input is read as
    (N, C, L) (dropout1d's behaviour), and other ranks >= 2 warn and drop per (N, C) entry."""
    return _channel_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Channel dropout of (N, C, D, H, W) or unbatched (C, D, H, W) input (``F.dropout3d``); other ranks
    warn and are batched by unsqueezing dim 0, as in PyTorch."""
    return _channel_dropout(input, p, training, inplace, 3, "dropout3d")


# ------------------------------------------------------------------------------------------------- pixel shuffle
def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r) (``F.pixel_shuffle``): a reshape, a permute and a copy."""
    r = int(upscale_factor)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={input.shape[-3] if input.ndim >= 3 else None} is not "
                           f"divisible by {r * r}")
    *lead, c, h, w = input.shape
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W) (``F.pixel_unshuffle``), the inverse of `pixel_shuffle`."""
    r = int(downscale_factor)
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor {r}, got "
                           f"input of size {list(input.shape)}")
    *lead, c, hr, wr = input.shape
    n = len(lead)
    x = input.reshape(*lead, c, hr // r, r, wr // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, hr // r, wr // r)


# ------------------------------------------------------------------------------------------------- interpolate
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(input, size, scale_factor, recompute_scale_factor, spatial):
    if (size is None) == (scale_factor is None):
        raise ValueError("either size or scale_factor should be defined" if size is None else
                         "only one of size or scale_factor should be defined")
    if size is not None:
        out = _tuple(size, spatial, "size")
        return out, [None] * spatial
    scales = [float(s) for s in ((scale_factor,) * spatial if isinstance(scale_factor, numbers.Number)
                                 else scale_factor)]
    if len(scales) != spatial:
        raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {list(input.shape[2:])} and scale_factor of shape "
                         f"{list(scale_factor)}.")
    out = tuple(int(math.floor(n * s)) for n, s in zip(input.shape[2:], scales))
    return out, ([None] * spatial if recompute_scale_factor else scales)


def _gather_dim(x, d, idx):
    return x.index_select(d, tensor(idx.astype(np.int64), device=x.device))


def _nearest(n_in, n_out, scale, exact):
    """Source indices of ``nearest`` / ``nearest-exact`` (PyTorch's float32 arithmetic)."""
    s = np.float32(n_in / n_out if scale is None else 1.0 / scale)
    dst = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * s).astype(np.int64), n_in - 1)


def _linear(n_in, n_out, scale, align_corners):
    """(i0, i1, lambda1) of linear interpolation along one dim (``area_pixel_compute_source_index``)."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = s * dst
    else:
        s = n_in / n_out if scale is None else 1.0 / scale
        src = np.maximum(s * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    return i0, i1, (src - i0).astype(np.float32)


@autocast_op("interpolate")
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, *spatial) input (``F.interpolate``): ``mode`` 'nearest',
    'nearest-exact', 'linear' (3-D input), 'bilinear' (4-D), 'trilinear' (5-D) with ``align_corners``, or
    'area' (adaptive average pooling). Forward and backward are index gathers (and, for the linear modes, a
    blend of two), so both run on the device's kernels."""
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    spatial = input.ndim - 2
    if spatial < 1:
        raise ValueError(f"interpolate: expected an input with at least 3 dims (N, C, *spatial), got "
                         f"{list(input.shape)}")
    if mode in _LINEAR:
        if _LINEAR[mode] != spatial:
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
        align_corners = bool(align_corners)
    elif align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    out_sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor, spatial)
    if mode == "area":
        from .functional import adaptive_avg_pool2d
        if spatial == 2:
            return adaptive_avg_pool2d(input, out_sizes)
        if spatial == 1:
            return adaptive_avg_pool2d(input.unsqueeze(2), (1, out_sizes[0])).squeeze(2)
        raise NotImplementedError("interpolate: mode 'area' supports 3-D and 4-D input")
    if mode not in ("nearest", "nearest-exact") and mode not in _LINEAR:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (nearest, nearest-exact, linear, "
                                  f"bilinear, trilinear, area)")
    x = input
    for k, (n_in, n_out, scale) in enumerate(zip(input.shape[2:], out_sizes, scales)):
        d = k + 2
        if mode in _LINEAR:
            i0, i1, lam = _linear(n_in, n_out, scale, align_corners)
            w_shape = [1] * x.ndim
            w_shape[d] = n_out
            lam_t = tensor(lam.reshape(w_shape), dtype=x.dtype, device=x.device)
            a, b = _gather_dim(x, d, i0), _gather_dim(x, d, i1)
            x = a + (b - a) * lam_t
        else:
            x = _gather_dim(x, d, _nearest(n_in, n_out, scale, mode == "nearest-exact"))
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``F.upsample`` (deprecated in PyTorch): `interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """``F.upsample_nearest`` (deprecated in PyTorch): `interpolate` with mode 'nearest'."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``F.upsample_bilinear`` (deprecated in PyTorch): bilinear `interpolate` with ``align_corners=True``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------------------------- convolutions
def _check_conv_input(input, weight, dims, name):
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {name}, but got "
                           f"input of size: {list(input.shape)}")
    if weight.ndim != dims + 2:
        raise RuntimeError(f"{name}: weight must be {dims + 2}-D, got {list(weight.shape)}")
    return (input, True) if input.ndim == dims + 2 else (input.unsqueeze(0), False)


@autocast_op("conv1d")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation (``F.conv1d``): input (N, C, L) or (C, L), weight (Cout, C/groups, k); ``padding``
    an int, 'valid' or 'same'. Runs conv2d's kernels on a height-1 view."""
    from .functional import conv2d
    x, batched = _check_conv_input(input, weight, 1, "conv1d")
    pad = padding if isinstance(padding, str) else (0, _tuple(padding, 1, "padding")[0])
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _tuple(stride, 1, "stride")[0]), pad,
                 (1, _tuple(dilation, 1, "dilation")[0]), groups).squeeze(2)
    return out if batched else out.squeeze(0)


def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups, name):
    n, cin, *hw = x_shape
    if w_shape[0] != cin:
        raise RuntimeError(f"{name}: weight of size {list(w_shape)} expects {w_shape[0]} input channels, but got "
                           f"input of size {list(x_shape)}")
    if groups < 1 or cin % groups:
        raise RuntimeError(f"{name}: {cin} input channels are not divisible by groups={groups}")
    for s, d, op in zip(stride, dilation, output_padding):
        if not (op < s or op < d):
            raise RuntimeError(f"{name}: output padding must be smaller than either stride or dilation, but got "
                               f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
        if op >= s:
            raise NotImplementedError(f"{name}: output_padding >= stride (allowed by a larger dilation) is not "
                                      f"supported")
    out_hw = tuple((h - 1) * s - 2 * p + d * (k - 1) + op + 1
                   for h, s, p, d, k, op in zip(hw, stride, padding, dilation, w_shape[2:], output_padding))
    if min(out_hw) < 1:
        raise RuntimeError(f"{name}: the output size {out_hw} is too small for input {list(x_shape)}")
    return (n, w_shape[1] * groups, *out_hw)


@autocast_op("conv_transpose2d")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (``F.conv_transpose2d``): input (N, Cin, H, W) or unbatched, weight
    (Cin, Cout/groups, kh, kw); output ``(H - 1) s - 2p + d (kh - 1) + output_padding + 1`` per dim. The
    adjoint of conv2d, computed by conv2d's input-gradient kernel (implicit GEMM on cuda)."""
    x, batched = _check_conv_input(input, weight, 2, "conv_transpose2d")
    geom = (_tuple(stride, 2, "stride"), _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation"), groups)
    out_shape = _transpose_geometry(tuple(x.shape), tuple(weight.shape), geom[0], geom[1],
                                    _tuple(output_padding, 2, "output_padding"), geom[2], groups, "conv_transpose2d")
    out = _ConvTranspose2dFn.apply(x, weight, stride=geom[0], padding=geom[1], dilation=geom[2], groups=groups,
                                   out_shape=out_shape)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out if batched else out.squeeze(0)


@autocast_op("conv_transpose1d")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution (``F.conv_transpose1d``): `conv_transpose2d` on a height-1 view."""
    x, batched = _check_conv_input(input, weight, 1, "conv_transpose1d")
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _tuple(stride, 1, "stride")[0]),
                           (0, _tuple(padding, 1, "padding")[0]), (0, _tuple(output_padding, 1, "output_padding")[0]),
                           groups, (1, _tuple(dilation, 1, "dilation")[0])).squeeze(2)
    return out if batched else out.squeeze(0)


class _ConvTranspose2dFn(Op):
    """conv_transpose2d without bias: forward is conv2d's input gradient of ``x``; backward is conv2d of the
    upstream gradient (for x) and conv2d's weight gradient with the roles of input and upstream swapped."""

    def forward(self, x, w, *, stride, padding, dilation, groups, out_shape):
        self.geom = (stride, padding, dilation, groups)
        self.save_for_backward(x, w)
        be = self.be
        shape_only = be.broadcast_to(be.full((), 0, x.dtype, be.device_of(x)), out_shape)
        return be.conv2d_bwd(x, shape_only, w, *self.geom, need_x=True, need_w=False, need_b=False)[0]

    def backward(self, g):
        x, w = self.saved_tensors
        nx, nw = self.needs_input_grad
        be = self.be
        g = be.contiguous(g)
        gx = be.conv2d_fwd(g, w, None, *self.geom) if nx else None
        gw = be.conv2d_bwd(x, g, w, *self.geom, need_x=False, need_w=True, need_b=False)[1] if nw else None
        return gx, gw

    def backward_graph(self, g):
        from ._double_backward import conv_transpose2d
        return conv_transpose2d(self, g)

    @property
    def name(self):
        return "ConvolutionBackward0"


# ------------------------------------------------------------------------------------------------- norms
def _normalize_groups(x, groups, eps):
    """``(x - mean) / sqrt(var + eps)`` over each of ``groups`` channel groups of each sample (biased variance),
    through the layer-norm kernel pair on an (N * G, C / G * spatial) view."""
    n = x.shape[0]
    rows = x.reshape(n * groups, -1)
    return _fn.LayerNormFn.apply(rows, None, None, n=rows.shape[1], eps=float(eps)).reshape(x.shape)


def _affine(y, weight, bias):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


@autocast_op("group_norm")
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of each sample, then scale and shift per channel
    (``F.group_norm``): input (N, C, *), weight/bias (C,)."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    c = input.shape[1]
    if num_groups < 1 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    return _affine(_normalize_groups(input, num_groups, eps), weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims (``F.instance_norm``). With running stats and
    ``use_input_stats``, they are updated as PyTorch does: the mean over the batch of the per-instance mean
    and unbiased variance, blended with ``momentum``; without ``use_input_stats`` the running stats normalise."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm expects an input of at least 3 dims (N, C, *spatial), got "
                         f"{list(input.shape)}")
    n, c = input.shape[:2]
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("Expected running_mean and running_var to be defined when use_input_stats is false")
        y = (input - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
        return _affine(y, weight, bias)
    spatial = math.prod(input.shape[2:])
    if spatial <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(input.shape)}")
    y = _normalize_groups(input, c, eps)
    if running_mean is not None and running_var is not None:
        with autograd.no_grad():
            flat = input.detach().reshape(n, c, -1).float()
            mean = flat.mean(2).mean(0)
            var = flat.var(2, correction=1).mean(0)
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype) * momentum)
            running_var.mul_(1 - momentum).add_(var.to(running_var.dtype) * momentum)
    return _affine(y, weight, bias)

