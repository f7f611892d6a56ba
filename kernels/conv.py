"""2-D convolution (NCHW, groups, stride, padding, dilation) as implicit GEMMs, forward and backward.

No im2col buffer is ever written: each kernel computes the input address of every (output position, filter
tap) pair on the fly and feeds tiles to ``tl.dot`` with fp32 accumulation. Per group ``g``:

* forward      y[n, co, oh, ow]   = sum_{ci, kh, kw} x[n, ci, oh*s - p + kh*d, ...] * w[co, ci, kh, kw] (+ b[co])
               GEMM (N*OH*OW) x Cout/G, reduction over Cin/G*KH*KW;
* input grad   gx[n, ci, ih, iw]  = sum_{co, kh, kw} gy[n, co, (ih + p - kh*d) / s, ...] * w[co, ci, kh, kw]
               over taps where the division is exact; GEMM (N*H*W) x Cin/G, reduction over Cout/G*KH*KW;
* weight grad  gw[co, ci, kh, kw] = sum_{n, oh, ow} gy[n, co, oh, ow] * x[n, ci, oh*s - p + kh*d, ...]
               GEMM Cout/G x (Cin/G*KH*KW), reduction over N*OH*OW, split along the reduction (``split_k``)
               into fp32 partial sums when the output alone gives too few programs;
* bias grad    a reduction of gy over (N, OH, OW) (the same kernel sums the split-k partials).

Inputs may have any element strides; outputs are new contiguous arrays. fp32, fp16, bf16 (fp32 with
full-precision dots). Limits: the input-gradient kernel visits every tap for stride > 1 and masks those
that do not land on an output (simple, not the fastest for strided convolutions).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to, dot_config, mma, program_ids

__all__ = ["conv2d_fwd", "conv2d_bwd_input", "conv2d_bwd_weight", "conv2d_bwd_bias", "aot_specs"]

_SUPPORTED = ("float32", "float16", "bfloat16")


@triton.jit
def _conv2d_fwd_kernel(
    X, Wt, BIAS, Y,                     # Y (N, Cout, OH, OW) contiguous
    N, H, W, OH, OW, KH, KW, C_IN_G, C_OUT_G, C_OUT,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sxn, sxc, sxh, sxw,                 # x element strides
    swo, swi, swh, sww,                 # weight element strides
    sb,                                 # bias element stride
    HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    ohw = OH * OW
    pid_m, pid_n, g = program_ids(tl.cdiv(N * ohw, BLOCK_M), tl.cdiv(C_OUT_G, BLOCK_N))
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)          # (n, oh, ow) flattened
    m_ok = offs_m < N * ohw
    n = offs_m // ohw
    r = offs_m % ohw
    ih0 = (r // OW) * stride_h - pad_h
    iw0 = (r % OW) * stride_w - pad_w
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)              # output channel within the group
    co_ok = co < C_OUT_G
    co_abs = g * C_OUT_G + co
    # address of x[n, g * C_IN_G + ci, ih0 + dh, iw0 + dw] = x_rows[m] + x_cols[k]: one 2-D add per element
    x_rows = X + n * sxn + g * C_IN_G * sxc + ih0 * sxh + iw0 * sxw
    taps = KH * KW
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, C_IN_G * taps, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)                       # (ci, kh, kw) flattened
        k_ok = kk < C_IN_G * taps
        ci = (kk // taps).to(tl.int64)                        # ci * sxc may pass 2**31 for strided views
        kh = (kk % taps) // KW
        kw = kk % KW
        dh = kh * dil_h
        dw = kw * dil_w
        x_cols = ci * sxc + dh * sxh + dw * sxw
        ih = ih0[:, None] + dh[None, :]
        iw = iw0[:, None] + dw[None, :]
        a_ok = m_ok[:, None] & k_ok[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        a = tl.load(x_rows[:, None] + x_cols[None, :], mask=a_ok, other=0.0)
        b = tl.load(Wt + co_abs[None, :] * swo + ci[:, None] * swi + kh[:, None] * swh + kw[:, None] * sww,
                    mask=k_ok[:, None] & co_ok[None, :], other=0.0)
        acc = mma(a, b, acc, DOT_FP32, PRECISION)
    if HAS_BIAS:
        acc += tl.load(BIAS + co_abs * sb, mask=co_ok, other=0.0).to(tl.float32)[None, :]
    y = Y + (n * C_OUT * ohw + r)[:, None] + co_abs[None, :] * ohw
    tl.store(y, cast_to(acc, Y.dtype.element_ty), mask=m_ok[:, None] & co_ok[None, :])


@triton.jit
def _conv2d_bwd_input_kernel(
    GY, Wt, GX,                         # GX (N, Cin, H, W) contiguous
    N, H, W, OH, OW, KH, KW, C_IN_G, C_OUT_G, C_IN,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sgn, sgc, sgh, sgw,                 # gy element strides
    swo, swi, swh, sww,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    hw = H * W
    pid_m, pid_n, g = program_ids(tl.cdiv(N * hw, BLOCK_M), tl.cdiv(C_IN_G, BLOCK_N))
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)          # (n, ih, iw) flattened
    m_ok = offs_m < N * hw
    n = offs_m // hw
    r = offs_m % hw
    th0 = r // W + pad_h
    tw0 = r % W + pad_w
    ci = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)              # input channel within the group
    ci_ok = ci < C_IN_G
    gy_rows = GY + n * sgn + g * C_OUT_G * sgc
    taps = KH * KW
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, C_OUT_G * taps, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)                       # (co, kh, kw) flattened
        k_ok = kk < C_OUT_G * taps
        co = (kk // taps).to(tl.int64)                        # co * sgc may pass 2**31 for strided views
        kh = (kk % taps) // KW
        kw = kk % KW
        th = th0[:, None] - kh[None, :] * dil_h                # oh * stride_h when the tap lands on an output
        tw = tw0[:, None] - kw[None, :] * dil_w
        a_ok = m_ok[:, None] & k_ok[None, :] & (th >= 0) & (tw >= 0)
        th = tl.where(a_ok, th, 0)                             # keep // and % away from negative operands
        tw = tl.where(a_ok, tw, 0)
        oh = th // stride_h
        ow = tw // stride_w
        a_ok = a_ok & (th % stride_h == 0) & (tw % stride_w == 0) & (oh < OH) & (ow < OW)
        a = tl.load(gy_rows[:, None] + co[None, :] * sgc + oh * sgh + ow * sgw, mask=a_ok, other=0.0)
        b = tl.load(Wt + (g * C_OUT_G + co)[:, None] * swo + ci[None, :] * swi + (kh * swh + kw * sww)[:, None],
                    mask=k_ok[:, None] & ci_ok[None, :], other=0.0)
        acc = mma(a, b, acc, DOT_FP32, PRECISION)
    gx = GX + (n * C_IN * hw + r)[:, None] + (g * C_IN_G + ci)[None, :] * hw
    tl.store(gx, cast_to(acc, GX.dtype.element_ty), mask=m_ok[:, None] & ci_ok[None, :])


@triton.jit
def _conv2d_bwd_weight_kernel(
    GY, X, OUT,                         # OUT (SPLIT_K, Cout, Cin/G*KH*KW): gw itself when SPLIT_K == 1
    N, H, W, OH, OW, KH, KW, C_IN_G, C_OUT_G, C_OUT,
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    sgn, sgc, sgh, sgw,
    sxn, sxc, sxh, sxw,
    k_per_split,                        # reduction elements per split, a multiple of BLOCK_K
    SPLIT_K: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):
    taps = KH * KW
    kw_tot = C_IN_G * taps
    pid_m, pid_n, pid_z = program_ids(tl.cdiv(C_OUT_G, BLOCK_M), tl.cdiv(kw_tot, BLOCK_N))
    g = pid_z // SPLIT_K
    split = pid_z % SPLIT_K
    co = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)              # output channel within the group
    co_ok = co < C_OUT_G
    j = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)               # (ci, kh, kw) flattened
    j_ok = j < kw_tot
    ci = j // taps
    kh = (j % taps) // KW
    kw = j % KW
    ohw = OH * OW
    k_total = N * ohw
    k_lo = split * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, k_total)
    gy_cols = GY + (g * C_OUT_G + co) * sgc
    dh = kh * dil_h
    dw = kw * dil_w
    # address of x[n, g * C_IN_G + ci, ih0 + dh, iw0 + dw] = x_cols[j] + x_rows[k]: one 2-D add per element
    x_cols = X + (g * C_IN_G + ci) * sxc + dh * sxh + dw * sxw
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(k_lo, k_hi, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)                       # (n, oh, ow) flattened
        k_ok = kk < k_hi
        n = kk // ohw
        oh = (kk % ohw) // OW
        ow = kk % OW
        a = tl.load(gy_cols[:, None] + (n * sgn + oh * sgh + ow * sgw)[None, :],
                    mask=co_ok[:, None] & k_ok[None, :], other=0.0)
        ih0 = oh * stride_h - pad_h
        iw0 = ow * stride_w - pad_w
        ih = ih0[:, None] + dh[None, :]
        iw = iw0[:, None] + dw[None, :]
        b_ok = k_ok[:, None] & j_ok[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        x_rows = n * sxn + ih0 * sxh + iw0 * sxw
        b = tl.load(x_cols[None, :] + x_rows[:, None], mask=b_ok, other=0.0)
        acc = mma(a, b, acc, DOT_FP32, PRECISION)
    out = OUT + split * C_OUT * kw_tot + (g * C_OUT_G + co)[:, None] * kw_tot + j[None, :]
    tl.store(out, cast_to(acc, OUT.dtype.element_ty), mask=co_ok[:, None] & j_ok[None, :])


@triton.jit
def _conv2d_bwd_reduce_kernel(
    SRC, OUT,                           # OUT[c] = sum_{a, r1, r2} SRC[a, c, r1, r2], OUT contiguous
    A, C, R1, R2,
    sa, sc, s1, s2,
    BLOCK_C: tl.constexpr, BLOCK_R: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    c = pid * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    acc = tl.zeros([BLOCK_C, BLOCK_R], tl.float32)
    base = SRC                          # advanced by pointer (64-bit) arithmetic: a * sa may overflow int32
    for _ in range(0, A):
        for r0 in range(0, R1 * R2, BLOCK_R):
            rr = r0 + tl.arange(0, BLOCK_R)
            off = (rr // R2).to(tl.int64) * s1 + (rr % R2) * s2
            acc += tl.load(base + c[:, None] * sc + off[None, :],
                           mask=c_ok[:, None] & (rr < R1 * R2)[None, :], other=0.0).to(tl.float32)
        base += sa
    tl.store(OUT + c, cast_to(tl.sum(acc, 1), OUT.dtype.element_ty), mask=c_ok)


# ------------------------------------------------------------------------------------------------ wrappers

def _check(name, *arrays):
    dt = arrays[0].dtype
    for a in arrays:
        if a.dtype.name not in _SUPPORTED:
            raise TypeError(f"{name}: dtype {a.dtype} is not supported by the Triton kernel "
                            f"(supported: {', '.join(_SUPPORTED)})")
        if a.dtype != dt:
            raise TypeError(f"{name}: all arrays must share a dtype, got {[str(b.dtype) for b in arrays]}")


_TILES = {
    # (kernel, fp32 operands): (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) of the big and the small tile
    ("fwd", False): ((64, 64, 16, 8, 3), (32, 32, 16, 4, 3)),
    ("fwd", True): ((64, 64, 16, 8, 3), (32, 32, 16, 4, 3)),
    ("bwd_input", False): ((64, 64, 16, 8, 3), (32, 32, 16, 4, 3)),
    ("bwd_input", True): ((64, 64, 16, 8, 3), (32, 32, 16, 8, 2)),
    ("bwd_weight", False): ((64, 64, 16, 8, 3), (32, 32, 16, 4, 3)),
    ("bwd_weight", True): ((64, 64, 16, 8, 2), (32, 32, 16, 8, 2)),
}
"""The implicit GEMMs' tiles, warps and pipeline depth per kernel and operand kind (fp32: IEEE FMA dots; fp16 and
bf16: tensor cores). Each element of an operand tile carries its own address and bounds mask (the im2col
gather), so a program holds far more live values than a plain matmul tile: the former 64x64x32 tile on 4 warps
spilled in every GEMM kernel (up to 3.5 KB on sm_80, fp32 worst). BLOCK_K 16 and 8 warps on 64x64 fit; the
stages and the small tile's warps are what compiles without spills on sm_80 and sm_90 with both triton 3.6 and
3.9 (ptxas spills a few bytes at 80 or 128 registers with the other choices, e.g. fp32 weight gradient at 3
stages sits at 255 registers with triton 3.6). `aot_specs` compiles every entry: `python -m
bench.inspect_kernels`."""


def _gemm_blocks(kernel, m, n, dtype_name):
    """``(BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages)`` of `_TILES` for ``kernel``'s implicit GEMM of size
    m x n on operands of dtype ``dtype_name`` (``"float32"``...): the big tile when both sides pass 32."""
    big, small = _TILES[kernel, dtype_name == "float32"]
    return big if m > 32 and n > 32 else small


def _geometry(stride, padding, dilation):
    return (*stride, *padding, *dilation)


def conv2d_fwd(x, w, b, stride, padding, dilation, groups, out_hw):
    """``torch.nn.functional.conv2d`` on `DeviceArray`s. ``stride``, ``padding``, ``dilation`` int pairs,
    ``out_hw`` the output size (OH, OW) the caller computed with PyTorch's formula. Returns y (N, Cout, OH, OW)."""
    _check("conv2d", x, w, *(() if b is None else (b,)))
    n, c_in, h, wd = x.shape
    c_out, c_in_g, kh, kw = w.shape
    if c_in != c_in_g * groups or c_out % groups:
        raise ValueError(f"conv2d: input {x.shape} and weight {w.shape} do not match groups={groups}")
    oh, ow = out_hw
    y = runtime.empty((n, c_out, oh, ow), x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    c_out_g = c_out // groups
    bm, bn, bk, warps, stages = _gemm_blocks("fwd", n * oh * ow, c_out_g, x.dtype.name)
    dot_fp32, precision = dot_config(x.dtype)
    _conv2d_fwd_kernel[(triton.cdiv(n * oh * ow, bm) * triton.cdiv(c_out_g, bn) * groups,)](
        x, w, x if b is None else b, y, n, h, wd, oh, ow, kh, kw, c_in_g, c_out_g, c_out,
        *_geometry(stride, padding, dilation), *x.element_strides, *w.element_strides,
        0 if b is None else b.element_strides[0],
        HAS_BIAS=b is not None, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, DOT_FP32=dot_fp32, PRECISION=precision,
        num_warps=warps, num_stages=stages)
    return y


def conv2d_bwd_input(gy, w, x_shape, stride, padding, dilation, groups):
    """Gradient of `conv2d_fwd` w.r.t. its input (shape ``x_shape``) given ``gy`` (N, Cout, OH, OW)."""
    _check("conv2d_bwd_input", gy, w)
    n, c_in, h, wd = x_shape
    c_out, c_in_g, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    gx = runtime.empty(tuple(x_shape), gy.dtype, device=gy.device)
    if gx.numel() == 0:
        return gx
    c_out_g = c_out // groups
    bm, bn, bk, warps, stages = _gemm_blocks("bwd_input", n * h * wd, c_in_g, gy.dtype.name)
    dot_fp32, precision = dot_config(gy.dtype)
    _conv2d_bwd_input_kernel[(triton.cdiv(n * h * wd, bm) * triton.cdiv(c_in_g, bn) * groups,)](
        gy, w, gx, n, h, wd, oh, ow, kh, kw, c_in_g, c_out_g, c_in,
        *_geometry(stride, padding, dilation), *gy.element_strides, *w.element_strides,
        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, DOT_FP32=dot_fp32, PRECISION=precision, num_warps=warps,
        num_stages=stages)
    return gx


def _reduce(src4, out):
    """out[c] = sum of ``src4`` (A, C, R1, R2) over all axes but 1, by `_conv2d_bwd_reduce_kernel`."""
    a, c, r1, r2 = src4.shape
    block_r = min(128, triton.next_power_of_2(max(r1 * r2, 1)))
    block_c = max(1, 2048 // block_r)
    block_c = min(block_c, max(1, triton.next_power_of_2(c)))
    _conv2d_bwd_reduce_kernel[(triton.cdiv(c, block_c),)](
        src4, out, a, c, r1, r2, *src4.element_strides, BLOCK_C=block_c, BLOCK_R=block_r, num_warps=4)
    return out


def _default_split_k(tiles, k_blocks):
    # enough programs to fill a GPU (~2 waves of 132 SMs) while every split keeps >= 4 blocks of reduction
    return max(1, min(triton.cdiv(264, tiles), k_blocks // 4))


def conv2d_bwd_weight(gy, x, w_shape, stride, padding, dilation, groups, split_k=None):
    """Gradient of `conv2d_fwd` w.r.t. its weight (shape ``w_shape``) given ``gy`` and the input ``x``.
    ``split_k`` (default: chosen from the sizes) splits the N*OH*OW reduction into fp32 partial sums."""
    _check("conv2d_bwd_weight", gy, x)
    n, _, h, wd = x.shape
    c_out, c_in_g, kh, kw = w_shape
    oh, ow = gy.shape[2:]
    gw = runtime.empty(tuple(w_shape), gy.dtype, device=gy.device)
    if gw.numel() == 0:
        return gw
    c_out_g = c_out // groups
    k_total = n * oh * ow
    bm, bn, bk, warps, stages = _gemm_blocks("bwd_weight", c_out_g, c_in_g * kh * kw, gy.dtype.name)
    grid_mn = (triton.cdiv(c_out_g, bm), triton.cdiv(c_in_g * kh * kw, bn))
    k_blocks = triton.cdiv(k_total, bk)
    split = _default_split_k(grid_mn[0] * grid_mn[1] * groups, k_blocks) if split_k is None else int(split_k)
    split = max(1, min(split, k_blocks))
    k_per_split = triton.cdiv(k_blocks, split) * bk
    split = triton.cdiv(k_total, k_per_split)         # no empty splits
    out = gw if split == 1 else runtime.empty((split, c_out, c_in_g * kh * kw), np.float32, device=gy.device)
    dot_fp32, precision = dot_config(gy.dtype)
    _conv2d_bwd_weight_kernel[(grid_mn[0] * grid_mn[1] * groups * split,)](
        gy, x, out, n, h, wd, oh, ow, kh, kw, c_in_g, c_out_g, c_out,
        *_geometry(stride, padding, dilation), *gy.element_strides, *x.element_strides, k_per_split,
        SPLIT_K=split, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, DOT_FP32=dot_fp32, PRECISION=precision,
        num_warps=warps, num_stages=stages)
    if split > 1:
        _reduce(out.view_as((split, c_out * c_in_g * kh * kw, 1, 1), (out.strides[0], out.itemsize, 0, 0)),
                gw.view_as((gw.numel(),), (gw.itemsize,)))
    return gw


def conv2d_bwd_bias(gy):
    """Gradient of the bias: ``gy`` (N, Cout, OH, OW) summed over N, OH, OW, fp32 accumulation."""
    _check("conv2d_bwd_bias", gy)
    gb = runtime.empty((gy.shape[1],), gy.dtype, device=gy.device)
    if gb.numel():
        _reduce(gy, gb)
    return gb


# ------------------------------------------------------------------------------------------- AOT specs

def aot_specs():
    """Each kernel for fp32 and bf16 in each tile of `_TILES` (``_t32``: the small one); weight gradient with
    split-k 1 and 4."""
    for ty, dtype_name in (("fp32", "float32"), ("bf16", "bfloat16")):
        p = "*" + ty
        for suffix, size in (("", 64), ("_t32", 32)):
            def tiled(kernel, **constexprs):
                bm, bn, bk, warps, stages = _gemm_blocks(kernel, size, size, dtype_name)
                return ({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "DOT_FP32": False, "PRECISION": "ieee",
                         **constexprs}, {"num_warps": warps, "num_stages": stages})
            for has_bias in (False, True):
                cx, opts = tiled("fwd", HAS_BIAS=has_bias)
                yield aot_spec(f"conv2d_fwd_{ty}{'_bias' if has_bias else ''}{suffix}", _conv2d_fwd_kernel,
                               {"X": p, "Wt": p, "BIAS": p, "Y": p}, cx, **opts)
            cx, opts = tiled("bwd_input")
            yield aot_spec(f"conv2d_bwd_input_{ty}{suffix}", _conv2d_bwd_input_kernel, {"GY": p, "Wt": p, "GX": p},
                           cx, **opts)
            for split in (1, 4):
                cx, opts = tiled("bwd_weight", SPLIT_K=split)
                yield aot_spec(f"conv2d_bwd_weight_{ty}_split{split}{suffix}", _conv2d_bwd_weight_kernel,
                               {"GY": p, "X": p, "OUT": p if split == 1 else "*fp32"}, cx, **opts)
        yield aot_spec(f"conv2d_bwd_reduce_{ty}", _conv2d_bwd_reduce_kernel, {"SRC": p, "OUT": p},
                       {"BLOCK_C": 16, "BLOCK_R": 128})
        yield aot_spec(f"conv2d_bwd_reduce_fp32_to_{ty}", _conv2d_bwd_reduce_kernel, {"SRC": "*fp32", "OUT": p},
                       {"BLOCK_C": 1024, "BLOCK_R": 1})
