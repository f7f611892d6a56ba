"""`tritongrad.cuda.amp` (``torch.cuda.amp``): PyTorch's deprecated cuda spellings of `tritongrad.amp`.

``autocast(...)`` is ``tritongrad.autocast("cuda", ...)`` and ``GradScaler(...)`` is
``tritongrad.amp.GradScaler("cuda", ...)``; each warns with a FutureWarning, as PyTorch does.
"""
from __future__ import annotations

import functools
import warnings

from ..amp import autocast_mode as _ac
from ..amp import grad_scaler as _gs

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd"]


class autocast(_ac.autocast):
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``: deprecated, use
    ``tritongrad.autocast('cuda', ...)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        from .. import dtypes
        super().__init__("cuda", dtype=dtypes.float16 if dtype is None else dtype, enabled=enabled,
                         cache_enabled=cache_enabled)


class GradScaler(_gs.GradScaler):
    """``torch.cuda.amp.GradScaler(...)``: deprecated, use ``tritongrad.amp.GradScaler('cuda', ...)``."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                         growth_interval=growth_interval, enabled=enabled)


def custom_fwd(fwd=None, *, cast_inputs=None):
    """``torch.cuda.amp.custom_fwd``: ``tritongrad.amp.custom_fwd(device_type='cuda')``."""
    if fwd is None:
        return functools.partial(custom_fwd, cast_inputs=cast_inputs)
    return _ac.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd):
    """``torch.cuda.amp.custom_bwd``: ``tritongrad.amp.custom_bwd(device_type='cuda')``."""
    return _ac.custom_bwd(bwd, device_type="cuda")
