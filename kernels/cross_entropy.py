"""Fused cross-entropy over logits (M, C), forward and backward, never storing probabilities.

Class-index targets (``torch.nn.functional.cross_entropy`` with an int64 target (M,)): per row
``loss_i = (1 - eps) * w[t_i] * (lse_i - x[i, t_i]) + eps / C * sum_c w[c] * (lse_i - x[i, c])`` with
``lse_i = logsumexp(x[i])``, ``eps`` the label smoothing, ``w`` the class weights (1 without), and 0 for
rows whose target is ``ignore_index``. ``reduction='mean'`` divides the sum by ``sum_i w[t_i]`` over the
non-ignored rows (PyTorch's rule for both terms; 0/0 gives nan), ``'sum'`` sums, ``'none'`` keeps (M,).

Probability targets (float (M, C)): ``t' = (1 - eps) * t + eps / C``,
``loss_i = -sum_c w[c] * t'[i, c] * log_softmax(x)[i, c]``; ``'mean'`` divides by M.

Forward: one program per row streams over C in blocks with an online log-sum-exp (running max and
rescaled sum), so any C works (50,304 and beyond) in O(BLOCK_C) registers; the per-row loss and the fp32
``lse`` are written; for 'mean'/'sum' a single-program kernel reduces the rows (no atomics: deterministic).
Backward: one program per row writes ``dloss/dlogits`` in one pass from the saved ``lse``
(``p = exp(x - lse)``); the 'mean' denominator and ``sum(w)`` come from the same reduction kernel, on the
device, without a host sync. Logits fp32/fp16/bf16 with any strides; statistics fp32; the loss and the
gradient in the logits' dtype. A target outside [0, C) that is not ``ignore_index`` is recorded in the device
error word (IndexError at the host's next wait, `tritongrad.runtime.error_word`); its row is treated as
ignored meanwhile.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to, error_args, report_error
from .norm import check_operand

__all__ = ["cross_entropy_fwd", "cross_entropy_bwd", "cross_entropy_prob_fwd", "cross_entropy_prob_bwd",
           "aot_specs"]

REDUCTIONS = ("none", "mean", "sum")
MAX_BLOCK_C = 4096        # classes per block of the streaming loop
REDUCE_BLOCK = 1024       # rows per step of the single-program reduction


# ----------------------------------------------------------------------------------------- kernels
@triton.jit
def _online_lse_step(x, m, s):
    """Fold a block ``x`` (masked lanes -inf) into the running max ``m`` and ``s = sum(exp(. - m))``."""
    m_new = tl.maximum(m, tl.max(x, axis=0))
    return m_new, s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)


@triton.jit
def _target_info(target_ptr, weight_ptr, row, C, stride_t, stride_w, ignore_index, err_ptr, err_op,
                 HAS_WEIGHT: tl.constexpr):
    """``(t, valid, w_t)`` for one row: the class index (0 when ignored), whether it counts, its weight. A
    target outside [0, C) other than ``ignore_index`` is reported to the error word ``err_ptr``."""
    t = tl.load(target_ptr + row * stride_t)
    in_range = (t >= 0) & (t < C)
    report_error(err_ptr, ~in_range & (t != ignore_index), t, C, row * 0, err_op)
    valid = in_range & (t != ignore_index)
    t = tl.where(valid, t, 0)
    if HAS_WEIGHT:
        w_t = tl.load(weight_ptr + t * stride_w).to(tl.float32)
    else:
        w_t = 1.0
    return t, valid, w_t


@triton.jit
def _cross_entropy_fwd_kernel(
    logits_ptr, target_ptr, weight_ptr,
    loss_ptr,                       # (M,) per-row loss (logits dtype for 'none', fp32 before a reduction)
    lse_ptr,                        # (M,) fp32
    C, stride_lm, stride_lc, stride_t, stride_w,
    ignore_index, label_smoothing,
    err_ptr, err_op,                # the device error word (runtime.error_word) and this op's code
    HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr, BLOCK_C: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    row_ptr = logits_ptr + row * stride_lm
    cols = tl.arange(0, BLOCK_C).to(tl.int64)       # c * stride_lc spans the logits: 64-bit
    m = tl.full([], float("-inf"), tl.float32)      # running max
    s = tl.zeros([], dtype=tl.float32)              # running sum of exp(x - m)
    wx = tl.zeros([], dtype=tl.float32)             # sum_c w[c] * x[c] (label smoothing)
    wsum = tl.zeros([], dtype=tl.float32)           # sum_c w[c]
    for start in range(0, C, BLOCK_C):
        c = start + cols
        c_mask = c < C
        x = tl.load(row_ptr + c * stride_lc, mask=c_mask, other=float("-inf")).to(tl.float32)
        m, s = _online_lse_step(x, m, s)
        if SMOOTH:
            if HAS_WEIGHT:
                w = tl.load(weight_ptr + c * stride_w, mask=c_mask, other=0.0).to(tl.float32)
                wx += tl.sum(w * tl.where(c_mask, x, 0.0), axis=0)
                wsum += tl.sum(w, axis=0)
            else:
                wx += tl.sum(tl.where(c_mask, x, 0.0), axis=0)
    lse = m + tl.log(s)
    t, valid, w_t = _target_info(target_ptr, weight_ptr, row, C, stride_t, stride_w, ignore_index, err_ptr, err_op,
                                 HAS_WEIGHT)
    x_t = tl.load(row_ptr + t * stride_lc).to(tl.float32)
    loss = (1.0 - label_smoothing) * w_t * (lse - x_t)
    if SMOOTH:
        if not HAS_WEIGHT:
            wsum = C * 1.0
        loss += label_smoothing / C * (wsum * lse - wx)
    loss = tl.where(valid, loss, 0.0)
    tl.store(loss_ptr + row, cast_to(loss, loss_ptr.dtype.element_ty))
    tl.store(lse_ptr + row, lse)


@triton.jit
def _cross_entropy_reduce_kernel(
    loss_ptr,                       # (M,) fp32 per-row losses (read when HAS_LOSS)
    target_ptr, weight_ptr,
    out_ptr,                        # () the reduced loss (written when HAS_LOSS)
    stats_ptr,                      # (2,) fp32: [sum of w[t] over non-ignored rows, sum_c w[c]]
    M, C, stride_t, stride_w, ignore_index,
    HAS_LOSS: tl.constexpr, HAS_TARGET: tl.constexpr, HAS_WEIGHT: tl.constexpr, MEAN: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One program: the 'mean'/'sum' reduction of the per-row losses and the statistics backward needs.

    Without ``HAS_TARGET`` (probability targets) the 'mean' denominator is M."""
    offs = tl.arange(0, BLOCK).to(tl.int64)
    total = tl.zeros([BLOCK], dtype=tl.float32)
    count = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, M, BLOCK):
        rows = start + offs
        row_mask = rows < M
        if HAS_LOSS:
            total += tl.load(loss_ptr + rows, mask=row_mask, other=0.0)
        if HAS_TARGET:
            t = tl.load(target_ptr + rows * stride_t, mask=row_mask, other=ignore_index)
            valid = row_mask & (t != ignore_index) & (t >= 0) & (t < C)
            if HAS_WEIGHT:
                count += tl.load(weight_ptr + tl.where(valid, t, 0) * stride_w, mask=valid, other=0.0).to(tl.float32)
            else:
                count += valid.to(tl.float32)
        else:
            count += row_mask.to(tl.float32)
    denom = tl.sum(count, axis=0)
    wsum = C * 1.0
    if HAS_WEIGHT:
        wacc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, C, BLOCK):
            c = start + offs
            wacc += tl.load(weight_ptr + c * stride_w, mask=c < C, other=0.0).to(tl.float32)
        wsum = tl.sum(wacc, axis=0)
    tl.store(stats_ptr, denom)
    tl.store(stats_ptr + 1, wsum)
    if HAS_LOSS:
        loss = tl.sum(total, axis=0)
        if MEAN:
            loss = loss / denom
        tl.store(out_ptr, cast_to(loss, out_ptr.dtype.element_ty))


@triton.jit
def _cross_entropy_bwd_kernel(
    glogits_ptr,                    # (M, C) C-contiguous output
    gloss_ptr,                      # upstream gradient: (M,) for 'none' (stride_g), a 0-d array otherwise (stride 0)
    logits_ptr, target_ptr, weight_ptr, lse_ptr,
    stats_ptr,                      # (2,) from _cross_entropy_reduce_kernel (read for MEAN / weighted smoothing)
    C, stride_lm, stride_lc, stride_t, stride_w, stride_g,
    ignore_index, label_smoothing,
    err_ptr, err_op,                # the device error word (runtime.error_word) and this op's code
    HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr, MEAN: tl.constexpr, BLOCK_C: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    t, valid, w_t = _target_info(target_ptr, weight_ptr, row, C, stride_t, stride_w, ignore_index, err_ptr, err_op,
                                 HAS_WEIGHT)
    g = tl.load(gloss_ptr + row * stride_g).to(tl.float32)
    if MEAN:
        g = g / tl.load(stats_ptr)
    g = tl.where(valid, g, 0.0)
    lse = tl.load(lse_ptr + row)
    # dloss/dx_c = g * ((1 - eps) * w_t * (p_c - [c == t]) + eps / C * (sum(w) * p_c - w_c))
    hard = g * (1.0 - label_smoothing) * w_t
    p_coef = hard
    if SMOOTH:
        if HAS_WEIGHT:
            wsum = tl.load(stats_ptr + 1)
        else:
            wsum = C * 1.0
        soft = g * label_smoothing / C
        p_coef += soft * wsum
    row_ptr = logits_ptr + row * stride_lm
    out_ptr = glogits_ptr + row * C
    cols = tl.arange(0, BLOCK_C).to(tl.int64)       # c * stride_lc spans the logits: 64-bit
    for start in range(0, C, BLOCK_C):
        c = start + cols
        c_mask = c < C
        x = tl.load(row_ptr + c * stride_lc, mask=c_mask, other=0.0).to(tl.float32)
        grad = p_coef * tl.exp(x - lse) - tl.where(c == t, hard, 0.0)
        if SMOOTH:
            if HAS_WEIGHT:
                grad -= soft * tl.load(weight_ptr + c * stride_w, mask=c_mask, other=0.0).to(tl.float32)
            else:
                grad -= soft
        tl.store(out_ptr + c, cast_to(grad, glogits_ptr.dtype.element_ty), mask=c_mask)


@triton.jit
def _soft_targets(target_ptr, weight_ptr, row, c, c_mask, C, stride_tm, stride_tc, stride_w, label_smoothing,
                  HAS_WEIGHT: tl.constexpr):
    """``w[c] * ((1 - eps) * t[row, c] + eps / C)`` for one block of classes (0 where masked)."""
    t = tl.load(target_ptr + row * stride_tm + c * stride_tc, mask=c_mask, other=0.0).to(tl.float32)
    wt = (1.0 - label_smoothing) * t + label_smoothing / C
    if HAS_WEIGHT:
        wt = wt * tl.load(weight_ptr + c * stride_w, mask=c_mask, other=0.0).to(tl.float32)
    return tl.where(c_mask, wt, 0.0)


@triton.jit
def _cross_entropy_prob_fwd_kernel(
    logits_ptr, target_ptr, weight_ptr,
    loss_ptr, lse_ptr,              # (M,) as in _cross_entropy_fwd_kernel
    C, stride_lm, stride_lc, stride_tm, stride_tc, stride_w,
    label_smoothing,
    HAS_WEIGHT: tl.constexpr, BLOCK_C: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    row_ptr = logits_ptr + row * stride_lm
    cols = tl.arange(0, BLOCK_C).to(tl.int64)       # c * stride_lc spans the logits: 64-bit
    m = tl.full([], float("-inf"), tl.float32)
    s = tl.zeros([], dtype=tl.float32)
    wt_sum = tl.zeros([], dtype=tl.float32)         # sum_c w[c] t'[c]
    wtx_sum = tl.zeros([], dtype=tl.float32)        # sum_c w[c] t'[c] x[c]
    for start in range(0, C, BLOCK_C):
        c = start + cols
        c_mask = c < C
        x = tl.load(row_ptr + c * stride_lc, mask=c_mask, other=float("-inf")).to(tl.float32)
        m, s = _online_lse_step(x, m, s)
        wt = _soft_targets(target_ptr, weight_ptr, row, c, c_mask, C, stride_tm, stride_tc, stride_w,
                           label_smoothing, HAS_WEIGHT)
        wt_sum += tl.sum(wt, axis=0)
        wtx_sum += tl.sum(wt * tl.where(c_mask, x, 0.0), axis=0)
    lse = m + tl.log(s)
    tl.store(loss_ptr + row, cast_to(wt_sum * lse - wtx_sum, loss_ptr.dtype.element_ty))
    tl.store(lse_ptr + row, lse)


@triton.jit
def _cross_entropy_prob_bwd_kernel(
    glogits_ptr, gloss_ptr, logits_ptr, target_ptr, weight_ptr, lse_ptr,
    C, stride_lm, stride_lc, stride_tm, stride_tc, stride_w, stride_g,
    grad_scale,                     # 1/M for 'mean', else 1
    label_smoothing,
    HAS_WEIGHT: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """``dloss/dx_c = g * (sum(w t') * p_c - w_c t'_c)``: one pass for ``sum(w t')``, one to write."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_C).to(tl.int64)       # c * stride_lc spans the logits: 64-bit
    acc = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(0, C, BLOCK_C):
        c = start + cols
        acc += _soft_targets(target_ptr, weight_ptr, row, c, c < C, C, stride_tm, stride_tc, stride_w,
                             label_smoothing, HAS_WEIGHT)
    wt_sum = tl.sum(acc, axis=0)
    g = tl.load(gloss_ptr + row * stride_g).to(tl.float32) * grad_scale
    lse = tl.load(lse_ptr + row)
    row_ptr = logits_ptr + row * stride_lm
    for start in range(0, C, BLOCK_C):
        c = start + cols
        c_mask = c < C
        x = tl.load(row_ptr + c * stride_lc, mask=c_mask, other=0.0).to(tl.float32)
        wt = _soft_targets(target_ptr, weight_ptr, row, c, c_mask, C, stride_tm, stride_tc, stride_w,
                           label_smoothing, HAS_WEIGHT)
        grad = g * (wt_sum * tl.exp(x - lse) - wt)
        tl.store(glogits_ptr + row * C + c, cast_to(grad, glogits_ptr.dtype.element_ty), mask=c_mask)


# ----------------------------------------------------------------------------------------- wrappers
def _launch_options(C, max_block_c):
    block_c = min(triton.next_power_of_2(max(C, 1)), max_block_c)
    return {"BLOCK_C": block_c, "num_warps": 16 if block_c >= 4096 else (8 if block_c >= 1024 else 4)}


def _check_inputs(logits, target, weight, reduction, prob):
    check_operand("logits", logits, ndim=2)
    M, C = logits.shape
    if prob:
        check_operand("probability target", target, shape=(M, C))
    else:
        check_operand("target", target, shape=(M,), dtypes=(np.dtype(np.int64),))
    if weight is not None:
        check_operand("weight", weight, shape=(C,))
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if C == 0:
        raise ValueError("cross_entropy needs at least one class (C > 0)")
    return M, C


def _check_grad(gloss, reduction, M):
    expected = (M,) if reduction == "none" else ()
    if gloss.shape != expected:
        raise ValueError(f"grad_output has shape {gloss.shape}, expected {expected} for reduction={reduction!r}")
    return gloss.element_strides[0] if reduction == "none" else 0


def _reduce(loss_rows, target, weight, out, M, C, ignore_index, reduction, device):
    """Launch the reduction kernel; returns the (2,) fp32 stats array."""
    stats = runtime.empty((2,), np.float32, device)
    has_target = target is not None and target.dtype == np.int64
    _cross_entropy_reduce_kernel[(1,)](
        stats if loss_rows is None else loss_rows, target if has_target else stats,
        stats if weight is None else weight, stats if out is None else out, stats,
        M, C, target.element_strides[0] if has_target else 0, 0 if weight is None else weight.element_strides[0],
        ignore_index, HAS_LOSS=loss_rows is not None, HAS_TARGET=has_target, HAS_WEIGHT=weight is not None,
        MEAN=reduction == "mean", BLOCK=REDUCE_BLOCK, num_warps=4)
    return stats


def _forward(kernel, logits, target, weight, reduction, args, constexprs, ignore_index, max_block_c):
    M, C = logits.shape
    loss_rows = runtime.empty((M,), logits.dtype if reduction == "none" else np.float32, logits.device)
    lse = runtime.empty((M,), np.float32, logits.device)
    if M > 0:
        kernel[(M,)](logits, target, logits if weight is None else weight, loss_rows, lse, C,
                     *logits.element_strides, *args, **constexprs, **_launch_options(C, max_block_c))
    if reduction == "none":
        return loss_rows, lse
    loss = runtime.empty((), logits.dtype, logits.device)
    _reduce(loss_rows, target, weight, loss, M, C, ignore_index, reduction, logits.device)
    return loss, lse


def cross_entropy_fwd(logits, target, weight, ignore_index, label_smoothing, reduction, *,
                      max_block_c=MAX_BLOCK_C):
    """``torch.nn.functional.cross_entropy(logits, target, weight, ignore_index=, reduction=,
    label_smoothing=)`` for logits (M, C) and int64 class indices (M,): ``(loss, lse)``; ``loss`` in the
    logits' dtype, (M,) for 'none' else 0-d; ``lse`` fp32 (M,). ``max_block_c`` (tests) caps the block."""
    _check_inputs(logits, target, weight, reduction, prob=False)
    return _forward(_cross_entropy_fwd_kernel, logits, target, weight, reduction,
                    (target.element_strides[0], 0 if weight is None else weight.element_strides[0],
                     int(ignore_index), float(label_smoothing), *error_args(logits.device, "cross_entropy")),
                    {"HAS_WEIGHT": weight is not None, "SMOOTH": label_smoothing > 0},
                    ignore_index, max_block_c)


def cross_entropy_bwd(gloss, logits, target, weight, lse, ignore_index, label_smoothing, reduction, *,
                      max_block_c=MAX_BLOCK_C):
    """Gradient of `cross_entropy_fwd` w.r.t. the logits: a new (M, C) array in the logits' dtype.
    ``gloss``: the upstream gradient, (M,) for 'none', 0-d otherwise (read on the device)."""
    M, C = _check_inputs(logits, target, weight, reduction, prob=False)
    stride_g = _check_grad(gloss, reduction, M)
    glogits = runtime.empty((M, C), logits.dtype, logits.device)
    if M == 0:
        return glogits
    smooth = label_smoothing > 0
    stats = lse
    if reduction == "mean" or (smooth and weight is not None):
        stats = _reduce(None, target, weight, None, M, C, ignore_index, reduction, logits.device)
    _cross_entropy_bwd_kernel[(M,)](
        glogits, gloss, logits, target, logits if weight is None else weight, lse, stats, C,
        *logits.element_strides, target.element_strides[0], 0 if weight is None else weight.element_strides[0],
        stride_g, int(ignore_index), float(label_smoothing), *error_args(logits.device, "cross_entropy"),
        HAS_WEIGHT=weight is not None, SMOOTH=smooth, MEAN=reduction == "mean",
        **_launch_options(C, max_block_c))
    return glogits


def cross_entropy_prob_fwd(logits, target, weight, label_smoothing, reduction, *, max_block_c=MAX_BLOCK_C):
    """``torch.nn.functional.cross_entropy`` with probability targets (float (M, C), the logits' dtype
    family): ``(loss, lse)`` as in `cross_entropy_fwd`; 'mean' divides by M."""
    _check_inputs(logits, target, weight, reduction, prob=True)
    return _forward(_cross_entropy_prob_fwd_kernel, logits, target, weight, reduction,
                    (*target.element_strides, 0 if weight is None else weight.element_strides[0],
                     float(label_smoothing)),
                    {"HAS_WEIGHT": weight is not None}, 0, max_block_c)


def cross_entropy_prob_bwd(gloss, logits, target, weight, lse, label_smoothing, reduction, *,
                           max_block_c=MAX_BLOCK_C):
    """Gradient of `cross_entropy_prob_fwd` w.r.t. the logits: a new (M, C) array (logits' dtype)."""
    M, C = _check_inputs(logits, target, weight, reduction, prob=True)
    stride_g = _check_grad(gloss, reduction, M)
    glogits = runtime.empty((M, C), logits.dtype, logits.device)
    if M == 0:
        return glogits
    _cross_entropy_prob_bwd_kernel[(M,)](
        glogits, gloss, logits, target, logits if weight is None else weight, lse, C,
        *logits.element_strides, *target.element_strides, 0 if weight is None else weight.element_strides[0],
        stride_g, 1.0 / M if reduction == "mean" else 1.0, float(label_smoothing),
        HAS_WEIGHT=weight is not None, **_launch_options(C, max_block_c))
    return glogits


# ----------------------------------------------------------------------------------------- AOT
def aot_specs():
    """Compile configurations: fp32 logits plain (mean), bf16 logits with class weights and label smoothing."""
    for ty, weighted in (("fp32", False), ("bf16", True)):
        ptrs = {"logits_ptr": f"*{ty}", "weight_ptr": f"*{ty}", "lse_ptr": "*fp32"}
        flags = {"HAS_WEIGHT": weighted, "BLOCK_C": MAX_BLOCK_C}
        name = f"cross_entropy_{ty}{'_weighted_smoothed' if weighted else ''}"
        yield aot_spec(f"{name}_fwd", _cross_entropy_fwd_kernel,
                       {**ptrs, "target_ptr": "*i64", "loss_ptr": "*fp32", "ignore_index": "i64",
                        "label_smoothing": "fp32", "err_ptr": "*i64"},
                       {**flags, "SMOOTH": weighted}, num_warps=16)
        yield aot_spec(f"{name}_bwd", _cross_entropy_bwd_kernel,
                       {**ptrs, "glogits_ptr": f"*{ty}", "gloss_ptr": f"*{ty}", "target_ptr": "*i64",
                        "stats_ptr": "*fp32", "ignore_index": "i64", "label_smoothing": "fp32", "err_ptr": "*i64"},
                       {**flags, "SMOOTH": weighted, "MEAN": not weighted}, num_warps=16)
        yield aot_spec(f"{name}_reduce", _cross_entropy_reduce_kernel,
                       {"loss_ptr": "*fp32", "target_ptr": "*i64", "weight_ptr": f"*{ty}", "out_ptr": f"*{ty}",
                        "stats_ptr": "*fp32", "ignore_index": "i64"},
                       {"HAS_LOSS": True, "HAS_TARGET": True, "HAS_WEIGHT": weighted, "MEAN": True,
                        "BLOCK": REDUCE_BLOCK})
        prob = {**ptrs, "target_ptr": f"*{ty}", "label_smoothing": "fp32"}
        yield aot_spec(f"cross_entropy_prob_{ty}_fwd", _cross_entropy_prob_fwd_kernel,
                       {**prob, "loss_ptr": "*fp32"}, flags, num_warps=16)
        yield aot_spec(f"cross_entropy_prob_{ty}_bwd", _cross_entropy_prob_bwd_kernel,
                       {**prob, "glogits_ptr": f"*{ty}", "gloss_ptr": f"*{ty}", "grad_scale": "fp32"},
                       flags, num_warps=16)
