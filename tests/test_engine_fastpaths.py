"""The dispatch fast paths and the autograd engine's gradient handling give the same results as the general
paths: binary ops on same-shape tensors and Python scalars, whole-tensor sums, one-node matmul (2-D, N-D,
broadcast batches), leaf gradients adopted without a copy only when nothing else holds their memory and
accumulated in place (stable addresses), advanced indexing without host reads on a GPU, ``pin_memory``.
Runtime: about 2 s (tiny shapes; the cuda cases run in Triton's interpreter)."""
import numpy as np
import pytest

import tritongrad as tg
import tritongrad.cuda as tcuda

RNG = np.random.default_rng(7)
TOL = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12), "float16": (2e-3, 2e-3)}


def _close(got, ref, dtype):
    atol, rtol = TOL[dtype]
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref)), (got, ref)


def _rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("op,fn", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                   ("div", np.divide), ("maximum", np.maximum)])
def test_binary_same_shape_and_scalar_match_reference(op, fn, dtype):
    a, b = _rand(3, 5, dtype=dtype), _rand(3, 5, dtype=dtype) + 3.0
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    call = {"maximum": tg.maximum}.get(op, lambda x, y: getattr(x, op)(y))
    out = call(ta, tb)
    assert out.dtype.name == dtype and out.grad_fn is not None
    _close(out.detach().numpy(), fn(a64, b64), dtype)
    up = _rand(3, 5, dtype=dtype)
    out.backward(tg.tensor(up))
    assert ta.grad.dtype.name == dtype and tb.grad.dtype.name == dtype
    if op in ("add", "sub"):
        _close(ta.grad.numpy(), up.astype(np.float64), dtype)
        _close(tb.grad.numpy(), (1.0 if op == "add" else -1.0) * up.astype(np.float64), dtype)
    if op != "maximum":
        for scalar in (2, -1.5):
            _close(call(ta, scalar).detach().numpy(), fn(a64, np.float64(scalar)).astype(dtype), dtype)
            assert call(ta, scalar).dtype.name == dtype
    for scalar in (3, 0.25):                                    # reflected: scalar on the left
        _close((scalar - ta).detach().numpy(), (scalar - a64).astype(dtype), dtype)
        _close((scalar / tb).detach().numpy(), (scalar / b64).astype(dtype), dtype)


def test_binary_fast_path_keeps_promotion_and_errors():
    i = tg.tensor(np.array([1, 2, 3], np.int64))
    f = tg.tensor(np.array([0.5, 1.5, 2.5], np.float32))
    assert (i + 0.5).dtype is tg.float32 and (f + 1).dtype is tg.float32 and (i + f).dtype is tg.float32
    assert (f + tg.tensor(np.ones(3))).dtype is tg.float64
    with pytest.raises(RuntimeError, match="size of tensor a \\(3\\) must match the size of tensor b \\(2\\)"):
        f + tg.ones(2)


@pytest.mark.parametrize("keepdim", [False, True])
def test_whole_sum_and_mean(keepdim):
    x = _rand(4, 3, 2)
    t = tg.tensor(x, requires_grad=True)
    s = t.sum(keepdim=keepdim)
    assert s.shape == ((1, 1, 1) if keepdim else ())
    _close(s.detach().numpy(), x.astype(np.float64).sum(keepdims=keepdim), "float32")
    up = _rand(*s.shape)
    s.backward(tg.tensor(up))
    _close(t.grad.numpy(), np.broadcast_to(up.astype(np.float64).reshape(1, 1, 1), x.shape), "float32")
    m = tg.tensor(x).mean(dim=(0, 2), keepdim=keepdim)
    _close(m.numpy(), x.astype(np.float64).mean(axis=(0, 2), keepdims=keepdim), "float32")


@pytest.mark.parametrize("sa,sb", [((5, 3), (3, 7)), ((2, 5, 3), (3, 7)), ((3,), (3, 7)), ((5, 3), (3,)),
                                   ((2, 1, 5, 3), (4, 3, 7)), ((5, 3), (2, 3, 7)), ((2, 5, 3), (2, 3, 7))])
def test_matmul_one_node_matches_reference(sa, sb):
    a, b = _rand(*sa, dtype="float64"), _rand(*sb, dtype="float64")
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = ta @ tb
    ref = a @ b
    _close(out.detach().numpy(), ref, "float64")
    up = _rand(*ref.shape, dtype="float64")
    out.backward(tg.tensor(up))
    # reference gradients through NumPy's broadcasting rules (1-D operands promoted, then reduced back)
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    up2 = up.reshape(np.matmul(a2, b2).shape)
    ga = up2 @ np.swapaxes(b2, -1, -2)
    gb = np.swapaxes(a2, -1, -2) @ up2
    ga = ga.reshape((-1,) + a2.shape).sum(0) if ga.ndim > a2.ndim else ga
    gb = gb.reshape((-1,) + b2.shape).sum(0) if gb.ndim > b2.ndim else gb
    ga = ga.sum(axis=tuple(i for i, n in enumerate(a2.shape) if n == 1 and ga.shape[i] != 1), keepdims=True)
    _close(ta.grad.numpy(), ga.reshape(a.shape), "float64")
    _close(tb.grad.numpy(), gb.reshape(b.shape), "float64")


def test_matmul_2d_records_one_node_on_the_leaves():
    ta, tb = tg.tensor(_rand(4, 3), requires_grad=True), tg.tensor(_rand(3, 2), requires_grad=True)
    out = ta @ tb.t()[:, :].t()
    node = (ta @ tb).grad_fn
    assert node.name == "MmBackward0" and node.parents[0] is ta and node.parents[1] is tb
    assert out.shape == (4, 2)


def _addr(t):
    return t.numpy().__array_interface__["data"][0]


def test_leaf_gradients_never_alias_each_other_the_root_gradient_or_hooks():
    x = tg.tensor(_rand(3, 4), requires_grad=True)
    y = tg.tensor(_rand(3, 4), requires_grad=True)
    g = tg.tensor(_rand(3, 4))
    (x + y).backward(g)
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    assert not np.shares_memory(x.grad.numpy(), g.numpy()) and not np.shares_memory(y.grad.numpy(), g.numpy())
    x.grad = y.grad = None
    (x.reshape(12) + y.reshape(12)).backward(tg.tensor(_rand(12)))   # views of one array
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    leaf = tg.tensor(_rand(3, 4), requires_grad=True)
    leaf.backward(g)
    assert not np.shares_memory(leaf.grad.numpy(), g.numpy())
    kept = []
    z = tg.tensor(_rand(3), requires_grad=True)
    z.register_hook(kept.append)
    (z * 2).backward(tg.tensor(_rand(3)))
    assert not np.shares_memory(z.grad.numpy(), kept[0].numpy())
    c = tg.tensor(_rand(3), requires_grad=True)
    u = tg.tensor(_rand(3))
    c.clone().backward(u)                                          # backward hands back its input gradient
    assert not np.shares_memory(c.grad.numpy(), u.numpy())
    np.testing.assert_array_equal(c.grad.numpy(), u.numpy())


def test_leaf_gradient_accumulates_in_place():
    w = tg.tensor(_rand(4, 5), requires_grad=True)
    a, up = _rand(3, 4), _rand(3, 5)
    (tg.tensor(a) @ w).backward(tg.tensor(up))
    first = w.grad.numpy().copy()
    addr, grad_tensor = _addr(w.grad), w.grad
    (tg.tensor(a) @ w).backward(tg.tensor(up))
    assert w.grad is grad_tensor and _addr(w.grad) == addr
    _close(first, a.astype(np.float64).T @ up.astype(np.float64), "float32")
    _close(w.grad.numpy(), 2 * first.astype(np.float64), "float32")
    # a user-set gradient that cannot be written in place (a broadcast view) is replaced, values right
    v = tg.tensor(_rand(2, 3), requires_grad=True)
    v.grad = tg.ones(1, 3).expand(2, 3)
    up2 = _rand(2, 3)
    (v * 1.0).backward(tg.tensor(up2))
    _close(v.grad.numpy(), 1.0 + up2.astype(np.float64), "float32")


def test_pin_memory_copies_and_reports():
    x = tg.tensor(_rand(3, 2), requires_grad=True)
    p = x.pin_memory()
    assert p is not x and not np.shares_memory(p.detach().numpy(), x.detach().numpy())
    np.testing.assert_array_equal(p.detach().numpy(), x.detach().numpy())
    assert x.is_pinned() is False
    assert p.is_pinned() == tcuda.is_pinned(p.detach().numpy())     # False without a GPU: no page-locking
    up = _rand(3, 2)
    p.backward(tg.tensor(up))
    np.testing.assert_array_equal(x.grad.numpy(), up)
    assert tg.tensor([1.0, 2.0], pin_memory=True).tolist() == [1.0, 2.0]
    assert tg.empty(2, 3, pin_memory=True).shape == (2, 3)
    with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
        tg.ones(2, device="cuda").pin_memory()
    assert tg.ones(2, device="cuda").is_pinned() is False


def _cuda_index(v):
    return tg.tensor(np.asarray(v, np.int64), device="cuda")


def test_advanced_indexing_gpu_path_wraps_and_rejects():
    # cuda indexing never reads the index on the host (interpreter mode included): negatives wrap on the
    # device, and an out-of-range index is raised at the next wait for the device (here the copy to the host)
    x_np = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = tg.tensor(x_np, device="cuda")
    i0, i1 = np.array([1, -1, 0]), np.array([-3, 2, -1])
    np.testing.assert_array_equal(x[_cuda_index(i0), :, _cuda_index(i1)].cpu().numpy(), x_np[i0, :, i1])
    np.testing.assert_array_equal(x[:, _cuda_index(i1)].cpu().numpy(), x_np[:, i1])
    for bad in (5, -6):
        out = x[:, :, _cuda_index([0, bad])]
        with pytest.raises(IndexError, match=rf"^index {bad} is out of bounds for dimension 2 with size 4$"):
            out.cpu()
    out = x[_cuda_index([0]), _cuda_index([3])]     # in range once folded, out of range in dim 1
    with pytest.raises(IndexError, match=r"^index 3 is out of bounds for dimension 1 with size 3$"):
        out.cpu()
    x[_cuda_index([-2]), _cuda_index([-3])].cpu()     # the lowest valid negatives, and nothing left pending
    y = tg.zeros(2, 3, 4, device="cuda")
    y[_cuda_index([-1]), 1] = 5.0
    ref = np.zeros((2, 3, 4), np.float32)
    ref[-1, 1] = 5.0
    np.testing.assert_array_equal(y.cpu().numpy(), ref)


def test_advanced_setitem_with_a_scalar_makes_no_host_sync():
    y = tg.zeros(5, 3, device="cuda")
    idx = _cuda_index([4, -1, 0])
    with tcuda.count_host_syncs() as syncs:
        y[idx] = 2.5
        y[idx, 1] = 7
    assert syncs.count == 0, syncs
    ref = np.zeros((5, 3), np.float32)
    ref[[4, -1, 0]] = 2.5
    ref[[4, -1, 0], 1] = 7
    np.testing.assert_array_equal(y.cpu().numpy(), ref)
