"""``torch.nn.modules.linear``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.linear`."""
from ..linear import *  # noqa: F401,F403
from ..linear import __all__  # noqa: F401
