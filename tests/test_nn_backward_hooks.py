"""``Module.register_full_backward_hook`` / ``register_full_backward_pre_hook`` with PyTorch's semantics:
hook(module, grad_input, grad_output) -> new grad_input, pre-hook(module, grad_output) -> new grad_output,
grad_input per positional argument; expected gradients written out by hand (Linear: y = x W^T + b)."""
import numpy as np
import pytest

import tritongrad as torch
from tritongrad import nn
from conftest import DEVICES


def _lin(device):
    torch.manual_seed(0)
    return nn.Linear(3, 2).to(device)


def _np(t):
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("device", DEVICES)
def test_hook_sees_grads_and_rescales_grad_input(device):
    lin = _lin(device)
    W = _np(lin.weight)
    x = torch.randn(4, 3, device=device, requires_grad=True)
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((module, grad_input, grad_output))
        return (grad_input[0] * 3,)

    lin.register_full_backward_hook(hook)
    y = lin(x)
    assert type(y.grad_fn).__name__ == "BackwardHookFunctionBackward"
    (y * 2).sum().backward()
    (module, gi, go), = seen
    assert module is lin and len(gi) == 1 and len(go) == 1
    np.testing.assert_allclose(_np(go[0]), np.full((4, 2), 2.0))
    np.testing.assert_allclose(_np(gi[0]), np.full((4, 2), 2.0) @ W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(x.grad), 3 * (np.full((4, 2), 2.0) @ W), rtol=1e-5, atol=1e-6)
    # the module's own parameter gradients are untouched by a grad_input hook
    np.testing.assert_allclose(_np(lin.weight.grad), np.full((4, 2), 2.0).T @ _np(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_pre_hook_zeroing_grad_output_zeroes_everything_below(device):
    lin = _lin(device)
    x = torch.randn(4, 3, device=device, requires_grad=True)
    got = []

    def pre(module, grad_output):
        return tuple(torch.zeros_like(g) for g in grad_output)

    def hook(module, grad_input, grad_output):
        got.append(grad_output)

    lin.register_full_backward_pre_hook(pre)
    lin.register_full_backward_hook(hook)
    lin(x).sum().backward()
    assert np.all(_np(x.grad) == 0) and np.all(_np(lin.weight.grad) == 0) and np.all(_np(lin.bias.grad) == 0)
    assert np.all(_np(got[0][0]) == 0)      # the hook sees the grad_output the pre-hook returned


def test_inside_sequential_order_and_removal():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    order = []
    h1 = net[0].register_full_backward_hook(lambda m, gi, go: order.append("0"))
    h2 = net[2].register_full_backward_hook(lambda m, gi, go: order.append("2"))
    net[2].register_full_backward_pre_hook(lambda m, go: order.append("pre2"))
    net[2].register_full_backward_pre_hook(lambda m, go: order.append("pre2-first"), prepend=True)
    x = torch.randn(2, 3, requires_grad=True)
    ref_grad = None
    net(x).sum().backward()
    assert order == ["pre2-first", "pre2", "2", "0"]
    ref_grad = _np(x.grad)
    h1.remove()
    h2.remove()
    order.clear()
    x.grad = None
    net(x).sum().backward()
    assert order == ["pre2-first", "pre2"]
    np.testing.assert_allclose(_np(x.grad), ref_grad, rtol=1e-6)


def test_grad_input_per_positional_argument():
    class Scale(nn.Module):
        def forward(self, a, k, b):
            return a * k + b

    m = Scale()
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(3)                      # does not require grad
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append(grad_input)
        return (grad_input[0] + 1, None, None)

    m.register_full_backward_hook(hook)
    m(a, 2.0, b).sum().backward()
    gi = seen[0]
    assert len(gi) == 3 and gi[1] is None and gi[2] is None
    np.testing.assert_allclose(_np(gi[0]), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(_np(a.grad), [3.0, 3.0, 3.0])
    assert not b.requires_grad


def test_no_input_requires_grad_hooks_run_with_none_and_must_return_none():
    lin = _lin("cpu")
    x = torch.randn(2, 3)
    seen = []
    h = lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    lin(x).sum().backward()
    assert seen[0][0] == (None,) and seen[0][1][0].shape == (2, 2)
    assert lin.weight.grad is not None
    h.remove()
    lin.register_full_backward_hook(lambda m, gi, go: (torch.ones(2, 3),))
    with pytest.raises(RuntimeError, match="no input requires gradient should always return None"):
        lin(x).sum().backward()


def test_wrong_number_of_grads_is_an_error():
    lin = _lin("cpu")
    x = torch.randn(2, 3, requires_grad=True)
    h = lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        lin(x).sum().backward()
    h.remove()
    lin.register_full_backward_pre_hook(lambda m, go: (go[0], None))
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 2, but expected 1"):
        lin(x).sum().backward()


def test_tuple_outputs_unused_output_and_no_grad_mode():
    class Two(nn.Module):
        def forward(self, x):
            return x * 2, x * 3, "tag"

    m = Two()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(go))
    x = torch.ones(2, requires_grad=True)
    a, b, tag = m(x)
    assert tag == "tag"
    a.sum().backward()                      # b unused: its grad_output entry is None, as the tag's
    go = seen[0]
    assert len(go) == 3 and go[1] is None and go[2] is None
    np.testing.assert_allclose(_np(x.grad), [2.0, 2.0])
    with torch.no_grad():
        out = m(x)[0]
    assert out.grad_fn is None              # nothing recorded without grad mode


def test_global_module_hooks():
    from tritongrad.nn.modules.module import register_module_full_backward_hook
    calls = []
    h = register_module_full_backward_hook(lambda m, gi, go: calls.append(type(m).__name__))
    try:
        net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        net(torch.randn(1, 2, requires_grad=True)).sum().backward()
    finally:
        h.remove()
    assert calls == ["ReLU", "Linear", "Sequential"]   # a hook runs when its grad_input is ready


def test_no_hook_builds_nothing():
    lin = _lin("cpu")
    y = lin(torch.randn(2, 3, requires_grad=True))
    assert type(y.grad_fn).__name__ != "BackwardHookFunctionBackward"
