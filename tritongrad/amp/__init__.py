"""`tritongrad.amp`: automatic mixed precision (``torch.amp``): `autocast`, `GradScaler`, `custom_fwd`,
`custom_bwd`, `is_autocast_available`."""
from __future__ import annotations

from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd", "is_autocast_available"]
