"""`Optimizer`: PyTorch's optimizer base class (``torch.optim.Optimizer``) over tritongrad tensors.

Structure as in PyTorch: ``param_groups`` (a list of dicts: ``'params'`` plus every hyperparameter),
``defaults``, ``add_param_group``, ``state`` (a dict per parameter, created lazily on the first step that
parameter has a gradient), ``zero_grad(set_to_none=True)``, ``step(closure=None)``, and ``state_dict()`` /
``load_state_dict()`` in PyTorch's layout::

    {'state': {0: {'step': tensor(3.), 'exp_avg': tensor(...), ...}, ...},
     'param_groups': [{'lr': 0.001, 'betas': (0.9, 0.999), ..., 'params': [0, 1, 2]}]}

With `tritongrad.amp.GradScaler`, ``scaler.step(optimizer)`` runs the step with the device-side ``found_inf``
flag of the unscaled gradients: the backend skips the whole update (step counters included) when it is
set, on the device, so the step needs no host synchronization.

How a step runs. Each optimizer names a backend method (``adam_step``, ...) and its state buffers. For each
param group the parameters that have a gradient are bucketed by (device, dtype), in parameter order; each
bucket is one call into the backend of its device: on ``cpu`` the NumPy per-tensor reference, on ``cuda``
one fused multi-tensor Triton launch (``fused=None`` or ``True``; ``fused=False`` launches the same kernel
once per tensor). ``foreach`` is accepted for compatibility and has no effect.

State. Buffers are tritongrad Tensors on the parameter's device, float32 for float16/bfloat16/float32
parameters (float64 for float64 ones on cpu); ``state[p]['step']`` is a 0-d float32 tensor on the
parameter's device (PyTorch's ``capturable``/``fused`` layout), incremented on the device. Unlike PyTorch
(which keeps half-precision state for half-precision parameters outside ``fused``), state is always fp32.

Deliberate differences: a learning rate given as a Tensor, sparse gradients, ``differentiable=True`` and
step/state hooks are not supported.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from itertools import chain

import numpy as np

from .. import autograd
from ..backends import backend_for
from ..backends.numpy_optim import state_dtype
from ..device import device
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyperparameter without a default (``torch.optim.optimizer.required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _check_scalar(name, value, ok, what=None):
    """Raise ValueError naming the hyperparameter and its value unless ``ok``."""
    if isinstance(value, Tensor):
        raise TypeError(f"{name} given as a Tensor is not supported; pass a Python number")
    if not ok:
        raise ValueError(f"Invalid {what or name}: {value}")


def _check_adam_like(lr, betas, eps, weight_decay):
    """The hyperparameter checks shared by Adam, AdamW, Adamax, NAdam and RAdam (PyTorch's messages)."""
    _check_scalar("lr", lr, lr >= 0.0, "learning rate")
    _check_scalar("eps", eps, eps >= 0.0, "epsilon value")
    _check_scalar("betas[0]", betas[0], 0.0 <= betas[0] < 1.0, "beta parameter at index 0")
    _check_scalar("betas[1]", betas[1], 0.0 <= betas[1] < 1.0, "beta parameter at index 1")
    _check_scalar("weight_decay", weight_decay, weight_decay >= 0.0, "weight_decay value")


def _device_key(dev):
    return (dev.type, 0 if dev.index is None else dev.index)


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``).

    Subclasses set ``_method`` (the backend method), ``_state_keys`` (their buffers, in the method's
    positional order), ``_has_step``, and define ``_hyper(group)`` (the method's keyword arguments) and
    ``_init_state(p, state, group)``.
    """

    _method = None
    _found_inf = None  # {device key: 0-d fp32 tensor} set by amp.GradScaler.step: nonzero skips the step
    _state_keys = ()
    _has_step = True
    _created_by_backend = ()  # state buffers the backend creates itself (SGD's momentum buffer)
    _scalar_state_keys = ("step",)  # 0-d float32 state on the parameter's device (NAdam adds mu_product)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._caches = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (missing ones from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating-point Tensors, got {p.dtype}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._caches = {}

    # ------------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: drop it (``set_to_none=True``, the default) or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    # ------------------------------------------------------------------ the step
    def step(self, closure=None):
        """One optimization step over every param group; ``closure`` (re-evaluating the model and returning
        the loss) is called with gradients enabled first, and its loss returned."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        with autograd.no_grad():
            for gi, group in enumerate(self.param_groups):
                for key, params in self._buckets(group).items():
                    self._update(gi, key, group, params)
        return loss

    @staticmethod
    def _buckets(group):
        """Parameters with a gradient, by (device, dtype), in parameter order."""
        buckets = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.shape != p.shape or p.grad.dtype is not p.dtype or p.grad.device != p.device:
                raise RuntimeError(f"the gradient of a parameter of shape {tuple(p.shape)}, {p.dtype} on "
                                   f"{p.device} is of shape {tuple(p.grad.shape)}, {p.grad.dtype} on {p.grad.device}")
            buckets.setdefault((_device_key(p.device), p.dtype.name), []).append(p)
        return buckets

    def _update(self, gi, key, group, params):
        dev = params[0].device
        be = backend_for(dev)
        states = [self.state[p] for p in params]
        for p, st in zip(params, states):
            if not st:
                self._init_state(p, st, group)
        grads = [(p.grad if p.grad.is_contiguous() else p.grad.contiguous())._data for p in params]
        lists = [[st[k]._data if st.get(k) is not None else None for st in states] for k in self._state_keys]
        if self._has_step:
            lists.append([st["step"]._data for st in states])
        method = getattr(be, self._method)
        hyper = self._hyper(group)
        found_inf = self._found_inf.get(_device_key(dev)) if self._found_inf else None
        if found_inf is not None:
            hyper["found_inf"] = found_inf._data
        if dev.type == "cuda" and group.get("fused") is False:
            for i, p in enumerate(params):
                one = [[lst[i]] for lst in lists]
                method([p._data], [grads[i]], *one, **hyper)
                for lst, o in zip(lists, one):
                    lst[i] = o[0]
        else:
            method([p._data for p in params], grads, *lists, **hyper, cache=self._caches.setdefault((gi,) + key, {}))
        for k, lst in zip(self._state_keys, lists):
            if k in self._created_by_backend:
                for st, arr in zip(states, lst):
                    if arr is not None and st.get(k) is None:
                        st[k] = Tensor._make(arr, dev)
        for p in params:
            p._version[0] += 1

    # ------------------------------------------------------------------ state helpers
    @staticmethod
    def _zeros_state(p, fill=0.0):
        """A new state buffer shaped like ``p`` on its device (fp32, float64 for float64 parameters)."""
        be = backend_for(p.device)
        return Tensor._make(be.full(tuple(p.shape), fill, state_dtype(p.dtype.np), _device_key(p.device)[1]),
                            p.device)

    @staticmethod
    def _step_state(p, value=0.0):
        """A 0-d float32 step counter on ``p``'s device."""
        be = backend_for(p.device)
        return Tensor._make(be.full((), value, np.float32, _device_key(p.device)[1]), p.device)

    def _init_state(self, p, state, group):
        raise NotImplementedError

    def _hyper(self, group):
        raise NotImplementedError

    # ------------------------------------------------------------------ (de)serialization
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}`` (PyTorch's layout);
        state values are the live state tensors, as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        params = {id(p): p for g in self.param_groups for p in g["params"]}
        state = {index[id(p)]: v for p, v in self.state.items() if id(p) in params}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a `state_dict` (from this class or PyTorch's): hyperparameters replace the groups' values,
        state tensors are copied to each parameter's device and state dtype."""
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            state[p] = {key: self._load_value(p, key, value) for key, value in v.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
        self.param_groups[:] = saved_groups
        self.state = state
        self._caches = {}

    def _load_value(self, p, key, value):
        """A copy of a saved state value for parameter ``p``: steps (and other scalar state) as 0-d float32
        device tensors, buffers in the parameter's state dtype on its device; anything else as is."""
        if key in self._scalar_state_keys:
            return Optimizer._step_state(p, float(value.item() if isinstance(value, Tensor) else np.asarray(value)))
        if isinstance(value, np.ndarray):
            value = Tensor._make(value, device("cpu"))
        if not isinstance(value, Tensor):
            return copy.deepcopy(value)
        if tuple(value.shape) != tuple(p.shape):
            raise ValueError(f"state '{key}' has shape {tuple(value.shape)}, its parameter {tuple(p.shape)}")
        src = value.to(p.device)
        be = backend_for(p.device)
        data = src._data if src.is_contiguous() else src.contiguous()._data
        return Tensor._make(be.cast(data, state_dtype(p.dtype.np)), p.device)
