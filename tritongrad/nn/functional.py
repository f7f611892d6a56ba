"""``tritongrad.nn.functional``: PyTorch's ``torch.nn.functional`` API.

The fused layers (linear, layer_norm, rms_norm, batch_norm, dropout, cross_entropy, embedding, conv2d,
pooling, scaled_dot_product_attention) call the fused backend ops through the Functions of
``nn/_functions.py``: NumPy on cpu, Triton kernels on cuda. Everything else (nll_loss, mse/l1/smooth_l1,
the binary cross-entropies, kl_div, one_hot, pad's non-constant modes) is composed of core tensor ops.

Deliberate differences from PyTorch, documented per function: ``scaled_dot_product_attention`` with
``dropout_p > 0`` computes the attention weights with plain ops (softmax, a Philox dropout, matmul) instead
of the flash kernel; ``embedding``'s ``max_norm``/``scale_grad_by_freq``/``sparse`` raise NotImplementedError.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import autograd
from .. import dtypes as _dt
from .._autocast import autocast_op
from ..random import default_generator
from ..tensor import _TYPE_NAMES, Tensor, tensor
from . import _functions as _fn

__all__ = [
    "linear", "relu", "relu_", "gelu", "silu", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax",
    "logsigmoid", "softplus", "dropout", "layer_norm", "rms_norm", "batch_norm", "embedding", "one_hot", "pad",
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "scaled_dot_product_attention", "mse_loss",
    "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "multi_head_attention_forward",
]

_ACTIVATIONS = (None, "relu", "gelu", "gelu_tanh", "silu")


# ------------------------------------------------------------------------------------------------- helpers
def _type_name(dt):
    return _TYPE_NAMES[dt.name]


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's ``_Reduction.legacy_get_string``: the deprecated ``size_average``/``reduce`` flags win."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='{}' instead.".format(
        "none" if reduce is False else "mean" if size_average in (None, True) else "sum"), stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_reduction(reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _apply_reduction(loss, reduction):
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _requires_grad(*ts):
    return autograd.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in ts)


def _inplace(x, fn):
    """Run ``fn`` and store the result into ``x`` (``inplace=True`` activations). Under autograd ``x`` becomes
    the op's output; the op reads a stand-in holding ``x``'s old data and graph position."""
    x._check_inplace()
    if not _requires_grad(x):
        out = fn(x.detach())
        x._be.copy_(x._data, out._data)
        x._version[0] += 1
        return x
    old = Tensor._make(x._data, x.device)
    old.requires_grad, old.grad_fn, old._out_idx = x.requires_grad, x.grad_fn, x._out_idx
    return x._rebind(fn(old))


def _unary(x, op, inplace=False, **params):
    if inplace:
        return _inplace(x, lambda t: t._unary(op, **params))
    return x._unary(op, **params)


def _pair(v):
    return (v, v) if isinstance(v, numbers.Integral) else tuple(v)


def _allow_tf32():
    from .. import get_float32_matmul_precision
    return get_float32_matmul_precision() != "highest"


# ------------------------------------------------------------------------------------------------- linear
@autocast_op("linear")
def _linear_act(input, weight, bias=None, activation=None):
    """``activation(linear(input, weight, bias))`` as one fused op: on cuda the bias and the activation run in
    the matmul kernel's epilogue (one launch, the pre-activation stored only when a gradient is needed).
    ``activation``: None, "relu", "gelu" (erf), "gelu_tanh" or "silu"."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"_linear_act: unknown activation {activation!r}, expected one of {_ACTIVATIONS}")
    if input.ndim == 0:
        raise RuntimeError("linear: input must have at least 1 dimension, got a 0-d tensor")
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out_features, in_features), got shape {list(weight.shape)}")
    if input.dtype is not weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_type_name(input.dtype)} and "
                           f"{_type_name(weight.dtype)}")
    if input.shape[-1] != weight.shape[1]:
        m = math.prod(input.shape[:-1])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{input.shape[-1]} and "
                           f"{weight.shape[1]}x{weight.shape[0]})")
    if bias is not None:
        if tuple(bias.shape) != (weight.shape[0],):
            raise RuntimeError(f"linear: bias of shape {list(bias.shape)} does not match out_features="
                               f"{weight.shape[0]}")
        if bias.dtype is not input.dtype:
            raise RuntimeError(f"linear: bias dtype {bias.dtype} differs from input dtype {input.dtype}")
    save = activation is not None and _requires_grad(input, weight, bias)
    return _fn.LinearFn.apply(input, weight, bias, activation=activation, allow_tf32=_allow_tf32(), save_preact=save)


def linear(input, weight, bias=None):
    """``y = input @ weight.T + bias`` (``torch.nn.functional.linear``); input (*, in), weight (out, in),
    bias (out,) or None. On cuda the bias is added in the matmul kernel's epilogue."""
    return _linear_act(input, weight, bias, None)


# ------------------------------------------------------------------------------------------------- activations
def relu(input, inplace=False):
    """``max(x, 0)`` elementwise (``F.relu``)."""
    return _unary(input, "relu", inplace)


def relu_(input):
    """In-place `relu`."""
    return relu(input, inplace=True)


def gelu(input, approximate="none"):
    """GELU (``F.gelu``): ``x * Phi(x)`` (``approximate='none'``) or the tanh approximation ('tanh')."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _unary(input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (``F.silu``)."""
    return _unary(input, "silu", inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x if x > 0 else negative_slope * x`` (``F.leaky_relu``)."""
    return _unary(input, "leaky_relu", inplace, negative_slope=float(negative_slope))


def tanh(input):
    """``F.tanh``."""
    return input.tanh()


def sigmoid(input):
    """``F.sigmoid``."""
    return input.sigmoid()


def logsigmoid(input):
    """``log(sigmoid(x))`` computed stably (``F.logsigmoid``)."""
    return _fn.LogSigmoidFn.apply(input)


@autocast_op("softplus")
def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold`` (``F.softplus``)."""
    bx = input * beta
    return input.where(bx > threshold, -_fn.LogSigmoidFn.apply(-bx) / beta)


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as "
                  "an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


@autocast_op("softmax")
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Softmax along ``dim`` (``F.softmax``); ``dtype`` casts the input first."""
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return input.softmax(dim)


@autocast_op("log_softmax")
def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Log-softmax along ``dim`` (``F.log_softmax``)."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return input.log_softmax(dim)


# ------------------------------------------------------------------------------------------------- dropout
def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (``F.dropout``). The mask is
    a Philox stream at (seed, offset) reserved from the device's default generator and regenerated in
    backward, never stored. Identity when not ``training`` or ``p == 0``."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    seed, offset = default_generator(input.device.type)._advance(input.numel())

    def run(x):
        return _fn.DropoutFn.apply(x, p=float(p), seed=seed, offset=offset)

    return _inplace(input, run) if inplace else run(input)


# ------------------------------------------------------------------------------------------------- norms
def _normalized(input, normalized_shape, what):
    ns = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size{list(input.shape)}")
    return ns, math.prod(ns)


def _check_affine(t, ns, what):
    if t is not None and tuple(t.shape) != ns:
        raise RuntimeError(f"Expected {what} to be of same shape as normalized_shape, but got {what} of shape "
                           f"{list(t.shape)} and normalized_shape = {list(ns)}")


@autocast_op("layer_norm")
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then ``* weight + bias`` (``F.layer_norm``);
    fused kernel with fp32 statistics."""
    ns, n = _normalized(input, normalized_shape, "layer_norm")
    _check_affine(weight, ns, "weight")
    _check_affine(bias, ns, "bias")
    return _fn.LayerNormFn.apply(input, weight, bias, n=n, eps=float(eps))


def _finfo_eps(dt):
    import ml_dtypes
    return float(ml_dtypes.finfo(dt.np).eps)


@autocast_op("rms_norm")
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dims (``F.rms_norm``);
    ``eps=None`` means ``finfo(input.dtype).eps``."""
    ns, n = _normalized(input, normalized_shape, "rms_norm")
    _check_affine(weight, ns, "weight")
    if eps is None:
        eps = _finfo_eps(input.dtype)
    return _fn.RMSNormFn.apply(input, weight, n=n, eps=float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C, *) (``F.batch_norm``): batch statistics when ``training`` (updating
    ``running_mean``/``running_var`` in place with ``momentum``, unbiased variance), else the running ones."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got {input.ndim}D")
    if training:
        size_prods = input.shape[0] * math.prod(input.shape[2:])
        if size_prods == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not {t.numel()}")
    for t in (running_mean, running_var):
        if t is not None and not t.is_contiguous():
            raise RuntimeError("batch_norm: running statistics must be contiguous (they are updated in place)")
    out = _fn.BatchNormFn.apply(input, weight, bias, running_mean, running_var, training=bool(training),
                                momentum=0.0 if momentum is None else float(momentum), eps=float(eps))
    if training:
        for t in (running_mean, running_var):
            if t is not None:
                t._version[0] += 1
    return out


# ------------------------------------------------------------------------------------------------- embedding
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` at the integer ``input`` indices (``F.embedding``); no gradient flows to the
    ``padding_idx`` row. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are not supported."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by "
                                  "tritongrad")
    if input.dtype not in (_dt.int64, _dt.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type_name()} instead (while checking arguments for embedding)")
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got {weight.ndim}-D")
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.shape[0] + padding_idx
    if input.dtype is not _dt.int64:
        input = input.to(_dt.int64)
    return _fn.EmbeddingFn.apply(weight, input, padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding with a trailing dim of ``num_classes`` (``F.one_hot``); ``-1`` infers it as
    ``max + 1`` (a host synchronization, as in PyTorch). A class value outside ``[0, num_classes)`` raises
    RuntimeError: at once on cpu, at the host's next wait for the device on cuda (the device error word);
    its row is all zeros meanwhile."""
    if tensor.dtype is not _dt.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max().item()) + 1
    from ..tensor import Tensor, arange
    checked = Tensor._make(tensor._be.wrap_index(tensor._data, num_classes, op="one_hot"), tensor.device)
    classes = arange(num_classes, device=tensor.device)
    return (checked.unsqueeze(-1) == classes).to(_dt.int64)


# ------------------------------------------------------------------------------------------------- pad
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims (``F.pad``): ``pad = (left, right, top, bottom, ...)`` starting
    from the last dim. ``mode``: 'constant' (``value``, default 0; negative pads crop), 'reflect',
    'replicate' or 'circular' (an index_select with host-built indices)."""
    pad = [int(p) for p in pad]
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.dim()}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        key = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pairs, input.shape))
        if any(lo < 0 or hi < 0 for lo, hi in pairs):
            input = input[key]
        pos = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
        if all(p == (0, 0) for p in pos):
            return input
        return _fn.PadFn.apply(input, pads=pos, value=0 if value is None else value)
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    out = input
    for d, (lo, hi) in enumerate(pairs):
        if lo == 0 and hi == 0:
            continue
        n = input.shape[d]
        if lo < 0 or hi < 0:
            raise RuntimeError(f"{mode} padding does not support negative padding, got {(lo, hi)}")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        idx = np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[mode])
        out = out.index_select(d, tensor(idx, device=input.device))
    return out


# ------------------------------------------------------------------------------------------------- conv / pool
def _batched_4d(input, what):
    if input.ndim == 3:
        return input.unsqueeze(0), True
    if input.ndim != 4:
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to {what}, but got input of size: "
                           f"{list(input.shape)}")
    return input, False


@autocast_op("conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (``F.conv2d``): input (N, C, H, W) or (C, H, W), weight (Cout, C/groups, kh, kw).
    ``padding`` an int, a pair, 'valid' or 'same' (stride 1; odd totals pad one more at the end, as PyTorch).
    Implicit-GEMM kernels on cuda."""
    x, unbatched = _batched_4d(input, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: weight must be 4-D, got {list(weight.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {x.shape[1]} "
                           f"channels instead")
    stride, dilation = _pair(stride), _pair(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            if any(t % 2 for t in totals):
                x = pad(x, [totals[1] // 2, totals[1] - totals[1] // 2, totals[0] // 2, totals[0] - totals[0] // 2])
                padding = (0, 0)
            else:
                padding = (totals[0] // 2, totals[1] // 2)
        else:
            raise RuntimeError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    out = _fn.Conv2dFn.apply(x, weight, bias, stride=stride, padding=_pair(padding), dilation=dilation,
                             groups=int(groups))
    return out.squeeze(0) if unbatched else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling (``F.max_pool2d``); ``return_indices`` also gives the int64 flat indices within each
    H*W plane. ``stride`` defaults to ``kernel_size``."""
    x, unbatched = _batched_4d(input, "max_pool2d")
    if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0):
        stride = kernel_size
    out, idx = _fn.MaxPool2dFn.apply(x, kernel_size=_pair(kernel_size), stride=_pair(stride),
                                     padding=_pair(padding), dilation=_pair(dilation), ceil_mode=bool(ceil_mode))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling (``F.avg_pool2d``)."""
    x, unbatched = _batched_4d(input, "avg_pool2d")
    if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0):
        stride = kernel_size
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    out = _fn.AvgPool2dFn.apply(x, kernel_size=_pair(kernel_size), stride=_pair(stride), padding=_pair(padding),
                                ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                                divisor_override=divisor_override)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling to ``output_size`` (``F.adaptive_avg_pool2d``; None entries keep the
    input size)."""
    x, unbatched = _batched_4d(input, "adaptive_avg_pool2d")
    size = output_size if output_size is None or isinstance(output_size, numbers.Integral) else tuple(output_size)
    out = _fn.AdaptiveAvgPool2dFn.apply(x, output_size=size)
    return out.squeeze(0) if unbatched else out


# ------------------------------------------------------------------------------------------------- losses
def _check_same_size_warn(input, target):
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size "
                      f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


@autocast_op("mse_loss")
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``(input - target)**2`` reduced (``F.mse_loss``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size_warn(input, target)
    return _apply_reduction((input - target).square(), reduction)


@autocast_op("l1_loss")
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``|input - target|`` reduced (``F.l1_loss``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size_warn(input, target)
    return _apply_reduction((input - target).abs(), reduction)


@autocast_op("smooth_l1_loss")
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d**2 / beta`` where ``d = |input - target| < beta``, else ``d - 0.5 beta`` (``F.smooth_l1_loss``);
    ``beta == 0`` is the L1 loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _check_same_size_warn(input, target)
    d = (input - target).abs()
    if beta == 0.0:
        return _apply_reduction(d, reduction)
    loss = (d.square() * (0.5 / beta)).where(d < beta, d - 0.5 * beta)
    return _apply_reduction(loss, reduction)


@autocast_op("huber_loss")
def huber_loss(input, target, reduction="mean", delta=1.0):
    """``0.5 d**2`` where ``d < delta``, else ``delta (d - 0.5 delta)`` (``F.huber_loss``)."""
    _check_same_size_warn(input, target)
    d = (input - target).abs()
    loss = (d.square() * 0.5).where(d < delta, (d - 0.5 * delta) * delta)
    return _apply_reduction(loss, reduction)


def _classes_last(input, target):
    """(N, C, d1, ...) logits -> (N*d1*..., C) and the class-index target -> (N*d1*...,); (C,) and 0-d target
    (unbatched) -> (1, C) and (1,)."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1) if target.ndim == 0 else target, True
    if input.ndim == 2:
        return input, target, False
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(*perm).reshape(-1, c), target.reshape(-1), False


def _check_class_target(input, target):
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(f"0D target tensor expected for 1D input, got {target.ndim}D")
        return
    if target.ndim != input.ndim - 1:
        raise RuntimeError(f"Expected target of {input.ndim - 1} dimensions for input of {input.ndim} dimensions, "
                           f"got target of shape {list(target.shape)}")
    if target.shape[0] != input.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    expected = [input.shape[0]] + list(input.shape[2:])
    if list(target.shape) != expected:
        raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")


def _check_weight(weight, c):
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")


@autocast_op("cross_entropy")
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits (``F.cross_entropy``): input (N, C), (N, C, d1, ...) or (C,); target class
    indices (N,) / (N, d1, ...) / () or class probabilities shaped like the input. ``weight`` (C,) per class,
    ``ignore_index`` (index targets), ``label_smoothing`` in [0, 1], ``reduction`` none/mean/sum (mean divides
    by the summed weight of the non-ignored targets; by the number of rows for probability targets). The fused
    kernel never stores the probabilities; N-d inputs move C last first."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 0:
        raise RuntimeError("cross_entropy: input must have at least 1 dimension (the classes)")
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    _check_weight(weight, c)
    if target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if target.dtype is not input.dtype:
            target = target.to(input.dtype)
        x2, t2, unbatched = _classes_last(input, target)
        if input.ndim >= 3:
            perm = (0,) + tuple(range(2, input.ndim)) + (1,)
            t2 = target.permute(*perm).reshape(-1, c)
        elif unbatched:
            t2 = target.unsqueeze(0)
        loss = _fn.CrossEntropyProbFn.apply(x2, t2, weight, label_smoothing=float(label_smoothing), reduction=reduction)
        out_shape = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim >= 2 else ()
    else:
        if target.dtype is _dt.bool:
            raise RuntimeError("expected scalar type Long but found Bool")
        _check_class_target(input, target)
        if target.dtype is not _dt.int64:
            target = target.to(_dt.int64)
        x2, t2, unbatched = _classes_last(input, target)
        loss = _fn.CrossEntropyFn.apply(x2, t2, weight, ignore_index=int(ignore_index),
                                        label_smoothing=float(label_smoothing), reduction=reduction)
        out_shape = tuple(target.shape)
    if reduction == "none":
        loss = loss.reshape(out_shape)
    return loss


@autocast_op("nll_loss")
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities (``F.nll_loss``): ``-weight[t] * input[t]`` per row, 0 where
    ``target == ignore_index``; 'mean' divides by the summed weight of the non-ignored targets."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input.ndim == 0:
        raise RuntimeError("nll_loss: input must have at least 1 dimension (the classes)")
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    _check_weight(weight, c)
    _check_class_target(input, target)
    if target.dtype is not _dt.int64:
        target = target.to(_dt.int64)
    x2, t2, _ = _classes_last(input, target)
    valid = t2 != ignore_index
    safe = t2.where(valid, 0)
    picked = x2.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype)
    if weight is not None:
        w = w * weight.to(input.dtype).index_select(0, safe)
    loss = -(picked * w)
    if reduction == "none":
        return loss.reshape(tuple(target.shape))
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


@autocast_op("binary_cross_entropy")
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-(t log(x) + (1 - t) log(1 - x))`` with each log clamped at -100, times ``weight``
    (``F.binary_cross_entropy``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input size "
                         f"({input.size()}) is deprecated. Please ensure they have the same size.")
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss, reduction)


@autocast_op("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in the stable form
    ``(1 - t) x - (1 + (pos_weight - 1) t) log(sigmoid(x))`` (``F.binary_cross_entropy_with_logits``);
    ``pos_weight`` broadcasts over the last (class) dim."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    log_sig = logsigmoid(input)
    if pos_weight is None:
        loss = (1 - target) * input - log_sig
    else:
        loss = (1 - target) * input - (1 + (pos_weight - 1) * target) * log_sig
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss, reduction)


@autocast_op("kl_div")
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with ``input`` log-probabilities (``F.kl_div``): pointwise
    ``target * (log(target) - input)`` (0 where target is 0), or ``exp(t) (t - input)`` with ``log_target``.
    'batchmean' divides the sum by the batch size (the true KL); 'mean' by the element count."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = target.where(target > 0, 1.0)
        loss = target * safe.log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim != 0 else loss.sum()
    return _apply_reduction(loss, reduction)


from ._functional_b import (conv1d, conv_transpose1d, conv_transpose2d, cosine_similarity, dropout1d,  # noqa: E402
                            dropout2d, dropout3d, group_norm, instance_norm, interpolate, normalize,
                            pairwise_distance, pixel_shuffle, pixel_unshuffle, upsample, upsample_bilinear,
                            upsample_nearest)
from ._functional_c import (avg_pool1d, celu, celu_, elu, elu_, glu, hardshrink, hardsigmoid, hardswish,  # noqa: E402
                            hardtanh, hardtanh_, max_pool1d, mish, prelu, relu6, selu, selu_, softmin, softshrink,
                            softsign, tanhshrink, threshold, threshold_)
from ._sampling import affine_grid, grid_sample  # noqa: E402,F401
from ._bags import embedding_bag  # noqa: E402,F401
from ._attention_f import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402,F401
