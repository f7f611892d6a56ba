"""Scaled-dot-product attention as flash-attention kernels (forward and FlashAttention-2 backward).

Computes ``o = softmax(q @ k^T * scale + mask) @ v`` per (batch, head) without ever storing the (Lq, Lk)
attention matrix: the forward streams key blocks through an online softmax with fp32 accumulation and saves
the row log-sum-exp ``lse`` (fp32, (B, H, Lq)); the backward recomputes the probabilities block by block from
``lse`` (a preprocess kernel for ``delta = rowsum(o * go)``, one kernel for dk/dv per key block, one for dq per
query block).

Conventions and limits:

* q (B, H, Lq, D), k and v (B, H, Lk, D), any element strides; fp32, fp16 or bf16; D <= 256 (padded to a
  power of two >= 16 with masks, so D=16/32/64/128 waste nothing).
* ``mask``: None or an additive float mask broadcastable to (B, H, Lq, Lk) (broadcast = stride 0, no copy).
* ``is_causal``: PyTorch's convention, top-left aligned: query i attends keys j <= i.
* Fully masked rows (every score -inf) give a zero output row and zero gradients, as PyTorch's SDPA does
  since 2.5 (``_safe_softmax``); their saved lse is -inf.
* fp32 operands use full-precision (``ieee``) dots; fp16/bf16 use tensor cores with fp32 accumulation.
* Dropout is not applied here (the caller applies ``dropout_p`` by a separate path).
* The gradient of the additive mask (``need_mask_grad``) is the score gradient and is materialised as a
  (B, H, Lq, Lk) array: only request it when the mask requires grad.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from . import copy as _copy
from ._common import aot_spec, cast_to, dot_config, mma

__all__ = ["sdpa_fwd", "sdpa_bwd", "aot_specs"]

_SUPPORTED = ("float32", "float16", "bfloat16")
MAX_HEAD_DIM = 256


# ----------------------------------------------------------------------------------------------- forward

@triton.jit
def _sdpa_fwd_inner(acc, l_i, m_i, q, k_ptrs, v_ptrs, mask_ptrs, offs_m, m_ok, offs_n, lo, hi,
                    stride_kn, stride_vn, stride_mn, LK, scale, d_ok,
                    HAS_MASK: tl.constexpr, CAUSAL_TILE: tl.constexpr, BLOCK_M: tl.constexpr,
                    BLOCK_N: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    # One sweep of the online softmax over key blocks [lo, hi). CAUSAL_TILE: blocks on the diagonal, where
    # the causal condition must be applied element by element.
    for start_n in range(lo, hi, BLOCK_N):
        n = start_n + offs_n
        n_ok = n < LK
        k_t = tl.load(k_ptrs + start_n * stride_kn, mask=d_ok[:, None] & n_ok[None, :], other=0.0)
        s = mma(q, k_t, tl.zeros([BLOCK_M, BLOCK_N], tl.float32), DOT_FP32, PRECISION) * scale
        if HAS_MASK:
            s += tl.load(mask_ptrs + start_n * stride_mn, mask=m_ok[:, None] & n_ok[None, :],
                         other=0.0).to(tl.float32)
        keep = n_ok[None, :]
        if CAUSAL_TILE:
            keep = keep & (offs_m[:, None] >= n[None, :])
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # rows with nothing visible yet keep m = -inf; exponentiate against 0 so they stay 0, not NaN
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp(s - m_ref[:, None])
        alpha = tl.exp(m_i - m_ref)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptrs + start_n * stride_vn, mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        acc = mma(cast_to(p, v.dtype), v, acc * alpha[:, None], DOT_FP32, PRECISION)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _sdpa_fwd_kernel(
    Q, K, V, MASK, O, LSE,             # O (B, H, Lq, D) and LSE (B, H, Lq) fp32 are contiguous
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_mb, stride_mh, stride_mm, stride_mn,   # mask strides, 0 on broadcast dims
    H, LQ, LK, HEAD_D,
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0).to(tl.int64)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_ok = offs_m < LQ
    d_ok = offs_d < HEAD_D

    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                mask=m_ok[:, None] & d_ok[None, :], other=0.0)
    k_ptrs = K + b * stride_kb + h * stride_kh + offs_n[None, :] * stride_kn + offs_d[:, None] * stride_kd
    v_ptrs = V + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd
    mask_ptrs = MASK + b * stride_mb + h * stride_mh + offs_m[:, None] * stride_mm + offs_n[None, :] * stride_mn

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    if IS_CAUSAL:
        # keys below the block's first query need no causal test (BLOCK_N divides BLOCK_M); then the diagonal
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_ptrs, v_ptrs, mask_ptrs, offs_m, m_ok, offs_n,
                                        0, tl.minimum(start_m, LK), stride_kn, stride_vn, stride_mn, LK, scale,
                                        d_ok, HAS_MASK, False, BLOCK_M, BLOCK_N, DOT_FP32, PRECISION)
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_ptrs, v_ptrs, mask_ptrs, offs_m, m_ok, offs_n,
                                        start_m, tl.minimum(start_m + BLOCK_M, LK), stride_kn, stride_vn,
                                        stride_mn, LK, scale, d_ok, HAS_MASK, True, BLOCK_M, BLOCK_N, DOT_FP32,
                                        PRECISION)
    else:
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_ptrs, v_ptrs, mask_ptrs, offs_m, m_ok, offs_n,
                                        0, LK, stride_kn, stride_vn, stride_mn, LK, scale,
                                        d_ok, HAS_MASK, False, BLOCK_M, BLOCK_N, DOT_FP32, PRECISION)
    visible = l_i > 0.0
    o = acc / tl.where(visible, l_i, 1.0)[:, None]
    lse = tl.where(visible, m_i + tl.log(tl.where(visible, l_i, 1.0)), float("-inf"))
    row = bh * LQ + offs_m
    tl.store(O + row[:, None] * HEAD_D + offs_d[None, :], cast_to(o, O.dtype.element_ty),
             mask=m_ok[:, None] & d_ok[None, :])
    tl.store(LSE + row, lse, mask=m_ok)


# ---------------------------------------------------------------------------------------------- backward

@triton.jit
def _sdpa_bwd_delta_kernel(
    O, GO, DELTA,                      # DELTA (B, H, Lq) fp32, contiguous
    stride_ob, stride_oh, stride_om, stride_od,
    stride_gb, stride_gh, stride_gm, stride_gd,
    H, LQ, HEAD_D,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_m = tl.program_id(0).to(tl.int64)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    ok = (offs_m < LQ)[:, None] & (offs_d < HEAD_D)[None, :]
    o = tl.load(O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od,
                mask=ok, other=0.0).to(tl.float32)
    go = tl.load(GO + b * stride_gb + h * stride_gh + offs_m[:, None] * stride_gm + offs_d[None, :] * stride_gd,
                 mask=ok, other=0.0).to(tl.float32)
    tl.store(DELTA + bh * LQ + offs_m, tl.sum(o * go, 1), mask=offs_m < LQ)


@triton.jit
def _recompute_p(s, lse):
    # P = exp(S - lse); fully masked rows saved lse = -inf and get P = 0 (their scores are all -inf too)
    return tl.exp(s - tl.where(lse == float("-inf"), float("inf"), lse))


@triton.jit
def _sdpa_bwd_dkdv_kernel(
    Q, K, V, MASK, GO, LSE, DELTA, GK, GV,     # GK, GV (B, H, Lk, D) contiguous
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_mb, stride_mh, stride_mm, stride_mn,
    stride_gb, stride_gh, stride_gm, stride_gd,  # go strides
    H, LQ, LK, HEAD_D,
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    # Works on the transposed problem: rows are this program's keys, columns a block of queries.
    pid_n = tl.program_id(0).to(tl.int64)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    start_n = pid_n * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    n_ok = offs_n < LK
    d_ok = offs_d < HEAD_D
    nd_ok = n_ok[:, None] & d_ok[None, :]
    k = tl.load(K + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kn + offs_d[None, :] * stride_kd,
                mask=nd_ok, other=0.0)
    v = tl.load(V + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                mask=nd_ok, other=0.0)
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    lo = 0
    if IS_CAUSAL:
        lo = (start_n // BLOCK_M) * BLOCK_M      # earlier queries see none of these keys
    for start_m in range(lo, LQ, BLOCK_M):
        m = start_m + offs_m
        m_ok = m < LQ
        q = tl.load(Q + b * stride_qb + h * stride_qh + m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                    mask=m_ok[:, None] & d_ok[None, :], other=0.0)
        go = tl.load(GO + b * stride_gb + h * stride_gh + m[:, None] * stride_gm + offs_d[None, :] * stride_gd,
                     mask=m_ok[:, None] & d_ok[None, :], other=0.0)
        s_t = mma(k, tl.trans(q), tl.zeros([BLOCK_N, BLOCK_M], tl.float32), DOT_FP32, PRECISION) * scale
        if HAS_MASK:
            s_t += tl.load(MASK + b * stride_mb + h * stride_mh + m[None, :] * stride_mm + offs_n[:, None] * stride_mn,
                           mask=n_ok[:, None] & m_ok[None, :], other=0.0).to(tl.float32)
        if IS_CAUSAL:
            s_t = tl.where(m[None, :] >= offs_n[:, None], s_t, float("-inf"))
        lse = tl.load(LSE + bh * LQ + m, mask=m_ok, other=float("inf"))
        delta = tl.load(DELTA + bh * LQ + m, mask=m_ok, other=0.0)
        p_t = _recompute_p(s_t, lse[None, :])
        dv = mma(cast_to(p_t, go.dtype), go, dv, DOT_FP32, PRECISION)
        dp_t = mma(v, tl.trans(go), tl.zeros([BLOCK_N, BLOCK_M], tl.float32), DOT_FP32, PRECISION)
        ds_t = p_t * (dp_t - delta[None, :])
        dk = mma(cast_to(ds_t, q.dtype), q, dk, DOT_FP32, PRECISION)
    out = (bh * LK + offs_n)[:, None] * HEAD_D + offs_d[None, :]
    tl.store(GK + out, cast_to(dk * scale, GK.dtype.element_ty), mask=nd_ok)
    tl.store(GV + out, cast_to(dv, GV.dtype.element_ty), mask=nd_ok)


@triton.jit
def _sdpa_bwd_dq_kernel(
    Q, K, V, MASK, GO, LSE, DELTA, GQ, GMASK,   # GQ (B, H, Lq, D), GMASK (B, H, Lq, Lk) contiguous
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_mb, stride_mh, stride_mm, stride_mn,
    stride_gb, stride_gh, stride_gm, stride_gd,
    H, LQ, LK, HEAD_D,
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, STORE_DS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0).to(tl.int64)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_ok = offs_m < LQ
    d_ok = offs_d < HEAD_D
    md_ok = m_ok[:, None] & d_ok[None, :]
    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                mask=md_ok, other=0.0)
    go = tl.load(GO + b * stride_gb + h * stride_gh + offs_m[:, None] * stride_gm + offs_d[None, :] * stride_gd,
                 mask=md_ok, other=0.0)
    lse = tl.load(LSE + bh * LQ + offs_m, mask=m_ok, other=float("inf"))
    delta = tl.load(DELTA + bh * LQ + offs_m, mask=m_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    hi = LK
    if IS_CAUSAL and not STORE_DS:   # the mask gradient needs its zeros above the diagonal written too
        hi = tl.minimum(start_m + BLOCK_M, LK)
    for start_n in range(0, hi, BLOCK_N):
        n = start_n + offs_n
        n_ok = n < LK
        k = tl.load(K + b * stride_kb + h * stride_kh + n[:, None] * stride_kn + offs_d[None, :] * stride_kd,
                    mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(V + b * stride_vb + h * stride_vh + n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                    mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        s = mma(q, tl.trans(k), tl.zeros([BLOCK_M, BLOCK_N], tl.float32), DOT_FP32, PRECISION) * scale
        if HAS_MASK:
            s += tl.load(MASK + b * stride_mb + h * stride_mh + offs_m[:, None] * stride_mm + n[None, :] * stride_mn,
                         mask=m_ok[:, None] & n_ok[None, :], other=0.0).to(tl.float32)
        keep = n_ok[None, :]
        if IS_CAUSAL:
            keep = keep & (offs_m[:, None] >= n[None, :])
        p = _recompute_p(tl.where(keep, s, float("-inf")), lse[:, None])
        dp = mma(go, tl.trans(v), tl.zeros([BLOCK_M, BLOCK_N], tl.float32), DOT_FP32, PRECISION)
        ds = p * (dp - delta[:, None])
        dq = mma(cast_to(ds, k.dtype), k, dq, DOT_FP32, PRECISION)
        if STORE_DS:
            tl.store(GMASK + (bh * LQ + offs_m)[:, None] * LK + n[None, :], cast_to(ds, GMASK.dtype.element_ty),
                     mask=m_ok[:, None] & n_ok[None, :])
    tl.store(GQ + (bh * LQ + offs_m)[:, None] * HEAD_D + offs_d[None, :], cast_to(dq * scale, GQ.dtype.element_ty),
             mask=md_ok)


# ------------------------------------------------------------------------------------------------ wrappers

def _check_qkv(q, k, v):
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim != 4:
            raise ValueError(f"sdpa: {name} must be 4-D (B, H, L, D), got shape {a.shape}")
        if a.dtype.name not in _SUPPORTED:
            raise TypeError(f"sdpa: {name} has dtype {a.dtype}; the Triton kernel supports {', '.join(_SUPPORTED)}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"sdpa: q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    B, H, _, D = q.shape
    if k.shape != v.shape or k.shape[:2] != (B, H) or k.shape[3] != D:
        raise ValueError(f"sdpa: expected k and v of shape (B, H, Lk, D) = ({B}, {H}, Lk, {D}), "
                         f"got k {k.shape}, v {v.shape} for q {q.shape}")
    if not 0 < D <= MAX_HEAD_DIM:
        raise ValueError(f"sdpa: head dim {D} is outside the kernel's range 1..{MAX_HEAD_DIM}")


def _mask_view(mask, q, k):
    """(mask array or q as a dummy pointer, its 4 element strides, HAS_MASK)."""
    B, H, Lq, _ = q.shape
    Lk = k.shape[2]
    if mask is None:
        return q, (0, 0, 0, 0), False
    if mask.dtype.name not in _SUPPORTED:
        raise TypeError(f"sdpa: the mask must be an additive float mask ({', '.join(_SUPPORTED)}), got dtype "
                        f"{mask.dtype} (turn a bool mask into 0 / -inf first)")
    try:
        m4 = mask.broadcast_to((B, H, Lq, Lk))
    except ValueError:
        raise ValueError(f"sdpa: mask of shape {mask.shape} does not broadcast to (B, H, Lq, Lk) = "
                         f"{(B, H, Lq, Lk)}") from None
    return m4, m4.element_strides, True


def _blocks(Lq, Lk, D, itemsize, blocks=None):
    """(BLOCK_M, BLOCK_N, BLOCK_D, num_warps); BLOCK_N divides BLOCK_M (the causal split relies on it).
    fp32 runs full-precision FMA dots, not tensor cores: smaller tiles (and far shorter compiles)."""
    block_d = max(16, triton.next_power_of_2(D))
    if blocks is None:
        wide = itemsize == 2
        block_m = min(128 if wide and block_d <= 64 else 64, max(16, triton.next_power_of_2(Lq)))
        block_n = min(64 if wide and block_d <= 128 else 32, max(16, triton.next_power_of_2(Lk)), block_m)
    else:
        block_m, block_n = blocks
        if block_n > block_m or block_m % block_n or min(blocks) < 16:
            raise ValueError(f"sdpa: blocks {blocks} must be powers of two >= 16 with BLOCK_N dividing BLOCK_M")
    return block_m, block_n, block_d, 4 if block_d <= 64 else 8


def sdpa_fwd(q, k, v, mask, is_causal, scale, blocks=None):
    """``torch.nn.functional.scaled_dot_product_attention`` forward (no dropout) on `DeviceArray`s.

    Returns ``(o, lse)``: o (B, H, Lq, D) in q's dtype, lse (B, H, Lq) fp32 the log-sum-exp of each row of
    scores (-inf for fully masked rows, whose output is 0). ``blocks`` (BLOCK_M, BLOCK_N) overrides the tile
    sizes (tests use it to cross block boundaries on small inputs)."""
    _check_qkv(q, k, v)
    B, H, Lq, D = q.shape
    Lk = k.shape[2]
    o = runtime.empty((B, H, Lq, D), q.dtype, device=q.device)
    lse = runtime.empty((B, H, Lq), np.float32, device=q.device)
    if o.numel() == 0:
        return o, lse
    m, m_strides, has_mask = _mask_view(mask, q, k)      # Lk == 0 runs too: o = 0, lse = -inf
    block_m, block_n, block_d, warps = _blocks(Lq, Lk, D, q.itemsize, blocks)
    dot_fp32, precision = dot_config(q.dtype)
    _sdpa_fwd_kernel[(triton.cdiv(Lq, block_m), B * H)](
        q, k, v, m, o, lse, *q.element_strides, *k.element_strides, *v.element_strides, *m_strides,
        H, Lq, Lk, D, float(scale),
        IS_CAUSAL=bool(is_causal), HAS_MASK=has_mask, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d,
        DOT_FP32=dot_fp32, PRECISION=precision, num_warps=warps, num_stages=2)
    return o, lse


def sdpa_bwd(go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad=False, blocks=None):
    """Backward of `sdpa_fwd` (FlashAttention-2: nothing of size Lq x Lk is stored unless asked for).

    Returns ``(gq, gk, gv)``, or ``(gq, gk, gv, gmask)`` when ``need_mask_grad``: gmask is the gradient of the
    additive mask at the broadcast shape (B, H, Lq, Lk), in the mask's dtype. ``blocks`` as in `sdpa_fwd`."""
    _check_qkv(q, k, v)
    B, H, Lq, D = q.shape
    Lk = k.shape[2]
    if go.shape != q.shape or o.shape != q.shape or lse.shape != (B, H, Lq):
        raise ValueError(f"sdpa_bwd: go {go.shape} and o {o.shape} must match q {q.shape}, lse {lse.shape} "
                         f"must be {(B, H, Lq)}")
    if need_mask_grad and mask is None:
        raise ValueError("sdpa_bwd: need_mask_grad=True without a mask")
    dev = q.device
    shapes = [(q.shape, q.dtype), (k.shape, k.dtype), (v.shape, v.dtype)]
    shapes += [((B, H, Lq, Lk), mask.dtype)] if need_mask_grad else []
    if B * H * Lq * Lk == 0:     # no query attends any key: every gradient is zero
        return tuple(_copy.full(shape, 0.0, dtype, dev) for shape, dtype in shapes)
    gq, gk, gv, *gmask = (runtime.empty(shape, dtype, device=dev) for shape, dtype in shapes)
    gmask = gmask[0] if gmask else None
    m, m_strides, has_mask = _mask_view(mask, q, k)
    block_m, block_n, block_d, warps = _blocks(Lq, Lk, D, q.itemsize, blocks)
    dot_fp32, precision = dot_config(q.dtype)
    delta = runtime.empty((B, H, Lq), np.float32, device=dev)
    _sdpa_bwd_delta_kernel[(triton.cdiv(Lq, block_m), B * H)](
        o, go, delta, *o.element_strides, *go.element_strides, H, Lq, D, BLOCK_M=block_m, BLOCK_D=block_d)
    common = (*q.element_strides, *k.element_strides, *v.element_strides, *m_strides, *go.element_strides,
              H, Lq, Lk, D, float(scale))
    meta = dict(IS_CAUSAL=bool(is_causal), HAS_MASK=has_mask, BLOCK_M=block_m, BLOCK_N=block_n,
                BLOCK_D=block_d, DOT_FP32=dot_fp32, PRECISION=precision, num_warps=warps, num_stages=2)
    _sdpa_bwd_dkdv_kernel[(triton.cdiv(Lk, block_n), B * H)](q, k, v, m, go, lse, delta, gk, gv, *common, **meta)
    _sdpa_bwd_dq_kernel[(triton.cdiv(Lq, block_m), B * H)](
        q, k, v, m, go, lse, delta, gq, gq if gmask is None else gmask, *common, STORE_DS=bool(need_mask_grad),
        **meta)
    return (gq, gk, gv) + ((gmask,) if need_mask_grad else ())


# ------------------------------------------------------------------------------------------- AOT specs

def aot_specs():
    """fp32 and bf16 at D = 64 and 128, causal (no mask) and masked (not causal). To bound the suite's compile
    time, fp32's backward only at D = 64 and the mask-gradient dq variant once (bf16, D = 64, masked)."""
    for ty, itemsize in (("fp32", 4), ("bf16", 2)):
        p = "*" + ty
        stats = {"LSE": "*fp32", "DELTA": "*fp32", "scale": "fp32"}
        fwd = {"Q": p, "K": p, "V": p, "MASK": p, "O": p, "LSE": "*fp32", "scale": "fp32"}
        dkdv = {"Q": p, "K": p, "V": p, "MASK": p, "GO": p, "GK": p, "GV": p, **stats}
        dq = {"Q": p, "K": p, "V": p, "MASK": p, "GO": p, "GQ": p, "GMASK": p, **stats}
        for head_d in (64, 128):
            block_m, block_n, block_d, warps = _blocks(4096, 4096, head_d, itemsize)
            tile = {"BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_D": block_d, "DOT_FP32": False,
                    "PRECISION": "ieee"}
            with_bwd = ty == "bf16" or head_d == 64
            for causal in (False, True):
                const = {"IS_CAUSAL": causal, "HAS_MASK": not causal, **tile}
                tag = f"{ty}_d{head_d}_{'causal' if causal else 'mask'}"
                yield aot_spec(f"sdpa_fwd_{tag}", _sdpa_fwd_kernel, fwd, const, warps)
                if not with_bwd:
                    continue
                yield aot_spec(f"sdpa_bwd_dkdv_{tag}", _sdpa_bwd_dkdv_kernel, dkdv, const, warps)
                store_ds_variants = (False, True) if (ty, head_d, causal) == ("bf16", 64, False) else (False,)
                for store_ds in store_ds_variants:
                    yield aot_spec(f"sdpa_bwd_dq_{tag}{'_ds' if store_ds else ''}", _sdpa_bwd_dq_kernel, dq,
                                   {**const, "STORE_DS": store_ds}, warps)
            if with_bwd:
                yield aot_spec(f"sdpa_bwd_delta_{ty}_d{head_d}", _sdpa_bwd_delta_kernel,
                               {"O": p, "GO": p, "DELTA": "*fp32"}, {"BLOCK_M": block_m, "BLOCK_D": block_d})
