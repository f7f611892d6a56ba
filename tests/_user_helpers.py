"""NumPy references shared by tests/test_user_programs*.py: float64 copies of tensors, the sigmoid and
log-softmax, PyTorch's LSTM recurrence (gate order i, f, g, o) and PyTorch's grid_sampler_2d
(bilinear/nearest; zeros/border/reflection padding)."""
import math

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _lstm_layer(x, w_ih, w_hh, b_ih, b_hh, h, c):
    """NumPy LSTM over time (x: (T, B, I)); PyTorch's gate order i, f, g, o. Returns (outputs, h, c)."""
    outs = []
    for xt in x:
        gates = xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = np.split(gates, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs), h, c


def _lstm_params(lstm, layer):
    return [_np(getattr(lstm, f"{n}_l{layer}")) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _np_unnormalize(c, size, align):
    return (c + 1) * (size - 1) / 2 if align else ((c + 1) * size - 1) / 2


def _np_reflect(x, lo2, hi2):
    if lo2 == hi2:
        return 0.0
    lo, span = lo2 / 2, (hi2 - lo2) / 2
    d = abs(x - lo)
    flips = math.floor(d / span)
    extra = d - flips * span
    return extra + lo if flips % 2 == 0 else span - extra + lo


def _np_grid_sample(x, grid, mode, padding, align):
    """PyTorch's grid_sampler_2d written out pixel by pixel (aten/src/ATen/native/GridSampler.h)."""
    n, c, hi, wi = x.shape
    _, ho, wo, _ = grid.shape
    out = np.zeros((n, c, ho, wo))

    def src(v, size):
        v = _np_unnormalize(v, size, align)
        if padding == "border":
            v = min(max(v, 0), size - 1)
        elif padding == "reflection":
            v = _np_reflect(v, 0, 2 * (size - 1)) if align else _np_reflect(v, -1, 2 * size - 1)
            v = min(max(v, 0), size - 1)
        return v

    def at(b, i, j):
        return x[b, :, i, j] if 0 <= i < hi and 0 <= j < wi else np.zeros(c)

    for b in range(n):
        for h in range(ho):
            for w in range(wo):
                ix, iy = src(grid[b, h, w, 0], wi), src(grid[b, h, w, 1], hi)
                if mode == "nearest":
                    out[b, :, h, w] = at(b, int(np.rint(iy)), int(np.rint(ix)))
                    continue
                x0, y0 = math.floor(ix), math.floor(iy)
                fx, fy = ix - x0, iy - y0
                out[b, :, h, w] = (at(b, y0, x0) * (1 - fx) * (1 - fy) + at(b, y0, x0 + 1) * fx * (1 - fy)
                                   + at(b, y0 + 1, x0) * (1 - fx) * fy + at(b, y0 + 1, x0 + 1) * fx * fy)
    return out
