"""``torch.nn.modules.module``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.module`."""
from ..module import Module  # noqa: F401

__all__ = ['Module']
