"""Numerics that only a GPU truly has: tf32 tensor-core matmuls, round-to-nearest-even bf16/fp16 casts, bf16
``tl.dot`` with fp32 accumulation.

Each check runs twice: marked ``gpu`` on the hardware (``bench/gpu_check.sh``; ``pytest -m gpu``), and in
Triton's interpreter, where `tritongrad.runtime.interpreter_numerics` emulates the same numerics -- so the
GPU run also tells whether that emulation is faithful.
"""
import ml_dtypes
import numpy as np
import pytest

from _kernel_helpers import BF16, F16, F32, dev, host
from tritongrad import runtime
from tritongrad.kernels import copy as kcopy
from tritongrad.kernels import matmul as km

interpreter_only = pytest.mark.skipif(not runtime.interpreting(),
                                      reason="checks the interpreter's emulation; the gpu-marked twin runs compiled")
RNG = np.random.default_rng(3)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 65520 -> fp16 inf


def _rel_err(got, ref):
    return float(np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max())


def check_tf32_vs_ieee():
    """fp32 matmul: ``allow_tf32=True`` reads operands with 10 mantissa bits (relative error 1e-4..1e-3 over
    K=256), ``False`` stays IEEE fp32 (~1e-7): the flag must make that difference."""
    a = RNG.standard_normal((1, 64, 256)).astype(F32)
    b = RNG.standard_normal((1, 256, 48)).astype(F32)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    err_tf32 = _rel_err(host(km.matmul(dev(a), dev(b), allow_tf32=True)), ref)
    err_ieee = _rel_err(host(km.matmul(dev(a), dev(b), allow_tf32=False)), ref)
    assert err_ieee < 2e-6, err_ieee
    assert 2e-5 < err_tf32 < 5e-3, err_tf32
    assert err_tf32 > 50 * err_ieee, (err_tf32, err_ieee)


def _cast_inputs(dtype):
    """fp32 values around every rounding case of ``dtype``: exact ties either way, just above/below a tie,
    subnormals, overflow, inf, nan, signed zero, and random values over many binades."""
    mant = 7 if dtype == BF16 else 10
    one, half_ulp = 1.0, 2.0 ** -(mant + 1)
    special = [one + half_ulp, one + 3 * half_ulp, one + half_ulp * (1 + 2 ** -12), one + half_ulp * (1 - 2 ** -12),
               -(one + half_ulp), -(one + 3 * half_ulp), 0.0, -0.0, np.inf, -np.inf, np.nan,
               1e-40, -3e-39, 6.2e-5, 5.9e-8, 65519.0, 65520.0, 3.4e38]
    rand = (RNG.standard_normal(4096) * np.exp2(RNG.integers(-30, 30, 4096))).astype(F32)
    return np.concatenate([np.array(special, F32), rand])


def check_round_to_nearest_even(dtype):
    """fp32 -> bf16/fp16 by the cast kernel equals NumPy/ml_dtypes' round-to-nearest-even, bit for bit
    (nan: any nan)."""
    x = _cast_inputs(dtype)
    got = host(kcopy.cast(dev(x), dtype))
    ref = x.astype(dtype)
    nan = np.isnan(ref.astype(F32))
    assert np.array_equal(np.isnan(got.astype(F32)), nan)
    bits = np.uint16
    mismatch = np.flatnonzero(got.view(bits)[~nan] != ref.view(bits)[~nan])
    assert mismatch.size == 0, f"{dtype}: {x[~nan][mismatch[:5]]} -> {got[~nan][mismatch[:5]]}, " \
                               f"expected {ref[~nan][mismatch[:5]]}"


def check_bf16_dot():
    """bf16 matmul (tensor-core ``tl.dot`` on bf16 operands, fp32 accumulation) equals the fp32 matmul of the
    same values to within the final bf16 rounding."""
    a = RNG.standard_normal((2, 48, 96)).astype(BF16)
    b = RNG.standard_normal((2, 96, 40)).astype(BF16)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = host(km.matmul(dev(a), dev(b))).astype(np.float64)
    fp32 = host(km.matmul(dev(a.astype(F32)), dev(b.astype(F32)))).astype(np.float64)
    assert _rel_err(fp32, ref) < 1e-6
    # products of bf16 values are exact in fp32; what is left is fp32 accumulation and one rounding to bf16
    assert np.all(np.abs(got - fp32) <= 2.0 ** -8 * np.abs(fp32) + 1e-5 * np.abs(ref).max())


@pytest.mark.gpu
def test_tf32_vs_ieee_matmul_on_the_gpu():
    check_tf32_vs_ieee()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [BF16, F16], ids=["bf16", "fp16"])
def test_round_to_nearest_even_casts_on_the_gpu(dtype):
    check_round_to_nearest_even(dtype)


@pytest.mark.gpu
def test_bf16_dot_vs_fp32_on_the_gpu():
    check_bf16_dot()


@interpreter_only
def test_tf32_vs_ieee_matmul_in_the_interpreter():
    check_tf32_vs_ieee()


@interpreter_only
@pytest.mark.parametrize("dtype", [BF16, F16], ids=["bf16", "fp16"])
def test_round_to_nearest_even_casts_in_the_interpreter(dtype):
    check_round_to_nearest_even(dtype)


@interpreter_only
def test_bf16_dot_vs_fp32_in_the_interpreter():
    check_bf16_dot()


@interpreter_only
@pytest.mark.parametrize("src", [np.float64, np.float16, np.int32, np.int64], ids=["fp64", "fp16", "i32", "i64"])
def test_casts_to_and_from_bf16_convert_values_in_the_interpreter(src):
    # Triton's own interpreter converts the raw integer instead of the value for these
    x = (RNG.standard_normal(257) * 300).astype(src)
    to_bf16 = host(kcopy.cast(dev(x), BF16))
    assert np.array_equal(to_bf16.view(np.uint16), x.astype(ml_dtypes.bfloat16).view(np.uint16))
    back = host(kcopy.cast(dev(to_bf16), src))
    assert np.array_equal(back, to_bf16.astype(src))
