"""``torch.nn.modules.pooling``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.pooling`."""
from ..pooling import *  # noqa: F401,F403
from ..pooling import __all__  # noqa: F401
