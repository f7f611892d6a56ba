"""Helpers shared by the kernel-level tests (DeviceArrays in and out, NumPy float64 references).

`dev`/`host` move NumPy arrays to and from `DeviceArray`s; `host_f64` reads back as float64; `rand` draws
dtype-rounded normals; `check_fd` compares analytic gradients with central finite differences; `assert_close`
is `optable.assert_close` with bf16 held to round-to-nearest-even accuracy (the kernels store bf16 with
`kernels._common.cast_to`, which rounds to nearest even in the interpreter as compiled kernels do).
"""
import ml_dtypes
import numpy as np

import optable
from tritongrad import runtime

BF16 = np.dtype(ml_dtypes.bfloat16)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
I32, I64, U8, BOOL = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.bool_)
FLOATS = [F32, F16, BF16, F64]
NP_DTYPES = {"float32": F32, "float16": F16, "bfloat16": BF16}
DTYPES = list(NP_DTYPES)

BF16_ROUNDED_TOL = (1e-4, 4e-3)
"""(atol, rtol) of a bf16 result rounded once to nearest even from fp32 math: half a bf16 ulp is 2**-9
relative (~2e-3), doubled for fp32 accumulation. A truncating store (a full ulp) does not pass."""


def dev(a, transposed=False):
    """A `DeviceArray` holding the NumPy array ``a`` (None stays None); ``transposed`` gives a non-contiguous
    view (reversed strides) with ``a``'s values."""
    if a is None:
        return None
    if transposed:
        return dev(np.ascontiguousarray(a.T)).transpose()
    a = np.array(a, order="C", copy=True)
    d = runtime.empty(a.shape, a.dtype)
    runtime.copy_host_to_device(d, a)
    return d


def host(d):
    """The values of the contiguous (or empty) `DeviceArray` ``d`` as a NumPy array of its dtype."""
    assert d.is_contiguous() or d.numel() == 0, d
    a = np.empty(d.shape, d.dtype)
    runtime.copy_device_to_host(a, d)
    return a


def host_f64(d):
    """`host` as float64 (integer and bool results unchanged)."""
    a = host(d)
    return a if a.dtype.kind in "iub" else a.astype(np.float64)


def rand(rng, shape, dtype, scale=1.0):
    """Random normals rounded to ``dtype`` (name); returns the array in that dtype."""
    return (rng.standard_normal(shape) * scale).astype(NP_DTYPES[dtype])


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def numeric_grad(f, arrays, i, upstream, h=1e-6):
    """Central finite differences of ``sum(f(*arrays) * upstream)`` w.r.t. ``arrays[i]`` (float64)."""
    a = arrays[i]
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        plus = np.sum(f(*arrays) * upstream)
        a[idx] = old - h
        minus = np.sum(f(*arrays) * upstream)
        a[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def check_fd(f, arrays, upstream, analytic, names):
    """Each non-None analytic gradient against finite differences of ``f``."""
    for i, (g, name) in enumerate(zip(analytic, names)):
        if g is None:
            continue
        num = numeric_grad(f, arrays, i, upstream)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7, err_msg=f"d/d{name}")


def assert_close(got, ref, dtype, what, scale=1.0):
    """`optable.assert_close`, except that bf16 uses `BF16_ROUNDED_TOL` (times ``scale``)."""
    if dtype != "bfloat16":
        optable.assert_close(got, ref, dtype, what, scale)
        return
    atol, rtol = BF16_ROUNDED_TOL
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(ref, np.float64), rtol=rtol * scale,
                               atol=atol * scale, equal_nan=True, err_msg=what)
