"""Backends: ``numpy`` (cpu, the reference) and ``triton`` (cuda). `backend_for` picks one per device.

Each backend class is the core interface (`base.Backend`: storage, elementwise, reductions, matmul,
indexing) plus the fused nn ops (``*_nn_a``: norms, cross-entropy, dropout, batch norm; ``*_nn_b``:
attention, conv2d, pooling) and the optimizer steps (``*_optim``). The Triton one is imported only when a
cuda tensor is first made, so ``TRITON_INTERPRET`` can be set before any kernel is decorated.
"""
from __future__ import annotations

import threading

__all__ = ["backend_for", "cpu_backend", "cuda_backend"]

_cpu = None
_cuda = None
_lock = threading.RLock()   # one instance per device type even when threads ask first at once


def cpu_backend():
    """The NumPy reference backend instance."""
    global _cpu
    if _cpu is not None:
        return _cpu
    with _lock:
        if _cpu is not None:
            return _cpu
        from .numpy import NumpyBackend
        from .numpy_nn_a import NumpyNNA
        from .numpy_nn_b import NumpyNNB
        from .numpy_optim import NumpyOptim

        class CPUBackend(NumpyNNA, NumpyNNB, NumpyOptim, NumpyBackend):
            """The cpu backend: NumPy reference for every op."""

        _cpu = CPUBackend()
    return _cpu


def cuda_backend():
    """The Triton backend instance (checks that a GPU or Triton's interpreter is available)."""
    global _cuda
    if _cuda is not None:
        return _cuda
    with _lock:
        if _cuda is not None:
            return _cuda
        from .. import runtime
        if not runtime.interpreting():
            runtime.device_state()  # opens the GPU and installs tritongrad's Triton driver; raises without one
        from .triton import TritonBackend
        from .triton_nn_a import TritonNNA
        from .triton_nn_b import TritonNNB
        from .triton_optim import TritonOptim

        class CUDABackend(TritonNNA, TritonNNB, TritonOptim, TritonBackend):
            """The cuda backend: a Triton kernel for every op."""

        from ..runtime import interpreter_threads
        interpreter_threads.install()   # interpreter mode: Triton's interpreter runs one launch at a time safely
        _cuda = CUDABackend()
    return _cuda


def backend_for(device):
    """The backend that computes for ``device`` (a `tritongrad.device`)."""
    if device.type == "cpu":
        return _cpu if _cpu is not None else cpu_backend()
    return _cuda if _cuda is not None else cuda_backend()
