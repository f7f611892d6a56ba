"""NumPy references for attention, conv2d and 2-D pooling (mixin `NumpyNNB` of the NumPy backend).

Textbook formulas, every contraction a BLAS matmul: ``softmax(q k^T * scale + mask) v`` as batched matmuls
with the softmax in place; convolution as im2col (one strided copy per filter tap) and one matmul per group;
pooling as a loop over window taps. fp16/bf16 inputs compute in float32 and round
once at the end, float64 stays float64.

The geometry helpers (output sizes, adaptive windows, argument checks) live in `_nn_shapes`, shared with
the Triton side (`TritonNNB`).
"""
from __future__ import annotations

import functools

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


def _t(a):
    """The last two axes swapped (a view: np.matmul hands the transposed layout to BLAS as is)."""
    return a.swapaxes(-1, -2)


@functools.lru_cache(maxsize=16)
def _causal_mask(lq, lk):
    """True above the diagonal: the keys query i must not see (top-left aligned). Cached, read-only."""
    mask = np.triu(np.ones((lq, lk), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


def _row_max(a):
    """``max(a, axis=-1, keepdims=True)``; -inf for an empty last axis (``initial=`` only then: it costs NumPy
    its fast reduction loop)."""
    return a.max(axis=-1, keepdims=True) if a.shape[-1] else a.max(axis=-1, keepdims=True, initial=-np.inf)


def _attention_scores(q, k, mask, is_causal, scale):
    """``S = q k^T * scale + mask``, causal: -inf above the diagonal (a new array, scaled and masked in place)."""
    s = np.matmul(q, _t(k))
    s *= scale
    if mask is not None:
        if np.broadcast_shapes(s.shape, mask.shape) == s.shape:
            s += mask
        else:
            s = s + mask                                          # the mask widens the batch dims
    if is_causal:
        np.copyto(s, -np.inf, where=_causal_mask(*s.shape[-2:]))
    return s


def _attention_probs(q, k, mask, is_causal, scale):
    """P = softmax(S) of `_attention_scores` and the row log-sum-exp, the softmax in place on the scores.
    Fully masked rows get P = 0 and lse = -inf (PyTorch's ``_safe_softmax``)."""
    p = _attention_scores(q, k, mask, is_causal, scale)
    m = _row_max(p)
    m[np.isneginf(m)] = 0.0
    p -= m
    np.exp(p, out=p)
    total = p.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = (m + np.log(total))[..., 0]
        inv = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)   # an all-masked row stays 0
    p *= inv
    return p, lse


def _attention_probs_from_lse(q, k, mask, is_causal, scale, lse):
    """P = exp(S - lse) with the forward's log-sum-exp (no second max and sum); a fully masked row
    (lse = -inf) gives P = 0."""
    p = _attention_scores(q, k, mask, is_causal, scale)
    p -= np.where(np.isneginf(lse), np.inf, lse)[..., None]
    return np.exp(p, out=p)


def _tap_slices(kh, kw, oh, ow, stride, dilation):
    """Yield ``(i, j, (rows, cols))``: the slices of the padded input that filter tap (i, j) reads for the
    (OH, OW) outputs."""
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dilation[0], j * dilation[1]
            yield i, j, (slice(h0, h0 + stride[0] * (oh - 1) + 1, stride[0]),
                         slice(w0, w0 + stride[1] * (ow - 1) + 1, stride[1]))


def _im2col(xp, groups, kh, kw, oh, ow, stride, dilation):
    """The columns of the padded input ``xp`` (N, C, Hp, Wp): (G, C/G * kh * kw, N * OH * OW), one column per
    output position, so that the convolution is one matmul per group."""
    n, c = xp.shape[:2]
    cols = np.empty((groups, c // groups, kh, kw, n, oh, ow), dtype=xp.dtype)
    xg = xp.reshape(n, groups, c // groups, *xp.shape[2:]).transpose(1, 2, 0, 3, 4)   # (G, C/G, N, Hp, Wp)
    for i, j, (rows, cols_) in _tap_slices(kh, kw, oh, ow, stride, dilation):
        cols[:, :, i, j] = xg[..., rows, cols_]
    return cols.reshape(groups, -1, n * oh * ow)


def _pool_taps(x, kernel_size, stride, padding, dilation, out_hw, fill):
    """Yield ``(flat_index, window_value)`` per window tap: the (N, C, OH, OW) strided view of x padded with
    ``fill`` that the tap reads, and the (OH, OW) flat index ``ih * W + iw`` of each (-1 in the padding)."""
    h, w = x.shape[2:]
    # the rows/columns the last window reaches past the input (ceil_mode), padded like the front padding
    extra = [max(0, (o - 1) * st + (k - 1) * d + 1 - n - p)
             for o, st, k, d, n, p in zip(out_hw, stride, kernel_size, dilation, (h, w), padding)]
    xp = x
    if padding[0] or padding[1] or extra[0] or extra[1]:
        xp = np.pad(x, ((0, 0), (0, 0), (padding[0], extra[0]), (padding[1], extra[1])), constant_values=fill)
    ih = np.arange(out_hw[0]) * stride[0] - padding[0]
    iw = np.arange(out_hw[1]) * stride[1] - padding[1]
    for i, j, (rows, cols) in _tap_slices(*kernel_size, *out_hw, stride, dilation):
        hh, ww = ih + i * dilation[0], iw + j * dilation[1]
        inside = ((hh >= 0) & (hh < h))[:, None] & ((ww >= 0) & (ww < w))[None, :]
        yield np.where(inside, hh[:, None] * w + ww[None, :], -1), xp[:, :, rows, cols]


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
    y /= div.astype(y.dtype)                  # the divisor in the compute dtype: no float64 round trip
    return y


def _window_scatter(g, x_shape, bounds, div, ct):
    """The adjoint of `_window_sum`: spread ``g / div`` evenly back over each window."""
    gx = np.zeros(x_shape, dtype=ct)
    g = g / div.astype(ct)
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
        q32, k32, v32, m32 = _f(q, ct), _f(k, ct), _f(v, ct), _f(mask, ct)
        q5, m5 = _group_heads(q32, k32, m32)                      # (B, Hkv, G, Lq, D): query groups per kv head
        p, lse = _attention_probs(q5, k32[:, :, None], m5, is_causal, scale)
        o = np.matmul(p, v32[:, :, None])
        return (o.reshape(q.shape[:3] + v.shape[3:]).astype(q.dtype, copy=False),
                lse.reshape(q.shape[:3]).astype(ct, copy=False))

    def sdpa_bwd(self, go, q, k, v, o, lse, mask, is_causal, scale, need_mask_grad=False):
        """Gradients of `sdpa_fwd` given the upstream ``go`` and the forward's ``o`` and ``lse``.

        Returns ``(gq, gk, gv)`` in the inputs' dtypes, or ``(gq, gk, gv, gmask)`` when ``need_mask_grad``:
        gmask is the gradient of the additive mask at the broadcast shape (B, H, Lq, Lk), in the mask's
        dtype (the caller reduces it to the mask's shape). With grouped-query attention gk and gv sum over each
        key/value head's group of query heads."""
        ct = _compute_dtype(q.dtype)
        q32, k32, v32, go32, m32 = _f(q, ct), _f(k, ct), _f(v, ct), _f(go, ct), _f(mask, ct)
        q5, m5 = _group_heads(q32, k32, m32)
        k5, v5, go5 = k32[:, :, None], v32[:, :, None], go32.reshape(q5.shape[:4] + go32.shape[3:])
        p = _attention_probs_from_lse(q5, k5, m5, is_causal, scale, _f(lse, ct).reshape(q5.shape[:4]))
        gv = np.matmul(_t(p), go5).sum(axis=2)                   # each key/value head sums over its query group
        gs = np.matmul(go5, _t(v5))                               # dP
        gs -= (gs * p).sum(axis=-1, keepdims=True)
        gs *= p                                                   # dS = P * (dP - rowsum(dP * P))
        gq = np.matmul(gs, k5).reshape(q.shape)
        gq *= scale
        gk = np.matmul(_t(gs), q5).sum(axis=2)
        gk *= scale
        gs = gs.reshape(q.shape[:3] + (k.shape[2],))
        grads = (gq.astype(q.dtype, copy=False), gk.astype(k.dtype, copy=False), gv.astype(v.dtype, copy=False))
        if need_mask_grad:
            return grads + (gs.astype(mask.dtype, copy=False),)
        return grads

    # --------------------------------------------------------------------------------------- conv2d
    def conv2d_fwd(self, x, w, b, stride, padding, dilation, groups):
        """``F.conv2d``: x (N, C, H, W), w (Cout, C/groups, kh, kw), b (Cout,) or None; stride, padding,
        dilation int pairs (or ints); groups an int. Returns y (N, Cout, OH, OW) in x's dtype with
        ``OH = (H + 2p - d(kh-1) - 1) // s + 1``."""
        stride, padding, dilation, (oh, ow) = check_conv2d(x.shape, w.shape, None if b is None else b.shape,
                                                           stride, padding, dilation, groups)
        ct = _compute_dtype(x.dtype)
        n, cout, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
        xp = np.pad(_f(x, ct), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
        cols = _im2col(xp, groups, kh, kw, oh, ow, stride, dilation)            # (G, Cin/G*kh*kw, N*OH*OW)
        y = np.matmul(_f(w, ct).reshape(groups, cout // groups, -1), cols)     # (G, Cout/G, N*OH*OW)
        y = y.reshape(cout, n, oh, ow).transpose(1, 0, 2, 3)
        if b is not None:
            y = y + _f(b, ct)[:, None, None]
        return np.ascontiguousarray(y, dtype=x.dtype)

    def conv2d_bwd(self, gy, x, w, stride, padding, dilation, groups, need_x=True, need_w=True, need_b=True):
        """Gradients of `conv2d_fwd` w.r.t. x, w and the bias given the upstream ``gy`` (N, Cout, OH, OW).
        Returns ``(gx, gw, gb)`` (None where not needed); gb (Cout,) is ``gy`` summed over N, OH, OW.
        ``gw = gy @ cols^T`` (a matmul per group); ``gx`` for stride 1 is the full convolution of ``gy`` with the
        flipped kernel, else ``gcols = w^T @ gy`` added back tap by tap into the padded input's gradient
        (col2im)."""
        stride, padding, dilation, (oh, ow) = check_conv2d(x.shape, w.shape, None, stride, padding, dilation,
                                                           groups)
        ct = _compute_dtype(x.dtype)
        n, c, h, wd = x.shape
        cout, (kh, kw) = w.shape[0], w.shape[2:]
        gyf = _f(gy, ct)
        gyg = np.ascontiguousarray(gyf.transpose(1, 0, 2, 3)).reshape(groups, cout // groups, -1)
        gx = gw = None
        if need_w:
            xp = np.pad(_f(x, ct), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
            cols = _im2col(xp, groups, kh, kw, oh, ow, stride, dilation)
            gw = np.matmul(gyg, _t(cols)).reshape(w.shape).astype(w.dtype, copy=False)
        if need_x and stride == (1, 1) and dilation == (1, 1) and padding[0] < kh and padding[1] < kw:
            # stride 1: the input gradient is the full convolution of gy with the flipped, transposed kernel
            # (a gather and a matmul, no scatter-add)
            wf = _f(w, ct).reshape(groups, cout // groups, c // groups, kh, kw)[..., ::-1, ::-1]
            wf = wf.transpose(0, 2, 1, 3, 4).reshape(c, cout // groups, kh, kw)
            gx = self.conv2d_fwd(gyf, wf, None, 1, (kh - 1 - padding[0], kw - 1 - padding[1]), 1, groups)
            gx = gx.astype(x.dtype, copy=False)
        elif need_x:
            wg = _f(w, ct).reshape(groups, cout // groups, -1)
            gcols = np.matmul(_t(wg), gyg).reshape(groups, c // groups, kh, kw, n, oh, ow)
            gxp = np.zeros((groups, c // groups, n, h + 2 * padding[0], wd + 2 * padding[1]), dtype=ct)
            for i, j, (rows, cols_) in _tap_slices(kh, kw, oh, ow, stride, dilation):
                gxp[..., rows, cols_] += gcols[:, :, i, j]
            gx = gxp.reshape(c, n, *gxp.shape[3:])[..., padding[0]:padding[0] + h, padding[1]:padding[1] + wd]
            gx = np.ascontiguousarray(gx.transpose(1, 0, 2, 3), dtype=x.dtype)
        gb = gyf.sum(axis=(0, 2, 3)).astype(gy.dtype) if need_b else None
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
        taps = list(_pool_taps(_f(x, ct), k, s, p, d, out, -np.inf))
        for _, val in taps:
            np.maximum(best, val, out=best)                    # NaN propagates
        # the index of the first tap (window order) holding the maximum: later taps overwritten by earlier ones
        for tap_idx, val in reversed(taps):
            hit = val == best
            hit &= tap_idx >= 0                                # padding never wins
            np.copyto(idx, tap_idx, where=hit)
        nan = np.isnan(best)
        if nan.any():                                          # a NaN window reports its last NaN
            for tap_idx, val in taps:
                np.copyto(idx, tap_idx, where=nan & np.isnan(val))
        return best.astype(x.dtype, copy=False), idx

    def max_pool2d_bwd(self, gy, indices, x_shape):
        """Gradient of `max_pool2d_fwd`: ``gy`` summed into a zero (N, C, H, W) array at ``indices`` (an
        input that is the max of several windows receives all of their gradients)."""
        n, c, h, w = x_shape
        plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)                  # each (n, c) plane's offset
        # bincount sums in float64 (then rounds once): a scatter-add without np.add.at's per-element loop
        gx = np.bincount((np.asarray(indices) + plane).reshape(-1), weights=np.asarray(gy).reshape(-1),
                         minlength=n * c * h * w)
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
