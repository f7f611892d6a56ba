"""``torch.nn.modules.normalization``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.normalization`."""
from ..normalization import LayerNorm, RMSNorm, GroupNorm  # noqa: F401

__all__ = ['LayerNorm', 'RMSNorm', 'GroupNorm']
