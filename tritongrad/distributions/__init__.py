"""``tritongrad.distributions`` (``torch.distributions``): `Normal`, `Uniform`, `Bernoulli`, `Categorical`,
`OneHotCategorical`, `MultivariateNormal`, `Independent` and `kl_divergence`, with PyTorch's parameters, shapes,
``sample``/``rsample``/``log_prob``/``entropy``/``mean``/``variance`` and ``validate_args`` errors, computed with
tensor ops on the parameters' device (so densities are differentiable and reparameterized samples carry
gradients), sampling from tritongrad's generators. Not provided: the other distributions, transforms, and
``Normal.cdf``/``icdf``."""
from . import constraints
from .discrete import Bernoulli, Categorical, OneHotCategorical
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .multivariate import Independent, MultivariateNormal
from .normal import Normal, Uniform

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "OneHotCategorical",
           "MultivariateNormal", "Independent", "kl_divergence", "register_kl", "constraints"]
