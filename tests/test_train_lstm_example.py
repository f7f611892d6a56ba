"""examples/train_lstm.py: a few truncated-BPTT steps of a micro LSTM language model on cpu and on cuda (Triton's
interpreter here) lower the training and validation loss."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `examples` is a directory of the repository, not an installed package

from examples import train_lstm  # noqa: E402

# 1 layer, 16 wide, 4-step segments, 2 streams: a handful of interpreter launches per step
MICRO = ["--emsize", "16", "--nhid", "16", "--nlayers", "1", "--bptt", "4", "--batch-size", "2", "--steps", "6",
         "--max-files", "3", "--eval-batches", "1", "--lr", "5e-2", "--log-interval", "3", "--dropout", "0.1"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_train_lstm_loss_decreases(device, capsys):
    result = train_lstm.main(MICRO + ["--device", device])
    losses = result["train_losses"]
    assert len(losses) == 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.2, losses
    assert result["val_loss_end"] < result["val_loss_start"] - 0.1, result
    assert "val loss" in capsys.readouterr().out


def test_tied_weights_need_equal_sizes():
    with pytest.raises(ValueError, match="nhid must be equal to emsize"):
        train_lstm.RNNModel(256, 16, 32, 1, tie_weights=True)
    model = train_lstm.RNNModel(256, 16, 16, 1, tie_weights=True)
    assert model.decoder.weight is model.encoder.weight
