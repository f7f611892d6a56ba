"""Recurrent layers (nn.RNN/LSTM/GRU, the cells) and packed sequences (nn.utils.rnn).

References: a step-by-step composition of existing tritongrad ops written here (matmul, sigmoid, tanh, relu,
one op per gate), finite differences in float64 on cpu (`gradcheck`), cpu (NumPy time loop) against cuda (the
fused Triton cell kernels, in Triton's interpreter here) forward and backward with `compare_devices`, fp16/bf16
on cuda against the float32 cpu result, and, where torch is installed, torch's layers given the same weights.
Sizes are tiny: the interpreter is slow.
"""
import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn as nn
from tritongrad.autograd import gradcheck
from tritongrad.nn._rnn import rnn_forward
from tritongrad.nn.utils import rnn as rnn_utils
from tritongrad.testing import compare_devices

MODES = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _rand(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _t(a, dtype=tg.float64, requires_grad=False, device="cpu"):
    return tg.tensor(np.asarray(a), dtype=dtype, requires_grad=requires_grad, device=device)


def _weights(mode, I, H, bias=True, proj=0, seed=1, dtype=tg.float64):
    """(w_ih, w_hh, b_ih, b_hh, w_hr) as leaf tensors requiring grad."""
    G, P = GATES[mode], proj or H
    shapes = [(G * H, I), (G * H, P), (G * H,) if bias else None, (G * H,) if bias else None,
              (P, H) if proj else None]
    return [None if s is None else _t(_rand(*s, seed=seed + k, scale=0.5), dtype, True)
            for k, s in enumerate(shapes)]


def _step_reference(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """Independent reference: the cell equations of PyTorch's docs, one tritongrad op at a time."""
    T = x.shape[0]
    H = w_hh.shape[0] // GATES[mode]
    outs = []
    for t in range(T):
        gi = x[t] @ w_ih.T + (b_ih if b_ih is not None else 0.0)
        gh = h @ w_hh.T + (b_hh if b_hh is not None else 0.0)
        if mode == "lstm":
            s = gi + gh
            i, f, g, o = s[:, :H].sigmoid(), s[:, H:2 * H].sigmoid(), s[:, 2 * H:3 * H].tanh(), s[:, 3 * H:].sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            if w_hr is not None:
                h = h @ w_hr.T
        elif mode == "gru":
            r = (gi[:, :H] + gh[:, :H]).sigmoid()
            z = (gi[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
            n = (gi[:, 2 * H:] + r * gh[:, 2 * H:]).tanh()
            h = (1 - z) * n + z * h
        else:
            s = gi + gh
            h = s.tanh() if mode == "rnn_tanh" else s.relu()
        outs.append(h)
    return tg.stack(outs), h, c


def _states(mode, B, H, proj=0, layers=1, seed=5, dtype=tg.float64, requires_grad=True):
    h0 = _t(_rand(layers, B, proj or H, seed=seed, scale=0.5), dtype, requires_grad)
    c0 = _t(_rand(layers, B, H, seed=seed + 1, scale=0.5), dtype, requires_grad) if mode == "lstm" else None
    return h0, c0


# ---------------------------------------------------------------------------------- vs the op-by-op reference
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_layer_matches_step_by_step_composition(mode, device):
    T, B, I, H = 3, 2, 3, 5
    dtype = tg.float64 if device == "cpu" else tg.float32
    x = _t(_rand(T, B, I), dtype, True, device)
    ws = [None if w is None else w.detach().to(device=device, dtype=dtype).requires_grad_() for w in
          _weights(mode, I, H)]
    h0, c0 = (None if s is None else s.detach().to(device=device, dtype=dtype).requires_grad_()
              for s in _states(mode, B, H))
    out, hn, cn = rnn_forward(mode, x, h0, c0, [tuple(ws)])
    leaves = [x, h0] + ([c0] if c0 is not None else []) + [w for w in ws if w is not None]
    up = [_t(_rand(*out.shape, seed=9), dtype, device=device), _t(_rand(*hn.shape, seed=10), dtype, device=device)]
    loss = (out * up[0]).sum() + (hn * up[1]).sum() + (0 if cn is None else (cn * cn).sum())
    got = [g.cpu().numpy() for g in tg.autograd.grad(loss, leaves)]
    ref_leaves = [a.detach().requires_grad_() for a in leaves]
    rx, rh0 = ref_leaves[0], ref_leaves[1]
    rc0 = ref_leaves[2] if c0 is not None else None
    rws = iter(ref_leaves[3 if c0 is not None else 2:])
    rw = [None if w is None else next(rws) for w in ws]
    rout, rhn, rcn = _step_reference(mode, rx, rh0[0], None if rc0 is None else rc0[0], *rw[:4])
    rloss = (rout * up[0]).sum() + (rhn * up[1][0]).sum() + (0 if rcn is None else (rcn * rcn).sum())
    want = [g.cpu().numpy() for g in tg.autograd.grad(rloss, ref_leaves)]
    tol = dict(rtol=1e-9, atol=1e-11) if device == "cpu" else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.detach().cpu().numpy(), rout.detach().cpu().numpy(), **tol)
    np.testing.assert_allclose(hn[0].detach().cpu().numpy(), rhn.detach().cpu().numpy(), **tol)
    if cn is not None:
        np.testing.assert_allclose(cn[0].detach().cpu().numpy(), rcn.detach().cpu().numpy(), **tol)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol)


def test_lstm_projection_matches_composition():
    T, B, I, H, P = 3, 2, 3, 5, 2
    x = _t(_rand(T, B, I), requires_grad=True)
    ws = _weights("lstm", I, H, proj=P)
    h0, c0 = _states("lstm", B, H, proj=P)
    out, hn, cn = rnn_forward("lstm", x, h0, c0, [tuple(ws)])
    rout, rhn, rcn = _step_reference("lstm", x, h0[0], c0[0], *ws)
    np.testing.assert_allclose(out.detach().numpy(), rout.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cn[0].detach().numpy(), rcn.detach().numpy(), rtol=1e-9, atol=1e-12)
    up = _t(_rand(*out.shape, seed=3))
    g1 = tg.autograd.grad((out * up).sum(), [x, ws[4], ws[1]])
    g2 = tg.autograd.grad((rout * up).sum(), [x, ws[4], ws[1]])
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("mode,opts", [("lstm", {}), ("gru", {}), ("rnn_tanh", {}), ("rnn_relu", {}),
                                       ("lstm", {"proj": 2}), ("gru", {"packed": True}),
                                       ("lstm", {"packed": True, "proj": 2}), ("rnn_tanh", {"bias": False})])
def test_gradcheck_float64(mode, opts):
    T, B, I, H = 3, 3, 2, 3
    proj = opts.get("proj", 0)
    ws = _weights(mode, I, H, bias=opts.get("bias", True), proj=proj)
    h0, c0 = _states(mode, B, H, proj=proj)
    x = _t(_rand(T, B, I, seed=7), requires_grad=True)
    batch_sizes = [3, 2, 1] if opts.get("packed") else None
    flat = [w for w in ws if w is not None]

    def fn(x, h0, *rest):
        c = rest[0] if c0 is not None else None
        it = iter(rest[1:] if c0 is not None else rest)
        w = tuple(None if a is None else next(it) for a in ws)
        out, hn, cn = rnn_forward(mode, x, h0, c, [w], batch_sizes=batch_sizes)
        return (out, hn) if cn is None else (out, hn, cn)

    inputs = [x, h0] + ([c0] if c0 is not None else []) + flat
    assert gradcheck(fn, inputs)


# -------------------------------------------------------------------------------------- cpu vs cuda (fp32)
DEVICE_CASES = [("lstm", {}), ("gru", {}), ("rnn_tanh", {}), ("rnn_relu", {}), ("lstm", {"proj": 3}),
                ("gru", {"packed": True}), ("lstm", {"packed": True, "proj": 2}), ("rnn_relu", {"bias": False})]


@pytest.mark.parametrize("mode,opts", DEVICE_CASES)
def test_cpu_vs_cuda(mode, opts):
    T, B, I, H = 4, 3, 3, 5
    proj = opts.get("proj", 0)
    ws = [None if w is None else w.detach().float().requires_grad_()
          for w in _weights(mode, I, H, bias=opts.get("bias", True), proj=proj)]
    h0, c0 = (None if s is None else s.detach().float().requires_grad_() for s in _states(mode, B, H, proj=proj))
    x = _t(_rand(T, B, I), tg.float32, True)
    batch_sizes = [3, 3, 2, 1] if opts.get("packed") else None
    n_c = 1 if c0 is not None else 0

    def fn(x, h0, *rest):
        it = iter(rest[n_c:])
        w = tuple(None if a is None else next(it) for a in ws)
        out, hn, cn = rnn_forward(mode, x, h0, rest[0] if n_c else None, [w], batch_sizes=batch_sizes)
        return (out, hn) if cn is None else (out, hn, cn)

    compare_devices(fn, x, h0, *([c0] if n_c else []), *[w for w in ws if w is not None]).raise_if_failed()


# ------------------------------------------------------------------------------------- cpu vs cuda (fp64)
F64 = dict(rtol=1e-12, atol=1e-12)
F64_CASES = [("lstm", {}), ("gru", {}), ("rnn_tanh", {}), ("rnn_relu", {}), ("lstm", {"proj": 3}),
             ("lstm", {"packed": True, "proj": 2}), ("gru", {"packed": True, "bias": False})]


@pytest.mark.parametrize("mode,opts", F64_CASES)
def test_cpu_vs_cuda_float64(mode, opts):
    """float64 on cuda computes in float64 (cell state, gates, accumulators): the NumPy float64 time loop to
    1e-12, outputs and the gradients of x, h0, c0 and every weight."""
    T, B, I, H = 3, 3, 3, 5
    proj = opts.get("proj", 0)
    ws = _weights(mode, I, H, bias=opts.get("bias", True), proj=proj)
    h0, c0 = _states(mode, B, H, proj=proj)
    x = _t(_rand(T, B, I), tg.float64, True)
    batch_sizes = [3, 2, 1] if opts.get("packed") else None
    n_c = 1 if c0 is not None else 0

    def fn(x, h0, *rest):
        it = iter(rest[n_c:])
        w = tuple(None if a is None else next(it) for a in ws)
        out, hn, cn = rnn_forward(mode, x, h0, rest[0] if n_c else None, [w], batch_sizes=batch_sizes)
        assert out.dtype is tg.float64 and hn.dtype is tg.float64
        return (out, hn) if cn is None else (out, hn, cn)

    compare_devices(fn, x, h0, *([c0] if n_c else []), *[w for w in ws if w is not None],
                    **F64).raise_if_failed()


def _twins(cls, *args, **kw):
    """The same float64 module on cpu and on cuda (cuda's a copy of cpu's parameters)."""
    cpu = cls(*args, dtype=tg.float64, **kw)
    dev = cls(*args, dtype=tg.float64, device="cuda", **kw)
    dev.load_state_dict(cpu.state_dict())
    return cpu, dev


def _assert_grads_match(cpu, dev, leaves_cpu, leaves_dev):
    for i, (a, b) in enumerate(zip(leaves_cpu, leaves_dev)):
        assert b.grad.dtype is tg.float64
        np.testing.assert_allclose(b.grad.cpu().numpy(), a.grad.numpy(), err_msg=f"input {i}", **F64)
    dp = dict(dev.named_parameters())
    for n, p in cpu.named_parameters():
        np.testing.assert_allclose(dp[n].grad.cpu().numpy(), p.grad.numpy(), err_msg=n, **F64)


@pytest.mark.parametrize("cls,kw", [(nn.LSTMCell, {}), (nn.GRUCell, {}), (nn.RNNCell, {}),
                                    (nn.RNNCell, {"nonlinearity": "relu"})])
def test_cells_float64_cpu_vs_cuda(cls, kw):
    cpu, dev = _twins(cls, 3, 4, **kw)
    n_states = 2 if cls is nn.LSTMCell else 1
    arrays = [_rand(2, 3)] + [_rand(2, 4, seed=2 + k, scale=0.5) for k in range(n_states)]
    ups = [_rand(2, 4, seed=7 + k) for k in range(n_states)]
    runs = []
    for m, device in ((cpu, "cpu"), (dev, "cuda")):
        leaves = [_t(a, requires_grad=True, device=device) for a in arrays]
        states = tuple(leaves[1:]) if n_states == 2 else leaves[1]
        outs = m(leaves[0], states)
        outs = outs if n_states == 2 else (outs,)
        sum((o * _t(u, device=device)).sum() for o, u in zip(outs, ups)).backward()
        runs.append((outs, leaves))
    for a, b in zip(runs[0][0], runs[1][0]):
        assert b.dtype is tg.float64 and b.device.type == "cuda"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), **F64)
    _assert_grads_match(cpu, dev, runs[0][1], runs[1][1])


@pytest.mark.parametrize("cls,kw", [(nn.LSTM, {"num_layers": 2, "bidirectional": True}),
                                    (nn.GRU, {"batch_first": True}), (nn.RNN, {"nonlinearity": "relu"})])
def test_modules_float64_cpu_vs_cuda(cls, kw):
    cpu, dev = _twins(cls, 3, 4, **kw)
    x = _rand(2, 3, 3)
    up = _rand(2, 3, 4 * (2 if kw.get("bidirectional") else 1), seed=3)
    runs = []
    for m, device in ((cpu, "cpu"), (dev, "cuda")):
        xt = _t(x, requires_grad=True, device=device)
        out, _ = m(xt)
        (out * _t(up, device=device)).sum().backward()
        runs.append((out, xt))
    assert runs[1][0].dtype is tg.float64
    np.testing.assert_allclose(runs[1][0].detach().cpu().numpy(), runs[0][0].detach().numpy(), **F64)
    _assert_grads_match(cpu, dev, [runs[0][1]], [runs[1][1]])


class _Sequence(nn.Module):
    """pytorch/examples time_sequence_prediction's model (two LSTMCells and a Linear, ``.double()``), with
    hidden size 5 instead of 51."""

    def __init__(self, hidden=5):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        dev = input.device
        h_t = tg.zeros(input.size(0), self.hidden, dtype=tg.double, device=dev)
        c_t = tg.zeros(input.size(0), self.hidden, dtype=tg.double, device=dev)
        h_t2 = tg.zeros(input.size(0), self.hidden, dtype=tg.double, device=dev)
        c_t2 = tg.zeros(input.size(0), self.hidden, dtype=tg.double, device=dev)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return tg.cat(outputs, dim=1)


def test_time_sequence_prediction_double_lbfgs_cuda_matches_cpu():
    """The program that found the bug (float64 LSTMCells on cuda), tiny: 2 LBFGS steps of one
    iteration each (the second uses the first's curvature pair), cuda against cpu (losses, parameters, a
    prediction with ``future`` steps) to float64 precision."""
    T, N = 3, 2
    x = np.array(range(T + 1))[None, :] + np.random.default_rng(2).integers(-4, 4, (N, 1))
    data = np.sin(x / 1.0 / 5).astype("float64")
    tg.manual_seed(0)
    ref = _Sequence().double()
    results = []
    for device in ("cpu", "cuda"):
        seq = _Sequence().double().to(device)
        seq.load_state_dict(ref.state_dict())
        inp, target = tg.from_numpy(data[:, :-1]).to(device), tg.from_numpy(data[:, 1:]).to(device)
        criterion = nn.MSELoss()
        optimizer = tg.optim.LBFGS(seq.parameters(), lr=0.8, max_iter=1)
        losses = []

        def closure():
            optimizer.zero_grad()
            loss = criterion(seq(inp), target)
            loss.backward()
            return loss

        for _ in range(2):
            losses.append(float(optimizer.step(closure)))
        with tg.no_grad():
            pred = seq(inp, future=1)
        assert pred.dtype is tg.float64 and pred.device.type == device
        results.append((losses, {n: p.detach().cpu().numpy() for n, p in seq.named_parameters()},
                        pred.cpu().numpy()))
    (l_cpu, p_cpu, y_cpu), (l_dev, p_dev, y_dev) = results
    assert l_cpu[1] < l_cpu[0]
    np.testing.assert_allclose(l_dev, l_cpu, rtol=1e-10)
    for n in p_cpu:
        np.testing.assert_allclose(p_dev[n], p_cpu[n], rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(y_dev, y_cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [tg.float16, tg.bfloat16])
def test_half_precision_on_cuda_close_to_fp32(mode, dtype):
    T, B, I, H = 3, 2, 4, 16
    m = nn.LSTM(I, H) if mode == "lstm" else nn.GRU(I, H)
    x = _rand(T, B, I)
    ref_out, _ = m(_t(x, tg.float32))
    mh = m.to(device="cuda", dtype=dtype)
    xh = _t(x, dtype, True, "cuda")
    out, _ = mh(xh)
    assert out.dtype is dtype
    tol = 1e-2 if dtype is tg.float16 else 4e-2
    np.testing.assert_allclose(out.detach().float().cpu().numpy(), ref_out.detach().numpy(), atol=tol, rtol=tol)
    out.float().sum().backward()
    assert xh.grad.dtype is dtype and mh.weight_hh_l0.grad.dtype is dtype
    assert np.isfinite(mh.weight_hh_l0.grad.float().cpu().numpy()).all()


def test_autocast_runs_lstm_in_half_on_cuda():
    m = nn.LSTM(3, 4).to("cuda")
    x = tg.randn(2, 2, 3, device="cuda")
    with tg.autocast("cuda"):
        out, (h, c) = m(x)
    assert out.dtype is tg.float16 and h.dtype is tg.float16


# ------------------------------------------------------------------------------------- modules and options
def test_parameter_names_shapes_and_init():
    m = nn.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=4)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["weight_ih_l0"] == (32, 3) and shapes["weight_hh_l0"] == (32, 4)
    assert shapes["weight_ih_l1_reverse"] == (32, 8) and shapes["weight_hr_l1_reverse"] == (4, 8)
    assert shapes["bias_ih_l0"] == (32,) and len(shapes) == 20
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    bound = 1 / np.sqrt(8)
    for p in m.parameters():
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > bound / 2
    g = nn.GRU(2, 3, bias=False)
    assert [n for n, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(nn.GRUCell(2, 3).weight_hh.shape) == (9, 3) and tuple(nn.RNNCell(2, 3).bias_ih.shape) == (3,)


def test_batch_first_unbatched_and_states():
    m = nn.GRU(3, 4, num_layers=2, batch_first=True)
    m.flatten_parameters()
    x = tg.randn(2, 5, 3)
    out, h = m(x)
    assert tuple(out.shape) == (2, 5, 4) and tuple(h.shape) == (2, 2, 4)
    m.batch_first = False
    out_t, h_t = m(x.transpose(0, 1))
    np.testing.assert_allclose(out_t.transpose(0, 1).detach().numpy(), out.detach().numpy(), rtol=1e-6)
    out_u, h_u = m(x.transpose(0, 1)[:, 0])
    assert tuple(out_u.shape) == (5, 4) and tuple(h_u.shape) == (2, 4)
    np.testing.assert_allclose(out_u.detach().numpy(), out_t[:, 0].detach().numpy(), rtol=1e-6)
    # a given initial state is used: continuing from h equals one run over both halves
    full, _ = m(x.transpose(0, 1))
    first, hmid = m(x.transpose(0, 1)[:2])
    second, _ = m(x.transpose(0, 1)[2:], hmid)
    np.testing.assert_allclose(second.detach().numpy(), full[2:].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_bidirectional_reverse_direction_is_reversed_run():
    m = nn.LSTM(2, 3, bidirectional=True)
    fwd = nn.LSTM(2, 3)
    fwd.load_state_dict({k.replace("_reverse", ""): v for k, v in m.state_dict().items() if "_reverse" in k})
    x = tg.randn(4, 2, 2)
    out, (h, c) = m(x)
    rev, (hr, _) = fwd(x.flip(0))
    np.testing.assert_allclose(out[:, :, 3:].detach().numpy(), rev.flip(0).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h[1].detach().numpy(), hr[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_between_layers_only_in_training():
    tg.manual_seed(0)
    m = nn.LSTM(3, 6, num_layers=2, dropout=0.5)
    x = tg.randn(3, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, _ = m(x)
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())
    one = nn.LSTM(3, 6, num_layers=1, dropout=0.0)
    one.train()
    np.testing.assert_array_equal(one(x)[0].detach().numpy(), one.eval()(x)[0].detach().numpy())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_cells_equal_one_layer_step(device):
    x, h, c = tg.randn(2, 3), tg.randn(2, 4), tg.randn(2, 4)
    for cell_cls, layer_cls, kw in ((nn.LSTMCell, nn.LSTM, {}), (nn.GRUCell, nn.GRU, {}),
                                    (nn.RNNCell, nn.RNN, {"nonlinearity": "relu"})):
        cell = cell_cls(3, 4, **kw).to(device)
        layer = layer_cls(3, 4, **kw).to(device)
        layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
        xd, hd, cd = x.to(device), h.to(device), c.to(device)
        if cell_cls is nn.LSTMCell:
            h1, c1 = cell(xd, (hd, cd))
            out, (hl, cl) = layer(xd[None], (hd[None], cd[None]))
            np.testing.assert_allclose(c1.detach().cpu().numpy(), cl[0].detach().cpu().numpy(), rtol=1e-5)
            assert tuple(cell(xd[0])[0].shape) == (4,)
        else:
            h1 = cell(xd, hd)
            out, hl = layer(xd[None], hd[None])
            assert tuple(cell(xd[0]).shape) == (4,)
        np.testing.assert_allclose(h1.detach().cpu().numpy(), hl[0].detach().cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="proj_size has to be smaller"):
        nn.LSTM(2, 3, proj_size=3)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNNBase("GRU", 2, 3, proj_size=1)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(2, 3, dropout=1.5)
    m = nn.LSTM(2, 3)
    with pytest.raises(RuntimeError, match="input_size"):
        m(tg.randn(2, 2, 5))
    with pytest.raises(RuntimeError, match="Expected h_0 size"):
        m(tg.randn(2, 2, 2), (tg.randn(1, 3, 3), tg.randn(1, 2, 3)))
    with pytest.raises(RuntimeError, match="tuple"):
        m(tg.randn(2, 2, 2), tg.randn(1, 2, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size"):
        nn.GRUCell(2, 3)(tg.randn(4, 3))


# --------------------------------------------------------------------------------------- packed sequences
def test_pad_and_pack_round_trip():
    seqs = [tg.randn(n, 2) for n in (2, 4, 1)]
    padded = rnn_utils.pad_sequence(seqs, batch_first=True, padding_value=-1.0)
    assert tuple(padded.shape) == (3, 4, 2)
    assert (padded[0, 2:].numpy() == -1).all() and np.array_equal(padded[1].numpy(), seqs[1].numpy())
    left = rnn_utils.pad_sequence(seqs, padding_side="left")
    np.testing.assert_array_equal(left[3:, 2].numpy(), seqs[2].numpy())
    packed = rnn_utils.pack_padded_sequence(padded, [2, 4, 1], batch_first=True, enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1]
    assert packed.sorted_indices.tolist() == [1, 0, 2] and packed.unsorted_indices.tolist() == [1, 0, 2]
    np.testing.assert_array_equal(packed.data[:3].numpy(), np.stack([seqs[1][0].numpy(), seqs[0][0].numpy(),
                                                                     seqs[2][0].numpy()]))
    back, lengths = rnn_utils.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0)
    assert lengths.tolist() == [2, 4, 1]
    np.testing.assert_array_equal(back.numpy(), padded.numpy())
    assert [s.shape[0] for s in rnn_utils.unpack_sequence(rnn_utils.pack_sequence(seqs, enforce_sorted=False))] \
        == [2, 4, 1]
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        rnn_utils.pack_sequence(seqs)
    with pytest.raises(ValueError, match="total_length"):
        rnn_utils.pad_packed_sequence(packed, total_length=2)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_packed_input_equals_separate_runs(cls):
    m = cls(2, 3, num_layers=2, bidirectional=True)
    seqs = [tg.randn(n, 2) for n in (2, 4, 3)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    out, h = m(packed)
    h = h[0] if cls is nn.LSTM else h
    padded, lengths = rnn_utils.pad_packed_sequence(out)
    for b, s in enumerate(seqs):
        o, hb = m(s[:, None])
        hb = hb[0] if cls is nn.LSTM else hb
        np.testing.assert_allclose(padded[:s.shape[0], b].detach().numpy(), o[:, 0].detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
        assert (padded[s.shape[0]:, b].detach().numpy() == 0).all()
        np.testing.assert_allclose(h[:, b].detach().numpy(), hb[:, 0].detach().numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------- torch twins
TORCH_CASES = [("LSTM", {}), ("GRU", {"num_layers": 2, "bidirectional": True}), ("RNN", {"nonlinearity": "relu"}),
               ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True, "batch_first": True})]


@pytest.mark.parametrize("name,kw", TORCH_CASES)
@pytest.mark.parametrize("packed", [False, True])
def test_torch_state_dict_gives_same_outputs(name, kw, packed):
    torch = pytest.importorskip("torch", reason="torch is an optional peer, not installed here")
    t = getattr(torch.nn, name)(3, 4, **kw).double()
    m = getattr(nn, name)(3, 4, dtype=tg.float64, **kw)
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = _rand(3, 5, 3) if kw.get("batch_first") else _rand(5, 3, 3)
    tx, gx = torch.tensor(x, requires_grad=True), _t(x, requires_grad=True)
    lens = [2, 5, 3]
    if packed:
        tin = torch.nn.utils.rnn.pack_padded_sequence(tx, lens, kw.get("batch_first", False), enforce_sorted=False)
        gin = rnn_utils.pack_padded_sequence(gx, lens, kw.get("batch_first", False), enforce_sorted=False)
        (to, th), (go, gh) = t(tin), m(gin)
        to, go = torch.nn.utils.rnn.pad_packed_sequence(to)[0], rnn_utils.pad_packed_sequence(go)[0]
    else:
        (to, th), (go, gh) = t(tx), m(gx)
    th, gh = (th if isinstance(th, tuple) else (th,)), (gh if isinstance(gh, tuple) else (gh,))
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(gh, th):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    up = _rand(*to.shape, seed=4)
    (to * torch.tensor(up)).sum().backward()
    (go * _t(up)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    tp = dict(t.named_parameters())
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)


def test_torch_cells_same_outputs():
    torch = pytest.importorskip("torch", reason="torch is an optional peer, not installed here")
    x, h = _rand(2, 3), _rand(2, 4, seed=2)
    for name in ("LSTMCell", "GRUCell", "RNNCell"):
        t = getattr(torch.nn, name)(3, 4).double()
        m = getattr(nn, name)(3, 4, dtype=tg.float64)
        m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
        if name == "LSTMCell":
            a, b = t(torch.tensor(x), (torch.tensor(h), torch.tensor(h))), m(_t(x), (_t(h), _t(h)))
            a, b = a[1], b[1]
        else:
            a, b = t(torch.tensor(x), torch.tensor(h)), m(_t(x), _t(h))
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)
