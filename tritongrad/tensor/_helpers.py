"""Small helpers every part of `tritongrad.tensor` uses: `Size`, dtype names, dim normalisation, the backend
of a device. Nothing here needs the `Tensor` class."""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from .. import dtypes as _dt

_pyint, _pyfloat, _pybool = builtins.int, builtins.float, builtins.bool
_np_to_dt = {d.np: d for d in _dt.ALL}

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
               "int32": "Int", "int64": "Long", "int16": "Short", "int8": "Char", "uint8": "Byte",
               "bool": "Bool"}

values_indices = namedtuple("values_indices", ["values", "indices"])


class Size(tuple):
    """The shape of a tensor (``torch.Size``): a tuple of ints."""

    def numel(self):
        return math.prod(self)

    def __repr__(self):
        return f"tritongrad.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


_BACKENDS = {}   # device type -> backend instance (`backends.backend_for` depends on the type only)


def _backend(dev):
    """The backend of ``dev``, cached per device type (no import or call on the hot path)."""
    be = _BACKENDS.get(dev.type)
    if be is None:
        from ..backends import backend_for
        be = _BACKENDS[dev.type] = backend_for(dev)
    return be


def _norm_dim(d, ndim, what="dim"):
    n = max(ndim, 1)
    if not isinstance(d, (_pyint, np.integer)) or isinstance(d, _pybool):
        raise TypeError(f"{what} must be an int, got {type(d).__name__}")
    if d < -n or d >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n if ndim else 0


def _norm_dims(dim, ndim, empty_means_all=False):
    """Dims as a sorted tuple; None means every dim, and so does an empty list for reductions
    (``empty_means_all``), as in PyTorch."""
    if dim is None or (empty_means_all and isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        normed = [_norm_dim(d, ndim) for d in dim]
        dims = tuple(sorted(set(normed)))
        if len(dims) != len(dim):
            twice = next(d for d in normed if normed.count(d) > 1)
            raise RuntimeError(f"dim {twice} appears multiple times in the list of dims")
        return dims if ndim else ()
    d = _norm_dim(dim, ndim)        # checked on a 0-d tensor too: only 0 and -1 name its dim
    return (d,) if ndim else ()


def _scalar(x):
    """Python number from a NumPy scalar; other values unchanged."""
    if isinstance(x, np.generic):
        return x.item()
    return x
