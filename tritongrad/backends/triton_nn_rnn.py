"""Triton side of the recurrent time loop: `TritonNNRNN`, a mixin of the Triton backend with `NumpyNNRNN`'s
methods and contracts (stated once, in `tritongrad.backends.numpy_nn_rnn`), bound to ``kernels/rnn.py``: one
fused cell kernel per step forward, one fused cell-gradient kernel per step backward."""
from __future__ import annotations

from tritongrad.kernels import rnn

__all__ = ["TritonNNRNN"]


class TritonNNRNN:
    """Fused per-step LSTM / GRU / Elman cell kernels."""

    rnn_seq_fwd = staticmethod(rnn.rnn_seq_fwd)
    rnn_seq_bwd = staticmethod(rnn.rnn_seq_bwd)
