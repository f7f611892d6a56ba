"""Threads, as PyTorch allows them: grad mode and inference mode are per thread (a new thread starts with
PyTorch's defaults), two threads training separate models get exactly what sequential training gets, and the
shared state (the default generators, the memory statistics) stays consistent under concurrent use."""
import gc
import sys
import threading

import numpy as np
import pytest

import tritongrad as tg
from tritongrad import nn

DEVICES = ["cpu", "cuda"]


def _run_threads(targets):
    """Start one thread per callable, join them, re-raise the first exception any of them raised."""
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as e:     # noqa: BLE001 - handed to the main thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=guard(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]


def _model_and_data(seed, device):
    # on cpu, big enough that NumPy's matmuls release the GIL mid-step, so the threads' steps interleave
    n_in, hidden, batch = (64, 256, 64) if device == "cpu" else (3, 5, 4)
    steps = 20 if device == "cpu" else 3        # the interpreter is slow
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 2)).to(device)
    rng = np.random.default_rng(seed)
    xs = [tg.tensor(rng.standard_normal((batch, n_in)), dtype=tg.float32, device=device) for _ in range(steps)]
    ys = [tg.tensor(rng.integers(0, 2, batch), device=device) for _ in range(steps)]
    return model, xs, ys


def _train(model, xs, ys):
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)   # its step runs under no_grad
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return [p.detach().cpu().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("device", DEVICES)
def test_two_threads_training_equal_sequential_training(device):
    expected = [_train(*_model_and_data(seed, device)) for seed in (1, 2)]
    setups = [_model_and_data(seed, device) for seed in (1, 2)]
    got = [None, None]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)     # switch threads as often as possible: one thread's no_grad (the
                                    # optimizer step) must never leak into the other's forward

    def worker(i):
        def run():
            got[i] = _train(*setups[i])
        return run

    try:
        _run_threads([worker(0), worker(1)])
    finally:
        sys.setswitchinterval(interval)
    for exp, res in zip(expected, got):
        for e, r in zip(exp, res):
            np.testing.assert_array_equal(r, e)


@pytest.mark.parametrize("device", DEVICES)
def test_training_beside_an_evaluation_thread_equals_training_alone(device):
    """The evaluation thread spends its time inside ``no_grad``; with one process-wide flag the training
    thread's forward then recorded nothing (or only part of the graph)."""
    expected = _train(*_model_and_data(1, device))
    model, xs, ys = _model_and_data(1, device)
    evaluated, _, _ = _model_and_data(2, device)
    done, got, evals = threading.Event(), [], [0]

    def train():
        try:
            got.extend(_train(model, xs, ys))
        finally:
            done.set()

    def evaluate():
        while not done.is_set():
            with tg.no_grad():
                assert not evaluated(xs[0]).requires_grad
            evals[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _run_threads([train, evaluate])
    finally:
        sys.setswitchinterval(interval)
    assert evals[0] > 0
    for e, r in zip(expected, got):
        np.testing.assert_array_equal(r, e)


def test_no_grad_in_one_thread_does_not_affect_another():
    x = tg.ones(2, requires_grad=True)
    inside, leave = threading.Event(), threading.Event()
    seen = {}

    def holder():
        with tg.no_grad():
            seen["holder"] = tg.is_grad_enabled()
            inside.set()
            leave.wait(30)

    def other():
        inside.wait(30)
        seen["other"] = tg.is_grad_enabled()
        seen["other_records"] = (x * 2).requires_grad
        leave.set()

    _run_threads([holder, other])
    assert seen == {"holder": False, "other": True, "other_records": True}
    assert tg.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_thread():
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with tg.no_grad():
            a_in.set()
            b_in.wait(30)
        a_out.set()
        after["a"] = tg.is_grad_enabled()

    def b():
        a_in.wait(30)
        with tg.no_grad():
            b_in.set()
            a_out.wait(30)      # leaves its block after a left its own: the interleaving that broke a global flag
        after["b"] = tg.is_grad_enabled()

    _run_threads([a, b])
    assert after == {"a": True, "b": True}
    assert tg.is_grad_enabled()


def test_one_no_grad_instance_shared_by_threads():
    shared = tg.no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with shared:
            a_in.set()
            b_in.wait(30)
        a_out.set()
        after["a"] = tg.is_grad_enabled()

    def b():
        with tg.enable_grad():
            a_in.wait(30)
            with shared:
                b_in.set()
                a_out.wait(30)
            after["b"] = tg.is_grad_enabled()

    _run_threads([a, b])
    assert after == {"a": True, "b": True}


def test_a_new_thread_starts_with_pytorchs_defaults():
    seen = {}

    def child():
        seen["grad"] = tg.is_grad_enabled()
        seen["inference"] = tg.is_inference_mode_enabled()

    with tg.inference_mode():
        assert not tg.is_grad_enabled() and tg.is_inference_mode_enabled()
        _run_threads([child])
    assert seen == {"grad": True, "inference": False}
    assert tg.is_grad_enabled() and not tg.is_inference_mode_enabled()


def test_stress_threads_toggling_modes():
    x = tg.ones(3, requires_grad=True)
    modes = [(tg.no_grad, False), (tg.enable_grad, True), (lambda: tg.set_grad_enabled(False), False),
             (lambda: tg.inference_mode(), False), (lambda: tg.inference_mode(False), True)]

    def worker(seed):
        def run():
            rng = np.random.default_rng(seed)
            for _ in range(200):
                ctx, grad_on = modes[rng.integers(len(modes))]
                with ctx():
                    assert tg.is_grad_enabled() is grad_on
                    assert (x * 2).requires_grad is grad_on
                    with tg.no_grad():
                        assert not (x + 1).requires_grad
                    assert tg.is_grad_enabled() is grad_on
                assert tg.is_grad_enabled() and not tg.is_inference_mode_enabled()
        return run

    _run_threads([worker(s) for s in range(6)])
    assert tg.is_grad_enabled()


@pytest.mark.parametrize("device", DEVICES)
def test_concurrent_draws_from_the_default_generator_lose_no_counter(device):
    per_thread, threads = (20, 4) if device == "cpu" else (5, 3)
    tg.manual_seed(7)
    sequential = [tg.rand(4, device=device).cpu().numpy() for _ in range(per_thread * threads)]
    tg.manual_seed(7)
    got = [[] for _ in range(threads)]

    def worker(i):
        def run():
            for _ in range(per_thread):
                got[i].append(tg.rand(4, device=device).cpu().numpy())
        return run

    _run_threads([worker(i) for i in range(threads)])
    drawn = sorted(tuple(v) for g in got for v in g)
    assert drawn == sorted(tuple(v) for v in sequential)      # every counter range handed out exactly once
    after = tg.rand(4, device=device).cpu().numpy()
    tg.manual_seed(7)
    for _ in range(per_thread * threads):
        tg.rand(4, device=device)
    np.testing.assert_array_equal(after, tg.rand(4, device=device).cpu().numpy())


def test_memory_statistics_stay_exact_under_concurrent_allocation():
    gc.collect()                # buffers of earlier tests that only a collection frees
    base = tg.cuda.memory_allocated()

    def worker():
        for _ in range(300):
            t = tg.empty(16, device="cuda")
            del t

    _run_threads([worker for _ in range(4)])
    assert tg.cuda.memory_allocated() == base
