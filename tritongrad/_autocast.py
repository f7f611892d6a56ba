"""The machinery behind `tritongrad.autocast`: per-thread state, PyTorch's op policies, casting and its cache.

Autocast is a policy layer above the ops; kernels stay dtype-generic. A public op that PyTorch lists in one of
its autocast tables is decorated with `autocast_op` (``@autocast_op("linear")``). When autocast is enabled
for the device type of the op's first floating tensor, the decorator casts the op's floating tensor
arguments (never float64, never tensors on another device type) as the op's policy says, then runs the op
with autocast suppressed, as PyTorch runs the op it redispatches:

- ``lower``: to the autocast dtype (matmul-class ops: linear, matmul, mm, bmm, conv, attention, ...);
- ``fp32``: to float32 (precision-sensitive ops: softmax, norms, losses, exp, log, pow, sum, ...); the
  ``fp32_set_opt_dtype`` ops (softmax, log_softmax, sum, prod, cumsum) keep an explicit ``dtype=`` argument;
- ``promote``: to the widest floating dtype among the arguments (ops that do not promote by themselves).

Ops not listed for a device type run unchanged (on the dtypes they are given), as in PyTorch; a decorated
op stands for one of PyTorch's native ops, so the ops it is made of inside are never autocast on their own
(``Tensor.dot`` uses matmul inside, yet stays in float32 under cpu autocast, as ``torch.dot`` does). The tables
are PyTorch's (``aten/src/ATen/autocast_mode.h`` AT_FORALL_* lists for cuda; ``autocast_mode.cpp``
KERNEL_CPU registrations for cpu), restricted to the ops tritongrad has; ops added later register here
by name.

The cast cache: within an autocast region (outermost ``__exit__`` clears it), the ``lower`` cast of a
float32 leaf that requires grad (a weight) is made once and reused, as PyTorch's ``cached_cast``. It is
kept only while grad mode is on, so a cast made under ``no_grad`` (no graph edge) never serves a later
differentiable use.

State is per thread (``threading.local``), as PyTorch's: a new thread starts with autocast disabled, the
default dtypes (float16 for cuda, bfloat16 for cpu) and the cache enabled. ``_ACTIVE`` counts the threads
that have autocast enabled for some device type, so a decorated op costs one list lookup when none has.
(A thread that exits inside an enabled region leaves the count raised: ops elsewhere then take the
per-thread check, which is correct, only a little slower.)
"""
from __future__ import annotations

import functools
import threading

from . import dtypes as _dt

__all__ = ["autocast_op", "policy", "state", "LOWER", "FP32", "PROMOTE"]

LOWER, FP32, PROMOTE = "lower", "fp32", "promote"

# ----------------------------------------------------------------------------------------------- policies
# cuda: AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32, AT_FORALL_FP32_SET_OPT_DTYPE, AT_FORALL_PROMOTE
_CUDA = {
    LOWER: ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu",
            "addmm", "addmv", "addr", "matmul", "einsum", "mm", "mv", "linear", "addbmm", "baddbmm", "bmm",
            "chain_matmul", "linalg_multi_dot", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
            "scaled_dot_product_attention"),
    FP32: ("acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal",
           "rsqrt", "sinh", "tan", "pow", "softplus", "layer_norm", "rms_norm", "group_norm", "frobenius_norm",
           "nuclear_norm", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss", "nll_loss",
           "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss",
           "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
           "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm",
           "logsumexp", "interpolate",
           # fp32_set_opt_dtype
           "prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "norm",
           # composites of fp32 ops in PyTorch (log_softmax + nll_loss; linalg_vector_norm)
           "cross_entropy", "normalize"),
    PROMOTE: ("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sampler", "index_put",
              "tensordot", "scatter_add"),
}
# cpu: the KERNEL_CPU registrations of autocast_mode.cpp
_CPU = {
    LOWER: ("conv1d", "conv2d", "conv3d", "bmm", "mm", "linalg_vecdot", "baddbmm", "addmm", "addbmm", "linear",
            "matmul", "conv_tbc", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu",
            "scaled_dot_product_attention"),
    FP32: ("avg_pool3d", "binary_cross_entropy", "grid_sampler", "polar", "prod", "quantile", "nanquantile",
           "stft", "cdist", "trace", "view_as_complex", "cholesky", "cholesky_inverse", "cholesky_solve",
           "inverse", "lu_solve", "orgqr", "ormqr", "pinverse", "max_pool3d", "max_unpool2d", "max_unpool3d",
           "adaptive_avg_pool3d", "reflection_pad1d", "reflection_pad2d", "replication_pad1d",
           "replication_pad2d", "replication_pad3d", "mse_loss", "cosine_embedding_loss", "nll_loss",
           "hinge_embedding_loss", "poisson_nll_loss", "smooth_l1_loss", "cross_entropy", "l1_loss",
           "huber_loss", "margin_ranking_loss", "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss",
           "ctc_loss", "kl_div", "multilabel_margin_loss", "binary_cross_entropy_with_logits"),
    PROMOTE: ("stack", "cat", "index_copy"),
}
_OPT_DTYPE = frozenset(("prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum"))
"""fp32_set_opt_dtype ops: an explicit ``dtype=`` argument wins over the fp32 policy."""

POLICIES = {dev: {name: pol for pol, names in table.items() for name in names}
            for dev, table in (("cuda", _CUDA), ("cpu", _CPU))}
"""device type -> op name -> policy."""


def policy(device_type, name):
    """The autocast policy of op ``name`` on ``device_type`` ('lower', 'fp32', 'promote'), or None."""
    return POLICIES[device_type].get(name)


# ----------------------------------------------------------------------------------------------- state
class _State(threading.local):
    def __init__(self):
        self.enabled = {"cuda": False, "cpu": False}
        self.dtype = {"cuda": _dt.float16, "cpu": _dt.bfloat16}
        self.cache_enabled = True
        self.nesting = 0
        self.suppressed = 0     # >0 inside an autocast op: its inner ops are not autocast again
        self.cache = {}         # id(weight) -> (weight, cast)
        self.on = False         # enabled for some device type


state = _State()
_ACTIVE = [0]
_LOCK = threading.Lock()


def refresh(st=None):
    """Recompute whether this thread has autocast on, keeping the process-wide count of such threads."""
    st = st or state
    on = st.enabled["cuda"] or st.enabled["cpu"]
    if on != st.on:
        with _LOCK:
            _ACTIVE[0] += 1 if on else -1
        st.on = on


# ----------------------------------------------------------------------------------------------- casting
_TENSOR = []


def _tensor_class():
    if not _TENSOR:
        from .tensor import Tensor
        _TENSOR.append(Tensor)
    return _TENSOR[0]


def _eligible(x, Tensor, dev):
    return isinstance(x, Tensor) and x.device.type == dev and x.dtype.is_floating_point and x.dtype is not _dt.float64


def _first_device_type(args, kwargs, Tensor):
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            return a.device.type
        if isinstance(a, (list, tuple)):
            for x in a:
                if isinstance(x, Tensor):
                    return x.device.type
    return None


def _widest(args, kwargs, Tensor, dev):
    best = None
    for a in (*args, *kwargs.values()):
        for x in (a if isinstance(a, (list, tuple)) else (a,)):
            if _eligible(x, Tensor, dev):
                best = x.dtype if best is None else _dt.promote_types(best, x.dtype)
    return best


def _cast(x, dtype, dev, st, cacheable, Tensor):
    if isinstance(x, (list, tuple)):
        return type(x)(_cast(v, dtype, dev, st, cacheable, Tensor) for v in x)
    if not _eligible(x, Tensor, dev) or x.dtype is dtype:
        return x
    if cacheable and st.cache_enabled and x.dtype is _dt.float32 and x.requires_grad and x.grad_fn is None:
        from .autograd import is_grad_enabled
        if is_grad_enabled():
            hit = st.cache.get(id(x))
            if hit is not None and hit[0] is x:
                return hit[1]
            out = x.to(dtype)
            st.cache[id(x)] = (x, out)
            return out
    return x.to(dtype)


def _has_dtype(args, kwargs):
    """An explicit ``dtype`` among an op's arguments (positional or keyword)."""
    d = kwargs.get("dtype")
    return d is not None or any(isinstance(a, _dt.dtype) for a in args)


def _run(name, fn, args, kwargs, st):
    Tensor = _TENSOR[0] if _TENSOR else _tensor_class()
    dev = _first_device_type(args, kwargs, Tensor)
    pol = POLICIES[dev].get(name) if dev in POLICIES and st.enabled[dev] else None
    if pol is not None and not (name in _OPT_DTYPE and _has_dtype(args, kwargs)):
        if pol == LOWER:
            target = st.dtype[dev]
        elif pol == FP32:
            target = _dt.float32
        else:
            target = _widest(args, kwargs, Tensor, dev)
        if target is not None:
            lower = pol == LOWER
            args = tuple(_cast(a, target, dev, st, lower, Tensor) for a in args)
            kwargs = {k: _cast(v, target, dev, st, lower, Tensor) for k, v in kwargs.items()}
    st.suppressed += 1
    try:
        return fn(*args, **kwargs)
    finally:
        st.suppressed -= 1


def autocast_op(name):
    """Decorate the public op ``name`` so that it follows its autocast policy (see the module docstring)."""
    def decorate(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if _ACTIVE[0]:
                st = state
                if st.on and not st.suppressed:
                    return _run(name, fn, args, kwargs, st)
            return fn(*args, **kwargs)
        return op
    return decorate
