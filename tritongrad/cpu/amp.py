"""`tritongrad.cpu.amp` (``torch.cpu.amp``): PyTorch's deprecated cpu spellings of `tritongrad.amp`."""
from __future__ import annotations

import warnings

from ..amp import autocast_mode as _ac
from ..amp import grad_scaler as _gs

__all__ = ["autocast", "GradScaler"]


class autocast(_ac.autocast):
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``: deprecated, use
    ``tritongrad.autocast('cpu', ...)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        from .. import dtypes
        super().__init__("cpu", dtype=dtypes.bfloat16 if dtype is None else dtype, enabled=enabled,
                         cache_enabled=cache_enabled)


class GradScaler(_gs.GradScaler):
    """``torch.cpu.amp.GradScaler(...)``: deprecated, use ``tritongrad.amp.GradScaler('cpu', ...)``."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        warnings.warn("`torch.cpu.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                         growth_interval=growth_interval, enabled=enabled)
