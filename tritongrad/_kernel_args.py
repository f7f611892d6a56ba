"""What a Tensor answers so that a user's ``@triton.jit`` kernel takes it as a pointer argument.

Compiled, Triton asks a pointer argument for ``data_ptr()`` (the address of its first element, 16-byte
aligned ones get the faster specialization) and ``dtype`` (whose ``str`` ends in the NumPy-style name:
``tritongrad.float32`` -> ``*fp32``); the kernel runs on the current stream that tritongrad's Triton driver
reports. A cpu tensor's address is host memory: Triton's launcher refuses it ("cannot be accessed from
Triton (cpu tensor?)").

In interpreter mode (``TRITON_INTERPRET=1``) Triton "copies each pointer argument to the host" through a
little of torch's API: ``t.untyped_storage()``, ``storage.cpu()``, ``t.new_empty(0, device='cpu')``, then
``host.set_(storage, t.storage_offset(), t.size(), t.stride())`` and, after the kernel, ``copy_`` from the
host storage back. A cuda tensor's storage there is already host memory (a `HostBuffer`), so the host tensor
is a NumPy view of the very same bytes and both copies are no-ops. A cpu tensor has no storage to give:
passing one to a kernel raises, as it would on a GPU.
"""
from __future__ import annotations

import numpy as np

from .runtime.array import Buffer, DeviceArray

__all__ = ["KernelArgMixin"]

_CPU_STORAGE_MSG = (
    "a cpu tensor was passed where a Triton kernel takes a pointer (or untyped_storage() was asked of one): "
    "Triton kernels run on the cuda device and read cuda tensors only; move it there first with "
    "`.cuda()` / `.to('cuda')`. (tritongrad's cpu tensors are NumPy arrays and expose no storage object.)")


def _root(a):
    """The NumPy array that owns ``a``'s memory (the end of its ``base`` chain)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class KernelArgMixin:
    """The pointer-argument protocol of `tritongrad.Tensor` (see the module docstring)."""

    __slots__ = ()
    _storage = None     # (Buffer, array): set by `set_` on a cpu tensor viewing interpreter device memory

    def data_ptr(self):
        """The address of the first element (``Tensor.data_ptr``): a device address for a cuda tensor,
        a host address for a cpu one."""
        a = self._data
        return a.data_ptr() if isinstance(a, DeviceArray) else a.ctypes.data

    def storage_offset(self):
        """The offset of the first element in the underlying storage, in elements (``Tensor.storage_offset``)."""
        a = self._data
        if isinstance(a, DeviceArray):
            return a.offset // a.dtype.itemsize
        return (a.ctypes.data - _root(a).ctypes.data) // a.dtype.itemsize

    def untyped_storage(self):
        """The allocation under a cuda tensor (``Tensor.untyped_storage``): an object with ``data_ptr()``,
        ``nbytes`` and, in interpreter mode, the host-copy methods Triton's interpreter calls. A cpu tensor
        has none (raises RuntimeError), unless it is the host view `set_` made of interpreter device memory."""
        a = self._data
        if isinstance(a, DeviceArray):
            return a.buffer
        if self._storage is not None and self._storage[1] is a:
            return self._storage[0]
        raise RuntimeError(_CPU_STORAGE_MSG)

    def set_(self, source, storage_offset=0, size=None, stride=None):
        """Make this tensor a view of ``source`` (``Tensor.set_``): another Tensor's memory, or a storage from
        `untyped_storage` at ``storage_offset`` (elements) with ``size`` and ``stride`` (elements).

        A cpu tensor may view the storage of a cuda tensor only in interpreter mode, where that storage is host
        memory: it is how Triton's interpreter gets its "host copy" of a kernel argument, without a copy.
        """
        from .tensor import Tensor
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if isinstance(source, Tensor):
            if source.device != self.device:
                raise RuntimeError(f"set_: expected a source on {self.device}, got one on {source.device}")
            self._data = source._data
            self._version[0] += 1
            return self
        if not isinstance(source, Buffer):
            raise TypeError(f"set_: source must be a Tensor or a storage from untyped_storage(), got "
                            f"{type(source).__name__}")
        dtype = self._data.dtype
        it = dtype.itemsize
        size = tuple(int(n) for n in (self.shape if size is None else size))
        if stride is None:
            byte_strides = None
        else:
            byte_strides = tuple(int(s) * it for s in stride)
        offset = int(storage_offset) * it
        if self.device.type == "cuda":
            self._data = DeviceArray(source, size, dtype, byte_strides, offset)
        else:
            host = getattr(source, "host", None)
            if host is None:
                raise RuntimeError("set_: a cpu tensor cannot view GPU memory; copy it with .cpu() instead")
            self._data = np.ndarray(size, dtype, buffer=host, offset=offset, strides=byte_strides)
            self._storage = (source, self._data)
        self._version[0] += 1
        return self
