"""A whole training step captured in a CUDA graph and replayed (``tritongrad.cuda.graph``, `make_graphed_step`).

GPU-only tests (marked ``gpu``) capture forward, ``F.cross_entropy``, backward, ``clip_grad_norm_`` and the
AdamW step of an MLP and of a one-block GPT after warm-up, replay it on new batches copied into static input
tensors, and check losses, parameters and gradients against the same steps run eagerly; they also check what
a capture does with host synchronizations (raise, naming the line) and host-to-device copies (snapshots, or
pinned memory read at replay). In Triton's interpreter there is nothing to capture, so here run the checks of
`make_graphed_step`'s arguments and inputs and its eager path (``capture=False``) against a plain loop.
"""
import numpy as np
import pytest
from test_no_sync import _batches, _step_fn

import tritongrad
import tritongrad.cuda as tcuda
from tritongrad import runtime

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


# -- GPU: capture and replay -------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("kind", ["mlp", "gpt"])
def test_graphed_training_step_matches_eager_steps(kind, set_to_none):
    graphed, syncs = _compare(kind, set_to_none, capture=True)
    assert graphed.graph is not None
    assert syncs.count == 0, "a replay must not synchronize the host:\n" + "\n".join(syncs.where)


@pytest.mark.gpu
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


@pytest.mark.gpu
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


@pytest.mark.gpu
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


@pytest.mark.skipif(not tcuda.is_interpreter(), reason="checks the interpreter-mode error")
def test_capture_in_interpreter_mode_raises_before_any_warmup_step():
    calls = []
    with pytest.raises(RuntimeError, match="CUDA graphs need a real GPU.*capture=False"):
        tcuda.make_graphed_step(lambda a: calls.append(a), tritongrad.zeros(2, device=DEV))
    assert calls == []


def test_eager_graphed_step_matches_eager_steps():
    graphed, _ = _compare("mlp", set_to_none=True, capture=False, warmup=1, steps=2)
    assert graphed.graph is None
