"""Activation memory of a training step on cuda: bytes the autograd graph keeps after the forward pass, and the
peak of the whole step (forward, backward, optimizer step), for an MLP with tanh and GELU and for the tiny GPT
of ``examples/train_gpt.py``.

Runs anywhere the cuda device does (a GPU, or Triton's interpreter with ``TRITON_INTERPRET=1``: memory is then
host memory standing in for device memory, counted the same way). From the repository root::

    TRITON_INTERPRET=1 python -m bench.activation_memory

Figures are MiB over the memory allocated before the step (parameters, optimizer state and batch excluded).
"""
from __future__ import annotations

import gc
import os
import sys

import tritongrad as tg
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad import cuda as tcuda

MIB = 2 ** 20


def _settle():
    # Triton's interpreter keeps a kernel's last launch arguments, and earlier ones in reference cycles until a
    # collection; collect so that only what the graph holds is counted (a no-op on a GPU)
    gc.collect()


def measure(model, batch, loss_fn, steps=2):
    """``(graph MiB after forward, peak MiB of the step)`` of the last of ``steps`` AdamW steps."""
    opt = tg.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        _settle()
        base = tcuda.memory_allocated()
        tcuda.reset_peak_memory_stats()
        loss = loss_fn(model, *batch)
        _settle()
        graph = tcuda.memory_allocated() - base
        loss.backward()
        opt.step()
        peak = tcuda.max_memory_allocated() - base
        del loss
    return graph / MIB, peak / MIB


def mlp_case():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(128, 512), nn.Tanh(), nn.Linear(512, 512), nn.GELU(), nn.Linear(512, 10)).cuda()
    x = tg.randn(256, 128, device="cuda")
    y = tg.randint(0, 10, (256,), device="cuda")
    return model, (x, y), lambda m, x, y: F.cross_entropy(m(x), y)


def gpt_case():
    sys.path.insert(0, os.getcwd())
    from examples.train_gpt import TINY, build_model
    tg.manual_seed(0)
    model = build_model(TINY).cuda()
    idx = tg.randint(0, TINY.vocab_size, (8, TINY.block_size), device="cuda")
    tgt = tg.randint(0, TINY.vocab_size, (8, TINY.block_size), device="cuda")
    return model, (idx, tgt), lambda m, i, t: m(i, t)[1]


def main():
    for name, case in (("MLP 128-512-tanh-512-GELU-10, batch 256", mlp_case),
                       ("GPT TINY (2 layers, 64 wide, block 64), batch 8", gpt_case)):
        graph, peak = measure(*case())
        print(f"{name}: graph after forward {graph:.3f} MiB, step peak {peak:.3f} MiB")


if __name__ == "__main__":
    main()
