"""The small GPT training step on the cpu: tritongrad against PyTorch CPU.

The model is `examples/train_gpt.py`'s at its ``--tiny`` size (2 layers, 64 wide, 2 heads, block 64, byte
vocabulary, tied LM head, tanh GELU), batch 16; the step is the example's: forward, cross-entropy,
``zero_grad``, backward, ``clip_grad_norm_(1.0)``, ``AdamW`` (weight decay 0.1 on matrices, betas (0.9, 0.95)).
The PyTorch peer is `bench.gpu_bench.torch_gpt`, the same architecture in torch with the same parameter names,
loaded with tritongrad's initial weights; `check_agrees` compares the losses of a few steps before anything is
timed.

``python -m bench.cpu_summary`` times it beside the other CPU steps.
"""
from __future__ import annotations

import math

import numpy as np

from bench.gpu_bench import torch_gpt
from examples.train_gpt import TINY, build_model, configure_optimizer

BATCH = 16
LR = 3e-3
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0


def batch(seed=0, config=TINY):
    """``(x, y)`` int64 (BATCH, block) NumPy arrays: random bytes and the next byte."""
    data = np.random.default_rng(seed).integers(0, config.vocab_size, (BATCH, config.block_size + 1))
    return np.ascontiguousarray(data[:, :-1]), np.ascontiguousarray(data[:, 1:])


def tritongrad_problem(seed=0):
    """``(step, state)``: one training step of the example's GPT and its model/optimizer."""
    import tritongrad as tg
    import tritongrad.nn as nn
    tg.manual_seed(seed)
    model = build_model(TINY)
    optimizer = configure_optimizer(model, LR, WEIGHT_DECAY)
    return _step(model, optimizer, nn.utils.clip_grad_norm_, *(tg.from_numpy(a) for a in batch(seed))), model


def _step(model, optimizer, clip_grad_norm_, x, y):
    """The example's training step for either library (its ``clip_grad_norm_`` passed in)."""
    params = list(model.parameters())

    def step():
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()
        return loss
    return step


def torch_problem(seed=0):
    """The same step in PyTorch CPU from the same initial weights; raises ImportError without torch."""
    import torch
    _, tg_model = tritongrad_problem(seed)
    model = torch_gpt(torch, TINY)
    model.load_state_dict({name: torch.from_numpy(p.detach().numpy().copy())
                           for name, p in tg_model.state_dict().items()})
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95))
    return _step(model, optimizer, torch.nn.utils.clip_grad_norm_, *(torch.from_numpy(a) for a in batch(seed))), model


def check_agrees(seed=0, steps=3, rtol=2e-4):
    """Check before timing: the losses of a few steps agree between tritongrad and torch (float32)."""
    tg_step, _ = tritongrad_problem(seed)
    torch_step, _ = torch_problem(seed)
    for i in range(steps):
        a, b = float(tg_step().item()), float(torch_step().item())
        if not math.isclose(a, b, rel_tol=rtol):
            raise AssertionError(f"GPT step {i}: tritongrad loss {a} differs from torch's {b}")
