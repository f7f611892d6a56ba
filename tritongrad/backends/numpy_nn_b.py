"""NumPy references for attention, conv2d and 2-D pooling (mixin `NumpyNNB` of the NumPy backend).

Textbook formulas, no tricks: ``softmax(q k^T * scale + mask) v``; convolution as a loop over filter taps
with an einsum per tap; pooling as a loop over window taps. fp16/bf16 inputs compute in float32 and round
once at the end, float64 stays float64.

The geometry helpers (output sizes, adaptive windows, argument checks) live in `_nn_shapes`, shared with
the Triton side (`TritonNNB`).
"""
from __future__ import annotations

import numpy as np

from ._nn_shapes import adaptive_bounds, adaptive_output_hw, check_conv2d, check_pool2d, check_sdpa_mask

__all__ = ["NumpyNNB"]


# ------------------------------------------------------------------------------------------- helpers

def _compute_dtype(dtype):
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _f(a, ct):
    return None if a is None else np.asarray(a).astype(ct, copy=False)


def _group_heads(q, k, mask):
    """``q`` (B, H, Lq, D) as (B, Hkv, G, Lq, D) for ``k`` (B, Hkv, Lk, D): query head ``h`` reads key/value
    head ``h // G`` (grouped-query attention, G = H // Hkv; G = 1 for plain multi-head attention), and the
    mask broadcast to (B, Hkv, G, Lq, Lk) (a view, no copy)."""
    b, h, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    if k.shape != (b, hkv, lk, d) or hkv == 0 or h % hkv:
        raise ValueError(f"sdpa: expected k and v of shape (B, Hkv, Lk, D) with Hkv dividing the {h} query "
                         f"heads of q {q.shape}, got k {k.shape}")
    if mask is not None:
        mask = np.broadcast_to(mask, (b, h, lq, lk)).reshape(b, hkv, h // hkv, lq, lk)
    return q.reshape(b, hkv, h // hkv, lq, d), mask


def _attention_probs(q5, k, mask5, is_causal, scale):
    """Scores ``S = q k^T * scale + mask`` (causal: -inf above the diagonal), P = softmax(S) and the row
    log-sum-exp, on grouped operands (see `_group_heads`): S, P (B, Hkv, G, Lq, Lk). Fully masked rows get P = 0
    and lse = -inf (PyTorch's ``_safe_softmax``)."""
    s = (q5 @ np.swapaxes(k, -1, -2)[:, :, None]) * scale
    if mask5 is not None:
        s = s + mask5
    if is_causal:
        lq, lk = s.shape[-2:]
        s = np.where(np.tril(np.ones((lq, lk), dtype=bool)), s, -np.inf)
    m = s.max(axis=-1, keepdims=True, initial=-np.inf)
    m = np.where(np.isneginf(m), 0.0, m)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    with np.errstate(divide="ignore"):
        lse = (m + np.log(total))[..., 0]
    return p, lse


def _conv_taps(xp, kh, kw, oh, ow, stride, dilation):
    """Yield ``(i, j, patch)``: the (N, C, OH, OW) slice of the padded input read by filter tap (i, j)."""
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dilation[0], j * dilation[1]
            yield i, j, (h0, w0), xp[:, :, h0:h0 + stride[0] * (oh - 1) + 1:stride[0],
                                     w0:w0 + stride[1] * (ow - 1) + 1:stride[1]]


def _grouped(a, groups):
    """(N, C, ...) -> (N, groups, C/groups, ...)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _pool_taps(x, kernel_size, stride, padding, dilation, out_hw, fill):
    """Yield ``(flat_index, window_value)`` per window tap: (N, C, OH, OW) values of x padded with ``fill`` and
    the flat index ``ih * W + iw`` of each (-1 in the padding)."""
    h, w = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0] + kernel_size[0] * dilation[0]),
                    (padding[1], padding[1] + kernel_size[1] * dilation[1])), constant_values=fill)
    ih = np.arange(out_hw[0]) * stride[0] - padding[0]
    iw = np.arange(out_hw[1]) * stride[1] - padding[1]
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            hh, ww = ih + i * dilation[0], iw + j * dilation[1]
            inside = ((hh >= 0) & (hh < h))[:, None] & ((ww >= 0) & (ww < w))[None, :]
            idx = np.where(inside, hh[:, None] * w + ww[None, :], -1)
            yield idx, xp[:, :, hh + padding[0]][:, :, :, ww + padding[1]]


def _avg_windows(hw, out_hw, kernel_size, stride, padding, count_include_pad, divisor_override):
    """Per output dim, a list of (lo, hi) clipped window bounds, and the (OH, OW) divisor array, as in
    PyTorch's avg_pool2d: windows end at most at H + padding; the divisor counts padding when
    ``count_include_pad`` (but never the part past H + padding)."""
    bounds, spans = [], []
    for n, o, k, s, p in zip(hw, out_hw, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        spans.append(end - start)
        bounds.append(list(zip(np.maximum(start, 0), np.minimum(end, n))))
    if divisor_override:
        div = np.full(out_hw, float(divisor_override))
    elif count_include_pad:
        div = np.outer(spans[0], spans[1]).astype(np.float64)
    else:
        div = np.outer([hi - lo for lo, hi in bounds[0]], [hi - lo for lo, hi in bounds[1]]).astype(np.float64)
    return bounds, div


def _window_sum(x, bounds, div):
    """y[..., a, b] = sum of x over the window (bounds[0][a], bounds[1][b]) / div[a, b]."""
    rows = np.stack([x[:, :, lo:hi].sum(axis=2) for lo, hi in bounds[0]], axis=2)
    y = np.stack([rows[..., lo:hi].sum(axis=-1) for lo, hi in bounds[1]], axis=-1)
    return y / div


def _window_scatter(g, x_shape, bounds, div, ct):
    """The adjoint of `_window_sum`: spread ``g / div`` evenly back over each window."""
    gx = np.zeros(x_shape, dtype=ct)
    g = g / div
    for a, (h0, h1) in enumerate(bounds[0]):
        for b, (w0, w1) in enumerate(bounds[1]):
            gx[:, :, h0:h1, w0:w1] += g[:, :, a, b][:, :, None, None]
    return gx


class NumpyNNB:
    """NumPy reference for attention, conv2d and pooling (see the module docstring)."""

    # ------------------------------------------------------------------------------------ attention
    def sdpa_fwd(self, q, k, v, mask, is_causal, scale):
        """Scaled-dot-product attention forward (``F.scaled_dot_product_attention`` without dropout).

        q (B, H, Lq, D), k/v (B, Hkv, Lk, D) with Hkv dividing H (grouped-query attention: query head h
        reads key/value head h // (H // Hkv), as ``enable_gqa=True``), any strides; ``mask`` None or an additive float mask
        broadcastable to (B, H, Lq, Lk) (the caller turns a bool mask into 0/-inf); ``is_causal``: query i
        attends keys j <= i (top-left aligned, PyTorch's convention); ``scale`` a float.
        Returns ``(o, lse)``: o (B, H, Lq, D) in q's dtype, lse (B, H, Lq) the log-sum-exp of each score row,
        float32 (float64 for float64 inputs). Rows whose scores are all -inf give o = 0 and lse = -inf
        (PyTorch >= 2.5's ``_safe_softmax``; their gradients are 0)."""
        check_sdpa_mask(mask)
        ct = _compute_dtype(q.dtype)
        q5, m5 = _group_heads(_f(q, ct), k, _f(mask, ct))
        p, lse = _attention_probs(q5, _f(k, ct), m5, is_causal, scale)
        o = p @ _f(v, ct)[:, :, None]
        return o.reshape(q.shape[:3] + v.shape[3:]).astype(q.dtype), lse.reshape(q.shape[:3]).astype(ct)

    def sdpa_bwd(self, go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad=False):
        """Gradients of `sdpa_fwd` given the upstream ``go`` and the forward's ``o`` and ``lse``.

        Returns ``(gq, gk, gv)`` in the inputs' dtypes, or ``(gq, gk, gv, gmask)`` when ``need_mask_grad``:
        gmask is the gradient of the additive mask at the broadcast shape (B, H, Lq, Lk), in the mask's
        dtype (the caller reduces it to the mask's shape). With grouped-query attention gk and gv sum over each
        key/value head's group of query heads."""
        ct = _compute_dtype(q.dtype)
        k32, v32 = _f(k, ct), _f(v, ct)
        q5, m5 = _group_heads(_f(q, ct), k, _f(mask, ct))
        go5 = _f(go, ct).reshape(q5.shape)
        p, _ = _attention_probs(q5, k32, m5, is_causal, scale)
        pt = np.swapaxes(p, -1, -2)
        gv = (pt @ go5).sum(axis=2)                        # each key/value head sums over its query group
        gp = go5 @ np.swapaxes(v32, -1, -2)[:, :, None]
        gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
        gq = (gs @ k32[:, :, None]).reshape(q.shape) * scale
        gk = (np.swapaxes(gs, -1, -2) @ q5).sum(axis=2) * scale
        gs = gs.reshape(q.shape[:3] + (k.shape[2],))
        grads = (gq.astype(q.dtype), gk.astype(k.dtype), gv.astype(v.dtype))
        if need_mask_grad:
            return grads + (gs.astype(mask.dtype),)
        return grads

    # --------------------------------------------------------------------------------------- conv2d
    def conv2d_fwd(self, x, w, b, stride, padding, dilation, groups):
        """``F.conv2d``: x (N, C, H, W), w (Cout, C/groups, kh, kw), b (Cout,) or None; stride, padding,
        dilation int pairs (or ints); groups an int. Returns y (N, Cout, OH, OW) in x's dtype with
        ``OH = (H + 2p - d(kh-1) - 1) // s + 1``."""
        stride, padding, dilation, (oh, ow) = check_conv2d(x.shape, w.shape, None if b is None else b.shape,
                                                           stride, padding, dilation, groups)
        ct = _compute_dtype(x.dtype)
        xp = np.pad(_f(x, ct), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
        wg = _f(w, ct).reshape(groups, -1, *w.shape[1:])                      # (G, Cout/G, Cin/G, kh, kw)
        y = np.zeros((x.shape[0], groups, w.shape[0] // groups, oh, ow), dtype=ct)
        for i, j, _, patch in _conv_taps(xp, w.shape[2], w.shape[3], oh, ow, stride, dilation):
            y += np.einsum("ngcij,gkc->ngkij", _grouped(patch, groups), wg[..., i, j])
        y = y.reshape(x.shape[0], w.shape[0], oh, ow)
        if b is not None:
            y += _f(b, ct)[:, None, None]
        return y.astype(x.dtype)

    def conv2d_bwd(self, gy, x, w, stride, padding, dilation, groups, need_x=True, need_w=True, need_b=True):
        """Gradients of `conv2d_fwd` w.r.t. x, w and the bias given the upstream ``gy`` (N, Cout, OH, OW).
        Returns ``(gx, gw, gb)`` (None where not needed); gb (Cout,) is ``gy`` summed over N, OH, OW."""
        stride, padding, dilation, (oh, ow) = check_conv2d(x.shape, w.shape, None, stride, padding, dilation,
                                                           groups)
        ct = _compute_dtype(x.dtype)
        n, _, h, wd = x.shape
        xp = np.pad(_f(x, ct), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
        wg = _f(w, ct).reshape(groups, -1, *w.shape[1:])
        gyg = _grouped(_f(gy, ct), groups)                                        # (N, G, Cout/G, OH, OW)
        gxp = np.zeros_like(xp) if need_x else None
        gw = np.zeros(wg.shape, dtype=ct) if need_w else None
        for i, j, (h0, w0), patch in _conv_taps(xp, w.shape[2], w.shape[3], oh, ow, stride, dilation):
            if need_x:
                gxp[:, :, h0:h0 + stride[0] * (oh - 1) + 1:stride[0], w0:w0 + stride[1] * (ow - 1) + 1:stride[1]] += \
                    np.einsum("ngkij,gkc->ngcij", gyg, wg[..., i, j]).reshape(n, -1, oh, ow)
            if need_w:
                gw[..., i, j] = np.einsum("ngkij,ngcij->gkc", gyg, _grouped(patch, groups))
        gx = gxp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd].astype(x.dtype) if need_x else None
        if need_w:
            gw = gw.reshape(w.shape).astype(w.dtype)
        gb = _f(gy, ct).sum(axis=(0, 2, 3)).astype(gy.dtype) if need_b else None
        return gx, gw, gb

    # -------------------------------------------------------------------------------------- pooling
    def max_pool2d_fwd(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        """``F.max_pool2d(..., return_indices=True)``: returns ``(y, indices)``, indices int64 flat
        (``ih * W + iw``) within each H*W plane. Padding never wins; ties keep the first tap in window order;
        NaN propagates (the last NaN's index), as PyTorch."""
        k, s, p, d, out = check_pool2d(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
        ct = _compute_dtype(x.dtype)
        best = np.full(x.shape[:2] + out, -np.inf, dtype=ct)
        idx = np.full(x.shape[:2] + out, -1, dtype=np.int64)      # -1: no in-bounds tap seen yet
        for tap_idx, val in _pool_taps(_f(x, ct), k, s, p, d, out, -np.inf):
            take = (tap_idx >= 0) & ((val > best) | np.isnan(val) | (idx < 0))
            best = np.where(take, val, best)
            idx = np.where(take, tap_idx, idx)
        return best.astype(x.dtype), idx

    def max_pool2d_bwd(self, gy, indices, x_shape):
        """Gradient of `max_pool2d_fwd`: ``gy`` summed into a zero (N, C, H, W) array at ``indices`` (an
        input that is the max of several windows receives all of their gradients)."""
        n, c, h, w = x_shape
        ct = _compute_dtype(gy.dtype)
        gx = np.zeros((n * c, h * w), dtype=ct)
        rows = np.repeat(np.arange(n * c), indices.shape[2] * indices.shape[3])
        np.add.at(gx, (rows, np.asarray(indices).reshape(-1)), _f(gy, ct).reshape(-1))
        return gx.reshape(x_shape).astype(gy.dtype)

    def avg_pool2d_fwd(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        """``F.avg_pool2d``: the mean over each window; windows stop at H + padding; the divisor is
        ``divisor_override`` if given (not 0), else the window size with padding (``count_include_pad``) or
        the number of input elements it covers."""
        k, s, p, _, out = check_pool2d(x.shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
        bounds, div = _avg_windows(x.shape[2:], out, k, s, p, count_include_pad, divisor_override)
        return _window_sum(_f(x, _compute_dtype(x.dtype)), bounds, div).astype(x.dtype)

    def avg_pool2d_bwd(self, gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
        """Gradient of `avg_pool2d_fwd` w.r.t. its input of shape ``x_shape``: each window's gradient divided
        by its divisor and spread over the input elements it covers."""
        k, s, p, _, out = check_pool2d(x_shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
        bounds, div = _avg_windows(x_shape[2:], out, k, s, p, count_include_pad, divisor_override)
        ct = _compute_dtype(gy.dtype)
        return _window_scatter(_f(gy, ct), x_shape, bounds, div, ct).astype(gy.dtype)

    def adaptive_avg_pool2d_fwd(self, x, output_size):
        """``F.adaptive_avg_pool2d``: output (i, j) averages rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the
        like columns. ``output_size`` an int or pair (None entries keep the input size)."""
        out = adaptive_output_hw(x.shape, output_size)
        bounds = [adaptive_bounds(n, o) for n, o in zip(x.shape[2:], out)]
        div = np.outer([b - a for a, b in bounds[0]], [b - a for a, b in bounds[1]]).astype(np.float64)
        return _window_sum(_f(x, _compute_dtype(x.dtype)), bounds, div).astype(x.dtype)

    def adaptive_avg_pool2d_bwd(self, gy, x_shape, output_size):
        """Gradient of `adaptive_avg_pool2d_fwd` w.r.t. its input of shape ``x_shape``."""
        out = adaptive_output_hw(x_shape, output_size)
        bounds = [adaptive_bounds(n, o) for n, o in zip(x_shape[2:], out)]
        div = np.outer([b - a for a, b in bounds[0]], [b - a for a, b in bounds[1]]).astype(np.float64)
        ct = _compute_dtype(gy.dtype)
        return _window_scatter(_f(gy, ct), x_shape, bounds, div, ct).astype(gy.dtype)
