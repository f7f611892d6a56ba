"""Batch norm over (N, C, L), forward and backward, per-channel statistics in fp32.

Forward (``torch.nn.functional.batch_norm``): in training, the mean and the biased variance of each channel
over its N*L values normalise it, and the running statistics (when given) are updated in place with
PyTorch's rule ``r = (1 - momentum) * r + momentum * s`` using the unbiased variance; in eval the running
statistics normalise. ``y = (x - mean) * rstd * w + b``. The kernel saves the mean and ``rstd`` it used
(fp32 (C,)), so backward is the same in both modes but for the batch-statistics terms:
``gx = w * rstd * (gy - mean(gy) - xhat * mean(gy * xhat))`` in training, ``w * rstd * gy`` in eval;
``gw = sum(gy * xhat)``, ``gb = sum(gy)`` per channel.

One program per channel streams over (N, L) in (BLOCK_N, BLOCK_L) tiles: two passes for the statistics
(mean, then the variance about it), one to write ``y``; backward one pass for the sums, one to write ``gx``.
``x`` may have any strides; outputs are C-contiguous. fp32/fp16/bf16 in and out. Parallelism is C programs,
so tiny channel counts use a small part of a large GPU.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to
from .norm import STATS_DTYPES, check_operand

__all__ = ["batch_norm_fwd", "batch_norm_bwd", "aot_specs"]

TILE_ELEMENTS = 2048


@triton.jit
def _bn_tile_offsets(n0, l0, N, L, stride_n, stride_l, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    """Element offsets (relative to the channel's first element) and mask of one (BLOCK_N, BLOCK_L) tile."""
    ns = n0 + tl.arange(0, BLOCK_N).to(tl.int64)
    ls = l0 + tl.arange(0, BLOCK_L).to(tl.int64)
    mask = (ns < N)[:, None] & (ls < L)[None, :]
    return ns[:, None] * stride_n + ls[None, :] * stride_l, mask


@triton.jit
def _batch_norm_fwd_kernel(
    x_ptr, w_ptr, b_ptr,
    y_ptr,                          # (N, C, L) C-contiguous
    rmean_ptr, rvar_ptr,            # (C,) running statistics, updated in place in training
    smean_ptr, srstd_ptr,           # (C,) fp32: the mean and rstd used
    N, C, L,
    stride_xn, stride_xc, stride_xl, stride_w, stride_b, stride_rm, stride_rv,
    momentum, eps,
    TRAINING: tl.constexpr, HAS_W: tl.constexpr, HAS_B: tl.constexpr, UPDATE_RUNNING: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    c = tl.program_id(0).to(tl.int64)
    x_c = x_ptr + c * stride_xc
    count = N * L
    if TRAINING:
        acc = tl.zeros([BLOCK_N, BLOCK_L], dtype=tl.float32)
        for n0 in range(0, N, BLOCK_N):
            for l0 in range(0, L, BLOCK_L):
                offs, mask = _bn_tile_offsets(n0, l0, N, L, stride_xn, stride_xl, BLOCK_N, BLOCK_L)
                acc += tl.load(x_c + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(tl.sum(acc, axis=1), axis=0) / count
        acc = tl.zeros([BLOCK_N, BLOCK_L], dtype=tl.float32)
        for n0 in range(0, N, BLOCK_N):
            for l0 in range(0, L, BLOCK_L):
                offs, mask = _bn_tile_offsets(n0, l0, N, L, stride_xn, stride_xl, BLOCK_N, BLOCK_L)
                d = tl.where(mask, tl.load(x_c + offs, mask=mask, other=0.0).to(tl.float32) - mean, 0.0)
                acc += d * d
        var = tl.sum(tl.sum(acc, axis=1), axis=0) / count
        if UPDATE_RUNNING:
            rm = tl.load(rmean_ptr + c * stride_rm).to(tl.float32)
            rv = tl.load(rvar_ptr + c * stride_rv).to(tl.float32)
            unbiased = var * count / (count - 1)
            tl.store(rmean_ptr + c * stride_rm,
                     cast_to((1.0 - momentum) * rm + momentum * mean, rmean_ptr.dtype.element_ty))
            tl.store(rvar_ptr + c * stride_rv,
                     cast_to((1.0 - momentum) * rv + momentum * unbiased, rvar_ptr.dtype.element_ty))
    else:
        mean = tl.load(rmean_ptr + c * stride_rm).to(tl.float32)
        var = tl.load(rvar_ptr + c * stride_rv).to(tl.float32)
    rstd = 1.0 / tl.sqrt(var + eps)
    tl.store(smean_ptr + c, mean)
    tl.store(srstd_ptr + c, rstd)
    scale = rstd
    if HAS_W:
        scale = scale * tl.load(w_ptr + c * stride_w).to(tl.float32)
    shift = -mean * scale
    if HAS_B:
        shift += tl.load(b_ptr + c * stride_b).to(tl.float32)
    y_c = y_ptr + c * L
    for n0 in range(0, N, BLOCK_N):
        for l0 in range(0, L, BLOCK_L):
            offs, mask = _bn_tile_offsets(n0, l0, N, L, stride_xn, stride_xl, BLOCK_N, BLOCK_L)
            x = tl.load(x_c + offs, mask=mask, other=0.0).to(tl.float32)
            y_offs, _ = _bn_tile_offsets(n0, l0, N, L, C * L, 1, BLOCK_N, BLOCK_L)
            tl.store(y_c + y_offs, cast_to(x * scale + shift, y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _batch_norm_bwd_kernel(
    gy_ptr, x_ptr, w_ptr, smean_ptr, srstd_ptr,
    gx_ptr,                         # (N, C, L) C-contiguous
    gw_ptr, gb_ptr,                 # (C,) in the parameter dtype
    N, C, L,
    stride_gn, stride_gc, stride_gl, stride_xn, stride_xc, stride_xl, stride_w,
    TRAINING: tl.constexpr, HAS_W: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    c = tl.program_id(0).to(tl.int64)
    x_c = x_ptr + c * stride_xc
    gy_c = gy_ptr + c * stride_gc
    mean = tl.load(smean_ptr + c)
    rstd = tl.load(srstd_ptr + c)
    count = N * L
    acc_g = tl.zeros([BLOCK_N, BLOCK_L], dtype=tl.float32)
    acc_gx = tl.zeros([BLOCK_N, BLOCK_L], dtype=tl.float32)
    for n0 in range(0, N, BLOCK_N):
        for l0 in range(0, L, BLOCK_L):
            offs, mask = _bn_tile_offsets(n0, l0, N, L, stride_xn, stride_xl, BLOCK_N, BLOCK_L)
            g_offs, _ = _bn_tile_offsets(n0, l0, N, L, stride_gn, stride_gl, BLOCK_N, BLOCK_L)
            gy = tl.load(gy_c + g_offs, mask=mask, other=0.0).to(tl.float32)
            xhat = (tl.load(x_c + offs, mask=mask, other=0.0).to(tl.float32) - mean) * rstd
            acc_g += gy
            acc_gx += gy * xhat
    sum_g = tl.sum(tl.sum(acc_g, axis=1), axis=0)
    sum_gx = tl.sum(tl.sum(acc_gx, axis=1), axis=0)
    tl.store(gb_ptr + c, cast_to(sum_g, gb_ptr.dtype.element_ty))
    scale = rstd
    if HAS_W:
        tl.store(gw_ptr + c, cast_to(sum_gx, gw_ptr.dtype.element_ty))
        scale = scale * tl.load(w_ptr + c * stride_w).to(tl.float32)
    gx_c = gx_ptr + c * L
    for n0 in range(0, N, BLOCK_N):
        for l0 in range(0, L, BLOCK_L):
            offs, mask = _bn_tile_offsets(n0, l0, N, L, stride_xn, stride_xl, BLOCK_N, BLOCK_L)
            g_offs, _ = _bn_tile_offsets(n0, l0, N, L, stride_gn, stride_gl, BLOCK_N, BLOCK_L)
            gy = tl.load(gy_c + g_offs, mask=mask, other=0.0).to(tl.float32)
            if TRAINING:
                xhat = (tl.load(x_c + offs, mask=mask, other=0.0).to(tl.float32) - mean) * rstd
                gx = scale * (gy - sum_g / count - xhat * (sum_gx / count))
            else:
                gx = scale * gy
            out_offs, _ = _bn_tile_offsets(n0, l0, N, L, C * L, 1, BLOCK_N, BLOCK_L)
            tl.store(gx_c + out_offs, cast_to(gx, gx_ptr.dtype.element_ty), mask=mask)


def _blocks(N, L):
    block_l = min(triton.next_power_of_2(max(L, 1)), TILE_ELEMENTS)
    block_n = min(triton.next_power_of_2(max(N, 1)), max(1, TILE_ELEMENTS // block_l))
    return {"BLOCK_N": block_n, "BLOCK_L": block_l, "num_warps": 8 if block_n * block_l >= 2048 else 4}


def _stride(a):
    return 0 if a is None else a.element_strides[0]


def batch_norm_fwd(x, w, b, running_mean, running_var, training, momentum, eps):
    """``torch.nn.functional.batch_norm(x, running_mean, running_var, w, b, training, momentum, eps)`` for
    ``x`` (N, C, L): ``(y, save_mean, save_rstd)``; updates the running statistics in place in training
    (when given). Eval needs them. Training with one value per channel raises ValueError."""
    check_operand("input", x, ndim=3)
    N, C, L = x.shape
    for name, a in (("weight", w), ("bias", b), ("running_mean", running_mean), ("running_var", running_var)):
        if a is not None:
            check_operand(name, a, shape=(C,))
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm needs both running_mean and running_var, or neither")
    if training and N * L <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
    if not training and running_mean is None:
        raise ValueError("batch_norm in eval mode needs running_mean and running_var")
    y = runtime.empty(x.shape, x.dtype, x.device)
    save_mean = runtime.empty((C,), np.float32, x.device)
    save_rstd = runtime.empty((C,), np.float32, x.device)
    if C == 0 or N * L == 0:
        return y, save_mean, save_rstd
    stats = save_mean if running_mean is None else running_mean
    _batch_norm_fwd_kernel[(C,)](
        x, x if w is None else w, x if b is None else b, y,
        stats, save_rstd if running_var is None else running_var, save_mean, save_rstd,
        N, C, L, *x.element_strides, _stride(w), _stride(b), _stride(running_mean), _stride(running_var),
        float(momentum), float(eps), TRAINING=bool(training), HAS_W=w is not None, HAS_B=b is not None,
        UPDATE_RUNNING=running_mean is not None, **_blocks(N, L))
    return y, save_mean, save_rstd


def batch_norm_bwd(gy, x, w, save_mean, save_rstd, training):
    """Gradients of `batch_norm_fwd`: ``(gx, gw, gb)``; ``gw``/``gb`` (C,) in ``w``'s dtype (``x``'s when
    ``w`` is None, and ``gw`` None then)."""
    check_operand("input", x, ndim=3)
    N, C, L = x.shape
    check_operand("grad_output", gy, shape=x.shape)
    if w is not None:
        check_operand("weight", w, shape=(C,))
    check_operand("save_mean", save_mean, shape=(C,), dtypes=STATS_DTYPES)
    check_operand("save_rstd", save_rstd, shape=(C,), dtypes=STATS_DTYPES)
    param_dtype = x.dtype if w is None else w.dtype
    gx = runtime.empty(x.shape, x.dtype, x.device)
    gw = None if w is None else runtime.empty((C,), param_dtype, x.device)
    gb = runtime.empty((C,), param_dtype, x.device)
    if C == 0:
        return gx, gw, gb
    _batch_norm_bwd_kernel[(C,)](
        gy, x, x if w is None else w, save_mean, save_rstd, gx, gb if gw is None else gw, gb,
        N, C, L, *gy.element_strides, *x.element_strides, _stride(w),
        TRAINING=bool(training), HAS_W=w is not None, **_blocks(N, L))
    return gx, gw, gb


def aot_specs():
    """Compile configurations: fp32 training, bf16 activations with fp32 parameters in eval."""
    for ty, training in (("fp32", True), ("bf16", False)):
        mode = "train" if training else "eval"
        blocks = {"BLOCK_N": 2, "BLOCK_L": 1024}
        stats = {"smean_ptr": "*fp32", "srstd_ptr": "*fp32", "w_ptr": "*fp32", "x_ptr": f"*{ty}"}
        yield aot_spec(f"batch_norm_{ty}_{mode}_fwd", _batch_norm_fwd_kernel,
                       {**stats, "b_ptr": "*fp32", "y_ptr": f"*{ty}", "rmean_ptr": "*fp32", "rvar_ptr": "*fp32",
                        "momentum": "fp32", "eps": "fp32"},
                       {"TRAINING": training, "HAS_W": True, "HAS_B": True, "UPDATE_RUNNING": True, **blocks},
                       num_warps=8)
        yield aot_spec(f"batch_norm_{ty}_{mode}_bwd", _batch_norm_bwd_kernel,
                       {**stats, "gy_ptr": f"*{ty}", "gx_ptr": f"*{ty}", "gw_ptr": "*fp32", "gb_ptr": "*fp32"},
                       {"TRAINING": training, "HAS_W": True, **blocks}, num_warps=8)
