"""Elementwise, copy, random and indexing kernels (``tritongrad.kernels``) at the DeviceArray level.

Each wrapper runs (in Triton's interpreter on CPU-only machines) on small awkward inputs -- sizes 1, 7,
13x5, broadcast pairs, transposed, stride-0, offset and 6-dim non-collapsible views -- and is compared with
an independent NumPy float64 formula evaluated on the same (dtype-rounded) inputs, with per-dtype tolerances
``atol + rtol * |ref|``. Backward kernels get a random upstream gradient. Random kernels must match the
NumPy Philox (``tritongrad.backends._philox``) bit for bit.
"""
import math
import os

import numpy as np
import pytest

from _kernel_helpers import BF16, BOOL, F16, F32, F64, FLOATS, I32, I64, U8, dev, host
from tritongrad import runtime
from tritongrad.backends import _philox
from tritongrad.kernels import copy as kc
from tritongrad.kernels import elementwise as ke
from tritongrad.kernels import index as ki
from tritongrad.kernels import random as kr
from tritongrad.kernels._common import collapse_dims

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the interpreter evaluates masked lanes

TOL = {F64: (1e-12, 1e-10), F32: (1e-6, 2e-5), F16: (2e-3, 2e-3), BF16: (2e-2, 1.6e-2)}  # (atol, rtol)
RNG = np.random.default_rng(0)

# ------------------------------------------------------------------------------------------------ helpers


def bcast(a, shape):
    return np.broadcast_to(a, shape) if isinstance(a, np.ndarray) else a.broadcast_to(shape)


# name -> (base shape, view applied identically to the NumPy base and the DeviceArray)
VIEWS = {
    "1": ((1,), lambda a: a),
    "7": ((7,), lambda a: a),
    "13x5": ((13, 5), lambda a: a),
    "transposed": ((5, 13), lambda a: a.transpose()),
    "stride0": ((1, 5), lambda a: bcast(a, (3, 5))),
    "offset_step": ((6, 7), lambda a: a[1:, ::2]),
    "rank6": ((2, 1, 3, 2, 2, 3), lambda a: a.transpose((5, 3, 4, 2, 1, 0))[:, ::-1]),
}


def make(view, dtype, gen):
    """``(numpy_view, device_view)`` of the named view over a base filled by ``gen(shape)``."""
    shape, fn = VIEWS[view]
    base = gen(shape).astype(dtype)
    return fn(base), fn(dev(base))


def uniform(lo, hi):
    return lambda shape: RNG.uniform(lo, hi, size=shape)


def f64(a):
    return np.asarray(a).astype(np.float64)


def assert_close(got, ref, dtype, what=""):
    atol, rtol = TOL[np.dtype(dtype)]
    got, ref = f64(got), f64(ref)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    both_nan = np.isnan(got) & np.isnan(ref)
    same_inf = np.isinf(ref) & (got == ref)
    bad = ~(both_nan | same_inf | (np.abs(got - ref) <= atol + rtol * np.abs(ref)))
    if bad.any():
        i = np.argwhere(bad)[0]
        pytest.fail(f"{what}: {bad.sum()} of {bad.size} differ; first at {tuple(i)}: got {got[tuple(i)]!r}, "
                    f"expected {ref[tuple(i)]!r}")


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# ------------------------------------------------------------------------------------------------ unary
def _sig(x):
    return 1 / (1 + np.exp(-x))


def _gelu_tanh_inner(x):
    return np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)


# op -> (input generator, forward reference, gradient reference d/dx)
UNARY = {
    "neg": (uniform(-3, 3), lambda x: -x, lambda x: -np.ones_like(x)),
    "abs": (uniform(-3, 3), np.abs, np.sign),
    "exp": (uniform(-3, 3), np.exp, np.exp),
    "log": (uniform(0.1, 4), np.log, lambda x: 1 / x),
    "log1p": (uniform(-0.9, 3), np.log1p, lambda x: 1 / (1 + x)),
    "expm1": (uniform(-3, 3), np.expm1, np.exp),
    "sqrt": (uniform(0.1, 4), np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    "rsqrt": (uniform(0.1, 4), lambda x: 1 / np.sqrt(x), lambda x: -0.5 * x ** -1.5),
    "sin": (uniform(-3, 3), np.sin, np.cos),
    "cos": (uniform(-3, 3), np.cos, lambda x: -np.sin(x)),
    "tanh": (uniform(-3, 3), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (uniform(-6, 6), _sig, lambda x: _sig(x) * (1 - _sig(x))),
    "relu": (uniform(-3, 3), lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "sign": (uniform(-3, 3), np.sign, np.zeros_like),
    "floor": (uniform(-3, 3), np.floor, np.zeros_like),
    "ceil": (uniform(-3, 3), np.ceil, np.zeros_like),
    "round": (lambda s: RNG.integers(-8, 8, size=s) / 2, np.round, np.zeros_like),
    "trunc": (uniform(-3, 3), np.trunc, np.zeros_like),
    "reciprocal": (uniform(0.5, 3), lambda x: 1 / x, lambda x: -1 / x ** 2),
    "square": (uniform(-3, 3), np.square, lambda x: 2 * x),
    "gelu": (uniform(-4, 4), lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
             lambda x: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "gelu_tanh": (uniform(-4, 4), lambda x: 0.5 * x * (1 + np.tanh(_gelu_tanh_inner(x))),
                  lambda x: 0.5 * (1 + np.tanh(_gelu_tanh_inner(x))) + 0.5 * x * (1 - np.tanh(_gelu_tanh_inner(x)) ** 2)
                  * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x)),
    "silu": (uniform(-6, 6), lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "leaky_relu": (uniform(-3, 3), lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "logical_not": (lambda s: RNG.integers(0, 3, size=s) - 1.0, lambda x: x == 0, None),
    "isnan": (lambda s: np.where(RNG.random(s) < 0.3, np.nan, RNG.random(s)), np.isnan, None),
    "isinf": (lambda s: np.where(RNG.random(s) < 0.3, -np.inf, RNG.random(s)), np.isinf, None),
}
PARAMS = {"leaky_relu": {"negative_slope": 0.2}}


def test_op_tables_cover_the_backend_interface():
    from tritongrad.backends import base
    assert set(UNARY) == set(base.UNARY_OPS)
    assert set(BINARY) == set(base.BINARY_OPS)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_forward(op, dtype):
    gen, ref, _ = UNARY[op]
    xn, xd = make("transposed", dtype, gen)
    got = host(ke.unary(op, xd, **PARAMS.get(op, {})))
    expected = ref(f64(xn))
    if expected.dtype == BOOL:
        assert got.dtype == BOOL and np.array_equal(got, expected)
    else:
        assert got.dtype == dtype
        assert_close(got, expected, dtype, op)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_unary_views(view):
    xn, xd = make(view, F32, uniform(-3, 3))
    assert_close(host(ke.unary("tanh", xd)), np.tanh(f64(xn)), F32, view)
    assert_close(host(ke.unary("expm1", xd)), np.expm1(f64(xn)), F32, view)


@pytest.mark.parametrize("dtype", [I32, I64, U8], ids=str)
@pytest.mark.parametrize("op", ["neg", "abs", "relu", "sign", "square", "floor", "round", "logical_not", "isinf"])
def test_unary_integer(op, dtype):
    xn, xd = make("13x5", dtype, lambda s: RNG.integers(-9 if dtype != U8 else 0, 10, size=s))
    got = host(ke.unary(op, xd))
    ref = {"neg": lambda x: -x, "abs": np.abs, "relu": lambda x: np.maximum(x, 0), "sign": np.sign,
           "square": lambda x: x * x, "floor": lambda x: x, "round": lambda x: x, "logical_not": lambda x: x == 0,
           "isinf": lambda x: np.zeros(x.shape, bool)}[op](xn)
    assert got.dtype == ref.dtype and np.array_equal(got, ref)


def test_unary_special_values():
    x = np.array([0.0, -0.0, 1e-8, -1e-8, 1e-30, np.inf, -np.inf, np.nan, 30.0, -30.0, 100.0, -100.0], F32)
    for op, ref in (("log1p", np.log1p), ("expm1", np.expm1), ("tanh", np.tanh), ("sigmoid", _sig),
                    ("relu", lambda v: np.where(v < 0, 0, v)), ("sign", np.sign)):
        with np.errstate(all="ignore"):
            expected = ref(f64(x)).astype(F32)
        assert_close(host(ke.unary(op, dev(x))), expected, F32, op)
    big = np.array([2.5, -2.5, 0.5, 1.5, 8388609.0, -8388609.0], F32)
    assert np.array_equal(host(ke.unary("round", dev(big))), np.round(big))


@pytest.mark.parametrize("dtype", [F32, BF16, F64], ids=str)
@pytest.mark.parametrize("op", sorted(op for op in UNARY if UNARY[op][2] is not None))
def test_unary_backward(op, dtype):
    gen, ref, dref = UNARY[op]
    xn, xd = make("stride0", dtype, gen)
    gyn, gyd = make("13x5", dtype, uniform(-1, 1))
    gyn, gyd = gyn[:3, :5], gyd[:3, :5]
    params = PARAMS.get(op, {})
    y = ke.unary(op, xd, **params)
    expected = dref(f64(xn)) * f64(gyn)
    reads = ke.UNARY_GRAD_READS[op]
    # both operands, x alone (y recomputed), and only the operand autograd saves (the other None: not read)
    saved_only = (xd if reads == "x" else None, y if reads == "y" else None)
    for x_arg, y_arg, what in ((xd, y, "x, y"), (xd, None, "x"), (*saved_only, f"only {reads}")):
        gx = host(ke.unary_bwd(op, x_arg, y_arg, gyd, **params))
        assert gx.dtype == dtype
        # y rounded to dtype feeds the formula when given: loosen 16-bit tolerances by one rounding
        assert_close(gx, expected, F32 if dtype == F32 else dtype, f"{op} given {what}")


def test_unary_grad_reads_matches_the_backend_interface():
    from tritongrad.backends import base
    assert {op: r for op, r in ke.UNARY_GRAD_READS.items() if not op.startswith("clamp")} == base.UNARY_SAVES
    with pytest.raises(ValueError, match="needs the forward input x"):
        ke.unary_bwd("log", None, dev(np.ones(3, F32)), dev(np.ones(3, F32)))
    with pytest.raises(ValueError, match="needs the forward output y"):
        ke.unary_bwd("exp", None, None, dev(np.ones(3, F32)))


def test_unary_rejects_bad_input():
    with pytest.raises(TypeError, match="floating"):
        ke.unary("exp", dev(np.arange(3)))
    with pytest.raises(ValueError, match="unknown unary op"):
        ke.unary("cube", dev(np.ones(3, F32)))
    with pytest.raises(TypeError, match="unexpected parameters"):
        ke.unary("relu", dev(np.ones(3, F32)), alpha=1.0)


# ------------------------------------------------------------------------------------------------ binary
def _floordiv(a, b):
    return np.floor_divide(a, b)


# op -> (a generator, b generator, reference)
_ANY, _POS, _NZ = uniform(-3, 3), uniform(0.5, 2), (lambda s: RNG.choice([-1, 1], size=s) * RNG.uniform(0.5, 3, s))
BINARY = {
    "add": (_ANY, _ANY, np.add), "sub": (_ANY, _ANY, np.subtract), "mul": (_ANY, _ANY, np.multiply),
    "div": (_ANY, _NZ, np.divide), "pow": (_POS, _ANY, np.power),
    "maximum": (_ANY, _ANY, np.maximum), "minimum": (_ANY, _ANY, np.minimum),
    "floor_divide": (_ANY, _NZ, _floordiv), "remainder": (_ANY, _NZ, np.remainder),
    "atan2": (_ANY, _ANY, np.arctan2),
    "eq": (lambda s: RNG.integers(0, 3, s), lambda s: RNG.integers(0, 3, s), np.equal),
    "ne": (lambda s: RNG.integers(0, 3, s), lambda s: RNG.integers(0, 3, s), np.not_equal),
    "lt": (_ANY, _ANY, np.less), "le": (_ANY, _ANY, np.less_equal),
    "gt": (_ANY, _ANY, np.greater), "ge": (_ANY, _ANY, np.greater_equal),
    "logical_and": (lambda s: RNG.integers(0, 2, s), lambda s: RNG.integers(0, 2, s), np.logical_and),
    "logical_or": (lambda s: RNG.integers(0, 2, s), lambda s: RNG.integers(0, 2, s), np.logical_or),
    "logical_xor": (lambda s: RNG.integers(0, 2, s), lambda s: RNG.integers(0, 2, s), np.logical_xor),
    "bitwise_and": (lambda s: RNG.integers(0, 64, s), lambda s: RNG.integers(0, 64, s), np.bitwise_and),
    "bitwise_or": (lambda s: RNG.integers(0, 64, s), lambda s: RNG.integers(0, 64, s), np.bitwise_or),
    "bitwise_xor": (lambda s: RNG.integers(0, 64, s), lambda s: RNG.integers(0, 64, s), np.bitwise_xor),
}
_FLOAT_BINARY = sorted(op for op in BINARY if not op.startswith("bitwise"))


def _pair(op, dtype, layout):
    """``(an, ad, bn, bd)`` for a broadcast pair (13,1)x(5,), a transposed/stride-0 pair, or array-scalar."""
    ga, gb, _ = BINARY[op]
    if layout == "broadcast":
        an, ad = make("13x5", dtype, ga)
        an, ad = an[:, :1], ad[:, :1]
        bn, bd = make("7", dtype, gb)
        return an, ad, bn[:5], bd[:5]
    if layout == "views":
        an, ad = make("transposed", dtype, ga)
        bn, bd = make("stride0", dtype, gb)
        return an[:3], ad[:3], bn, bd
    an, ad = make("7", dtype, ga)
    b = float(gb((1,))[0]) if np.dtype(dtype).kind == "f" or dtype == BF16 else int(gb((1,))[0])
    if layout == "scalar_left":
        return b, b, an, ad
    return an, ad, b, b


def _rounded(v, dtype):
    return f64(np.asarray(v).astype(dtype)) if isinstance(v, np.ndarray) else v


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op,layout", [(op, layout) for op in _FLOAT_BINARY
                                       for layout in ("broadcast", "views", "scalar_right", "scalar_left")
                                       if not (op.startswith("logical") and layout.startswith("scalar"))])
def test_binary_float(op, dtype, layout):
    an, ad, bn, bd = _pair(op, dtype, layout)
    got = host(ke.binary(op, ad, bd))
    ref = BINARY[op][2](_rounded(an, dtype), _rounded(bn, dtype))
    if ref.dtype == BOOL:
        assert got.dtype == BOOL and np.array_equal(got, ref), (got, ref)
    else:
        assert got.dtype == dtype
        tol_dtype = F32 if dtype == F32 and op == "pow" else dtype
        assert_close(got, ref, tol_dtype, f"{op} {layout}")


@pytest.mark.parametrize("dtype", [I32, I64, U8], ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "pow", "maximum", "minimum", "floor_divide", "remainder",
                                "lt", "eq", "bitwise_and", "bitwise_or", "bitwise_xor", "logical_xor"])
def test_binary_integer(op, dtype):
    lo = 0 if dtype == U8 else -9
    a = RNG.integers(lo, 10, (4, 6)).astype(dtype)
    b = RNG.integers(1 if op in ("floor_divide", "remainder") else lo, 10, (6,)).astype(dtype)
    if op in ("floor_divide", "remainder") and dtype != U8:
        b = b * RNG.choice([-1, 1], size=b.shape).astype(dtype)
    if op == "pow":
        a, b = a % 5, np.abs(b) % 4
    got = host(ke.binary(op, dev(a).transpose()[::-1].transpose(), dev(b)))
    ref = BINARY[op][2](a[:, ::-1], b)
    assert got.dtype == ref.dtype and np.array_equal(got, ref), (op, got, ref)


def test_binary_integer_scalars_and_bool():
    a = np.array([5, -7, 12, 0, -1], I64)
    assert np.array_equal(host(ke.binary("floor_divide", dev(a), -4)), np.floor_divide(a, -4))
    assert np.array_equal(host(ke.binary("remainder", 3, dev(a[a != 0]))), np.remainder(3, a[a != 0]))
    assert np.array_equal(host(ke.binary("pow", dev(np.array([2, -1, 1, 3], I64)), dev(np.array([-1, -3, -2, 0], I64)))),
                          [0, -1, 1, 1])
    assert np.array_equal(host(ke.binary("pow", dev(a), 3)), a ** 3)
    p, q = np.array([True, False, True, False]), np.array([True, True, False, False])
    for op, ref in (("add", p | q), ("mul", p & q), ("logical_or", p | q), ("bitwise_xor", p ^ q), ("eq", p == q)):
        got = host(ke.binary(op, dev(p), dev(q)))
        assert got.dtype == BOOL and np.array_equal(got, ref), op


def test_binary_float_edge_values():
    a = np.array([-8.0, -8.0, -2.0, 0.0, 0.0, 0.0, 1.0, 7.5, -7.5, 7.5, np.nan, 2.0], F64)
    b = np.array([1 / 3, 3.0, 2.0, 0.0, 2.0, -1.0, np.nan, -2.0, 2.0, 0.0, 1.0, np.nan], F64)
    with np.errstate(all="ignore"):
        for op, ref in (("pow", np.power), ("floor_divide", np.floor_divide), ("remainder", np.remainder),
                        ("maximum", np.maximum), ("minimum", np.minimum), ("atan2", np.arctan2)):
            assert_close(host(ke.binary(op, dev(a), dev(b))), ref(a, b), F64, op)
    z = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf], F64)
    y, x = np.meshgrid(z, z)
    assert_close(host(ke.binary("atan2", dev(y), dev(x))), np.arctan2(y, x), F64, "atan2 zeros/infs")


@pytest.mark.parametrize("dtype", [F64, F32])
def test_floor_divide_signed_zeros_and_zero_divisors(dtype):
    # the kernel derives a / b where it matters (a zero quotient's sign, b = +-0) without dividing: bit for bit
    # NumPy's (= PyTorch's) results, signs of zeros and infinities included
    z = np.array([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 7.5, np.inf, -np.inf, np.nan], dtype)
    a, b = (v.ravel() for v in np.meshgrid(z, z))
    with np.errstate(all="ignore"):
        ref = np.floor_divide(a, b)
    got = host(ke.binary("floor_divide", dev(a), dev(b)))
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert np.array_equal(got[ok], ref[ok]) and np.array_equal(np.signbit(got[ok]), np.signbit(ref[ok]))


def test_binary_fp64_scalar_keeps_precision():
    x = dev(np.zeros(3, F64))
    got = host(ke.binary("add", x, 0.1))
    assert np.abs(got - 0.1).max() < 1e-14


def test_binary_rejects_bad_input():
    with pytest.raises(TypeError, match="one dtype"):
        ke.binary("add", dev(np.ones(3, F32)), dev(np.ones(3, F64)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        ke.binary("add", dev(np.ones(3, F32)), dev(np.ones(4, F32)))
    with pytest.raises(TypeError, match="integer or bool"):
        ke.binary("bitwise_and", dev(np.ones(3, F32)), dev(np.ones(3, F32)))
    with pytest.raises(TypeError, match="two scalars"):
        ke.binary("add", 1.0, 2.0)


# op -> (ga, gb) references in float64 given a, b
BINARY_GRADS = {
    "add": lambda a, b: (np.ones_like(a * b), np.ones_like(a * b)),
    "sub": lambda a, b: (np.ones_like(a * b), -np.ones_like(a * b)),
    "mul": lambda a, b: (b + 0 * a, a + 0 * b),
    "div": lambda a, b: (1 / b + 0 * a, -a / b ** 2),
    "pow": lambda a, b: (b * a ** (b - 1), a ** b * np.log(a)),
    "maximum": lambda a, b: ((a > b) + 0.5 * (a == b), (b > a) + 0.5 * (a == b)),
    "minimum": lambda a, b: ((a < b) + 0.5 * (a == b), (b < a) + 0.5 * (a == b)),
    "atan2": lambda a, b: (b / (a * a + b * b), -a / (a * a + b * b)),
    "remainder": lambda a, b: (np.ones_like(a * b), -np.floor_divide(a, b)),
}


@pytest.mark.parametrize("layout", ["broadcast", "views", "scalar_right", "scalar_left"])
@pytest.mark.parametrize("dtype", [F32, BF16, F64], ids=str)
@pytest.mark.parametrize("op", sorted(BINARY_GRADS))
def test_binary_backward(op, dtype, layout):
    an, ad, bn, bd = _pair(op, dtype, layout)
    a64, b64 = _rounded(an, dtype), _rounded(bn, dtype)
    shape = np.broadcast_shapes(np.shape(a64), np.shape(b64))
    gcn = RNG.uniform(-1, 1, shape).astype(dtype)
    ga, gb = ke.binary_bwd(op, ad, bd, dev(gcn))
    ra, rb = BINARY_GRADS[op](np.asarray(a64, F64), np.asarray(b64, F64))
    for name, got, r, is_scalar in (("ga", ga, ra, layout == "scalar_left"), ("gb", gb, rb, layout == "scalar_right")):
        if is_scalar:
            assert got is None
        else:
            assert_close(host(got), np.broadcast_to(r, shape) * f64(gcn), dtype, f"{op} {layout} {name}")
    if layout == "broadcast":
        only_b = ke.binary_bwd(op, ad, bd, dev(gcn), need_a=False)
        assert only_b[0] is None and np.array_equal(host(only_b[1]), host(gb))


def test_binary_backward_special_rules():
    a = dev(np.array([0.0, 0.0, 2.0, -2.0], F64))
    b = dev(np.array([0.0, 2.0, 0.0, 2.0], F64))
    gc = dev(np.array([1.0, 1.0, 1.0, 1.0], F64))
    ga, gb = ke.binary_bwd("pow", a, b, gc)
    assert np.array_equal(host(ga), [0.0, 0.0, 0.0, -4.0])
    assert host(gb)[:2].tolist() == [0.0, 0.0] and np.isnan(host(gb)[3])
    x = dev(np.array([1.0, 2.0, 3.0], F32))
    ga, gb = ke.binary_bwd("maximum", x, dev(np.array([1.0, 1.0, 4.0], F32)), dev(np.full(3, 2.0, F32)))
    assert host(ga).tolist() == [1.0, 2.0, 0.0] and host(gb).tolist() == [1.0, 0.0, 2.0]


# ------------------------------------------------------------------------------------------------ where/clamp/tril
@pytest.mark.parametrize("dtype", [F32, BF16, I64, BOOL], ids=str)
@pytest.mark.parametrize("layout", ["arrays", "scalar_a", "scalar_b", "scalars"])
def test_where(dtype, layout):
    cond = RNG.random((4, 1, 5)) < 0.5
    a = RNG.integers(0, 2, (3, 1)).astype(dtype) if dtype == BOOL else RNG.integers(-9, 9, (3, 1)).astype(dtype)
    b = np.ones((4, 3, 5), dtype)[:, :, ::-1]
    av = 3 if layout in ("scalar_a", "scalars") else None
    bv = 0 if layout in ("scalar_b", "scalars") else None
    if dtype == BOOL:
        av, bv = (None if av is None else True), (None if bv is None else False)
    ad = dev(a) if av is None else av
    bd = dev(np.ascontiguousarray(b[:, :, ::-1]))[:, :, ::-1] if bv is None else bv
    got = host(ke.where(dev(cond), ad, bd))
    ref = np.where(cond, a if av is None else av, b if bv is None else bv)
    if layout == "scalars":
        assert got.dtype == (BOOL if dtype == BOOL else I64)
    else:
        assert got.dtype == dtype
    assert np.array_equal(f64(got), f64(ref.astype(got.dtype)))


@pytest.mark.parametrize("dtype", [F32, BF16, F64, I32], ids=str)
@pytest.mark.parametrize("lo,hi", [(-1, 1), (None, 0.5), (-0.5, None), (1, -1), (None, None)])
def test_clamp_and_backward(dtype, lo, hi):
    if dtype == I32:
        lo, hi = (None if lo is None else int(lo * 2)), (None if hi is None else int(hi * 2))
        xn, xd = make("transposed", dtype, lambda s: RNG.integers(-3, 4, s))
    else:
        xn, xd = make("transposed", dtype, uniform(-2, 2))
    x = f64(xn)
    ref = x if lo is None else np.maximum(x, lo)
    ref = ref if hi is None else np.minimum(ref, hi)
    got = host(ke.clamp(xd, lo, hi))
    assert got.dtype == dtype
    assert_close(got, ref, F64 if dtype == I32 else dtype, f"clamp {lo} {hi}")
    if dtype == I32:
        return
    gyn, gyd = make("transposed", dtype, uniform(-1, 1))
    keep = np.ones(x.shape, bool) if lo is None else x >= lo
    keep &= True if hi is None else x <= hi
    assert_close(host(ke.clamp_bwd(xd, lo, hi, gyd)), np.where(keep, f64(gyn), 0.0), dtype, "clamp_bwd")


def test_clamp_keeps_nan():
    x = dev(np.array([np.nan, -5.0, 5.0], F32))
    got = host(ke.clamp(x, -1.0, 1.0))
    assert np.isnan(got[0]) and got[1:].tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("k", [-2, 0, 1, 7])
@pytest.mark.parametrize("upper", [False, True])
def test_tril(k, upper):
    base = RNG.standard_normal((2, 5, 3, 4)).astype(BF16)
    xn = base.transpose(0, 3, 1, 2)[:, ::2]
    got = host(ke.tril(dev(base).transpose(0, 3, 1, 2)[:, ::2], k, upper))
    ref = np.triu(f64(xn), k) if upper else np.tril(f64(xn), k)
    assert got.dtype == BF16 and np.array_equal(f64(got), ref)


# ------------------------------------------------------------------------------------------------ copy/cast/fill
CAST_DTYPES = [F32, F16, BF16, F64, I32, I64, U8, BOOL]


@pytest.mark.parametrize("src_dtype", CAST_DTYPES, ids=str)
def test_cast_to_every_dtype(src_dtype):
    vals = np.array([0.0, 1.0, -0.0, 2.75, -3.5, 100.25, 7.0], F64)
    if src_dtype in (U8, BOOL):
        vals = np.abs(vals)
    src = vals.astype(src_dtype)
    for dst_dtype in CAST_DTYPES:
        if dst_dtype == U8 and src_dtype not in (U8, BOOL):
            continue  # negative floats -> uint8 is undefined behaviour in C and CUDA
        got = host(kc.cast(dev(src), dst_dtype))
        ref = src.astype(dst_dtype) if src_dtype != BF16 else f64(src).astype(dst_dtype)
        assert got.dtype == dst_dtype and np.array_equal(f64(got), f64(ref)), (src_dtype, dst_dtype, got, ref)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_copy_into_strided_dst_and_contiguous(view):
    shape, fn = VIEWS[view]
    dst_base = np.zeros(shape, F32)
    dst_dev = dev(dst_base)
    dst_view = fn(dst_dev)
    if view == "stride0":
        with pytest.raises(ValueError, match="share memory"):
            kc.copy_(dst_view, 1.0)
        return
    src = RNG.standard_normal(dst_view.shape[-1:]).astype(BF16)  # broadcast over leading dims
    assert kc.copy_(dst_view, dev(src)) is dst_view
    expected = dst_base.copy()
    fn(expected)[...] = f64(src)
    assert np.array_equal(host(dst_dev), expected)
    contig = kc.contiguous(dst_view)
    assert contig.is_contiguous() and np.array_equal(host(contig), fn(expected))
    kc.copy_(dst_view, -2.5)
    fn(expected)[...] = -2.5
    assert np.array_equal(host(dst_dev), expected)


@pytest.mark.parametrize("dtype", CAST_DTYPES, ids=str)
def test_full(dtype):
    value = True if dtype == BOOL else 7
    got = host(kc.full((3, 1, 5), value, dtype))
    assert got.dtype == dtype and np.array_equal(got, np.full((3, 1, 5), value, dtype))
    assert host(kc.full((), 0.1, F64)).item() == 0.1
    assert np.isnan(host(kc.full((2,), np.nan, F32))).all()
    assert host(kc.full((0, 4), 1.0, F32)).shape == (0, 4)


@pytest.mark.parametrize("start,step,n,dtype", [(0, 1, 7, I64), (3, -2, 5, I32), (0.5, 0.25, 13, F32),
                                                (1, 0.1, 11, F64), (-2, 3, 4, BF16), (0, 1, 0, F32)])
def test_arange(start, step, n, dtype):
    got = host(kc.arange(start, step, n, dtype))
    ref = (start + step * np.arange(n, dtype=F64 if isinstance(step, float) or isinstance(start, float) else I64))
    assert got.dtype == dtype and np.array_equal(got, ref.astype(dtype))


def test_copy_rejects_bad_shapes():
    with pytest.raises(ValueError, match="cannot be broadcast"):
        kc.copy_(dev(np.zeros((2, 3), F32)), dev(np.zeros((3, 3), F32)))


def test_collapse_dims():
    assert collapse_dims((2, 3, 4), [(12, 4, 1), (0, 0, 0)]) == ((24,), [(1,), (0,)])
    assert collapse_dims((2, 1, 4), [(4, 99, 1)]) == ((8,), [(1,)])
    assert collapse_dims((3, 4), [(1, 3)]) == ((3, 4), [(1, 3)])
    assert collapse_dims((), [()]) == ((1,), [(0,)])


# ------------------------------------------------------------------------------------------------ random
@pytest.mark.parametrize("dtype", [F32, BF16, F64], ids=str)
@pytest.mark.parametrize("seed,offset", [(0, 0), (1234, 17), (2 ** 40 + 5, 2 ** 32 - 50)])
def test_rand_and_randn_match_philox(dtype, seed, offset):
    shape = (7, 13)
    counters = offset + np.arange(91).reshape(shape)
    got = host(kr.rand(shape, dtype, seed, offset))
    assert got.dtype == dtype and np.array_equal(got, _philox.rand(seed, counters).astype(dtype))
    got = host(kr.randn(shape, dtype, seed, offset))
    assert_close(got, _philox.randn(seed, counters).astype(dtype), dtype, "randn")


@pytest.mark.parametrize("dtype", [I64, I32, U8], ids=str)
def test_randint_matches_philox(dtype):
    seed, offset, low, high = 99, 2 ** 32 - 10, -3, 200 if dtype != U8 else 250
    if dtype == U8:
        low = 5
    got = host(kr.randint((4, 5), low, high, dtype, seed, offset))
    draw = _philox.randint(seed, offset + np.arange(20).reshape(4, 5)).astype(np.int64)
    assert got.dtype == dtype and np.array_equal(got, (low + draw % (high - low)).astype(dtype))
    assert got.min() >= low and got.max() < high


def test_random_rejects_bad_arguments():
    with pytest.raises(ValueError, match="seed"):
        kr.rand((2,), F32, -1, 0)
    with pytest.raises(ValueError, match="greater than low"):
        kr.randint((2,), 5, 5, I64, 0, 0)


# ------------------------------------------------------------------------------------------------ indexing
@pytest.mark.parametrize("dtype", [F32, BF16, I64, BOOL], ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dtype, dim):
    base = RNG.integers(0, 5, (4, 3, 5)).astype(dtype)
    xn, xd = base.transpose(1, 0, 2)[:, ::-1], dev(base).transpose(1, 0, 2)[:, ::-1]
    n = xn.shape[dim]
    index = np.array([n - 1, 0, 0, n - 1, 1 % n], np.int64)
    got = host(ki.index_select(xd, dim, dev(index)))
    assert got.dtype == dtype and np.array_equal(got, np.take(xn, index, axis=dim))


@pytest.mark.parametrize("dtype", [F32, BF16, F16, F64, I32, I64], ids=str)
def test_index_add_accumulates_duplicates(dtype):
    index = np.array([2, 0, 2, 2, 5], np.int64)
    src = RNG.integers(-4, 5, (3, 5, 2)).astype(dtype)
    got = host(ki.index_add((3, 6, 2), dtype, 1, dev(index)[::1], dev(src)))
    ref = np.zeros((3, 6, 2), F64)
    np.add.at(ref, (slice(None), index), f64(src))
    assert got.dtype == dtype and np.array_equal(f64(got), ref)


@pytest.mark.parametrize("dim", [0, 1])
def test_gather_and_scatter_add(dim):
    x = RNG.standard_normal((4, 6)).astype(F32)
    index = RNG.integers(0, x.shape[dim], (3, 5))
    got = host(ki.gather(dev(x).transpose().transpose(), dim, dev(index)))
    ref = np.empty((3, 5), F32)
    for i in range(3):
        for j in range(5):
            ref[i, j] = x[index[i, j], j] if dim == 0 else x[i, index[i, j]]
    assert np.array_equal(got, ref)
    src = RNG.standard_normal((4, 7)).astype(BF16)
    out = host(ki.scatter_add((4, 6), BF16, dim, dev(index), dev(src)))
    acc = np.zeros((4, 6), F64)
    for i in range(3):
        for j in range(5):
            acc[(index[i, j], j) if dim == 0 else (i, index[i, j])] += f64(src[i, j])
    assert out.dtype == BF16
    assert_close(out, acc, BF16, "scatter_add")


def test_index_copy_into_view():
    x_base = np.zeros((5, 8), F32)
    xd = dev(x_base)
    view = xd[:, 1::2]                      # (5, 4), offset and stride 2
    index = np.array([3, 0, 2], np.int64)
    src = RNG.standard_normal((5, 3)).astype(F64)
    assert ki.index_copy_(view, 1, dev(index), dev(src)) is view
    x_base[:, 1::2][:, index] = src
    assert np.array_equal(host(xd), x_base)


@pytest.mark.parametrize("fn", ["index_select", "gather", "index_add", "index_copy_", "scatter_add"])
def test_index_out_of_range_is_an_error(fn):
    x = dev(np.zeros((3, 4), F32))
    bad1 = dev(np.array([0, 4], np.int64))
    bad2 = dev(np.array([[0, -1]], np.int64))
    {"index_select": lambda: ki.index_select(x, 1, bad1),
     "gather": lambda: ki.gather(x, 1, bad2),
     "index_add": lambda: ki.index_add((3, 4), F32, 1, bad1, dev(np.ones((3, 2), F32))),
     "index_copy_": lambda: ki.index_copy_(x, 1, bad1, dev(np.ones((3, 2), F32))),
     "scatter_add": lambda: ki.scatter_add((3, 4), F32, 1, bad2, dev(np.ones((1, 2), F32)))}[fn]()
    # recorded in the device error word, raised at the host's next wait for the device
    bad = -1 if fn in ("gather", "scatter_add") else 4
    with pytest.raises(IndexError, match=rf"^{fn}: index {bad} is out of bounds for dimension 1 with size 4$"):
        runtime.synchronize()
    runtime.synchronize()       # reported once


@pytest.mark.parametrize("case", ["bool_transposed", "float_specials", "rank6", "empty", "scalar", "multi_block"])
def test_nonzero(case):
    if case == "bool_transposed":
        base = RNG.random((5, 4)) < 0.4
        xn, xd = base.T, dev(base).transpose()
    elif case == "float_specials":
        xn = np.array([[0.0, -0.0, np.nan], [1e-30, 0.0, -2.0]], F32)
        xd = dev(xn)
    elif case == "rank6":
        shape, fn = VIEWS["rank6"]
        base = (RNG.random(shape) < 0.5).astype(BF16)
        xn, xd = fn(base), fn(dev(base))
    elif case == "empty":
        xn = np.zeros((3, 0, 2), I64)
        xd = dev(xn)
    elif case == "scalar":
        xn = np.array(3, I32)
        xd = dev(xn)
    else:
        xn = RNG.random(2500) < 0.3
        xd = dev(xn)
    got = host(ki.nonzero(xd))
    ref = np.argwhere(xn)
    assert got.dtype == I64 and got.shape == ref.shape and np.array_equal(got, ref)


@pytest.mark.parametrize("dtype", [F32, BF16, F64])
@pytest.mark.parametrize("src_shape", [(13, 5), (5,), (1, 5)])
def test_add_inplace_keeps_memory_and_matches_numpy(dtype, src_shape):
    """``add_`` (gradient accumulation) writes dst + src into dst's own memory in one launch."""
    d0 = RNG.standard_normal((13, 5)).astype(dtype)
    s0 = RNG.standard_normal(src_shape).astype(dtype)
    dst, src = dev(d0), dev(s0)
    ptr = dst.data_ptr()
    out = ke.add_(dst, src)
    assert out is dst and dst.data_ptr() == ptr
    ref = d0.astype(np.float64) + s0.astype(np.float64)
    atol, rtol = TOL[dtype]
    np.testing.assert_allclose(host(dst).astype(np.float64), ref, atol=atol, rtol=rtol)


def test_add_inplace_rejects_bad_operands():
    with pytest.raises(ValueError, match="does not broadcast"):
        ke.add_(dev(np.zeros((3,), F32)), dev(np.zeros((2, 3), F32)))
    with pytest.raises(ValueError, match="C-contiguous"):
        ke.add_(dev(np.zeros((3, 4), F32)).transpose(), dev(np.zeros((4, 3), F32)))


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") in ("", "0"),
                    reason="interpreter only: compiled kernels receive scalar arguments as scalars")
def test_interpreter_takes_a_scalar_argument_as_a_loop_bound():
    """Triton's interpreter passes an int argument as a 1-element array; ``range(0, n, BLOCK)`` in a kernel needs
    it as an index. triton 3.6 with numpy >= 2.4 raised TypeError there, so kernels/_compat.py backports the fix:
    the interpreter as patched for every launch (what `_index_fails_on_1d_scalars` probes) must accept it."""
    import triton
    import triton.language as tl
    from triton.runtime import interpreter
    from tritongrad.kernels import _compat
    assert not _compat._index_fails_on_1d_scalars(interpreter, tl), triton.__version__


@pytest.mark.parametrize("dtype", [F64, F32])
def test_negation_keeps_the_sign_of_zero(dtype):
    # triton 3.6 lowers a float's unary minus to 0 - x (-(+0.0) == +0.0); the kernels negate with
    # _common.negate so that neg, its gradient, sub's gradient and atan2 give IEEE signed zeros on every version
    z = np.array([0.0, -0.0, 1.5, -1.5, np.inf, -np.inf], dtype)
    got = host(ke.unary("neg", dev(z)))
    assert np.array_equal(got, -z) and np.array_equal(np.signbit(got), np.signbit(-z))
    g = host(ke.unary_bwd("neg", None, None, dev(z)))
    assert np.array_equal(np.signbit(g), np.signbit(-z))
    _, gb = ke.binary_bwd("sub", dev(z), dev(z), dev(z))
    assert np.array_equal(np.signbit(host(gb)), np.signbit(-z))
    y, x = np.array([-0.0, 0.0], dtype), np.array([2.0, 2.0], dtype)
    assert np.array_equal(np.signbit(host(ke.binary("atan2", dev(y), dev(x)))), [True, False])
