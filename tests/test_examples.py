"""Smoke tests of the training examples: the README's digits command end to end, and a few steps of a micro GPT
on cpu and on cuda (Triton's interpreter here), including an exact ``--resume``."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tritongrad
from tritongrad.utils.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `examples` is a directory of the repository, not an installed package

from examples import train_gpt  # noqa: E402

# 1 layer, 32 wide, block 16, batch 2: a handful of interpreter launches per step
MICRO = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "2",
         "--eval-iters", "1", "--log-interval", "1", "--warmup", "1", "--max-files", "41", "--sample-len", "3",
         "--no-progress-bar"]


def test_train_digits_one_epoch_saves_and_reloads(tmp_path):
    pytest.importorskip("sklearn", reason="train_digits.py needs scikit-learn (the `examples` extra)")
    out = tmp_path / "digits.safetensors"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train_digits.py"), "--epochs", "1",
                           "--out", str(out), "--no-progress-bar"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    accuracy = re.search(r"^test accuracy: (\d+\.\d\d)%$", proc.stdout, re.MULTILINE)
    reloaded = re.search(r"reloaded model's test accuracy: (\d+\.\d\d)%", proc.stdout)
    assert accuracy and reloaded, proc.stdout
    assert float(accuracy.group(1)) > 50.0  # one epoch is far above chance (10%)
    assert reloaded.group(1) == accuracy.group(1)
    state = tritongrad.load(out)
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "0.weight": (256, 64), "0.bias": (256,), "3.weight": (128, 256), "3.bias": (128,),
        "6.weight": (10, 128), "6.bias": (10,)}


def test_plot_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    from examples import train_digits
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.raises(SystemExit, match=r"pip install matplotlib"):
        train_digits.main(["--epochs", "1", "--plot", str(tmp_path / "curves.png")])


def _run_gpt(tmp_path, device, *extra):
    return train_gpt.main(MICRO + ["--device", device, "--out", str(tmp_path / f"gpt_{device}.safetensors"),
                                   *extra])


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (the `examples` extra)")
    png = tmp_path / "gpt.png"
    _run_gpt(tmp_path, "cpu", "--steps", "2", "--eval-interval", "1", "--sample-len", "0", "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_train_gpt_micro_resumes(tmp_path, device, capsys):
    schedule = ["--steps", "2", "--eval-interval", "1"]
    first = _run_gpt(tmp_path, device, *schedule, "--stop-after", "1")
    assert first["step"] == 1
    assert first["history"]["val_step"] == [0, 1]
    assert all(np.isfinite(first["history"]["val_loss"]))
    assert first["sample"] is not None and first["sample"].startswith("def ") and len(first["sample"]) >= 4
    saved = load_checkpoint(first["checkpoint"], restore_rng=False)
    assert saved["step"] == 1 and saved["config"]["n_embd"] == 32

    resumed = _run_gpt(tmp_path, device, *schedule, "--resume", first["checkpoint"], "--sample-len", "0")
    assert "resumed from" in capsys.readouterr().out
    assert resumed["step"] == 2
    assert resumed["history"]["step"] == [1, 2]
    assert resumed["history"]["val_step"] == [0, 1, 2]
    if device == "cpu":  # batches depend only on (seed, step) and there is no dropout: resuming is exact
        straight = _run_gpt(tmp_path / "straight", "cpu", *schedule, "--sample-len", "0")
        assert straight["history"] == resumed["history"]
        model_a, model_b = (train_gpt.build_model(resumed["config"]) for _ in range(2))
        load_checkpoint(resumed["checkpoint"], model_a, restore_rng=False)
        load_checkpoint(straight["checkpoint"], model_b, restore_rng=False)
        for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


@pytest.mark.parametrize("device,amp", [("cpu", "bf16"), ("cuda", "fp16")])
def test_train_gpt_amp_runs_with_fp32_master_weights(tmp_path, device, amp):
    out = _run_gpt(tmp_path, device, "--steps", "3", "--eval-interval", "3", "--amp", amp)
    losses = out["history"]["train_loss"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    model = train_gpt.build_model(out["config"])
    load_checkpoint(out["checkpoint"], model)
    assert all(p.dtype is tritongrad.float32 for p in model.parameters())
