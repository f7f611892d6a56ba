"""Copy, cast and fill kernels: ``full``, ``copy_`` (strided destination, broadcast source, any dtype pair),
``cast``, ``contiguous`` and ``arange``.

Casts happen in the kernel with Triton's conversions: float -> int truncates toward zero, anything -> bool
is ``!= 0``, bool -> number gives 0/1, narrowing floats round to nearest even. Limits: ``copy_`` with a
source that overlaps the destination in memory (other than the identical view) is unspecified, as each
element is read and written once in no particular order.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime
from tritongrad._strides import broadcast_shapes

from ._common import (aot_spec, cast_to, check_array, flat_index, launch_config, launch_strided,
                      load_strided, scalar_arg, scalar_block, scalar_value, strided_offset, triton_type)

__all__ = ["full", "copy_", "cast", "contiguous", "arange", "aot_specs"]


@triton.jit
def _copy_fwd_kernel(dst_ptr, src_ptr,
                     n, D1, D2, D3,
                     sd0, sd1, sd2, sd3, ss0, ss1, ss2, ss3,
                     RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    v = load_strided(src_ptr, idx, mask, D1, D2, D3, ss0, ss1, ss2, ss3, RANK)
    dst = dst_ptr + strided_offset(idx, D1, D2, D3, sd0, sd1, sd2, sd3, RANK)
    tl.store(dst, cast_to(v, dst_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["value"])
def _fill_fwd_kernel(dst_ptr,
                     n, D1, D2, D3,
                     sd0, sd1, sd2, sd3,
                     value,                        # see _common.scalar_arg
                     RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    v = scalar_block(dst_ptr, value, BLOCK)
    dst = dst_ptr + strided_offset(idx, D1, D2, D3, sd0, sd1, sd2, sd3, RANK)
    tl.store(dst, cast_to(v, dst_ptr.dtype.element_ty), mask=idx < n)


@triton.jit(do_not_specialize=["start", "step"])
def _arange_fwd_kernel(out_ptr, n,
                       start, step,                # see _common.scalar_arg (float64 bits when FLOAT)
                       FLOAT: tl.constexpr,        # compute in float64 (else int64)
                       BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    if FLOAT:
        ct: tl.constexpr = tl.float64
    else:
        ct: tl.constexpr = tl.int64
    v = scalar_value(start, ct) + scalar_value(step, ct) * idx.to(ct)
    tl.store(out_ptr + idx, cast_to(v, out_ptr.dtype.element_ty), mask=idx < n)


def _is_scalar(v):
    return isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))


def full(shape, value, dtype, device=0):
    """``torch.full(shape, value, dtype=dtype)``: a new contiguous array filled with the scalar ``value``."""
    out = runtime.empty(tuple(shape), dtype, device)
    check_array("out", out)
    return copy_(out, value)


def copy_(dst, src):
    """``Tensor.copy_``: write ``src`` (an array broadcastable to ``dst.shape``, any dtype, or a Python
    scalar) into the view ``dst``, casting to ``dst``'s dtype. Returns ``dst``."""
    check_array("dst", dst)
    if any(s == 0 and n > 1 for s, n in zip(dst.strides, dst.shape)):
        raise ValueError(f"copy_: dst of shape {dst.shape} and strides {dst.strides} has elements that share "
                         f"memory (a broadcast view); write to a contiguous array instead")
    if _is_scalar(src):
        launch_strided(_fill_fwd_kernel, dst.shape, [], [dst], (scalar_arg(src, dst.dtype),))
        return dst
    check_array("src", src)
    if src.device != dst.device:
        raise RuntimeError(f"copy_: src is on cuda:{src.device} but dst on cuda:{dst.device}; "
                           f"cross-device copies go through the runtime")
    try:
        if broadcast_shapes(dst.shape, src.shape) != dst.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"copy_: src of shape {src.shape} cannot be broadcast to dst of shape {dst.shape}") from None
    launch_strided(_copy_fwd_kernel, dst.shape, [], [dst, src.broadcast_to(dst.shape)])
    return dst


def cast(a, dtype):
    """``a.to(dtype)`` as a new contiguous array (float -> int truncates toward zero)."""
    check_array("a", a)
    return copy_(runtime.empty(a.shape, dtype, a.device), a)


def contiguous(a):
    """A new C-contiguous copy of ``a`` (always a copy, unlike ``Tensor.contiguous``)."""
    check_array("a", a)
    return copy_(runtime.empty(a.shape, a.dtype, a.device), a)


def arange(start, step, n, dtype, device=0):
    """``start + step * i`` for ``i`` in ``range(n)`` (``torch.arange`` given its length), computed in
    float64 when ``start`` or ``step`` is a float, else in int64, then cast to ``dtype``."""
    if not (_is_scalar(start) and _is_scalar(step)):
        raise TypeError(f"arange: start and step must be Python numbers, got {start!r} and {step!r}")
    n = int(n)
    if n < 0:
        raise ValueError(f"arange: negative length {n}")
    out = runtime.empty((n,), dtype, device)
    triton_type(out.dtype)
    as_float = isinstance(start, (float, np.floating)) or isinstance(step, (float, np.floating))
    compute = np.float64 if as_float else np.int64
    if n:
        block, num_warps = launch_config(n)
        _arange_fwd_kernel[(triton.cdiv(n, block),)](out, n, scalar_arg(start, compute), scalar_arg(step, compute),
                                                      FLOAT=as_float, BLOCK=block, num_warps=num_warps)
    return out


# ------------------------------------------------------------------------------------------------ AOT
_CAST_PAIRS = (("fp32", "fp32"), ("bf16", "bf16"), ("fp32", "bf16"), ("bf16", "fp32"), ("fp16", "fp32"),
               ("fp32", "fp16"), ("fp64", "fp32"), ("fp32", "fp64"), ("i64", "fp32"), ("fp32", "i64"),
               ("i1", "fp32"), ("fp32", "i1"), ("i32", "i64"), ("u8", "fp32"), ("bf16", "fp16"))


def aot_specs():
    """The copy kernel over common dtype pairs, fill and arange for fp32/bf16 and integer outputs."""
    for src, dst in _CAST_PAIRS:
        yield aot_spec(f"copy_{src}_to_{dst}", _copy_fwd_kernel, {"dst_ptr": "*" + dst, "src_ptr": "*" + src,
                                                                   "n": "i64"}, {"RANK": 2, "BLOCK": 1024})
    for t, v in (("fp32", "i64"), ("bf16", "i64"), ("fp64", "i64"), ("i64", "i64"), ("i1", "i32")):
        yield aot_spec(f"fill_{t}", _fill_fwd_kernel, {"dst_ptr": "*" + t, "value": v}, {"RANK": 1, "BLOCK": 1024})
    for t, fl in (("fp32", True), ("bf16", True), ("i64", False), ("i32", False)):
        yield aot_spec(f"arange_{t}", _arange_fwd_kernel, {"out_ptr": "*" + t, "start": "i64", "step": "i64"},
                       {"FLOAT": fl, "BLOCK": 1024})
