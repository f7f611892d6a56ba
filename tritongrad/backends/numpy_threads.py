"""Threads of the cpu device: the BLAS thread pool NumPy's matmuls run on, under PyTorch's names.

The cpu device's parallelism is NumPy's BLAS (OpenBLAS in NumPy's wheels, or MKL/BLIS in other builds): by
default it uses every core for each matrix product, as NumPy users expect; elementwise ops run on one thread,
as in NumPy. `set_num_threads` and `get_num_threads` (``torch.set_num_threads``/``torch.get_num_threads``)
change and read that pool at run time through threadpoolctl, whatever the BLAS. DataLoader worker processes
call ``set_num_threads(1)``, as PyTorch's do, so that N workers beside a training process do not each start
a pool as large as the machine (oversubscription).
"""
from __future__ import annotations

__all__ = ["set_num_threads", "get_num_threads"]

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
