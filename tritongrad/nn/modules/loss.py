"""``torch.nn.modules.loss``: the import path PyTorch scripts use; the classes live in `tritongrad.nn.loss`."""
from ..loss import *  # noqa: F401,F403
from ..loss import __all__  # noqa: F401
from ..loss import _Loss, _WeightedLoss  # noqa: F401
