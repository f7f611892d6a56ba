"""Padding layers (``torch.nn.ReflectionPad1d/2d``, ``ReplicationPad1d/2d``, ``CircularPad1d/2d``,
``ZeroPad1d/2d``, ``ConstantPad1d/2d``): `F.pad` with a fixed mode and amounts."""
from __future__ import annotations

import numbers

from . import functional as F
from .module import Module

__all__ = ["ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d",
           "CircularPad2d", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d"]


class _PadNd(Module):
    _mode = "constant"
    _dims = 1

    def __init__(self, padding, value=0.0):
        super().__init__()
        n = 2 * self._dims
        self.padding = (int(padding),) * n if isinstance(padding, numbers.Integral) else tuple(int(p) for p in padding)
        if len(self.padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} ints, got {padding!r}")
        self.value = value

    def forward(self, input):
        if self._mode != "constant" and input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._dims + 1}D or {self._dims + 2}D input, got "
                             f"{input.ndim}D input of size {list(input.shape)}")
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ReflectionPad1d(_PadNd):
    """Pad the last dim by reflection (``nn.ReflectionPad1d``): padding int or (left, right)."""
    _mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Pad the last two dims by reflection (``nn.ReflectionPad2d``): (left, right, top, bottom)."""
    _mode, _dims = "reflect", 2


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating the edge (``nn.ReplicationPad1d``)."""
    _mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating the edges (``nn.ReplicationPad2d``)."""
    _mode, _dims = "replicate", 2


class CircularPad1d(_PadNd):
    """Pad the last dim circularly (``nn.CircularPad1d``)."""
    _mode = "circular"


class CircularPad2d(_PadNd):
    """Pad the last two dims circularly (``nn.CircularPad2d``)."""
    _mode, _dims = "circular", 2


class ConstantPad1d(_PadNd):
    """Pad the last dim with ``value`` (``nn.ConstantPad1d``)."""

    def __init__(self, padding, value):
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Pad the last two dims with ``value`` (``nn.ConstantPad2d``)."""
    _dims = 2

    def __init__(self, padding, value):
        super().__init__(padding, value)


class ZeroPad1d(_PadNd):
    """Pad the last dim with zeros (``nn.ZeroPad1d``)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(_PadNd):
    """Pad the last two dims with zeros (``nn.ZeroPad2d``)."""
    _dims = 2

    def __init__(self, padding):
        super().__init__(padding, 0.0)
