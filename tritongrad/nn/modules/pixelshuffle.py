"""``torch.nn.modules.pixelshuffle``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.upsampling`."""
from ..upsampling import PixelShuffle, PixelUnshuffle  # noqa: F401

__all__ = ['PixelShuffle', 'PixelUnshuffle']
