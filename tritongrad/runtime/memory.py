"""Device memory: the stream-ordered caching allocator, memory statistics, pinned host memory, copies.

The allocator is CUDA's stream-ordered pool: ``cuMemAllocFromPoolAsync`` on the current stream from the
device's default pool, whose release threshold is set to "keep everything", so freed memory is reused
without returning to the OS (``torch.cuda``'s caching allocator plays this role in PyTorch). A
`CudaBuffer` frees itself with ``cuMemFreeAsync`` on its allocation stream when garbage collected: no host
synchronization anywhere. A buffer used on another stream must be announced with `record_stream`: its
memory then returns to the pool only once an event recorded on each such stream at its death has completed
(checked without waiting at later allocations), as in PyTorch's caching allocator.

While a stream is captured into a CUDA graph (`tritongrad.cuda.graph`), allocations made with that stream
current come from the graph's private pool instead (`capture`: real memory, so Triton's launcher can inspect
the pointers, kept until the graph and its outputs die), and buffers allocated before the capture that die
during it are kept until the graph dies, because replays may still read them. In interpreter mode copies and
memsets queued on a captured stream are recorded by the graph and run at each replay.
"""
from __future__ import annotations

import ctypes
import functools
import math
import sys
import threading
import weakref
from collections import defaultdict

import numpy as np

from . import _stats, capture, error_word, errors
from .array import Buffer, DeviceArray, HostBuffer
from .device import bindings, device_index, device_state, interpreting, is_available, mem_get_info
from .errors import OutOfMemoryError, call, format_out_of_memory
from .streams import current_stream
from .sync import host_sync

__all__ = ["CudaBuffer", "allocate", "empty", "record_stream", "memory_allocated", "max_memory_allocated",
           "memory_reserved", "reset_peak_memory_stats", "empty_cache", "pinned_empty", "is_pinned",
           "copy_host_to_device", "copy_device_to_host", "copy_device_to_device", "fill_bytes"]

_deferred = []                # (events, release) of buffers used on other streams (record_stream), in order
_deferred_lock = threading.Lock()


class CudaBuffer(Buffer):
    """One allocation from the device's pool; freed with ``cuMemFreeAsync`` on ``stream`` when collected."""

    __slots__ = ("stream", "other_streams", "graph_pool")

    def __init__(self, ptr, nbytes, device, stream, graph_pool=None):
        super().__init__(ptr, nbytes, device)
        self.stream = stream              # Stream it was allocated on (frees are ordered on it)
        self.other_streams = None         # further Streams it was used on (see record_stream)
        self.graph_pool = graph_pool      # the graph private pool it came from, if any
        _stats.add(device, nbytes)

    def __del__(self):
        _stats.sub(self.device, self.nbytes)
        if self.ptr == 0 or sys.is_finalizing() or errors.sticky_error() is not None:
            return
        if self.graph_pool is not None:
            self.graph_pool.release(self.ptr, self.nbytes)
        elif not capture.keep_if_captured(self):
            _free_async(self.ptr, self.stream, self.other_streams)


class _InterpreterBuffer(HostBuffer):
    """Interpreter mode: a `HostBuffer` that knows its allocation stream and the other streams it was used on
    (`record_stream`), so that its memory is released as a `CudaBuffer`'s would be."""

    __slots__ = ("stream", "other_streams")

    def __init__(self, nbytes, device, stream):
        super().__init__(nbytes, device)
        self.stream = stream
        self.other_streams = None

    def __del__(self):
        HostBuffer.__del__(self)
        if not hasattr(self, "other_streams"):   # the allocation itself failed: nothing was made
            return
        if capture.keep_if_captured(self, self.host) or not self.other_streams:
            return
        host = self.host
        _defer([s.record_event() for s in self.other_streams], lambda: host)


def _defer(events, release):
    """Run ``release()`` once every event of ``events`` has completed (checked by `_process_deferred`)."""
    with _deferred_lock:
        _deferred.append((events, release))


def _process_deferred():
    """Release the buffers whose uses on other streams (`record_stream`) have completed. Never waits: asks
    each pending event with ``cuEventQuery``. Called at every allocation (a no-op when nothing is pending)."""
    if not _deferred:
        return
    with _deferred_lock:
        ready = [entry for entry in _deferred if all(e.query() for e in entry[0])]
        if not ready:
            return
        _deferred[:] = [entry for entry in _deferred if entry not in ready]
    for _, release in ready:
        release()


def pending_frees():
    """How many dead buffers wait for work on other streams (`record_stream`) before their memory is reused.
    (PyTorch keeps the same state in its caching allocator; no public counterpart.)"""
    return len(_deferred)


def _free_async(ptr, stream, other_streams=None):
    """``cuMemFreeAsync`` of ``ptr`` on its allocation ``stream``; when the buffer was also used on
    ``other_streams``, deferred until an event recorded on each of them now has completed: until then no
    allocation can be handed that memory while those streams may still use it (no stream waits added)."""
    if other_streams:
        _defer([s.record_event() for s in other_streams], functools.partial(_free_async, ptr, stream))
        return
    device_state(stream.device)
    call(bindings().cuMemFreeAsync, ptr, stream.handle)


def _pool_alloc(dev, nbytes, stream_handle):
    """``cuMemAllocFromPoolAsync``; on out-of-memory, synchronize, release cached memory, retry once."""
    d = bindings()
    errors.raise_if_sticky()
    err, ptr = d.cuMemAllocFromPoolAsync(nbytes, dev.pool, stream_handle)
    if err and err.name == "CUDA_ERROR_OUT_OF_MEMORY" or err and err.name == "CUDA_ERROR_INVALID_VALUE" \
            and nbytes > dev.total_memory:
        host_sync("allocator out-of-memory retry (cuCtxSynchronize)")
        call(d.cuCtxSynchronize)
        _process_deferred()   # every stream is idle now: deferred frees can go back to the pool first
        call(d.cuMemPoolTrimTo, dev.pool, 0)
        err, ptr = d.cuMemAllocFromPoolAsync(nbytes, dev.pool, stream_handle)
        if err and err.name in ("CUDA_ERROR_OUT_OF_MEMORY", "CUDA_ERROR_INVALID_VALUE"):
            free, total = mem_get_info(dev.index)
            raise OutOfMemoryError(format_out_of_memory(nbytes, free, total, memory_allocated(dev.index),
                                                        memory_reserved(dev.index), dev.index),
                                   call="cuMemAllocFromPoolAsync", code=err.name)
    errors.check((err,), "cuMemAllocFromPoolAsync")
    return int(ptr)


def allocate(nbytes, device=None):
    """A new uninitialised `Buffer` of ``nbytes`` on ``device`` (current by default), ordered on the current
    stream. A `HostBuffer` in interpreter mode."""
    nbytes = int(nbytes)
    index = device_index(device)
    stream = current_stream(index)
    pool = capture.pool_of(stream)
    if pool is None:
        capture.check_allocation(stream)
        _process_deferred()
    if interpreting():
        if pool is not None:
            return capture.PoolHostBuffer(pool, nbytes, stream)
        return _InterpreterBuffer(nbytes, index, stream)
    dev = device_state(index)
    if nbytes == 0:
        return CudaBuffer(0, 0, dev.index, stream)
    if pool is not None:
        return CudaBuffer(pool.allocate(nbytes), nbytes, dev.index, stream, pool)
    return CudaBuffer(_pool_alloc(dev, nbytes, stream.handle), nbytes, dev.index, stream)


def empty(shape, dtype, device=None):
    """A new uninitialised C-contiguous `DeviceArray` of ``shape`` and NumPy ``dtype`` (``torch.empty``)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    return DeviceArray(allocate(math.prod(shape) * dtype.itemsize, device), shape, dtype)


def record_stream(array, stream):
    """``Tensor.record_stream``: ``array`` (a `DeviceArray` or `Buffer`) is used on ``stream`` too. When it
    dies, an event is recorded on each such stream, and its memory returns to the pool only after those
    events have completed (checked without waiting at later allocations), so no later allocation can reuse it
    while ``stream`` may still read or write it. Nothing is added to any stream's work (as in PyTorch)."""
    buf = getattr(array, "buffer", array)
    if not isinstance(buf, (CudaBuffer, _InterpreterBuffer)):
        return
    if stream != buf.stream and stream not in (buf.other_streams or ()):
        buf.other_streams = (buf.other_streams or []) + [stream]


# -- statistics ------------------------------------------------------------------------------------------


def memory_allocated(device=None):
    """``torch.cuda.memory_allocated``: bytes held by live buffers on ``device`` (host buffers standing in
    for device memory in interpreter mode)."""
    return _stats.allocated[device_index(device)]


def max_memory_allocated(device=None):
    """``torch.cuda.max_memory_allocated``: peak of `memory_allocated` since start or the last reset."""
    return _stats.peak[device_index(device)]


def reset_peak_memory_stats(device=None):
    """``torch.cuda.reset_peak_memory_stats``: restart the peak from the current allocation."""
    _stats.reset_peak(device_index(device))


def memory_reserved(device=None):
    """``torch.cuda.memory_reserved``: bytes the pool holds from the device (allocated + cached).

    In interpreter mode nothing is cached: equals `memory_allocated`.
    """
    if interpreting():
        return memory_allocated(device)
    dev = device_state(device)
    d = bindings()
    return int(call(d.cuMemPoolGetAttribute, dev.pool, d.CUmemPool_attribute.CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT))


def empty_cache(device=None):
    """``torch.cuda.empty_cache``: return the pool's unused cached memory to the device (synchronizes the
    device first so that pending frees complete; a host synchronization in both modes). Otherwise a no-op in
    interpreter mode."""
    host_sync("empty_cache (cuCtxSynchronize)")
    if interpreting():
        _process_deferred()
        return
    dev = device_state(device)
    call(bindings().cuCtxSynchronize)
    _process_deferred()
    call(bindings().cuMemPoolTrimTo, dev.pool, 0)


# -- pinned host memory ----------------------------------------------------------------------------------


class _PinnedBlock:
    """Page-locked host memory from ``cuMemHostAlloc``; NumPy arrays over it keep it alive."""

    __slots__ = ("ptr", "nbytes", "device", "__array_interface__", "__weakref__")

    def __init__(self, nbytes, device):
        d = bindings()
        device_state(device)
        self.nbytes = nbytes
        self.device = device
        self.ptr = int(call(d.cuMemHostAlloc, max(nbytes, 1), d.CU_MEMHOSTALLOC_PORTABLE))
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (self.ptr, False),
                                    "version": 3}

    def __del__(self):
        if not sys.is_finalizing() and errors.sticky_error() is None:
            _free_pinned_sync()
            device_state(self.device)   # this may run in any thread: the context must be current in it
            call(bindings().cuMemFreeHost, self.ptr)


def _free_pinned_sync():
    host_sync("freeing pinned host memory (cuMemFreeHost waits for the device)")


# interpreter mode: id -> the plain NumPy array `pinned_empty` returned, so that copies through it count as
# they would on a GPU (asynchronous, not a synchronization) and its death counts as cuMemFreeHost would
_interpreter_pinned = weakref.WeakValueDictionary()


def pinned_empty(shape, dtype, device=None):
    """An uninitialised NumPy array in page-locked (pinned) host memory (``torch.empty(...,
    pin_memory=True)``): host<->device copies from it are true DMA and can be asynchronous. The memory is
    freed when the last array viewing it dies.

    In interpreter mode, or where CUDA is not available, pinning means nothing and this returns an ordinary
    NumPy array (a documented no-op; `is_pinned` says False). In interpreter mode the runtime still treats
    it as pinned when counting host synchronizations (`sync`), as a GPU would.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    if interpreting():
        host = np.empty(shape, dtype)
        _interpreter_pinned[id(host)] = host
        weakref.finalize(host, _free_pinned_sync)
        return host
    if not is_available():
        return np.empty(shape, dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.asarray(_PinnedBlock(nbytes, device_index(device)))
    return raw.view(dtype).reshape(shape)


def is_pinned(array):
    """``Tensor.is_pinned``: True when the NumPy ``array`` views memory from `pinned_empty`."""
    base = array
    while base is not None:
        if isinstance(base, _PinnedBlock):
            return True
        base = getattr(base, "base", None)
    return False


# -- copies ----------------------------------------------------------------------------------------------


def _pinned_for_copies(array):
    """`is_pinned`, and in interpreter mode also memory from `pinned_empty` (pinned on a GPU)."""
    if is_pinned(array):
        return True
    base = array
    while base is not None:
        if _interpreter_pinned.get(id(base)) is base:
            return True
        base = getattr(base, "base", None)
    return False


def _report_copy_sync(operation, host, nbytes, non_blocking, staged=False):
    """A host synchronization unless the copy is asynchronous from/to pinned memory or staged (or empty)."""
    if nbytes == 0:
        return
    if not non_blocking:
        host_sync(f"blocking {operation}")
    elif not staged and not _pinned_for_copies(host):
        host_sync(f"{operation} with non_blocking=True from/to pageable host memory (the driver may stage it "
                  f"synchronously; use pinned_empty)")


STAGING_MAX_BYTES = 1 << 20   # non-blocking uploads from pageable memory up to this size go through staging


class _Arena:
    """One pinned block of the staging ring: filled front to back, reusable once its copies are done."""

    __slots__ = ("host", "used", "events")

    def __init__(self, nbytes, device):
        self.host = pinned_empty((nbytes,), np.uint8, device)
        self.used = 0
        self.events = {}          # stream -> event recorded after the last copy from here on that stream

    def idle(self):
        return all(e.query() for e in self.events.values())


class _StagingRing:
    """Pinned host memory for small non-blocking uploads from pageable memory (optimizer tables, learning
    rates, index lists): the bytes are copied into a pinned slot at once (so the source may change right
    away) and DMA'd asynchronously from there. A block is reused only when `Event.query` says its copies
    are done; otherwise a new one is added. Blocks are never freed (freeing pinned memory synchronizes),
    so a steady loop allocates nothing and never waits."""

    def __init__(self, device):
        self.device = device
        self.arenas = []
        self.current = None

    def slot(self, nbytes):
        size = -(-nbytes // 256) * 256
        a = self.current
        if a is None or a.used + size > a.host.nbytes:
            a = next((b for b in self.arenas if b is not self.current and b.host.nbytes >= size and b.idle()), None)
            if a is None:
                a = _Arena(max(STAGING_MAX_BYTES, size), self.device)
                self.arenas.append(a)
            a.used, a.events = 0, {}
            self.current = a
        start = a.used
        a.used += size
        return a, a.host[start:start + nbytes]


_staging = {}   # device index -> _StagingRing
_staging_lock = threading.Lock()


def _staged_upload(dst, src, stream):
    """cuMemcpyHtoDAsync of ``src`` through a pinned staging slot (GPU only)."""
    with _staging_lock:
        ring = _staging.get(stream.device)
        if ring is None:
            ring = _staging[stream.device] = _StagingRing(stream.device)
        arena, slot = ring.slot(src.nbytes)
        np.copyto(slot, src.reshape(-1).view(np.uint8))
        call(bindings().cuMemcpyHtoDAsync, dst.data_ptr(), slot.ctypes.data, src.nbytes, stream.handle)
        arena.events[stream] = stream.record_event()


_pending_host = []   # (event, host array) of non-blocking copies: the host memory must outlive the copy
_pending_host_lock = threading.Lock()   # threads copying at once must not pop each other's unfinished entries


def _run_or_record(stream, arrays, fn, *args):
    """Interpreter mode: run ``fn(*args)`` (a copy or memset on raw addresses) now, or, when ``stream`` is
    being captured, record it in the graph (watching the `DeviceArray` objects ``arrays`` it touches)."""
    pool = capture.pool_of(stream)
    if pool is None:
        fn(*args)
        return
    for a in arrays:
        pool.note(a.buffer)
    pool.record(fn, *args)


def _keep_host_alive(stream, host):
    pool = capture.pool_of(stream)
    if pool is not None:   # a copy recorded in a graph reads/writes ``host`` at every replay
        pool.host_arrays.append(host)
        return
    event = stream.record_event()
    with _pending_host_lock:
        while _pending_host and _pending_host[0][0].query():
            _pending_host.pop(0)
        _pending_host.append((event, host))


def _check_fits(nbytes, dst_nbytes, what):
    if nbytes > dst_nbytes:
        raise ValueError(f"{what}: copying {nbytes} bytes into a destination of {dst_nbytes} bytes")


def copy_host_to_device(dst, src, non_blocking=False, stream=None):
    """Copy the NumPy array ``src`` (made C-contiguous) into the contiguous `DeviceArray` ``dst`` on
    ``stream`` (default: current). Blocking unless ``non_blocking`` (truly asynchronous only from pinned
    memory, and from pageable memory up to `STAGING_MAX_BYTES`, which is first copied into runtime-owned
    pinned staging memory: such a copy never synchronizes and ``src`` may be changed at once); the source
    is kept alive until the copy is done either way.

    Inside a CUDA graph capture on ``stream`` the copy is recorded, not run: a blocking or pageable copy
    becomes a device-to-device copy from a snapshot of ``src`` taken now and owned by the graph (every
    replay writes these same values), a ``non_blocking`` copy from pinned memory a copy that reads ``src``
    at each replay (as in PyTorch)."""
    src = np.ascontiguousarray(src)
    _check_fits(src.nbytes, dst.nbytes, "copy_host_to_device")
    stream = current_stream(dst.device) if stream is None else stream
    pool = capture.pool_of(stream)
    if pool is not None and src.nbytes and not (non_blocking and _pinned_for_copies(src)):
        constant = pool.constant(src)
        if interpreting():
            _run_or_record(stream, [dst], ctypes.memmove, dst.data_ptr(), constant, src.nbytes)
        else:
            call(bindings().cuMemcpyDtoDAsync, dst.data_ptr(), constant, src.nbytes, stream.handle)
        return
    staged = non_blocking and src.nbytes <= STAGING_MAX_BYTES and not _pinned_for_copies(src)
    _report_copy_sync("copy_host_to_device", src, src.nbytes, non_blocking, staged)
    if src.nbytes == 0:
        return
    if interpreting():
        if pool is not None:   # a pinned non-blocking copy: each replay reads ``src`` as it is then
            pool.host_arrays.append(src)
        _run_or_record(stream, [dst], ctypes.memmove, dst.data_ptr(), src.ctypes.data, src.nbytes)
        return
    device_state(stream.device)
    if staged:
        _staged_upload(dst, src, stream)
        return
    call(bindings().cuMemcpyHtoDAsync, dst.data_ptr(), src.ctypes.data, src.nbytes, stream.handle)
    if non_blocking:
        _keep_host_alive(stream, src)
    else:
        stream._wait()


def copy_device_to_host(dst, src, non_blocking=False, stream=None):
    """Copy the contiguous `DeviceArray` ``src`` into the C-contiguous NumPy array ``dst`` on ``stream``
    (default: current). Blocking unless ``non_blocking`` (then ``dst`` is valid only after the stream is
    synchronized; use a pinned ``dst`` for a truly asynchronous copy). Inside a CUDA graph capture only a
    ``non_blocking`` copy into pinned memory is possible (it is replayed); anything else synchronizes and
    raises."""
    _check_fits(dst.nbytes, src.nbytes, "copy_device_to_host")
    if not dst.flags.c_contiguous:
        raise ValueError("copy_device_to_host needs a C-contiguous destination array")
    _report_copy_sync("copy_device_to_host", dst, dst.nbytes, non_blocking)
    if dst.nbytes == 0:
        return
    stream = current_stream(src.device) if stream is None else stream
    if interpreting():
        if capture.pool_of(stream) is not None:   # a pinned non-blocking copy: each replay writes ``dst``
            capture.pool_of(stream).host_arrays.append(dst)
        _run_or_record(stream, [src], ctypes.memmove, dst.ctypes.data, src.data_ptr(), dst.nbytes)
        if not non_blocking:
            error_word.raise_pending(src.device)
        return
    device_state(stream.device)
    call(bindings().cuMemcpyDtoHAsync, dst.ctypes.data, src.data_ptr(), dst.nbytes, stream.handle)
    if non_blocking:
        _keep_host_alive(stream, dst)
    else:
        stream._wait()
        error_word.raise_pending(src.device)    # the host waited: report a bad index the kernels recorded


def copy_device_to_device(dst, src, non_blocking=False, stream=None):
    """Copy ``src.nbytes`` bytes from the contiguous `DeviceArray` ``src`` into ``dst``, ordered on
    ``stream`` (default: current). Never blocks the host (as a device copy in PyTorch); ``non_blocking`` is
    accepted for symmetry."""
    _check_fits(src.nbytes, dst.nbytes, "copy_device_to_device")
    if src.nbytes == 0:
        return
    stream = current_stream(dst.device) if stream is None else stream
    if interpreting():
        _run_or_record(stream, [dst, src], ctypes.memmove, dst.data_ptr(), src.data_ptr(), src.nbytes)
        return
    device_state(stream.device)
    call(bindings().cuMemcpyDtoDAsync, dst.data_ptr(), src.data_ptr(), src.nbytes, stream.handle)


def fill_bytes(dst, value, stream=None):
    """Set every byte of the contiguous `DeviceArray` ``dst`` to ``value`` (0..255) on ``stream``."""
    if dst.nbytes == 0:
        return
    stream = current_stream(dst.device) if stream is None else stream
    if interpreting():
        _run_or_record(stream, [dst], ctypes.memset, dst.data_ptr(), value, dst.nbytes)
        return
    device_state(stream.device)
    call(bindings().cuMemsetD8Async, dst.data_ptr(), value, dst.nbytes, stream.handle)
