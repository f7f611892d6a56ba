"""``tritongrad.nn.utils``: gradient clipping, parameter/vector conversion and (``rnn``) packed sequences
(``torch.nn.utils``).

``clip_grad_norm_`` on cuda computes the total norm in ONE pass over all gradients (one multi-tensor launch
per dtype, ``kernels/clip.py``), finishes it with one reduction, and rescales every gradient in one more
launch by ``clamp(max_norm / (total + 1e-6), max=1)`` read on the device: no host synchronization. On cpu
it is PyTorch's reference algorithm (per-gradient norms, then the norm of the norms) on the NumPy backend.
Both accumulate in fp32 for float16/bfloat16 gradients (PyTorch rounds each gradient's norm to the gradient's
dtype) and return an fp32 total norm (fp64 for fp64 gradients).
"""
from __future__ import annotations

import math

from ... import autograd
from ... import dtypes as _dt
from ...tensor import Tensor, cat, stack, tensor
from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "get_total_norm", "clip_grads_with_norm_", "rnn"]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _groups(grads):
    """Gradients by (device, dtype), in order."""
    groups = {}
    for g in grads:
        groups.setdefault((str(g.device), g.dtype.name), []).append(g)
    return list(groups.values())


def _contiguous_data(g):
    if not g.is_contiguous():
        raise RuntimeError(f"clip_grad_norm_: gradient of shape {list(g.shape)} is not contiguous")
    return g._data


def _group_power_sum(group, p):
    """The un-rooted ``p``-norm of one (device, dtype) group as a 0-d tensor (sum of |g|^p, or max |g|)."""
    g0 = group[0]
    if g0.device.type == "cuda":
        from ...kernels import clip
        partials = Tensor._make(clip.grad_norm_partials([_contiguous_data(g) for g in group], p), g0.device)
        return partials.amax() if math.isinf(p) else partials.sum()
    acc = _dt.float64 if g0.dtype is _dt.float64 else _dt.float32   # fp32 accumulation, like the cuda kernel
    norms = stack([g.detach().to(acc).norm(p) for g in group])
    return norms.amax() if math.isinf(p) else (norms ** p).sum()


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated (``torch.nn.utils.get_total_norm``);
    a 0-d tensor on the first tensor's device, float32 (float64 for float64 tensors)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    first = tensors[0].device
    with autograd.no_grad():
        parts = [_group_power_sum(grp, norm_type).to(first) for grp in _groups(tensors)]
        dt = _dt.float64 if any(p.dtype is _dt.float64 for p in parts) else _dt.float32
        parts = [p.to(dt) for p in parts]
        if math.isinf(norm_type):
            total = stack(parts).amax() if len(parts) > 1 else parts[0]
        else:
            acc = stack(parts).sum() if len(parts) > 1 else parts[0]
            total = acc.sqrt() if norm_type == 2.0 else acc if norm_type == 1.0 else acc ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` by ``clamp(max_norm / (total_norm + 1e-6), max=1)`` in place
    (``torch.nn.utils.clip_grads_with_norm_``); the factor stays on the device."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    with autograd.no_grad():
        coef = (max_norm / (total_norm.float() + 1e-6)).clamp(max=1.0)
        for group in _groups(grads):
            dev = group[0].device
            c = coef.to(dev)
            if dev.type == "cuda":
                from ...kernels import clip
                clip.grad_scale_([_contiguous_data(g) for g in group], c.contiguous()._data)
                for g in group:
                    g._version[0] += 1
            else:
                for g in group:
                    g.mul_(c.to(g.dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of ``parameters`` in place so that their total ``norm_type``-norm is at most
    ``max_norm`` (``torch.nn.utils.clip_grad_norm_``); returns the total norm before clipping (a 0-d tensor,
    float32, float64 for float64 gradients). ``foreach`` is accepted and ignored: cuda always uses the fused
    multi-tensor kernels."""
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(params, float(max_norm), total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to [-clip_value, clip_value] in place (``torch.nn.utils.clip_grad_value_``)."""
    clip_value = float(clip_value)
    with autograd.no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def _check_param_device(param, old_param_device):
    if old_param_device is None:
        return param.device
    if param.device != old_param_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return old_param_device


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (``torch.nn.utils.parameters_to_vector``)."""
    param_device = None
    vec = []
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        vec.append(param.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Set the parameters' data from slices of the 1-D ``vec`` (``torch.nn.utils.vector_to_parameters``):
    each parameter's ``data`` becomes a view of ``vec``, as in PyTorch."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    param_device = None
    pointer = 0
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
