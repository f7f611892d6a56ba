"""Train a small byte-level GPT on the Python standard library's own source code with tritongrad.

    python examples/train_gpt.py --tiny                      # 2-core CPU: val loss 5.36 -> ~2.1 in ~1.5 min
    python examples/train_gpt.py --device cuda               # GPU: the end-to-end benchmark configuration
    python examples/train_gpt.py --device cuda --dtype bfloat16 --plot runs/gpt.png
    python examples/train_gpt.py --device cuda --amp bf16    # mixed precision: fp32 weights, bf16 matmuls
    python examples/train_gpt.py --device cuda --amp fp16    # float16 autocast with a GradScaler
    python examples/train_gpt.py --tiny --resume runs/gpt.safetensors --steps 2000   # continue a run
    mpiexec -n 2 python examples/train_gpt.py --tiny         # data parallel: 2 processes share each batch

The corpus is every ``.py`` file under ``sysconfig.get_paths()["stdlib"]`` (no download; ``site-packages`` is
left out), read as bytes in sorted path order; every 20th file goes to the validation set, so the split is by
file and the same on every run with the same Python. Tokens are bytes (vocabulary 256).

The model is GPT-2's architecture at a small size: token and position embeddings, pre-LayerNorm blocks of
causal ``F.scaled_dot_product_attention`` and a GELU MLP, a final LayerNorm, and an LM head whose weight *is*
the token embedding (tied). Training: ``AdamW`` (weight decay on matrices only) with linear warmup then cosine
decay to ``lr/10`` (``LambdaLR``), ``nn.utils.clip_grad_norm_``, a validation loss every ``--eval-interval``
steps on a fixed set of validation batches, a checkpoint (``tritongrad.utils.checkpoint.save_checkpoint``:
model, optimizer, scheduler, step, RNG, config and loss history) at every evaluation, and a generated sample at
the end (temperature + top-k sampling with ``tritongrad.multinomial``).

Batches are a pure function of ``(seed, step)``, so ``--resume`` continues a run exactly where it stopped.
``--dtype bfloat16`` stores the weights in bfloat16 (``model.to(tritongrad.bfloat16)``); the optimizer keeps
its state in float32. ``--amp bf16|fp16`` instead keeps float32 master weights and runs the forward pass under
``tritongrad.autocast`` (matmuls and attention in the low precision, softmax, norms and the loss in float32);
``fp16`` adds a ``tritongrad.amp.GradScaler`` (gradients unscaled before clipping; steps with inf/nan
gradients skipped on the device, no host synchronization).

Started by ``mpiexec -n N`` (or ``python -m tritongrad.distributed.run --nproc-per-node N``) with the same
arguments, it trains data-parallel: each rank takes its ``batch_size / N`` rows of the same global batch, the
model is wrapped in ``DistributedDataParallel`` (``nccl`` on a GPU, ``mpi`` on cpu), and only rank 0 prints
and writes checkpoints -- the run matches the single-process one up to float rounding.

For benchmarks: ``from examples.train_gpt import GPTConfig, build_model, load_corpus, get_batch``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable for `examples._common`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from examples._common import (Progress, describe_device, limit_blas_threads, plot_curves, require_matplotlib,
                             resolve_device, synchronize)
from tritongrad.utils.checkpoint import load_checkpoint, save_checkpoint

VAL_EVERY_NTH_FILE = 20


# ----------------------------------------------------------------------------------------------- model
@dataclass
class GPTConfig:
    """Size of the GPT. The defaults are the GPU benchmark workload; `TINY` is the 2-core-CPU preset."""
    block_size: int = 256   # context length in bytes
    vocab_size: int = 256   # byte-level
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")


TINY = GPTConfig(block_size=64, n_layer=2, n_head=2, n_embd=64)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t (one fused q/k/v projection)."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim): strided views, no copies
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward block: ``Linear(C, 4C) -> GELU (tanh form) -> Linear(4C, C)``."""

    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(self.gelu(self.fc(x))))


class Block(nn.Module):
    """A pre-LayerNorm transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2-style language model; ``forward(idx, targets=None)`` returns ``(logits, loss or None)``."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self._init_weights()

    def _init_weights(self):
        # GPT-2's init: N(0, 0.02) weights, zero biases, residual projections scaled by 1/sqrt(2 * n_layer)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("proj.weight") else 0.02
                    p.normal_(0.0, std)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(T, dtype=torch.int64, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        # the LM head is the token embedding matrix itself (weight tying), so it has no parameter of its own
        logits = F.linear(self.ln_f(x), self.wte.weight)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss


def build_model(config):
    """A freshly initialised `GPT` for ``config`` (on cpu, float32; move it with ``.to(device, dtype)``)."""
    return GPT(config)


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens (greedy when ``temperature == 0``), with
    ``model`` in eval mode; its mode is restored afterwards."""
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        context = idx[:, -model.config.block_size:]
        logits, _ = model(context)
        logits = logits[:, -1, :].float()
        if temperature == 0:
            next_token = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None and top_k < logits.shape[-1]:
                kth = np.sort(logits.cpu().numpy(), axis=-1)[:, -top_k][:, None]
                logits = logits.masked_fill(logits < torch.from_numpy(kth).to(logits.device), float("-inf"))
            probs = F.softmax(logits, dim=-1)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator).to(idx.device)
        idx = torch.cat([idx, next_token.to(idx.dtype)], dim=1)
    model.train(was_training)
    return idx


# ----------------------------------------------------------------------------------------------- data
def stdlib_files():
    """The standard library's ``.py`` files (``site-packages`` excluded), sorted by relative path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py")
             if p.is_file() and not {"site-packages", "dist-packages", "__pycache__"} & set(p.parts)]
    return root, sorted(files, key=lambda p: p.relative_to(root).as_posix())


def load_corpus(max_files=None):
    """``(train, val)`` uint8 arrays of the stdlib's source bytes; every 20th file (in sorted order) is
    validation. ``max_files`` keeps only the first files (quick tests)."""
    root, files = stdlib_files()
    if not files:
        sys.exit(f"no .py files found under {root}")
    files = files[:max_files] if max_files else files
    train, val = [], []
    for i, path in enumerate(files):
        (val if i % VAL_EVERY_NTH_FILE == 0 else train).append(path.read_bytes() + b"\n")
    return (np.frombuffer(b"".join(train), dtype=np.uint8), np.frombuffer(b"".join(val), dtype=np.uint8))


def get_batch(data, batch_size, block_size, device, rng):
    """A batch of ``batch_size`` random windows of ``data``: inputs ``x`` and next-byte targets ``y``, both
    int64 ``(batch_size, block_size)`` tensors on ``device``; ``rng`` is a `numpy.random.Generator`."""
    if len(data) <= block_size:
        raise ValueError(f"the data ({len(data)} bytes) is shorter than block_size + 1 ({block_size + 1})")
    starts = rng.integers(0, len(data) - block_size, size=batch_size)
    windows = np.lib.stride_tricks.sliding_window_view(data, block_size + 1)[starts].astype(np.int64)
    x = torch.from_numpy(np.ascontiguousarray(windows[:, :-1])).to(device)
    y = torch.from_numpy(np.ascontiguousarray(windows[:, 1:])).to(device)
    return x, y


def batch_rng(seed, step):
    """The generator for training step ``step``: batches depend only on (seed, step), so resumes are exact."""
    return np.random.default_rng([seed, step])


@torch.no_grad()
def estimate_loss(model, data, batch_size, block_size, device, iters, seed):
    """Mean loss over ``iters`` batches drawn with a fixed ``seed`` (the same batches at every evaluation)."""
    model.eval()
    rng = np.random.default_rng([seed, 2**31])
    total = 0.0
    for _ in range(iters):
        x, y = get_batch(data, batch_size, block_size, device, rng)
        total += model(x, y)[1].item()
    model.train()
    return total / iters


# ----------------------------------------------------------------------------------------------- training
def lr_lambda(warmup, total, min_ratio=0.1):
    """The multiplier on the base lr at a step: linear warmup over ``warmup`` steps, then cosine decay to
    ``min_ratio`` at ``total``."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def configure_optimizer(model, lr, weight_decay, betas=(0.9, 0.95)):
    """AdamW with weight decay on the matrices (linear and embedding weights) and none on biases and norms."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)


_TRAIN_DEFAULTS = {"gpu": dict(batch_size=64, steps=2000, eval_interval=250, lr=1e-3, warmup=100),
                   "tiny": dict(batch_size=16, steps=500, eval_interval=100, lr=3e-3, warmup=30)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true",
                   help=f"the small preset for a CPU: {TINY.n_layer} layers, {TINY.n_embd} wide, block "
                        f"{TINY.block_size}, batch {_TRAIN_DEFAULTS['tiny']['batch_size']}, "
                        f"{_TRAIN_DEFAULTS['tiny']['steps']} steps (flags below override it)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda (a GPU, or Triton's interpreter with "
                                                   "TRITON_INTERPRET=1)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights' dtype")
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"],
                   help="mixed precision with autocast (fp16 adds a GradScaler); weights stay float32")
    size = GPTConfig()
    for name in ("n_layer", "n_head", "n_embd", "block_size"):
        p.add_argument("--" + name.replace("_", "-"), type=int, help=f"default {getattr(size, name)} "
                                                                     f"(--tiny: {getattr(TINY, name)})")
    p.add_argument("--dropout", type=float, default=0.0)
    gpu, tiny = _TRAIN_DEFAULTS["gpu"], _TRAIN_DEFAULTS["tiny"]
    for name, kind in (("batch_size", int), ("steps", int), ("eval_interval", int), ("lr", float),
                       ("warmup", int)):
        p.add_argument("--" + name.replace("_", "-"), type=kind,
                       help=f"default {gpu[name]} (--tiny: {tiny[name]})")
    p.add_argument("--eval-iters", type=int, default=10, help="validation batches per evaluation")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm (0: no clipping)")
    p.add_argument("--log-interval", type=int, default=10,
                   help="steps between training-loss readings (the mean over those steps)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--out", default=os.path.join("runs", "gpt.safetensors"), help="checkpoint path")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run saved in CHECKPOINT up to --steps (the model size comes from it)")
    p.add_argument("--stop-after", type=int, metavar="STEP",
                   help="end this invocation after STEP (checkpointed; the schedule still targets --steps)")
    p.add_argument("--max-files", type=int, help="use only the first N stdlib files (quick experiments)")
    p.add_argument("--sample-len", type=int, default=200, help="bytes to generate at the end (0: none)")
    p.add_argument("--prompt", default="def ")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--plot", metavar="PATH.png", help="write the loss curves (needs matplotlib)")
    p.add_argument("--no-progress-bar", action="store_true", help="log lines even if tqdm is installed")
    args = p.parse_args(argv)
    preset = TINY if args.tiny else GPTConfig()
    for name in ("n_layer", "n_head", "n_embd", "block_size"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(preset, name))
    for name, value in _TRAIN_DEFAULTS["tiny" if args.tiny else "gpu"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.steps < 1 or args.eval_interval < 1 or args.log_interval < 1 or args.batch_size < 1:
        p.error("--steps, --eval-interval, --log-interval and --batch-size must be >= 1")
    if args.amp != "none" and args.dtype != "float32":
        p.error("--amp keeps float32 master weights: use it with --dtype float32")
    return args


def _config_from_args(args):
    return GPTConfig(block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                     dropout=args.dropout)


def main(argv=None):
    """Train (or resume), evaluate, checkpoint, sample; returns a dict of results (for tests and scripts)."""
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()  # fail before training, not after
    device = resolve_device(args.device)
    with limit_blas_threads(device):
        return train(args, device)


def launched_by_mpi():
    """True when mpiexec (or tritongrad.distributed.run) started this process as one of several."""
    return any(int(os.environ.get(v, "1")) > 1 for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "WORLD_SIZE"))


def join_data_parallel(args, device):
    """Join the process group; returns (rank, world size, this rank's device). Ranks other than 0 go quiet."""
    import tritongrad.distributed as dist
    if device.type == "cuda" and torch.cuda.is_interpreter():
        sys.exit("data parallel on --device cuda needs real GPUs (nccl); under Triton's interpreter use --device cpu")
    dist.init_process_group("nccl" if device.type == "cuda" else "mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        sys.exit(f"--batch-size {args.batch_size} must be a multiple of the {world} processes")
    if rank:
        sys.stdout = open(os.devnull, "w")
        args.no_progress_bar = True
    return rank, world, torch.device("cuda", torch.cuda.current_device()) if device.type == "cuda" else device


def train(args, device):
    """The run behind `main` for parsed ``args`` on ``device``: returns the final step, the loss history,
    this run's seconds, the sample, the checkpoint path and the `GPTConfig`."""
    dtype = getattr(torch, args.dtype)
    rank, world = 0, 1
    if launched_by_mpi():
        rank, world, device = join_data_parallel(args, device)

    config = _config_from_args(args)
    if args.resume:
        saved = load_checkpoint(args.resume, restore_rng=False)
        config = GPTConfig(**saved["config"])  # the size flags do not apply to a resumed run
    torch.manual_seed(args.seed)
    model = build_model(config).to(device=device, dtype=dtype)
    train_model = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = configure_optimizer(model, args.lr, args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args.warmup, args.steps))
    history = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    step = 0
    if args.resume:
        state = load_checkpoint(args.resume, model, optimizer, scheduler)
        step, history = state["step"], state["history"]
        print(f"resumed from {args.resume} at step {step}")

    train_data, val_data = load_corpus(args.max_files)
    n_params = sum(p.numel() for p in model.parameters())
    precision = args.dtype if amp_dtype is None else f"{args.dtype} weights, autocast {args.amp}"
    print(f"corpus: {len(train_data) / 1e6:.2f} MB train / {len(val_data) / 1e6:.2f} MB val of stdlib source; "
          f"GPT {config.n_layer}x{config.n_embd} ({config.n_head} heads, block {config.block_size}), "
          f"{n_params / 1e6:.2f} M parameters, {precision}, on {describe_device(device)}")
    if device.type == "cpu" and n_params > 5e6:
        print("note: this is the GPU-sized configuration; on a CPU try --tiny")

    def evaluate_and_save(at_step):
        val_loss = estimate_loss(model, val_data, args.batch_size, config.block_size, device, args.eval_iters,
                                 args.seed)
        history["val_step"].append(at_step)
        history["val_loss"].append(val_loss)
        if rank == 0:
            save_checkpoint(args.out, model, optimizer, scheduler, step=at_step, config=dataclasses.asdict(config),
                            history=history)
        return val_loss

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    stop = min(args.steps, args.stop_after) if args.stop_after else args.steps
    params = list(model.parameters())
    tokens_per_step = args.batch_size * config.block_size
    model.train()
    if step == 0:
        history["val_step"], history["val_loss"] = [0], [
            estimate_loss(model, val_data, args.batch_size, config.block_size, device, args.eval_iters, args.seed)]
        print(f"step 0: val loss {history['val_loss'][0]:.4f}")
    start = time.perf_counter()
    interval_start, interval_steps, interval_loss = start, 0, None
    with Progress(stop, "step", every=args.log_interval, initial=step,
                  use_tqdm=not args.no_progress_bar) as progress:
        while step < stop:
            x, y = get_batch(train_data, args.batch_size, config.block_size, device, batch_rng(args.seed, step))
            if world > 1:       # this rank's rows of the global batch
                rows = slice(rank * args.batch_size // world, (rank + 1) * args.batch_size // world)
                x, y = x[rows], y[rows]
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                _, loss = train_model(x, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params, args.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            interval_steps += 1
            # summed on the device; read (a synchronisation) only every log_interval steps
            interval_loss = loss.detach().float() if interval_loss is None else interval_loss + loss.detach().float()
            metrics = {}
            if step % args.log_interval == 0 or step == stop:
                train_loss = interval_loss.item() / interval_steps
                now = time.perf_counter()
                history["step"].append(step)
                history["train_loss"].append(train_loss)
                tokens_per_s = tokens_per_step * interval_steps / (now - interval_start)
                metrics = {"loss": train_loss, "tok/s": f"{tokens_per_s:,.0f}",
                           "lr": f"{scheduler.get_last_lr()[0]:.2e}"}
                interval_start, interval_steps, interval_loss = now, 0, None
            progress.update(1, **metrics)
            if step % args.eval_interval == 0 or step == stop:
                eval_start = time.perf_counter()
                val_loss = evaluate_and_save(step)
                progress.write(f"step {step}: val loss {val_loss:.4f} (checkpoint {args.out})")
                interval_start += time.perf_counter() - eval_start  # tok/s counts training time only
    synchronize(device)
    seconds = time.perf_counter() - start
    print(f"{step} steps done ({seconds:.1f} s this run); val loss {history['val_loss'][0]:.4f} at step "
          f"{history['val_step'][0]} -> {history['val_loss'][-1]:.4f} at step {history['val_step'][-1]}")

    sample = None
    if args.sample_len > 0:
        prompt = torch.tensor([list(args.prompt.encode("utf-8"))], dtype=torch.int64, device=device)
        out = generate(model, prompt, args.sample_len, temperature=args.temperature, top_k=args.top_k,
                       generator=torch.Generator().manual_seed(args.seed))
        sample = bytes(out[0].cpu().numpy().astype(np.uint8).tolist()).decode("utf-8", errors="replace")
        print("---- sample ----")
        print(sample)
        print("----------------")

    if args.plot:
        plot_curves(args.plot, [("step", "cross-entropy (nats/byte)",
                                 {"train": (history["step"], history["train_loss"]),
                                  "validation": (history["val_step"], history["val_loss"])})],
                    title=f"byte-level GPT on the Python stdlib ({config.n_layer}x{config.n_embd}, {args.dtype})")
    return {"step": step, "history": history, "seconds": seconds, "sample": sample, "checkpoint": args.out,
            "config": config}


if __name__ == "__main__":
    main()
