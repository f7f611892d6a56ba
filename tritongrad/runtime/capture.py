"""CUDA graph capture state: which streams are being captured, each capture's private memory pool, and, in
interpreter mode, the recording of the work a capture queues.

**Per stream.** A capture belongs to the stream it captures (as in CUDA, where capture is a property of the
stream): `begin` registers a `GraphPool` for that stream, and only allocations made while *that stream* is
the current stream come from the pool. Another thread allocating on its own stream during the capture gets
ordinary memory, so its buffers never land in the graph's pool (nor the graph's in its frees). The thread
that captures may not allocate on some other stream while its capture is open: that memory would be used by
the captured work yet owned by no graph (`check_allocation`).

**Forks.** As in CUDA, a stream that waits for an event recorded on a captured stream joins that capture
(`join`): its work is captured too, and its allocations come from the same pool, until the capture ends.

**Private pool.** Blocks are allocated on a side stream outside the capture (on a GPU: a real
``cuMemAllocFromPoolAsync``, then a wait on the side stream; a capture-safe host synchronization that
`sync` counts), so Triton's launcher can inspect real pointers and every replay writes the same addresses.
A block freed during the capture may be reused by later captured work (it is ordered after every use so far);
after the capture ends blocks are only released when the pool dies, i.e. when the graph has been reset and
every output buffer made in the capture is gone. The side stream is owned by the pool and destroyed with it.

**Interpreter mode.** Triton's interpreter runs a kernel synchronously on the host, so there is no stream
work for a driver to capture; instead the runtime records it. While a stream is captured, every kernel
launch queued on it (``GridExecutor.__call__``, below Triton's launch checks) and every copy or memset
(`memory`) is appended to the pool's ``ops`` instead of running: the kernel, its grid, its constexprs, and its
pointer arguments as raw views of the *same buffers* (their addresses, not the Python objects, exactly what
a GPU graph holds). `replay` runs exactly those operations, allocating nothing. Pool blocks are host memory
owned by the pool. Buffers made outside the capture that the capture uses are watched: one that dies during
the capture is kept alive by the graph (as on a GPU), and replaying a graph after one of them died after the
capture raises a RuntimeError naming it, where a GPU would silently read freed memory.
"""
from __future__ import annotations

import functools
import sys
import threading
import weakref
from collections import defaultdict

import numpy as np

from . import _stats, errors, streams
from .array import Buffer, DeviceArray, HostBuffer
from .device import device_state, interpreting
from .sync import host_sync

__all__ = ["GraphPool", "PoolHostBuffer", "begin", "join", "end", "pool_of", "thread_pool", "check_allocation",
           "keep_if_captured", "install_recorder", "BLOCK"]

BLOCK = 512                  # pool block sizes are rounded up to this
_lock = threading.Lock()
_pools = {}                  # Stream being captured -> its GraphPool
_local = threading.local()   # .pools: the GraphPools of the captures this thread began (innermost last)


def _round(nbytes):
    return max(-(-int(nbytes) // BLOCK) * BLOCK, BLOCK)


def pool_of(stream):
    """The `GraphPool` of the capture of ``stream`` in progress, or None."""
    return _pools.get(stream) if _pools else None


def _thread_pools():
    pools = getattr(_local, "pools", None)
    if pools is None:
        pools = _local.pools = []
    return pools


def thread_pool(device):
    """The innermost capture this thread began on ``device`` (still open), or None."""
    if not _pools:
        return None
    return next((p for p in reversed(_thread_pools()) if p.device == device), None)


def check_allocation(stream):
    """Raise when this thread allocates on ``stream`` (not captured) while one of its captures is open: the
    memory would be used by captured work without belonging to the graph."""
    pool = thread_pool(stream.device)
    if pool is not None:
        raise RuntimeError(
            f"allocation on {stream!r} during the CUDA graph capture of {pool.capture_stream!r} in the same thread: "
            f"memory used by captured work must come from the graph's private pool, i.e. be allocated while the "
            f"capturing stream is current. Allocate before the capture, or on the capturing stream")


def begin(device, stream):
    """Start routing allocations on ``stream`` to a new `GraphPool` (its capture begins); returns the pool."""
    with _lock:
        if stream in _pools:
            raise RuntimeError(f"{stream!r} is already being captured into another CUDA graph")
        pool = _pools[stream] = GraphPool(device, stream)
    _thread_pools().append(pool)
    return pool


def join(stream, pool):
    """``stream`` waited for an event recorded on a stream of ``pool``'s capture: as in CUDA, its later work
    is part of that capture (a fork; it must be joined back by the capturing stream waiting for it)."""
    if not pool.capturing or stream in _pools:
        return
    with _lock:
        _pools.setdefault(stream, pool)


def end(pool):
    """The capture of ``pool`` ended (or was aborted): later allocations on its streams (the captured one and
    any forked from it) are ordinary again."""
    with _lock:
        for stream in [s for s, p in _pools.items() if p is pool]:
            del _pools[stream]
    pools = _thread_pools()
    if pool in pools:
        pools.remove(pool)
    pool.capturing = False
    pool.free.clear()


def keep_if_captured(buffer, host=None):
    """A buffer allocated outside any pool is dying. On a GPU (``host`` None): if this thread is capturing
    on its device, the graph keeps the memory (replays may read it) and True is returned. In interpreter mode
    (``host`` its memory): every capture that recorded a use of it keeps ``host``; returns whether any did."""
    if not _pools:
        return False
    if host is None:
        pool = thread_pool(buffer.device)
        if pool is None:
            return False
        pool.blocks.append(buffer.ptr)
        return True
    kept = False
    for pool in list(_pools.values()):
        if buffer.ptr in pool.external:
            pool.kept[buffer.ptr] = host
            kept = True
    return kept


class GraphPool:
    """Private memory of one CUDA graph (blocks allocated during its capture, reused only within it), and in
    interpreter mode the operations its capture recorded (``ops``)."""

    def __init__(self, device, capture_stream):
        self.device = device
        self.capture_stream = capture_stream   # the stream being captured
        self.blocks = []                       # GPU: device pointers this pool owns (freed when it dies)
        self.host_blocks = {}                  # interpreter: pointer -> host memory of each block it owns
        self.free = defaultdict(list)          # rounded size -> blocks released during the capture
        self.capturing = True
        self.side_stream = streams.OwnedStream(device)   # allocations are made here, outside the capture
        self.release_stream = None             # stream of the last replay: frees are ordered after it
        self.host_arrays = []                  # host memory that captured copies read or write
        self.ops = [] if interpreting() else None   # interpreter: the recorded operations, in order
        self.external = {}                     # interpreter: ptr -> (weakref, nbytes) of outside buffers used
        self.kept = {}                         # interpreter: ptr -> host memory of those that died meanwhile

    def _new_block(self, size):
        if self.ops is not None:
            raw = np.zeros(size + 64, np.uint8)
            start = (-raw.ctypes.data) % 64
            host = raw[start:start + size]
            self.host_blocks[host.ctypes.data] = host
            return host.ctypes.data
        from .memory import _pool_alloc
        ptr = _pool_alloc(device_state(self.device), size, self.side_stream.handle)
        self.blocks.append(ptr)
        return ptr

    def allocate(self, nbytes):
        """A block of at least ``nbytes`` (reused from this capture's frees, else new)."""
        size = _round(nbytes)
        if self.free[size]:
            return self.free[size].pop()
        ptr = self._new_block(size)
        host_sync("CUDA graph private pool block allocation during capture (cuStreamSynchronize)",
                  capture_safe=True)
        self.side_stream._wait()
        return ptr

    def constant(self, host):
        """A device copy of the C-contiguous NumPy array ``host``, owned by the graph and never reused: the
        source of the device-to-device copy that a host-to-device copy inside the capture becomes."""
        ptr = self._new_block(_round(host.nbytes))
        if self.ops is not None:
            self.host_blocks[ptr][:host.nbytes] = host.reshape(-1).view(np.uint8)
        else:
            from .errors import call
            from .device import bindings
            call(bindings().cuMemcpyHtoDAsync, ptr, host.ctypes.data, host.nbytes, self.side_stream.handle)
        host_sync("upload of a host-to-device copy's data during CUDA graph capture (cuStreamSynchronize)",
                  capture_safe=True)
        self.side_stream._wait()
        return ptr

    def release(self, ptr, nbytes):
        """A buffer of this pool died: its block may be reused by later work of the same capture."""
        if self.capturing:
            self.free[_round(nbytes)].append(ptr)

    # -- interpreter mode: recording and replay -------------------------------------------------------------
    def note(self, buffer):
        """Captured work uses ``buffer``: watch it if it does not belong to this pool."""
        if getattr(buffer, "graph_pool", None) is self or buffer.ptr in self.external:
            return
        self.external[buffer.ptr] = (weakref.ref(buffer), buffer.nbytes)

    def raw(self, arg):
        """``arg`` as recorded: a `DeviceArray` becomes a view with the same address, shape, strides and dtype
        over a plain `Buffer` (no reference to the Python buffer object, as a GPU graph holds only addresses),
        as does a cuda Tensor (its array); tuples are converted element-wise; anything else is kept as it is."""
        if isinstance(arg, DeviceArray):
            buf = arg.buffer
            self.note(buf)
            return DeviceArray(Buffer(buf.ptr, buf.nbytes, buf.device), arg.shape, arg.dtype, arg.strides,
                               arg.offset)
        if type(arg) is tuple:
            return tuple(self.raw(a) for a in arg)
        data = getattr(arg, "_data", None)   # a tritongrad Tensor passed as a kernel argument: its array
        if isinstance(data, DeviceArray) and hasattr(arg, "data_ptr"):
            return self.raw(data)
        return arg

    def record(self, fn, *args, **kwargs):
        """Append ``fn(*args, **kwargs)`` to the recorded operations."""
        self.ops.append(functools.partial(fn, *args, **kwargs))

    def check_alive(self):
        """Raise when a buffer allocated outside the graph, which its captured work uses, has died since."""
        for ptr, (ref, nbytes) in self.external.items():
            if ptr not in self.kept and ref() is None:
                raise RuntimeError(
                    f"CUDA graph replay: a buffer the captured work uses (address 0x{ptr:x}, {nbytes} bytes, "
                    f"allocated before the capture) has been freed since. Keep every tensor the graph reads or "
                    f"writes (static inputs, parameters, optimizer state) alive while the graph is replayed")

    def replay(self):
        """Run the recorded operations (interpreter mode)."""
        self.check_alive()
        for op in self.ops:
            op()

    def __del__(self):
        if self.ops is not None or sys.is_finalizing() or errors.sticky_error() is not None:
            return
        from .memory import _free_async
        stream = self.release_stream or self.side_stream
        for ptr in self.blocks:
            _free_async(ptr, stream)


class PoolHostBuffer(HostBuffer):
    """Interpreter mode: an allocation from a graph's private pool (host memory the pool owns)."""

    __slots__ = ("graph_pool", "stream", "other_streams")

    def __init__(self, pool, nbytes, stream):
        ptr = pool.allocate(nbytes)
        self.graph_pool = pool
        self.stream = stream
        self.other_streams = None
        self.host = pool.host_blocks[ptr][:max(int(nbytes), 1)]
        Buffer.__init__(self, ptr, int(nbytes), pool.device)
        _stats.add(self.device, self.nbytes)

    def __del__(self):
        _stats.sub(self.device, self.nbytes)
        self.graph_pool.release(self.ptr, self.nbytes)


_recorder_installed = False


def install_recorder():
    """Interpreter mode: make kernel launches queued on a captured stream be recorded instead of run. Wraps
    Triton's ``GridExecutor.__call__`` (which runs one launch after Triton's and tritongrad's launch checks),
    so an invalid launch still fails at capture, as on a GPU. Idempotent."""
    global _recorder_installed
    if _recorder_installed:
        return
    from triton.runtime.interpreter import GridExecutor
    run = GridExecutor.__call__

    def run_or_record(self, *args, **kwargs):
        pool = pool_of(streams.current_stream()) if _pools else None
        if pool is None:
            return run(self, *args, **kwargs)
        pool.record(run, self, *[pool.raw(a) for a in args], **{k: pool.raw(v) for k, v in kwargs.items()})

    run_or_record.__doc__ = run.__doc__
    GridExecutor.__call__ = run_or_record
    _recorder_installed = True
