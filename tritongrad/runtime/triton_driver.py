"""tritongrad's Triton driver: Triton's CUDA driver, told about tritongrad's device and stream, without torch.

Triton asks ``triton.runtime.driver.active`` on every launch for the current device, the current stream
of that device and the compile target. Its stock NVIDIA driver answers through torch in Triton 3.6
(``GPUDriver.__init__`` imports torch, and ``CudaDriver.is_active()`` is False without it), and in 3.9 it
falls back to the device's default stream, knowing nothing of tritongrad's streams. `TritongradCudaDriver`
keeps Triton's launcher and compiled utilities (``CudaUtils``, ``CudaLauncher``) and answers those
questions from `tritongrad.runtime`, so kernels launch on tritongrad's current stream. It is installed with
``triton.runtime.driver.set_active`` when the cuda device is first used. In interpreter mode launches do
not use a driver, but Triton's tools do (``get_active_torch_device``, ``triton.testing.do_bench``, the
autotuner's benchmarking): the driver is installed there too, without compiled utilities, and answers no
compile target (``tl.target_info`` then says "no target", as with no driver).

Works with Triton 3.6 through 3.9: ``CudaDriver.__init__`` is not called (3.6 would import torch there);
what it sets up -- ``utils`` and ``launcher_cls`` -- is set here, and every query torch answered is a
method of this class.
"""
from __future__ import annotations

import numpy as np
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.driver import CudaDriver, CudaLauncher, CudaUtils

from . import device as _device
from . import memory, streams, timing

__all__ = ["TritongradCudaDriver", "target_from_capability", "install"]


def target_from_capability(capability):
    """Triton's compile target for a device of compute capability ``(major, minor)``: (9, 0) -> sm_90."""
    major, minor = capability
    return GPUTarget("cuda", major * 10 + minor, 32)


class TritongradCudaDriver(CudaDriver):
    """Triton's ``CudaDriver`` reporting tritongrad's current device, stream and capability; no torch.

    ``utils`` defaults to Triton's compiled ``CudaUtils`` (needs the NVIDIA driver library); tests without
    a GPU may pass another object.
    """

    def __init__(self, utils=None):
        self.utils = CudaUtils() if utils is None else utils
        self.launcher_cls = CudaLauncher

    @staticmethod
    def is_active():
        return True

    def get_current_device(self):
        """This thread's current device; its primary context is made current in this thread too (Triton's
        module load and ``cuLaunchKernel`` use the thread's current context, and a thread that launches
        on buffers it did not allocate would otherwise have none)."""
        index = _device.current_device()
        if not _device.interpreting():
            _device.device_state(index)
        return index

    def set_current_device(self, device):
        _device.set_device(device)

    def get_current_stream(self, device=None):
        return streams.current_stream(device).cuda_stream

    def get_device_capability(self, device=None):
        return _device.get_device_capability(device)

    def get_current_target(self):
        if _device.interpreting():      # kernels are interpreted, not compiled: no target, as with no driver
            return None
        return target_from_capability(self.get_device_capability(self.get_current_device()))

    def get_device_interface(self):
        """The ``torch.cuda``-like module Triton's benchmarking uses: `tritongrad.cuda`."""
        from .. import cuda
        return cuda

    def get_active_torch_device(self):
        """The current cuda device as a `tritongrad.device`: what Triton's tutorials pass as ``device=`` to
        the framework's factories (``DEVICE = driver.active.get_active_torch_device()``)."""
        from ..device import device
        return device("cuda", self.get_current_device())

    def get_benchmarker(self):
        return timing.do_bench

    def get_empty_cache_for_benchmark(self):
        return timing.l2_flush_buffer()

    def clear_cache(self, cache):
        memory.fill_bytes(cache, 0)

    def allocate_default_profile_scratch(self, size, alignment, stream):
        return memory.empty((size,), np.uint8)


def _scratch_allocator(size, alignment, stream):
    """Global scratch memory Triton asks for some kernels (``triton.set_allocator``); pool allocations are
    aligned to at least 256 bytes."""
    return memory.empty((size,), np.uint8)


def _install_scratch_allocator():
    import triton
    from triton.runtime import _allocation
    current = getattr(_allocation, "_allocator", None)
    current = current.get() if hasattr(current, "get") else current
    if isinstance(current, _allocation.NullAllocator) and hasattr(triton, "set_allocator"):
        triton.set_allocator(_scratch_allocator)


class _NoGpuUtils:
    """The driver's ``utils`` in interpreter mode: Triton's compiled CUDA utilities need a GPU."""

    def __getattr__(self, name):
        raise AttributeError(f"triton.runtime.driver.active.utils.{name} needs a GPU: in interpreter mode "
                             f"(TRITON_INTERPRET=1) tritongrad's Triton driver has no compiled CUDA utilities")


_installed = None


def install():
    """Make `TritongradCudaDriver` Triton's active driver (once); on a GPU, also give Triton a scratch
    allocator."""
    global _installed
    if _installed is None:
        from triton.runtime import driver
        interpreting = _device.interpreting()
        _installed = TritongradCudaDriver(utils=_NoGpuUtils() if interpreting else None)
        driver.set_active(_installed)
        if not interpreting:
            _install_scratch_allocator()
    return _installed
