"""More `autograd.Op`s (the ops added for PyTorch API breadth): forward calls ``be.<op>``, backward scatters
or reduces with existing backend ops. Arrays here are backend arrays."""
from __future__ import annotations

import numpy as np

from .autograd import Op


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
        be = self.be
        out = be.full(self.in_shape, 0, self.in_dtype, be.device_of(g))
        be.copy_(diagonal_view(be, out, *self.params), g)
        return out

    @property
    def name(self):
        return "DiagonalBackward0"


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

    @property
    def name(self):
        return "IndexAddBackward0"
