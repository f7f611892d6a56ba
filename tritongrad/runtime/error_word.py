"""The device error word: how kernels report a bad index (or an integer division by zero) without a host sync.

A kernel cannot raise, and reading a flag back after every indexing op would stall the host on each one. So
every device has one small *error word* (five int64: ``claimed, op, value, size, dim``) in host memory the
device can write (``cuMemHostAlloc`` with ``DEVICEMAP``: the GPU writes it over the bus, the host reads it with
no copy; in interpreter mode plain host memory). A kernel that meets a bad index claims the word with an
atomic compare-and-swap (so the first error wins), writes the offending value, the size and the dim, and
publishes the op code last (`kernels._common.report_error`). Kernels that meet no error never touch it.

The runtime reads the word where the host already waits for the device -- after a blocking copy to the host
(``item()``, ``.cpu()``, ``.numpy()``, ``bool(t)``), ``synchronize``, ``Stream.synchronize``,
``Event.synchronize`` -- and at the end of ``backward`` (a plain read: it sees what kernels finished so far
have reported; the next wait sees the rest). `raise_pending` then clears the word and raises what the cpu device
raises at once: ``IndexError("<op>: index 7 is out of bounds for dimension 1 with size 6")``,
``IndexError("cross_entropy: target 5 is out of bounds for 5 classes")``, ``RuntimeError("Class values must
be smaller than num_classes. ...")`` for ``one_hot``, ``RuntimeError("ZeroDivisionError: integer division by
zero in floor_divide")``. The same mechanism runs in interpreter mode and on a GPU, adds no synchronization,
and works under CUDA-graph capture (the word has a fixed address; a replay's errors land in it too).

The error is reported late, as a CUDA error would be: at the next wait, possibly by an unrelated call. The
op's output is defined meanwhile (a gather reads 0 there, a scatter drops the write, a division gives 0).
"""
from __future__ import annotations

import threading

import numpy as np

from .array import Buffer, DeviceArray
from .device import bindings, device_index, device_state, interpreting
from .errors import call

__all__ = ["OPS", "op_code", "get", "pending", "raise_pending", "clear", "exception"]

OPS = ("index_select", "index_add", "index_copy_", "gather", "scatter_add", "index", "cross_entropy", "one_hot",
       "floor_divide", "remainder")
"""The ops that report to the error word; a kernel reports ``op_code(name)`` (1-based, 0 means no error)."""

_CLAIMED, _OP, _VALUE, _SIZE, _DIM = range(5)
_WORDS = 5

_lock = threading.Lock()
_words = {}          # device index -> (DeviceArray the kernels write, NumPy view the host reads, keep-alive)


def op_code(name):
    """The code a kernel reports for op ``name`` (one of `OPS`)."""
    return OPS.index(name) + 1


class _MappedBuffer(Buffer):
    """Page-locked host memory mapped into the device's address space (``cuMemHostAlloc`` + ``DEVICEMAP``):
    ``ptr`` is the device address, ``host`` the NumPy view at the host address. Lives for the process."""

    __slots__ = ("host",)

    def __init__(self, nbytes, device):
        d = bindings()
        device_state(device)
        host_ptr = int(call(d.cuMemHostAlloc, nbytes, d.CU_MEMHOSTALLOC_DEVICEMAP | d.CU_MEMHOSTALLOC_PORTABLE))
        dev_ptr = int(call(d.cuMemHostGetDevicePointer, host_ptr, 0))
        self.host = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_uint8 * nbytes).from_address(host_ptr))
        super().__init__(dev_ptr, nbytes, device)


class _HostWord(Buffer):
    """Interpreter mode: plain host memory (not counted in the memory statistics: it is runtime state)."""

    __slots__ = ("host",)

    def __init__(self, nbytes, device):
        self.host = np.zeros(nbytes, np.uint8)
        super().__init__(self.host.ctypes.data, nbytes, device)


def get(device=None):
    """The error word of ``device`` (current by default) as an int64 `DeviceArray` of 5, the pointer argument
    the kernels report to. Made on first use, zeroed, and kept for the life of the process."""
    index = device_index(device)
    entry = _words.get(index)
    if entry is None:
        with _lock:
            entry = _words.get(index)
            if entry is None:
                nbytes = _WORDS * 8
                buf = _HostWord(nbytes, index) if interpreting() else _MappedBuffer(nbytes, index)
                view = buf.host.view(np.int64)
                view[:] = 0
                entry = _words[index] = (DeviceArray(buf, (_WORDS,), np.int64), view)
    return entry[0]


def pending(device=None):
    """``(op, value, size, dim)`` of the error recorded on ``device`` (every device when None), or None.
    Reads host memory only: no synchronization."""
    entries = _words.values() if device is None else [_words.get(device_index(device))]
    for entry in entries:
        if entry is not None and entry[1][_OP]:
            w = entry[1]
            return OPS[int(w[_OP]) - 1], int(w[_VALUE]), int(w[_SIZE]), int(w[_DIM])
    return None


def clear(device=None):
    """Forget any recorded error on ``device`` (every device when None)."""
    entries = _words.values() if device is None else [_words.get(device_index(device))]
    for entry in entries:
        if entry is not None:
            entry[1][:] = 0


def exception(op, value, size, dim):
    """The exception for an error ``(op, value, size, dim)`` of the word, as the cpu device raises it (it
    uses this too): IndexError for indices (advanced indexing's message is PyTorch's exact one), RuntimeError
    for ``one_hot`` classes and integer division by zero."""
    if op in ("floor_divide", "remainder"):
        return RuntimeError(f"ZeroDivisionError: integer division by zero in {op}")
    if op == "cross_entropy":
        return IndexError(f"cross_entropy: target {value} is out of bounds for {size} classes")
    if op == "one_hot":
        what = "non-negative" if value < 0 else "smaller than num_classes"
        return RuntimeError(f"Class values must be {what}. (one_hot: class value {value}, num_classes {size})")
    prefix = "" if op == "index" else f"{op}: "
    return IndexError(f"{prefix}index {value} is out of bounds for dimension {dim} with size {size}")


def raise_pending(device=None):
    """Raise the error recorded on ``device`` (every device when None), clearing it; do nothing when there is
    none. Called by the runtime after each wait for the device, and at the end of ``backward``."""
    found = pending(device)
    if found is not None:
        clear(device)
        raise exception(*found)
