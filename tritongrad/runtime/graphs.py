"""CUDA graphs (``torch.cuda.CUDAGraph``, ``torch.cuda.graph``): capture a whole step once, replay it.

    g = tritongrad.cuda.CUDAGraph()
    step(); step()                      # warm up first: kernels compile and load outside the capture
    with tritongrad.cuda.graph(g):
        loss = step()                   # recorded, not run
    g.replay()                          # runs the recorded work on the current stream; `loss` is updated

As in PyTorch, inputs must live in buffers allocated before the capture and be refilled in place between
replays; outputs are the buffers the captured code created. Memory allocated during the capture (with the
capturing stream current) comes from the graph's private pool (`capture`) and lives as long as the graph or
any of its output buffers: every replay writes the same addresses, so tensors made inside the capture (the
loss, gradients made by backward) are valid outputs. The pool, and the side stream it allocates on, belong to
the capturing stream: other threads allocating on their own streams meanwhile are not affected. Captures are
made in CUDA's "relaxed" mode by default because that pool allocates on its side stream during the capture.

Inside a capture, host data copied to the device (``tensor(..., device='cuda')``, the optimizer's and
gradient clipping's address tables) is snapshotted into graph-owned device memory and replayed as a
device-to-device copy of those values; a ``non_blocking`` copy from pinned memory reads the host buffer at
each replay instead. A host synchronization (``.item()``, a blocking device-to-host copy, ``synchronize``)
raises a RuntimeError naming the line (`sync`), leaving the stream usable after ``graph`` aborts the
capture. `tritongrad.cuda.make_graphed_step` packages warm-up, capture and replay of a training step.

In interpreter mode (``TRITON_INTERPRET=1``) the same API works with the same rules: the runtime records the
kernel launches, copies and memsets queued on the captured stream (kernel, grid, constexprs, and pointer
arguments as the addresses of the same buffers), runs none of them during the capture, and `replay` runs
exactly those, allocating nothing (see `capture`).
"""
from __future__ import annotations

import gc
import sys

from . import capture, errors, streams, sync
from .device import bindings, device_state, interpreting, synchronize
from .errors import call

__all__ = ["CUDAGraph", "graph", "is_current_stream_capturing"]

_CAPTURE_MODES = ("global", "thread_local", "relaxed")
_capture_streams = {}   # device index -> side stream used by `graph` when none is given


def is_current_stream_capturing():
    """``torch.cuda.is_current_stream_capturing``: True while this thread's current stream is being captured
    into a CUDA graph."""
    return capture.pool_of(streams.current_stream()) is not None


def _capture_mode(name):
    if name not in _CAPTURE_MODES:
        raise ValueError(f"capture_error_mode must be one of {_CAPTURE_MODES}, got {name!r}")
    if interpreting():
        return None
    return getattr(bindings().CUstreamCaptureMode, f"CU_STREAM_CAPTURE_MODE_{name.upper()}")


class CUDAGraph:
    """``torch.cuda.CUDAGraph``: an executable CUDA graph made by `capture_begin`/`capture_end`."""

    def __init__(self):
        self._graph = None
        self._exec = None
        self._pool = None
        self._stream = None

    def capture_begin(self, capture_error_mode="relaxed"):
        """Start capturing the work queued on the current (non-default) stream."""
        if self._exec is not None or self._stream is not None:
            raise RuntimeError("this CUDAGraph already holds a capture; call reset() before capturing again")
        s = streams.current_stream()
        if s.cuda_stream == 0:
            raise RuntimeError("cannot capture the default stream: use `with tritongrad.cuda.graph(g):`, which "
                               "captures on a side stream, or make another stream current first")
        mode = _capture_mode(capture_error_mode)
        if interpreting():
            capture.install_recorder()
        else:
            device_state(s.device)
        pool = capture.begin(s.device, s)
        if not interpreting():
            try:
                call(bindings().cuStreamBeginCapture, s.handle, mode)
            except BaseException:
                capture.end(pool)
                raise
        self._pool = pool
        self._stream = s
        sync.set_capturing(True)

    def _end_capture(self):
        s, self._stream = self._stream, None
        if s is None:
            raise RuntimeError("capture_end() without capture_begin()")
        sync.set_capturing(False)
        try:
            return None if interpreting() else call(bindings().cuStreamEndCapture, s.handle)
        finally:
            capture.end(self._pool)

    def capture_end(self):
        """Stop capturing and instantiate the graph."""
        self._graph = self._end_capture()
        if interpreting():
            self._exec = tuple(self._pool.ops)
            self._pool.ops = self._exec
        else:
            self._exec = call(bindings().cuGraphInstantiate, self._graph, 0)

    def abort_capture(self):
        """End a capture that failed half-way, leaving the stream usable; the graph is discarded."""
        s, self._stream = self._stream, None
        if s is None:
            return
        sync.set_capturing(False)
        try:
            if not interpreting():
                d = bindings()
                err, g = d.cuStreamEndCapture(s.handle)  # fails when the capture was invalidated: no graph then
                if not err and g is not None and int(g):
                    call(d.cuGraphDestroy, g)
        finally:
            capture.end(self._pool)
            self._pool = None

    def replay(self):
        """Launch the captured work on the current stream (no host synchronization). In interpreter mode:
        run the recorded operations now (or record this replay, when the current stream is itself being
        captured, as CUDA records a graph launch as a child graph)."""
        if self._exec is None:
            raise RuntimeError("replay() needs a captured graph: capture one with tritongrad.cuda.graph(g)")
        s = streams.current_stream()
        if interpreting():
            outer = capture.pool_of(s)
            if outer is not None:
                outer.record(self._pool.replay)
            else:
                self._pool.replay()
            return
        device_state(s.device)
        call(bindings().cuGraphLaunch, self._exec, s.handle)
        self._pool.release_stream = s

    def reset(self):
        """Destroy the graph; its private memory (and the side stream it was allocated on) is released once
        its output buffers are gone too."""
        if interpreting():
            self._exec = self._graph = None
        d = bindings() if self._exec is not None or self._graph is not None else None
        if self._exec is not None:
            call(d.cuGraphExecDestroy, self._exec)
            self._exec = None
        if self._graph is not None:
            call(d.cuGraphDestroy, self._graph)
            self._graph = None
        self._pool = None

    def __del__(self):
        if not sys.is_finalizing() and errors.sticky_error() is None and self._stream is None:
            self.reset()


class graph:
    """``torch.cuda.graph(cuda_graph, stream=None, capture_error_mode='relaxed')``: capture the block into
    ``cuda_graph``. Synchronizes the device and collects garbage first, keeps Python's cyclic GC off during
    the capture (a collected Triton kernel would unload its module, which invalidates a capture), and
    captures on ``stream`` or a side stream that first waits for the current stream."""

    def __init__(self, cuda_graph, pool=None, stream=None, capture_error_mode="relaxed"):
        if pool is not None:
            raise ValueError("sharing a memory pool between CUDA graphs is not supported: pass pool=None")
        self.cuda_graph = cuda_graph
        self.stream = stream
        self.capture_error_mode = capture_error_mode
        self._ctx = None
        self._gc_enabled = False

    def __enter__(self):
        synchronize()
        gc.collect()
        self._gc_enabled = gc.isenabled()
        gc.disable()
        outer = streams.current_stream()
        s = self.stream
        if s is None:
            s = _capture_streams.get(outer.device)
            if s is None:
                s = _capture_streams[outer.device] = streams.Stream(outer.device)
        s.wait_stream(outer)
        self._ctx = streams.stream(s)
        self._ctx.__enter__()
        try:
            self.cuda_graph.capture_begin(capture_error_mode=self.capture_error_mode)
        except BaseException:
            self._restore()
            raise
        return self.cuda_graph

    def _restore(self):
        self._ctx.__exit__(None, None, None)
        if self._gc_enabled:
            gc.enable()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.cuda_graph.capture_end()
            else:
                self.cuda_graph.abort_capture()
        finally:
            self._restore()
        return False
