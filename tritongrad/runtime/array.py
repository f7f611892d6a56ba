"""`DeviceArray`: a strided, NumPy-like view over one device allocation.

It is what a cuda Tensor holds and what every launch wrapper in ``tritongrad.kernels`` takes and returns.
Metadata follows NumPy: ``shape``, ``strides`` in **bytes**, ``dtype`` a NumPy dtype (bfloat16 from
ml_dtypes), ``offset`` in bytes from the start of the buffer. ``element_strides`` gives strides in elements
(what kernels index with).

It also answers the small part of torch's tensor API that Triton needs of a pointer argument:
``data_ptr()`` and ``dtype`` when compiled, plus ``untyped_storage()``, ``storage_offset()``, ``size()``,
``stride()``, ``new_empty``, ``set_`` and ``copy_`` when Triton's interpreter (``TRITON_INTERPRET=1``) copies
arguments "to the host": in interpreter mode buffers already live in host memory, so those copies are
no-ops and the interpreter loads and stores straight through the real addresses.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import _stats

__all__ = ["Buffer", "HostBuffer", "DeviceArray", "contiguous_strides"]


class Buffer:
    """One allocation: ``ptr`` (device address), ``nbytes``, ``device`` index. Subclasses free it."""

    __slots__ = ("ptr", "nbytes", "device", "__weakref__")

    def __init__(self, ptr, nbytes, device=0):
        self.ptr = ptr
        self.nbytes = nbytes
        self.device = device

    # -- interpreter storage protocol ------------------------------------------------------------
    def data_ptr(self):
        return self.ptr

    def cpu(self):
        return self

    def copy_(self, other):
        if other is not self and other.ptr != self.ptr:
            raise RuntimeError("interpreter storage copy between distinct buffers is not expected")
        return self


class HostBuffer(Buffer):
    """Host memory standing in for device memory in interpreter mode (keeps a NumPy byte array).

    Its bytes count in the memory statistics (``tritongrad.cuda.memory_allocated``) while it lives.
    """

    __slots__ = ("host",)

    def __init__(self, nbytes, device=0):
        # 64-byte alignment so pointer-alignment specializations behave as on a GPU allocation
        try:
            raw = np.empty(max(int(nbytes), 1) + 64, dtype=np.uint8)
        except MemoryError:
            raise _out_of_memory(int(nbytes), device) from None
        start = (-raw.ctypes.data) % 64
        self.host = raw[start:start + max(int(nbytes), 1)]
        super().__init__(self.host.ctypes.data, int(nbytes), device)
        _stats.add(device, self.nbytes)

    def __del__(self):
        if hasattr(self, "device"):     # not when __init__ failed to allocate (nothing was counted)
            _stats.sub(self.device, self.nbytes)


def _out_of_memory(nbytes, device):
    """The GPU's error for a failed interpreter-mode allocation: `OutOfMemoryError` with the size and stats
    (host memory standing in for device memory; nothing is cached, so reserved equals allocated)."""
    from .device import mem_get_info
    from .errors import OutOfMemoryError, format_out_of_memory
    free, total = mem_get_info(device)
    allocated = _stats.allocated[device]
    return OutOfMemoryError(format_out_of_memory(nbytes, free, total, allocated, allocated, device),
                            call="host allocation (interpreter mode)", code="CUDA_ERROR_OUT_OF_MEMORY")


def contiguous_strides(shape, itemsize):
    """C-order strides in bytes for ``shape``."""
    strides = []
    acc = itemsize
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


class DeviceArray:
    """A strided view (shape, byte strides, byte offset, dtype) over a `Buffer`."""

    __slots__ = ("buffer", "shape", "strides", "offset", "dtype")

    def __init__(self, buffer, shape, dtype, strides=None, offset=0):
        self.buffer = buffer
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.strides = contiguous_strides(self.shape, self.dtype.itemsize) if strides is None else tuple(strides)
        self.offset = int(offset)

    # -- NumPy-like metadata -------------------------------------------------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def numel(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.numel() * self.dtype.itemsize

    @property
    def element_strides(self):
        it = self.dtype.itemsize
        return tuple(s // it for s in self.strides)

    @property
    def device(self):
        return self.buffer.device

    def is_contiguous(self):
        """True when the elements are laid out in C order with no gaps (size-1 dims ignored)."""
        expected = self.dtype.itemsize
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n == 1:
                continue
            if s != expected:
                return False
            expected *= n
        return True

    def data_ptr(self):
        """Address of the first element of this view."""
        return self.buffer.ptr + self.offset

    def __repr__(self):
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides}, "
                f"offset={self.offset}, ptr=0x{self.buffer.ptr:x})")

    # -- views (metadata only) -----------------------------------------------------------------------
    def view_as(self, shape, strides, offset=None):
        """A view with the given shape, byte strides and byte offset on the same buffer."""
        return DeviceArray(self.buffer, shape, self.dtype, strides, self.offset if offset is None else offset)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        return self.view_as([self.shape[a] for a in axes], [self.strides[a] for a in axes])

    def reshape_view(self, shape):
        """A view with a new shape, or None when the strides make that impossible without a copy."""
        from .. import _strides  # shared with the NumPy side
        st = _strides.view_strides(self.shape, self.strides, tuple(shape), self.dtype.itemsize)
        if st is None:
            return None
        return self.view_as(shape, st)

    def broadcast_to(self, shape):
        shape = tuple(shape)
        nd = len(shape)
        if nd < self.ndim:
            raise ValueError(f"cannot broadcast shape {self.shape} to {shape}")
        src_shape = (1,) * (nd - self.ndim) + self.shape
        src_str = (0,) * (nd - self.ndim) + self.strides
        strides = []
        for want, have, st in zip(shape, src_shape, src_str):
            if have == want:
                strides.append(st)
            elif have == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot broadcast shape {self.shape} to {shape}")
        return self.view_as(shape, strides)

    def __getitem__(self, key):
        """Basic indexing: ints, slices (any step), None and Ellipsis; returns a view."""
        if not isinstance(key, tuple):
            key = (key,)
        n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - n_real) + key[i + 1:]
        else:
            key = key + (slice(None),) * (self.ndim - n_real)
        shape, strides, offset, d = [], [], self.offset, 0
        for k in key:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            n, st = self.shape[d], self.strides[d]
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                length = len(range(start, stop, step))
                if length > 0:
                    offset += start * st
                shape.append(length)
                strides.append(st * step)
            else:
                i = operator.index(k)
                if i < -n or i >= n:
                    raise IndexError(f"index {i} is out of bounds for dimension {d} with size {n}")
                offset += (i % n) * st
            d += 1
        return DeviceArray(self.buffer, shape, self.dtype, strides, offset)

    # -- Triton interpreter protocol (torch-like) ----------------------------------------------------
    def untyped_storage(self):
        return self.buffer

    def storage_offset(self):
        return self.offset // self.dtype.itemsize

    def size(self):
        return self.shape

    def stride(self):
        return self.element_strides

    def new_empty(self, *args, **kwargs):
        return DeviceArray(self.buffer, (0,), self.dtype)

    def set_(self, storage, offset, size, stride):
        # torch's set_ mutates in place, and Triton's interpreter relies on that (it ignores the result)
        it = self.dtype.itemsize
        self.buffer = storage
        self.shape = tuple(int(s) for s in size)
        self.strides = tuple(int(s) * it for s in stride)
        self.offset = int(offset) * it
        return self

    def copy_(self, other):
        return self
