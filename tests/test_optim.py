"""tritongrad.optim: every optimizer and option set against a float64 NumPy transcription of PyTorch's
single-tensor algorithm (torch/optim/*.py order of operations) for 10+ steps on cpu and cuda (the fused
Triton kernel; Triton's interpreter on CPU-only machines), the fused kernel against the per-tensor NumPy
backend for fp32 and bf16 parameters, state_dict round trips that continue the same trajectory,
hyperparameter validation, and a training loop under autograd.

Sizes are tiny on purpose: the interpreter costs ~40 ms per program.
"""
import math

import ml_dtypes
import numpy as np
import pytest

import tritongrad as tg
from tritongrad import optim, runtime
from tritongrad.backends.numpy_optim import NumpyOptim
from tritongrad.backends.triton_optim import TritonOptim

SHAPES = [(1,), (7,), (5, 3), (130,)]   # (130,) spans a full 128-block and a partial one in the interpreter
STEPS = 10
BF16 = np.dtype(ml_dtypes.bfloat16)
TOL = {np.dtype(np.float32): (2e-6, 2e-5), BF16: (1e-6, 2 ** -7)}   # (atol, rtol)


def assert_close(actual, expected, dtype, what=""):
    atol, rtol = TOL[np.dtype(dtype)]
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    bad = np.abs(actual - expected) > atol + rtol * np.abs(expected)
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} differ; first at {np.argwhere(bad)[0]}: "
                           f"{actual[bad][0]!r} vs {expected[bad][0]!r}")


# ------------------------------------------------------------------------------------------- float64 reference
def ref_step(name, p, g, st, o):
    """One step of torch.optim.<name> for one parameter, float64, state in ``st`` (a dict); returns new p."""
    lr, wd, maximize = o.get("lr"), o.get("weight_decay", 0.0), o.get("maximize", False)
    g = -g if maximize else g
    if name == "SGD":
        mom, damp = o.get("momentum", 0.0), o.get("dampening", 0.0)
        g = g + wd * p
        if mom:
            st["buf"] = g.copy() if "buf" not in st else mom * st["buf"] + (1 - damp) * g
            g = g + mom * st["buf"] if o.get("nesterov") else st["buf"]
        return p - lr * g
    st["step"] = st.get("step", 0) + 1
    t = st["step"]
    if name in ("Adam", "AdamW"):
        b1, b2 = o.get("betas", (0.9, 0.999))
        if name == "AdamW":
            p = p * (1 - lr * o.get("weight_decay", 1e-2))
        else:
            g = g + wd * p
        st["m"] = st.get("m", 0.0) + (1 - b1) * (g - st.get("m", 0.0))
        st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
        v = st["v"]
        if o.get("amsgrad"):
            st["vmax"] = v = np.maximum(st.get("vmax", 0.0), v)
        m_hat = st["m"] / (1 - b1 ** t)
        return p - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + o.get("eps", 1e-8))
    if name == "RMSprop":
        alpha, eps, mom = o.get("alpha", 0.99), o.get("eps", 1e-8), o.get("momentum", 0.0)
        g = g + wd * p
        st["sq"] = alpha * st.get("sq", 0.0) + (1 - alpha) * g * g
        avg = st["sq"]
        if o.get("centered"):
            st["ga"] = alpha * st.get("ga", 0.0) + (1 - alpha) * g
            avg = avg - st["ga"] ** 2
        avg = np.sqrt(avg) + eps
        if mom > 0:
            st["buf"] = mom * st.get("buf", 0.0) + g / avg
            return p - lr * st["buf"]
        return p - lr * g / avg
    assert name == "Adagrad"
    g = g + wd * p
    st["sum"] = st.get("sum", o.get("initial_accumulator_value", 0.0)) + g * g
    clr = lr / (1 + (t - 1) * o.get("lr_decay", 0.0))
    return p - clr * g / (np.sqrt(st["sum"]) + o.get("eps", 1e-10))


REF_STATE = {"SGD": {"buf": "momentum_buffer"}, "Adam": {"m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq"},
             "RMSprop": {"sq": "square_avg", "ga": "grad_avg", "buf": "momentum_buffer"}, "Adagrad": {"sum": "sum"}}
REF_STATE["AdamW"] = REF_STATE["Adam"]

CASES = [  # (optimizer, options, run on cuda too)
    ("SGD", dict(lr=0.1), False),
    ("SGD", dict(lr=0.1, momentum=0.9), False),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1), True),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01, maximize=True), True),
    ("Adam", dict(lr=0.01), False),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True), True),
    ("Adam", dict(lr=0.02, eps=1e-6, maximize=True), False),
    ("AdamW", dict(lr=0.01), False),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.5, maximize=True), True),
    ("RMSprop", dict(lr=0.01), False),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1), True),
    ("RMSprop", dict(lr=0.01, momentum=0.5, maximize=True), True),
    ("RMSprop", dict(lr=0.01, centered=True, alpha=0.9), False),
    ("Adagrad", dict(lr=0.1), False),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-8,
                     maximize=True), True),
]
MATRIX = [pytest.param(n, o, d, id=f"{n}-{i}-{d}") for i, (n, o, cuda) in enumerate(CASES)
          for d in (("cpu", "cuda") if cuda else ("cpu",))]


def make_params(device, rng, dtype=tg.float32, shapes=SHAPES):
    return [tg.tensor(rng.standard_normal(s).astype(np.float32), dtype=dtype, device=device, requires_grad=True)
            for s in shapes]


def grads_for(step, rng, shapes=SHAPES):
    """Random gradients; parameter 1 gets none on step 3 (its state and step count must not advance)."""
    return [None if (i == 1 and step == 3) else rng.standard_normal(s).astype(np.float32)
            for i, s in enumerate(shapes)]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else tg.tensor(g, dtype=p.dtype, device=p.device)


@pytest.mark.parametrize("name,opts,device", MATRIX)
def test_optimizer_matches_float64_reference(name, opts, device):
    rng = np.random.default_rng(0)
    params = make_params(device, rng)
    ref_p = [p.detach().cpu().numpy().astype(np.float64) for p in params]
    ref_st = [{} for _ in params]
    opt = getattr(optim, name)(params, **opts)
    ref_opts = dict(opts)
    for step in range(STEPS + 1):
        if step == 6:   # a scheduler-style lr change mid-run reaches the device hyperparameters
            opt.param_groups[0]["lr"] *= 0.5
            ref_opts["lr"] *= 0.5
        grads = grads_for(step, rng)
        set_grads(params, grads)
        opt.step()
        for i, g in enumerate(grads):
            if g is not None:
                ref_p[i] = ref_step(name, ref_p[i], g.astype(np.float64), ref_st[i], ref_opts)
    for i, p in enumerate(params):
        assert_close(p.detach().cpu().numpy(), ref_p[i], np.float32, f"param {i}")
        state = opt.state[p]
        for ref_key, key in REF_STATE[name].items():
            if ref_key in ref_st[i]:
                assert_close(state[key].cpu().numpy(), ref_st[i][ref_key] + np.zeros(p.shape), np.float32,
                             f"param {i} state {key}")
            else:
                assert key not in state or state[key] is None, key
        if name != "SGD":
            assert float(state["step"].item()) == ref_st[i]["step"]
            assert state["step"].device == p.device and state["step"].dtype is tg.float32


# ------------------------------------------------------------------------------------------- fused vs per-tensor
def to_dev(a):
    d = runtime.empty(a.shape, a.dtype)
    runtime.copy_host_to_device(d, np.ascontiguousarray(a))
    return d


def to_host(d):
    out = np.empty(d.shape, d.dtype)
    runtime.copy_device_to_host(out, d)
    return out


KERNEL_CASES = {
    "sgd_step": (("momentum_buffers",), False,
                 dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.1, nesterov=False, maximize=True)),
    "adam_step": (("exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"), True,
                  dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, decoupled=True, amsgrad=True,
                       maximize=False)),
    "rmsprop_step": (("square_avgs", "grad_avgs", "momentum_buffers"), True,
                     dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.5, centered=True,
                          maximize=False)),
    "adagrad_step": (("state_sums",), True, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, eps=1e-10, maximize=False)),
}


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("method", sorted(KERNEL_CASES))
def test_fused_kernel_equals_per_tensor_numpy(method, dtype):
    """One fused launch over all tensors (block 64: tensors of 1, several full blocks, partial blocks, and a
    16-byte-misaligned view) against NumpyOptim's per-tensor loop on the same values."""
    state_names, has_step, hyper = KERNEL_CASES[method]
    rng = np.random.default_rng(1)
    shapes = [(1,), (3, 43), (64,), (5,)]
    host_p = [rng.standard_normal(s).astype(dtype) for s in shapes]
    dev_p = [to_dev(p) for p in host_p[:-1]]
    backing = to_dev(np.concatenate([np.zeros(1, dtype), host_p[-1]]))   # element offset 1: not 16-byte aligned
    dev_p.append(backing[1:])
    fill = 0.0 if method != "adagrad_step" else 0.25
    host_st = [[None if method == "sgd_step" else np.full(s, fill, np.float32) for s in shapes] for _ in state_names]
    dev_st = [[None if a is None else to_dev(a) for a in lst] for lst in host_st]
    host_steps = [np.zeros((), np.float32) for _ in shapes]
    dev_steps = [to_dev(s) for s in host_steps]
    cache = {}
    for step in range(STEPS):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        tail_h, tail_d = ([host_steps], [dev_steps]) if has_step else ([], [])
        getattr(NumpyOptim(), method)(host_p, grads, *host_st, *tail_h, **hyper)
        getattr(TritonOptim(), method)(dev_p, [to_dev(g) for g in grads], *dev_st, *tail_d, **hyper, cache=cache,
                                       block=64)
        if step == 4:
            hyper = dict(hyper, lr=hyper["lr"] * 0.3)
    for i in range(len(shapes)):
        assert to_host(dev_p[i]).dtype == dtype
        assert_close(to_host(dev_p[i]), host_p[i], dtype, f"param {i}")
        for name, h, d in zip(state_names, host_st, dev_st):
            if h[i] is not None:
                assert_close(to_host(d[i]), h[i], np.float32 if dtype == np.float32 else BF16, f"{name}[{i}]")
        if has_step:
            assert to_host(dev_steps[i]) == host_steps[i] == STEPS


def test_fused_false_equals_fused_bitwise_and_groups_mixed_dtypes():
    """fused=False (one launch per tensor) gives bit-identical results to the fused launch; a group mixing
    cpu, cuda fp32 and cuda bf16 parameters is bucketed per (device, dtype), each matching the cpu run."""
    rng = np.random.default_rng(2)
    vals = [rng.standard_normal(s).astype(np.float32) for s in SHAPES[:3]]
    runs = {}
    for fused in (None, False):
        ps = [tg.tensor(v, device="cuda", requires_grad=True) for v in vals]
        mixed = [tg.tensor(vals[0], device="cpu", requires_grad=True),
                 tg.tensor(vals[1], dtype=tg.bfloat16, device="cuda", requires_grad=True),
                 tg.tensor(vals[1], dtype=tg.bfloat16, device="cpu", requires_grad=True)]
        opt = optim.AdamW(ps + mixed, lr=0.05, fused=fused)
        grad_rng = np.random.default_rng(3)
        for _ in range(3):
            g = [grad_rng.standard_normal(v.shape).astype(np.float32) for v in vals]
            set_grads(ps + mixed, g + g[:2] + g[1:2])
            opt.step()
        runs[fused] = [p.detach().cpu().numpy() for p in ps + mixed]
    for a, b in zip(runs[None], runs[False]):
        assert np.array_equal(a, b)
    assert_close(runs[None][3], runs[None][0], np.float32, "cpu vs cuda")
    assert_close(runs[None][4], runs[None][5], BF16, "cuda bf16 vs cpu bf16")


def test_kernel_rejects_bad_operands():
    p = to_dev(np.zeros((4, 4), np.float32))
    kw = dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
    with pytest.raises(ValueError, match="not contiguous"):
        TritonOptim().sgd_step([p[:, ::2]], [to_dev(np.zeros((4, 2), np.float32))], [None], **kw)
    with pytest.raises(TypeError, match="grads\\[0\\] has dtype float16"):
        TritonOptim().sgd_step([p], [to_dev(np.zeros((4, 4), np.float16))], [None], **kw)
    with pytest.raises(TypeError, match="float64"):
        q = to_dev(np.zeros(3))
        TritonOptim().sgd_step([q], [q], [None], **kw)


# ------------------------------------------------------------------------------------------- state_dict
SD_CASES = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), "cpu"),
            ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1), "cuda"),
            ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1), "cpu"),
            ("AdamW", dict(lr=0.01), "cuda"),
            ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True), "cpu"),
            ("Adagrad", dict(lr=0.1, lr_decay=0.1), "cpu")]


@pytest.mark.parametrize("name,opts,device", SD_CASES, ids=[f"{n}-{d}" for n, _, d in SD_CASES])
def test_state_dict_midway_continues_same_trajectory(name, opts, device):
    rng = np.random.default_rng(4)
    shapes = SHAPES[:3]
    params = make_params(device, rng, shapes=shapes)
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}], **opts)
    grads = [grads_for(s, rng, shapes) for s in range(8)]
    for g in grads[:4]:
        set_grads(params, g)
        opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.02 and sd["param_groups"][0]["lr"] == opts["lr"]
    assert set(sd["state"]) == {0, 1, 2}
    if name != "SGD":
        assert [float(sd["state"][i]["step"].item()) for i in range(3)] == [4.0, 3.0, 4.0]   # p1 skipped step 3

    fresh = [tg.tensor(p.detach().cpu().numpy(), device=device, requires_grad=True) for p in params]
    opt2 = getattr(optim, name)([{"params": fresh[:2]}, {"params": fresh[2:]}], lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opts["lr"] and opt2.param_groups[1]["lr"] == 0.02
    for g in grads[4:]:
        set_grads(params, g)
        opt.step()
        set_grads(fresh, g)
        opt2.step()
    for a, b in zip(params, fresh):
        assert np.array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())


def test_state_dict_loads_across_devices():
    rng = np.random.default_rng(5)
    cpu_params = make_params("cpu", rng, shapes=SHAPES[:2])
    opt = optim.Adam(cpu_params, lr=0.01)
    set_grads(cpu_params, [rng.standard_normal(s).astype(np.float32) for s in SHAPES[:2]])
    opt.step()
    cuda_params = [tg.tensor(p.detach().numpy(), device="cuda", requires_grad=True) for p in cpu_params]
    opt2 = optim.Adam(cuda_params, lr=0.01)
    opt2.load_state_dict(opt.state_dict())
    st = opt2.state[cuda_params[1]]
    assert st["exp_avg"].device.type == "cuda" and st["step"].device.type == "cuda"
    g = [rng.standard_normal(s).astype(np.float32) for s in SHAPES[:2]]
    set_grads(cpu_params, g)
    set_grads(cuda_params, g)
    opt.step()
    opt2.step()
    for a, b in zip(cpu_params, cuda_params):
        assert_close(b.detach().cpu().numpy(), a.detach().numpy(), np.float32)


def test_load_state_dict_rejects_mismatched_groups():
    p = make_params("cpu", np.random.default_rng(0), shapes=[(2,), (3,)])
    sd = optim.SGD(p, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": p[:1]}, {"params": p[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD(p[:1], lr=0.1).load_state_dict(sd)


# ------------------------------------------------------------------------------------------- API
@pytest.mark.parametrize("cls,kwargs,message", [
    (optim.SGD, dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (optim.SGD, dict(lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (optim.SGD, dict(lr=0.1, weight_decay=-0.5), "Invalid weight_decay value: -0.5"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (optim.AdamW, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (optim.RMSprop, dict(alpha=-0.9), "Invalid alpha value: -0.9"),
    (optim.Adagrad, dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (optim.Adagrad, dict(initial_accumulator_value=-0.1), "Invalid initial_accumulator_value value: -0.1"),
])
def test_invalid_hyperparameters_raise_naming_the_value(cls, kwargs, message):
    p = tg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        cls([p], **kwargs)


def test_param_group_api():
    a, b, c = (tg.zeros(2, requires_grad=True) for _ in range(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a, c]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="sets"):
        optim.Adam([{"params": {a, c}}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([a * 2])


def test_zero_grad_and_closure():
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    p.grad = tg.tensor([1.0, 1.0])
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None

    def closure():
        assert tg.is_grad_enabled()
        p.grad = tg.tensor([2.0, -4.0])
        return 7.0
    with tg.no_grad():
        assert opt.step(closure) == 7.0
    assert np.allclose(p.detach().numpy(), [0.0, 4.0])
    assert p.grad is not None and opt.step() is None


# ------------------------------------------------------------------------------------------- training loop
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_training_loop_with_scheduler_matches_float64_reference(device):
    """Linear regression under autograd with AdamW + OneCycleLR (which cycles beta1 every step): the losses
    step by step equal a float64 NumPy run of the same algorithm."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 3)) + 0.5).astype(np.float32)
    w0 = rng.standard_normal((5, 3)).astype(np.float32) * 0.1
    w = tg.tensor(w0, device=device, requires_grad=True)
    b = tg.zeros(3, device=device, requires_grad=True)
    opt = optim.AdamW([w, b], lr=0.1, weight_decay=0.01)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=12)
    xt, yt = tg.tensor(x, device=device), tg.tensor(y, device=device)

    ref = [w0.astype(np.float64), np.zeros(3)]
    ref_st = [{}, {}]
    ref_sched = optim.lr_scheduler.OneCycleLR(optim.AdamW([tg.zeros(1, requires_grad=True)], lr=0.1), max_lr=0.1,
                                              total_steps=12)
    for step in range(12):
        opt.zero_grad()
        loss = ((xt @ w + b - yt) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step() if step < 11 else None

        r = x @ ref[0] + ref[1] - y
        ref_loss = np.mean(r ** 2)
        gr = 2 * r / r.size
        group = ref_sched.optimizer.param_groups[0]
        o = dict(lr=group["lr"], betas=group["betas"], weight_decay=0.01)
        ref = [ref_step("AdamW", ref[0], x.T @ gr, ref_st[0], o), ref_step("AdamW", ref[1], gr.sum(0), ref_st[1], o)]
        ref_sched.step() if step < 11 else None
        assert math.isclose(loss.item(), ref_loss, rel_tol=1e-4), (step, loss.item(), ref_loss)
    assert_close(w.detach().cpu().numpy(), ref[0], np.float32, "w")
