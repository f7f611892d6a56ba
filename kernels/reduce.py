"""Reductions, their backward, arg-reductions and cumulative sums as Triton kernels on `DeviceArray`s.

Computes, with PyTorch's semantics (see `tritongrad.backends.base.Backend`):

* ``reduce(op, x, dims, keepdim, **params)`` for ``sum mean prod amax amin all any logsumexp var norm``;
* ``reduce_bwd(op, x, y, gy, dims, keepdim, **params)`` -- one fused kernel writes ``gx`` from ``x``, the
  broadcast forward output ``y``, the broadcast ``gy`` and at most two per-row statistics (count of maxima,
  mean, count of zeros ...) that earlier row reductions computed;
* ``argreduce(op, x, dim, keepdim)`` -> ``(values, int64 indices)``, first occurrence on ties, NaN wins;
* ``cumsum(x, dim, reverse=False)``.

How: the input is seen as a 3-D strided view ``(outer, red, inner)`` -- rows are the ``outer * inner`` kept
positions, ``red`` the reduced extent. That view is free when the reduced dims are adjacent and each group
of dims merges into one stride; otherwise the reduced dims are moved to the end and, only if the strides
still do not merge, the input is copied once (``kernels.copy.contiguous``). A row-reduction kernel then
loops over the reduced axis in blocks of ``BLOCK_C`` columns for ``BLOCK_R`` rows at a time. When there
are few rows and long ones (a full reduction of a big tensor) the reduced axis is also split across
programs: partial results go to a small fp32/fp64/int64 buffer and a second launch of the same kernel
combines them. Accumulation is fp32 for fp16/bf16/fp32, fp64 for fp64, int64 for integers.

Two-pass ops run two row reductions: ``var`` (mean, then the sum of squared deviations) and ``logsumexp``
(max, then the sum of ``exp(x - max)``), so both stay exact to rounding without an online update.

Limits: ``amax``, ``amin`` and ``argreduce`` of an empty reduced extent raise ValueError naming the op;
Triton passes Python floats as fp32, so divisors above 2**24 (``mean``/``var`` over more elements) are
rounded to fp32 even for fp64 inputs.
"""
from __future__ import annotations

import math

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime
from tritongrad.runtime import contiguous_strides

from ._common import aot_spec, cast_to, is_floating, program_ids, upcast
from .copy import contiguous, copy_

__all__ = ["reduce", "reduce_bwd", "argreduce", "cumsum", "aot_specs"]

REDUCE_OPS = ("sum", "mean", "prod", "amax", "amin", "all", "any", "logsumexp", "var", "norm")
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_INTS = ("bool", "uint8", "int8", "int16", "int32", "int64")
_TL_DTYPE = {"float16": tl.float16, "bfloat16": tl.bfloat16, "float32": tl.float32, "float64": tl.float64,
             "bool": tl.int1, "uint8": tl.uint8, "int8": tl.int8, "int16": tl.int16, "int32": tl.int32,
             "int64": tl.int64}


# ================================================================================= shared helpers (Python)
def _next_pow2(n):
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def _cdiv(a, b):
    return -(-a // b)


def _tile_sizes(n_rows, n_cols, max_cols=None):
    """``(BLOCK_R, BLOCK_C, num_warps)`` for a row kernel over ``n_rows`` rows of ``n_cols`` columns.

    Compiled: tiles of about 4096 elements, at most 1024 columns a block. The interpreter pays per program
    and per operation rather than per element, so it gets tiles 16 times bigger (fewer programs)."""
    # mode-specific on purpose: tile sizes are tuning, not semantics (the kernel code is the same), and the
    # interpreter's cost is per program. Grids therefore differ between modes: tests of the GPU's grid limits
    # use the compiled sizes (tests/test_launch_rules.py)
    big = runtime.interpreting()
    if max_cols is None:
        max_cols = 8192 if big else 1024
    tile = 65536 if big else 4096
    block_c = min(_next_pow2(max(n_cols, 1)), max_cols)
    block_r = max(1, min(_next_pow2(max(n_rows, 1)), tile // block_c))
    num_warps = 8 if block_r * block_c >= 4096 else 4
    return block_r, block_c, num_warps


def _merge_group(shape, strides):
    """One (size, stride) for a group of dims whose strides merge into a single one, or None."""
    dims = [(n, s) for n, s in zip(shape, strides) if n != 1]
    size = math.prod(shape)
    if not dims or size == 0:          # an empty group is never read: any stride will do
        return size, 0
    _, stride = dims[-1]
    expected = stride
    for n, s in reversed(dims):
        if s != expected:
            return None
        expected = s * n
    return size, stride


def _normalize_dims(dims, ndim, what):
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{what}: dimension {d} is out of range for a tensor of {ndim} dims")
        d %= max(ndim, 1)
        if ndim == 0:
            raise IndexError(f"{what}: a 0-d tensor has no dimension {d} to reduce (pass dims=())")
        if d in out:
            raise ValueError(f"{what}: dimension {d} appears more than once in {tuple(dims)}")
        out.append(d)
    return tuple(sorted(out))


class _Rows:
    """``x`` seen as ``(outer, red, inner)``: ``rows = outer * inner`` kept positions in C order of the kept
    dims, ``red`` reduced elements each. ``order`` is the permutation applied to ``x`` (kept dims keep their
    relative order either way), ``array`` the strided source (``x`` itself or a copy). With ``data=False``
    only the geometry is computed (``x`` may be anything with ``shape`` and ``ndim``; ``array`` is None)."""

    __slots__ = ("array", "order", "groups", "outer", "red", "inner", "so", "sr", "si")

    def __init__(self, x, dims, data=True):
        nd = x.ndim
        kept = [d for d in range(nd) if d not in dims]
        adjacent = not dims or list(dims) == list(range(dims[0], dims[-1] + 1))
        if adjacent and dims:
            self.order = tuple(range(nd))
            self.groups = (dims[0], len(dims), nd - dims[-1] - 1)
        else:
            self.order = tuple(kept) + tuple(dims)
            self.groups = (len(kept), len(dims), 0)
        if not data:
            shape = self.permuted_shape(x.shape)
            a, b, _ = self.groups
            self.outer, self.red, self.inner = (math.prod(shape[:a]), math.prod(shape[a:a + b]),
                                                math.prod(shape[a + b:]))
            self.array, self.so, self.sr, self.si = None, 0, 0, 0
            return
        view = self.permuted(x)
        merged = self._merge(view)
        if merged is None:
            view = contiguous(view)
            merged = self._merge(view)
        self.array = view
        (self.outer, self.so), (self.red, self.sr), (self.inner, self.si) = merged

    def permuted_shape(self, shape):
        return tuple(shape[d] for d in self.order)

    def permuted(self, arr):
        """``arr`` (x's shape) with the dims in this view's order (a free view)."""
        return arr.transpose(self.order) if self.order != tuple(range(arr.ndim)) else arr

    def _merge(self, view):
        a, b, _ = self.groups
        st = view.element_strides
        parts = (slice(0, a), slice(a, a + b), slice(a + b, view.ndim))
        merged = [_merge_group(view.shape[p], st[p]) for p in parts]
        return None if any(m is None for m in merged) else merged

    @property
    def rows(self):
        return self.outer * self.inner

    def strides_of(self, view):
        """``(stride_o, stride_i, stride_r)`` of ``view`` (already in this order) when its strides merge
        like ``array``'s, else None."""
        merged = self._merge(view)
        return None if merged is None else (merged[0][1], merged[2][1], merged[1][1])


def _row_vector(a, n):
    """``a`` (an output-shaped array of ``n`` elements) as a 1-D strided view, copying only if needed."""
    v = a.reshape_view((n,))
    if v is None:
        v = contiguous(a).reshape_view((n,))
    return v


def _out_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if d in dims else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in dims)


def _reshaped(arr, shape):
    return arr.view_as(shape, contiguous_strides(shape, arr.itemsize))


# ================================================================================= row reduction kernels
@triton.jit
def _row_base(rows, inner, stride_o, stride_i):
    """Element offset of each row (an (outer, inner) position) of a ``(outer, red, inner)`` view."""
    outer_idx = rows // inner
    return outer_idx * stride_o + (rows - outer_idx * inner) * stride_i


@triton.jit
def _max_nan(a, b):
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _min_nan(a, b):
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _safe_center(c):
    # an infinite max (a row of -inf, or a +inf) would turn exp(x - c) into nan; shift by 0 instead
    return tl.where(tl.abs(c) == float("inf"), 0.0, c)


@triton.jit
def _transform(x, c, p, TRANSFORM: tl.constexpr, ACC: tl.constexpr):
    """Per-element map applied before combining (``c`` is the per-row center, broadcast)."""
    x = upcast(x)  # fp16/bf16 -> fp32 first: the interpreter mis-compares bf16 blocks with scalars
    xa = x.to(ACC)
    if TRANSFORM == "nonzero":  # compared before the cast: all/any accumulate in int32
        v = (x != 0).to(ACC)
    elif TRANSFORM == "id":
        v = xa
    elif TRANSFORM == "abs":
        v = tl.abs(xa)
    elif TRANSFORM == "sq":
        v = xa * xa
    elif TRANSFORM == "powabs":
        v = tl.exp(tl.log(tl.abs(xa)) * p)
    elif TRANSFORM == "iszero":
        v = (xa == 0).to(ACC)
    elif TRANSFORM == "zero_as_one":
        v = tl.where(xa == 0, 1, xa)
    elif TRANSFORM == "sqdev":
        d = xa - c
        v = d * d
    elif TRANSFORM == "expdev":
        v = tl.exp(xa - _safe_center(c))
    elif TRANSFORM == "eq":
        v = (xa == c).to(ACC)
    else:  # "abseq": |xa| equals the per-row value (ties of the inf-norm)
        tl.static_assert(TRANSFORM == "abseq")
        v = (tl.abs(xa) == c).to(ACC)
    return v


@triton.jit
def _combine(a, b, COMBINE: tl.constexpr):
    if COMBINE == "sum":
        r = a + b
    elif COMBINE == "prod":
        r = a * b
    elif COMBINE == "max":
        r = _max_nan(a, b)
    else:
        tl.static_assert(COMBINE == "min")
        r = _min_nan(a, b)
    return r


@triton.jit
def _combine_rows(acc, COMBINE: tl.constexpr, BLOCK_C: tl.constexpr):
    # built-in reductions only (the interpreter runs custom combine functions one element at a time)
    if COMBINE == "sum":
        r = tl.sum(acc, 1)
    elif COMBINE == "prod":
        last = tl.arange(0, BLOCK_C)[None, :] == BLOCK_C - 1
        r = tl.sum(tl.where(last, tl.cumprod(acc, 1), 0), 1)
    else:
        if COMBINE == "max":
            r = tl.max(acc, 1)
        else:
            tl.static_assert(COMBINE == "min")
            r = tl.min(acc, 1)
        # tl.max/tl.min skip nan; a row holding one must give nan (adds 0 to rows without)
        r = r + tl.sum(tl.where(acc == acc, 0, acc), 1)
    return r


@triton.jit
def _reduce_fwd_kernel(x_ptr, c_ptr, out_ptr,
                       n_rows, inner, n_red,             # rows = outer * inner; reduced extent
                       stride_o, stride_i, stride_r,     # element strides of x seen as (outer, red, inner)
                       stride_c,                          # element stride of the per-row center c
                       red_per_split,                     # reduced elements per program along grid axis 1
                       p, div,                            # norm order; divisor of FINAL == "div"
                       TRANSFORM: tl.constexpr, COMBINE: tl.constexpr, FINAL: tl.constexpr,
                       USE_CENTER: tl.constexpr, IDENTITY: tl.constexpr, ACC: tl.constexpr,
                       BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    # out[row * n_splits + split] = FINAL(COMBINE over the split's columns of TRANSFORM(x, c[row]))
    pid_r = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1).to(tl.int64)
    n_splits = tl.num_programs(1)
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < n_rows
    base = _row_base(rows, inner, stride_o, stride_i)
    if USE_CENTER:
        c = tl.load(c_ptr + rows * stride_c, mask=row_mask, other=0).to(ACC)
    else:
        c = tl.zeros([BLOCK_R], ACC)
    begin = split * red_per_split
    end = tl.minimum(begin + red_per_split, n_red)
    acc = tl.full([BLOCK_R, BLOCK_C], IDENTITY, ACC)
    for start in range(begin, end, BLOCK_C):
        cols = start + tl.arange(0, BLOCK_C)
        mask = row_mask[:, None] & (cols < end)[None, :]
        x = tl.load(x_ptr + base[:, None] + cols[None, :] * stride_r, mask=mask, other=0)
        v = _transform(x, c[:, None], p, TRANSFORM, ACC)
        acc = _combine(acc, tl.where(mask, v, IDENTITY), COMBINE)
    r = _combine_rows(acc, COMBINE, BLOCK_C)
    if FINAL == "div":
        r = r / div
    elif FINAL == "sqrt":
        r = tl.sqrt(r)
    elif FINAL == "root":
        r = tl.exp(tl.log(r) / p)
    elif FINAL == "logc":
        r = tl.log(r) + _safe_center(c)
    elif FINAL == "ne0":
        r = r != 0
    else:
        tl.static_assert(FINAL == "none")
    tl.store(out_ptr + rows * n_splits + split, cast_to(r, out_ptr.dtype.element_ty), mask=row_mask)


# (transform, combine, final) of one row pass for each forward op; var/logsumexp add a first pass
_NORM_PLANS = {1.0: ("abs", "sum", "none"), 2.0: ("sq", "sum", "sqrt"), math.inf: ("abs", "max", "none"),
               -math.inf: ("abs", "min", "none"), 0.0: ("nonzero", "sum", "none")}
_PLANS = {"sum": ("id", "sum", "none"), "mean": ("id", "sum", "div"), "prod": ("id", "prod", "none"),
          "amax": ("id", "max", "none"), "amin": ("id", "min", "none"), "all": ("nonzero", "min", "ne0"),
          "any": ("nonzero", "max", "ne0"), "logsumexp": ("expdev", "sum", "logc"),
          "var": ("sqdev", "sum", "div")}
_CENTERED = ("sqdev", "expdev", "eq", "abseq")


def _acc_dtype(x_dtype, transform, combine):
    name = np.dtype(x_dtype).name
    if transform == "nonzero" and combine in ("min", "max"):
        return np.dtype(np.int32)  # all / any: 0/1 flags
    if name == "float64":
        return np.dtype(np.float64)
    if name in _FLOATS:
        return np.dtype(np.float32)
    return np.dtype(np.int64)


def _identity(combine, acc):
    if combine == "sum":
        return 0
    if combine == "prod":
        return 1
    if acc.kind == "f":
        return -math.inf if combine == "max" else math.inf
    if acc == np.int32:  # int32 only accumulates the 0/1 flags of all/any
        return 0 if combine == "max" else 1
    info = np.iinfo(acc)
    return int(info.min) if combine == "max" else int(info.max)


def _row_pass(rv, transform, combine, final, out_dtype, center=None, p=1.0, div=1.0):
    """One row reduction of ``rv`` (a `_Rows`) -> a new contiguous (rows,) array of ``out_dtype``.

    Splits the reduced axis across programs (then combines the partials with a second launch) when the
    rows alone would leave the device mostly idle."""
    x = rv.array
    acc = _acc_dtype(x.dtype, transform, combine)
    out = runtime.empty((rv.rows,), out_dtype, x.device)
    if rv.rows == 0:
        return out
    block_r, block_c, warps = _tile_sizes(rv.rows, rv.red)
    row_blocks = _cdiv(rv.rows, block_r)
    # mode-specific on purpose (tuning only): a GPU wants ~4 waves of 132 SMs, the interpreter few programs
    interp = runtime.interpreting()
    target, split_min = (64, 16384) if interp else (528, 4096)
    splits = 1
    if row_blocks < target and rv.red >= 2 * split_min:
        splits = min(_cdiv(rv.red, split_min), _cdiv(target, row_blocks))
    per_split = max(_cdiv(_cdiv(rv.red, splits), block_c), 1) * block_c
    splits = max(1, _cdiv(rv.red, per_split))
    c_arr, c_stride = (center, center.element_strides[0]) if center is not None else (x, 0)
    common = dict(p=float(p), USE_CENTER=center is not None, ACC=_TL_DTYPE[acc.name],
                  IDENTITY=_identity(combine, acc), BLOCK_R=block_r, num_warps=warps)
    if splits == 1:
        _reduce_fwd_kernel[(row_blocks, 1)](
            x, c_arr, out, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr, c_stride, per_split,
            div=float(div), TRANSFORM=transform, COMBINE=combine, FINAL=final, BLOCK_C=block_c, **common)
        return out
    partial = runtime.empty((rv.rows, splits), acc, x.device)
    _reduce_fwd_kernel[(row_blocks, splits)](
        x, c_arr, partial, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr, c_stride, per_split,
        div=1.0, TRANSFORM=transform, COMBINE=combine, FINAL="none", BLOCK_C=block_c, **common)
    block_r2, block_c2, warps2 = _tile_sizes(rv.rows, splits)
    common.update(BLOCK_R=block_r2, num_warps=warps2)
    _reduce_fwd_kernel[(_cdiv(rv.rows, block_r2), 1)](
        partial, c_arr, out, rv.rows, 1, splits, splits, 0, 1, c_stride, splits,
        div=float(div), TRANSFORM="id", COMBINE=combine, FINAL=final, BLOCK_C=block_c2, **common)
    return out


def _norm_plan(p):
    p = float(p)
    if p in _NORM_PLANS:
        return _NORM_PLANS[p]
    if p < 0 or math.isnan(p):
        raise ValueError(f"norm: p must be a non-negative number or inf, got {p}")
    return ("powabs", "sum", "root")


def _result_dtype(op, dt):
    dt = np.dtype(dt)
    if op in ("all", "any"):
        return np.dtype(np.bool_)
    if op in ("sum", "prod") and not is_floating(dt):
        return np.dtype(np.int64)
    return dt


def _check_dtype(what, x, float_only):
    name = np.dtype(x.dtype).name
    if name not in _FLOATS + _INTS:
        raise TypeError(f"{what}: unsupported dtype {name}")
    if float_only and name not in _FLOATS:
        raise TypeError(f"{what}: expected a floating-point input, got {name} (cast it first)")


def _check_input(op, x, allowed_ops, backward=False):
    if op not in allowed_ops:
        raise ValueError(f"unknown reduction {op!r} (expected one of {', '.join(allowed_ops)})")
    float_only = backward or op in ("mean", "logsumexp", "var", "norm")
    _check_dtype(f"{op} backward" if backward else op, x, float_only)


def _empty_reduction_error(op, x, dims):
    return ValueError(f"{op}(): cannot reduce over a zero-size dimension: input shape {x.shape}, "
                      f"dims {dims} (the operation has no identity)")


def reduce(op, x, dims, keepdim, **params):
    """``op`` of ``REDUCE_OPS`` over ``dims`` of ``x`` (``torch.sum``/``mean``/``prod``/``amax``/``amin``/
    ``all``/``any``/``logsumexp``/``var(correction=)``/``linalg.vector_norm(ord=p)`` with ``dim=dims``).

    ``dims``: a tuple of dims (negative ones are normalised; empty for a 0-d input). Result dtypes as in
    PyTorch: ``sum``/``prod`` of bool or integers give int64, ``all``/``any`` bool, the rest keep the
    input dtype (``mean``/``var``/``logsumexp``/``norm`` need floating input). Empty reductions give
    ``sum`` 0, ``prod`` 1, ``mean``/``var`` nan, ``logsumexp`` -inf, ``norm`` 0, ``all`` True, ``any`` False;
    ``amax``/``amin`` raise. Returns a new contiguous array."""
    _check_input(op, x, REDUCE_OPS)
    dims = _normalize_dims(dims, x.ndim, op)
    out_shape = _out_shape(x.shape, dims, keepdim)
    out_dtype = _result_dtype(op, x.dtype)
    rv = _Rows(x, dims)
    if rv.red == 0 and rv.rows > 0 and op in ("amax", "amin"):
        raise _empty_reduction_error(op, x, dims)
    if op == "var":
        correction = params.get("correction", 1)
        mean = _row_pass(rv, "id", "sum", "div", _acc_dtype(x.dtype, "id", "sum"), div=rv.red)
        y = _row_pass(rv, "sqdev", "sum", "div", out_dtype, center=mean, div=max(rv.red - correction, 0))
    elif op == "logsumexp":
        acc = _acc_dtype(x.dtype, "id", "max")
        m = _row_pass(rv, "id", "max", "none", acc)
        y = _row_pass(rv, "expdev", "sum", "logc", out_dtype, center=m)
    elif op == "norm":
        p = params.get("p", 2)
        y = _row_pass(rv, *_norm_plan(p), out_dtype, p=p)
    else:
        y = _row_pass(rv, *_PLANS[op], out_dtype, div=rv.red)
    return _reshaped(y, out_shape)


# ================================================================================= backward
@triton.jit
def _reduce_bwd_kernel(x_ptr, y_ptr, gy_ptr, a_ptr, b_ptr, gx_ptr,
                       n_rows, inner, n_red,
                       stride_o, stride_i, stride_r,       # x as (outer, red, inner)
                       gstride_o, gstride_i, gstride_r,    # gx as (outer, red, inner)
                       stride_y, stride_gy,                # y, gy as 1-D row vectors
                       p, div,
                       OP: tl.constexpr, LOAD_X: tl.constexpr, ACC: tl.constexpr,
                       BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    # gx[row, col] = f(x[row, col], y[row], gy[row], a[row], b[row]); a, b are contiguous row statistics
    # one flat grid axis (the reduced extent alone can pass the 65,535 programs of axes y and z)
    pid_c, pid_r, _ = program_ids(tl.cdiv(n_red, BLOCK_C), tl.cdiv(n_rows, BLOCK_R))
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    row_mask = rows < n_rows
    mask = row_mask[:, None] & (cols < n_red)[None, :]
    if LOAD_X:
        x = tl.load(x_ptr + _row_base(rows, inner, stride_o, stride_i)[:, None] + cols[None, :] * stride_r,
                    mask=mask, other=0).to(ACC)
    else:  # sum / mean: gx does not depend on x
        x = tl.zeros([BLOCK_R, BLOCK_C], ACC)
    g = tl.load(gy_ptr + rows * stride_gy, mask=row_mask, other=0).to(ACC)[:, None]
    y = tl.load(y_ptr + rows * stride_y, mask=row_mask, other=0).to(ACC)[:, None]
    a = tl.load(a_ptr + rows, mask=row_mask, other=1).to(ACC)[:, None]
    b = tl.load(b_ptr + rows, mask=row_mask, other=1).to(ACC)[:, None]
    if OP == "sum":
        gx = g + 0 * x
    elif OP == "mean":
        gx = g / div + 0 * x
    elif OP == "prod":  # a: number of zeros in the row, b: product of its non-zero elements
        gx = tl.where(a == 0, g * (b / x), tl.where((a == 1) & (x == 0), g * b, 0.0))
    elif OP == "extremum":  # a: how many elements tie with the max/min y
        gx = tl.where(x == y, g / a, 0.0)
    elif OP == "logsumexp":
        gx = g * tl.exp(x - y)
    elif OP == "var":  # a: the row mean
        gx = g * 2.0 * (x - a) / div
    elif OP == "norm1":
        gx = g * tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))
    elif OP == "norm2":
        gx = tl.where(y == 0, 0.0, g * x / y)
    elif OP == "norminf":  # a: how many |x| tie with the norm
        gx = tl.where((tl.abs(x) == y) & (y != 0), g * tl.where(x > 0, 1.0, -1.0) / a, 0.0)
    elif OP == "normp":  # sign(x) |x|^(p-1) / y^(p-1)
        ratio = tl.exp(tl.log(tl.abs(x) / y) * (p - 1.0))
        gx = tl.where((y == 0) | (x == 0), 0.0, g * tl.where(x > 0, 1.0, -1.0) * ratio)
    else:
        tl.static_assert(OP == "zero")
        gx = 0.0 * x
    gx_off = _row_base(rows, inner, gstride_o, gstride_i)[:, None] + cols[None, :] * gstride_r
    tl.store(gx_ptr + gx_off, cast_to(gx, gx_ptr.dtype.element_ty), mask=mask)


_DIFFERENTIABLE = ("sum", "mean", "prod", "amax", "amin", "logsumexp", "var", "norm")


def reduce_bwd(op, x, y, gy, dims, keepdim, **params):
    """Gradient of ``reduce(op, x, dims, keepdim, **params)`` w.r.t. ``x`` (PyTorch's autograd formulas)
    given the forward output ``y`` and upstream ``gy`` (both at the output shape, any strides). For
    ``sum`` and ``mean`` only ``x.shape``/``x.dtype``/``x.device`` are read (``x`` may be a shape-only
    stand-in) and ``y`` may be None.

    ``amax``/``amin`` split the gradient evenly between tied extrema; ``prod`` is right when ``x`` holds
    zeros (one zero: only it gets the product of the others; two or more: all 0); ``norm`` at 0 gives 0;
    ``var`` gives ``2 (x - mean) gy / (n - correction)``. Returns a new contiguous array like ``x``."""
    _check_input(op, x, _DIFFERENTIABLE, backward=True)
    dims = _normalize_dims(dims, x.ndim, op)
    gx = runtime.empty(x.shape, x.dtype, x.device)
    if gx.numel() == 0:
        return gx
    load_x = op not in ("sum", "mean")
    rv = _Rows(x, dims, data=load_x)
    acc = _acc_dtype(x.dtype, "id", "sum")
    gy_rows = _row_vector(gy, rv.rows)
    y_rows = _row_vector(y, rv.rows) if y is not None else gy_rows
    a = b = y_rows
    p = float(params.get("p", 2))
    div = float(rv.red)
    kind = op
    if op == "prod":
        kind = "prod"
        a = _row_pass(rv, "iszero", "sum", "none", acc)
        b = _row_pass(rv, "zero_as_one", "prod", "none", acc)
    elif op in ("amax", "amin"):
        kind = "extremum"
        a = _row_pass(rv, "eq", "sum", "none", acc, center=y_rows)
    elif op == "var":
        a = _row_pass(rv, "id", "sum", "div", acc, div=rv.red)
        div = float(max(rv.red - params.get("correction", 1), 0))
    elif op == "norm":
        kind = {1.0: "norm1", 2.0: "norm2", math.inf: "norminf", 0.0: "zero"}.get(p, "normp")
        if kind == "norminf":
            a = _row_pass(rv, "abseq", "sum", "none", acc, center=y_rows)
        if p == -math.inf:
            raise ValueError("norm backward: p=-inf is not supported")
    # write gx in place when its layout merges like x's; otherwise into a buffer in x's permuted order
    g_strides = rv.strides_of(rv.permuted(gx))
    target = gx
    if g_strides is None:
        target = runtime.empty(rv.permuted_shape(x.shape), x.dtype, x.device)
        g_strides = rv.strides_of(target)
    block_r, block_c, warps = _tile_sizes(rv.rows, rv.red)
    grid = (_cdiv(rv.rows, block_r) * _cdiv(rv.red, block_c),)
    _reduce_bwd_kernel[grid](
        rv.array if load_x else gy_rows, y_rows, gy_rows, a, b, target, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr,
        *g_strides, y_rows.element_strides[0], gy_rows.element_strides[0],
        p, div, OP=kind, LOAD_X=load_x, ACC=_TL_DTYPE[acc.name], BLOCK_R=block_r, BLOCK_C=block_c,
        num_warps=warps)
    if target is not gx:
        copy_(rv.permuted(gx), target)
    return gx


# ================================================================================= argmax / argmin
@triton.jit
def _argbest_combine(v1, i1, v2, i2, IS_MAX: tl.constexpr):
    """The better of two (value, index) candidates: nan beats numbers, then the larger (smaller) value,
    then the smaller index."""
    nan1 = v1 != v1
    nan2 = v2 != v2
    tie = (v1 == v2) | (nan1 & nan2)
    if IS_MAX:
        better = v1 > v2
    else:
        better = v1 < v2
    take1 = better | (nan1 & ~nan2) | (tie & (i1 < i2))
    return tl.where(take1, v1, v2), tl.where(take1, i1, i2)


@triton.jit
def _argreduce_fwd_kernel(x_ptr, val_ptr, idx_ptr,
                          n_rows, inner, n_red, stride_o, stride_i, stride_r,
                          IS_MAX: tl.constexpr, IDENTITY: tl.constexpr, ACC: tl.constexpr,
                          BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < n_rows
    base = _row_base(rows, inner, stride_o, stride_i)
    best_v = tl.full([BLOCK_R], IDENTITY, ACC)
    best_i = tl.zeros([BLOCK_R], tl.int64)
    for start in range(0, n_red, BLOCK_C):
        cols = start + tl.arange(0, BLOCK_C).to(tl.int64)
        mask = row_mask[:, None] & (cols < n_red)[None, :]
        x = tl.load(x_ptr + base[:, None] + cols[None, :] * stride_r, mask=mask, other=0).to(ACC)
        x = tl.where(mask, x, IDENTITY)
        # the block's best from built-in reductions: its extremum, the first column holding it, and the
        # first nan (which wins)
        if IS_MAX:
            v = tl.max(x, 1)
        else:
            v = tl.min(x, 1)
        no_col = n_red + BLOCK_C
        i = tl.min(tl.where(x == v[:, None], cols[None, :], no_col), 1)
        nan_i = tl.min(tl.where(x != x, cols[None, :], no_col), 1)
        v = tl.where(nan_i < no_col, float("nan"), v).to(ACC)
        i = tl.where(nan_i < no_col, nan_i, i)
        best_v, best_i = _argbest_combine(best_v, best_i, v, i, IS_MAX)
    tl.store(val_ptr + rows, cast_to(best_v, val_ptr.dtype.element_ty), mask=row_mask)
    tl.store(idx_ptr + rows, best_i, mask=row_mask)


def argreduce(op, x, dim, keepdim):
    """``torch.max(x, dim)`` / ``torch.min(x, dim)``: ``(values, indices)`` along ``dim``; indices int64,
    the first occurrence on ties, NaN counts as the extremum (PyTorch). An empty ``dim`` raises."""
    if op not in ("max", "min"):
        raise ValueError(f"argreduce: op must be 'max' or 'min', got {op!r}")
    _check_dtype(f"arg{op}", x, float_only=False)
    dims = _normalize_dims((dim,), x.ndim, f"arg{op}") if x.ndim else ()
    rv = _Rows(x, dims)
    if rv.red == 0 and rv.rows > 0:
        raise _empty_reduction_error(f"arg{op}", x, dims)
    shape = _out_shape(x.shape, dims, keepdim)
    values = runtime.empty(shape, x.dtype, x.device)
    indices = runtime.empty(shape, np.int64, x.device)
    if rv.rows == 0:
        return values, indices
    acc = _acc_dtype(x.dtype, "id", "max")
    block_r, block_c, warps = _tile_sizes(rv.rows, rv.red)
    _argreduce_fwd_kernel[(_cdiv(rv.rows, block_r),)](
        rv.array, values, indices, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr,
        IS_MAX=op == "max", IDENTITY=_identity("max" if op == "max" else "min", acc), ACC=_TL_DTYPE[acc.name],
        BLOCK_R=block_r, BLOCK_C=block_c, num_warps=warps)
    return values, indices


# ================================================================================= cumsum
@triton.jit
def _cumsum_fwd_kernel(x_ptr, out_ptr, n_rows, inner, n,
                       stride_o, stride_i, stride_r,       # x as (outer, n, inner)
                       ostride_o, ostride_i, ostride_r,    # out as (outer, n, inner)
                       REVERSE: tl.constexpr, ACC: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < n_rows
    base = _row_base(rows, inner, stride_o, stride_i)
    obase = _row_base(rows, inner, ostride_o, ostride_i)
    carry = tl.zeros([BLOCK_R], ACC)
    for start in range(0, n, BLOCK_C):
        # REVERSE walks the axis from its end, so a forward scan gives suffix sums
        steps = start + tl.arange(0, BLOCK_C).to(tl.int64)
        cols = (n - 1 - steps) if REVERSE else steps
        mask = row_mask[:, None] & (steps < n)[None, :]
        x = tl.load(x_ptr + base[:, None] + cols[None, :] * stride_r, mask=mask, other=0).to(ACC)
        scan = tl.cumsum(x, 1) + carry[:, None]
        tl.store(out_ptr + obase[:, None] + cols[None, :] * ostride_r, cast_to(scan, out_ptr.dtype.element_ty), mask=mask)
        # The next carry is the scan's last column (masked columns add 0). Not `carry += tl.sum(x, 1)`: triton
        # 3.6's TritonGPUOptimizeThreadLocality asserts on a loop-carried reduction whose loop result is unused.
        carry = tl.sum(tl.where((tl.arange(0, BLOCK_C) == BLOCK_C - 1)[None, :], scan, 0), 1)


def cumsum(x, dim, reverse=False):
    """``torch.cumsum(x, dim)``: inclusive prefix sums along ``dim`` (``reverse=True``: suffix sums, the
    backward of cumsum). Integer/bool inputs give int64; floats keep their dtype, fp32 accumulation."""
    _check_dtype("cumsum", x, float_only=False)
    dims = _normalize_dims((dim,), x.ndim, "cumsum") if x.ndim else ()
    out = runtime.empty(x.shape, _result_dtype("sum", x.dtype), x.device)
    if out.numel() == 0:
        return out
    rv = _Rows(x, dims)
    o_strides = rv.strides_of(rv.permuted(out))  # out is contiguous, the axis a single dim: always merges
    acc = _acc_dtype(x.dtype, "id", "sum")
    block_r, block_c, warps = _tile_sizes(rv.rows, rv.red)
    _cumsum_fwd_kernel[(_cdiv(rv.rows, block_r),)](
        rv.array, out, rv.rows, rv.inner, rv.red, rv.so, rv.si, rv.sr, *o_strides,
        REVERSE=bool(reverse), ACC=_TL_DTYPE[acc.name], BLOCK_R=block_r, BLOCK_C=block_c, num_warps=warps)
    return out


# ================================================================================= AOT specs
def aot_specs():
    """``(name, jit_fn, signature, constexprs, options)`` for every kernel here: fp32 and bf16 inputs
    (fp32 accumulation) for each forward pass plan, each backward formula, argmax/argmin and cumsum,
    plus the integer paths (int64 sum of int32, bool all, int64 argmax). Each in the largest tile
    `_tile_sizes` launches, with its warps."""
    block_r, block_c, warps = _tile_sizes(1 << 20, 1 << 20)
    tile = {"BLOCK_R": block_r, "BLOCK_C": block_c}

    def aot_tile(*args):  # aot_spec in the tile's warps
        return aot_spec(*args, num_warps=warps)

    f32 = np.dtype(np.float32)
    fwd_plans = (("id", "sum", "div"), ("id", "max", "none"), ("expdev", "sum", "logc"), ("sqdev", "sum", "div"),
                 ("powabs", "sum", "root"), ("id", "prod", "none"), ("eq", "sum", "none"))
    for t in ("fp32", "bf16"):
        for tr, comb, fin in fwd_plans:
            cx = {"TRANSFORM": tr, "COMBINE": comb, "FINAL": fin, "USE_CENTER": tr in _CENTERED,
                  "IDENTITY": _identity(comb, f32), "ACC": tl.float32, **tile}
            yield aot_tile(f"reduce_{tr}_{comb}_{fin}_{t}", _reduce_fwd_kernel,
                           {"x_ptr": f"*{t}", "c_ptr": "*fp32", "out_ptr": f"*{t}", "p": "fp32", "div": "fp32"}, cx)
        for kind in ("sum", "mean", "prod", "extremum", "logsumexp", "var", "norm1", "norm2", "norminf",
                     "normp", "zero"):
            yield aot_tile(f"reduce_bwd_{kind}_{t}", _reduce_bwd_kernel,
                           {"x_ptr": f"*{t}", "y_ptr": f"*{t}", "gy_ptr": f"*{t}", "a_ptr": "*fp32",
                            "b_ptr": "*fp32", "gx_ptr": f"*{t}", "p": "fp32", "div": "fp32"},
                           {"OP": kind, "LOAD_X": kind not in ("sum", "mean"), "ACC": tl.float32, **tile})
        for is_max in (True, False):
            cx = {"IS_MAX": is_max, "IDENTITY": _identity("max" if is_max else "min", f32), "ACC": tl.float32,
                  **tile}
            yield aot_tile(f"arg{'max' if is_max else 'min'}_{t}", _argreduce_fwd_kernel,
                           {"x_ptr": f"*{t}", "val_ptr": f"*{t}", "idx_ptr": "*i64"}, cx)
        for rev in (False, True):
            yield aot_tile(f"cumsum{'_rev' if rev else ''}_{t}", _cumsum_fwd_kernel,
                           {"x_ptr": f"*{t}", "out_ptr": f"*{t}"},
                           {"REVERSE": rev, "ACC": tl.float32, **tile})
    i64 = np.dtype(np.int64)
    yield aot_tile("reduce_sum_i32", _reduce_fwd_kernel,
                   {"x_ptr": "*i32", "c_ptr": "*i64", "out_ptr": "*i64", "p": "fp32", "div": "fp32"},
                   {"TRANSFORM": "id", "COMBINE": "sum", "FINAL": "none", "USE_CENTER": False,
                    "IDENTITY": _identity("sum", i64), "ACC": tl.int64, **tile})
    yield aot_tile("reduce_all_i1", _reduce_fwd_kernel,
                   {"x_ptr": "*i1", "c_ptr": "*i32", "out_ptr": "*i1", "p": "fp32", "div": "fp32"},
                   {"TRANSFORM": "nonzero", "COMBINE": "min", "FINAL": "ne0", "USE_CENTER": False,
                    "IDENTITY": _identity("min", np.dtype(np.int32)), "ACC": tl.int32, **tile})
    yield aot_tile("argmax_i64", _argreduce_fwd_kernel, {"x_ptr": "*i64", "val_ptr": "*i64", "idx_ptr": "*i64"},
                   {"IS_MAX": True, "IDENTITY": _identity("max", i64), "ACC": tl.int64, **tile})
