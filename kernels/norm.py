"""Fused layer norm and RMS norm over the last axis of a 2-D array, forward and backward.

``layer_norm``: ``y = (x - mean) * rstd * w + b`` with ``rstd = 1 / sqrt(var + eps)`` (biased variance);
``rms_norm``: ``y = x * rstd * w`` with ``rstd = 1 / sqrt(mean(x**2) + eps)``. One kernel pair serves both
(``IS_RMS``). ``x`` is (M, N) with any element strides (callers flatten the leading dims); ``w``/``b`` are
(N,) or absent. Statistics and accumulation are fp32; inputs and outputs fp32, fp16 or bf16; the saved
``mean``/``rstd`` are fp32 (M,).

Forward: a program normalises ``BLOCK_M`` rows. When a row fits one block (N <= ``BLOCK_N``) it is read
once; longer rows take three passes over column blocks (mean, variance about the mean, output).

Backward: ``gx = rstd * (w*gy - xhat * mean(w*gy*xhat) - mean(w*gy))`` (the ``mean(w*gy)`` term only for
layer norm). The weight/bias gradients are reduced in two stages as in Triton's tutorial 05: a grid of
(row group, column block) programs each writes the sums over its rows into an fp32 partial buffer
(G, N), then ``_norm_bwd_wgrad_kernel`` sums the G partial rows. Rows longer than one block first get their
two row sums from ``_norm_bwd_rowdot_kernel``. Limits: ``N`` and ``M`` below 2**31.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to

__all__ = ["layer_norm_fwd", "layer_norm_bwd", "rms_norm_fwd", "rms_norm_bwd", "check_operand", "aot_specs"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
MAX_BLOCK_N = 8192          # longest row the forward handles in one pass (elements)
BWD_MAX_BLOCK_N = 4096      # the same for backward (more live tiles: 8192 would spill registers)
TILE_ELEMENTS = 4096        # forward: rows per program chosen so a tile holds about this many elements
BWD_TILE_ELEMENTS = 2048    # backward: the same (128 registers a thread at 8 warps on sm_90)
MAX_ROW_GROUPS = 256        # partial rows of the two-stage weight-gradient reduction


# ----------------------------------------------------------------------------------------- kernels
@triton.jit
def _norm_fwd_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr,
    M, N,
    stride_xm, stride_xn, stride_w, stride_b,   # y is C-contiguous (M, N)
    eps,
    IS_RMS: tl.constexpr, HAS_W: tl.constexpr, HAS_B: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    SINGLE_PASS: tl.constexpr,                  # N <= BLOCK_N: the row tile is read once
):
    pid = tl.program_id(0).to(tl.int64)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < M
    x_rows = x_ptr + rows[:, None] * stride_xm
    y_rows = y_ptr + rows[:, None] * N
    cols = tl.arange(0, BLOCK_N).to(tl.int64)      # cols * stride_xn may pass 2**31 (transposed x)
    if SINGLE_PASS:
        mask = row_mask[:, None] & (cols < N)[None, :]
        x = tl.load(x_rows + cols[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
        if IS_RMS:
            mean = tl.zeros([BLOCK_M], dtype=tl.float32)
            xc = x
        else:
            mean = tl.sum(x, axis=1) / N
            xc = tl.where(mask, x - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=1) / N + eps)
        _norm_affine_store(y_rows, xc, rstd, w_ptr, b_ptr, cols, mask, stride_w, stride_b, N, HAS_W, HAS_B)
    else:
        mean = tl.zeros([BLOCK_M], dtype=tl.float32)
        if not IS_RMS:
            acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
            for start in range(0, N, BLOCK_N):
                c = start + cols
                mask = row_mask[:, None] & (c < N)[None, :]
                acc += tl.load(x_rows + c[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
            mean = tl.sum(acc, axis=1) / N
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_mask[:, None] & (c < N)[None, :]
            x = tl.load(x_rows + c[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
            xc = tl.where(mask, x - mean[:, None], 0.0)
            acc += xc * xc
        rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=1) / N + eps)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_mask[:, None] & (c < N)[None, :]
            x = tl.load(x_rows + c[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
            _norm_affine_store(y_rows, x - mean[:, None], rstd, w_ptr, b_ptr, c, mask, stride_w, stride_b, N,
                               HAS_W, HAS_B)
    if not IS_RMS:
        tl.store(mean_ptr + rows, mean, mask=row_mask)
    tl.store(rstd_ptr + rows, rstd, mask=row_mask)


@triton.jit
def _norm_affine_store(y_rows, xc, rstd, w_ptr, b_ptr, cols, mask, stride_w, stride_b, N,
                       HAS_W: tl.constexpr, HAS_B: tl.constexpr):
    """Store ``xc * rstd * w + b`` for one tile (``xc``: x minus the row mean)."""
    col_mask = cols < N
    y = xc * rstd[:, None]
    if HAS_W:
        y = y * tl.load(w_ptr + cols * stride_w, mask=col_mask, other=0.0).to(tl.float32)[None, :]
    if HAS_B:
        y = y + tl.load(b_ptr + cols * stride_b, mask=col_mask, other=0.0).to(tl.float32)[None, :]
    tl.store(y_rows + cols[None, :], cast_to(y, y_rows.dtype.element_ty), mask=mask)


@triton.jit
def _norm_bwd_tile(gy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, rows, cols, row_mask, col_mask,
                   stride_gym, stride_gyn, stride_xm, stride_xn, stride_w,
                   IS_RMS: tl.constexpr, HAS_W: tl.constexpr):
    """Load one (rows, cols) tile and return ``(gy, xhat, w*gy, rstd)`` in fp32 (zeros where masked)."""
    mask = row_mask[:, None] & col_mask[None, :]
    gy = tl.load(gy_ptr + rows[:, None] * stride_gym + cols[None, :] * stride_gyn, mask=mask,
                 other=0.0).to(tl.float32)
    x = tl.load(x_ptr + rows[:, None] * stride_xm + cols[None, :] * stride_xn, mask=mask,
                other=0.0).to(tl.float32)
    rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
    if IS_RMS:
        xhat = x * rstd[:, None]
    else:
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
        xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
    if HAS_W:
        wdy = gy * tl.load(w_ptr + cols * stride_w, mask=col_mask, other=0.0).to(tl.float32)[None, :]
    else:
        wdy = gy
    return gy, xhat, wdy, rstd


@triton.jit
def _norm_bwd_rowdot_kernel(
    gy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, rowdot_ptr,
    M, N,
    stride_gym, stride_gyn, stride_xm, stride_xn, stride_w,
    IS_RMS: tl.constexpr, HAS_W: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Rows longer than one block: ``rowdot[0] = mean(xhat*w*gy)``, ``rowdot[1] = mean(w*gy)`` (M,)."""
    pid = tl.program_id(0).to(tl.int64)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < M
    cols = tl.arange(0, BLOCK_N).to(tl.int64)      # cols * stride_xn may pass 2**31 (transposed x)
    acc_xw = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_w = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for start in range(0, N, BLOCK_N):
        c = start + cols
        gy, xhat, wdy, rstd = _norm_bwd_tile(gy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, rows, c, row_mask,
                                             c < N, stride_gym, stride_gyn, stride_xm, stride_xn, stride_w,
                                             IS_RMS, HAS_W)
        acc_xw += xhat * wdy
        acc_w += wdy
    tl.store(rowdot_ptr + rows, tl.sum(acc_xw, axis=1) / N, mask=row_mask)
    tl.store(rowdot_ptr + M + rows, tl.sum(acc_w, axis=1) / N, mask=row_mask)


@triton.jit
def _norm_bwd_kernel(
    gy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr,
    rowdot_ptr,                     # (2, M) fp32 from _norm_bwd_rowdot_kernel; unused when SINGLE_PASS
    gx_ptr,                         # (M, N) C-contiguous
    partial_ptr,                    # (NEED_W + NEED_B, G, N) fp32 partial sums of gy*xhat, then of gy
    M, N,
    stride_gym, stride_gyn, stride_xm, stride_xn, stride_w,
    rows_per_group,                 # a multiple of BLOCK_M
    IS_RMS: tl.constexpr, HAS_W: tl.constexpr, NEED_W: tl.constexpr, NEED_B: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    SINGLE_PASS: tl.constexpr,      # N <= BLOCK_N: row sums computed here
):
    group = tl.program_id(0).to(tl.int64)
    n_groups = tl.num_programs(0).to(tl.int64)
    col_block = tl.program_id(1).to(tl.int64)
    cols = col_block * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < N
    acc_w = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_b = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    row_start = group * rows_per_group
    row_end = tl.minimum(row_start + rows_per_group, M)
    for r0 in range(row_start, row_end, BLOCK_M):
        rows = r0 + tl.arange(0, BLOCK_M)
        row_mask = rows < row_end
        gy, xhat, wdy, rstd = _norm_bwd_tile(gy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, rows, cols, row_mask,
                                             col_mask, stride_gym, stride_gyn, stride_xm, stride_xn, stride_w,
                                             IS_RMS, HAS_W)
        if SINGLE_PASS:
            c1 = tl.sum(xhat * wdy, axis=1) / N
        else:
            c1 = tl.load(rowdot_ptr + rows, mask=row_mask, other=0.0)
        gx = wdy - xhat * c1[:, None]
        if not IS_RMS:
            if SINGLE_PASS:
                c2 = tl.sum(wdy, axis=1) / N
            else:
                c2 = tl.load(rowdot_ptr + M + rows, mask=row_mask, other=0.0)
            gx = gx - c2[:, None]
        gx = gx * rstd[:, None]
        tl.store(gx_ptr + rows[:, None] * N + cols[None, :], cast_to(gx, gx_ptr.dtype.element_ty),
                 mask=row_mask[:, None] & col_mask[None, :])
        if NEED_W:
            acc_w += gy * xhat
        if NEED_B:
            acc_b += gy
    if NEED_W:
        tl.store(partial_ptr + group * N + cols, tl.sum(acc_w, axis=0), mask=col_mask)
    if NEED_B:
        tl.store(partial_ptr + (NEED_W * n_groups + group) * N + cols, tl.sum(acc_b, axis=0), mask=col_mask)


@triton.jit
def _norm_bwd_wgrad_kernel(
    partial_ptr,                    # (K, G, N) fp32, K = 1 or 2
    out0_ptr, out1_ptr,             # (N,) each, in the parameter dtype: the sums of partial[0], partial[1]
    G, N,
    BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Second stage: ``out_k[n] = sum_g partial[k, g, n]``; grid (column blocks, K)."""
    col_block = tl.program_id(0).to(tl.int64)
    k = tl.program_id(1).to(tl.int64)
    cols = col_block * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < N
    base = partial_ptr + k * G * N
    acc = tl.zeros([BLOCK_G, BLOCK_N], dtype=tl.float32)
    for g0 in range(0, G, BLOCK_G):
        groups = g0 + tl.arange(0, BLOCK_G)
        mask = (groups < G)[:, None] & col_mask[None, :]
        acc += tl.load(base + groups[:, None] * N + cols[None, :], mask=mask, other=0.0)
    total = tl.sum(acc, axis=0)
    if k == 0:
        tl.store(out0_ptr + cols, cast_to(total, out0_ptr.dtype.element_ty), mask=col_mask)
    else:
        tl.store(out1_ptr + cols, cast_to(total, out1_ptr.dtype.element_ty), mask=col_mask)


# ----------------------------------------------------------------------------------------- wrappers
def _num_warps(elements):
    """Warps for a tile of ``elements`` values (Liger's rule of thumb)."""
    if elements >= 8192:
        return 16
    if elements >= 2048:
        return 8
    return 4


def _blocks(M, N, max_block_n, tile_elements):
    """``(BLOCK_M, BLOCK_N, single_pass)`` for an (M, N) problem."""
    block_n = min(triton.next_power_of_2(max(N, 1)), max_block_n)
    block_m = min(triton.next_power_of_2(max(M, 1)), max(1, tile_elements // block_n))
    return block_m, block_n, N <= block_n


def check_operand(name, a, shape=None, ndim=None, dtypes=FLOAT_DTYPES):
    """Raise TypeError/ValueError naming ``name`` unless ``a`` is a `DeviceArray` of one of ``dtypes``
    (fp32/fp16/bf16 by default) with ``ndim`` dims and ``shape`` where given. Shared by the nn kernels."""
    if not isinstance(a, runtime.DeviceArray):
        raise TypeError(f"{name} must be a DeviceArray, got {type(a).__name__}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    if a.dtype not in dtypes:
        raise TypeError(f"{name} has dtype {a.dtype}; supported: {', '.join(str(d) for d in dtypes)}")


STATS_DTYPES = (np.dtype(np.float32),)


def _stride(a):
    return 0 if a is None else a.element_strides[0]


def _norm_fwd(x, w, b, eps, rms, max_block_n):
    check_operand("x", x, ndim=2)
    M, N = x.shape
    for name, a in (("weight", w), ("bias", b)):
        if a is not None:
            check_operand(name, a, shape=(N,))
    y = runtime.empty((M, N), x.dtype, x.device)
    mean = None if rms else runtime.empty((M,), np.float32, x.device)
    rstd = runtime.empty((M,), np.float32, x.device)
    if M == 0 or N == 0:
        return y, mean, rstd
    block_m, block_n, single = _blocks(M, N, max_block_n, TILE_ELEMENTS)
    _norm_fwd_kernel[(triton.cdiv(M, block_m),)](
        x, x if w is None else w, x if b is None else b, y, rstd if rms else mean, rstd,
        M, N, *x.element_strides, _stride(w), _stride(b), float(eps),
        IS_RMS=rms, HAS_W=w is not None, HAS_B=b is not None,
        BLOCK_M=block_m, BLOCK_N=block_n, SINGLE_PASS=single, num_warps=_num_warps(block_m * block_n))
    return y, mean, rstd


def _norm_bwd(gy, x, w, mean, rstd, need_w, need_b, rms, max_block_n):
    check_operand("x", x, ndim=2)
    M, N = x.shape
    check_operand("grad_output", gy, shape=(M, N))
    if w is not None:
        check_operand("weight", w, shape=(N,))
    check_operand("rstd", rstd, shape=(M,), dtypes=STATS_DTYPES)
    if not rms:
        check_operand("mean", mean, shape=(M,), dtypes=STATS_DTYPES)
    need_w = bool(need_w and w is not None)
    gx = runtime.empty((M, N), x.dtype, x.device)
    n_params = int(need_w) + int(need_b)
    param_dtype = x.dtype if w is None else w.dtype
    gw = runtime.empty((N,), param_dtype, x.device) if need_w else None
    gb = runtime.empty((N,), param_dtype, x.device) if need_b else None
    block_m, block_n, single = _blocks(M, N, max_block_n, BWD_TILE_ELEMENTS)
    num_warps = _num_warps(2 * block_m * block_n)   # about twice the forward's live values per element
    groups = min(triton.cdiv(max(M, 1), block_m), MAX_ROW_GROUPS)
    rows_per_group = triton.cdiv(triton.cdiv(max(M, 1), groups), block_m) * block_m
    partial = runtime.empty((max(n_params, 1), groups, N), np.float32, x.device)
    if N > 0:   # M == 0 still launches: the row loops are empty and the partial sums are zero
        stat = rstd if rms else mean
        strides = (*gy.element_strides, *x.element_strides, _stride(w))
        rowdot = rstd
        if not single and M > 0:
            rowdot = runtime.empty((2, M), np.float32, x.device)
            _norm_bwd_rowdot_kernel[(triton.cdiv(M, block_m),)](
                gy, x, x if w is None else w, stat, rstd, rowdot, M, N, *strides,
                IS_RMS=rms, HAS_W=w is not None, BLOCK_M=block_m, BLOCK_N=block_n, num_warps=num_warps)
        _norm_bwd_kernel[(groups, triton.cdiv(N, block_n))](
            gy, x, x if w is None else w, stat, rstd, rowdot, gx, partial, M, N, *strides,
            rows_per_group, IS_RMS=rms, HAS_W=w is not None, NEED_W=need_w, NEED_B=bool(need_b),
            BLOCK_M=block_m, BLOCK_N=block_n, SINGLE_PASS=single, num_warps=num_warps)
        if n_params:
            wgrad_block = min(triton.next_power_of_2(N), 256)
            _norm_bwd_wgrad_kernel[(triton.cdiv(N, wgrad_block), n_params)](
                partial, gw if need_w else gb, gb if need_b else gw, groups, N,
                BLOCK_G=min(triton.next_power_of_2(groups), 16), BLOCK_N=wgrad_block, num_warps=4)
    return gx, gw, gb


def layer_norm_fwd(x, w, b, eps, *, max_block_n=MAX_BLOCK_N):
    """``torch.nn.functional.layer_norm`` over the last axis of ``x`` (M, N): ``(y, mean, rstd)`` with
    ``y`` in ``x``'s dtype and fp32 ``mean``/``rstd`` (M,). ``w``/``b``: (N,) or None. ``max_block_n``
    (tests only) caps the columns a single pass holds."""
    return _norm_fwd(x, w, b, eps, False, max_block_n)


def layer_norm_bwd(gy, x, w, mean, rstd, need_w=True, need_b=True, *, max_block_n=BWD_MAX_BLOCK_N):
    """Gradients of `layer_norm_fwd`: ``(gx, gw, gb)``; ``gw``/``gb`` (N,) in ``w``'s dtype (``x``'s when
    ``w`` is None), None where not needed (``gw`` also when ``w`` is None)."""
    return _norm_bwd(gy, x, w, mean, rstd, need_w, need_b, False, max_block_n)


def rms_norm_fwd(x, w, eps, *, max_block_n=MAX_BLOCK_N):
    """``torch.nn.functional.rms_norm`` over the last axis of ``x`` (M, N): ``(y, rstd)``, ``rstd`` fp32
    (M,) = ``1 / sqrt(mean(x**2) + eps)``. ``w``: (N,) or None."""
    y, _, rstd = _norm_fwd(x, w, None, eps, True, max_block_n)
    return y, rstd


def rms_norm_bwd(gy, x, w, rstd, need_w=True, *, max_block_n=BWD_MAX_BLOCK_N):
    """Gradients of `rms_norm_fwd`: ``(gx, gw)``; ``gw`` None when not needed or ``w`` is None."""
    gx, gw, _ = _norm_bwd(gy, x, w, None, rstd, need_w, False, True, max_block_n)
    return gx, gw


# ----------------------------------------------------------------------------------------- AOT
def aot_specs():
    """Compile configurations: every kernel in fp32 and bf16, layer norm single-pass, RMS norm looped."""
    for ty, rms, single in (("fp32", False, True), ("bf16", False, True), ("bf16", True, False)):
        kind = f"{'rms' if rms else 'layer'}_norm_{ty}_{'single' if single else 'looped'}"
        fwd_blocks = {"BLOCK_M": 4, "BLOCK_N": 1024} if single else {"BLOCK_M": 1, "BLOCK_N": 4096}
        bwd_blocks = {"BLOCK_M": 2, "BLOCK_N": 1024} if single else {"BLOCK_M": 1, "BLOCK_N": 2048}
        flags = {"IS_RMS": rms, "HAS_W": True}
        act = {"x_ptr": f"*{ty}", "w_ptr": f"*{ty}", "mean_ptr": "*fp32", "rstd_ptr": "*fp32"}
        yield aot_spec(f"{kind}_fwd", _norm_fwd_kernel,
                       {**act, "b_ptr": f"*{ty}", "y_ptr": f"*{ty}", "eps": "fp32"},
                       {**flags, **fwd_blocks, "HAS_B": not rms, "SINGLE_PASS": single}, num_warps=8)
        yield aot_spec(f"{kind}_bwd", _norm_bwd_kernel,
                       {**act, "gy_ptr": f"*{ty}", "rowdot_ptr": "*fp32", "gx_ptr": f"*{ty}",
                        "partial_ptr": "*fp32"},
                       {**flags, **bwd_blocks, "NEED_W": True, "NEED_B": not rms, "SINGLE_PASS": single},
                       num_warps=8)
        if not single:
            yield aot_spec(f"{kind}_bwd_rowdot", _norm_bwd_rowdot_kernel,
                           {**act, "gy_ptr": f"*{ty}", "rowdot_ptr": "*fp32"}, {**flags, **bwd_blocks}, num_warps=8)
    for ty in ("fp32", "bf16"):
        yield aot_spec(f"norm_{ty}_bwd_wgrad", _norm_bwd_wgrad_kernel,
                       {"partial_ptr": "*fp32", "out0_ptr": f"*{ty}", "out1_ptr": f"*{ty}"},
                       {"BLOCK_G": 16, "BLOCK_N": 256})
