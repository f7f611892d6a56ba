"""``torch.nn.modules.instancenorm``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.normalization`."""
from ..normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d  # noqa: F401

__all__ = ['InstanceNorm1d', 'InstanceNorm2d', 'InstanceNorm3d']
from ..normalization import _InstanceNorm  # noqa: F401
