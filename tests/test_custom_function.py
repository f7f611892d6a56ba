"""PyTorch's custom-Function API (``tritongrad.autograd.Function``): the semantics of ``torch.autograd.Function``
as documented in "Extending torch.autograd", on cpu and cuda."""
import pytest

import tritongrad as tg
from tritongrad.autograd import Function, once_differentiable
from tritongrad.testing import assert_close

DEVICES = ["cpu", "cuda"]


class Scale(Function):
    @staticmethod
    def forward(ctx, x, s, *, shift=0.0):
        ctx.s = s
        return x * s + shift

    @staticmethod
    def backward(ctx, g):
        return g * ctx.s, None


class Mul(Function):          # the forward + setup_context form, with a default argument and a non-tensor output
    @staticmethod
    def forward(a, b, scale=2.0):
        return a * b * scale, "note"

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b, scale = inputs
        ctx.save_for_backward(a, b)
        ctx.scale = scale

    @staticmethod
    def backward(ctx, g, g_note):
        assert g_note is None                     # non-tensor outputs get None
        a, b = ctx.saved_tensors
        ga = g * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None


@pytest.mark.parametrize("device", DEVICES)
def test_ctx_forward_backward_with_non_tensor_args_and_kwargs(device):
    x = tg.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    y = Scale.apply(x, 3.0, shift=1.0)
    assert y.tolist() == [4.0, -5.0, 10.0] and y.requires_grad
    assert y.grad_fn.name == "ScaleBackward" and type(y.grad_fn).__name__ == "ScaleBackward"
    y.backward(tg.tensor([1.0, 2.0, 3.0], device=device))
    assert x.grad.tolist() == [3.0, 6.0, 9.0]


@pytest.mark.parametrize("device", DEVICES)
def test_setup_context_form_saved_tensors_and_needs_input_grad(device):
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    b = tg.tensor([[5.0, 6.0], [7.0, 8.0]], device=device)
    out, note = Mul.apply(a, b)
    assert note == "note"
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.backward(tg.ones(2, 2, device=device))
    assert a.grad.tolist() == [[10.0, 12.0], [14.0, 16.0]] and b.grad is None


def test_no_graph_under_no_grad_or_without_grad_inputs():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        assert not Scale.apply(x, 2.0).requires_grad
    assert not Scale.apply(x.detach(), 2.0).requires_grad


def test_forward_runs_under_no_grad_and_gets_the_input_objects():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen["grad_enabled"], seen["x"] = tg.is_grad_enabled(), x
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen["backward_grad_enabled"] = tg.is_grad_enabled()
            return g * 2

    x = tg.tensor([1.0], requires_grad=True)
    Probe.apply(x).sum().backward()
    assert seen == {"grad_enabled": False, "x": x, "backward_grad_enabled": False}


def test_returning_an_input_gives_an_alias_with_its_own_history():
    class Ident(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = Ident.apply(x)
    assert y is not x and x.grad_fn is None and y.grad_fn.name == "IdentBackward"
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_mark_dirty_in_place_forward():
    class MulTwo_(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    leaf = tg.tensor([1.0, 3.0], requires_grad=True)
    z = leaf * 1
    version = z._version[0]
    w = MulTwo_.apply(z)
    assert w is z and z.grad_fn.name == "MulTwo_Backward" and z._version[0] > version
    assert z.tolist() == [2.0, 6.0]
    w.sum().backward()
    assert leaf.grad.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        MulTwo_.apply(tg.tensor([1.0], requires_grad=True))

    class Forgets(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="marked as dirty during the forward method were not returned"):
        Forgets.apply(tg.tensor([1.0], requires_grad=True) * 1)


def test_in_place_change_of_a_saved_tensor_is_caught():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = Square.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_mark_non_differentiable_and_materialized_grads():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            idx = tg.arange(x.shape[0], device=x.device).to(tg.float32)
            ctx.mark_non_differentiable(idx)
            return x * 1, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            ctx.got = g_idx
            return g

    x = tg.tensor([3.0, 1.0], requires_grad=True)
    y, idx = SortLike.apply(x)
    assert y.requires_grad and not idx.requires_grad
    node = y.grad_fn
    y.sum().backward()
    assert node.got.tolist() == [0.0, 0.0]              # materialized as zeros, shape of the output


def test_set_materialize_grads_false_passes_none():
    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x.clone(), x.clone()

        @staticmethod
        def backward(ctx, g1, g2):
            ctx.got = (g1 is None, g2 is None)
            return g1 if g1 is not None else g2

    x = tg.tensor([1.0], requires_grad=True)
    a, b = Two.apply(x)
    node = a.grad_fn
    a.sum().backward()
    assert node.got == (False, True)


def test_returning_none_gradients_and_extra_trailing_nones():
    class First(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, None, None, None          # trailing Nones past the inputs are allowed (PyTorch)

    x, y = tg.tensor([1.0], requires_grad=True), tg.tensor([2.0], requires_grad=True)
    First.apply(x, y).sum().backward()
    assert x.grad.tolist() == [1.0] and y.grad is None


def _returns(*grads):
    class Returns(Function):
        @staticmethod
        def forward(ctx, x, n):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return grads
    return Returns


def test_pytorch_errors_for_bad_gradients():
    x = tg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"function ReturnsBackward returned an incorrect number of gradients "
                                           r"\(expected 2, got 1\)"):
        _returns(tg.ones(1, 3)).apply(x, 1).backward()
    with pytest.raises(RuntimeError, match=r"Function ReturnsBackward returned an invalid gradient at index 0 - got "
                                           r"\[4\] but expected shape compatible with \[1, 3\]"):
        _returns(tg.ones(4), None).apply(x, 1).backward()
    with pytest.raises(RuntimeError, match="returned a gradient different than None at position 2, but the "
                                           "corresponding forward input was not a Variable"):
        _returns(tg.ones(1, 3), tg.ones(1)).apply(x, 1).backward()
    with pytest.raises(RuntimeError, match="expected device cpu but got cuda"):
        _returns(tg.ones(1, 3, device="cuda"), None).apply(x, 1).backward()


def test_broadcastable_gradient_is_summed_to_the_input_shape():
    x = tg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    _returns(tg.ones(4, 1, 3), None).apply(x, 1).backward()
    assert x.grad.tolist() == [[4.0, 4.0, 4.0]]


def test_backward_returning_a_saved_tensor_does_not_alias_the_grad():
    class Leak(Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(w)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return w, None

    x, w = tg.tensor([1.0, 2.0], requires_grad=True), tg.tensor([5.0, 6.0])
    Leak.apply(x, w).sum().backward()
    x.grad.add_(1)
    assert w.tolist() == [5.0, 6.0] and x.grad.tolist() == [6.0, 7.0]


def test_saved_tensors_after_backward_and_second_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    out, _ = Mul.apply(x, tg.tensor([3.0, 4.0]))
    node = out.grad_fn
    out.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        node.saved_tensors
    out2, _ = Mul.apply(x, tg.tensor([3.0, 4.0]))
    out2.sum().backward(retain_graph=True)
    out2.sum().backward()
    assert x.grad.tolist() == [18.0, 24.0]


def test_once_differentiable_and_save_for_backward_checks():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert not tg.is_grad_enabled()
            return 3 * x * x * g

    x = tg.tensor([2.0], requires_grad=True, dtype=tg.float64)
    assert tg.autograd.gradcheck(Cube.apply, (x,))
    Cube.apply(x).backward()
    assert x.grad.tolist() == [12.0]

    class SavesInt(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    with pytest.raises(TypeError, match="save_for_backward can only save variables, but argument 1 is of type int"):
        SavesInt.apply(tg.tensor([1.0], requires_grad=True))


def test_misuse_errors():
    with pytest.raises(RuntimeError, match="Legacy autograd function with non-static forward"):
        with pytest.warns(DeprecationWarning):
            f = Scale()
        f(tg.ones(1))

    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    y = NoBackward.apply(tg.ones(1, requires_grad=True))
    with pytest.raises(NotImplementedError, match="You must implement either the backward or vjp"):
        y.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_user_function_matches_builtin_op_in_a_larger_graph(device):
    x = tg.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], device=device, requires_grad=True)
    g = tg.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], device=device)
    (Scale.apply(x.exp(), 2.0) * x).backward(g)
    ours = x.grad
    x.grad = None
    ((x.exp() * 2.0) * x).backward(g)
    assert_close(ours, x.grad)
