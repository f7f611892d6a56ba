"""The small GPT training step on the cpu: tritongrad against PyTorch CPU and against raw NumPy.

The model is `examples/train_gpt.py`'s at its ``--tiny`` size (2 layers, 64 wide, 2 heads, block 64, byte
vocabulary, tied LM head, tanh GELU), batch 16; the step is the example's: forward, cross-entropy,
``zero_grad``, backward, ``clip_grad_norm_(1.0)``, ``AdamW`` (weight decay 0.1 on matrices, betas (0.9, 0.95)).
The PyTorch peer is `bench.gpu_peers.torch_gpt`, the same architecture in torch with the same parameter names,
loaded with tritongrad's initial weights; `check_agrees` compares the losses of a few steps before anything is
timed. `numpy_problem` is the same step in float32 NumPy with the backward, the clipping and AdamW written out
(`check_numpy_agrees`).

``python -m bench.cpu_summary`` times it beside the other CPU steps.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.gpu_peers import torch_gpt
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


# ------------------------------------------------------------------------------------ raw NumPy
LN_EPS = 1e-5
ADAM_BETAS, ADAM_EPS = (0.9, 0.95), 1e-8
_GELU_C = math.sqrt(2.0 / math.pi)


def _layer_norm(x, w, b):
    """``(y, (xhat, rstd))`` over the last axis."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + LN_EPS)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd)


def _layer_norm_grad(dy, w, cache):
    """``(dx, dw, db)`` of `_layer_norm`."""
    xhat, rstd = cache
    wdy = dy * w
    dx = rstd * (wdy - xhat * (wdy * xhat).mean(axis=-1, keepdims=True) - wdy.mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).reshape(-1, dy.shape[-1]).sum(0), dy.reshape(-1, dy.shape[-1]).sum(0)


def _heads(a, n_head):
    """(B, T, C) -> (B, H, T, C / H)."""
    b, t, c = a.shape
    return a.reshape(b, t, n_head, c // n_head).transpose(0, 2, 1, 3)


def _numpy_grads(p, idx, targets, config):
    """Loss and gradients (a dict like ``p``) of the GPT on one batch: the forward, then the backward by hand."""
    b, t = idx.shape
    c, n_head = config.n_embd, config.n_head
    scale = 1.0 / math.sqrt(c // n_head)
    causal = np.triu(np.ones((t, t), dtype=bool), 1)
    x = p["wte.weight"][idx] + p["wpe.weight"][:t]
    caches = []
    for i in range(config.n_layer):
        pre = f"blocks.{i}."
        h, ln1 = _layer_norm(x, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"])
        qkv = h @ p[pre + "attn.qkv.weight"].T + p[pre + "attn.qkv.bias"]
        q, k, v = (_heads(a, n_head) for a in np.split(qkv, 3, axis=2))
        s = (q @ k.transpose(0, 1, 3, 2)) * scale
        s[..., causal] = -np.inf
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        att = e / e.sum(axis=-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
        x = x + y @ p[pre + "attn.proj.weight"].T + p[pre + "attn.proj.bias"]
        h2, ln2 = _layer_norm(x, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"])
        f = h2 @ p[pre + "mlp.fc.weight"].T + p[pre + "mlp.fc.bias"]
        th = np.tanh(_GELU_C * (f + 0.044715 * f * f * f))
        g = 0.5 * f * (1.0 + th)
        x = x + g @ p[pre + "mlp.proj.weight"].T + p[pre + "mlp.proj.bias"]
        caches.append((h, ln1, q, k, v, att, y, h2, ln2, f, th, g))
    hf, lnf = _layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    logits = hf.reshape(b * t, c) @ p["wte.weight"].T
    z = logits - logits.max(axis=1, keepdims=True)
    ez = np.exp(z)
    total = ez.sum(axis=1, keepdims=True)
    rows, tgt = np.arange(b * t), targets.reshape(-1)
    loss = np.log(total[:, 0]).mean() - z[rows, tgt].mean()

    grads = {name: None for name in p}
    dlogits = ez / total
    dlogits[rows, tgt] -= 1.0
    dlogits /= b * t
    grads["wte.weight"] = dlogits.T @ hf.reshape(b * t, c)
    dx, grads["ln_f.weight"], grads["ln_f.bias"] = _layer_norm_grad((dlogits @ p["wte.weight"]).reshape(b, t, c),
                                                                   p["ln_f.weight"], lnf)
    for i in reversed(range(config.n_layer)):
        pre = f"blocks.{i}."
        h, ln1, q, k, v, att, y, h2, ln2, f, th, g = caches[i]
        dm = dx.reshape(b * t, c)
        grads[pre + "mlp.proj.weight"] = dm.T @ g.reshape(b * t, -1)
        grads[pre + "mlp.proj.bias"] = dm.sum(0)
        dg = dm @ p[pre + "mlp.proj.weight"]
        f2 = f.reshape(b * t, -1)
        th2 = th.reshape(b * t, -1)
        df = dg * (0.5 * (1.0 + th2) + 0.5 * f2 * (1.0 - th2 * th2) * _GELU_C * (1.0 + 3 * 0.044715 * f2 * f2))
        grads[pre + "mlp.fc.weight"] = df.T @ h2.reshape(b * t, c)
        grads[pre + "mlp.fc.bias"] = df.sum(0)
        dh2, grads[pre + "ln_2.weight"], grads[pre + "ln_2.bias"] = _layer_norm_grad(
            (df @ p[pre + "mlp.fc.weight"]).reshape(b, t, c), p[pre + "ln_2.weight"], ln2)
        dx = dx + dh2
        da = dx.reshape(b * t, c)
        grads[pre + "attn.proj.weight"] = da.T @ y.reshape(b * t, c)
        grads[pre + "attn.proj.bias"] = da.sum(0)
        dy = _heads((da @ p[pre + "attn.proj.weight"]).reshape(b, t, c), n_head)
        dv = att.transpose(0, 1, 3, 2) @ dy
        datt = dy @ v.transpose(0, 1, 3, 2)
        ds = att * (datt - (datt * att).sum(axis=-1, keepdims=True)) * scale
        dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
        dqkv = np.concatenate([a.transpose(0, 2, 1, 3).reshape(b * t, c) for a in (dq, dk, dv)], axis=1)
        grads[pre + "attn.qkv.weight"] = dqkv.T @ h.reshape(b * t, c)
        grads[pre + "attn.qkv.bias"] = dqkv.sum(0)
        dh, grads[pre + "ln_1.weight"], grads[pre + "ln_1.bias"] = _layer_norm_grad(
            (dqkv @ p[pre + "attn.qkv.weight"]).reshape(b, t, c), p[pre + "ln_1.weight"], ln1)
        dx = dx + dh
    grads["wpe.weight"] = np.zeros_like(p["wpe.weight"])
    grads["wpe.weight"][:t] = dx.sum(0)
    np.add.at(grads["wte.weight"], idx.reshape(-1), dx.reshape(b * t, c))
    return np.float32(loss), grads


def numpy_problem(seed=0):
    """The same step in raw float32 NumPy from the same initial weights: forward, hand-written backward,
    ``clip_grad_norm_`` and AdamW (decay on matrices) in place. Returns ``step`` (returning the loss)."""
    _, tg_model = tritongrad_problem(seed)
    p = {name: t.detach().numpy().copy() for name, t in tg_model.named_parameters()}
    m = {name: np.zeros_like(a) for name, a in p.items()}
    v = {name: np.zeros_like(a) for name, a in p.items()}
    idx, targets = batch(seed)
    count = [0]

    def step():
        loss, grads = _numpy_grads(p, idx, targets, TINY)
        norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values()))
        clip = min(1.0, GRAD_CLIP / (norm + 1e-6))
        count[0] += 1
        b1, b2 = ADAM_BETAS
        step_size = LR / (1 - b1 ** count[0])
        bc2_sqrt = math.sqrt(1 - b2 ** count[0])
        for name, a in p.items():
            g = grads[name] * clip if clip < 1.0 else grads[name]
            if a.ndim >= 2:
                a *= 1 - LR * WEIGHT_DECAY
            m[name] += (1 - b1) * (g - m[name])
            v[name] *= b2
            v[name] += (1 - b2) * (g * g)
            a -= step_size * (m[name] / (np.sqrt(v[name]) / bc2_sqrt + ADAM_EPS))
        return loss
    return step


def check_numpy_agrees(seed=0, steps=3, rtol=2e-4):
    """Check before timing: the raw NumPy step's losses follow tritongrad's for a few steps."""
    tg_step, _ = tritongrad_problem(seed)
    np_step = numpy_problem(seed)
    for i in range(steps):
        a, b = float(tg_step().item()), float(np_step())
        if not math.isclose(a, b, rel_tol=rtol):
            raise AssertionError(f"GPT step {i}: raw NumPy loss {b} differs from tritongrad's {a}")


# ------------------------------------------------------------------------------------ pytest-benchmark
def test_gpt_step_tritongrad(benchmark):
    check_numpy_agrees()
    benchmark.group = "gpt step (tiny)"
    benchmark(tritongrad_problem()[0])


def test_gpt_step_numpy(benchmark):
    benchmark.group = "gpt step (tiny)"
    benchmark(numpy_problem())


def test_gpt_step_torch(benchmark):
    pytest.importorskip("torch", reason="PyTorch CPU is the optional peer; it is not installed")
    check_agrees()
    benchmark.group = "gpt step (tiny)"
    benchmark(torch_problem()[0])
