"""``torch.nn.modules.transformer``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.transformer`."""
from ..transformer import *  # noqa: F401,F403
from ..transformer import __all__  # noqa: F401
