"""Autograd semantics (PyTorch's): errors, accumulation, retain_grad, hooks, detach, grad modes, autograd.grad,
deep graphs, in-place ops (version counter, views), custom Functions and gradcheck, on cpu and cuda."""
import numpy as np
import pytest

import tritongrad as tg
from tritongrad.autograd import Op

DEVICES = ["cpu", "cuda"]


def leaf(values, device, dtype=tg.float32):
    return tg.tensor(values, dtype=dtype, device=device, requires_grad=True)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("device", DEVICES)
def test_backward_of_non_scalar_needs_a_gradient(device):
    y = leaf([1.0, 2.0], device) * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs.*\[2\]"):
        y.backward()
    y.backward(tg.tensor([1.0, -1.0], device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_second_backward_through_freed_graph(device):
    x = leaf([1.0, 2.0], device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]            # retained once: the two passes accumulate
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


@pytest.mark.parametrize("device", DEVICES)
def test_in_place_change_of_a_saved_tensor_is_caught(device):
    x = leaf([0.5, -1.0], device)
    a = x.sigmoid()                                # saves its output a
    a.mul_(2)                                      # under autograd: a is at version 1 now
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1; expected version 0"):
        a.sum().backward()
    b = x.exp()
    with tg.no_grad():
        b.add_(1.0)                                # untracked write into memory exp saved
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_leaf_in_place(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[0:1].mul_(2.0)
    with tg.no_grad():
        x.add_(1.0)
    assert x.tolist() == [2.0, 3.0] and x.is_leaf and x.requires_grad


# ------------------------------------------------------------------------------------------ accumulation, hooks
@pytest.mark.parametrize("device", DEVICES)
def test_grad_accumulates_and_shared_inputs_add(device):
    x = leaf([1.0, 3.0], device)
    (x * x + x).sum().backward()                   # x used three times
    assert x.grad.tolist() == [3.0, 7.0]
    (x * 2).sum().backward()
    assert x.grad.tolist() == [5.0, 9.0]
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("device", DEVICES)
def test_retain_grad_and_hooks(device):
    x = leaf([1.0, 2.0], device)
    h = x * 3
    h.retain_grad()
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    x.register_hook(lambda g: g + 1)
    (h * h).sum().backward()
    assert seen == [[6.0, 12.0]]
    assert h.grad.tolist() == [60.0, 120.0]        # retain_grad runs after the tensor's hooks (PyTorch >= 2.0)
    assert x.grad.tolist() == [181.0, 361.0]       # (2h * 10) * 3 + 1
    handle.remove()
    x.grad = None
    h2 = x * 3
    (h2 * h2).sum().backward()
    assert x.grad.tolist() == [19.0, 37.0]
    assert h2.grad is None and x.is_leaf and not h2.is_leaf


@pytest.mark.parametrize("device", DEVICES)
def test_post_accumulate_grad_hook_fires_as_soon_as_the_leaf_is_ready(device):
    w1, w2 = leaf([2.0, 3.0], device), leaf([5.0, 7.0], device)
    x = tg.tensor([1.0, -1.0], device=device)
    order = []

    def hook(p):
        order.append((p is w1, p.grad.tolist(), w1.grad is None))
    handles = [w.register_post_accumulate_grad_hook(hook) for w in (w2, w1)]
    loss = ((x * w1) * w2).sum()         # w2's gradient is final before w1's backward runs
    loss.backward()
    assert order == [(False, [2.0, -3.0], True), (True, [5.0, -7.0], False)]
    order.clear()
    ((x * w1) * w2).sum().backward()     # the hook sees the accumulated .grad
    assert order[0][1] == [4.0, -6.0] and order[1][1] == [10.0, -14.0]
    order.clear()
    tg.autograd.grad(((x * w1) * w2).sum(), [w1])    # autograd.grad accumulates nothing: no hook
    for h in handles:
        h.remove()
    ((x * w1) * w2).sum().backward()
    assert order == [] and w1.grad.tolist() == [15.0, -21.0]
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w1 * 2).register_post_accumulate_grad_hook(hook)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        x.register_post_accumulate_grad_hook(hook)


@pytest.mark.parametrize("device", DEVICES)
def test_detach(device):
    x = leaf([1.0, 2.0], device)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    y = (x * d).sum()
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0]
    d2 = x.detach()
    with tg.no_grad():
        d2[0] = 5.0
    assert x[0].item() == 5.0                      # detach shares memory


# ------------------------------------------------------------------------------------------ grad modes
def test_grad_mode_context_managers_and_decorators():
    x = leaf([1.0], "cpu")
    with tg.no_grad():
        assert not (x * 2).requires_grad
        with tg.enable_grad():
            assert (x * 2).requires_grad
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    assert not tg.is_grad_enabled()
    tg.set_grad_enabled(True)
    with tg.inference_mode():
        assert not (x * 2).requires_grad
    with tg.inference_mode(False):
        assert (x * 2).requires_grad

    @tg.no_grad()
    def f(t):
        return t * 2

    @tg.no_grad
    def g(t):
        return t * 2

    @tg.enable_grad()
    def h(t):
        return t * 2

    @tg.set_grad_enabled(False)
    def k(t):
        return t * 2

    @tg.inference_mode()
    def m(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad and not k(x).requires_grad and not m(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert h(x).requires_grad
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError("boom")
    assert tg.is_grad_enabled()                    # restored after an exception


# ------------------------------------------------------------------------------------------ autograd.grad
@pytest.mark.parametrize("device", DEVICES)
def test_autograd_grad(device):
    x = leaf([1.0, 2.0], device)
    w = leaf([3.0, -1.0], device)
    h = x * w
    y = (h * x).sum()
    gx, gh = tg.autograd.grad(y, [x, h], retain_graph=True)
    assert gx.tolist() == [6.0, -4.0] and gh.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None        # .grad untouched
    (gw,) = tg.autograd.grad(y, w, retain_graph=True)
    assert gw.tolist() == [1.0, 4.0]
    unused = leaf([0.0], device)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        tg.autograd.grad(y, [unused], retain_graph=True)
    assert tg.autograd.grad(y, [unused], retain_graph=True, allow_unused=True) == (None,)
    # create_graph=True: the gradient is recorded (y = sum(w x^2): dy/dx = 2 w x, d(sum dy/dx)/dx = 2 w)
    (gx,) = tg.autograd.grad(y, [x], create_graph=True)
    assert gx.grad_fn is not None and gx.tolist() == [6.0, -4.0]
    (ggx,) = tg.autograd.grad(gx.sum(), x, retain_graph=True)   # its graph runs through y's nodes
    assert ggx.tolist() == [6.0, -2.0]
    y.backward(create_graph=True)
    assert x.grad.grad_fn is not None and x.grad.tolist() == [6.0, -4.0]


class _Identity(Op):
    def forward(self, x):
        return x

    def backward(self, g):
        return g


def test_deep_chain_has_no_recursion_limit():
    x = leaf([1.0], "cpu", dtype=tg.float64)
    y = x
    for _ in range(100_000):                       # the engine walks the graph iteratively
        y = _Identity.apply(y)
    for _ in range(2_000):
        y = y * 1.0
    (y * 2.0).backward(tg.tensor([1.0], dtype=tg.float64))
    assert x.grad.tolist() == [2.0]


# ------------------------------------------------------------------------------------------ in place under autograd
@pytest.mark.parametrize("device", DEVICES)
def test_in_place_on_non_leaf_keeps_earlier_consumers_right(device):
    x = leaf([1.0, 2.0], device)
    y = x * 1
    z = y + y                                      # uses y before the in-place change (saves nothing)
    y.mul_(3)                                      # y = 3x
    (z * y).backward(tg.tensor([1.0, 1.0], device=device))
    assert x.grad.tolist() == [12.0, 24.0]         # d(2x * 3x)/dx = 12x
    y2 = x * 1
    z2 = y2 * y2                                   # saves y2: changing it in place must be caught (PyTorch)
    y2.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z2.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_in_place_on_a_view_updates_the_base_and_its_gradient(device):
    x = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device)
    y = x.clone()
    y[1:].mul_(2)                                  # through a view: y's rows 1 and 2 double
    y.t()[0].add_(10)                              # column 0 of y, through a transposed view
    assert y.tolist() == [[11.0, 2.0], [16.0, 8.0], [20.0, 12.0]]
    g = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device)
    y.backward(g)
    assert x.grad.tolist() == [[1.0, 2.0], [6.0, 8.0], [10.0, 12.0]]


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_with_grad_flows_to_both_sides(device):
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    v = leaf([7.0, 8.0], device)
    y = x * 1
    y[:, tg.tensor([2, 0], device=device)] = v.unsqueeze(0)
    assert y.tolist() == [[8.0, 2.0, 7.0], [8.0, 5.0, 7.0]]
    y.backward(tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device))
    assert x.grad.tolist() == [[0.0, 2.0, 0.0], [0.0, 5.0, 0.0]]
    assert v.grad.tolist() == [9.0, 5.0]


# ------------------------------------------------------------------------------------------ Function, devices
class _Cube(Op):
    def forward(self, x):
        self.save_for_backward(x)
        return self.be.binary("mul", self.be.binary("mul", x, x), x)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return self.be.binary("mul", gy, self.be.binary("mul", self.be.binary("mul", x, x), 3.0))


class _WrongCube(_Cube):
    def backward(self, gy):
        (x,) = self.saved_tensors
        return self.be.binary("mul", gy, self.be.binary("mul", x, x))


@pytest.mark.parametrize("device", DEVICES)
def test_custom_function(device):
    x = leaf([1.0, -2.0], device)
    y = _Cube.apply(x)
    assert y.tolist() == [1.0, -8.0] and y.grad_fn.name == "_CubeBackward"
    y.backward(tg.tensor([1.0, 1.0], device=device))
    assert x.grad.tolist() == [3.0, 12.0]


def test_gradcheck_accepts_right_and_rejects_wrong_gradients():
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 2)), dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(_Cube.apply, [x])
    assert tg.autograd.gradcheck(lambda a: (a.softmax(-1) * a).sum(0), [x])
    with pytest.raises(RuntimeError, match="Jacobian mismatch for input 0"):
        tg.autograd.gradcheck(_WrongCube.apply, [x])
    assert tg.autograd.gradcheck(_WrongCube.apply, [x], raise_exception=False) is False
    with pytest.raises(ValueError, match="float64"):
        tg.autograd.gradcheck(_Cube.apply, [tg.tensor([1.0], requires_grad=True)])


def test_gradient_crosses_devices():
    x = leaf([1.0, 2.0], "cpu")
    y = (x.cuda() * 3).cpu() * x
    y.backward(tg.tensor([1.0, 1.0]))
    assert x.grad.device.type == "cpu" and x.grad.tolist() == [6.0, 12.0]
    assert y.grad_fn is not None


@pytest.mark.parametrize("device", DEVICES)
def test_integer_outputs_never_require_grad(device):
    x = leaf([1.0, 3.0, 2.0], device)
    v, i = x.max(0)
    assert v.requires_grad and not i.requires_grad and i.item() == 1
    assert not (x > 1).requires_grad and not x.argmax().requires_grad
