"""The op table: one entry per op drives the forward/backward tests on every device and dtype.

Each `Op` says how to build inputs (shapes, value ranges, which inputs are views), the function under test
(written against the tritongrad API as a PyTorch user would), which dtypes it supports and whether it is
differentiable. `check_op` runs it on a device and dtype and compares outputs and gradients, under a random
upstream gradient, with the same op run on cpu in float64 (the NumPy reference); `gradcheck_op` checks the
reference itself with finite differences.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

import tritongrad as tg

FLOATS = ("float32", "float16", "bfloat16", "float64")
TOL = {  # atol, rtol per dtype for outputs and gradients vs the float64 reference
    "float64": (1e-10, 1e-9),
    "float32": (1e-5, 1e-4),
    "float16": (2e-3, 2e-2),
    "bfloat16": (2e-2, 5e-2),
}


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
    int_inputs: dict = dataclasses.field(default_factory=dict)   # input position -> (low, high) int64
    tol_scale: float = 1.0
    cuda_shapes: list | None = None   # smaller shapes for the interpreter, when needed
    gradcheck: bool = True

    def __repr__(self):
        return self.name


def make_inputs(op, shapes, rng):
    """Float64 NumPy inputs for one sample set."""
    arrs = []
    for i, s in enumerate(shapes):
        if i in op.int_inputs:
            lo, hi = op.int_inputs[i]
            arrs.append(rng.integers(lo, hi, size=s).astype(np.int64))
        else:
            arrs.append(rng.uniform(op.low, op.high, size=s))
    return arrs


def _to_tensor(arr, dtype, device, requires_grad, view):
    """A tensor of ``arr``'s values, built as a transposed or strided view when ``view`` says so."""
    if arr.dtype == np.int64:
        return tg.tensor(arr, device=device)
    if view == "T" and arr.ndim >= 2:
        t = tg.tensor(np.ascontiguousarray(np.swapaxes(arr, -1, -2)), dtype=dtype, device=device)
        t = t.transpose(-1, -2)
    elif view == "step" and arr.ndim >= 1:
        big = np.repeat(arr, 2, axis=-1)
        t = tg.tensor(big, dtype=dtype, device=device)[..., ::2]
    else:
        t = tg.tensor(arr, dtype=dtype, device=device)
    return t.requires_grad_(True) if requires_grad else t


def run_op(op, arrs, dtype, device, ups=None, rng=None):
    """Run ``op`` on tensors made from ``arrs``; returns (outputs as float64 arrays, grads, upstreams)."""
    view_first = [op.view if i == 0 else None for i in range(len(arrs))]
    leaves = []
    inputs = []
    for a, v in zip(arrs, view_first):
        need = op.grad and a.dtype != np.int64
        t = _to_tensor(a, dtype, device, False, v)
        if need:
            t = t.detach()
            t.requires_grad_(True)
        leaves.append(t if need else None)
        inputs.append(t)
    out = op.fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    vals = [o.detach().cpu().float().numpy().astype(np.float64) if o.dtype.is_floating_point else
            o.detach().cpu().numpy() for o in outs]
    grads = None
    if op.grad:
        diff = [o for o in outs if o.dtype.is_floating_point and o.requires_grad]
        if ups is None:
            ups = [rng.standard_normal(o.shape) for o in diff]
        if diff:
            tg.autograd.backward(diff, [tg.tensor(u, dtype=o.dtype, device=o.device) for o, u in zip(diff, ups)])
        grads = [None if t is None or t.grad is None else t.grad.cpu().float().numpy().astype(np.float64)
                 for t in leaves]
    return vals, grads, ups


def assert_close(got, ref, dtype, what, scale=1.0):
    atol, rtol = TOL[dtype]
    atol, rtol = atol * scale, rtol * scale
    got = np.asarray(got, dtype=np.float64) if np.asarray(got).dtype != np.bool_ else np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64) if np.asarray(ref).dtype != np.bool_ else np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != reference {ref.shape}"
    if got.dtype == np.bool_ or ref.dtype == np.bool_:
        bad = got != ref
    else:
        both_nan = np.isnan(got) & np.isnan(ref)
        bad = ~both_nan & ~(np.abs(got - ref) <= atol + rtol * np.abs(ref))
        bad |= np.isnan(got) != np.isnan(ref)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at {i}: got {got[i]!r}, "
                             f"reference {ref[i]!r} (dtype {dtype}, atol {atol:g}, rtol {rtol:g})")


def check_op(op, device, dtype, seed=0, shapes_list=None):
    """Compare ``op`` on (device, dtype) against the cpu float64 reference, outputs and gradients."""
    rng = np.random.default_rng(seed)
    for shapes in (shapes_list or op.shapes):
        arrs = make_inputs(op, shapes, rng)
        ref_vals, ref_grads, ups = run_op(op, arrs, "float64", "cpu", rng=rng)
        if dtype in ("float16", "bfloat16"):
            # the reference sees the same rounded inputs the low-precision run sees
            np_dt = tg.dtypes.as_dtype(dtype).np
            arrs = [a if a.dtype == np.int64 else a.astype(np_dt).astype(np.float64) for a in arrs]
            ref_vals, ref_grads, ups = run_op(op, arrs, "float64", "cpu", ups=ups)
        vals, grads, _ = run_op(op, arrs, dtype, device, ups=ups)
        for k, (v, r) in enumerate(zip(vals, ref_vals)):
            assert_close(v, r, dtype, f"{op.name} output {k} on {device}/{dtype} shapes {shapes}", op.tol_scale)
        if op.grad:
            for k, (g, r) in enumerate(zip(grads, ref_grads)):
                if r is None:
                    continue
                assert g is not None, f"{op.name}: no gradient for input {k} on {device}/{dtype}"
                assert_close(g, r, dtype, f"{op.name} grad {k} on {device}/{dtype} shapes {shapes}",
                             op.tol_scale * 2)


def gradcheck_op(op, seed=0):
    """Finite-difference check of the float64 reference (cpu) for one small sample set."""
    rng = np.random.default_rng(seed)
    shapes = min(op.shapes, key=lambda ss: sum(int(np.prod(s)) for s in ss))
    arrs = make_inputs(op, shapes, rng)
    inputs = [tg.tensor(a, device="cpu") if a.dtype == np.int64 else
              tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrs]
    tg.autograd.gradcheck(op.fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def _pos(x):
    return x.abs() + 0.5


B = [((3, 1), (1, 4)), ((5,), (2, 5)), ((), (3,))]
U = [((7,),), ((13, 5),), ((),), ((1,),), ((0,),), ((2, 0),)]
U_BIG = [((1823, 781),)]
R = [((7,),), ((13, 5),), ((),), ((1,),), ((4, 3, 5),)]

OPS = [
    # unary
    Op("neg", lambda x: -x, U),
    Op("abs", lambda x: x.abs(), U),
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
    Op("relu", lambda x: x.relu(), U),
    Op("sign", lambda x: x.sign(), U),
    Op("floor", lambda x: x.floor(), U),
    Op("ceil", lambda x: x.ceil(), U),
    Op("round", lambda x: x.round(), U, gradcheck=False),
    Op("reciprocal", lambda x: _pos(x).reciprocal(), U),
    Op("pow_scalar", lambda x: x ** 3, U),
    Op("rpow_scalar", lambda x: 2.0 ** x, U),
    Op("clamp", lambda x: x.clamp(-0.5, 0.7), U),
    Op("unary_big_T", lambda x: x.exp(), U_BIG, view="T", cuda_shapes=[((67, 129),)], gradcheck=False),
    Op("sigmoid_step", lambda x: x.sigmoid(), [((9, 6),)], view="step"),
    # binary, with broadcasting and scalars on both sides
    Op("add", lambda a, b: a + b, B),
    Op("sub", lambda a, b: a - b, B),
    Op("mul", lambda a, b: a * b, B),
    Op("div", lambda a, b: a / _pos(b), B),
    Op("pow", lambda a, b: _pos(a) ** b, B),
    Op("maximum", lambda a, b: tg.maximum(a, b), B),
    Op("minimum", lambda a, b: tg.minimum(a, b), B),
    Op("radd_rsub_rmul_rdiv", lambda x: (1.5 - x) * 2 + 3 / _pos(x), U),
    Op("where", lambda a, b: tg.where(a > 0, a, b), B),
    Op("add_T", lambda a, b: a + b, [((6, 4), (6, 4))], view="T"),
    Op("tril", lambda x: x.tril(), [((5, 7),), ((2, 4, 3),)]),
    Op("triu", lambda x: x.triu(1), [((5, 7),)]),
    # reductions
    Op("sum", lambda x: x.sum(), R + U_BIG, cuda_shapes=R),
    Op("sum_dim", lambda x: x.sum(-1), [((13, 5),), ((4, 3, 5),)]),
    Op("sum_dims_keep", lambda x: x.sum((0, 2), keepdim=True), [((4, 3, 5),)]),
    Op("mean", lambda x: x.mean(1), [((13, 5),), ((4, 3, 5),)]),
    Op("prod", lambda x: x.prod(0), [((5, 3),)]),
    Op("amax", lambda x: x.amax(1), [((13, 5),)]),
    Op("amin", lambda x: x.amin(), [((13, 5),)]),
    Op("max_dim", lambda x: x.max(1)[0], [((13, 5),), ((3, 4, 2),)]),
    Op("min_dim_keep", lambda x: x.min(0, keepdim=True)[0], [((13, 5),)]),
    Op("var", lambda x: x.var(1), [((13, 5),)]),
    Op("std_c0", lambda x: x.std(0, correction=0), [((13, 5),)]),
    Op("logsumexp", lambda x: x.logsumexp(-1), [((13, 5),), ((7,),)]),
    Op("norm", lambda x: x.norm(), [((13, 5),)]),
    Op("norm_p1_dim", lambda x: x.norm(1, dim=0), [((13, 5),)]),
    Op("cumsum", lambda x: x.cumsum(1), [((13, 5),), ((4, 3, 5),)]),
    Op("softmax", lambda x: x.softmax(-1), [((13, 5),), ((3, 200),)]),
    Op("softmax_dim0", lambda x: x.softmax(0), [((13, 5),)]),
    Op("log_softmax", lambda x: x.log_softmax(-1), [((13, 5),), ((1, 1),)]),
    # matmul
    Op("matmul_2d", lambda a, b: a @ b, [((7, 5), (5, 3)), ((1, 1), (1, 1)), ((33, 17), (17, 9))], tol_scale=2),
    Op("matmul_T", lambda a, b: a @ b, [((7, 5), (5, 3))], view="T", tol_scale=2),
    Op("matmul_batched", lambda a, b: a @ b, [((2, 3, 4), (2, 4, 5))], tol_scale=2),
    Op("matmul_broadcast", lambda a, b: a @ b, [((2, 1, 3, 4), (3, 4, 2))], tol_scale=2),
    Op("matmul_vec", lambda a, b: a @ b, [((5,), (5, 3)), ((4, 5), (5,)), ((6,), (6,))], tol_scale=2),
    # shapes and views
    Op("reshape", lambda x: (x.reshape(5, 13) * 1.5), [((13, 5),)]),
    Op("view_T_reshape", lambda x: x.reshape(-1), [((4, 6),)], view="T"),
    Op("permute", lambda x: x.permute(2, 0, 1) * 2, [((4, 3, 5),)]),
    Op("expand", lambda x: x.expand(4, 3, 5) * 1.0, [((3, 1),)]),
    Op("unsqueeze_squeeze", lambda x: x.unsqueeze(1).squeeze() + 0, [((4, 5),)]),
    Op("flatten", lambda x: x.flatten(1) * 1, [((4, 3, 5),)]),
    Op("narrow_split", lambda x: x.narrow(1, 1, 2) + x.split(2, 1)[0], [((4, 4),)]),
    Op("chunk", lambda x: x.chunk(3, 0)[1] * 1, [((7, 3),)]),
    Op("cat", lambda a, b: tg.cat([a, b, a], 1), [((3, 2), (3, 5))]),
    Op("stack", lambda a, b: tg.stack([a, b], -1), [((3, 2), (3, 2))]),
    Op("repeat", lambda x: x.repeat(2, 1, 3), [((3, 2),)]),
    Op("flip", lambda x: x.flip(0, 1), [((4, 3),)]),
    Op("contiguous_T", lambda x: x.contiguous(), [((4, 3),)], view="T"),
    Op("getitem_basic", lambda x: x[1:, ::2, 1], [((4, 5, 3),)]),
    Op("getitem_none_ellipsis", lambda x: x[None, ..., 0], [((4, 5),)]),
    Op("getitem_int_tensor", lambda x, i: x[i], [((6, 3), (4,))], int_inputs={1: (-6, 6)}),
    Op("getitem_two_tensors", lambda x, i, j: x[i, j], [((6, 5), (4,), (4,))], int_inputs={1: (0, 6), 2: (0, 5)}),
    Op("getitem_mid_tensor", lambda x, i: x[:, i], [((3, 6, 2), (5,))], int_inputs={1: (0, 6)}),
    Op("getitem_mask", lambda x: x[x > 0], [((6, 5),)]),
    Op("index_select", lambda x, i: x.index_select(1, i), [((3, 6), (8,))], int_inputs={1: (0, 6)}),
    Op("gather", lambda x, i: x.gather(1, i), [((4, 6), (4, 3))], int_inputs={1: (0, 6)}),
    Op("cast_roundtrip", lambda x: x.double().float() * 1, [((7,),)], dtypes=("float32",), gradcheck=False),
]

OPS_BY_NAME = {op.name: op for op in OPS}
