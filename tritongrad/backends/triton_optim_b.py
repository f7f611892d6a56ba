"""Adadelta, Adamax, NAdam and RAdam steps on the Triton backend: one fused multi-tensor launch per call
(``kernels/optim_adaptive.py``); same methods and signatures as
`tritongrad.backends.numpy_optim_b.NumpyOptimB`, conventions as `tritongrad.backends.triton_optim`."""
from __future__ import annotations

from ..kernels import optim_adaptive as _k

__all__ = ["TritonOptimB"]


class TritonOptimB:
    """Mixin for the Triton backend: ``adadelta_step``, ``adamax_step``, ``nadam_step``, ``radam_step``."""

    def adadelta_step(self, params, grads, square_avgs, acc_deltas, state_steps, *, lr, rho, eps, weight_decay,
                      maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adadelta``, fused."""
        _k.adadelta_fwd(params, grads, square_avgs, acc_deltas, state_steps, lr=lr, rho=rho, eps=eps,
                        weight_decay=weight_decay, maximize=maximize, cache=cache, block=block, found_inf=found_inf)

    def adamax_step(self, params, grads, exp_avgs, exp_infs, state_steps, *, lr, beta1, beta2, eps, weight_decay,
                    maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adamax``, fused."""
        _k.adamax_fwd(params, grads, exp_avgs, exp_infs, state_steps, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                      weight_decay=weight_decay, maximize=maximize, cache=cache, block=block, found_inf=found_inf)

    def nadam_step(self, params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, *, lr, beta1, beta2, eps,
                   weight_decay, momentum_decay, decoupled, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.NAdam``, fused (steps and momentum products advanced on the device)."""
        _k.nadam_fwd(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, lr=lr, beta1=beta1,
                     beta2=beta2, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                     decoupled=decoupled, maximize=maximize, cache=cache, block=block, found_inf=found_inf)

    def radam_step(self, params, grads, exp_avgs, exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps, weight_decay,
                   decoupled, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.RAdam``, fused."""
        _k.radam_fwd(params, grads, exp_avgs, exp_avg_sqs, state_steps, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                     weight_decay=weight_decay, decoupled=decoupled, maximize=maximize, cache=cache, block=block,
                     found_inf=found_inf)
