"""`RAdam` (``torch.optim.RAdam``): Adam with a rectified adaptive learning rate."""
from __future__ import annotations

from .optimizer import Optimizer, _check_adam_like

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """``torch.optim.RAdam``. Per parameter, with ``g`` the gradient (negated when ``maximize``), ``t`` the step
    count after incrementing, ``rho_inf = 2 / (1 - beta2) - 1`` and
    ``rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)``::

        g = g + weight_decay * p        (decoupled_weight_decay: p = p * (1 - lr * weight_decay) instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g;  m_hat = m / (1 - beta1**t)
        rho_t > 5:  p = p - m_hat * lr * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t,
                    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        otherwise:  p = p - m_hat * lr

    State: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _method = "radam_step"
    _state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_adam_like(lr, betas, eps, weight_decay)
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])
