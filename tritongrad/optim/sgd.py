"""`SGD`: stochastic gradient descent with momentum, dampening, weight decay, Nesterov and maximize
(``torch.optim.SGD``)."""
from __future__ import annotations

from .optimizer import Optimizer, _check_scalar

__all__ = ["SGD"]


class SGD(Optimizer):
    """``torch.optim.SGD``. Per parameter, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p                                   (if weight_decay != 0)
        b = g  on the first step, else  momentum * b + (1 - dampening) * g   (if momentum != 0)
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    State: ``state[p]['momentum_buffer']`` (when ``momentum != 0``; fp32). SGD keeps no step count.
    """

    _method = "sgd_step"
    _state_keys = ("momentum_buffer",)
    _has_step = False
    _created_by_backend = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_scalar("lr", lr, lr >= 0.0, "learning rate")
        _check_scalar("momentum", momentum, momentum >= 0.0, "momentum value")
        _check_scalar("weight_decay", weight_decay, weight_decay >= 0.0, "weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening (got momentum={momentum}, "
                             f"dampening={dampening})")
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        if group["momentum"] != 0:
            state["momentum_buffer"] = None

    def _hyper(self, group):
        return dict(lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                    weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
