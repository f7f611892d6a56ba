"""Scaled-dot-product attention as FlashAttention-2 kernels (forward, and a backward in three kernels).

Computes ``o = softmax(q @ k^T * scale + mask) @ v`` per (batch, head) without ever storing the (Lq, Lk)
attention matrix: the forward streams key blocks through an online softmax in base 2 (``log2(e)`` folded into
the scale, so one ``exp2`` per score) with fp32 accumulation and saves the row log-sum-exp ``lse`` (natural
log, fp32, (B, H, Lq)); the backward recomputes the probabilities block by block from ``lse`` (a preprocess
kernel for ``delta = rowsum(o * go)``, one kernel for dk/dv per key block, one for dq per query block).

Conventions and limits:

* q (B, H, Lq, D), k and v (B, Hkv, Lk, D), any element strides; fp32, fp16 or bf16; D <= 256 (padded to a
  power of two >= 16 with masks, so D=16/32/64/128 waste nothing).
* Grouped-query attention: ``H`` a multiple of ``Hkv``; query head ``h`` reads key/value head
  ``h // (H // Hkv)`` (PyTorch's ``enable_gqa``, i.e. ``repeat_interleave`` of k and v). dk/dv sum over the
  group inside one program (no atomics).
* ``mask``: None or an additive float mask broadcastable to (B, H, Lq, Lk) (broadcast = stride 0, no copy).
* ``is_causal``: PyTorch's convention, top-left aligned: query i attends keys j <= i.
* Fully masked rows (every score -inf) give a zero output row and zero gradients, as PyTorch's SDPA does
  since 2.5 (``_safe_softmax``); their saved lse is -inf.
* fp32 operands use full-precision (``ieee``) dots; fp16/bf16 use tensor cores with fp32 accumulation.
* Dropout is not applied here (the caller applies ``dropout_p`` by a separate path).
* The gradient of the additive mask (``need_mask_grad``) is the score gradient and is materialised as a
  (B, H, Lq, Lk) array: only request it when the mask requires grad.
* Tiles (BLOCK_M, BLOCK_N, stages, warps) are autotuned per launch among configs chosen per dtype class and
  head dim, each of which compiles without register spills and within shared memory on sm_80 and sm_90
  (``python -m bench.inspect_kernels``).
* Grids are flat (axis 0 = batch x heads x blocks, < 2**31 programs): CUDA's axes 1 and 2 stop at 65,535.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from . import copy as _copy
from ._common import aot_spec, cast_to, dot_config, mma

__all__ = ["sdpa_fwd", "sdpa_bwd", "launch_grid", "aot_specs", "MAX_GRID_X"]

_SUPPORTED = ("float32", "float16", "bfloat16")
_ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
MAX_HEAD_DIM = 256
MAX_GRID_X = 2 ** 31 - 1
"""CUDA's limit on grid axis 0 (axes 1 and 2: 65,535, which is why every grid here is flat)."""
LOG2E = tl.constexpr(1.4426950408889634)
LN2 = tl.constexpr(0.6931471805599453)


# ------------------------------------------------------------------------------------------------- configs
# (BLOCK_M, BLOCK_N, num_stages, num_warps) keyed by (tensor cores, BLOCK_D <= 64 / 128 / 256). Tensor cores:
# fp16/bf16; fp32 runs full-precision FMA dots whose operands live in registers, so it gets smaller tiles.
# Every entry for D <= 128 compiles without spills for sm_80 and sm_90 with triton 3.6 and 3.9 (see the module
# docstring; 3.6 spilled 8 to 624 B in fwd 64x32/3/4 tensor-core D 64, fwd fp32 32x16/2/4 D 128 and dk/dv fp32
# 16x64/2/8 D 64, dropped). The forward's causal split needs BLOCK_N to divide BLOCK_M.
_FWD_TILES = {
    (True, 64): ((64, 64, 3, 4), (128, 64, 3, 8)),
    (True, 128): ((64, 64, 3, 4), (128, 32, 2, 8), (64, 64, 2, 4)),
    (True, 256): ((64, 32, 2, 4), (64, 64, 2, 8), (32, 32, 2, 4)),
    (False, 64): ((32, 32, 2, 8), (16, 16, 2, 4)),
    (False, 128): ((16, 16, 2, 4),),
    (False, 256): ((16, 16, 2, 4),),
}
# dk/dv: BLOCK_N keys per program (its k, v, dk, dv stay in registers), BLOCK_M queries per step
_DKDV_TILES = {
    (True, 64): ((32, 64, 3, 4), (32, 128, 2, 8)),
    (True, 128): ((64, 64, 2, 8), (32, 64, 2, 8), (16, 64, 2, 4)),
    (True, 256): ((32, 64, 2, 8), (16, 32, 2, 4)),
    (False, 64): ((16, 32, 2, 4),),
    (False, 128): ((16, 32, 2, 4), (16, 16, 2, 4)),
    (False, 256): ((16, 16, 2, 4),),
}
# dq: BLOCK_M queries per program (q, go, dq in registers), BLOCK_N keys per step
_DQ_TILES = {
    (True, 64): ((128, 32, 3, 4), (64, 64, 3, 4), (64, 32, 3, 4)),
    (True, 128): ((128, 32, 2, 8), (64, 64, 2, 8)),
    (True, 256): ((64, 32, 2, 8), (32, 16, 2, 4)),
    (False, 64): ((64, 16, 2, 4), (32, 16, 2, 4), (32, 32, 2, 8)),
    (False, 128): ((32, 16, 2, 4), (32, 32, 2, 8)),
    (False, 256): ((16, 16, 2, 4),),
}
_INTERPRETER_TILE = (32, 16, 1, 4)     # one config: the interpreter never benchmarks
_DELTA_BLOCK_M = 64


def _delta_warps(block_d):
    return 4 if block_d <= 64 else 8


def _configs(tiles):
    if runtime.interpreting():
        entries = [_INTERPRETER_TILE]
    else:
        entries = list(dict.fromkeys(t for group in tiles.values() for t in group))
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_stages=s, num_warps=w) for m, n, s, w in entries]


def _tile_class(dtype, block_d):
    return _ITEMSIZE[str(dtype)] == 2, 64 if block_d <= 64 else 128 if block_d <= 128 else 256


def _pruner(tiles):
    """The autotuner's ``early_config_prune``: the configs of ``tiles`` for the launch's dtype and BLOCK_D."""
    def prune(configs, named_args, **kwargs):
        wanted = tiles[_tile_class(named_args["Q"].dtype, kwargs["BLOCK_D"])]
        kept = [c for c in configs
                if (c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.num_stages, c.num_warps) in wanted]
        return kept or configs[:1]
    return prune


def _autotune(tiles, key):
    return triton.autotune(configs=_configs(tiles), key=key,
                           prune_configs_by=None if runtime.interpreting() else {"early_config_prune": _pruner(tiles)})


# ----------------------------------------------------------------------------------------------- forward

@triton.jit
def _flat_tile(L, BLOCK: tl.constexpr, HEAVY_FIRST: tl.constexpr):
    """(row, start) of this program on a flat grid of rows x cdiv(L, BLOCK) tiles; row is int64.
    ``HEAVY_FIRST`` reverses the tile order in each row (causal: the tiles with the most keys start first)."""
    pid = tl.program_id(0)
    tiles = tl.cdiv(L, BLOCK)
    row = pid // tiles
    tile = pid - row * tiles
    if HEAVY_FIRST:
        tile = tiles - 1 - tile
    return row.to(tl.int64), tile * BLOCK


@triton.jit
def _sdpa_fwd_inner(acc, l_i, m_i, q, k_base, v_base, mask_rows, offs_m, m_ok, offs_n, offs_d, d_ok, lo, hi,
                    stride_kn, stride_kd, stride_vn, stride_vd, stride_mn, LK, qk_scale,
                    HAS_MASK: tl.constexpr, CAUSAL_TILE: tl.constexpr, BLOCK_M: tl.constexpr,
                    BLOCK_N: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    # One sweep of the online softmax (base 2: scores carry log2(e)) over key blocks [lo, hi). Pointers are
    # rebuilt per block from 1-D offsets, so no (D, BLOCK_N) pointer tile stays live across the loop.
    # CAUSAL_TILE: blocks on the diagonal, where the causal condition must be applied element by element.
    for start_n in range(lo, hi, BLOCK_N):
        n = start_n + offs_n
        n_ok = n < LK
        k_t = tl.load(k_base + n[None, :] * stride_kn + offs_d[:, None] * stride_kd,
                      mask=d_ok[:, None] & n_ok[None, :], other=0.0)
        s = mma(q, k_t, tl.zeros([BLOCK_M, BLOCK_N], tl.float32), DOT_FP32, PRECISION) * qk_scale
        if HAS_MASK:
            s += tl.load(mask_rows + n[None, :] * stride_mn, mask=m_ok[:, None] & n_ok[None, :],
                         other=0.0).to(tl.float32) * LOG2E
        keep = n_ok[None, :]
        if CAUSAL_TILE:
            keep = keep & (offs_m[:, None] >= n[None, :])
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # rows with nothing visible yet keep m = -inf; exponentiate against 0 so they stay 0, not NaN
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.math.exp2(s - m_ref[:, None])
        alpha = tl.math.exp2(m_i - m_ref)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                    mask=n_ok[:, None] & d_ok[None, :], other=0.0)
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
    H, GROUP, LQ, LK, HEAD_D,          # GROUP = H // Hkv query heads per key/value head
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    bh, start_m = _flat_tile(LQ, BLOCK_M, IS_CAUSAL)
    b = bh // H
    h = bh % H
    hk = h // GROUP
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_ok = offs_m < LQ
    d_ok = offs_d < HEAD_D

    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                mask=m_ok[:, None] & d_ok[None, :], other=0.0)
    k_base = K + b * stride_kb + hk * stride_kh
    v_base = V + b * stride_vb + hk * stride_vh
    mask_rows = MASK + b * stride_mb + h * stride_mh + offs_m[:, None] * stride_mm
    qk_scale = scale * LOG2E

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    if IS_CAUSAL:
        # keys below the block's first query need no causal test (BLOCK_N divides BLOCK_M); then the diagonal
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_base, v_base, mask_rows, offs_m, m_ok, offs_n, offs_d,
                                        d_ok, 0, tl.minimum(start_m, LK), stride_kn, stride_kd, stride_vn,
                                        stride_vd, stride_mn, LK, qk_scale, HAS_MASK, False, BLOCK_M, BLOCK_N,
                                        DOT_FP32, PRECISION)
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_base, v_base, mask_rows, offs_m, m_ok, offs_n, offs_d,
                                        d_ok, start_m, tl.minimum(start_m + BLOCK_M, LK), stride_kn, stride_kd,
                                        stride_vn, stride_vd, stride_mn, LK, qk_scale, HAS_MASK, True, BLOCK_M,
                                        BLOCK_N, DOT_FP32, PRECISION)
    else:
        acc, l_i, m_i = _sdpa_fwd_inner(acc, l_i, m_i, q, k_base, v_base, mask_rows, offs_m, m_ok, offs_n, offs_d,
                                        d_ok, 0, LK, stride_kn, stride_kd, stride_vn, stride_vd, stride_mn, LK,
                                        qk_scale, HAS_MASK, False, BLOCK_M, BLOCK_N, DOT_FP32, PRECISION)
    visible = l_i > 0.0
    l_safe = tl.where(visible, l_i, 1.0)
    o = acc / l_safe[:, None]
    lse = tl.where(visible, (m_i + tl.math.log2(l_safe)) * LN2, float("-inf"))
    row = bh * LQ + offs_m
    tl.store(O + row[:, None] * HEAD_D + offs_d[None, :], cast_to(o, O.dtype.element_ty),
             mask=m_ok[:, None] & d_ok[None, :])
    tl.store(LSE + row, lse, mask=m_ok)


_sdpa_fwd_tuned = _autotune(_FWD_TILES, ["LQ", "LK", "HEAD_D", "IS_CAUSAL", "HAS_MASK"])(_sdpa_fwd_kernel)


# ---------------------------------------------------------------------------------------------- backward

@triton.jit
def _sdpa_bwd_delta_kernel(
    O, GO, DELTA,                      # DELTA (B, H, Lq) fp32, contiguous
    stride_ob, stride_oh, stride_om, stride_od,
    stride_gb, stride_gh, stride_gm, stride_gd,
    H, LQ, HEAD_D,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
):
    bh, start_m = _flat_tile(LQ, BLOCK_M, False)
    b = bh // H
    h = bh % H
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    ok = (offs_m < LQ)[:, None] & (offs_d < HEAD_D)[None, :]
    o = tl.load(O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od,
                mask=ok, other=0.0).to(tl.float32)
    go = tl.load(GO + b * stride_gb + h * stride_gh + offs_m[:, None] * stride_gm + offs_d[None, :] * stride_gd,
                 mask=ok, other=0.0).to(tl.float32)
    tl.store(DELTA + bh * LQ + offs_m, tl.sum(o * go, 1), mask=offs_m < LQ)


@triton.jit
def _recompute_p(s2, lse):
    # P = exp(S - lse) = exp2(S * log2(e) - lse * log2(e)), ``s2`` already in base 2; fully masked rows saved
    # lse = -inf and get P = 0 (their scores are all -inf too)
    return tl.math.exp2(s2 - tl.where(lse == float("-inf"), float("inf"), lse * LOG2E))


@triton.jit
def _sdpa_bwd_dkdv_kernel(
    Q, K, V, MASK, GO, LSE, DELTA, GK, GV,     # GK, GV (B, Hkv, Lk, D) contiguous
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_mb, stride_mh, stride_mm, stride_mn,
    stride_gb, stride_gh, stride_gm, stride_gd,  # go strides
    H, GROUP, LQ, LK, HEAD_D,
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    # Works on the transposed problem: rows are this program's keys, columns a block of queries; one program
    # per (batch, key/value head, key block) sums over the GROUP query heads that share the key/value head.
    bhk, start_n = _flat_tile(LK, BLOCK_N, False)
    hkv = H // GROUP
    b = bhk // hkv
    hk = bhk % hkv
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    n_ok = offs_n < LK
    d_ok = offs_d < HEAD_D
    nd_ok = n_ok[:, None] & d_ok[None, :]
    k = tl.load(K + b * stride_kb + hk * stride_kh + offs_n[:, None] * stride_kn + offs_d[None, :] * stride_kd,
                mask=nd_ok, other=0.0)
    v = tl.load(V + b * stride_vb + hk * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                mask=nd_ok, other=0.0)
    qk_scale = scale * LOG2E
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    lo = 0
    if IS_CAUSAL:
        lo = (start_n // BLOCK_M) * BLOCK_M      # earlier queries see none of these keys
    # one flat loop over (query head of the group, query block): a nested loop keeps more values live
    blocks = tl.cdiv(LQ - lo, BLOCK_M)
    for step in range(0, GROUP * blocks):
        g = step // blocks
        h = hk * GROUP + g
        m = lo + (step - g * blocks) * BLOCK_M + offs_m
        m_ok = m < LQ
        q = tl.load(Q + b * stride_qb + h * stride_qh + m[:, None] * stride_qm + offs_d[None, :] * stride_qd,
                    mask=m_ok[:, None] & d_ok[None, :], other=0.0)
        go = tl.load(GO + b * stride_gb + h * stride_gh + m[:, None] * stride_gm + offs_d[None, :] * stride_gd,
                     mask=m_ok[:, None] & d_ok[None, :], other=0.0)
        s_t = mma(k, tl.trans(q), tl.zeros([BLOCK_N, BLOCK_M], tl.float32), DOT_FP32, PRECISION) * qk_scale
        if HAS_MASK:
            s_t += tl.load(MASK + b * stride_mb + h * stride_mh + offs_n[:, None] * stride_mn + m[None, :] * stride_mm,
                           mask=n_ok[:, None] & m_ok[None, :], other=0.0).to(tl.float32) * LOG2E
        if IS_CAUSAL:
            s_t = tl.where(m[None, :] >= offs_n[:, None], s_t, float("-inf"))
        stats = (b * H + h) * LQ
        lse = tl.load(LSE + stats + m, mask=m_ok, other=float("inf"))
        delta = tl.load(DELTA + stats + m, mask=m_ok, other=0.0)
        p_t = _recompute_p(s_t, lse[None, :])
        dv = mma(cast_to(p_t, go.dtype), go, dv, DOT_FP32, PRECISION)
        dp_t = mma(v, tl.trans(go), tl.zeros([BLOCK_N, BLOCK_M], tl.float32), DOT_FP32, PRECISION)
        ds_t = p_t * (dp_t - delta[None, :])
        dk = mma(cast_to(ds_t, q.dtype), q, dk, DOT_FP32, PRECISION)
    out = (bhk * LK + offs_n)[:, None] * HEAD_D + offs_d[None, :]
    tl.store(GK + out, cast_to(dk * scale, GK.dtype.element_ty), mask=nd_ok)
    tl.store(GV + out, cast_to(dv, GV.dtype.element_ty), mask=nd_ok)


_sdpa_bwd_dkdv_tuned = _autotune(_DKDV_TILES, ["LQ", "LK", "HEAD_D", "IS_CAUSAL", "HAS_MASK"])(_sdpa_bwd_dkdv_kernel)


@triton.jit
def _sdpa_bwd_dq_kernel(
    Q, K, V, MASK, GO, LSE, DELTA, GQ, GMASK,   # GQ (B, H, Lq, D), GMASK (B, H, Lq, Lk) contiguous
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_mb, stride_mh, stride_mm, stride_mn,
    stride_gb, stride_gh, stride_gm, stride_gd,
    H, GROUP, LQ, LK, HEAD_D,
    scale,
    IS_CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, STORE_DS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    bh, start_m = _flat_tile(LQ, BLOCK_M, IS_CAUSAL)
    b = bh // H
    h = bh % H
    hk = h // GROUP
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
    k_base = K + b * stride_kb + hk * stride_kh
    v_base = V + b * stride_vb + hk * stride_vh
    mask_rows = MASK + b * stride_mb + h * stride_mh + offs_m[:, None] * stride_mm
    qk_scale = scale * LOG2E
    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    hi = LK
    if IS_CAUSAL and not STORE_DS:   # the mask gradient needs its zeros above the diagonal written too
        hi = tl.minimum(start_m + BLOCK_M, LK)
    for start_n in range(0, hi, BLOCK_N):
        n = start_n + offs_n
        n_ok = n < LK
        k = tl.load(k_base + n[:, None] * stride_kn + offs_d[None, :] * stride_kd,
                    mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(v_base + n[:, None] * stride_vn + offs_d[None, :] * stride_vd,
                    mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        s = mma(q, tl.trans(k), tl.zeros([BLOCK_M, BLOCK_N], tl.float32), DOT_FP32, PRECISION) * qk_scale
        if HAS_MASK:
            s += tl.load(mask_rows + n[None, :] * stride_mn, mask=m_ok[:, None] & n_ok[None, :],
                         other=0.0).to(tl.float32) * LOG2E
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


_sdpa_bwd_dq_tuned = _autotune(_DQ_TILES, ["LQ", "LK", "HEAD_D", "IS_CAUSAL", "HAS_MASK", "STORE_DS"])(
    _sdpa_bwd_dq_kernel)


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
    Hkv = k.shape[1]
    if k.shape != v.shape or k.shape[0] != B or k.shape[3] != D:
        raise ValueError(f"sdpa: expected k and v of shape (B, Hkv, Lk, D) = ({B}, Hkv, Lk, {D}), "
                         f"got k {k.shape}, v {v.shape} for q {q.shape}")
    if Hkv == 0 or H % Hkv:
        raise ValueError(f"sdpa: the {Hkv} key/value heads of k {k.shape} must divide the {H} query heads of "
                         f"q {q.shape} (grouped-query attention)")
    if not 0 < D <= MAX_HEAD_DIM:
        raise ValueError(f"sdpa: head dim {D} is outside the kernel's range 1..{MAX_HEAD_DIM}")
    return H // Hkv


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


def launch_grid(rows, length, block):
    """The flat grid ``(rows * cdiv(length, block),)`` of one attention launch (rows = batch x heads): every
    program on CUDA's axis 0, whose limit is 2**31 - 1 (axes 1 and 2 stop at 65,535, so batch x heads there
    would fail past 65,535). Raises ValueError beyond the limit."""
    programs = rows * triton.cdiv(length, block)
    if programs > MAX_GRID_X:
        raise ValueError(f"sdpa: {rows} batch x heads x {triton.cdiv(length, block)} blocks of {block} = "
                         f"{programs} programs exceed CUDA's grid limit of {MAX_GRID_X}")
    return (programs,)


def _launch(tuned, kernel, rows, length, tile_of, blocks, args, meta):
    """Launch ``tuned`` (autotuned over its configs) or, when ``blocks`` = (BLOCK_M, BLOCK_N) is given,
    ``kernel`` with those tiles. ``tile_of`` names the meta-parameter that tiles ``length``."""
    if blocks is None:
        tuned[lambda m: launch_grid(rows, length, m[tile_of])](*args, **meta)
    else:
        fixed = {"BLOCK_M": blocks[0], "BLOCK_N": blocks[1]}
        kernel[launch_grid(rows, length, fixed[tile_of])](*args, **meta, **fixed, num_warps=4, num_stages=2)


def _check_blocks(blocks):
    if blocks is not None and (blocks[1] > blocks[0] or blocks[0] % blocks[1] or min(blocks) < 16):
        raise ValueError(f"sdpa: blocks {blocks} must be powers of two >= 16 with BLOCK_N dividing BLOCK_M")


def sdpa_fwd(q, k, v, mask, is_causal, scale, blocks=None):
    """``torch.nn.functional.scaled_dot_product_attention`` forward (no dropout) on `DeviceArray`s, with
    grouped-query attention when k and v have fewer heads than q (``enable_gqa=True``).

    Returns ``(o, lse)``: o (B, H, Lq, D) in q's dtype, lse (B, H, Lq) fp32 the log-sum-exp of each row of
    scores (-inf for fully masked rows, whose output is 0). ``blocks`` (BLOCK_M, BLOCK_N) fixes the tile
    sizes instead of autotuning them (tests use it to cross block boundaries on small inputs)."""
    group = _check_qkv(q, k, v)
    _check_blocks(blocks)
    B, H, Lq, D = q.shape
    Lk = k.shape[2]
    o = runtime.empty((B, H, Lq, D), q.dtype, device=q.device)
    lse = runtime.empty((B, H, Lq), np.float32, device=q.device)
    if o.numel() == 0:
        return o, lse
    m, m_strides, has_mask = _mask_view(mask, q, k)      # Lk == 0 runs too: o = 0, lse = -inf
    dot_fp32, precision = dot_config(q.dtype)
    args = (q, k, v, m, o, lse, *q.element_strides, *k.element_strides, *v.element_strides, *m_strides,
            H, group, Lq, Lk, D, float(scale))
    meta = dict(IS_CAUSAL=bool(is_causal), HAS_MASK=has_mask, BLOCK_D=max(16, triton.next_power_of_2(D)),
                DOT_FP32=dot_fp32, PRECISION=precision)
    _launch(_sdpa_fwd_tuned, _sdpa_fwd_kernel, B * H, Lq, "BLOCK_M", blocks, args, meta)
    return o, lse


def sdpa_bwd(go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad=False, blocks=None):
    """Backward of `sdpa_fwd` (FlashAttention-2: nothing of size Lq x Lk is stored unless asked for).

    Returns ``(gq, gk, gv)``, or ``(gq, gk, gv, gmask)`` when ``need_mask_grad``: gmask is the gradient of the
    additive mask at the broadcast shape (B, H, Lq, Lk), in the mask's dtype. With grouped-query attention
    gk and gv have k's (B, Hkv, Lk, D) shape and sum over each group. ``blocks`` as in `sdpa_fwd`."""
    group = _check_qkv(q, k, v)
    _check_blocks(blocks)
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
    block_d = max(16, triton.next_power_of_2(D))
    dot_fp32, precision = dot_config(q.dtype)
    delta = runtime.empty((B, H, Lq), np.float32, device=dev)
    _sdpa_bwd_delta_kernel[launch_grid(B * H, Lq, _DELTA_BLOCK_M)](
        o, go, delta, *o.element_strides, *go.element_strides, H, Lq, D, BLOCK_M=_DELTA_BLOCK_M, BLOCK_D=block_d,
        num_warps=_delta_warps(block_d))
    common = (*q.element_strides, *k.element_strides, *v.element_strides, *m_strides, *go.element_strides,
              H, group, Lq, Lk, D, float(scale))
    meta = dict(IS_CAUSAL=bool(is_causal), HAS_MASK=has_mask, BLOCK_D=block_d, DOT_FP32=dot_fp32,
                PRECISION=precision)
    _launch(_sdpa_bwd_dkdv_tuned, _sdpa_bwd_dkdv_kernel, B * k.shape[1], Lk, "BLOCK_N", blocks,
            (q, k, v, m, go, lse, delta, gk, gv, *common), meta)
    _launch(_sdpa_bwd_dq_tuned, _sdpa_bwd_dq_kernel, B * H, Lq, "BLOCK_M", blocks,
            (q, k, v, m, go, lse, delta, gq, gq if gmask is None else gmask, *common),
            {**meta, "STORE_DS": bool(need_mask_grad)})
    return (gq, gk, gv) + ((gmask,) if need_mask_grad else ())


# ------------------------------------------------------------------------------------------- AOT specs

def aot_specs():
    """The autotuned kernels at head dims 128 and 64 for bf16 and fp32 (causal without a mask, and masked not
    causal), fp16 causal, a grouped-query variant (bf16, D = 128, causal, GROUP unspecialized) and the
    mask-gradient dq (bf16, D = 64, masked); each compiled by the report in every config the autotuner would
    keep. Typical-shape specializations: contiguous last dims (unit strides), other strides and the sizes
    divisible by 16, GROUP = 1 (plain multi-head attention)."""
    strides = [f"stride_{t}{d}" for t in "qkvmgo" for d in ("b", "h", "m", "n", "d")]
    hints = {s: 1 if s[-1] == "d" or s == "stride_mn" else 16 for s in strides}
    hints.update(LQ=16, LK=16, HEAD_D=16, GROUP=1)

    def spec(name, kernel, types, constexprs, gqa=False, num_warps=4):
        fn = kernel.fn if hasattr(kernel, "configs") else kernel
        h = {p: v for p, v in hints.items() if p in fn.arg_names and not (gqa and p == "GROUP")}
        return aot_spec(name, kernel, types, constexprs, num_warps=num_warps, hints=h)

    for ty, head_dims, variants in (("bf16", (128, 64), ("causal", "mask")), ("fp16", (128, 64), ("causal",)),
                                    ("fp32", (128, 64), ("causal", "mask"))):
        p = "*" + ty
        stats = {"LSE": "*fp32", "DELTA": "*fp32", "scale": "fp32"}
        fwd = {"Q": p, "K": p, "V": p, "MASK": p, "O": p, "LSE": "*fp32", "scale": "fp32"}
        dkdv = {"Q": p, "K": p, "V": p, "MASK": p, "GO": p, "GK": p, "GV": p, **stats}
        dq = {"Q": p, "K": p, "V": p, "MASK": p, "GO": p, "GQ": p, "GMASK": p, **stats}
        for head_d in head_dims:
            tile = {"BLOCK_D": head_d, "DOT_FP32": False, "PRECISION": "ieee"}
            for variant in variants:
                const = {"IS_CAUSAL": variant == "causal", "HAS_MASK": variant == "mask", **tile}
                tag = f"{ty}_d{head_d}_{variant}"
                yield spec(f"sdpa_fwd_{tag}", _sdpa_fwd_tuned, fwd, const)
                yield spec(f"sdpa_bwd_dkdv_{tag}", _sdpa_bwd_dkdv_tuned, dkdv, const)
                yield spec(f"sdpa_bwd_dq_{tag}", _sdpa_bwd_dq_tuned, dq, {**const, "STORE_DS": False})
                if (ty, head_d, variant) == ("bf16", 64, "mask"):
                    yield spec(f"sdpa_bwd_dq_{tag}_ds", _sdpa_bwd_dq_tuned, dq, {**const, "STORE_DS": True})
                if (ty, head_d, variant) == ("bf16", 128, "causal"):
                    yield spec(f"sdpa_fwd_{tag}_gqa", _sdpa_fwd_tuned, fwd, const, gqa=True)
                    yield spec(f"sdpa_bwd_dkdv_{tag}_gqa", _sdpa_bwd_dkdv_tuned, dkdv, const, gqa=True)
                    yield spec(f"sdpa_bwd_dq_{tag}_gqa", _sdpa_bwd_dq_tuned, dq, {**const, "STORE_DS": False},
                               gqa=True)
            yield spec(f"sdpa_bwd_delta_{ty}_d{head_d}", _sdpa_bwd_delta_kernel, {"O": p, "GO": p, "DELTA": "*fp32"},
                       {"BLOCK_M": _DELTA_BLOCK_M, "BLOCK_D": head_d}, num_warps=_delta_warps(head_d))
