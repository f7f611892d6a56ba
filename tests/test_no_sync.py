"""Nothing inside a training step synchronizes the host (DESIGN.md), proved with the runtime's counter.

`tritongrad.cuda.count_host_syncs` counts every runtime operation that makes the host wait for the device
(device/stream/event synchronize, blocking or pageable host<->device copies, freeing pinned memory), in
interpreter mode exactly as on a GPU -- the counted paths are the same Python code in both modes -- so these
tests, run here in Triton's interpreter, prove the property of the compiled GPU step too (and run compiled
on a GPU machine).

The first part checks the counter itself (what counts, what does not, where it points, the debug mode); the
second runs whole training steps on cuda -- forward, ``F.cross_entropy``, backward,
``nn.utils.clip_grad_norm_``, ``AdamW.step``, an ``lr_scheduler`` step, ``zero_grad`` -- for an MLP
(Linear, ReLU, LayerNorm, Linear) and a one-block GPT (token/position Embedding, causal
``F.scaled_dot_product_attention``, GELU MLP, tied LM head; ``examples/train_gpt.py``'s model), and
asserts zero host synchronizations after one warm-up step. A failure lists each synchronization's stack.
"""
import numpy as np
import pytest

import tritongrad
import tritongrad.cuda as tcuda
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad import optim, runtime
from tritongrad.optim import lr_scheduler

DEV = "cuda"
THIS_FILE = "test_no_sync.py"


def _cuda_tensor(a):
    return tritongrad.tensor(np.asarray(a), device=DEV)


def _count(fn):
    with tcuda.count_host_syncs() as syncs:
        fn()
    return syncs


# -- the counter ---------------------------------------------------------------------------------------------

def test_each_synchronizing_operation_counts_once_and_names_its_line():
    x = _cuda_tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    ops = {
        "item": lambda: x.sum().item(),
        "tolist": lambda: x.tolist(),
        "cpu": lambda: x.cpu(),
        "bool": lambda: bool(x.sum() > 0),
        "tensor on cuda": lambda: _cuda_tensor([1.0, 2.0]),
        "synchronize": lambda: tcuda.synchronize(),
        "stream": lambda: tcuda.current_stream().synchronize(),
        "recorded event": lambda: tcuda.current_stream().record_event().synchronize(),
        "empty_cache": lambda: tcuda.empty_cache(),
    }
    for name, op in ops.items():
        syncs = _count(op)
        assert syncs.count == 1, (name, syncs)
        assert THIS_FILE in syncs.where[0], (name, syncs.where)


def test_device_work_and_asynchronous_copies_do_not_count():
    x = _cuda_tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    small = np.ones((5, 7), np.float32)
    pinned = tcuda.pinned_empty((5, 7), np.float32)
    pinned[...] = 2.0
    dev = runtime.empty((5, 7), np.float32)
    back = tcuda.pinned_empty((5, 7), np.float32)

    def work():
        y = (x * 2 + 1).relu().sum(dim=0)            # kernels
        y.add_(x[0])                                  # in place
        _ = x.t().contiguous()                        # device copy
        tcuda.Event().synchronize()                   # never recorded: nothing to wait for
        tcuda.current_stream().query()
        runtime.copy_host_to_device(dev, small, non_blocking=True)    # small pageable: staged, asynchronous
        runtime.copy_host_to_device(dev, pinned, non_blocking=True)   # pinned
        runtime.copy_device_to_host(back, dev, non_blocking=True)     # into pinned memory
        runtime.copy_device_to_host(np.empty(0, np.float32), runtime.empty((0,), np.float32))  # nothing to copy

    assert _count(work).count == 0
    tcuda.current_stream().synchronize()
    np.testing.assert_array_equal(back, pinned)


def test_blocking_and_large_pageable_copies_count():
    n = runtime.memory.STAGING_MAX_BYTES // 4 + 1
    big = np.zeros(n, np.float32)
    dev = runtime.empty((n,), np.float32)
    assert _count(lambda: runtime.copy_host_to_device(dev, big, non_blocking=True)).count == 1
    assert _count(lambda: runtime.copy_host_to_device(dev, big[:8])).count == 1
    assert _count(lambda: runtime.copy_device_to_host(np.empty(8, np.float32), dev, non_blocking=True)).count == 1


def test_freeing_pinned_memory_counts():
    def alloc_and_free():
        a = tcuda.pinned_empty((16,), np.float32)
        del a
    assert _count(alloc_and_free).count == 1


def test_counters_nest_and_stop_at_exit():
    x = _cuda_tensor([1.0, 2.0])
    with tcuda.count_host_syncs() as outer:
        x.sum().item()
        with tcuda.count_host_syncs() as inner:
            x.sum().item()
        x.sum().item()
    x.sum().item()
    assert (outer.count, inner.count) == (3, 1)
    assert "count=3" in repr(outer)


def test_sync_debug_mode_error_raises_before_the_operation_and_warn_warns():
    x = _cuda_tensor([1.0, 2.0])
    assert tcuda.get_sync_debug_mode() == 0
    try:
        tcuda.set_sync_debug_mode("error")
        assert tcuda.get_sync_debug_mode() == 2
        with pytest.raises(RuntimeError, match=r"called a synchronizing CUDA operation: blocking copy_device_to_host "
                                               r"at .*test_no_sync\.py"):
            x.sum().item()
        (x * 3).relu()                       # device work is fine in error mode
        tcuda.set_sync_debug_mode(1)
        with pytest.warns(UserWarning, match="synchronizing CUDA operation: synchronize"):
            tcuda.synchronize()
    finally:
        tcuda.set_sync_debug_mode("default")
    assert x.sum().item() == 3.0
    for bad in ("loud", 3, True):
        with pytest.raises(RuntimeError, match="invalid value of debug_mode"):
            tcuda.set_sync_debug_mode(bad)


# -- whole training steps --------------------------------------------------------------------------------------

class _MLP(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.act = nn.ReLU()
        self.norm = nn.LayerNorm(d_hidden)
        self.fc2 = nn.Linear(d_hidden, n_classes)

    def forward(self, x):
        return self.fc2(self.norm(self.act(self.fc1(x))))


def _tiny_gpt():
    from examples.train_gpt import GPTConfig, build_model
    return build_model(GPTConfig(block_size=8, vocab_size=13, n_layer=1, n_head=2, n_embd=8))


def _batches(kind, n, rng):
    if kind == "mlp":
        return [(_cuda_tensor(rng.standard_normal((6, 7)).astype(np.float32)), _cuda_tensor(rng.integers(0, 5, 6)))
                for _ in range(n)]
    return [(_cuda_tensor(rng.integers(0, 13, (2, 5))), _cuda_tensor(rng.integers(0, 13, (2, 5))))
            for _ in range(n)]


def _step_fn(kind, scope, schedule=True, set_to_none=True):
    """(model, step(x, y) -> loss): a full training step as a user writes it ("train": zero_grad, forward,
    loss, backward, clip_grad_norm_, AdamW step, and a scheduler step if ``schedule``), or only up to the
    clipping ("forward_backward"). The model's initial weights depend only on ``kind``."""
    tritongrad.manual_seed(0)
    model = (_MLP(7, 11, 5) if kind == "mlp" else _tiny_gpt()).to(DEV)
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)

    def step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(model(x), y) if kind == "mlp" else model(x, y)[1]
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        if scope == "train":
            opt.step()
            if schedule:
                sched.step()
        return loss
    return model, step


def _measure(kind, scope):
    """The host synchronizations of two steps after one warm-up step (which may allocate optimizer state);
    checks that the steps computed (finite losses; with "train", every parameter updated)."""
    model, step = _step_fn(kind, scope)
    batches = _batches(kind, 3, np.random.default_rng(1))
    step(*batches[0])
    before = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    with tcuda.count_host_syncs() as syncs:
        losses = [step(*b) for b in batches[1:]]
    assert all(np.isfinite(loss.item()) for loss in losses)
    after = [p.detach().cpu().numpy() for p in model.parameters()]
    changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
    assert all(changed) if scope == "train" else not any(changed)
    return syncs.where


CASES = [(kind, scope) for kind in ("mlp", "gpt") for scope in ("forward_backward", "train")]


@pytest.mark.parametrize("kind,scope", CASES)
def test_training_step_does_not_synchronize(kind, scope):
    where = _measure(kind, scope)
    assert not where, f"{len(where)} host synchronization(s) in two steps:\n" + "\n".join(where)
