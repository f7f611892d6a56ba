"""Dropout with a counter-based mask that is regenerated in backward, never stored.

Element ``i`` of the input in C order is kept when ``tl.rand(seed, offset + i) >= p`` (Philox4x32-10,
counter ``offset + i`` in 64 bits) and then scaled by ``1/(1-p)``; ``p == 1`` gives zeros. Backward applies
the same mask and scale to the upstream gradient, so one kernel serves both directions. The input may be any
strided view (broadcast included) that collapses to at most 4 dims (`_common.collapse_dims`); the output is
a new C-contiguous array. fp32/fp16/bf16; the scaling runs in fp32.
"""
from __future__ import annotations

import triton
import triton.language as tl

from tritongrad import runtime

from ._common import MAX_RANK, aot_spec, cast_to, collapse_dims, flat_index, launch_config, strided_offset
from .norm import check_operand

__all__ = ["dropout_fwd", "dropout_bwd", "aot_specs"]

@triton.jit
def _dropout_kernel(
    x_ptr, y_ptr,                   # y: C-contiguous, n elements
    n,
    D1, D2, D3,                     # the input collapsed to (D0, D1, D2, D3) (see _common.collapse_dims)
    s0, s1, s2, s3,                 # its element strides
    p, scale, seed, offset,
    RANK: tl.constexpr, BLOCK: tl.constexpr,
):
    idx = flat_index(BLOCK)
    mask = idx < n
    x = tl.load(x_ptr + strided_offset(idx, D1, D2, D3, s0, s1, s2, s3, RANK), mask=mask, other=0.0)
    keep = tl.rand(seed, offset + idx) >= p
    tl.store(y_ptr + idx, cast_to(tl.where(keep, x.to(tl.float32) * scale, 0.0), y_ptr.dtype.element_ty), mask=mask)


def _dropout(x, p, seed, offset, name):
    check_operand(name, x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not (0 <= seed < 2**64 and 0 <= offset < 2**63):
        raise ValueError(f"dropout needs 0 <= seed < 2**64 and 0 <= offset < 2**63, got seed={seed}, "
                         f"offset={offset}")
    y = runtime.empty(x.shape, x.dtype, x.device)
    n = x.numel()
    if n == 0:
        return y
    dims, (strides,) = collapse_dims(x.shape, [x.element_strides])
    if len(dims) > MAX_RANK:
        raise ValueError(f"dropout takes views that collapse to at most {MAX_RANK} dims; {name} has shape "
                         f"{x.shape} and strides {x.strides} (make it contiguous first)")
    rank = len(dims)
    dims = (1,) * (MAX_RANK - rank) + dims
    strides = (0,) * (MAX_RANK - rank) + strides
    block, num_warps = launch_config(n)
    _dropout_kernel[(triton.cdiv(n, block),)](
        x, y, n, *dims[1:], *strides, float(p), 0.0 if p == 1.0 else 1.0 / (1.0 - p), int(seed), int(offset),
        RANK=rank, BLOCK=block, num_warps=num_warps)
    return y


def dropout_fwd(x, p, seed, offset):
    """``torch.nn.functional.dropout(x, p, training=True)``: element ``i`` (C order) is kept when
    ``tl.rand(seed, offset + i) >= p`` and scaled by ``1/(1-p)``. A new contiguous array."""
    return _dropout(x, p, seed, offset, "input")


def dropout_bwd(gy, p, seed, offset):
    """Gradient of `dropout_fwd`: the mask regenerated from ``seed``/``offset`` applied to ``gy``."""
    return _dropout(gy, p, seed, offset, "grad_output")


def aot_specs():
    """Compile configurations: fp32 contiguous, bf16 strided (4 dims)."""
    for ty, rank in (("fp32", 1), ("bf16", 4)):
        yield aot_spec(f"dropout_{ty}_rank{rank}", _dropout_kernel,
                       {"x_ptr": f"*{ty}", "y_ptr": f"*{ty}", "n": "i64", "p": "fp32", "scale": "fp32",
                        "seed": "i64", "offset": "i64"},
                       {"RANK": rank, "BLOCK": 1024})
