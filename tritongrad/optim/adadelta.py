"""`Adadelta` (``torch.optim.Adadelta``)."""
from __future__ import annotations

from .optimizer import Optimizer, _check_scalar

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """``torch.optim.Adadelta``. Per parameter, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p                       (if weight_decay != 0)
        v = rho * v + (1 - rho) * g * g
        d = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d

    State: ``step``, ``square_avg`` (v), ``acc_delta`` (u).
    """

    _method = "adadelta_step"
    _state_keys = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_scalar("lr", lr, lr >= 0.0, "learning rate")
        _check_scalar("rho", rho, 0.0 <= rho <= 1.0, "rho value")
        _check_scalar("eps", eps, eps >= 0.0, "epsilon value")
        _check_scalar("weight_decay", weight_decay, weight_decay >= 0.0, "weight_decay value")
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["square_avg"] = self._zeros_state(p)
        state["acc_delta"] = self._zeros_state(p)

    def _hyper(self, group):
        return dict(lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                    maximize=group["maximize"])
