"""``default_collate`` and ``default_convert`` (``torch.utils.data.default_collate`` / ``default_convert``).

Batched outputs are allocated through `empty`, which in a worker process is the worker's shared-memory
allocator: the batch is written straight into the segment the main process will map, never copied
into a pickle.
"""
from __future__ import annotations

import collections.abc
import re

import numpy as np

from ... import dtypes as _dt
from ...tensor import Tensor, from_numpy, stack, tensor

__all__ = ["default_collate", "default_convert"]

_allocator = [np.empty]     # replaced in worker processes by the shared-memory SegmentWriter.empty
_NP_STR_OBJ = re.compile(r"[SaUO]")
_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def set_allocator(fn):
    """Make ``fn(shape, dtype)`` allocate collated outputs (None restores ``np.empty``)."""
    _allocator[0] = np.empty if fn is None else fn


def empty(shape, dtype):
    """An uninitialised array for a collated output (shared memory inside a worker)."""
    return _allocator[0](shape, dtype)


def stack_arrays(arrays):
    """``np.stack(arrays)`` into an array from `empty`."""
    first = arrays[0]
    out = empty((len(arrays),) + first.shape, first.dtype)
    np.stack(arrays, out=out)
    return out


def _stack_tensors(batch):
    first = batch[0]
    plain = all(isinstance(t, Tensor) and t.device.type == "cpu" and not t.requires_grad and t.dtype is first.dtype
                and t.shape == first.shape for t in batch)
    if not plain:
        return stack(batch, 0)
    return from_numpy(stack_arrays([t._data for t in batch]))


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _rebuild_like(elem, items):
    """``type(elem)(items)`` for a mapping/sequence, falling back to dict/list as PyTorch does."""
    try:
        return type(elem)(items)
    except TypeError:
        return dict(items) if isinstance(elem, collections.abc.Mapping) else list(items)


def default_collate(batch):
    """``torch.utils.data.default_collate``: merge a list of samples into a batch.

    Tensors -> stacked along a new dim 0; NumPy arrays -> stacked Tensors (arrays of strings or objects
    raise TypeError); NumPy scalars -> a Tensor of their dtype; Python floats -> a float64 Tensor; ints ->
    int64; bools -> bool; strings and bytes -> kept as a list; mappings -> the same mapping type with each
    key collated; namedtuples -> the same namedtuple of collated fields; other sequences -> a list of the
    collated positions (tuples included, as in PyTorch); every sequence must have the same length
    (RuntimeError). Anything else raises TypeError.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _NP_STR_OBJ.search(elem.dtype.str):
            raise TypeError(_ERR.format(elem.dtype))
        return from_numpy(stack_arrays([np.asarray(b) for b in batch]))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch, dtype=_dt.bool)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dt.float64)
    if isinstance(elem, int):
        return tensor(batch, dtype=_dt.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_like(elem, [(key, default_collate([d[key] for d in batch])) for key in elem])
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(samples)) for samples in zip(*batch)]
        return collated if isinstance(elem, tuple) else _rebuild_like(elem, collated)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """``torch.utils.data.default_convert``: the conversion used when automatic batching is off
    (``batch_size=None``): NumPy arrays (not strings/objects) and scalars -> Tensors, recursing into
    mappings, namedtuples and sequences; everything else unchanged."""
    if isinstance(data, np.ndarray):
        return data if _NP_STR_OBJ.search(data.dtype.str) else from_numpy(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return tensor(np.array(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_like(data, [(key, default_convert(v)) for key, v in data.items()])
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_like(data, [default_convert(d) for d in data])
    return data


def map_leaves(fn, data):
    """``data`` with ``fn`` applied to every Tensor and NumPy array in it, rebuilding mappings,
    namedtuples, tuples and lists around the results; other objects are kept."""
    if isinstance(data, (Tensor, np.ndarray)):
        return fn(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_like(data, [(key, map_leaves(fn, v)) for key, v in data.items()])
    if _is_namedtuple(data):
        return type(data)(*(map_leaves(fn, d) for d in data))
    if isinstance(data, (tuple, list)):
        return type(data)(map_leaves(fn, d) for d in data)
    return data
