"""Activation memory: each autograd node keeps only the tensors its backward reads, as PyTorch's
derivatives.yaml has it (``result`` for exp, tanh, sigmoid, relu, ...; ``self`` for log, sin, gelu, silu, ...;
nothing for neg or the rounding ops), so a graph holds no more live buffers than PyTorch's would."""
import gc

import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn.functional as F
from tritongrad import cuda as tcuda
from tritongrad.backends import base

UNARY_CALLS = {
    "gelu": lambda t: F.gelu(t),
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": lambda t: F.silu(t),
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
}


def _unary(op, t):
    return UNARY_CALLS[op](t) if op in UNARY_CALLS else getattr(t, op)()


@pytest.mark.parametrize("op", base.UNARY_DIFFERENTIABLE)
def test_unary_node_keeps_only_the_operand_its_derivative_reads(op):
    x = tg.tensor(np.linspace(0.213, 1.713, 6), requires_grad=True)     # off round's jumps
    y = _unary(op, x)
    node = y.grad_fn
    assert node.name == op.capitalize() + "Backward0"
    expected = {"x": [x._data], "y": [y._data], None: []}[base.UNARY_SAVES[op]]
    assert [id(a) for a in node.saved_tensors] == [id(a) for a in expected]
    y.sum().backward()                  # and the gradient from that operand alone is the right one
    h = 1e-6
    with tg.no_grad():
        numeric = (_unary(op, x + h).numpy() - _unary(op, x - h).numpy()) / (2 * h)
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def _settle(z):
    """Triton's interpreter keeps the arguments of a kernel's last launch alive until that kernel's next launch,
    and the storages of earlier launches in reference cycles until the garbage collector runs (interpreter
    artifacts: no GPU holds them). Launch the unary and binary kernels again on a small tensor and collect, so
    that only what the graph holds stays alive, plus these small launches' 16-byte outputs."""
    z.neg()
    z * 2.0
    gc.collect()


def _live_bytes_of(build, n):
    """Bytes a graph built by ``build(x)`` from a (n,) float32 leaf keeps alive on cuda (its output included),
    up to the few 16-byte buffers `_settle` leaves."""
    x = tg.randn(n, device="cuda", requires_grad=True)
    z = tg.ones(4, device="cuda")
    _settle(z)
    before = tcuda.memory_allocated()
    out = build(x)
    _settle(z)
    held = tcuda.memory_allocated() - before
    out.sum().backward()                # the graph is usable (and then freed)
    assert x.grad is not None
    return held


@pytest.mark.parametrize("chain, buffers", [
    # every op saves its result, which the next op would save as its input anyway: one buffer per op either way
    (lambda x: x.exp().tanh().sigmoid().sqrt(), 4),
    # sin and log save their input, exp and tanh their result: sin's and log's outputs are kept by nobody
    # (saving both x and y would keep all four: 4 buffers)
    (lambda x: x.sin().exp().log().tanh(), 2),
    # neg saves nothing; relu its result; the mul by a Python scalar needs neither operand's value
    (lambda x: (-x).relu() * 3.0, 2),
], ids=["exp-tanh-sigmoid-sqrt", "sin-exp-log-tanh", "neg-relu-mulscalar"])
def test_a_chain_of_elementwise_ops_keeps_only_the_buffers_backward_reads(chain, buffers):
    n = 1024
    held = _live_bytes_of(chain, n)
    assert buffers * n * 4 - 64 <= held <= buffers * n * 4 + 64, (held, buffers)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("op, needs, kept", [
    ("mul", (True, False), (None, "b")), ("mul", (False, True), ("a", None)), ("mul", (True, True), ("a", "b")),
    ("div", (True, False), (None, "b")), ("div", (False, True), ("a", "b")),
    ("add", (True, True), ()), ("sub", (True, False), ()),
    ("remainder", (True, False), ()), ("remainder", (False, True), ("a", "b")),
    ("pow", (True, False), ("a", "b")), ("maximum", (False, True), ("a", "b")), ("atan2", (True, False), ("a", "b")),
])
def test_binary_node_keeps_only_what_the_asked_gradients_read(device, op, needs, kept):
    rng = np.random.default_rng(0)
    an, bn = rng.uniform(0.5, 2.0, (3, 4)), rng.uniform(0.5, 2.0, (4,))       # b broadcast over a's rows
    a = tg.tensor(an, device=device, requires_grad=needs[0])
    b = tg.tensor(bn, device=device, requires_grad=needs[1])
    c = getattr(tg, op)(a, b)
    names = {"a": a._data, "b": b._data, None: None}
    assert [None if s is None else id(s) for s in c.grad_fn.saved_tensors] == \
        [None if k is None else id(names[k]) for k in kept]
    gc_ = rng.standard_normal((3, 4))
    c.backward(tg.tensor(gc_, device=device))
    # the reference: both operands requiring grad (every operand saved, the fused binary_bwd path), at float64
    a2 = tg.tensor(an, requires_grad=True)
    b2 = tg.tensor(bn, requires_grad=True)
    getattr(tg, op)(a2, b2).backward(tg.tensor(gc_))
    for t, ref, need in ((a, a2, needs[0]), (b, b2, needs[1])):
        assert (t.grad is not None) == need
        if need:
            np.testing.assert_allclose(t.grad.cpu().numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_scalar_operand_or_a_constant_tensor_keeps_nothing_the_gradient_does_not_read():
    # sin keeps its input (the leaf), tanh its output; the product in between needs only the factor's value, a
    # Python scalar or a tensor that requires no grad, so sin's output is kept by nobody: one buffer (tanh's
    # output) where keeping both factors would hold two
    mask = tg.ones(1024, device="cuda")
    scaled = _live_bytes_of(lambda t: (t.sin() * 2.0).tanh(), 1024)
    masked = _live_bytes_of(lambda t: (t.sin() * mask).tanh(), 1024)
    assert abs(scaled - 4096) <= 64 and abs(masked - 4096) <= 64, (scaled, masked)


@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh", "silu"])
def test_fused_linear_activation_keeps_the_preactivation_or_the_output_not_both(act):
    x = tg.randn(3, 4, requires_grad=True)
    w = tg.randn(5, 4, requires_grad=True)
    b = tg.randn(5, requires_grad=True)
    y = F._linear_act(x, w, b, act)
    sx, sw, pre, out = y.grad_fn.saved_tensors
    assert sx is x._data and sw is w._data
    if base.UNARY_SAVES[act] == "y":
        assert pre is None and out is y._data
    else:
        assert pre is not None and tuple(pre.shape) == (1, 3, 5) and out is None


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2))],
                         ids=["mm", "folded", "broadcast-batch"])
@pytest.mark.parametrize("needs", [(True, False), (False, True), (True, True)], ids=["a", "b", "ab"])
def test_matmul_keeps_each_operand_only_for_the_other_ones_gradient(device, shapes, needs):
    rng = np.random.default_rng(1)
    an, bn = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    a = tg.tensor(an, device=device, requires_grad=needs[0])
    b = tg.tensor(bn, device=device, requires_grad=needs[1])
    c = a @ b
    sa, sb = c.grad_fn.saved_tensors
    assert (sa is a._data if needs[1] else sa is None) and (sb is b._data if needs[0] else sb is None)
    gc_ = rng.standard_normal(tuple(c.shape))
    c.backward(tg.tensor(gc_, device=device))
    ga, gb = np.matmul(gc_, np.swapaxes(bn, -1, -2)), np.matmul(np.swapaxes(an, -1, -2), gc_)
    for t, ref, need in ((a, ga, needs[0]), (b, gb, needs[1])):
        assert (t.grad is not None) == need
        if need:
            while ref.ndim > t.ndim:
                ref = ref.sum(0)
            ref = ref.sum(axis=tuple(i for i, n in enumerate(t.shape) if n == 1), keepdims=True)
            np.testing.assert_allclose(t.grad.cpu().numpy(), ref, rtol=1e-10, atol=1e-10)
