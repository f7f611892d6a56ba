"""``tritongrad.nn.functional`` on cpu and cuda (interpreter here) against float64 NumPy references.

Forward values are compared with a NumPy formula written here. Gradients (under a random upstream gradient,
never ``.sum()``) are compared with the cpu float64 run of the same function, whose own gradients are checked
with finite differences (`gradcheck`). Low-precision dtypes see the same rounded inputs as the reference.
"""
import math

import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn.functional as F
from optable import assert_close

DEV_DT = [("cpu", "float32"), ("cpu", "float64"), ("cuda", "float32")]
LOW = [("cuda", "bfloat16"), ("cuda", "float16"), ("cpu", "bfloat16")]


# ------------------------------------------------------------------------------------------------ harness
def _round(a, dtype):
    return a.astype(tg.dtypes.as_dtype(dtype).np).astype(np.float64)


def _run(fn, arrays, diff, dtype, device, up):
    ts = []
    for i, a in enumerate(arrays):
        if a is None or not isinstance(a, np.ndarray):
            ts.append(a)
        elif a.dtype.kind in "iub":
            ts.append(tg.tensor(a, device=device))
        else:
            ts.append(tg.tensor(a, dtype=dtype, device=device, requires_grad=i in diff))
    out = fn(*ts)
    vals = out.detach().cpu().numpy().astype(np.float64) if out.dtype.is_floating_point else out.cpu().numpy()
    grads = []
    if diff:
        out.backward(tg.tensor(up(out.shape), dtype=out.dtype, device=device))
        grads = [None if ts[i].grad is None else ts[i].grad.cpu().numpy().astype(np.float64) for i in diff]
    return vals, grads


def check(fn, ref, arrays, diff, device, dtype, scale=1.0, seed=0):
    """``fn`` on (device, dtype) vs ``ref`` (NumPy float64 forward) and vs the cpu float64 gradients."""
    arrays = [_round(a, dtype) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in arrays]
    rng = np.random.default_rng(seed)
    cache = {}

    def up(shape):
        if shape not in cache:
            cache[shape] = _round(rng.standard_normal(tuple(shape)), dtype)
        return cache[shape]

    vals, grads = _run(fn, arrays, diff, dtype, device, up)
    assert_close(vals, ref(*arrays), dtype, f"forward on {device}/{dtype}", scale)
    if diff:
        _, ref_grads = _run(fn, arrays, diff, "float64", "cpu", up)
        for i, g, r in zip(diff, grads, ref_grads):
            assert g is not None, f"no gradient for input {i} on {device}/{dtype}"
            assert_close(g, r, dtype, f"grad of input {i} on {device}/{dtype}", scale * 2)
    return vals, grads


def gradcheck(fn, arrays, diff):
    ts = [tg.tensor(a, dtype=tg.float64, requires_grad=i in diff) if isinstance(a, np.ndarray) and a.dtype == np.float64
          else (tg.tensor(a) if isinstance(a, np.ndarray) else a) for i, a in enumerate(arrays)]
    assert tg.autograd.gradcheck(fn, ts, eps=1e-6, atol=1e-6, rtol=1e-4)


def rnd(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed + 17 * len(shape)).uniform(low, high, size=shape)


def erf(x):
    return np.vectorize(math.erf)(x)


def np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_softmax(x, axis=-1):
    return np.exp(np_log_softmax(x, axis))


ACTS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "gelu_tanh": lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3))),
    "silu": lambda z: z / (1 + np.exp(-z)),
}


# ------------------------------------------------------------------------------------------------ linear
@pytest.mark.parametrize("device,dtype", DEV_DT + LOW)
@pytest.mark.parametrize("xshape", [(5, 7), (2, 3, 7), (7,)])
def test_linear(device, dtype, xshape):
    x, w, b = rnd(*xshape), rnd(3, 7, seed=1), rnd(3, seed=2)
    check(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [x, w, b], [0, 1, 2], device, dtype,
          scale=2)


@pytest.mark.parametrize("device,dtype", [("cpu", "float32"), ("cuda", "float32"), ("cuda", "bfloat16")])
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh", "silu", None])
def test_linear_act(device, dtype, act):
    x, w, b = rnd(4, 2, 5), rnd(6, 5, seed=1), rnd(6, seed=2)
    check(lambda x, w, b: F._linear_act(x, w, b, act), lambda x, w, b: ACTS[act](x @ w.T + b), [x, w, b], [0, 1, 2],
          device, dtype, scale=2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_linear_no_bias_transposed_input(device):
    x = tg.tensor(rnd(6, 4), device=device).t().requires_grad_()     # (4, 6), non-contiguous
    w = tg.tensor(rnd(3, 6, seed=1), device=device, requires_grad=True)
    y = F.linear(x, w)
    assert_close(y.detach().cpu().numpy(), rnd(6, 4).T @ rnd(3, 6, seed=1).T, "float32", "linear(x.T)")
    up = rnd(4, 3, seed=5)
    y.backward(tg.tensor(up, device=device))
    assert_close(x.grad.cpu().numpy(), up @ rnd(3, 6, seed=1), "float32", "grad x")
    assert_close(w.grad.cpu().numpy(), up.T @ rnd(6, 4).T, "float32", "grad w")


def test_linear_gradcheck_and_errors():
    gradcheck(lambda x, w, b: F._linear_act(x, w, b, "gelu"), [rnd(2, 3), rnd(4, 3, seed=1), rnd(4, seed=2)],
              [0, 1, 2])
    x, w = tg.randn(3, 4), tg.randn(5, 6)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 6x5\)"):
        F.linear(x, w)
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got Float and Half"):
        F.linear(x, tg.randn(5, 4).half())


# ------------------------------------------------------------------------------------------------ activations
ACT_FNS = [
    ("relu", F.relu, ACTS["relu"]),
    ("gelu", F.gelu, ACTS["gelu"]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), ACTS["gelu_tanh"]),
    ("silu", F.silu, ACTS["silu"]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("tanh", F.tanh, np.tanh),
    ("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("softmax", lambda x: F.softmax(x, dim=1), lambda x: np_softmax(x, 1)),
    ("log_softmax", lambda x: F.log_softmax(x, -1), np_log_softmax),
    ("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x)),
    ("softplus", lambda x: F.softplus(x, beta=2.0, threshold=3.0),
     lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2)),
]


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("name,fn,ref", ACT_FNS, ids=[a[0] for a in ACT_FNS])
def test_activation(device, dtype, name, fn, ref):
    x = rnd(3, 5, low=-4, high=4)
    x[0, 0] = 0.0
    check(fn, ref, [x], [0], device, dtype)


def test_activation_gradcheck_and_inplace():
    for _, fn, _ in ACT_FNS:
        gradcheck(fn, [rnd(2, 3) + 0.05], [0])
    # logsigmoid at 0: gradient sigmoid(-0) = 0.5, not a subgradient of the abs/relu kinks
    x = tg.zeros(3, requires_grad=True)
    F.logsigmoid(x).backward(tg.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), 0.5)
    # inplace on a non-leaf: the result is in x and the gradient flows through both ops
    for device in ("cpu", "cuda"):
        a = tg.tensor([-1.0, 2.0, 3.0], device=device, requires_grad=True)
        h = a * 2
        out = F.relu(h, inplace=True)
        assert out is h
        (h * tg.tensor([1.0, 2.0, 3.0], device=device)).backward(tg.ones(3, device=device))
        np.testing.assert_allclose(a.grad.cpu().numpy(), [0.0, 4.0, 6.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(tg.ones(2, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(tg.ones(2), approximate="erf")


# ------------------------------------------------------------------------------------------------ norms
def np_layer_norm(x, w, b, k, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


@pytest.mark.parametrize("device,dtype", DEV_DT + LOW)
def test_layer_norm(device, dtype):
    x, w, b = rnd(3, 2, 7), rnd(2, 7, seed=1), rnd(2, 7, seed=2)
    check(lambda x, w, b: F.layer_norm(x, (2, 7), w, b), lambda x, w, b: np_layer_norm(x, w, b, 2), [x, w, b],
          [0, 1, 2], device, dtype, scale=2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_layer_norm_no_affine_and_errors(device):
    x = rnd(5, 1, 4)
    check(lambda x: F.layer_norm(x, 4, eps=1e-3), lambda x: np_layer_norm(x, None, None, 1, 1e-3), [x], [0], device,
          "float32")
    gradcheck(lambda x, w, b: F.layer_norm(x, (3,), w, b), [rnd(2, 3), rnd(3, seed=1), rnd(3, seed=2)], [0, 1, 2])
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[5\], expected input with shape \[\*, 5\], "
                                           r"but got input of size\[3, 4\]"):
        F.layer_norm(tg.randn(3, 4), [5])


def np_rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * (1 if w is None else w)


@pytest.mark.parametrize("device,dtype", DEV_DT + LOW)
def test_rms_norm(device, dtype):
    x, w = rnd(6, 5), rnd(5, seed=1)
    eps = None  # finfo(dtype).eps
    ref_eps = {"float32": 2.0 ** -23, "float64": 2.0 ** -52, "bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}[dtype]
    check(lambda x, w: F.rms_norm(x, (5,), w, eps), lambda x, w: np_rms_norm(x, w, ref_eps), [x, w], [0, 1], device,
          dtype, scale=2)


def test_rms_norm_gradcheck():
    gradcheck(lambda x, w: F.rms_norm(x, 3, w, 1e-4), [rnd(2, 3), rnd(3, seed=1)], [0, 1])
    gradcheck(lambda x: F.rms_norm(x, [2, 3], eps=1e-3), [rnd(2, 2, 3)], [0])


def np_batch_norm(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("device,dtype", DEV_DT + [("cuda", "bfloat16")])
@pytest.mark.parametrize("xshape", [(5, 3), (2, 3, 4), (2, 3, 2, 3)])
def test_batch_norm_training(device, dtype, xshape):
    x, w, b = rnd(*xshape), rnd(3, seed=1), rnd(3, seed=2)
    rm0, rv0 = rnd(3, seed=3), rnd(3, seed=4, low=0.5, high=2)
    stats = {}

    def fn(x, w, b):
        rm = tg.tensor(rm0, dtype=x.dtype, device=x.device)
        rv = tg.tensor(rv0, dtype=x.dtype, device=x.device)
        out = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        stats[(x.device.type, x.dtype.name)] = (rm.cpu().numpy().astype(np.float64), rv.cpu().numpy().astype(np.float64))
        return out

    check(fn, np_batch_norm, [x, w, b], [0, 1, 2], device, dtype, scale=2)
    xr = _round(x, dtype)
    axes = (0,) + tuple(range(2, x.ndim))
    rm, rv = stats[(device, dtype)]
    assert_close(rm, 0.7 * rm0 + 0.3 * xr.mean(axis=axes), dtype, "running_mean", 2)
    assert_close(rv, 0.7 * rv0 + 0.3 * xr.var(axis=axes, ddof=1), dtype, "running_var", 2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_batch_norm_eval_and_errors(device):
    x, w, b, rm, rv = rnd(4, 3, 2), rnd(3, seed=1), rnd(3, seed=2), rnd(3, seed=3), rnd(3, seed=4, low=0.5, high=2)
    shape = (1, 3, 1)

    def fn(x, w, b):
        return F.batch_norm(x, tg.tensor(rm, device=x.device, dtype=x.dtype), tg.tensor(rv, device=x.device,
                            dtype=x.dtype), w, b, training=False)

    ref = lambda x, w, b: (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + 1e-5) * w.reshape(shape) + \
        b.reshape(shape)  # noqa: E731
    check(fn, ref, [x, w, b], [0, 1, 2], device, "float32")
    gradcheck(fn, [x, w, b], [0, 1, 2])
    gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [rnd(3, 2), rnd(2), rnd(2)], [0, 1, 2])
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(tg.randn(1, 3, device=device), None, None, training=True)


# ------------------------------------------------------------------------------------------------ dropout
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_dropout(device):
    tg.manual_seed(3)
    x = tg.tensor(rnd(40, 7, low=0.5, high=2), dtype=tg.float32, device=device, requires_grad=True)
    y = F.dropout(x, p=0.3)
    xv, yv = x.detach().cpu().numpy(), y.detach().cpu().numpy()
    kept = yv != 0
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_allclose(yv[kept], xv[kept] / 0.7, rtol=1e-6)
    up = rnd(40, 7, seed=9)
    y.backward(tg.tensor(up, device=device))
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.where(kept, up / 0.7, 0.0), rtol=1e-6, atol=1e-7)
    # fresh masks on each call; the same generator state gives the same mask on cpu and cuda (Philox)
    assert (F.dropout(x, 0.3).detach().cpu().numpy() != 0).tolist() != kept.tolist()
    tg.manual_seed(3)
    other = "cpu" if device == "cuda" else "cuda"
    y2 = F.dropout(tg.tensor(xv, dtype=tg.float32, device=other), p=0.3)
    np.testing.assert_array_equal(y2.cpu().numpy() != 0, kept)
    # identity when not training or p == 0
    assert F.dropout(x, 0.3, training=False) is x and F.dropout(x, 0.0) is x
    assert (F.dropout(x, 1.0).detach().cpu().numpy() == 0).all()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)


# ------------------------------------------------------------------------------------------------ losses
def np_cross_entropy(x, t, w=None, ignore=-100, ls=0.0, reduction="mean"):
    c = x.shape[1]
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1).reshape(-1, c)
    shape = t.shape
    t = t.reshape(-1)
    logp = np_log_softmax(x, 1)
    w = np.ones(c) if w is None else w
    valid = t != ignore
    ts = np.where(valid, t, 0)
    nll = -w[ts] * logp[np.arange(len(t)), ts] * valid
    smooth = -(logp * w).sum(1) * valid
    rows = (1 - ls) * nll + ls / c * smooth
    if reduction == "none":
        return rows.reshape(shape)
    return rows.sum() if reduction == "sum" else rows.sum() / (w[ts] * valid).sum()


CE_CASES = [
    dict(xshape=(6, 5), kw={}),
    dict(xshape=(6, 5), kw=dict(reduction="sum", label_smoothing=0.2)),
    dict(xshape=(6, 5), kw=dict(reduction="none", ignore_index=2), weight=True),
    dict(xshape=(6, 5), kw=dict(label_smoothing=0.1, ignore_index=1), weight=True),
    dict(xshape=(2, 4, 3, 2), kw=dict(reduction="none")),
    dict(xshape=(2, 4, 3), kw=dict(ignore_index=0, label_smoothing=0.3), weight=True),
]


@pytest.mark.parametrize("device,dtype", DEV_DT + LOW)
@pytest.mark.parametrize("case", range(len(CE_CASES)))
def test_cross_entropy(device, dtype, case):
    c = CE_CASES[case]
    xshape = c["xshape"]
    x = rnd(*xshape, low=-3, high=3)
    tshape = (xshape[0],) + xshape[2:]
    t = np.random.default_rng(case).integers(0, xshape[1], size=tshape)
    w = rnd(xshape[1], seed=4, low=0.2, high=2) if c.get("weight") else None
    kw = c["kw"]

    def fn(x, t, w):
        return F.cross_entropy(x, t, w, **kw)

    check(fn, lambda x, t, w: np_cross_entropy(x, t, w, kw.get("ignore_index", -100), kw.get("label_smoothing", 0.0),
                                               kw.get("reduction", "mean")), [x, t, w], [0], device, dtype, scale=2)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x, t, w], [0])


@pytest.mark.parametrize("device,dtype", DEV_DT + [("cuda", "bfloat16")])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probabilities(device, dtype, reduction):
    x = rnd(2, 4, 3, low=-3, high=3)          # (N, C, d): classes moved last
    p = np_softmax(rnd(2, 4, 3, seed=5), 1)
    w = rnd(4, seed=6, low=0.5, high=1.5)

    def ref(x, p, w):
        lp = np_log_softmax(x, 1)
        tt = 0.8 * p + 0.2 / 4
        rows = -(w[None, :, None] * tt * lp).sum(1)
        return rows if reduction == "none" else rows.sum() if reduction == "sum" else rows.sum() / 6

    fn = lambda x, p, w: F.cross_entropy(x, p, w, reduction=reduction, label_smoothing=0.2)  # noqa: E731
    check(fn, ref, [x, p, w], [0, 1], device, dtype, scale=2)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x, p, w], [0, 1])


def test_cross_entropy_unbatched_and_errors():
    x = tg.tensor(rnd(5), requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor(3))
    np.testing.assert_allclose(loss.item(), -np_log_softmax(rnd(5))[3], rtol=1e-6)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(4\)"):
        F.cross_entropy(tg.randn(3, 5), tg.tensor([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match=r"weight tensor should be defined either for all 5 classes"):
        F.cross_entropy(tg.randn(3, 5), tg.tensor([0, 1, 2]), weight=tg.ones(4))
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        F.cross_entropy(tg.randn(3, 5), tg.tensor([0, 1, 2]), reduction="bogus")


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(device, dtype, reduction):
    x = np_log_softmax(rnd(2, 4, 3))
    t = np.array([[0, 3, 1], [2, 2, 0]])
    w = rnd(4, seed=3, low=0.5, high=2)

    def ref(x, t, w):
        xs = np.moveaxis(x, 1, -1).reshape(-1, 4)
        tf = t.reshape(-1)
        valid = tf != 2
        ts = np.where(valid, tf, 0)
        rows = -xs[np.arange(6), ts] * w[ts] * valid
        return rows.reshape(t.shape) if reduction == "none" else rows.sum() if reduction == "sum" else \
            rows.sum() / (w[ts] * valid).sum()

    fn = lambda x, t, w: F.nll_loss(x, t, w, ignore_index=2, reduction=reduction)  # noqa: E731
    check(fn, ref, [x, t, w], [0], device, dtype)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x, t, w], [0])


def np_reduce(v, reduction):
    return v if reduction == "none" else v.sum() if reduction == "sum" else v.mean()


POINTWISE_LOSSES = [
    ("mse", lambda a, b, r: F.mse_loss(a, b, reduction=r), lambda a, b: (a - b) ** 2),
    ("l1", lambda a, b, r: F.l1_loss(a, b, reduction=r), lambda a, b: np.abs(a - b)),
    ("smooth_l1", lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.7),
     lambda a, b: np.where(np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2 / 0.7, np.abs(a - b) - 0.35)),
    ("smooth_l1_beta0", lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.0), lambda a, b: np.abs(a - b)),
    ("huber", lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=0.7),
     lambda a, b: np.where(np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2, 0.7 * (np.abs(a - b) - 0.35))),
    ("kl_div", lambda a, b, r: F.kl_div(a, b, reduction=r),
     lambda a, b: np.where(b > 0, b * np.log(np.where(b > 0, b, 1)), 0) - b * a),
    ("kl_div_log_target", lambda a, b, r: F.kl_div(a, b, reduction=r, log_target=True),
     lambda a, b: np.exp(b) * (b - a)),
]


@pytest.mark.filterwarnings("ignore:reduction")
@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,fn,ref", POINTWISE_LOSSES, ids=[p[0] for p in POINTWISE_LOSSES])
def test_pointwise_losses(device, dtype, reduction, name, fn, ref):
    a, b = rnd(3, 4), rnd(3, 4, seed=1)
    if name == "kl_div":
        b = np.abs(b)
        b[0, 0] = 0.0
    check(lambda a, b: fn(a, b, reduction), lambda a, b: np_reduce(ref(a, b), reduction), [a, b], [0, 1], device, dtype)
    if device == "cpu" and dtype == "float64" and reduction == "none":
        gradcheck(lambda a, b: fn(a, b, reduction), [a, b + (0.5 if name == "kl_div" else 0.0)], [0, 1])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_kl_div_batchmean(device):
    a, b = np_log_softmax(rnd(3, 4)), np_softmax(rnd(3, 4, seed=1))
    check(lambda a, b: F.kl_div(a, b, reduction="batchmean"), lambda a, b: (b * (np.log(b) - a)).sum() / 3, [a, b],
          [0], device, "float32")


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(device, dtype, reduction):
    x, t, w = rnd(3, 4, low=0.05, high=0.95), rnd(3, 4, seed=1, low=0, high=1), rnd(3, 4, seed=2, low=0.5, high=2)
    fn = lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction=reduction)  # noqa: E731
    check(fn, lambda x, t, w: np_reduce(-w * (t * np.log(x) + (1 - t) * np.log(1 - x)), reduction), [x, t, w], [0, 1],
          device, dtype)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x, t, w], [0, 1])


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(device, dtype, reduction):
    x, t = rnd(3, 4, low=-30, high=30), rnd(3, 4, seed=1, low=0, high=1)
    x[0, :2] = 0.0
    w, pw = rnd(3, 4, seed=2, low=0.5, high=2), rnd(4, seed=3, low=0.5, high=3)

    def ref(x, t, w, pw):
        log_sig = -np.logaddexp(0, -x)
        return np_reduce(w * ((1 - t) * x - (1 + (pw - 1) * t) * log_sig), reduction)

    fn = lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw)  # noqa
    check(fn, ref, [x, t, w, pw], [0, 1, 3], device, dtype)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x / 10, t, w, pw], [0, 1, 3])


def test_loss_shape_errors():
    with pytest.raises(ValueError, match=r"Using a target size .* that is different to the input size"):
        F.binary_cross_entropy(tg.rand(3), tg.rand(4))
    with pytest.raises(ValueError, match=r"Target size .* must be the same as input size"):
        F.binary_cross_entropy_with_logits(tg.rand(3), tg.rand(2, 3))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(tg.rand(3, 1), tg.rand(3))


# ------------------------------------------------------------------------------------------------ embedding / one_hot / pad
@pytest.mark.parametrize("device,dtype", DEV_DT + [("cuda", "bfloat16")])
def test_embedding(device, dtype):
    w = rnd(7, 3)
    idx = np.array([[1, 0, 6], [6, 6, 2]])
    _, grads = check(lambda w, i: F.embedding(i, w, padding_idx=-1), lambda w, i: w[i], [w, idx], [0], device, dtype)
    assert (grads[0][6] == 0).all() and (grads[0][[3, 4, 5]] == 0).all() and (grads[0][1] != 0).all()
    if device == "cpu" and dtype == "float64":
        gradcheck(lambda w, i: F.embedding(i, w), [w, idx], [0])


def test_one_hot():
    t = tg.tensor([[0, 2], [1, 2]])
    np.testing.assert_array_equal(F.one_hot(t).numpy(), np.eye(3, dtype=np.int64)[t.numpy()])
    assert F.one_hot(t, 5).shape == (2, 2, 5) and F.one_hot(t).dtype is tg.int64
    got = F.one_hot(t.cuda(), 4).cpu().numpy()
    np.testing.assert_array_equal(got, np.eye(4, dtype=np.int64)[t.numpy()])
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(t, 2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("mode,padding", [("constant", (1, 2)), ("constant", (2, 0, 1, 1)), ("constant", (-1, 2)),
                                          ("reflect", (2, 1)), ("replicate", (1, 3, 2, 0)), ("circular", (2, 1))])
def test_pad(device, mode, padding):
    x = rnd(2, 3, 4)
    np_pad = [(0, 0)] * 3
    for i in range(len(padding) // 2):
        np_pad[2 - i] = padding[2 * i: 2 * i + 2]

    def ref(x):
        if mode != "constant":
            return np.pad(x, np_pad, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(np_pad, x.shape))
        return np.pad(x[crop], [(max(lo, 0), max(hi, 0)) for lo, hi in np_pad], constant_values=0.5)

    fn = (lambda x: F.pad(x, padding, mode)) if mode != "constant" else (lambda x: F.pad(x, padding, value=0.5))
    check(fn, ref, [x], [0], device, "float32")
    if device == "cpu":
        gradcheck(fn, [x], [0])


def test_pad_errors():
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(tg.ones(2, 2), (1,))
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(tg.ones(1, 2, 3), (3, 3), mode="reflect")


# ------------------------------------------------------------------------------------------------ conv / pooling
def np_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for oc in range(o):
        g = oc // (o // groups)
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out + (0 if b is None else b[None, :, None, None])


CONV_CASES = [
    dict(x=(2, 4, 5, 6), w=(4, 2, 3, 2), stride=(1, 2), padding=(1, 0), dilation=(1, 1), groups=2),
    dict(x=(1, 3, 7, 5), w=(4, 3, 2, 3), stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=1),
]


@pytest.mark.parametrize("device,dtype", DEV_DT + [("cuda", "float16")])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d(device, dtype, case):
    c = CONV_CASES[case]
    geom = {k: c[k] for k in ("stride", "padding", "dilation", "groups")}
    x, w, b = rnd(*c["x"]), rnd(*c["w"], seed=1), rnd(c["w"][0], seed=2)
    check(lambda x, w, b: F.conv2d(x, w, b, **geom), lambda x, w, b: np_conv2d(x, w, b, **geom), [x, w, b], [0, 1, 2],
          device, dtype, scale=2)
    if device == "cpu" and dtype == "float64" and case == 0:
        gradcheck(lambda x, w, b: F.conv2d(x, w, b, **geom), [rnd(1, 2, 3, 3), rnd(2, 1, 2, 2, seed=1),
                                                            rnd(2, seed=2)], [0, 1, 2])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_conv2d_same_padding_and_unbatched(device):
    x, w = rnd(2, 5, 4), rnd(3, 2, 2, 3, seed=1)       # even kernel height: asymmetric 'same' padding
    ref = np_conv2d(np.pad(x[None], ((0, 0), (0, 0), (0, 1), (1, 1))), w, None, (1, 1), (0, 0), (1, 1), 1)[0]
    check(lambda x, w: F.conv2d(x, w, padding="same"), lambda x, w: ref, [x, w], [0, 1], device, "float32")
    y = F.conv2d(tg.randn(1, 2, 5, 4, device=device), tg.tensor(w, device=device, dtype=tg.float32), padding="valid")
    assert y.shape == (1, 3, 4, 2)
    with pytest.raises(RuntimeError, match=r"Given groups=1, weight of size \[3, 2, 2, 3\], expected input\[1, 4, 5, "
                                           r"4\] to have 2 channels, but got 4 channels instead"):
        F.conv2d(tg.randn(1, 4, 5, 4), tg.tensor(w, dtype=tg.float32))


def np_pool(x, k, s, p, fn, fill, d=(1, 1)):
    xp = np.pad(x, ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2), constant_values=fill)
    oh = (x.shape[2] + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (x.shape[3] + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]:i * s[0] + d[0] * (k[0] - 1) + 1:d[0], j * s[1]:j * s[1] + d[1] * (k[1] - 1) + 1:d[1]]
            out[:, :, i, j] = fn(win)
    return out


@pytest.mark.parametrize("device,dtype", DEV_DT)
def test_max_pool2d(device, dtype):
    x = rnd(2, 3, 6, 5)
    fn = lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2))  # noqa: E731
    check(fn, lambda x: np_pool(x, (3, 2), (2, 1), (1, 1), lambda w: w.max(axis=(2, 3)), -np.inf, (1, 2)), [x], [0],
          device, dtype)
    out, idx = F.max_pool2d(tg.tensor(x, dtype=tg.float32, device=device), 2, return_indices=True)
    flat = x.astype(np.float32).reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.cpu().numpy().reshape(2, 3, -1), 2).reshape(out.shape),
                                  out.cpu().numpy().astype(np.float64))
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x], [0])


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(device, dtype, count_include_pad):
    x = rnd(2, 2, 5, 6)
    fn = lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=count_include_pad)  # noqa: E731
    ones = np.ones((1, 1, 5, 6))
    denom = np_pool(ones, (3, 3), (2, 2), (1, 1), lambda w: w.sum(axis=(2, 3)), 0.0) if not count_include_pad else 9.0
    check(fn, lambda x: np_pool(x, (3, 3), (2, 2), (1, 1), lambda w: w.sum(axis=(2, 3)), 0.0) / denom, [x], [0], device,
          dtype)
    if device == "cpu" and dtype == "float64":
        gradcheck(fn, [x], [0])


@pytest.mark.parametrize("device,dtype", DEV_DT)
@pytest.mark.parametrize("out_size", [(3, 2), 1, (None, 4)])
def test_adaptive_avg_pool2d(device, dtype, out_size):
    x = rnd(2, 3, 5, 7)
    osz = (out_size, out_size) if isinstance(out_size, int) else tuple(n if o is None else o for o, n in zip(out_size, (5, 7)))

    def ref(x):
        out = np.zeros(x.shape[:2] + osz)
        for i in range(osz[0]):
            for j in range(osz[1]):
                h0, h1 = (i * 5) // osz[0], -(-((i + 1) * 5) // osz[0])
                w0, w1 = (j * 7) // osz[1], -(-((j + 1) * 7) // osz[1])
                out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        return out

    check(lambda x: F.adaptive_avg_pool2d(x, out_size), ref, [x], [0], device, dtype)
    if device == "cpu" and dtype == "float64":
        gradcheck(lambda x: F.adaptive_avg_pool2d(x, out_size), [x], [0])


# ------------------------------------------------------------------------------------------------ attention
def np_sdpa(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    if gqa:   # PyTorch's enable_gqa: key/value heads repeat_interleave'd to the query's heads
        k, v = (np.repeat(t, q.shape[-3] // t.shape[-3], axis=-3) for t in (k, v))
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    return np_softmax(s) @ v


SDPA_CASES = [
    dict(q=(2, 2, 5, 4), k=(2, 2, 7, 4), causal=False, mask=None),
    dict(q=(1, 2, 6, 8), k=(1, 2, 6, 8), causal=True, mask=None),
    dict(q=(2, 1, 3, 4), k=(2, 1, 5, 4), causal=False, mask="bool"),
    dict(q=(2, 3, 4), k=(2, 6, 4), causal=False, mask="float", scale=0.3),
    dict(q=(1, 4, 5, 4), k=(1, 2, 6, 4), causal=True, mask=None, gqa=True),
    dict(q=(2, 5, 4), k=(1, 6, 4), causal=False, mask="float", gqa=True),
]


@pytest.mark.parametrize("device,dtype", DEV_DT + [("cuda", "float16"), ("cuda", "bfloat16")])
@pytest.mark.parametrize("case", range(len(SDPA_CASES)))
def test_sdpa(device, dtype, case):
    c = SDPA_CASES[case]
    q, k, v = rnd(*c["q"]), rnd(*c["k"], seed=1), rnd(*c["k"], seed=2)
    lq, lk = c["q"][-2], c["k"][-2]
    mask = None
    if c["mask"] == "bool":
        mask = np.random.default_rng(4).uniform(size=(lq, lk)) > 0.3
        mask[:, 0] = True
    elif c["mask"] == "float":
        mask = rnd(2, lq, lk, seed=5)
    diff = [0, 1, 2] + ([3] if c["mask"] == "float" else [])
    scale = c.get("scale")

    gqa = c.get("gqa", False)

    def fn(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=c["causal"], scale=scale, enable_gqa=gqa)

    check(fn, lambda q, k, v, m: np_sdpa(q, k, v, m, c["causal"], scale, gqa), [q, k, v, mask], diff, device, dtype,
          scale=2)
    if device == "cpu" and dtype == "float64" and case in (1, 3, 5):
        gradcheck(fn, [q[..., :3, :], k[..., :4, :], v[..., :4, :], None if mask is None else mask[..., :3, :4]], diff)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_sdpa_dropout(device):
    q, k, v = (tg.tensor(rnd(1, 2, 4, 3, seed=s), dtype=tg.float32, device=device, requires_grad=True)
               for s in range(3))
    tg.manual_seed(1)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    # reproduce: the dropout on the attention weights draws from the same generator position
    tg.manual_seed(1)
    w = F.dropout((q @ k.transpose(-2, -1) / math.sqrt(3)).softmax(-1), 0.5)
    assert_close(out.detach().cpu().numpy(), (w @ v).detach().cpu().numpy(), "float32", "sdpa dropout")
    out.backward(tg.tensor(rnd(1, 2, 4, 3, seed=7), device=device))
    assert q.grad is not None and k.grad is not None and v.grad is not None
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=tg.ones(4, 4, device=device), is_causal=True)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_sdpa_gqa_dropout_and_errors(device):
    # with dropout the weights come from plain ops on repeated key/value heads, drawing as the kernel-less path
    q = tg.tensor(rnd(1, 4, 3, 2, seed=0), dtype=tg.float32, device=device, requires_grad=True)
    k, v = (tg.tensor(rnd(1, 2, 5, 2, seed=s), dtype=tg.float32, device=device, requires_grad=True) for s in (1, 2))
    tg.manual_seed(3)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, enable_gqa=True)
    kr, vr = (tg.tensor(np.repeat(t.detach().cpu().numpy(), 2, axis=1), device=device) for t in (k, v))
    tg.manual_seed(3)
    w = F.dropout((q @ kr.transpose(-2, -1) / math.sqrt(2)).softmax(-1), 0.5)
    assert_close(out.detach().cpu().numpy(), (w @ vr).detach().cpu().numpy(), "float32", "gqa dropout")
    out.backward(tg.ones_like(out))
    assert tuple(k.grad.shape) == (1, 2, 5, 2) and tuple(v.grad.shape) == (1, 2, 5, 2)
    k3 = tg.tensor(rnd(1, 3, 5, 2, seed=4), dtype=tg.float32, device=device)
    with pytest.raises(RuntimeError, match="must be equal and divide the query heads"):
        F.scaled_dot_product_attention(q, k3, k3, enable_gqa=True)
    with pytest.raises(RuntimeError):   # without enable_gqa the heads must match (or broadcast), as in PyTorch
        F.scaled_dot_product_attention(q, k, v)
