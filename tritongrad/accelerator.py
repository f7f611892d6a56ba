"""``tritongrad.accelerator`` (``torch.accelerator``): the current accelerator, which for tritongrad is the
``cuda`` device when it is available (a GPU, or Triton's interpreter with ``TRITON_INTERPRET=1``)."""
from __future__ import annotations

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "current_device_idx",
           "set_device_index", "set_device_idx", "synchronize"]


def is_available():
    """True when the cuda device is available (``torch.accelerator.is_available``)."""
    from . import cuda
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device('cuda')`` when available, else None (``torch.accelerator.current_accelerator``)."""
    from .device import device
    return device("cuda") if is_available() else None


def device_count():
    """Number of cuda devices (``torch.accelerator.device_count``)."""
    from . import cuda
    return cuda.device_count()


def current_device_index():
    """Index of this thread's current cuda device (``torch.accelerator.current_device_index``)."""
    from . import cuda
    return cuda.current_device()


def set_device_index(device):
    """Make ``device`` current in this thread (``torch.accelerator.set_device_index``)."""
    from . import cuda
    cuda.set_device(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


def synchronize(device=None):
    """Wait for the device's work (``torch.accelerator.synchronize``)."""
    from . import cuda
    cuda.synchronize(device)
