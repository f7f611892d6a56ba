"""Streams and events (``torch.cuda.Stream``, ``torch.cuda.Event``, ``torch.cuda.stream``).

Each thread has a current stream per device (the device's default stream until changed with `stream`);
allocations, copies and Triton kernel launches go to it. The default stream is CUDA's legacy default
stream (handle 0), as in PyTorch; streams made with `Stream` do not synchronize with it implicitly.

In interpreter mode all work runs synchronously on the host: a stream is a token (``cuda_stream`` is a
small distinct integer, 0 for the default stream), waits and synchronizations are no-ops, and events
record host timestamps, so ``elapsed_time`` measures host time.
"""
from __future__ import annotations

import itertools
import sys
import threading
import time
import weakref

from . import error_word, errors
from .device import bindings, device_index, device_state, interpreting
from .errors import call
from .sync import host_sync

__all__ = ["Stream", "OwnedStream", "Event", "stream", "current_stream", "default_stream"]

_local = threading.local()          # .streams: {device index: [stream stack]}
_interp_handles = itertools.count(1)
_default_streams = {}                # (interpreting, device index) -> Stream


def _done(query, handle):
    """``cuStreamQuery``/``cuEventQuery``: True when the work is done, False while CUDA says not ready."""
    errors.raise_if_sticky()
    (err,) = query(handle)
    if err and err.name == "CUDA_ERROR_NOT_READY":
        return False
    errors.check((err,), query.__name__)
    return True


class Stream:
    """``torch.cuda.Stream(device=None, priority=0)``: a new non-blocking CUDA stream on ``device``.

    ``cuda_stream`` is the raw ``CUstream`` handle as an int. Streams are never destroyed (as in PyTorch's
    stream pool), so buffers freed on them later stay valid to free.
    """

    __slots__ = ("device", "cuda_stream", "handle")

    def __init__(self, device=None, priority=0):
        self.device = device_index(device)
        if interpreting():
            self.cuda_stream = next(_interp_handles)
            self.handle = None
            return
        device_state(self.device)
        d = bindings()
        self.handle = call(d.cuStreamCreateWithPriority, d.CUstream_flags.CU_STREAM_NON_BLOCKING, priority)
        self.cuda_stream = int(self.handle)

    @classmethod
    def _wrap(cls, device, cuda_stream):
        s = cls.__new__(cls)
        s.device, s.cuda_stream = device, cuda_stream
        s.handle = None if interpreting() else bindings().CUstream(cuda_stream)
        return s

    def query(self):
        """True when all work queued on this stream has finished."""
        if interpreting():
            return True
        device_state(self.device)
        return _done(bindings().cuStreamQuery, self.handle)

    def synchronize(self):
        """Wait until all work queued on this stream has finished (a host synchronization, `sync`)."""
        host_sync("Stream.synchronize (cuStreamSynchronize)")
        self._wait()
        error_word.raise_pending(self.device)

    def _wait(self):
        """``cuStreamSynchronize`` for runtime paths that have already reported their synchronization."""
        if interpreting():
            return
        device_state(self.device)
        call(bindings().cuStreamSynchronize, self.handle)

    def wait_event(self, event):
        """Make later work on this stream wait for ``event`` (no host synchronization). When ``event`` was
        recorded on a stream being captured into a CUDA graph, this stream joins the capture, as in CUDA."""
        pool = event._capture_pool() if event._capture_pool is not None else None
        if pool is not None:
            from . import capture
            capture.join(self, pool)
        if interpreting() or event._handle is None:
            return
        device_state(self.device)
        call(bindings().cuStreamWaitEvent, self.handle, event._handle, 0)

    def wait_stream(self, other):
        """Make later work on this stream wait for the work queued so far on ``other``."""
        if other == self:
            return
        self.wait_event(other.record_event())

    def record_event(self, event=None):
        """Record ``event`` (a new one if None) on this stream and return it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other):
        return isinstance(other, Stream) and (self.device, self.cuda_stream) == (other.device, other.cuda_stream)

    def __hash__(self):
        return hash((self.device, self.cuda_stream))

    def __repr__(self):
        return f"<tritongrad.cuda.Stream device=cuda:{self.device} cuda_stream=0x{self.cuda_stream:x}>"


class OwnedStream(Stream):
    """A stream owned by one runtime object (a CUDA graph's private pool) and destroyed with it
    (``cuStreamDestroy``: work still queued on it completes first). ``OwnedStream.alive`` counts the live
    ones, so a leak shows in tests. Never make one current in user code: it dies with its owner."""

    __slots__ = ()
    alive = 0

    def __init__(self, device=None, priority=0):
        OwnedStream.alive += 1
        super().__init__(device, priority)

    def __del__(self):
        OwnedStream.alive -= 1
        if getattr(self, "handle", None) is not None and not sys.is_finalizing() and errors.sticky_error() is None:
            device_state(self.device)
            call(bindings().cuStreamDestroy, self.handle)


def default_stream(device=None):
    """``torch.cuda.default_stream``: the default stream of ``device``."""
    index = device_index(device)
    key = (interpreting(), index)
    s = _default_streams.get(key)
    if s is None:
        if not interpreting():
            device_state(index)
        s = _default_streams[key] = Stream._wrap(index, 0)
    return s


def _stack(index):
    stacks = getattr(_local, "streams", None)
    if stacks is None:
        stacks = _local.streams = {}
    return stacks.setdefault(index, [])


def current_stream(device=None):
    """``torch.cuda.current_stream``: this thread's current stream on ``device``."""
    index = device_index(device)
    stack = _stack(index)
    return stack[-1] if stack else default_stream(index)


class stream:
    """``torch.cuda.stream(s)``: context manager making ``s`` the current stream (and its device the
    current device) inside the block; ``None`` does nothing."""

    def __init__(self, s):
        self.stream = s
        self._prev_device = None

    def __enter__(self):
        s = self.stream
        if s is None:
            return None
        from .device import current_device, set_device
        self._prev_device = current_device()
        if s.device != self._prev_device:
            set_device(s.device)
        _stack(s.device).append(s)
        return s

    def __exit__(self, *exc):
        s = self.stream
        if s is None:
            return False
        _stack(s.device).pop()
        if s.device != self._prev_device:
            from .device import set_device
            set_device(self._prev_device)
        return False


class Event:
    """``torch.cuda.Event(enable_timing=False, blocking=False)``: a marker in a stream's work.

    The CUDA event is created on first `record`. ``elapsed_time(end)`` gives milliseconds between two
    recorded timing events (host time in interpreter mode).
    """

    __slots__ = ("enable_timing", "blocking", "_handle", "_device", "_host_time", "_capture_pool", "__weakref__")

    def __init__(self, enable_timing=False, blocking=False):
        self.enable_timing = enable_timing
        self.blocking = blocking
        self._handle = None
        self._device = None
        self._host_time = None
        self._capture_pool = None   # weak reference to the CUDA graph capture it was last recorded in, if any

    @property
    def cuda_event(self):
        """The raw ``CUevent`` handle as an int (0 before the first record)."""
        return 0 if self._handle is None else int(self._handle)

    def record(self, stream=None):
        """Record the event on ``stream`` (default: the current stream)."""
        stream = current_stream() if stream is None else stream
        from .capture import pool_of
        pool = pool_of(stream)
        self._capture_pool = None if pool is None else weakref.ref(pool)
        if interpreting():
            self._host_time = time.perf_counter()
            return
        device_state(stream.device)
        d = bindings()
        if self._handle is None:
            flags = 0 if self.enable_timing else int(d.CUevent_flags.CU_EVENT_DISABLE_TIMING)
            if self.blocking:
                flags |= int(d.CUevent_flags.CU_EVENT_BLOCKING_SYNC)
            self._handle = call(d.cuEventCreate, flags)
            self._device = stream.device
        elif stream.device != self._device:
            raise ValueError(f"event was created on cuda:{self._device} and cannot be recorded on a stream of "
                             f"cuda:{stream.device}")
        call(d.cuEventRecord, self._handle, stream.handle)

    def wait(self, stream=None):
        """Make later work on ``stream`` (default: current) wait for this event."""
        (current_stream() if stream is None else stream).wait_event(self)

    def query(self):
        """True when the work recorded before the event has finished (also when never recorded)."""
        if interpreting() or self._handle is None:
            return True
        device_state(self._device)
        return _done(bindings().cuEventQuery, self._handle)

    def synchronize(self):
        """Wait on the host until the work recorded before the event has finished (a host synchronization,
        `sync`, once the event has been recorded)."""
        if self._handle is None and self._host_time is None:
            return
        host_sync("Event.synchronize (cuEventSynchronize)")
        if not interpreting():
            device_state(self._device)
            call(bindings().cuEventSynchronize, self._handle)
        error_word.raise_pending(self._device)

    def elapsed_time(self, end_event):
        """Milliseconds from this event to ``end_event`` (both recorded, both with ``enable_timing``)."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("elapsed_time needs both events created with enable_timing=True")
        if interpreting():
            if self._host_time is None or end_event._host_time is None:
                raise RuntimeError("both events must be recorded before calculating elapsed time")
            return (end_event._host_time - self._host_time) * 1000.0
        if self._handle is None or end_event._handle is None:
            raise RuntimeError("both events must be recorded before calculating elapsed time")
        device_state(self._device)
        return float(call(bindings().cuEventElapsedTime, self._handle, end_event._handle))

    def __del__(self):
        if self._handle is not None and not sys.is_finalizing() and errors.sticky_error() is None:
            device_state(self._device)   # collected in any thread: make the event's context current there
            call(bindings().cuEventDestroy, self._handle)

    def __repr__(self):
        return f"<tritongrad.cuda.Event enable_timing={self.enable_timing} cuda_event=0x{self.cuda_event:x}>"
