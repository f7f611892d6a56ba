"""Indexing kernels: ``index_select``, ``gather`` (one gather kernel), ``index_add``, ``scatter_add``,
``index_copy_`` (one scatter kernel, atomic adds or plain stores), and ``nonzero`` (a compaction).

A gather reads ``x`` at ``base(i) + index(i) * stride_dim`` where ``base`` walks ``x`` with the indexed dim's
stride set to 0 and ``index(i)`` is the index array seen through a view of the output's shape (broadcast
for ``index_select``/``index_add``); scatters mirror it. Any strided views work without copies.

Out-of-range indices never touch memory (loads and stores are masked): the output holds 0 there (gathers) or
the write is dropped (scatters), and the kernel records the first one in the device's error word
(`tritongrad.runtime.error_word`), which the runtime raises as IndexError at the host's next wait for the
device -- on a GPU and in interpreter mode alike, with no synchronization of its own. `wrap_index` checks
and wraps the negative indices of advanced indexing (``x[idx]``) the same way.

Accumulation: fp16/bf16 (and 8/16-bit integer) adds go to an fp32 (int32) scratch array that is cast at the
end, since atomics on 16-bit types are limited; duplicate indices accumulate in an unspecified order.
``nonzero`` reads its count back to the host (it synchronizes, as in PyTorch).
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import (MAX_RANK, aot_spec, cast_to, check_array, collapse_dims, error_args, flat_index, launch_strided,
                      load_strided, report_bad_lanes, strided_offset, upcast)
from .copy import cast, contiguous, full

__all__ = ["index_select", "index_add", "index_copy_", "gather", "scatter_add", "wrap_index", "nonzero", "aot_specs"]

_NONZERO_BLOCK = 1024


@triton.jit
def _check_index(j, mask, dim_size, err_ptr, dim, op):
    """In-range mask of the indices ``j``; reports a bad one to the error word ``err_ptr``."""
    ok = (j >= 0) & (j < dim_size)
    report_bad_lanes(err_ptr, mask & ~ok, j, dim_size, dim, op)
    return ok & mask


@triton.jit
def _gather_fwd_kernel(out_ptr, x_ptr, index_ptr,
                       n, D1, D2, D3,
                       sx0, sx1, sx2, sx3,         # x strides with the indexed dim's stride set to 0
                       si0, si1, si2, si3,         # index viewed at the output's shape
                       err_ptr,                    # the device error word (runtime.error_word)
                       x_dim_stride, dim_size,     # the indexed dim of x
                       dim, op,                    # reported with a bad index
                       RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    j = load_strided(index_ptr, idx, mask, D1, D2, D3, si0, si1, si2, si3, RANK).to(tl.int64)
    ok = _check_index(j, mask, dim_size, err_ptr, dim, op)
    src = x_ptr + strided_offset(idx, D1, D2, D3, sx0, sx1, sx2, sx3, RANK) + j * x_dim_stride
    v = tl.load(src, mask=ok, other=0)
    tl.store(out_ptr + idx, cast_to(v, out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _scatter_fwd_kernel(out_ptr, src_ptr, index_ptr,
                        n, D1, D2, D3,
                        so0, so1, so2, so3,        # out strides with the indexed dim's stride set to 0
                        ss0, ss1, ss2, ss3,        # src viewed at the iteration shape
                        si0, si1, si2, si3,        # index viewed at the iteration shape
                        err_ptr,                   # the device error word (runtime.error_word)
                        out_dim_stride, dim_size,
                        dim, op,                   # reported with a bad index
                        ACCUMULATE: tl.constexpr,  # atomic add (else plain store)
                        RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    j = load_strided(index_ptr, idx, mask, D1, D2, D3, si0, si1, si2, si3, RANK).to(tl.int64)
    ok = _check_index(j, mask, dim_size, err_ptr, dim, op)
    v = cast_to(load_strided(src_ptr, idx, mask, D1, D2, D3, ss0, ss1, ss2, ss3, RANK), out_ptr.dtype.element_ty)
    dst = out_ptr + strided_offset(idx, D1, D2, D3, so0, so1, so2, so3, RANK) + j * out_dim_stride
    if ACCUMULATE:
        tl.atomic_add(dst, v, mask=ok)
    else:
        tl.store(dst, v, mask=ok)


@triton.jit
def _wrap_index_fwd_kernel(out_ptr, index_ptr,
                           n, D1, D2, D3,
                           si0, si1, si2, si3,
                           err_ptr, size, low,     # valid indices: [low, size); negative ones wrap by size
                           dim, op,
                           RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    j = load_strided(index_ptr, idx, mask, D1, D2, D3, si0, si1, si2, si3, RANK).to(tl.int64)
    report_bad_lanes(err_ptr, mask & ((j < low) | (j >= size)), j, size, dim, op)
    tl.store(out_ptr + idx, tl.where(j < 0, j + size, j), mask=mask)


@triton.jit
def _nonzero_fwd_kernel(flat_ptr, count_ptr, x_ptr,
                        n, D1, D2, D3,
                        sx0, sx1, sx2, sx3,
                        RANK: tl.constexpr, BLOCK: tl.constexpr):
    # One program walks x in C order; a running count places each block's hits after the previous ones.
    count = tl.zeros((), dtype=tl.int64)
    for start in range(0, n, BLOCK):
        idx = start + tl.arange(0, BLOCK).to(tl.int64)
        mask = idx < n
        x = upcast(load_strided(x_ptr, idx, mask, D1, D2, D3, sx0, sx1, sx2, sx3, RANK))
        hit = ((x != 0) & mask).to(tl.int64)
        pos = count + tl.cumsum(hit, axis=0) - 1
        tl.store(flat_ptr + pos, idx, mask=hit != 0)
        count += tl.sum(hit, axis=0)
    tl.store(count_ptr, count)


@triton.jit
def _unravel_fwd_kernel(out_ptr, flat_ptr, n,
                        divisor, size,             # coordinate = flat // divisor % size
                        out_stride,                # row stride of the (N, ndim) output
                        BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    flat = tl.load(flat_ptr + idx, mask=mask, other=0)
    tl.store(out_ptr + idx * out_stride, (flat // divisor) % size, mask=mask)


# ------------------------------------------------------------------------------------------------ wrappers
def _norm_dim(dim, ndim, what):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{what}: dim {dim} is out of range for {ndim} dims")
    return dim % max(ndim, 1)


def _check_index_array(what, index):
    check_array("index", index)
    if index.dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        raise TypeError(f"{what}: index must be int64 (or int32), got {index.dtype}")


def _zero_dim_stride(a, dim, shape):
    """``a`` viewed at ``shape`` with dim ``dim``'s stride set to 0 (the other dims keep theirs)."""
    strides = list(a.strides)
    strides[dim] = 0
    return a.view_as(shape, strides)


def _index_along(index, dim, shape):
    """The 1-D ``index`` seen at ``shape``: its stride on ``dim``, 0 elsewhere."""
    strides = [0] * len(shape)
    strides[dim] = index.strides[0]
    return index.view_as(shape, strides)


def _gather(what, x, dim, index_view, out_shape):
    out = runtime.empty(out_shape, x.dtype, x.device)
    xv = _zero_dim_stride(x, dim, out_shape)
    err, op = error_args(x.device, what)
    launch_strided(_gather_fwd_kernel, out_shape, [out], [xv, index_view],
                   (err, x.element_strides[dim], x.shape[dim], dim, op))
    return out


def _scatter(what, out, dim, index_view, src_view, accumulate):
    shape = index_view.shape
    ov = _zero_dim_stride(out, dim, shape)
    err, op = error_args(out.device, what)
    launch_strided(_scatter_fwd_kernel, shape, [], [ov, src_view, index_view],
                   (err, out.element_strides[dim], out.shape[dim], dim, op), ACCUMULATE=accumulate)


def _accum_dtype(dtype, what):
    dtype = np.dtype(dtype)
    if dtype in (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)):
        return np.dtype(np.float32)
    if dtype in (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.int16)):
        return np.dtype(np.int32)
    if dtype == np.dtype(np.bool_):
        raise TypeError(f"{what}: bool is not supported")
    return dtype


def _scatter_add_into_new(what, shape, dtype, dim, index_view, src_view, device):
    acc = _accum_dtype(dtype, what)
    out = full(shape, 0, acc, device)
    _scatter(what, out, dim, index_view, src_view, accumulate=True)
    return out if acc == np.dtype(dtype) else cast(out, dtype)


def index_select(x, dim, index):
    """``torch.index_select(x, dim, index)``: ``x`` gathered along ``dim`` at the 1-D int64 ``index``."""
    check_array("x", x)
    _check_index_array("index_select", index)
    if index.ndim != 1 or x.ndim == 0:
        raise ValueError(f"index_select: needs x with dims and a 1-D index, got x {x.shape}, index {index.shape}")
    dim = _norm_dim(dim, x.ndim, "index_select")
    out_shape = x.shape[:dim] + (index.shape[0],) + x.shape[dim + 1:]
    return _gather("index_select", x, dim, _index_along(index, dim, out_shape), out_shape)


def gather(x, dim, index):
    """``torch.gather(x, dim, index)``: ``out[i][j] = x[i][index[i][j]]`` for dim 1, likewise for any dim;
    ``index`` has ``x``'s number of dims and no dim larger than ``x``'s except ``dim``."""
    check_array("x", x)
    _check_index_array("gather", index)
    dim = _norm_dim(dim, x.ndim, "gather")
    if index.ndim != x.ndim or any(i > s for d, (i, s) in enumerate(zip(index.shape, x.shape)) if d != dim):
        raise ValueError(f"gather: index of shape {index.shape} does not fit x of shape {x.shape} at dim {dim}")
    return _gather("gather", x, dim, index, index.shape)


def index_add(shape, dtype, dim, index, src):
    """A new zero array of ``shape`` with ``src`` added at ``index`` along ``dim`` (``Tensor.index_add_`` on
    zeros; duplicates accumulate): the backward of `index_select`."""
    check_array("src", src)
    _check_index_array("index_add", index)
    shape = tuple(shape)
    dim = _norm_dim(dim, len(shape), "index_add")
    want = shape[:dim] + (index.shape[0] if index.ndim == 1 else -1,) + shape[dim + 1:]
    if index.ndim != 1 or src.shape != want:
        raise ValueError(f"index_add: src {src.shape} and index {index.shape} do not match shape {shape} at dim {dim}")
    return _scatter_add_into_new("index_add", shape, dtype, dim, _index_along(index, dim, src.shape), src,
                                 src.device)


def scatter_add(shape, dtype, dim, index, src):
    """A new zero array of ``shape`` with ``src`` added where `gather` would read (``Tensor.scatter_add_`` on
    zeros): the backward of `gather`."""
    check_array("src", src)
    _check_index_array("scatter_add", index)
    shape = tuple(shape)
    dim = _norm_dim(dim, len(shape), "scatter_add")
    if (index.ndim != len(shape) or src.ndim != len(shape)
            or any(i > s for i, s in zip(index.shape, src.shape))
            or any(i > s for d, (i, s) in enumerate(zip(index.shape, shape)) if d != dim)):
        raise ValueError(f"scatter_add: index {index.shape} does not fit src {src.shape} and shape {shape}")
    src_view = src[tuple(slice(0, k) for k in index.shape)]
    return _scatter_add_into_new("scatter_add", shape, dtype, dim, index, src_view, src.device)


def index_copy_(x, dim, index, src):
    """``Tensor.index_copy_``: in place, ``x[..., index[i], ...] = src[..., i, ...]`` along ``dim``.
    Returns ``x``. With duplicate indices, which write wins is unspecified (as in PyTorch)."""
    check_array("x", x)
    check_array("src", src)
    _check_index_array("index_copy_", index)
    dim = _norm_dim(dim, x.ndim, "index_copy_")
    want = x.shape[:dim] + (index.shape[0] if index.ndim == 1 else -1,) + x.shape[dim + 1:]
    if index.ndim != 1 or src.shape != want:
        raise ValueError(f"index_copy_: src {src.shape} and index {index.shape} do not match x {x.shape} at dim {dim}")
    _scatter("index_copy_", x, dim, _index_along(index, dim, src.shape), src, accumulate=False)
    return x


def wrap_index(index, size, dim=0, op="index"):
    """A new int64 copy of the integer ``index`` with negative values wrapped (``i + size``), checked on the
    device: a value outside ``[-size, size)`` is reported to the error word (IndexError at the next wait, as
    ``x[index]`` raises on cpu) and left as is. With ``op="one_hot"`` valid values are ``[0, size)`` (the
    classes of ``one_hot``; a bad one raises RuntimeError at the next wait)."""
    check_array("index", index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer array, got {index.dtype}")
    out = runtime.empty(index.shape, np.int64, index.device)
    err, code = error_args(index.device, op)
    low = 0 if op == "one_hot" else -size
    launch_strided(_wrap_index_fwd_kernel, index.shape, [out], [index], (err, size, low, dim, code))
    return out


def nonzero(x):
    """``torch.nonzero(x)``: int64 array (N, ndim) of the coordinates of the non-zero elements in C order.
    Reads the count back to the host (synchronizes)."""
    check_array("x", x)
    n = math.prod(x.shape)
    dims, (strides,) = collapse_dims(x.shape, [x.element_strides])
    if len(dims) > MAX_RANK:
        x = contiguous(x)
        dims, (strides,) = (n,), [(1,)]
    flat = runtime.empty((max(n, 1),), np.int64, x.device)
    count = runtime.empty((1,), np.int64, x.device)
    padded = (1,) * (MAX_RANK - len(dims)) + tuple(dims)
    st = (0,) * (MAX_RANK - len(dims)) + tuple(strides)
    if n:
        _nonzero_fwd_kernel[(1,)](flat, count, x, n, *padded[1:], *st, RANK=len(dims), BLOCK=_NONZERO_BLOCK,
                                  num_warps=4)
        found = np.empty(1, np.int64)
        runtime.copy_device_to_host(found, count)
        total = int(found[0])
    else:
        total = 0
    out = runtime.empty((total, x.ndim), np.int64, x.device)
    if total:
        divisor = 1
        for d in reversed(range(x.ndim)):
            block = 1024
            _unravel_fwd_kernel[(triton.cdiv(total, block),)](out[:, d], flat, total, divisor, x.shape[d], x.ndim,
                                                             BLOCK=block, num_warps=4)
            divisor *= x.shape[d]
    return out


# ------------------------------------------------------------------------------------------------ AOT
def aot_specs():
    """Gather and scatter for fp32/bf16/int64 payloads, scatter-add for fp32/int64, index wrapping, nonzero and
    unravel."""
    for t in ("fp32", "bf16", "i64"):
        yield aot_spec(f"gather_{t}", _gather_fwd_kernel,
                       {"out_ptr": "*" + t, "x_ptr": "*" + t, "index_ptr": "*i64", "err_ptr": "*i64", "n": "i64"},
                       {"RANK": 2, "BLOCK": 1024})
        yield aot_spec(f"scatter_copy_{t}", _scatter_fwd_kernel,
                       {"out_ptr": "*" + t, "src_ptr": "*" + t, "index_ptr": "*i64", "err_ptr": "*i64", "n": "i64"},
                       {"ACCUMULATE": False, "RANK": 3, "BLOCK": 1024})
    for acc, src in (("fp32", "fp32"), ("fp32", "bf16"), ("fp64", "fp64"), ("i64", "i64"), ("i32", "i32")):
        yield aot_spec(f"scatter_add_{src}_into_{acc}", _scatter_fwd_kernel,
                       {"out_ptr": "*" + acc, "src_ptr": "*" + src, "index_ptr": "*i64", "err_ptr": "*i64",
                        "n": "i64"}, {"ACCUMULATE": True, "RANK": 2, "BLOCK": 1024})
    for t in ("fp32", "bf16", "i1", "i64"):
        yield aot_spec(f"nonzero_{t}", _nonzero_fwd_kernel,
                       {"flat_ptr": "*i64", "count_ptr": "*i64", "x_ptr": "*" + t, "n": "i64"},
                       {"RANK": 1, "BLOCK": _NONZERO_BLOCK})
    for t in ("i64", "i32"):
        yield aot_spec(f"wrap_index_{t}", _wrap_index_fwd_kernel,
                       {"out_ptr": "*i64", "index_ptr": "*" + t, "err_ptr": "*i64", "n": "i64", "size": "i64",
                        "low": "i64"}, {"RANK": 2, "BLOCK": 1024})
    yield aot_spec("unravel", _unravel_fwd_kernel,
                   {"out_ptr": "*i64", "flat_ptr": "*i64", "n": "i64", "divisor": "i64", "size": "i64"},
                   {"BLOCK": 1024})
