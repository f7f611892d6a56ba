"""PyTorch's legacy typed-tensor constructors: ``torch.FloatTensor``, ``torch.LongTensor``, ...,
``torch.cuda.FloatTensor``, ...

Each is a class whose call builds a tritongrad Tensor of its dtype and device -- ``LongTensor([1, 2])`` from
data, ``FloatTensor(2, 3)`` uninitialised of a size, ``FloatTensor()`` empty -- and against which
``isinstance`` tests a tensor's dtype and device, as in PyTorch. ``Tensor.type(torch.LongTensor)`` casts.
"""
from __future__ import annotations

import numbers

from . import dtypes as _dt

__all__ = ["TYPED", "cuda_types"]

_NAMES = {"Float": "float32", "Double": "float64", "Half": "float16", "BFloat16": "bfloat16", "Long": "int64",
          "Int": "int32", "Short": "int16", "Char": "int8", "Byte": "uint8", "Bool": "bool"}


class _TypedTensorMeta(type):
    def __instancecheck__(cls, obj):
        from .tensor import Tensor
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == cls.device_type

    def __call__(cls, *args, device=None):
        from .tensor import Size, empty, tensor
        dev = cls.device_type if device is None else device
        if len(args) == 1 and not isinstance(args[0], (numbers.Integral, Size)):
            return tensor(args[0], dtype=cls.dtype, device=dev)
        sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args
        if not all(isinstance(s, numbers.Integral) for s in sizes):
            raise TypeError(f"{cls.__name__}(): expected data or sizes (ints), got {args!r}")
        return empty(*sizes, dtype=cls.dtype, device=dev) if sizes else empty(0, dtype=cls.dtype, device=dev)

    def __repr__(cls):
        return f"<class 'tritongrad.{'cuda.' if cls.device_type == 'cuda' else ''}{cls.__name__}'>"


def _make(device_type):
    where = "cuda." if device_type == "cuda" else ""
    return {f"{prefix}Tensor": _TypedTensorMeta(f"{prefix}Tensor", (), {
        "dtype": getattr(_dt, name), "device_type": device_type,
        "__doc__": f"``torch.{where}{prefix}Tensor``: a {name} tensor on {device_type} from data or sizes; an "
                   f"isinstance check of dtype and device."})
        for prefix, name in _NAMES.items()}


TYPED = _make("cpu")
cuda_types = _make("cuda")
