"""Adadelta, Adamax, NAdam, RAdam and LBFGS: each against a float64 NumPy transcription of PyTorch's
single-tensor algorithm (written here, independently of the backends) on cpu and cuda (the fused Triton
kernel; the interpreter on CPU-only machines), the fused kernel against the per-tensor NumPy backend for fp32
and bf16 parameters, state_dict round trips, the GradScaler skip, and LBFGS (fixed step and strong Wolfe)
converging to a quadratic's minimiser and following PyTorch's iterates where torch is installed."""
import math

import numpy as np
import pytest

import tritongrad as tg
from tritongrad import optim
from tritongrad.backends.numpy_optim_b import NumpyOptimB
from tritongrad.backends.triton_optim_b import TritonOptimB
from test_optim import BF16, STEPS, assert_close, grads_for, make_params, set_grads, to_dev, to_host


def ref_step(name, p, g, st, o):
    """One float64 step of torch.optim.<name> for one parameter; state in ``st``; returns the new p."""
    lr, wd = o["lr"], o.get("weight_decay", 0.0)
    g = -g if o.get("maximize") else g
    st["step"] = t = st.get("step", 0) + 1
    if name == "Adadelta":
        rho, eps = o.get("rho", 0.9), o.get("eps", 1e-6)
        g = g + wd * p
        st["v"] = rho * st.get("v", 0.0) + (1 - rho) * g * g
        delta = np.sqrt(st.get("u", 0.0) + eps) / np.sqrt(st["v"] + eps) * g
        st["u"] = rho * st.get("u", 0.0) + (1 - rho) * delta * delta
        return p - lr * delta
    b1, b2 = o.get("betas", (0.9, 0.999))
    eps = o.get("eps", 1e-8)
    decoupled = o.get("decoupled_weight_decay", False)
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    st["m"] = st.get("m", 0.0) + (1 - b1) * (g - st.get("m", 0.0))
    if name == "Adamax":
        st["u"] = np.maximum(b2 * st.get("u", 0.0), np.abs(g) + eps)
        return p - lr / (1 - b1 ** t) * st["m"] / st["u"]
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    if name == "NAdam":
        psi = o.get("momentum_decay", 4e-3)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        st["mu_product"] = st.get("mu_product", 1.0) * mu
        denom = np.sqrt(st["v"] / (1 - b2 ** t)) + eps
        return (p - lr * (1 - mu) / (1 - st["mu_product"]) * g / denom
                - lr * mu_next / (1 - st["mu_product"] * mu_next) * st["m"] / denom)
    assert name == "RAdam"
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    m_hat = st["m"] / (1 - b1 ** t)
    if rho_t > 5:
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return p - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(st["v"]) + eps)
    return p - lr * m_hat


REF_STATE = {"Adadelta": {"v": "square_avg", "u": "acc_delta"}, "Adamax": {"m": "exp_avg", "u": "exp_inf"},
             "NAdam": {"m": "exp_avg", "v": "exp_avg_sq", "mu_product": "mu_product"},
             "RAdam": {"m": "exp_avg", "v": "exp_avg_sq"}}
CASES = [
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=2e-2)),
    ("Adamax", dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=2e-2)),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, momentum_decay=0.01, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=1e-2)),   # rho_t <= 5 for the first steps, rectified after
    ("RAdam", dict(lr=1e-2, betas=(0.9, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("name,opts", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizer_matches_float64_reference(name, opts, device):
    rng = np.random.default_rng(0)
    params = make_params(device, rng)
    ref_p = [p.detach().cpu().numpy().astype(np.float64) for p in params]
    ref_st = [{} for _ in params]
    opt = getattr(optim, name)(params, **opts)
    ref_opts = dict(opts)
    for step in range(STEPS + 1):
        if step == 6:
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
            assert_close(state[key].cpu().numpy(), ref_st[i][ref_key] + np.zeros(state[key].shape), np.float32,
                         f"param {i} state {key}")
        assert float(state["step"].item()) == ref_st[i]["step"] and state["step"].device == p.device


KERNEL_CASES = {
    "adadelta_step": (2, False, dict(lr=0.5, rho=0.9, eps=1e-6, weight_decay=0.1, maximize=True)),
    "adamax_step": (2, False, dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, maximize=False)),
    "nadam_step": (2, True, dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, momentum_decay=4e-3,
                                 decoupled=False, maximize=False)),
    "radam_step": (2, False, dict(lr=0.01, beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.1, decoupled=True,
                                  maximize=True)),
}


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("method", sorted(KERNEL_CASES))
def test_fused_kernel_equals_per_tensor_numpy(method, dtype):
    """One launch over tensors of 1 element, several full blocks, a partial block and a misaligned view."""
    n_state, has_mu, hyper = KERNEL_CASES[method]
    rng = np.random.default_rng(1)
    shapes = [(1,), (3, 43), (64,), (5,)]
    host_p = [rng.standard_normal(s).astype(dtype) for s in shapes]
    dev_p = [to_dev(p) for p in host_p[:-1]]
    backing = to_dev(np.concatenate([np.zeros(1, dtype), host_p[-1]]))
    dev_p.append(backing[1:])
    host_st = [[np.zeros(s, np.float32) for s in shapes] for _ in range(n_state)]
    dev_st = [[to_dev(a) for a in lst] for lst in host_st]
    host_mu = [[np.ones((), np.float32) for _ in shapes]] if has_mu else []
    dev_mu = [[to_dev(a) for a in lst] for lst in host_mu]
    host_steps = [np.zeros((), np.float32) for _ in shapes]
    dev_steps = [to_dev(s) for s in host_steps]
    cache = {}
    for _ in range(STEPS):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        getattr(NumpyOptimB(), method)(host_p, grads, *host_st, *host_mu, host_steps, **hyper)
        getattr(TritonOptimB(), method)(dev_p, [to_dev(g) for g in grads], *dev_st, *dev_mu, dev_steps, **hyper,
                                        cache=cache, block=64)
    for i in range(len(shapes)):
        assert_close(to_host(dev_p[i]), host_p[i], dtype, f"param {i}")
        for lst_h, lst_d in zip(host_st + host_mu, dev_st + dev_mu):
            assert_close(to_host(lst_d[i]), lst_h[i], np.float32 if dtype == np.float32 else BF16, f"state {i}")
        assert to_host(dev_steps[i]) == host_steps[i] == STEPS


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam"])
def test_state_dict_keys_and_round_trip(name):
    rng = np.random.default_rng(4)
    params = make_params("cuda", rng, shapes=[(3,), (2, 2)])
    opt = getattr(optim, name)(params, lr=0.01)
    grads = [grads_for(s, rng, [(3,), (2, 2)]) for s in range(6)]
    for g in grads[:3]:
        set_grads(params, g)
        opt.step()
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"step", *REF_STATE[name].values()}
    fresh = [tg.tensor(p.detach().cpu().numpy(), device="cuda", requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(fresh, lr=1.0)
    opt2.load_state_dict(sd)
    for g in grads[3:]:
        set_grads(params, g)
        opt.step()
        set_grads(fresh, g)
        opt2.step()
    for a, b in zip(params, fresh):
        assert np.array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam"])
def test_grad_scaler_skips_the_step_on_the_device(name):
    p = tg.tensor([1.0, -2.0, 3.0], device="cuda", requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1)
    scaler = tg.amp.GradScaler("cuda")
    for bad in (False, True):
        (scaler.scale((p * p).sum())).backward()
        if bad:
            p.grad.view(-1)[1] = float("inf")
        before = p.detach().cpu().numpy().copy()
        state_before = {k: v.cpu().numpy().copy() for k, v in opt.state[p].items()}
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
    assert np.array_equal(p.detach().cpu().numpy(), before)
    for k, v in opt.state[p].items():
        assert np.array_equal(v.cpu().numpy(), state_before[k]), k


@pytest.mark.parametrize("cls,kwargs,message", [
    (optim.Adadelta, dict(rho=1.5), "Invalid rho value: 1.5"),
    (optim.Adamax, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (optim.NAdam, dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    (optim.RAdam, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (optim.LBFGS, dict(lr=-1.0), "Invalid learning rate: -1.0"),
])
def test_invalid_hyperparameters(cls, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        cls([tg.zeros(2, requires_grad=True)], **kwargs)


# ------------------------------------------------------------------------------------------------- LBFGS
def _quadratic(device, dtype):
    """f(x) = 0.5 x'Ax - b'x with A symmetric positive definite (condition ~10): minimiser A^-1 b."""
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a = q @ np.diag(np.linspace(1.0, 10.0, 6)) @ q.T
    b = rng.standard_normal(6)
    return (tg.tensor(a, dtype=dtype, device=device), tg.tensor(b, dtype=dtype, device=device),
            np.linalg.solve(a, b))


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("device,dtype,tol", [("cpu", tg.float64, 1e-6), ("cuda", tg.float32, 1e-4)])
def test_lbfgs_finds_the_quadratics_minimiser(device, dtype, tol, line_search):
    a, b, x_star = _quadratic(device, dtype)
    x = tg.zeros(6, dtype=dtype, device=device, requires_grad=True)
    opt = optim.LBFGS([x], lr=1, max_iter=30 if device == "cpu" else 12, history_size=5,
                      line_search_fn=line_search, tolerance_grad=1e-12, tolerance_change=1e-14)
    calls = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (a @ x)) - b @ x
        loss.backward()
        calls.append(1)
        return loss

    first = opt.step(closure)
    assert first.item() == 0.0   # the loss of the first evaluation, as PyTorch returns it
    np.testing.assert_allclose(x.detach().cpu().numpy(), x_star, atol=tol, rtol=tol)
    state = opt.state[x]
    assert state["func_evals"] == len(calls) and state["n_iter"] >= 1 and len(state["old_dirs"]) <= 5


def test_lbfgs_follows_pytorchs_iterates():
    torch = pytest.importorskip("torch", reason="torch is an optional peer: this check runs where it is installed")
    for line_search in (None, "strong_wolfe"):
        a, b, _ = _quadratic("cpu", tg.float64)
        runs = []
        for lib, A, B in ((tg, a, b), (torch, torch.tensor(a.numpy()), torch.tensor(b.numpy()))):
            x = lib.zeros(6, dtype=lib.float64, requires_grad=True)
            opt = lib.optim.LBFGS([x], lr=0.8, max_iter=4, history_size=3, line_search_fn=line_search)

            def closure():
                opt.zero_grad()
                loss = 0.5 * (x @ (A @ x)) - B @ x + (x ** 4).sum()
                loss.backward()
                return loss

            path = []
            for _ in range(5):
                opt.step(closure)
                path.append(x.detach().numpy().copy())
            runs.append((np.array(path), opt.state[x]["func_evals"]))
        np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-9, atol=1e-12)
        assert runs[0][1] == runs[1][1]


def test_lbfgs_rejects_groups_and_needs_a_closure():
    a, b = tg.zeros(2, requires_grad=True), tg.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = optim.LBFGS([a], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="requires a closure"):
        opt.step(None)
    a.grad = tg.ones(2)
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(lambda: (a * 1.0).sum())
