"""Stride arithmetic shared by both devices (views, broadcasting)."""
from __future__ import annotations

import math


def view_strides(shape, strides, new_shape, unit=1):
    """Strides that let ``new_shape`` view memory laid out as (shape, strides), or None.

    PyTorch's rule (``computeStride``): dims of the old shape are grouped into contiguous chunks; each
    chunk can be split or merged freely. Strides are in whatever unit the caller uses.
    """
    numel = math.prod(shape)
    if numel != math.prod(new_shape):
        return None
    if numel == 0 or not shape:
        out, acc = [], unit
        for n in reversed(new_shape):
            out.append(acc)
            acc *= max(n, 1)
        return tuple(reversed(out))
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (shape[tensor_d - 1] != 1 and strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def broadcast_shapes(*shapes):
    """The broadcast of several shapes, or ValueError naming the first mismatch (PyTorch's rule)."""
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, n in enumerate(s):
            j = nd - len(s) + i
            if out[j] == 1:
                out[j] = n
            elif n != 1 and n != out[j]:
                raise ValueError(j)
    return tuple(out)
