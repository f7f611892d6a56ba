"""One `autograd.Op` per op: forward calls ``be.<op>``, backward calls ``be.<op>_bwd`` (or other backend ops).

Arrays here are backend arrays; ``self.be`` is the backend of the inputs. Gradients of broadcast
operands are summed back to the operand's shape with `unbroadcast`.
"""
from __future__ import annotations

import math

import numpy as np

from ._higher_order import constant as _const
from ._higher_order import input_tensor as _tin
from ._higher_order import output_tensor as _tout
from ._strides import broadcast_shapes
from .autograd import Op
from .backends.base import UNARY_SAVES


def unbroadcast(be, g, shape):
    """Sum ``g`` over the dimensions that broadcasting added or stretched, to get ``shape``."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = len(g.shape) - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    out = be.reduce("sum", g, dims, False) if dims else g
    if tuple(out.shape) != shape:
        out = _reshape(be, out, shape)
    return out


def _reshape(be, a, shape):
    v = be.reshape_view(a, shape)
    return v if v is not None else be.reshape_view(be.contiguous(a), shape)


def _ones(be, a):
    return be.full(tuple(a.shape), 1, a.dtype, be.device_of(a))


def _zeros_t(node, shape, dtype):
    be = node.be
    return _const(node, be.full(tuple(shape), 0, dtype, node._graph_device.index or 0))


def _keep_t(g, x_shape, dims, keepdim):
    """A reduction's output gradient ``g`` (Tensor) with the reduced dims kept as size 1."""
    if keepdim or not x_shape:
        return g
    shape = [1 if i in dims else n for i, n in enumerate(x_shape)]
    return g.reshape(shape)


_PHI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh_d(x):
    u = (x + 0.044715 * x * x * x) * _GELU_C
    t = u.tanh()
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)


# f'(x) of the smooth unary ops as Tensor formulas of the one operand the op saves (UNARY_SAVES: the output y
# for exp, tanh, sigmoid, ...; the input x for log, sin, gelu, ...; neither for neg); ops missing here have a
# piecewise constant derivative (abs, relu, leaky_relu, sign, floor, ...), used as a constant array in double
# backward
_UNARY_D = {
    "neg": lambda v, p: -1.0,
    "exp": lambda y, p: y,
    "expm1": lambda y, p: y + 1,
    "sqrt": lambda y, p: 0.5 / y,
    "rsqrt": lambda y, p: -0.5 * y * y * y,
    "tanh": lambda y, p: 1 - y * y,
    "sigmoid": lambda y, p: y * (1 - y),
    "reciprocal": lambda y, p: -y * y,
    "log": lambda x, p: x.reciprocal(),
    "log1p": lambda x, p: (x + 1).reciprocal(),
    "sin": lambda x, p: x.cos(),
    "cos": lambda x, p: -x.sin(),
    "square": lambda x, p: 2 * x,
    "gelu": lambda x, p: NormalCdf.apply(x) + x * (-0.5 * x * x).exp() * _PHI,
    "gelu_tanh": lambda x, p: _gelu_tanh_d(x),
    "silu": lambda x, p: x.sigmoid() * (1 + x * (1 - x.sigmoid())),
}


class NormalCdf(Op):
    """Phi(x), the standard normal CDF (for gelu's double backward): gelu'(x) - x phi(x) on arrays."""

    def forward(self, x):
        be = self.be
        self.save_for_backward(x)
        pdf = be.binary("mul", be.unary("exp", be.binary("mul", be.binary("mul", x, x), -0.5)), _PHI)
        return be.binary("sub", be.unary_bwd("gelu", x, None, _ones(be, x)), be.binary("mul", x, pdf))

    def backward(self, g):
        (x,) = self.saved_tensors
        be = self.be
        return be.binary("mul", g, be.binary("mul", be.unary("exp", be.binary("mul", be.binary("mul", x, x), -0.5)),
                                             _PHI))

    def backward_graph(self, g):
        x = _tin(self, 0, self.saved_tensors[0])
        return g * (-0.5 * x * x).exp() * _PHI


# ---------------------------------------------------------------------------------------------- elementwise
class Unary(Op):
    """``op`` of `UNARY_OPS`; saves only the operand its derivative reads (`UNARY_SAVES`), as PyTorch does."""

    def forward(self, x, *, op, params):
        self.op, self.params = op, params
        y = self.be.unary(op, x, **params)
        self.saves = UNARY_SAVES.get(op)    # None for neg, sign, ... and for the bool ops (never differentiated)
        if self.saves is not None:
            self.save_for_backward(x if self.saves == "x" else y)
        return y

    def _operands(self):
        """``(x, y)`` for ``be.unary_bwd``: the saved one, None for the other."""
        v = self.saved_tensors[0] if self.saves is not None else None
        return (v, None) if self.saves == "x" else (None, v)

    def backward(self, gy):
        x, y = self._operands()
        return self.be.unary_bwd(self.op, x, y, gy, **self.params)

    def backward_graph(self, gy):
        x, y = self._operands()
        d = _UNARY_D.get(self.op)
        if d is None:       # piecewise constant derivative: a constant factor
            return gy * _const(self, self.be.unary_bwd(self.op, x, y, _ones(self.be, gy._data), **self.params))
        if self.saves is None:
            return gy * d(None, self.params)
        return gy * d(_tin(self, 0, x) if self.saves == "x" else _tout(self, 0, y), self.params)

    @property
    def name(self):
        return self.op.capitalize() + "Backward0"


_BINARY_READS = {"add": ("", ""), "sub": ("", ""), "mul": ("b", "a"), "div": ("b", "ab"), "remainder": ("", "ab")}
"""Operands the gradient w.r.t. a and the one w.r.t. b read (PyTorch's derivatives.yaml); the other
differentiable ops (pow, atan2, maximum, minimum) read both for either."""


class Binary(Op):
    """``op`` of `BINARY_OPS`; saves only the operands the gradients that will be asked for read (`_BINARY_READS`):
    ``x * w`` with only ``w`` requiring grad keeps ``x`` alone, ``x * 2.0`` or ``x + y`` keep nothing."""

    def forward(self, a, b, *, op):
        self.op = op
        self.a_shape = getattr(a, "shape", None)
        self.b_shape = getattr(b, "shape", None)
        c = self.be.binary(op, a, b)
        na, nb = self.needs_input_grad or (False, False)
        ra, rb = _BINARY_READS.get(op, ("ab", "ab"))
        reads = (ra if na else "") + (rb if nb else "")
        if reads:
            self.save_for_backward(a if "a" in reads else None, b if "b" in reads else None)
        return c

    def backward(self, gc):
        be, op = self.be, self.op
        na, nb = self.needs_input_grad
        a, b = self.saved_tensors or (None, None)
        if op in ("add", "sub"):
            ga = gc if na else None
            gb = (gc if op == "add" else be.unary("neg", gc)) if nb else None
        elif op == "mul" and not (na and nb):       # one product: gc * (the other operand)
            ga = be.binary("mul", gc, b) if na else None
            gb = be.binary("mul", gc, a) if nb else None
        elif op == "div" and not nb:
            ga, gb = be.binary("div", gc, b), None
        elif op == "remainder" and not nb:
            ga, gb = gc, None
        else:
            ga, gb = be.binary_bwd(op, a, b, gc, need_a=na, need_b=nb)
        if ga is not None:
            ga = unbroadcast(be, ga, self.a_shape)
        if gb is not None:
            gb = unbroadcast(be, gb, self.b_shape)
        return ga, gb

    def backward_graph(self, gc):
        na, nb = self.needs_input_grad
        op = self.op
        if op in ("add", "sub"):
            ga = gc if na else None
            gb = (gc if op == "add" else -gc) if nb else None
        else:
            sa, sb = self.saved_tensors
            a = _tin(self, 0, sa) if self.a_shape is not None and sa is not None else sa
            b = _tin(self, 1, sb) if self.b_shape is not None and sb is not None else sb
            ga, gb = _binary_partials_t(self, op, a, b, sa, sb, gc, na, nb)
        if ga is not None and tuple(ga.shape) != tuple(self.a_shape):
            ga = ga.sum_to_size(self.a_shape)
        if gb is not None and tuple(gb.shape) != tuple(self.b_shape):
            gb = gb.sum_to_size(self.b_shape)
        return ga, gb

    @property
    def name(self):
        return self.op.capitalize() + "Backward0"


def _binary_partials_t(node, op, a, b, sa, sb, gc, na, nb):
    """(ga, gb) of ``c = op(a, b)`` as Tensor formulas (a, b: Tensors or Python scalars), before unbroadcast."""
    if op == "mul":
        return (gc * b if na else None), (gc * a if nb else None)
    if op == "div":
        return (gc / b if na else None), (-gc * a / (b * b) if nb else None)
    if op == "atan2":
        r = a * a + b * b
        return (gc * b / r if na else None), (-gc * a / r if nb else None)
    if op == "pow":
        ga = gb = None
        if na:
            ga = gc * b * a ** (b - 1)
            if isinstance(b, _tensor_cls()):
                ga = _where(b == 0, 0.0, ga)
            elif b == 0:
                ga = gc * 0.0
        if nb:
            safe = _where(a == 0, 1.0, a) if isinstance(a, _tensor_cls()) else (a if a != 0 else 1.0)
            logs = safe.log() if isinstance(safe, _tensor_cls()) else math.log(safe)
            gb = gc * a ** b * logs
        return ga, gb
    if op == "remainder" and not nb:
        return gc, None         # d(a % b)/da = 1 (b not saved then)
    # maximum, minimum, remainder: piecewise linear, the partials are constants
    ga, gb = node.be.binary_bwd(op, sa, sb, _ones(node.be, gc._data), need_a=na, need_b=nb)
    return (gc * _const(node, ga) if na else None), (gc * _const(node, gb) if nb else None)


def _tensor_cls():
    from .autograd import _tensor_class
    return _tensor_class()


def _where(cond, a, b):
    from .tensor import where
    return where(cond, a, b)


class Where(Op):
    def forward(self, cond, a, b):
        self.shapes = (getattr(a, "shape", None), getattr(b, "shape", None))
        self.save_for_backward(cond)
        return self.be.where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved_tensors
        be = self.be
        _, na, nb = self.needs_input_grad
        ga = unbroadcast(be, be.where(cond, g, 0), self.shapes[0]) if na else None
        gb = unbroadcast(be, be.where(cond, 0, g), self.shapes[1]) if nb else None
        return None, ga, gb

    def backward_graph(self, g):
        c = _const(self, self.saved_tensors[0])
        _, na, nb = self.needs_input_grad
        ga = _where(c, g, 0.0).sum_to_size(self.shapes[0]) if na else None
        gb = _where(c, 0.0, g).sum_to_size(self.shapes[1]) if nb else None
        return None, ga, gb


class Clamp(Op):
    def forward(self, x, *, lo, hi):
        self.lo, self.hi = lo, hi
        self.save_for_backward(x)
        return self.be.clamp(x, lo, hi)

    def backward(self, g):
        (x,) = self.saved_tensors
        return self.be.clamp_bwd(x, self.lo, self.hi, g)

    def backward_graph(self, g):
        (x,) = self.saved_tensors
        return g * _const(self, self.be.clamp_bwd(x, self.lo, self.hi, _ones(self.be, x)))


class Tril(Op):
    def forward(self, x, *, k, upper):
        self.k, self.upper = k, upper
        return self.be.tril(x, k, upper)

    def backward(self, g):
        return self.be.tril(g, self.k, self.upper)

    def backward_graph(self, g):
        return Tril.apply(g, k=self.k, upper=self.upper)


class Cast(Op):
    def forward(self, x, *, dtype):
        self.in_dtype = x.dtype
        return self.be.cast(x, dtype)

    def backward(self, g):
        return self.be.cast(g, self.in_dtype)

    def backward_graph(self, g):
        return Cast.apply(g, dtype=self.in_dtype)

    @property
    def name(self):
        return "ToCopyBackward0"


class Clone(Op):
    def forward(self, x):
        return self.be.contiguous(x)

    def backward(self, g):
        return g

    def backward_graph(self, g):
        return g

    @property
    def name(self):
        return "CloneBackward0"


# ---------------------------------------------------------------------------------------------- reductions
class Reduce(Op):
    def forward(self, x, *, op, dims, keepdim, params):
        self.op, self.dims, self.keepdim, self.params = op, dims, keepdim, params
        y = self.be.reduce(op, x, dims, keepdim, **params) if params else self.be.reduce(op, x, dims, keepdim)
        if op == "sum" or op == "mean":
            # what backward needs of x: (shape, dtype, device index), made a `_ShapeOnly` there
            self.x_meta = (x.shape, x.dtype, 0 if type(x) is np.ndarray else self.be.device_of(x))
        else:
            self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        be = self.be
        if self.op in ("sum", "mean"):
            return be.reduce_bwd(self.op, _ShapeOnly(*self.x_meta), None, gy, self.dims, self.keepdim, **self.params)
        x, y = self.saved_tensors
        return be.reduce_bwd(self.op, x, y, gy, self.dims, self.keepdim, **self.params)

    def backward_graph(self, gy):
        op, be = self.op, self.be
        if op in ("sum", "mean"):
            shape = tuple(self.x_meta[0])
            dims = tuple(self.dims) if shape else ()
            g = _keep_t(gy, shape, dims, self.keepdim).expand(shape)
            return g / math.prod(shape[d] for d in dims) if op == "mean" else g
        sx, sy = self.saved_tensors
        shape = tuple(sx.shape)
        dims = tuple(self.dims) if shape else ()
        g = _keep_t(gy, shape, dims, self.keepdim)
        p = self.params.get("p", 2.0)
        if op == "prod" and bool(be.to_numpy(be.reduce("any", be.binary("eq", sx, 0), tuple(range(len(shape))), False))):
            return g.expand(shape) * _prod_of_others(_tin(self, 0, sx), dims)      # zeros: y / x would divide by 0
        if op in ("amax", "amin") or (op == "norm" and p in (1.0, math.inf)):
            # piecewise constant weights (tied extrema split evenly, the sign of |x|)
            return g * _const(self, be.reduce_bwd(op, sx, sy, _ones(be, sy), self.dims, self.keepdim, **self.params))
        x = _tin(self, 0, sx)
        y = _keep_t(_tout(self, 0, sy), shape, dims, self.keepdim)
        if op == "prod":
            return g * y / x
        if op == "logsumexp":
            return g * (x - y).exp()
        if op == "var":
            n = math.prod(shape[d] for d in dims)
            return g * 2.0 * (x - x.mean(dims, keepdim=True)) / max(n - self.params.get("correction", 1), 0)
        if op == "norm":
            safe = _where(y == 0, 1.0, y)
            return _where(y == 0, 0.0, g * x.sign() * x.abs() ** (p - 1) / safe ** (p - 1))
        return Op.backward_graph(self, gy)

    @property
    def name(self):
        return self.op.capitalize() + "Backward0"


def _prod_of_others(x, dims):
    """For each element of ``x``, the product of the other elements of its slice over ``dims`` (a Tensor formula
    without division, so exact with zeros): each slice of n elements is expanded n times with the diagonal set
    to 1, then multiplied out. Used by prod's double backward when the input has zeros."""
    if not dims:
        return x * 0 + 1
    keep = [d for d in range(x.ndim) if d not in dims]
    perm = keep + list(dims)
    xp = x.permute(perm)
    outer = tuple(xp.shape[:len(keep)])
    n = math.prod(xp.shape[len(keep):])
    flat = xp.reshape(outer + (n,)).unsqueeze(-2).expand(outer + (n, n))
    eye = _const_like(x, np.eye(n, dtype=bool))
    others = _where(eye, 1.0, flat).prod(-1).reshape(tuple(xp.shape))
    inv = [0] * len(perm)
    for i, d in enumerate(perm):
        inv[d] = i
    return others.permute(inv)


def _const_like(t, array):
    from .tensor import tensor
    return tensor(array, device=t.device)


class _ShapeOnly:
    """Stands in for an input whose values backward does not need (sum/mean): shape, dtype, device."""

    __slots__ = ("shape", "dtype", "device")

    def __init__(self, shape, dtype, device=0):
        self.shape = shape if type(shape) is tuple else tuple(shape)
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        self.device = device

    @property
    def ndim(self):
        return len(self.shape)


class ArgReduce(Op):
    def forward(self, x, *, op, dim, keepdim):
        self.dim, self.keepdim, self.x_shape, self.x_dtype = dim, keepdim, x.shape, x.dtype
        values, indices = self.be.argreduce(op, x, dim, keepdim)
        self.mark_non_differentiable(indices)
        self.save_for_backward(indices)
        return values, indices

    def backward(self, gv, gi=None):
        (idx,) = self.saved_tensors
        be = self.be
        if not self.keepdim and len(self.x_shape) > 0:
            shp = list(gv.shape)
            shp.insert(self.dim, 1)
            gv, idx = _reshape(be, gv, shp), _reshape(be, idx, shp)
        if len(self.x_shape) == 0:
            return gv
        return be.scatter_add(self.x_shape, self.x_dtype, self.dim, idx, gv)

    def backward_graph(self, gv, gi=None):
        (idx,) = self.saved_tensors
        if len(self.x_shape) == 0:
            return gv
        if not self.keepdim:
            shp = list(gv.shape)
            shp.insert(self.dim, 1)
            gv, idx = gv.reshape(shp), _reshape(self.be, idx, shp)
        return ScatterAdd.apply(_zeros_t(self, self.x_shape, self.x_dtype), _const(self, idx), gv, dim=self.dim)


class Cumsum(Op):
    def forward(self, x, *, dim):
        self.dim = dim
        return self.be.cumsum(x, dim)

    def backward(self, g):
        return self.be.cumsum(g, self.dim, reverse=True)

    def backward_graph(self, g):
        if g.ndim == 0:
            return g
        return g.flip(self.dim).cumsum(self.dim).flip(self.dim)


class Softmax(Op):
    def forward(self, x, *, dim, log):
        self.dim, self.log = dim, log
        y = self.be.softmax(x, dim, log)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return self.be.softmax_bwd(y, gy, self.dim, self.log)

    def backward_graph(self, gy):
        y = _tout(self, 0, self.saved_tensors[0])
        if y.ndim == 0:
            return gy * 0.0         # a softmax over one element is constant
        if self.log:
            return gy - y.exp() * gy.sum(self.dim, keepdim=True)
        return y * (gy - (gy * y).sum(self.dim, keepdim=True))

    @property
    def name(self):
        return "LogSoftmaxBackward0" if self.log else "SoftmaxBackward0"


# ---------------------------------------------------------------------------------------------- matmul
def _lead1(be, a):
    """``a`` viewed with a leading dim of 1 (NumPy's ``a[None]`` is the cheapest way to say it)."""
    return a[None] if type(a) is np.ndarray else be.reshape_view(a, (1,) + tuple(a.shape))


def _matmul_operands(be, a, b, a_shape, b_shape):
    """``(a3, b3, batch)``: ``a`` (..., M, K) and ``b`` (K, N) or (..., K, N) as the backend's (B, M, K) and
    (B, K, N) operands. With a 2-D ``b``, ``a``'s leading dims fold into M (``batch`` is None); otherwise
    both broadcast to the common ``batch`` dims (views where possible, copies where the layout needs one).
    Either array may be None (not saved for backward; its shape is given): its 3-D operand is then None."""
    k = b_shape[-2]
    if len(b_shape) == 2:
        a3 = None if a is None else (_lead1(be, a) if len(a_shape) == 2 else
                                     _reshape(be, a, (1, math.prod(a_shape[:-1]), k)))
        return a3, None if b is None else _lead1(be, b), None
    batch = broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
    nb = math.prod(batch)

    def as3(x):
        if x is None:
            return None
        full = batch + tuple(x.shape[-2:])
        if tuple(x.shape) != full:
            x = be.broadcast_to(x, full)
        return _reshape(be, x, (nb,) + full[-2:])
    return as3(a), as3(b), batch


class Matmul(Op):
    """``a @ b`` for ``a`` (..., M, K) and ``b`` (K, N) or (..., K, N) with broadcast batch dims (both at
    least 2-D; the Tensor layer handles 1-D operands). The backend multiplies (B, M, K) @ (B, K, N): the
    operands are reshaped to 3-D here, at array level, so one node records the whole product. Saves ``a`` only
    when ``b`` needs a gradient and ``b`` only when ``a`` does (PyTorch's mm)."""

    def forward(self, a, b, *, allow_tf32):
        self.allow_tf32 = allow_tf32
        self.a_shape, self.b_shape = tuple(a.shape), tuple(b.shape)
        self.is_mm = len(a.shape) == 2 and len(b.shape) == 2
        na, nb = self.needs_input_grad or (False, False)
        if na or nb:
            self.save_for_backward(a if nb else None, b if na else None)
        if self.is_mm and type(a) is np.ndarray:
            return self.be.matmul(a[None], b[None], allow_tf32)[0]      # the common case, without detours
        a3, b3, batch = _matmul_operands(self.be, a, b, self.a_shape, self.b_shape)
        c3 = self.be.matmul(a3, b3, allow_tf32)
        out_shape = tuple(a.shape[:-1]) + (b.shape[-1],) if batch is None else batch + (a.shape[-2], b.shape[-1])
        return _reshape(self.be, c3, out_shape)

    def backward(self, g):
        a, b = self.saved_tensors
        be = self.be
        na, nb = self.needs_input_grad
        a_shape, b_shape = self.a_shape, self.b_shape
        a3, b3, batch = _matmul_operands(be, a, b, a_shape, b_shape)
        m = math.prod(a_shape[:-1]) if batch is None else a_shape[-2]
        g3 = _reshape(be, g, (1 if batch is None else math.prod(batch), m, b_shape[-1]))
        ga = gb = None
        if na:
            ga = be.matmul(g3, be.permute(b3, (0, 2, 1)), self.allow_tf32)
            ga = _reshape(be, ga, a_shape) if batch is None else \
                unbroadcast(be, _reshape(be, ga, batch + tuple(a_shape[-2:])), a_shape)
        if nb:
            gb = be.matmul(be.permute(a3, (0, 2, 1)), g3, self.allow_tf32)
            gb = _reshape(be, gb, b_shape) if batch is None else \
                unbroadcast(be, _reshape(be, gb, batch + tuple(b_shape[-2:])), b_shape)
        return ga, gb

    def backward_graph(self, g):
        sa, sb = self.saved_tensors
        na, nb = self.needs_input_grad
        ga = (g @ _tin(self, 1, sb).mT).sum_to_size(self.a_shape) if na else None
        gb = (_tin(self, 0, sa).mT @ g).sum_to_size(self.b_shape) if nb else None
        return ga, gb

    @property
    def name(self):
        return "MmBackward0" if self.is_mm else "BmmBackward0"


# ---------------------------------------------------------------------------------------------- views
class Reshape(Op):
    def forward(self, x, *, shape):
        self.in_shape = x.shape
        v = self.be.reshape_view(x, shape)
        return v if v is not None else self.be.reshape_view(self.be.contiguous(x), shape)

    def backward(self, g):
        return _reshape(self.be, g, self.in_shape)

    def backward_graph(self, g):
        return g.reshape(self.in_shape)

    @property
    def name(self):
        return "ViewBackward0"


class Permute(Op):
    def forward(self, x, *, dims):
        self.dims = dims
        return self.be.permute(x, dims)

    def backward(self, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return self.be.permute(g, tuple(inv))

    def backward_graph(self, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return Permute.apply(g, dims=tuple(inv))

    @property
    def name(self):
        return "PermuteBackward0"


class Expand(Op):
    def forward(self, x, *, shape):
        self.in_shape = x.shape
        return self.be.broadcast_to(x, shape)

    def backward(self, g):
        return unbroadcast(self.be, g, self.in_shape)

    def backward_graph(self, g):
        return g.sum_to_size(self.in_shape)

    @property
    def name(self):
        return "ExpandBackward0"


class Index(Op):
    """Basic indexing (ints, slices with positive steps, None, Ellipsis): a view."""

    def forward(self, x, *, key):
        self.key, self.in_shape, self.in_dtype = key, x.shape, x.dtype
        return self.be.getitem(x, key)

    def backward(self, g):
        be = self.be
        out = be.full(self.in_shape, 0, self.in_dtype, be.device_of(g))
        be.copy_(be.getitem(out, self.key), g)
        return out

    def backward_graph(self, g):
        return SetSlice.apply(_zeros_t(self, self.in_shape, self.in_dtype), g, key=self.key)

    @property
    def name(self):
        return "SliceBackward0"


class Flip(Op):
    def forward(self, x, *, dims):
        self.dims = dims
        return self.be.contiguous(self.be.flip_view(x, dims))

    def backward(self, g):
        return self.be.contiguous(self.be.flip_view(g, self.dims))

    def backward_graph(self, g):
        return Flip.apply(g, dims=self.dims)


class Cat(Op):
    def forward(self, *xs, dim):
        be = self.be
        self.dim = dim
        self.sizes = [x.shape[dim] for x in xs]
        shape = list(xs[0].shape)
        shape[dim] = sum(self.sizes)
        out = be.empty(tuple(shape), xs[0].dtype, be.device_of(xs[0]))
        start = 0
        for x, n in zip(xs, self.sizes):
            be.copy_(be.getitem(out, (slice(None),) * dim + (slice(start, start + n),)), x)
            start += n
        return out

    def backward(self, g):
        be, start, grads = self.be, 0, []
        for n, need in zip(self.sizes, self.needs_input_grad):
            grads.append(be.getitem(g, (slice(None),) * self.dim + (slice(start, start + n),)) if need else None)
            start += n
        return tuple(grads)

    def backward_graph(self, g):
        start, grads = 0, []
        for n, need in zip(self.sizes, self.needs_input_grad):
            grads.append(Index.apply(g, key=(slice(None),) * self.dim + (slice(start, start + n),)) if need else None)
            start += n
        return tuple(grads)


class IndexSelect(Op):
    def forward(self, x, index, *, dim):
        self.dim, self.x_shape, self.x_dtype = dim, x.shape, x.dtype
        self.save_for_backward(index)
        return self.be.index_select(x, dim, index)

    def backward(self, g):
        (index,) = self.saved_tensors
        return self.be.index_add(self.x_shape, self.x_dtype, self.dim, index, g), None

    def backward_graph(self, g):
        (index,) = self.saved_tensors
        be = self.be
        shp = [1] * g.ndim
        if g.ndim:
            shp[self.dim] = index.shape[0]
        full = be.contiguous(be.broadcast_to(_reshape(be, index, tuple(shp)), tuple(g.shape)))
        return ScatterAdd.apply(_zeros_t(self, self.x_shape, self.x_dtype), _const(self, full), g, dim=self.dim), None

    @property
    def name(self):
        return "IndexBackward0"


class Gather(Op):
    def forward(self, x, index, *, dim):
        self.dim, self.x_shape, self.x_dtype = dim, x.shape, x.dtype
        self.save_for_backward(index)
        return self.be.gather(x, dim, index)

    def backward(self, g):
        (index,) = self.saved_tensors
        return self.be.scatter_add(self.x_shape, self.x_dtype, self.dim, index, g), None

    def backward_graph(self, g):
        (index,) = self.saved_tensors
        return ScatterAdd.apply(_zeros_t(self, self.x_shape, self.x_dtype), _const(self, index), g, dim=self.dim), None


class ScatterAdd(Op):
    """``x.scatter_add(dim, index, src)`` out of place: x + scatter of src."""

    def forward(self, x, index, src, *, dim):
        self.dim = dim
        self.save_for_backward(index)
        be = self.be
        return be.binary("add", x, be.scatter_add(x.shape, x.dtype, dim, index, src))

    def backward(self, g):
        (index,) = self.saved_tensors
        gs = self.be.gather(g, self.dim, index) if self.needs_input_grad[2] else None
        return g, None, gs

    def backward_graph(self, g):
        (index,) = self.saved_tensors
        gs = Gather.apply(g, _const(self, index), dim=self.dim) if self.needs_input_grad[2] else None
        return g, None, gs


class IndexPut(Op):
    """``out = x.clone(); out[index along dim 0] = v`` (advanced ``__setitem__`` on a flattened view)."""

    def forward(self, x, index, v):
        be = self.be
        self.v_shape = v.shape
        out = be.contiguous(x)
        be.index_copy_(out, 0, index, be.broadcast_to(v, (index.shape[0],) + tuple(x.shape[1:])))
        self.save_for_backward(index)
        return out

    def backward(self, g):
        (index,) = self.saved_tensors
        be = self.be
        gx = None
        if self.needs_input_grad[0]:
            gx = be.contiguous(g)
            zeros = be.full((index.shape[0],) + tuple(g.shape[1:]), 0, g.dtype, be.device_of(g))
            be.index_copy_(gx, 0, index, zeros)
        gv = None
        if self.needs_input_grad[2]:
            gv = unbroadcast(be, be.index_select(g, 0, index), self.v_shape)
        return gx, None, gv

    def backward_graph(self, g):
        (index,) = self.saved_tensors
        idx = _const(self, index)
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = IndexPut.apply(g, idx, _zeros_t(self, (), g.dtype.np))
        if self.needs_input_grad[2]:
            gv = IndexSelect.apply(g, idx, dim=0).sum_to_size(self.v_shape)
        return gx, None, gv


def _replay_views(be, a, ops):
    """The view of array ``a`` that the chain of view Functions ``ops`` ((class, params) pairs) makes."""
    for fn, params in ops:
        ctx = fn()
        ctx.be = be
        a = ctx.forward(a, **params)
    return a


class CopySlices(Op):
    """In place on a view: write ``src`` into the view of ``base`` that ``ops`` describes (the chain of view
    Functions from the base) and return ``base`` itself. The gradient goes to the base outside the view
    and to ``src`` inside it (PyTorch's ``CopySlices``)."""

    def forward(self, base, src, *, ops):
        self.ops = ops
        self.be.copy_(_replay_views(self.be, base, ops), src)
        return base

    def backward(self, g):
        be = self.be
        gbase = gsrc = None
        if self.needs_input_grad[1]:
            gsrc = be.contiguous(_replay_views(be, g, self.ops))
        if self.needs_input_grad[0]:
            gbase = be.contiguous(g)
            be.copy_(_replay_views(be, gbase, self.ops), 0)
        return gbase, gsrc

    def backward_graph(self, g):
        gbase = gsrc = None
        if self.needs_input_grad[1]:
            gsrc = g
            for fn, params in self.ops:
                gsrc = fn.apply(gsrc, **params)
            gsrc = Clone.apply(gsrc)
        if self.needs_input_grad[0]:
            gbase = CopySlices.apply(Clone.apply(g), 0, ops=self.ops)
        return gbase, gsrc


class SetSlice(Op):
    """``out = x.clone(); out[key] = v`` for a basic-indexing key (``CopySlices`` in PyTorch)."""

    def forward(self, x, v, *, key):
        be = self.be
        self.key, self.v_shape = key, getattr(v, "shape", None)
        out = be.contiguous(x)
        be.copy_(be.getitem(out, key), v)
        return out

    def backward(self, g):
        be = self.be
        gx = None
        if self.needs_input_grad[0]:
            gx = be.contiguous(g)
            be.copy_(be.getitem(gx, self.key), 0)
        gv = None
        if self.needs_input_grad[1]:
            gv = unbroadcast(be, be.getitem(g, self.key), self.v_shape)
        return gx, gv

    def backward_graph(self, g):
        gx = SetSlice.apply(g, 0, key=self.key) if self.needs_input_grad[0] else None
        gv = Index.apply(g, key=self.key).sum_to_size(self.v_shape) if self.needs_input_grad[1] else None
        return gx, gv

    @property
    def name(self):
        return "CopySlices"
