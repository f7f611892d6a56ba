"""``torch.nn.modules.conv``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.conv`."""
from ..conv import *  # noqa: F401,F403
from ..conv import __all__  # noqa: F401
from ..conv import _ConvNd, _ConvTransposeNd  # noqa: F401
