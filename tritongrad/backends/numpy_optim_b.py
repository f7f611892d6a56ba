"""More optimizer steps on the NumPy backend: Adadelta, Adamax, NAdam, RAdam (``torch/optim/<name>.py``).

Same conventions as `tritongrad.backends.numpy_optim`: per-tensor transcriptions of PyTorch's single-tensor
algorithms in its order of operations, lists of ``np.ndarray`` updated in place, math in float32 (float64 for
float64 parameters), hyperparameter arithmetic in Python floats as PyTorch does it, ``cache``/``block``
accepted for signature parity, a nonzero ``found_inf`` skipping the whole step. The Triton backend
(`tritongrad.backends.triton_optim_b.TritonOptimB`) runs each as one fused launch.
"""
from __future__ import annotations

import math

import numpy as np

from .numpy_optim import _bump, _grad, _skipped

__all__ = ["NumpyOptimB"]


def _decay(g, p32, lr, weight_decay, decoupled):
    """L2 weight decay into the gradient, or AdamW-style decoupled decay of the parameter."""
    if weight_decay != 0:
        if decoupled:
            p32 = p32 * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p32
    return g, p32


class NumpyOptimB:
    """Mixin for the NumPy backend: ``adadelta_step``, ``adamax_step``, ``nadam_step``, ``radam_step``."""

    def adadelta_step(self, params, grads, square_avgs, acc_deltas, state_steps, *, lr, rho, eps, weight_decay,
                      maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adadelta``: ``v = rho v + (1-rho) g^2``, ``d = sqrt(u + eps) / sqrt(v + eps) * g``,
        ``u = rho u + (1-rho) d^2``, ``p -= lr d``."""
        if _skipped(found_inf):
            return
        for i, (p, grad, v, u) in enumerate(zip(params, grads, square_avgs, acc_deltas)):
            _bump(state_steps[i])
            g = _grad(grad, p, maximize)
            p32 = p.astype(g.dtype)
            g, _ = _decay(g, p32, lr, weight_decay, False)
            v *= rho
            v += (1 - rho) * (g * g)
            delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
            u *= rho
            u += (1 - rho) * (delta * delta)
            p[...] = (p32 + (-lr) * delta).astype(p.dtype)

    def adamax_step(self, params, grads, exp_avgs, exp_infs, state_steps, *, lr, beta1, beta2, eps, weight_decay,
                    maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adamax``: ``m = lerp(m, g, 1-beta1)``, ``u = max(beta2 u, |g| + eps)``,
        ``p -= lr / (1 - beta1^t) * m / u``."""
        if _skipped(found_inf):
            return
        for i, (p, grad, m, u) in enumerate(zip(params, grads, exp_avgs, exp_infs)):
            step = _bump(state_steps[i])
            g = _grad(grad, p, maximize)
            p32 = p.astype(g.dtype)
            g, _ = _decay(g, p32, lr, weight_decay, False)
            m += (1 - beta1) * (g - m)
            u *= beta2
            np.maximum(u, np.abs(g) + eps, out=u)
            clr = lr / (1 - beta1 ** step)
            p[...] = (p32 + (-clr) * (m / u)).astype(p.dtype)

    def nadam_step(self, params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, *, lr, beta1, beta2, eps,
                   weight_decay, momentum_decay, decoupled, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.NAdam`` (Nesterov Adam with momentum decay ``mu_t = beta1 (1 - 0.5 * 0.96^(t psi))``;
        ``mu_products`` are 0-d float32 arrays holding the running product of the ``mu_t``)."""
        if _skipped(found_inf):
            return
        for i, (p, grad, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
            step = _bump(state_steps[i])
            g = _grad(grad, p, maximize)
            p32 = p.astype(g.dtype)
            g, p32 = _decay(g, p32, lr, weight_decay, decoupled)
            bias_correction2 = 1 - beta2 ** step
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
            mu_products[i][...] = mu_products[i] * np.float32(mu)
            mu_product = float(mu_products[i])
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * (g * g)
            denom = np.sqrt(v / bias_correction2) + eps
            p32 = p32 + (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
            p32 = p32 + (-lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
            p[...] = p32.astype(p.dtype)

    def radam_step(self, params, grads, exp_avgs, exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps, weight_decay,
                   decoupled, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.RAdam``: Adam with the variance rectification ``r_t`` once ``rho_t > 5``, plain
        momentum SGD with bias correction before."""
        if _skipped(found_inf):
            return
        rho_inf = 2 / (1 - beta2) - 1
        for i, (p, grad, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
            step = _bump(state_steps[i])
            g = _grad(grad, p, maximize)
            p32 = p.astype(g.dtype)
            g, p32 = _decay(g, p32, lr, weight_decay, decoupled)
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * (g * g)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            m_hat = m / bias_correction1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            if rho_t > 5.0:
                rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                adaptive = math.sqrt(bias_correction2) / (np.sqrt(v) + eps)
                p32 = p32 - m_hat * lr * adaptive * rect
            else:
                p32 = p32 - m_hat * lr
            p[...] = p32.astype(p.dtype)
