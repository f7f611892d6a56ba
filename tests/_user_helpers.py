"""NumPy references shared by tests/test_user_programs*.py: float64 copies of tensors, the sigmoid and
log-softmax, PyTorch's LSTM recurrence (gate order i, f, g, o) and grid_sample's bilinear sampler."""
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



def _grid_sample_np(x, grid, align_corners, border):
    """NumPy bilinear grid_sample (zeros or border padding), PyTorch's coordinate conventions."""
    n, c, h, w = x.shape
    gx, gy = grid[..., 0], grid[..., 1]
    if align_corners:
        fx, fy = (gx + 1) * (w - 1) / 2, (gy + 1) * (h - 1) / 2
    else:
        fx, fy = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
    if border:
        fx, fy = np.clip(fx, 0, w - 1), np.clip(fy, 0, h - 1)
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    out = np.zeros((n, c) + gx.shape[1:])
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - np.abs(fx - xi)) * (1 - np.abs(fy - yi))
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            for b in range(n):
                vals = x[b][:, np.clip(yi[b], 0, h - 1), np.clip(xi[b], 0, w - 1)]
                out[b] += vals * (wgt[b] * ok[b])[None]
    return out
