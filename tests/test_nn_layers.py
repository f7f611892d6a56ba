"""Layer modules: PyTorch's default initialisation, BatchNorm's running statistics, Dropout/Embedding modes,
MultiheadAttention against a NumPy reference, and each layer on cpu and cuda in several dtypes."""
import math

import numpy as np
import pytest

import tritongrad as tg
from tritongrad import nn
from optable import assert_close
from test_nn_functional import np_layer_norm, np_softmax, rnd


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_default_init_distributions(device):
    tg.manual_seed(0)
    lin = nn.Linear(50, 40, device=device)
    bound = 1 / math.sqrt(50)
    w, b = _np(lin.weight), _np(lin.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.01
    assert np.abs(b).max() <= bound and lin.weight.device.type == device
    conv = nn.Conv2d(4, 6, 3, groups=2, device=device)
    fan_in = 2 * 9
    assert np.abs(_np(conv.weight)).max() <= 1 / math.sqrt(fan_in) and np.abs(_np(conv.bias)).max() <= 1 / math.sqrt(fan_in)
    emb = nn.Embedding(200, 30, padding_idx=3, device=device)
    e = _np(emb.weight)
    assert (e[3] == 0).all() and abs(e.std() - 1) < 0.05 and abs(e.mean()) < 0.05
    ln, bn = nn.LayerNorm((2, 3), device=device), nn.BatchNorm2d(3, device=device)
    assert (_np(ln.weight) == 1).all() and (_np(ln.bias) == 0).all() and (_np(bn.running_var) == 1).all()
    assert nn.LayerNorm(3, bias=False).bias is None and nn.LayerNorm(3, elementwise_affine=False).weight is None
    mha = nn.MultiheadAttention(8, 2, device=device)
    a = math.sqrt(6 / (8 + 24))
    assert np.abs(_np(mha.in_proj_weight)).max() <= a and (_np(mha.in_proj_bias) == 0).all()
    assert (_np(mha.out_proj.bias) == 0).all() and np.abs(_np(mha.out_proj.weight)).max() <= 1 / math.sqrt(8)
    kv = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert kv.in_proj_weight is None and kv.k_proj_weight.shape == (8, 3) and kv.bias_k.shape == (1, 1, 8)
    assert [n for n, _ in kv.named_parameters()] == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                                     "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_batchnorm_module(device):
    bn = nn.BatchNorm1d(3, momentum=None).to(device)
    xs = [rnd(4, 3, seed=s) for s in range(3)]
    for x in xs:
        bn(tg.tensor(x, dtype=tg.float32, device=device))
    assert int(bn.num_batches_tracked.item()) == 3
    # momentum=None: cumulative average of the batch statistics
    assert_close(_np(bn.running_mean), np.mean([x.mean(0) for x in xs], axis=0), "float32", "cumulative mean")
    assert_close(_np(bn.running_var), np.mean([x.var(0, ddof=1) for x in xs], axis=0), "float32", "cumulative var")
    bn.eval()
    x = rnd(2, 3, 5)
    y = bn(tg.tensor(x, dtype=tg.float32, device=device))
    rm, rv = _np(bn.running_mean)[None, :, None], _np(bn.running_var)[None, :, None]
    assert_close(_np(y), (x - rm) / np.sqrt(rv + 1e-5), "float32", "eval uses running stats")
    assert int(bn.num_batches_tracked.item()) == 3
    nt = nn.BatchNorm2d(2, track_running_stats=False, affine=False).to(device).eval()
    assert nt.running_mean is None and list(nt.state_dict()) == []
    x4 = rnd(3, 2, 2, 2)
    y4 = nt(tg.tensor(x4, dtype=tg.float32, device=device))    # no running stats: batch statistics in eval too
    ref = (x4 - x4.mean((0, 2, 3), keepdims=True)) / np.sqrt(x4.var((0, 2, 3), keepdims=True) + 1e-5)
    assert_close(_np(y4), ref, "float32", "batch stats without tracking")
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(2)(tg.randn(2, 2, 3))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_dropout_module_and_embedding_module(device):
    d = nn.Dropout(0.4).to(device)
    x = tg.ones(100, device=device)
    assert ((d(x).cpu().numpy() == 0).mean()) > 0.15
    assert d.eval()(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got -0.1"):
        nn.Dropout(-0.1)
    emb = nn.Embedding(6, 4, padding_idx=2).to(device)
    opt = tg.optim.SGD(emb.parameters(), lr=1.0)
    before = _np(emb.weight)
    idx = tg.tensor([[2, 5, 2], [0, 5, 1]], device=device)
    out = emb(idx)
    assert out.shape == (2, 3, 4)
    assert_close(_np(out), before[idx.cpu().numpy()], "float32", "lookup")
    out.backward(tg.ones(2, 3, 4, device=device))
    opt.step()
    after = _np(emb.weight)
    assert (after[2] == 0).all() and (after[3] == before[3]).all()
    assert_close(after[5], before[5] - 2.0, "float32", "row 5 used twice")
    frozen = nn.Embedding.from_pretrained(tg.tensor(before, dtype=tg.float32))
    assert not frozen.weight.requires_grad


def np_mha(q, k, v, w_in, b_in, w_out, b_out, heads, mask=None):
    """(L, N, E) reference: projections, per-head softmax attention, output projection; weights averaged."""
    e = q.shape[-1]
    hd = e // heads
    qp, kp, vp = (x @ w_in[i * e:(i + 1) * e].T + b_in[i * e:(i + 1) * e] for i, x in enumerate((q, k, v)))

    def split(x):  # (L, N, E) -> (N, H, L, hd)
        return x.reshape(x.shape[0], x.shape[1], heads, hd).transpose(1, 2, 0, 3)

    s = split(qp) @ split(kp).transpose(0, 1, 3, 2) / math.sqrt(hd)
    if mask is not None:
        s = s + mask
    p = np_softmax(s)
    o = (p @ split(vp)).transpose(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], e)
    return o @ w_out.T + b_out, p.mean(1)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", [False, True])
def test_multihead_attention(device, need_weights, masks):
    tg.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(device)
    x, kv = rnd(2, 3, 8), rnd(2, 5, 8, seed=1)
    params = [_np(p) for p in (mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias)]
    kw, add = {}, None
    if masks:
        kpm = np.array([[False] * 4 + [True], [False] * 5])
        am = np.random.default_rng(3).uniform(size=(3, 5)) > 0.7
        am[:, 0] = False
        kw = dict(key_padding_mask=tg.tensor(kpm, device=device), attn_mask=tg.tensor(am, device=device))
        add = np.where(kpm[:, None, None, :] | am[None, None], -np.inf, 0.0)
    xt = tg.tensor(x, dtype=tg.float32, device=device, requires_grad=True)
    kt = tg.tensor(kv, dtype=tg.float32, device=device, requires_grad=True)
    out, w = mha(xt, kt, kt, need_weights=need_weights, **kw)
    ref_out, ref_w = np_mha(x.transpose(1, 0, 2), kv.transpose(1, 0, 2), kv.transpose(1, 0, 2), *params, 2, add)
    assert_close(_np(out), ref_out.transpose(1, 0, 2), "float32", "mha output", 4)
    if need_weights:
        assert_close(_np(w), ref_w, "float32", "mha weights", 4)
    else:
        assert w is None
    out.backward(tg.tensor(rnd(2, 3, 8, seed=9), dtype=tg.float32, device=device))
    assert xt.grad.shape == (2, 3, 8) and mha.in_proj_weight.grad is not None


def test_multihead_attention_gradients_match_cpu_float64():
    """Both attention paths (weights with plain ops, fused kernel) give the cpu float64 gradients."""
    grads = {}
    for device, dtype, need in (("cpu", tg.float64, True), ("cpu", tg.float64, False), ("cuda", tg.float32, False),
                                ("cuda", tg.float32, True)):
        tg.manual_seed(2)
        mha = nn.MultiheadAttention(4, 2).to(device=device, dtype=dtype)     # (L, N, E) layout
        q = tg.tensor(rnd(3, 2, 4), dtype=dtype, device=device, requires_grad=True)
        out, _ = mha(q, q, q, need_weights=need, attn_mask=tg.tensor(np.triu(np.ones((3, 3), bool), 1), device=device),
                     is_causal=True)
        out.backward(tg.tensor(rnd(3, 2, 4, seed=4), dtype=dtype, device=device))
        grads[(device, need)] = [_np(q.grad)] + [_np(p.grad) for p in mha.parameters()]
    ref = grads[("cpu", True)]
    for key, gs in grads.items():
        for i, (g, r) in enumerate(zip(gs, ref)):
            assert_close(g, r, "float32" if key[0] == "cuda" else "float64", f"mha grad {i} {key}", 4)


@pytest.mark.parametrize("device,dtype", [("cpu", "float32"), ("cuda", "float32"), ("cuda", "bfloat16"),
                                          ("cuda", "float16")])
def test_layers_in_low_precision(device, dtype):
    """A small conv net and a transformer-ish block run in each dtype and match their float64 cpu twin."""
    dt = tg.dtypes.as_dtype(dtype)
    outs = {}
    for dev, d in ((device, dt), ("cpu", tg.float64)):
        tg.manual_seed(5)
        net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(4, 4, 1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(4, 6), nn.RMSNorm(6, eps=1e-6), nn.SiLU(), nn.LayerNorm(6), nn.Tanh(),
                            nn.Linear(6, 3), nn.LogSoftmax(dim=1)).to(device=dev, dtype=d)
        x = tg.tensor(rnd(3, 2, 8, 8), dtype=d, device=dev)
        loss = nn.NLLLoss()(net(x), tg.tensor([0, 2, 1], device=dev))
        loss.backward()
        outs["ref" if d is tg.float64 else "got"] = [_np(loss)] + [_np(p.grad) for p in net.parameters()]
    for i, (g, r) in enumerate(zip(outs["got"], outs["ref"])):
        rr = r.astype(dt.np).astype(np.float64) if dtype in ("bfloat16", "float16") else r
        assert_close(g, rr, dtype, f"output/grad {i}", 8)


def test_layernorm_module_matches_reference():
    ln = nn.LayerNorm([2, 3])
    with tg.no_grad():
        ln.weight.copy_(tg.tensor(rnd(2, 3, seed=1)))
        ln.bias.copy_(tg.tensor(rnd(2, 3, seed=2)))
    x = rnd(4, 2, 3)
    assert_close(_np(ln(tg.tensor(x, dtype=tg.float32))), np_layer_norm(x, _np(ln.weight), _np(ln.bias), 2), "float32",
                 "LayerNorm")
    rms = nn.RMSNorm(3)
    y = rms(tg.tensor(x, dtype=tg.float32))
    assert_close(_np(y), x / np.sqrt((x * x).mean(-1, keepdims=True) + np.finfo(np.float32).eps), "float32", "RMSNorm")


def test_conv_module_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    y = nn.Conv2d(2, 3, 3, padding="same")(tg.randn(2, 5, 4))        # unbatched (C, H, W)
    assert y.shape == (3, 5, 4)


def test_loss_modules():
    x, t = tg.tensor(rnd(4, 3), dtype=tg.float32), tg.tensor([0, 2, 1, 1])
    w = tg.tensor([1.0, 2.0, 0.5])
    ce = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    assert list(ce.state_dict()) == ["weight"]
    assert_close(ce(x, t).item(), nn.functional.cross_entropy(x, t, w, label_smoothing=0.1).item(), "float32", "ce")
    assert nn.MSELoss(reduction="sum")(x, x * 0).item() == pytest.approx(float((rnd(4, 3) ** 2).sum()), rel=1e-5)
    assert nn.L1Loss(reduction="none")(x, x).shape == (4, 3)
    assert nn.SmoothL1Loss(beta=0.5).beta == 0.5 and nn.HuberLoss(delta=2.0).delta == 2.0
    bce = nn.BCEWithLogitsLoss(pos_weight=tg.ones(3))
    assert list(bce.state_dict()) == ["pos_weight"]
    assert bce(x, tg.ones(4, 3) * 0.5).shape == ()
    assert nn.BCELoss()(x.sigmoid(), tg.ones(4, 3)).item() > 0
    assert nn.KLDivLoss(reduction="batchmean", log_target=True)(x, x).item() == 0.0
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.NLLLoss(size_average=False).reduction == "sum"
