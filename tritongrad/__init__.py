"""tritongrad: a torch-free, GPU-first deep-learning framework under PyTorch's names.

``import tritongrad as torch`` runs PyTorch-style code: tensors on ``cpu`` compute with a NumPy reference
backend, tensors on ``cuda`` with hand-written Triton kernels on raw CUDA memory (or in Triton's interpreter
with ``TRITON_INTERPRET=1`` on machines without a GPU).
"""
from __future__ import annotations

from . import autograd, dtypes
from .autograd import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                       set_grad_enabled)
from .backends.numpy_runtime import get_num_threads, set_num_threads
from .device import device, get_default_device, set_default_device
from ._determinism import (are_deterministic_algorithms_enabled, is_deterministic_algorithms_warn_only_enabled,
                           use_deterministic_algorithms)
from .dtypes import (bfloat16, bool, double, float, float16, float32, float64, get_default_dtype, half, int, int8,
                     int16, int32, int64, long, promote_types, result_type, set_default_dtype, short, uint8)
from .dtypes import dtype
from .random import (Generator, bernoulli, get_rng_state, initial_seed, manual_seed, multinomial, normal, rand,
                     rand_like, randint, randint_like, randn, randn_like, randperm, seed, set_rng_state)
from .tensor import (Size, Tensor, arange, as_tensor, cat, concat, concatenate, empty, empty_like, eye, from_numpy,
                     full, full_like, linspace, matmul, ones, ones_like, stack, tensor, where, zeros, zeros_like)

__version__ = "0.1.0"

import math as _math  # noqa: E402

pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan   # torch.pi, torch.e, torch.inf, torch.nan

_matmul_precision = ["highest"]


def set_float32_matmul_precision(precision):
    """``torch.set_float32_matmul_precision``: 'highest' (exact fp32, the default), 'high' or 'medium'
    (tf32 tensor cores for float32 matmuls on cuda)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"Invalid precision {precision!r}: expected 'highest', 'high' or 'medium'")
    _matmul_precision[0] = precision


def get_float32_matmul_precision():
    """The current float32 matmul precision ('highest', 'high' or 'medium')."""
    return _matmul_precision[0]


def is_tensor(obj):
    """True for a tritongrad Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def numel(input):
    """Number of elements (``torch.numel``)."""
    return input.numel()


def is_floating_point(input):
    """True for floating dtypes (``torch.is_floating_point``)."""
    return input.is_floating_point()


def _method_alias(name, doc=None):
    def fn(input, *args, out=None, **kwargs):
        if "axis" in kwargs:    # NumPy's name, which PyTorch accepts as an alias of dim
            kwargs["dim"] = kwargs.pop("axis")
        if out is not None:
            from .ops_extra import write_out
            return write_out(name, out, getattr(input, name)(*args, **kwargs))
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or (f"``torch.{name}(input, ..., out=None)``: the same as ``Tensor.{name}``; with ``out=`` "
                         f"the result is written into ``out`` (`tritongrad.ops_extra.write_out`).")
    return fn


_ALIASES = (
    "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
    "floor", "ceil", "round", "trunc", "reciprocal", "square", "neg", "negative", "pow", "clamp", "clip",
    "maximum", "minimum", "atan2", "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "remainder", "fmod", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
    "logical_xor", "logical_not", "isnan", "isinf", "equal", "allclose", "sum", "nansum", "mean", "prod",
    "amax", "amin", "argmax", "argmin", "var", "std", "logsumexp", "norm", "all", "any", "count_nonzero",
    "cumsum", "softmax", "log_softmax", "reshape", "permute", "transpose", "swapaxes", "swapdims", "t",
    "unsqueeze", "squeeze", "flatten", "ravel", "unflatten", "narrow", "split", "chunk", "unbind", "select",
    "flip", "fliplr", "flipud", "roll", "tril", "triu", "mm", "bmm", "dot", "index_select", "gather",
    "scatter_add", "masked_fill", "nonzero", "argwhere", "clone", "detach", "lerp", "max", "min",
    "broadcast_to", "exp_", "log_", "sqrt_", "rsqrt_", "sigmoid_", "tanh_", "relu_", "abs_", "neg_", "floor_",
    "ceil_", "round_", "trunc_", "reciprocal_", "square_",
)
for _n in _ALIASES:
    globals()[_n] = _method_alias(_n)
del _n


def var_mean(input, dim=None, *, correction=1, keepdim=False):
    """``(var, mean)`` over ``dim`` (``torch.var_mean``)."""
    return input.var(dim, keepdim=keepdim, correction=correction), input.mean(dim, keepdim)


def std_mean(input, dim=None, *, correction=1, keepdim=False):
    """``(std, mean)`` over ``dim`` (``torch.std_mean``)."""
    return input.std(dim, keepdim=keepdim, correction=correction), input.mean(dim, keepdim)


def broadcast_tensors(*tensors):
    """Expand tensors to their common broadcast shape (``torch.broadcast_tensors``)."""
    from ._strides import broadcast_shapes as _bs
    shape = _bs(*[t.shape for t in tensors])
    return tuple(t.expand(shape) for t in tensors)


def broadcast_shapes(*shapes):
    """The broadcast of shapes (``torch.broadcast_shapes``)."""
    from ._strides import broadcast_shapes as _bs
    try:
        return Size(_bs(*[tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: {list(shapes)}") from None


from . import amp, cpu, cuda, nn, optim, testing, utils  # noqa: E402  (tritongrad.cuda: the runtime face)
from .amp.autocast_mode import (autocast, autocast_decrement_nesting, autocast_increment_nesting,  # noqa: E402
                                clear_autocast_cache, get_autocast_cpu_dtype, get_autocast_dtype,
                                get_autocast_gpu_dtype, is_autocast_cache_enabled, is_autocast_cpu_enabled,
                                is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype,
                                set_autocast_enabled)
from .serialization import load, safe_open, save  # noqa: E402
from .ops_extra import (addcdiv, addcmul, addmm, argsort, baddbmm, bucketize, cdist, diag, diag_embed,  # noqa: E402
                        diagonal, einsum, float_power, index_add, isclose, kron, masked_select, msort, nan_to_num,
                        outer, repeat_interleave, scatter, searchsorted, sort, topk, tril_indices, triu_indices)
from .ops_extra import (cosh, cumprod, exp2, isfinite, isneginf, isposinf, log2, log10, moveaxis, movedim,  # noqa: E402
                        sinh, tan, tile, unique)
from .ops_extra import outer as ger  # noqa: E402
from . import accelerator, backends, distributions, hub, xpu  # noqa: E402
from ._compile import compile  # noqa: E402
from ._dlpack import from_dlpack  # noqa: E402
from ._typed_tensors import TYPED as _TYPED  # noqa: E402
from .tensor import set_printoptions  # noqa: E402

globals().update(_TYPED)   # torch.FloatTensor, torch.LongTensor, ... (legacy typed-tensor constructors)
from .ops_extra import install_numpy_keyword_aliases as _np_aliases  # noqa: E402
_np_aliases(globals())   # every torch.<fn> taking dim=/keepdim= also takes axis=/keepdims=
del _np_aliases
