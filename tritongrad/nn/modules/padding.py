"""``torch.nn.modules.padding``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.padding`."""
from ..padding import *  # noqa: F401,F403
from ..padding import __all__  # noqa: F401
