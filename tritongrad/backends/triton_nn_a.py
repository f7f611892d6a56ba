"""Triton side of the fused nn ops, part A: layer_norm, rms_norm, cross_entropy, dropout, batch_norm.

`TritonNNA` is a mixin of the Triton backend. Its methods have `NumpyNNA`'s names, signatures and
contracts (stated once, in `tritongrad.backends.numpy_nn_a`), take and return `DeviceArray`s, and each runs
the launch wrapper of its kernel in ``tritongrad.kernels``.
"""
from __future__ import annotations

from tritongrad.kernels import batchnorm, cross_entropy, dropout, norm

__all__ = ["TritonNNA"]


class TritonNNA:
    """Fused Triton kernels for layer_norm, rms_norm, cross_entropy, dropout and batch_norm."""

    def layer_norm_fwd(self, x, w, b, eps):
        """`NumpyNNA.layer_norm_fwd` on the device: ``kernels.norm.layer_norm_fwd``."""
        return norm.layer_norm_fwd(x, w, b, eps)

    def layer_norm_bwd(self, gy, x, w, mean, rstd, need_w=True, need_b=True):
        """`NumpyNNA.layer_norm_bwd` on the device: ``kernels.norm.layer_norm_bwd`` (two-stage gw/gb)."""
        return norm.layer_norm_bwd(gy, x, w, mean, rstd, need_w, need_b)

    def rms_norm_fwd(self, x, w, eps):
        """`NumpyNNA.rms_norm_fwd` on the device: ``kernels.norm.rms_norm_fwd``."""
        return norm.rms_norm_fwd(x, w, eps)

    def rms_norm_bwd(self, gy, x, w, rstd, need_w=True):
        """`NumpyNNA.rms_norm_bwd` on the device: ``kernels.norm.rms_norm_bwd``."""
        return norm.rms_norm_bwd(gy, x, w, rstd, need_w)

    def cross_entropy_fwd(self, logits, target, weight, ignore_index, label_smoothing, reduction):
        """`NumpyNNA.cross_entropy_fwd` on the device (online log-sum-exp, no probabilities stored)."""
        return cross_entropy.cross_entropy_fwd(logits, target, weight, ignore_index, label_smoothing, reduction)

    def cross_entropy_bwd(self, gloss, logits, target, weight, lse, ignore_index, label_smoothing, reduction):
        """`NumpyNNA.cross_entropy_bwd` on the device (the logits' gradient written in one pass)."""
        return cross_entropy.cross_entropy_bwd(gloss, logits, target, weight, lse, ignore_index,
                                               label_smoothing, reduction)

    def cross_entropy_prob_fwd(self, logits, target, weight, label_smoothing, reduction):
        """`NumpyNNA.cross_entropy_prob_fwd` on the device."""
        return cross_entropy.cross_entropy_prob_fwd(logits, target, weight, label_smoothing, reduction)

    def cross_entropy_prob_bwd(self, gloss, logits, target, weight, lse, label_smoothing, reduction):
        """`NumpyNNA.cross_entropy_prob_bwd` on the device."""
        return cross_entropy.cross_entropy_prob_bwd(gloss, logits, target, weight, lse, label_smoothing,
                                                    reduction)

    def dropout_fwd(self, x, p, seed, offset):
        """`NumpyNNA.dropout_fwd` on the device: the same mask bit for bit (Philox)."""
        return dropout.dropout_fwd(x, p, seed, offset)

    def dropout_bwd(self, gy, p, seed, offset):
        """`NumpyNNA.dropout_bwd` on the device: the mask regenerated, never stored."""
        return dropout.dropout_bwd(gy, p, seed, offset)

    def batch_norm_fwd(self, x, w, b, running_mean, running_var, training, momentum, eps):
        """`NumpyNNA.batch_norm_fwd` on the device (running statistics updated in place)."""
        return batchnorm.batch_norm_fwd(x, w, b, running_mean, running_var, training, momentum, eps)

    def batch_norm_bwd(self, gy, x, w, save_mean, save_rstd, training):
        """`NumpyNNA.batch_norm_bwd` on the device."""
        return batchnorm.batch_norm_bwd(gy, x, w, save_mean, save_rstd, training)
