"""The recurrent layers' op: one layer in one direction over a whole sequence (`RNNLayerFn`), and the driver
that stacks layers and directions (`rnn_forward`), shared by `nn.RNN`/`LSTM`/`GRU` and the cells.

Forward: the input projection of all steps is ONE matmul (``x W_ih^T + b_ih``, bias in the matmul's epilogue on
cuda); then the backend's time loop ``rnn_seq_fwd`` (NumPy on cpu; on cuda one fused Triton cell kernel per
step, ``kernels/rnn.py``). Backward: the backend's ``rnn_seq_bwd`` (one fused kernel per step on cuda) gives
the gradients of the projections at every step; the weight gradients are then one matmul each over all steps.
"""
from __future__ import annotations

import numpy as np

from .._autocast import autocast_op
from ..autograd import Op
from ..functions import _reshape
from ..tensor import Tensor, cat, stack, tensor
from . import functional as F
from ._functions import _fused_matmul

__all__ = ["RNNLayerFn", "rnn_forward", "CELL_NAMES"]

CELL_NAMES = {"lstm": "lstm_cell", "gru": "gru_cell", "rnn_tanh": "rnn_tanh_cell", "rnn_relu": "rnn_relu_cell"}
"""PyTorch's autocast names of the recurrent ops (all in the lower-precision list on cuda)."""


def _copy(be, a):
    out = be.empty(a.shape, a.dtype, be.device_of(a))
    return be.copy_(out, a)


def _mm_t(be, a, b):
    """``a^T @ b`` for (T, B, M) and (T, B, N) over all T*B rows: (M, N)."""
    rows = a.shape[0] * a.shape[1]
    a2 = _reshape(be, a, (1, rows, a.shape[2]))
    b2 = _reshape(be, b, (1, rows, b.shape[2]))
    return _reshape(be, be.matmul(be.permute(a2, (0, 2, 1)), b2), (a.shape[2], b.shape[2]))


class RNNLayerFn(Op):
    """One recurrent layer, one direction: ``(y, h_n, c_n)`` for a time-major input ``x`` (T, B, I), initial
    states ``h0`` (B, P) and ``c0`` (B, H) (lstm; else None) and PyTorch's weights; ``b_*``/``w_hr`` may be
    None. ``batch_sizes`` (packed input): the rows active at each step, non-increasing."""

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, *, mode, batch_sizes):
        be = self.be
        T, B, I = x.shape
        GH = w_ih.shape[0]
        self.mode, self.batch_sizes, self.has_b = mode, batch_sizes, b_ih is not None
        x3 = _reshape(be, x, (1, T * B, I))
        gx, _ = _fused_matmul(be, x3, be.getitem(be.permute(w_ih, (1, 0)), (None,)), b_ih, None, False, False)
        gx = _reshape(be, gx, (T, B, GH))
        hs, cs, gates, raw = be.rnn_seq_fwd(mode, gx, h0, c0, w_hh, b_hh, batch_sizes, w_hr)
        self.save_for_backward(x, w_ih, w_hh, w_hr, hs, cs, gates, raw)
        y = _copy(be, be.getitem(hs, (slice(1, None),)))
        for t, n in enumerate(batch_sizes or ()):
            if n < B:   # steps past a sequence's end output zeros (PyTorch's padding), not the kept state
                be.copy_(be.getitem(y, (t, slice(n, None))), 0.0)
        hn = _copy(be, be.getitem(hs, (T,)))
        cn = None
        if cs is not None:
            cn = be.empty((B, cs.shape[2]), x.dtype, be.device_of(x))
            be.copy_(cn, be.getitem(cs, (T,)))
        return y, hn, cn

    def backward(self, gy, ghn, gcn):
        x, w_ih, w_hh, w_hr, hs, cs, gates, raw = self.saved_tensors
        be = self.be
        nx, nh, nc, nwi, nwh, nbi, nbh, nwr = self.needs_input_grad
        T, B, I = x.shape
        dgx, dgh, dh0, dc0, dhs = be.rnn_seq_bwd(self.mode, gy, ghn, gcn, hs, cs, gates, raw, w_hh,
                                                 self.batch_sizes, w_hr)
        dgh = dgx if dgh is None else dgh
        GH = dgx.shape[2]
        dx = dwi = dwh = dbi = dbh = dwr = None
        if nx:
            dx = _reshape(be, be.matmul(_reshape(be, dgx, (1, T * B, GH)), be.getitem(w_ih, (None,))), (T, B, I))
        if nwi:
            dwi = _mm_t(be, dgx, x)
        if nwh:
            dwh = _mm_t(be, dgh, be.getitem(hs, (slice(0, T),)))
        if nbi:
            dbi = be.reduce("sum", dgx, (0, 1), False)
        if nbh:
            dbh = be.reduce("sum", dgh, (0, 1), False)
        if nwr:
            dwr = _mm_t(be, dhs, raw)
        return dx, dh0 if nh else None, dc0 if nc else None, dwi, dwh, dbi, dbh, dwr

    @property
    def name(self):
        return {"lstm": "LstmBackward", "gru": "GruBackward"}.get(self.mode, "RnnBackward")


def _reverse(x, lengths):
    """``x`` (T, B, ...) with each sequence's first ``lengths[b]`` steps reversed (all of them when None)."""
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[:2]
    t = np.arange(T)[:, None]
    lens = np.asarray(lengths)[None, :]
    src = np.where(t < lens, lens - 1 - t, t) * B + np.arange(B)[None, :]
    flat = x.reshape(T * B, *x.shape[2:])
    idx = tensor(src.reshape(-1), device=x.device)
    return flat.index_select(0, idx).reshape(x.shape)


def _rnn_forward(mode, x, hx, cx, weights, num_layers, bidirectional, dropout, training, batch_sizes):
    D = 2 if bidirectional else 1
    lengths = None
    if batch_sizes is not None:
        bs = np.asarray(batch_sizes)
        lengths = (bs[None, :] > np.arange(x.shape[1])[:, None]).sum(axis=1)
    layer_in, hn, cn = x, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh, w_hr = weights[k]
            inp = layer_in if d == 0 else _reverse(layer_in, lengths)
            y, h, c = RNNLayerFn.apply(inp, hx[k], None if cx is None else cx[k], w_ih, w_hh, b_ih, b_hh, w_hr,
                                       mode=mode, batch_sizes=batch_sizes)
            outs.append(y if d == 0 else _reverse(y, lengths))
            hn.append(h)
            cn.append(c)
        layer_in = outs[0] if D == 1 else cat(outs, dim=2)
        if dropout and training and layer < num_layers - 1:
            layer_in = F.dropout(layer_in, dropout, True)
    return layer_in, stack(hn), None if cx is None else stack(cn)


def rnn_forward(mode, x, hx, cx, weights, num_layers=1, bidirectional=False, dropout=0.0, training=False,
                batch_sizes=None):
    """Run ``num_layers`` stacked recurrent layers (both directions when ``bidirectional``) of ``mode``
    (``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ``"rnn_relu"``) on the time-major ``x`` (T, B, I), as PyTorch's
    ``_VF.lstm``/``gru``/``rnn_*``: ``hx`` (L*D, B, P), ``cx`` (L*D, B, H) or None, ``weights`` a list of
    ``(w_ih, w_hh, b_ih, b_hh, w_hr)`` per layer and direction (forward first); dropout on each layer's output
    but the last while ``training``. ``batch_sizes``: packed input (rows sorted by decreasing length). Returns
    ``(output (T, B, D*P), h_n, c_n)``. Autocast (cuda) runs it in the lower precision, as PyTorch's cells."""
    flat = [w for ws in weights for w in ws]
    n = len(weights[0])

    def regroup(x, hx, cx, flat):
        ws = [tuple(flat[i:i + n]) for i in range(0, len(flat), n)]
        return _rnn_forward(mode, x, hx, cx, ws, num_layers, bidirectional, dropout, training, batch_sizes)

    return autocast_op(CELL_NAMES[mode])(regroup)(x, hx, cx, flat)


def _check_input(what, x, expected, dtype, device):
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a Tensor, got {type(x).__name__}")
    if tuple(x.shape) != tuple(expected):
        raise RuntimeError(f"Expected {what} size {tuple(expected)}, got {tuple(x.shape)}")
    if x.dtype is not dtype:
        raise RuntimeError(f"{what} has dtype {x.dtype}, expected {dtype} (the input's)")
    if x.device != device:
        raise RuntimeError(f"{what} is on {x.device}, expected {device} (the input's)")
