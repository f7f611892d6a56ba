"""``torch.nn.modules.container``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.container`."""
from ..container import *  # noqa: F401,F403
from ..container import __all__  # noqa: F401
