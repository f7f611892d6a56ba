"""``tritongrad.xpu`` (``torch.xpu``): Intel GPUs do not exist in tritongrad.

Scripts probe the device with ``torch.xpu.is_available()`` (e.g. pytorch/examples mnist_forward_forward),
so the probes answer as PyTorch answers on a machine without an Intel GPU.
"""
from __future__ import annotations

__all__ = ["device_count", "is_available", "is_initialized", "manual_seed", "manual_seed_all"]


def is_available():
    """False (``torch.xpu.is_available``): tritongrad has no XPU backend."""
    return False


def device_count():
    """0 (``torch.xpu.device_count``)."""
    return 0


def is_initialized():
    """False (``torch.xpu.is_initialized``)."""
    return False


def manual_seed(seed):
    """``torch.xpu.manual_seed``: with no XPU device there is no XPU generator to seed; a no-op, as in
    PyTorch without an XPU (its seeding is lazy). ``seed`` must be an int."""
    int(seed)


def manual_seed_all(seed):
    """``torch.xpu.manual_seed_all``: a no-op without XPU devices (see `manual_seed`)."""
    int(seed)
