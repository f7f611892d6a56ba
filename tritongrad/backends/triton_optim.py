"""Optimizer steps on the Triton backend: one fused multi-tensor launch per call (``kernels/optim.py``).

Same methods and signatures as `tritongrad.backends.numpy_optim.NumpyOptim` (the reference), on
`DeviceArray`s: every list holds the tensors of one (param group, device, dtype); all are updated in place.
``cache`` is a dict the caller keeps per (param group, device, dtype): it holds the device table of
addresses, the block map and the hyperparameter array, rewritten only when they change (see the kernel
module's docstring), so a steady training loop uploads only what changed (typically the gradient addresses).
``block`` overrides the elements per program (tests use it to exercise partial and full blocks).
"""
from __future__ import annotations

from ..kernels import amp as _amp
from ..kernels import optim as _k

__all__ = ["TritonOptim"]


class TritonOptim:
    """Mixin for the Triton backend: ``sgd_step``, ``adam_step``, ``rmsprop_step``, ``adagrad_step``."""

    def sgd_step(self, params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov,
                 maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.SGD``'s update, fused; None momentum buffers are created (fp32) and set to the
        gradient (PyTorch's first step)."""
        _k.sgd_fwd(params, grads, momentum_buffers, lr=lr, momentum=momentum, dampening=dampening,
                   weight_decay=weight_decay, nesterov=nesterov, maximize=maximize, cache=cache, block=block,
                   found_inf=found_inf)

    def adam_step(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adam`` / ``AdamW`` (``decoupled=True``), fused; steps incremented on the device."""
        _k.adam_fwd(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, lr=lr, beta1=beta1,
                    beta2=beta2, eps=eps, weight_decay=weight_decay, decoupled=decoupled, amsgrad=amsgrad,
                    maximize=maximize, cache=cache, block=block, found_inf=found_inf)

    def rmsprop_step(self, params, grads, square_avgs, grad_avgs, momentum_buffers, state_steps, *, lr, alpha, eps,
                     weight_decay, momentum, centered, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.RMSprop``, fused."""
        _k.rmsprop_fwd(params, grads, square_avgs, grad_avgs, momentum_buffers, state_steps, lr=lr, alpha=alpha,
                       eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered, maximize=maximize,
                       cache=cache, block=block, found_inf=found_inf)

    def adagrad_step(self, params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps, maximize,
                     cache=None, block=None, found_inf=None):
        """``torch.optim.Adagrad`` (dense gradients), fused."""
        _k.adagrad_fwd(params, grads, state_sums, state_steps, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                       eps=eps, maximize=maximize, cache=cache, block=block, found_inf=found_inf)

    # ------------------------------------------------------------------ loss scaling (GradScaler)
    def amp_unscale_(self, grads, found_inf, scale, *, cache=None, block=None):
        """Unscale every gradient in place and flag inf/nan in ``found_inf``: one fused launch, no host sync."""
        _amp.unscale_fwd(grads, found_inf, scale, cache=cache, block=block)

    def amp_update_scale_(self, scale, growth_tracker, found_inf, *, growth_factor, backoff_factor, growth_interval):
        """Update the loss scale and growth tracker on the device (one single-program launch)."""
        _amp.update_scale_fwd(scale, growth_tracker, found_inf, growth_factor=growth_factor,
                              backoff_factor=backoff_factor, growth_interval=growth_interval)
