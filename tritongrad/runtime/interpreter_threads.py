"""Interpreter mode: one kernel launch at a time across threads.

Triton's interpreter is not thread-safe: a launch patches ``triton.language`` process-wide for its
duration and keeps the grid position in a module-level builder, so two threads launching at once break
each other's kernels (``ValueError: Did you forget to add @triton.jit ?``). `install` wraps
``InterpretedFunction.run`` (the call every interpreted launch goes through) in one process-wide lock, so
threads may run cuda work concurrently in interpreter mode as they may on a GPU, where launches of compiled
kernels are thread-safe (each thread launching on its own current stream).
"""
from __future__ import annotations

import threading

from .device import interpreting

__all__ = ["install"]

_launch_lock = threading.RLock()
_installed = False


def install():
    """In interpreter mode, serialize kernel launches across threads; idempotent, a no-op on a GPU."""
    global _installed
    if _installed or not interpreting():
        return
    with _launch_lock:
        if _installed:
            return
        from triton.runtime.interpreter import InterpretedFunction
        run = InterpretedFunction.run

        def run_locked(self, *args, **kwargs):
            with _launch_lock:
                return run(self, *args, **kwargs)

        run_locked.__doc__ = run.__doc__
        InterpretedFunction.run = run_locked
        _installed = True
