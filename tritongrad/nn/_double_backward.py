"""Double backward of the fused nn ops (used only under ``create_graph=True``; see `tritongrad._higher_order`).

The fused kernels' backward works on arrays; its recorded counterpart is written here with differentiable
Tensor ops, as PyTorch gives its fused ops double-backward formulas:

* composites (`composite`): layer/RMS norm, batch norm, cross-entropy (index and probability targets),
  attention and linear with an activation recompute their forward from the node's inputs with Tensor ops
  (in float32 for half inputs) and differentiate that with ``create_graph=True``;
* explicit formulas: linear without activation, conv2d / conv_transpose2d (through `Conv2dWeightGrad`, the
  weight gradient as an op of its own), max pooling (a scatter-add), embedding, padding, dropout;
* `Adjoint`: average pooling, whose backward is linear in the gradient with the forward as its adjoint.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functions as F
from .._higher_order import constant, input_tensor
from ..autograd import Op, _tensor_class, grad


def _alias(x):
    """A view of ``x`` in a node of its own, so that `grad` can capture it (an input rebuilt by `input_tensor`
    is not any node's recorded output)."""
    return F.Reshape.apply(x, shape=tuple(x.shape))


def _bias_leaf(node, i, dtype):
    """A fresh zero leaf standing for input ``i``, an added bias whose value the gradients do not depend on
    (its array is not saved); None when the input needs no gradient (its value then does not matter)."""
    p = node.parents[i]
    if p is None:
        return None
    be = node.be
    return constant(node, be.full(tuple(p.shape), 0, dtype, node._graph_device.index or 0)).requires_grad_(True)


def _compute(t):
    """Half floats computed in float32 (as the fused kernels do); others as they are."""
    return t.float() if t is not None and t.dtype.name in ("float16", "bfloat16") else t


def composite(node, fn, inputs, grads):
    """``node``'s input gradients, recorded: ``fn`` recomputes the node's outputs from ``inputs`` (Tensors,
    None or anything else, one per input of the node) with Tensor ops; its gradients are taken with
    ``create_graph=True`` w.r.t. the inputs that need one."""
    needs = node.needs_input_grad
    Tensor = _tensor_class()
    xs = [_alias(x) if need and isinstance(x, Tensor) and x.grad_fn is not None else x
          for x, need in zip(inputs, needs)]
    outs = fn(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
    wrt = [x for x, need in zip(xs, needs) if need]
    if not pairs or not wrt:
        return tuple(None for _ in needs)
    gs = iter(grad([o for o, _ in pairs], wrt, [g.to(o.dtype) for o, g in pairs], create_graph=True,
                   allow_unused=True))
    res = []
    for x, need in zip(inputs, needs):
        g = next(gs) if need else None
        res.append(g.to(x.dtype) if g is not None and g.dtype != x.dtype else g)
    return tuple(res)


# ------------------------------------------------------------------------------------------ linear
def linear(node, g):
    x, w, pre, y = node.saved_tensors
    if pre is None:     # relu saves its output alone: relu(y) = y and relu'(y) = relu'(pre) (0 where pre <= 0)
        pre = y
    nx, nw, nb = node.needs_input_grad
    xt, wt = input_tensor(node, 0, x), input_tensor(node, 1, w)
    if node.activation is not None:
        # act(pre) with pre rebuilt as saved value + zero-valued terms carrying its derivatives: the bias's value
        # is not kept (only pre is), and x @ w.T + b need not be recomputed
        act, b_par = node.activation, node.parents[2]
        bt = None if b_par is None else input_tensor(node, 2, node.be.full(tuple(b_par.shape), 0, pre.dtype,
                                                                            node._graph_device.index or 0))

        def fn(x, w, b):
            xw = x.matmul(w.t())
            pre_t = constant(node, pre).reshape(xw.shape) + (xw - xw.detach())
            if b is not None:
                pre_t = pre_t + (b - b.detach())
            return F.Unary.apply(pre_t, op=act, params={})
        return composite(node, fn, (xt, wt, bt), (g,))
    n, k = w.shape
    g2 = g.reshape(-1, n)
    gx = g.matmul(wt) if nx else None
    gw = g2.t().matmul(xt.reshape(-1, k)) if nw else None
    gb = g2.sum(0) if nb else None
    return gx, gw, gb


# ------------------------------------------------------------------------------------------ norms
def layer_norm(node, g):
    x, w, _, _ = node.saved_tensors
    n, eps = node.n, node.eps
    b = _bias_leaf(node, 2, x.dtype)

    def fn(x, w, b):
        dtype = x.dtype
        r = _compute(x).reshape(-1, n)
        mu = r.mean(1, keepdim=True)
        y = (r - mu) * ((r - mu).square().mean(1, keepdim=True) + eps).rsqrt()
        if w is not None:
            y = y * _compute(w).reshape(n)
        if b is not None:
            y = y + _compute(b).reshape(n)
        return y.to(dtype).reshape(x.shape)
    wt = None if w is None else input_tensor(node, 1, w)
    return composite(node, fn, (input_tensor(node, 0, x), wt, b), (g,))


def rms_norm(node, g):
    x, w, _ = node.saved_tensors
    n, eps = node.n, node.eps

    def fn(x, w):
        r = _compute(x).reshape(-1, n)
        y = r * (r.square().mean(1, keepdim=True) + eps).rsqrt()
        if w is not None:
            y = y * _compute(w).reshape(n)
        return y.to(x.dtype).reshape(x.shape)
    return composite(node, fn, (input_tensor(node, 0, x), None if w is None else input_tensor(node, 1, w)), (g,))


def batch_norm(node, g):
    x, w, mean, rstd = node.saved_tensors
    shape = node.x_shape
    c = shape[1]
    b = _bias_leaf(node, 2, x.dtype)
    stats = None if node.training else (constant(node, mean), constant(node, rstd))
    eps = node.eps

    def fn(x, w, b, rm, rv):
        r = _compute(x).reshape(shape[0], c, -1)
        if stats is None:
            mu = r.mean((0, 2), keepdim=True)
            y = (r - mu) * ((r - mu).square().mean((0, 2), keepdim=True) + eps).rsqrt()
        else:
            y = (r - stats[0].to(r.dtype).reshape(1, c, 1)) * stats[1].to(r.dtype).reshape(1, c, 1)
        if w is not None:
            y = y * _compute(w).reshape(1, c, 1)
        if b is not None:
            y = y + _compute(b).reshape(1, c, 1)
        return y.to(x.dtype).reshape(shape)
    wt = None if w is None else input_tensor(node, 1, w)
    return composite(node, fn, (input_tensor(node, 0, x), wt, b, None, None), (g,))


# ------------------------------------------------------------------------------------------ losses
def _reduce_rows(rows, reduction, denom):
    if reduction == "none":
        return rows
    return rows.sum() / denom if reduction == "mean" else rows.sum()


def cross_entropy(node, g):
    logits, target, weight, _ = node.saved_tensors
    ignore_index, eps, reduction = node.params
    tt = constant(node, target)
    m, c = logits.shape
    valid = tt != ignore_index
    idx = (tt * valid.long()).reshape(m, 1)      # ignored rows read class 0, then weigh 0

    def fn(x, _target, _weight):
        logp = _compute(x).log_softmax(1)
        wc = constant(node, weight).to(logp.dtype) if weight is not None else None
        w_t = valid.to(logp.dtype) if wc is None else wc.gather(0, idx.reshape(m)) * valid.to(logp.dtype)
        nll = -w_t * logp.gather(1, idx).reshape(m)
        smooth = -(logp if wc is None else logp * wc).sum(1) * valid.to(logp.dtype)
        rows = (1.0 - eps) * nll + eps / c * smooth
        return _reduce_rows(rows, reduction, w_t.sum()).to(x.dtype)
    return composite(node, fn, (input_tensor(node, 0, logits), None, None), (g,))


def cross_entropy_prob(node, g):
    logits, target, weight, _ = node.saved_tensors
    eps, reduction = node.params
    m, c = logits.shape

    def fn(x, t, _weight):
        logp = _compute(x).log_softmax(1)
        wt = (1.0 - eps) * _compute(t).to(logp.dtype) + eps / c
        if weight is not None:
            wt = wt * constant(node, weight).to(logp.dtype)
        return _reduce_rows(-(wt * logp).sum(1), reduction, m).to(x.dtype)
    return composite(node, fn, (input_tensor(node, 0, logits), input_tensor(node, 1, target), None), (g,))


# ------------------------------------------------------------------------------------------ attention
def sdpa(node, g):
    q, k, v, _, _, mask = node.saved_tensors
    scale, causal = node.scale, node.is_causal

    def fn(q, k, v, mask):
        dtype = q.dtype
        s = _compute(q).matmul(_compute(k).mT) * scale
        if mask is not None:
            s = s + _compute(mask)
        if causal:
            lq, lk = s.shape[-2], s.shape[-1]
            keep = constant(node, node.be.tril(node.be.full((lq, lk), True, np.bool_, node._graph_device.index or 0), 0))
            s = s.masked_fill(keep.logical_not(), float("-inf"))
        return s.softmax(-1).matmul(_compute(v)).to(dtype)
    mt = None if mask is None else input_tensor(node, 3, mask)
    return composite(node, fn, (input_tensor(node, 0, q), input_tensor(node, 1, k), input_tensor(node, 2, v), mt),
                     (g,))


# ------------------------------------------------------------------------------------------ convolution
class Conv2dWeightGrad(Op):
    """conv2d's weight gradient as an op of ``(x, gy)`` (bilinear), so conv2d can be differentiated twice:
    its backward is conv2d's input gradient of ``gy`` (for x) and conv2d of ``x`` (for gy)."""

    def forward(self, x, gy, *, w_shape, stride, padding, dilation, groups):
        be = self.be
        self.geom = (stride, padding, dilation, groups)
        self.save_for_backward(x, gy)
        w = be.broadcast_to(be.full((), 0, x.dtype, be.device_of(x)), w_shape)
        return be.conv2d_bwd(be.contiguous(gy), x, w, *self.geom, need_x=False, need_w=True, need_b=False)[1]

    def backward(self, gw):
        x, gy = self.saved_tensors
        be = self.be
        gw = be.contiguous(gw)
        nx, ngy = self.needs_input_grad
        gx = be.conv2d_bwd(be.contiguous(gy), x, gw, *self.geom, need_x=True, need_w=False, need_b=False)[0] \
            if nx else None
        ggy = be.conv2d_fwd(x, gw, None, *self.geom) if ngy else None
        return gx, ggy

    def backward_graph(self, gw):
        x, gy = self.saved_tensors
        nx, ngy = self.needs_input_grad
        geom = dict(zip(("stride", "padding", "dilation", "groups"), self.geom))
        gx = conv_input_grad(input_tensor(self, 1, gy), gw, tuple(x.shape), geom) if nx else None
        ggy = _conv2d(input_tensor(self, 0, x), gw, geom) if ngy else None
        return gx, ggy


def _conv2d(x, w, geom):
    from ._functions import Conv2dFn
    return Conv2dFn.apply(x, w, None, **geom)


def conv_input_grad(g, w, x_shape, geom):
    from ._functional_b import _ConvTranspose2dFn
    return _ConvTranspose2dFn.apply(g, w, out_shape=x_shape, **geom)


def _geom(node):
    return dict(zip(("stride", "padding", "dilation", "groups"), node.geom))


def conv2d(node, g):
    x, w = node.saved_tensors
    nx, nw, nb = node.needs_input_grad
    geom = _geom(node)
    gx = conv_input_grad(g, input_tensor(node, 1, w), tuple(x.shape), geom) if nx else None
    gw = Conv2dWeightGrad.apply(input_tensor(node, 0, x), g, w_shape=tuple(w.shape), **geom) if nw else None
    gb = g.sum((0, 2, 3)) if nb and node.has_bias else None
    return gx, gw, gb


def conv_transpose2d(node, g):
    x, w = node.saved_tensors
    nx, nw = node.needs_input_grad
    geom = _geom(node)
    gx = _conv2d(g, input_tensor(node, 1, w), geom) if nx else None
    gw = Conv2dWeightGrad.apply(g, input_tensor(node, 0, x), w_shape=tuple(w.shape), **geom) if nw else None
    return gx, gw


# ------------------------------------------------------------------------------------------ linear-in-g ops
class Adjoint(Op):
    """``A^T g`` for a linear op ``A`` (``owner``'s backward on ``g``), differentiable: its backward is ``A``
    itself (``fwd`` on arrays, ``fwd_t`` on Tensors)."""

    def forward(self, g, *, owner, fwd, fwd_t):
        self.fwd, self.fwd_t = fwd, fwd_t
        return owner.backward(g)

    def backward(self, gg):
        return self.fwd(self.be, gg)

    def backward_graph(self, gg):
        return self.fwd_t(gg)


def avg_pool2d(node, g):
    from ._functions import AvgPool2dFn
    keys = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    geom = node.geom
    return Adjoint.apply(g, owner=node, fwd=lambda be, a: be.avg_pool2d_fwd(be.contiguous(a), *geom),
                         fwd_t=lambda t: AvgPool2dFn.apply(t, **dict(zip(keys, geom))))


def adaptive_avg_pool2d(node, g):
    from ._functions import AdaptiveAvgPool2dFn
    size = node.output_size
    return Adjoint.apply(g, owner=node, fwd=lambda be, a: be.adaptive_avg_pool2d_fwd(be.contiguous(a), size),
                         fwd_t=lambda t: AdaptiveAvgPool2dFn.apply(t, output_size=size))


def max_pool2d(node, gy, gidx=None):
    (idx,) = node.saved_tensors
    n, c, h, w = node.x_shape
    rows = constant(node, idx).reshape(n * c, -1)
    zeros = constant(node, node.be.full((n * c, h * w), 0, gy.dtype.np, node._graph_device.index or 0))
    return F.ScatterAdd.apply(zeros, rows, gy.contiguous().reshape(n * c, -1), dim=1).reshape(node.x_shape)


def embedding(node, g):
    (indices,) = node.saved_tensors
    v, d = node.w_shape
    n = math.prod(node.idx_shape)
    be = node.be
    dev = node._graph_device.index or 0
    flat = constant(node, indices).reshape(n, 1).expand(n, d).contiguous()
    zeros = constant(node, be.full((v, d), 0, node.w_dtype, dev))
    gw = F.ScatterAdd.apply(zeros, flat, g.reshape(n, d), dim=0)
    if node.padding_idx is not None:
        keep = be.full((v, 1), 1, node.w_dtype, dev)
        be.copy_(be.getitem(keep, node.padding_idx), 0)
        gw = gw * constant(node, keep)
    return gw, None


def log_sigmoid(node, g):
    (x,) = node.saved_tensors
    return g * (-input_tensor(node, 0, x)).sigmoid()


def dropout(node, g):
    from ._functions import DropoutFn
    return DropoutFn.apply(g, p=node.p, seed=node.seed, offset=node.offset)


def pad(node, g):
    return F.Clone.apply(F.Index.apply(g, key=node.key))
