"""Triton side of the ops added for PyTorch API breadth (mixin `TritonExtra` of the Triton backend): the
methods of `NumpyExtra` (contracts stated there) on `DeviceArray`s, each a launch wrapper of
``tritongrad.kernels``."""
from __future__ import annotations

from tritongrad.kernels import sort as _sort

__all__ = ["TritonExtra"]


class TritonExtra:
    """Sorting kernels."""

    sort = staticmethod(_sort.sort)
