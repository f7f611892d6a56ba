"""`Adam` (``torch.optim.Adam``), with AMSGrad and maximize; `AdamW` shares its implementation."""
from __future__ import annotations

from .optimizer import Optimizer, _check_adam_like

__all__ = ["Adam"]


class Adam(Optimizer):
    """``torch.optim.Adam``. Per parameter, with ``g`` the gradient (negated when ``maximize``), ``t`` the
    parameter's step count after incrementing::

        g = g + weight_decay * p          (L2; with decoupled_weight_decay, as AdamW:
                                           p = p * (1 - lr * weight_decay) instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)             (amsgrad; v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State: ``step`` (0-d fp32 tensor), ``exp_avg``, ``exp_avg_sq`` and with ``amsgrad`` ``max_exp_avg_sq``
    (fp32 tensors on the parameter's device).
    """

    _method = "adam_step"
    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_adam_like(lr, betas, eps, weight_decay)
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["exp_avg"] = self._zeros_state(p)
        state["exp_avg_sq"] = self._zeros_state(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = self._zeros_state(p)

    def _hyper(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    decoupled=group.get("decoupled_weight_decay", False), amsgrad=group["amsgrad"],
                    maximize=group["maximize"])
