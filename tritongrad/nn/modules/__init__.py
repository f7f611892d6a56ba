"""``torch.nn.modules``: PyTorch's module paths (``torch.nn.modules.loss._Loss``,
``torch.nn.modules.batchnorm._BatchNorm``, ...) over tritongrad's layers, for scripts that import from them."""
from .. import __all__ as _nn_all
from .. import *  # noqa: F401,F403
from . import (activation, batchnorm, container, conv, dropout, flatten, instancenorm, linear, loss,  # noqa: F401
               module, normalization, padding, pixelshuffle, pooling, sparse, transformer, upsampling, utils)

__all__ = [n for n in _nn_all if n not in ("functional", "init", "utils")]
