"""`tritongrad.cpu` (``torch.cpu``): the cpu device's module: availability, synchronize (a no-op: cpu work is
synchronous), and ``tritongrad.cpu.amp``."""
from __future__ import annotations

__all__ = ["is_available", "device_count", "synchronize", "current_device", "amp"]


def is_available():
    """``torch.cpu.is_available``: always True."""
    return True


def device_count():
    """``torch.cpu.device_count``: 1."""
    return 1


def current_device():
    """``torch.cpu.current_device``: 'cpu'."""
    return "cpu"


def synchronize(device=None):
    """``torch.cpu.synchronize``: nothing to wait for (the NumPy backend computes synchronously)."""


from . import amp  # noqa: E402
