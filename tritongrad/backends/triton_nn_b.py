"""Triton side of the fused nn ops, part B: attention, conv2d, pooling.

`TritonNNB` is a mixin of the Triton backend. Its methods have `NumpyNNB`'s names, signatures and contracts
(stated once, in `tritongrad.backends.numpy_nn_b`), take and return `DeviceArray`s, and each runs the launch
wrappers of ``tritongrad.kernels.attention`` / ``conv`` / ``pool``. Argument checks and output sizes come
from the same helpers as the NumPy reference, so both devices accept and reject the same calls.
"""
from __future__ import annotations

import math

from tritongrad.kernels import attention, conv, pool

from .. import _determinism
from ._nn_shapes import adaptive_bounds, adaptive_output_hw, check_conv2d, check_pool2d

__all__ = ["TritonNNB"]


def _adaptive_geometry(x_shape, output_size):
    """(out_hw, largest window per dim, most windows covering one input per dim) for adaptive pooling."""
    out = adaptive_output_hw(x_shape, output_size)
    windows, covers = [], []
    for n, o in zip(x_shape[2:], out):
        bounds = adaptive_bounds(n, o)
        windows.append(max(b - a for a, b in bounds))
        counts = [0] * n
        for a, b in bounds:
            for i in range(a, b):
                counts[i] += 1
        covers.append(max(counts))
    return out, tuple(windows), tuple(covers)


class TritonNNB:
    """Flash attention, implicit-GEMM conv2d and pooling kernels."""

    # ------------------------------------------------------------------------------------ attention
    def sdpa_fwd(self, q, k, v, mask, is_causal, scale):
        """`NumpyNNB.sdpa_fwd` on the device: the flash-attention forward (online softmax, lse saved)."""
        return attention.sdpa_fwd(q, k, v, mask, is_causal, scale)

    def sdpa_bwd(self, go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad=False):
        """`NumpyNNB.sdpa_bwd` on the device: the FlashAttention-2 backward (delta, dk/dv, dq kernels)."""
        return attention.sdpa_bwd(go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad)

    # --------------------------------------------------------------------------------------- conv2d
    def conv2d_fwd(self, x, w, b, stride, padding, dilation, groups):
        """`NumpyNNB.conv2d_fwd` on the device: an implicit GEMM, bias in the epilogue."""
        stride, padding, dilation, out = check_conv2d(x.shape, w.shape, None if b is None else b.shape,
                                                      stride, padding, dilation, groups)
        return conv.conv2d_fwd(x, w, b, stride, padding, dilation, groups, out)

    def conv2d_bwd(self, gy, x, w, stride, padding, dilation, groups, need_x=True, need_w=True, need_b=True):
        """`NumpyNNB.conv2d_bwd` on the device: input and weight gradients as implicit GEMMs, gb a reduction."""
        stride, padding, dilation, out = check_conv2d(x.shape, w.shape, None, stride, padding, dilation, groups)
        if tuple(gy.shape) != (x.shape[0], w.shape[0], *out):
            raise ValueError(f"conv2d_bwd: gy has shape {gy.shape}, expected {(x.shape[0], w.shape[0], *out)}")
        gx = conv.conv2d_bwd_input(gy, w, x.shape, stride, padding, dilation, groups) if need_x else None
        gw = conv.conv2d_bwd_weight(gy, x, w.shape, stride, padding, dilation, groups) if need_w else None
        gb = conv.conv2d_bwd_bias(gy) if need_b else None
        return gx, gw, gb

    # -------------------------------------------------------------------------------------- pooling
    def max_pool2d_fwd(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        """`NumpyNNB.max_pool2d_fwd` on the device."""
        k, s, p, d, out = check_pool2d(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
        return pool.max_pool2d_fwd(x, k, s, p, d, out)

    def max_pool2d_bwd(self, gy, indices, x_shape):
        """`NumpyNNB.max_pool2d_bwd` on the device (fp32 atomic scatter)."""
        _determinism.alert_not_deterministic("max_pool2d_with_indices_backward_cuda")
        return pool.max_pool2d_bwd(gy, indices, x_shape)

    def avg_pool2d_fwd(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        """`NumpyNNB.avg_pool2d_fwd` on the device."""
        k, s, p, _, out = check_pool2d(x.shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
        return pool.avg_pool2d_fwd(x, k, s, p, out, count_include_pad, divisor_override)

    def avg_pool2d_bwd(self, gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
        """`NumpyNNB.avg_pool2d_bwd` on the device (a gather: deterministic, no atomics)."""
        k, s, p, _, out = check_pool2d(x_shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
        if tuple(gy.shape) != (*x_shape[:2], *out):
            raise ValueError(f"avg_pool2d_bwd: gy has shape {gy.shape}, expected {(*x_shape[:2], *out)}")
        covers = tuple(math.ceil(kk / ss) for kk, ss in zip(k, s))
        return pool.avg_pool2d_bwd(gy, x_shape, k, s, p, count_include_pad, divisor_override, covers)

    def adaptive_avg_pool2d_fwd(self, x, output_size):
        """`NumpyNNB.adaptive_avg_pool2d_fwd` on the device."""
        out, windows, _ = _adaptive_geometry(x.shape, output_size)
        return pool.avg_pool2d_fwd(x, windows, (1, 1), (0, 0), out, False, None, adaptive=True)

    def adaptive_avg_pool2d_bwd(self, gy, x_shape, output_size):
        """`NumpyNNB.adaptive_avg_pool2d_bwd` on the device (a gather: deterministic, no atomics)."""
        out, windows, covers = _adaptive_geometry(x_shape, output_size)
        if tuple(gy.shape) != (*x_shape[:2], *out):
            raise ValueError(f"adaptive_avg_pool2d_bwd: gy has shape {gy.shape}, expected {(*x_shape[:2], *out)}")
        return pool.avg_pool2d_bwd(gy, x_shape, windows, (1, 1), (0, 0), False, None, covers, adaptive=True)
