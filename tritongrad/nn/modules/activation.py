"""``torch.nn.modules.activation``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.activation`."""
from ..activation import *  # noqa: F401,F403
from ..activation import __all__  # noqa: F401
