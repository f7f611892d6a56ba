"""`autocast` (``torch.autocast`` / ``torch.amp.autocast``) and the functions that read and set its
per-thread state (``torch.is_autocast_enabled``, ``get_autocast_dtype``, ...). The op policies and the cast
cache live in `tritongrad._autocast`."""
from __future__ import annotations

import functools
import warnings

from .. import _autocast
from .. import dtypes as _dt

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "set_autocast_enabled",
           "get_autocast_dtype", "set_autocast_dtype", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
           "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting",
           "is_autocast_cpu_enabled", "get_autocast_cpu_dtype", "get_autocast_gpu_dtype", "custom_fwd",
           "custom_bwd"]

_DEVICE_TYPES = ("cuda", "cpu")
_SUPPORTED = {"cuda": (_dt.float16, _dt.bfloat16), "cpu": (_dt.bfloat16, _dt.float16)}


def _device_type(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    dev = device_type.split(":")[0]
    if dev not in _DEVICE_TYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'; tritongrad "
                           f"supports {list(_DEVICE_TYPES)}")
    return dev


def is_autocast_available(device_type):
    """True for the device types autocast supports: 'cuda' and 'cpu' (``torch.amp.is_autocast_available``)."""
    return isinstance(device_type, str) and device_type.split(":")[0] in _DEVICE_TYPES


def is_autocast_enabled(device_type=None):
    """Whether autocast is enabled in this thread for ``device_type`` ('cuda' when omitted, as PyTorch's
    legacy form) (``torch.is_autocast_enabled``)."""
    return _autocast.state.enabled[_device_type(device_type or "cuda")]


def set_autocast_enabled(device_type, enabled=None):
    """Enable or disable autocast for ``device_type`` in this thread (``torch.set_autocast_enabled``; the
    one-argument legacy form ``set_autocast_enabled(enabled)`` sets cuda)."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    _autocast.state.enabled[_device_type(device_type)] = bool(enabled)
    _autocast.refresh()


def get_autocast_dtype(device_type):
    """The dtype autocast lowers to on ``device_type`` in this thread (``torch.get_autocast_dtype``):
    float16 for cuda and bfloat16 for cpu unless set."""
    return _autocast.state.dtype[_device_type(device_type)]


def set_autocast_dtype(device_type, dtype):
    """Set the dtype autocast lowers to on ``device_type`` in this thread (``torch.set_autocast_dtype``)."""
    _autocast.state.dtype[_device_type(device_type)] = _dt.as_dtype(dtype)


def is_autocast_cpu_enabled():
    """``torch.is_autocast_cpu_enabled`` (deprecated in PyTorch): ``is_autocast_enabled('cpu')``."""
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype():
    """``torch.get_autocast_cpu_dtype`` (deprecated in PyTorch): ``get_autocast_dtype('cpu')``."""
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    """``torch.get_autocast_gpu_dtype`` (deprecated in PyTorch): ``get_autocast_dtype('cuda')``."""
    return get_autocast_dtype("cuda")


def is_autocast_cache_enabled():
    """Whether autocast caches the casts of weights in this thread (``torch.is_autocast_cache_enabled``)."""
    return _autocast.state.cache_enabled


def set_autocast_cache_enabled(enabled):
    """``torch.set_autocast_cache_enabled``."""
    _autocast.state.cache_enabled = bool(enabled)


def clear_autocast_cache():
    """Drop this thread's cached weight casts (``torch.clear_autocast_cache``)."""
    _autocast.state.cache.clear()


def autocast_increment_nesting():
    """``torch.autocast_increment_nesting``: one level deeper; returns the new depth."""
    _autocast.state.nesting += 1
    return _autocast.state.nesting


def autocast_decrement_nesting():
    """``torch.autocast_decrement_nesting``: one level up; returns the new depth (0: outside every region)."""
    _autocast.state.nesting -= 1
    return _autocast.state.nesting


class autocast:
    """``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context manager or
    decorator inside which the ops PyTorch lists run in a lower precision (matmul, linear, conv, attention:
    ``dtype``, float16 on cuda and bfloat16 on cpu by default) or in float32 (softmax, norms, losses, exp,
    log, pow, sum, ...), and the rest in the dtypes they are given. Only tensors on ``device_type`` are
    cast. Nestable (an inner ``autocast(..., enabled=False)`` turns it off for a region), per thread. Casts of
    float32 weights are cached until the outermost region exits (``cache_enabled``).

    Backward needs no autocast: gradients flow back through the casts in the dtypes forward used.
    Unsupported dtypes warn and disable autocast, as in PyTorch (cuda: float16, bfloat16; cpu: bfloat16,
    float16).
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = _device_type(device_type)
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else _dt.as_dtype(dtype)
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled and self.fast_dtype not in _SUPPORTED[self.device]:
            names = ", ".join(f"torch.{d.name}" for d in _SUPPORTED[self.device])
            warnings.warn(f"In {self.device.upper() if self.device == 'cpu' else 'CUDA'} autocast, but the target "
                          f"dtype {self.fast_dtype} is not supported. Disabling autocast.\n"
                          f"{self.device.upper()} Autocast only supports dtypes of {names} currently.", stacklevel=2)
            enabled = False
        if enabled and self.device == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling",
                              stacklevel=2)
                enabled = False
            elif self.fast_dtype is _dt.bfloat16 and not cuda.is_bf16_supported():
                raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype to float16.")
        self._enabled = enabled

    def __enter__(self):
        st = _autocast.state
        self._prev = (st.enabled[self.device], st.dtype[self.device], st.cache_enabled)
        st.enabled[self.device] = self._enabled
        st.dtype[self.device] = self.fast_dtype
        st.cache_enabled = self._cache_enabled
        st.nesting += 1
        _autocast.refresh(st)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        st = _autocast.state
        st.nesting -= 1
        if st.nesting == 0:
            st.cache.clear()
        st.enabled[self.device], st.dtype[self.device], st.cache_enabled = self._prev
        _autocast.refresh(st)
        return False

    def __call__(self, func):
        """Use as a decorator: ``func`` runs inside a fresh region with these settings on every call."""
        device, dtype, enabled, cache = self.device, self.fast_dtype, self._enabled, self._cache_enabled

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with autocast(device, dtype=dtype, enabled=enabled, cache_enabled=cache):
                return func(*args, **kwargs)
        return decorate_autocast


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """``torch.amp.custom_fwd``: decorate a custom Function's ``forward``. With ``cast_inputs`` (a dtype) and
    autocast enabled for ``device_type``, forward runs with autocast disabled and its floating tensor
    arguments on that device type cast to ``cast_inputs``; without it, forward runs in the surrounding
    autocast state, which `custom_bwd` then restores for backward."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    dev = _device_type(device_type)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._fwd_used_autocast = is_autocast_enabled(dev)
        ctx._dtype = get_autocast_dtype(dev)
        if cast_inputs is None or not ctx._fwd_used_autocast:
            return fwd(*args, **kwargs)
        Tensor = _autocast._tensor_class()
        target = _dt.as_dtype(cast_inputs)
        st = _autocast.state
        args = tuple(_autocast._cast(a, target, dev, st, False, Tensor) for a in args)
        kwargs = {k: _autocast._cast(v, target, dev, st, False, Tensor) for k, v in kwargs.items()}
        with autocast(dev, enabled=False):
            return fwd(*args, **kwargs)
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """``torch.amp.custom_bwd``: decorate a custom Function's ``backward`` so that it runs in the autocast
    state its forward ran in (recorded by `custom_fwd`)."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    dev = _device_type(device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(dev, enabled=getattr(ctx, "_fwd_used_autocast", False),
                      dtype=getattr(ctx, "_dtype", None)):
            return bwd(*args, **kwargs)
    return decorate_bwd
