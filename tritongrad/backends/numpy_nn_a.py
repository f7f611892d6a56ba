"""NumPy reference for the fused nn ops, part A: layer_norm, rms_norm, cross_entropy, dropout, batch_norm.

`NumpyNNA` is a mixin of the NumPy backend. Each method states the contract that `TritonNNA` (the Triton
backend's mixin, same names and signatures) meets too: arrays are ``np.ndarray`` here and `DeviceArray`
there. The formulas are the plain textbook ones. float16/bfloat16 compute in float32 and round once at
the end; float64 stays float64 (finite-difference checks), and then the saved statistics are float64 too.
"""
from __future__ import annotations

import numpy as np

from . import _philox

__all__ = ["NumpyNNA"]

REDUCTIONS = ("none", "mean", "sum")


def _compute(a):
    """``a`` in its compute dtype: float64 stays, everything else becomes float32."""
    return np.asarray(a, dtype=np.float64 if a.dtype == np.float64 else np.float32)


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce_rows(rows, reduction, denom):
    """'none' keeps the per-row values, 'sum' adds them, 'mean' divides the sum by ``denom``."""
    if reduction == "none":
        return rows
    total = rows.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / denom
    return np.asarray(total, dtype=rows.dtype)


def _log_softmax(x):
    """``(logp, lse)`` along the last axis."""
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    return x - lse, lse[:, 0]


def _dropout_scale(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


class NumpyNNA:
    """Reference implementations (and the shared contract) of layer_norm, rms_norm, cross_entropy,
    dropout and batch_norm forward/backward."""

    # ------------------------------------------------------------------------------ layer norm
    def layer_norm_fwd(self, x, w, b, eps):
        """``torch.nn.functional.layer_norm`` over the last axis of ``x`` (M, N), any strides (the
        caller flattens the normalized dims into N). ``w``/``b``: (N,) or None. Returns ``(y, mean, rstd)``:
        ``y = (x - mean) * rstd * w + b`` in ``x``'s dtype, ``mean`` and ``rstd = 1/sqrt(var + eps)``
        (biased variance) fp32 (M,) (float64 for float64 ``x``)."""
        xf = _compute(x)
        mean = xf.mean(axis=1)
        var = ((xf - mean[:, None]) ** 2).mean(axis=1)
        rstd = 1.0 / np.sqrt(var + eps)
        y = (xf - mean[:, None]) * rstd[:, None]
        if w is not None:
            y = y * w
        if b is not None:
            y = y + b
        return y.astype(x.dtype), mean, rstd

    def layer_norm_bwd(self, gy, x, w, mean, rstd, need_w=True, need_b=True):
        """Gradients of `layer_norm_fwd` given the upstream ``gy`` (M, N) and the saved ``mean``/``rstd``:
        ``(gx, gw, gb)``; ``gx`` in ``x``'s dtype; ``gw``/``gb`` (N,) in ``w``'s dtype (``x``'s when ``w``
        is None), None when not needed (``gw`` also when ``w`` is None)."""
        gyf, xf = _compute(gy), _compute(x)
        xhat = (xf - mean[:, None]) * rstd[:, None]
        wdy = gyf if w is None else gyf * w
        gx = rstd[:, None] * (wdy - xhat * (wdy * xhat).mean(axis=1, keepdims=True)
                              - wdy.mean(axis=1, keepdims=True))
        param_dtype = x.dtype if w is None else w.dtype
        gw = (gyf * xhat).sum(axis=0).astype(param_dtype) if need_w and w is not None else None
        gb = gyf.sum(axis=0).astype(param_dtype) if need_b else None
        return gx.astype(x.dtype), gw, gb

    # ------------------------------------------------------------------------------ rms norm
    def rms_norm_fwd(self, x, w, eps):
        """``torch.nn.functional.rms_norm`` over the last axis of ``x`` (M, N): ``(y, rstd)`` with
        ``rstd = 1/sqrt(mean(x**2) + eps)`` fp32 (M,) and ``y = x * rstd * w`` (``w`` (N,) or None)."""
        xf = _compute(x)
        rstd = 1.0 / np.sqrt((xf * xf).mean(axis=1) + eps)
        y = xf * rstd[:, None]
        if w is not None:
            y = y * w
        return y.astype(x.dtype), rstd

    def rms_norm_bwd(self, gy, x, w, rstd, need_w=True):
        """Gradients of `rms_norm_fwd`: ``(gx, gw)``; ``gw`` (N,) in ``w``'s dtype, None when not needed
        or ``w`` is None."""
        gyf, xf = _compute(gy), _compute(x)
        xhat = xf * rstd[:, None]
        wdy = gyf if w is None else gyf * w
        gx = rstd[:, None] * (wdy - xhat * (wdy * xhat).mean(axis=1, keepdims=True))
        gw = (gyf * xhat).sum(axis=0).astype(w.dtype) if need_w and w is not None else None
        return gx.astype(x.dtype), gw

    # ------------------------------------------------------------------------------ cross entropy
    def cross_entropy_fwd(self, logits, target, weight, ignore_index, label_smoothing, reduction):
        """``torch.nn.functional.cross_entropy(logits, target, weight=, ignore_index=, reduction=,
        label_smoothing=)`` for ``logits`` (M, C) and int64 class indices ``target`` (M,); ``weight`` (C,)
        or None. Per row ``(1-eps)*w[t]*(lse - x[t]) + eps/C * sum_c w[c]*(lse - x[c])``, 0 where
        ``target == ignore_index``; 'mean' divides the sum by ``sum(w[t])`` over the non-ignored rows
        (nan when there are none), 'sum' sums, 'none' keeps (M,). Returns ``(loss, lse)``: ``loss`` in
        the logits' dtype (0-d unless 'none'), ``lse`` the fp32 (M,) log-sum-exp of each row. A target
        outside [0, C) other than ``ignore_index`` raises IndexError (a device assert on cuda)."""
        _check_reduction(reduction)
        xf = _compute(logits)
        M, C = xf.shape
        logp, lse = _log_softmax(xf)
        valid = target != ignore_index
        bad = valid & ((target < 0) | (target >= C))
        if bad.any():
            raise IndexError(f"cross_entropy: target {int(target[bad][0])} is out of bounds for {C} classes")
        t = np.where(valid, target, 0)
        w = np.ones(C, dtype=xf.dtype) if weight is None else _compute(weight).astype(xf.dtype)
        w_t = np.where(valid, w[t], 0.0)
        nll = -w_t * logp[np.arange(M), t]
        smooth = np.where(valid, -(logp * w).sum(axis=1), 0.0)
        # without smoothing the smooth term is left out, not multiplied by 0: a -inf logit makes it inf, and
        # the loss must then be inf (PyTorch's), not 0 * inf = nan
        rows = nll if label_smoothing == 0 else (1.0 - label_smoothing) * nll + label_smoothing / C * smooth
        loss = _reduce_rows(rows.astype(xf.dtype), reduction, w_t.sum())
        return loss.astype(logits.dtype), lse

    def cross_entropy_bwd(self, gloss, logits, target, weight, lse, ignore_index, label_smoothing, reduction):
        """Gradient of `cross_entropy_fwd` w.r.t. the logits given the upstream ``gloss`` ((M,) for
        'none', 0-d otherwise) and the saved ``lse``: a new (M, C) array in the logits' dtype."""
        _check_reduction(reduction)
        xf = _compute(logits)
        M, C = xf.shape
        p = np.exp(xf - lse[:, None])
        valid = target != ignore_index
        t = np.where(valid, target, 0)
        w = np.ones(C, dtype=xf.dtype) if weight is None else _compute(weight).astype(xf.dtype)
        w_t = np.where(valid, w[t], 0.0)
        onehot = np.zeros_like(xf)
        onehot[np.arange(M), t] = 1.0
        dnll = w_t[:, None] * (p - onehot)                         # d(nll_i)/dx
        dsmooth = np.where(valid[:, None], w.sum() * p - w, 0.0)   # d(smooth_i)/dx
        drows = (1.0 - label_smoothing) * dnll + label_smoothing / C * dsmooth
        g = _compute(gloss)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = g[:, None] if reduction == "none" else g / w_t.sum() if reduction == "mean" else g
            grad = np.where(valid[:, None], drows * scale, 0.0)   # ignored rows: 0 even when 'mean' is nan
        return grad.astype(logits.dtype)

    def cross_entropy_prob_fwd(self, logits, target, weight, label_smoothing, reduction):
        """``torch.nn.functional.cross_entropy`` with probability targets: ``target`` float (M, C),
        ``t' = (1-eps)*target + eps/C``, per row ``-sum_c w[c] * t'[c] * log_softmax(x)[c]``; 'mean'
        divides the sum by M. Returns ``(loss, lse)`` as `cross_entropy_fwd`."""
        _check_reduction(reduction)
        xf = _compute(logits)
        M, C = xf.shape
        logp, lse = _log_softmax(xf)
        wt = self._soft_targets(target, weight, label_smoothing, xf.dtype)
        rows = -(wt * logp).sum(axis=1)
        return _reduce_rows(rows, reduction, M).astype(logits.dtype), lse

    def cross_entropy_prob_bwd(self, gloss, logits, target, weight, lse, label_smoothing, reduction):
        """Gradient of `cross_entropy_prob_fwd` w.r.t. the logits: a new (M, C) array (logits' dtype)."""
        _check_reduction(reduction)
        xf = _compute(logits)
        M, C = xf.shape
        p = np.exp(xf - lse[:, None])
        wt = self._soft_targets(target, weight, label_smoothing, xf.dtype)
        drows = wt.sum(axis=1, keepdims=True) * p - wt
        g = _compute(gloss)
        scale = g[:, None] if reduction == "none" else g / M if reduction == "mean" else g
        return (drows * scale).astype(logits.dtype)

    @staticmethod
    def _soft_targets(target, weight, label_smoothing, dtype):
        """``w[c] * ((1-eps) * target + eps/C)`` in the compute dtype."""
        C = target.shape[1]
        wt = (1.0 - label_smoothing) * _compute(target).astype(dtype) + label_smoothing / C
        return wt if weight is None else wt * _compute(weight).astype(dtype)

    # ------------------------------------------------------------------------------ dropout
    def dropout_fwd(self, x, p, seed, offset):
        """``torch.nn.functional.dropout(x, p, training=True)`` with a counter-based mask: element ``i``
        of ``x`` in C order is kept when ``tl.rand(seed, offset + i) >= p`` and then scaled by
        ``1/(1-p)`` (``p == 1`` gives zeros). Same dtype and shape as ``x`` (new, contiguous)."""
        scale = _dropout_scale(p)
        keep = _philox.rand(seed, offset + np.arange(x.size, dtype=np.int64)).reshape(x.shape) >= p
        return np.where(keep, _compute(x) * scale, 0.0).astype(x.dtype)

    def dropout_bwd(self, gy, p, seed, offset):
        """Gradient of `dropout_fwd` (the same mask, regenerated from ``seed``/``offset``, times
        ``1/(1-p)``): it is `dropout_fwd` applied to ``gy``."""
        return self.dropout_fwd(gy, p, seed, offset)

    # ------------------------------------------------------------------------------ batch norm
    def batch_norm_fwd(self, x, w, b, running_mean, running_var, training, momentum, eps):
        """``torch.nn.functional.batch_norm`` for ``x`` (N, C, L) (the caller reshapes (N, C) and
        (N, C, H, W)), per-channel ``w``/``b`` (C,) or None. Training: batch statistics over (N, L)
        (biased variance for normalising) and, when ``running_mean``/``running_var`` are given, updates
        them IN PLACE: ``r = (1 - momentum) * r + momentum * s`` with the unbiased variance for
        ``running_var``. Eval: normalises with the running statistics (required). Returns
        ``(y, save_mean, save_rstd)``: ``y`` in ``x``'s dtype, fp32 (C,) mean and ``1/sqrt(var + eps)`` that
        were used (float64 for float64 ``x``). Training with one value per channel raises ValueError."""
        xf = _compute(x)
        n, C, L = xf.shape
        if training:
            count = n * L
            if count <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
            mean = xf.mean(axis=(0, 2))
            var = ((xf - mean[None, :, None]) ** 2).mean(axis=(0, 2))
            if running_mean is not None:
                running_mean[...] = (1.0 - momentum) * running_mean + momentum * mean
            if running_var is not None:
                running_var[...] = (1.0 - momentum) * running_var + momentum * var * count / (count - 1)
        else:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm in eval mode needs running_mean and running_var")
            mean = _compute(running_mean).astype(xf.dtype)
            var = _compute(running_var).astype(xf.dtype)
        rstd = 1.0 / np.sqrt(var + eps)
        y = (xf - mean[None, :, None]) * rstd[None, :, None]
        if w is not None:
            y = y * w[None, :, None]
        if b is not None:
            y = y + b[None, :, None]
        return y.astype(x.dtype), mean, rstd

    def batch_norm_bwd(self, gy, x, w, save_mean, save_rstd, training):
        """Gradients of `batch_norm_fwd` given the upstream ``gy`` (N, C, L) and what it saved:
        ``(gx, gw, gb)``; ``gw``/``gb`` (C,) in ``w``'s dtype (``x``'s when ``w`` is None; ``gw`` None then).
        Training: through the batch statistics; eval: ``gx = gy * w * rstd``."""
        gyf, xf = _compute(gy), _compute(x)
        n, C, L = xf.shape
        count = n * L
        xhat = (xf - save_mean[None, :, None]) * save_rstd[None, :, None]
        gb = gyf.sum(axis=(0, 2))
        gw = (gyf * xhat).sum(axis=(0, 2))
        wf = np.ones(C, dtype=xf.dtype) if w is None else _compute(w)
        scale = (wf * save_rstd)[None, :, None]
        if training:
            gx = scale * (gyf - gb[None, :, None] / count - xhat * gw[None, :, None] / count)
        else:
            gx = scale * gyf
        param_dtype = x.dtype if w is None else w.dtype
        return gx.astype(x.dtype), None if w is None else gw.astype(param_dtype), gb.astype(param_dtype)
