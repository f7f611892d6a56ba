"""`Parameter` (``torch.nn.Parameter``) and `Buffer` (``torch.nn.Buffer``)."""
from __future__ import annotations

from ..tensor import Tensor, empty

__all__ = ["Parameter", "Buffer"]


def _wrap(cls, data, requires_grad):
    """A ``cls`` instance sharing ``data``'s backend array and version counter (no copy)."""
    if data is None:
        data = empty(0)
    if not isinstance(data, Tensor):
        raise TypeError(f"{cls.__name__}(data) expects a Tensor, got {type(data).__name__}")
    t = object.__new__(cls)
    t._init(data._data, data.device)
    t._version = data._version
    if requires_grad:
        t.requires_grad_(True)
    return t


class Parameter(Tensor):
    """A Tensor that is a module parameter (``torch.nn.Parameter``): assigning one to a `Module` attribute
    registers it. It shares ``data``'s memory (no copy) and requires grad by default."""

    def __new__(cls, data=None, requires_grad=True):
        return _wrap(cls, data, requires_grad)

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__ (Tensor.__init__ would build a new tensor)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.detach().cpu().numpy().copy(), str(self.device), self.requires_grad))


def _rebuild_parameter(arr, dev, requires_grad):
    from ..tensor import tensor
    return Parameter(tensor(arr, device=dev), requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a module buffer when assigned to a `Module` attribute (``torch.nn.Buffer``);
    ``persistent=False`` keeps it out of the ``state_dict``. Assignment stores a plain Tensor sharing the
    data, as in PyTorch."""

    def __new__(cls, data=None, *, persistent=True):
        t = _wrap(cls, data, False)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass
