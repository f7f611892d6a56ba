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
