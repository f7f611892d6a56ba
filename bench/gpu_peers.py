"""The peers of `bench.gpu_bench`: PyTorch on the GPU (`TorchPeer`), tritongrad's NumPy reference when torch is
missing (`ReferencePeer`, ``--smoke``), and the torch twin of ``examples/train_gpt.py``'s GPT (`torch_gpt`) with
the training step both libraries run (`_gpt_step`, `_torch_optimizer`). Imports torch only through the objects
handed in: tritongrad never imports it.
"""
from __future__ import annotations

import numpy as np


def _np_dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class TorchPeer:
    """PyTorch on the GPU: inputs made here are copied device-to-device into tritongrad tensors and back."""

    kind = "torch"
    timed = True

    def __init__(self, torch):
        import tritongrad as tg
        self.torch = self.lib = torch
        self.F = torch.nn.functional
        self.tg = tg
        self.name = f"torch {torch.__version__}"
        self.gen = torch.Generator(device="cuda").manual_seed(0)

    def randn(self, shape, dtype, scale=1.0):
        t = self.torch.randn(shape, generator=self.gen, device="cuda", dtype=self.torch.float32)
        return (t * scale).to(getattr(self.torch, dtype))

    def randint(self, high, shape):
        return self.torch.randint(0, high, shape, generator=self.gen, device="cuda")

    def _array(self, t):
        """A tritongrad `DeviceArray` viewing the contiguous torch cuda tensor ``t`` (no copy)."""
        from tritongrad.runtime import Buffer, DeviceArray
        name = str(t.dtype).removeprefix("torch.")
        return DeviceArray(Buffer(t.data_ptr(), t.numel() * t.element_size(), t.device.index or 0), tuple(t.shape),
                           _np_dtype(name))

    def to_tg(self, t, requires_grad=False):
        from tritongrad import runtime
        src = t.detach().contiguous()
        out = self.tg.empty(tuple(src.shape), dtype=getattr(self.tg, str(src.dtype).removeprefix("torch.")),
                            device="cuda")
        if src.numel():
            runtime.copy_device_to_device(out._data, self._array(src))
        return out.requires_grad_(requires_grad)

    def from_tg(self, t):
        from tritongrad import runtime
        a = t.detach().contiguous()._data
        out = self.torch.empty(tuple(a.shape), dtype=getattr(self.torch, a.dtype.name), device="cuda")
        if out.numel():
            runtime.copy_device_to_device(self._array(out), a)
        return out

    def rel_err(self, got, ref):
        got, ref = got.detach().float(), ref.detach().float()
        if got.shape != ref.shape:
            return float("inf")
        return float(((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()) if ref.numel() else 0.0

    def set_fp32_precision(self, tf32):
        backends = self.torch.backends
        if hasattr(backends.cuda.matmul, "fp32_precision"):   # torch >= 2.9: allow_tf32 is the legacy API
            mode = "tf32" if tf32 else "ieee"
            backends.cuda.matmul.fp32_precision = mode
            backends.cudnn.conv.fp32_precision = mode
            backends.cudnn.rnn.fp32_precision = mode
        else:
            backends.cuda.matmul.allow_tf32 = tf32
            backends.cudnn.allow_tf32 = tf32

    def reset_peak(self):
        self.torch.cuda.synchronize()
        self.torch.cuda.reset_peak_memory_stats()
        return self.torch.cuda.memory_allocated()

    def peak(self):
        self.torch.cuda.synchronize()
        return self.torch.cuda.max_memory_allocated()

    def empty_cache(self):
        self.torch.cuda.empty_cache()


class ReferencePeer:
    """Without torch: tritongrad's cpu device (the NumPy reference backend) checks; nothing is timed."""

    kind = "numpy"
    timed = False
    name = "tritongrad cpu (NumPy reference)"

    def __init__(self):
        import tritongrad as tg
        import tritongrad.nn.functional as F
        self.tg = self.lib = tg
        self.F = F
        self.rng = np.random.default_rng(0)

    def randn(self, shape, dtype, scale=1.0):
        a = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return self.tg.tensor(a).to(getattr(self.tg, dtype))

    def randint(self, high, shape):
        return self.tg.tensor(self.rng.integers(0, high, shape), dtype=self.tg.int64)

    def to_tg(self, t, requires_grad=False):
        return t.detach().to("cuda").requires_grad_(requires_grad)

    def from_tg(self, t):
        return t.detach().to("cpu")

    def rel_err(self, got, ref):
        got, ref = (np.asarray(x.detach().float().numpy(), np.float64) for x in (got, ref))
        if got.shape != ref.shape:
            return float("inf")
        return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)) if ref.size else 0.0

    def set_fp32_precision(self, tf32):
        """The NumPy reference is always exact."""

    def empty_cache(self):
        """Nothing cached on the host."""



def _gpt_step(lib, model, opt, params, x, y, amp=False):
    """examples/train_gpt.py's step: forward with loss (under bfloat16 autocast with ``amp``, as
    ``--amp bf16``), zero_grad, backward, clip to norm 1, AdamW step."""
    with lib.autocast("cuda", dtype=lib.bfloat16, enabled=amp):
        _, loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    lib.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss


def _torch_optimizer(torch, model):
    """train_gpt.configure_optimizer's groups, as torch's fused AdamW."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), fused=True), params


def torch_gpt(torch, cfg):
    """examples/train_gpt.py's GPT written in torch, with the same parameter names (dropout 0 only)."""
    nn, F = torch.nn, torch.nn.functional
    if cfg.dropout:
        raise ValueError("the torch twin has no dropout; benchmark with dropout=0")
    c = cfg.n_embd

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(c, 3 * c)
            self.proj = nn.Linear(c, c)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, cfg.n_head, c // cfg.n_head).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.gelu, self.proj = nn.Linear(c, 4 * c), nn.GELU(approximate="tanh"), nn.Linear(4 * c, c)

        def forward(self, x):
            return self.proj(self.gelu(self.fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(c), CausalSelfAttention(), nn.LayerNorm(c), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(cfg.vocab_size, c)
            self.wpe = nn.Embedding(cfg.block_size, c)
            self.blocks = nn.ModuleList([Block() for _ in range(cfg.n_layer)])
            self.ln_f = nn.LayerNorm(c)

        def forward(self, idx, targets):
            b, t = idx.shape
            x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
            for block in self.blocks:
                x = block(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)
            return logits, F.cross_entropy(logits.view(b * t, -1), targets.view(b * t))

    return GPT()
