"""Recurrent layers: `RNN`, `LSTM`, `GRU` and the cells `RNNCell`, `LSTMCell`, `GRUCell` (``torch.nn``).

PyTorch's constructor arguments, parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``_reverse`` for the second direction, ``weight_hr_l0`` with ``proj_size``), shapes, gate order
(LSTM: i, f, g, o; GRU: r, z, n) and init (every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))), so a
PyTorch ``state_dict`` loads as is. The time loop runs in the backend (see ``nn/_rnn.py``): on cuda one fused
Triton kernel per step, layer and direction.
"""
from __future__ import annotations

import math
import numbers

from ..tensor import empty, tensor, zeros
from . import init
from ._rnn import _check_input, rnn_forward
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _padded_from_packed, _packed_rows

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _mode_of(mode):
    return {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}[mode]


class RNNBase(Module):
    """Common code of `RNN`, `LSTM` and `GRU` (``torch.nn.RNNBase``); ``mode`` is ``"LSTM"``, ``"GRU"``,
    ``"RNN_TANH"`` or ``"RNN_RELU"``."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        D = 2 if bidirectional else 1
        G = _GATES[mode]
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for d in range(D):
                layer_in = input_size if layer == 0 else real_hidden * D
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (G * hidden_size, layer_in)), ("weight_hh", (G * hidden_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                names = []
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(empty(shape, device=device, dtype=dtype)))
                    names.append(base + sfx)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """Accepted for compatibility (cuDNN's weight packing); the weights are used where they are."""

    @property
    def all_weights(self):
        """Parameters per layer and direction, in PyTorch's order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _weights(self):
        out = []
        for names in self._all_weights:
            ws = [getattr(self, n) for n in names]
            w_ih, w_hh = ws[0], ws[1]
            b_ih, b_hh = (ws[2], ws[3]) if self.bias else (None, None)
            out.append((w_ih, w_hh, b_ih, b_hh, ws[-1] if self.proj_size > 0 else None))
        return out

    def _state_size(self, cell):
        return self.hidden_size if cell or self.proj_size == 0 else self.proj_size

    def forward(self, input, hx=None):
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``) for ``input`` (T, B, input_size) (``batch_first``:
        (B, T, input_size); unbatched: (T, input_size)) or a `PackedSequence` (the output is then packed)."""
        packed = isinstance(input, PackedSequence)
        lstm = self.mode == "LSTM"
        D = 2 if self.bidirectional else 1
        if packed:
            batch_sizes = [int(n) for n in input.batch_sizes.numpy()]
            x = _padded_from_packed(input.data, batch_sizes, 0, 0.0)
            batched = True
        else:
            batch_sizes = None
            if input.ndim not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead")
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")
        B = x.shape[1]
        states = hx if lstm else (hx,)
        if hx is None:
            states = [zeros((self.num_layers * D, B, self._state_size(False)), dtype=x.dtype, device=x.device)]
            if lstm:
                states.append(zeros((self.num_layers * D, B, self.hidden_size), dtype=x.dtype, device=x.device))
        else:
            if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise RuntimeError("LSTM expects hx as a tuple (h_0, c_0)")
            states = [s if batched else s.unsqueeze(1) for s in states]
            if packed and input.sorted_indices is not None:
                states = [s.index_select(1, input.sorted_indices) for s in states]
            what = ("hx",) if not lstm else ("h_0", "c_0")
            for i, (s, name) in enumerate(zip(states, what)):
                _check_input(name, s, (self.num_layers * D, B, self._state_size(i == 1)), x.dtype, x.device)
        out, h, c = rnn_forward(_mode_of(self.mode), x, states[0], states[1] if lstm else None, self._weights(),
                                self.num_layers, self.bidirectional, self.dropout, self.training, batch_sizes)
        if packed:
            flat = out.reshape(out.shape[0] * B, out.shape[2])
            data = flat.index_select(0, tensor(_packed_rows(batch_sizes, B), device=out.device))
            out = PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
            if input.unsorted_indices is not None:
                h = h.index_select(1, input.unsorted_indices)
                c = None if c is None else c.index_select(1, input.unsorted_indices)
        elif not batched:
            out, h, c = out.squeeze(1), h.squeeze(1), None if c is None else c.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return (out, (h, c)) if lstm else (out, h)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu
    (``torch.nn.RNN``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory (``torch.nn.LSTM``): gates i, f, g, o; ``c' = f c + i g``, ``h' = o tanh(c')``,
    projected by ``weight_hr`` when ``proj_size > 0``. Returns ``(output, (h_n, c_n))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (``torch.nn.GRU``): gates r, z, n with ``n = tanh(W_in x + b_in + r (W_hn h +
    b_hn))`` and ``h' = (1 - z) n + z h``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)


class RNNCellBase(Module):
    """Common code of the cells (``torch.nn.RNNCellBase``): ``weight_ih`` (G*H, input_size), ``weight_hh``
    (G*H, H), ``bias_ih``/``bias_hh`` (G*H,); one step of the layer's fused op."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _step(self, mode, input, states):
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}")
        B = x.shape[0]
        full = []
        for i, s in enumerate(states):
            if s is None:
                s = zeros((B, self.hidden_size), dtype=x.dtype, device=x.device)
            elif not batched:
                s = s.unsqueeze(0)
            _check_input("hx" if i == 0 else "cx", s, (B, self.hidden_size), x.dtype, x.device)
            full.append(s.unsqueeze(0))
        w = [(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, None)]
        _, h, c = rnn_forward(mode, x.unsqueeze(0), full[0], full[1] if len(full) > 1 else None, w)
        h, c = h[0], None if c is None else c[0]
        if not batched:
            h, c = h.squeeze(0), None if c is None else c.squeeze(0)
        return h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``torch.nn.RNNCell``)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        return self._step("rnn_" + self.nonlinearity, input, [hx])[0]


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, (h, c))`` returns ``(h', c')`` (``torch.nn.LSTMCell``)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        states = [None, None] if hx is None else list(hx)
        return self._step("lstm", input, states)


class GRUCell(RNNCellBase):
    """One GRU step (``torch.nn.GRUCell``)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return self._step("gru", input, [hx])[0]
