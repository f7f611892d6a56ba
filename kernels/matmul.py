"""Batched matrix multiply with a fused bias + activation epilogue, as a Triton kernel on `DeviceArray`s.

``matmul(a, b, allow_tf32=False, bias=None, activation=None, out_preact=False)``: ``a`` (B, M, K) @
``b`` (B, K, N) -> (B, M, N) for any strides (a batch stride may be 0, a transposed operand is a free
view). fp16/bf16/fp32 accumulate in fp32, fp64 in fp64. fp32 is exact IEEE by default
(``tl.dot(..., input_precision="ieee")``); ``allow_tf32=True`` uses tf32 tensor cores. The epilogue adds
``bias`` (N,) and applies ``activation`` in ("relu", "gelu", "gelu_tanh", "silu", None) in fp32 before the
single rounding to the output dtype; ``out_preact=True`` also returns the pre-activation (after the bias)
so the backward can differentiate the activation.

Tiles are autotuned over a handful of configs keyed on (M, N, K), with grouped program ordering (GROUP_M
row tiles share a column panel of ``b``, for L2 reuse). Autotuning benchmarks through the active driver's
``get_benchmarker()``; the interpreter gets a single small config, so it never benchmarks.

bf16 operands stay bf16 (wgmma on sm_90), in Triton's interpreter too (`runtime.interpreter_numerics` makes
its bf16 and tf32 dots the GPU's); ``UPCAST_BF16_DOT`` (from `dot_config`) is never set any more.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to, dot_config, mma

__all__ = ["matmul", "aot_specs", "ACTIVATIONS"]

ACTIVATIONS = (None, "relu", "gelu", "gelu_tanh", "silu")
_DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32", "float64": "fp64"}


def _configs():
    if runtime.interpreting():
        return [triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8}, num_warps=4,
                              num_stages=1)]
    tiles = [  # (BLOCK_M, BLOCK_N, BLOCK_K, num_stages, num_warps)
        (128, 256, 64, 3, 8), (128, 128, 64, 3, 8), (64, 256, 32, 4, 4), (128, 128, 32, 4, 4),
        (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (128, 32, 32, 4, 4), (64, 64, 32, 4, 4),
        (64, 32, 32, 5, 2), (32, 64, 32, 5, 2),
    ]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8}, num_stages=s, num_warps=w)
            for m, n, k, s, w in tiles]


@triton.jit
def _activate(x, ACTIVATION: tl.constexpr):
    if ACTIVATION == "relu":
        y = tl.maximum(x, 0.0)
    elif ACTIVATION == "gelu":
        y = 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))
    elif ACTIVATION == "gelu_tanh":
        # tanh(z) = 2 sigmoid(2z) - 1, z = sqrt(2/pi) (x + 0.044715 x^3)
        z = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        y = 0.5 * x * (1.0 + (2.0 / (1.0 + tl.exp(-2.0 * z)) - 1.0))
    elif ACTIVATION == "silu":
        y = x / (1.0 + tl.exp(-x))
    else:
        tl.static_assert(ACTIVATION == "none")
        y = x
    return y


@triton.autotune(configs=_configs(), key=["M", "N", "K"])
@triton.jit
def _matmul_fwd_kernel(a_ptr, b_ptr, c_ptr, bias_ptr, pre_ptr,
                       M, N, K,
                       stride_ab, stride_am, stride_ak,     # element strides of a (batch stride may be 0)
                       stride_bb, stride_bk, stride_bn,
                       stride_cb, stride_cm, stride_cn,     # c and pre (same layout)
                       stride_bias,
                       HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr, STORE_PREACT: tl.constexpr,
                       INPUT_PRECISION: tl.constexpr, UPCAST_BF16_DOT: tl.constexpr, ACC: tl.constexpr,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       GROUP_M: tl.constexpr):
    # one program per (batch, BLOCK_M x BLOCK_N tile) on a flat grid; tiles are ordered in groups of
    # GROUP_M row tiles that walk the same column tiles together
    pid = tl.program_id(0).to(tl.int64)
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    tiles = grid_m * grid_n
    batch = pid // tiles
    tile = pid - batch * tiles
    group_size = GROUP_M * grid_n
    first_m = (tile // group_size) * GROUP_M
    rows_in_group = tl.minimum(grid_m - first_m, GROUP_M)
    pid_m = first_m + (tile % group_size) % rows_in_group
    pid_n = (tile % group_size) // rows_in_group

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + batch * stride_ab + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + batch * stride_bb + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    mask_m = offs_m < M
    mask_n = offs_n < N
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=ACC)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=mask_m[:, None] & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & mask_n[None, :], other=0.0)
        acc = mma(a, b, acc, UPCAST_BF16_DOT, INPUT_PRECISION)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_n * stride_bias, mask=mask_n, other=0.0).to(ACC)[None, :]
    c_offs = batch * stride_cb + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    mask = mask_m[:, None] & mask_n[None, :]
    if STORE_PREACT:
        tl.store(pre_ptr + c_offs, cast_to(acc, pre_ptr.dtype.element_ty), mask=mask)
    out = _activate(acc, ACTIVATION)
    tl.store(c_ptr + c_offs, cast_to(out, c_ptr.dtype.element_ty), mask=mask)


def _batch_stride(arr, batch):
    """Element stride of ``arr``'s batch dim when broadcast to ``batch`` (a batch of 1 gets stride 0)."""
    return 0 if arr.shape[0] == 1 and batch != 1 else arr.element_strides[0]


def matmul(a, b, allow_tf32=False, bias=None, activation=None, out_preact=False):
    """``torch.matmul`` for 3-D operands (``torch.bmm`` with a broadcast batch of 1 allowed), optionally
    fused with ``torch.nn.functional.linear``'s bias and an activation.

    ``a`` (B, M, K) and ``b`` (B, K, N) of one floating dtype, any strides -> a new contiguous (B, M, N) of
    that dtype: ``activation(a @ b + bias)``. ``bias``: (N,) of the same dtype or None. ``activation``: one
    of ``ACTIVATIONS`` ("gelu" is the erf form, "gelu_tanh" the tanh approximation). ``allow_tf32`` lets
    fp32 operands use tf32 (``torch.backends.cuda.matmul.allow_tf32``). With ``out_preact=True`` returns
    ``(out, preact)`` where ``preact = a @ b + bias`` (the activation's input)."""
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"matmul: expected 3-D operands (B, M, K) and (B, K, N), got {a.shape} and {b.shape}")
    (ba, m, k), (bb, k2, n) = a.shape, b.shape
    if k != k2 or (ba != bb and 1 not in (ba, bb)):
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied")
    dt = np.dtype(a.dtype)
    if dt != np.dtype(b.dtype) or dt.name not in _DTYPES:
        raise TypeError(f"matmul: operands must share one floating dtype (float16, bfloat16, float32, "
                        f"float64), got {a.dtype} and {b.dtype}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"matmul: unknown activation {activation!r} (expected one of {ACTIVATIONS})")
    if bias is not None and (tuple(bias.shape) != (n,) or np.dtype(bias.dtype) != dt):
        raise ValueError(f"matmul: bias must be ({n},) {dt}, got {bias.shape} {bias.dtype}")
    if a.device != b.device or (bias is not None and bias.device != a.device):
        raise RuntimeError(f"matmul: operands on different devices: {a.device}, {b.device}")
    batch = max(ba, bb)
    c = runtime.empty((batch, m, n), dt, a.device)
    pre = runtime.empty((batch, m, n), dt, a.device) if out_preact else c
    if c.numel() > 0:
        cs = c.element_strides
        grid = lambda meta: (batch * triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(n, meta["BLOCK_N"]),)  # noqa: E731
        _matmul_fwd_kernel[grid](
            a, b, c, bias if bias is not None else c, pre, m, n, k,
            _batch_stride(a, batch), *a.element_strides[1:], _batch_stride(b, batch), *b.element_strides[1:],
            *cs, bias.element_strides[0] if bias is not None else 0,
            HAS_BIAS=bias is not None, ACTIVATION=activation or "none", STORE_PREACT=bool(out_preact),
            INPUT_PRECISION="tf32" if allow_tf32 and dt.name == "float32" else "ieee",
            UPCAST_BF16_DOT=dot_config(dt)[0],
            ACC=tl.float64 if dt.name == "float64" else tl.float32)
    return (c, pre) if out_preact else c


def aot_specs():
    """``(name, jit_fn, signature, constexprs, options)`` of the compiled kernel (``UPCAST_BF16_DOT`` off):
    fp32 ieee, fp32 tf32, fp16, bf16 (named ``matmul_bf16``: 128x128x64 tiles, 8 warps, so sm_90 gets
    wgmma), fp64, and the epilogue variants (bias + each activation, with the pre-activation stored)."""
    def spec(name, dtype, precision="ieee", bias=False, activation="none", preact=False,
             tile=(128, 128, 64), warps=8, stages=3):
        t = _DTYPES[dtype]
        cx = {"HAS_BIAS": bias, "ACTIVATION": activation, "STORE_PREACT": preact, "INPUT_PRECISION": precision,
              "UPCAST_BF16_DOT": False, "ACC": tl.float64 if dtype == "float64" else tl.float32,
              "BLOCK_M": tile[0], "BLOCK_N": tile[1], "BLOCK_K": tile[2], "GROUP_M": 8}
        ptrs = {p: f"*{t}" for p in ("a_ptr", "b_ptr", "c_ptr", "bias_ptr", "pre_ptr")}
        return aot_spec(name, _matmul_fwd_kernel.fn, ptrs, cx, num_warps=warps, num_stages=stages)

    # fp32 "ieee" dots are FMA loops: a small tile keeps their compile time short
    small = dict(tile=(64, 64, 32), warps=4)
    yield spec("matmul_fp32", "float32", **small)
    yield spec("matmul_tf32", "float32", precision="tf32", tile=(128, 128, 32), warps=8)
    yield spec("matmul_fp16", "float16")
    yield spec("matmul_bf16", "bfloat16")
    yield spec("matmul_fp64", "float64", tile=(64, 64, 16), warps=4, stages=2)
    for act, dtype in ((None, "float32"), ("relu", "bfloat16"), ("gelu", "float32"), ("gelu_tanh", "bfloat16"),
                       ("silu", "float16"), ("gelu", "bfloat16")):
        name = f"matmul_bias_{act or 'none'}_{_DTYPES[dtype]}"
        yield spec(name, dtype, bias=True, activation=act or "none", preact=act is not None,
                   **(small if dtype == "float32" else {}))
