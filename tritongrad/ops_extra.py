"""Tensor and top-level ops added for PyTorch API breadth, each under PyTorch's name and semantics.

Sorting (`sort`, `argsort`, `topk`, `msort`) runs the backend's stable sort (a Triton rank-sort kernel on
cuda, NumPy on cpu) with its gradient from `functions_b.Sort`. The rest are composites of existing ops:
their forward and backward come from autograd. ``Tensor`` methods of the same names call these functions.
"""
from __future__ import annotations

from collections import namedtuple

from . import functions_b as FB
from .tensor import Tensor, _norm_dim

__all__ = ["sort", "argsort", "msort", "topk"]

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
    if out is not None:
        raise TypeError("sort(): out= is not supported; use the returned (values, indices)")
    return sort_result(*_sorted(input, dim, descending, None))


def argsort(input, dim=-1, descending=False, stable=False):
    """``torch.argsort``: the indices that sort ``input`` along ``dim`` (`sort`'s second result; stable)."""
    _check_tensor("argsort", "input", input)
    return _sorted(input.detach(), dim, descending, None)[1]


def msort(input):
    """``torch.msort``: ``input`` sorted along its first dim (ascending)."""
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """``torch.topk``: ``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``. Results are always in sorted order (which ``sorted=False`` allows); ties go to the lower index."""
    _check_tensor("topk", "input", input)
    n = input.shape[_norm_dim(dim, input.ndim)] if input.ndim else 1
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k={k!r} out of range (dim {dim} has size {n})")
    return topk_result(*_sorted(input, dim, largest, k))
