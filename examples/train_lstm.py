"""Train a byte-level LSTM language model on the Python standard library's sources with tritongrad.

    python examples/train_lstm.py --tiny                  # 2-core CPU: val loss 5.55 -> ~2.8 in ~15 s (300 steps)
    python examples/train_lstm.py --device cuda           # GPU: the fused per-step LSTM cell kernels
    python examples/train_lstm.py --device cuda --amp fp16

PyTorch's ``word_language_model`` example, on bytes: an ``nn.Embedding``, dropout, a multi-layer ``nn.LSTM``
(dropout between layers), dropout and an ``nn.Linear`` decoder (``--tied`` shares its weight with the
embedding). The corpus (`examples.train_gpt.load_corpus`: every ``.py`` file of the stdlib, every 20th file
for validation) is cut into ``--batch-size`` parallel streams ("batchify"); training walks down them in
segments of ``--bptt`` steps (truncated backpropagation through time), carrying the hidden state from one
segment to the next but detaching it from the graph ("repackage_hidden"), with ``nn.utils.clip_grad_norm_``
before each ``Adam`` step. ``--amp fp16`` runs the forward pass under ``tritongrad.autocast`` (the LSTM and the
decoder in float16) with a ``GradScaler``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable for `examples._common`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from examples._common import describe_device, limit_blas_threads, resolve_device, synchronize
from examples.train_gpt import load_corpus

VOCAB = 256


class RNNModel(nn.Module):
    """Encoder (embedding), a recurrent module, and a decoder (linear), as PyTorch's word_language_model."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.nhid, self.nlayers = nhid, nlayers
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz, device):
        weight = next(self.parameters())
        shape = (self.nlayers, bsz, self.nhid)
        return (torch.zeros(shape, dtype=weight.dtype, device=device),
                torch.zeros(shape, dtype=weight.dtype, device=device))


def batchify(data, bsz, device):
    """The byte stream cut into ``bsz`` columns: a (steps, bsz) int64 tensor (the remainder is dropped)."""
    nbatch = len(data) // bsz
    cols = np.asarray(data[:nbatch * bsz], dtype=np.int64).reshape(bsz, nbatch).T
    return torch.from_numpy(np.ascontiguousarray(cols)).to(device)


def get_batch(source, i, bptt):
    """Inputs ``source[i:i+L]`` and targets ``source[i+1:i+1+L]`` (flattened), ``L = min(bptt, rest)``."""
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def repackage_hidden(h):
    """Hidden states detached from their history (truncated BPTT)."""
    return tuple(v.detach() for v in h)


@torch.no_grad()
def evaluate(model, source, bptt, max_batches, device):
    """Mean next-byte cross-entropy over the first ``max_batches`` segments of ``source``."""
    model.eval()
    hidden = model.init_hidden(source.shape[1], device)
    total, count = 0.0, 0
    for k, i in enumerate(range(0, len(source) - 1, bptt)):
        if k >= max_batches:
            break
        data, targets = get_batch(source, i, bptt)
        output, hidden = model(data, hidden)
        total += float(F.cross_entropy(output.reshape(-1, VOCAB).float(), targets).item()) * len(targets)
        count += len(targets)
    model.train()
    return total / max(count, 1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--emsize", type=int, default=256)
    p.add_argument("--nhid", type=int, default=512)
    p.add_argument("--nlayers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--tied", action="store_true", help="tie the decoder's weight to the embedding")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=0.25)
    p.add_argument("--bptt", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--log-interval", type=int, default=100)
    p.add_argument("--max-files", type=int, default=None, help="use only the first files of the corpus")
    p.add_argument("--amp", choices=["fp16", "bf16"], default=None)
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--tiny", action="store_true", help="a CPU-sized model and run")
    args = p.parse_args(argv)
    if args.tiny:
        args.emsize, args.nhid, args.nlayers, args.bptt, args.batch_size = 64, 128, 2, 32, 16
        args.steps = min(args.steps, 300)
    return args


def main(argv=None):
    """Train; returns ``{"train_losses": [...], "val_loss_start": v0, "val_loss_end": v1}``."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    train, val = load_corpus(args.max_files)
    train_data = batchify(train, args.batch_size, device)
    val_data = batchify(val, 8, device)
    model = RNNModel(VOCAB, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    print(f"{describe_device(device)}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(train):,} training bytes in {args.batch_size} streams")
    losses = []
    with limit_blas_threads(device):
        val_start = evaluate(model, val_data, args.bptt, args.eval_batches, device)
        print(f"val loss {val_start:.3f} before training")
        hidden = model.init_hidden(args.batch_size, device)
        i, t0 = 0, time.perf_counter()
        for step in range(1, args.steps + 1):
            if i >= len(train_data) - 2:
                i, hidden = 0, model.init_hidden(args.batch_size, device)
            data, targets = get_batch(train_data, i, args.bptt)
            i += args.bptt
            hidden = repackage_hidden(hidden)
            optimizer.zero_grad()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                output, hidden = model(data, hidden)
                loss = F.cross_entropy(output.reshape(-1, VOCAB), targets)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.item()))
            if step % args.log_interval == 0 or step == args.steps:
                synchronize(device)
                dt = (time.perf_counter() - t0) / step
                print(f"step {step:5d} | loss {losses[-1]:.3f} | bpc {losses[-1] / math.log(2):.3f} | "
                      f"{dt * 1000:.1f} ms/step")
        val_end = evaluate(model, val_data, args.bptt, args.eval_batches, device)
    print(f"val loss {val_start:.3f} -> {val_end:.3f}")
    return {"train_losses": losses, "val_loss_start": val_start, "val_loss_end": val_end}


if __name__ == "__main__":
    main()
