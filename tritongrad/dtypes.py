"""Data types with PyTorch's names and type-promotion rules.

A `dtype` pairs a PyTorch name (``tritongrad.float32``) with the NumPy dtype that stores it on the
host (bfloat16 comes from ``ml_dtypes``) and the Triton type name used in kernel signatures.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = [
    "dtype", "float32", "float", "float16", "half", "bfloat16", "float64", "double",
    "int32", "int", "int64", "long", "int16", "short", "int8", "uint8", "bool",
    "get_default_dtype", "set_default_dtype", "promote_types", "result_type", "as_dtype",
]


class dtype:
    """A tensor element type (``torch.dtype``)."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "triton", "_rank")

    def __init__(self, name, np_dtype, triton_name, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f" or name == "bfloat16"
        self.is_signed = name not in ("uint8", "bool")
        self.triton = triton_name
        self._rank = rank

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        return f"tritongrad.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


bool = dtype("bool", np.bool_, "i1", 0)
uint8 = dtype("uint8", np.uint8, "u8", 1)
int8 = dtype("int8", np.int8, "i8", 2)
int16 = dtype("int16", np.int16, "i16", 3)
int32 = dtype("int32", np.int32, "i32", 4)
int64 = dtype("int64", np.int64, "i64", 5)
float16 = dtype("float16", np.float16, "fp16", 6)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, "bf16", 7)
float32 = dtype("float32", np.float32, "fp32", 8)
float64 = dtype("float64", np.float64, "fp64", 9)

half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
FLOATING = (float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
_BY_NP = {d.np: d for d in ALL}

_default_float = float32


def get_default_dtype():
    """The default floating dtype (``torch.get_default_dtype``); float32 unless changed."""
    return _default_float


def set_default_dtype(d):
    """Set the default floating dtype (``torch.set_default_dtype``): float32 or float64 (or 16-bit)."""
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def as_dtype(d):
    """Turn a tritongrad dtype, a NumPy dtype, a name or a Python type into a tritongrad dtype."""
    if isinstance(d, dtype):
        return d
    if d is None:
        return _default_float
    if d is _pyfloat:
        return _default_float
    if d is _pyint:
        return int64
    if d is _pybool:
        return bool
    if isinstance(d, str):
        name = d.replace("torch.", "").replace("tritongrad.", "")
        alias = {"float": "float32", "half": "float16", "double": "float64", "long": "int64",
                 "int": "int32", "short": "int16"}
        name = alias.get(name, name)
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise TypeError(f"unknown dtype name {d!r}")
    try:
        npd = np.dtype(d)
    except TypeError:
        raise TypeError(f"cannot interpret {d!r} as a tritongrad dtype") from None
    if npd in _BY_NP:
        return _BY_NP[npd]
    raise TypeError(f"NumPy dtype {npd} is not supported by tritongrad "
                    f"(supported: {', '.join(x.name for x in ALL)})")


_pyfloat, _pyint, _pybool = type(1.0), type(1), type(True)


def _category(d):
    return 0 if d is bool else (2 if d.is_floating_point else 1)


def promote_types(a, b):
    """The smallest dtype both ``a`` and ``b`` convert to safely (``torch.promote_types``)."""
    a, b = as_dtype(a), as_dtype(b)
    if a is b:
        return a
    if {a, b} == {float16, bfloat16}:
        return float32
    if {a, b} == {uint8, int8}:
        return int16
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return a if a._rank > b._rank else b


def _scalar_dtype(x):
    if isinstance(x, _pybool) or isinstance(x, np.bool_):
        return bool
    if isinstance(x, (_pyint, np.integer)):
        return int64
    if isinstance(x, (_pyfloat, np.floating)):
        return _default_float
    raise TypeError(f"unsupported scalar of type {type(x).__name__}")


def result_type(*operands):
    """PyTorch's result type for an op over tensors and Python scalars (``torch.result_type``).

    Three priorities, as in PyTorch: tensors with dimensions, then 0-d tensors, then Python scalars.
    A lower-priority operand changes the result only if it is of a higher category
    (bool < integer < floating); then the result is that operand's dtype, or for a Python scalar the
    default dtype of its category (float32 for floats, int64 for ints).
    """
    dims, zeros, scalars = None, None, None
    for x in operands:
        if hasattr(x, "dtype") and hasattr(x, "shape") and not isinstance(x, np.generic):
            d = as_dtype(x.dtype)
            if len(x.shape) > 0:
                dims = d if dims is None else promote_types(dims, d)
            else:
                zeros = d if zeros is None else promote_types(zeros, d)
        else:
            d = _scalar_dtype(x)
            scalars = d if scalars is None else promote_types(scalars, d)
    out = None
    for level in (dims, zeros, scalars):
        if level is None:
            continue
        if out is None:
            out = level
        elif _category(level) > _category(out):
            out = level
    return out
