"""``torch.nn.modules.upsampling``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.upsampling`."""
from ..upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d  # noqa: F401

__all__ = ['Upsample', 'UpsamplingNearest2d', 'UpsamplingBilinear2d']
