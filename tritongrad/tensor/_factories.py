"""Functions that make tensors (``torch.tensor``, ``zeros``, ``ones``, ``empty``, ``full``, ``arange``,
``linspace``, ``eye``, the ``*_like`` ones, ``from_numpy``, ``as_tensor``) and the functions of several
tensors: ``cat``/``stack``, ``where``, ``matmul``."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes as _dt
from .. import functions as F
from .._autocast import autocast_op
from .._strides import broadcast_shapes
from ..device import as_device
from ._core import Tensor
from ._helpers import _TYPE_NAMES, _backend, _norm_dim, _np_to_dt, _pybool, _pyfloat, _pyint, _scalar
from ._math import _FLOAT_NP, _coerce_operand
from ._shape import _shape_arg, _size_arg


def _np_from_data(data, dtype):
    if isinstance(data, Tensor):
        return data.detach().cpu()._data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _to_nested(data)
    if isinstance(data, np.ndarray):
        arr = data
    else:
        arr = np.array(data)
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(_dt.get_default_dtype().np)
            elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
                arr = arr.astype(np.int64)
            elif arr.dtype.kind == "O":
                raise TypeError(f"could not infer a dtype for {type(data).__name__} data")
    if dtype is not None:
        arr = arr.astype(_dt.as_dtype(dtype).np)
    elif arr.dtype not in _np_to_dt:
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: "
                            f"float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _to_nested(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_to_nested(x) for x in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (``torch.tensor``): Python floats give the default
    float dtype, ints int64, bools bool; NumPy arrays keep their dtype."""
    dev = as_device(device)
    arr = _np_from_data(data, dtype)
    be = _backend(dev)
    if dev.type == "cpu":
        arr = np.array(arr, copy=True, order="C")
    t = Tensor._make(be.from_numpy(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr), dev.index or 0), dev)
    if pin_memory:
        t = t.pin_memory()
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """Like `tensor` but shares memory with a NumPy array / Tensor when no conversion is needed."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    dev = as_device(device)
    if isinstance(data, np.ndarray) and dev.type == "cpu" and (dtype is None or _dt.as_dtype(dtype).np == data.dtype) \
            and data.dtype in _np_to_dt:
        return Tensor._make(data, dev)
    return tensor(data, dtype=dtype, device=dev)


def from_numpy(arr):
    """A cpu tensor sharing memory with the NumPy array ``arr`` (``torch.from_numpy``)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    if arr.dtype not in _np_to_dt:
        raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: float64, "
                        f"float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return Tensor._make(arr, as_device("cpu"))


def _new(shape, value, dtype, device, requires_grad):
    if any(n < 0 for n in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    if value is not None and not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"fill value must be a number, got {type(value).__name__} {value!r}")
    dev = as_device(device)
    dt = _dt.as_dtype(dtype) if dtype is not None else (
        _dt.get_default_dtype() if value is None or isinstance(value, _pyfloat) else
        _dt.bool if isinstance(value, _pybool) else _dt.int64)
    be = _backend(dev)
    data = be.empty(shape, dt.np, dev.index or 0) if value is None else be.full(shape, value, dt.np, dev.index or 0)
    t = Tensor._make(data, dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False, pin_memory=False, memory_format=None):
    """An uninitialised tensor (``torch.empty``); ``pin_memory=True`` puts a cpu one in page-locked memory."""
    t = _new(_size_arg(sizes, size), None, dtype or _dt.get_default_dtype(), device, False)
    if pin_memory:
        t = t.pin_memory()
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (``torch.zeros``)."""
    return _new(_size_arg(sizes, size), 0, dtype or _dt.get_default_dtype(), device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of ones (``torch.ones``)."""
    return _new(_size_arg(sizes, size), 1, dtype or _dt.get_default_dtype(), device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value``; the dtype follows the value when not given (``torch.full``)."""
    fill_value = _scalar(fill_value)
    return _new(_shape_arg((size,) if isinstance(size, (_pyint, np.integer)) else tuple(size)), fill_value, dtype,
                device, requires_grad)


def _like(t, dtype, device):
    return dtype or t.dtype, device or t.device


def empty_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def zeros_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step`` (``torch.arange``); int64 unless a float
    argument or ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    start, end, step = (_scalar(v.item() if isinstance(v, Tensor) else v) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and larger bound inconsistent with step sign (start={start}, end={end}, "
                           f"step={step})")
    n = max(0, math.ceil((end - start) / step))
    if dtype is None:
        dtype = _dt.int64 if all(isinstance(v, (_pyint, np.integer)) for v in (start, end, step)) else \
            _dt.get_default_dtype()
    dt = _dt.as_dtype(dtype)
    dev = as_device(device)
    t = Tensor._make(_backend(dev).arange(start, step, n, dt.np, dev.index or 0), dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values evenly spaced from ``start`` to ``end`` inclusive (``torch.linspace``)."""
    if steps < 0:
        raise RuntimeError(f"number of steps must be non-negative, got steps={steps}")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    dev = as_device(device)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    t = Tensor._make(_backend(dev).arange(_pyfloat(start), step, steps, dt.np, dev.index or 0), dev)
    if steps > 1:
        t[-1] = end
    if requires_grad:
        t.requires_grad_(True)
    return t


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """An ``n`` x ``m`` identity matrix (``torch.eye``)."""
    m = n if m is None else m
    t = zeros(n, m, dtype=dtype, device=device)
    k = min(n, m)
    if k:
        idx = arange(k, device=device)
        t[idx, idx] = 1
    if requires_grad:
        t.requires_grad_(True)
    return t


@autocast_op("cat")
def cat(tensors, dim=0, *, out=None):
    """Concatenate along ``dim`` (``torch.cat``); all tensors on one device, dtypes promoted.
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("cat", out, cat(tensors, dim))
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected Tensor as element {i} in argument 'tensors', but got "
                            f"{type(t).__name__}")
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    ref = next((t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)), tensors[0])
    d = _norm_dim(dim, ref.ndim)
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = _dt.promote_types(dt, t.dtype)
    parts = []
    for i, t in enumerate(tensors):
        if t.ndim == 1 and t.shape[0] == 0 and ref.ndim != 1:
            continue
        if t.device != ref.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{ref.device} and {t.device}! (when checking argument tensors in cat)")
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                               f"{list(ref.shape)} but got size {list(t.shape)} for tensor number {i} in the list.")
        parts.append(t.to(dt))
    return F.Cat.apply(*parts, dim=d)


concat = concatenate = cat


@autocast_op("stack")
def stack(tensors, dim=0, *, out=None):
    """Stack equal-shaped tensors along a new dimension ``dim`` (``torch.stack``).
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("stack", out, stack(tensors, dim))
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(t.shape)} at entry {i}")
    d = _norm_dim(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (``torch.where``); with one argument, ``nonzero``."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if condition.dtype is not _dt.bool:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_TYPE_NAMES[condition.dtype.name]}")
    ref = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    a = _coerce_operand(input, ref) if not isinstance(input, Tensor) else input
    b = _coerce_operand(other, ref) if not isinstance(other, Tensor) else other
    dt = _dt.result_type(a, b)
    shapes = [condition.shape] + [x.shape for x in (a, b) if isinstance(x, Tensor)]
    try:
        broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(f"where: shapes {[list(s) for s in shapes]} cannot be broadcast together") from None
    for x in (a, b):
        if isinstance(x, Tensor) and x.device != condition.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{condition.device} and {x.device}!")
    if isinstance(a, Tensor):
        a = a.to(dt)
    else:
        a = _pyfloat(a) if dt.is_floating_point else _pyint(a) if dt is not _dt.bool else _pybool(a)
    if isinstance(b, Tensor):
        b = b.to(dt)
    else:
        b = _pyfloat(b) if dt.is_floating_point else _pyint(b) if dt is not _dt.bool else _pybool(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        full_shape = tuple(condition.shape)
        return Tensor._make(condition._be.where(condition._data, a, b), condition.device).reshape(full_shape)
    if not dt.is_floating_point:
        return Tensor._make(condition._be.where(condition._data, a._data if isinstance(a, Tensor) else a,
                                                b._data if isinstance(b, Tensor) else b), condition.device)
    return F.Where.apply(condition, a, b)


_PRECISION = []   # tritongrad._matmul_precision (the package imports this module first)


@autocast_op("matmul")
def matmul(a, b, *, out=None):
    """Matrix product with PyTorch's rules for 1-D, 2-D, batched and broadcast operands (``torch.matmul``).
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("matmul", out, matmul(a, b))
    if not _PRECISION:
        from .. import _matmul_precision
        _PRECISION.append(_matmul_precision)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul expects two tensors")
    sa, sb = a._data.shape, b._data.shape
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0] and a.device is b.device and \
            a._data.dtype == b._data.dtype and a._data.dtype in _FLOAT_NP:
        # fast path: 2-D @ 2-D, nothing to check further
        return F.Matmul.apply(a, b, allow_tf32=_PRECISION[0][0] != "highest")
    if not sa or not sb:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(sa)}D and "
                           f"{len(sb)}D")
    if a.device is not b.device and a.device != b.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{a.device} and {b.device}!")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")
    if a._data.dtype not in _FLOAT_NP:
        raise RuntimeError(f"\"matmul\" not implemented for '{_TYPE_NAMES[a.dtype.name]}'")
    k_a = sa[-1]
    k_b = sb[-2] if len(sb) > 1 else sb[0]
    if k_a != k_b:
        if a.ndim == 1 and b.ndim == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                               f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                               f"respectively")
        ma = "x".join(map(str, (math.prod(a.shape[:-1]) if a.ndim > 1 else 1, k_a)))
        mb = "x".join(map(str, (k_b, b.shape[-1] if b.ndim > 1 else 1)))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ma} and {mb}) (shapes {list(a.shape)} and "
                           f"{list(b.shape)})")
    tf32 = _PRECISION[0][0] != "highest"
    squeeze_front = len(sa) == 1
    squeeze_back = len(sb) == 1
    if squeeze_front:
        a = a.unsqueeze(0)
    if squeeze_back:
        b = b.unsqueeze(1)
    if len(sb) > 2:
        try:
            broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        except ValueError:
            raise RuntimeError(f"matmul: the batch dimensions of shapes {list(a.shape)} and {list(b.shape)} cannot be "
                               f"broadcast ({list(a.shape[:-2])} vs {list(b.shape[:-2])})") from None
    out = F.Matmul.apply(a, b, allow_tf32=tf32)   # one node: Matmul folds/broadcasts to 3-D at array level
    if squeeze_front:
        out = out.squeeze(-2)
    if squeeze_back:
        out = out.squeeze(-1)
    return out


def _late_imports():
    """Import what this module shares in an import cycle (`tritongrad.ops_extra` imports the factories);
    called by the package once every name it needs exists."""
    global _ox
    from .. import ops_extra as _ox
