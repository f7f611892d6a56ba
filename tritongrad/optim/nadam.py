"""`NAdam` (``torch.optim.NAdam``): Adam with Nesterov momentum and momentum decay."""
from __future__ import annotations

from .optimizer import Optimizer, _check_adam_like, _check_scalar

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """``torch.optim.NAdam``. Per parameter, with ``g`` the gradient (negated when ``maximize``), ``t`` the step
    count after incrementing, ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`` and
    ``P_t = mu_1 * ... * mu_t``::

        g = g + weight_decay * p        (decoupled_weight_decay: p = p * (1 - lr * weight_decay) instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - P_t) * g / d - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

    State: ``step``, ``mu_product`` (P_t, a 0-d float32 tensor), ``exp_avg``, ``exp_avg_sq``.
    """

    _method = "nadam_step"
    _state_keys = ("exp_avg", "exp_avg_sq", "mu_product")
    _scalar_state_keys = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_adam_like(lr, betas, eps, weight_decay)
        _check_scalar("momentum_decay", momentum_decay, momentum_decay >= 0.0, "momentum_decay value")
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["mu_product"] = self._step_state(p, 1.0)
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    momentum_decay=group["momentum_decay"], decoupled=group["decoupled_weight_decay"],
                    maximize=group["maximize"])
