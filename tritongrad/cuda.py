"""`tritongrad.cuda`: the ``torch.cuda`` of tritongrad (devices, streams, events, memory, CUDA graphs).

Everything here is implemented in `tritongrad.runtime` over NVIDIA's cuda-bindings; no torch. Without a
GPU, ``TRITON_INTERPRET=1`` makes the "cuda" device host memory plus Triton's interpreter: then
`is_available` is True and `is_interpreter` tells the two apart.
"""
from __future__ import annotations

from .runtime import (CUDAGraph, Event, OutOfMemoryError, Stream, current_device, current_stream,
                      default_stream, device_count, empty_cache, get_device_capability, get_device_name, graph,
                      is_available, is_pinned, max_memory_allocated, mem_get_info, memory_allocated,
                      memory_reserved, pinned_empty, reset_peak_memory_stats, set_device, stream, synchronize)
from .runtime import interpreting as _interpreting
from .runtime.errors import CudaError

__all__ = ["is_available", "is_interpreter", "device_count", "current_device", "set_device", "get_device_name",
           "get_device_capability", "synchronize", "mem_get_info", "Stream", "Event", "stream",
           "current_stream", "default_stream", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "reset_peak_memory_stats", "empty_cache", "pinned_empty", "is_pinned", "CUDAGraph", "graph",
           "OutOfMemoryError", "CudaError"]


def is_interpreter():
    """True when the cuda device is Triton's interpreter on host memory (``TRITON_INTERPRET=1``), False on a
    real GPU. (No PyTorch counterpart.)"""
    return _interpreting()
