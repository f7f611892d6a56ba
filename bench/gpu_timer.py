"""Torch-free GPU timing for the benchmarks: CUDA events, warmup, repeats, median, L2 flushed between repeats.

    from bench.gpu_timer import benchmark, copy_bandwidth
    t = benchmark(lambda: kernels.elementwise.add_fwd(a, b), warmup=10, repeats=50)
    print(t.median_ms, copy_bandwidth()["gb_per_s"])

Each timed call is bracketed by two CUDA events on the current stream, and the L2 cache is flushed before
it by writing a 256 MB buffer (``cuMemsetD8Async``), see `tritongrad.runtime.timing`. The hardware
ceiling for memory-bound kernels is `copy_bandwidth`: a device-to-device ``cuMemcpyDtoDAsync`` of a large
buffer, counting bytes read plus bytes written, measured in the same run as the kernels it judges.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from tritongrad import runtime
from tritongrad.runtime import timing

__all__ = ["Timing", "benchmark", "copy_bandwidth", "gb_per_s", "tflop_per_s"]


@dataclass(frozen=True)
class Timing:
    """Per-call times in milliseconds of one benchmark and their summary."""

    times_ms: tuple

    @property
    def median_ms(self):
        return statistics.median(self.times_ms)

    @property
    def min_ms(self):
        return min(self.times_ms)

    @property
    def mean_ms(self):
        return statistics.mean(self.times_ms)

    def as_dict(self):
        return {"median_ms": self.median_ms, "min_ms": self.min_ms, "mean_ms": self.mean_ms,
                "repeats": len(self.times_ms)}


def benchmark(fn, warmup=10, repeats=50, flush_l2=True):
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` calls each between CUDA events, with the
    L2 cache flushed before each one unless ``flush_l2`` is False (e.g. for launch overhead)."""
    return Timing(tuple(timing.time_ms(fn, warmup=warmup, repeats=repeats, flush=flush_l2)))


def gb_per_s(nbytes, ms):
    """Bandwidth in GB/s (10^9 bytes per second) of moving ``nbytes`` in ``ms`` milliseconds."""
    return nbytes / (ms * 1e-3) / 1e9


def tflop_per_s(flops, ms):
    """Throughput in TFLOP/s of ``flops`` floating-point operations in ``ms`` milliseconds."""
    return flops / (ms * 1e-3) / 1e12


def copy_bandwidth(nbytes=1 << 30, warmup=3, repeats=20):
    """The device-to-device copy bandwidth ceiling: a ``nbytes`` ``cuMemcpyDtoDAsync``, timed as
    `benchmark` does; GB/s counts the bytes read and the bytes written (2 * nbytes per copy).

    Returns ``{"nbytes", "median_ms", "gb_per_s"}``.
    """
    src = runtime.empty((nbytes,), np.uint8)
    dst = runtime.empty((nbytes,), np.uint8)
    runtime.fill_bytes(src, 1)
    t = benchmark(lambda: runtime.copy_device_to_device(dst, src), warmup=warmup, repeats=repeats)
    return {"nbytes": nbytes, "median_ms": t.median_ms, "gb_per_s": gb_per_s(2 * nbytes, t.median_ms)}
