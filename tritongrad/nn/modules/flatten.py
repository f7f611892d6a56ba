"""``torch.nn.modules.flatten``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.flatten`."""
from ..flatten import *  # noqa: F401,F403
from ..flatten import __all__  # noqa: F401
