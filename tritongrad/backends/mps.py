"""``tritongrad.backends.mps`` (``torch.backends.mps``): Apple's Metal backend does not exist in tritongrad."""
from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available():
    """False (``torch.backends.mps.is_available``)."""
    return False


def is_built():
    """False (``torch.backends.mps.is_built``)."""
    return False
