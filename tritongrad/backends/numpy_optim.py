"""Optimizer steps on the NumPy backend: per-tensor transcriptions of PyTorch's documented algorithms.

Each method follows the single-tensor ("for-loop") implementation in ``torch/optim/<name>.py`` line by line,
in PyTorch's order of operations. All arguments are lists of ``np.ndarray`` updated in place (the
parameters, the optimizer state, the step counters); gradients are only read. Math runs in float32 (float64
for float64 parameters); float16/bfloat16 parameters keep float32 state and are rounded once per step.
``cache`` and ``block`` are accepted for signature parity with the Triton backend and not used. A
``found_inf`` (0-d float32 array, set by `tritongrad.amp.GradScaler`) that is nonzero skips the whole step,
step counters included.

The Triton backend (`tritongrad.backends.triton_optim.TritonOptim`) implements the same four methods with
one fused kernel launch per call; this class is the reference it is tested against.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["NumpyOptim", "state_dtype"]


def state_dtype(param_dtype):
    """NumPy dtype of optimizer state for a parameter of NumPy dtype ``param_dtype``: float64 stays float64,
    every other floating type (float32, float16, bfloat16) gets float32 state."""
    return np.dtype(np.float64) if np.dtype(param_dtype) == np.float64 else np.dtype(np.float32)


def _grad(grad, param, maximize):
    g = grad.astype(state_dtype(param.dtype), copy=False)       # only read, never written
    return -g if maximize else g


def _skipped(found_inf):
    """True when GradScaler found inf/nan gradients this step (the step is then skipped)."""
    return found_inf is not None and float(found_inf) != 0.0


def _work_copy(p, dtype):
    """The parameter to update in place: ``p`` itself when it is already in the math dtype, else a copy in
    it (float16/bfloat16 parameters, rounded back once by `_write_back`)."""
    return p if p.dtype == dtype else p.astype(dtype)


def _write_back(p, p32):
    """Store the updated ``p32`` into the parameter ``p`` (nothing to do when it was updated in place)."""
    if p32 is not p:
        p[...] = p32.astype(p.dtype)


def _bump(step):
    """``step_t += 1`` on a 0-d state array; returns the new count as a Python float."""
    step[...] = step + 1
    return float(step)


class NumpyOptim:
    """Mixin for the NumPy backend: ``sgd_step``, ``adam_step``, ``rmsprop_step``, ``adagrad_step``."""

    def sgd_step(self, params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov,
                 maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.SGD``'s update. ``momentum_buffers`` (ignored when ``momentum == 0``) holds one array
        or None per parameter; a None is replaced by a new buffer equal to the (decayed) gradient, PyTorch's
        first step (no dampening)."""
        if _skipped(found_inf):
            return
        for i, (p, grad) in enumerate(zip(params, grads)):
            g = _grad(grad, p, maximize)
            p32 = _work_copy(p, g.dtype)
            if weight_decay != 0:
                g = g + weight_decay * p32
            if momentum != 0:
                buf = momentum_buffers[i]
                if buf is None:
                    buf = g.copy()
                    momentum_buffers[i] = buf
                else:
                    buf *= momentum
                    buf += (1 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            p32 -= lr * g
            _write_back(p, p32)

    def adam_step(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.Adam`` (``decoupled=False``) / ``AdamW`` (``decoupled=True``). ``max_exp_avg_sqs`` is a
        list when ``amsgrad`` (else ignored); ``state_steps`` are 0-d float arrays incremented here."""
        if _skipped(found_inf):
            return
        for i, (p, grad, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
            g = _grad(grad, p, maximize)
            step = _bump(state_steps[i])
            p32 = _work_copy(p, g.dtype)
            tmp = np.empty_like(m)
            if weight_decay != 0:
                if decoupled:
                    p32 *= 1 - lr * weight_decay
                else:
                    g = g + weight_decay * p32
            np.subtract(g, m, out=tmp)                            # m.lerp_(g, 1 - beta1)
            tmp *= 1 - beta1
            m += tmp
            v *= beta2                                            # v.mul_(beta2).addcmul_(g, g, 1 - beta2)
            np.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v += tmp
            step_size = lr / (1 - beta1 ** step)
            bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
            if amsgrad:
                np.maximum(max_exp_avg_sqs[i], v, out=max_exp_avg_sqs[i])
                np.sqrt(max_exp_avg_sqs[i], out=tmp)
            else:
                np.sqrt(v, out=tmp)
            tmp /= bias_correction2_sqrt                          # denom = sqrt(v) / sqrt(bc2) + eps
            tmp += eps
            np.divide(m, tmp, out=tmp)                            # p.addcdiv_(m, denom, -step_size)
            tmp *= -step_size
            p32 += tmp
            _write_back(p, p32)

    def rmsprop_step(self, params, grads, square_avgs, grad_avgs, momentum_buffers, state_steps, *, lr, alpha, eps,
                     weight_decay, momentum, centered, maximize, cache=None, block=None, found_inf=None):
        """``torch.optim.RMSprop``. ``grad_avgs`` is used when ``centered``, ``momentum_buffers`` when
        ``momentum > 0`` (else either may be None)."""
        if _skipped(found_inf):
            return
        for i, (p, grad, sq) in enumerate(zip(params, grads, square_avgs)):
            g = _grad(grad, p, maximize)
            _bump(state_steps[i])
            p32 = p.astype(g.dtype)
            if weight_decay != 0:
                g = g + weight_decay * p32
            sq *= alpha
            sq += (1 - alpha) * (g * g)
            if centered:
                ga = grad_avgs[i]
                ga += (1 - alpha) * (g - ga)
                avg = np.sqrt(sq - ga * ga)
            else:
                avg = np.sqrt(sq)
            avg = avg + eps
            if momentum > 0:
                buf = momentum_buffers[i]
                buf *= momentum
                buf += g / avg
                p[...] = (p32 + (-lr) * buf).astype(p.dtype)
            else:
                p[...] = (p32 + (-lr) * (g / avg)).astype(p.dtype)

    def adagrad_step(self, params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps, maximize,
                     cache=None, block=None, found_inf=None):
        """``torch.optim.Adagrad`` (dense gradients): ``clr = lr / (1 + (step - 1) * lr_decay)``."""
        if _skipped(found_inf):
            return
        for i, (p, grad, s) in enumerate(zip(params, grads, state_sums)):
            step = _bump(state_steps[i])
            g = _grad(grad, p, maximize)
            p32 = p.astype(g.dtype)
            if weight_decay != 0:
                g = g + weight_decay * p32
            clr = lr / (1 + (step - 1) * lr_decay)
            s += g * g
            std = np.sqrt(s) + eps
            p[...] = (p32 + (-clr) * (g / std)).astype(p.dtype)

    # ------------------------------------------------------------------ loss scaling (GradScaler)
    def amp_unscale_(self, grads, found_inf, scale, *, cache=None, block=None):
        """``torch._amp_foreach_non_finite_check_and_unscale_``: every gradient times ``1/scale`` (the
        reciprocal in float64, rounded to float32) in place; ``found_inf`` set to 1 if any element is inf/nan."""
        inv = np.float32(1.0 / np.float64(scale))
        for g in grads:
            if not np.isfinite(g).all():
                found_inf[...] = 1.0
            g[...] = (g.astype(np.float32) * inv).astype(g.dtype)

    def amp_update_scale_(self, scale, growth_tracker, found_inf, *, growth_factor, backoff_factor, growth_interval):
        """``torch._amp_update_scale_``: back off on inf/nan, else count the step and grow the scale every
        ``growth_interval`` successful steps (kept only if finite); factors applied in float32."""
        if float(found_inf) != 0.0:
            scale[...] = scale * np.float32(backoff_factor)
            growth_tracker[...] = 0
            return
        successful = int(growth_tracker) + 1
        if successful == growth_interval:
            grown = np.float32(scale) * np.float32(growth_factor)
            if np.isfinite(grown):
                scale[...] = grown
            growth_tracker[...] = 0
        else:
            growth_tracker[...] = successful
