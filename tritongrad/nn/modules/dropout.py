"""``torch.nn.modules.dropout``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.dropout`."""
from ..dropout import *  # noqa: F401,F403
from ..dropout import __all__  # noqa: F401
from ..dropout import _DropoutNd  # noqa: F401
