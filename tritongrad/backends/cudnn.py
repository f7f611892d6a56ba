"""``tritongrad.backends.cudnn`` (``torch.backends.cudnn``): the flags scripts set, accepted and recorded.

tritongrad does not use cuDNN: its convolutions are its own implicit-GEMM Triton kernels, which are
deterministic (no atomics in conv) and need no autotuning, so ``benchmark`` and ``deterministic`` change
nothing, ``allow_tf32`` is recorded (tritongrad's convolutions compute float32 in IEEE float32), and
`is_available` is False.
"""
from __future__ import annotations

__all__ = ["enabled", "benchmark", "deterministic", "allow_tf32", "is_available", "version"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    """False: tritongrad runs no cuDNN (``torch.backends.cudnn.is_available``)."""
    return False


def version():
    """None: no cuDNN is loaded (``torch.backends.cudnn.version``)."""
    return None
