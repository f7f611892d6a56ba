"""More `autograd.Op`s (the ops added for PyTorch API breadth): forward calls ``be.<op>``, backward scatters
or reduces with existing backend ops. Arrays here are backend arrays."""
from __future__ import annotations

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
