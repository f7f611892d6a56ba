"""`nn.Module` API: registration, traversal order, state_dict keys (PyTorch's, written out by hand),
load_state_dict, hooks, conversion in place, reprs, containers, Parameter; the seed's Net on cpu and cuda."""
from collections import OrderedDict

import numpy as np
import pytest

import tritongrad as torch
from tritongrad import nn
from optable import assert_close


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4)
        self.attn = nn.MultiheadAttention(4, 2)
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))
        self.register_buffer("mask", torch.ones(3), persistent=False)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, padding_idx=0)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.norm = nn.BatchNorm1d(4)
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 3, bias=False), "conv": nn.Conv2d(1, 2, 3)})
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(1))


# what PyTorch's state_dict().keys() gives for the same structure
EXPECTED_KEYS = [
    "scale", "steps", "emb.weight",
    "blocks.0.ln.weight", "blocks.0.ln.bias", "blocks.0.attn.in_proj_weight", "blocks.0.attn.in_proj_bias",
    "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias", "blocks.0.mlp.0.weight", "blocks.0.mlp.0.bias",
    "blocks.0.mlp.2.weight", "blocks.0.mlp.2.bias",
    "blocks.1.ln.weight", "blocks.1.ln.bias", "blocks.1.attn.in_proj_weight", "blocks.1.attn.in_proj_bias",
    "blocks.1.attn.out_proj.weight", "blocks.1.attn.out_proj.bias", "blocks.1.mlp.0.weight", "blocks.1.mlp.0.bias",
    "blocks.1.mlp.2.weight", "blocks.1.mlp.2.bias",
    "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked",
    "heads.cls.weight", "heads.conv.weight", "heads.conv.bias",
]


def test_state_dict_keys_match_pytorch():
    m = Model()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd.keys()) == EXPECTED_KEYS
    assert [n for n, _ in m.named_parameters()] == [k for k in EXPECTED_KEYS if k not in
                                                    ("steps", "norm.running_mean", "norm.running_var",
                                                     "norm.num_batches_tracked")]
    assert [n for n, _ in m.named_buffers()] == ["steps", "blocks.0.mask", "blocks.1.mask", "norm.running_mean",
                                                  "norm.running_var", "norm.num_batches_tracked"]
    assert [n for n, _ in m.named_modules()][:6] == ["", "emb", "blocks", "blocks.0", "blocks.0.ln", "blocks.0.attn"]
    assert [n for n, _ in m.named_children()] == ["emb", "blocks", "norm", "heads"]
    # detached values sharing memory with the parameters
    v = sd["emb.weight"]
    assert not v.requires_grad and v.grad_fn is None
    v.numpy()[1, 0] = 42.0
    assert m.emb.weight.detach().numpy()[1, 0] == 42.0
    assert m.state_dict(keep_vars=True)["scale"] is m.scale


def test_load_state_dict():
    a, b = Model(), Model()
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == [] and repr(res) == "<All keys matched successfully>"
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=k)
    sd = a.state_dict()
    del sd["emb.weight"]
    sd["extra.weight"] = torch.ones(2)
    with pytest.raises(RuntimeError) as e:
        b.load_state_dict(sd)
    assert str(e.value).startswith('Error(s) in loading state_dict for Model:\n\tMissing key(s) in state_dict: '
                                   '"emb.weight". \n\tUnexpected key(s) in state_dict: "extra.weight". ')
    res = b.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["emb.weight"] and res.unexpected_keys == ["extra.weight"]
    sd = a.state_dict()
    sd["heads.cls.weight"] = torch.ones(4, 3)
    with pytest.raises(RuntimeError, match=r"size mismatch for heads.cls.weight: copying a param with shape "
                                           r"tritongrad.Size\(\[4, 3\]\) from checkpoint, the shape in current model "
                                           r"is tritongrad.Size\(\[3, 4\]\)."):
        b.load_state_dict(sd)
    # checkpoints without num_batches_tracked load (as PyTorch's BatchNorm allows)
    sd = dict(a.state_dict())
    del sd["norm.num_batches_tracked"]
    assert b.load_state_dict(sd).missing_keys == []


def test_load_state_dict_across_devices_and_dtypes():
    a = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    b = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to("cuda")
    w = b[0].weight
    b.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in a.state_dict().items()})
    assert b[0].weight is w and w.device.type == "cuda" and w.dtype is torch.float32
    np.testing.assert_allclose(w.detach().cpu().numpy(), a[0].weight.detach().numpy())


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(torch.zeros(2))
    m.child = nn.Linear(2, 2)
    m.plain = torch.zeros(1)
    m.register_buffer("buf", torch.ones(2))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"] and list(m._buffers) == ["buf"]
    assert "plain" not in m.state_dict()
    m.buf = torch.zeros(3)                           # reassigning a buffer keeps it a buffer
    assert m._buffers["buf"].shape == (3,)
    m.nb = nn.Buffer(torch.ones(1), persistent=False)
    assert "nb" in m._buffers and "nb" not in m.state_dict()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = torch.zeros(2)
    m.w = None
    assert m._parameters["w"] is None and list(m.parameters())[0] is m.child.weight
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", torch.ones(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing
    del m.child
    assert "child" not in m._modules
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'):
        m(torch.ones(1))
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.p = nn.Parameter(torch.ones(1))
        Bad()
    shared = nn.Linear(2, 2)
    tied = nn.Sequential(shared, shared)
    assert len(list(tied.parameters())) == 2 and len(list(tied.modules())) == 2
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_parameter():
    t = torch.randn(2, 3)
    p = nn.Parameter(t)
    assert p.requires_grad and isinstance(p, torch.Tensor) and p.is_leaf
    p.detach().numpy()[0, 0] = 7.0                   # shares memory with t: no copy
    assert t.numpy()[0, 0] == 7.0
    assert repr(p).startswith("Parameter containing:\ntensor([[") and repr(p).endswith("requires_grad=True)")
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    q = nn.Parameter(torch.ones(2, device="cuda"))
    assert q.device.type == "cuda" and repr(q).endswith("device='cuda:0', requires_grad=True)")
    import copy
    c = copy.deepcopy(nn.Linear(2, 3))
    assert isinstance(c.weight, nn.Parameter)


def test_to_moves_parameters_in_place_and_optimizer_keeps_working():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    params = list(m.parameters())
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m(torch.randn(5, 3)).sum().backward()
    m.to("cuda")
    assert all(a is b for a, b in zip(params, m.parameters()))
    assert all(p.device.type == "cuda" and p.grad.device.type == "cuda" for p in m.parameters())
    assert m[1].running_mean.device.type == "cuda" and m[1].num_batches_tracked.dtype is torch.int64
    before = m[0].weight.detach().cpu().numpy().copy()
    grad = m[0].weight.grad.cpu().numpy()
    opt.step()
    np.testing.assert_allclose(m[0].weight.detach().cpu().numpy(), before - 0.1 * grad, rtol=1e-6)
    m.half()
    assert m[0].weight.dtype is torch.float16 and m[1].num_batches_tracked.dtype is torch.int64
    m.float().cpu()
    assert m[0].weight is params[0] and m[0].weight.device.type == "cpu" and m[0].weight.dtype is torch.float32
    m.to(torch.float64)
    assert m[2].bias.dtype is torch.float64 and m.double() is m and m.bfloat16()[0].weight.dtype is torch.bfloat16
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        m.to(torch.int64)


def test_train_eval_zero_grad_requires_grad_apply():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2)))
    assert m.training and all(c.training for c in m.modules())
    assert m.eval() is m and not any(c.training for c in m.modules())
    m.train()
    assert m[2][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")
    m(torch.randn(4, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "Dropout", "BatchNorm1d", "Sequential", "Sequential"]
    assert m.get_submodule("2.0") is m[2][0] and m.get_parameter("0.bias") is m[0].bias
    assert m.get_buffer("2.0.running_var") is m[2][0].running_var


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(torch.randn(3, 2))
    np.testing.assert_allclose(y.detach().numpy(), np.broadcast_to(m.bias.detach().numpy() + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    x = torch.randn(3, 2)
    assert_close(m(x).detach().numpy(), x.numpy() @ m.weight.detach().numpy().T + m.bias.detach().numpy(),
                 "float32", "after remove")
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
    assert_close(m(x).detach().numpy(), (2 * x.numpy()) @ m.weight.detach().numpy().T + m.bias.detach().numpy(),
                 "float32", "kwargs pre-hook")


def test_reprs():
    m = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 4)), ("act", nn.ReLU(inplace=True)),
                                   ("blocks", nn.ModuleList([nn.Linear(4, 4) for _ in range(3)] + [nn.GELU("tanh")])),
                                   ("norm", nn.LayerNorm(4)), ("bn", nn.BatchNorm2d(3)), ("drop", nn.Dropout(0.1)),
                                   ("conv", nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)),
                                   ("pool", nn.MaxPool2d(2)), ("emb", nn.Embedding(5, 2, padding_idx=1)),
                                   ("flat", nn.Flatten()), ("sm", nn.Softmax(dim=-1))]))
    assert repr(m) == """Sequential(
  (fc): Linear(in_features=3, out_features=4, bias=True)
  (act): ReLU(inplace=True)
  (blocks): ModuleList(
    (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)
    (3): GELU(approximate='tanh')
  )
  (norm): LayerNorm((4,), eps=1e-05, elementwise_affine=True)
  (bn): BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (drop): Dropout(p=0.1, inplace=False)
  (conv): Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (emb): Embedding(5, 2, padding_idx=1)
  (flat): Flatten(start_dim=1, end_dim=-1)
  (sm): Softmax(dim=-1)
)"""
    assert repr(nn.MultiheadAttention(4, 2)) == ("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear("
                                                 "in_features=4, out_features=4, bias=True)\n)")
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()" and repr(nn.Identity()) == "Identity()"
    assert repr(nn.RMSNorm([2, 3])) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=0)"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    assert repr(nn.Conv2d(2, 2, 1, padding="same", groups=2)) == \
        "Conv2d(2, 2, kernel_size=(1, 1), stride=(1, 1), padding=same, groups=2)"


def test_sequential_modulelist_moduledict():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl._modules) == ["1", "2"] and sl[0] is b
    s.append(nn.Tanh())
    assert len(s) == 4 and isinstance(s[3], nn.Tanh)
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s[2] = nn.Sigmoid()
    assert isinstance(s[2], nn.Sigmoid)
    with pytest.raises(IndexError, match="index 5 is out of range"):
        s[5]
    s.insert(0, nn.Identity())
    assert isinstance(s[0], nn.Identity) and s[1] is a
    x = torch.randn(4, 2)
    np.testing.assert_allclose(s(x).detach().numpy(), s[3](s[2](s[1](s[0](x)))).detach().numpy())
    ml = nn.ModuleList([a])
    ml.append(c)
    ml += [b]
    ml.insert(1, nn.Tanh())
    assert len(ml) == 4 and ml[-1] is b and isinstance(ml[1], nn.Tanh) and list(ml._modules) == ["0", "1", "2", "3"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    md = nn.ModuleDict({"x": a, "y": b})
    md["z"] = c
    assert list(md.keys()) == ["x", "y", "z"] and "y" in md and len(md) == 3 and md.pop("y") is b
    assert list(md) == ["x", "z"] and [k for k, _ in md.items()] == ["x", "z"]


def test_flatten_unflatten_identity():
    x = torch.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (2, 30))(nn.Flatten()(x)).shape == (2, 2, 30)
    assert nn.Identity(3, foo=1)(x) is x


class Net(nn.Module):
    """The seed's model: two nn.Linear layers and torch.relu."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_seed_net(device):
    torch.manual_seed(0)
    net = Net().to(device)
    w1, b1, w2, b2 = (p.detach().cpu().numpy().astype(np.float64) for p in net.parameters())
    x = np.random.default_rng(0).standard_normal((7, 20))
    t = np.array([0, 2, 1, 1, 0, 2, 2])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    out = net(torch.tensor(x, dtype=torch.float32, device=device))
    loss = nn.functional.cross_entropy(out, torch.tensor(t, device=device))
    opt.zero_grad()
    loss.backward()
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref_loss = -np.log(p[np.arange(7), t]).mean()
    d_logits = (p - np.eye(3)[t]) / 7
    d_h = (d_logits @ w2) * (h_pre > 0)
    assert_close(out.detach().cpu().numpy(), logits, "float32", "logits", 2)
    assert_close(loss.item(), ref_loss, "float32", "loss", 2)
    for got, ref, name in ((net.fc2.weight.grad, d_logits.T @ h, "fc2.weight"), (net.fc2.bias.grad, d_logits.sum(0),
                           "fc2.bias"), (net.fc1.weight.grad, d_h.T @ x, "fc1.weight"),
                           (net.fc1.bias.grad, d_h.sum(0), "fc1.bias")):
        assert_close(got.cpu().numpy(), ref, "float32", name, 4)
    opt.step()
    assert_close(net.fc1.bias.detach().cpu().numpy(), b1 - 0.1 * d_h.sum(0), "float32", "after step", 4)
