"""A whole training step captured in a CUDA graph and replayed (``tritongrad.cuda.graph``, `make_graphed_step`).

The tests capture forward, ``F.cross_entropy``, backward, ``clip_grad_norm_`` and the AdamW step of an MLP and
of a one-block GPT after warm-up, replay it on new batches copied into static input tensors, and check losses,
parameters, gradients and optimizer state against the same steps run eagerly; they also check what a capture
does with host synchronizations (raise, naming the line), host-to-device copies (snapshots, or pinned memory
read at replay), allocations (from the capturing stream's private pool only; none at replay; other threads
unaffected) and that a graph's side stream dies with it. They run on a GPU and, through the runtime's
recording of captured launches (`tritongrad.runtime.capture`), in Triton's interpreter.
"""
import gc
import threading

import numpy as np
import pytest
from test_no_sync import _batches, _step_fn, _tiny_gpt

import tritongrad
import tritongrad.cuda as tcuda
from tritongrad import nn, optim, runtime
from tritongrad.runtime import capture, streams

DEV = "cuda"
RTOL, ATOL = 1e-4, 1e-6   # the same kernels in the same order; slack for atomics in the embedding backward


def _close(got, ref, what):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    bad = np.abs(got - ref) > ATOL + RTOL * np.abs(ref)
    assert not bad.any(), (f"{what}: first mismatch at {np.argwhere(bad)[0].tolist()}: {got[bad][:3]} vs "
                           f"{ref[bad][:3]}")


def _snapshot(model):
    params = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    grads = [p.grad.detach().cpu().numpy().copy() for p in model.parameters()]
    return params, grads


def _eager_run(kind, batches, warmup, set_to_none):
    """Reference: ``warmup`` steps on the first batch, then one step per later batch."""
    model, step = _step_fn(kind, "train", schedule=False, set_to_none=set_to_none)
    for _ in range(warmup):
        step(*batches[0])
    losses = [step(*b).item() for b in batches[1:]]
    return losses, _snapshot(model)


def _graphed_run(kind, batches, warmup, set_to_none, capture):
    model, step = _step_fn(kind, "train", schedule=False, set_to_none=set_to_none)
    static = [t.clone() for t in batches[0]]
    graphed = tcuda.make_graphed_step(step, *static, warmup=warmup, capture=capture)
    losses = []
    for b in batches[1:]:
        with tcuda.count_host_syncs() as syncs:
            loss = graphed(*b)
        losses.append(loss.item())
    return losses, _snapshot(model), graphed, syncs


def _compare(kind, set_to_none, capture, warmup=2, steps=3):
    batches = _batches(kind, 1 + steps, np.random.default_rng(5))
    ref_losses, (ref_params, ref_grads) = _eager_run(kind, batches, warmup, set_to_none)
    losses, (params, grads), graphed, syncs = _graphed_run(kind, batches, warmup, set_to_none, capture)
    _close(losses, ref_losses, "losses")
    for i, (p, r) in enumerate(zip(params, ref_params)):
        _close(p, r, f"parameter {i}")
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        _close(g, r, f"gradient {i}")
    assert len(set(np.round(losses, 6))) == len(losses), "each step must see its own batch"
    return graphed, syncs


# -- capture and replay (GPU and interpreter) --------------------------------------------------------------------

@pytest.mark.parametrize("kind,set_to_none", [
    ("mlp", True), ("mlp", False),
    # the interpreter runs a GPT step in seconds: there the five-replay GPT test below covers it
    pytest.param("gpt", False, marks=pytest.mark.gpu)])
def test_graphed_training_step_matches_eager_steps(kind, set_to_none):
    steps = 2 if tcuda.is_interpreter() else 3          # interpreter steps are slow; the graph is the same
    graphed, syncs = _compare(kind, set_to_none, capture=True, warmup=1 if tcuda.is_interpreter() else 2,
                              steps=steps)
    assert graphed.graph is not None
    assert syncs.count == 0, "a replay must not synchronize the host:\n" + "\n".join(syncs.where)


def test_replays_keep_gradient_and_loss_buffers_in_place():
    model, step = _step_fn("mlp", "train", schedule=False)
    batches = _batches("mlp", 3, np.random.default_rng(6))
    graphed = tcuda.make_graphed_step(step, *[t.clone() for t in batches[0]], warmup=1)
    addresses = [p.grad._data.data_ptr() for p in model.parameters()]
    loss_ptr = graphed.outputs._data.data_ptr()
    for b in batches[1:]:
        assert graphed(*b) is graphed.outputs
    assert [p.grad._data.data_ptr() for p in model.parameters()] == addresses
    assert graphed.outputs._data.data_ptr() == loss_ptr


def test_host_synchronization_inside_a_capture_raises_naming_the_line():
    x = tritongrad.tensor(np.arange(5, dtype=np.float32), device=DEV)
    (x * 2).sum()
    g = tcuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=r"host synchronization during CUDA graph capture: blocking "
                                           r"copy_device_to_host at .*test_cuda_graphs\.py"):
        with tcuda.graph(g):
            (x * 2).sum().item()
    assert not tcuda.is_current_stream_capturing()
    assert (x * 2).sum().item() == 20.0   # the stream works after the aborted capture


def test_host_to_device_copies_inside_a_capture():
    out = tritongrad.zeros(3, device=DEV)
    host = tcuda.pinned_empty((3,), np.float32)
    host[...] = 1.0
    pinned_dst = runtime.empty((3,), np.float32)
    out.copy_(out * 2)    # compile and load the kernels used below before the capture
    g = tcuda.CUDAGraph()
    with tcuda.graph(g):
        assert tcuda.is_current_stream_capturing()
        constant = tritongrad.tensor([1.0, 2.0, 3.0], device=DEV)   # a snapshot owned by the graph
        out.copy_(constant * 2)
        runtime.copy_host_to_device(pinned_dst, host, non_blocking=True)   # reads `host` at each replay
    assert not tcuda.is_current_stream_capturing()
    for value in (5.0, 7.0):
        out.zero_()
        host[...] = value
        g.replay()
        np.testing.assert_array_equal(out.cpu().numpy(), [2.0, 4.0, 6.0])
        back = np.empty(3, np.float32)
        runtime.copy_device_to_host(back, pinned_dst)
        np.testing.assert_array_equal(back, [value] * 3)


# -- everywhere: make_graphed_step's checks and eager path ---------------------------------------------------------

def test_make_graphed_step_checks_its_arguments():
    x = tritongrad.zeros(2, 3, device=DEV)
    with pytest.raises(TypeError, match="step_fn must be callable"):
        tcuda.make_graphed_step(None, x)
    with pytest.raises(TypeError, match="static input 1 must be a tritongrad Tensor, got ndarray"):
        tcuda.make_graphed_step(lambda a, b: a, x, np.zeros(3))
    with pytest.raises(ValueError, match="static input 0 is on cpu"):
        tcuda.make_graphed_step(lambda a: a, tritongrad.zeros(2))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="warmup must be a non-negative int"):
            tcuda.make_graphed_step(lambda a: a, x, warmup=bad)
    with pytest.raises(ValueError, match="needs warmup >= 1"):
        tcuda.make_graphed_step(lambda a: a, x, warmup=0)


def test_make_graphed_step_checks_call_inputs():
    x = tritongrad.zeros(2, 3, device=DEV)
    graphed = tcuda.make_graphed_step(lambda a: a * 2, x, warmup=0, capture=False)
    with pytest.raises(TypeError, match="takes 1 input"):
        graphed(x, x)
    with pytest.raises(ValueError, match=r"input 0 has shape \(3, 2\), but the step was captured with shape "
                                         r"\(2, 3\)"):
        graphed(tritongrad.zeros(3, 2, device=DEV))
    new = tritongrad.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device=DEV)
    np.testing.assert_array_equal(graphed(new).cpu().numpy(), np.arange(6).reshape(2, 3) * 2)
    np.testing.assert_array_equal(x.cpu().numpy(), np.arange(6).reshape(2, 3))   # copied into the static input
    np.testing.assert_array_equal(graphed().cpu().numpy(), np.arange(6).reshape(2, 3) * 2)


def test_eager_graphed_step_matches_eager_steps():
    graphed, _ = _compare("mlp", set_to_none=True, capture=False, warmup=1, steps=2)
    assert graphed.graph is None


# -- a GPT step replayed five times; the capture's rules ----------------------------------------------------------

def _gpt_trainer():
    """(model, optimizer, step) of the tiny GPT of `test_no_sync`, with AdamW and gradient clipping."""
    tritongrad.manual_seed(0)
    model = _tiny_gpt().to(DEV)
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)[1]
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        return loss
    return model, opt, step


def _state(model, opt):
    """Parameters and every optimizer state tensor (``step``, ``exp_avg``, ``exp_avg_sq``) as NumPy arrays."""
    params = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    state = [(key, v.detach().cpu().numpy().copy()) for p in model.parameters()
             for key, v in sorted(opt.state[p].items())]
    return params, state


def test_gpt_step_captured_and_replayed_five_times_matches_five_eager_steps(monkeypatch):
    batches = _batches("gpt", 6, np.random.default_rng(7))
    model, opt, step = _gpt_trainer()
    step(*batches[0])                                   # warm-up, as make_graphed_step does
    eager_losses = [step(*b).item() for b in batches[1:]]
    eager_params, eager_state = _state(model, opt)

    model, opt, step = _gpt_trainer()
    graphed = tcuda.make_graphed_step(step, *[t.clone() for t in batches[0]], warmup=1)
    allocations = []
    real_allocate = runtime.memory.allocate
    monkeypatch.setattr(runtime.memory, "allocate", lambda *a, **k: allocations.append(a) or real_allocate(*a, **k))
    before = tcuda.memory_allocated()
    losses = []
    for b in batches[1:]:
        graphed.static_inputs[0].copy_(b[0])
        graphed.static_inputs[1].copy_(b[1])
        allocations.clear()
        with tcuda.count_host_syncs() as syncs:
            graphed()                                   # the replay alone
        assert allocations == [] and syncs.count == 0, (allocations, syncs.where)
        losses.append(graphed.outputs.item())
    assert tcuda.memory_allocated() == before
    params, state = _state(model, opt)
    _close(losses, eager_losses, "losses")
    for i, (p, r) in enumerate(zip(params, eager_params)):
        _close(p, r, f"parameter {i}")
    assert [k for k, _ in state] == [k for k, _ in eager_state] and {k for k, _ in state} >= {"step", "exp_avg"}
    for (key, v), (_, r) in zip(state, eager_state):
        _close(v, r, f"optimizer state {key}")
    assert len(set(np.round(losses, 6))) == len(losses), "each replay must see its own batch"


def test_capture_records_and_does_not_run_until_replay():
    x = tritongrad.tensor(np.arange(5, dtype=np.float32), device=DEV)
    (x * 2 + 1).sum()                                   # compile and load outside the capture
    g = tcuda.CUDAGraph()
    with tcuda.graph(g):
        x.mul_(2)
        out = (x + 1).sum()
    np.testing.assert_array_equal(x.cpu().numpy(), np.arange(5))   # recorded, not run
    for expected in (25.0, 45.0, 85.0):                # each replay doubles x again
        g.replay()
        assert out.item() == expected
    g.reset()
    with pytest.raises(RuntimeError, match=r"replay\(\) needs a captured graph"):
        g.replay()


def test_capture_allocating_outside_its_pool_fails_clearly():
    x = tritongrad.ones(4, device=DEV)
    (x * 2).sum()
    other = tcuda.Stream()
    g = tcuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=r"allocation on .*Stream.* during the CUDA graph capture of .*private pool"):
        with tcuda.graph(g):
            with tcuda.stream(other):
                x * 2
    assert not tcuda.is_current_stream_capturing()
    assert (x * 2).sum().item() == 8.0                  # usable after the aborted capture
    with tcuda.stream(other):
        assert (x * 3).sum().item() == 12.0


def test_capturing_a_stream_twice_or_the_default_stream_fails_clearly():
    with pytest.raises(RuntimeError, match="cannot capture the default stream"):
        tcuda.CUDAGraph().capture_begin()
    s = tcuda.Stream()
    g = tcuda.CUDAGraph()
    with tcuda.stream(s):
        g.capture_begin()
        try:
            with pytest.raises(RuntimeError, match="already being captured"):
                tcuda.CUDAGraph().capture_begin()
        finally:
            g.capture_end()


def test_other_threads_allocations_do_not_land_in_the_capture_pool():
    x = tritongrad.tensor(np.arange(4, dtype=np.float32), device=DEV)
    (x * 2).sum()
    seen = {}
    started, finished = threading.Event(), threading.Event()

    def other_thread():
        started.wait(30)
        y = x * 3                                       # on this thread's own (default) stream
        seen["pool"] = getattr(y._data.buffer, "graph_pool", None)
        seen["values"] = y.cpu().numpy()
        finished.set()

    t = threading.Thread(target=other_thread)
    t.start()
    g = tcuda.CUDAGraph()
    with tcuda.graph(g):
        inside = x * 2
        started.set()
        assert finished.wait(60), "the other thread did not finish"
    t.join()
    assert seen["pool"] is None
    np.testing.assert_array_equal(seen["values"], np.arange(4) * 3)   # ran at once, was not captured
    assert inside._data.buffer.graph_pool is not None
    g.replay()
    np.testing.assert_array_equal(inside.cpu().numpy(), np.arange(4) * 2)


def test_graph_side_stream_is_released_with_the_graph():
    x = tritongrad.ones(3, device=DEV)
    (x * 2).sum()
    gc.collect()
    baseline = streams.OwnedStream.alive
    for _ in range(3):
        g = tcuda.CUDAGraph()
        with tcuda.graph(g):
            out = (x * 2).sum()
        g.replay()
        assert out.item() == 6.0
        assert streams.OwnedStream.alive == baseline + 1
        g.reset()
        assert streams.OwnedStream.alive == baseline + 1   # the output still holds the private pool
        del out, g
        gc.collect()
        assert streams.OwnedStream.alive == baseline, "the graph's side stream leaked"


@pytest.mark.skipif(not tcuda.is_interpreter(),
                    reason="on a GPU a replay after an input was freed reads freed memory silently (undefined)")
def test_replay_after_a_captured_input_was_freed_raises():
    x = tritongrad.ones(3, device=DEV)
    (x * 2).sum()
    g = tcuda.CUDAGraph()
    with tcuda.graph(g):
        out = (x * 2).sum()
    g.replay()
    assert out.item() == 6.0
    del x
    gc.collect()
    with pytest.raises(RuntimeError, match="has been freed since"):
        g.replay()


def test_input_dying_during_the_capture_is_kept_by_the_graph():
    g = tcuda.CUDAGraph()
    x = tritongrad.ones(3, device=DEV)
    (x * 2).sum()
    with tcuda.graph(g):
        out = (x * 2).sum()
        del x                                           # dies inside the capture: the graph keeps its memory
        gc.collect()
    g.replay()
    assert out.item() == 6.0


def test_a_stream_forked_from_the_capture_is_captured_too():
    x = tritongrad.ones(4, device=DEV)
    (x * 3 + 1).sum()
    side = tcuda.Stream()
    g = tcuda.CUDAGraph()
    with tcuda.graph(g):
        side.wait_stream(tcuda.current_stream())       # fork: `side` joins the capture
        with tcuda.stream(side):
            assert tcuda.is_current_stream_capturing()
            y = x * 3                                   # captured, in the graph's pool
        tcuda.current_stream().wait_stream(side)       # join
        out = (y + 1).sum()
    assert y._data.buffer.graph_pool is not None
    with tcuda.stream(side):
        assert not tcuda.is_current_stream_capturing()
        assert getattr((x * 2)._data.buffer, "graph_pool", None) is None
    g.replay()
    assert out.item() == 16.0
