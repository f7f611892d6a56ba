"""GPU runtime over cuda-bindings, and host-memory buffers for Triton's interpreter.

Public API used by the layers above (kernels, backends, Tensor), exposed to users as `tritongrad.cuda`:

* ``interpreting()`` -- True when ``TRITON_INTERPRET=1``: the cuda device then lives in host memory and
  every Triton kernel runs in Triton's interpreter.
* ``empty(shape, dtype, device=None)`` -- a new C-contiguous `DeviceArray` on the current (or given) device,
  from the stream-ordered caching allocator (`memory`).
* ``copy_host_to_device(dst, src, non_blocking=False, stream=None)``, ``copy_device_to_host(...)``,
  ``copy_device_to_device(...)`` -- contiguous copies between a `DeviceArray` and a NumPy array / another
  `DeviceArray`, ordered on the current stream; ``fill_bytes`` -- memset.
* devices (`device`), streams and events (`streams`), memory statistics and pinned host memory
  (`memory`), CUDA graphs (`graphs`), host-synchronization accounting (`sync`:
  ``count_host_syncs``, ``set_sync_debug_mode``), errors (`errors`; bad indices found by kernels: `error_word`),
  the GPU's launch rules enforced in interpreter mode (`launch`), event timing (`timing`) and
  tritongrad's Triton driver (`triton_driver`, installed on first use of a GPU).

A cuda operation with neither a GPU nor interpreter mode raises a RuntimeError suggesting
``TRITON_INTERPRET=1``.
"""
from __future__ import annotations

from .array import Buffer, DeviceArray, HostBuffer, contiguous_strides
from .device import (current_device, device_count, get_device_capability, get_device_name, interpreting,
                     is_available, mem_get_info, set_device, synchronize)
from .errors import CudaError, OutOfMemoryError
from .graphs import CUDAGraph, graph, is_current_stream_capturing
from .memory import (CudaBuffer, copy_device_to_device, copy_device_to_host, copy_host_to_device, empty,
                     empty_cache, fill_bytes, is_pinned, max_memory_allocated, memory_allocated,
                     memory_reserved, pinned_empty, record_stream, reset_peak_memory_stats)
from .streams import Event, Stream, current_stream, default_stream, stream
from .sync import HostSyncCounter, count_host_syncs, get_sync_debug_mode, set_sync_debug_mode

__all__ = ["Buffer", "DeviceArray", "HostBuffer", "CudaBuffer", "contiguous_strides", "interpreting", "empty",
           "copy_host_to_device", "copy_device_to_host", "copy_device_to_device", "fill_bytes",
           "is_available", "device_count", "current_device", "set_device", "get_device_name",
           "get_device_capability", "synchronize", "mem_get_info", "Stream", "Event", "stream",
           "current_stream", "default_stream", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "reset_peak_memory_stats", "empty_cache", "pinned_empty", "is_pinned", "record_stream",
           "CUDAGraph", "graph", "is_current_stream_capturing",
           "count_host_syncs", "HostSyncCounter", "set_sync_debug_mode", "get_sync_debug_mode", "CudaError",
           "OutOfMemoryError"]
