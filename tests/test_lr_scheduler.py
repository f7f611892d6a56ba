"""tritongrad.optim.lr_scheduler: every scheduler's recursive update against its closed form, PyTorch's initial
step, state_dict round trips, OneCycleLR's momentum cycling, ReduceLROnPlateau's patience/cooldown logic and
the constructors' validation. Pure Python over a cpu optimizer's param_groups (fast)."""
import math

import pytest

import tritongrad as tg
from tritongrad import optim
from tritongrad.optim import lr_scheduler as S

BASE = [0.1, 0.03]   # two param groups with different base lrs


def make_opt(cls=optim.SGD, **kw):
    a, b = tg.zeros(2, requires_grad=True), tg.zeros(3, requires_grad=True)
    return cls([{"params": [a], "lr": BASE[0]}, {"params": [b], "lr": BASE[1]}], **kw)


def run(sched, epochs):
    """lrs after construction (epoch 0) and after each of ``epochs`` steps."""
    out = [list(sched.get_last_lr())]
    for _ in range(epochs):
        sched.step()
        out.append(list(sched.get_last_lr()))
    return out


def check(lrs, closed_form):
    for epoch, got in enumerate(lrs):
        for base, lr in zip(BASE, got):
            want = closed_form(base, epoch)
            assert math.isclose(lr, want, rel_tol=1e-9, abs_tol=1e-12), (epoch, lr, want)


CASES = {
    "LambdaLR": (lambda o: S.LambdaLR(o, lambda e: 0.9 ** e + 0.01 * e), lambda b, e: b * (0.9 ** e + 0.01 * e)),
    "StepLR": (lambda o: S.StepLR(o, step_size=3, gamma=0.5), lambda b, e: b * 0.5 ** (e // 3)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
                    lambda b, e: b * 0.3 ** sum(m <= e for m in [2, 5, 5, 9])),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, gamma=0.8), lambda b, e: b * 0.8 ** e),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
                          lambda b, e: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * e / 7)) / 2),
    "LinearLR": (lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
                 lambda b, e: b * (0.25 + (0.9 - 0.25) * min(e, 6) / 6)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scheduler_matches_closed_form(name):
    make, closed = CASES[name]
    opt = make_opt()
    sched = make(opt)
    assert sched.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == BASE
    lrs = run(sched, 20)   # CosineAnnealingLR: past T_max the recursion follows the periodic closed form
    check(lrs, closed)
    assert [g["lr"] for g in opt.param_groups] == lrs[-1]
    if hasattr(sched, "_get_closed_form_lr"):
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(sched._get_closed_form_lr(), lrs[-1]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_scheduler_state_dict_round_trip(name):
    make, _ = CASES[name]
    opt = make_opt()
    sched = make(opt)
    run(sched, 4)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt2 = make_opt()
    sched2 = make(opt2)
    sched2.load_state_dict(sd)
    for g, g2 in zip(opt.param_groups, opt2.param_groups):
        g2["lr"] = g["lr"]
    assert run(sched, 5)[1:] == run(sched2, 5)[1:]


def _anneal(kind, start, end, pct):
    if kind == "cos":
        return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))
    return start + (end - start) * pct


@pytest.mark.parametrize("kind", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_one_cycle_closed_form_and_momentum(kind, three_phase, cls):
    total, pct, div, final_div = 20, 0.3, 25.0, 1e4
    opt = make_opt(cls, **({"momentum": 0.9} if cls is optim.SGD else {}))
    sched = S.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=total, pct_start=pct, anneal_strategy=kind,
                         three_phase=three_phase, div_factor=div, final_div_factor=final_div)
    for step in range(total):
        if step:
            sched.step()
        for max_lr, group in zip([1.0, 0.5], opt.param_groups):
            init, low = max_lr / div, max_lr / div / final_div
            up = pct * total - 1
            if three_phase:
                phases = [(0, up, init, max_lr, 0.95, 0.85), (up, 2 * pct * total - 2, max_lr, init, 0.85, 0.95),
                          (2 * pct * total - 2, total - 1, init, low, 0.95, 0.95)]
            else:
                phases = [(0, up, init, max_lr, 0.95, 0.85), (up, total - 1, max_lr, low, 0.85, 0.95)]
            s0, s1, lr0, lr1, m0, m1 = next((p for p in phases if step <= p[1]), phases[-1])
            frac = (step - s0) / (s1 - s0)
            assert math.isclose(group["lr"], _anneal(kind, lr0, lr1, frac), rel_tol=1e-9), step
            mom = group["betas"][0] if cls is optim.Adam else group["momentum"]
            assert math.isclose(mom, _anneal(kind, m0, m1, frac), rel_tol=1e-9), step
    sched.step()   # step total - 1 -> total is still allowed ...
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        sched.step()


def test_sequential_lr_warmup_then_cosine():
    opt = make_opt()
    warm = S.LinearLR(opt, start_factor=0.1, total_iters=3)
    cos = S.CosineAnnealingLR(opt, T_max=8)
    seq = S.SequentialLR(opt, [warm, cos], milestones=[3])
    lrs = run(seq, 12)
    check(lrs, lambda b, e: b * (0.1 + 0.9 * e / 3) if e < 3 else b * (1 + math.cos(math.pi * (e - 3) / 8)) / 2)
    sd = seq.state_dict()
    assert len(sd["_schedulers"]) == 2 and sd["last_epoch"] == 12
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        S.SequentialLR(opt, [warm, cos], milestones=[3, 4])


def test_reduce_lr_on_plateau():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=[0.0, 0.01])
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    history = []
    for m in metrics:
        sched.step(m)
        history.append(sched.get_last_lr())
    # best 0.9 at epoch 2; 3 bad epochs (> patience 2) -> reduce at epoch 5; cooldown 1 then 3 more bad -> 9; 13
    assert [h[0] for h in history] == [0.1] * 4 + [0.05] * 4 + [0.025] * 4 + [0.0125]
    assert [h[1] for h in history][-1] == 0.01   # clamped at its min_lr
    sched2 = S.ReduceLROnPlateau(make_opt(), mode="max", threshold=0.1, threshold_mode="abs", patience=0)
    sched2.step(tg.tensor(1.0))
    sched2.step(1.05)   # not better than 1.0 + 0.1 -> reduce at once (patience 0)
    assert sched2.get_last_lr() == pytest.approx([0.01, 0.003])
    sd = sched2.state_dict()
    sched3 = S.ReduceLROnPlateau(make_opt(), mode="max")
    sched3.load_state_dict(sd)
    assert sched3.best == 1.0 and sched3.threshold_mode == "abs"


@pytest.mark.parametrize("make,message", [
    (lambda o: S.LinearLR(o, start_factor=0), "Starting multiplicative factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), "Ending multiplicative factor"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), "You must define either total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), "Expected positive integer total_steps, but got 0"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), "pct_start, but got 1.5"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), "instead got exp"),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0], total_steps=5), "max_lr has 1 values"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), "Factor should be < 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="avg"), "mode avg is unknown"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), "Expected 2 lr_lambdas, but got 1"),
])
def test_invalid_scheduler_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_opt())


def test_resuming_requires_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), step_size=2, last_epoch=5)
