"""``torch.nn.modules.activation``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.activation`
and `tritongrad.nn._activation_b`."""
from .._activation_b import *  # noqa: F401,F403
from .._activation_b import __all__ as _b_all
from ..activation import *  # noqa: F401,F403
from ..activation import __all__ as _a_all

__all__ = list(_a_all) + list(_b_all)
