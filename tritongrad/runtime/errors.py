"""CUDA errors: every CUresult checked with a message naming the call; out-of-memory and sticky errors.

A *sticky* error (an illegal address, a failed launch, a device-side assert, ...) leaves the CUDA context
unusable: every later CUDA call in the process fails. It is usually reported by a later, unrelated call,
because kernels run asynchronously. The first sticky error is remembered, and every later runtime call
raises at once with the original report instead of touching the broken context (or hanging on it).
"""
from __future__ import annotations

__all__ = ["CudaError", "OutOfMemoryError", "format_bytes", "format_cuda_error", "format_out_of_memory",
           "check", "call", "raise_if_sticky", "sticky_error"]

# Errors after which the context is corrupt and the process must be restarted.
STICKY_ERRORS = frozenset({
    "CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED", "CUDA_ERROR_MISALIGNED_ADDRESS",
    "CUDA_ERROR_ILLEGAL_INSTRUCTION", "CUDA_ERROR_INVALID_ADDRESS_SPACE", "CUDA_ERROR_INVALID_PC",
    "CUDA_ERROR_HARDWARE_STACK_ERROR", "CUDA_ERROR_ASSERT", "CUDA_ERROR_LAUNCH_TIMEOUT",
    "CUDA_ERROR_ECC_UNCORRECTABLE", "CUDA_ERROR_NVLINK_UNCORRECTABLE", "CUDA_ERROR_CONTAINED",
    "CUDA_ERROR_TENSOR_MEMORY_LEAK", "CUDA_ERROR_EXTERNAL_DEVICE",
})


class CudaError(RuntimeError):
    """A CUDA driver call failed. ``call`` names it, ``code`` is the CUresult name, ``sticky`` says whether
    the context is now unusable."""

    def __init__(self, message, call=None, code=None, sticky=False):
        super().__init__(message)
        self.call = call
        self.code = code
        self.sticky = sticky


class OutOfMemoryError(CudaError):
    """``torch.cuda.OutOfMemoryError``: a device allocation failed even after the cache was emptied."""


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n):
    """``1536`` -> ``'1.50 KiB'`` (binary units)."""
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024.0 or unit == _UNITS[-1]:
            return f"{int(n)} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024.0


def format_out_of_memory(requested, free, total, allocated, reserved, device=0):
    """The message of `OutOfMemoryError`: size asked for, device free/total, tritongrad allocated/reserved."""
    return (f"CUDA out of memory on device {device}: tried to allocate {format_bytes(requested)} "
            f"({requested} bytes). The device has {format_bytes(free)} free of {format_bytes(total)} total; "
            f"tritongrad has {format_bytes(allocated)} allocated by live tensors and {format_bytes(reserved)} "
            f"reserved by its caching pool (already released and retried once). Free tensors you no longer "
            f"need or reduce the batch size.")


def format_cuda_error(call, code, name, description, sticky):
    """The message of a failed CUDA call ``call`` returning CUresult ``code`` (``name``, ``description``)."""
    msg = f"CUDA error in {call}: {description or 'unknown error'} ({name}, code {int(code)})."
    if sticky:
        msg += (" This error is sticky: the CUDA context is now unusable and every later CUDA call in this "
                "process will fail, so restart the process. Kernel errors are reported asynchronously, so "
                "it may be reported late, by a call after the one that caused it; to find the faulty kernel "
                "rerun with CUDA_LAUNCH_BLOCKING=1 (every launch then waits for its kernel).")
    return msg


_sticky = None  # the CudaError of the first sticky error, once one happened


def sticky_error():
    """The first sticky `CudaError` seen by this process, or None."""
    return _sticky


def raise_if_sticky():
    """Fail fast after a sticky error: raise a `CudaError` repeating the original report."""
    if _sticky is not None:
        raise CudaError(f"an earlier CUDA error left the context unusable, so no further CUDA work can run "
                        f"in this process. The original error: {_sticky}", call=_sticky.call,
                        code=_sticky.code, sticky=True) from _sticky


def _describe(code):
    from cuda.bindings import driver
    try:
        err, text = driver.cuGetErrorString(code)
        return text.decode() if not err and text else ""
    except Exception:  # no usable driver to describe it; the name still identifies the error
        return ""


def error_for(code, call):
    """A `CudaError` for CUresult ``code`` returned by ``call``; remembers it when sticky."""
    global _sticky
    name = getattr(code, "name", str(code))
    sticky = name in STICKY_ERRORS
    err = CudaError(format_cuda_error(call, code, name, _describe(code), sticky), call=call, code=name,
                    sticky=sticky)
    if sticky and _sticky is None:
        _sticky = err
    return err


def check(result, call):
    """Check a cuda-bindings result tuple ``(CUresult, *values)``; return None, the value, or the values."""
    if result[0]:
        raise error_for(result[0], call)
    n = len(result)
    return None if n == 1 else result[1] if n == 2 else result[1:]


def call(fn, *args):
    """Call the cuda-bindings function ``fn(*args)`` and `check` its result, naming ``fn`` on error."""
    if _sticky is not None:
        raise_if_sticky()
    return check(fn(*args), fn.__name__)
