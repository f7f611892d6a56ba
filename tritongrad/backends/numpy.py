"""The NumPy backend: the cpu device and the reference every Triton kernel is checked against.

Each op is written as its textbook formula on ``np.ndarray``s. The rules of `base.Backend` apply:

* float16 and bfloat16 (``ml_dtypes``) are computed in float32 and rounded once at the end; reductions
  accumulate in float32 (float64 stays float64); integer sums and products accumulate in int64.
* Results are new C-contiguous arrays (0-d results are 0-d arrays, never NumPy scalars).
* A Python scalar operand of a binary op is first converted to the array's dtype, as PyTorch does.
* Floating-point overflow, division by zero and invalid operations give inf/nan silently (no warnings),
  as in PyTorch. Integer division by zero raises ``RuntimeError("ZeroDivisionError ...")`` as PyTorch's
  CPU kernels do (the cuda backend cannot raise there; its result is undefined).
* Integer ``pow`` stays integer; a negative integer exponent raises, as in PyTorch.
* ``allow_tf32`` of `matmul` is ignored (PyTorch's cpu matmul has no tf32 either).
"""
from __future__ import annotations

import contextvars
import math
import threading

import ml_dtypes
import numpy as np

from ..dtypes import result_type
from ..runtime import error_word
from . import _philox
from .base import UNARY_SAVES, Backend
from .numpy_runtime import keep_freed_memory
from .numpy_special import gelu_tanh, gelu_tanh_derivative, normal_cdf, normal_pdf

__all__ = ["NumpyBackend"]

_HALF_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
_FAST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_BOOL = np.dtype(np.bool_)
_quiet = np.errstate(all="ignore")
"""Decorator: inf/nan without warnings, as in PyTorch."""

_QUIET_CONTEXTS = threading.local()


def _quiet_run(fn, *args):
    """``fn(*args)`` with NumPy's floating-point errors ignored, like `_quiet` but cheaper (the hot binary
    path): NumPy keeps its error state in a context variable, so each thread keeps one `contextvars.Context`
    captured inside ``np.errstate(all="ignore")`` and runs ``fn`` in it. ``fn`` must be plain NumPy (a
    context cannot be entered twice at once, so ``fn`` must not call `_quiet_run` again)."""
    ctx = getattr(_QUIET_CONTEXTS, "ctx", None)
    if ctx is None:
        with np.errstate(all="ignore"):
            ctx = _QUIET_CONTEXTS.ctx = contextvars.copy_context()
    return ctx.run(fn, *args)


# --------------------------------------------------------------------------------------- dtype helpers
def _is_float(dtype):
    return dtype.kind == "f" or dtype in _HALF_FLOATS


def _compute_dtype(dtype):
    """The dtype arithmetic runs in: float32 for float16/bfloat16, else the dtype itself."""
    return np.dtype(np.float32) if dtype in _HALF_FLOATS else dtype


def _up(a):
    """``a`` in its compute dtype (a float32 copy for float16/bfloat16, else ``a`` itself)."""
    return a.astype(np.float32) if a.dtype in _HALF_FLOATS else a


def _out(result, dtype):
    """``result`` as a C-contiguous array of ``dtype`` (rounding once; 0-d stays 0-d)."""
    return np.asarray(result, dtype=dtype, order="C")


def _require_float(what, a):
    if not _is_float(a.dtype):
        raise TypeError(f"{what} expects a floating-point array, got {a.dtype}")


def _bound(v, x):
    """A clamp bound in ``x``'s dtype, then in its compute dtype (PyTorch converts scalars first)."""
    return _up(np.asarray(v, dtype=x.dtype))


def _sign(x):
    """-1, 0 or 1 in ``x``'s dtype; nan gives 0, as PyTorch's ``sign``/``sgn`` kernels."""
    return np.where(x > 0, 1, np.where(x < 0, -1, 0)).astype(x.dtype)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------- unary ops
# Each forward is f(x, **params) on the compute dtype; each derivative is f'(x) written with the
# input x and the (already computed) output y. Backward is gy * f'(x).
_UNARY = {
    "neg": lambda x: -x,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0),                      # keeps nan, as torch.relu
    "sign": _sign,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,                                       # half to even, as torch.round
    "trunc": np.trunc,
    "reciprocal": lambda x: 1.0 / x,
    "square": lambda x: x * x,
    "gelu": lambda x: x * normal_cdf(x),
    "gelu_tanh": gelu_tanh,
    "silu": lambda x: x * _sigmoid(x),
    "leaky_relu": lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
    "logical_not": lambda x: x == 0,
    "isnan": np.isnan,
    "isinf": np.isinf,
}


# f'(x) written with the one operand `UNARY_SAVES` names for the op: the output y ("y" ops) or the input x
# ("x" ops); neg's is the constant -1 and the rounding ops' and sign's are 0 (their gradient is zeros even
# where gy is nan or inf, as PyTorch's zeros_like(grad)). relu's gradient is handled apart (a where, not a
# product: PyTorch's threshold_backward(grad, result, 0) passes gy where y is nan and gives 0, never nan, where
# y <= 0).
_UNARY_DERIVATIVE = {
    "neg": lambda: -1.0,
    "sign": None, "floor": None, "ceil": None, "round": None, "trunc": None,
    "exp": lambda y: y,
    "expm1": lambda y: y + 1.0,
    "sqrt": lambda y: 0.5 / y,
    "rsqrt": lambda y: -0.5 * y ** 3,
    "tanh": lambda y: 1.0 - y * y,
    "sigmoid": lambda y: y * (1.0 - y),
    "reciprocal": lambda y: -y * y,
    "relu": None,                                            # a where in unary_bwd, see above
    "abs": _sign,                                            # abs'(0) = 0
    "log": lambda x: 1.0 / x,
    "log1p": lambda x: 1.0 / (1.0 + x),
    "sin": np.cos,
    "cos": lambda x: -np.sin(x),
    "square": lambda x: 2.0 * x,
    "gelu": lambda x: normal_cdf(x) + x * normal_pdf(x),
    "gelu_tanh": gelu_tanh_derivative,
    "silu": lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x))),
    "leaky_relu": lambda x, negative_slope=0.01: np.where(x > 0, 1.0, negative_slope).astype(x.dtype),
}

_UNARY_BOOL_RESULT = ("logical_not", "isnan", "isinf")
_UNARY_ON_INTEGERS = ("neg", "abs", "sign", "relu", "square", "logical_not", "isnan", "isinf")
_UNARY_IDENTITY_ON_INTEGERS = ("floor", "ceil", "round", "trunc")


# --------------------------------------------------------------------------------------- binary ops
def _check_integer_divisor(op, b):
    if np.any(b == 0):
        raise RuntimeError(f"ZeroDivisionError: integer division by zero in {op}")


def _floor_divide(a, b):
    if a.dtype.kind in "iu":
        _check_integer_divisor("floor_divide", b)
    return np.floor_divide(a, b)                              # Python's (and PyTorch's) floor semantics


def _remainder(a, b):
    if a.dtype.kind in "iu":
        _check_integer_divisor("remainder", b)
    return np.remainder(a, b)                                 # sign of the divisor, as Python's %


def _div(a, b):
    _require_float("div", a)
    return a / b


def _pow(a, b):
    if a.dtype.kind in "iu" and np.any(b < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return np.power(a, b)


def _truthy(x):
    return x != 0


_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": _div,
    "pow": _pow,
    "maximum": np.maximum,                                    # nan propagates, as torch.maximum
    "minimum": np.minimum,
    "floor_divide": _floor_divide,
    "remainder": _remainder,
    "atan2": np.arctan2,
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "logical_and": lambda a, b: np.logical_and(_truthy(a), _truthy(b)),
    "logical_or": lambda a, b: np.logical_or(_truthy(a), _truthy(b)),
    "logical_xor": lambda a, b: np.logical_xor(_truthy(a), _truthy(b)),
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}
_BINARY_BOOL_RESULT = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor")


def _tie_share(loses, ties, dtype):
    """An operand's share of a max/min gradient in ``dtype``: 0 where it ``loses``, 0.5 on ``ties``, else 1."""
    share = np.array(np.logical_not(loses), dtype=dtype)      # an array also for 0-d operands
    share[ties] = 0.5
    return share


def _pow_grad_b(a, b, c):
    # d(a**b)/db = a**b * log(a), defined as 0 where a == 0 and b >= 0 (PyTorch's rule)
    return np.where((a == 0) & (b >= 0), 0.0, c * np.log(a))


# (dc/da, dc/db) for c = op(a, b); each is a function of (a, b, c) at the broadcast shape.
_BINARY_PARTIALS = {
    "add": (lambda a, b, c: np.ones_like(c), lambda a, b, c: np.ones_like(c)),
    "sub": (lambda a, b, c: np.ones_like(c), lambda a, b, c: -np.ones_like(c)),
    "mul": (lambda a, b, c: b, lambda a, b, c: a),
    "div": (lambda a, b, c: 1.0 / b, lambda a, b, c: -a / (b * b)),
    "pow": (lambda a, b, c: np.where(b == 0, 0.0, b * np.power(a, b - 1)), _pow_grad_b),
    # ties split the gradient equally; a nan operand takes it all (PyTorch's rule)
    "maximum": (lambda a, b, c: _tie_share(a < b, a == b, c.dtype), lambda a, b, c: _tie_share(a > b, a == b, c.dtype)),
    "minimum": (lambda a, b, c: _tie_share(a > b, a == b, c.dtype), lambda a, b, c: _tie_share(a < b, a == b, c.dtype)),
    "atan2": (lambda a, b, c: b / (a * a + b * b), lambda a, b, c: -a / (a * a + b * b)),
    # a - floor(a / b) * b, differentiated with floor(a / b) held constant
    "remainder": (lambda a, b, c: np.ones_like(c), lambda a, b, c: -np.floor_divide(a, b)),
}


def _scalar_as(v, dtype):
    """A Python scalar as a 0-d array of ``dtype``; integers out of the dtype's range wrap around, as in
    PyTorch (and in the kernels' integer casts)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and dtype.kind in "iu":
        return np.asarray(v, dtype=np.int64).astype(dtype)
    return np.asarray(v, dtype=dtype)


def _binary_operands(op, a, b):
    """``(a, b, dtype)``: both operands as arrays in their compute dtype, and the operands' dtype.
    A scalar operand is first converted to the array's dtype (PyTorch's rule for Python scalars)."""
    arrays = [v for v in (a, b) if isinstance(v, np.ndarray)]
    if not arrays:
        raise TypeError(f"{op}: at least one operand must be an array")
    dtype = arrays[0].dtype
    if len(arrays) == 2 and a.dtype != b.dtype:
        raise TypeError(f"{op}: operands have different dtypes {a.dtype} and {b.dtype} "
                        f"(the caller promotes them first)")
    for v in (a, b):
        if not isinstance(v, np.ndarray) and isinstance(v, (float, np.floating)) and not _is_float(dtype):
            raise TypeError(f"{op}: float scalar {v!r} with a {dtype} array (the caller promotes first)")
    a, b = (v if isinstance(v, np.ndarray) else _scalar_as(v, dtype) for v in (a, b))
    return _up(a), _up(b), dtype


# --------------------------------------------------------------------------------------- reductions
def _reduce_dims(x, dims):
    """``dims`` as a tuple; a 0-d array has no axes to reduce (its dim 0 has size 1, as in PyTorch)."""
    return () if x.ndim == 0 else tuple(int(d) for d in dims)


def _reduced_count(x, dims):
    """How many input elements make each output element."""
    return math.prod(x.shape[d] for d in dims)


def _check_nonempty_reduction(op, x, dims, whole):
    """amax/amin/max/min have no identity: reducing an empty dim raises, with PyTorch's messages
    (``whole``: the reduction is over every dim, as ``x.amax()``)."""
    if x.size != 0:
        return
    if whole:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument.")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _reduce_result_dtype(op, dtype):
    if op in ("all", "any"):
        return np.dtype(np.bool_)
    if op in ("sum", "prod") and not _is_float(dtype):
        return np.dtype(np.int64)
    if op in ("mean", "logsumexp", "var", "norm") and not _is_float(dtype):
        raise TypeError(f"{op}(): expected a floating-point input, got {dtype}")
    return dtype


def _accumulate(op, x):
    """``x`` in the dtype ``op`` accumulates in: int64 for integer/bool sums and products, float32 for
    float16/bfloat16, else unchanged."""
    if op in ("sum", "prod") and not _is_float(x.dtype):
        return x.astype(np.int64)
    return _up(x)


def _logsumexp(x, dims):
    """``log(sum(exp(x)))`` over ``dims`` (kept), shifted by the maximum for stability. A row whose
    maximum is infinite (or that is empty) is not shifted, so it gives +-inf instead of nan."""
    m = np.max(x, axis=dims, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m


def _var(x, dims, correction):
    """``sum((x - mean)^2) / max(N - correction, 0)`` over ``dims`` (kept)."""
    n = _reduced_count(x, dims)
    mean = np.sum(x, axis=dims, keepdims=True) / n
    return np.sum((x - mean) ** 2, axis=dims, keepdims=True) / max(n - correction, 0)


def _check_norm_order(p):
    if not p > 0:
        raise ValueError(f"norm: p must be a positive number or inf, got {p!r}")


def _norm(x, dims, p):
    """The vector p-norm over ``dims`` (kept): ``(sum |x|^p)^(1/p)``; ``max |x|`` for ``p = inf``."""
    _check_norm_order(p)
    if p == math.inf:
        return np.max(np.abs(x), axis=dims, keepdims=True, initial=0.0)
    if p == 1:
        return np.sum(np.abs(x), axis=dims, keepdims=True)
    if p == 2:
        return np.sqrt(np.sum(x * x, axis=dims, keepdims=True))
    return np.sum(np.abs(x) ** p, axis=dims, keepdims=True) ** (1.0 / p)


# Each reduction maps (x in its accumulation dtype, dims) to the result with the reduced dims kept.
_REDUCE = {
    "sum": lambda x, dims: np.sum(x, axis=dims, keepdims=True),
    "mean": lambda x, dims: np.sum(x, axis=dims, keepdims=True) / _reduced_count(x, dims),
    "prod": lambda x, dims: np.prod(x, axis=dims, keepdims=True),
    "amax": lambda x, dims: np.max(x, axis=dims, keepdims=True),
    "amin": lambda x, dims: np.min(x, axis=dims, keepdims=True),
    "all": lambda x, dims: np.all(x != 0, axis=dims, keepdims=True),
    "any": lambda x, dims: np.any(x != 0, axis=dims, keepdims=True),
    "logsumexp": _logsumexp,
    "var": lambda x, dims, correction=1: _var(x, dims, correction),
    "norm": lambda x, dims, p=2: _norm(x, dims, p),
}


def _prod_grad(x, dims):
    """d prod(x) / dx_i = product of the other elements, computed without dividing by a zero:
    no zero in the slice -> prod / x_i; exactly one zero -> the product of the rest at the zero, 0
    elsewhere; two or more zeros -> 0."""
    zeros = np.sum(x == 0, axis=dims, keepdims=True)
    prod_of_nonzeros = np.prod(np.where(x == 0, 1.0, x), axis=dims, keepdims=True)
    return np.where(zeros == 0, prod_of_nonzeros / np.where(x == 0, 1.0, x),
                    np.where((zeros == 1) & (x == 0), prod_of_nonzeros, 0.0))


def _var_grad(x, dims, correction):
    """d var(x) / dx = 2 (x - mean) / max(N - correction, 0)."""
    n = _reduced_count(x, dims)
    mean = np.sum(x, axis=dims, keepdims=True) / n
    return 2.0 * (x - mean) / max(n - correction, 0)


def _even_split(mask, dims):
    """``mask`` divided by its count per slice: the gradient share of each tied extremum."""
    return mask / np.sum(mask, axis=dims, keepdims=True)


def _norm_grad(x, y, dims, p=2):
    """d ||x||_p / dx, 0 where the norm is 0. For ``inf`` ties split evenly (PyTorch's rule)."""
    _check_norm_order(p)
    if p == math.inf:
        return _sign(x) * _even_split(np.abs(x) == y, dims)
    if p == 1:
        return _sign(x)
    safe_y = np.where(y == 0, 1.0, y)
    return np.where(y == 0, 0.0, _sign(x) * np.abs(x) ** (p - 1) / safe_y ** (p - 1))


# d reduce(x) / dx from (x, y, dims) with x in the compute dtype and y expanded to the kept shape.
_REDUCE_DERIVATIVE = {
    "sum": lambda x, y, dims: np.ones_like(x),
    "mean": lambda x, y, dims: np.ones_like(x) / _reduced_count(x, dims),
    "prod": lambda x, y, dims: _prod_grad(x, dims),
    "amax": lambda x, y, dims: _even_split(x == y, dims),
    "amin": lambda x, y, dims: _even_split(x == y, dims),
    "logsumexp": lambda x, y, dims: np.exp(x - y),
    "var": lambda x, y, dims, correction=1: _var_grad(x, dims, correction),
    "norm": _norm_grad,
}


def _unkeep(r, dims, keepdim):
    return r if keepdim else np.squeeze(r, axis=dims)


def _keep(g, dims, keepdim):
    return g if keepdim else np.expand_dims(g, dims)


# --------------------------------------------------------------------------------------- matmul
def _batched_matmul(a, b):
    """``a @ b`` for (B, M, K) @ (B, K, N) as few BLAS calls as the layout allows: one 2-D GEMM for B == 1
    (NumPy's stacked loop is slower on a single transposed operand) and for a broadcast ``b`` (a weight: its
    batch stride is 0) with a contiguous ``a``, whose batch folds into M; else NumPy's stacked matmul."""
    if a.shape[0] == 1:
        return np.matmul(a[0], b[0])[None]
    if b.strides[0] == 0 and a.flags.c_contiguous:
        return np.matmul(a.reshape(-1, a.shape[2]), b[0]).reshape(a.shape[0], a.shape[1], b.shape[2])
    return np.matmul(a, b)


# --------------------------------------------------------------------------------------- indexing
def _check_index(index, size, dim):
    """``index`` (an integer array) must lie in [0, size); raise IndexError naming the first bad one."""
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"index must be an integer array, got {index.dtype}")
    bad = (index < 0) | (index >= size)
    if np.any(bad):
        raise IndexError(f"index {int(index[bad].flat[0])} is out of bounds for dimension {dim} with size {size}")
    return index


def _at_least_1d(a):
    """A 0-d array as a 1-element 1-D view (a 0-d tensor's dim 0 has size 1 in PyTorch)."""
    return a.reshape(1) if a.ndim == 0 else a


def _along(dim, index):
    """The NumPy index selecting ``index`` along axis ``dim`` (all of every other axis)."""
    return (slice(None),) * dim + (index,)


def _scatter_coordinates(index, dim):
    """The full coordinates where `gather` reads for each element of ``index``: the element's own
    coordinates with axis ``dim`` replaced by the index value."""
    coords = list(np.indices(index.shape, sparse=True))
    coords[dim] = index
    return tuple(coords)


def _check_gather_shape(op, x_shape, dim, index):
    """PyTorch's rule: ``index`` has ``x``'s number of dims and is no larger except along ``dim``."""
    if index.ndim != len(x_shape):
        raise RuntimeError(f"{op}: index {index.shape} must have the same number of dimensions as the "
                           f"input {x_shape}")
    for d, (n_index, n_x) in enumerate(zip(index.shape, x_shape)):
        if d != dim and n_index > n_x:
            raise RuntimeError(f"{op}: size of index {index.shape} exceeds the input {x_shape} at dimension {d}")


# --------------------------------------------------------------------------------------- the backend
class NumpyBackend(Backend):
    """`Backend` on ``np.ndarray``s (the cpu device)."""

    name = "numpy"

    def __init__(self):
        super().__init__()
        self.malloc_tuned = keep_freed_memory()

    # ------------------------------------------------------------ storage
    def empty(self, shape, dtype, device=0):
        return np.empty(shape, dtype=dtype)

    def full(self, shape, value, dtype, device=0):
        return np.full(shape, value, dtype=dtype)

    def from_numpy(self, arr, device=0):
        return arr

    def to_numpy(self, a):
        return a

    def copy_(self, dst, src):
        np.copyto(dst, src, casting="unsafe")
        return dst

    @_quiet
    def cast(self, a, dtype):
        dtype = np.dtype(dtype)
        if a.dtype in _HALF_FLOATS and dtype.kind in "iub":
            a = a.astype(np.float32)      # through float32, so float->int truncates as for other floats
        return a.astype(dtype, order="C")

    def contiguous(self, a):
        return a.copy(order="C")

    def _accumulate_(self, dst, src):
        if dst.dtype in _FAST_FLOATS:
            _quiet_run(np.add, dst, src, dst)       # in place: np.add(dst, src, out=dst)
            return dst
        return super()._accumulate_(dst, src)      # half floats: computed in float32, rounded once

    def arange(self, start, step, n, dtype, device=0):
        exact_integers = all(isinstance(v, (int, np.integer)) for v in (start, step))
        i = np.arange(n, dtype=np.int64 if exact_integers else np.float64)
        return _out(start + step * i, dtype)

    # ------------------------------------------------------------ random
    @staticmethod
    def _counters(shape, offset):
        """The Philox counter of each element: ``offset + linear index`` (int64)."""
        return int(offset) + np.arange(math.prod(shape), dtype=np.int64).reshape(shape)

    def rand(self, shape, dtype, seed, offset, device=0):
        return _out(_philox.rand(seed, self._counters(shape, offset)), dtype)

    def randn(self, shape, dtype, seed, offset, device=0):
        return _out(_philox.randn(seed, self._counters(shape, offset)), dtype)

    def randint(self, shape, low, high, dtype, seed, offset, device=0):
        if not low < high:
            raise ValueError(f"randint expects 'low' to be less than 'high', but got low={low} >= high={high}")
        draws = _philox.randint(seed, self._counters(shape, offset)).astype(np.int64)
        return _out(low + draws % (high - low), dtype)

    # ------------------------------------------------------------ elementwise
    def unary(self, op, x, **params):
        fn = _UNARY.get(op)
        if fn is None:
            raise ValueError(f"unknown unary op {op!r}")
        if type(x) is np.ndarray and x.dtype in _FAST_FLOATS:
            # fast path: float32/float64, no conversions, no errstate context manager
            y = _quiet_run(lambda: fn(x, **params))
            return _out(y, _BOOL if op in _UNARY_BOOL_RESULT else x.dtype)
        return self._unary_general(op, fn, x, **params)

    @_quiet
    def _unary_general(self, op, fn, x, **params):
        if not _is_float(x.dtype):
            if op in _UNARY_IDENTITY_ON_INTEGERS:
                return x.copy(order="C")
            if op not in _UNARY_ON_INTEGERS:
                raise TypeError(f"unary({op}) expects a floating-point array, got {x.dtype}")
        return _out(fn(_up(x), **params), np.bool_ if op in _UNARY_BOOL_RESULT else x.dtype)

    def unary_bwd(self, op, x, y, gy, **params):
        if op not in _UNARY_DERIVATIVE:
            raise ValueError(f"unary op {op!r} is not differentiable")
        reads = UNARY_SAVES[op]
        if reads == "x" and x is None:
            raise ValueError(f"unary_bwd({op}) needs the forward input x, got None")
        dtype = (x if x is not None else y if y is not None else gy).dtype
        if not _is_float(dtype):
            raise TypeError(f"unary_bwd({op}) expects a floating-point array, got {dtype}")
        if reads == "y" and y is None:
            if x is None:
                raise ValueError(f"unary_bwd({op}) needs the forward output y (or the input x), got None for both")
            y = self.unary(op, x, **params)
        gy = _up(gy)                                          # float16/bfloat16 compute in float32
        derivative = _UNARY_DERIVATIVE[op]
        if reads is None:
            return np.zeros(gy.shape, dtype) if derivative is None else _out(gy * derivative(), dtype)
        v = _up(x if reads == "x" else y)
        if op == "relu":
            return _out(np.where(v <= 0, 0, gy), dtype)
        return _quiet_run(lambda: _out(gy * derivative(v, **params), dtype))

    def binary(self, op, a, b):
        fn = _BINARY.get(op)
        if fn is None:
            raise ValueError(f"unknown binary op {op!r}")
        if type(a) is np.ndarray and a.dtype in _FAST_FLOATS and (
                (type(b) is np.ndarray and b.dtype == a.dtype) or type(b) is float):
            dtype = a.dtype
            # fast path: float32/float64 arrays of one dtype (or with a Python float): no conversions
            if type(b) is float:
                b = np.asarray(b, dtype=dtype)
        elif type(a) is float and type(b) is np.ndarray and b.dtype in _FAST_FLOATS:
            dtype = b.dtype
            a = np.asarray(a, dtype=dtype)
        else:
            a, b, dtype = _binary_operands(op, a, b)
        out_dtype = _BOOL if op in _BINARY_BOOL_RESULT else dtype
        c = _quiet_run(fn, a, b)
        if type(c) is np.ndarray and c.dtype == out_dtype and c.flags.c_contiguous:
            return c
        return _out(c, out_dtype)

    @_quiet
    def binary_bwd(self, op, a, b, gc, need_a=True, need_b=True):
        if op not in _BINARY_PARTIALS:
            raise ValueError(f"binary op {op!r} is not differentiable")
        need_a = need_a and isinstance(a, np.ndarray)
        need_b = need_b and isinstance(b, np.ndarray)
        a, b, dtype = _binary_operands(op, a, b)
        _require_float(f"binary_bwd({op})", a)
        c = _BINARY[op](a, b)
        gc = _up(gc)
        da, db = _BINARY_PARTIALS[op]
        ga = _out(gc * da(a, b, c), dtype) if need_a else None
        gb = _out(gc * db(a, b, c), dtype) if need_b else None
        return ga, gb

    def where(self, cond, a, b):
        arrays = [v for v in (a, b) if isinstance(v, np.ndarray)]
        if len(arrays) == 2 and a.dtype != b.dtype:
            raise TypeError(f"where: operands have different dtypes {a.dtype} and {b.dtype}")
        dtype = arrays[0].dtype if arrays else result_type(a, b).np
        return _out(np.where(cond, np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)), dtype)

    def clamp(self, x, lo, hi):
        y = np.array(_up(x), order="C")           # a copy: the result never aliases x
        if lo is not None:
            y = np.maximum(y, _bound(lo, x))
        if hi is not None:
            y = np.minimum(y, _bound(hi, x))
        return _out(y, x.dtype)

    def clamp_bwd(self, x, lo, hi, gy):
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= _up(x) >= _bound(lo, x)
        if hi is not None:
            inside &= _up(x) <= _bound(hi, x)
        return _out(np.where(inside, _up(gy), 0), x.dtype)

    def tril(self, x, k, upper=False):
        if x.ndim < 2:
            raise ValueError(f"{'triu' if upper else 'tril'}: input must have at least 2 dimensions, got {x.shape}")
        return _out(np.triu(x, k) if upper else np.tril(x, k), x.dtype)

    # ------------------------------------------------------------ reductions
    def reduce(self, op, x, dims, keepdim, **params):
        if (op == "sum" or op == "mean") and type(x) is np.ndarray and x.dtype in _FAST_FLOATS and x.ndim \
                and not params:
            # fast path: float32/float64 sum/mean, one ufunc reduction without conversions (a whole reduction
            # writes into a new 0-d array: NumPy would return a scalar)
            dims = dims if type(dims) is tuple else tuple(dims)
            out = np.empty((), x.dtype) if not keepdim and len(dims) == x.ndim else None
            r = _quiet_run(np.add.reduce, x, dims, None, out, keepdim)
            if op == "mean":
                r = _quiet_run(np.true_divide, r, _reduced_count(x, dims), r)
            if out is not None:
                return out
            if type(r) is np.ndarray and r.dtype == x.dtype and r.flags.c_contiguous:
                return r
            return _out(r, x.dtype)
        return self._reduce_general(op, x, dims, keepdim, **params)

    @_quiet
    def _reduce_general(self, op, x, dims, keepdim, **params):
        if op not in _REDUCE:
            raise ValueError(f"unknown reduction {op!r}")
        dims = _reduce_dims(x, dims)
        result_dtype = _reduce_result_dtype(op, x.dtype)
        if op in ("amax", "amin"):
            _check_nonempty_reduction(op, x, dims, whole=len(dims) == x.ndim)
        r = _REDUCE[op](_accumulate(op, x), dims, **params)
        return _out(_unkeep(r, dims, keepdim), result_dtype)

    @_quiet
    def reduce_bwd(self, op, x, y, gy, dims, keepdim, **params):
        if op not in _REDUCE_DERIVATIVE:
            raise ValueError(f"reduction {op!r} is not differentiable")
        _require_float(f"reduce_bwd({op})", x)
        dims = _reduce_dims(x, dims)
        if op in ("sum", "mean"):
            # x may be a shape-only stand-in and y None: these gradients depend on the shape alone
            gy = _up(_keep(gy, dims, keepdim))
            count = math.prod(x.shape[d] for d in dims)
            gx = gy if op == "sum" else gy / count
            return _out(np.broadcast_to(gx, x.shape), x.dtype)
        y = _up(_keep(y, dims, keepdim))
        gy = _up(_keep(gy, dims, keepdim))
        gx = gy * _REDUCE_DERIVATIVE[op](_up(x), y, dims, **params)
        return _out(np.broadcast_to(gx, x.shape), x.dtype)

    def argreduce(self, op, x, dim, keepdim):
        if op not in ("max", "min"):
            raise ValueError(f"argreduce op must be 'max' or 'min', got {op!r}")
        if x.ndim == 0:
            return x.copy(), np.zeros((), dtype=np.int64)
        _check_nonempty_reduction(op, x, (dim,), whole=False)
        xc = _up(x)
        indices = np.expand_dims(np.argmax(xc, axis=dim) if op == "max" else np.argmin(xc, axis=dim), dim)
        values = np.take_along_axis(x, indices, axis=dim)
        return _out(_unkeep(values, (dim,), keepdim), x.dtype), _out(_unkeep(indices, (dim,), keepdim), np.int64)

    def cumsum(self, x, dim, reverse=False):
        result_dtype = x.dtype if _is_float(x.dtype) else np.dtype(np.int64)
        x1 = _accumulate("sum", _at_least_1d(x))
        if reverse:
            r = np.flip(np.cumsum(np.flip(x1, dim), axis=dim), dim)
        else:
            r = np.cumsum(x1, axis=dim)
        return _out(r.reshape(x.shape), result_dtype)

    @_quiet
    def softmax(self, x, dim, log=False):
        _require_float("softmax", x)
        x1 = _up(_at_least_1d(x))
        # initial= only for an empty dim: it costs NumPy its fast reduction loop
        m = np.max(x1, axis=dim, keepdims=True) if x1.shape[dim] else np.max(x1, axis=dim, keepdims=True,
                                                                             initial=-np.inf)
        y = np.subtract(x1, m)
        e = np.exp(y)
        total = np.sum(e, axis=dim, keepdims=True)
        if log:
            y -= np.log(total)
        else:
            y = e
            y /= total
        return _out(y.reshape(x.shape), x.dtype)

    @_quiet
    def softmax_bwd(self, y, gy, dim, log=False):
        y1, gy1 = _up(_at_least_1d(y)), _up(_at_least_1d(gy))
        if log:
            gx = np.exp(y1)
            gx *= np.sum(gy1, axis=dim, keepdims=True)
            np.subtract(gy1, gx, out=gx)
        else:
            gx = np.multiply(gy1, y1)
            np.subtract(gy1, np.sum(gx, axis=dim, keepdims=True), out=gx)
            gx *= y1
        return _out(gx.reshape(y.shape), y.dtype)

    # ------------------------------------------------------------ matmul
    def matmul(self, a, b, allow_tf32=False):
        sa, sb = a.shape, b.shape
        if len(sa) == 3 and len(sb) == 3 and sa[0] == sb[0] and sa[2] == sb[1] and a.dtype in _FAST_FLOATS \
                and b.dtype == a.dtype:
            c = _batched_matmul(a, b)     # fast path: float32/float64, no conversions
            return c if c.flags.c_contiguous else _out(c, a.dtype)
        if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
            raise ValueError(f"matmul expects (B, M, K) @ (B, K, N), got {a.shape} @ {b.shape}")
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: operands have different dtypes {a.dtype} and {b.dtype}")
        return _out(_batched_matmul(_up(a), _up(b)), a.dtype)

    # ------------------------------------------------------------ indexing
    def index_select(self, x, dim, index):
        x1 = _at_least_1d(x)
        index = _check_index(index, x1.shape[dim], dim)
        out = np.take(x1, index, axis=dim)
        return _out(out.reshape(()) if x.ndim == 0 else out, x.dtype)

    def index_add(self, shape, dtype, dim, index, src):
        dtype = np.dtype(dtype)
        out = np.zeros(shape, dtype=_compute_dtype(dtype))
        out1 = _at_least_1d(out)
        index = _check_index(index, out1.shape[dim], dim)
        src1 = _up(_at_least_1d(src))
        if index.ndim == 1 and len(index):
            # the sources sorted by destination (stably), each destination's run summed by one reduceat: the
            # sums np.add.at would make (rounded alike, not always bit for bit), without its per-element loop
            order = np.argsort(index, kind="stable")
            dest = index[order]
            starts = np.flatnonzero(np.r_[True, dest[1:] != dest[:-1]])
            sums = np.add.reduceat(np.take(src1, order, axis=dim), starts, axis=dim)
            out1[_along(dim, dest[starts])] += sums
        else:
            np.add.at(out1, _along(dim, index), src1)
        return _out(out, dtype)

    def index_copy_(self, x, dim, index, src):
        x1 = _at_least_1d(x)
        index = _check_index(index, x1.shape[dim], dim)
        src1 = _at_least_1d(src)
        expected = x1.shape[:dim] + (len(index),) + x1.shape[dim + 1:]
        if src1.shape != expected:
            raise RuntimeError(f"index_copy_: source of shape {src.shape} does not match the destination "
                               f"slices of shape {expected}")
        x1[_along(dim, index)] = src1
        return x

    def gather(self, x, dim, index):
        x1, index1 = _at_least_1d(x), _at_least_1d(np.asarray(index))
        _check_gather_shape("gather", x1.shape, dim, index1)
        index1 = _check_index(index1, x1.shape[dim], dim)
        return _out(x1[_scatter_coordinates(index1, dim)].reshape(np.shape(index)), x.dtype)

    def scatter_add(self, shape, dtype, dim, index, src):
        dtype = np.dtype(dtype)
        out = np.zeros(shape, dtype=_compute_dtype(dtype))
        out1, index1 = _at_least_1d(out), _at_least_1d(np.asarray(index))
        _check_gather_shape("scatter_add", out1.shape, dim, index1)
        index1 = _check_index(index1, out1.shape[dim], dim)
        src1 = _at_least_1d(src)[tuple(slice(0, n) for n in index1.shape)]
        np.add.at(out1, _scatter_coordinates(index1, dim), _up(src1))
        return _out(out, dtype)

    def nonzero(self, x):
        return _out(np.argwhere(_up(x) != 0), np.int64)

    def wrap_index(self, index, size, dim=0, op="index"):
        index = np.asarray(index)
        bad = (index < (0 if op == "one_hot" else -size)) | (index >= size)
        if bad.any():
            raise error_word.exception(op, int(index[bad].flat[0]), size, dim)
        return np.where(index < 0, index + size, index).astype(np.int64, copy=False)
