"""The Tensor API: creation functions, dtype promotion (PyTorch's table, written out by hand), repr as PyTorch
prints it, and the issue's seed example, on cpu and cuda."""
import numpy as np
import pytest

import tritongrad as tg

DEVICES = ["cpu", "cuda"]


# ------------------------------------------------------------------------------------------ seed example
@pytest.mark.parametrize("device", DEVICES)
def test_seed_example(device):
    x = tg.tensor(2.0, requires_grad=True, device=device)
    y = x ** 2 + 3 * x + 1
    y.backward()
    assert y.item() == 11.0
    assert x.grad.item() == 7.0
    assert x.grad.device.type == device and x.grad.dtype is tg.float32


# ------------------------------------------------------------------------------------------ creation
@pytest.mark.parametrize("device", DEVICES)
def test_tensor_infers_dtypes(device):
    assert tg.tensor([1.0, 2.0], device=device).dtype is tg.float32
    assert tg.tensor([1, 2], device=device).dtype is tg.int64
    assert tg.tensor([True, False], device=device).dtype is tg.bool
    assert tg.tensor([[1, 2.5]], device=device).dtype is tg.float32
    assert tg.tensor(np.arange(3, dtype=np.int32), device=device).dtype is tg.int32
    assert tg.tensor(np.ones(2, np.float64), device=device).dtype is tg.float64
    assert tg.tensor(np.ones(2, np.uint8), device=device).dtype is tg.uint8
    assert tg.tensor([1, 2], dtype=tg.float16, device=device).dtype is tg.float16
    t = tg.tensor([[1, 2], [3, 4]], dtype=tg.bfloat16, device=device)
    assert t.shape == (2, 2) and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert tg.tensor(3, device=device).shape == () and tg.tensor(3, device=device).item() == 3
    assert t.device.type == device


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(4.0)
    t = tg.tensor(a)
    s = tg.from_numpy(a)
    a[0] = 10.0
    assert t[0].item() == 0.0 and s[0].item() == 10.0
    s[1] = -1.0
    assert a[1] == -1.0


@pytest.mark.parametrize("device", DEVICES)
def test_factories(device):
    assert tg.zeros(2, 3, device=device).tolist() == [[0.0] * 3] * 2
    assert tg.ones((2,), dtype=tg.int32, device=device).tolist() == [1, 1]
    assert tg.empty(0, 4, device=device).shape == (0, 4)
    assert tg.full((2,), 3, device=device).dtype is tg.int64
    assert tg.full((2,), 3.5, device=device).tolist() == [3.5, 3.5]
    assert tg.full((1,), True, device=device).dtype is tg.bool
    assert tg.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert tg.arange(5, device=device).dtype is tg.int64
    assert tg.arange(0, 1, 0.25, device=device).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tg.arange(3, 0, -1, device=device).tolist() == [3, 2, 1]
    assert tg.linspace(0, 1, 5, device=device).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert tg.eye(2, 3, device=device).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    base = tg.ones(2, 3, dtype=tg.float16, device=device)
    for like, value in ((tg.zeros_like, 0.0), (tg.ones_like, 1.0)):
        r = like(base)
        assert (r.shape, r.dtype, r.device.type) == ((2, 3), tg.float16, device) and r.tolist() == [[value] * 3] * 2
    assert tg.full_like(base, 7).tolist() == [[7.0] * 3] * 2
    assert tg.empty_like(base).shape == (2, 3)
    r = tg.randn(3, 4, device=device)
    assert r.shape == (3, 4) and r.dtype is tg.float32 and r.device.type == device
    u = tg.rand(1000, device=device).numpy(force=True)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert tg.Tensor(2, 3).shape == (2, 3) and tg.Tensor([1, 2]).dtype is tg.float32


def test_random_streams_agree_between_devices():
    tg.manual_seed(123)
    a = tg.randn(5, 7)
    tg.manual_seed(123)
    b = tg.randn(5, 7, device="cuda")
    np.testing.assert_allclose(a.numpy(), b.cpu().numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ promotion
# (a, b) -> torch.promote_types(a, b), from PyTorch's table
PROMOTE = [
    ("bool", "uint8", "uint8"), ("bool", "int32", "int32"), ("bool", "float16", "float16"),
    ("uint8", "int32", "int32"), ("uint8", "int64", "int64"), ("int32", "int64", "int64"),
    ("int64", "float16", "float16"), ("int32", "bfloat16", "bfloat16"), ("float16", "bfloat16", "float32"),
    ("bfloat16", "float32", "float32"), ("float16", "float64", "float64"), ("float32", "float64", "float64"),
    ("uint8", "uint8", "uint8"), ("bool", "bool", "bool"),
]


@pytest.mark.parametrize("a,b,expected", PROMOTE)
def test_promote_types_table(a, b, expected):
    assert tg.promote_types(getattr(tg, a), getattr(tg, b)) is getattr(tg, expected)
    assert tg.promote_types(getattr(tg, b), getattr(tg, a)) is getattr(tg, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("a,b,expected", PROMOTE)
def test_binary_ops_promote(device, a, b, expected):
    x = tg.ones(3, dtype=getattr(tg, a), device=device)
    y = tg.ones(3, dtype=getattr(tg, b), device=device)
    assert (x * y).dtype is getattr(tg, expected)
    assert (x == y).dtype is tg.bool


# tensor (dims) op Python scalar / 0-d tensor -> result dtype (PyTorch: dimensioned tensors win within a
# category; scalars and 0-d tensors only lift the category)
SCALAR_PROMOTE = [
    ("int32", 2, "int32"), ("int32", 2.5, "float32"), ("uint8", 200, "uint8"), ("uint8", True, "uint8"),
    ("bool", 1, "int64"), ("bool", 1.0, "float32"), ("float16", 2.5, "float16"), ("bfloat16", 3, "bfloat16"),
    ("int64", 0.5, "float32"), ("float64", 1, "float64"),
    ("int32", ("int64", 1), "int32"), ("float16", ("float64", 1.0), "float16"), ("int32", ("float32", 1.0), "float32"),
    ("int64", ("float16", 1.0), "float16"), ("uint8", ("int8", 1), "uint8"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("a,other,expected", SCALAR_PROMOTE)
def test_scalar_and_zero_dim_promotion(device, a, other, expected):
    x = tg.ones(3, dtype=getattr(tg, a), device=device)
    if isinstance(other, tuple):
        other = tg.tensor(other[1], dtype=getattr(tg, other[0]), device=device)
    r = x + other
    assert r.dtype is getattr(tg, expected)
    assert (other + x).dtype is getattr(tg, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_out_of_range_python_int_wraps(device):
    x = tg.tensor([1, 250], dtype=tg.uint8, device=device)
    assert (x + 256).tolist() == [1, 250] and (x + 10).tolist() == [11, 4]


@pytest.mark.parametrize("device", DEVICES)
def test_true_division_of_integers_is_float(device):
    x = tg.tensor([3, 4], device=device)
    assert (x / 2).dtype is tg.float32 and (x / 2).tolist() == [1.5, 2.0]
    assert (x // 2).dtype is tg.int64 and (x // 2).tolist() == [1, 2]


# ------------------------------------------------------------------------------------------ repr
@pytest.mark.parametrize("device", DEVICES)
def test_repr_matches_pytorch(device):
    sfx = ", device='cuda:0'" if device == "cuda" else ""
    t = lambda *a, **k: tg.tensor(*a, device=device, **k)  # noqa: E731
    assert repr(t([1.0, -2.5])) == f"tensor([ 1.0000, -2.5000]{sfx})"
    assert repr(t([[1.0, 2.0], [3.0, 400.0]])) == f"tensor([[  1.,   2.],\n        [  3., 400.]]{sfx})"
    assert repr(t([1e-5, 1.0])) == f"tensor([1.0000e-05, 1.0000e+00]{sfx})"
    assert repr(t([True, False])) == f"tensor([ True, False]{sfx})"
    assert repr(t([1, -20, 3])) == f"tensor([  1, -20,   3]{sfx})"
    assert repr(t(1.5)) == f"tensor(1.5000{sfx})"
    assert repr(t([0.0, 0.0])) == f"tensor([0., 0.]{sfx})"
    assert repr(t([1.5, float("nan"), float("inf")])) == f"tensor([1.5000,    nan,    inf]{sfx})"
    assert repr(t([1.0, 2.0], dtype=tg.float16)) == f"tensor([1., 2.]{sfx}, dtype=tritongrad.float16)"
    assert repr(t([], dtype=tg.int64)) == f"tensor([]{sfx}, dtype=tritongrad.int64)"
    assert repr(tg.zeros(2, 0, device=device)) == f"tensor([]{sfx}, size=(2, 0))"   # device first, as PyTorch
    x = t([1.0, 2.0], requires_grad=True)
    assert repr(x) == f"tensor([1., 2.]{sfx}, requires_grad=True)"
    assert repr(x * 2) == f"tensor([2., 4.]{sfx}, grad_fn=<MulBackward0>)"
    assert repr(tg.zeros(2, 1, 2, device=device)) == f"tensor([[[0., 0.]],\n\n        [[0., 0.]]]{sfx})"


def test_repr_summarizes_and_wraps():
    r = repr(tg.arange(2000.0))
    assert r == ("tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
                 "        1.9990e+03])")
    r = repr(tg.arange(20.0) / 3)
    lines = r.split("\n")
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("tensor([0.0000, 0.3333, 0.6667,") and lines[1].startswith("        ")


# ------------------------------------------------------------------------------------------ misc API
@pytest.mark.parametrize("device", DEVICES)
def test_views_share_memory_and_in_place_reaches_the_base(device):
    y = tg.zeros(3, 4, device=device)
    v = y[1]
    v.fill_(2.0)
    y.t()[0].add_(1.0)
    assert y.tolist() == [[1.0, 0, 0, 0], [3.0, 2, 2, 2], [1.0, 0, 0, 0]]
    assert y.view(12).is_contiguous() and not y.t().is_contiguous()
    assert y.t().stride() == (1, 4)


@pytest.mark.parametrize("device", DEVICES)
def test_item_tolist_numpy(device):
    t = tg.tensor([[1.5, 2.0]], device=device)
    assert t.tolist() == [[1.5, 2.0]]
    assert t[0, 1].item() == 2.0 and isinstance(t[0, 1].item(), float)
    assert tg.tensor([3], device=device).item() == 3
    np.testing.assert_array_equal(t.cpu().numpy(), [[1.5, 2.0]])
    assert t.to(tg.int32).tolist() == [[1, 2]]
    assert t.to("cpu").device.type == "cpu" and t.cpu().to(device).device.type == device


def test_type_as_takes_the_other_tensors_dtype_and_device_type():
    """``a.type_as(b)`` is ``a.type(b.type())`` in PyTorch: b's dtype and device type (the greedy decode of
    pytorch/tutorials' language_translation moves a cpu index tensor to cuda this way)."""
    a = tg.tensor([1, 2, 3])
    b = tg.zeros(2, device="cuda")
    moved = a.type_as(b)
    assert moved.device.type == "cuda" and moved.dtype is tg.float32
    np.testing.assert_array_equal(moved.cpu().numpy(), [1.0, 2.0, 3.0])
    back = moved.type_as(tg.zeros(1, dtype=tg.float64))
    assert back.device.type == "cpu" and back.dtype is tg.float64
    same = a.type_as(tg.zeros(1, dtype=tg.int32))
    assert same.device.type == "cpu" and same.dtype is tg.int32
