"""The rest of ``torch.nn``'s activation modules (ELU, SELU, CELU, ReLU6, Hardtanh, Hardsigmoid, Hardswish,
Mish, Softsign, Softshrink, Hardshrink, Tanhshrink, Threshold, GLU, PReLU, Softmin): thin modules over
`tritongrad.nn.functional`, with PyTorch's constructor arguments and reprs."""
from __future__ import annotations

from ..tensor import empty
from . import functional as F
from . import init
from .activation import Softmax
from .module import Module
from .parameter import Parameter

__all__ = ["ELU", "SELU", "CELU", "ReLU6", "Hardtanh", "Hardsigmoid", "Hardswish", "Mish", "Softsign",
           "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "GLU", "PReLU", "Softmin"]


def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


class ELU(Module):
    """``torch.nn.ELU(alpha=1.0, inplace=False)``: see `functional.elu`."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """``torch.nn.CELU(alpha=1.0, inplace=False)``: see `functional.celu`."""

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class Hardtanh(Module):
    """``torch.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)``: see `functional.hardtanh`."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError("min_val cannot be greater than max_val")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``torch.nn.ReLU6(inplace=False)``: `Hardtanh` on [0, 6]."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class _InplaceActivation(Module):
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, self.inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class SELU(_InplaceActivation):
    """``torch.nn.SELU(inplace=False)``: see `functional.selu`."""
    _fn = staticmethod(F.selu)


class Hardsigmoid(_InplaceActivation):
    """``torch.nn.Hardsigmoid(inplace=False)``: see `functional.hardsigmoid`."""
    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_InplaceActivation):
    """``torch.nn.Hardswish(inplace=False)``: see `functional.hardswish`."""
    _fn = staticmethod(F.hardswish)


class Mish(_InplaceActivation):
    """``torch.nn.Mish(inplace=False)``: see `functional.mish`."""
    _fn = staticmethod(F.mish)


class Softsign(Module):
    """``torch.nn.Softsign()``: see `functional.softsign`."""

    def forward(self, input):
        return F.softsign(input)


class Tanhshrink(Module):
    """``torch.nn.Tanhshrink()``: see `functional.tanhshrink`."""

    def forward(self, input):
        return F.tanhshrink(input)


class Softshrink(Module):
    """``torch.nn.Softshrink(lambd=0.5)``: see `functional.softshrink`."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.softshrink(input, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Hardshrink(Softshrink):
    """``torch.nn.Hardshrink(lambd=0.5)``: see `functional.hardshrink`."""

    def forward(self, input):
        return F.hardshrink(input, self.lambd)


class Threshold(Module):
    """``torch.nn.Threshold(threshold, value, inplace=False)``: see `functional.threshold`."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """``torch.nn.GLU(dim=-1)``: see `functional.glu`."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(Softmax):
    """``torch.nn.Softmin(dim=None)``: see `functional.softmin`."""

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)


class PReLU(Module):
    """``torch.nn.PReLU(num_parameters=1, init=0.25)``: a learnable negative slope, one or one per channel
    (dim 1), initialised to ``init``; see `functional.prelu`."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        """Fill the slopes with ``init``."""
        globals()["init"].constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
