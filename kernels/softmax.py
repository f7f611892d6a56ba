"""Fused softmax / log-softmax forward and backward along one dim, as Triton kernels on `DeviceArray`s.

``softmax(x, dim, log=False)`` and ``softmax_bwd(y, gy, dim, log=False)`` (``torch.softmax``,
``torch.log_softmax`` and their gradients). The input is seen as ``(outer, n, inner)`` (see
`kernels.reduce._Rows`: free for any contiguous input, one copy for layouts whose strides do not merge);
each program takes ``BLOCK_R`` rows. A row that fits in one block (``n <= 4096``) is loaded once and
normalised in registers; longer rows take an online pass (running max and rescaled sum) and a second pass
that writes. Math is fp32 (fp64 for fp64), masked lanes load ``-inf`` (forward) or 0 (backward).
A row of all ``-inf``, or holding a ``+inf``, gives all nan, as in PyTorch.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to
from .reduce import _TL_DTYPE, _Rows, _acc_dtype, _cdiv, _check_dtype, _normalize_dims, _row_base, \
    _tile_sizes

__all__ = ["softmax", "softmax_bwd", "aot_specs"]

_MAX_BLOCK = 4096  # longest row handled in one block; longer rows loop


@triton.jit
def _finite_center(c):
    # a row max of -inf (every entry -inf) shifts by 0, so the row gives 0 / 0 = nan; a +inf max stays, so
    # x - max is nan for the inf entries and the sum is nan: the whole row is nan, as PyTorch's
    # (shifting by 0 instead would give inf / inf = nan but x / inf = 0 for the finite entries)
    return tl.where(c == -float("inf"), 0.0, c)


@triton.jit
def _softmax_fwd_kernel(x_ptr, y_ptr, n_rows, inner, n,
                        stride_o, stride_i, stride_r,       # x as (outer, n, inner)
                        ostride_o, ostride_i, ostride_r,    # y as (outer, n, inner)
                        LOG: tl.constexpr, ONE_BLOCK: tl.constexpr, ACC: tl.constexpr,
                        BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < n_rows
    base = _row_base(rows, inner, stride_o, stride_i)[:, None]
    obase = _row_base(rows, inner, ostride_o, ostride_i)[:, None]
    if ONE_BLOCK:
        cols = tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
        mask = row_mask[:, None] & (cols < n)
        x = tl.load(x_ptr + base + cols * stride_r, mask=mask, other=-float("inf")).to(ACC)
        m = _finite_center(tl.max(x, 1))[:, None]
        e = tl.exp(x - m)
        s = tl.sum(e, 1)[:, None]
        if LOG:
            y = x - m - tl.log(s)
        else:
            y = e / s
        tl.store(y_ptr + obase + cols * ostride_r, cast_to(y, y_ptr.dtype.element_ty), mask=mask)
    else:
        m = tl.full([BLOCK_R], -float("inf"), ACC)
        s = tl.zeros([BLOCK_R], ACC)
        for start in range(0, n, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
            mask = row_mask[:, None] & (cols < n)
            x = tl.load(x_ptr + base + cols * stride_r, mask=mask, other=-float("inf")).to(ACC)
            m_new = tl.maximum(m, tl.max(x, 1))
            shift = _finite_center(m_new)
            # the old sum was relative to the old max; rescale it (0 while the row has only seen -inf)
            s = s * tl.exp(_finite_center(m) - shift) + tl.sum(tl.exp(x - shift[:, None]), 1)
            m = m_new
        m = _finite_center(m)[:, None]
        log_s = tl.log(s)[:, None]
        for start in range(0, n, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
            mask = row_mask[:, None] & (cols < n)
            x = tl.load(x_ptr + base + cols * stride_r, mask=mask, other=-float("inf")).to(ACC)
            y = x - m - log_s
            if not LOG:
                y = tl.exp(y)
            tl.store(y_ptr + obase + cols * ostride_r, cast_to(y, y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _softmax_bwd_kernel(y_ptr, gy_ptr, gx_ptr, n_rows, inner, n,
                        ystride_o, ystride_i, ystride_r,    # y as (outer, n, inner)
                        gstride_o, gstride_i, gstride_r,    # gy as (outer, n, inner)
                        ostride_o, ostride_i, ostride_r,    # gx as (outer, n, inner)
                        LOG: tl.constexpr, ONE_BLOCK: tl.constexpr, ACC: tl.constexpr,
                        BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    # softmax: gx = y * (gy - sum(gy * y));  log_softmax: gx = gy - exp(y) * sum(gy)
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < n_rows
    ybase = _row_base(rows, inner, ystride_o, ystride_i)[:, None]
    gbase = _row_base(rows, inner, gstride_o, gstride_i)[:, None]
    obase = _row_base(rows, inner, ostride_o, ostride_i)[:, None]
    if ONE_BLOCK:
        cols = tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
        mask = row_mask[:, None] & (cols < n)
        y = tl.load(y_ptr + ybase + cols * ystride_r, mask=mask, other=0).to(ACC)
        g = tl.load(gy_ptr + gbase + cols * gstride_r, mask=mask, other=0).to(ACC)
        if LOG:
            gx = g - tl.exp(y) * tl.sum(g, 1)[:, None]
        else:
            gx = y * (g - tl.sum(g * y, 1)[:, None])
        tl.store(gx_ptr + obase + cols * ostride_r, cast_to(gx, gx_ptr.dtype.element_ty), mask=mask)
    else:
        dot = tl.zeros([BLOCK_R], ACC)
        for start in range(0, n, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
            mask = row_mask[:, None] & (cols < n)
            g = tl.load(gy_ptr + gbase + cols * gstride_r, mask=mask, other=0).to(ACC)
            if LOG:
                dot += tl.sum(g, 1)
            else:
                y = tl.load(y_ptr + ybase + cols * ystride_r, mask=mask, other=0).to(ACC)
                dot += tl.sum(g * y, 1)
        for start in range(0, n, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C).to(tl.int64)[None, :]
            mask = row_mask[:, None] & (cols < n)
            y = tl.load(y_ptr + ybase + cols * ystride_r, mask=mask, other=0).to(ACC)
            g = tl.load(gy_ptr + gbase + cols * gstride_r, mask=mask, other=0).to(ACC)
            if LOG:
                gx = g - tl.exp(y) * dot[:, None]
            else:
                gx = y * (g - dot[:, None])
            tl.store(gx_ptr + obase + cols * ostride_r, cast_to(gx, gx_ptr.dtype.element_ty), mask=mask)


def _setup(x, dim, what):
    """Checks, the `_Rows` view of ``x`` along ``dim``, a new output like ``x`` and the launch sizes."""
    _check_dtype(what, x, float_only=True)
    dims = _normalize_dims((dim,), x.ndim, what) if x.ndim else ()
    rv = _Rows(x, dims)
    out = runtime.empty(x.shape, x.dtype, x.device)
    block_r, block_c, warps = _tile_sizes(rv.rows, rv.red, max_cols=_MAX_BLOCK)
    meta = dict(LOG=None, ONE_BLOCK=rv.red <= block_c, ACC=_TL_DTYPE[_acc_dtype(x.dtype, "id", "sum").name],
                BLOCK_R=block_r, BLOCK_C=block_c, num_warps=warps)
    return dims, rv, out, (_cdiv(rv.rows, block_r),), meta


def softmax(x, dim, log=False):
    """``torch.softmax(x, dim)`` (``log=True``: ``torch.log_softmax``); same dtype, fp32 math inside."""
    dims, rv, y, grid, meta = _setup(x, dim, "log_softmax" if log else "softmax")
    if y.numel() == 0:
        return y
    meta["LOG"] = bool(log)
    _softmax_fwd_kernel[grid](rv.array, y, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr,
                              *rv.strides_of(rv.permuted(y)), **meta)
    return y


def softmax_bwd(y, gy, dim, log=False):
    """Gradient w.r.t. the input of ``softmax(x, dim, log)`` from its output ``y`` and upstream ``gy``
    (same shape and dtype, any strides): ``y * (gy - sum(gy * y))``, or ``gy - exp(y) * sum(gy)`` for
    log-softmax. Returns a new contiguous array."""
    if tuple(gy.shape) != tuple(y.shape) or np.dtype(gy.dtype) != np.dtype(y.dtype):
        raise ValueError(f"softmax_bwd: gy {gy.shape} {gy.dtype} must match y {y.shape} {y.dtype}")
    dims, rv, gx, grid, meta = _setup(y, dim, "log_softmax backward" if log else "softmax backward")
    if gx.numel() == 0:
        return gx
    gv = _Rows(gy, dims)
    meta["LOG"] = bool(log)
    _softmax_bwd_kernel[grid](rv.array, gv.array, gx, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr,
                              gv.so, gv.si, gv.sr, *rv.strides_of(rv.permuted(gx)), **meta)
    return gx


def aot_specs():
    """``(name, jit_fn, signature, constexprs, options)``: forward and backward, softmax and log-softmax,
    one-block and looped rows, fp32 and bf16."""
    for t in ("fp32", "bf16"):
        for log in (False, True):
            for one_block in (True, False):
                cx = {"LOG": log, "ONE_BLOCK": one_block, "ACC": tl.float32,
                      "BLOCK_R": 1 if one_block else 2, "BLOCK_C": _MAX_BLOCK if one_block else 1024}
                warps = 8 if one_block else 4
                tag = f"{'log_' if log else ''}softmax_{'block' if one_block else 'loop'}_{t}"
                yield aot_spec(f"{tag}_fwd", _softmax_fwd_kernel, {"x_ptr": f"*{t}", "y_ptr": f"*{t}"}, cx, warps)
                yield aot_spec(f"{tag}_bwd", _softmax_bwd_kernel,
                               {"y_ptr": f"*{t}", "gy_ptr": f"*{t}", "gx_ptr": f"*{t}"}, cx, warps)
