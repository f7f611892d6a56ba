"""Mixed precision: `tritongrad.autocast` (op policy, nesting, threads, the weight-cast cache) and
`tritongrad.amp.GradScaler` (the scale sequence, skipped steps on the device, no host sync), on cpu and cuda
(Triton's interpreter here).

The expected output dtypes below are written from PyTorch's autocast op lists (``aten/src/ATen/
autocast_mode.h`` for cuda, ``autocast_mode.cpp``'s KERNEL_CPU registrations for cpu), independently of
tritongrad's own policy table; ``test_cpu_policy_matches_torch`` also checks the cpu column against
PyTorch itself when torch is installed. The scale sequences are checked against a transcription of
PyTorch's ``_amp_update_scale_`` in this file.
"""
import threading
import warnings

import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad import _autocast
from tritongrad.amp import GradScaler

DEVICES = ["cpu", "cuda"]
LOW = {"cpu": tg.bfloat16, "cuda": tg.float16}

# (name, fn of (x [4, 8], w [8, 8], idx [4] int64)) -> output dtype rule per device type:
#   "low": the autocast dtype, "fp32": float32, "same": the input's dtype
CASES = [
    ("matmul", lambda x, w, i: x @ w, "low", "low"),
    ("mm", lambda x, w, i: x.mm(w), "low", "low"),
    ("bmm", lambda x, w, i: x[None].bmm(w[None]), "low", "low"),
    ("linear", lambda x, w, i: F.linear(x, w), "low", "low"),
    ("conv2d", lambda x, w, i: F.conv2d(x.reshape(1, 2, 4, 4), w.reshape(4, 2, 2, 4)[:, :, :, :2]), "low", "low"),
    ("sdpa", lambda x, w, i: F.scaled_dot_product_attention(x[None], w[None, :4], w[None, 4:]), "low", "low"),
    ("softmax", lambda x, w, i: x.softmax(-1), "fp32", "same"),
    ("log_softmax", lambda x, w, i: F.log_softmax(x, -1), "fp32", "same"),
    ("exp", lambda x, w, i: x.exp(), "fp32", "same"),
    ("log", lambda x, w, i: x.abs().log(), "fp32", "same"),
    ("pow", lambda x, w, i: x ** 2, "fp32", "same"),
    ("sum", lambda x, w, i: x.sum(), "fp32", "same"),
    ("prod", lambda x, w, i: x.prod(1), "fp32", "fp32"),
    ("cumsum", lambda x, w, i: x.cumsum(0), "fp32", "same"),
    ("norm", lambda x, w, i: x.norm(), "fp32", "same"),
    ("logsumexp", lambda x, w, i: x.logsumexp(-1), "fp32", "same"),
    ("layer_norm", lambda x, w, i: F.layer_norm(x, (8,)), "fp32", "same"),
    ("rms_norm", lambda x, w, i: F.rms_norm(x, (8,)), "fp32", "same"),
    ("softplus", lambda x, w, i: F.softplus(x), "fp32", "same"),
    ("cross_entropy", lambda x, w, i: F.cross_entropy(x, i), "fp32", "fp32"),
    ("nll_loss", lambda x, w, i: F.nll_loss(x, i), "fp32", "fp32"),
    ("mse_loss", lambda x, w, i: F.mse_loss(x, x * 2), "fp32", "fp32"),
    ("l1_loss", lambda x, w, i: F.l1_loss(x, x * 2), "fp32", "fp32"),
    ("smooth_l1_loss", lambda x, w, i: F.smooth_l1_loss(x, x * 2), "fp32", "fp32"),
    ("kl_div", lambda x, w, i: F.kl_div(x, x.softmax(-1), reduction="batchmean"), "fp32", "fp32"),
    ("bce_with_logits", lambda x, w, i: F.binary_cross_entropy_with_logits(x, x.sigmoid()), "fp32", "fp32"),
    ("relu", lambda x, w, i: x.relu(), "same", "same"),
    ("gelu", lambda x, w, i: F.gelu(x), "same", "same"),
    ("mean", lambda x, w, i: x.mean(), "same", "same"),
    ("tanh", lambda x, w, i: x.tanh(), "same", "same"),
    ("dropout", lambda x, w, i: F.dropout(x, 0.5), "same", "same"),
    ("embedding", lambda x, w, i: F.embedding(i, x), "same", "same"),
    ("dot", lambda x, w, i: x[0].dot(x[1]), "same", "same"),
]


def _inputs(dev, dtype):
    g = np.random.default_rng(0)
    x = tg.tensor(g.standard_normal((4, 8)).astype(np.float32), device=dev).to(dtype)
    w = tg.tensor(g.standard_normal((8, 8)).astype(np.float32), device=dev)
    i = tg.tensor([1, 2, 0, 3], device=dev)
    return x, w, i


def _expected(rule, dev, in_dtype):
    return {"low": LOW[dev], "fp32": tg.float32, "same": in_dtype}[rule]


@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_output_dtype_follows_pytorch_policy(dev, case):
    name, fn, cuda_rule, cpu_rule = case
    rule = cuda_rule if dev == "cuda" else cpu_rule
    for in_dtype in (tg.float32, LOW[dev]):
        x, w, i = _inputs(dev, in_dtype)
        with tg.autocast(dev):
            out = fn(x, w, i)
        assert out.dtype is _expected(rule, dev, in_dtype), (name, dev, in_dtype, out.dtype)
    x, w, i = _inputs(dev, tg.float32)
    assert fn(x, w, i).dtype is tg.float32   # outside the region nothing is cast


def test_cpu_policy_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is an optional peer: this check runs where it is installed")
    tF = torch.nn.functional
    mapping = {"matmul": lambda x, w, i: x @ w, "linear": lambda x, w, i: tF.linear(x, w),
               "softmax": lambda x, w, i: x.softmax(-1), "prod": lambda x, w, i: x.prod(1),
               "cross_entropy": lambda x, w, i: tF.cross_entropy(x, i), "mse_loss": lambda x, w, i: tF.mse_loss(x, x * 2),
               "exp": lambda x, w, i: x.exp(), "sum": lambda x, w, i: x.sum(), "layer_norm": lambda x, w, i: tF.layer_norm(x, (8,)),
               "dot": lambda x, w, i: x[0].dot(x[1])}
    for name, tfn in mapping.items():
        rule = next(c[3] for c in CASES if c[0] == name)
        for in_dtype, tdt in ((tg.float32, torch.float32), (tg.bfloat16, torch.bfloat16)):
            x = torch.randn(4, 8).to(tdt)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = str(tfn(x, torch.randn(8, 8), torch.tensor([1, 2, 0, 3])).dtype).replace("torch.", "")
            assert got == _expected(rule, "cpu", in_dtype).name, (name, in_dtype, got)


@pytest.mark.parametrize("dev", DEVICES)
def test_values_agree_with_fp32_and_gradients_reach_fp32_weights(dev):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3)).to(dev)
    x = tg.randn(5, 8, device=dev)
    target = tg.tensor([0, 1, 2, 1, 0], device=dev)
    loss32 = F.cross_entropy(model(x), target)
    loss32.backward()
    grads32 = [p.grad.cpu().numpy().copy() for p in model.parameters()]
    model.zero_grad()
    with tg.autocast(dev):
        logits = model(x)
        loss = F.cross_entropy(logits, target)
    assert logits.dtype is LOW[dev] and loss.dtype is tg.float32
    loss.backward()
    tol = 3e-2 if dev == "cpu" else 1e-2   # bfloat16 / float16 matmul inputs
    np.testing.assert_allclose(loss.item(), loss32.item(), rtol=tol, atol=tol)
    for p, g32 in zip(model.parameters(), grads32):
        assert p.grad.dtype is tg.float32
        np.testing.assert_allclose(p.grad.cpu().numpy(), g32, rtol=10 * tol, atol=tol)


@pytest.mark.parametrize("dev", DEVICES)
def test_weight_cast_is_cached_within_a_region_and_cleared_after(dev):
    x, w, _ = _inputs(dev, tg.float32)
    w.requires_grad_()
    with tg.autocast(dev):
        F.linear(x, w)
        cached = _autocast.state.cache[id(w)][1]
        F.linear(x * 2, w)
        assert _autocast.state.cache[id(w)][1] is cached and len(_autocast.state.cache) == 1
        with tg.autocast(dev, enabled=False):   # nesting does not clear it
            assert F.linear(x, w).dtype is tg.float32
        assert id(w) in _autocast.state.cache
    assert not _autocast.state.cache
    with tg.autocast(dev, cache_enabled=False):
        F.linear(x, w)
        assert not _autocast.state.cache
    with tg.no_grad(), tg.autocast(dev):   # a cast without a graph edge is never cached
        F.linear(x, w)
        assert not _autocast.state.cache


def test_nesting_decorator_and_state_functions():
    x, w, _ = _inputs("cpu", tg.float32)

    @tg.autocast("cpu")
    def f(a, b):
        return a @ b

    assert f(x, w).dtype is tg.bfloat16 and not tg.is_autocast_enabled("cpu")
    with tg.autocast("cpu"):
        assert tg.is_autocast_enabled("cpu") and not tg.is_autocast_enabled("cuda")
        with tg.autocast("cpu", enabled=False):
            assert (x @ w).dtype is tg.float32
        with tg.autocast("cpu", dtype=tg.float16):
            assert (x @ w).dtype is tg.float16 and tg.get_autocast_dtype("cpu") is tg.float16
        assert (x @ w).dtype is tg.bfloat16
    assert tg.get_autocast_dtype("cpu") is tg.bfloat16 and tg.get_autocast_dtype("cuda") is tg.float16
    with tg.amp.autocast("cpu"), tg.autocast("cuda"):
        assert tg.is_autocast_enabled("cuda") and tg.is_autocast_cpu_enabled()
    with pytest.warns(FutureWarning):
        with tg.cpu.amp.autocast():
            assert (x @ w).dtype is tg.bfloat16
    with pytest.warns(FutureWarning):
        tg.cuda.amp.autocast()


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'mps'"):
        tg.autocast("mps")
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        tg.autocast(0)
    with pytest.warns(UserWarning, match="not supported. Disabling autocast"):
        ac = tg.autocast("cpu", dtype=tg.float64)
    x, w, _ = _inputs("cpu", tg.float32)
    with ac:
        assert (x @ w).dtype is tg.float32


def test_autocast_state_is_per_thread():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        inside.wait()
        x, w, _ = _inputs("cpu", tg.float32)
        seen["enabled"] = tg.is_autocast_enabled("cpu")
        seen["dtype"] = (x @ w).dtype
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with tg.autocast("cpu"):
        inside.set()
        release.wait(30)
    t.join()
    assert seen == {"enabled": False, "dtype": tg.float32}


def test_float64_and_integer_tensors_are_never_cast():
    x = tg.randn(3, 3, dtype=tg.float64)
    with tg.autocast("cpu"):
        assert (x @ x).dtype is tg.float64
        assert tg.cat([tg.arange(3), tg.arange(3)]).dtype is tg.int64


def test_custom_fwd_casts_inputs_and_custom_bwd_restores_the_forward_state():
    class Ctx:
        pass

    @tg.amp.custom_fwd(device_type="cpu", cast_inputs=tg.float32)
    def fwd(ctx, a, b):
        ctx.inner = tg.is_autocast_enabled("cpu")
        return a @ b

    @tg.amp.custom_bwd(device_type="cpu")
    def bwd(ctx, g):
        return tg.is_autocast_enabled("cpu"), tg.get_autocast_dtype("cpu")

    x, w, _ = _inputs("cpu", tg.bfloat16)
    ctx = Ctx()
    with tg.autocast("cpu"):
        out = fwd(ctx, x, w.to(tg.bfloat16))
    assert out.dtype is tg.float32 and ctx.inner is False
    assert bwd(ctx, out) == (True, tg.bfloat16)


# -- GradScaler ------------------------------------------------------------------------------------------------

def _reference_scales(steps_with_inf, n, init=2.0 ** 16, growth=2.0, backoff=0.5, interval=3):
    """PyTorch's ``_amp_update_scale_`` rule, transcribed: the scale used by each step and whether it
    skipped."""
    scale, tracker, out = init, 0, []
    for step in range(n):
        bad = step in steps_with_inf
        out.append((scale, bad))
        if bad:
            scale, tracker = scale * backoff, 0
        else:
            tracker += 1
            if tracker == interval:
                scale, tracker = scale * growth, 0
    return out


def _model(dev, seed=0):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(dev)


def _batch(dev):
    return (tg.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), device=dev),
            tg.tensor([0, 1, 1], device=dev))


def _loss(model, dev, batch=None):
    x, y = batch or _batch(dev)
    return F.cross_entropy(model(x), y)


@pytest.mark.parametrize("dev", DEVICES)
def test_scale_sequence_and_skipped_steps_match_pytorchs_rule(dev):
    inf_steps = {1, 2, 6}
    n = 9
    model = _model(dev)
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    scaler = GradScaler(dev, growth_interval=3)
    got = []
    for step in range(n):
        before = [p.detach().cpu().numpy().copy() for p in model.parameters()]
        opt.zero_grad()
        scaler.scale(_loss(model, dev)).backward()
        if step in inf_steps:
            first = next(iter(model.parameters()))
            first.grad.view(-1)[0] = float("inf") if step != 2 else float("nan")
        scale = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        after = [p.detach().cpu().numpy() for p in model.parameters()]
        unchanged = all(np.array_equal(a, b) for a, b in zip(before, after))
        got.append((scale, unchanged))
    assert got == _reference_scales(inf_steps, n, interval=3)
    steps = {float(s["step"].item()) for s in opt.state.values()}
    assert steps == {float(n - len(inf_steps))}   # skipped steps do not advance Adam's step count


@pytest.mark.parametrize("dev", DEVICES)
def test_scaled_training_matches_unscaled_training(dev):
    """Loss scaling is exact for these powers of two: the parameters equal those of plain training."""
    ref, scaled = _model(dev), _model(dev)
    opt_r = tg.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt_s = tg.optim.SGD(scaled.parameters(), lr=0.1, momentum=0.9)
    scaler = GradScaler(dev, init_scale=1024.0)
    for _ in range(3):
        opt_r.zero_grad()
        _loss(ref, dev).backward()
        opt_r.step()
        opt_s.zero_grad()
        scaler.scale(_loss(scaled, dev)).backward()
        scaler.unscale_(opt_s)
        nn.utils.clip_grad_norm_(scaled.parameters(), 1e9)   # clipping sees unscaled gradients
        scaler.step(opt_s)
        scaler.update()
    for a, b in zip(ref.parameters(), scaled.parameters()):
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_fp16_autocast_with_scaler_trains_on_cuda():
    model = _model("cuda", seed=1)
    opt = tg.optim.AdamW(model.parameters(), lr=5e-2)
    scaler = GradScaler("cuda")
    losses = []
    for _ in range(6):
        opt.zero_grad()
        with tg.autocast("cuda"):
            loss = _loss(model, "cuda")
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_scaler_step_makes_no_host_sync_on_cuda():
    model = _model("cuda")
    opt = tg.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = GradScaler("cuda")
    batch = _batch("cuda")

    def step():
        opt.zero_grad()
        with tg.autocast("cuda"):
            loss = _loss(model, "cuda", batch)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()

    step()
    with tg.cuda.count_host_syncs() as syncs:
        step()
        step()
    assert syncs.count == 0, syncs


def test_a_foreign_optimizer_gets_pytorchs_host_check():
    class Manual(tg.optim.SGD):
        def step(self, closure=None):
            self.calls = getattr(self, "calls", 0) + 1
            return super().step(closure)

    model = _model("cpu")
    opt = Manual(model.parameters(), lr=0.1)
    scaler = GradScaler("cpu")
    for bad in (False, True):
        opt.zero_grad()
        scaler.scale(_loss(model, "cpu")).backward()
        if bad:
            next(iter(model.parameters())).grad.view(-1)[0] = float("inf")
        scaler.step(opt)
        scaler.update()
    assert opt.calls == 1


@pytest.mark.parametrize("dev", DEVICES)
def test_unscale_kernel_against_reference(dev):
    g = np.random.default_rng(1)
    arrays = [g.standard_normal(n).astype(np.float32) * 512 for n in (1, 130, 300)]
    for dtype in (tg.float32, tg.bfloat16):
        grads = [tg.tensor(a, device=dev).to(dtype) for a in arrays]
        found = tg.zeros((), device=dev)
        scale = tg.full((), 512.0, device=dev)
        be = grads[0]._be
        be.amp_unscale_([t._data for t in grads], found._data, scale._data)
        assert found.item() == 0.0
        for t, a in zip(grads, arrays):
            ref = tg.tensor(a, device="cpu").to(dtype).float().numpy() / 512
            np.testing.assert_allclose(t.float().cpu().numpy(), ref, rtol=1e-2 if dtype is tg.bfloat16 else 1e-6)
        grads[2].view(-1)[299] = float("nan")
        be.amp_unscale_([t._data for t in grads], found._data, scale._data)
        assert found.item() == 1.0


def test_state_dict_round_trip_and_errors():
    scaler = GradScaler("cpu", init_scale=8.0, growth_interval=5)
    model = _model("cpu")
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="_scale is None"):
        scaler.step(opt)
    scaler.scale(_loss(model, "cpu")).backward()
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
        scaler.unscale_(opt)
    scaler.update()
    sd = scaler.state_dict()
    assert sd == {"scale": 8.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
                  "_growth_tracker": 1}
    other = GradScaler("cpu")
    other.load_state_dict(sd)
    assert other.state_dict() == sd
    assert GradScaler("cpu", enabled=False).state_dict() == {}
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        other.load_state_dict({})
    with pytest.raises(ValueError, match="growth factor"):
        GradScaler("cpu", growth_factor=1.0)
    half = nn.Linear(2, 2).to(tg.float16)
    opt16 = tg.optim.SGD(half.parameters(), lr=0.1)
    s16 = GradScaler("cpu")
    s16.scale(half(tg.ones(1, 2, dtype=tg.float16)).sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        s16.unscale_(opt16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(tg.cuda.amp.GradScaler(), GradScaler)


def test_scaled_autocast_step_replays_from_a_cuda_graph():
    """The whole fp16-autocast + GradScaler step (unscale, clip, device-side skip, scale update) captured once
    and replayed equals the same steps run eagerly: parameters and the loss scale."""
    def setup():
        model = _model("cuda")
        return model, tg.optim.AdamW(model.parameters(), lr=1e-2), GradScaler("cuda", growth_interval=2)

    def make_step(model, opt, scaler):
        def step(x, y):
            opt.zero_grad()
            with tg.autocast("cuda"):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            return loss
        return step

    x, y = _batch("cuda")
    eager = setup()
    eager_step = make_step(*eager)
    for _ in range(1 + 3):          # the graphed run below: one eager warm-up, then three replays
        eager_step(x, y)
    graphed = setup()
    replay = tg.cuda.make_graphed_step(make_step(*graphed), x, y, warmup=1)
    for _ in range(3):
        replay()
    for a, b in zip(eager[0].parameters(), graphed[0].parameters()):
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().cpu().numpy(), rtol=1e-6, atol=1e-7)
    assert graphed[2].get_scale() == eager[2].get_scale() == 2.0 ** 16 * 4
