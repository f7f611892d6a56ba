"""The NumPy reference backend, checked against independent formulas and finite differences.

* Forward values: each op against a straightforward per-element (or per-slice) formula in Python's
  ``math``/``statistics`` on float64 values -- different code from the backend's vectorized NumPy.
* Backward: every differentiable op's backward against central differences of its forward in float64,
  under a random upstream gradient, on shapes with size 1, 0-d, broadcast pairs and strided views.
* Dtype rules, tie rules, zeros in ``prod``, error messages, storage semantics.
* Random numbers: Philox4x32-10 known-answer vectors, and bit-exactness against Triton's own
  ``tl.randint4x``/``tl.rand``/``tl.randn`` run in Triton's interpreter.
"""
import inspect
import itertools
import math
import operator
import statistics

import ml_dtypes
import numpy as np
import pytest
import triton
import triton.language as tl

from tritongrad import runtime
from tritongrad.backends import _philox, base
from tritongrad.backends.numpy import NumpyBackend

be = NumpyBackend()
BF16 = np.dtype(ml_dtypes.bfloat16)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
TOL = {F64: (1e-12, 1e-10), F32: (1e-6, 1e-5), F16: (1e-3, 2e-3), BF16: (1e-2, 1e-2)}  # (atol, rtol)
ROUNDED = {F32: TOL[F32], F16: (1e-7, 2.0 ** -11 * 1.05), BF16: (1e-7, 2.0 ** -8 * 1.05)}
"""(atol, rtol) of one rounding of a float32 result to the dtype: half a unit in the last place."""


# =========================================================================================== helpers
def assert_close(actual, expected, dtype=F64, atol=None, rtol=None):
    """``|actual - expected| <= atol + rtol * |expected|`` (nan matches nan); prints the worst element."""
    d_atol, d_rtol = TOL[np.dtype(dtype)]
    atol, rtol = d_atol if atol is None else atol, d_rtol if rtol is None else rtol
    actual = np.asarray(actual).astype(np.float64)
    expected = np.asarray(expected).astype(np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    err = np.abs(actual - expected)
    bad = ~((err <= atol + rtol * np.abs(expected)) | (np.isnan(actual) & np.isnan(expected))
            | (actual == expected))
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.where(bad, err, -1)), bad.shape) if bad.ndim else ()
        raise AssertionError(f"{int(bad.sum())} of {bad.size} elements differ; worst at {i}: "
                             f"got {actual[i]!r}, expected {expected[i]!r} (atol={atol}, rtol={rtol})")


def numeric_grads(f, inputs, gy, eps=1e-6):
    """Central differences of ``sum(gy * f(*inputs))`` with respect to every element of every input."""
    grads = []
    for i, x in enumerate(inputs):
        g = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            values = []
            for step in (eps, -eps):
                moved = [v.copy() for v in inputs]
                moved[i][idx] += step
                values.append(np.sum(gy * f(*moved)))
            g[idx] = (values[0] - values[1]) / (2 * eps)
        grads.append(g)
    return grads


def check_grads(f, backward, inputs, atol=1e-6, rtol=1e-5, seed=0):
    """``backward(inputs, gy)`` (one gradient per input) against finite differences of ``f``."""
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    gy = np.random.default_rng(seed).standard_normal(np.shape(f(*inputs)))
    for got, want in zip(backward(inputs, gy), numeric_grads(f, inputs, gy)):
        assert_close(got, want, atol=atol, rtol=rtol)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (undo broadcasting, as the autograd layer does)."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(d for d, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


def elementwise(fn, *arrays, dtype=np.float64):
    """``fn`` applied to Python scalars element by element (after broadcasting)."""
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape, dtype=dtype)
    for idx in np.ndindex(out.shape):
        out[idx] = fn(*(a[idx].item() for a in arrays))
    return out


def per_slice(fn, x, dims, keepdim, dtype=np.float64):
    """``fn(list of values)`` over the axes ``dims`` of ``x`` (a reduction written with Python loops)."""
    rest = [d for d in range(x.ndim) if d not in dims]
    out_shape = tuple(1 if d in dims else x.shape[d] for d in range(x.ndim))
    out = np.empty(out_shape, dtype=dtype)
    for idx in np.ndindex(*[x.shape[d] for d in rest]):
        sl = [slice(None)] * x.ndim
        for d, i in zip(rest, idx):
            sl[d] = i
        out_idx = tuple(0 if d in dims else sl[d] for d in range(x.ndim))
        out[out_idx] = fn([v.item() for v in np.asarray(x[tuple(sl)]).reshape(-1)])
    return out if keepdim else out.reshape([n for d, n in enumerate(out_shape) if d not in dims])


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def strided(shape, seed=0):
    """A non-contiguous float64 view of ``shape`` (every other column of a wider, reversed array)."""
    wide = randn(shape[:-1] + (2 * shape[-1],), seed)
    return wide[..., ::-2]


SHAPES = [(), (1,), (7,), (3, 4), "strided"]


def sample(shape, seed=0):
    return strided((3, 4), seed) if shape == "strided" else randn(shape, seed)


def test_every_interface_method_is_implemented():
    abstract = [name for name, fn in vars(base.Backend).items()
                if callable(fn) and "raise NotImplementedError" in inspect.getsource(fn)]
    assert len(abstract) > 30
    assert [name for name in abstract if getattr(NumpyBackend, name) is getattr(base.Backend, name)] == []


# =========================================================================================== unary
def _away_from_integers(x):
    """Fractional parts .1/.35/.6/.85: far from the jumps of floor/ceil/round/trunc."""
    return np.round(x * 4) / 4 + 0.1


def _away_from_zero(x):
    return x + np.where(x >= 0, 0.2, -0.2)


def _positive(x):
    return np.abs(x) + 0.3


_STEP_INPUT = _away_from_integers
UNARY_DOMAIN = {"log": _positive, "sqrt": _positive, "rsqrt": _positive, "reciprocal": _positive,
                "log1p": _positive, "abs": _away_from_zero, "relu": _away_from_zero,
                "leaky_relu": _away_from_zero, "sign": _away_from_zero, "floor": _STEP_INPUT,
                "ceil": _STEP_INPUT, "round": _STEP_INPUT, "trunc": _STEP_INPUT}
UNARY_PARAMS = {"leaky_relu": {"negative_slope": 0.2}}


def _py_sigmoid(v):
    return math.exp(v) / (1.0 + math.exp(v)) if v < 0 else 1.0 / (1.0 + math.exp(-v))


UNARY_REFERENCE = {
    "neg": operator.neg, "abs": abs, "exp": math.exp, "log": math.log, "log1p": math.log1p,
    "expm1": math.expm1, "sqrt": math.sqrt, "rsqrt": lambda v: v ** -0.5, "sin": math.sin, "cos": math.cos,
    "tanh": math.tanh, "sigmoid": _py_sigmoid, "relu": lambda v: max(v, 0.0),
    "sign": lambda v: math.copysign(1.0, v) if v else 0.0, "floor": math.floor, "ceil": math.ceil,
    "round": round, "trunc": math.trunc, "reciprocal": lambda v: 1 / v, "square": lambda v: v ** 2,
    "gelu": lambda v: 0.5 * v * math.erfc(-v / math.sqrt(2)),
    # 0.5 (1 + tanh(u)) == sigmoid(2u)
    "gelu_tanh": lambda v: v * _py_sigmoid(2 * math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)),
    "silu": lambda v: v * _py_sigmoid(v),
    "leaky_relu": lambda v: v if v > 0 else 0.2 * v,
    "logical_not": lambda v: not v, "isnan": math.isnan, "isinf": math.isinf,
}


def unary_input(op, shape, seed=0):
    x = sample(shape, seed)
    return UNARY_DOMAIN.get(op, lambda v: v)(x)


@pytest.mark.parametrize("op", base.UNARY_OPS)
def test_unary_forward(op):
    for shape in SHAPES:
        x = unary_input(op, shape)
        ref = elementwise(UNARY_REFERENCE[op], x)
        assert_close(be.unary(op, x, **UNARY_PARAMS.get(op, {})), ref)
    x = unary_input(op, (5, 3), seed=1)
    for dtype in (F32, F16, BF16):
        y = be.unary(op, x.astype(dtype), **UNARY_PARAMS.get(op, {}))
        ref = elementwise(UNARY_REFERENCE[op], x.astype(dtype))
        assert y.dtype == (np.bool_ if op in ("logical_not", "isnan", "isinf") else dtype)
        assert_close(y, ref, dtype, *ROUNDED[dtype])


@pytest.mark.parametrize("op", base.UNARY_DIFFERENTIABLE)
def test_unary_backward(op):
    params = UNARY_PARAMS.get(op, {})
    for shape in SHAPES:
        x = unary_input(op, shape, seed=2)
        check_grads(lambda v: be.unary(op, v, **params),
                    lambda xs, gy: [be.unary_bwd(op, xs[0], be.unary(op, xs[0], **params), gy, **params)],
                    [x])


def test_unary_nonsmooth_points_follow_pytorch():
    zero = np.zeros(3)
    gy = np.array([1.0, 2.0, 3.0])
    for op in ("relu", "abs", "sign", "floor"):
        assert_close(be.unary_bwd(op, zero, be.unary(op, zero), gy), np.zeros(3))
    assert_close(be.unary_bwd("leaky_relu", zero, zero, gy, negative_slope=0.1), 0.1 * gy)


def test_unary_derivatives_cover_the_saves_table():
    from tritongrad.backends.numpy import _UNARY_DERIVATIVE
    assert set(_UNARY_DERIVATIVE) == set(base.UNARY_SAVES) == set(base.UNARY_DIFFERENTIABLE)


def test_unary_bwd_edge_values_follow_pytorch():
    # relu: threshold_backward(gy, y, 0) passes gy where y is nan, gives 0 (not inf * 0) where y <= 0;
    # the zero-derivative ops give zeros even for a nan or inf gy (PyTorch's zeros_like(grad))
    y = be.unary("relu", np.array([math.nan, -1.0, 2.0]))
    assert be.unary_bwd("relu", None, y, np.array([5.0, math.inf, 3.0])).tolist() == [5.0, 0.0, 3.0]
    for op in ("sign", "floor", "ceil", "round", "trunc"):
        assert be.unary_bwd(op, None, None, np.array([math.nan, math.inf])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16], ids=str)
@pytest.mark.parametrize("op", base.UNARY_DIFFERENTIABLE)
def test_unary_bwd_reads_only_the_operand_autograd_saves(op, dtype):
    params = UNARY_PARAMS.get(op, {})
    x64 = unary_input(op, (4, 3), seed=3)
    gy64 = sample((4, 3), seed=4)
    x, gy = x64.astype(dtype), gy64.astype(dtype)
    reads = base.UNARY_SAVES[op]
    y = be.unary(op, x, **params)
    gx = be.unary_bwd(op, x if reads == "x" else None, y if reads == "y" else None, gy, **params)
    assert gx.dtype == dtype
    h = 1e-6        # the float64 reference: a central difference of the float64 forward on the rounded input
    xr = x.astype(np.float64)
    ref = (be.unary(op, xr + h, **params) - be.unary(op, xr - h, **params)) / (2 * h) * gy.astype(np.float64)
    if op in ("sign", "floor", "ceil", "round", "trunc"):
        ref = np.zeros_like(ref)
    tol = 1e-4 if dtype == np.float32 else 2e-2
    np.testing.assert_allclose(gx.astype(np.float64), ref, rtol=tol, atol=tol)
    if reads is not None:       # the operand read is missing: a clear error, not a wrong gradient
        with pytest.raises(ValueError, match=f"needs the forward {'input x' if reads == 'x' else 'output y'}"):
            be.unary_bwd(op, None, y if reads == "x" else None, gy, **params)


def test_sign_of_nan_is_zero_as_in_pytorch():
    x = np.array([math.nan, -0.0, -2.0, math.inf])
    assert be.unary("sign", x).tolist() == [0.0, 0.0, -1.0, 1.0]


def test_unary_on_integers():
    x = np.array([-3, 0, 5], dtype=np.int32)
    for op, expected in [("neg", [3, 0, -5]), ("abs", [3, 0, 5]), ("relu", [0, 0, 5]), ("sign", [-1, 0, 1]),
                         ("square", [9, 0, 25]), ("floor", [-3, 0, 5])]:
        y = be.unary(op, x)
        assert y.dtype == np.int32 and y.tolist() == expected, op
    assert be.unary("logical_not", x).tolist() == [False, True, False]
    with pytest.raises(TypeError, match="exp"):
        be.unary("exp", x)


# =========================================================================================== binary
def _nonzero(v):
    return np.where(np.abs(v) < 0.5, np.sign(v) + (v == 0) + v, v)


BINARY_DOMAIN = {"div": (None, _nonzero), "pow": (_positive, None), "atan2": (None, _nonzero),
                 "remainder": (None, _nonzero), "floor_divide": (None, _nonzero)}
BINARY_REFERENCE = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "maximum": max, "minimum": min, "floor_divide": operator.floordiv,
    "remainder": operator.mod, "atan2": math.atan2, "eq": operator.eq, "ne": operator.ne,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "logical_and": lambda p, q: bool(p) and bool(q), "logical_or": lambda p, q: bool(p) or bool(q),
    "logical_xor": lambda p, q: bool(p) != bool(q),
    "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
}
BOOL_RESULT = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor")
BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor")
SHAPE_PAIRS = [((), ()), ((1,), (5,)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((5,), ()), ((3, 4), "strided")]


def binary_inputs(op, sa, sb, seed=0):
    a, b = sample(sa, seed), sample(sb, seed + 1)
    dom_a, dom_b = BINARY_DOMAIN.get(op, (None, None))
    return (dom_a(a) if dom_a else a), (dom_b(b) if dom_b else b)


@pytest.mark.parametrize("op", [op for op in base.BINARY_OPS if op not in BITWISE])
def test_binary_forward(op):
    for sa, sb in SHAPE_PAIRS:
        a, b = binary_inputs(op, sa, sb)
        a = np.asarray(np.round(a, 1))            # some exact ties, so eq/le/maximum see equal operands
        b = np.asarray(np.round(b, 1))
        ref = elementwise(BINARY_REFERENCE[op], a, b)
        assert_close(be.binary(op, a, b), ref)
        assert_close(be.binary(op, a, 0.7), elementwise(BINARY_REFERENCE[op], a, np.float64(0.7)))
    a, b = binary_inputs(op, (4, 3), (3,), seed=3)
    for dtype in (F32, F16, BF16):
        y = be.binary(op, a.astype(dtype), b.astype(dtype))
        assert y.dtype == (np.bool_ if op in BOOL_RESULT else dtype)
        ref = elementwise(BINARY_REFERENCE[op], a.astype(dtype), b.astype(dtype))
        assert_close(y, ref, dtype, *ROUNDED[dtype])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "pow", "maximum", "minimum", "floor_divide", "remainder",
                                "eq", "lt", "logical_xor", *BITWISE])
def test_binary_integers_follow_python(op):
    a = np.array([[-7], [7], [0], [5]], dtype=np.int32)
    b = np.array([3, 0 if op == "pow" else -3, 2, 1], dtype=np.int32)
    c = be.binary(op, a, b)
    assert c.dtype == (np.bool_ if op in BOOL_RESULT else np.int32)
    assert c.tolist() == elementwise(BINARY_REFERENCE[op], a, b, dtype=object).tolist()


def test_integer_division_by_zero_and_negative_powers_raise():
    a = np.array([4, 5], dtype=np.int64)
    for op in ("floor_divide", "remainder"):
        with pytest.raises(RuntimeError, match=f"ZeroDivisionError.*{op}"):
            be.binary(op, a, np.array([1, 0], dtype=np.int64))
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        be.binary("pow", a, -1)
    assert be.binary("floor_divide", np.array([1.0, -1.0]), 0.0).tolist() == [math.inf, -math.inf]


def test_binary_scalar_is_converted_to_the_array_dtype():
    x = np.array([0.1], dtype=BF16)
    assert be.binary("eq", x, 0.1).tolist() == [True]          # 0.1 rounds to bfloat16 first, as in PyTorch
    with pytest.raises(TypeError, match="different dtypes"):
        be.binary("add", np.zeros(2, np.float32), np.zeros(2, np.float64))


@pytest.mark.parametrize("op", base.BINARY_DIFFERENTIABLE)
def test_binary_backward(op):
    for sa, sb in SHAPE_PAIRS:
        a, b = binary_inputs(op, sa, sb, seed=4)

        def backward(xs, gy):
            ga, gb = be.binary_bwd(op, xs[0], xs[1], gy)
            return unbroadcast(ga, xs[0].shape), unbroadcast(gb, xs[1].shape)

        check_grads(lambda p, q: be.binary(op, p, q), backward, [a, b])
    a, _ = binary_inputs(op, (3, 2), ())
    ga, gb = be.binary_bwd(op, a, 1.5, np.ones((3, 2)))
    assert gb is None
    check_grads(lambda p: be.binary(op, p, 1.5), lambda xs, gy: [be.binary_bwd(op, xs[0], 1.5, gy)[0]], [a])


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_binary_ties_split_the_gradient(op):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 0.0])
    ga, gb = be.binary_bwd(op, a, b, np.array([2.0, 2.0, 2.0]))
    a_wins = [0.0, 0.0, 2.0] if op == "maximum" else [0.0, 2.0, 0.0]
    assert ga.tolist() == [1.0, a_wins[1], a_wins[2]]
    assert gb.tolist() == [1.0, 2.0 - a_wins[1], 2.0 - a_wins[2]]


def test_pow_exponent_gradient_at_zero_base():
    a = np.array([0.0, 0.0, 2.0])
    b = np.array([2.0, 0.0, 3.0])
    _, gb = be.binary_bwd("pow", a, b, np.ones(3))
    assert_close(gb, [0.0, 0.0, 8 * math.log(2)])


# =========================================================================================== where, clamp, tril
def test_where_forward():
    cond = np.array([[True], [False]])
    a = np.arange(3.0, dtype=np.float32)
    assert be.where(cond, a, -1.0).tolist() == [[0.0, 1.0, 2.0], [-1.0, -1.0, -1.0]]
    assert be.where(cond, a, -1.0).dtype == np.float32
    assert be.where(np.array(True), 2, 3).tolist() == 2


def test_clamp():
    x = sample((3, 4), seed=5) * 2
    for lo, hi in [(-0.5, 0.7), (None, 0.3), (-0.2, None), (None, None)]:
        ref = elementwise(lambda v: min(max(v, -math.inf if lo is None else lo), math.inf if hi is None else hi), x)
        assert_close(be.clamp(x, lo, hi), ref)
        check_grads(lambda v: be.clamp(v, lo, hi), lambda xs, gy: [be.clamp_bwd(xs[0], lo, hi, gy)], [x])
    assert be.clamp(x, None, None) is not x
    assert be.clamp_bwd(np.array([1.0, 2.0]), 1.0, 2.0, np.array([3.0, 4.0])).tolist() == [3.0, 4.0]


@pytest.mark.parametrize("upper", [False, True])
def test_tril(upper):
    x = sample((2, 3, 4))
    for k in (-1, 0, 2):
        keep = (lambda i, j: j - i >= k) if upper else (lambda i, j: j - i <= k)
        ref = np.array([[[x[b, i, j] if keep(i, j) else 0.0 for j in range(4)] for i in range(3)] for b in range(2)])
        assert_close(be.tril(x, k, upper), ref)
        check_grads(lambda v: be.tril(v, k, upper), lambda xs, gy: [be.tril(gy, k, upper)], [x])


# =========================================================================================== reductions
def _py_logsumexp(v):
    return math.log(math.fsum(math.exp(t) for t in v))


def _py_var(correction):
    return lambda v: math.fsum((t - statistics.fmean(v)) ** 2 for t in v) / (len(v) - correction)


def _py_norm(p):
    if p == math.inf:
        return lambda v: max(abs(t) for t in v)
    return lambda v: math.fsum(abs(t) ** p for t in v) ** (1 / p)


# (op, params, reference on a list of values)
REDUCTIONS = [
    ("sum", {}, math.fsum), ("mean", {}, statistics.fmean), ("prod", {}, math.prod),
    ("amax", {}, max), ("amin", {}, min), ("all", {}, all), ("any", {}, any),
    ("logsumexp", {}, _py_logsumexp),
    ("var", {"correction": 1}, statistics.variance), ("var", {"correction": 0}, statistics.pvariance),
    ("var", {"correction": 2}, _py_var(2)),
    ("norm", {"p": 2}, _py_norm(2)), ("norm", {"p": 1}, _py_norm(1)), ("norm", {"p": math.inf}, _py_norm(math.inf)),
    ("norm", {"p": 3}, _py_norm(3)), ("norm", {"p": 1.5}, _py_norm(1.5)),
]
REDUCE_CASES = [((), ()), ((5,), (0,)), ((3, 4), (1,)), ((3, 4), (0, 1)), ((2, 3, 4), (0, 2)), ("strided", (0,))]
REDUCTION_IDS = [f"{op}-{'-'.join(map(str, params.values()))}" for op, params, _ in REDUCTIONS]


@pytest.mark.parametrize("op,params,reference", REDUCTIONS, ids=REDUCTION_IDS)
def test_reduce_forward(op, params, reference):
    for (shape, dims), keepdim in itertools.product(REDUCE_CASES, (False, True)):
        x = sample(shape)
        if op in ("all", "any"):
            x = np.where(x > 0.5, 0.0, x)
        if not dims and x.ndim == 0 and op == "var":
            continue                                  # a single value has no variance with correction >= 1
        ref = per_slice(reference, x, dims, keepdim)
        y = be.reduce(op, x, dims, keepdim, **params)
        assert y.dtype == (np.bool_ if op in ("all", "any") else np.float64)
        assert_close(y, ref)


@pytest.mark.parametrize("op,params,reference", [r for r in REDUCTIONS if r[0] not in ("all", "any")],
                         ids=[i for i, r in zip(REDUCTION_IDS, REDUCTIONS) if r[0] not in ("all", "any")])
def test_reduce_backward(op, params, reference):
    for (shape, dims), keepdim in itertools.product(REDUCE_CASES, (False, True)):
        x = sample(shape, seed=6)
        check_grads(lambda v: be.reduce(op, v, dims, keepdim, **params),
                    lambda xs, gy: [be.reduce_bwd(op, xs[0], be.reduce(op, xs[0], dims, keepdim, **params), gy,
                                                  dims, keepdim, **params)],
                    [x], atol=1e-5)


def test_reduce_in_low_precision_accumulates_in_float32():
    ones = np.ones(4096, dtype=F16)       # a float16 accumulator would stop at 2048
    assert be.reduce("sum", ones, (0,), False).tolist() == 4096.0
    x = sample((6, 50), seed=7)
    for dtype in (F16, BF16):
        for op in ("sum", "mean", "logsumexp", "var", "norm"):
            y = be.reduce(op, x.astype(dtype), (1,), False)
            assert y.dtype == dtype
            reference = next(ref for name, _, ref in REDUCTIONS if name == op)     # var: correction 1, norm: p 2
            ref = per_slice(reference, x.astype(dtype), (1,), False)
            assert_close(y, ref, dtype, *ROUNDED[dtype])


def test_reduce_result_dtypes():
    i32 = np.array([[1, 2], [3, 4]], dtype=np.int32)
    flags = np.array([True, True, False])
    assert be.reduce("sum", i32, (0, 1), False).dtype == np.int64
    assert be.reduce("prod", i32, (1,), False).tolist() == [2, 12]
    assert be.reduce("sum", flags, (0,), False).dtype == np.int64
    assert be.reduce("sum", flags, (0,), False).tolist() == 2
    assert be.reduce("amax", i32, (0,), False).dtype == np.int32
    assert be.reduce("all", i32, (0, 1), False).dtype == np.bool_
    with pytest.raises(TypeError, match="mean"):
        be.reduce("mean", i32, (0,), False)


def test_reduce_empty_and_0d():
    empty = np.zeros((0, 3))
    assert be.reduce("sum", empty, (0, 1), False).tolist() == 0.0
    assert be.reduce("prod", empty, (0,), False).tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(be.reduce("mean", empty, (0,), False)).all()
    assert be.reduce("logsumexp", empty, (0,), True).tolist() == [[-math.inf] * 3]
    assert be.reduce("all", empty, (0,), False).tolist() == [True] * 3
    assert be.reduce("amax", empty, (1,), False).shape == (0,)
    with pytest.raises(RuntimeError, match=r"amax\(\): Expected reduction dim to be specified for input.numel\(\) == 0"):
        be.reduce("amax", empty, (0, 1), False)
    with pytest.raises(IndexError, match=r"amin\(\): Expected reduction dim 0 to have non-zero size"):
        be.reduce("amin", empty, (0,), False)
    scalar = np.array(2.5)
    assert be.reduce("sum", scalar, (), False).shape == ()
    assert be.reduce("amax", scalar, (0,), True).tolist() == 2.5
    assert be.reduce("logsumexp", np.array([-math.inf, -math.inf]), (0,), False).tolist() == -math.inf


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_extremum_ties_split_the_gradient(op):
    x = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 5.0]])
    if op == "amin":
        x = -x
    y = be.reduce(op, x, (1,), False)
    gx = be.reduce_bwd(op, x, y, np.array([6.0, 3.0]), (1,), False)
    assert gx.tolist() == [[0.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 3.0]]


def test_prod_backward_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 2.0, 5.0]])
    gy = np.array([1.0, 1.0, 2.0])
    gx = be.reduce_bwd("prod", x, be.reduce("prod", x, (1,), False), gy, (1,), False)
    assert gx.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [20.0, 10.0, 4.0]]
    check_grads(lambda v: be.reduce("prod", v, (1,), False),
                lambda xs, g: [be.reduce_bwd("prod", xs[0], be.reduce("prod", xs[0], (1,), False), g, (1,), False)],
                [x])


def test_norm_gradient_at_zero_is_zero():
    zero = np.zeros((2, 3))
    for p in (2, 3, math.inf):
        gx = be.reduce_bwd("norm", zero, np.zeros(2), np.ones(2), (1,), False, p=p)
        assert not np.any(gx), p


# =========================================================================================== argreduce, cumsum, softmax
@pytest.mark.parametrize("op", ["max", "min"])
def test_argreduce_first_occurrence(op):
    x = np.array([[1.0, 3.0, 3.0, -2.0], [-2.0, 0.0, -2.0, 3.0], [5.0, 5.0, 5.0, 5.0]])
    pick = max if op == "max" else min
    for dim, keepdim in itertools.product((0, 1), (False, True)):
        values, indices = be.argreduce(op, x, dim, keepdim)
        rows = [list(r) for r in (x if dim == 1 else x.T)]
        ref_values = [pick(r) for r in rows]
        ref_indices = [r.index(pick(r)) for r in rows]
        shape = (3, 1) if dim == 1 else (1, 4)
        assert indices.dtype == np.int64 and values.dtype == x.dtype
        assert indices.shape == (shape if keepdim else (len(rows),))
        assert indices.reshape(-1).tolist() == ref_indices
        assert values.reshape(-1).tolist() == ref_values
    values, indices = be.argreduce(op, np.array(4.0), 0, False)
    assert (values.tolist(), indices.tolist(), indices.shape) == (4.0, 0, ())
    x16 = x.astype(BF16)
    assert be.argreduce(op, x16, 1, False)[0].dtype == BF16


@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(reverse):
    for shape, dim in [((), 0), ((7,), 0), ((3, 4), 0), ((3, 4), 1), ("strided", 1)]:
        x = sample(shape)
        if x.ndim == 0:
            ref = x
        else:
            lines = np.moveaxis(x, dim, -1)
            ref = np.array([list(itertools.accumulate(r[::-1]))[::-1] if reverse else list(itertools.accumulate(r))
                            for r in lines.reshape(-1, lines.shape[-1])])
            ref = np.moveaxis(ref.reshape(lines.shape), -1, dim)
        assert_close(be.cumsum(x, dim, reverse), ref)
        # the backward of cumsum is the reverse cumsum of the gradient
        check_grads(lambda v: be.cumsum(v, dim, reverse), lambda xs, gy: [be.cumsum(gy, dim, not reverse)], [x])
    assert be.cumsum(np.array([True, False, True]), 0, reverse).dtype == np.int64
    assert be.cumsum(np.array([1, 2, 3], dtype=np.int32), 0, reverse).tolist() == ([6, 5, 3] if reverse else [1, 3, 6])


@pytest.mark.parametrize("log", [False, True])
def test_softmax(log):
    def reference(v):
        total = math.fsum(math.exp(t) for t in v)
        return [math.log(math.exp(t) / total) if log else math.exp(t) / total for t in v]

    for shape, dim in [((), 0), ((1,), 0), ((7,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 5), 1), ("strided", 1)]:
        x = sample(shape)
        y = be.softmax(x, dim, log)
        lines = np.moveaxis(np.asarray(x).reshape(np.shape(x) or (1,)), dim, -1)
        ref = np.array([reference(list(r)) for r in lines.reshape(-1, lines.shape[-1])]).reshape(lines.shape)
        assert_close(y, np.moveaxis(ref, -1, dim).reshape(np.shape(x)))
        check_grads(lambda v: be.softmax(v, dim, log),
                    lambda xs, gy: [be.softmax_bwd(be.softmax(xs[0], dim, log), gy, dim, log)], [x])
    big = np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32)
    assert np.isfinite(be.softmax(big, 1, log)[:, :2]).all()
    assert be.softmax(big.astype(BF16), 1, log).dtype == BF16


# =========================================================================================== matmul
def test_matmul():
    cases = [(randn((1, 1, 1)), randn((1, 1, 1))),
             (randn((2, 3, 5)), randn((2, 5, 4), 1)),
             (np.broadcast_to(randn((1, 7, 2)), (3, 7, 2)), randn((3, 9, 2), 2).transpose(0, 2, 1)),
             (randn((2, 4, 6))[:, ::-1, ::2], np.broadcast_to(randn((3, 5)), (2, 3, 5)))]
    for a, b in cases:
        ref = elementwise(lambda *v: 0.0, a[:, :, :1] * b[:, :1, :])
        for i, m, n in np.ndindex(ref.shape):
            ref[i, m, n] = math.fsum(a[i, m, k] * b[i, k, n] for k in range(a.shape[2]))
        for dtype in (F64, F32, F16, BF16):
            c = be.matmul(a.astype(dtype), b.astype(dtype))
            assert c.dtype == dtype and c.flags.c_contiguous
            low = a.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
            ref_dtype = np.einsum("bmk,bkn->bmn", *low)
            assert_close(c, ref if dtype == F64 else ref_dtype, dtype)
    i32 = np.arange(6, dtype=np.int32).reshape(1, 2, 3)
    assert be.matmul(i32, i32.transpose(0, 2, 1)).tolist() == [[[5, 14], [14, 50]]]
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) @ \(2, 5, 4\)"):
        be.matmul(np.zeros((2, 3, 4)), np.zeros((2, 5, 4)))


# =========================================================================================== indexing
def test_index_select_and_index_add():
    x = sample((5, 3, 4))
    index = np.array([4, 0, 0, 2], dtype=np.int64)
    for dim in range(3):
        idx = index % x.shape[dim]
        ref = np.stack([np.take(x, i, axis=dim) for i in idx.tolist()], axis=dim)
        assert_close(be.index_select(x, dim, idx), ref)
        # index_add is the backward of index_select (duplicates accumulate)
        check_grads(lambda v: be.index_select(v, dim, idx),
                    lambda xs, gy: [be.index_add(x.shape, np.float64, dim, idx, gy)], [x])
    assert be.index_add((3,), BF16, 0, np.array([1, 1]), np.array([1.0, 2.0], BF16)).dtype == BF16
    assert be.index_select(np.array(7.0), 0, np.array([0])).tolist() == 7.0


def test_gather_and_scatter_add():
    x = sample((4, 5, 3))
    rng = np.random.default_rng(8)
    for dim in range(3):
        index_shape = [3, 2, 3]
        index = rng.integers(0, x.shape[dim], size=index_shape)
        ref = np.empty(index_shape)
        for i, j, k in np.ndindex(*index_shape):
            src = [i, j, k]
            src[dim] = index[i, j, k]
            ref[i, j, k] = x[tuple(src)]
        assert_close(be.gather(x, dim, index), ref)
        check_grads(lambda v: be.gather(v, dim, index),
                    lambda xs, gy: [be.scatter_add(x.shape, np.float64, dim, index, gy)], [x])
    assert be.gather(np.array(3.0), 0, np.array(0)).tolist() == 3.0


def test_index_copy_writes_in_place():
    base_array = np.zeros((4, 6))
    view = base_array[:, ::2]
    src = np.arange(6.0).reshape(2, 3)
    assert be.index_copy_(view, 0, np.array([3, 1]), src) is view
    assert base_array[3, ::2].tolist() == [0.0, 1.0, 2.0] and base_array[1, ::2].tolist() == [3.0, 4.0, 5.0]
    assert not base_array[:, 1::2].any() and not base_array[[0, 2]].any()


@pytest.mark.parametrize("call", [
    lambda i: be.index_select(np.zeros((5, 2)), 0, i),
    lambda i: be.index_add((5, 2), np.float32, 0, i, np.zeros((2, 2))),
    lambda i: be.index_copy_(np.zeros((5, 2)), 0, i, np.zeros((2, 2))),
    lambda i: be.gather(np.zeros((5, 2)), 0, i.reshape(2, 1)),
    lambda i: be.scatter_add((5, 2), np.float32, 0, i.reshape(2, 1), np.zeros((2, 1))),
], ids=["index_select", "index_add", "index_copy_", "gather", "scatter_add"])
def test_out_of_range_index_raises(call):
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
        call(np.array([1, 7], dtype=np.int64))
    with pytest.raises(IndexError, match="index -1 is out of bounds for dimension 0 with size 5"):
        call(np.array([-1, 2], dtype=np.int64))


def test_nonzero():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]], dtype=BF16)
    ref = [list(idx) for idx in np.ndindex(x.shape) if float(x[idx]) != 0]
    got = be.nonzero(x)
    assert got.dtype == np.int64 and got.tolist() == ref
    assert be.nonzero(np.array(0.0)).shape == (0, 0)


# =========================================================================================== storage
def test_storage():
    a = np.arange(6.0)
    assert be.from_numpy(a) is a and be.to_numpy(a) is a
    assert be.full((2, 3), 0.1, BF16).tolist() == [[float(np.asarray(0.1, BF16))] * 3] * 2
    assert be.empty((2, 0), np.int32).shape == (2, 0)
    dst = np.zeros((3, 4), dtype=np.int32)
    assert be.copy_(dst[:, ::2], np.array([1.9, -2.9], dtype=BF16)) is not None
    assert dst.tolist() == [[1, 0, -2, 0]] * 3
    assert be.cast(np.array([-2.7, 2.7], BF16), np.int64).tolist() == [-2, 2]
    assert be.cast(np.array([-2.7, 0.0]), np.bool_).tolist() == [True, False]
    t = a.reshape(2, 3).T
    c = be.contiguous(t)
    assert c.flags.c_contiguous and not np.shares_memory(c, a) and c.tolist() == t.tolist()
    assert be.arange(3, -2, 4, np.int32).tolist() == [3, 1, -1, -3]
    assert_close(be.arange(0.5, 0.1, 4, np.float32), [0.5, 0.6, 0.7, 0.8], F32)


def test_outputs_are_new_contiguous_arrays():
    x = sample("strided")
    for result in (be.unary("neg", x), be.binary("add", x, 0.0), be.reduce("sum", x, (), False),
                   be.clamp(x, None, None), be.softmax(x, 0), be.cumsum(x, 1), be.tril(x, 0)):
        assert result.flags.c_contiguous and not np.shares_memory(result, x)
    assert be.reduce("sum", x, (0, 1), False).shape == ()
    assert isinstance(be.reduce("sum", x, (0, 1), False), np.ndarray)


# =========================================================================================== random
def test_philox_known_answers():
    # Random123's known-answer vectors for philox4x32-10: (key, counter) -> output
    vectors = [((0, 0), (0, 0, 0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
               ((0xffffffff,) * 2, (0xffffffff,) * 4, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
               ((0xa4093822, 0x299f31d0), (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344),
                (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    for key, counter, expected in vectors:
        assert tuple(int(w) for w in _philox.philox(*key, *counter)) == expected


@triton.jit
def _random_probe_kernel(seed, base_offset, w0_ptr, w1_ptr, w2_ptr, w3_ptr, rand_ptr, randn_ptr, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    offsets = base_offset + i
    w0, w1, w2, w3 = tl.randint4x(seed, offsets)
    tl.store(w0_ptr + i, w0)
    tl.store(w1_ptr + i, w1)
    tl.store(w2_ptr + i, w2)
    tl.store(w3_ptr + i, w3)
    tl.store(rand_ptr + i, tl.rand(seed, offsets))
    tl.store(randn_ptr + i, tl.randn(seed, offsets))


def _run_probe(seed, base_offset, n):
    dtypes = [np.uint32] * 4 + [np.float32] * 2
    device = [runtime.empty((n,), d) for d in dtypes]
    _random_probe_kernel[(1,)](seed, base_offset, *device, BLOCK=n)
    host = [np.empty((n,), d) for d in dtypes]
    for h, d in zip(host, device):
        runtime.copy_device_to_host(h, d)
    return host


@pytest.mark.skipif(not runtime.interpreting(), reason="runs Triton's random functions in Triton's interpreter "
                                                       "(TRITON_INTERPRET=1, set by tests/conftest.py)")
@pytest.mark.parametrize("seed,base_offset", [(0, 0), (12345, 1000), (2**40 + 7, 2**32 + 5), (-3, 2**31 - 8)])
def test_philox_matches_triton_bit_for_bit(seed, base_offset):
    n = 128
    w0, w1, w2, w3, rand, randn_ = _run_probe(seed, base_offset, n)
    offsets = base_offset + np.arange(n)
    for got, want in zip(_philox.randint4x(seed, offsets), (w0, w1, w2, w3)):
        assert np.array_equal(got, want)
    assert np.array_equal(be.rand((n,), np.float32, seed, base_offset), rand)
    assert np.abs(be.randn((n,), np.float32, seed, base_offset) - randn_).max() <= 1e-6
    assert np.array_equal(be.randint((n,), 0, 2**32, np.int64, seed, base_offset), w0.astype(np.int64))


def test_random_shapes_dtypes_and_ranges():
    u = be.rand((4, 250), np.float32, 7, 3)
    assert u.shape == (4, 250) and u.dtype == np.float32 and 0 <= u.min() and u.max() < 1
    assert np.array_equal(be.rand((1000,), np.float32, 7, 3)[10:], be.rand((990,), np.float32, 7, 13))
    assert be.rand((3,), BF16, 1, 0).dtype == BF16
    z = be.randn((20000,), np.float64, 5, 0)
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    r = be.randint((5000,), -3, 7, np.int32, 11, 0)
    assert r.dtype == np.int32 and set(r.tolist()) == set(range(-3, 7))
    with pytest.raises(ValueError, match="low=4 >= high=4"):
        be.randint((2,), 4, 4, np.int64, 0, 0)
