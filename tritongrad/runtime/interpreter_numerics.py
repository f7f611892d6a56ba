"""Triton's interpreter computes a few things differently from a GPU; this makes it compute them as the GPU
does, so that kernels need no interpreter-only branches and a test in interpreter mode checks the GPU's
numerics:

* **Casts to and from bf16.** The interpreter stores bf16 as uint16 bit patterns but converts fp32 -> bf16
  by truncation, and between bf16 and any type other than fp32 it converts the raw integer instead of the
  value (bf16 -> fp64 gives the bit pattern as a number; fp64/fp16/int -> bf16 store the value as bits).
  A GPU rounds to nearest even (``cvt.rn.bf16.f32``) and converts values. Here every cast with a bf16 side
  goes through ml_dtypes' bfloat16, which converts values with round-to-nearest-even.
* **bf16 ``tl.dot``.** The interpreter multiplies the uint16 bit patterns; here the operands are widened to
  fp32 first (exact), then multiplied with fp32 accumulation, as tensor cores do.
* **tf32 ``tl.dot``.** The interpreter ignores ``input_precision`` (tf32 and ieee give the same numbers);
  tensor cores read tf32 operands with 10 mantissa bits. Here fp32 operands of a ``"tf32"`` dot are rounded
  to tf32 first (to nearest, ties away from zero, as ``cvt.rna.tf32.f32``), so ``allow_tf32`` makes the
  difference of the expected size in tests too (relative error ~1e-3 instead of ~1e-7).

`install` replaces three methods of the interpreter's builder class (``cast_impl``, ``create_fp_to_fp``,
``create_dot``), delegating every case it does not change to the original. Interpreter mode only; nothing
changes for compiled kernels.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = ["install", "round_to_tf32"]

_BF16 = np.dtype(ml_dtypes.bfloat16)
_installed = False


def round_to_tf32(x):
    """fp32 array ``x`` rounded to tf32 (10 explicit mantissa bits; to nearest, ties away from zero, as
    ``cvt.rna.tf32.f32``), returned as fp32. inf and nan pass unchanged."""
    x = np.ascontiguousarray(x, np.float32)
    bits = x.view(np.uint32)
    rounded = ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)
    return np.where(np.isfinite(x), rounded, x)


def install():
    """Make Triton's interpreter compute bf16 casts, bf16 dots and tf32 dots as a GPU does (idempotent)."""
    global _installed
    if _installed:
        return
    import triton.language as tl
    from triton._C.libtriton import ir
    from triton.runtime.interpreter import InterpreterBuilder, TensorHandle, _get_np_dtype

    def as_values(handle):
        """The handle's data as NumPy values (bf16 bit patterns viewed as ml_dtypes' bfloat16)."""
        return handle.data.view(_BF16) if handle.dtype.scalar == tl.bfloat16 else handle.data

    def from_values(values, dst):
        if dst.scalar == tl.bfloat16:
            return TensorHandle(values.astype(_BF16).view(np.uint16), dst.scalar)
        return TensorHandle(values.astype(_get_np_dtype(dst)), dst.scalar)

    cast_impl = InterpreterBuilder.cast_impl
    fp_to_fp = InterpreterBuilder.create_fp_to_fp
    create_dot = InterpreterBuilder.create_dot

    def cast_impl_gpu(self, src, dst_type):
        if tl.bfloat16 in (src.dtype.scalar, dst_type.scalar):
            return from_values(as_values(src), dst_type)
        return cast_impl(self, src, dst_type)

    def fp_to_fp_gpu(self, src, dst_type, rounding_mode):
        # round-to-nearest-even is what ml_dtypes does; other modes (toward zero) keep the interpreter's code
        if tl.bfloat16 in (src.dtype.scalar, dst_type.scalar) and rounding_mode in (None, ir.ROUNDING_MODE.RTNE):
            return from_values(as_values(src), dst_type)
        return fp_to_fp(self, src, dst_type, rounding_mode)

    def create_dot_gpu(self, a, b, d, input_precision, max_num_imprecise_acc):
        if a.dtype.scalar == tl.bfloat16 or b.dtype.scalar == tl.bfloat16:
            a = TensorHandle(as_values(a).astype(np.float32), tl.float32)
            b = TensorHandle(as_values(b).astype(np.float32), tl.float32)
        elif input_precision == ir.INPUT_PRECISION.TF32 and a.dtype.scalar == tl.float32:
            a = TensorHandle(round_to_tf32(a.data), tl.float32)
            b = TensorHandle(round_to_tf32(b.data), tl.float32)
        return create_dot(self, a, b, d, input_precision, max_num_imprecise_acc)

    InterpreterBuilder.cast_impl = cast_impl_gpu
    InterpreterBuilder.create_fp_to_fp = fp_to_fp_gpu
    InterpreterBuilder.create_dot = create_dot_gpu
    _installed = True
