"""Op-level checks for the names that ported PyTorch programs needed (see tests/test_user_programs.py): the
activations and 1-D pools, channel dropout's mask shapes, the unary composites, movedim and tile; forward and
gradient against NumPy, on cpu and through the cuda kernels (Triton's interpreter on a CPU-only machine)."""
import math
import warnings

import numpy as np
import pytest

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from _user_helpers import _log_softmax, _np, _sigmoid


def test_dropout2d_mask_shapes_follow_pytorch():
    """F.dropout2d: a 2-D input drops single entries, a 3-D input is (N, C, L) (one draw per row), a 4-D
    input whole (H, W) planes; F.dropout3d batches a 4-D input."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = _np(F.dropout2d(torch.ones(64, 32), 0.5))
        three = _np(F.dropout2d(torch.ones(16, 8, 5), 0.5))
        four = _np(F.dropout3d(torch.ones(6, 4, 3, 2), 0.5))
    assert set(np.unique(two)) == {0.0, 2.0} and 0.3 < (two == 0).mean() < 0.7
    assert not (two.min(1) == two.max(1)).all()                   # not whole rows: entries
    assert (three.min(-1) == three.max(-1)).all() and 0.2 < (three[..., 0] == 0).mean() < 0.8
    assert (four.reshape(6, -1).min(1) == four.reshape(6, -1).max(1)).all()
    with pytest.raises(RuntimeError, match="Expected 3D or 4D input"):
        F.dropout2d(torch.ones(3), 0.5)

def test_unary_composites_against_numpy():
    """log10/log2/exp2/sinh/cosh/tan and isfinite/isposinf/isneginf (names programs use that tritongrad
    lacked), forward against NumPy and backward against the analytic derivatives, as methods and functions."""
    xn = np.array([1e-6, 0.3, 1.5, 7.0])
    x = torch.tensor(xn, dtype=torch.float64, requires_grad=True)
    cases = {"log10": (np.log10, 1 / (xn * np.log(10))), "log2": (np.log2, 1 / (xn * np.log(2))),
             "exp2": (np.exp2, np.exp2(xn) * np.log(2)), "sinh": (np.sinh, np.cosh(xn)),
             "cosh": (np.cosh, np.sinh(xn)), "tan": (np.tan, 1 / np.cos(xn) ** 2)}
    for name, (ref, dref) in cases.items():
        y = getattr(torch, name)(x)
        np.testing.assert_allclose(_np(y), ref(xn), rtol=1e-14, err_msg=name)
        (g,) = torch.autograd.grad(getattr(x, name)().sum(), x)
        np.testing.assert_allclose(_np(g), dref, rtol=1e-12, err_msg=name)
    assert torch.log10(torch.tensor([10, 1000])).dtype == torch.float32
    v = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert torch.isfinite(v).tolist() == [True, False, False, False]
    assert v.isposinf().tolist() == [False, False, True, False] and v.isneginf().tolist() == [False, False, False, True]
    assert torch.isfinite(torch.tensor([3, 4])).tolist() == [True, True]
    with pytest.raises(TypeError, match="must be Tensor"):
        torch.log10(3.0)

ACTIVATIONS = {  # name: (functional call, NumPy reference, NumPy derivative)
    "elu": (lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
            lambda x: np.where(x > 0, 1, 0.7 * np.exp(x))),
    "selu": (F.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
             lambda x: 1.0507009873554805 * np.where(x > 0, 1, 1.6732632423543772 * np.exp(x))),
    "celu": (lambda x: F.celu(x, 2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(x / 2.0)),
             lambda x: np.where(x > 0, 1, np.exp(x / 2.0))),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
    "hardtanh": (lambda x: F.hardtanh(x, -2.0, 1.5), lambda x: np.clip(x, -2, 1.5),
                 lambda x: ((x > -2) & (x < 1.5)) * 1.0),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, lambda x: ((x > -3) & (x < 3)) / 6.0),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / 6))),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))),
             lambda x: np.tanh(np.log1p(np.exp(x))) + x * _sigmoid(x) / np.cosh(np.log1p(np.exp(x))) ** 2),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "softshrink": (lambda x: F.softshrink(x, 0.4), lambda x: np.where(x > 0.4, x - 0.4, np.where(x < -0.4, x + 0.4, 0)),
                   lambda x: (np.abs(x) > 0.4) * 1.0),
    "hardshrink": (lambda x: F.hardshrink(x, 0.4), lambda x: np.where(np.abs(x) > 0.4, x, 0),
                   lambda x: (np.abs(x) > 0.4) * 1.0),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2),
    "threshold": (lambda x: F.threshold(x, 0.5, -3.0), lambda x: np.where(x > 0.5, x, -3.0),
                  lambda x: (x > 0.5) * 1.0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_against_numpy(name):
    """The activations PyTorch programs use that tritongrad lacked (F.elu in pytorch/examples gat; ReLU6 and
    Hardswish in MobileNets, Mish, SELU, ...): forward and gradient in float64 against NumPy, away from kinks."""
    fn, ref, dref = ACTIVATIONS[name]
    xn = np.array([-6.5, -3.7, -2.5, -1.2, -0.45, -0.1, 0.05, 0.35, 0.8, 1.3, 2.6, 3.4, 7.0])
    x = torch.tensor(xn, dtype=torch.float64, requires_grad=True)
    y = fn(x)
    np.testing.assert_allclose(_np(y), ref(xn), rtol=1e-12, atol=1e-14)
    (g,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(_np(g), dref(xn), rtol=1e-10, atol=1e-14)


def test_activation_modules_glu_prelu_softmin_pool1d():
    """The modules over them (reprs as PyTorch's), in-place forms, GLU, PReLU (a learnable slope per channel),
    Softmin and the 1-D pools (text CNNs' F.max_pool1d) against NumPy."""
    assert repr(nn.ELU(alpha=0.5, inplace=True)) == "ELU(alpha=0.5, inplace=True)"
    assert repr(nn.ReLU6()) == "ReLU6()" and repr(nn.Hardtanh(-2, 2)) == "Hardtanh(min_val=-2, max_val=2)"
    assert repr(nn.PReLU(3)) == "PReLU(num_parameters=3)" and repr(nn.Softshrink(0.3)) == "Softshrink(0.3)"
    y = torch.tensor([-1.0, 2.0])
    assert F.elu_(y) is y and y.tolist() == pytest.approx([math.expm1(-1.0), 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu6(torch.tensor([1.0], requires_grad=True), inplace=True)
    xn = np.random.default_rng(0).standard_normal((2, 6, 5))
    x = torch.tensor(xn, dtype=torch.float64)
    np.testing.assert_allclose(_np(nn.GLU(dim=1)(x)), xn[:, :3] * _sigmoid(xn[:, 3:]), rtol=1e-12)
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(x, dim=2)
    prelu = nn.PReLU(6, init=0.1).double()
    with torch.no_grad():
        prelu.weight[2] = 0.5
    slope = np.full(6, np.float32(0.1), dtype=np.float64)       # init in float32, then .double()
    slope[2] = 0.5
    np.testing.assert_allclose(_np(prelu(x)), np.where(xn >= 0, xn, slope[None, :, None] * xn), rtol=1e-12)
    with pytest.raises(RuntimeError, match="channel size"):
        F.prelu(x, torch.ones(4, dtype=torch.float64))
    np.testing.assert_allclose(_np(nn.Softmin(dim=-1)(x)), np.exp(_log_softmax(-xn)), rtol=1e-12)
    mp = _np(nn.MaxPool1d(2, stride=1)(x))
    np.testing.assert_allclose(mp, np.maximum(xn[..., :-1], xn[..., 1:]))
    ap = _np(F.avg_pool1d(x, 2))
    np.testing.assert_allclose(ap, (xn[..., 0:4:2] + xn[..., 1:4:2]) / 2, rtol=1e-12)
    vals, idx = F.max_pool1d(x, 5, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[..., 0], xn.argmax(-1))

def test_activations_on_cuda_against_numpy():
    """The same composites through the Triton kernels (cuda; Triton's interpreter on a CPU-only machine), all
    in one float32 graph: each forward against NumPy, and the summed gradient against the NumPy derivatives."""
    xn = np.array([-3.7, -1.2, -0.45, 0.35, 1.3, 3.4], dtype=np.float32)
    x = torch.tensor(xn, device="cuda", requires_grad=True)
    names = sorted(ACTIVATIONS)
    ys = [ACTIVATIONS[n][0](x) for n in names]
    for n, y in zip(names, ys):
        assert y.device.type == "cuda"
        np.testing.assert_allclose(_np(y), ACTIVATIONS[n][1](xn.astype(np.float64)), rtol=2e-5, atol=1e-6, err_msg=n)
    (g,) = torch.autograd.grad(torch.stack(ys).sum(), x)
    ref = sum(ACTIVATIONS[n][2](xn.astype(np.float64)) for n in names)
    np.testing.assert_allclose(_np(g), ref, rtol=2e-5, atol=1e-5)

def test_movedim_and_tile_against_numpy():
    """``movedim``/``moveaxis`` and ``tile`` (missing names user code reaches for instead of einops/np):
    against np.moveaxis and np.tile, gradients through the permute and repeat underneath."""
    xn = np.arange(24.0).reshape(2, 3, 4)
    x = torch.tensor(xn, requires_grad=True)
    for src, dst in ((0, -1), ((0, 1), (2, 0)), (-1, 0), ((2,), (1,))):
        np.testing.assert_array_equal(_np(torch.movedim(x, src, dst)), np.moveaxis(xn, src, dst))
    np.testing.assert_array_equal(_np(x.moveaxis(2, 0)), np.moveaxis(xn, 2, 0))
    with pytest.raises(RuntimeError, match="repeated dim"):
        x.movedim((0, 0), (1, 2))
    with pytest.raises(RuntimeError, match="same number of dims"):
        x.movedim((0, 1), (1,))
    for reps in ((2,), (2, 1, 1, 1), (1, 2, 3)):
        np.testing.assert_array_equal(_np(x.tile(reps)), np.tile(xn, reps))
    (g,) = torch.autograd.grad(torch.tile(x, (2, 1, 3)).sum(), x)
    np.testing.assert_array_equal(_np(g), np.full(xn.shape, 6.0))
