"""The op table: one entry per op drives the forward/backward tests on every device and dtype.

Each `Op` says how to build inputs (shapes, value ranges, which inputs are views or index tensors), the
function under test (written against the tritongrad API as a PyTorch user would), which dtypes it supports
and whether it is differentiable.

* Floating dtypes: `check_op` runs the op on a device and dtype and compares outputs and gradients, under a
  random upstream gradient, with the same op run on cpu in float64 (the NumPy reference); `gradcheck_op`
  checks that reference itself with finite differences.
* Integer and bool dtypes (``int32``, ``int64``, ``uint8``, ``bool``): `check_op` compares the outputs
  exactly, values and dtype, with ``Op.ref``, a plain NumPy expression of the op (PyTorch's result dtypes).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import ml_dtypes
import numpy as np

import tritongrad as tg

FLOATS = ("float32", "float16", "bfloat16", "float64")
INTS = ("int32", "int64", "uint8", "bool")
ALL = FLOATS + INTS
SIGNED = ("int32", "int64")
NUMERIC_INTS = ("int32", "int64", "uint8")
TOL = {  # atol, rtol per dtype for outputs and gradients vs the float64 reference
    "float64": (1e-10, 1e-9),
    "float32": (1e-5, 1e-4),
    "float16": (2e-3, 1e-2),
    "bfloat16": (1.6e-2, 2e-2),
}
INT_RANGE = {"int32": (-6, 7), "int64": (-6, 7), "uint8": (0, 12), "bool": (0, 2)}
"""Values drawn for integer/bool inputs (small enough that products and powers do not overflow)."""


@dataclasses.dataclass
class Op:
    name: str
    fn: Callable
    shapes: list                      # list of input-shape tuples (one sample set per entry)
    dtypes: tuple = FLOATS
    grad: bool = True
    low: float = -2.0
    high: float = 2.0
    view: str | None = None           # "T" transposes the first input, "step" slices it with a step
    int_inputs: dict = dataclasses.field(default_factory=dict)   # input position -> (low, high) int64 index
    tol_scale: float = 1.0
    cuda_shapes: list | None = None   # smaller shapes for the interpreter, when needed
    gradcheck: bool = True
    ref: Callable | None = None       # NumPy reference for integer/bool dtypes
    int_range: tuple | None = None    # (low, high) for integer inputs instead of INT_RANGE

    def __post_init__(self):
        if any(d in INTS for d in self.dtypes) and self.ref is None:
            raise ValueError(f"op {self.name}: integer dtypes need a NumPy reference (ref=)")

    def __repr__(self):
        return self.name


def np_dtype(name):
    return tg.dtypes.as_dtype(name).np


def make_inputs(op, shapes, rng, dtype="float64"):
    """NumPy inputs for one sample set: float64 values for floating dtypes, else values of ``dtype``."""
    arrs = []
    for i, s in enumerate(shapes):
        if i in op.int_inputs:
            lo, hi = op.int_inputs[i]
            arrs.append(rng.integers(lo, hi, size=s).astype(np.int64))
        elif dtype in FLOATS:
            arrs.append(rng.uniform(op.low, op.high, size=s))
        else:
            lo, hi = op.int_range or INT_RANGE[dtype]
            if dtype == "uint8":
                lo = max(lo, 0)
            arrs.append(rng.integers(lo, hi, size=s).astype(np_dtype(dtype)))
    return arrs


def _to_tensor(arr, dtype, device, view):
    """A tensor of ``arr``'s values, built as a transposed or strided view when ``view`` says so."""
    if view == "T" and arr.ndim >= 2:
        return tg.tensor(np.ascontiguousarray(np.swapaxes(arr, -1, -2)), dtype=dtype, device=device).transpose(-1, -2)
    if view == "step" and arr.ndim >= 1:
        return tg.tensor(np.repeat(arr, 2, axis=-1), dtype=dtype, device=device)[..., ::2]
    return tg.tensor(arr, dtype=dtype, device=device)


def _outputs(out):
    return out if isinstance(out, (tuple, list)) else (out,)


def _host(t):
    """A tensor's values on the host: float64 for floating dtypes, the dtype itself otherwise."""
    t = t.detach().cpu()
    return t.float().numpy().astype(np.float64) if t.dtype.is_floating_point else t.numpy().copy()


def run_op(op, arrs, dtype, device, ups=None, rng=None):
    """Run ``op`` on tensors made from ``arrs``; returns (outputs as host arrays, grads, upstreams)."""
    leaves, inputs = [], []
    for i, a in enumerate(arrs):
        if i in op.int_inputs:
            inputs.append(tg.tensor(a, device=device))
            leaves.append(None)
            continue
        t = _to_tensor(a, dtype, device, op.view if i == 0 else None)
        need = op.grad and t.dtype.is_floating_point
        if need:
            t = t.detach().requires_grad_(True)
        leaves.append(t if need else None)
        inputs.append(t)
    outs = _outputs(op.fn(*inputs))
    vals = [_host(o) for o in outs]
    grads = None
    if op.grad:
        diff = [o for o in outs if o.dtype.is_floating_point and o.requires_grad]
        if ups is None:
            ups = [rng.standard_normal(o.shape) for o in diff]
        if diff:
            tg.autograd.backward(diff, [tg.tensor(u, dtype=o.dtype, device=o.device) for o, u in zip(diff, ups)])
        grads = [None if t is None or t.grad is None else _host(t.grad) for t in leaves]
    return vals, grads, ups


def assert_close(got, ref, dtype, what, scale=1.0):
    """``|got - ref| <= atol + rtol * |ref|`` elementwise with ``dtype``'s tolerances (nan matches nan);
    bool and integer results must be equal. The message names the first mismatch."""
    atol, rtol = TOL.get(dtype, (0.0, 0.0))
    atol, rtol = atol * scale, rtol * scale
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != reference {ref.shape}"
    if got.dtype.kind in "biu" and ref.dtype.kind in "biu":
        bad = got != ref
    else:
        got, ref = got.astype(np.float64), ref.astype(np.float64)
        both_nan = np.isnan(got) & np.isnan(ref)
        bad = ~both_nan & ~(np.abs(got - ref) <= atol + rtol * np.abs(ref))
        bad |= np.isnan(got) != np.isnan(ref)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at {i}: got {got[i]!r}, "
                             f"reference {ref[i]!r} (dtype {dtype}, atol {atol:g}, rtol {rtol:g})")


def _check_exact(op, device, dtype, rng, shapes_list):
    """Integer/bool dtypes: outputs equal ``op.ref`` on the same NumPy inputs, values and dtype."""
    for shapes in shapes_list:
        arrs = make_inputs(op, shapes, rng, dtype)
        inputs = [tg.tensor(a, device=device) if i in op.int_inputs else
                  _to_tensor(a, dtype, device, op.view if i == 0 else None) for i, a in enumerate(arrs)]
        outs = _outputs(op.fn(*inputs))
        refs = _outputs(op.ref(*arrs))
        assert len(outs) == len(refs), f"{op.name}: {len(outs)} outputs, reference has {len(refs)}"
        for k, (o, r) in enumerate(zip(outs, refs)):
            r = np.asarray(r)
            what = f"{op.name} output {k} on {device}/{dtype} shapes {shapes}"
            assert o.device.type == device, f"{what}: result on {o.device}"
            assert o.dtype.np == r.dtype, f"{what}: dtype {o.dtype} != reference {r.dtype}"
            assert_close(_host(o), r, o.dtype.name, what)   # floating results (int -> float ops) get tolerances


def check_op(op, device, dtype, seed=0, shapes_list=None):
    """Compare ``op`` on (device, dtype) with its reference: the cpu float64 run for floating dtypes
    (outputs and gradients), ``op.ref`` for integer/bool dtypes."""
    rng = np.random.default_rng(seed)
    shapes_list = shapes_list or op.shapes
    if dtype not in FLOATS:
        return _check_exact(op, device, dtype, rng, shapes_list)
    for shapes in shapes_list:
        arrs = make_inputs(op, shapes, rng)
        if dtype != "float64":
            # the reference sees the same rounded inputs the low-precision run sees
            arrs = [a if i in op.int_inputs else a.astype(np_dtype(dtype)).astype(np.float64)
                    for i, a in enumerate(arrs)]
        ref_vals, ref_grads, ups = run_op(op, arrs, "float64", "cpu", rng=rng)
        vals, grads, _ = run_op(op, arrs, dtype, device, ups=ups)
        assert len(vals) == len(ref_vals)
        for k, (v, r) in enumerate(zip(vals, ref_vals)):
            assert_close(v, r, dtype, f"{op.name} output {k} on {device}/{dtype} shapes {shapes}", op.tol_scale)
        if op.grad:
            for k, (g, r) in enumerate(zip(grads, ref_grads)):
                if r is None:
                    continue
                assert g is not None, f"{op.name}: no gradient for input {k} on {device}/{dtype}"
                assert_close(g, r, dtype, f"{op.name} grad {k} on {device}/{dtype} shapes {shapes}",
                             op.tol_scale * 2)


def _small_leaves(op, seed):
    """float64 cpu leaves (int64 index tensors as they are) for ``op``'s smallest sample set."""
    rng = np.random.default_rng(seed)
    shapes = min(op.shapes, key=lambda ss: sum(int(np.prod(s)) for s in ss))
    arrs = make_inputs(op, shapes, rng)
    return [tg.tensor(a, device="cpu") if i in op.int_inputs else
            tg.tensor(a, dtype=tg.float64, requires_grad=True) for i, a in enumerate(arrs)]


def gradcheck_op(op, seed=0):
    """Finite-difference check of the float64 reference (cpu) for one small sample set."""
    tg.autograd.gradcheck(op.fn, _small_leaves(op, seed), eps=1e-6, atol=1e-5, rtol=1e-4)


def gradgradcheck_op(op, seed=0):
    """Finite-difference check of the float64 double backward (cpu, ``create_graph=True``) for the smallest
    sample set: second derivatives w.r.t. the inputs and the upstream gradients."""
    tg.autograd.gradgradcheck(op.fn, _small_leaves(op, seed), eps=1e-6, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------ helpers for fns
def _pos(x):
    return x.abs() + 0.5


def _away(x):
    """Values kept away from 0 (for divisors and kinks): sign(x) * (|x| + 0.5)."""
    return x.sign() * (x.abs() + 0.5)


def _idx(x, values):
    """An int64 index tensor on ``x``'s device."""
    return tg.tensor(values, device=x.device)


def _inplace(method, *args):
    """``y = x.clone(); y.method(*args)``: an in-place op on a non-leaf, so gradients flow through it."""
    def fn(x, *rest):
        y = x.clone()
        out = getattr(y, method)(*(rest + args))
        assert out is y, f"{method} must return self"
        return y
    return fn


def _setitem(key_fn, value_fn=None):
    """``y = x.clone(); y[key_fn(y)] = value_fn(v)`` for ``fn(x, v)`` (or a scalar value when ``value_fn`` is
    a number)."""
    def fn(x, *v):
        y = x.clone()
        value = value_fn if not callable(value_fn) else value_fn(*v)
        y[key_fn(y)] = value
        return y
    return fn


def _inplace_chain(x, *methods):
    """``y = x.clone()`` then each in-place unary method applied to ``y`` in turn (each must return ``y``)."""
    y = x.clone()
    for m in methods:
        assert getattr(y, m)() is y, f"{m} must return self"
    return y


def _binary_inplace_chain(a, b):
    y = a.clone()
    y.atan2_(b).fmod_(_away(b)).clamp_min_(-1.0).clamp_max_(1.0)
    z = a.clone()
    z.remainder_(_away(b)).multiply_(b).subtract_(b).divide_(_away(b))
    return y, z


def _setdiag(x):
    """``y = x.clone(); y.diagonal(-1).mul_(3)``: a write through the diagonal view."""
    y = x.clone()
    y.diagonal(-1).mul_(3.0)
    return y


def _np_setitem(key_fn, value_fn=None):
    def fn(x, *v):
        y = x.copy()
        value = value_fn if not callable(value_fn) else value_fn(*v)
        y[key_fn(y)] = value
        return y
    return fn


def _cast_op(dst):
    """``x.to(dst)`` from every dtype (float -> int truncates, -> bool is ``!= 0``, as PyTorch)."""
    def ref(x):
        if x.dtype == ml_dtypes.bfloat16 or x.dtype == np.float16:
            x = x.astype(np.float32)
        return x.astype(np_dtype(dst))
    low = 0.0 if dst == "uint8" else -3.0   # float -> uint8 of a negative value is undefined in C and CUDA
    return Op(f"cast_to_{dst}", lambda x: x.to(getattr(tg, dst)) * 1 if dst in FLOATS else x.to(getattr(tg, dst)),
              [((7,),), ((3, 4),), ((),)], dtypes=ALL, ref=ref, low=low, high=3.0, gradcheck=dst == "float64",
              grad=dst in FLOATS, view="T")


def _sum64(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=np.int64)


# ------------------------------------------------------------------------------------------ shapes
B = [((3, 1), (1, 4)), ((5,), (2, 5)), ((), (3,)), ((2, 0), (1, 0))]
U = [((7,),), ((13, 5),), ((),), ((1,),), ((0,),), ((2, 0),)]
U_BIG = [((1823, 781),)]
R = [((7,),), ((13, 5),), ((),), ((1,),), ((4, 3, 5),)]
M = [((13, 5),), ((4, 3, 5),)]

OPS = [
    # ---------------------------------------------------------------- unary
    Op("neg", lambda x: -x, U, dtypes=FLOATS + ("int32", "int64", "uint8"), ref=np.negative),
    Op("abs", lambda x: x.abs(), U, dtypes=FLOATS + NUMERIC_INTS, ref=np.abs),
    Op("exp", lambda x: x.exp(), U),
    Op("log", lambda x: _pos(x).log(), U),
    Op("log1p", lambda x: _pos(x).log1p(), U),
    Op("expm1", lambda x: x.expm1(), U),
    Op("sqrt", lambda x: _pos(x).sqrt(), U),
    Op("rsqrt", lambda x: _pos(x).rsqrt(), U),
    Op("sin", lambda x: x.sin(), U),
    Op("cos", lambda x: x.cos(), U),
    Op("tanh", lambda x: x.tanh(), U),
    Op("sigmoid", lambda x: x.sigmoid(), U),
    Op("relu", lambda x: x.relu(), U, dtypes=FLOATS + SIGNED, ref=lambda x: np.maximum(x, 0).astype(x.dtype)),
    Op("sign", lambda x: x.sign(), U, dtypes=FLOATS + NUMERIC_INTS, ref=np.sign),
    Op("floor", lambda x: x.floor(), U, dtypes=FLOATS + NUMERIC_INTS, ref=np.copy),
    Op("ceil", lambda x: x.ceil(), U),
    Op("round", lambda x: (x * 2).round(), U, gradcheck=False),
    Op("trunc", lambda x: x.trunc(), U, dtypes=FLOATS + NUMERIC_INTS, ref=np.copy),
    Op("reciprocal", lambda x: _pos(x).reciprocal(), U),
    Op("square", lambda x: x.square(), U, dtypes=FLOATS + SIGNED, ref=np.square),
    Op("int_to_float_unary", lambda x: x.exp(), [((7,),), ((2, 3),)], dtypes=NUMERIC_INTS,
       ref=lambda x: np.exp(x.astype(np.float64)).astype(np.float32)),
    Op("pow_scalar", lambda x: x ** 3, U, dtypes=FLOATS + SIGNED, ref=lambda x: x ** 3),
    Op("pow_scalar_half", lambda x: _pos(x) ** 0.5, [((7,),)]),
    Op("rpow_scalar", lambda x: 2.0 ** x, U),
    Op("clamp", lambda x: x.clamp(-0.5, 0.7), U, dtypes=FLOATS + SIGNED, ref=lambda x: np.clip(x.astype(np.float32), -0.5, 0.7)),
    Op("clamp_min_only", lambda x: x.clamp(min=0.3), [((13, 5),)], dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: np.maximum(x, 0.3).astype(np.float32)),
    Op("clamp_max_int", lambda x: x.clamp(max=2), [((13, 5),)], dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: np.minimum(x, 2)),
    Op("clamp_tensors", lambda x, lo, hi: x.clamp(lo, lo + hi.abs()), [((4, 5), (5,), (4, 1))]),
    Op("clamp_", _inplace("clamp_", -0.5, 0.5), [((13, 5),)]),
    Op("unary_big_T", lambda x: x.exp(), U_BIG, view="T", cuda_shapes=[((67, 129),)], gradcheck=False),
    Op("sigmoid_step", lambda x: x.sigmoid(), [((9, 6),)], view="step"),
    Op("isnan_isinf", lambda x: (x.log().isnan(), (1 / x.relu()).isinf()), [((13, 5),)], grad=False),
    # ---------------------------------------------------------------- binary, broadcasting, scalars both sides
    Op("add", lambda a, b: a + b, B, dtypes=ALL, ref=np.add),
    Op("sub", lambda a, b: a - b, B, dtypes=FLOATS + NUMERIC_INTS, ref=np.subtract),
    Op("mul", lambda a, b: a * b, B, dtypes=ALL, ref=np.multiply),
    Op("div", lambda a, b: a / _away(b), B),
    Op("int_true_div", lambda a, b: a / (b.abs() + 1), [((3, 4), (4,))], dtypes=NUMERIC_INTS,
       ref=lambda a, b: (a.astype(np.float64) / (np.abs(b) + 1)).astype(np.float32)),
    Op("div_trunc", lambda a, b: a.div(_away(b) if a.is_floating_point() else b.abs() + 1, rounding_mode="trunc"),
       [((13, 5), (5,))], dtypes=FLOATS + SIGNED, gradcheck=False,
       ref=lambda a, b: np.trunc(a / (np.abs(b) + 1)).astype(a.dtype)),
    Op("floor_divide", lambda a, b: a // (_away(b) if a.is_floating_point() else b.abs() + 1), [((13, 5), (5,))],
       dtypes=FLOATS + NUMERIC_INTS, grad=False, ref=lambda a, b: a // (np.abs(b) + 1), low=-6, high=6),
    Op("floor_divide_neg", lambda a, b: a // -(b.abs() + 1), [((13, 5), (5,))], dtypes=SIGNED, grad=False,
       ref=lambda a, b: a // -(np.abs(b) + 1)),
    Op("remainder", lambda a, b: a % (_away(b) if a.is_floating_point() else b.abs() + 1), [((13, 5), (5,))],
       dtypes=FLOATS + NUMERIC_INTS, ref=lambda a, b: a % (np.abs(b) + 1), low=-6, high=6, gradcheck=False),
    Op("remainder_neg_divisor", lambda a, b: a.remainder(-(b.abs() + 1)), [((13, 5), (5,))], dtypes=SIGNED,
       ref=lambda a, b: np.remainder(a, -(np.abs(b) + 1))),
    Op("fmod", lambda a, b: a.fmod(_away(b) if a.is_floating_point() else b.abs() + 1), [((13, 5), (5,))],
       dtypes=FLOATS + SIGNED, ref=lambda a, b: np.fmod(a, np.abs(b) + 1), low=-6, high=6, gradcheck=False),
    Op("pow", lambda a, b: _pos(a) ** b, B),
    Op("pow_int", lambda a, b: a ** b.abs(), [((3, 4), (4,))], dtypes=NUMERIC_INTS, ref=lambda a, b: a ** np.abs(b)),
    Op("atan2", lambda a, b: a.atan2(b), B),
    Op("maximum", lambda a, b: tg.maximum(a, b), B, dtypes=ALL, ref=np.maximum),
    Op("minimum", lambda a, b: tg.minimum(a, b), B, dtypes=ALL, ref=np.minimum),
    Op("max_tensor", lambda a, b: a.max(b), [((3, 1), (1, 4))]),
    Op("radd_rsub_rmul_rdiv", lambda x: (1.5 - x) * 2 + 3 / _pos(x), U),
    Op("scalar_int_ops", lambda x: (2 - x) * 3 + 1, [((3, 4),), ((),)], dtypes=FLOATS + SIGNED,
       ref=lambda x: (2 - x) * 3 + 1),
    Op("add_alpha_sub_alpha", lambda a, b: a.add(b, alpha=2).sub(b, alpha=0.5), [((3, 4), (4,))]),
    Op("mixed_dtype_promotion", lambda a, b: a + b.to(tg.float64), [((3, 4), (4,))], dtypes=("float32", "float16")),
    Op("int_plus_float_tensor", lambda a, b: a + b.to(tg.float32), [((3, 4), (4,))], dtypes=NUMERIC_INTS,
       ref=lambda a, b: a.astype(np.float32) + b.astype(np.float32)),
    Op("int_plus_float_scalar", lambda a: a + 1.5, [((3, 4),)], dtypes=INTS,
       ref=lambda a: (a.astype(np.float32) + np.float32(1.5))),
    Op("uint8_overflow", lambda a, b: a * b + 200, [((4, 5), (5,))], dtypes=("uint8",),
       ref=lambda a, b: a * b + np.uint8(200)),
    Op("add_T", lambda a, b: a + b, [((6, 4), (6, 4))], view="T", dtypes=FLOATS + ("int64",), ref=np.add),
    Op("add_step", lambda a, b: a * b, [((5, 4), (5, 4))], view="step", dtypes=FLOATS + ("int32",), ref=np.multiply),
    # in place (on non-leaves, so autograd sees them)
    Op("add_", _inplace("add_"), [((3, 4), (4,)), ((3, 4), ())]),
    Op("sub_mul_div_", lambda a, b: (a * 1).sub_(b).mul_(b).div_(_away(b)), [((3, 4), (4,))]),
    Op("pow_", lambda a, b: _pos(a).pow_(b), [((3, 4), (4,))]),
    Op("iadd_int", lambda a, b: _iadd(a, b), [((3, 4), (4,))], dtypes=NUMERIC_INTS, ref=lambda a, b: a + b),
    Op("imul_scalar", lambda a: _imul(a, 3), [((3, 4),)], dtypes=FLOATS + SIGNED, ref=lambda a: a * 3),
    Op("copy_", lambda a, b: (a * 1).copy_(b), [((3, 4), (4,))]),
    Op("fill_zero_", lambda a: (a.clone().fill_(2.5) * a, a.clone().zero_() + a), [((3, 4),)]),
    Op("masked_fill", lambda a: a.masked_fill(a > 0.5, -1.0), [((13, 5),)]),
    Op("masked_fill_", lambda a: (a * 2).masked_fill_(a < 0, 0.25), [((13, 5),)]),
    # comparisons and logical ops (bool results)
    Op("compare", lambda a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b), B + [((6,), (6,))], grad=False,
       dtypes=ALL, ref=lambda a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b)),
    Op("compare_scalar", lambda a: (a > 0, a <= 1, a == 2, 0.5 < a), [((13, 5),), ((),)], grad=False,
       dtypes=FLOATS + SIGNED, ref=lambda a: (a > 0, a <= 1, a == 2, 0.5 < a)),
    Op("compare_equal_values", lambda a: (a.round() == a.round().flip(0), a.floor() >= 0), [((13, 5),)], grad=False),
    Op("logical", lambda a, b: (a.logical_and(b), a.logical_or(b), a.logical_xor(b), a.logical_not()), B,
       grad=False, dtypes=ALL,
       ref=lambda a, b: (np.logical_and(a, b), np.logical_or(a, b), np.logical_xor(a, b), np.logical_not(a))),
    Op("bitwise", lambda a, b: (a & b, a | b, a ^ b, ~a), B, grad=False, dtypes=INTS,
       ref=lambda a, b: (a & b, a | b, a ^ b, ~a)),
    Op("where", lambda a, b: tg.where(a > 0, a, b), B, dtypes=ALL, ref=lambda a, b: np.where(a > 0, a, b)),
    Op("where_scalars", lambda a, b: (tg.where(a > 0, a, 0.5), tg.where(b < 0, -1.0, b), tg.where(a > b, 2.0, -3.0)),
       B),
    Op("where_int_scalars", lambda a, b: (tg.where(a > b, a, 1), tg.where(a > 1, 2, 3)), B, grad=False,
       dtypes=NUMERIC_INTS, ref=lambda a, b: (np.where(a > b, a, a.dtype.type(1)), np.where(a > 1, 2, 3))),
    Op("tril", lambda x: x.tril(), [((5, 7),), ((2, 4, 3),), ((0, 3),)], dtypes=ALL, ref=np.tril),
    Op("triu", lambda x: x.triu(1), [((5, 7),), ((7, 5),)], dtypes=ALL, ref=lambda x: np.triu(x, 1)),
    Op("tril_neg_k_T", lambda x: x.tril(-2), [((6, 4),), ((2, 3, 3),)], view="T", dtypes=FLOATS + ("int64",),
       ref=lambda x: np.tril(x, -2)),
    Op("triu_big_k", lambda x: x.triu(-9), [((5, 7),)], dtypes=FLOATS + ("bool",), ref=lambda x: np.triu(x, -9)),
    # ---------------------------------------------------------------- reductions
    Op("sum", lambda x: x.sum(), R + U_BIG, cuda_shapes=R, dtypes=ALL, ref=_sum64),
    Op("sum_empty", lambda x: (x.sum(), x.sum(0)), [((0,),), ((0, 3),)], dtypes=FLOATS + ("int64",),
       ref=lambda x: (_sum64(x), _sum64(x, 0))),
    Op("sum_dim", lambda x: x.sum(-1), M, dtypes=ALL, ref=lambda x: _sum64(x, -1)),
    Op("sum_dims_keep", lambda x: x.sum((0, 2), keepdim=True), [((4, 3, 5),)], dtypes=ALL,
       ref=lambda x: _sum64(x, (0, 2), keepdims=True)),
    Op("sum_T", lambda x: x.sum(0), [((6, 9),)], view="T", dtypes=FLOATS + ("int32",), ref=lambda x: _sum64(x, 0)),
    Op("sum_dtype", lambda x: x.sum(1, dtype=tg.float64), [((13, 5),)], dtypes=FLOATS + INTS,
       ref=lambda x: np.sum(x.astype(np.float64), 1)),
    Op("mean", lambda x: x.mean(1), M),
    Op("mean_all_keep", lambda x: x.mean((0, 1), keepdim=True), [((13, 5),), ((4, 3, 5),)]),
    Op("prod", lambda x: x.prod(0), [((5, 3),), ((7,),)], dtypes=FLOATS + INTS,
       ref=lambda x: np.prod(x, 0, dtype=np.int64)),
    Op("prod_with_zeros", lambda x: (x.round() * x).prod(1), [((6, 5),)], gradcheck=False),
    Op("amax", lambda x: x.amax(1), [((13, 5),)], dtypes=FLOATS + NUMERIC_INTS, ref=lambda x: x.max(1)),
    Op("amax_dims", lambda x: x.amax((0, 2), keepdim=True), [((4, 3, 5),)]),
    Op("amin", lambda x: x.amin(), [((13, 5),)], dtypes=FLOATS + NUMERIC_INTS, ref=lambda x: x.min()),
    Op("amax_ties", lambda x: (x * 2).round().amax(0), [((13, 5),)], gradcheck=False),
    Op("max_all", lambda x: (x.max(), x.min()), [((13, 5),), ((),)], dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: (x.max(), x.min())),
    Op("max_dim", lambda x: x.max(1), [((13, 5),), ((3, 4, 2),)], dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: (x.max(1), x.argmax(1))),
    Op("min_dim_keep", lambda x: x.min(0, keepdim=True), [((13, 5),)], dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: (x.min(0, keepdims=True), x.argmin(0, keepdims=True))),
    Op("argmax_argmin", lambda x: (x.argmax(), x.argmin(1), x.argmax(0, keepdim=True), x.argmin(keepdim=True)),
       [((13, 5),), ((1, 1),)], grad=False, dtypes=FLOATS + NUMERIC_INTS,
       ref=lambda x: (x.argmax(), x.argmin(1), x.argmax(0, keepdims=True), x.argmin(keepdims=True).reshape(1, 1))),
    Op("var", lambda x: x.var(1), [((13, 5),), ((1, 1),)]),
    Op("var_correction", lambda x: (x.var(0, correction=0), x.var(correction=2), x.var(1, unbiased=False)),
       [((13, 5),)]),
    Op("std", lambda x: (x.std(0, correction=0), x.std(), x.std((0, 1), keepdim=True)), [((13, 5),)]),
    Op("logsumexp", lambda x: x.logsumexp(-1), [((13, 5),), ((7,),)]),
    Op("logsumexp_dims", lambda x: x.logsumexp((0, 2), keepdim=True), [((4, 3, 5),)]),
    Op("norm", lambda x: x.norm(), [((13, 5),)]),
    Op("norm_p1_dim", lambda x: x.norm(1, dim=0), [((13, 5),)]),
    Op("norm_p3_inf", lambda x: (x.norm(3, dim=1), x.norm(float("inf"), dim=0)), [((13, 5),)]),
    Op("all_any", lambda x: (x.all(), x.any(), (x > 0).all(1), (x > 0).any(0, keepdim=True)),
       [((13, 5),), ((1, 1),), ((0, 3),)], grad=False, dtypes=ALL,
       ref=lambda x: (np.all(x), np.any(x), np.all(x > 0, 1), np.any(x > 0, 0, keepdims=True))),
    Op("cumsum", lambda x: x.cumsum(1), [((13, 5),), ((4, 3, 5),)], dtypes=ALL,
       ref=lambda x: np.cumsum(x, 1, dtype=np.int64)),
    Op("cumsum_0d_T", lambda x: x.cumsum(0), [((),), ((6, 3),)], view="T"),
    Op("softmax", lambda x: x.softmax(-1), [((13, 5),), ((3, 200),)]),
    Op("softmax_dim0", lambda x: x.softmax(0), [((13, 5),)]),
    Op("softmax_T_0d", lambda x: x.softmax(-1), [((5, 6),), ((),)], view="T"),
    Op("log_softmax", lambda x: x.log_softmax(-1), [((13, 5),), ((1, 1),)]),
    # ---------------------------------------------------------------- matmul
    Op("matmul_2d", lambda a, b: a @ b, [((7, 5), (5, 3)), ((1, 1), (1, 1)), ((33, 17), (17, 9))], tol_scale=2),
    Op("matmul_T", lambda a, b: a @ b, [((7, 5), (5, 3))], view="T", tol_scale=2),
    Op("matmul_step", lambda a, b: a @ b.mT, [((6, 5), (4, 5))], view="step", tol_scale=2),
    Op("matmul_batched", lambda a, b: a @ b, [((2, 3, 4), (2, 4, 5))], tol_scale=2),
    Op("matmul_broadcast", lambda a, b: a @ b, [((2, 1, 3, 4), (3, 4, 2)), ((2, 3, 4), (4, 5))], tol_scale=2),
    Op("matmul_expanded", lambda a, b: a.expand(3, 4, 5) @ b, [((4, 5), (3, 5, 2))], tol_scale=2),
    Op("matmul_vec", lambda a, b: a @ b, [((5,), (5, 3)), ((4, 5), (5,)), ((6,), (6,)), ((5,), (2, 5, 3))],
       tol_scale=2),
    Op("matmul_empty", lambda a, b: a @ b, [((3, 0), (0, 4)), ((0, 5), (5, 2))], gradcheck=False),
    Op("mm_bmm_dot", lambda a, b, c: (a.mm(b), a.unsqueeze(0).bmm(b.unsqueeze(0)), c.dot(c)),
       [((3, 4), (4, 2), (5,))], tol_scale=2),
    Op("matmul_k_big", lambda a, b: a @ b, [((3, 70), (70, 2))], tol_scale=4),
    # ---------------------------------------------------------------- shapes and views
    Op("reshape", lambda x: (x.reshape(5, 13) * 1.5), [((13, 5),)]),
    Op("view_T_reshape", lambda x: x.reshape(-1), [((4, 6),)], view="T", dtypes=ALL, ref=lambda x: x.reshape(-1)),
    Op("permute", lambda x: x.permute(2, 0, 1) * 2, [((4, 3, 5),)]),
    Op("expand", lambda x: x.expand(4, 3, 5) * 1.0, [((3, 1),)]),
    Op("unsqueeze_squeeze", lambda x: x.unsqueeze(1).squeeze() + 0, [((4, 5),)]),
    Op("flatten", lambda x: x.flatten(1) * 1, [((4, 3, 5),)]),
    Op("narrow_split", lambda x: x.narrow(1, 1, 2) + x.split(2, 1)[0], [((4, 4),)]),
    Op("chunk", lambda x: x.chunk(3, 0)[1] * 1, [((7, 3),)]),
    Op("unbind_select", lambda x: x.unbind(1)[2] * x.select(0, -1).sum(), [((4, 3),)]),
    Op("cat", lambda a, b: tg.cat([a, b, a], 1), [((3, 2), (3, 5)), ((3, 0), (3, 1))], dtypes=ALL,
       ref=lambda a, b: np.concatenate([a, b, a], 1)),
    Op("cat_promote", lambda a, b: tg.cat([a, b.double()], 0), [((3, 2), (1, 2))]),
    Op("stack", lambda a, b: tg.stack([a, b], -1), [((3, 2), (3, 2))], dtypes=ALL,
       ref=lambda a, b: np.stack([a, b], -1)),
    Op("repeat", lambda x: x.repeat(2, 1, 3), [((3, 2),), ((),)], dtypes=ALL, ref=lambda x: np.tile(x, (2, 1, 3))),
    Op("repeat_T", lambda x: x.repeat(2, 2), [((3, 4),)], view="T"),
    Op("flip", lambda x: x.flip(0, 1), [((4, 3),)], dtypes=ALL, ref=lambda x: np.flip(x, (0, 1))),
    Op("flip_T_last", lambda x: x.flip(-1), [((4, 3),), ((5,),)], view="T"),
    Op("roll", lambda x: x.roll(2, 1), [((4, 5),)]),
    Op("contiguous_T", lambda x: x.contiguous(), [((4, 3),)], view="T", dtypes=ALL, ref=lambda x: x),
    Op("clone_step", lambda x: x.clone() * 1, [((4, 6),)], view="step"),
    # ---------------------------------------------------------------- indexing
    Op("getitem_basic", lambda x: x[1:, ::2, 1], [((4, 5, 3),)], dtypes=ALL, ref=lambda x: x[1:, ::2, 1]),
    Op("getitem_none_ellipsis", lambda x: x[None, ..., 0], [((4, 5),)]),
    Op("getitem_negative", lambda x: x[-1, -3:], [((4, 5),)]),
    Op("getitem_int_tensor", lambda x, i: x[i], [((6, 3), (4,))], int_inputs={1: (-6, 6)}),
    Op("getitem_two_tensors", lambda x, i, j: x[i, j], [((6, 5), (4,), (4,))], int_inputs={1: (0, 6), 2: (0, 5)}),
    Op("getitem_mid_tensor", lambda x, i: x[:, i], [((3, 6, 2), (5,))], int_inputs={1: (0, 6)}),
    Op("getitem_list", lambda x: x[[0, 2, 2], 1:], [((4, 3),)], dtypes=ALL, ref=lambda x: x[[0, 2, 2], 1:]),
    Op("getitem_nonadjacent", lambda x, i: x[i, :, i], [((4, 3, 4), (2,))], int_inputs={1: (0, 4)}),
    Op("getitem_mask", lambda x: x[x > 0], [((6, 5),)], dtypes=FLOATS + SIGNED, ref=lambda x: x[x > 0]),
    Op("getitem_mask_1d_dim1", lambda x: x[:, x[0] > 0], [((4, 6),)]),
    Op("getitem_mask_empty", lambda x: x[x > 100], [((4, 6),)]),
    Op("index_select", lambda x, i: x.index_select(1, i), [((3, 6), (8,))], int_inputs={1: (0, 6)}),
    Op("index_select_T", lambda x, i: x.index_select(0, i), [((5, 4), (7,))], int_inputs={1: (0, 5)}, view="T"),
    Op("gather", lambda x, i: x.gather(1, i), [((4, 6), (4, 3))], int_inputs={1: (0, 6)}),
    Op("gather_dim0", lambda x, i: x.gather(0, i), [((5, 3), (7, 2))], int_inputs={1: (0, 5)}),
    Op("scatter_add", lambda x, i, s: x.scatter_add(1, i, s), [((3, 5), (3, 4), (3, 4))], int_inputs={1: (0, 5)}),
    Op("setitem_basic", _setitem(lambda y: (slice(1, 3), slice(None, None, 2)), lambda v: v), [((4, 5), (3,))]),
    Op("setitem_scalar_int", _setitem(lambda y: (0, 1), 7), [((3, 4),)], dtypes=ALL,
       ref=_np_setitem(lambda y: (0, 1), 7)),
    Op("setitem_advanced", _setitem(lambda y: _idx(y, [0, 3, 1]), lambda v: v), [((5, 3), (3,)), ((5, 3), (3, 3))]),
    Op("setitem_advanced_int", _setitem(lambda y: ([0, 2], slice(1, None)), 5), [((4, 3),)], dtypes=ALL,
       ref=_np_setitem(lambda y: ([0, 2], slice(1, None)), 5)),
    Op("setitem_mixed_basic_advanced", _setitem(lambda y: (slice(1, None), _idx(y, [2, 0])), lambda v: v),
       [((4, 3), (2,)), ((4, 3), (3, 1))]),
    Op("setitem_two_tensors", _setitem(lambda y: (_idx(y, [0, 2]), _idx(y, [1, 3])), lambda v: v),
       [((4, 5), (2,))]),
    Op("setitem_mask_scalar", _setitem(lambda y: y > 0.5, -2.0), [((6, 5),)], dtypes=FLOATS + SIGNED,
       ref=_np_setitem(lambda y: y > 0.5, -2)),
    Op("setitem_mask_row", _setitem(lambda y: y[:, 0] > 0, lambda v: v), [((6, 5), (5,))]),
    Op("index_copy_via_setitem_T", _setitem(lambda y: (slice(None), _idx(y, [2, 0])), 0.0), [((4, 3),)], view="T"),
    # ---------------------------------------------------------------- sorting (ops_extra, kernels/sort.py)
    Op("sort", lambda x: x.sort(1), [((4, 6),), ((2, 3, 5),)]),
    Op("sort_desc_dim0_T", lambda x: tg.sort(x, 0, descending=True), [((5, 3),), ((),)], view="T"),
    Op("sort_ints_stable", lambda x: x.sort(1, stable=True), [((3, 7),)], dtypes=INTS, grad=False,
       ref=lambda x: (np.sort(x, 1, kind="stable"), np.argsort(x, 1, kind="stable"))),
    Op("argsort_desc", lambda x: x.argsort(-1, descending=True), [((3, 6),)], grad=False, gradcheck=False),
    Op("topk", lambda x: x.topk(3), [((4, 6),), ((7,),)]),
    Op("topk_smallest_dim0", lambda x: tg.topk(x, 2, dim=0, largest=False), [((5, 3),)], view="step"),
    # ---------------------------------------------------------------- composites (ops_extra)
    Op("outer", lambda a, b: tg.outer(a, b), [((4,), (3,))]),
    Op("addmm", lambda c, a, b: tg.addmm(c, a, b, beta=0.5, alpha=2.0), [((3,), (3, 4), (4, 3))]),
    Op("addmm_method_T", lambda a, b, c: a.addmm(b, c), [((3, 2), (3, 4), (4, 2))], view="T"),
    Op("baddbmm", lambda c, a, b: tg.baddbmm(c, a, b, alpha=0.5), [((2, 3, 2), (2, 3, 4), (2, 4, 2))]),
    Op("addcmul", lambda x, a, b: tg.addcmul(x, a, b, value=0.5), [((3, 4), (4,), (3, 1))]),
    Op("addcdiv", lambda x, a, b: x.addcdiv(a, _away(b), value=2), [((3, 4), (4,), (3, 4))]),
    Op("addcmul_", lambda x, a, b: _inplace("addcmul_")(x, a, b), [((3, 4), (3, 4), (4,))]),
    Op("addcdiv_", lambda x, a, b: _inplace("addcdiv_")(x, a, _away(b)), [((3, 4), (3, 4), (4,))]),
    Op("lerp_", lambda x, e: _inplace("lerp_", 0.3)(x, e), [((3, 4), (4,))]),
    Op("nan_to_num", lambda x: (x.log() * (1 / x.relu())).nan_to_num(0.5, 7.0, -8.0), [((13, 5),)],
       gradcheck=False),
    Op("nan_to_num_", lambda x: _inplace("nan_to_num_", 1.0)(x.log()), [((4, 5),)], gradcheck=False),
    Op("float_power", lambda a, b: tg.float_power(_pos(a), b), [((3, 4), (4,))]),
    Op("kron", lambda a, b: tg.kron(a, b), [((2, 3), (3, 2)), ((3,), (2, 2))]),
    Op("cdist_mm", lambda a, b: tg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [((4, 3), (5, 3))],
       tol_scale=4),
    Op("cdist_p2_batched", lambda a, b: tg.cdist(a, b), [((2, 4, 3), (2, 5, 3))]),
    Op("cdist_p1_p3_inf", lambda a, b: (tg.cdist(a, b, 1), tg.cdist(a, b, 3), tg.cdist(a, b, float("inf"))),
       [((4, 3), (2, 3))], tol_scale=2, gradcheck=False),
    Op("diagonal", lambda x: x.diagonal(1, 0, 2), [((4, 3, 5),)], view="T"),
    Op("diagonal_neg_write", lambda x: _setdiag(x), [((4, 5),)]),
    Op("diag_1d_2d", lambda a, b: (tg.diag(a, -1), b.diag(1)), [((3,), (4, 4))]),
    Op("diag_embed", lambda x: tg.diag_embed(x, 1, 0, 2), [((2, 3),)]),
    Op("masked_select", lambda x, m: x.masked_select(m > 0), [((3, 4), (4,))]),
    Op("repeat_interleave", lambda x, r: (x.repeat_interleave(2, dim=1), x.repeat_interleave(r.abs().long())),
       [((2, 3), (6,))], gradcheck=False),
    Op("scatter_src_value", lambda x, i, s: (x.scatter(1, i, s), x.scatter(1, i, value=1.5)),
       [((3, 5), (3, 1), (3, 4))], int_inputs={1: (0, 5)}),
    Op("scatter_", lambda x, i, s: _inplace("scatter_")(x, 0, i, s), [((4, 3), (1, 3), (2, 3))],
       int_inputs={1: (0, 4)}, gradcheck=False),
    Op("scatter_add_", lambda x, i, s: _inplace("scatter_add_")(x, 1, i, s), [((3, 5), (3, 4), (3, 4))],
       int_inputs={1: (0, 5)}),
    Op("index_add_", lambda x, i, s: _inplace("index_add_")(x, 0, i, s), [((5, 3), (4,), (4, 3))],
       int_inputs={1: (0, 5)}),
    Op("index_add_alpha", lambda x, i, s: tg.index_add(x, 1, i, s, alpha=2.0), [((2, 4), (3,), (2, 3))],
       int_inputs={1: (0, 4)}),
    Op("einsum_bmm_chain", lambda a, b, c: tg.einsum("bij,bjk,k->bi", a, b, c), [((2, 3, 4), (2, 4, 2), (2,))]),
    Op("einsum_trace_outer_ellipsis", lambda a, b: (tg.einsum("ii", a), tg.einsum("i,j", a[0], b[0, 0]),
                                                    tg.einsum("...ij,...j->...i", b, a[:2])),
       [((3, 3), (2, 3, 3))]),
    Op("searchsorted_bucketize", lambda s, v: (tg.searchsorted(s.sort().values, v), tg.bucketize(v, s[0].sort()[0],
                                              right=True)), [((2, 5), (2, 3))], grad=False, gradcheck=False),
    # ---------------------------------------------------------------- in-place variants of unary/binary ops
    Op("unary_inplace_chain", lambda x: _inplace_chain(x, "sigmoid_", "exp_", "log1p_", "sqrt_", "rsqrt_", "tanh_",
                                                       "neg_", "abs_", "reciprocal_", "log_", "expm1_", "square_",
                                                       "sin_", "cos_"), [((3, 4),), ((),)]),
    Op("rounding_inplace", lambda x: _inplace_chain(x * 3, "floor_") + _inplace_chain(x * 3, "ceil_") +
       _inplace_chain(x * 3, "round_") + _inplace_chain(x * 3, "trunc_") + _inplace_chain(x, "relu_", "sign_"),
       [((3, 4),)], gradcheck=False),
    Op("int_inplace", lambda x: _inplace_chain(x, "abs_", "neg_", "square_"), [((3, 4),)], dtypes=SIGNED,
       grad=False, ref=lambda x: np.square(-np.abs(x))),
    Op("binary_inplace", lambda a, b: _binary_inplace_chain(a, b), [((3, 4), (4,))], gradcheck=False),
    # ---------------------------------------------------------------- casts
    *[_cast_op(d) for d in ALL],
    Op("cast_roundtrip", lambda x: x.double().float() * 1, [((7,),)], dtypes=("float32",), gradcheck=False),
]


def _iadd(a, b):
    a += b
    return a


def _imul(a, s):
    a = a * 1
    a *= s
    return a


OPS_BY_NAME = {op.name: op for op in OPS}
assert len(OPS_BY_NAME) == len(OPS), "op names must be unique"
