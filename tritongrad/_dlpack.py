"""DLPack: zero-copy exchange of tensors with NumPy, CuPy, JAX, PyTorch (``torch.utils.dlpack``).

The capsules are the DLPack C structs built with ctypes: ``DLManagedTensor`` (capsule name ``"dltensor"``)
or, when the consumer passes ``max_version >= (1, 0)``, ``DLManagedTensorVersioned`` (``"dltensor_versioned"``,
version 1.0, with the read-only and is-copied flags). An exported capsule holds the tensor's array (and with it
the memory: a NumPy array on cpu, the `Buffer` of a cuda tensor) until the consumer calls the struct's
``deleter``; a capsule never consumed releases it when collected. Strides are in elements, ``byte_offset`` is 0
and ``data`` points at the first element.

Devices: a cpu tensor exports ``kDLCPU``. A cuda tensor exports ``kDLCUDA`` with its device id; the consumer's
``stream`` (an int: 1 the legacy default stream, 2 the per-thread default stream, else a ``CUstream`` handle;
None or -1: no ordering) is made to wait, with an event, for the work queued so far on tritongrad's current
stream, so the consumer sees the finished values without a host synchronization. In interpreter mode
(``TRITON_INTERPRET=1``) a cuda tensor's memory is host memory and exports as ``kDLCPU``, so NumPy can read it.

Import (`from_dlpack`): ``kDLCPU`` (and ``kDLCUDAHost``) memory becomes a cpu tensor over the same memory
(a NumPy array whose base keeps the producer's capsule alive, read-only when the producer says so);
``kDLCUDA`` memory becomes a cuda tensor over a `ForeignBuffer` (no copy) that calls the producer's deleter
when the last view of it dies. Only the dtypes tritongrad has are accepted (bool, uint8, int8..int64,
float16, bfloat16, float32, float64), with one lane.
"""
from __future__ import annotations

import ctypes
import enum
import sys
import threading

import numpy as np

from .runtime.array import Buffer, DeviceArray

__all__ = ["DLDeviceType", "DLPackMixin", "to_dlpack", "from_dlpack", "ForeignBuffer"]


class DLDeviceType(enum.IntEnum):
    """DLPack device types (``torch.utils.dlpack.DLDeviceType``)."""
    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14


_kDLInt, _kDLUInt, _kDLFloat, _kDLBfloat, _kDLBool = 0, 1, 2, 4, 6
_FLAG_READ_ONLY, _FLAG_IS_COPIED = 1, 2
_NAME, _NAME_V = b"dltensor", b"dltensor_versioned"
_USED, _USED_V = b"used_dltensor", b"used_dltensor_versioned"


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter),
                ("flags", ctypes.c_uint64), ("dl_tensor", _DLTensor)]


def _capi(name, restype, *argtypes):
    """A C-API function of the running interpreter (called with the GIL held), with its own prototype."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_capsule_new = _capi("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, _Destructor)
_is_valid_raw = _capi("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_is_valid = _capi("PyCapsule_IsValid", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_get_pointer_raw = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)
_get_pointer = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
_set_name = _capi("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)

_live = {}                   # address of an exported managed struct -> (struct, shape, strides, owner)
_live_lock = threading.Lock()


@_Deleter
def _release(address):
    """The deleter of every exported struct: drops the references that kept the memory alive."""
    with _live_lock:
        _live.pop(address, None)


@_Destructor
def _capsule_destructor(capsule):
    """A capsule collected before any consumer renamed it to ``used_...``: release its struct."""
    if sys.is_finalizing():
        return
    for name in (_NAME, _NAME_V):
        if _is_valid_raw(capsule, name):
            entry = _live.get(_get_pointer_raw(capsule, name))
            if entry is not None:
                _release(ctypes.addressof(entry[0]))
            return


def _dl_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return _DLDataType(_kDLBool, 8, 1)
    if dtype.name == "bfloat16":
        return _DLDataType(_kDLBfloat, 16, 1)
    code = {"u": _kDLUInt, "i": _kDLInt, "f": _kDLFloat}.get(dtype.kind)
    if code is None:
        raise BufferError(f"__dlpack__: dtype {dtype} has no DLPack code here")
    return _DLDataType(code, dtype.itemsize * 8, 1)


def _np_dtype(dt):
    """The NumPy dtype of a DLDataType, or a BufferError naming it."""
    from .dtypes import bfloat16
    code, bits, lanes = dt.code, dt.bits, dt.lanes
    table = {(_kDLBool, 8): np.dtype(np.bool_), (_kDLUInt, 8): np.dtype(np.uint8), (_kDLInt, 8): np.dtype(np.int8),
             (_kDLInt, 16): np.dtype(np.int16), (_kDLInt, 32): np.dtype(np.int32), (_kDLInt, 64): np.dtype(np.int64),
             (_kDLFloat, 16): np.dtype(np.float16), (_kDLFloat, 32): np.dtype(np.float32),
             (_kDLFloat, 64): np.dtype(np.float64), (_kDLBfloat, 16): np.dtype(bfloat16.np)}
    if lanes != 1 or (code, bits) not in table:
        raise BufferError(f"from_dlpack: DLPack dtype (code={code}, bits={bits}, lanes={lanes}) has no tritongrad "
                          f"dtype (supported: bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, "
                          f"float64)")
    return table[(code, bits)]


def _make_capsule(ptr, shape, strides, dtype, device, owner, versioned, flags=0):
    """A DLPack capsule over ``ptr`` (strides in elements) that keeps ``owner`` alive until its deleter."""
    ndim = len(shape)
    shape_a = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_a = (ctypes.c_int64 * max(ndim, 1))(*strides)
    m = _DLManagedTensorVersioned() if versioned else _DLManagedTensor()
    if versioned:
        m.version = _DLPackVersion(1, 0)
        m.flags = flags
    t = m.dl_tensor
    t.data = ptr or None
    t.device = _DLDevice(int(device[0]), int(device[1]))
    t.ndim = ndim
    t.dtype = _dl_dtype(dtype)
    t.shape = ctypes.cast(shape_a, ctypes.POINTER(ctypes.c_int64))
    t.strides = ctypes.cast(strides_a, ctypes.POINTER(ctypes.c_int64))
    t.byte_offset = 0
    m.manager_ctx = None
    m.deleter = _release
    address = ctypes.addressof(m)
    with _live_lock:
        _live[address] = (m, shape_a, strides_a, owner)
    return _capsule_new(address, _NAME_V if versioned else _NAME, _capsule_destructor)


def _order_for_consumer(index, stream):
    """Make the consumer's ``stream`` wait for the work queued so far on tritongrad's current stream."""
    from .runtime.streams import Stream, current_stream, default_stream
    if stream is None or stream == -1:
        return
    if stream == 0:
        raise ValueError("__dlpack__: stream=0 is ambiguous for CUDA and disallowed by the DLPack protocol; pass 1 "
                         "for the legacy default stream or 2 for the per-thread default stream")
    consumer = default_stream(index) if stream == 1 else Stream._wrap(index, stream)
    current = current_stream(index)
    if consumer != current:
        consumer.wait_stream(current)


def _export(t, stream=None, max_version=None, dl_device=None, copy=None):
    """The capsule of tensor ``t`` (its data, detached), following ``__dlpack__``'s arguments."""
    if stream is not None and type(stream) is not int:
        raise TypeError(f"__dlpack__: stream must be an int or None, got {type(stream).__name__}")
    flags = 0
    device = _device_of(t)
    if dl_device is not None and tuple(int(v) for v in dl_device) != device:
        if tuple(int(v) for v in dl_device) != (DLDeviceType.kDLCPU, 0) or copy is False:
            raise BufferError(f"__dlpack__: cannot export a {t.device} tensor to DLPack device {tuple(dl_device)}"
                              + (" without a copy (copy=False)" if copy is False else ""))
        t, copy, flags = t.detach().cpu(), False, _FLAG_IS_COPIED
        device = (DLDeviceType.kDLCPU, 0)
    if copy:
        t, flags = t.detach().clone(), _FLAG_IS_COPIED
    a = t._data
    it = a.dtype.itemsize
    if isinstance(a, DeviceArray):
        ptr, strides = a.data_ptr(), a.element_strides
        if device[0] == DLDeviceType.kDLCUDA:
            _order_for_consumer(device[1], stream)
    else:
        if any(s % it for s in a.strides):
            raise BufferError(f"__dlpack__: the array's byte strides {a.strides} are not multiples of its item size "
                              f"{it}; export a .contiguous() copy")
        ptr, strides = a.ctypes.data, tuple(s // it for s in a.strides)
        if not a.flags.writeable:
            flags |= _FLAG_READ_ONLY
    versioned = max_version is not None and int(tuple(max_version)[0]) >= 1
    return _make_capsule(ptr, a.shape, strides, a.dtype, device, a, versioned, flags)


def _device_of(t):
    from .runtime.device import interpreting
    if t.device.type == "cpu" or interpreting():
        return (DLDeviceType.kDLCPU, 0)
    return (DLDeviceType.kDLCUDA, t._dev_index)


class DLPackMixin:
    """``Tensor.__dlpack__`` and ``Tensor.__dlpack_device__`` (see the module docstring)."""

    __slots__ = ()

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule sharing this tensor's memory (``Tensor.__dlpack__``, the array API's protocol).

        ``stream`` (cuda only): the consumer's stream as an int (1: legacy default, 2: per-thread default, else a
        ``CUstream`` handle); it is made to wait for tritongrad's current stream. None or -1: no ordering.
        ``max_version``: the highest DLPack version the consumer reads; ``(1, 0)`` or later gets a versioned
        capsule. ``dl_device``: the device the consumer wants (only this tensor's own, or ``(kDLCPU, 0)`` with a
        copy). ``copy``: True exports a copy, False forbids copying, None copies only if it must.
        A tensor that requires grad raises BufferError, as in PyTorch: export ``t.detach()`` (or use `to_dlpack`).
        """
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        return _export(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self):
        """``(DLDeviceType, device id)`` of this tensor's memory (``Tensor.__dlpack_device__``): ``kDLCPU`` on cpu
        and for cuda tensors in interpreter mode (host memory there), ``kDLCUDA`` with the device index on a GPU."""
        return _device_of(self)


def to_dlpack(tensor):
    """A DLPack capsule (unversioned, ``"dltensor"``) sharing ``tensor``'s memory (``torch.utils.dlpack.to_dlpack``).

    As in PyTorch, this legacy entry point exports the data of a tensor that requires grad too (as
    ``tensor.detach()``); no stream ordering is done (the consumer synchronizes as it sees fit). A capsule can be
    consumed once.
    """
    from .tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected a tritongrad.Tensor, got {type(tensor).__name__}")
    return _export(tensor.detach())


class _Imported:
    """Owns one consumed DLPack struct; calls the producer's deleter when the last view of the memory dies."""

    __slots__ = ("address", "managed", "__array_interface__", "__weakref__")

    def __init__(self, address, managed):
        self.address, self.managed = address, managed

    def __del__(self):
        deleter = self.managed.deleter
        if deleter:
            deleter(self.address)


class ForeignBuffer(Buffer):
    """Device memory owned by another library (imported through DLPack): freed by that library's deleter when
    this buffer is collected. Not counted in tritongrad's memory statistics."""

    __slots__ = ("owner",)

    def __init__(self, ptr, nbytes, device, owner):
        super().__init__(ptr, nbytes, device)
        self.owner = owner


def _extent(shape, strides, itemsize):
    """(lowest byte offset, bytes spanned) of a strided view (byte strides), relative to its first element."""
    if any(n == 0 for n in shape):
        return 0, 0
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides))
    return lo, hi - lo + itemsize


def _import_capsule(capsule):
    """The tritongrad Tensor over the memory of a DLPack capsule (consumed: renamed ``used_...``)."""
    from .device import device
    from .tensor import Tensor
    if _is_valid(capsule, _NAME_V):
        address = _get_pointer(capsule, _NAME_V)
        managed = _DLManagedTensorVersioned.from_address(address)
        if managed.version.major > 1:
            raise BufferError(f"from_dlpack: DLPack version {managed.version.major}.{managed.version.minor} is newer "
                              f"than the 1.x tritongrad reads")
        flags, used = managed.flags, _USED_V
    elif _is_valid(capsule, _NAME):
        address = _get_pointer(capsule, _NAME)
        managed = _DLManagedTensor.from_address(address)
        flags, used = 0, _USED
    else:
        raise TypeError("from_dlpack: expected an object with __dlpack__ or an unconsumed DLPack capsule "
                        "(\"dltensor\" or \"dltensor_versioned\"); a capsule can be consumed only once")
    t = managed.dl_tensor
    dev_type, dev_id = t.device.device_type, t.device.device_id
    if dev_type not in (DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost, DLDeviceType.kDLCUDA):
        raise BufferError(f"from_dlpack: DLPack device type {dev_type} is not supported (kDLCPU, kDLCUDAHost and "
                          f"kDLCUDA are)")
    dtype = _np_dtype(t.dtype)
    ndim = t.ndim
    shape = tuple(t.shape[i] for i in range(ndim))
    it = dtype.itemsize
    if t.strides:
        strides = tuple(t.strides[i] * it for i in range(ndim))
    else:
        from .runtime.array import contiguous_strides
        strides = contiguous_strides(shape, it)
    data = (t.data or 0) + t.byte_offset
    if dev_type == DLDeviceType.kDLCUDA:
        from .runtime.device import device_count, interpreting
        if interpreting():
            raise BufferError("from_dlpack: a kDLCUDA capsule cannot be imported in interpreter mode "
                              "(TRITON_INTERPRET=1), where tritongrad's cuda memory is host memory")
        if not 0 <= dev_id < device_count():
            raise BufferError(f"from_dlpack: kDLCUDA device {dev_id} is not visible ({device_count()} device(s))")
    _set_name(capsule, used)           # consumed: from here the deleter is ours to call
    owner = _Imported(address, managed)
    lo, nbytes = _extent(shape, strides, it)
    if dev_type == DLDeviceType.kDLCUDA:
        buf = ForeignBuffer(data + lo, nbytes, dev_id, owner)
        return Tensor._make(DeviceArray(buf, shape, dtype, strides, -lo), device("cuda", dev_id))
    if nbytes == 0:
        del owner
        return Tensor._make(np.empty(shape, dtype), device("cpu"))
    owner.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "version": 3,
                                 "data": (data + lo, bool(flags & _FLAG_READ_ONLY))}
    raw = np.asarray(owner)
    arr = np.ndarray(shape, dtype, buffer=raw, offset=-lo, strides=strides)
    return Tensor._make(arr, device("cpu"))


def from_dlpack(ext_tensor):
    """A tritongrad tensor sharing the memory of ``ext_tensor`` (``torch.from_dlpack`` /
    ``torch.utils.dlpack.from_dlpack``): any object with ``__dlpack__`` and ``__dlpack_device__`` (a NumPy array,
    a CuPy/JAX/PyTorch array, a tritongrad Tensor) or a DLPack capsule (consumed once).

    ``kDLCPU`` memory gives a cpu tensor, ``kDLCUDA`` memory a cuda tensor (on a GPU; no copy either way). For a
    cuda producer the current stream of that device is passed as ``stream`` (1 for the default stream), so
    the producer orders its pending work before tritongrad's. The result does not require grad.
    """
    if hasattr(ext_tensor, "__dlpack__"):
        dev_type, dev_id = ext_tensor.__dlpack_device__()
        kwargs = {}
        if int(dev_type) == DLDeviceType.kDLCUDA:
            from .runtime.device import interpreting
            if interpreting():
                raise BufferError("from_dlpack: kDLCUDA memory cannot be imported in interpreter mode "
                                  "(TRITON_INTERPRET=1), where tritongrad's cuda memory is host memory")
            from .runtime.streams import current_stream
            handle = current_stream(int(dev_id)).cuda_stream
            kwargs["stream"] = 1 if handle == 0 else handle
        try:
            capsule = ext_tensor.__dlpack__(max_version=(1, 0), **kwargs)
        except TypeError:                     # a producer from before DLPack 1.0
            capsule = ext_tensor.__dlpack__(**kwargs)
        return _import_capsule(capsule)
    if type(ext_tensor).__name__ == "PyCapsule":
        return _import_capsule(ext_tensor)
    raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a tensor or array) or a DLPack capsule, "
                    f"got {type(ext_tensor).__name__}")
