"""Autograd Functions over the fused backend ops (``be.layer_norm_fwd`` ...): one class per fused op.

Each forward receives backend arrays and calls the backend of its inputs (the NumPy reference on cpu, the
Triton kernels on cuda; both implement the same methods, see ``tritongrad/backends/numpy_nn_*.py``), saves
what backward needs, and returns array(s). `nn.functional` does the argument handling (shapes, defaults,
PyTorch's errors) and calls ``<Fn>.apply``.
"""
from __future__ import annotations

import math

from ..autograd import Op
from ..backends.base import UNARY_SAVES
from ..functions import _reshape, unbroadcast
from . import _double_backward as _dbl

__all__ = [
    "LinearFn", "LayerNormFn", "RMSNormFn", "CrossEntropyFn", "CrossEntropyProbFn", "DropoutFn", "BatchNormFn",
    "SDPAFn", "Conv2dFn", "MaxPool2dFn", "AvgPool2dFn", "AdaptiveAvgPool2dFn", "EmbeddingFn", "PadFn",
    "LogSigmoidFn",
]


def _fused_matmul(be, a, b, bias, activation, need_pre, allow_tf32):
    """``activation(a @ b + bias)`` for (1, M, K) @ (1, K, N); returns ``(out, preact)`` (preact None unless
    ``need_pre``). On cuda bias and activation run in the matmul kernel's epilogue; the NumPy backend's
    matmul has no epilogue, so there they are the backend's add and activation ops."""
    if be.name == "triton":
        if need_pre:
            return be.matmul(a, b, allow_tf32, bias=bias, activation=activation, out_preact=True)
        return be.matmul(a, b, allow_tf32, bias=bias, activation=activation), None
    pre = be.matmul(a, b, allow_tf32)
    if bias is not None:
        pre = be.binary("add", pre, bias)
    if activation is None:
        return pre, None
    return be.unary(activation, pre), (pre if need_pre else None)


class LinearFn(Op):
    """``activation(x @ w.T + b)`` (``F.linear`` plus an optional fused activation). Leading dims of ``x`` are
    flattened: grad_x = g @ W, grad_W = g^T @ x, grad_b = sum of g over rows."""

    def forward(self, x, w, b, *, activation, allow_tf32, save_preact):
        be = self.be
        self.x_shape, self.activation, self.allow_tf32 = tuple(x.shape), activation, allow_tf32
        k, n = x.shape[-1], w.shape[0]
        m = math.prod(x.shape[:-1])
        x3 = _reshape(be, x, (1, m, k))
        wt = be.getitem(be.permute(w, (1, 0)), (None,))
        y, pre = _fused_matmul(be, x3, wt, b, activation, save_preact, allow_tf32)
        y = _reshape(be, y, tuple(x.shape[:-1]) + (n,))
        # the activation's derivative reads the pre-activation or the output (UNARY_SAVES), never both
        out_read = activation is not None and UNARY_SAVES[activation] == "y"
        self.save_for_backward(x, w, None if out_read else pre, y if out_read else None)
        return y

    def backward(self, g):
        x, w, pre, y = self.saved_tensors
        be = self.be
        nx, nw, nb = self.needs_input_grad
        k, n = w.shape[1], w.shape[0]
        m = math.prod(self.x_shape[:-1])
        g3 = _reshape(be, g, (1, m, n))
        if self.activation is not None:
            g3 = be.unary_bwd(self.activation, pre, None if y is None else _reshape(be, y, (1, m, n)), g3)
        gx = gw = gb = None
        if nx:
            gx = _reshape(be, be.matmul(g3, be.getitem(w, (None,)), self.allow_tf32), self.x_shape)
        if nw:
            x3 = _reshape(be, x, (1, m, k))
            gw = _reshape(be, be.matmul(be.permute(g3, (0, 2, 1)), x3, self.allow_tf32), (n, k))
        if nb:
            gb = be.reduce("sum", g3, (0, 1), False)
        return gx, gw, gb

    def backward_graph(self, g):
        return _dbl.linear(self, g)

    @property
    def name(self):
        return "AddmmBackward0"


class LayerNormFn(Op):
    """``F.layer_norm`` over the last ``n`` elements of each row (normalized dims flattened)."""

    def forward(self, x, w, b, *, n, eps):
        be = self.be
        m = math.prod(x.shape) // n if n else 0
        self.x_shape, self.w_shape = tuple(x.shape), None if w is None else tuple(w.shape)
        self.n, self.eps = n, eps
        y, mean, rstd = be.layer_norm_fwd(_reshape(be, x, (m, n)), None if w is None else _reshape(be, w, (n,)),
                                          None if b is None else _reshape(be, b, (n,)), eps)
        self.save_for_backward(x, w, mean, rstd)
        return _reshape(be, y, x.shape)

    def backward(self, g):
        x, w, mean, rstd = self.saved_tensors
        be = self.be
        n = self.n
        m = math.prod(self.x_shape) // n if n else 0
        _, nw, nb = self.needs_input_grad
        gx, gw, gb = be.layer_norm_bwd(_reshape(be, g, (m, n)), _reshape(be, x, (m, n)),
                                       None if w is None else _reshape(be, w, (n,)), mean, rstd, need_w=nw,
                                       need_b=nb)
        gx = _reshape(be, gx, self.x_shape)
        if gw is not None:
            gw = _reshape(be, gw, self.w_shape)
        if gb is not None:
            gb = _reshape(be, gb, self.w_shape if self.w_shape is not None else (n,))
        return gx, gw, gb

    def backward_graph(self, g):
        return _dbl.layer_norm(self, g)

    @property
    def name(self):
        return "NativeLayerNormBackward0"


class RMSNormFn(Op):
    """``F.rms_norm`` over the last ``n`` elements of each row."""

    def forward(self, x, w, *, n, eps):
        be = self.be
        m = math.prod(x.shape) // n if n else 0
        self.x_shape, self.w_shape, self.n, self.eps = tuple(x.shape), None if w is None else tuple(w.shape), n, eps
        y, rstd = be.rms_norm_fwd(_reshape(be, x, (m, n)), None if w is None else _reshape(be, w, (n,)), eps)
        self.save_for_backward(x, w, rstd)
        return _reshape(be, y, x.shape)

    def backward(self, g):
        x, w, rstd = self.saved_tensors
        be = self.be
        n = self.n
        m = math.prod(self.x_shape) // n if n else 0
        gx, gw = be.rms_norm_bwd(_reshape(be, g, (m, n)), _reshape(be, x, (m, n)),
                                 None if w is None else _reshape(be, w, (n,)), rstd, need_w=self.needs_input_grad[1])
        return _reshape(be, gx, self.x_shape), None if gw is None else _reshape(be, gw, self.w_shape)

    def backward_graph(self, g):
        return _dbl.rms_norm(self, g)


class CrossEntropyFn(Op):
    """``F.cross_entropy`` with class-index targets on (M, C) logits (fused: no probabilities stored)."""

    def forward(self, logits, target, weight, *, ignore_index, label_smoothing, reduction):
        self.params = (ignore_index, label_smoothing, reduction)
        loss, lse = self.be.cross_entropy_fwd(logits, target, weight, ignore_index, label_smoothing, reduction)
        self.save_for_backward(logits, target, weight, lse)
        return loss

    def backward(self, g):
        logits, target, weight, lse = self.saved_tensors
        return self.be.cross_entropy_bwd(g, logits, target, weight, lse, *self.params), None, None

    def backward_graph(self, g):
        return _dbl.cross_entropy(self, g)

    @property
    def name(self):
        return "NllLossBackward0"


class CrossEntropyProbFn(Op):
    """``F.cross_entropy`` with probability targets on (M, C) logits; differentiable in the target too:
    d loss / d target[c] = -(1 - eps) * w[c] * log_softmax(x)[c] (times the reduction's scale)."""

    def forward(self, logits, target, weight, *, label_smoothing, reduction):
        self.params = (label_smoothing, reduction)
        loss, lse = self.be.cross_entropy_prob_fwd(logits, target, weight, label_smoothing, reduction)
        self.save_for_backward(logits, target, weight, lse)
        return loss

    def backward(self, g):
        logits, target, weight, lse = self.saved_tensors
        be = self.be
        label_smoothing, reduction = self.params
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = be.cross_entropy_prob_bwd(g, logits, target, weight, lse, label_smoothing, reduction)
        if self.needs_input_grad[1]:
            m = logits.shape[0]
            lse_col = be.cast(_reshape(be, lse, (m, 1)), logits.dtype)
            coef = be.binary("mul", be.binary("sub", logits, lse_col), -(1.0 - label_smoothing))
            if weight is not None:
                coef = be.binary("mul", coef, weight)
            if reduction == "none":
                scale = _reshape(be, g, (m, 1))
            else:
                scale = be.binary("div", g, m) if reduction == "mean" else g
            gt = be.cast(be.binary("mul", coef, be.cast(scale, logits.dtype)), target.dtype)
        return gx, gt, None

    def backward_graph(self, g):
        return _dbl.cross_entropy_prob(self, g)

    @property
    def name(self):
        return "SumBackward0" if self.params[1] == "sum" else "MeanBackward0"


class DropoutFn(Op):
    """``F.dropout`` in training: Philox mask from (seed, offset), regenerated in backward (never stored)."""

    def forward(self, x, *, p, seed, offset):
        self.p, self.seed, self.offset = p, seed, offset
        return self.be.dropout_fwd(x, p, seed, offset)

    def backward(self, g):
        return self.be.dropout_bwd(g, self.p, self.seed, self.offset)

    def backward_graph(self, g):
        return _dbl.dropout(self, g)

    @property
    def name(self):
        return "NativeDropoutBackward0"


class BatchNormFn(Op):
    """``F.batch_norm`` on x viewed as (N, C, L); running statistics updated in place by the backend."""

    def forward(self, x, w, b, running_mean, running_var, *, training, momentum, eps):
        be = self.be
        self.x_shape, self.training, self.eps = tuple(x.shape), training, eps
        n, c = x.shape[0], x.shape[1]
        x3 = _reshape(be, x, (n, c, math.prod(x.shape[2:])))
        y, mean, rstd = be.batch_norm_fwd(x3, w, b, running_mean, running_var, training, momentum, eps)
        self.save_for_backward(x, w, mean, rstd)
        return _reshape(be, y, x.shape)

    def backward(self, g):
        x, w, mean, rstd = self.saved_tensors
        be = self.be
        n, c = self.x_shape[0], self.x_shape[1]
        shape3 = (n, c, math.prod(self.x_shape[2:]))
        gx, gw, gb = be.batch_norm_bwd(_reshape(be, g, shape3), _reshape(be, x, shape3), w, mean, rstd,
                                       self.training)
        _, nw, nb = self.needs_input_grad[:3]
        return (_reshape(be, gx, self.x_shape) if self.needs_input_grad[0] else None, gw if nw else None,
                gb if nb else None, None, None)

    def backward_graph(self, g):
        return _dbl.batch_norm(self, g)

    @property
    def name(self):
        return "NativeBatchNormBackward0"


class SDPAFn(Op):
    """Flash attention on (B, H, L, D) operands with an optional additive float mask (differentiable)."""

    def forward(self, q, k, v, mask, *, is_causal, scale):
        self.is_causal, self.scale = is_causal, scale
        self.mask_shape = None if mask is None else tuple(mask.shape)
        o, lse = self.be.sdpa_fwd(q, k, v, mask, is_causal, scale)
        self.save_for_backward(q, k, v, o, lse, mask)
        return o

    def backward(self, go):
        q, k, v, o, lse, mask = self.saved_tensors
        need_mask = mask is not None and self.needs_input_grad[3]
        grads = self.be.sdpa_bwd(go, q, k, v, o, lse, mask, self.is_causal, self.scale, need_mask_grad=need_mask)
        gq, gk, gv = grads[:3]
        gmask = unbroadcast(self.be, grads[3], self.mask_shape) if need_mask else None
        return gq, gk, gv, gmask

    def backward_graph(self, go):
        return _dbl.sdpa(self, go)

    @property
    def name(self):
        return "ScaledDotProductFlashAttentionBackward0"


class Conv2dFn(Op):
    """``F.conv2d`` (implicit GEMM on cuda) with symmetric zero padding."""

    def forward(self, x, w, b, *, stride, padding, dilation, groups):
        self.geom = (stride, padding, dilation, groups)
        self.save_for_backward(x, w)
        self.has_bias = b is not None
        return self.be.conv2d_fwd(x, w, b, stride, padding, dilation, groups)

    def backward(self, g):
        x, w = self.saved_tensors
        nx, nw, nb = self.needs_input_grad
        return self.be.conv2d_bwd(g, x, w, *self.geom, need_x=nx, need_w=nw, need_b=nb and self.has_bias)

    def backward_graph(self, g):
        return _dbl.conv2d(self, g)

    @property
    def name(self):
        return "ConvolutionBackward0"


class MaxPool2dFn(Op):
    """``F.max_pool2d`` returning (values, int64 flat indices); gradients scatter to the argmax."""

    def forward(self, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        self.x_shape = tuple(x.shape)
        y, idx = self.be.max_pool2d_fwd(x, kernel_size, stride, padding, dilation, ceil_mode)
        self.mark_non_differentiable(idx)
        self.save_for_backward(idx)
        return y, idx

    def backward(self, gy, gidx=None):
        (idx,) = self.saved_tensors
        return self.be.max_pool2d_bwd(gy, idx, self.x_shape)

    def backward_graph(self, gy, gidx=None):
        return _dbl.max_pool2d(self, gy)

    @property
    def name(self):
        return "MaxPool2DWithIndicesBackward0"


class AvgPool2dFn(Op):
    """``F.avg_pool2d``."""

    def forward(self, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        self.x_shape = tuple(x.shape)
        self.geom = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return self.be.avg_pool2d_fwd(x, *self.geom)

    def backward(self, g):
        return self.be.avg_pool2d_bwd(g, self.x_shape, *self.geom)

    def backward_graph(self, g):
        return _dbl.avg_pool2d(self, g)

    @property
    def name(self):
        return "AvgPool2DBackward0"


class AdaptiveAvgPool2dFn(Op):
    """``F.adaptive_avg_pool2d``."""

    def forward(self, x, *, output_size):
        self.x_shape, self.output_size = tuple(x.shape), output_size
        return self.be.adaptive_avg_pool2d_fwd(x, output_size)

    def backward(self, g):
        return self.be.adaptive_avg_pool2d_bwd(g, self.x_shape, self.output_size)

    def backward_graph(self, g):
        return _dbl.adaptive_avg_pool2d(self, g)

    @property
    def name(self):
        return "AdaptiveAvgPool2DBackward0"


class EmbeddingFn(Op):
    """``F.embedding``: rows of ``weight`` gathered at int64 ``indices`` (index_select); backward is a
    scatter-add (index_add) into a zero weight gradient, with the ``padding_idx`` row left at zero."""

    def forward(self, weight, indices, *, padding_idx):
        be = self.be
        self.w_shape, self.w_dtype, self.padding_idx = tuple(weight.shape), weight.dtype, padding_idx
        self.idx_shape = tuple(indices.shape)
        flat = _reshape(be, indices, (math.prod(indices.shape),))
        self.save_for_backward(indices)
        out = be.index_select(weight, 0, flat)
        return _reshape(be, out, self.idx_shape + (weight.shape[1],))

    def backward(self, g):
        (indices,) = self.saved_tensors
        be = self.be
        n = math.prod(self.idx_shape)
        flat = _reshape(be, indices, (n,))
        gw = be.index_add(self.w_shape, self.w_dtype, 0, flat, _reshape(be, g, (n, self.w_shape[1])))
        if self.padding_idx is not None:
            be.copy_(be.getitem(gw, self.padding_idx), 0)
        return gw, None

    def backward_graph(self, g):
        return _dbl.embedding(self, g)

    @property
    def name(self):
        return "EmbeddingBackward0"


class PadFn(Op):
    """Constant padding: ``pads`` is one non-negative (before, after) pair per dim of ``x``."""

    def forward(self, x, *, pads, value):
        be = self.be
        self.key = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, x.shape))
        shape = tuple(n + lo + hi for (lo, hi), n in zip(pads, x.shape))
        out = be.full(shape, value, x.dtype, be.device_of(x))
        be.copy_(be.getitem(out, self.key), x)
        return out

    def backward(self, g):
        return self.be.contiguous(self.be.getitem(g, self.key))

    def backward_graph(self, g):
        return _dbl.pad(self, g)

    @property
    def name(self):
        return "ConstantPadNdBackward0"


class LogSigmoidFn(Op):
    """``log(sigmoid(x)) = -(relu(-x) + log1p(exp(-|x|)))``, stable for any x; gradient ``sigmoid(-x)``
    (smooth at 0, where the kinks of relu and abs would give the wrong subgradient)."""

    def forward(self, x):
        be = self.be
        nx = be.unary("neg", x)
        soft = be.binary("add", be.unary("relu", nx), be.unary("log1p", be.unary("exp", be.unary("neg", be.unary("abs", x)))))
        self.save_for_backward(x)
        return be.unary("neg", soft)

    def backward(self, g):
        (x,) = self.saved_tensors
        be = self.be
        return be.binary("mul", g, be.unary("sigmoid", be.unary("neg", x)))

    def backward_graph(self, g):
        return _dbl.log_sigmoid(self, g)

    @property
    def name(self):
        return "LogSigmoidBackward0"
