"""Tensor and top-level ops added for PyTorch API breadth, each under PyTorch's name and semantics.

Sorting (`sort`, `argsort`, `topk`, `msort`) runs the backend's stable sort (a Triton rank-sort kernel on
cuda, NumPy on cpu) with its gradient from `functions_b.Sort`. The rest are composites of existing ops:
their forward and backward come from autograd. ``Tensor`` methods of the same names call these functions.
"""
from __future__ import annotations

import functools
import math
from collections import namedtuple

import ml_dtypes
import numpy as np

from . import autograd
from . import dtypes as _dt
from . import functions_b as FB
from ._autocast import autocast_op
from .tensor import _TYPE_NAMES, Tensor, _as_index, _norm_dim, arange, tensor, where, zeros

__all__ = ["sort", "argsort", "msort", "topk", "outer", "isclose", "addmm", "baddbmm", "addcmul", "addcdiv",
           "nan_to_num", "float_power", "kron", "cdist", "diagonal", "diag_embed", "diag", "tril_indices",
           "triu_indices", "masked_select", "repeat_interleave", "scatter", "index_add", "bucketize",
           "searchsorted", "einsum", "inplace", "write_out", "log10", "log2", "exp2", "sinh", "cosh", "tan",
           "isfinite", "isposinf", "isneginf", "unique", "cumprod", "movedim", "moveaxis", "tile",
           "install_numpy_keyword_aliases"]

sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


def _check_tensor(fn, name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _sorted(x, dim, descending, k):
    d = _norm_dim(dim, x.ndim)
    if x.requires_grad and not x.dtype.is_floating_point:
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    if x.dtype.is_floating_point:
        return FB.Sort.apply(x, dim=d, descending=bool(descending), k=k)
    return tuple(Tensor._make(a, x.device) for a in x._be.sort(x._data, d, bool(descending), k))


def sort(input, dim=-1, descending=False, stable=False, *, out=None):
    """``torch.sort``: ``(values, indices)`` of ``input`` sorted along ``dim``, ascending unless
    ``descending``. The sort is always stable (equal elements keep their order), which ``stable=True``
    asks for and ``stable=False`` allows; NaN sorts after every number (first when descending)."""
    _check_tensor("sort", "input", input)
    result = sort_result(*_sorted(input, dim, descending, None))
    return result if out is None else sort_result(*write_out("sort", tuple(out), result))


def argsort(input, dim=-1, descending=False, stable=False):
    """``torch.argsort``: the indices that sort ``input`` along ``dim`` (`sort`'s second result; stable)."""
    _check_tensor("argsort", "input", input)
    return _sorted(input.detach(), dim, descending, None)[1]


def msort(input):
    """``torch.msort``: ``input`` sorted along its first dim (ascending)."""
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """``torch.topk``: ``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``. Results are always in sorted order (which ``sorted=False`` allows); ties go to the lower index.
    ``out=(values, indices)`` writes into those tensors (`write_out`)."""
    _check_tensor("topk", "input", input)
    n = input.shape[_norm_dim(dim, input.ndim)] if input.ndim else 1
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k={k!r} out of range (dim {dim} has size {n})")
    result = topk_result(*_sorted(input, dim, largest, k))
    return result if out is None else topk_result(*write_out("topk", tuple(out), result))


# ------------------------------------------------------------------------------------------- in place
def inplace(self, compute, *others):
    """Run ``compute(self)`` (an out-of-place op) and write its result into ``self``, with the checks and the
    version-counter bump of the built-in in-place ops: refused on leaves that require grad and on expanded
    views; under autograd the result takes ``self``'s place in the graph (`Tensor._rebind`). ``others`` are
    the op's other tensors (their ``requires_grad`` puts the op in the graph too). Returns ``self``."""
    self._check_inplace()
    if autograd.is_grad_enabled() and (self.requires_grad or
                                       any(isinstance(o, Tensor) and o.requires_grad for o in others)):
        # computed from a private copy: nodes inside a composite op that save their input then keep values that
        # later in-place ops on self cannot change (PyTorch's "original self")
        return self._rebind(compute(self.clone()))
    with autograd.no_grad():
        res = compute(self)
    if tuple(res.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(res.shape)}")
    if res.dtype.is_floating_point and not self.dtype.is_floating_point:
        raise RuntimeError(f"result type {_TYPE_NAMES[res.dtype.name]} can't be cast to the desired output type "
                           f"{_TYPE_NAMES[self.dtype.name]}")
    self._be.copy_(self._data, res.to(self.dtype)._data if res.device == self.device else res.to(self)._data)
    self._version[0] += 1
    return self


def write_out(fn, out, result):
    """Finish ``fn(..., out=out)`` as PyTorch does: ``result`` (computed out of place) is written into the
    tensor ``out`` (or each of a tuple of them), which is returned. ``out`` must be on the result's device
    and of a dtype the result may be cast to (no float into an integer tensor); an ``out`` of another shape
    is resized (a UserWarning unless it was empty; never a view). Refused when the result is part of the
    autograd graph (out= is not differentiable) or ``out`` is a leaf that requires grad."""
    if isinstance(out, (tuple, list)):
        results = result if isinstance(result, tuple) else (result,)
        if len(out) != len(results):
            raise TypeError(f"{fn}(): out= takes {len(results)} tensors, got {len(out)}")
        return type(out)(write_out(fn, o, r) for o, r in zip(out, results))
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if result.requires_grad:
        raise RuntimeError(f"{fn}(): functions with out=... arguments don't support automatic differentiation, "
                           f"but one of the arguments requires grad.")
    if out.device != result.device:
        raise RuntimeError(f"{fn}(): Expected out tensor to be on {result.device} but got {out.device}")
    if result.dtype.is_floating_point and not out.dtype.is_floating_point:
        raise RuntimeError(f"result type {_TYPE_NAMES[result.dtype.name]} can't be cast to the desired output "
                           f"type {_TYPE_NAMES[out.dtype.name]}")
    out._check_inplace()
    if tuple(out.shape) != tuple(result.shape):
        if out._base is not None:
            raise RuntimeError(f"{fn}(): out is a view of shape {list(out.shape)}; the result has shape "
                               f"{list(result.shape)} and a view cannot be resized")
        if out.numel():
            import warnings
            warnings.warn(f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
                          f"which does not match the required output shape {list(result.shape)}.", UserWarning,
                          stacklevel=3)
        out._data = out._be.empty(tuple(result.shape), out._data.dtype, out._be.device_of(out._data))
    out._be.copy_(out._data, result.to(out.dtype)._data)
    out._version[0] += 1
    return out


def _accepts_out(fn):
    """``fn`` with PyTorch's ``out=`` keyword: the result is written into ``out`` by `write_out`."""
    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        result = fn(*args, **kwargs)
        return result if out is None else write_out(fn.__name__, out, result)
    return wrapper


# ------------------------------------------------------------------------------------------- composites
@_accepts_out
def outer(input, vec2):
    """``torch.outer``: ``out[i, j] = input[i] * vec2[j]`` for 1-D ``input`` and ``vec2``."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {list(input.shape)} and {list(vec2.shape)}")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``torch.isclose``: elementwise ``|input - other| <= atol + rtol * |other|`` (bool), with equal
    infinities close and NaN close to NaN only when ``equal_nan``."""
    a, b = input.detach(), other.detach() if isinstance(other, Tensor) else other
    if not a.is_floating_point():
        a = a.double()
    if isinstance(b, Tensor) and not b.is_floating_point():
        b = b.double()
    b = b if isinstance(b, Tensor) else tensor(float(b), dtype=a.dtype, device=a.device)
    finite = ~(a.isinf() | b.isinf())
    close = (a == b) | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


def _scaled_sum(input, product, beta, alpha):
    product = product if alpha == 1 else product * alpha
    if beta == 0:   # PyTorch ignores input then (NaN and inf in it do not propagate)
        return product
    return product + (input if beta == 1 else input * beta)


@_accepts_out
@autocast_op("addmm")
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``torch.addmm``: ``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1``, ``mat2`` and ``input``
    broadcastable to the product (``input`` ignored when ``beta`` is 0)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: expected 2-D matrices, got {list(mat1.shape)} and {list(mat2.shape)}")
    return _scaled_sum(input, mat1.mm(mat2), beta, alpha)


@_accepts_out
@autocast_op("baddbmm")
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``torch.baddbmm``: ``beta * input + alpha * (batch1 @ batch2)`` for 3-D batches."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError(f"baddbmm: expected 3-D tensors, got {list(batch1.shape)} and {list(batch2.shape)}")
    return _scaled_sum(input, batch1.bmm(batch2), beta, alpha)


@_accepts_out
@autocast_op("addcmul")
def addcmul(input, tensor1, tensor2, *, value=1):
    """``torch.addcmul``: ``input + value * tensor1 * tensor2`` (broadcasting)."""
    return input + (tensor1 * tensor2 if value == 1 else tensor1 * tensor2 * value)


@_accepts_out
@autocast_op("addcdiv")
def addcdiv(input, tensor1, tensor2, *, value=1):
    """``torch.addcdiv``: ``input + value * tensor1 / tensor2`` (broadcasting; integer division refused)."""
    if not (tensor1.is_floating_point() or tensor2.is_floating_point()):
        raise RuntimeError("Integer division with addcdiv is no longer supported; use torch.floor_divide")
    return input + (tensor1 / tensor2 if value == 1 else tensor1 / tensor2 * value)


@_accepts_out
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """``torch.nan_to_num``: NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest finite value),
    -inf -> ``neginf`` (default: the most negative); integer tensors come back unchanged (a copy). The
    gradient passes where the input is finite."""
    if not input.is_floating_point():
        return input.clone()
    info = ml_dtypes.finfo(input.dtype.np)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = where(input.isnan(), nan, input)
    out = where(input == math.inf, posinf, out)
    return where(input == -math.inf, neginf, out)


@_accepts_out
def float_power(input, exponent):
    """``torch.float_power``: ``input ** exponent`` computed in float64 (a float64 result)."""
    base = input.double() if isinstance(input, Tensor) else tensor(float(input), dtype=_dt.float64,
                                                                       device=exponent.device)
    exp = exponent.double() if isinstance(exponent, Tensor) else float(exponent)
    return base ** exp


@_accepts_out
def kron(input, other):
    """``torch.kron``: the Kronecker product; the shorter shape is padded with leading 1s, and
    ``out.shape[i] = input.shape[i] * other.shape[i]``."""
    nd = max(input.ndim, other.ndim)
    sa = (1,) * (nd - input.ndim) + tuple(input.shape)
    sb = (1,) * (nd - other.ndim) + tuple(other.shape)
    a = input.reshape([n for s in sa for n in (s, 1)])
    b = other.reshape([n for s in sb for n in (1, s)])
    return (a * b).reshape([x * y for x, y in zip(sa, sb)])


def _safe_root(s, p):
    """``s ** (1/p)`` with a zero gradient where ``s`` is 0 (PyTorch's cdist backward at zero distance)."""
    tiny = float(ml_dtypes.finfo(s.dtype.np).tiny)
    root = s.clamp(min=tiny).sqrt() if p == 2 else s.clamp(min=tiny) ** (1.0 / p)
    return where(s > 0, root, 0.0)


@autocast_op("cdist")
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """``torch.cdist``: ``out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p`` for ``x1`` (..., P, M) and
    ``x2`` (..., R, M). p=2 uses matrix products (``|a|^2 + |b|^2 - 2 a.b``) when ``compute_mode`` allows it
    (always for 'use_mm_for_euclid_dist', past 25 rows for the default), other p (0, inf, any p > 0) the
    broadcast difference. The gradient is 0 where a distance is 0."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must be at least 2-D with the same number of columns, got "
                           f"{list(x1.shape)} and {list(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    use_mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == "use_mm_for_euclid_dist_if_necessary" and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    if use_mm:
        sq = (x1 * x1).sum(-1, keepdim=True) + (x2 * x2).sum(-1).unsqueeze(-2) - 2 * x1.matmul(x2.mT)
        return _safe_root(sq.clamp(min=0.0), 2)
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    if p == 0:
        return (diff != 0).sum(-1).to(x1.dtype)
    if p == math.inf:
        return diff.amax(-1)
    if p == 1:
        return diff.sum(-1)
    return _safe_root((diff * diff).sum(-1) if p == 2 else (diff ** p).sum(-1), p)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """``torch.diagonal``: a view of the diagonal ``offset`` (above the main one when positive) of the
    ``(dim1, dim2)`` planes; those dims go away and the diagonal becomes the last dim. Writes through it
    reach ``input``."""
    d1, d2 = _norm_dim(dim1, input.ndim), _norm_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return input._view_fn(FB.Diagonal, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """``torch.diag_embed``: a tensor whose ``(dim1, dim2)`` planes hold the last dim of ``input`` on the
    diagonal ``offset`` and zeros elsewhere (the output has one more dim)."""
    nd = input.ndim + 1
    d1, d2 = _norm_dim(dim1, nd), _norm_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = input.shape[-1] + abs(offset)
    out = zeros(*input.shape[:-1], m, m, dtype=input.dtype, device=input.device)
    out.diagonal(offset, -2, -1).copy_(input)
    rest = iter(range(nd - 2))
    order = [nd - 2 if d == d1 else nd - 1 if d == d2 else next(rest) for d in range(nd)]
    return out.permute(*order)


@_accepts_out
def diag(input, diagonal=0):
    """``torch.diag``: a 1-D input becomes a square matrix with it on diagonal ``diagonal``; a 2-D input gives
    (a copy of) its diagonal ``diagonal``."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return input.diagonal(diagonal).clone()
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def _tri_indices(np_fn, row, col, offset, dtype, device):
    r, c = np_fn(row, offset, col)
    return tensor(np.stack([r, c]).astype(np.int64).reshape(2, -1), dtype=dtype, device=device)


def tril_indices(row, col, offset=0, *, dtype=_dt.int64, device="cpu", layout=None):
    """``torch.tril_indices``: the (2, N) row and column indices of the lower triangle (diagonal ``offset``
    and below) of a ``row`` x ``col`` matrix, in row-major order."""
    return _tri_indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=_dt.int64, device="cpu", layout=None):
    """``torch.triu_indices``: the (2, N) indices of the upper triangle (diagonal ``offset`` and above)."""
    return _tri_indices(np.triu_indices, row, col, offset, dtype, device)


@_accepts_out
def masked_select(input, mask):
    """``torch.masked_select``: the 1-D tensor of ``input``'s elements where the bool ``mask`` is True
    (both broadcast to a common shape), in row-major order. Synchronizes (the length depends on data)."""
    if mask.dtype is not _dt.bool:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {mask.dtype}")
    from ._strides import broadcast_shapes
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return input.expand(shape)[mask.expand(shape)]


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """``torch.repeat_interleave``: each element (slice along ``dim``; of the flattened input when ``dim`` is
    None) repeated ``repeats`` times (an int, or a tensor with one count per element). With only a tensor of
    counts, the indices ``0..n-1`` repeated by those counts."""
    if repeats is None:
        counts = input.detach().cpu().numpy()
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
        return tensor(np.repeat(np.arange(len(counts)), counts), device=input.device)
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = _norm_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    counts = repeats.detach().cpu().numpy() if isinstance(repeats, Tensor) else np.asarray(repeats)
    if (counts < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, n)):
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {counts.size} and input.size({d}) = {n}")
    idx = np.repeat(np.arange(n), np.broadcast_to(counts.reshape(-1), (n,)))
    if output_size is not None and len(idx) != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} != {len(idx)}")
    return input.index_select(d, tensor(idx, device=input.device))


def _scatter_positions(x, dim, index):
    """Flat positions in contiguous ``x`` that `scatter` writes for ``index`` (int64, index's shape)."""
    strides = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    lin = index * strides[dim]
    for d in range(x.ndim):
        if d != dim and index.shape[d] > 1:
            shape = [1] * x.ndim
            shape[d] = index.shape[d]
            lin = lin + arange(index.shape[d], device=x.device).reshape(shape) * strides[d]
    return lin


@_accepts_out
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """``torch.scatter``: a copy of ``input`` with ``src[i][j]`` (or the scalar ``value``) written at
    ``[index[i][j]][j]`` for dim 0 (likewise for any dim); ``index`` no larger than ``src`` and, outside
    ``dim``, ``input``. With duplicate indices one of the values is kept (unspecified which, as in PyTorch).
    Gradients: ``input`` gets the upstream gradient where nothing was written, ``src`` the gradient at the
    places its values went."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported (deprecated in PyTorch); use "
                                  "scatter_add or scatter_reduce")
    if src is None and value is None:
        raise TypeError("scatter(): expected a src tensor or a value")
    d = _norm_dim(dim, input.ndim)
    if index.dtype is not _dt.int64:
        raise RuntimeError(f"scatter(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != max(input.ndim, 1) or any(
            i > s for k, (i, s) in enumerate(zip(index.shape, input.shape)) if k != d):
        raise RuntimeError(f"scatter(): index of shape {list(index.shape)} does not fit input of shape "
                           f"{list(input.shape)} at dim {d}")
    lin = _scatter_positions(input, d, index).reshape(-1)
    if isinstance(src, Tensor):
        if any(i > s for i, s in zip(index.shape, src.shape)):
            raise RuntimeError(f"scatter(): index {list(index.shape)} is larger than src {list(src.shape)}")
        vals = src[tuple(slice(0, k) for k in index.shape)].reshape(-1).to(input.dtype)
    else:
        vals = value if value is not None else src
    out = input.clone()
    out.view(-1)[lin] = vals
    return out


@_accepts_out
def index_add(input, dim, index, source, *, alpha=1):
    """``torch.index_add``: a copy of ``input`` with ``alpha * source`` added at ``index`` along ``dim``
    (duplicate indices accumulate)."""
    d = _norm_dim(dim, input.ndim)
    index = _as_index(index, input.device)
    if index.ndim > 1:
        raise IndexError("index_add_(): Index is supposed to be a vector")
    return FB.IndexAdd.apply(input, index.reshape(-1), source if alpha == 1 else source * alpha, dim=d)


@_accepts_out
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """``torch.searchsorted``: for each value the index where it would be inserted into the sorted last dim
    of ``sorted_sequence`` (leading dims match ``input``'s, or the sequence is 1-D): before equal entries,
    or after them when ``right`` (or ``side='right'``)."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("side and right can't be set to opposites")
        right = side == "right"
    seq = sorted_sequence.detach()
    if sorter is not None:
        seq = seq.gather(-1, sorter)
    values = input.detach() if isinstance(input, Tensor) else tensor(input, device=seq.device)
    if seq.ndim > 1 and tuple(seq.shape[:-1]) != tuple(values.shape[:-1]):
        raise RuntimeError(f"searchsorted: boundaries {list(seq.shape)} and input {list(values.shape)} must have "
                           f"the same leading dims")
    s = seq if seq.ndim > 1 else seq.reshape((1,) * values.ndim + (-1,))
    v = values.unsqueeze(-1)
    s = s.unsqueeze(-2) if seq.ndim > 1 else s
    count = ((s <= v) if right else (s < v)).sum(-1)
    return count.int() if out_int32 else count


@_accepts_out
def bucketize(input, boundaries, *, out_int32=False, right=False):
    """``torch.bucketize``: the bucket of each value for the 1-D sorted ``boundaries``:
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``boundaries[i-1] <= x < boundaries[i]``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ------------------------------------------------------------------------------------------- einsum
def _einsum_terms(equation, operands):
    """(input terms, output term, letter sizes) with ``...`` spelled as letters the equation does not use."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum(): {len(terms)} operands in the equation {equation!r}, {len(operands)} given")
    spare = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba" if c not in eq]
    ell = max((x.ndim - len(t.replace("...", "")) for t, x in zip(terms, operands) if "..." in t), default=0)
    letters = spare[:ell][::-1]
    out_terms = []
    for t, x in zip(terms, operands):
        if "..." in t:
            k = x.ndim - (len(t) - 3)
            t = t.replace("...", "".join(letters[ell - k:]))
        if len(t) != x.ndim or not t.isalpha():
            raise ValueError(f"einsum(): the term {t!r} does not fit an operand of shape {list(x.shape)}")
        out_terms.append(t)
    if arrow:
        out = rhs.replace("...", "".join(letters))
    else:
        joined = "".join(out_terms)
        out = "".join(letters) + "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in letters))
    sizes = {}
    for t, x in zip(out_terms, operands):
        for c, n in zip(t, x.shape):
            if sizes.get(c, 1) != 1 and n != 1 and sizes[c] != n:
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes for subscript {c!r}: "
                                   f"{sizes[c]} vs {n}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ValueError(f"einsum(): output subscripts {out!r} must be distinct letters of the inputs")
    return out_terms, out, sizes


def _einsum_diagonals(t, x):
    """Take the diagonal for every letter repeated within one term (``'ii->i'``)."""
    while len(set(t)) != len(t):
        c = next(c for c in t if t.count(c) > 1)
        i, j = t.index(c), t.index(c, t.index(c) + 1)
        x = x.diagonal(0, i, j)
        t = "".join(ch for k, ch in enumerate(t) if k not in (i, j)) + c
    return t, x


def _einsum_sum_out(t, x, needed):
    dims = [i for i, c in enumerate(t) if c not in needed]
    if not dims:
        return t, x
    return "".join(c for c in t if c in needed), x.sum(dims)


def _einsum_pair(ta, a, tb, b, keep, sizes):
    """Contract two operands into one with the letters ``batch + a-only + b-only``: a batched matmul."""
    ta, a = _einsum_sum_out(ta, a, set(tb) | keep)
    tb, b = _einsum_sum_out(tb, b, set(ta) | keep)
    batch = [c for c in ta if c in tb and c in keep]
    contr = [c for c in ta if c in tb and c not in keep]
    aonly = [c for c in ta if c not in tb]
    bonly = [c for c in tb if c not in ta]
    da = dict(zip(ta, a.shape))
    db = dict(zip(tb, b.shape))
    a = a.permute(*[ta.index(c) for c in batch + aonly + contr])
    a = a.expand(*[sizes[c] for c in batch], *[da[c] for c in aonly], *[sizes[c] for c in contr])
    b = b.permute(*[tb.index(c) for c in batch + contr + bonly])
    b = b.expand(*[sizes[c] for c in batch + contr], *[db[c] for c in bonly])
    nb, m, k, n = (math.prod(sizes[c] for c in batch), math.prod(da[c] for c in aonly),
                   math.prod(sizes[c] for c in contr), math.prod(db[c] for c in bonly))
    out = a.reshape(nb, m, k).matmul(b.reshape(nb, k, n))
    shape = [sizes[c] for c in batch] + [da[c] for c in aonly] + [db[c] for c in bonly]
    return "".join(batch + aonly + bonly), out.reshape(shape)


@autocast_op("einsum")
def einsum(equation, *operands):
    """``torch.einsum``: the Einstein summation ``equation`` (``'ij,jk->ik'``, implicit output, ``...`` and
    broadcasting of size-1 dims, repeated letters for diagonals) over ``operands``, contracted left to right,
    each pair lowered to permutes, a reshape and one batched matmul."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    terms, out, sizes = _einsum_terms(equation, operands)
    pairs = [_einsum_diagonals(t, x) for t, x in zip(terms, operands)]
    t, x = pairs[0]
    for i in range(1, len(pairs)):
        keep = set(out).union(*[set(tt) for tt, _ in pairs[i + 1:]])
        t, x = _einsum_pair(t, x, *pairs[i], keep, sizes)
    t, x = _einsum_sum_out(t, x, set(out))
    x = x.permute(*[t.index(c) for c in out]) if out else x
    return x.expand(*[sizes[c] for c in out]) if tuple(x.shape) != tuple(sizes[c] for c in out) else x


# ------------------------------------------------------------------------------------------------- more ops
from .ops_extra_b import (cosh, cumprod, exp2, isfinite, isneginf, isposinf, log2, log10, moveaxis,  # noqa: E402,F401
                          movedim, sinh, squeeze_, t_, tan, tile, transpose_, unfold, unique, unsqueeze_)


# ------------------------------------------------------------------------------------------------- NumPy keywords
def _numpy_keyword_aliases(fn, renames):
    """``fn`` accepting NumPy's keyword names as PyTorch's argument parser does: ``axis`` for ``dim`` and
    ``keepdims`` for ``keepdim`` (``renames`` maps alias -> name; only names ``fn`` takes are listed)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            for alias, name in renames:
                if alias in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {name!r} and its alias {alias!r}")
                    kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    wrapper._numpy_aliases = True
    return wrapper


def _renames_for(fn):
    import inspect
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return ()
    return tuple((alias, name) for alias, name in (("axis", "dim"), ("keepdims", "keepdim"))
                 if name in params and alias not in params)


def install_numpy_keyword_aliases(namespace, names=None):
    """Let the functions of ``namespace`` (a class such as `Tensor`, or a module's globals dict) that take
    ``dim``/``keepdim`` also take ``axis``/``keepdims``, as every PyTorch op does (``x.sum(1, keepdims=True)``
    in karpathy's makemore lectures, ``x.mean(axis=0)``). ``names`` limits it to those attributes."""
    import inspect
    is_dict = isinstance(namespace, dict)
    if is_dict:
        items = list(namespace.items())
    else:       # the methods of the class and of its bases (Tensor's mixins), plain functions only
        names = {n for klass in namespace.__mro__[:-1] for n in vars(klass)}
        items = [(n, f) for n in sorted(names) if inspect.isfunction(f := inspect.getattr_static(namespace, n))]
    for name, fn in items:
        if name.startswith("_") or (names is not None and name not in names) or not callable(fn) \
                or isinstance(fn, type) or getattr(fn, "_numpy_aliases", False):
            continue
        renames = _renames_for(fn)
        if renames:
            if is_dict:
                namespace[name] = _numpy_keyword_aliases(fn, renames)
            else:
                setattr(namespace, name, _numpy_keyword_aliases(fn, renames))


install_numpy_keyword_aliases(Tensor)
