"""The cpu device's runtime: the BLAS thread pool NumPy's matmuls run on (under PyTorch's names), and the
malloc policy that keeps a training step's temporaries from being faulted in anew every step.

The cpu device's parallelism is NumPy's BLAS (OpenBLAS in NumPy's wheels, or MKL/BLIS in other builds): by
default it uses every core for each matrix product, as NumPy users expect; elementwise ops run on one thread,
as in NumPy. `set_num_threads` and `get_num_threads` (``torch.set_num_threads``/``torch.get_num_threads``)
change and read that pool at run time through threadpoolctl, whatever the BLAS. DataLoader worker processes
call ``set_num_threads(1)``, as PyTorch's do, so that N workers beside a training process do not each start
a pool as large as the machine (oversubscription).
"""
from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["set_num_threads", "get_num_threads", "keep_freed_memory"]

_limits = []
"""The threadpoolctl limiter `set_num_threads` installed last (kept alive: it is the current setting)."""


def _numpy_blas(info):
    return info.get("user_api") == "blas"


def set_num_threads(num_threads):
    """Set the number of threads NumPy's BLAS uses for the cpu device's matrix products
    (``torch.set_num_threads``: intra-op parallelism on CPU). Applies to the whole process."""
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {num_threads!r}")
    from threadpoolctl import threadpool_limits
    _limits[:] = [threadpool_limits(limits=num_threads, user_api="blas")]


def get_num_threads():
    """The number of threads NumPy's BLAS uses (``torch.get_num_threads``); 1 when no BLAS thread pool is
    loaded (a single-threaded BLAS)."""
    import numpy  # noqa: F401  (loads the BLAS, so that threadpoolctl sees it)
    from threadpoolctl import threadpool_info
    counts = [info["num_threads"] for info in threadpool_info() if _numpy_blas(info)]
    return max(counts, default=1)


_M_TOP_PAD = -2                # mallopt parameter number in glibc's malloc.h
_TOP_PAD_BYTES = 64 << 20


def keep_freed_memory():
    """Ask glibc's malloc to keep 64 MiB of freed heap instead of returning it to the OS at every ``free``.

    A training step allocates and frees the same megabyte-sized temporaries every step; with glibc's
    defaults the heap top is trimmed and grown again each time and every page of every temporary is faulted in
    anew (about 4,500 page faults and a third of the CPU time of the small GPT step). ``M_TOP_PAD`` keeps that
    memory mapped, as a caching allocator would. Only on glibc, and not when the user tuned malloc through the
    environment (``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES``) or set ``TRITONGRAD_CPU_MALLOC=default``."""
    if (platform.system() != "Linux" or platform.libc_ver()[0] != "glibc"
            or os.environ.get("TRITONGRAD_CPU_MALLOC") == "default"
            or "MALLOC_TOP_PAD_" in os.environ or "GLIBC_TUNABLES" in os.environ):
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(_M_TOP_PAD, _TOP_PAD_BYTES))
    except (OSError, AttributeError):
        return False
