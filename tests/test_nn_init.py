"""``nn.init`` (distributions, gains, fans, errors) and ``nn.utils`` (clip_grad_norm_ through the multi-tensor
kernels on cuda and the reference on cpu, clip_grad_value_, parameters_to_vector, vector_to_parameters)."""
import math

import numpy as np
import pytest

import tritongrad as tg
from tritongrad import nn
from tritongrad.nn import init
from optable import assert_close


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def test_calculate_gain_and_fans():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5 / 3 and init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04) and init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
    assert init._calculate_fan_in_and_fan_out(tg.empty(5, 3, 2, 4)) == (24, 40)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2"):
        init.xavier_uniform_(tg.empty(3))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(tg.empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_init_distributions(device):
    tg.manual_seed(0)
    t = tg.empty(100, 60, device=device)
    n = t.numel()
    tol = 4 / math.sqrt(n)           # ~4 standard errors of a mean of n unit-variance values

    def moments(a):
        return a.mean(), a.std()

    assert init.uniform_(t, -2, 3) is t
    a = _np(t)
    assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 5 * tol
    init.normal_(t, 1.0, 2.0)
    m, s = moments(_np(t))
    assert abs(m - 1) < 2 * tol * 2 and abs(s - 2) < 0.05
    init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 160)
    a = _np(t)
    assert np.abs(a).max() <= bound and abs(a.std() - bound / math.sqrt(3)) < 0.02 * bound
    init.xavier_normal_(t)
    assert abs(_np(t).std() - math.sqrt(2 / 160)) < 0.03 * math.sqrt(2 / 160)
    init.kaiming_uniform_(t, a=math.sqrt(5))
    assert np.abs(_np(t)).max() <= 1 / math.sqrt(60)
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(_np(t).std() - math.sqrt(2 / 100)) < 0.03 * math.sqrt(2 / 100)
    init.trunc_normal_(t, mean=0.5, std=1.0, a=-0.5, b=1.0)
    a = _np(t)
    assert a.min() >= -0.5 and a.max() <= 1.0
    # the truncated normal's mean: mu + sigma (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2            # noqa: E731
    want = 0.5 + (phi(-1.0) - phi(0.5)) / (Phi(0.5) - Phi(-1.0))
    assert abs(a.mean() - want) < 0.02
    assert init.constant_(t, 0.25) is t and (_np(t) == 0.25).all()
    assert (_np(init.ones_(t)) == 1).all() and (_np(init.zeros_(t)) == 0).all()
    assert (_np(init.eye_(tg.empty(3, 4, device=device))) == np.eye(3, 4)).all()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 7), (4, 2, 3)])
def test_orthogonal(device, shape):
    t = init.orthogonal_(tg.empty(*shape, device=device), gain=2.0)
    q = _np(t).reshape(shape[0], -1)
    gram = q @ q.T if shape[0] <= q.shape[1] else q.T @ q
    np.testing.assert_allclose(gram, 4 * np.eye(min(q.shape)), atol=1e-5)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(tg.empty(3))


def test_init_runs_without_recording_and_on_zero_size():
    p = nn.Parameter(tg.empty(3, 4))
    init.uniform_(p)
    init.trunc_normal_(p)
    assert p.grad_fn is None and p.requires_grad
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(tg.empty(0, 3))


def _grads(device, dtypes=("float32",), seed=0):
    """Parameters with gradients of awkward sizes (several kernel blocks and partial ones, a 0-d one)."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 130), (1,), (), (257,), (7, 5)]
    params = []
    for i, s in enumerate(shapes):
        dt = tg.dtypes.as_dtype(dtypes[i % len(dtypes)])
        p = nn.Parameter(tg.zeros(s, dtype=dt, device=device))
        p.grad = tg.tensor(rng.standard_normal(s) * (i + 1), dtype=dt, device=device)
        params.append(p)
    params.append(nn.Parameter(tg.zeros(2, device=device)))       # no gradient: skipped
    return params


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm(device, norm_type, max_norm):
    params = _grads(device)
    gs = [_np(p.grad) for p in params if p.grad is not None]
    flat = np.concatenate([g.ravel() for g in gs])
    want = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    total = nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert total.device.type == device and total.shape == () and total.dtype is tg.float32
    assert_close(total.item(), want, "float32", "total norm")
    coef = min(max_norm / (want + 1e-6), 1.0)
    for p, g in zip(params, gs):
        assert_close(_np(p.grad), g * coef, "float32", "clipped gradient")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_clip_grad_norm_mixed_dtypes_and_errors(device):
    params = _grads(device, dtypes=("float32", "bfloat16", "float16"))
    gs = [_np(p.grad) for p in params if p.grad is not None]
    want = math.sqrt(sum((g ** 2).sum() for g in gs))
    total = nn.utils.clip_grad_norm_(params, 1.0)
    assert_close(total.item(), want, "float32", "total norm over three dtypes")
    for p, g in zip(params, gs):
        assert_close(_np(p.grad), g / (want + 1e-6), p.dtype.name, f"clipped {p.dtype}")
    assert nn.utils.clip_grad_norm_([nn.Parameter(tg.ones(2, device=device))], 1.0).item() == 0.0
    p = nn.Parameter(tg.zeros(2, device=device))
    p.grad = tg.tensor([float("inf"), 1.0], device=device)
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_kernel_is_one_launch_per_dtype(monkeypatch):
    from tritongrad.kernels import clip
    calls = []
    real = clip.grad_norm_partials
    monkeypatch.setattr(clip, "grad_norm_partials", lambda grads, p, block=None: calls.append(len(grads)) or
                        real(grads, p, block))
    nn.utils.clip_grad_norm_(_grads("cuda"), 1.0)
    assert calls == [5]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_clip_grad_value_and_vector_conversion(device):
    params = _grads(device)
    gs = [_np(p.grad) for p in params if p.grad is not None]
    nn.utils.clip_grad_value_(params, 0.8)
    for p, g in zip(params, gs):
        np.testing.assert_allclose(_np(p.grad), np.clip(g, -0.8, 0.8), rtol=1e-6)
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).to(device)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (11,) and vec.device.type == device
    np.testing.assert_allclose(_np(vec), np.concatenate([_np(p).ravel() for p in m.parameters()]))
    new = tg.arange(11, dtype=tg.float32, device=device)
    nn.utils.vector_to_parameters(new, m.parameters())
    np.testing.assert_array_equal(_np(m[0].weight), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(_np(m[1].bias), [10.0])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], m.parameters())
