"""The Triton backend (cuda): every op of `base.Backend` bound to a launch wrapper in ``tritongrad.kernels``.

Nothing here computes: storage goes through ``tritongrad.runtime`` (device memory, or host memory in
interpreter mode) and each op through its kernel family. ``tests/test_backend_coverage.py`` fails if any
interface method is left to the abstract base.
"""
from __future__ import annotations

import numpy as np

from .. import _determinism, runtime
from ..kernels import copy as _copy
from ..kernels import elementwise as _ew
from ..kernels import index as _index
from ..kernels import matmul as _mm
from ..kernels import random as _random
from ..kernels import reduce as _reduce
from ..kernels import softmax as _softmax
from .base import Backend


class TritonBackend(Backend):
    """Backend for ``cuda`` tensors: `DeviceArray` storage and Triton kernels."""

    name = "triton"

    # storage
    def empty(self, shape, dtype, device=0):
        return runtime.empty(tuple(shape), np.dtype(dtype), device)

    def from_numpy(self, arr, device=0, non_blocking=False):
        """A new `DeviceArray` holding a copy of the NumPy array ``arr``.

        Blocking by default. With ``non_blocking`` the copy runs on this device's dedicated copy stream,
        ordered against the current (compute) stream with events: the copy stream first waits for an event
        recorded on the compute stream (the destination was allocated there, possibly from memory that
        stream's earlier work was using), and the compute stream then waits for an event recorded after the
        copy, so anything queued later on it sees the data, while the host goes on at once. The runtime
        keeps ``arr`` alive until the copy has finished, and the destination is recorded on the copy stream
        so its memory is not reused before the copy is done. Truly asynchronous only from pinned memory
        (``runtime.pinned_empty``, ``DataLoader(pin_memory=True)``); when the current stream is the copy
        stream itself, the copy is simply queued on it.
        """
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        out = runtime.empty(arr.shape, arr.dtype, device)
        if not arr.nbytes:
            return out
        if not non_blocking:
            runtime.copy_host_to_device(out, arr)
            return out
        streams = self.__dict__.setdefault("_copy_streams", {})
        copy_stream = streams.get(out.device)
        if copy_stream is None:
            copy_stream = streams[out.device] = runtime.Stream(out.device)
        compute = runtime.current_stream(out.device)
        if compute != copy_stream:
            copy_stream.wait_event(compute.record_event())
        runtime.copy_host_to_device(out, arr, non_blocking=True, stream=copy_stream)
        if compute != copy_stream:
            compute.wait_event(copy_stream.record_event())
            runtime.record_stream(out, copy_stream)
        return out

    def to_numpy(self, a):
        src = a if a.is_contiguous() else _copy.contiguous(a)
        out = np.empty(a.shape, dtype=a.dtype)
        if out.nbytes:
            runtime.copy_device_to_host(out, src)
        return out

    def _accumulate_(self, dst, src):
        """``dst += src`` in place with a single kernel launch (gradient accumulation into ``.grad``)."""
        return _ew.add_(dst, src)

    full = staticmethod(_copy.full)
    copy_ = staticmethod(_copy.copy_)
    cast = staticmethod(_copy.cast)
    contiguous = staticmethod(_copy.contiguous)
    arange = staticmethod(_copy.arange)

    # random
    rand = staticmethod(_random.rand)
    randn = staticmethod(_random.randn)
    randint = staticmethod(_random.randint)

    # elementwise
    unary = staticmethod(_ew.unary)
    unary_bwd = staticmethod(_ew.unary_bwd)
    binary = staticmethod(_ew.binary)
    binary_bwd = staticmethod(_ew.binary_bwd)
    where = staticmethod(_ew.where)
    clamp = staticmethod(_ew.clamp)
    clamp_bwd = staticmethod(_ew.clamp_bwd)
    tril = staticmethod(_ew.tril)

    # reductions
    reduce = staticmethod(_reduce.reduce)
    reduce_bwd = staticmethod(_reduce.reduce_bwd)
    argreduce = staticmethod(_reduce.argreduce)
    cumsum = staticmethod(_reduce.cumsum)
    softmax = staticmethod(_softmax.softmax)
    softmax_bwd = staticmethod(_softmax.softmax_bwd)

    # matmul
    matmul = staticmethod(_mm.matmul)

    # indexing
    index_select = staticmethod(_index.index_select)
    index_copy_ = staticmethod(_index.index_copy_)
    gather = staticmethod(_index.gather)
    nonzero = staticmethod(_index.nonzero)

    @staticmethod
    def index_add(shape, dtype, dim, index, src):
        """`kernels.index.index_add` (float atomics: alerts under `use_deterministic_algorithms`)."""
        _determinism.alert_not_deterministic("index_add_cuda_", dtype)
        return _index.index_add(shape, dtype, dim, index, src)

    @staticmethod
    def scatter_add(shape, dtype, dim, index, src):
        """`kernels.index.scatter_add` (float atomics: alerts under `use_deterministic_algorithms`)."""
        _determinism.alert_not_deterministic("scatter_add_cuda_", dtype)
        return _index.scatter_add(shape, dtype, dim, index, src)

    wrap_index = staticmethod(_index.wrap_index)
