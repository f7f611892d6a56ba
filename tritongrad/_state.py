"""Per-thread state, as PyTorch keeps it per thread: one `threading.local` object, ``tls``.

PyTorch keeps grad mode, inference mode and autocast state in thread-local storage (``AutogradState``,
``at::autocast``'s TLS): a new thread starts with grad mode on, inference mode off and autocast off, whatever
the thread that started it had. tritongrad does the same; every such switch reads and writes ``tls`` (the
hot path reads ``tls.grad_enabled`` once per recorded op). Add a new per-thread setting here, as an attribute
with its new-thread default in ``_ThreadState.__init__``, so all of them live in one place.

Process-wide state stays process-wide where PyTorch's is too: the default dtype, the float32 matmul
precision and anomaly detection are global in PyTorch; the default random generators are shared and locked
(`tritongrad.random`).
"""
from __future__ import annotations

import threading

__all__ = ["tls"]


class _ThreadState(threading.local):
    """The state of the calling thread; ``__init__`` runs once in each thread, giving PyTorch's defaults."""

    def __init__(self):
        self.grad_enabled = True        # torch.is_grad_enabled()
        self.inference_mode = False     # torch.is_inference_mode_enabled()
        self.mode_stack = []            # the modes to restore when each active grad-mode block exits


tls = _ThreadState()
