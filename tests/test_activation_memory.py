"""Activation memory: each autograd node keeps only the tensors its backward reads, as PyTorch's
derivatives.yaml has it (``result`` for exp, tanh, sigmoid, relu, ...; ``self`` for log, sin, gelu, silu, ...;
nothing for neg or the rounding ops), so a graph holds no more live buffers than PyTorch's would."""
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
    """Triton's interpreter keeps the arguments of a kernel's last launches alive until later launches (an
    interpreter artifact: no GPU holds them): launch the unary and binary kernels a few times on a small tensor,
    so that only what the graph holds stays alive, plus a few of these small launches' 16-byte outputs."""
    for _ in range(2):
        z.neg()
        z * 2.0


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
