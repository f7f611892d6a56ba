"""Train a small MLP on scikit-learn's 8x8 handwritten digits with tritongrad (the README's main command).

    python examples/train_digits.py                          # cpu: >= 97% test accuracy in seconds
    python examples/train_digits.py --device cuda            # on an NVIDIA GPU
    TRITON_INTERPRET=1 python examples/train_digits.py --device cuda --epochs 1   # cuda kernels, interpreted
    python examples/train_digits.py --plot runs/digits.png   # loss and accuracy curves (needs matplotlib)

Real data with no download: ``sklearn.datasets.load_digits`` (1797 grey 8x8 images of the digits 0-9) split
80/20 into train and test sets, stratified by class. The script is ordinary PyTorch code under
``import tritongrad as torch``: a ``TensorDataset`` and a shuffling ``DataLoader``, an ``nn.Sequential``
MLP (64-256-128-10, ReLU, dropout), ``Adam`` with a ``OneCycleLR`` schedule and ``cross_entropy``. At the end
it prints ``test accuracy: NN.NN%``, saves the weights with ``torch.save(model.state_dict(), path)`` (a
safetensors file), loads them into a fresh model and prints that model's test accuracy too.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable for `examples._common`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import tritongrad as torch
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from examples._common import (Progress, describe_device, limit_blas_threads, plot_curves, require_matplotlib,
                             resolve_device, synchronize)
from tritongrad.utils.data import DataLoader, TensorDataset

NUM_FEATURES = 64  # 8x8 pixels
NUM_CLASSES = 10


def load_digits_split(seed, test_size=0.2):
    """``(x_train, x_test, y_train, y_test)`` as NumPy arrays: pixels scaled to [0, 1] (float32), labels
    int64, a stratified split drawn with ``seed``."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("train_digits.py needs scikit-learn for its bundled digits dataset: `pip install scikit-learn` "
                 "(or `pip install -e '.[examples]'`).")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)


def build_model(hidden=(256, 128), dropout=0.1):
    """The MLP: ``Linear -> ReLU -> Dropout`` per hidden width, then a ``Linear`` to the 10 class logits."""
    layers, width = [], NUM_FEATURES
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def evaluate(model, x, y):
    """``(mean cross-entropy, accuracy)`` of ``model`` on the tensors ``x``, ``y``, in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, or cuda (a GPU, or Triton's interpreter with "
                                                   "TRITON_INTERPRET=1)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=1e-2, help="OneCycleLR's peak learning rate for Adam")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="Adam's L2 penalty")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout after each hidden layer")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the initial weights and the shuffling")
    p.add_argument("--out", default=os.path.join("runs", "digits_mlp.safetensors"),
                   help="where the trained weights are saved (a safetensors file)")
    p.add_argument("--plot", metavar="PATH.png", help="write loss and accuracy curves (needs matplotlib)")
    p.add_argument("--no-progress-bar", action="store_true", help="one line per epoch even if tqdm is installed")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch-size must be >= 1")
    return args


def main(argv=None):
    """Train, report, save, reload and re-evaluate; returns a dict of the results (for tests and scripts)."""
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()  # fail before training, not after
    device = resolve_device(args.device)
    with limit_blas_threads(device):
        return train(args, device)


def train(args, device):
    """The run behind `main` for parsed ``args`` on ``device``: returns test accuracy (trained and reloaded),
    training seconds, the checkpoint path and the per-epoch history."""
    torch.manual_seed(args.seed)

    x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    train_set = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    x_test_t = torch.from_numpy(x_test).to(device)
    y_test_t = torch.from_numpy(y_test).to(device)

    model = build_model(dropout=args.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr,
                                                    total_steps=args.epochs * len(loader))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"digits: {len(train_set)} train / {len(x_test)} test images; MLP with {n_params:,} parameters on "
          f"{describe_device(device)}")

    history = {"epoch": [], "train_loss": [], "train_accuracy": [], "test_loss": [], "test_accuracy": []}
    start = time.perf_counter()
    with Progress(args.epochs, "epoch", use_tqdm=not args.no_progress_bar) as progress:
        for epoch in range(1, args.epochs + 1):
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item() * len(yb)
                correct += (logits.argmax(dim=1) == yb).sum().item()
                seen += len(yb)
            test_loss, test_acc = evaluate(model, x_test_t, y_test_t)
            for key, value in zip(history, (epoch, loss_sum / seen, correct / seen, test_loss, test_acc)):
                history[key].append(value)
            progress.update(1, loss=loss_sum / seen, train_acc=f"{correct / seen:.2%}", test_acc=f"{test_acc:.2%}",
                            lr=f"{scheduler.get_last_lr()[0]:.2e}")
    synchronize(device)
    seconds = time.perf_counter() - start
    _, accuracy = evaluate(model, x_test_t, y_test_t)
    print(f"trained {args.epochs} epochs in {seconds:.1f} s")
    print(f"test accuracy: {accuracy:.2%}")

    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    reloaded = build_model(dropout=args.dropout).to(device)
    reloaded.load_state_dict(torch.load(args.out, map_location=device))
    _, reloaded_accuracy = evaluate(reloaded, x_test_t, y_test_t)
    print(f"saved to {args.out}; reloaded model's test accuracy: {reloaded_accuracy:.2%}")

    if args.plot:
        plot_curves(args.plot, [
            ("epoch", "cross-entropy loss", {"train": (history["epoch"], history["train_loss"]),
                                             "test": (history["epoch"], history["test_loss"])}),
            ("epoch", "accuracy", {"train": (history["epoch"], history["train_accuracy"]),
                                   "test": (history["epoch"], history["test_accuracy"])}),
        ], title=f"tritongrad MLP on 8x8 digits ({device.type})")
    return {"test_accuracy": accuracy, "reloaded_accuracy": reloaded_accuracy, "seconds": seconds,
            "checkpoint": args.out, "history": history}


if __name__ == "__main__":
    main()
