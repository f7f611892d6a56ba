"""Devices: driver initialisation, primary contexts, the per-thread current device, device queries.

On a GPU every device is used through its primary context (the one Triton's launcher also finds) and its
default memory pool, configured to keep freed memory cached (release threshold = all of it). In
interpreter mode (``TRITON_INTERPRET=1``) there is one "cuda" device: host memory plus Triton's
interpreter, and none of the driver is touched.
"""
from __future__ import annotations

import os
import threading

from .errors import call
from .sync import host_sync

__all__ = ["interpreting", "bindings", "is_available", "device_count", "current_device", "set_device",
           "get_device_name", "get_device_capability", "synchronize", "mem_get_info", "device_index",
           "device_state", "INTERPRETER_DEVICE_NAME"]

INTERPRETER_DEVICE_NAME = "Triton interpreter (TRITON_INTERPRET=1: host memory, kernels run on the CPU)"

_HOW_TO_INTERPRET = ("tritongrad's cuda device needs an NVIDIA GPU with its driver. To run the cuda device "
                     "on the CPU through Triton's interpreter instead (slow; for testing), set "
                     "TRITON_INTERPRET=1 in the environment before importing tritongrad.")

_local = threading.local()   # .device: current device index; .context: device whose context is current
_lock = threading.RLock()
_driver = None               # the cuda.bindings.driver module, once imported
_devices = None              # one _Device (or None until first used) per GPU, after a successful cuInit
_init_failure = None         # why the driver could not be initialised (then cuda is not available)


def interpreting():
    """True when Triton kernels run in Triton's interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def bindings():
    """The ``cuda.bindings.driver`` module."""
    global _driver
    if _driver is None:
        from cuda.bindings import driver
        _driver = driver
    return _driver


class _Device:
    __slots__ = ("index", "handle", "context", "pool", "name", "capability", "total_memory")


def _fail(reason):
    global _init_failure
    _init_failure = f"CUDA is not available: {reason}. {_HOW_TO_INTERPRET}"
    raise RuntimeError(_init_failure)


def _probe():
    """Initialise the CUDA driver once and return the number of GPUs, or raise a RuntimeError saying why not."""
    global _devices
    if _devices is not None:
        return len(_devices)
    with _lock:
        if _init_failure is not None:
            raise RuntimeError(_init_failure)
        if _devices is not None:
            return len(_devices)
        try:
            d = bindings()
        except ImportError as e:
            _fail(f"cuda-bindings is not installed ({e})")
        try:
            (err,) = d.cuInit(0)
        except RuntimeError as e:  # cuda.pathfinder's DynamicLibNotFoundError: no libcuda on this machine
            _fail(f"no NVIDIA driver library was found ({e})")
        if err:
            _fail(f"cuInit failed with {getattr(err, 'name', err)}")
        count = call(d.cuDeviceGetCount)
        if count == 0:
            _fail("the NVIDIA driver reports no GPU")
        _devices = [None] * count
        return count


def _open(index):
    d = bindings()
    with _lock:
        if _devices[index] is not None:
            return _devices[index]
        dev = _Device()
        dev.index = index
        dev.handle = call(d.cuDeviceGet, index)
        dev.context = call(d.cuDevicePrimaryCtxRetain, dev.handle)
        call(d.cuCtxSetCurrent, dev.context)
        attr = d.CUdevice_attribute
        if not call(d.cuDeviceGetAttribute, attr.CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev.handle):
            raise RuntimeError(f"GPU {index} does not support stream-ordered memory pools, which tritongrad's "
                               f"allocator needs (CUDA 11.2+ driver on a Pascal or newer GPU)")
        dev.pool = call(d.cuDeviceGetDefaultMemPool, dev.handle)
        # keep freed memory in the pool instead of returning it to the OS at every synchronization
        call(d.cuMemPoolSetAttribute, dev.pool, d.CUmemPool_attribute.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
             d.cuuint64_t(0xFFFFFFFFFFFFFFFF))
        dev.name = call(d.cuDeviceGetName, 256, dev.handle).split(b"\0", 1)[0].decode()
        dev.capability = (call(d.cuDeviceGetAttribute, attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev.handle),
                          call(d.cuDeviceGetAttribute, attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev.handle))
        dev.total_memory = call(d.cuDeviceTotalMem, dev.handle)
        _devices[index] = dev
        _local.context = index
    from . import triton_driver
    triton_driver.install()
    return dev


def device_index(device=None):
    """Normalise ``None`` (current), an int, ``'cuda'``, ``'cuda:N'`` or a device object to an index."""
    if device is None:
        return current_device()
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        kind, _, idx = device.partition(":")
        if kind != "cuda":
            raise ValueError(f"expected a cuda device, got {device!r}")
        return int(idx) if idx else current_device()
    kind, idx = getattr(device, "type", None), getattr(device, "index", None)
    if kind != "cuda":
        raise ValueError(f"expected a cuda device, got {device!r}")
    return current_device() if idx is None else idx


def _check_index(index, count):
    if not 0 <= index < count:
        raise ValueError(f"invalid cuda device index {index}: there {'is' if count == 1 else 'are'} {count} "
                         f"cuda device{'' if count == 1 else 's'}")


def device_state(device=None):
    """The opened GPU ``device`` (its context made current in this thread). Raises without a GPU."""
    index = device_index(device)
    count = _probe()
    _check_index(index, count)
    dev = _devices[index] or _open(index)
    if getattr(_local, "context", None) != index:
        call(bindings().cuCtxSetCurrent, dev.context)
        _local.context = index
    return dev


def is_available():
    """``torch.cuda.is_available``: True on a GPU, and in interpreter mode (``TRITON_INTERPRET=1``), where
    the cuda device is host memory plus Triton's interpreter (see `tritongrad.cuda.is_interpreter`)."""
    if interpreting():
        return True
    try:
        return _probe() > 0
    except RuntimeError:
        return False


def device_count():
    """``torch.cuda.device_count``: number of GPUs (1 in interpreter mode, 0 when CUDA is unavailable)."""
    if interpreting():
        return 1
    try:
        return _probe()
    except RuntimeError:
        return 0


def current_device():
    """``torch.cuda.current_device``: index of this thread's current cuda device (0 until `set_device`)."""
    return getattr(_local, "device", 0)


def set_device(device):
    """``torch.cuda.set_device``: make ``device`` (int, ``'cuda:N'`` or a device) current in this thread."""
    index = device_index(device)
    if interpreting():
        _check_index(index, 1)
    else:
        device_state(index)
    _local.device = index


def get_device_name(device=None):
    """``torch.cuda.get_device_name``: the GPU's name (in interpreter mode, says it is Triton's interpreter)."""
    if interpreting():
        _check_index(device_index(device), 1)
        return INTERPRETER_DEVICE_NAME
    return device_state(device).name


def get_device_capability(device=None):
    """``torch.cuda.get_device_capability``: ``(major, minor)``, e.g. ``(9, 0)`` on an H100/H200.

    In interpreter mode there is no GPU architecture: ``(0, 0)``.
    """
    if interpreting():
        _check_index(device_index(device), 1)
        return (0, 0)
    return device_state(device).capability


def synchronize(device=None):
    """``torch.cuda.synchronize``: wait for all work on ``device``. Nothing to wait for in interpreter mode
    (work there is synchronous), but it counts as a host synchronization in both modes (`sync`)."""
    from .error_word import raise_pending
    host_sync("synchronize (cuCtxSynchronize)")
    if not interpreting():
        device_state(device)
        call(bindings().cuCtxSynchronize)
    raise_pending(device)


def mem_get_info(device=None):
    """``torch.cuda.mem_get_info``: ``(free, total)`` device memory in bytes (host memory in interpreter
    mode)."""
    if interpreting():
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page
    device_state(device)
    free, total = call(bindings().cuMemGetInfo)
    return int(free), int(total)
