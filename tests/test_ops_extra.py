"""Semantics of the ops added for PyTorch API breadth that the op table cannot express: stable ties and NaN
order of sort, topk's flags and errors, einsum equations, in-place version counters, out= rules."""
import numpy as np
import pytest

import tritongrad as tg

DEVICES = ["cpu", "cuda"]


@pytest.mark.parametrize("device", DEVICES)
def test_sort_is_stable_and_puts_nan_last(device):
    x = tg.tensor([2.0, 1.0, float("nan"), 1.0, 2.0, 0.0, 1.0], device=device)
    v, i = tg.sort(x, stable=True)
    assert i.tolist() == [5, 1, 3, 6, 0, 4, 2]
    assert np.isnan(v.tolist()[-1]) and v.tolist()[:-1] == [0.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    v, i = x.sort(descending=True, stable=True)
    assert i.tolist() == [2, 0, 4, 1, 3, 6, 5]
    assert x.argsort(stable=True).tolist() == [5, 1, 3, 6, 0, 4, 2]


@pytest.mark.parametrize("device", DEVICES)
def test_sort_rows_longer_than_a_block(device):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 9, size=(2, 150)).astype(np.float32)   # many ties, rows of 3 blocks of 64
    v, i = tg.tensor(a, device=device).sort(dim=1, descending=True)
    ref = np.argsort(-a, axis=1, kind="stable")
    assert (i.cpu().numpy() == ref).all()
    assert (v.cpu().numpy() == np.take_along_axis(a, ref, 1)).all()


@pytest.mark.parametrize("device", DEVICES)
def test_topk_flags_and_result_names(device):
    x = tg.tensor([[1.0, 5.0, 3.0, 5.0], [0.0, -1.0, 2.0, 2.0]], device=device)
    r = x.topk(2)
    assert r.values.tolist() == [[5.0, 5.0], [2.0, 2.0]] and r.indices.tolist() == [[1, 3], [2, 3]]
    r = tg.topk(x, 1, dim=0, largest=False, sorted=False)
    assert r.values.tolist() == [[0.0, -1.0, 2.0, 2.0]] and r.indices.tolist() == [[1, 1, 1, 1]]
    v, i = x.topk(0)
    assert v.shape == (2, 0) and i.dtype is tg.int64
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(5)


def test_topk_gradient_goes_to_the_chosen_elements():
    x = tg.tensor([3.0, 1.0, 4.0, 1.0, 5.0], requires_grad=True)
    (x.topk(2).values * tg.tensor([10.0, 1.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 10.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]), ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]), ("i,j", [(3,), (2,)]), ("ij->", [(2, 3)]), ("...ij,...jk", [(2, 2, 3), (3, 4)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("ij,ij->ij", [(2, 3), (1, 3)]), ("abc,cd,de->abe",
                                                                                      [(2, 3, 4), (4, 2), (2, 3)]),
])
def test_einsum_equations_match_numpy(equation, shapes, device):
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal(s) for s in shapes]
    got = tg.einsum(equation, *[tg.tensor(a, device=device) for a in arrs])
    ref = np.einsum(equation, *[np.broadcast_to(a, s) for a, s in zip(arrs, shapes)])
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-10, atol=1e-10)
    assert got.shape == ref.shape


def test_einsum_errors_name_the_problem():
    a = tg.ones(2, 3)
    with pytest.raises(ValueError, match="operands"):
        tg.einsum("ij,jk->ik", a)
    with pytest.raises(RuntimeError, match="subscript 'j'"):
        tg.einsum("ij,jk->ik", a, tg.ones(4, 2))
    with pytest.raises(ValueError, match="output subscripts"):
        tg.einsum("ij->iz", a)


def test_inplace_ops_bump_the_version_and_refuse_leaves():
    x = tg.ones(3)
    v = x._version[0]
    x.addcmul_(tg.ones(3), tg.full((3,), 2.0), value=0.5).lerp_(tg.zeros(3), 0.5)
    assert x.tolist() == [1.0, 1.0, 1.0] and x._version[0] == v + 2
    leaf = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.addcdiv_(tg.ones(3), tg.ones(3))
    y = leaf * 1
    saved = y + 1          # add saves nothing: a later in-place op on y is fine for it
    y.scatter_add_(0, tg.tensor([0, 0]), tg.ones(2))
    z = leaf * 1
    w = z * z              # mul saves z: modifying z in place must make backward fail
    z.index_add_(0, tg.tensor([1]), tg.ones(1))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()
    (saved.sum() + y.sum()).backward()
    assert leaf.grad.tolist() == [2.0] * 3


@pytest.mark.parametrize("device", DEVICES)
def test_diagonal_is_a_view_and_diag_embed_places_it(device):
    x = tg.zeros(3, 4, device=device)
    x.diagonal(1).fill_(2.0)
    assert x.tolist() == [[0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 2]]
    assert tg.diag(tg.tensor([1.0, 2.0], device=device), -1).tolist() == [[0, 0, 0], [1, 0, 0], [0, 2, 0]]
    assert tg.diag_embed(tg.tensor([[1.0, 2.0]], device=device)).shape == (1, 2, 2)


def test_small_semantics():
    a, b = tg.tensor([1.0, float("inf"), float("nan"), 1.0]), tg.tensor([1.0 + 1e-9, float("inf"), float("nan"), 2.0])
    assert tg.isclose(a, b).tolist() == [True, True, False, False]
    assert tg.isclose(a, b, equal_nan=True).tolist() == [True, True, True, False]
    assert tg.tril_indices(3, 2).tolist() == [[0, 1, 1, 2, 2], [0, 0, 1, 0, 1]]
    assert tg.triu_indices(2, 3, 1).tolist() == [[0, 0, 1], [1, 2, 2]]
    bounds = tg.tensor([1, 3, 5, 7, 9])
    v = tg.tensor([[3, 6, 9], [3, 6, 9]])
    assert tg.bucketize(v, bounds).tolist() == [[1, 3, 4], [1, 3, 4]]
    assert tg.bucketize(v, bounds, right=True).tolist() == [[2, 3, 5], [2, 3, 5]]
    assert tg.searchsorted(bounds, v, side="right", out_int32=True).dtype is tg.int32
    assert tg.repeat_interleave(tg.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert tg.nan_to_num(tg.tensor([float("inf")], dtype=tg.float16)).item() == 65504.0
    assert tg.float_power(tg.tensor([2]), 3).dtype is tg.float64
    assert tg.ones(2, 3).scatter(1, tg.tensor([[2], [0]]), value=5.0).tolist() == [[1, 1, 5], [5, 1, 1]]
    assert tg.masked_select(tg.arange(4.0), tg.tensor([True, False, True, True])).tolist() == [0.0, 2.0, 3.0]
    probs = tg.tensor([[0.0, 1.0, 0.0]])
    assert probs.multinomial(2, replacement=True).tolist() == [[1, 1]]
    with pytest.raises(RuntimeError, match="Integer division"):
        tg.addcdiv(tg.ones(2), tg.tensor([1, 2]), tg.tensor([1, 2]))


@pytest.mark.parametrize("device", DEVICES)
def test_out_is_resized_written_and_returned(device):
    a, b = tg.ones(2, 3, device=device), tg.full((3, 2), 2.0, device=device)
    for fn, args, want in [(tg.matmul, (a, b), [[6.0] * 2] * 2), (tg.mm, (a, b), [[6.0] * 2] * 2),
                           (tg.add, (a, 1.0), [[2.0] * 3] * 2), (tg.mul, (a, a), [[1.0] * 3] * 2),
                           (tg.exp, (a * 0,), [[1.0] * 3] * 2), (tg.sub, (a, a), [[0.0] * 3] * 2)]:
        out = tg.empty(0, device=device)
        assert fn(*args, out=out) is out and out.tolist() == want
    out = tg.empty(0, device=device)
    assert tg.bmm(a[None], b[None], out=out) is out and out.shape == (1, 2, 2)
    out = tg.empty(0, device=device)
    assert tg.cat([a, a], 1, out=out) is out and out.shape == (2, 6)
    out = tg.empty(0, device=device)
    assert tg.stack([a, a], out=out) is out and out.shape == (2, 2, 3)
    v = out._version[0]
    tg.add(tg.ones(2, 2, 3, device=device), 1, out=out)
    assert out._version[0] == v + 1 and out.tolist() == [[[2.0] * 3] * 2] * 2
    with pytest.warns(UserWarning, match="resized"):
        tg.add(a, 1, out=tg.zeros(5, device=device))


def test_out_rules():
    leaf = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        tg.mul(leaf, 2, out=tg.empty(2))
    with tg.no_grad():
        assert tg.mul(leaf, 2, out=tg.empty(2)).tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
        tg.exp(tg.ones(2), out=tg.empty(2, dtype=tg.int64))
    assert tg.eq(tg.ones(2), 1, out=tg.empty(2)).tolist() == [1.0, 1.0]   # bool into float is allowed
    with pytest.raises(RuntimeError, match="view cannot be resized"):
        tg.add(tg.ones(3), 1, out=tg.zeros(4)[:2])


def test_inplace_unary_variants_check_dtype_and_version():
    x = tg.tensor([0.25, 4.0])
    x.sqrt_().log_()
    assert x._version[0] == 2 and np.allclose(x.tolist(), [np.log(0.5), np.log(2.0)])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        tg.tensor([1, 2]).exp_()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        tg.ones(2, requires_grad=True).tanh_()
    with pytest.raises(RuntimeError, match="single memory location"):
        tg.ones(1).expand(3).relu_()


def test_sort_topk_out_and_autocast_policies():
    x = tg.tensor([[3.0, 1.0, 2.0]])
    v, i = tg.empty(0), tg.empty(0, dtype=tg.int64)
    r = tg.sort(x, out=(v, i))
    assert r.values is v and r.indices is i and i.tolist() == [[1, 2, 0]]
    with pytest.warns(UserWarning, match="resized"):   # PyTorch warns too when a non-empty out is resized
        r = tg.topk(x, 1, out=(v, i))
    assert r.values is v and v.tolist() == [[3.0]]
    a = tg.ones(2, 2)
    with tg.autocast("cpu", dtype=tg.bfloat16):
        assert tg.addmm(a, a, a).dtype is tg.bfloat16
        assert tg.baddbmm(a[None], a[None], a[None]).dtype is tg.bfloat16
        assert tg.cdist(a.bfloat16(), a.bfloat16()).dtype is tg.float32
    with tg.autocast("cuda"):
        c = tg.ones(2, 2, device="cuda")
        assert tg.einsum("ij,jk->ik", c, c).dtype is tg.float16
        assert tg.addcmul(c.half(), c, c).dtype is tg.float32


def test_out_on_the_added_functions():
    out = tg.empty(0)
    assert tg.addcmul(tg.ones(2), tg.ones(2), tg.ones(2), value=3, out=out) is out and out.tolist() == [4.0, 4.0]
    idx = tg.empty(0, dtype=tg.int64)
    assert tg.searchsorted(tg.tensor([1.0, 2.0]), tg.tensor([1.5]), out=idx) is idx and idx.tolist() == [1]
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        tg.outer(tg.ones(2, requires_grad=True), tg.ones(2), out=tg.empty(0))
