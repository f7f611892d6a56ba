"""Cases where tritongrad once differed from PyTorch on odd input (found by running bad input through both),
each pinned to PyTorch's behaviour on cpu and cuda."""
import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn.functional as F
from tritongrad.utils.data import DataLoader, TensorDataset

DEVICES = ["cpu", "cuda"]
INF = float("inf")


@pytest.mark.parametrize("device,num_workers", [("cpu", 0), ("cpu", 1), ("cuda", 0)])
def test_float_index_from_a_sampler_raises(device, num_workers):
    ds = TensorDataset(tg.arange(6.0, device=device))
    for sampler in ([0, 2.5], [1.0, 2]):
        with pytest.raises(IndexError, match=r"only integers.*\(got float\)"):
            list(DataLoader(ds, sampler=sampler, batch_size=2, num_workers=num_workers))
    assert list(DataLoader(ds, sampler=[np.int64(1), 2], batch_size=2))[0][0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduction_over_a_non_empty_dim_of_an_empty_tensor(device, op):
    x = tg.ones(0, 5, device=device)
    values, indices = getattr(x, op)(1)
    assert values.shape == (0,) and indices.shape == (0,) and indices.dtype == tg.int64
    assert getattr(x, "a" + op)(1).shape == (0,)
    with pytest.raises(IndexError, match=rf"^{op}\(\): Expected reduction dim 0 to have non-zero size\.$"):
        getattr(x, op)(0)
    with pytest.raises(RuntimeError, match=rf"^{op}\(\): Expected reduction dim to be specified for "
                                           r"input.numel\(\) == 0\."):
        getattr(x, op)()
    v, i = getattr(tg.tensor(3.0, device=device), op)(0)     # a 0-d tensor has one element along dim 0
    assert v.item() == 3.0 and i.item() == 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "amax", "logsumexp"])
def test_a_0d_tensor_accepts_dim_0_and_minus_1_only(device, op):
    x = tg.tensor(2.0, device=device)
    for d in (0, -1, [0], (-1,)):
        assert getattr(x, op)(d).shape == ()
    for d in (1, -2, [1]):
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-1, 0\], "
                                             rf"but got {d if isinstance(d, int) else d[0]}\)"):
            getattr(x, op)(d)


@pytest.mark.parametrize("device", DEVICES)
def test_negative_sizes_raise_like_zeros(device):
    msg = r"Trying to create tensor with negative dimension -2: \[3, -2\]"
    for make in (tg.zeros, tg.ones, tg.empty, tg.rand, tg.randn):
        with pytest.raises(RuntimeError, match=msg):
            make(3, -2, device=device)
    with pytest.raises(RuntimeError, match=msg):
        tg.randint(0, 5, (3, -2), device=device)
    with pytest.raises(RuntimeError, match="n must be non-negative, got -1"):
        tg.randperm(-1, device=device)
    assert tg.randn(0, device=device).shape == (0,)


@pytest.mark.parametrize("device", DEVICES)
def test_np_asarray_of_a_tensor_that_requires_grad_raises_as_numpy_does(device):
    x = tg.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        np.asarray(x)
    assert np.asarray(x.detach()).tolist() == [1.0, 1.0]
    assert np.asarray((x * 2).detach(), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("device", DEVICES)
def test_data_has_its_own_version_counter(device):
    x = tg.tensor([0.0, 1.0, 2.0], device=device, requires_grad=True)
    y = x.sigmoid()                     # saves its output
    y.data.zero_()                      # PyTorch allows this: .data is invisible to autograd's checks
    y.backward(tg.ones(3, device=device))
    assert x.grad.tolist() == [0.0, 0.0, 0.0]      # sigmoid' from the (zeroed) output: y * (1 - y)
    z = x.sigmoid()
    z.detach().zero_()                  # detach() shares the counter, so this one is caught
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward(tg.ones(3, device=device))
    d = x.data
    assert d._data is x._data and not d.requires_grad and d.grad_fn is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_with_a_minus_inf_target_logit_is_inf(device, label_smoothing):
    logits = tg.tensor([[-INF, 0.0, 1.0], [0.5, 0.0, 1.0]], device=device)
    target = tg.tensor([0, 2], device=device)
    rows = F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing).tolist()
    assert rows[0] == INF and np.isfinite(rows[1])
    assert F.cross_entropy(logits, target, label_smoothing=label_smoothing).item() == INF


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [2, 5000], ids=["one_block", "online"])
def test_softmax_of_a_row_holding_inf_is_nan(device, n):
    x = np.ones((3, n), np.float32)
    x[0, 0] = INF                       # +inf first ...
    x[1, -1] = INF                      # ... or last (the online pass meets it in its last block)
    x[2, :] = -INF                      # every entry -inf
    t = tg.tensor(x, device=device)
    for fn in (tg.Tensor.softmax, tg.Tensor.log_softmax):
        assert np.isnan(fn(t, 1).cpu().numpy()).all()
    finite = tg.tensor([[-INF, 0.0, 0.0]], device=device)
    assert finite.softmax(1).tolist() == [[0.0, 0.5, 0.5]]


# ------------------------------------------------------------------------------------------ error paths
def test_interpreter_allocation_failure_raises_out_of_memory_quietly(monkeypatch):
    """As on a GPU: tritongrad.cuda.OutOfMemoryError naming the size, and no "Exception ignored in
    HostBuffer.__del__" from the half-made buffer."""
    import gc
    import sys
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    gc.collect()                # buffers of earlier tests that only a collection frees
    base = tg.cuda.memory_allocated()
    with pytest.raises(tg.cuda.OutOfMemoryError, match=r"tried to allocate 1\.00 PiB"):
        tg.empty(2 ** 50, dtype=tg.uint8, device="cuda")
    gc.collect()
    assert unraisable == [] and tg.cuda.memory_allocated() == base
    assert tg.ones(3, device="cuda").tolist() == [1.0, 1.0, 1.0]
