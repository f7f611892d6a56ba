"""NumPy reference of the recurrent layers' time loop (mixin `NumpyNNRNN` of the NumPy backend).

One call runs one layer in one direction over a whole (time-major) sequence, after the input projection
``gx = x @ W_ih^T + b_ih`` (one matmul over all steps, done by the caller). Per step, with ``h`` the previous
hidden state and ``gh = h @ W_hh^T + b_hh``:

- ``lstm``: gates ``i, f, g, o`` (PyTorch's order) = ``σ, σ, tanh, σ`` of ``gx + gh``;
  ``c' = f c + i g``, ``h' = o tanh(c')`` (then ``h' W_hr^T`` with ``proj_size``);
- ``gru``: ``r, z = σ(gx_r + gh_r), σ(gx_z + gh_z)``, ``n = tanh(gx_n + r gh_n)``, ``h' = (1 - z) n + z h``;
- ``rnn_tanh`` / ``rnn_relu``: ``h' = act(gx + gh)``.

Variable lengths (packed sequences): ``batch_sizes[t]`` rows are active at step ``t`` (rows sorted by
decreasing length); the other rows keep their state, so the last state row ``b`` reached is its final state.
The Triton side (`TritonNNRNN`) has the same methods and contracts. Hidden states are kept in the input's
dtype, the cell state and the saved gate activations in float32 (float64 for float64 input).
"""
from __future__ import annotations

import numpy as np

__all__ = ["NumpyNNRNN", "RNN_MODES", "rnn_gates"]

RNN_MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")


def rnn_gates(mode):
    """Number of gate blocks of ``mode`` (the rows of W_ih / W_hh are ``gates * hidden_size``)."""
    if mode not in RNN_MODES:
        raise ValueError(f"unknown recurrent mode {mode!r}; expected one of {RNN_MODES}")
    return {"lstm": 4, "gru": 3}.get(mode, 1)


def _ct(dtype):
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # no overflow warning for large |x|


def _active(batch_sizes, t, b):
    return b if batch_sizes is None else int(batch_sizes[t])


class NumpyNNRNN:
    """The recurrent time loop in NumPy (the reference of ``kernels/rnn.py``)."""

    def rnn_seq_fwd(self, mode, gx, h0, c0, w_hh, b_hh, batch_sizes=None, w_hr=None):
        """Run ``mode``'s cell over all steps of ``gx`` (T, B, G*H). ``h0`` (B, P) with P = proj_size or H,
        ``c0`` (B, H) for lstm (else None), ``w_hh`` (G*H, P), ``b_hh`` (G*H,) or None, ``w_hr`` (P, H) or None
        (lstm with proj_size), ``batch_sizes``: T non-increasing ints or None (all rows active).

        Returns ``(hs, cs, gates, raw)``: ``hs`` (T+1, B, P) hidden states in ``gx``'s dtype (``hs[0] = h0``,
        ``hs[1:]`` the outputs), ``cs`` (T+1, B, H) float32 cell states (lstm, else None), ``gates``
        (T, B, 4H) float32 activations saved for backward (lstm: i, f, g, o; gru: r, z, n, gh_n; rnn: None),
        ``raw`` (T, B, H) the unprojected ``o tanh(c)`` (lstm with ``w_hr``, else None)."""
        T, B, GH = gx.shape
        ct, dt = _ct(gx.dtype), gx.dtype
        H = GH // rnn_gates(mode)
        w = np.asarray(w_hh, ct)
        bias = None if b_hh is None else np.asarray(b_hh, ct)
        wr = None if w_hr is None else np.asarray(w_hr, ct)
        hs = np.empty((T + 1,) + h0.shape, dt)
        hs[0] = h0
        cs = gates = raw = None
        if mode == "lstm":
            cs = np.empty((T + 1, B, H), ct)
            cs[0] = c0
            gates = np.zeros((T, B, 4 * H), ct)
            raw = np.zeros((T, B, H), dt) if wr is not None else None
        elif mode == "gru":
            gates = np.zeros((T, B, 4 * H), ct)
        for t in range(T):
            n = _active(batch_sizes, t, B)
            h = hs[t, :n].astype(ct)
            a = gx[t, :n].astype(ct)
            gh = h @ w.T
            if bias is not None:
                gh = gh + bias
            hs[t + 1] = hs[t]
            if mode == "lstm":
                s = a + gh
                i, f, o = _sigmoid(s[:, :H]), _sigmoid(s[:, H:2 * H]), _sigmoid(s[:, 3 * H:])
                g = np.tanh(s[:, 2 * H:3 * H])
                cs[t + 1] = cs[t]
                c = f * cs[t, :n] + i * g
                cs[t + 1, :n] = c
                r = o * np.tanh(c)
                gates[t, :n] = np.concatenate([i, f, g, o], axis=1)
                if wr is not None:
                    raw[t, :n] = r
                    r = r.astype(dt).astype(ct) @ wr.T
                hs[t + 1, :n] = r
            elif mode == "gru":
                r = _sigmoid(a[:, :H] + gh[:, :H])
                z = _sigmoid(a[:, H:2 * H] + gh[:, H:2 * H])
                ghn = gh[:, 2 * H:]
                nn_ = np.tanh(a[:, 2 * H:] + r * ghn)
                hs[t + 1, :n] = (1.0 - z) * nn_ + z * h
                gates[t, :n] = np.concatenate([r, z, nn_, ghn], axis=1)
            else:
                s = a + gh
                hs[t + 1, :n] = np.tanh(s) if mode == "rnn_tanh" else np.maximum(s, 0.0)
        return hs, cs, gates, raw

    def rnn_seq_bwd(self, mode, dy, dhn, dcn, hs, cs, gates, raw, w_hh, batch_sizes=None, w_hr=None):
        """Backward through time of `rnn_seq_fwd`. ``dy`` (T, B, P) gradient of the outputs ``hs[1:]`` (or
        None), ``dhn`` (B, P) / ``dcn`` (B, H) of the final states (or None); the rest as saved by the forward.

        Returns ``(dgx, dgh, dh0, dc0, dhs)``: ``dgx`` (T, B, G*H) the gradient of the input projection
        (rows not active at a step are 0), ``dgh`` (T, B, G*H) that of ``h W_hh^T + b_hh`` (gru only; for the
        other modes it equals ``dgx`` and is returned as None), ``dh0`` (B, P), ``dc0`` (B, H) or None, all in
        ``hs``'s dtype, and ``dhs`` (T, B, P) the total gradient of each step's projected output (lstm with
        ``w_hr``, for W_hr's gradient; else None). Weight gradients are matmuls of these over all steps."""
        T1, B, P = hs.shape
        T = T1 - 1
        ct, dt = _ct(hs.dtype), hs.dtype
        G = rnn_gates(mode)
        GH = w_hh.shape[0]
        H = GH // G
        w = np.asarray(w_hh, ct)
        wr = None if w_hr is None else np.asarray(w_hr, ct)
        dh = np.zeros((B, P), ct) if dhn is None else np.asarray(dhn, ct).copy()
        dc = None
        if mode == "lstm":
            dc = np.zeros((B, H), ct) if dcn is None else np.asarray(dcn, ct).copy()
        dgx = np.zeros((T, B, GH), dt)
        dgh = np.zeros((T, B, GH), dt) if mode == "gru" else None
        dhs = np.zeros((T, B, P), dt) if wr is not None else None
        for t in reversed(range(T)):
            n = _active(batch_sizes, t, B)
            d = dh[:n] + (0.0 if dy is None else np.asarray(dy[t, :n], ct))
            carry = 0.0
            if mode == "lstm":
                i, f, g, o = (gates[t, :n, k * H:(k + 1) * H] for k in range(4))
                if wr is not None:
                    dhs[t, :n] = d
                    d = d @ wr
                tc = np.tanh(cs[t + 1, :n])
                dct = dc[:n] + d * o * (1.0 - tc * tc)
                dpre = np.concatenate([dct * g * i * (1.0 - i), dct * cs[t, :n] * f * (1.0 - f),
                                       dct * i * (1.0 - g * g), d * tc * o * (1.0 - o)], axis=1)
                dc[:n] = dct * f
                dgx[t, :n] = dpre
            elif mode == "gru":
                r, z, nn_, ghn = (gates[t, :n, k * H:(k + 1) * H] for k in range(4))
                dnp = d * (1.0 - z) * (1.0 - nn_ * nn_)
                dzp = d * (hs[t, :n].astype(ct) - nn_) * z * (1.0 - z)
                drp = dnp * ghn * r * (1.0 - r)
                dgx[t, :n] = np.concatenate([drp, dzp, dnp], axis=1)
                dpre = np.concatenate([drp, dzp, dnp * r], axis=1)
                dgh[t, :n] = dpre
                carry = d * z
            else:
                h = hs[t + 1, :n].astype(ct)
                dpre = d * (1.0 - h * h) if mode == "rnn_tanh" else d * (h > 0)
                dgx[t, :n] = dpre
            dh[:n] = dpre.astype(dt).astype(ct) @ w + carry
        return dgx, dgh, dh.astype(dt), None if dc is None else dc.astype(dt), dhs
