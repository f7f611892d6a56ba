"""Random-number kernels: uniform, normal and integer draws from Triton's Philox4x32-10.

Element ``i`` (C order) of the output is a pure function of ``(seed, offset + i)``: ``tl.rand``,
``tl.randn`` or ``low + tl.randint % (high - low)`` at that counter, so the NumPy backend
(``tritongrad/backends/_philox.py``) draws the same numbers and a dropout mask can be regenerated in
backward. Counters are int64 (``offset + i`` may pass 2**32); the seed is a non-negative integer below
2**63. Values are drawn in fp32 (uniform, normal) or int64 (integers), then cast to the output dtype.
"""
from __future__ import annotations

import math

import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, cast_to, check_array, flat_index, launch_config

__all__ = ["rand", "randn", "randint", "aot_specs"]

UNIFORM = tl.constexpr(0)
NORMAL = tl.constexpr(1)
INTEGER = tl.constexpr(2)


@triton.jit(do_not_specialize=["seed", "offset", "low", "span"])
def _random_fwd_kernel(out_ptr, n,
                       seed, offset,               # Philox key and the counter of element 0
                       low, span,                  # INTEGER only: low + draw % span
                       DIST: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    counter = idx + offset
    if DIST == UNIFORM:
        v = tl.rand(seed, counter)
    elif DIST == NORMAL:
        v = tl.randn(seed, counter)
    else:
        tl.static_assert(DIST == INTEGER, "unknown distribution")
        draw = tl.randint(seed, counter).to(tl.uint32, bitcast=True).to(tl.int64)
        v = tl.cast(low, tl.int64) + draw % tl.cast(span, tl.int64)
    tl.store(out_ptr + idx, cast_to(v, out_ptr.dtype.element_ty), mask=idx < n)


def _check_seed(seed, offset):
    seed, offset = int(seed), int(offset)
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    if not 0 <= offset < 2 ** 62:
        raise ValueError(f"offset must be in [0, 2**62), got {offset}")
    return seed, offset


def _draw(shape, dtype, seed, offset, device, dist, low=0, span=1):
    seed, offset = _check_seed(seed, offset)
    out = runtime.empty(tuple(shape), dtype, device)
    check_array("out", out)
    n = math.prod(out.shape)
    if n:
        block, num_warps = launch_config(n)
        _random_fwd_kernel[(triton.cdiv(n, block),)](out, n, seed, offset, low, span, DIST=dist, BLOCK=block,
                                                      num_warps=num_warps)
    return out


def rand(shape, dtype, seed, offset, device=0):
    """Uniform numbers in [0, 1) (``torch.rand`` with a Philox counter): element ``i`` is
    ``tl.rand(seed, offset + i)`` cast to ``dtype``."""
    return _draw(shape, dtype, seed, offset, device, UNIFORM)


def randn(shape, dtype, seed, offset, device=0):
    """Standard normal numbers (``torch.randn``): element ``i`` is ``tl.randn(seed, offset + i)``."""
    return _draw(shape, dtype, seed, offset, device, NORMAL)


def randint(shape, low, high, dtype, seed, offset, device=0):
    """Integers uniform in [low, high) (``torch.randint``): ``low + tl.randint(seed, offset + i) %
    (high - low)`` on the uint32 draw, computed as int64, cast to ``dtype``."""
    low, high = int(low), int(high)
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return _draw(shape, dtype, seed, offset, device, INTEGER, low, high - low)


def aot_specs():
    """The random kernel for each distribution, fp32/bf16 floats and int64 integers."""
    for dist, t in ((UNIFORM, "fp32"), (UNIFORM, "bf16"), (NORMAL, "fp32"), (NORMAL, "bf16"), (INTEGER, "i64"),
                    (INTEGER, "i32")):
        yield aot_spec(f"random_{dist.value}_{t}", _random_fwd_kernel,
                       {"out_ptr": "*" + t, "n": "i64", "seed": "i64", "offset": "i64", "low": "i64",
                        "span": "i64"}, {"DIST": dist, "BLOCK": 1024})
