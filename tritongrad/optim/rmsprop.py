"""`RMSprop` (``torch.optim.RMSprop``): plain, centered, with momentum."""
from __future__ import annotations

from .optimizer import Optimizer, _check_scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``. Per parameter, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p                         (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - ga * ga) + eps, ga = lerp(ga, g, 1 - alpha)   (centered)  else  sqrt(v) + eps
        b = momentum * b + g / avg;  p = p - lr * b      (momentum > 0)  else  p = p - lr * g / avg

    State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).
    """

    _method = "rmsprop_step"
    _state_keys = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_scalar("lr", lr, lr >= 0.0, "learning rate")
        _check_scalar("eps", eps, eps >= 0.0, "epsilon value")
        _check_scalar("momentum", momentum, momentum >= 0.0, "momentum value")
        _check_scalar("weight_decay", weight_decay, weight_decay >= 0.0, "weight_decay value")
        _check_scalar("alpha", alpha, alpha >= 0.0, "alpha value")
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["square_avg"] = self._zeros_state(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = self._zeros_state(p)
        if group["centered"]:
            state["grad_avg"] = self._zeros_state(p)

    def _hyper(self, group):
        return dict(lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                    momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"])
