"""Backends: ``numpy`` (cpu, the reference) and ``triton`` (cuda). `backend_for` picks one per device.

The package also answers PyTorch's ``torch.backends`` namespace: ``backends.cuda`` (``matmul.allow_tf32``
and the attention switches), ``backends.cudnn`` and ``backends.mps``; any other name is a clear
AttributeError.

Each backend class is the core interface (`base.Backend`: storage, elementwise, reductions, matmul,
indexing) plus the fused nn ops (``*_nn_a``: norms, cross-entropy, dropout, batch norm; ``*_nn_b``:
attention, conv2d, pooling; ``*_nn_rnn``: the recurrent time loop) and the optimizer steps (``*_optim``).
The Triton one is imported only when a cuda tensor is first made, so ``TRITON_INTERPRET`` can be set before
any kernel is decorated.
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
        from .numpy_extra import NumpyExtra
        from .numpy_nn_b import NumpyNNB
        from .numpy_nn_rnn import NumpyNNRNN
        from .numpy_optim import NumpyOptim
        from .numpy_optim_b import NumpyOptimB

        class CPUBackend(NumpyExtra, NumpyNNA, NumpyNNB, NumpyNNRNN, NumpyOptim, NumpyOptimB, NumpyBackend):
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
        from ..runtime import triton_driver
        from ..runtime.device import device_state
        if runtime.interpreting():
            triton_driver.install()   # for Triton's tools (do_bench, the autotuner, get_active_torch_device)
        else:
            device_state()  # opens the GPU and installs tritongrad's Triton driver; raises without one
        from .triton import TritonBackend
        from .triton_extra import TritonExtra
        from .triton_nn_a import TritonNNA
        from .triton_nn_b import TritonNNB
        from .triton_nn_rnn import TritonNNRNN
        from .triton_optim import TritonOptim
        from .triton_optim_b import TritonOptimB

        class CUDABackend(TritonExtra, TritonNNA, TritonNNB, TritonNNRNN, TritonOptim, TritonOptimB,
                          TritonBackend):
            """The cuda backend: a Triton kernel for every op."""

        from ..runtime import interpreter_threads
        interpreter_threads.install()   # interpreter mode: Triton's interpreter runs one launch at a time safely
        _cuda = CUDABackend()
    return _cuda


_TORCH_NAMESPACES = ("cuda", "cudnn", "mps")


def __getattr__(name):
    if name in _TORCH_NAMESPACES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"tritongrad.backends has no {name!r}: of PyTorch's torch.backends it provides "
                         f"{', '.join(_TORCH_NAMESPACES)}")


def backend_for(device):
    """The backend that computes for ``device`` (a `tritongrad.device`)."""
    if device.type == "cpu":
        return _cpu if _cpu is not None else cpu_backend()
    return _cuda if _cuda is not None else cuda_backend()
