"""Higher-order gradients: ``create_graph=True``, `gradgradcheck`, ``autograd.functional`` and the workloads
that need them (WGAN-GP gradient penalty, Hessian-vector products, MAML), on cpu and cuda.

* The fused nn ops' double backward is checked with `gradgradcheck` (float64 cpu, finite differences); the
  op table's ops are checked the same way in test_ops.py (``test_reference_gradgradcheck``).
* cuda: the double backward of a representative subset per op family (the interpreter is slow) is compared
  with the cpu float64 run in every float dtype.
* The workloads are compared with float64 central finite differences of the first-order gradients.
"""
import math

import numpy as np
import pytest
from optable import OPS_BY_NAME, assert_close, make_inputs, np_dtype

import tritongrad as tg
import tritongrad.nn.functional as F
from tritongrad.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp
from tritongrad.nn.functional import _linear_act

DEVICES = ["cpu", "cuda"]
FLOATS = ("float32", "float16", "bfloat16", "float64")


# ------------------------------------------------------------------------------------------ nn ops: gradgradcheck
def _ce_weight(x):
    return tg.tensor([1.0, 2.0, 0.5, 1.0], dtype=x.dtype, device=x.device)


def _bn_stats(x):
    return (tg.tensor([0.1, -0.2], dtype=x.dtype, device=x.device),
            tg.tensor([1.5, 0.7], dtype=x.dtype, device=x.device))


# name -> (fn, input shapes, {position: (low, high) of a probability / index input})
NN = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(2, 3), (4, 3), (4,)]),
    "linear_relu": (lambda x, w, b: _linear_act(x, w, b, "relu"), [(2, 3), (4, 3), (4,)]),
    "linear_gelu": (lambda x, w, b: _linear_act(x, w, b, "gelu"), [(2, 3), (4, 3), (4,)]),
    "linear_gelu_tanh": (lambda x, w, b: _linear_act(x, w, b, "gelu_tanh"), [(2, 3), (4, 3), (4,)]),
    "linear_silu": (lambda x, w, b: _linear_act(x, w, b, "silu"), [(3, 2, 3), (4, 3), (4,)]),
    "linear_gelu_nonleaf_bias": (lambda x, w, b: _linear_act(x, w, b * 2, "gelu"), [(2, 3), (4, 3), (4,)]),
    "gelu": (lambda x: F.gelu(x), [(5,)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [(5,)]),
    "logsigmoid": (lambda x: F.logsigmoid(x), [(5,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(2, 4), (4,), (4,)]),
    "layer_norm_2d_plain": (lambda x: F.layer_norm(x, (2, 3)), [(2, 2, 3)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, (4,), w), [(2, 4), (4,)]),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(3, 2, 2), (2,), (2,)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(x, *_bn_stats(x), w, b, training=False),
                        [(3, 2, 2), (2,), (2,)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, tg.tensor([1, 0, 2], device=x.device)), [(3, 4)]),
    "cross_entropy_opts": (lambda x: F.cross_entropy(x, tg.tensor([1, -100, 2], device=x.device), weight=_ce_weight(x),
                                                     label_smoothing=0.1), [(3, 4)]),
    "cross_entropy_none": (lambda x: F.cross_entropy(x, tg.tensor([1, 3, 2], device=x.device), reduction="none"),
                           [(3, 4)]),
    "cross_entropy_prob": (lambda x, t: F.cross_entropy(x, t.abs(), label_smoothing=0.2), [(3, 4), (3, 4)]),
    "sdpa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(1, 1, 3, 2), (1, 1, 4, 2), (1, 1, 4, 2)]),
    "sdpa_mask": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  [(1, 1, 3, 2), (1, 1, 3, 2), (1, 1, 3, 2), (3, 3)]),
    "sdpa_causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                    [(1, 1, 3, 2), (1, 1, 3, 2), (1, 1, 3, 2)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(1, 2, 3, 3), (2, 2, 2, 2), (2,)]),
    "conv2d_stride_groups": (lambda x, w: F.conv2d(x, w, None, stride=2, groups=2), [(1, 2, 4, 4), (2, 1, 2, 2)]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, None, stride=2), [(1, 2, 2, 2), (2, 1, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(1, 1, 4, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, padding=1), [(1, 1, 3, 3)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 2)), [(1, 1, 3, 3)]),
    "embedding": (lambda w: F.embedding(tg.tensor([[0, 2], [2, 1]], device=w.device), w, padding_idx=3), [(4, 2)]),
    "pad": (lambda x: F.pad(x, (1, 2)), [(2, 3)]),
    "dropout": (lambda x: _dropout(x), [(8,)]),
}


def _dropout(x):
    tg.manual_seed(3)
    return F.dropout(x, 0.3)


def _leaves(shapes, dtype, device, seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.uniform(-1, 1, s) for s in shapes]
    if dtype != "float64":
        arrs = [a.astype(np_dtype(dtype)).astype(np.float64) for a in arrs]
    return arrs, [tg.tensor(a, dtype=getattr(tg, dtype), device=device, requires_grad=True) for a in arrs]


@pytest.mark.parametrize("name", list(NN))
def test_nn_gradgradcheck(name):
    fn, shapes = NN[name]
    _, xs = _leaves(shapes, "float64", "cpu")
    assert tg.autograd.gradcheck(fn, xs, atol=1e-5, rtol=1e-4)
    assert tg.autograd.gradgradcheck(fn, xs, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------ cuda vs cpu
def double_backward(fn, leaves, seed=1):
    """(first-order gradients under create_graph, the gradients of their random contraction w.r.t. the inputs
    and the upstream gradients), as host float64 arrays."""
    rng = np.random.default_rng(seed)
    outs = fn(*leaves)
    outs = [o for o in (outs if isinstance(outs, tuple) else (outs,)) if o.requires_grad]
    leaves = [t for t in leaves if t.requires_grad]       # index inputs take no gradient
    ups = [tg.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device, requires_grad=True) for o in outs]
    g1 = tg.autograd.grad(outs, leaves, ups, create_graph=True, allow_unused=True)
    total = None
    for g in g1:
        if g is not None:
            w = tg.tensor(rng.standard_normal(g.shape), dtype=g.dtype, device=g.device)
            term = (g * w).sum()
            total = term if total is None else total + term
    # second order w.r.t. the inputs and the upstream gradients (the latter: what a linear op's double backward is)
    g2 = tg.autograd.grad(total, leaves + ups, allow_unused=True)

    def host(ts):
        return [None if t is None else t.detach().cpu().float().numpy().astype(np.float64) for t in ts]
    return host(g1), host(g2)


def _compare_double(name, fn, make, dtype, scale=1.0):
    arrs, ref_leaves = make("float64", "cpu")
    ref = double_backward(fn, ref_leaves)
    _, leaves = make(dtype, "cuda")
    got = double_backward(fn, leaves)
    for order, (gs, rs) in enumerate(zip(got, ref), 1):
        for k, (g, r) in enumerate(zip(gs, rs)):
            if r is None:
                continue
            assert g is not None, f"{name}: no order-{order} gradient for input {k} on cuda/{dtype}"
            assert_close(g, r, dtype, f"{name} order-{order} grad {k} on cuda/{dtype}", scale)


# a representative op (or two) per family of the op table
TABLE_SUBSET = ["exp", "tanh", "sigmoid", "relu", "div", "pow", "maximum", "where", "clamp", "sum_dim", "mean",
                "amax", "var", "logsumexp", "norm", "cumsum", "softmax", "log_softmax", "matmul_2d", "matmul_batched",
                "permute", "expand", "getitem_basic", "index_select", "gather", "cat", "setitem_basic"]
NN_SUBSET = ["linear_gelu_nonleaf_bias", "layer_norm", "rms_norm", "batch_norm_train", "cross_entropy_opts", "sdpa_causal",
             "conv2d", "max_pool2d", "avg_pool2d", "embedding"]
NO_CUDA_FLOAT64 = {"layer_norm", "rms_norm", "batch_norm_train", "cross_entropy_opts", "sdpa_causal", "conv2d",
                   "max_pool2d", "avg_pool2d"}
"""Fused kernels without a float64 Triton variant (they raise a TypeError naming the dtype)."""


def _table_maker(op):
    shapes = min(op.cuda_shapes or op.shapes, key=lambda ss: sum(int(np.prod(s)) for s in ss))

    def make(dtype, device):
        arrs = make_inputs(op, shapes, np.random.default_rng(0))
        leaves = []
        for i, a in enumerate(arrs):
            if i in op.int_inputs:
                leaves.append(tg.tensor(a, device=device))
            else:
                if dtype != "float64":
                    a = a.astype(np_dtype(dtype)).astype(np.float64)
                leaves.append(tg.tensor(a, dtype=getattr(tg, dtype), device=device, requires_grad=True))
        return arrs, leaves
    return make


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", TABLE_SUBSET)
def test_double_backward_cuda_table(name, dtype):
    op = OPS_BY_NAME[name]
    if dtype not in op.dtypes:
        pytest.skip(f"{name} does not support {dtype}")
    _compare_double(name, op.fn, _table_maker(op), dtype, 2 * op.tol_scale)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NN_SUBSET)
def test_double_backward_cuda_nn(name, dtype):
    if dtype == "float64" and name in NO_CUDA_FLOAT64:
        pytest.skip(f"the {name} Triton kernel has no float64 variant")
    fn, shapes = NN[name]
    _compare_double(name, fn, lambda dt, dev: _leaves(shapes, dt, dev), dtype, 4)


# ------------------------------------------------------------------------------------------ engine semantics
@pytest.mark.parametrize("device", DEVICES)
def test_create_graph_backward_and_grad(device):
    x = tg.tensor([0.5, -1.0, 2.0], device=device, requires_grad=True)
    y = (x ** 3).sum()
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    assert g.grad_fn is not None and g.requires_grad
    np.testing.assert_allclose(g.detach().cpu().numpy(), 3 * np.array([0.25, 1.0, 4.0]), rtol=1e-6)
    (h,) = tg.autograd.grad(g.sum(), x, create_graph=True)                  # 6x
    np.testing.assert_allclose(h.detach().cpu().numpy(), [3.0, -6.0, 12.0], rtol=1e-6)
    (t,) = tg.autograd.grad(h.sum(), x)                                      # third order: 6
    np.testing.assert_allclose(t.cpu().numpy(), [6.0, 6.0, 6.0], rtol=1e-6)
    z = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (z.exp().sum()).backward(create_graph=True)
    assert z.grad.grad_fn is not None
    z.grad.sum().backward()      # d/dz sum(exp z) added to the (graph-carrying) .grad: exp z + exp z
    np.testing.assert_allclose(z.grad.detach().cpu().numpy(), 2 * np.exp([1.0, 2.0]), rtol=1e-5)


def test_create_graph_grad_outputs_require_grad():
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    v = tg.tensor([3.0, -1.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(x * x, x, v, create_graph=True)          # 2 x v
    gx, gv = tg.autograd.grad(g.sum(), (x, v))
    assert gx.tolist() == [6.0, -2.0] and gv.tolist() == [2.0, 4.0]


def test_not_differentiable_twice_is_named():
    class Raw(tg.autograd.Op):         # an internal op without a backward_graph formula
        def forward(self, x):
            self.save_for_backward(x)
            return self.be.unary("exp", x)

        def backward(self, g):
            (x,) = self.saved_tensors
            return self.be.unary_bwd("exp", x, self.be.unary("exp", x), g)
    x = tg.tensor([0.0, 1.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(Raw.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), np.exp([0.0, 1.0]))      # first order still right
    with pytest.raises(RuntimeError, match="RawBackward is not differentiable twice"):
        g.sum().backward()


@pytest.mark.parametrize("dims", [None, 1, (0, 2)])
def test_prod_double_backward_with_zeros(dims):
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4, 2))
    x[0, 1, 0] = x[2, 2, 1] = x[2, 3, 1] = 0.0              # one zero in some slices, two in others
    t = tg.tensor(x, requires_grad=True)
    fn = (lambda v: v.prod()) if dims is None else (lambda v: v.prod(dims) if isinstance(dims, int) else
                                                    v.prod(dims[0]).prod(dims[1] - 1))
    assert tg.autograd.gradgradcheck(fn, [t])


def test_not_differentiable_twice_after_a_custom_once_differentiable():
    class Once(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @tg.autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    v = tg.tensor([1.0, 1.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(Once.apply(x), x, v, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_custom_function_double_backward():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x ** 3
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * 3 * y / x           # uses the saved output: it must stay connected to the graph

    x = tg.tensor([0.7, -1.3, 2.0], dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradgradcheck(Cube.apply, [x])


def test_gradgradcheck_catches_a_wrong_double_backward(monkeypatch):
    import tritongrad.functions as fns
    monkeypatch.setitem(fns._UNARY_D, "sin", lambda x, p: x.cos() * 1.01)
    x = tg.tensor([0.3, 1.1], dtype=tg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph=True differs"):
        tg.autograd.gradgradcheck(lambda t: t.sin(), [x])
    assert tg.autograd.gradgradcheck(lambda t: t.sin(), [x], raise_exception=False) is False


# ------------------------------------------------------------------------------------------ autograd.functional
def _quad(A):
    def f(x):
        return 0.5 * (x * (A @ x)).sum() + x.sin().sum()
    return f


@pytest.mark.parametrize("device", DEVICES)
def test_functional_against_closed_forms(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    a = a + a.T
    A = tg.tensor(a, device=device)
    xn, vn = rng.standard_normal(3), rng.standard_normal(3)
    x, v = tg.tensor(xn, device=device), tg.tensor(vn, device=device)
    H = a - np.diag(np.sin(xn))

    def close(t, ref):
        np.testing.assert_allclose(t.cpu().numpy(), ref, rtol=1e-9, atol=1e-12)
    close(hessian(_quad(A), x), H)
    out, hv = hvp(_quad(A), x, v)
    close(hv, H @ vn)
    close(out, 0.5 * xn @ a @ xn + np.sin(xn).sum())
    close(vhp(_quad(A), x, v)[1], H @ vn)
    J = (1 - np.tanh(a @ xn) ** 2)[:, None] * a

    def g(t):
        return (A @ t).tanh()
    close(jacobian(g, x), J)
    close(jvp(g, x, v)[1], J @ vn)
    close(vjp(g, x, v)[1], vn @ J)
    assert not vjp(g, x, v)[1].requires_grad
    # tuples in, tuples out: the structure and block shapes of PyTorch
    jac = jacobian(lambda p, q: (p * q, (p + q).sum()), (x, v))
    assert isinstance(jac, tuple) and len(jac) == 2 and jac[0][1].shape == (3, 3) and jac[1][0].shape == (3,)
    close(jac[0][1], np.diag(xn))
    hes = hessian(lambda p, q: (p * p * q).sum(), (x, v))
    close(hes[0][1], np.diag(2 * xn))
    close(hes[1][1], np.zeros((3, 3)))


def test_functional_options_and_errors():
    x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    v = tg.tensor([1.0, 0.0], dtype=tg.float64)
    _, g = vjp(lambda t: (t * t).sum(), x, create_graph=True)
    assert g.tolist() == [2.0, 4.0]
    out, hv = hvp(lambda t: (t ** 3).sum(), x, v, create_graph=True)
    assert hv.tolist() == [6.0, 0.0]
    assert jacobian(lambda t: t * 2, x, vectorize=False).tolist() == [[2.0, 0.0], [0.0, 2.0]]
    with pytest.raises(RuntimeError, match="independent of input 1"):
        vjp(lambda a, b: (a * 2).sum(), (x, v), strict=True)
    assert vjp(lambda a, b: (a * 2).sum(), (x, v))[1][1].tolist() == [0.0, 0.0]      # zeros when not strict
    with pytest.raises(RuntimeError, match="can only be None"):
        vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="invalid size"):
        jvp(lambda t: t * 2, x, tg.tensor([1.0], dtype=tg.float64))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        jacobian(lambda t: t, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="single element"):
        hessian(lambda t: t * t, x)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        jacobian(lambda t: t, x, vectorize=True)


# ------------------------------------------------------------------------------------------ workloads vs FD
def _fd_grad(f, params, eps=1e-6):
    """Central finite differences (float64 cpu) of the scalar ``f`` over a list of NumPy arrays."""
    out = []
    for k, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            vals = []
            for s in (1, -1):
                q = [x.copy() for x in params]
                q[k][idx] += s * eps
                vals.append(f(q))
            g[idx] = (vals[0] - vals[1]) / (2 * eps)
        out.append(g)
    return out


def _mlp_params(rng, sizes):
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        ps += [rng.standard_normal((b, a)) / math.sqrt(a), 0.1 * rng.standard_normal(b)]
    return ps


def _mlp(ps, x, act):
    h = x
    for i in range(0, len(ps), 2):
        h = F.linear(h, ps[i], ps[i + 1])
        if i + 2 < len(ps):
            h = act(h)
    return h


def _tensors(arrays, device, dtype, grad=True):
    return [tg.tensor(a, dtype=dtype, device=device, requires_grad=grad) for a in arrays]


TOLS = {"cpu": dict(rtol=1e-6, atol=1e-7), "cuda": dict(rtol=2e-3, atol=2e-4)}
DTYPES = {"cpu": tg.float64, "cuda": tg.float32}


@pytest.mark.parametrize("device", DEVICES)
def test_wgan_gp_gradient_penalty_step(device):
    """Critic loss with gradient penalty: D(fake) - D(real) + lambda (||grad_xhat D(xhat)|| - 1)^2, its gradient
    w.r.t. the critic's parameters (through the input gradient: double backward) against finite differences;
    then one SGD step."""
    rng = np.random.default_rng(1)
    params = _mlp_params(rng, [3, 5, 1])
    real, fake = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    alpha = rng.uniform(0, 1, (4, 1))
    lam = 10.0
    dt = DTYPES[device]

    def loss_of(ps, device, dtype):
        r, f = tg.tensor(real, dtype=dtype, device=device), tg.tensor(fake, dtype=dtype, device=device)
        xhat = (tg.tensor(alpha, dtype=dtype, device=device) * r + (1 - tg.tensor(alpha, dtype=dtype, device=device)) * f)
        xhat = xhat.detach().requires_grad_(True)
        d_hat = _mlp(ps, xhat, lambda h: F.leaky_relu(h, 0.2) + h.tanh())
        (gx,) = tg.autograd.grad(d_hat.sum(), xhat, create_graph=True)
        penalty = ((gx.square().sum(1) + 1e-12).sqrt() - 1).square().mean()
        return _mlp(ps, f, lambda h: F.leaky_relu(h, 0.2) + h.tanh()).mean() - \
            _mlp(ps, r, lambda h: F.leaky_relu(h, 0.2) + h.tanh()).mean() + lam * penalty

    ps = _tensors(params, device, dt)
    loss = loss_of(ps, device, dt)
    loss.backward()
    ref = _fd_grad(lambda q: loss_of(_tensors(q, "cpu", tg.float64, False), "cpu", tg.float64).item(), params)
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(p.grad.detach().cpu().numpy(), r, **TOLS[device])
    opt = tg.optim.SGD(ps, lr=1e-3)
    opt.step()
    moved = [p.detach().cpu().numpy() for p in ps]
    for m, p0, r in zip(moved, params, ref):
        np.testing.assert_allclose(m, p0 - 1e-3 * r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_hessian_vector_product_vs_finite_differences(device):
    """H v of an MLP classification loss w.r.t. its parameters (autograd.functional.hvp, double-backward trick,
    and grad-of-grad) against finite differences of the gradient along v."""
    rng = np.random.default_rng(2)
    params = _mlp_params(rng, [4, 6, 3])
    x, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    vs = [rng.standard_normal(p.shape) for p in params]
    dt = DTYPES[device]

    def loss_fn(*ps):
        xs = tg.tensor(x, dtype=ps[0].dtype, device=ps[0].device)
        logits = _mlp(list(ps), xs, lambda h: F.gelu(h))
        return F.cross_entropy(logits, tg.tensor(y, device=ps[0].device))

    def grad_at(arrays):
        ps = _tensors(arrays, "cpu", tg.float64)
        return [g.numpy() for g in tg.autograd.grad(loss_fn(*ps), ps)]
    eps = 1e-5
    plus = grad_at([p + eps * v for p, v in zip(params, vs)])
    minus = grad_at([p - eps * v for p, v in zip(params, vs)])
    ref = [(a - b) / (2 * eps) for a, b in zip(plus, minus)]
    ps = _tensors(params, device, dt, grad=False)
    _, hv = hvp(loss_fn, tuple(ps), tuple(tg.tensor(v, dtype=dt, device=device) for v in vs))
    leaves = _tensors(params, device, dt)
    gs = tg.autograd.grad(loss_fn(*leaves), leaves, create_graph=True)
    dot = sum((g * tg.tensor(v, dtype=dt, device=device)).sum() for g, v in zip(gs, vs))
    hv2 = tg.autograd.grad(dot, leaves)
    tol = dict(rtol=1e-5, atol=1e-7) if device == "cpu" else TOLS[device]
    for a, b, r in zip(hv, hv2, ref):
        np.testing.assert_allclose(a.cpu().numpy(), r, **tol)
        np.testing.assert_allclose(b.cpu().numpy(), r, **tol)


@pytest.mark.parametrize("device", DEVICES)
def test_maml_two_inner_steps(device):
    """MAML: two inner SGD steps on a support set (create_graph=True), the query loss of the adapted weights
    differentiated w.r.t. the initial weights (through both inner gradients), against finite differences."""
    rng = np.random.default_rng(3)
    params = _mlp_params(rng, [2, 4, 1])
    xs, ys = rng.standard_normal((6, 2)), rng.standard_normal((6, 1))
    xq, yq = rng.standard_normal((5, 2)), rng.standard_normal((5, 1))
    inner_lr = 0.1
    dt = DTYPES[device]

    def meta_loss(ps, device, dtype, create_graph):
        t = lambda a: tg.tensor(a, dtype=dtype, device=device)       # noqa: E731
        fast = list(ps)
        for _ in range(2):
            inner = F.mse_loss(_mlp(fast, t(xs), lambda h: h.tanh()), t(ys))
            grads = tg.autograd.grad(inner, fast, create_graph=create_graph)
            fast = [w - inner_lr * g for w, g in zip(fast, grads)]
        return F.mse_loss(_mlp(fast, t(xq), lambda h: h.tanh()), t(yq))

    ps = _tensors(params, device, dt)
    meta_loss(ps, device, dt, True).backward()
    ref = _fd_grad(lambda q: meta_loss(_tensors(q, "cpu", tg.float64), "cpu", tg.float64, False).item(), params)
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(p.grad.detach().cpu().numpy(), r, **TOLS[device])
    # first-order MAML (no create_graph) gives a different, wrong-for-MAML gradient: the test sees the difference
    ps1 = _tensors(params, device, dt)
    loss1 = meta_loss([p for p in ps1], device, dt, False)
    loss1.backward()
    assert any(not np.allclose(p.grad.detach().cpu().numpy(), r, rtol=1e-3, atol=1e-5) for p, r in zip(ps1, ref))
