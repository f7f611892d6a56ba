"""tritongrad.testing: assert_close (torch.testing.assert_close's rules and messages) and compare_devices (cpu
vs cuda report for a user function, outputs and input gradients)."""
import math

import numpy as np
import pytest

import tritongrad as tg
from tritongrad.autograd import Op
from tritongrad.testing import assert_close, compare_devices, default_tolerance


# ------------------------------------------------------------------------------------------ assert_close
def test_assert_close_passes_within_default_tolerance():
    assert_close(tg.tensor([1.0, 2.0]), tg.tensor([1.0 + 1e-6, 2.0]))
    assert_close(tg.tensor([1, 2]), tg.tensor([1, 2]))
    assert_close(1.0, 1.0 + 1e-9)
    assert_close([tg.tensor(1.0), {"a": tg.tensor([2.0])}], [tg.tensor(1.0), {"a": tg.tensor([2.0])}])
    assert_close(tg.tensor([float("nan")]), tg.tensor([float("nan")]), equal_nan=True)
    assert_close(tg.tensor([float("inf")]), tg.tensor([float("inf")]))
    assert_close(tg.tensor([1.0, 2.0], device="cuda"), tg.tensor([1.0, 2.0], device="cuda"))


def test_assert_close_reports_the_largest_differences():
    with pytest.raises(AssertionError) as info:
        assert_close(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), tg.tensor([[1.0, 2.5], [3.0, 4.01]]))
    msg = str(info.value)
    assert "Tensor-likes are not close!" in msg
    assert "Mismatched elements: 2 / 4 (50.0%)" in msg
    assert "Greatest absolute difference: 0.5 at index (0, 1) (up to 1e-05 allowed)" in msg
    assert "Greatest relative difference: 0.2 at index (0, 1) (up to 1.3e-06 allowed)" in msg


def test_assert_close_checks_attributes_and_tolerance_pairs():
    with pytest.raises(AssertionError, match=r"'shape' do not match: \(2,\) != \(3,\)"):
        assert_close(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match=r"'dtype' do not match: tritongrad.float32 != tritongrad.float64"):
        assert_close(tg.tensor([1.0]), tg.tensor([1.0], dtype=tg.float64))
    assert_close(tg.tensor([1.0]), tg.tensor([1.0], dtype=tg.float64), check_dtype=False)
    with pytest.raises(AssertionError, match=r"'device' do not match: cuda.* != cpu"):
        assert_close(tg.tensor([1.0], device="cuda"), tg.tensor([1.0]))
    with pytest.raises(AssertionError, match="not close"):
        assert_close(tg.tensor([float("nan")]), tg.tensor([float("nan")]))
    with pytest.raises(AssertionError, match="not close"):
        assert_close(tg.tensor([3]), tg.tensor([4]))
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        assert_close(tg.tensor([1.0]), tg.tensor([1.0]), rtol=1e-3)
    assert_close(tg.tensor([1.0]), tg.tensor([1.1]), rtol=0.0, atol=0.11)
    with pytest.raises(AssertionError, match="custom message"):
        assert_close(tg.tensor([1.0]), tg.tensor([2.0]), msg="custom message")


def test_default_tolerances():
    assert default_tolerance(tg.float32) == (1.3e-6, 1e-5)
    assert default_tolerance(tg.bfloat16) == (1.6e-2, 1e-5)
    assert default_tolerance(tg.int64) == (0.0, 0.0)
    assert default_tolerance(tg.float32, across_devices=True)[0] > 1.3e-6


# ------------------------------------------------------------------------------------------ compare_devices
def _mlp(x, w, b):
    return ((x @ w + b).relu().softmax(-1), (x * x).sum(0))


def test_compare_devices_passes_and_reports_outputs_and_grads():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((5, 4)), dtype=tg.float32, requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3)), dtype=tg.float32, requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), dtype=tg.float32)
    report = compare_devices(_mlp, x, w, b)
    assert report.passed and bool(report)
    assert [d.name for d in report.outputs] == ["output 0", "output 1"]
    assert [d.name for d in report.grads] == ["grad of input 0", "grad of input 1"]
    for d in report.outputs + report.grads:
        assert d.passed and 0.0 <= d.max_abs < 1e-4 and d.max_rel >= 0.0 and d.dtype == "float32"
    assert report.outputs[0].shape == (5, 3) and report.grads[1].shape == (4, 3)
    assert x.grad is None and w.grad is None          # the caller's tensors are copied, never touched
    text = str(report)
    assert "all within tolerance" in text and "grad of input 1" in text
    report.raise_if_failed()


def test_compare_devices_bf16_uses_its_own_tolerance():
    x = tg.tensor(np.linspace(-2, 2, 24).reshape(4, 6), dtype=tg.bfloat16, requires_grad=True)
    report = compare_devices(lambda t: (t.exp() * t).sum(-1), x)
    assert report.passed, str(report)
    assert report.outputs[0].dtype == "bfloat16" and report.outputs[0].rtol == default_tolerance(tg.bfloat16, True)[0]


class _DeviceDependent(Op):
    """Wrong on purpose: adds 1 on cuda only, and its cuda gradient is doubled."""

    def forward(self, x):
        return x if self.be.name == "numpy" else self.be.binary("add", x, 1.0)

    def backward(self, g):
        return g if self.be.name == "numpy" else self.be.binary("mul", g, 2.0)


def test_compare_devices_catches_a_device_mismatch():
    x = tg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    report = compare_devices(_DeviceDependent.apply, x)
    assert not report.passed
    out, grad = report.outputs[0], report.grads[0]
    assert not out.passed and out.max_abs == 1.0 and math.isclose(out.max_rel, 1.0) and out.mismatched == 3
    assert not grad.passed and grad.max_abs > 0
    assert "MISMATCH" in str(report)
    with pytest.raises(AssertionError, match="output 0"):
        report.raise_if_failed()
    loose = compare_devices(_DeviceDependent.apply, tg.tensor([1.0, 2.0, 4.0]), atol=1.5, rtol=0.0)
    assert loose.passed and loose.grads == []


def test_compare_devices_integer_outputs_compare_exactly():
    x = tg.tensor([[3.0, 1.0], [0.5, 2.0]])
    report = compare_devices(lambda t: (t.argmax(1), t > 1), x)
    assert report.passed and [d.dtype for d in report.outputs] == ["int64", "bool"]
    with pytest.raises(TypeError, match="Tensor"):
        compare_devices(lambda t: 3, x)
