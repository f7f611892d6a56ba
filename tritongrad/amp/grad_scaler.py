"""`GradScaler` (``torch.amp.GradScaler``): dynamic loss scaling for float16 training, with no host sync.

As PyTorch's: ``scaler.scale(loss).backward()`` multiplies the loss by the scale; ``scaler.unscale_(opt)``
divides the optimizer's gradients by it and records whether any was inf or nan (``found_inf``);
``scaler.step(opt)`` skips the step when ``found_inf`` is set; ``scaler.update()`` halves the scale after a
skipped step and doubles it after ``growth_interval`` successful ones. Same sequence of scales and skipped
steps as PyTorch's.

Unlike PyTorch's default path (which reads ``found_inf`` on the host with ``.item()`` before calling
``optimizer.step``), everything stays on the device: the unscale and inf/nan check is one fused multi-tensor
kernel writing a device ``found_inf``, tritongrad's optimizers read it in their fused kernels and skip on the
device (step counters included), and ``update`` adjusts the scale in a one-program kernel. A step with a
scaler therefore makes no host synchronization and can be captured in a CUDA graph. An optimizer that is not
one of tritongrad's (its own ``step``) gets PyTorch's behaviour: one ``.item()`` per step, then its step or
not.
"""
from __future__ import annotations

import warnings
from enum import Enum

from .. import autograd
from .. import dtypes as _dt
from ..backends import backend_for
from ..tensor import Tensor, full

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _device_key(dev):
    return dev.type, dev.index or 0


class GradScaler:
    """``torch.amp.GradScaler(device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``; see the module docstring. ``device`` is 'cuda' or 'cpu'."""

    def __init__(self, device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        if device not in ("cuda", "cpu"):
            raise RuntimeError(f"GradScaler: unsupported device {device!r}; tritongrad supports 'cuda' and 'cpu'")
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled and device == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
        self._init_scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._scale = None            # fp32 0-d tensor on the device of the first scaled output
        self._growth_tracker = None   # int32 0-d tensor beside it
        self._scale_copies = {}       # the scale on other devices, made on demand per step
        self._per_optimizer_states = {}

    # ------------------------------------------------------------------ helpers
    def _state(self, optimizer):
        return self._per_optimizer_states.setdefault(id(optimizer), _fresh_state())

    def _check_scale_growth_tracker(self, funcname):
        fix = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
        if self._scale is None:
            raise RuntimeError(f"Attempted {funcname} but _scale is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev):
        self._scale = full((), self._init_scale, dtype=_dt.float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=_dt.int32, device=dev)

    def _scale_on(self, dev):
        if dev == self._scale.device:
            return self._scale
        key = _device_key(dev)
        if key not in self._scale_copies:
            self._scale_copies[key] = self._scale.to(dev, non_blocking=True)
        return self._scale_copies[key]

    # ------------------------------------------------------------------ the API
    def scale(self, outputs):
        """Multiply ``outputs`` (a tensor, or lists/tuples of tensors) by the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale_on(outputs.device)

        def apply(v):
            if isinstance(v, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(v.device)
                return v * self._scale_on(v.device)
            if isinstance(v, (list, tuple)):
                return type(v)(apply(x) for x in v)
            if hasattr(v, "__iter__"):
                return map(apply, v)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")
        return apply(outputs)

    def _unscale_grads_(self, optimizer, allow_fp16):
        groups = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not allow_fp16 and p.grad.dtype is _dt.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                if not p.grad.is_contiguous():
                    p.grad = p.grad.contiguous()
                groups.setdefault((_device_key(p.grad.device), p.grad.dtype), []).append(p.grad)
        found = {}
        with autograd.no_grad():
            for (key, _), grads in groups.items():
                dev = grads[0].device
                if key not in found:
                    found[key] = full((), 0.0, dtype=_dt.float32, device=dev)
                be = backend_for(dev)
                be.amp_unscale_([g._data for g in grads], found[key]._data, self._scale_on(dev)._data)
                for g in grads:
                    g._version[0] += 1
        return found

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale in place (once per step, before clipping for
        example) and record ``found_inf`` on the device."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        st = self._state(optimizer)
        if st["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if st["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        st["found_inf_per_device"] = self._unscale_grads_(optimizer, False)
        st["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless the unscaled gradients held inf/nan (unscaling first
        if `unscale_` was not called); skipped on the device for tritongrad's optimizers."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        st = self._state(optimizer)
        if st["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] is OptState.READY:
            self.unscale_(optimizer)
        found = st["found_inf_per_device"]
        if not found:
            raise RuntimeError("No inf checks were recorded for this optimizer.")
        if _skips_on_device(optimizer):
            optimizer._found_inf = found
            try:
                retval = optimizer.step(*args, **kwargs)
            finally:
                optimizer._found_inf = None
        else:
            retval = None if sum(v.item() for v in found.values()) else optimizer.step(*args, **kwargs)
        st["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None):
        """Update the scale for the next iteration from this step's ``found_inf`` flags (on the device), or
        set it to ``new_scale`` (a float or a one-element tensor)."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or torch.FloatTensor "
                          "with requires_grad=False.")
                if new_scale.device.type != self._device or new_scale.numel() != 1 or new_scale.requires_grad:
                    raise ValueError(reason)
                scale.copy_(new_scale.reshape(()))
            else:
                scale.fill_(float(new_scale))
        else:
            founds = [f.to(scale.device, non_blocking=True) for st in self._per_optimizer_states.values()
                      for f in st["found_inf_per_device"].values()]
            if not founds:
                raise RuntimeError("No inf checks were recorded prior to update.")
            combined = founds[0]
            for f in founds[1:]:
                combined = combined + f
            backend_for(scale.device).amp_update_scale_(
                scale._data, tracker._data, combined._data, growth_factor=self._growth_factor,
                backoff_factor=self._backoff_factor, growth_interval=self._growth_interval)
            scale._version[0] += 1
        self._scale_copies = {}
        self._per_optimizer_states = {}

    # ------------------------------------------------------------------ accessors
    def get_scale(self):
        """The current scale as a Python float (a host sync: call it outside the training step); 1.0 when
        disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def is_enabled(self):
        """Whether this scaler scales (``GradScaler.is_enabled``)."""
        return self._enabled

    def state_dict(self):
        """``{'scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'}`` as PyTorch's
        (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        """Load a `state_dict` (from tritongrad's or PyTorch's GradScaler)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(self._init_growth_tracker)


def _skips_on_device(optimizer):
    """True for tritongrad's built-in optimizers, whose fused steps read ``found_inf`` on the device."""
    from ..optim.optimizer import Optimizer
    cls = type(optimizer)
    return isinstance(optimizer, Optimizer) and cls._method is not None and cls.step is Optimizer.step and \
        cls._update is Optimizer._update
