"""``torch.nn.modules.sparse``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.sparse`."""
from ..sparse import *  # noqa: F401,F403
from ..sparse import __all__  # noqa: F401
