"""`Adamax` (``torch.optim.Adamax``): Adam with the infinity norm."""
from __future__ import annotations

from .optimizer import Optimizer, _check_adam_like

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """``torch.optim.Adamax``. Per parameter, with ``g`` the gradient (negated when ``maximize``), ``t`` the
    step count after incrementing::

        g = g + weight_decay * p                       (if weight_decay != 0)
        m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    State: ``step``, ``exp_avg`` (m), ``exp_inf`` (u).
    """

    _method = "adamax_step"
    _state_keys = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_adam_like(lr, betas, eps, weight_decay)
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["exp_avg"] = self._zeros_state(p)
        state["exp_inf"] = self._zeros_state(p)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    maximize=group["maximize"])
