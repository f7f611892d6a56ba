"""Reduction, cumsum, softmax and matmul kernels (``tritongrad.kernels``) at the DeviceArray level.

Every wrapper runs (in Triton's interpreter on CPU-only machines) on awkward inputs -- size 1, primes,
0-d, empty, transposed and strided views, adjacent and non-adjacent reduced dims, negative dims, keepdim,
rows longer than one block, a 1823x781 full sum split across programs -- and is compared with an
independent NumPy float64 formula evaluated on the same dtype-rounded inputs, with per-dtype tolerances
``atol + rtol * |ref|``. Backward kernels get a random upstream gradient.
"""
import math

import numpy as np
import pytest

from _kernel_helpers import BF16, BOOL, F16, F32, F64, FLOATS, I32, I64, NP_DTYPES, U8, dev, host
from tritongrad import runtime
from tritongrad.kernels import matmul as km
from tritongrad.kernels import reduce as kr
from tritongrad.kernels import softmax as ks

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the interpreter evaluates masked lanes

# (atol, rtol). bf16 allows a full ulp.
TOL = {F64: (1e-12, 1e-10), F32: (1e-5, 2e-5), F16: (2e-3, 2e-3), BF16: (2e-2, 1.6e-2)}
RNG = np.random.default_rng(0)


# ------------------------------------------------------------------------------------------------ helpers
def randn(shape, dtype, low=-2.0, high=2.0, ints=False):
    """Uniform values in [low, high) (``ints``: integers, so that reductions see many ties)."""
    if ints:
        return RNG.integers(low, high, size=shape).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


# layout name -> the view applied identically to the NumPy base and the DeviceArray
VIEWS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.transpose(),
    "strided": lambda a: a[..., ::2],
}


def make_input(shape, dtype, view="contiguous", **kw):
    """``(numpy values, DeviceArray view)`` of ``shape`` laid out as ``view`` (``kw`` goes to `randn`)."""
    if view == "transposed":
        base = randn(tuple(reversed(shape)), dtype, **kw)
    elif view == "strided":
        base = randn(tuple(shape[:-1]) + (2 * shape[-1],), dtype, **kw)
    else:
        base = randn(shape, dtype, **kw)
    xn, xd = VIEWS[view](base), VIEWS[view](dev(base))
    assert xn.shape == tuple(shape) == xd.shape
    return xn, xd


def assert_close(got, ref, dtype, scale=1.0, what=""):
    """``|got - ref| <= scale * atol + rtol * |ref|`` elementwise (nan matches nan), printing the first
    mismatches."""
    atol, rtol = TOL[np.dtype(dtype)]
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    same_nan = np.isnan(got) == np.isnan(ref)
    same_inf = np.where(np.isinf(ref), got == ref, True)
    err = np.abs(np.nan_to_num(got - ref, nan=0.0, posinf=0.0, neginf=0.0))
    bad = (err > scale * atol + rtol * np.abs(np.nan_to_num(ref))) | ~same_nan | ~same_inf
    if bad.any():
        idx = np.argwhere(bad)[:5]
        pairs = [(tuple(i), got[tuple(i)], ref[tuple(i)]) for i in idx]
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} differ, first (index, got, ref): {pairs}")


def expand(y, dims, keepdim):
    return y if keepdim else np.expand_dims(y, dims)


# ------------------------------------------------------------------------------------------------ references
def ref_reduce(op, x, dims, keepdim, correction=1, p=2):
    x = x.astype(np.float64)
    if op == "logsumexp":
        m = np.max(x, axis=dims, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        y = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
        return y if keepdim else np.squeeze(y, axis=dims)
    if op == "var":
        n = math.prod(x.shape[d] for d in dims)
        dev_ = x - np.mean(x, axis=dims, keepdims=True)
        return np.sum(dev_ * dev_, axis=dims, keepdims=keepdim) / max(n - correction, 0)
    if op == "norm":
        a = np.abs(x)
        if p == math.inf:
            return np.max(a, axis=dims, keepdims=keepdim)
        if p == 0:
            return np.sum(a != 0, axis=dims, keepdims=keepdim).astype(np.float64)
        return np.sum(a ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)
    fn = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "amax": np.max, "amin": np.min,
          "all": np.all, "any": np.any}[op]
    return fn(x, axis=dims, keepdims=keepdim)


def _prod_of_others(x, dims):
    """For each element, the product of the other elements of its reduction (exact with zeros)."""
    kept = [d for d in range(x.ndim) if d not in dims]
    moved = np.transpose(x, kept + list(dims))
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return np.transpose(others, np.argsort(kept + list(dims)))


def ref_reduce_bwd(op, x, gy, dims, keepdim, correction=1, p=2):
    x = x.astype(np.float64)
    y = expand(ref_reduce(op, x, dims, keepdim, correction, p), dims, keepdim)
    g = expand(gy.astype(np.float64), dims, keepdim)
    n = math.prod(x.shape[d] for d in dims)
    if op == "sum":
        gx = g + 0 * x
    elif op == "mean":
        gx = g / n + 0 * x
    elif op == "prod":
        gx = g * _prod_of_others(x, dims)
    elif op in ("amax", "amin"):
        hit = x == y
        gx = g * hit / np.sum(hit, axis=dims, keepdims=True)
    elif op == "logsumexp":
        gx = g * np.exp(x - y)
    elif op == "var":
        gx = g * 2 * (x - np.mean(x, axis=dims, keepdims=True)) / max(n - correction, 0)
    elif p == 1:
        gx = g * np.sign(x)
    elif p == math.inf:
        hit = np.abs(x) == y
        gx = g * np.sign(x) * hit / np.sum(hit, axis=dims, keepdims=True)
    else:
        gx = np.where(y == 0, 0.0, g * np.sign(x) * np.abs(x) ** (p - 1) / np.where(y == 0, 1, y) ** (p - 1))
    return gx


# ------------------------------------------------------------------------------------------------ reduce
# (shape, dims, keepdim, view): size 1, primes, 0-d, adjacent / non-adjacent / negative / all dims
REDUCE_CASES = [
    ((1,), (0,), False, "contiguous"),
    ((7,), (0,), True, "contiguous"),
    ((), (), False, "contiguous"),
    ((5, 7, 3), (1,), False, "contiguous"),
    ((5, 7, 3), (0, 2), True, "contiguous"),
    ((5, 7, 3), (-3, -2, -1), False, "contiguous"),
    ((13, 11), (-1,), True, "transposed"),
    ((13, 11), (0,), False, "transposed"),
    ((3, 4, 5), (1, 2), False, "strided"),
    ((2, 3, 5, 2), (0, 3), False, "strided"),
]
FLOAT_OPS = [("sum", {}), ("mean", {}), ("prod", {}), ("amax", {}), ("amin", {}), ("logsumexp", {}),
             ("var", {"correction": 1}), ("var", {"correction": 0}), ("norm", {"p": 2}), ("norm", {"p": 1}),
             ("norm", {"p": math.inf}), ("norm", {"p": 3.0}), ("norm", {"p": 0})]
BOOL_OPS = ["all", "any"]


def _norm_dims(dims, ndim):
    return tuple(sorted(d % ndim for d in dims)) if ndim else ()


def _op_id(case):
    op, params = case
    return op + "".join(f"-{k}{v}" for k, v in params.items())


def _run_reduce(op, params, shape, dims, keepdim, view, dtype, low=-2.0, high=2.0):
    xn, xd = make_input(shape, dtype, view, low=low, high=high)
    y = kr.reduce(op, xd, dims, keepdim, **params)
    ref = ref_reduce(op, xn, _norm_dims(dims, len(shape)), keepdim, **params)
    return xn, xd, y, ref


@pytest.mark.parametrize("case", REDUCE_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("opp", FLOAT_OPS, ids=_op_id)
def test_reduce_fp32(opp, case):
    op, params = opp
    shape, dims, keepdim, view = case
    low = 0.5 if op == "prod" else -2.0  # keep products away from under/overflow
    _, _, y, ref = _run_reduce(op, params, shape, dims, keepdim, view, F32, low=low)
    assert y.dtype == F32 and y.shape == np.shape(ref)
    n_reduced = math.prod(shape) // max(1, np.size(ref))
    assert_close(host(y), ref, F32, scale=max(1, math.isqrt(n_reduced)), what=f"{op} {case}")


@pytest.mark.parametrize("dtype", [F16, BF16, F64], ids=str)
@pytest.mark.parametrize("opp", FLOAT_OPS, ids=_op_id)
def test_reduce_low_and_double_precision(opp, dtype):
    op, params = opp
    low = 0.5 if op == "prod" else -2.0
    for shape, dims, keepdim, view in (((6, 9), (1,), False, "transposed"), ((4, 3, 5), (0, 2), True, "contiguous")):
        _, _, y, ref = _run_reduce(op, params, shape, dims, keepdim, view, dtype, low=low)
        assert y.dtype == dtype
        assert_close(host(y), ref, dtype, scale=4, what=f"{op} {shape} {dims}")


@pytest.mark.parametrize("dtype", [I32, I64, U8, BOOL, F32], ids=str)
@pytest.mark.parametrize("op", ["sum", "prod", "amax", "amin", "all", "any"])
def test_reduce_integer_and_bool_dtypes(op, dtype):
    shape, dims = (5, 4, 3), (0, 2)
    xn = (RNG.integers(0, 3, size=shape) if dtype != I32 else RNG.integers(-3, 3, size=shape)).astype(dtype)
    if dtype == BOOL:
        xn[0] = True  # a column of all-True so `all` has both outcomes
    y = kr.reduce(op, dev(xn), dims, False)
    ref = ref_reduce(op, xn.astype(np.float64), dims, False)
    want = BOOL if op in ("all", "any") else (I64 if op in ("sum", "prod") and dtype != F32 else dtype)
    assert y.dtype == want
    np.testing.assert_array_equal(host(y).astype(np.float64), np.asarray(ref, dtype=np.float64))


def test_reduce_int64_exact_beyond_float_precision():
    xn = np.array([[2 ** 53 + 1, 1, -3], [-(2 ** 62), 5, 2 ** 40]], dtype=np.int64)
    assert host(kr.reduce("sum", dev(xn), (1,), False)).tolist() == [2 ** 53 - 1, -(2 ** 62) + 5 + 2 ** 40]
    assert host(kr.reduce("amax", dev(xn), (1,), False)).tolist() == [2 ** 53 + 1, 2 ** 40]
    assert host(kr.reduce("amin", dev(xn), (0,), False)).tolist() == [-(2 ** 62), 1, -3]


@pytest.mark.parametrize("dims", [(0, 1), (1,), (0,)], ids=str)
def test_big_sum_1823x781(dims):
    xn, xd = make_input((1823, 781), F32)
    ref = xn.astype(np.float64).sum(dims)
    # the full sum splits the 1.4M-element row across many programs, then combines their partials
    assert_close(host(kr.reduce("sum", xd, dims, False)), ref, F32, scale=30, what=f"sum{dims}")
    assert_close(host(kr.reduce("mean", xd, dims, False)), xn.astype(np.float64).mean(dims), F32)


def test_big_full_var_and_logsumexp_split():
    xn, xd = make_input((1823, 781), F32)
    x64 = xn.astype(np.float64)
    assert_close(host(kr.reduce("var", xd, (0, 1), False, correction=1)), x64.var(ddof=1), F32)
    assert_close(host(kr.reduce("logsumexp", xd, (0, 1), False)), ref_reduce("logsumexp", x64, (0, 1), False), F32)
    assert_close(host(kr.reduce("amax", xd, (0, 1), True)), x64.max(keepdims=True), F32)


def test_empty_reductions():
    xd = dev(np.zeros((4, 0, 3), np.float32))
    assert host(kr.reduce("sum", xd, (1,), False)).tolist() == [[0.0] * 3] * 4
    assert host(kr.reduce("prod", xd, (1,), True)).tolist() == [[[1.0] * 3]] * 4
    assert host(kr.reduce("all", xd, (1,), False)).all() and not host(kr.reduce("any", xd, (1,), False)).any()
    assert np.isnan(host(kr.reduce("mean", xd, (1,), False))).all()
    assert np.isneginf(host(kr.reduce("logsumexp", xd, (1,), False))).all()
    assert (host(kr.reduce("norm", xd, (1,), False, p=2)) == 0).all()
    assert host(kr.reduce("sum", xd, (0, 2), False)).shape == (0,)
    for op in ("amax", "amin"):
        with pytest.raises(ValueError, match=op):
            kr.reduce(op, xd, (1,), False)
    with pytest.raises(ValueError, match="argmax"):
        kr.argreduce("max", xd, 1, False)


def test_zero_dim_input_returns_a_copy():
    xn = np.array(3.5, np.float32)
    xd = dev(xn)
    for op in ("sum", "amax", "mean", "norm"):
        y = kr.reduce(op, xd, (), False)
        assert y.shape == () and host(y) == 3.5 and y.data_ptr() != xd.data_ptr()
    assert host(kr.reduce("sum", dev(np.array(7, np.int32)), (), False)) == 7


def test_nan_and_inf_rows():
    xn = np.array([[1.0, np.nan, 3.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0]], np.float32)
    xd = dev(xn)
    amax = host(kr.reduce("amax", xd, (1,), False))
    assert np.isnan(amax[0]) and amax[1] == -np.inf and amax[2] == np.inf
    lse = host(kr.reduce("logsumexp", xd, (1,), False))
    assert np.isnan(lse[0]) and lse[1] == -np.inf and lse[2] == np.inf
    values, idx = kr.argreduce("max", xd, 1, False)
    assert host(idx).tolist() == [1, 0, 0]


def test_reduce_errors():
    xd = dev(np.zeros((3, 4), np.int32))
    with pytest.raises(TypeError, match="mean"):
        kr.reduce("mean", xd, (0,), False)
    with pytest.raises(ValueError, match="unknown reduction"):
        kr.reduce("median", xd, (0,), False)
    with pytest.raises(IndexError, match="out of range"):
        kr.reduce("sum", xd, (2,), False)
    with pytest.raises(ValueError, match="more than once"):
        kr.reduce("sum", xd, (1, -1), False)


# ------------------------------------------------------------------------------------------------ reduce backward
BWD_OPS = [("sum", {}), ("mean", {}), ("prod", {}), ("amax", {}), ("amin", {}), ("logsumexp", {}),
           ("var", {"correction": 1}), ("var", {"correction": 0}), ("norm", {"p": 2}), ("norm", {"p": 1}),
           ("norm", {"p": math.inf}), ("norm", {"p": 3.0})]
BWD_CASES = [c for c in REDUCE_CASES if c[0] != ()] + [((), (), False, "contiguous")]


def _run_reduce_bwd(op, params, shape, dims, keepdim, view, dtype, xn=None):
    if xn is None:
        xn, xd = make_input(shape, dtype, view, low=0.5 if op == "prod" else -2.0)
    else:
        xd = dev(xn)
    y = kr.reduce(op, xd, dims, keepdim, **params)
    gyn = randn(y.shape, dtype)
    gx = kr.reduce_bwd(op, xd, y, dev(gyn), dims, keepdim, **params)
    ref = ref_reduce_bwd(op, xn, gyn, _norm_dims(dims, len(xn.shape)), keepdim, **params)
    assert gx.shape == xn.shape and gx.dtype == dtype and gx.is_contiguous()
    return host(gx), ref


@pytest.mark.parametrize("case", BWD_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("opp", BWD_OPS, ids=_op_id)
def test_reduce_bwd_fp32(opp, case):
    op, params = opp
    got, ref = _run_reduce_bwd(op, params, *case, F32)
    assert_close(got, ref, F32, scale=4, what=f"{op} backward {case}")


@pytest.mark.parametrize("dtype", [F16, BF16, F64], ids=str)
@pytest.mark.parametrize("opp", BWD_OPS, ids=_op_id)
def test_reduce_bwd_low_and_double_precision(opp, dtype):
    op, params = opp
    got, ref = _run_reduce_bwd(op, params, (4, 3, 5), (0, 2), False, "contiguous", dtype)
    assert_close(got, ref, dtype, scale=4, what=f"{op} backward")


def test_amax_amin_bwd_split_ties_evenly():
    xn = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [-1, 5, 0, 5]], np.float32)
    for op in ("amax", "amin"):
        got, ref = _run_reduce_bwd(op, {}, None, (1,), False, None, F32, xn=xn)
        assert_close(got, ref, F32, what=op)
    signed = (xn * [[1], [-1], [1]]).astype(np.float32)
    got, ref = _run_reduce_bwd("norm", {"p": math.inf}, None, (1,), True, None, F32, xn=signed)
    assert_close(got, ref, F32, what="norm inf ties")


def test_prod_bwd_with_zeros():
    # rows with no zero, one zero and two zeros
    xn = np.array([[1.5, 2.0, -3.0, 0.5], [1.5, 0.0, -3.0, 2.0], [0.0, 2.0, 0.0, 4.0]], np.float32)
    got, ref = _run_reduce_bwd("prod", {}, None, (1,), False, None, F32, xn=xn)
    assert_close(got, ref, F32, what="prod with zeros")
    assert got[1].tolist() == pytest.approx([0, got[1][1], 0, 0]) and got[1][1] != 0 and (got[2] == 0).all()


def test_norm_bwd_at_zero_is_zero():
    xn = np.zeros((3, 4), np.float32)
    for p in (2, 3.0, math.inf):
        got, _ = _run_reduce_bwd("norm", {"p": p}, None, (1,), False, None, F32, xn=xn)
        assert (got == 0).all() and not np.isnan(got).any()


# ------------------------------------------------------------------------------------------------ argreduce
ARG_CASES = [((1,), 0, False, "contiguous"), ((13, 11), 1, False, "transposed"), ((13, 11), -2, True, "contiguous"),
             ((3, 4, 5), 1, False, "strided")]


def _check_argreduce(op, xn, xd, dim, keepdim):
    values, idx = kr.argreduce(op, xd, dim, keepdim)
    ref_idx = np.expand_dims((np.argmax if op == "max" else np.argmin)(xn, axis=dim), dim)
    assert idx.dtype == I64 and values.dtype == xn.dtype
    shape = ref_idx.shape if keepdim else np.squeeze(ref_idx, dim).shape
    np.testing.assert_array_equal(host(idx), ref_idx.reshape(shape))
    np.testing.assert_array_equal(host(values), np.take_along_axis(xn, ref_idx, dim).reshape(shape))


@pytest.mark.parametrize("dtype", [F32, BF16, F64, I32, U8], ids=str)
@pytest.mark.parametrize("case", ARG_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("op", ["max", "min"])
def test_argreduce_first_occurrence_on_ties(op, case, dtype):
    shape, dim, keepdim, view = case
    xn, xd = make_input(shape, dtype, view, low=0, high=4, ints=True)
    _check_argreduce(op, xn, xd, dim, keepdim)


@pytest.mark.parametrize("op", ["max", "min"])
def test_argreduce_long_rows(op):
    xn, xd = make_input((2, 9000), F32, "contiguous")
    _check_argreduce(op, xn, xd, 1, False)


# ------------------------------------------------------------------------------------------------ cumsum
CUMSUM_CASES = [((1,), 0, "contiguous"), ((7,), -1, "contiguous"), ((5, 7, 3), 1, "contiguous"),
                ((13, 11), 0, "transposed"), ((3, 4, 5), 2, "strided"), ((2, 9000), 1, "contiguous"),
                ((), 0, "contiguous")]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("case", CUMSUM_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_cumsum_fp32(case, reverse):
    shape, dim, view = case
    xn, xd = make_input(shape, F32, view)
    y = kr.cumsum(xd, dim, reverse=reverse)
    x64 = xn.astype(np.float64)
    if x64.ndim == 0:
        ref = x64
    elif reverse:
        ref = np.flip(np.cumsum(np.flip(x64, dim), dim), dim)
    else:
        ref = np.cumsum(x64, dim)
    assert y.dtype == F32 and y.shape == xn.shape
    assert_close(host(y), ref, F32, scale=10, what=f"cumsum {case}")


@pytest.mark.parametrize("dtype", [F16, BF16, F64, I32, U8, BOOL], ids=str)
def test_cumsum_dtypes(dtype):
    xn = (RNG.integers(0, 3, size=(4, 9)) if dtype.kind in "iub" else randn((4, 9), np.float64)).astype(dtype)
    y = kr.cumsum(dev(xn), 1)
    ref = np.cumsum(xn.astype(np.float64), 1)
    if dtype.kind in "iub":
        assert y.dtype == I64
        np.testing.assert_array_equal(host(y), ref.astype(np.int64))
    else:
        assert y.dtype == dtype
        assert_close(host(y), ref, dtype, scale=3)


# ------------------------------------------------------------------------------------------------ softmax
SOFTMAX_CASES = [((1,), 0, "contiguous"), ((7,), -1, "contiguous"), ((5, 7, 3), 1, "contiguous"),
                 ((13, 11), -1, "transposed"), ((13, 11), 0, "transposed"), ((3, 4, 5), 2, "strided"),
                 ((3, 5000), 1, "contiguous"), ((4, 0), 1, "contiguous")]


def ref_softmax(x, dim, log):
    x = x.astype(np.float64)
    m = np.max(x, axis=dim, keepdims=True) if x.size else 0.0
    z = x - m
    lse = np.log(np.sum(np.exp(z), axis=dim, keepdims=True))
    return z - lse if log else np.exp(z - lse)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("case", SOFTMAX_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_softmax_fwd_bwd_fp32(case, log):
    shape, dim, view = case
    xn, xd = make_input(shape, F32, view, low=-5, high=5)
    y = ks.softmax(xd, dim, log=log)
    assert y.dtype == F32 and y.shape == xn.shape and y.strides == runtime.contiguous_strides(shape, 4)
    yref = ref_softmax(xn, dim, log)
    assert_close(host(y), yref, F32, what="softmax")
    gn, gd = make_input(shape, F32, view)
    gx = ks.softmax_bwd(y, gd, dim, log=log)
    yy = yref if not log else np.exp(yref)
    g64 = gn.astype(np.float64)
    gref = g64 - yy * g64.sum(dim, keepdims=True) if log else yy * (g64 - (g64 * yy).sum(dim, keepdims=True))
    assert_close(host(gx), gref, F32, scale=4, what="softmax backward")


@pytest.mark.parametrize("dtype", [F16, BF16, F64], ids=str)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_dtypes(dtype, log):
    xn, xd = make_input((6, 37), dtype, "transposed", low=-4, high=4)
    y = ks.softmax(xd, 0, log=log)
    assert y.dtype == dtype
    assert_close(host(y), ref_softmax(xn, 0, log), dtype, what="softmax")
    gn = randn((6, 37), dtype)
    yk = host(y).astype(np.float64)  # the backward formula is applied to the kernel's own forward output
    yy = np.exp(yk) if log else yk
    g64 = gn.astype(np.float64)
    gref = g64 - yy * g64.sum(0, keepdims=True) if log else yy * (g64 - (g64 * yy).sum(0, keepdims=True))
    assert_close(host(ks.softmax_bwd(y, dev(gn), 0, log=log)), gref, dtype, scale=4, what="softmax backward")


def test_softmax_all_neg_inf_row_is_nan_and_masked_inf_is_zero():
    xn = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]], np.float32)
    y = host(ks.softmax(dev(xn), 1))
    assert np.isnan(y[0]).all()
    assert y[1, 1] == 0 and y[1].sum() == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ matmul
# (batch_a, batch_b, M, K, N, a_view, b_view): size 1, primes, K not a multiple of the tile, a broadcast
# batch (stride 0), transposed operands (free views)
MATMUL_CASES = [
    (1, 1, 1, 1, 1, "contiguous", "contiguous"),
    (2, 2, 70, 45, 33, "contiguous", "contiguous"),
    (3, 1, 17, 5, 13, "contiguous", "contiguous"),
    (1, 2, 9, 40, 7, "transposed", "contiguous"),
    (2, 2, 13, 3, 67, "contiguous", "transposed"),
    (1, 1, 65, 1, 2, "transposed", "transposed"),
]


def _matmul_operand(batch, rows, cols, dtype, view):
    if view == "transposed":
        n = randn((batch, cols, rows), dtype)
        return n.transpose(0, 2, 1), dev(n).transpose(0, 2, 1)
    n = randn((batch, rows, cols), dtype)
    return n, dev(n)


def _matmul_inputs(case, dtype):
    ba, bb, m, k, n, va, vb = case
    an, ad = _matmul_operand(ba, m, k, dtype, va)
    bn, bd = _matmul_operand(bb, k, n, dtype, vb)
    return an, ad, bn, bd


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("case", MATMUL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_matmul(case, dtype):
    an, ad, bn, bd = _matmul_inputs(case, dtype)
    c = km.matmul(ad, bd)
    ref = np.matmul(an.astype(np.float64), bn.astype(np.float64))
    assert c.dtype == dtype and c.shape == ref.shape and c.is_contiguous()
    assert_close(host(c), ref, dtype, scale=max(1, math.isqrt(case[3])), what=f"matmul {case}")


def test_bf16_matmul_is_right_in_the_interpreter():
    # Triton's interpreter alone multiplies raw bf16 bit patterns in tl.dot; runtime.interpreter_numerics
    # makes it widen them as tensor cores do, so the kernel's own bf16 dot runs here
    an, ad, bn, bd = _matmul_inputs((2, 2, 40, 64, 24, "contiguous", "transposed"), BF16)
    ref = np.matmul(an.astype(np.float64), bn.astype(np.float64))
    got = host(km.matmul(ad, bd)).astype(np.float64)
    assert np.abs(got - ref).max() <= 0.02 * np.abs(ref).max()
    assert_close(got, ref, BF16, scale=8, what="bf16 matmul")


def test_compiled_bf16_matmul_keeps_bf16_operands():
    specs = {s[0]: s for s in km.aot_specs()}
    assert "matmul_bf16" in specs
    _, fn, sig, constexprs, options = specs["matmul_bf16"]
    assert sig["a_ptr"] == "*bf16" and constexprs["UPCAST_BF16_DOT"] is False
    assert fn is km._matmul_fwd_kernel      # autotuned: the AOT report compiles every config the tuner keeps


def _kept_tiles(dtype, **meta):
    a = dev(np.zeros((1, 1), NP_DTYPES[dtype]))
    configs = km._tile_configs(km._TENSOR_CORE_TILES + km._FMA_TILES)
    meta = {"INPUT_PRECISION": "ieee", "HAS_BIAS": False, "ACTIVATION": "none", **meta}
    return {(c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_stages, c.num_warps)
            for c in km._prune_configs(configs, {"a_ptr": a}, **meta)}


def test_matmul_autotune_configs_fit_the_gpu():
    # which configs the compiled autotuner benchmarks: tensor-core tiles (with the 128x128x64 8-warp wgmma tile)
    # for 16-bit types and tf32, small FMA tiles for exact fp32, operand pipelines within the shared-memory
    # budget, and no 128-accumulators-per-thread tile under an activation epilogue (those spill)
    bf16 = _kept_tiles("bfloat16")
    assert (128, 128, 64, 3, 8) in bf16 and bf16 <= set(km._TENSOR_CORE_TILES)
    assert _kept_tiles("float32") == set(km._FMA_TILES)
    tf32 = _kept_tiles("float32", INPUT_PRECISION="tf32")
    assert (128, 256, 64, 3, 8) not in tf32 and (128, 128, 64, 3, 8) not in tf32 and tf32
    assert all((m + n) * k * 4 * s <= km._SHARED_BUDGET for m, n, k, s, _ in tf32)
    gelu = _kept_tiles("bfloat16", HAS_BIAS=True, ACTIVATION="gelu")
    assert gelu and all(m * n // (32 * w) <= 64 for m, n, _, _, w in gelu) and (128, 128, 32, 4, 4) not in gelu


def test_matmul_tf32_flag():
    an, ad, bn, bd = _matmul_inputs((2, 2, 33, 70, 19, "contiguous", "contiguous"), F32)
    ref = np.matmul(an.astype(np.float64), bn.astype(np.float64))
    # tf32 keeps 10 mantissa bits of each operand: relative error ~1e-3 per product
    got = host(km.matmul(ad, bd, allow_tf32=True))
    err_tf32 = np.abs(got - ref).max() / np.abs(ref).max()
    assert err_tf32 <= 2e-3 * np.abs(an).max() * np.abs(bn).max() * 70 / np.abs(ref).max()
    ieee = host(km.matmul(ad, bd, allow_tf32=False))
    assert_close(ieee, ref, F32, scale=10, what="ieee fp32")
    # the flag makes the difference it makes on tensor cores (the interpreter rounds tf32 operands too,
    # runtime.interpreter_numerics): ~1e-4..1e-3 relative against ~1e-7 for ieee
    err_ieee = np.abs(ieee - ref).max() / np.abs(ref).max()
    assert 2e-5 < err_tf32 < 3e-3 and err_ieee < 1e-6 and err_tf32 > 50 * err_ieee, (err_tf32, err_ieee)


def _act(x, name):
    from math import erf
    if name == "relu":
        return np.maximum(x, 0)
    if name == "gelu":
        return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "silu":
        return x / (1 + np.exp(-x))
    return x


@pytest.mark.parametrize("dtype", [F32, BF16], ids=str)
@pytest.mark.parametrize("activation", list(km.ACTIVATIONS), ids=str)
def test_matmul_bias_activation_epilogue(activation, dtype):
    an, ad, bn, bd = _matmul_inputs((2, 1, 19, 23, 37, "contiguous", "transposed"), dtype)
    biasn = randn((37,), dtype)
    c, pre = km.matmul(ad, bd, bias=dev(biasn), activation=activation, out_preact=True)
    pref = np.matmul(an.astype(np.float64), bn.astype(np.float64)) + biasn.astype(np.float64)
    assert_close(host(pre), pref, dtype, scale=5, what="preact")
    assert_close(host(c), _act(pref, activation), dtype, scale=5, what=f"{activation} epilogue")
    only = km.matmul(ad, bd, bias=dev(biasn), activation=activation)
    assert_close(host(only), _act(pref, activation), dtype, scale=5, what="without preact")


def test_matmul_empty_k_gives_bias():
    biasn = randn((3,), F32)
    c = km.matmul(dev(np.zeros((1, 2, 0), np.float32)), dev(np.zeros((1, 0, 3), np.float32)), bias=dev(biasn))
    np.testing.assert_array_equal(host(c), np.broadcast_to(biasn, (1, 2, 3)))
    assert km.matmul(dev(np.zeros((2, 0, 4), np.float32)), dev(np.zeros((2, 4, 3), np.float32))).shape == (2, 0, 3)


def test_matmul_errors():
    a = dev(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="cannot be multiplied"):
        km.matmul(a, dev(np.zeros((1, 4, 3), np.float32)))
    with pytest.raises(TypeError, match="dtype"):
        km.matmul(a, dev(np.zeros((1, 3, 2), np.float16)))
    with pytest.raises(ValueError, match="activation"):
        km.matmul(a, dev(np.zeros((1, 3, 2), np.float32)), activation="tanh")
    with pytest.raises(ValueError, match="bias"):
        km.matmul(a, dev(np.zeros((1, 3, 2), np.float32)), bias=dev(np.zeros((3,), np.float32)))
    with pytest.raises(ValueError, match="3-D"):
        km.matmul(dev(np.zeros((2, 3), np.float32)), dev(np.zeros((3, 2), np.float32)))


class _ShapeOnly:
    """An input whose values the backward must not read (what autograd saves for sum/mean)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.device, self.ndim = tuple(shape), np.dtype(dtype), 0, len(shape)


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("dims,keepdim", [((1,), False), ((0, 2), True), ((0, 1, 2), False)], ids=str)
def test_sum_mean_bwd_read_only_the_shape(op, dims, keepdim):
    shape = (4, 3, 5)
    gyn = randn(ref_reduce(op, np.zeros(shape), dims, keepdim).shape, F32)
    gx = kr.reduce_bwd(op, _ShapeOnly(shape, F32), None, dev(gyn), dims, keepdim)
    assert_close(host(gx), ref_reduce_bwd(op, np.zeros(shape), gyn, dims, keepdim), F32, what=f"{op} backward")
