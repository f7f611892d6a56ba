"""Helpers shared by the examples: picking the device, progress output, and loss/accuracy plots.

matplotlib and tqdm are optional (the ``examples`` extra): tqdm is used when importable, matplotlib is
imported only when ``--plot`` is given, and its absence is reported before any training starts.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import tritongrad

_MATPLOTLIB_MISSING = ("--plot needs matplotlib, which is not installed. Install it with `pip install matplotlib` "
                       "(or all the examples' extras with `pip install -e '.[examples]'`), or drop --plot.")


def resolve_device(name):
    """The `tritongrad.device` for ``--device``; exits with a hint when cuda is asked for but unavailable."""
    device = tritongrad.device(name)
    if device.type == "cuda" and not tritongrad.cuda.is_available():
        sys.exit(f"--device {name}: no CUDA GPU found. Use --device cpu, or run the cuda code path in Triton's "
                 f"interpreter (slow) with TRITON_INTERPRET=1 set in the environment.")
    return device


_BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads(device):
    """A context manager that, on cpu, runs NumPy's BLAS on one thread unless the user set a thread count in
    the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS).

    The examples' matrix products are small: threaded BLAS gains little on them, and on a busy 2-core machine
    its spinning threads made training 3-6x slower in our measurements. Uses threadpoolctl (installed with
    scikit-learn, part of the ``examples`` extra); without it, or on cuda, it changes nothing.
    """
    if device.type != "cpu" or any(v in os.environ for v in _BLAS_THREAD_VARS):
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def synchronize(device):
    """Wait for ``device``'s queued work (a no-op on cpu), so that wall-clock timings are honest."""
    if device.type == "cuda":
        tritongrad.cuda.synchronize()


def describe_device(device):
    """A short human description of where the example runs."""
    if device.type != "cuda":
        return "cpu (NumPy backend)"
    if tritongrad.cuda.is_interpreter():
        return "cuda in Triton's interpreter (TRITON_INTERPRET=1, slow)"
    return f"cuda ({tritongrad.cuda.get_device_name()})"


def require_matplotlib():
    """Import matplotlib with the non-interactive Agg backend; exit with install instructions if missing."""
    try:
        import matplotlib
    except ImportError:
        sys.exit(_MATPLOTLIB_MISSING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(path, panels, title=None):
    """Write line plots side by side to ``path`` (PNG): one axis per ``(xlabel, ylabel, series)`` in
    ``panels``, where ``series`` maps a legend label to ``(xs, ys)``."""
    plt = require_matplotlib()
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (xlabel, ylabel, series) in zip(axes[0], panels):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, label=label, marker="." if len(xs) < 50 else None)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot written to {path}")


class Progress:
    """A progress display over ``total`` units: a tqdm bar when tqdm is installed (and ``use_tqdm``), else
    one printed line every ``every`` units and at the end.

    ``update(n, **metrics)`` advances and shows the metrics; ``write(msg)`` prints a line without breaking the
    bar; use it as a context manager to close the bar.
    """

    def __init__(self, total, desc, every=1, initial=0, use_tqdm=True):
        self.total, self.desc, self.every, self.n = total, desc, max(1, every), initial
        self.start = time.perf_counter()
        self.bar = None
        if use_tqdm:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)

    def update(self, n=1, **metrics):
        self.n += n
        if self.bar is not None:
            if metrics:
                self.bar.set_postfix({k: _fmt(v) for k, v in metrics.items()}, refresh=False)
            self.bar.update(n)
        elif self.n % self.every == 0 or self.n == self.total:
            shown = "  ".join(f"{k} {_fmt(v)}" for k, v in metrics.items())
            print(f"{self.desc} {self.n:>{len(str(self.total))}}/{self.total}  {shown}  "
                  f"[{time.perf_counter() - self.start:.1f} s]", flush=True)

    def write(self, msg):
        if self.bar is not None:
            self.bar.write(msg)
        else:
            print(msg, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)
