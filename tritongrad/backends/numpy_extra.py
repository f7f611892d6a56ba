"""NumPy references for the ops added for PyTorch API breadth (mixin `NumpyExtra` of the NumPy backend):
``sort`` (``sort``/``argsort``/``topk``).

The method states the contract the Triton side (`TritonExtra`) follows.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = ["NumpyExtra"]


class NumpyExtra:
    """Sorting on the host."""

    def sort(self, x, dim, descending=False, k=None):
        """``(values, indices)`` of ``x`` sorted along ``dim``, stable (ties keep their input order), NaN
        ordered after every number (first when descending), as ``torch.sort(stable=True)``; only the first
        ``k`` along ``dim`` when ``k`` is given (``torch.topk``). Indices int64; a 0-d ``x`` is one element."""
        if x.ndim == 0:
            if k not in (None, 1):
                raise ValueError(f"sort: k={k} is out of range for a 0-d array")
            return x.copy(), np.zeros((), np.int64)
        dim = dim % x.ndim
        n = x.shape[dim]
        k = n if k is None else int(k)
        if not 0 <= k <= n:
            raise ValueError(f"sort: k={k} is out of range for dim {dim} of size {n}")
        keys = x.astype(np.float32) if x.dtype in (np.float16, ml_dtypes.bfloat16) else x
        if descending:  # a stable ascending sort of the reversed row, read backwards: ties stay in input order
            idx = n - 1 - np.flip(np.argsort(np.flip(keys, dim), axis=dim, kind="stable"), dim)
        else:
            idx = np.argsort(keys, axis=dim, kind="stable")
        idx = np.ascontiguousarray(np.take(idx, np.arange(k), axis=dim)).astype(np.int64, copy=False)
        return np.take_along_axis(x, idx, dim), idx
