"""Property tests: broadcasting binary ops (values and the un-broadcast gradients) and reductions over any dims,
against NumPy, on cpu and (fewer examples: the interpreter is slow) cuda."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tritongrad as tg

EXAMPLES = {"cpu": 40, "cuda": 15}
OPS = {"add": (np.add, lambda a, b: a + b), "mul": (np.multiply, lambda a, b: a * b),
       "maximum": (np.maximum, tg.maximum), "sub": (np.subtract, lambda a, b: a - b)}


def _values(draw, shape):
    return draw(hnp.arrays(np.float32, shape, elements=st.floats(-4, 4, width=32)))


def _unbroadcast(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@st.composite
def broadcast_case(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=5))
    a, b = (_values(draw, s) for s in shapes.input_shapes)
    op = draw(st.sampled_from(sorted(OPS)))
    g = draw(hnp.arrays(np.float32, shapes.result_shape, elements=st.floats(-2, 2, width=32)))
    return op, a, b, g


def _check_broadcast(device, case):
    op, a, b, g = case
    np_fn, tg_fn = OPS[op]
    ta = tg.tensor(a, device=device, requires_grad=True)
    tb = tg.tensor(b, device=device, requires_grad=True)
    out = tg_fn(ta, tb)
    ref = np_fn(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-6, atol=1e-6)
    out.backward(tg.tensor(g, device=device))
    a64, b64, g64 = a.astype(np.float64), b.astype(np.float64), g.astype(np.float64)
    if op == "maximum":
        da = np.where(a64 > b64, 1.0, np.where(a64 == b64, 0.5, 0.0))
        ga, gb = g64 * da, g64 * (1.0 - da)
    elif op == "mul":
        ga, gb = g64 * b64, g64 * a64
    else:
        ga, gb = g64 * np.ones_like(ref), g64 * (-1.0 if op == "sub" else 1.0) * np.ones_like(ref)
    np.testing.assert_allclose(ta.grad.cpu().numpy(), _unbroadcast(np.broadcast_to(ga, ref.shape), a.shape),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.grad.cpu().numpy(), _unbroadcast(np.broadcast_to(gb, ref.shape), b.shape),
                               rtol=1e-5, atol=1e-5)


@st.composite
def reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    x = _values(draw, shape)
    dims = draw(st.one_of(st.none(), st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True, max_size=len(shape))))
    if dims is not None and not shape:
        dims = None
    keepdim = draw(st.booleans())
    op = draw(st.sampled_from(["sum", "mean", "amax", "var", "logsumexp"]))
    return op, x, dims, keepdim


def _check_reduction(device, case):
    op, x, dims, keepdim = case
    axes = tuple(dims) if dims else None             # PyTorch: an empty dim list reduces every dim
    x64 = x.astype(np.float64)
    n = x.size if axes is None else int(np.prod([x.shape[d] for d in axes]))
    if op in ("amax", "logsumexp", "var") and (n == 0 or x.ndim == 0 and op != "amax"):
        return False                             # no identity / not defined there (checked in test_errors)
    t = tg.tensor(x, device=device)
    if op == "amax":
        got = t.amax(() if dims is None else dims, keepdim=keepdim)
        ref = np.max(x64, axis=axes, keepdims=keepdim)
    elif op == "var":
        if n < 2:
            return False
        got = t.var(dims, keepdim=keepdim)
        ref = np.var(x64, axis=axes, keepdims=keepdim, ddof=1)
    elif op == "logsumexp":
        got = t.logsumexp(tuple(range(x.ndim)) if dims is None else dims, keepdim=keepdim)
        m = np.max(x64, axis=axes, keepdims=True)
        ref = np.log(np.sum(np.exp(x64 - m), axis=axes, keepdims=True)) + m
        ref = ref if keepdim else np.squeeze(ref, axis=axes)
    else:
        if op == "mean" and n == 0:
            return False
        got = getattr(t, op)(dims, keepdim=keepdim)
        ref = getattr(np, op)(x64, axis=axes, keepdims=keepdim)
    assert got.shape == np.shape(ref), (got.shape, np.shape(ref))
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-5, atol=1e-5)
    return True


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_broadcasting_binary_ops(device):
    @settings(max_examples=EXAMPLES[device], deadline=None, derandomize=True, database=None)
    @given(broadcast_case())
    def run(case):
        _check_broadcast(device, case)
    run()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_reductions(device):
    checked = []

    @settings(max_examples=EXAMPLES[device] * 2, deadline=None, derandomize=True, database=None)
    @given(reduction_case())
    def run(case):
        checked.append(_check_reduction(device, case))
    run()
    assert sum(checked) >= len(checked) // 2, f"only {sum(checked)} of {len(checked)} examples were checked"


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), st.data())
def test_reshape_of_permuted_views(shape, data):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    new_shape = data.draw(st.sampled_from([(-1,), (int(np.prod(shape)) // shape[0], shape[0]), tuple(shape[::-1])]))
    got = tg.tensor(x).permute(*perm).reshape(*new_shape)
    np.testing.assert_array_equal(got.numpy(), np.transpose(x, perm).reshape(new_shape))
