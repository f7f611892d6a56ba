"""Helpers of ``torch.distributions.utils``: broadcasting parameters, probabilities <-> logits, and the small
linear algebra the multivariate normal needs (Cholesky factor, triangular solve), written with tensor ops so
they run on every device and are differentiable."""
from __future__ import annotations

import math
import numbers


from ..tensor import Tensor, tensor

__all__ = ["broadcast_all", "logits_to_probs", "probs_to_logits", "clamp_probs", "lazy_property", "cholesky",
           "solve_lower", "sum_rightmost"]


def broadcast_all(*values):
    """Tensors (and numbers, made tensors of the others' dtype and device) broadcast to one shape."""
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    if ref is None:
        values = [tensor(float(v)) for v in values]
        ref = values[0]
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number or Tensor.")
    ts = [v if isinstance(v, Tensor) else tensor(float(v), dtype=ref.dtype, device=ref.device) for v in values]
    from .. import broadcast_tensors
    return broadcast_tensors(*ts)


def clamp_probs(probs):
    """Probabilities kept ``eps`` away from 0 and 1."""
    import ml_dtypes
    eps = float(ml_dtypes.finfo(probs.dtype.np).eps)
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary=False):
    """``sigmoid(logits)`` (binary) or ``softmax(logits, -1)``."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def probs_to_logits(probs, is_binary=False):
    """``log(p) - log(1 - p)`` (binary) or ``log(p)``, with p clamped away from 0 and 1."""
    ps = clamp_probs(probs)
    return ps.log() - (1 - ps).log() if is_binary else ps.log()


class lazy_property:
    """A property computed on first access and then stored on the instance (PyTorch's ``lazy_property``)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def sum_rightmost(value, dim):
    """Sum over the rightmost ``dim`` dims."""
    return value.reshape(*value.shape[:value.ndim - dim], -1).sum(-1) if dim > 0 else value


def cholesky(a, check=False):
    """Lower Cholesky factor of symmetric positive-definite (..., n, n) matrices, column by column
    (Cholesky-Banachiewicz) with tensor ops: differentiable and on ``a``'s device. ``check`` raises ValueError
    when a pivot is not positive (the matrix is not positive definite)."""
    from .. import stack
    n = a.shape[-1]
    cols = []
    for j in range(n):
        s = a[..., j:, j]
        if j:
            prev = stack(cols, -1)                       # (..., n, j)
            s = s - (prev[..., j:, :] * prev[..., j:j + 1, :]).sum(-1)
        pivot = s[..., :1]
        if check and not bool((pivot > 0).all()):
            raise ValueError("cholesky: the matrix is not positive-definite")
        d = pivot.sqrt()
        col = s / d
        pad = a.new_zeros(*a.shape[:-2], j) if j else None
        cols.append(col if pad is None else _cat(pad, col))
    return stack(cols, -1)


def _cat(a, b):
    from .. import cat
    return cat([a, b], -1)


def solve_lower(lower, b):
    """``x`` with ``lower @ x = b`` for lower-triangular (..., n, n) and (..., n) right-hand sides, by forward
    substitution with tensor ops (differentiable, on the device)."""
    from .. import stack
    n = lower.shape[-1]
    xs = []
    for i in range(n):
        r = b[..., i]
        if i:
            r = r - (lower[..., i, :i] * stack(xs, -1)).sum(-1)
        xs.append(r / lower[..., i, i])
    return stack(xs, -1)


def mahalanobis(lower, diff):
    """``diff^T (L L^T)^-1 diff`` per batch element."""
    return solve_lower(lower, diff).pow(2).sum(-1)


def diagonal(m):
    """The main diagonal of (..., n, n) matrices (a strided view)."""
    n = m.shape[-1]
    return m.reshape(*m.shape[:-2], n * n)[..., ::n + 1]


_LOG_2PI = math.log(2 * math.pi)
