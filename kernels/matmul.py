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


# (BLOCK_M, BLOCK_N, BLOCK_K, num_stages, num_warps). Tensor-core tiles serve fp16, bf16 and tf32; fp32 "ieee"
# and fp64 dots are FMA loops whose accumulator and operands all sit in registers, so they get small tiles.
# Every tile here compiles without register spills on sm_80 and sm_90 (`python -m bench.inspect_kernels`), with
# triton 3.9 and 3.6 (left out as triton 3.6 spills them, 4 to 12 B: 128x256x64 on 8 warps, 128x128x32,
# 128x64x32 and 64x128x32 on 4 warps in 4 stages on sm_80, the FMA 64x32x32 in fp64 on sm_90).
_TENSOR_CORE_TILES = ((128, 128, 64, 3, 8), (64, 256, 32, 4, 4), (128, 32, 32, 4, 4),
                      (64, 64, 64, 3, 4), (64, 32, 32, 5, 2), (32, 64, 32, 5, 2))
_FMA_TILES = ((64, 64, 32, 3, 4), (32, 64, 32, 3, 4), (32, 32, 32, 3, 2))
_SHARED_BUDGET = 160 * 1024
"""Bytes of shared memory a config's pipelined operand tiles may take: under the smallest per-block limit of
the targets (sm_80: 163 KB), leaving room for the epilogue's layout conversions."""
_EPILOGUE_ACC_PER_THREAD = 64
"""Most fp32 accumulator elements per thread with a bias/activation epilogue: at 128 (e.g. 128x128 tiles on 4
warps, 128x256 on 8) the epilogue's extra live values (pre-activation, erf/exp terms) spill."""


def _tile_configs(tiles):
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8}, num_stages=s, num_warps=w)
            for m, n, k, s, w in dict.fromkeys(tiles)]


def _configs():
    if runtime.interpreting():     # one config: the interpreter never benchmarks
        return _tile_configs([(64, 64, 32, 1, 4)])
    return _tile_configs(_TENSOR_CORE_TILES + _FMA_TILES)


def _prune_configs(configs, named_args, **kwargs):
    """The configs the autotuner benchmarks for one launch (its ``early_config_prune``): tensor-core tiles for
    fp16/bf16/tf32, FMA tiles for fp32 "ieee" and fp64, only those whose operand pipeline fits `_SHARED_BUDGET`
    (e.g. fp32 128x256x64 in 3 stages would need 294 KB), and with an epilogue only those within
    `_EPILOGUE_ACC_PER_THREAD`."""
    dtype = str(named_args["a_ptr"].dtype)
    itemsize = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}[dtype]
    tensor_cores = itemsize == 2 or kwargs.get("INPUT_PRECISION") == "tf32"
    tiles = _TENSOR_CORE_TILES if tensor_cores else _FMA_TILES
    epilogue = kwargs.get("HAS_BIAS") or kwargs.get("ACTIVATION", "none") != "none"
    kept = []
    for c in configs:
        m, n, k = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]
        acc_per_thread = m * n // (32 * c.num_warps)
        if ((m, n, k, c.num_stages, c.num_warps) in tiles and (m + n) * k * itemsize * c.num_stages <= _SHARED_BUDGET
                and not (epilogue and acc_per_thread > _EPILOGUE_ACC_PER_THREAD)):
            kept.append(c)
    return kept or configs[:1]


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


@triton.autotune(configs=_configs(), key=["M", "N", "K"],
                 prune_configs_by=None if runtime.interpreting() else {"early_config_prune": _prune_configs})
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
    """``(name, kernel, signature, constexprs, options)`` of the autotuned kernel (``UPCAST_BF16_DOT`` off), each
    compiled in every config the autotuner would keep: fp32 ieee, fp32 tf32, fp16, bf16 (named
    ``matmul_bf16*``: sm_90 must use wgmma), bf16 with a transposed b (``x @ W.T`` of ``nn.Linear``), fp64, and
    the epilogue variants (bias + each activation, with the pre-activation stored). Contiguous operands
    of sizes divisible by 16, as the JIT specializes them for typical shapes."""
    def spec(name, dtype, precision="ieee", bias=False, activation="none", preact=False, b_transposed=False):
        t = _DTYPES[dtype]
        cx = {"HAS_BIAS": bias, "ACTIVATION": activation, "STORE_PREACT": preact, "INPUT_PRECISION": precision,
              "UPCAST_BF16_DOT": False, "ACC": tl.float64 if dtype == "float64" else tl.float32}
        ptrs = {p: f"*{t}" for p in ("a_ptr", "b_ptr", "c_ptr", "bias_ptr", "pre_ptr")}
        hints = {p: 16 for p in ("M", "N", "K", "stride_ab", "stride_am", "stride_bb", "stride_cb", "stride_cm")}
        hints.update(stride_ak=1, stride_cn=1, stride_bias=1)
        hints.update({"stride_bk": 1, "stride_bn": 16} if b_transposed else {"stride_bk": 16, "stride_bn": 1})
        return aot_spec(name, _matmul_fwd_kernel, ptrs, cx, hints=hints)

    yield spec("matmul_fp32", "float32")
    yield spec("matmul_tf32", "float32", precision="tf32")
    yield spec("matmul_fp16", "float16")
    yield spec("matmul_bf16", "bfloat16")
    yield spec("matmul_bf16_bt", "bfloat16", b_transposed=True)
    yield spec("matmul_fp64", "float64")
    for act, dtype in ((None, "float32"), ("relu", "bfloat16"), ("gelu", "float32"), ("gelu_tanh", "bfloat16"),
                       ("silu", "float16"), ("gelu", "bfloat16")):
        name = f"matmul_bias_{act or 'none'}_{_DTYPES[dtype]}"
        yield spec(name, dtype, bias=True, activation=act or "none", preact=act is not None)
