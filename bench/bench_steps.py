"""Two small training steps on the cpu, each in tritongrad, in PyTorch CPU and in raw NumPy with the backward
and the optimizer written out by hand:

* ``mlp``: an MLP 64-256-256-10 (ReLU), batch 128, cross-entropy, Adam (lr 1e-3);
* ``cnn``: ``conv 3x3 (1->16) -> ReLU -> conv 3x3 (16->32) -> ReLU -> max-pool 2 -> linear (512->10)`` on
  8x8 single-channel images (the shape of scikit-learn's digits), padding 1, batch 64, cross-entropy, Adam.

A step is ``zero_grad``, forward, backward, ``optimizer.step()``. `loss_fn` is written once with PyTorch's
functional API and runs unchanged on tritongrad and on torch; the NumPy steps are the same computation in
float32, the fastest a Python framework on NumPy could be (the CNN as im2col + matmul). Inputs are seeded
random draws of the right shapes (timing does not depend on the values). `check_agrees` compares the losses
and parameters after two steps of each implementation before anything is timed.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8

# name -> (batch, input shape)
PROBLEMS = {"mlp": (128, (64,)), "cnn": (64, (1, 8, 8))}
MLP_DIMS = (64, 256, 256, 10)
CNN_CHANNELS = (1, 16, 32)
CLASSES = 10


def _init(rng, shape, fan_in):
    return (rng.uniform(-1.0, 1.0, shape) / np.sqrt(fan_in)).astype(np.float32)


def initial(name, seed=0):
    """``(x, labels, params)``: float32 inputs, int64 labels and the parameters in PyTorch's layouts
    (linear weights (out, in), conv weights (Cout, Cin, kh, kw))."""
    batch, shape = PROBLEMS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    labels = rng.integers(0, CLASSES, batch).astype(np.int64)
    params = []
    if name == "mlp":
        for fan_in, fan_out in zip(MLP_DIMS[:-1], MLP_DIMS[1:]):
            params += [_init(rng, (fan_out, fan_in), fan_in), _init(rng, (fan_out,), fan_in)]
    else:
        for cin, cout in zip(CNN_CHANNELS[:-1], CNN_CHANNELS[1:]):
            params += [_init(rng, (cout, cin, 3, 3), cin * 9), _init(rng, (cout,), cin * 9)]
        flat = CNN_CHANNELS[-1] * 4 * 4
        params += [_init(rng, (CLASSES, flat), flat), _init(rng, (CLASSES,), flat)]
    return x, labels, params


# ------------------------------------------------------------------------------------ tritongrad and torch
def loss_fn(F, name, x, y, params):
    """The forward pass and mean cross-entropy with PyTorch's functional API (``F`` is tritongrad's or
    torch's ``nn.functional``)."""
    if name == "mlp":
        w1, b1, w2, b2, w3, b3 = params
        h = F.relu(F.linear(x, w1, b1))
        h = F.relu(F.linear(h, w2, b2))
        return F.cross_entropy(F.linear(h, w3, b3), y)
    w1, b1, w2, b2, w3, b3 = params
    h = F.relu(F.conv2d(x, w1, b1, padding=1))
    h = F.relu(F.conv2d(h, w2, b2, padding=1))
    h = F.max_pool2d(h, 2)
    return F.cross_entropy(F.linear(h.flatten(1), w3, b3), y)


def framework_problem(lib, name, seed=0):
    """``step()`` for ``lib`` (the module ``tritongrad`` or ``torch``): Adam on fresh copies of the initial
    parameters; ``step`` returns the loss tensor. ``step.params`` are the parameter tensors."""
    x, labels, params = initial(name, seed)
    xt, yt = lib.from_numpy(x), lib.from_numpy(labels)
    tensors = [lib.tensor(p.copy(), requires_grad=True) for p in params]
    optimizer = lib.optim.Adam(tensors, lr=LR, betas=BETAS, eps=EPS)
    F = lib.nn.functional

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(F, name, xt, yt, tensors)
        loss.backward()
        optimizer.step()
        return loss
    step.params = tensors
    return step


# ------------------------------------------------------------------------------------ raw NumPy
class NumpyAdam:
    """Adam on float32 NumPy arrays, updated in place (PyTorch's formula and order of operations)."""

    def __init__(self, params):
        self.params = params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = BETAS
        step_size = LR / (1 - b1 ** self.t)
        bc2_sqrt = np.sqrt(1 - b2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - b1) * (g - m)
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= bc2_sqrt
            denom += EPS
            p -= step_size * (m / denom)


def _softmax_xent(logits, labels):
    """``(loss, dlogits)`` of the mean cross-entropy."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = np.log(total[:, 0]).mean() - z[rows, labels].mean()
    d = e / total
    d[rows, labels] -= 1.0
    d /= len(labels)
    return np.float32(loss), d


def _mlp_grads(x, labels, params):
    w1, b1, w2, b2, w3, b3 = params
    a1 = x @ w1.T + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ w2.T + b2
    h2 = np.maximum(a2, 0)
    loss, dz = _softmax_xent(h2 @ w3.T + b3, labels)
    da2 = (dz @ w3) * (a2 > 0)
    da1 = (da2 @ w2) * (a1 > 0)
    return loss, [da1.T @ x, da1.sum(0), da2.T @ h1, da2.sum(0), dz.T @ h2, dz.sum(0)]


def _columns(h):
    """im2col for a 3x3 convolution with padding 1 of ``h`` (C, N, H, W): (C * 9, N * H * W)."""
    c, n, height, width = h.shape
    hp = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((c, 3, 3, n, height, width), np.float32)
    for i in range(3):
        for j in range(3):
            cols[:, i, j] = hp[:, :, i:i + height, j:j + width]
    return cols.reshape(c * 9, -1)


def _columns_adjoint(dcols, shape):
    """The transpose of `_columns`: (C * 9, N * H * W) back to the gradient of ``h`` (C, N, H, W)."""
    c, n, height, width = shape
    d = dcols.reshape(c, 3, 3, n, height, width)
    dhp = np.zeros((c, n, height + 2, width + 2), np.float32)
    for i in range(3):
        for j in range(3):
            dhp[:, :, i:i + height, j:j + width] += d[:, i, j]
    return dhp[:, :, 1:-1, 1:-1]


def _cnn_grads(x, labels, params):
    """Channel-major (C, N, H, W) activations throughout, so each conv is one matmul on im2col columns."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    x_c = x.transpose(1, 0, 2, 3)
    cols1 = _columns(x_c)
    a1 = (w1.reshape(len(b1), -1) @ cols1 + b1[:, None]).reshape(len(b1), n, 8, 8)
    h1 = np.maximum(a1, 0)
    cols2 = _columns(h1)
    a2 = (w2.reshape(len(b2), -1) @ cols2 + b2[:, None]).reshape(len(b2), n, 8, 8)
    h2 = np.maximum(a2, 0)
    windows = h2.reshape(len(b2), n, 4, 2, 4, 2)
    pooled = windows.max(axis=(3, 5))
    flat = pooled.transpose(1, 0, 2, 3).reshape(n, -1)
    loss, dz = _softmax_xent(flat @ w3.T + b3, labels)
    dpooled = (dz @ w3).reshape(n, len(b2), 4, 4).transpose(1, 0, 2, 3)
    # the window maximum takes the gradient (ties occur only between ReLU zeros, whose gradient is 0 anyway)
    dh2 = ((windows == pooled[:, :, :, None, :, None]) * dpooled[:, :, :, None, :, None]).reshape(h2.shape)
    da2 = (dh2 * (a2 > 0)).reshape(len(b2), -1)
    dh1 = _columns_adjoint(w2.reshape(len(b2), -1).T @ da2, h1.shape)
    da1 = (dh1 * (a1 > 0)).reshape(len(b1), -1)
    return loss, [(da1 @ cols1.T).reshape(w1.shape), da1.sum(1), (da2 @ cols2.T).reshape(w2.shape), da2.sum(1),
                  dz.T @ flat, dz.sum(0)]


def numpy_problem(name, seed=0):
    """``step()`` in raw NumPy (forward, hand-written backward, in-place Adam); returns the loss.
    ``step.params`` are the parameter arrays."""
    x, labels, params = initial(name, seed)
    grads_fn = _mlp_grads if name == "mlp" else _cnn_grads
    optimizer = NumpyAdam(params)

    def step():
        loss, grads = grads_fn(x, labels, params)
        optimizer.step(grads)
        return loss
    step.params = params
    return step


def check_agrees(name, make, seed=0, steps=2, rtol=1e-4, atol=1e-5):
    """Check before timing: after ``steps`` steps, ``make``'s implementation (a function of ``(name, seed)``
    returning a step) has the raw NumPy step's losses and parameters (float32 tolerance)."""
    ref, other = numpy_problem(name, seed), make(name, seed)
    for i in range(steps):
        a, b = float(ref()), float(np.asarray(other().detach().numpy()))
        if not np.isclose(a, b, rtol=rtol, atol=atol):
            raise AssertionError(f"{name} step {i}: loss {b} differs from raw NumPy's {a}")
    for k, (p_ref, p) in enumerate(zip(ref.params, other.params)):
        got = p.detach().numpy()
        if not np.allclose(got, p_ref, rtol=rtol, atol=atol):
            raise AssertionError(f"{name}: parameter {k} differs from raw NumPy's after {steps} steps "
                                 f"(max |diff| {np.max(np.abs(got - p_ref))})")


# ------------------------------------------------------------------------------------ pytest-benchmark
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_step_tritongrad(benchmark, name):
    import tritongrad
    check_agrees(name, functools.partial(framework_problem, tritongrad))
    benchmark.group = f"{name} step"
    benchmark(framework_problem(tritongrad, name))


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_step_numpy(benchmark, name):
    benchmark.group = f"{name} step"
    benchmark(numpy_problem(name))


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_step_torch(benchmark, name):
    torch = pytest.importorskip("torch", reason="PyTorch CPU is the optional peer; it is not installed")
    check_agrees(name, functools.partial(framework_problem, torch))
    benchmark.group = f"{name} step"
    benchmark(framework_problem(torch, name))
