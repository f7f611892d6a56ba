"""2-D pooling over NCHW arrays: max (with PyTorch's flat indices), average and adaptive average.

* ``max_pool2d_fwd``: one lane per output element loops over the window taps (stride, padding, dilation);
  writes the max and its int64 index ``ih * W + iw`` within the H*W plane. Padding never wins, ties keep
  the first tap, NaN propagates, as PyTorch.
* ``max_pool2d_bwd``: scatters each output gradient to its saved index with fp32 atomics (windows may
  overlap; only the indices are known), into a zeroed fp32 buffer (``kernels.copy.full``), then casts for
  fp16/bf16 (``kernels.copy.cast``). Atomics make the fp32 summation order, and so the last bits,
  nondeterministic (as PyTorch's CUDA kernel).
* ``avg_pool2d_*`` and ``adaptive_avg_pool2d_*`` share one forward and one backward kernel: the window of an
  output is PyTorch's (``start = o*s - p``, ``end = min(start + k, H + p)``, clipped to the input; adaptive:
  ``[floor(o*H/OH), ceil((o+1)*H/OH))``), the divisor ``divisor_override``, the padded window size or the
  clipped one. The backward gathers: one lane per input element sums the outputs whose windows cover it, so
  it needs neither atomics nor a zeroed buffer and is deterministic.

Inputs may have any element strides; outputs are new contiguous arrays. fp32, fp16, bf16 (fp32 math).
Output sizes are computed by the caller (PyTorch's formulas live in ``tritongrad.backends.numpy_nn_b``).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from . import copy as _copy
from ._common import aot_spec, cast_to, launch_config

__all__ = ["max_pool2d_fwd", "max_pool2d_bwd", "avg_pool2d_fwd", "avg_pool2d_bwd", "aot_specs"]

_SUPPORTED = ("float32", "float16", "bfloat16")


@triton.jit
def _unflatten_nchw(offs, C, H, W):
    w = offs % W
    t = offs // W
    h = t % H
    t = t // H
    return t // C, t % C, h, w


@triton.jit
def _max_pool2d_fwd_kernel(
    X, Y, IDX,                          # Y, IDX (N, C, OH, OW) contiguous; IDX int64
    total, C, H, W, OH, OW, KH, KW,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sxn, sxc, sxh, sxw,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < total
    n, c, oh, ow = _unflatten_nchw(offs, C, OH, OW)
    base = X + n * sxn + c * sxc
    best = tl.full([BLOCK], float("-inf"), tl.float32)
    best_idx = tl.full([BLOCK], -1, tl.int64)          # -1 until the first in-bounds tap
    for kh in range(0, KH):
        ih = oh * stride_h - pad_h + kh * dil_h
        h_ok = ok & (ih >= 0) & (ih < H)
        for kw in range(0, KW):
            iw = ow * stride_w - pad_w + kw * dil_w
            valid = h_ok & (iw >= 0) & (iw < W)
            v = tl.load(base + ih * sxh + iw * sxw, mask=valid, other=float("-inf")).to(tl.float32)
            take = valid & ((v > best) | (v != v) | (best_idx < 0))
            best = tl.where(take, v, best)
            best_idx = tl.where(take, ih * W + iw, best_idx)
    tl.store(Y + offs, cast_to(best, Y.dtype.element_ty), mask=ok)
    tl.store(IDX + offs, best_idx, mask=ok)


@triton.jit
def _max_pool2d_bwd_kernel(
    GY, IDX, GX,                        # GX (N*C, H*W) fp32, zeroed before
    total, C, OH, OW, HW,
    sgn, sgc, sgh, sgw,                 # gy element strides
    sin, sic, sih, siw,                 # indices element strides
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < total
    n, c, oh, ow = _unflatten_nchw(offs, C, OH, OW)
    g = tl.load(GY + n * sgn + c * sgc + oh * sgh + ow * sgw, mask=ok, other=0.0).to(tl.float32)
    i = tl.load(IDX + n * sin + c * sic + oh * sih + ow * siw, mask=ok, other=0)
    tl.atomic_add(GX + (n * C + c) * HW + i, g, mask=ok, sem="relaxed")


@triton.jit
def _avg_window(o, size_in, size_out, K, S, P, ADAPTIVE: tl.constexpr):
    """(lo, hi, span): the input range [lo, hi) of output ``o`` along one dim, and the length of its window
    counting padding (PyTorch's ``pool_size`` before clipping; the same as hi - lo when adaptive)."""
    if ADAPTIVE:
        lo = (o * size_in) // size_out
        hi = ((o + 1) * size_in + size_out - 1) // size_out
        span = hi - lo
    else:
        start = o * S - P
        end = tl.minimum(start + K, size_in + P)
        span = end - start
        lo = tl.maximum(start, 0)
        hi = tl.minimum(end, size_in)
    return lo, hi, span


@triton.jit
def _avg_divisor(h_lo, h_hi, h_span, w_lo, w_hi, w_span, divisor_override, COUNT_INCLUDE_PAD: tl.constexpr):
    if COUNT_INCLUDE_PAD:
        d = (h_span * w_span).to(tl.float32)
    else:
        d = ((h_hi - h_lo) * (w_hi - w_lo)).to(tl.float32)
    return tl.where(divisor_override > 0, divisor_override.to(tl.float32), d)


@triton.jit
def _avg_pool2d_fwd_kernel(
    X, Y,                               # Y (N, C, OH, OW) contiguous
    total, C, H, W, OH, OW,
    KH, KW,                             # window size (adaptive: the largest window)
    stride_h, stride_w, pad_h, pad_w,
    divisor_override,                   # 0: none
    sxn, sxc, sxh, sxw,
    COUNT_INCLUDE_PAD: tl.constexpr, ADAPTIVE: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < total
    n, c, oh, ow = _unflatten_nchw(offs, C, OH, OW)
    h_lo, h_hi, h_span = _avg_window(oh, H, OH, KH, stride_h, pad_h, ADAPTIVE)
    w_lo, w_hi, w_span = _avg_window(ow, W, OW, KW, stride_w, pad_w, ADAPTIVE)
    base = X + n * sxn + c * sxc
    acc = tl.zeros([BLOCK], tl.float32)
    for kh in range(0, KH):
        ih = h_lo + kh
        h_ok = ok & (ih < h_hi)
        for kw in range(0, KW):
            iw = w_lo + kw
            acc += tl.load(base + ih * sxh + iw * sxw, mask=h_ok & (iw < w_hi), other=0.0).to(tl.float32)
    div = _avg_divisor(h_lo, h_hi, h_span, w_lo, w_hi, w_span, divisor_override, COUNT_INCLUDE_PAD)
    tl.store(Y + offs, cast_to(acc / tl.where(ok, div, 1.0), Y.dtype.element_ty), mask=ok)


@triton.jit
def _first_window(i, size_in, size_out, K, S, P, ADAPTIVE: tl.constexpr):
    # the first output whose window can cover input i (no earlier one does)
    if ADAPTIVE:
        first = (i * size_out) // size_in
    else:
        reach = i + P - K + 1           # outputs o with o*S >= reach cover i (if o*S - P <= i)
        first = (tl.maximum(reach, 0) + S - 1) // S
    return first


@triton.jit
def _avg_pool2d_bwd_kernel(
    GY, GX,                             # GX (N, C, H, W) contiguous
    total, C, H, W, OH, OW,
    KH, KW, stride_h, stride_w, pad_h, pad_w, divisor_override,
    NOH, NOW,                           # the most outputs along each dim whose windows cover one input
    sgn, sgc, sgh, sgw,
    COUNT_INCLUDE_PAD: tl.constexpr, ADAPTIVE: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < total
    n, c, ih, iw = _unflatten_nchw(offs, C, H, W)
    oh0 = _first_window(ih, H, OH, KH, stride_h, pad_h, ADAPTIVE)
    ow0 = _first_window(iw, W, OW, KW, stride_w, pad_w, ADAPTIVE)
    base = GY + n * sgn + c * sgc
    acc = tl.zeros([BLOCK], tl.float32)
    for dh in range(0, NOH):
        oh = oh0 + dh
        h_lo, h_hi, h_span = _avg_window(oh, H, OH, KH, stride_h, pad_h, ADAPTIVE)
        h_ok = ok & (oh < OH) & (h_lo <= ih) & (ih < h_hi)
        for dw in range(0, NOW):
            ow = ow0 + dw
            w_lo, w_hi, w_span = _avg_window(ow, W, OW, KW, stride_w, pad_w, ADAPTIVE)
            covers = h_ok & (ow < OW) & (w_lo <= iw) & (iw < w_hi)
            g = tl.load(base + oh * sgh + ow * sgw, mask=covers, other=0.0).to(tl.float32)
            div = _avg_divisor(h_lo, h_hi, h_span, w_lo, w_hi, w_span, divisor_override, COUNT_INCLUDE_PAD)
            acc += g / tl.where(covers, div, 1.0)
    tl.store(GX + offs, cast_to(acc, GX.dtype.element_ty), mask=ok)


# ------------------------------------------------------------------------------------------------ wrappers

def _check(name, x):
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) array, got shape {x.shape}")
    if x.dtype.name not in _SUPPORTED:
        raise TypeError(f"{name}: dtype {x.dtype} is not supported by the Triton kernel "
                        f"(supported: {', '.join(_SUPPORTED)})")


def _launch(total):
    """(grid, BLOCK, num_warps) for one lane per element over ``total`` elements."""
    block, warps = launch_config(total)
    return (triton.cdiv(total, block),), block, warps


def _avg_bwd_warps(block, warps):
    """Warps of the average-pooling backward: its per-element int64 window arithmetic needs at most 4 elements
    per thread to fit in 255 registers without spilling (8 at BLOCK 1024 on 4 warps spilled on sm_80)."""
    return max(warps, block // 128)


def _avg_fwd_warps(block, warps, count_include_pad):
    """Warps of the average-pooling forward: those of `_avg_bwd_warps` with ``count_include_pad`` (its window
    arithmetic spilled 12 to 28 B at 8 elements a thread with triton 3.6), else ``warps`` (at 4 elements a thread
    ptxas 3.9 allocates 80 registers and spills 12 B on sm_80)."""
    return _avg_bwd_warps(block, warps) if count_include_pad else warps


def max_pool2d_fwd(x, kernel_size, stride, padding, dilation, out_hw):
    """``F.max_pool2d(..., return_indices=True)`` on a `DeviceArray`: int pairs for the geometry and the output
    size ``out_hw`` computed by the caller (ceil_mode is in it). Returns ``(y, indices)``, indices int64."""
    _check("max_pool2d", x)
    n, c, h, w = x.shape
    y = runtime.empty((n, c, *out_hw), x.dtype, device=x.device)
    idx = runtime.empty((n, c, *out_hw), np.int64, device=x.device)
    total = y.numel()
    if total:
        grid, block, warps = _launch(total)
        _max_pool2d_fwd_kernel[grid](
            x, y, idx, total, c, h, w, *out_hw, *kernel_size, *stride, *padding, *dilation, *x.element_strides,
            BLOCK=block, num_warps=warps)
    return y, idx


def max_pool2d_bwd(gy, indices, x_shape):
    """Gradient of `max_pool2d_fwd`: ``gy`` added at ``indices`` into a zero array of shape ``x_shape``."""
    _check("max_pool2d_bwd", gy)
    if indices.shape != gy.shape or indices.dtype != np.int64:
        raise ValueError(f"max_pool2d_bwd: indices {indices.shape} {indices.dtype} must be int64 of gy's "
                         f"shape {gy.shape}")
    n, c, h, w = x_shape
    acc = _copy.full(tuple(x_shape), 0.0, np.float32, device=gy.device)
    total = gy.numel()
    if total and acc.numel():
        grid, block, warps = _launch(total)
        _max_pool2d_bwd_kernel[grid](
            gy, indices, acc, total, c, gy.shape[2], gy.shape[3], h * w, *gy.element_strides,
            *indices.element_strides, BLOCK=block, num_warps=warps)
    return acc if gy.dtype == np.float32 else _copy.cast(acc, gy.dtype)


def avg_pool2d_fwd(x, kernel_size, stride, padding, out_hw, count_include_pad, divisor_override, adaptive=False):
    """``F.avg_pool2d`` (or, with ``adaptive=True``, ``F.adaptive_avg_pool2d``, where ``kernel_size`` is the
    largest window and stride/padding are unused) on a `DeviceArray`, output size ``out_hw`` from the caller."""
    _check("adaptive_avg_pool2d" if adaptive else "avg_pool2d", x)
    n, c, h, w = x.shape
    y = runtime.empty((n, c, *out_hw), x.dtype, device=x.device)
    total = y.numel()
    if total:
        grid, block, warps = _launch(total)
        _avg_pool2d_fwd_kernel[grid](
            x, y, total, c, h, w, *out_hw, *kernel_size, *stride, *padding, int(divisor_override or 0),
            *x.element_strides, COUNT_INCLUDE_PAD=bool(count_include_pad), ADAPTIVE=bool(adaptive), BLOCK=block,
            num_warps=_avg_fwd_warps(block, warps, count_include_pad))
    return y


def avg_pool2d_bwd(gy, x_shape, kernel_size, stride, padding, count_include_pad, divisor_override, covers,
                   adaptive=False):
    """Gradient of `avg_pool2d_fwd` w.r.t. its input (shape ``x_shape``); ``covers`` (NOH, NOW) bounds how many
    windows along each dim cover one input element."""
    _check("adaptive_avg_pool2d_bwd" if adaptive else "avg_pool2d_bwd", gy)
    n, c, h, w = x_shape
    gx = runtime.empty(tuple(x_shape), gy.dtype, device=gy.device)
    total = gx.numel()
    if total:
        grid, block, warps = _launch(total)
        _avg_pool2d_bwd_kernel[grid](
            gy, gx, total, c, h, w, gy.shape[2], gy.shape[3], *kernel_size, *stride, *padding,
            int(divisor_override or 0), *covers, *gy.element_strides,
            COUNT_INCLUDE_PAD=bool(count_include_pad), ADAPTIVE=bool(adaptive), BLOCK=block,
            num_warps=_avg_bwd_warps(block, warps))
    return gx


# ------------------------------------------------------------------------------------------- AOT specs

def aot_specs():
    """Each kernel for fp32 and bf16 (average pooling: plain, count_include_pad and adaptive)."""
    block, warps = launch_config(1 << 20)
    const = {"BLOCK": block}
    for ty in ("fp32", "bf16"):
        p = "*" + ty
        yield aot_spec(f"max_pool2d_fwd_{ty}", _max_pool2d_fwd_kernel, {"X": p, "Y": p, "IDX": "*i64"}, const,
                       warps)
        yield aot_spec(f"max_pool2d_bwd_{ty}", _max_pool2d_bwd_kernel, {"GY": p, "IDX": "*i64", "GX": "*fp32"},
                       const, warps)
        for include_pad, adaptive in ((False, False), (True, False), (False, True)):
            flags = {"COUNT_INCLUDE_PAD": include_pad, "ADAPTIVE": adaptive, **const}
            tag = f"{ty}{'_pad' if include_pad else ''}{'_adaptive' if adaptive else ''}"
            yield aot_spec(f"avg_pool2d_fwd_{tag}", _avg_pool2d_fwd_kernel, {"X": p, "Y": p}, flags,
                           _avg_fwd_warps(block, warps, include_pad))
            yield aot_spec(f"avg_pool2d_bwd_{tag}", _avg_pool2d_bwd_kernel, {"GY": p, "GX": p}, flags,
                           _avg_bwd_warps(block, warps))
