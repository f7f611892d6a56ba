"""Argument checks and output-shape arithmetic of conv2d, 2-D pooling and attention masks: plain Python on
shapes, the single source of these formulas for both the NumPy (`NumpyNNB`) and the Triton (`TritonNNB`)
nn backends. PyTorch's rules and error wording.
"""
from __future__ import annotations

import numpy as np

__all__ = ["conv2d_output_hw", "pool2d_output_hw", "adaptive_bounds", "adaptive_output_hw", "check_conv2d",
           "check_pool2d", "check_sdpa_mask"]


def conv2d_output_hw(hw, kernel_hw, stride, padding, dilation):
    """PyTorch's conv2d output size: ``(H + 2p - d(k-1) - 1) // s + 1`` per dim."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(hw, kernel_hw, stride, padding, dilation))


def pool2d_output_hw(hw, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size (``pooling_output_shape``): floor or ceil of
    ``(H + 2p - d(k-1) - 1) / s`` plus 1, minus 1 when ceil mode would start the last window in the padding."""
    out = []
    for n, k, s, p, d in zip(hw, kernel_size, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1 + ((s - 1) if ceil_mode else 0)
        o = span // s + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        out.append(o)
    return tuple(out)


def adaptive_bounds(n_in, n_out):
    """PyTorch's adaptive-pooling windows along one dim: ``[floor(i*I/O), ceil((i+1)*I/O))`` for each i."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def check_sdpa_mask(mask):
    """An attention mask must be additive floats: a bool mask is the caller's to turn into 0 / -inf."""
    if mask is not None and not (mask.dtype.kind == "f" or mask.dtype.name == "bfloat16"):
        raise TypeError(f"sdpa: the mask must be an additive float mask, got dtype {mask.dtype} (turn a bool "
                        f"mask into 0 / -inf first)")


def _pair(v, name):
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return tuple(int(a) for a in t)


def check_conv2d(x_shape, w_shape, b_shape, stride, padding, dilation, groups):
    """Validate conv2d arguments; returns ``(stride, padding, dilation, (OH, OW))`` as int pairs."""
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv2d: expected 4-D input (N, C, H, W) and weight (Cout, Cin/groups, kh, kw), "
                         f"got input {tuple(x_shape)} and weight {tuple(w_shape)}")
    n, c, h, w = x_shape
    cout, cin_g, kh, kw = w_shape
    if groups < 1 or c % groups or cout % groups or cin_g * groups != c:
        raise ValueError(f"conv2d: input {tuple(x_shape)} with {c} channels and weight {tuple(w_shape)} do not "
                         f"match groups={groups} (need C = groups * weight.shape[1] and Cout divisible by groups)")
    if b_shape is not None and tuple(b_shape) != (cout,):
        raise ValueError(f"conv2d: bias of shape {tuple(b_shape)} does not match {cout} output channels")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be >= 1, padding {padding} >= 0")
    out = conv2d_output_hw((h, w), (kh, kw), stride, padding, dilation)
    if min(out) < 1:
        raise ValueError(f"conv2d: input {tuple(x_shape)} (padded by {padding}) is smaller than the dilated "
                         f"kernel {(kh, kw)} with dilation {dilation}")
    return stride, padding, dilation, out


def check_pool2d(x_shape, kernel_size, stride, padding, dilation, ceil_mode, name):
    """Validate pooling arguments (PyTorch's rules); returns int pairs ``(k, s, p, d, (OH, OW))``.
    ``stride`` None or empty means the kernel size, as in PyTorch."""
    kernel_size = _pair(kernel_size, "kernel_size")
    stride = kernel_size if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    if len(x_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W), got {tuple(x_shape)}")
    if min(kernel_size) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: kernel_size {kernel_size}, stride {stride} and dilation {dilation} must be "
                         f"positive")
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel_size)):
        raise ValueError(f"{name}: pad should be smaller than or equal to half of kernel size, but got "
                         f"padding={padding} and kernel_size={kernel_size}")
    out = pool2d_output_hw(x_shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    if min(out) < 1:
        raise ValueError(f"{name}: output size {out} is too small for input {tuple(x_shape)}")
    return kernel_size, stride, padding, dilation, out


def adaptive_output_hw(x_shape, output_size):
    """``output_size`` as an int pair (None entries keep the input size, as in PyTorch)."""
    if len(x_shape) != 4:
        raise ValueError(f"adaptive_avg_pool2d: expected a 4-D input (N, C, H, W), got {tuple(x_shape)}")
    size = (output_size, output_size) if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(int(n) if s is None else int(s) for s, n in zip(size, x_shape[2:]))
    if min(out) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size {out} must be positive")
    return out
