"""nn breadth: Conv1d, ConvTranspose1d/2d, GroupNorm, InstanceNorm, interpolate/Upsample, PixelShuffle, channel
dropout, padding layers, normalize/cosine_similarity, ParameterList/Dict and the Transformer layers.

Each op is checked against an independent reference (a NumPy formula, a known answer, or a mathematical
identity such as the adjoint relation between conv2d and conv_transpose2d), its float64 gradients on cpu by
finite differences (`gradcheck`), and cpu against cuda (Triton's interpreter here) forward and backward in
float32 with `compare_devices`. Where torch is installed, the layers are also loaded with a torch twin's
state_dict and must give the same outputs (skipped with that reason elsewhere).
"""
import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad.autograd import gradcheck
from tritongrad.testing import compare_devices


def _t(a, requires_grad=False, dtype=tg.float64):
    return tg.tensor(np.asarray(a), dtype=dtype, requires_grad=requires_grad)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------------------------- convolutions
CT_CASES = [  # (x shape, w shape, stride, padding, output_padding, dilation, groups)
    ((2, 4, 3, 5), (4, 3, 3, 2), 1, 0, 0, 1, 1),
    ((1, 4, 4, 3), (4, 2, 3, 3), 2, 1, 1, 1, 2),
    ((2, 2, 3, 3), (2, 3, 2, 3), (2, 1), (0, 1), (1, 0), (1, 2), 1),
]


@pytest.mark.parametrize("case", CT_CASES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    xs, ws, s, p, op, d, g = case
    x, w = _t(_rand(*xs)), _t(_rand(*ws, seed=1))
    out = F.conv_transpose2d(x, w, None, s, p, op, g, d)
    y = _t(_rand(*out.shape, seed=2))
    lhs = float((out * y).sum())
    rhs = float((x * F.conv2d(y, w, None, s, p, d, g)).sum())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))
    h = [(n - 1) * si - 2 * pi + di * (k - 1) + oi + 1
         for n, k, si, pi, oi, di in zip(xs[2:], ws[2:], *(np.broadcast_to(v, 2) for v in (s, p, op, d)))]
    assert tuple(out.shape) == (xs[0], ws[1] * g, *h)


@pytest.mark.parametrize("case", CT_CASES[1:])
def test_conv_transpose2d_gradients_and_devices(case):
    xs, ws, s, p, op, d, g = case
    x, w, b = _t(_rand(*xs), True), _t(_rand(*ws, seed=1), True), _t(_rand(ws[1] * g, seed=3), True)
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d), (x, w, b))
    f32 = [v.detach().float().requires_grad_() for v in (x, w, b)]
    assert compare_devices(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d), *f32)


def test_conv1d_matches_a_direct_correlation_and_devices():
    x, w, b = _rand(2, 4, 9), _rand(6, 2, 3, seed=1), _rand(6, seed=2)
    out = F.conv1d(_t(x), _t(w), _t(b), stride=2, padding=1, dilation=2, groups=2).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    ref = np.zeros_like(out)
    for o in range(6):
        gi = o // 3
        for t in range(out.shape[2]):
            taps = xp[:, 2 * gi:2 * gi + 2, 2 * t:2 * t + 5:2]
            ref[:, o, t] = (taps * w[o]).sum((1, 2)) + b[o]
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    args = [tg.tensor(a, dtype=tg.float32, requires_grad=True) for a in (x, w, b)]
    assert compare_devices(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2), *args)
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, stride=2, output_padding=1),
                     (_t(_rand(1, 3, 4), True), _t(_rand(3, 2, 3, seed=4), True)))


def test_conv_layers_shapes_init_and_output_size():
    tg.manual_seed(0)
    ct = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True)
    assert tuple(ct.weight.shape) == (4, 3, 3, 3)
    bound = 1 / np.sqrt(3 * 9)   # fan_in of a transposed weight: out/groups * kernel
    assert float(ct.bias.abs().max()) <= bound
    x = tg.randn(1, 4, 5, 5)
    assert tuple(ct(x).shape) == (1, 6, 9, 9)
    assert tuple(ct(x, output_size=(10, 10)).shape) == (1, 6, 10, 10)
    with pytest.raises(ValueError, match="valid sizes range from"):
        ct(x, output_size=(12, 12))
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")
    c1 = nn.Conv1d(3, 5, 3, padding="same", padding_mode="circular")
    xs = tg.randn(2, 3, 7)
    ref = F.conv1d(F.pad(xs, (1, 1), mode="circular"), c1.weight, c1.bias)
    np.testing.assert_allclose(c1(xs).detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    c2 = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")
    x2 = tg.randn(1, 2, 4, 4)
    ref2 = F.conv2d(F.pad(x2, (1, 1, 1, 1), mode="reflect"), c2.weight, c2.bias)
    np.testing.assert_allclose(c2(x2).detach().numpy(), ref2.detach().numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------------------------- norms
def test_group_norm_matches_its_formula_gradients_and_devices():
    x, w, b = _rand(3, 6, 2, 5), _rand(6, seed=1), _rand(6, seed=2)
    out = F.group_norm(_t(x), 3, _t(w), _t(b), eps=1e-5).numpy()
    g = x.reshape(3, 3, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    ref = ref * w[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 3, w, b), (_t(x[:1], True), _t(w, True), _t(b, True)))
    args = [tg.tensor(a, dtype=tg.float32, requires_grad=True) for a in (x, w, b)]
    assert compare_devices(lambda x, w, b: F.group_norm(x, 2, w, b), *args)
    gn = nn.GroupNorm(3, 6)
    assert sorted(gn.state_dict()) == ["bias", "weight"] and float(gn.weight.sum()) == 6.0
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_instance_norm_normalizes_each_channel_and_tracks_batch_mean_stats(device):
    x = _rand(4, 3, 5, seed=3).astype(np.float32)
    m = nn.InstanceNorm1d(3, affine=True, track_running_stats=True, momentum=0.5).to(device)
    out = m(tg.tensor(x, device=device)).detach().cpu().numpy()
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.running_mean.cpu().numpy(), 0.5 * x.mean(-1).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.running_var.cpu().numpy(), 0.5 + 0.5 * x.var(-1, ddof=1).mean(0), rtol=1e-5)
    m.eval()
    rm, rv = m.running_mean.cpu().numpy(), m.running_var.cpu().numpy()
    out_eval = m(tg.tensor(x, device=device)).detach().cpu().numpy()
    np.testing.assert_allclose(out_eval, (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5), rtol=1e-4, atol=1e-5)
    assert tuple(nn.InstanceNorm2d(3)(tg.randn(3, 4, 4, device=device)).shape) == (3, 4, 4)


# ------------------------------------------------------------------------------------------------- resizing
def test_interpolate_known_answers():
    x = _t([[[[0.0, 1.0], [2.0, 3.0]]]])
    up = F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True).numpy()[0, 0]
    np.testing.assert_allclose(up, [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
    line = _t([[[0.0, 1.0]]])
    np.testing.assert_allclose(F.interpolate(line, scale_factor=2, mode="linear").numpy()[0, 0], [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(F.interpolate(line, size=4).numpy()[0, 0], [0, 0, 1, 1])
    np.testing.assert_allclose(F.interpolate(_t([[[0.0, 1.0, 2.0]]]), size=2, mode="nearest-exact").numpy()[0, 0],
                               [0, 2])
    np.testing.assert_allclose(F.interpolate(_t([[[1.0, 3.0, 5.0, 7.0]]]), size=2, mode="area").numpy()[0, 0], [2, 6])
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, size=3, align_corners=True)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_gradients_and_devices(mode, align):
    x = _t(_rand(1, 2, 3, 4), True)
    assert gradcheck(lambda x: F.interpolate(x, size=(5, 3), mode=mode, align_corners=align), (x,))
    xf = x.detach().float().requires_grad_()
    assert compare_devices(lambda x: F.interpolate(x, scale_factor=(1.5, 2), mode=mode, align_corners=align), xf)
    up = nn.Upsample(scale_factor=2, mode=mode, align_corners=align)
    assert tuple(up(x).shape) == (1, 2, 6, 8)


def test_pixel_shuffle_layout_and_inverse():
    x = np.arange(2 * 8 * 2 * 3, dtype=np.float64).reshape(2, 8, 2, 3)
    out = F.pixel_shuffle(_t(x), 2).numpy()
    ref = x.reshape(2, 2, 2, 2, 2, 3).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 4, 6)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(_t(x))).numpy(), x)
    assert compare_devices(lambda t: F.pixel_shuffle(t, 2), tg.tensor(x, dtype=tg.float32, requires_grad=True))


# ------------------------------------------------------------------------------------------------- dropout, padding
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_channel_dropout_zeroes_whole_channels(device):
    tg.manual_seed(0)
    x = tg.ones(8, 16, 3, 3, device=device)
    out = nn.Dropout2d(0.5)(x).cpu().numpy()
    per_channel = out.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    d1 = nn.Dropout1d(0.3)
    d1.eval()
    assert d1(x[:, :, 0]) is x[:, :, 0] or np.array_equal(d1(x[:, :, 0]).cpu().numpy(), x[:, :, 0].cpu().numpy())
    with pytest.raises(RuntimeError, match="Expected 3D or 4D input"):
        F.dropout2d(tg.ones(2, device=device))


@pytest.mark.parametrize("layer,np_mode,pad", [
    (nn.ReflectionPad1d, "reflect", (2, 1)), (nn.ReplicationPad2d, "edge", (1, 2, 0, 1)),
    (nn.CircularPad1d, "wrap", 2), (nn.ZeroPad2d, "constant", (1, 0, 2, 1)),
])
def test_padding_layers_match_numpy(layer, np_mode, pad):
    m = layer(pad)
    p = m.padding
    x = _rand(2, 3, 4, 5)[..., 0, :] if len(p) == 2 else _rand(2, 3, 4, 5)
    width = [(0, 0)] * (x.ndim - len(p) // 2) + [(p[2 * i], p[2 * i + 1]) for i in reversed(range(len(p) // 2))]
    np.testing.assert_array_equal(m(_t(x)).numpy(), np.pad(x, width, mode=np_mode))
    assert gradcheck(m, (_t(x[:1, :1], True),))
    np.testing.assert_array_equal(nn.ConstantPad1d(1, 3.5)(_t([[1.0]])).numpy(), [[3.5, 1.0, 3.5]])


# ------------------------------------------------------------------------------------------------- distances
def test_normalize_and_cosine_similarity():
    a, b = _rand(4, 5), _rand(4, 5, seed=1)
    np.testing.assert_allclose(F.normalize(_t(a), dim=1).numpy(), a / np.linalg.norm(a, axis=1, keepdims=True))
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(F.cosine_similarity(_t(a), _t(b)).numpy(), cos, rtol=1e-12)
    assert gradcheck(lambda a, b: F.cosine_similarity(a, b, dim=0), (_t(a, True), _t(b, True)))
    assert float(F.cosine_similarity(_t([[0.0, 0.0]]), _t([[1.0, 0.0]]))) == 0.0
    args = [tg.tensor(v, dtype=tg.float32, requires_grad=True) for v in (a, b)]
    assert compare_devices(lambda a, b: F.cosine_similarity(a, b) + F.normalize(a, dim=0).sum(1), *args)


# ------------------------------------------------------------------------------------------------- containers
def test_parameter_list_and_dict():
    pl = nn.ParameterList([tg.zeros(2), nn.Parameter(tg.ones(3), requires_grad=False)])
    pl.append(tg.ones(1))
    assert len(pl) == 3 and [tuple(p.shape) for p in pl] == [(2,), (3,), (1,)]
    assert isinstance(pl[0], nn.Parameter) and pl[0].requires_grad and not pl[1].requires_grad
    assert list(pl.state_dict()) == ["0", "1", "2"] and len(pl[1:]) == 2
    pd = nn.ParameterDict({"b": tg.zeros(1), "a": tg.ones(2)})
    assert list(pd.keys()) == ["a", "b"] and "a" in pd and isinstance(pd["b"], nn.Parameter)
    pd["c"] = tg.ones(3)
    assert list(pd.state_dict()) == ["a", "b", "c"]
    assert tuple(pd.pop("a").shape) == (2,) and len(pd) == 2

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([tg.ones(2), tg.ones(2)])

    assert len(list(M().parameters())) == 2


# ------------------------------------------------------------------------------------------------- transformer
def test_transformer_state_dict_keys_are_pytorchs():
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16)
    keys = set(m.state_dict())
    for k in ("encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.out_proj.weight",
              "encoder.layers.0.linear1.weight", "encoder.layers.0.norm2.bias", "encoder.norm.weight",
              "decoder.layers.0.multihead_attn.in_proj_bias", "decoder.layers.0.norm3.weight", "decoder.norm.bias"):
        assert k in keys, k
    assert len(keys) == 12 + 2 + 18 + 2


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_batch_first_is_a_transpose_and_masks_apply(norm_first):
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, activation="gelu")
    tf = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, activation="gelu", batch_first=True)
    tf.load_state_dict(layer.state_dict())
    x = tg.randn(5, 3, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    a = layer(x, src_mask=mask).detach().numpy()
    b = tf(x.transpose(0, 1), src_mask=mask).transpose(0, 1).detach().numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # causality: changing the last position leaves the earlier outputs alone
    x2 = x.clone()
    x2[4] = 0.0
    np.testing.assert_allclose(layer(x2, src_mask=mask).detach().numpy()[:4], a[:4], rtol=1e-5, atol=1e-6)


def test_transformer_trains_on_cuda_like_cpu():
    def run(device):
        tg.manual_seed(0)
        m = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True).to(device)
        src, tgt = tg.randn(2, 4, 8).to(device), tg.randn(2, 3, 8).to(device)
        out = m(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(3, device=device))
        out.pow(2).mean().backward()
        return out.detach().cpu().numpy(), m.encoder.layers[0].linear1.weight.grad.cpu().numpy()

    (o1, g1), (o2, g2) = run("cpu"), run("cuda")
    np.testing.assert_allclose(o2, o1, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g2, g1, rtol=1e-3, atol=1e-5)


def test_layers_match_torch_twins():
    torch = pytest.importorskip("torch", reason="torch is an optional peer: this check runs where it is installed")
    tg.manual_seed(0)
    cases = [
        (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
         torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 5)),
        (nn.Conv1d(4, 6, 3, padding=2, dilation=2), torch.nn.Conv1d(4, 6, 3, padding=2, dilation=2), (2, 4, 9)),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), (2, 4, 3, 3)),
        (nn.InstanceNorm2d(4, affine=True), torch.nn.InstanceNorm2d(4, affine=True), (2, 4, 3, 3)),
        (nn.Upsample(scale_factor=1.7, mode="bilinear"), torch.nn.Upsample(scale_factor=1.7, mode="bilinear"),
         (1, 2, 4, 5)),
        (nn.Upsample(size=(7, 3)), torch.nn.Upsample(size=(7, 3)), (1, 2, 4, 5)),
        (nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True),
         torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True), (2, 5, 8)),
    ]
    for ours, theirs, shape in cases:
        theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        a = ours(tg.tensor(x)).detach().numpy()
        b = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=type(ours).__name__)
