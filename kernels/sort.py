"""Sorting kernels: ``sort``, ``argsort`` and ``topk`` along one dim, as a stable rank sort.

Each element's place in its row is its rank: the number of elements of the row that come before it, where
``j`` comes before ``i`` when ``x[j]`` orders strictly first (ascending: smaller; descending: larger; NaN
counts as larger than every number, as in PyTorch), or when they tie and ``j < i``. Ranks are a permutation
of ``0..n-1`` and ties keep their input order, so the sort is stable. The kernel stores element ``i`` at
``out[rank(i)]`` when ``rank(i) < k``: ``k = n`` sorts the row, a smaller ``k`` keeps its first ``k`` (topk).

One program ranks ``BLOCK_I`` elements of a row against the whole row, ``BLOCK_J`` at a time: the work is
``n**2`` comparisons per row (no shared memory, no atomics), quick for the rows models sort (a few thousand
elements); a vocabulary of 50k sorts in ``2.5e9`` comparisons per row. The sorted dim is made the last,
contiguous one first (one copy when it is not).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, check_array, upcast
from .copy import contiguous, full

__all__ = ["sort", "aot_specs"]

_BLOCK_I = 64
_BLOCK_J = 64


@triton.jit
def _sort_fwd_kernel(values_ptr, indices_ptr,   # (rows, k) outputs, contiguous
                     x_ptr,                     # (rows, n) input, contiguous
                     n, k,
                     DESCENDING: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    i = tl.program_id(1).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)
    mask_i = i < n
    v = tl.load(x_ptr + row * n + i, mask=mask_i, other=0)
    a = upcast(v)[:, None]
    nan_a = a != a
    rank = tl.zeros([BLOCK_I], dtype=tl.int64)
    for j0 in range(0, n, BLOCK_J):
        j = j0 + tl.arange(0, BLOCK_J)
        mask_j = j < n
        b = upcast(tl.load(x_ptr + row * n + j, mask=mask_j, other=0))[None, :]
        nan_b = b != b
        if DESCENDING:
            first = (b > a) | (nan_b & ~nan_a)
        else:
            first = (b < a) | (nan_a & ~nan_b)
        tie = (b == a) | (nan_a & nan_b)
        before = (first | (tie & (j[None, :] < i[:, None]))) & mask_j[None, :]
        rank += tl.sum(before.to(tl.int64), axis=1)
    keep = mask_i & (rank < k)
    tl.store(values_ptr + row * k + rank, v, mask=keep)
    tl.store(indices_ptr + row * k + rank, i, mask=keep)


def sort(x, dim, descending=False, k=None):
    """``(values, indices)`` of ``x`` sorted along ``dim`` (stable; NaN largest), keeping the first ``k``
    (all when None): ``torch.sort(stable=True)`` and, with ``k``, ``torch.topk(sorted=True)`` (``descending``
    for the largest). Indices are int64."""
    check_array("x", x)
    if x.ndim == 0:   # PyTorch sorts a 0-d tensor as one element: itself at index 0
        if k not in (None, 1):
            raise ValueError(f"sort: k={k} is out of range for a 0-d array")
        return contiguous(x), full((), 0, np.dtype(np.int64), x.device)
    dim = dim % x.ndim
    n = x.shape[dim]
    k = n if k is None else int(k)
    if not 0 <= k <= n:
        raise ValueError(f"sort: k={k} is out of range for dim {dim} of size {n}")
    order = tuple(d for d in range(x.ndim) if d != dim) + (dim,)
    xt = contiguous(x.transpose(order))
    lead = xt.shape[:-1]
    rows = 1
    for s in lead:
        rows *= s
    values = runtime.empty(lead + (k,), x.dtype, x.device)
    indices = runtime.empty(lead + (k,), np.dtype(np.int64), x.device)
    if rows and k:
        grid = (rows, triton.cdiv(n, _BLOCK_I))
        if grid[0] >= 2**31 or grid[1] > 65535:   # CUDA's grid limits for axes x and y
            raise ValueError(f"sort: {rows} rows of {n} elements exceed the kernel's grid (at most 2**31 - 1 rows "
                             f"of at most {65535 * _BLOCK_I} elements)")
        _sort_fwd_kernel[grid](values, indices, xt, n, k, DESCENDING=bool(descending), BLOCK_I=_BLOCK_I,
                               BLOCK_J=_BLOCK_J, num_warps=4)
    back = tuple(order.index(d) for d in range(x.ndim))
    return contiguous(values.transpose(back)), contiguous(indices.transpose(back))


def aot_specs():
    """The rank sort for fp32/bf16/fp16/i64 rows, ascending and descending."""
    for t in ("fp32", "bf16", "fp16", "i64"):
        for desc in (False, True):
            yield aot_spec(f"sort_{t}_{'desc' if desc else 'asc'}", _sort_fwd_kernel,
                           {"values_ptr": "*" + t, "indices_ptr": "*i64", "x_ptr": "*" + t, "n": "i64", "k": "i64"},
                           {"DESCENDING": desc, "BLOCK_I": _BLOCK_I, "BLOCK_J": _BLOCK_J})
