"""``tritongrad.utils.dlpack`` (``torch.utils.dlpack``): `to_dlpack`, `from_dlpack`, `DLDeviceType`.

The exchange itself (capsule layout, devices, streams, lifetimes) is described in ``tritongrad/_dlpack.py``.
"""
from .._dlpack import DLDeviceType, from_dlpack, to_dlpack

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]
