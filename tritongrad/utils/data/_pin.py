"""Pinned (page-locked) batch buffers and the device prefetcher.

**Pinned pool.** With ``pin_memory=True`` every Tensor / NumPy array of a batch is copied into a buffer
from a `PinnedPool`: page-locked host memory from ``runtime.pinned_empty``, allocated once per buffer size
and then reused -- not a new ``cuMemHostAlloc`` per batch. Lifetime rule: a buffer handed out with a batch
goes back to the pool only when *nothing views it any more* -- every array and tensor over it has been
garbage collected -- and a non-blocking copy from it holds it until that copy has finished on the GPU (the
runtime keeps the source of an asynchronous copy alive until the copy's event completes). So a batch is
never overwritten while you can still see it: keeping batches (e.g. appending them to a list) is safe and
only makes the pool grow by as many buffers as are kept. Each buffer is sized to the leaf it holds (one
size per leaf shape in practice; the short last batch gets its own).

Without a GPU, or in Triton's interpreter, page-locking means nothing: ``pin_memory=True`` is then a
documented no-op and batches are returned as collated (`pinning_available` is False).

**Prefetch.** `prefetch(loader, device)` (and ``DataLoader(..., device="cuda")``) moves each batch to the
device with ``Tensor.to(device, non_blocking=True)`` while the previous batch is being used: the copies of
batch n+1 are issued, on a side stream, before batch n is handed out, and the current (compute) stream is
made to wait for them only when batch n+1 is handed out. Each handed-out tensor is recorded on the compute
stream (``record_stream``), so its memory is not reused while the compute stream may still read it.
"""
from __future__ import annotations

import weakref

import numpy as np

from ... import runtime
from ...device import as_device
from ...tensor import Tensor, from_numpy
from ._collate import map_leaves

__all__ = ["PinnedPool", "pinning_available", "pin_batch", "prefetch"]

_PAGE = 4096


def pinning_available():
    """True when page-locked memory exists: a real GPU and not Triton's interpreter."""
    return not runtime.interpreting() and runtime.is_available()


class _Lease:
    """Exposes one pool buffer to NumPy; every array derived from it keeps the lease alive, so the
    lease's death means nothing views the buffer any more."""

    __slots__ = ("__array_interface__", "buffer", "__weakref__")

    def __init__(self, buffer, nbytes):
        self.buffer = buffer
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (buffer.ctypes.data, False),
                                    "version": 3}


class PinnedPool:
    """Reusable page-locked host buffers (see the module docstring for the lifetime rule).

    ``allocate(nbytes)`` makes a new uint8 buffer (default: ``runtime.pinned_empty``); ``allocations``
    counts how many were made."""

    def __init__(self, allocate=None):
        self._allocate = allocate or (lambda nbytes: runtime.pinned_empty((nbytes,), np.uint8))
        self._free = {}          # rounded size -> buffers nobody views
        self._leased = []        # (weakref to _Lease, rounded size, buffer)
        self.allocations = 0

    def _reclaim(self):
        alive = []
        for ref, size, buf in self._leased:
            if ref() is None:
                self._free.setdefault(size, []).append(buf)
            else:
                alive.append((ref, size, buf))
        self._leased = alive

    def empty(self, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` in a pool buffer."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes == 0:
            return np.empty(shape, dtype)
        self._reclaim()
        size = -(-nbytes // _PAGE) * _PAGE
        free = self._free.get(size)
        if free:
            buf = free.pop()
        else:
            buf = self._allocate(size)
            self.allocations += 1
        lease = _Lease(buf, nbytes)
        self._leased.append((weakref.ref(lease), size, buf))
        return np.asarray(lease).view(dtype).reshape(shape)

    @property
    def in_use(self):
        """How many buffers are viewed by live arrays."""
        self._reclaim()
        return len(self._leased)


def pin_batch(batch, pool):
    """``batch`` with every cpu Tensor and numeric NumPy array copied into ``pool`` (as cpu Tensors /
    arrays over the pinned buffers) -- ``torch.utils.data``'s ``pin_memory``."""
    def pin(x):
        if isinstance(x, Tensor):
            if x.device.type != "cpu":
                return x
            out = pool.empty(x.shape, x._data.dtype)
            np.copyto(out, x._data)
            return from_numpy(out)
        if x.dtype.hasobject or x.dtype.kind in "SU":
            return x
        out = pool.empty(x.shape, x.dtype)
        np.copyto(out, x)
        return out
    return map_leaves(pin, batch)


def _to_device(batch, device):
    def move(x):
        if isinstance(x, np.ndarray):
            if x.dtype.hasobject or x.dtype.kind in "SU":
                return x
            x = from_numpy(x)
        return x.to(device, non_blocking=True)
    return map_leaves(move, batch)


def _record(batch, stream):
    def record(x):
        if isinstance(x, Tensor):
            runtime.record_stream(x._data, stream)
        return x
    map_leaves(record, batch)


def _prefetch_iter(batches, device):
    if device.type != "cuda":
        for b in batches:
            yield _to_device(b, device)
        return
    side = runtime.Stream(device.index)

    def issue(it):
        for b in it:
            with runtime.stream(side):
                return _to_device(b, device)
        return None

    it = iter(batches)
    pending = issue(it)
    while pending is not None:
        compute = runtime.current_stream(device.index)
        compute.wait_stream(side)
        _record(pending, compute)
        current, pending = pending, issue(it)
        yield current


class prefetch:
    """``prefetch(loader, device)``: iterate ``loader``'s batches moved to ``device``, the copy of batch n+1
    overlapping the use of batch n (see the module docstring). ``len()`` is ``len(loader)``. Use a loader
    with ``pin_memory=True`` so that the copies are truly asynchronous."""

    def __init__(self, loader, device):
        self.loader = loader
        self.device = as_device(device)

    def __iter__(self):
        return _prefetch_iter(self.loader, self.device)

    def __len__(self):
        return len(self.loader)
