"""`MultivariateNormal` and `Independent` (``torch.distributions``)."""
from __future__ import annotations

import math

from ..random import randn
from ..tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import cholesky, diagonal, lazy_property, mahalanobis, solve_lower, sum_rightmost

__all__ = ["MultivariateNormal", "Independent"]


class MultivariateNormal(Distribution):
    """``MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None, scale_tril=None)``: one of the
    three matrices; the lower Cholesky factor ``scale_tril`` is what sampling and densities use
    (``rsample = loc + scale_tril @ eps``). The factorization and triangular solves run as tensor ops on the
    parameters' device (O(n) small ops for an n-dim event: meant for the small event sizes of RL and
    generative-model heads)."""

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        from .. import broadcast_shapes
        matrix = scale_tril if scale_tril is not None else (
            covariance_matrix if covariance_matrix is not None else precision_matrix)
        if matrix.dim() < 2:
            raise ValueError("scale_tril, covariance_matrix or precision_matrix must be at least two-dimensional, "
                             "with optional leading batch dimensions")
        batch_shape = broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        n = loc.shape[-1]
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(*batch_shape, n, n)
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(*batch_shape, n, n)
            self._unbroadcasted_scale_tril = cholesky(covariance_matrix)
        else:
            self.precision_matrix = precision_matrix.expand(*batch_shape, n, n)
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)
        self.loc = loc.expand(*batch_shape, n)
        super().__init__(batch_shape, (n,), validate_args=validate_args)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(*self._batch_shape, *self._event_shape * 2)

    @lazy_property
    def covariance_matrix(self):
        lt = self._unbroadcasted_scale_tril
        return (lt @ lt.transpose(-1, -2)).expand(*self._batch_shape, *self._event_shape * 2)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(*self._batch_shape, *self._event_shape)

    def rsample(self, sample_shape=Size()):
        eps = randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        lt = self._unbroadcasted_scale_tril
        m = mahalanobis(lt.expand(*diff.shape, diff.shape[-1]), diff)
        half_log_det = diagonal(lt).log().sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - half_log_det

    def entropy(self):
        half_log_det = diagonal(self._unbroadcasted_scale_tril).log().sum(-1)
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        return h if len(self._batch_shape) == 0 else h.expand(*self._batch_shape)


def _precision_to_scale_tril(p):
    """The lower Cholesky factor of ``p^-1`` (PyTorch's route): with ``U`` upper triangular and
    ``p = U U^T`` (the Cholesky factor of ``p`` flipped on both axes), ``p^-1 = U^-T U^-1`` and ``U^-T`` is
    lower triangular: ``scale_tril = solve(U^T, I)``."""
    from .. import eye
    n = p.shape[-1]
    upper = cholesky(p.flip(-2, -1)).flip(-2, -1)
    ident = eye(n, dtype=p.dtype, device=p.device).expand(*p.shape[:-2], n, n)
    return _solve_lower_matrix(upper.transpose(-2, -1), ident)


def _solve_lower_matrix(lower, b):
    from .. import stack
    return stack([solve_lower(lower, b[..., :, j]) for j in range(b.shape[-1])], -1)


class Independent(Distribution):
    """``Independent(base_distribution, reinterpreted_batch_ndims)``: the rightmost batch dims of the base become
    event dims (its ``log_prob`` and ``entropy`` summed over them)."""

    arg_constraints = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims, validate_args=None):
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = reinterpreted_batch_ndims + len(base_distribution.event_shape)
        if reinterpreted_batch_ndims > len(base_distribution.batch_shape):
            raise ValueError(f"Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual "
                             f"{reinterpreted_batch_ndims} vs {len(base_distribution.batch_shape)}")
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        super().__init__(shape[:len(shape) - event_dim], shape[len(shape) - event_dim:], validate_args=validate_args)

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def support(self):
        return constraints.independent(self.base_dist.support, self.reinterpreted_batch_ndims)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def sample(self, sample_shape=Size()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=Size()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
