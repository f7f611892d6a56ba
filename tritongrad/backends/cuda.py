"""``tritongrad.backends.cuda`` (``torch.backends.cuda``): the float32 matmul precision switch and the
scaled-dot-product-attention backend switches scripts set.

``matmul.allow_tf32`` is wired to tritongrad's float32 matmul precision (True = 'high': tf32 tensor cores for
float32 matmuls on cuda; False = 'highest'), exactly as PyTorch ties it to
``torch.set_float32_matmul_precision``. The reduced-precision-reduction flags and the SDPA backend switches
are accepted and recorded: tritongrad has one flash-attention kernel and accumulates fp16/bf16 matmuls in
fp32 regardless.
"""
from __future__ import annotations

import contextlib

__all__ = ["matmul", "is_built", "flash_sdp_enabled", "enable_flash_sdp", "mem_efficient_sdp_enabled",
           "enable_mem_efficient_sdp", "math_sdp_enabled", "enable_math_sdp", "cudnn_sdp_enabled",
           "enable_cudnn_sdp", "sdp_kernel"]


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` (tritongrad's float32 matmul precision),
    ``allow_fp16_reduced_precision_reduction`` and ``allow_bf16_reduced_precision_reduction`` (recorded)."""

    _names = ("allow_tf32", "allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")

    def __init__(self):
        object.__setattr__(self, "_reduced", {"allow_fp16_reduced_precision_reduction": True,
                                              "allow_bf16_reduced_precision_reduction": True})

    def __getattr__(self, name):
        if name == "allow_tf32":
            from .. import get_float32_matmul_precision
            return get_float32_matmul_precision() != "highest"
        if name in self._reduced:
            return self._reduced[name]
        raise AttributeError(f"torch.backends.cuda.matmul has no attribute {name!r} (tritongrad knows "
                             f"{', '.join(self._names)})")

    def __setattr__(self, name, value):
        if name == "allow_tf32":
            from .. import set_float32_matmul_precision
            set_float32_matmul_precision("high" if value else "highest")
        elif name in self._reduced:
            self._reduced[name] = bool(value)
        else:
            raise AttributeError(f"torch.backends.cuda.matmul has no attribute {name!r} (tritongrad knows "
                                 f"{', '.join(self._names)})")


matmul = _MatmulFlags()
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built():
    """True: tritongrad's cuda device needs no CUDA build of its own (``torch.backends.cuda.is_built``)."""
    return True


def flash_sdp_enabled():
    """``torch.backends.cuda.flash_sdp_enabled`` (recorded; tritongrad always runs its flash kernel)."""
    return _sdp["flash"]


def enable_flash_sdp(enabled):
    """``torch.backends.cuda.enable_flash_sdp`` (recorded only)."""
    _sdp["flash"] = bool(enabled)


def mem_efficient_sdp_enabled():
    """``torch.backends.cuda.mem_efficient_sdp_enabled`` (recorded)."""
    return _sdp["mem_efficient"]


def enable_mem_efficient_sdp(enabled):
    """``torch.backends.cuda.enable_mem_efficient_sdp`` (recorded only)."""
    _sdp["mem_efficient"] = bool(enabled)


def math_sdp_enabled():
    """``torch.backends.cuda.math_sdp_enabled`` (recorded)."""
    return _sdp["math"]


def enable_math_sdp(enabled):
    """``torch.backends.cuda.enable_math_sdp`` (recorded only)."""
    _sdp["math"] = bool(enabled)


def cudnn_sdp_enabled():
    """``torch.backends.cuda.cudnn_sdp_enabled`` (recorded)."""
    return _sdp["cudnn"]


def enable_cudnn_sdp(enabled):
    """``torch.backends.cuda.enable_cudnn_sdp`` (recorded only)."""
    _sdp["cudnn"] = bool(enabled)


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """``torch.backends.cuda.sdp_kernel`` (deprecated in PyTorch): sets the switches for a region."""
    prev = dict(_sdp)
    _sdp.update(flash=bool(enable_flash), math=bool(enable_math), mem_efficient=bool(enable_mem_efficient),
                cudnn=bool(enable_cudnn))
    try:
        yield
    finally:
        _sdp.update(prev)
