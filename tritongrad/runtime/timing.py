"""Torch-free GPU timing with CUDA events (host timestamps in interpreter mode).

`time_ms` times each call of a function between two events on the current stream, flushing the L2 cache
before each timed call by overwriting a 256 MB buffer, so every repeat starts cold as in
``triton.testing.do_bench``. `do_bench` is a drop-in for Triton's benchmarker (used by the autotuner
through tritongrad's Triton driver).
"""
from __future__ import annotations

import statistics

import numpy as np

from . import memory
from .device import synchronize
from .streams import Event

__all__ = ["L2_FLUSH_BYTES", "l2_flush_buffer", "flush_l2", "time_ms", "summarize", "do_bench"]

L2_FLUSH_BYTES = 256 * 1024 * 1024  # larger than the L2 cache of any GPU
_flush_buffers = {}                 # device index -> the flush buffer


def l2_flush_buffer():
    """The 256 MB buffer of the current device that `flush_l2` overwrites (allocated once)."""
    from .device import current_device
    dev = current_device()
    buf = _flush_buffers.get(dev)
    if buf is None:
        buf = _flush_buffers[dev] = memory.empty((L2_FLUSH_BYTES,), np.uint8)
    return buf


def flush_l2():
    """Evict the L2 cache by writing the whole flush buffer (``cuMemsetD8Async`` on the current stream)."""
    memory.fill_bytes(l2_flush_buffer(), 0)


def time_ms(fn, warmup=10, repeats=50, flush=True):
    """Run ``fn()`` ``warmup`` times, then time ``repeats`` calls with CUDA events, flushing L2 before each
    one if ``flush``. Returns the list of per-call times in milliseconds."""
    for _ in range(warmup):
        fn()
    starts = [Event(enable_timing=True) for _ in range(repeats)]
    ends = [Event(enable_timing=True) for _ in range(repeats)]
    for start, end in zip(starts, ends):
        if flush:
            flush_l2()
        start.record()
        fn()
        end.record()
    synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, ends)]


def _quantile(sorted_times, q):
    pos = q * (len(sorted_times) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_times) - 1)
    return sorted_times[lo] + (sorted_times[hi] - sorted_times[lo]) * (pos - lo)


def summarize(times, quantiles=None, return_mode="mean"):
    """Triton's summary of timings: the given ``quantiles`` (a list, or one value if one quantile), or the
    ``return_mode`` statistic: "min", "max", "mean", "median" or "all" (the list)."""
    if quantiles is not None:
        ordered = sorted(times)
        out = [_quantile(ordered, q) for q in quantiles]
        return out[0] if len(out) == 1 else out
    modes = {"min": min, "max": max, "mean": statistics.mean, "median": statistics.median, "all": list}
    if return_mode not in modes:
        raise ValueError(f"return_mode must be one of {sorted(modes)}, got {return_mode!r}")
    return modes[return_mode](times)


def do_bench(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None, return_mode="mean"):
    """``triton.testing.do_bench`` without torch: ``warmup`` and ``rep`` are target milliseconds, from
    which the numbers of calls are estimated; L2 is flushed before each timed call.

    As in Triton's, the estimate times five calls each with its L2 flush between one pair of events, so the
    flush counts toward ``rep``: for a kernel of microseconds the flush (a 256 MB memset) dominates, and an
    estimate of the kernel alone would make ``rep=100`` thousands of flushed calls (seconds per autotune
    config instead of about a tenth of one)."""
    fn()
    synchronize()
    start, end = Event(enable_timing=True), Event(enable_timing=True)
    start.record()
    for _ in range(5):
        flush_l2()
        fn()
    end.record()
    synchronize()
    estimate = start.elapsed_time(end) / 5
    n_warmup = max(1, int(warmup / estimate)) if estimate > 0 else 1000
    n_repeat = max(1, int(rep / estimate)) if estimate > 0 else 1000
    if grad_to_none is not None:
        inner = fn

        def fn():
            for x in grad_to_none:
                x.grad = None
            inner()
    return summarize(time_ms(fn, warmup=n_warmup, repeats=n_repeat), quantiles, return_mode)
