"""``torch.nn.modules.batchnorm``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.normalization`."""
from ..normalization import BatchNorm1d, BatchNorm2d  # noqa: F401

__all__ = ['BatchNorm1d', 'BatchNorm2d']
from ..normalization import _BatchNorm  # noqa: F401
