"""Elementwise kernels: unary and binary ops with their gradients, ``where``, ``clamp`` and ``tril``.

One kernel per family; the op is a compile-time constant (``OP``, an int code from `UNARY_CODES` /
`BINARY_CODES`), so every op is a specialization of one source. Operands are any strided views, broadcast
(stride 0) or negative-strided; dims contiguous in all operands are collapsed first (`_common`), and a launch
indexes at most four dims (the wrapper loops over any leading rest). Outputs are new C-contiguous arrays.

Compute types: fp16/bf16 compute in fp32 and round once on store; fp32 and fp64 compute in their own type;
integer ops stay in their integer type; bool computes as int8. Comparisons, ``logical_*``,
``logical_not``, ``isnan`` and ``isinf`` store bool. Python scalars travel as kernel arguments
(`_common.scalar_arg`).

Only functions that Triton's interpreter and its compiler both lower are used (``tl.exp``, ``tl.log``,
``tl.erf``...; libdevice calls do not run in the interpreter), so ``log1p``, ``expm1``, ``tanh``, ``atan2``
and ``pow`` are built from them: log1p/expm1 with the Goldberg/Kahan corrections, tanh from expm1, atan with
Cephes' rational approximation (full fp64 accuracy). Limits: integer division or remainder by zero gives an
unspecified value and is recorded in the device error word (`tritongrad.runtime.error_word`: RuntimeError
"ZeroDivisionError" at the host's next wait, as PyTorch raises on cpu); float ``pow`` is ``exp2(b * log2|a|)``
with the sign fixed for integral ``b`` (relative error grows like ``|b * log2 a| * eps``).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime
from tritongrad._strides import broadcast_shapes
from tritongrad.dtypes import result_type

from ._common import (aot_spec, cast_to, check_array, error_args, flat_index, is_floating, launch_config,
                      launch_strided, load_operand, load_strided, negate, report_bad_lanes, scalar_block, scalar_arg,
                      strided_offset, upcast)
from .copy import copy_

__all__ = ["UNARY_CODES", "BINARY_CODES", "UNARY_GRAD_READS", "unary", "unary_bwd", "binary", "binary_bwd", "where",
           "clamp", "clamp_bwd", "tril", "aot_specs"]

_INF = tl.constexpr(float("inf"))
# Float constants are written inline: a module constexpr on the left of a tensor op fails in the interpreter.

# ------------------------------------------------------------------------------------------------ op codes
NEG = tl.constexpr(0)
ABS = tl.constexpr(1)
EXP = tl.constexpr(2)
LOG = tl.constexpr(3)
LOG1P = tl.constexpr(4)
EXPM1 = tl.constexpr(5)
SQRT = tl.constexpr(6)
RSQRT = tl.constexpr(7)
SIN = tl.constexpr(8)
COS = tl.constexpr(9)
TANH = tl.constexpr(10)
SIGMOID = tl.constexpr(11)
RELU = tl.constexpr(12)
SIGN = tl.constexpr(13)
FLOOR = tl.constexpr(14)
CEIL = tl.constexpr(15)
ROUND = tl.constexpr(16)
TRUNC = tl.constexpr(17)
RECIPROCAL = tl.constexpr(18)
SQUARE = tl.constexpr(19)
GELU = tl.constexpr(20)
GELU_TANH = tl.constexpr(21)
SILU = tl.constexpr(22)
LEAKY_RELU = tl.constexpr(23)
LOGICAL_NOT = tl.constexpr(24)
ISNAN = tl.constexpr(25)
ISINF = tl.constexpr(26)
CLAMP_MIN = tl.constexpr(27)
CLAMP_MAX = tl.constexpr(28)
CLAMP = tl.constexpr(29)

UNARY_CODES = {
    "neg": NEG, "abs": ABS, "exp": EXP, "log": LOG, "log1p": LOG1P, "expm1": EXPM1, "sqrt": SQRT,
    "rsqrt": RSQRT, "sin": SIN, "cos": COS, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU, "sign": SIGN,
    "floor": FLOOR, "ceil": CEIL, "round": ROUND, "trunc": TRUNC, "reciprocal": RECIPROCAL, "square": SQUARE,
    "gelu": GELU, "gelu_tanh": GELU_TANH, "silu": SILU, "leaky_relu": LEAKY_RELU, "logical_not": LOGICAL_NOT,
    "isnan": ISNAN, "isinf": ISINF, "clamp_min": CLAMP_MIN, "clamp_max": CLAMP_MAX, "clamp": CLAMP,
}
"""Unary op name -> ``OP`` code of `_unary_fwd_kernel` / `_unary_bwd_kernel` (clamp variants included)."""

ADD = tl.constexpr(0)
SUB = tl.constexpr(1)
MUL = tl.constexpr(2)
DIV = tl.constexpr(3)
POW = tl.constexpr(4)
MAXIMUM = tl.constexpr(5)
MINIMUM = tl.constexpr(6)
FLOOR_DIVIDE = tl.constexpr(7)
REMAINDER = tl.constexpr(8)
ATAN2 = tl.constexpr(9)
EQ = tl.constexpr(10)
NE = tl.constexpr(11)
LT = tl.constexpr(12)
LE = tl.constexpr(13)
GT = tl.constexpr(14)
GE = tl.constexpr(15)
LOGICAL_AND = tl.constexpr(16)
LOGICAL_OR = tl.constexpr(17)
LOGICAL_XOR = tl.constexpr(18)
BITWISE_AND = tl.constexpr(19)
BITWISE_OR = tl.constexpr(20)
BITWISE_XOR = tl.constexpr(21)

BINARY_CODES = {
    "add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "pow": POW, "maximum": MAXIMUM, "minimum": MINIMUM,
    "floor_divide": FLOOR_DIVIDE, "remainder": REMAINDER, "atan2": ATAN2, "eq": EQ, "ne": NE, "lt": LT,
    "le": LE, "gt": GT, "ge": GE, "logical_and": LOGICAL_AND, "logical_or": LOGICAL_OR,
    "logical_xor": LOGICAL_XOR, "bitwise_and": BITWISE_AND, "bitwise_or": BITWISE_OR,
    "bitwise_xor": BITWISE_XOR,
}
"""Binary op name -> ``OP`` code of `_binary_fwd_kernel` / `_binary_bwd_kernel`."""

_UNARY_FLOAT_ONLY = {"exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
                     "reciprocal", "gelu", "gelu_tanh", "silu", "leaky_relu"}
_UNARY_BOOL_OUT = {"logical_not", "isnan", "isinf"}
_UNARY_BOOL_IN = {"logical_not", "isnan", "isinf"}
_UNARY_DIFFERENTIABLE = set(UNARY_CODES) - _UNARY_BOOL_OUT
UNARY_GRAD_READS = {op: ("y" if op in ("exp", "expm1", "sqrt", "rsqrt", "tanh", "sigmoid", "reciprocal", "relu")
                         else None if op in ("neg", "sign", "floor", "ceil", "round", "trunc") else "x")
                    for op in sorted(_UNARY_DIFFERENTIABLE)}
"""Differentiable unary op -> the operand its gradient reads: "y" (the output), "x" (the input) or None;
the same table as `tritongrad.backends.base.UNARY_SAVES`, plus the clamp variants (which read x)."""
_BINARY_FLOAT_ONLY = {"div", "atan2"}
_BINARY_INT_ONLY = {"bitwise_and", "bitwise_or", "bitwise_xor"}
_BINARY_BOOL_OUT = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"}
_BINARY_BOOL_IN = _BINARY_BOOL_OUT | _BINARY_INT_ONLY | {"add", "mul", "maximum", "minimum"}
_BINARY_DIFFERENTIABLE = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "remainder"}


# ------------------------------------------------------------------------------------------------ math helpers
@triton.jit
def _log1p(x):
    u = 1.0 + x
    d = u - 1.0
    r = tl.where(d == 0, x, tl.log(u) * (x / tl.where(d == 0, 1.0, d)))
    return tl.where(u == _INF, u, r)


@triton.jit
def _expm1(x):
    u = tl.exp(x)
    d = u - 1.0
    lu = tl.log(u)
    r = tl.where((d == 0) | (lu == 0), x, d * (x / tl.where(lu == 0, 1.0, lu)))
    r = tl.where(d == -1.0, d, r)
    return tl.where(u == _INF, u, r)


@triton.jit
def _tanh(x):
    e = _expm1(2.0 * tl.minimum(tl.abs(x), 40.0))
    t = e / (e + 2.0)
    t = tl.where(x < 0, negate(t), t)
    return tl.where(x != x, x, t)


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _atan_unit(r):
    """atan(r) for r in [0, 1] (Cephes atan, rational approximation after reduction around 1)."""
    big = r > 0.66
    t = tl.where(big, (r - 1.0) / (r + 1.0), r)
    z = t * t
    p = (((-8.750608600031904122785e-1 * z - 1.615753718733365076637e1) * z - 7.500855792314704667340e1) * z
         - 1.228866684490136173410e2) * z - 6.485021904942025371773e1
    q = ((((z + 2.485846490142306297962e1) * z + 1.650270098316988542046e2) * z + 4.328810604912902668951e2)
         * z + 4.853903996359136964868e2) * z + 1.945506571482613964425e2
    w = t * (z * p / q) + t
    return tl.where(big, 0.7853981633974483 + (w + 3.061616997868382943065e-17), w)


@triton.jit
def _sign_bit(x):
    """True where ``x`` is negative, including -0.0."""
    return (x < 0) | ((x == 0) & (1.0 / tl.where(x == 0, x, 1.0) < 0))


@triton.jit
def _atan2(y, x):
    ay = tl.abs(y)
    ax = tl.abs(x)
    hi = tl.maximum(ax, ay)
    lo = tl.minimum(ax, ay)
    r = tl.where(hi == 0, 0.0, lo / tl.where(hi == 0, 1.0, hi))
    r = tl.where(ax == ay, tl.where(hi == 0, 0.0, 1.0), r)
    t = _atan_unit(r)
    t = tl.where(ay > ax, 1.5707963267948966 - t, t)
    t = tl.where(_sign_bit(x), 3.141592653589793 - t, t)
    t = tl.where(_sign_bit(y), negate(t), t)      # atan2(-0.0, x > 0) is -0.0
    return tl.where((x != x) | (y != y), x + y, t)


@triton.jit
def _round_half_even(x):
    r = tl.floor(x + 0.5)
    r = tl.where((r - x == 0.5) & (tl.floor(r * 0.5) * 2.0 != r), r - 1.0, r)
    if tl.constexpr(x.dtype.is_fp64()):
        exact = 4503599627370496.0
    else:
        exact = 8388608.0
    return tl.where(tl.abs(x) < exact, r, x)


@triton.jit
def _pow_float(a, b):
    b_int = tl.floor(b) == b
    b_odd = b_int & (tl.floor(b * 0.5) * 2.0 != b)
    neg_int = (a < 0) & b_int
    r = tl.exp2(b * tl.log2(tl.where(neg_int, -a, a)))
    r = tl.where(neg_int & b_odd, negate(r), r)
    return tl.where((b == 0) | (a == 1), 1.0, r)


@triton.jit
def _pow_int(a, b):
    BITS: tl.constexpr = a.dtype.primitive_bitwidth
    r = a * 0 + 1
    base = a
    e = b
    for _ in range(BITS):
        r = tl.where((e & 1) != 0, r * base, r)
        base = base * base
        e = e >> 1
    if tl.constexpr(a.dtype.is_int_signed()):
        neg = tl.where(a == 1, 1, tl.where(a == -1, 1 - 2 * (b & 1), 0)).to(a.dtype)
        r = tl.where(b < 0, neg, r)
    return r


@triton.jit
def _sign_bit(x):
    """True where the floating ``x`` has its sign bit set (-0.0 and negative nan included)."""
    if tl.constexpr(x.dtype.primitive_bitwidth == 64):
        bits = x.to(tl.int64, bitcast=True)
    else:
        bits = x.to(tl.int32, bitcast=True)
    return bits < 0


@triton.jit
def _floor_divide(a, b):
    if tl.constexpr(a.dtype.is_floating()):
        mod = a % b
        div = (a - mod) / b
        div = tl.where((mod != 0) & ((b < 0) != (mod < 0)), div - 1.0, div)
        fl = tl.floor(div)
        fl = tl.where(div - fl > 0.5, fl + 1.0, fl)
        # a / b only matters where div is 0 (a signed zero: a / b is then finite, its sign that of a times b's)
        # and where b is +-0 (a / +-0 is a * +-inf exactly: +-inf, nan for a 0 or nan), so it is not computed:
        # a third division per element made the fp64 kernel spill on sm_80
        b_neg = _sign_bit(b)
        zero = a * 0.0                                  # +-0 with a's sign (a is finite where it is used)
        res = tl.where(div == 0, tl.where(b_neg, negate(zero), zero), fl)
        res = tl.where(b == 0, a * tl.where(b_neg, float("-inf"), float("inf")), res)
    else:
        r = a % b
        res = tl.where((r != 0) & ((r < 0) != (b < 0)), a // b - 1, a // b)
    return res


@triton.jit
def _remainder(a, b):
    r = a % b
    return tl.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


# ------------------------------------------------------------------------------------------------ op bodies
@triton.jit
def _unary_op(x, p0, p1, OP: tl.constexpr):
    """``OP`` applied to ``x`` (compute type); ``p0``/``p1`` are the op's scalar parameters."""
    if OP == NEG:
        y = negate(x)         # not -x: triton 3.6's unary minus loses the sign of zero (see negate)
    elif OP == ABS:
        y = tl.abs(x)
    elif OP == EXP:
        y = tl.exp(x)
    elif OP == LOG:
        y = tl.log(x)
    elif OP == LOG1P:
        y = _log1p(x)
    elif OP == EXPM1:
        y = _expm1(x)
    elif OP == SQRT:
        y = tl.sqrt(x)
    elif OP == RSQRT:
        y = tl.rsqrt(x)
    elif OP == SIN:
        y = tl.sin(x)
    elif OP == COS:
        y = tl.cos(x)
    elif OP == TANH:
        y = _tanh(x)
    elif OP == SIGMOID:
        y = _sigmoid(x)
    elif OP == RELU:
        y = tl.where(x < 0, 0, x)
    elif OP == SIGN:
        y = (x > 0).to(x.dtype) - (x < 0).to(x.dtype)
        if tl.constexpr(x.dtype.is_floating()):
            y = tl.where(x != x, x, y)
    elif OP == FLOOR:
        if tl.constexpr(x.dtype.is_floating()):
            y = tl.floor(x)
        else:
            y = x
    elif OP == CEIL:
        if tl.constexpr(x.dtype.is_floating()):
            y = tl.ceil(x)
        else:
            y = x
    elif OP == ROUND:
        if tl.constexpr(x.dtype.is_floating()):
            y = _round_half_even(x)
        else:
            y = x
    elif OP == TRUNC:
        if tl.constexpr(x.dtype.is_floating()):
            y = tl.where(x < 0, tl.ceil(x), tl.floor(x))
        else:
            y = x
    elif OP == RECIPROCAL:
        y = 1.0 / x
    elif OP == SQUARE:
        y = x * x
    elif OP == GELU:
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    elif OP == GELU_TANH:
        y = 0.5 * x * (1.0 + _tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    elif OP == SILU:
        y = x * _sigmoid(x)
    elif OP == LEAKY_RELU:
        y = tl.where(x > 0, x, x * p0)
    elif OP == LOGICAL_NOT:
        y = x == 0
    elif OP == ISNAN:
        y = x != x
    elif OP == ISINF:
        if tl.constexpr(x.dtype.is_floating()):
            y = tl.abs(x) == _INF
        else:
            y = x != x
    elif OP == CLAMP_MIN:
        y = tl.where(x < p0, p0, x)
    elif OP == CLAMP_MAX:
        y = tl.where(x > p1, p1, x)
    else:
        tl.static_assert(OP == CLAMP, "unknown unary op code")
        y = tl.where(x < p0, p0, x)
        y = tl.where(y > p1, p1, y)
    return y


@triton.jit
def _unary_grad(x, y, gy, p0, p1, OP: tl.constexpr):
    """d unary(OP)(x) / dx times ``gy``, given the forward output ``y``. Each op reads only the operand
    `UNARY_GRAD_READS` names for it (``y`` for exp, tanh, relu, ...; ``x`` for log, gelu, clamp, ...)."""
    if OP == NEG:
        g = negate(gy)
    elif OP == ABS:
        g = tl.where(x > 0, gy, tl.where(x < 0, -gy, 0.0))
    elif OP == EXP:
        g = gy * y
    elif OP == LOG:
        g = gy / x
    elif OP == LOG1P:
        g = gy / (1.0 + x)
    elif OP == EXPM1:
        g = gy * (y + 1.0)
    elif OP == SQRT:
        g = gy / (2.0 * y)
    elif OP == RSQRT:
        g = -0.5 * gy * y * y * y
    elif OP == SIN:
        g = gy * tl.cos(x)
    elif OP == COS:
        g = -gy * tl.sin(x)
    elif OP == TANH:
        g = gy * (1.0 - y * y)
    elif OP == SIGMOID:
        g = gy * y * (1.0 - y)
    elif OP == RELU:
        g = tl.where(y <= 0, 0.0, gy)           # PyTorch's threshold_backward(gy, y, 0): nan y passes gy
    elif (OP == SIGN) or (OP == FLOOR) or (OP == CEIL) or (OP == ROUND) or (OP == TRUNC):
        g = tl.zeros_like(gy)
    elif OP == RECIPROCAL:
        g = -gy * y * y
    elif OP == SQUARE:
        g = 2.0 * x * gy
    elif OP == GELU:
        cdf = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476))
        pdf = tl.exp(-0.5 * x * x) * 0.3989422804014327
        g = gy * (cdf + x * pdf)
    elif OP == GELU_TANH:
        t = _tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))
        dinner = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x)
        g = gy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)
    elif OP == SILU:
        s = _sigmoid(x)
        g = gy * s * (1.0 + x * (1.0 - s))
    elif OP == LEAKY_RELU:
        g = tl.where(x > 0, gy, gy * p0)
    elif OP == CLAMP_MIN:
        g = tl.where(x >= p0, gy, 0.0)
    elif OP == CLAMP_MAX:
        g = tl.where(x <= p1, gy, 0.0)
    else:
        tl.static_assert(OP == CLAMP, "unary op code without a gradient")
        g = tl.where((x >= p0) & (x <= p1), gy, 0.0)
    return g


@triton.jit
def _binary_op(a, b, OP: tl.constexpr):
    """``OP`` on ``a`` and ``b`` (compute type)."""
    if OP == ADD:
        c = a + b
    elif OP == SUB:
        c = a - b
    elif OP == MUL:
        c = a * b
    elif OP == DIV:
        c = a / b
    elif OP == POW:
        if tl.constexpr(a.dtype.is_floating()):
            c = _pow_float(a, b)
        else:
            c = _pow_int(a, b)
    elif OP == MAXIMUM:
        c = tl.where((a > b) | (a != a), a, b)
    elif OP == MINIMUM:
        c = tl.where((a < b) | (a != a), a, b)
    elif OP == FLOOR_DIVIDE:
        c = _floor_divide(a, b)
    elif OP == REMAINDER:
        c = _remainder(a, b)
    elif OP == ATAN2:
        c = _atan2(a, b)
    elif OP == EQ:
        c = a == b
    elif OP == NE:
        c = a != b
    elif OP == LT:
        c = a < b
    elif OP == LE:
        c = a <= b
    elif OP == GT:
        c = a > b
    elif OP == GE:
        c = a >= b
    elif OP == LOGICAL_AND:
        c = (a != 0) & (b != 0)
    elif OP == LOGICAL_OR:
        c = (a != 0) | (b != 0)
    elif OP == LOGICAL_XOR:
        c = (a != 0) != (b != 0)
    elif OP == BITWISE_AND:
        c = a & b
    elif OP == BITWISE_OR:
        c = a | b
    else:
        tl.static_assert(OP == BITWISE_XOR, "unknown binary op code")
        c = a ^ b
    return c


@triton.jit
def _binary_grads(a, b, gc, OP: tl.constexpr):
    """``(ga, gb)`` of ``c = OP(a, b)`` given ``gc`` (compute type)."""
    if OP == ADD:
        ga = gc
        gb = gc
    elif OP == SUB:
        ga = gc
        gb = negate(gc)
    elif OP == MUL:
        ga = gc * b
        gb = gc * a
    elif OP == DIV:
        ga = gc / b
        gb = -gc * a / (b * b)
    elif OP == POW:
        ga = tl.where(b == 0, 0.0, gc * b * _pow_float(a, b - 1.0))
        gb = tl.where((a == 0) & (b >= 0), 0.0, gc * _pow_float(a, b) * tl.log(a))
    elif OP == MAXIMUM:
        ga = tl.where(a == b, gc * 0.5, tl.where(a < b, 0.0, gc))
        gb = tl.where(a == b, gc * 0.5, tl.where(a > b, 0.0, gc))
    elif OP == MINIMUM:
        ga = tl.where(a == b, gc * 0.5, tl.where(a > b, 0.0, gc))
        gb = tl.where(a == b, gc * 0.5, tl.where(a < b, 0.0, gc))
    elif OP == ATAN2:
        d = a * a + b * b
        ga = gc * b / d
        gb = -gc * a / d
    else:
        tl.static_assert(OP == REMAINDER, "binary op code without a gradient")
        ga = gc
        gb = -gc * _floor_divide(a, b)
    return ga, gb


# ------------------------------------------------------------------------------------------------ kernels
@triton.jit(do_not_specialize=["p0", "p1"])
def _unary_fwd_kernel(out_ptr, x_ptr,
                      n, D1, D2, D3,                # numel, collapsed dims 1..3 (dim 0 implied)
                      sx0, sx1, sx2, sx3,           # x element strides
                      p0, p1,                       # scalar parameters (slope, clamp bounds), see scalar_arg
                      OP: tl.constexpr, RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    x = upcast(load_strided(x_ptr, idx, mask, D1, D2, D3, sx0, sx1, sx2, sx3, RANK))
    p0 = scalar_block(x_ptr, p0, BLOCK)
    p1 = scalar_block(x_ptr, p1, BLOCK)
    y = _unary_op(x, p0, p1, OP)
    tl.store(out_ptr + idx, cast_to(y, out_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["p0", "p1"])
def _unary_bwd_kernel(gx_ptr, x_ptr, y_ptr, gy_ptr,
                      n, D1, D2, D3,
                      sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3, sg0, sg1, sg2, sg3,
                      p0, p1,
                      OP: tl.constexpr,
                      HAS_X: tl.constexpr,          # False: x_ptr is not read (x_ptr only gives the dtype)
                      HAS_Y: tl.constexpr,          # False: y_ptr is not read; y is recomputed from x if HAS_X
                      RANK: tl.constexpr, BLOCK: tl.constexpr):
    # The wrapper guarantees that the operand OP's gradient reads (UNARY_GRAD_READS) is loaded or recomputed;
    # the stand-in values of a missing operand are never read by _unary_grad's branch for OP.
    idx = flat_index(BLOCK)
    mask = idx < n
    gy = upcast(load_strided(gy_ptr, idx, mask, D1, D2, D3, sg0, sg1, sg2, sg3, RANK))
    p0 = scalar_block(x_ptr, p0, BLOCK)
    p1 = scalar_block(x_ptr, p1, BLOCK)
    if HAS_X:
        x = upcast(load_strided(x_ptr, idx, mask, D1, D2, D3, sx0, sx1, sx2, sx3, RANK))
    else:
        x = gy
    if HAS_Y:
        y = upcast(load_strided(y_ptr, idx, mask, D1, D2, D3, sy0, sy1, sy2, sy3, RANK))
    elif HAS_X:
        y = _unary_op(x, p0, p1, OP)
    else:
        y = gy
    gx = _unary_grad(x, y, gy, p0, p1, OP)
    tl.store(gx_ptr + idx, cast_to(gx, gx_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["a_s", "b_s"])
def _binary_fwd_kernel(c_ptr, a_ptr, b_ptr,        # a_ptr/b_ptr only give the dtype when that side is a scalar
                       n, D1, D2, D3,
                       sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3,
                       a_s, b_s,                    # scalar operands (see scalar_arg)
                       err_ptr, err_op,             # the device error word: integer division by zero
                       OP: tl.constexpr, A_SCALAR: tl.constexpr, B_SCALAR: tl.constexpr,
                       RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    a = load_operand(a_ptr, idx, mask, D1, D2, D3, sa0, sa1, sa2, sa3, a_s, A_SCALAR, RANK, BLOCK)
    b = load_operand(b_ptr, idx, mask, D1, D2, D3, sb0, sb1, sb2, sb3, b_s, B_SCALAR, RANK, BLOCK)
    if OP == FLOOR_DIVIDE or OP == REMAINDER:
        if tl.constexpr(not b.dtype.is_floating()):
            report_bad_lanes(err_ptr, mask & (b == 0), idx, 0, 0, err_op)
    c = _binary_op(a, b, OP)
    tl.store(c_ptr + idx, cast_to(c, c_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["a_s", "b_s"])
def _binary_bwd_kernel(ga_ptr, gb_ptr, a_ptr, b_ptr, gc_ptr,
                       n, D1, D2, D3,
                       sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3, sg0, sg1, sg2, sg3,
                       a_s, b_s,
                       OP: tl.constexpr, A_SCALAR: tl.constexpr, B_SCALAR: tl.constexpr,
                       NEED_A: tl.constexpr, NEED_B: tl.constexpr,
                       RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    a = load_operand(a_ptr, idx, mask, D1, D2, D3, sa0, sa1, sa2, sa3, a_s, A_SCALAR, RANK, BLOCK)
    b = load_operand(b_ptr, idx, mask, D1, D2, D3, sb0, sb1, sb2, sb3, b_s, B_SCALAR, RANK, BLOCK)
    gc = upcast(load_strided(gc_ptr, idx, mask, D1, D2, D3, sg0, sg1, sg2, sg3, RANK))
    ga, gb = _binary_grads(a, b, gc, OP)
    if NEED_A:
        tl.store(ga_ptr + idx, cast_to(ga, ga_ptr.dtype.element_ty), mask=mask)
    if NEED_B:
        tl.store(gb_ptr + idx, cast_to(gb, gb_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["a_s", "b_s"])
def _where_fwd_kernel(out_ptr, cond_ptr, a_ptr, b_ptr,
                      n, D1, D2, D3,
                      sc0, sc1, sc2, sc3, sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3,
                      a_s, b_s,
                      A_SCALAR: tl.constexpr, B_SCALAR: tl.constexpr, RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    mask = idx < n
    cond = load_strided(cond_ptr, idx, mask, D1, D2, D3, sc0, sc1, sc2, sc3, RANK) != 0
    a = load_operand(a_ptr, idx, mask, D1, D2, D3, sa0, sa1, sa2, sa3, a_s, A_SCALAR, RANK, BLOCK)
    b = load_operand(b_ptr, idx, mask, D1, D2, D3, sb0, sb1, sb2, sb3, b_s, B_SCALAR, RANK, BLOCK)
    tl.store(out_ptr + idx, cast_to(tl.where(cond, a, b), out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _tril_fwd_kernel(out_ptr, x_ptr,
                     n, D1, D2, D3,
                     sx0, sx1, sx2, sx3,
                     n_rows, n_cols, k,            # last two dims of the (uncollapsed) shape, diagonal offset
                     UPPER: tl.constexpr, RANK: tl.constexpr, BLOCK: tl.constexpr):
    idx = flat_index(BLOCK)
    col = idx % n_cols
    row = (idx // n_cols) % n_rows
    if UPPER:
        keep = col - row >= k
    else:
        keep = col - row <= k
    mask = idx < n
    x = tl.load(x_ptr + strided_offset(idx, D1, D2, D3, sx0, sx1, sx2, sx3, RANK), mask=mask & keep, other=0)
    tl.store(out_ptr + idx, x, mask=mask)


# ------------------------------------------------------------------------------------------------ wrappers
def _is_scalar(v):
    return isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))


def _check_kind(what, op, dtype, float_only=False, int_only=False, bool_ok=True):
    dtype = np.dtype(dtype)
    if float_only and not is_floating(dtype):
        raise TypeError(f"{what} '{op}' needs a floating dtype, got {dtype}")
    if int_only and is_floating(dtype):
        raise TypeError(f"{what} '{op}' needs an integer or bool dtype, got {dtype}")
    if dtype == np.bool_ and not bool_ok:
        raise TypeError(f"{what} '{op}' does not support bool")


def _unary_params(op, x_dtype, params):
    """The (p0, p1) scalar parameters of a unary op (leaky_relu's slope, clamp bounds)."""
    if op == "leaky_relu":
        unknown = set(params) - {"negative_slope"}
        slope = params.get("negative_slope", 0.01)
        return (scalar_arg(slope, x_dtype), scalar_arg(0, x_dtype)), unknown
    if op in ("clamp_min", "clamp_max", "clamp"):
        unknown = set(params) - {"lo", "hi"}
        lo = params.get("lo")
        hi = params.get("hi")
        return (scalar_arg(0 if lo is None else lo, x_dtype), scalar_arg(0 if hi is None else hi, x_dtype)), unknown
    return (scalar_arg(0, x_dtype), scalar_arg(0, x_dtype)), set(params)


def unary(op, x, **params):
    """Elementwise ``op`` of `UNARY_OPS` on ``x`` (``torch.<op>``); a new contiguous array.

    ``leaky_relu`` takes ``negative_slope`` (default 0.01). Floating ops need a floating ``x``;
    ``logical_not``/``isnan``/``isinf`` return bool, the rest keep ``x``'s dtype.
    """
    if op not in UNARY_CODES or op.startswith("clamp"):
        raise ValueError(f"unknown unary op {op!r}")
    check_array("x", x)
    _check_kind("unary op", op, x.dtype, float_only=op in _UNARY_FLOAT_ONLY, bool_ok=op in _UNARY_BOOL_IN)
    scalars, unknown = _unary_params(op, x.dtype, params)
    if unknown:
        raise TypeError(f"unary op '{op}' got unexpected parameters {sorted(unknown)}")
    return _unary_launch(op, x, scalars)


_OUT_OF_LINE_OPS = ("sin", "cos")
"""Ops whose libdevice code calls out of line in every dtype (sin/cos argument reduction)."""


def _per_thread(op, itemsize):
    """``per_thread`` of `launch_config` for ``op`` on ``dtype``: 4 elements a thread where a lane calls out-of-line
    code (64-bit integer division, fp64 division and libdevice, sin/cos argument reduction): ptxas keeps every
    element's live values across each call, and at 8 a thread fp64 floor_divide, int64 remainder and the fp32
    sin gradient spilled 4 to 16 B (sm_80 or sm_90, triton 3.6 or 3.9). None (8 a thread) for the rest."""
    return 4 if itemsize == 8 or op in _OUT_OF_LINE_OPS else None


def _unary_launch(op, x, scalars):
    out = runtime.empty(x.shape, np.bool_ if op in _UNARY_BOOL_OUT else x.dtype, x.device)
    launch_strided(_unary_fwd_kernel, x.shape, [out], [x], scalars, per_thread=_per_thread(op, x.itemsize),
                   OP=UNARY_CODES[op])
    return out


def _unary_bwd_launch(op, x, y, gy, like, scalars):
    """Launch the backward kernel, loading only the operand ``UNARY_GRAD_READS[op]`` (``y`` read but None:
    recomputed from ``x``); ``like`` (the first of x, y, gy present) gives the dtype of the gradient."""
    shape = gy.shape
    if any(a is not None and a.shape != shape for a in (x, y)):
        raise ValueError(f"unary_bwd '{op}': x {None if x is None else x.shape}, y {None if y is None else y.shape} "
                         f"and gy {gy.shape} must have one shape")
    reads = UNARY_GRAD_READS[op]
    if reads == "x" and x is None:
        raise ValueError(f"unary_bwd '{op}' needs the forward input x, got None")
    if reads == "y" and x is None and y is None:
        raise ValueError(f"unary_bwd '{op}' needs the forward output y (or the input x), got None for both")
    has_y = reads == "y" and y is not None
    has_x = x is not None and (reads == "x" or (reads == "y" and not has_y))
    gx = runtime.empty(shape, like.dtype, gy.device)
    launch_strided(_unary_bwd_kernel, shape, [gx], [x if has_x else like, y if has_y else like, gy], scalars,
                   per_thread=_per_thread(op, like.itemsize), OP=UNARY_CODES[op], HAS_X=has_x, HAS_Y=has_y)
    return gx


def unary_bwd(op, x, y, gy, **params):
    """Gradient of ``unary(op, x)`` w.r.t. ``x`` given its output ``y`` and the upstream ``gy``.

    Non-smooth points follow PyTorch: ``relu'(0) = 0``, ``abs'(0) = 0``, ``sign' = floor' = ceil' = round' =
    trunc' = 0``, ``leaky_relu'(0) = negative_slope``. Only the operand `UNARY_GRAD_READS` names is read; the
    other may be None (``y`` None with ``x`` given: the kernel recomputes ``y``). The gradient has the dtype of
    ``x`` (else ``y``, else ``gy``).
    """
    if op not in _UNARY_DIFFERENTIABLE or op.startswith("clamp"):
        raise ValueError(f"unary op {op!r} has no gradient")
    check_array("gy", gy)
    for name, a in (("x", x), ("y", y)):
        if a is not None:
            check_array(name, a)
    like = x if x is not None else y if y is not None else gy
    _check_kind("unary_bwd", op, like.dtype, float_only=True)
    scalars, unknown = _unary_params(op, like.dtype, params)
    if unknown:
        raise TypeError(f"unary op '{op}' got unexpected parameters {sorted(unknown)}")
    return _unary_bwd_launch(op, x, y, gy, like, scalars)


def _clamp_op(lo, hi):
    if lo is None and hi is None:
        return None
    return "clamp" if lo is not None and hi is not None else ("clamp_min" if lo is not None else "clamp_max")


def clamp(x, lo, hi):
    """``torch.clamp``: ``min(max(x, lo), hi)`` with scalar (or None) bounds; NaN stays NaN."""
    check_array("x", x)
    _check_kind("clamp", "clamp", x.dtype, bool_ok=False)
    op = _clamp_op(lo, hi)
    if op is None:
        return copy_(runtime.empty(x.shape, x.dtype, x.device), x)
    scalars, _ = _unary_params(op, x.dtype, {"lo": lo, "hi": hi})
    return _unary_launch(op, x, scalars)


def clamp_bwd(x, lo, hi, gy):
    """Gradient of `clamp`: ``gy`` where ``lo <= x <= hi`` (None bounds always pass), else 0."""
    check_array("x", x)
    check_array("gy", gy)
    _check_kind("clamp_bwd", "clamp", x.dtype, float_only=True)
    op = _clamp_op(lo, hi)
    if op is None:
        return copy_(runtime.empty(gy.shape, gy.dtype, gy.device), gy)
    scalars, _ = _unary_params(op, x.dtype, {"lo": lo, "hi": hi})
    return _unary_bwd_launch(op, x, None, gy, x, scalars)


def _binary_operands(what, a, b):
    """Validated ``(shape, dtype, a_view, b_view, scalars, A_SCALAR, B_SCALAR)`` for a two-operand kernel;
    a scalar side gets the other array as its dtype-giving dummy pointer."""
    a_sc, b_sc = _is_scalar(a), _is_scalar(b)
    if a_sc and b_sc:
        raise TypeError(f"{what}: at least one operand must be an array, got two scalars")
    for name, v, sc in (("a", a, a_sc), ("b", b, b_sc)):
        if not sc:
            check_array(name, v)
    if not a_sc and not b_sc:
        if a.dtype != b.dtype:
            raise TypeError(f"{what}: operands must have one dtype, got {a.dtype} and {b.dtype}")
        if a.device != b.device:
            raise RuntimeError(f"{what}: operands are on different devices cuda:{a.device} and cuda:{b.device}")
        try:
            shape = broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{what}: shapes {a.shape} and {b.shape} cannot be broadcast") from None
    else:
        shape = (b if a_sc else a).shape
    dtype = (b if a_sc else a).dtype
    av = b.broadcast_to(shape) if a_sc else a.broadcast_to(shape)
    bv = a.broadcast_to(shape) if b_sc else b.broadcast_to(shape)
    scalars = (scalar_arg(a if a_sc else 0, dtype), scalar_arg(b if b_sc else 0, dtype))
    return shape, dtype, av, bv, scalars, a_sc, b_sc


def binary(op, a, b):
    """Elementwise ``op`` of `BINARY_OPS` (``torch.<op>``) on two arrays of one dtype or an array and a
    Python scalar, broadcast; a new contiguous array. ``div`` is true division (floating only);
    ``floor_divide``/``remainder`` follow Python's signs; comparisons and ``logical_*`` return bool."""
    if op not in BINARY_CODES:
        raise ValueError(f"unknown binary op {op!r}")
    shape, dtype, av, bv, scalars, a_sc, b_sc = _binary_operands(f"binary '{op}'", a, b)
    _check_kind("binary op", op, dtype, float_only=op in _BINARY_FLOAT_ONLY, int_only=op in _BINARY_INT_ONLY,
                bool_ok=op in _BINARY_BOOL_IN)
    out = runtime.empty(shape, np.bool_ if op in _BINARY_BOOL_OUT else dtype, av.device)
    launch_strided(_binary_fwd_kernel, shape, [out], [av, bv], scalars + _division_error_args(op, av.device),
                   per_thread=_per_thread(op, np.dtype(dtype).itemsize), OP=BINARY_CODES[op], A_SCALAR=a_sc,
                   B_SCALAR=b_sc)
    return out


def _division_error_args(op, device):
    """The ``err_ptr, err_op`` arguments of `_binary_fwd_kernel`: integer ``floor_divide``/``remainder`` by
    zero is recorded in the device error word (RuntimeError ZeroDivisionError at the next wait, as PyTorch
    raises on cpu); other ops never report."""
    return error_args(device, op if op in ("floor_divide", "remainder") else "floor_divide")


def add_(dst, src):
    """``dst += src`` in place (``Tensor.add_``) with one launch of the binary kernel: ``dst`` a C-contiguous
    array, ``src`` an array of the same dtype broadcastable to it. Each element is read and written by the
    same program, so reading and writing ``dst`` in one launch is safe. Used for gradient accumulation."""
    check_array("dst", dst)
    if not dst.is_contiguous():
        raise ValueError(f"add_: dst must be C-contiguous, got strides {dst.strides} for shape {dst.shape}")
    shape, dtype, av, bv, scalars, a_sc, b_sc = _binary_operands("add_", dst, src)
    if tuple(shape) != tuple(dst.shape):
        raise ValueError(f"add_: src {src.shape} does not broadcast to dst {dst.shape}")
    _check_kind("add_", "add", dtype, float_only=False, int_only=False, bool_ok=False)
    launch_strided(_binary_fwd_kernel, shape, [dst], [av, bv], scalars + _division_error_args("add", dst.device),
                   OP=BINARY_CODES["add"], A_SCALAR=a_sc, B_SCALAR=b_sc)
    return dst


def binary_bwd(op, a, b, gc, need_a=True, need_b=True):
    """``(ga, gb)`` for ``c = binary(op, a, b)`` at the broadcast shape (None where not needed or where that
    operand is a scalar). ``maximum``/``minimum`` split ``gc`` equally on ties (PyTorch's rule); ``pow``
    gives ``ga = 0`` where ``b == 0`` and ``gb = c * log(a) * gc`` with 0 where ``a == 0`` and ``b >= 0``;
    ``remainder`` gives ``gb = -gc * floor_divide(a, b)``."""
    if op not in _BINARY_DIFFERENTIABLE:
        raise ValueError(f"binary op {op!r} has no gradient")
    shape, dtype, av, bv, scalars, a_sc, b_sc = _binary_operands(f"binary_bwd '{op}'", a, b)
    _check_kind("binary_bwd", op, dtype, float_only=True)
    check_array("gc", gc)
    try:
        gcv = gc.broadcast_to(shape)
    except ValueError:
        raise ValueError(f"binary_bwd '{op}': gc {gc.shape} does not match the broadcast shape {shape}") from None
    need_a = need_a and not a_sc
    need_b = need_b and not b_sc
    ga = runtime.empty(shape, dtype, av.device) if need_a else None
    gb = runtime.empty(shape, dtype, av.device) if need_b else None
    if need_a or need_b:
        launch_strided(_binary_bwd_kernel, shape, [ga if need_a else gb, gb if need_b else ga],
                       [av, bv, gcv], scalars, per_thread=_per_thread(op, np.dtype(dtype).itemsize),
                       OP=BINARY_CODES[op], A_SCALAR=a_sc, B_SCALAR=b_sc, NEED_A=need_a, NEED_B=need_b)
    return ga, gb


def where(cond, a, b):
    """``torch.where(cond, a, b)``: ``a`` where the bool ``cond`` holds, else ``b``; ``a``/``b`` arrays of one
    dtype or Python scalars (two scalars give PyTorch's default dtype for them); broadcast."""
    check_array("cond", cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: cond must be bool, got {cond.dtype}")
    a_sc, b_sc = _is_scalar(a), _is_scalar(b)
    arrays = [v for v, sc in ((a, a_sc), (b, b_sc)) if not sc]
    for v in arrays:
        check_array("a/b", v)
    if len(arrays) == 2 and a.dtype != b.dtype:
        raise TypeError(f"where: a and b must have one dtype, got {a.dtype} and {b.dtype}")
    dtype = arrays[0].dtype if arrays else result_type(a, b).np
    try:
        shape = broadcast_shapes(cond.shape, *(v.shape for v in arrays))
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {[v.shape for v in arrays]} cannot be broadcast") from None
    out = runtime.empty(shape, dtype, cond.device)
    dummy = out.broadcast_to(shape).view_as(shape, (0,) * len(shape))
    av = dummy if a_sc else a.broadcast_to(shape)
    bv = dummy if b_sc else b.broadcast_to(shape)
    scalars = (scalar_arg(a if a_sc else 0, dtype), scalar_arg(b if b_sc else 0, dtype))
    launch_strided(_where_fwd_kernel, shape, [out], [cond.broadcast_to(shape), av, bv], scalars,
                   A_SCALAR=a_sc, B_SCALAR=b_sc)
    return out


def tril(x, k, upper=False):
    """``torch.tril(x, k)`` (``upper=True``: ``torch.triu``) over the last two dims; the rest is zero.
    Its backward is the same op applied to the gradient."""
    check_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"tril/triu needs at least 2 dims, got shape {x.shape}")
    out = runtime.empty(x.shape, x.dtype, x.device)
    launch_strided(_tril_fwd_kernel, x.shape, [out], [x], (x.shape[-2], x.shape[-1], int(k)), UPPER=bool(upper))
    return out


# ------------------------------------------------------------------------------------------------ AOT
_STRIDED = {"n": "i64"}
_AOT_BF16 = ("neg", "exp", "sqrt", "relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "isnan", "clamp",
             "add", "mul", "div", "maximum", "pow", "lt")
"""Ops compiled for bf16 too (the fp32 specs cover every op; these are the ones common in bf16 training)."""
_AOT_FP64 = ("log1p", "expm1", "tanh", "round", "gelu", "sin", "pow", "atan2", "floor_divide", "remainder")
"""Ops compiled for fp64 too: those whose fp64 path differs (precision constants, fp64 math calls)."""
_AOT_INT = {
    "i64": ("abs", "sign", "relu", "square", "logical_not", "clamp", "add", "mul", "pow", "floor_divide",
            "remainder", "maximum", "eq", "logical_and", "bitwise_and", "bitwise_xor"),
    "i32": ("neg", "add", "pow", "floor_divide", "remainder"),
    "u8": ("abs", "sign", "add", "pow", "floor_divide", "remainder", "bitwise_or"),
    "i1": ("logical_not", "add", "mul", "logical_xor", "bitwise_and", "eq"),
}
"""Integer and bool variants compiled (integer paths differ from float ones: pow, floor_divide, signs)."""


_AOT_ITEMSIZE = {"fp32": 4, "bf16": 2, "fp64": 8, "i64": 8, "i32": 4, "u8": 1, "i1": 1}


def _aot_warps(op, t):
    """The warps `launch_config` gives ``op`` on type ``t`` (``"fp64"``...) for a large launch (BLOCK 1024)."""
    return launch_config(1 << 20, _per_thread(op, _AOT_ITEMSIZE[t]))[1]


def _aot_float(t, op):
    ptr = "*" + t
    warps = _aot_warps(op, t)
    if op in UNARY_CODES:
        code = UNARY_CODES[op]
        out = "*i1" if op in _UNARY_BOOL_OUT else ptr
        yield aot_spec(f"unary_{op}_{t}", _unary_fwd_kernel, {"out_ptr": out, "x_ptr": ptr, "p0": "i64", "p1": "i64",
                                                               **_STRIDED}, {"OP": code, "RANK": 2, "BLOCK": 1024}, warps)
        if op in _UNARY_DIFFERENTIABLE:
            yield aot_spec(f"unary_bwd_{op}_{t}", _unary_bwd_kernel,
                           {"gx_ptr": ptr, "x_ptr": ptr, "y_ptr": ptr, "gy_ptr": ptr, "p0": "i64", "p1": "i64",
                            **_STRIDED}, {"OP": code, "HAS_X": UNARY_GRAD_READS[op] == "x",
                                          "HAS_Y": UNARY_GRAD_READS[op] == "y", "RANK": 1, "BLOCK": 1024}, warps)
        return
    code = BINARY_CODES[op]
    out = "*i1" if op in _BINARY_BOOL_OUT else ptr
    yield aot_spec(f"binary_{op}_{t}", _binary_fwd_kernel,
                   {"c_ptr": out, "a_ptr": ptr, "b_ptr": ptr, "a_s": "i64", "b_s": "i64", "err_ptr": "*i64",
                    **_STRIDED},
                   {"OP": code, "A_SCALAR": False, "B_SCALAR": op == "pow", "RANK": 3, "BLOCK": 1024}, warps)
    if op in _BINARY_DIFFERENTIABLE:
        yield aot_spec(f"binary_bwd_{op}_{t}", _binary_bwd_kernel,
                       {"ga_ptr": ptr, "gb_ptr": ptr, "a_ptr": ptr, "b_ptr": ptr, "gc_ptr": ptr, "a_s": "i64",
                        "b_s": "i64", **_STRIDED},
                       {"OP": code, "A_SCALAR": False, "B_SCALAR": False, "NEED_A": True, "NEED_B": True,
                        "RANK": 2, "BLOCK": 1024}, warps)


def aot_specs():
    """Every op in fp32 (forward and backward), the common ones in bf16, the fp64-specific ones in fp64,
    integer/bool variants, ``where`` and ``tril``."""
    float_ops = [op for op in UNARY_CODES if op not in ("clamp_min", "clamp_max")] + \
        [op for op in BINARY_CODES if op not in _BINARY_INT_ONLY]
    for t, ops in (("fp32", float_ops), ("bf16", _AOT_BF16), ("fp64", _AOT_FP64)):
        for op in ops:
            yield from _aot_float(t, op)
        ptr = "*" + t
        yield aot_spec(f"where_{t}", _where_fwd_kernel,
                       {"out_ptr": ptr, "cond_ptr": "*i1", "a_ptr": ptr, "b_ptr": ptr, "a_s": "i64", "b_s": "i64",
                        **_STRIDED}, {"A_SCALAR": False, "B_SCALAR": True, "RANK": 2, "BLOCK": 1024})
    yield aot_spec("tril_bf16", _tril_fwd_kernel, {"out_ptr": "*bf16", "x_ptr": "*bf16", **_STRIDED},
                   {"UPPER": False, "RANK": 3, "BLOCK": 1024})
    for t, ops in _AOT_INT.items():
        ptr = "*" + t
        for op in ops:
            if op in UNARY_CODES:
                yield aot_spec(f"unary_{op}_{t}", _unary_fwd_kernel,
                               {"out_ptr": "*i1" if op in _UNARY_BOOL_OUT else ptr, "x_ptr": ptr, "p0": "i32",
                                "p1": "i32", **_STRIDED}, {"OP": UNARY_CODES[op], "RANK": 1, "BLOCK": 1024},
                               _aot_warps(op, t))
            else:
                yield aot_spec(f"binary_{op}_{t}", _binary_fwd_kernel,
                               {"c_ptr": "*i1" if op in _BINARY_BOOL_OUT else ptr, "a_ptr": ptr, "b_ptr": ptr,
                                "a_s": "i32", "b_s": "i32", "err_ptr": "*i64", **_STRIDED},
                               {"OP": BINARY_CODES[op], "A_SCALAR": False, "B_SCALAR": False, "RANK": 1,
                                "BLOCK": 1024}, _aot_warps(op, t))
    yield aot_spec("where_i64", _where_fwd_kernel,
                   {"out_ptr": "*i64", "cond_ptr": "*i1", "a_ptr": "*i64", "b_ptr": "*i64", "a_s": "i64",
                    "b_s": "i64", **_STRIDED}, {"A_SCALAR": True, "B_SCALAR": False, "RANK": 2, "BLOCK": 1024})
