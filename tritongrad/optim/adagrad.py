"""`Adagrad` (``torch.optim.Adagrad``), dense gradients."""
from __future__ import annotations

from .optimizer import Optimizer, _check_scalar

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``. Per parameter, with ``g`` the gradient (negated when ``maximize``), ``t`` the
    step count after incrementing::

        g = g + weight_decay * p                 (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g;   p = p - clr * g / (sqrt(s) + eps)

    State (created in ``__init__``, as PyTorch does): ``step`` and ``sum`` (filled with
    ``initial_accumulator_value``).
    """

    _method = "adagrad_step"
    _state_keys = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_scalar("lr", lr, lr >= 0.0, "learning rate")
        _check_scalar("lr_decay", lr_decay, lr_decay >= 0.0, "lr_decay value")
        _check_scalar("weight_decay", weight_decay, weight_decay >= 0.0, "weight_decay value")
        _check_scalar("initial_accumulator_value", initial_accumulator_value, initial_accumulator_value >= 0.0,
                      "initial_accumulator_value value")
        _check_scalar("eps", eps, eps >= 0.0, "epsilon value")
        if differentiable:
            raise ValueError("differentiable=True is not supported")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        """As `Optimizer.add_param_group`; the new parameters' state is created at once (PyTorch's Adagrad
        creates it in ``__init__``)."""
        super().add_param_group(param_group)
        for p in param_group["params"]:
            self._init_state(p, self.state[p], param_group)

    def _init_state(self, p, state, group):
        state["step"] = self._step_state(p)
        state["sum"] = self._zeros_state(p, group["initial_accumulator_value"])

    def _hyper(self, group):
        return dict(lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                    eps=group["eps"], maximize=group["maximize"])
