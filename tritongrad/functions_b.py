"""More `autograd.Op`s (the ops added for PyTorch API breadth): forward calls ``be.<op>``, backward scatters
or reduces with existing backend ops. Arrays here are backend arrays."""
from __future__ import annotations

import numpy as np

from ._higher_order import constant as _const
from .autograd import Op
from .functions import IndexSelect, ScatterAdd, _zeros_t


class Sort(Op):
    """``(values, indices)`` along ``dim`` (sort, topk); the gradient of the values goes back to where each
    value came from (indices are distinct, so a scatter-add writes each place once)."""

    def forward(self, x, *, dim, descending, k):
        self.dim, self.x_shape, self.x_dtype = dim, x.shape, x.dtype
        values, indices = self.be.sort(x, dim, descending, k)
        self.mark_non_differentiable(indices)
        self.save_for_backward(indices)
        return values, indices

    def backward(self, gv, gi=None):
        (idx,) = self.saved_tensors
        if len(self.x_shape) == 0:
            return gv
        return self.be.scatter_add(self.x_shape, self.x_dtype, self.dim, idx, gv)

    def backward_graph(self, gv, gi=None):
        (idx,) = self.saved_tensors
        if len(self.x_shape) == 0:
            return gv
        return ScatterAdd.apply(_zeros_t(self, self.x_shape, self.x_dtype), _const(self, idx), gv, dim=self.dim)

    @property
    def name(self):
        return "SortBackward0"


def diagonal_view(be, x, offset, dim1, dim2):
    """A view of ``x``'s diagonal ``offset`` over ``(dim1, dim2)`` (those dims dropped, the diagonal last), as
    ``torch.diagonal``: one stride, the sum of the two dims' strides, from the diagonal's first element."""
    start = [slice(None)] * x.ndim
    start[dim2 if offset >= 0 else dim1] = slice(abs(offset), None)
    corner = be.getitem(x, tuple(start))
    n = max(0, min(corner.shape[dim1], corner.shape[dim2]))
    keep = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    shape = tuple(corner.shape[d] for d in keep) + (n,)
    strides = tuple(corner.strides[d] for d in keep) + (corner.strides[dim1] + corner.strides[dim2],)
    if isinstance(corner, np.ndarray):
        return np.lib.stride_tricks.as_strided(corner, shape, strides)
    return corner.view_as(shape, strides)


class Diagonal(Op):
    """``torch.diagonal``: a view; its gradient is a zero array with the upstream gradient on the diagonal."""

    def forward(self, x, *, offset, dim1, dim2):
        self.params, self.in_shape, self.in_dtype = (offset, dim1, dim2), x.shape, x.dtype
        return diagonal_view(self.be, x, offset, dim1, dim2)

    def backward(self, g):
        return _diagonal_scatter(self.be, g, self.in_shape, self.in_dtype, self.params)

    def backward_graph(self, g):
        return _DiagonalScatter.apply(g, in_shape=self.in_shape, in_dtype=self.in_dtype, params=self.params)

    @property
    def name(self):
        return "DiagonalBackward0"


def _diagonal_scatter(be, g, in_shape, in_dtype, params):
    """Zeros of ``in_shape`` with ``g`` written on the diagonal ``params`` (the adjoint of `diagonal_view`)."""
    out = be.full(in_shape, 0, in_dtype, be.device_of(g))
    be.copy_(diagonal_view(be, out, *params), g)
    return out


class _DiagonalScatter(Op):
    """`Diagonal`'s backward as an op of its own (its gradient is `Diagonal` again), for double backward."""

    def forward(self, g, *, in_shape, in_dtype, params):
        self.params = params
        return _diagonal_scatter(self.be, g, in_shape, in_dtype, params)

    def backward(self, go):
        return self.be.contiguous(diagonal_view(self.be, go, *self.params))

    def backward_graph(self, go):
        offset, dim1, dim2 = self.params
        return Diagonal.apply(go, offset=offset, dim1=dim1, dim2=dim2)

    @property
    def name(self):
        return "DiagonalScatterBackward0"


class IndexAdd(Op):
    """``x.index_add(dim, index, source)`` out of place; the source's gradient is the upstream gradient selected
    at ``index``."""

    def forward(self, x, index, src, *, dim):
        self.dim = dim
        self.save_for_backward(index)
        be = self.be
        return be.binary("add", x, be.index_add(x.shape, x.dtype, dim, index, src))

    def backward(self, g):
        (index,) = self.saved_tensors
        gs = self.be.index_select(g, self.dim, index) if self.needs_input_grad[2] else None
        return g, None, gs

    def backward_graph(self, g):
        (index,) = self.saved_tensors
        gs = IndexSelect.apply(g, _const(self, index), dim=self.dim) if self.needs_input_grad[2] else None
        return g, None, gs

    @property
    def name(self):
        return "IndexAddBackward0"
