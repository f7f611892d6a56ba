"""Host synchronizations: counting them (`count_host_syncs`) and trapping them (`set_sync_debug_mode`).

A *host synchronization* is any runtime operation that makes the host wait for the device:

* ``synchronize`` (``cuCtxSynchronize``), ``Stream.synchronize`` (``cuStreamSynchronize``), ``Event.synchronize``
  of a recorded event (``cuEventSynchronize``), ``empty_cache`` (synchronizes the device first);
* a blocking copy between host and device (``copy_host_to_device`` / ``copy_device_to_host`` without
  ``non_blocking``: ``Tensor.item``, ``.numpy()``, ``.cpu()``, ``.tolist()``, ``bool(t)``, ``tensor(...,
  device='cuda')``), and a ``non_blocking`` copy whose host side is pageable memory (the driver may stage
  it synchronously; only memory from `pinned_empty` is truly asynchronous);
* freeing pinned host memory (``cuMemFreeHost`` waits for the device);
* on a GPU only: the out-of-memory retry of the allocator (``cuCtxSynchronize``), and during a CUDA graph
  capture the private pool's block allocations and the upload of host data the captured code copies to
  the device (bookkeeping on a stream outside the capture; any other synchronization inside a capture
  raises, naming the line).

Every such path calls `host_sync` *before* it blocks, in interpreter mode as well as on a GPU (where the
interpreter has nothing to wait for, the same logical operation still counts), so a test run in Triton's
interpreter proves that the same code synchronizes no more on a GPU. Copies between device buffers,
kernel launches, allocations, frees, ``Stream.query``/``Event.query`` and ``wait_event`` never block the host
and never count.

    with tritongrad.cuda.count_host_syncs() as syncs:
        train_step()
    assert syncs.count == 0, syncs.where      # where: one short stack summary per synchronization

    tritongrad.cuda.set_sync_debug_mode("error")   # any synchronization raises (torch.cuda.set_sync_debug_mode)
"""
from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = ["HostSyncCounter", "count_host_syncs", "set_sync_debug_mode", "get_sync_debug_mode", "host_sync",
           "set_capturing", "capturing"]

_MODES = {"default": 0, "warn": 1, "error": 2}
_mode = 0                  # 0: nothing, 1: warn, 2: raise, on every host synchronization
_counters = []             # active HostSyncCounter objects, innermost last
_lock = threading.Lock()
_capture = threading.local()   # .active: how many CUDA graph captures this thread has open (set by `graphs`)

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(_RUNTIME_DIR))   # the directory holding tritongrad/
_STACK_FRAMES = 6          # frames outside the runtime shown per synchronization


def _short_path(filename):
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_PARENT + os.sep):
        return os.path.relpath(path, _PACKAGE_PARENT)
    parent, name = os.path.split(path)
    return os.path.join(os.path.basename(parent), name)


def _stack_summary(frame):
    """``file:line in function`` for the first frames outside ``tritongrad/runtime``, innermost first."""
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _RUNTIME_DIR:
        frame = frame.f_back
    parts = []
    while frame is not None and len(parts) < _STACK_FRAMES:
        code = frame.f_code
        parts.append(f"{_short_path(code.co_filename)}:{frame.f_lineno} in {code.co_name}")
        frame = frame.f_back
    return " <- ".join(parts) if parts else "<no Python frame>"


class HostSyncCounter:
    """What `count_host_syncs` yields: ``count`` (host synchronizations so far in the block) and ``where``
    (one ``"<operation> at <file:line in function> <- <callers>"`` string per synchronization)."""

    __slots__ = ("where",)

    def __init__(self):
        self.where = []

    @property
    def count(self):
        return len(self.where)

    def __repr__(self):
        shown = "".join(f"\n  {w}" for w in self.where)
        return f"<HostSyncCounter count={self.count}{shown}>"


class count_host_syncs:
    """Context manager counting the host synchronizations made in its block (any thread); yields a
    `HostSyncCounter`. Nested counters each see every synchronization of their block.
    (No PyTorch counterpart; ``torch.cuda.set_sync_debug_mode`` is the closest.)"""

    def __init__(self):
        self.counter = HostSyncCounter()

    def __enter__(self):
        with _lock:
            _counters.append(self.counter)
        return self.counter

    def __exit__(self, *exc):
        with _lock:
            _counters.remove(self.counter)
        return False


def set_sync_debug_mode(debug_mode):
    """``torch.cuda.set_sync_debug_mode``: what a host synchronization does besides its work --
    ``"default"``/0 nothing, ``"warn"``/1 a UserWarning, ``"error"``/2 a RuntimeError raised before the
    operation runs (its stack summary says which line synchronized). Applies to every thread."""
    global _mode
    if isinstance(debug_mode, str):
        if debug_mode not in _MODES:
            raise RuntimeError(f"invalid value of debug_mode {debug_mode!r}, expected one of {sorted(_MODES)} "
                               f"or 0, 1, 2")
        debug_mode = _MODES[debug_mode]
    if isinstance(debug_mode, bool) or debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode {debug_mode!r}, expected 0, 1, 2 or one of "
                           f"{sorted(_MODES)}")
    _mode = int(debug_mode)


def get_sync_debug_mode():
    """``torch.cuda.get_sync_debug_mode``: the current mode as an int (0 default, 1 warn, 2 error)."""
    return _mode


def set_capturing(active):
    """A CUDA graph capture of this thread begins (``active`` True) or ends (False); captures may nest
    (``graphs.CUDAGraph.capture_begin``/``_end``)."""
    _capture.active = max(getattr(_capture, "active", 0) + (1 if active else -1), 0)


def capturing():
    """True while this thread captures a CUDA graph."""
    return getattr(_capture, "active", 0) > 0


def host_sync(operation, capture_safe=False):
    """Record that ``operation`` (e.g. ``"cuStreamSynchronize"``) is about to block the host on the device:
    count it in every active `count_host_syncs` block, then warn or raise per `set_sync_debug_mode`.
    Called by every synchronizing path of the runtime, in interpreter mode too.

    While this thread captures a CUDA graph, a synchronization raises RuntimeError (it would invalidate the
    capture, and a graph cannot wait on the host at replay) unless ``capture_safe`` (capture bookkeeping on a
    stream outside the capture)."""
    in_capture = not capture_safe and capturing()
    if not _counters and not _mode and not in_capture:
        return
    where = f"{operation} at {_stack_summary(sys._getframe(1))}"
    with _lock:
        for counter in _counters:
            counter.where.append(where)
    if in_capture:
        raise RuntimeError(f"a host synchronization during CUDA graph capture: {where}. A captured step must "
                           f"not wait for the device or read device values on the host (.item(), bool(t), "
                           f".cpu(), .numpy(), synchronize); move that out of the captured code")
    if _mode == 2:
        raise RuntimeError(f"called a synchronizing CUDA operation: {where}")
    if _mode == 1:
        warnings.warn(f"called a synchronizing CUDA operation: {where}", UserWarning, stacklevel=3)
