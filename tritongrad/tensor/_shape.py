"""Shapes and views of `Tensor` (`_ShapeMixin`: view, reshape, permute, expand, split, ...; the matmul
family of methods) and the shape arguments factories take (`_shape_arg`, `_size_arg`)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .. import functions as F
from .._autocast import autocast_op
from ._helpers import Size, _norm_dim, _norm_dims, _pybool, _pyint


def _size_arg(sizes, size):
    """The shape a factory gets as ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))`` (PyTorch takes all three)."""
    if size is not None:
        if sizes:
            raise TypeError(f"the size was given both positionally {tuple(sizes)} and as size={size!r}")
        sizes = (size,)
    return _shape_arg(sizes)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (_pyint, np.integer)) or isinstance(s, _pybool):
            raise TypeError(f"shape entries must be ints, got {s!r} in {tuple(shape)}")
        out.append(_pyint(s))
    return tuple(out)


def _infer_shape(shape, numel):
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        rest = math.prod(n for n in shape if n != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // rest if n == -1 else n for n in shape)
    if any(n < 0 for n in shape):
        raise RuntimeError(f"invalid shape dimension in {list(shape)}")
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class _ShapeMixin:
    """`Tensor`'s shape and view methods."""

    # ------------------------------------------------------------------ shape and views
    def _view_fn(self, fn, **params):
        """``fn`` (a view Function) applied to self; the result shares memory and the version counter with
        the base tensor and remembers the chain of view functions from it (for in-place ops on views)."""
        out = fn.apply(self, **params)
        out._version = self._version
        out._base = self if self._base is None else self._base
        out._view_ops = self._view_ops + ((fn, params),)
        return out

    def view(self, *shape):
        """A view with a new shape; raises when the strides do not allow it (``Tensor.view``)."""
        if len(shape) == 1 and isinstance(shape[0], (_dt.dtype, np.dtype)):
            raise NotImplementedError("view(dtype) is not supported")
        shape = _infer_shape(_shape_arg(shape), self.numel())
        if self._be.reshape_view(self._data, shape) is None:
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return self._view_fn(F.Reshape, shape=shape)

    def reshape(self, *shape):
        """A view when possible, else a copy, with a new shape (``Tensor.reshape``)."""
        shape = _infer_shape(_shape_arg(shape), self.numel())
        if shape == tuple(self._data.shape):
            return self
        if self._be.reshape_view(self._data, shape) is None:
            return F.Reshape.apply(self, shape=shape)   # a copy, not a view (as PyTorch)
        return self._view_fn(F.Reshape, shape=shape)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def permute(self, *dims):
        """A view with dimensions reordered (``Tensor.permute``)."""
        dims = _shape_arg(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                               f"the length of the desired ordering of dimensions i.e. input.dim() = {self.ndim} "
                               f"is not equal to len(dims) = {len(dims)}")
        dims = tuple(_norm_dim(d, self.ndim) for d in dims)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"permute(): duplicate dims are not allowed: {dims}")
        if dims == tuple(range(self.ndim)):
            return self
        return self._view_fn(F.Permute, dims=dims)

    def transpose(self, dim0, dim1):
        """A view with ``dim0`` and ``dim1`` swapped (``Tensor.transpose``)."""
        d0, d1 = _norm_dim(dim0, self.ndim), _norm_dim(dim1, self.ndim)
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(*dims)

    swapaxes = swapdims = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def unsqueeze(self, dim):
        d = _norm_dim(dim, self.ndim + 1)
        shape = list(self.shape)
        shape.insert(d, 1)
        return self._view_fn(F.Reshape, shape=tuple(shape))

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            dims = _norm_dims(dim, self.ndim)
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1))
        if shape == tuple(self.shape):
            return self
        return self._view_fn(F.Reshape, shape=shape)

    def expand(self, *sizes):
        """A broadcast view to ``sizes`` (-1 keeps a size) (``Tensor.expand``)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand(tritongrad.{self.type_name().split('.')[-1]}{{{list(self.shape)}}}, "
                               f"size={list(sizes)}): the number of sizes provided ({len(sizes)}) must be greater "
                               f"or equal to the number of dimensions in the tensor ({self.ndim})")
        lead = len(sizes) - self.ndim
        shape = []
        for i, n in enumerate(sizes):
            have = self.shape[i - lead] if i >= lead else 1
            if n == -1:
                if i < lead:
                    raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
                n = have
            if have != n and have != 1:
                raise RuntimeError(f"The expanded size of the tensor ({n}) must match the existing size ({have}) "
                                   f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                                   f"{list(self.shape)}")
            shape.append(n)
        shape = tuple(shape)
        if shape == tuple(self.shape):
            return self
        return self._view_fn(F.Expand, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def sum_to_size(self, *size):
        """Sum over the dimensions that broadcasting ``size`` to this shape would add or stretch
        (``Tensor.sum_to_size``): a broadcast result's gradient back to the operand's shape."""
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        lead = self.ndim - len(size)
        if lead < 0 or any(n not in (1, m) for n, m in zip(size, self.shape[lead:])):
            raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.")
        dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(size) if n == 1 and self.shape[lead + i] != 1)
        return (self.sum(dims) if dims else self).reshape(size)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim), _norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:]
        return self.reshape(shape)

    def ravel(self):
        return self.reshape(-1)

    def unflatten(self, dim, sizes):
        d = _norm_dim(dim, self.ndim)
        sizes = _infer_shape(tuple(sizes), self.shape[d])
        return self.reshape(self.shape[:d] + sizes + self.shape[d + 1:])

    def narrow(self, dim, start, length):
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if start < 0:
            start += n
        if not (0 <= start <= n and 0 <= length and start + length <= n):
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def split(self, split_size_or_sections, dim=0):
        """Split into chunks of a size, or of the given sizes, along ``dim`` (views)."""
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size_or_sections, (_pyint, np.integer)):
            step = _pyint(split_size_or_sections)
            if step <= 0 and n > 0:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                                   f"size at dimension {d}), but got split_sizes={sizes}")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(d, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if not isinstance(chunks, (_pyint, np.integer)) or chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        return self.split(max(-(-n // chunks), 1) if n else 1, d)

    def unbind(self, dim=0):
        d = _norm_dim(dim, self.ndim)
        return tuple(self.select(d, i) for i in range(self.shape[d]))

    def select(self, dim, index):
        d = _norm_dim(dim, self.ndim)
        return self[(slice(None),) * d + (index,)]

    def repeat(self, *sizes):
        """Tile the tensor ``sizes`` times along each dimension (``Tensor.repeat``)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                               "of tensor")
        x = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        inter, final = [], []
        for r, n in zip(sizes, x.shape):
            inter += [r, n]
            final.append(r * n)
        x = x.reshape(tuple(v for n in x.shape for v in (1, n)))
        return x.expand(tuple(inter)).contiguous().reshape(tuple(final))

    def flip(self, *dims):
        """A copy with the order of elements reversed along ``dims`` (``Tensor.flip``)."""
        dims = _norm_dims(_shape_arg(dims), self.ndim)
        return F.Flip.apply(self, dims=dims)

    def fliplr(self):
        return self.flip(1)

    def flipud(self):
        return self.flip(0)

    def roll(self, shifts, dims=None):
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        if isinstance(shifts, (_pyint, np.integer)):
            shifts = (shifts,)
        if isinstance(dims, (_pyint, np.integer)):
            dims = (dims,)
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        out = self
        for s, d in zip(shifts, dims):
            d = _norm_dim(d, self.ndim)
            n = self.shape[d]
            s %= n if n else 1
            if s:
                a, b = out.split([n - s, s], d)
                out = cat([b, a], d)
        return self.clone() if out is self else out      # always a new tensor, as PyTorch (makemore's MLP)

    def tril(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("tril: input tensor must have at least 2 dimensions")
        return F.Tril.apply(self, k=diagonal, upper=False)

    def triu(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("triu: input tensor must have at least 2 dimensions")
        return F.Tril.apply(self, k=diagonal, upper=True)

    @autocast_op("matmul")
    def matmul(self, other):
        return matmul(self, other)

    @autocast_op("mm")
    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: both arguments must be 2-D, got {self.ndim}-D and {other.ndim}-D")
        return matmul(self, other)

    @autocast_op("bmm")
    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError(f"bmm: both arguments must be 3-D, got {self.ndim}-D and {other.ndim}-D")
        return matmul(self, other)

    @autocast_op("dot")
    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        return matmul(self, other)


def _late_imports():
    """Import what this module shares in an import cycle (`_core` builds `Tensor` from this module's mixin;
    the factories need `Tensor`); called by the package once they all exist."""
    global Tensor, cat, matmul
    from ._core import Tensor
    from ._factories import cat, matmul
