"""`Tensor`: PyTorch's tensor API over a backend array, with autograd.

A Tensor holds a backend array (``_data``: an ``np.ndarray`` on cpu, a `DeviceArray` on cuda), its
``device`` and ``dtype``, and autograd state (``requires_grad``, ``grad``, ``grad_fn``). Every computing
method is a one-liner over an `autograd.Op` in ``functions.py``.

This file holds the class with its state, attributes, conversions, device and dtype moves, autograd hooks and
the methods that call `tritongrad.ops_extra`; the other methods come from the mixins of the modules beside
it: `_math` (elementwise math, comparisons, reductions), `_shape` (views and shape ops), `_indexing`,
`_inplace` (in-place ops, version counters), `_printing` (repr).
"""
from __future__ import annotations

import math

import numpy as np

from .. import autograd
from .. import dtypes as _dt
from .. import functions as F
from .._dlpack import DLPackMixin
from .._kernel_args import KernelArgMixin
from ..device import as_device, device as _device
from ._helpers import _TYPE_NAMES, Size, _backend, _norm_dim, _np_to_dt, _pybool, _pyfloat, _pyint
from ._indexing import _IndexingMixin
from ._inplace import _InplaceMixin
from ._math import _MathMixin
from ._printing import _PrintMixin
from ._shape import _ShapeMixin


class Tensor(_MathMixin, _ShapeMixin, _IndexingMixin, _InplaceMixin, _PrintMixin, KernelArgMixin, DLPackMixin):
    """A multi-dimensional array with autograd (``torch.Tensor``).

    ``Tensor(data)`` builds a float32 tensor from a list (as ``torch.Tensor(list)``); ``Tensor(2, 3)`` an
    uninitialised one of that shape. Prefer `tritongrad.tensor`.
    """

    __array_priority__ = 1000

    # autograd state and the device index: class-level defaults, so `_make` sets only what differs
    _dev_index = 0
    requires_grad = False
    grad = None
    grad_fn = None
    _out_idx = 0
    _hooks = None
    _post_acc_hooks = None
    _retains_grad = False
    _base = None
    _view_ops = ()

    def __init__(self, *args, device=None, dtype=None):
        if len(args) == 1 and not isinstance(args[0], (_pyint, np.integer)):
            t = tensor(args[0], dtype=dtype or _dt.get_default_dtype(), device=device)
        else:
            t = empty(*args, dtype=dtype, device=device)
        self._init(t._data, t.device)

    def _init(self, data, dev):
        self._data = data
        self._be = _backend(dev)
        self.device = dev
        self._dev_index = 0 if dev.index is None else dev.index
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        self._version = [0]
        self._hooks = None
        self._retains_grad = False
        self._base = None
        self._view_ops = ()

    @classmethod
    def _make(cls, data, dev, be=None):
        """Wrap the backend array ``data`` on ``dev`` without copying (``be``: its backend, when known)."""
        t = object.__new__(cls)
        t._data = data
        t._be = be if be is not None else _backend(dev)
        t.device = dev
        if dev.index:
            t._dev_index = dev.index
        t._version = [0]
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def dtype(self):
        return _np_to_dt[self._data.dtype]

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        """The shape, or one dimension's size (``Tensor.size``)."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_norm_dim(dim, self.ndim)]

    def dim(self):
        return len(self._data.shape)

    @property
    def ndim(self):
        return len(self._data.shape)

    def ndimension(self):
        return self.ndim

    def numel(self):
        return math.prod(self._data.shape)

    def nelement(self):
        return self.numel()

    def element_size(self):
        return self._data.dtype.itemsize

    def stride(self, dim=None):
        """Strides in elements (``Tensor.stride``)."""
        it = self._data.dtype.itemsize
        st = tuple(s // it for s in self._data.strides)
        return st if dim is None else st[_norm_dim(dim, self.ndim)]

    def is_contiguous(self, memory_format=None):
        """True when the elements are in C order without gaps (``Tensor.is_contiguous``)."""
        a = self._data
        if isinstance(a, np.ndarray):
            return a.flags.c_contiguous or self.numel() <= 1
        return a.is_contiguous()

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def get_device(self):
        return -1 if self.device.type == "cpu" else self._dev_index

    def type_name(self):
        base = _TYPE_NAMES[self.dtype.name] + "Tensor"
        return f"tritongrad.cuda.{base}" if self.is_cuda else f"tritongrad.{base}"

    def type(self, dtype=None):
        """The type name (``Tensor.type()``), or a cast when ``dtype`` is given: a dtype, a typed-tensor
        class (``torch.LongTensor``, ``torch.cuda.FloatTensor``) or its name ('torch.LongTensor')."""
        if dtype is None:
            return self.type_name()
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            from .._typed_tensors import TYPED, cuda_types
            table = cuda_types if ".cuda." in dtype else TYPED
            name = dtype.rsplit(".", 1)[-1]
            if name not in table:
                raise ValueError(f"invalid type: {dtype!r}")
            dtype = table[name]
        if hasattr(dtype, "device_type") and hasattr(dtype, "dtype"):
            return self.to(dtype.device_type if dtype.device_type != self.device.type else self.device, dtype.dtype)
        return self.to(dtype)

    @property
    def data(self):
        """This tensor's data, detached, with a version counter of its own (PyTorch's ``.data``): unlike
        `detach`, changing it in place is invisible to autograd's saved-tensor checks."""
        t = Tensor._make(self._data, self.device)
        t._version = [0]
        return t

    @data.setter
    def data(self, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(other).__name__}")
        self._data = other._data
        self.device = other.device
        self._be = other._be
        self._dev_index = other._dev_index

    @property
    def T(self):
        if self.ndim > 2:
            raise RuntimeError("The use of `x.T` on tensors of dimension other than 2 to reverse their shape "
                               "is not supported; use x.mT or x.permute(...)")
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def itemsize(self):
        return self._data.dtype.itemsize

    @property
    def nbytes(self):
        return self.numel() * self.itemsize

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """The values as a NumPy array sharing memory on cpu (``Tensor.numpy``)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to "
                                f"copy the tensor to host memory first.")
            return self._be.to_numpy(self._data)
        return self._data

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:      # as PyTorch's __array__, which calls numpy()
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        a = self.cpu()._data
        return a if dtype is None else a.astype(dtype)

    def tolist(self):
        """The values as (nested) Python numbers (``Tensor.tolist``)."""
        return self._be.to_numpy(self._data).tolist()

    def item(self):
        """The single value as a Python number (``Tensor.item``); synchronizes on cuda."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._be.to_numpy(self._data).reshape(()).item()

    def __float__(self):
        return _pyfloat(self.item())

    def __int__(self):
        return _pyint(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return _pybool(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return _pyint(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, proto):
        return (_rebuild, (self.detach().cpu().numpy().copy(), str(self.device), self.requires_grad))

    # ------------------------------------------------------------------ devices and dtypes
    def to(self, *args, **kwargs):
        """``Tensor.to(device)``, ``.to(dtype)``, ``.to(device, dtype)``, ``.to(other)``; returns self when
        nothing changes (``copy=True`` forces a copy)."""
        dev, dt = None, None
        non_blocking = kwargs.pop("non_blocking", False)
        copy = kwargs.pop("copy", False)
        for a in args + tuple(kwargs.values()):
            if a is None:
                continue
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, _dt.dtype) or (isinstance(a, type) and a in (_pyfloat, _pyint, _pybool)):
                dt = _dt.as_dtype(a)
            elif isinstance(a, (str, _device, _pyint)):
                dev = as_device(a)
            elif isinstance(a, np.dtype):
                dt = _dt.as_dtype(a)
            else:
                raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
        out = self
        if dev is not None and dev != self.device:
            out = _ToDevice.apply(out, dst=dev, non_blocking=non_blocking)
        if dt is not None and dt is not out.dtype:
            out = F.Cast.apply(out, dtype=dt.np)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        """A copy on the cpu (self when already there)."""
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        """A copy on a cuda device (self when already there)."""
        return self.to(as_device("cuda" if device is None else device), non_blocking=non_blocking)

    def float(self):
        return self.to(_dt.float32)

    def half(self):
        return self.to(_dt.float16)

    def bfloat16(self):
        return self.to(_dt.bfloat16)

    def double(self):
        return self.to(_dt.float64)

    def long(self):
        return self.to(_dt.int64)

    def int(self):
        return self.to(_dt.int32)

    def bool(self):
        return self.to(_dt.bool)

    def byte(self):
        return self.to(_dt.uint8)

    def type_as(self, other):
        """``Tensor.type_as(other)``: this tensor as ``other``'s type, i.e. ``other``'s dtype and, as PyTorch's
        ``self.type(other.type())``, its device type (a cpu tensor goes to ``other``'s cuda device and back)."""
        if other.device.type != self.device.type:
            return self.to(other.device, other.dtype)
        return self.to(other.dtype)

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor w.r.t. the graph leaves into their ``.grad``
        (``Tensor.backward``)."""
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self):
        """A tensor sharing this one's data, cut from the graph (shares the version counter)."""
        t = Tensor._make(self._data, self.device)
        t._version = self._version
        return t

    def detach_(self):
        """Cut this tensor from the graph in place."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only; floating dtypes only)."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient during backward; a returned tensor replaces it.
        Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = {}
        key = object()
        self._hooks[key] = hook
        return _HookHandle(self._hooks, key)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after this leaf's gradient has been accumulated into ``.grad`` during
        backward (``Tensor.register_post_accumulate_grad_hook``, PyTorch 2.1+): the hook reads ``tensor.grad``
        and returns None. It fires as soon as every op that feeds this leaf has run its backward, so work it
        starts (a gradient all-reduce) overlaps the rest of the backward. Not called by `autograd.grad`.
        Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        from ..autograd import POST_ACCUMULATE_HOOKS
        if self._post_acc_hooks is None:
            self._post_acc_hooks = {}
        key = object()
        self._post_acc_hooks[key] = hook
        POST_ACCUMULATE_HOOKS[0] += 1
        return _HookHandle(self._post_acc_hooks, key, POST_ACCUMULATE_HOOKS)

    def pin_memory(self, device=None):
        """This cpu tensor copied into page-locked host memory (``Tensor.pin_memory``): host-to-device
        copies from it are true DMA and can be asynchronous (``to('cuda', non_blocking=True)``). Returns
        self when already pinned; records the copy for autograd (its gradient passes through). Without a
        GPU, or under Triton's interpreter, page-locking means nothing: this is then a plain copy
        (`runtime.pinned_empty` gives ordinary memory; `is_pinned` stays False) -- a documented no-op."""
        if self.device.type != "cpu":
            raise RuntimeError(f"cannot pin '{self.type_name()}': only dense CPU tensors can be pinned")
        if self.is_pinned():
            return self
        return _PinCopy.apply(self)

    def is_pinned(self, device=None):
        """True when this is a cpu tensor in page-locked memory from `pin_memory` / `runtime.pinned_empty`
        (``Tensor.is_pinned``); always False for cuda tensors and without a GPU."""
        if self.device.type != "cpu":
            return False
        from .. import runtime
        return runtime.is_pinned(self._data)

    def clone(self, *, memory_format=None):
        """A contiguous copy, differentiable (``Tensor.clone``)."""
        return F.Clone.apply(self)

    def contiguous(self, memory_format=None):
        """Self when contiguous, else a contiguous copy (``Tensor.contiguous``)."""
        return self if self.is_contiguous() else F.Clone.apply(self)

    def new_zeros(self, *size, dtype=None, device=None):
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_ones(self, *size, dtype=None, device=None):
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_full(self, size, fill_value, dtype=None, device=None):
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)

    def new_empty(self, *size, dtype=None, device=None):
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_tensor(self, data, dtype=None, device=None):
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device)

    # ------------------------------------------------------------------ sorting (tritongrad.ops_extra)
    def sort(self, dim=-1, descending=False, stable=False):
        """``Tensor.sort``: see `tritongrad.ops_extra.sort`."""
        return _ox.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        """``Tensor.argsort``: see `tritongrad.ops_extra.argsort`."""
        return _ox.argsort(self, dim, descending, stable)

    def msort(self):
        """``Tensor.msort``: see `tritongrad.ops_extra.msort`."""
        return _ox.msort(self)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """``Tensor.topk``: see `tritongrad.ops_extra.topk`."""
        return _ox.topk(self, k, dim, largest, sorted)

    # ------------------------------------------------------------------ more ops (tritongrad.ops_extra)
    def outer(self, vec2):
        """``Tensor.outer``: see `tritongrad.ops_extra.outer`."""
        return _ox.outer(self, vec2)

    def ger(self, vec2):
        """``Tensor.ger``: see `tritongrad.ops_extra.outer`."""
        return _ox.outer(self, vec2)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """``Tensor.isclose``: see `tritongrad.ops_extra.isclose`."""
        return _ox.isclose(self, other, rtol, atol, equal_nan)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """``Tensor.addmm``: see `tritongrad.ops_extra.addmm`."""
        return _ox.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """``Tensor.baddbmm``: see `tritongrad.ops_extra.baddbmm`."""
        return _ox.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcmul``: see `tritongrad.ops_extra.addcmul`."""
        return _ox.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcdiv``: see `tritongrad.ops_extra.addcdiv`."""
        return _ox.addcdiv(self, tensor1, tensor2, value=value)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """``Tensor.nan_to_num``: see `tritongrad.ops_extra.nan_to_num`."""
        return _ox.nan_to_num(self, nan, posinf, neginf)

    def float_power(self, exponent):
        """``Tensor.float_power``: see `tritongrad.ops_extra.float_power`."""
        return _ox.float_power(self, exponent)

    def kron(self, other):
        """``Tensor.kron``: see `tritongrad.ops_extra.kron`."""
        return _ox.kron(self, other)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        """``Tensor.diagonal``: see `tritongrad.ops_extra.diagonal`."""
        return _ox.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        """``Tensor.diag_embed``: see `tritongrad.ops_extra.diag_embed`."""
        return _ox.diag_embed(self, offset, dim1, dim2)

    def diag(self, diagonal=0):
        """``Tensor.diag``: see `tritongrad.ops_extra.diag`."""
        return _ox.diag(self, diagonal)

    def masked_select(self, mask):
        """``Tensor.masked_select``: see `tritongrad.ops_extra.masked_select`."""
        return _ox.masked_select(self, mask)

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        """``Tensor.repeat_interleave``: see `tritongrad.ops_extra.repeat_interleave`."""
        return _ox.repeat_interleave(self, repeats, dim, output_size=output_size)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        """``Tensor.scatter``: see `tritongrad.ops_extra.scatter`."""
        return _ox.scatter(self, dim, index, src, value=value, reduce=reduce)

    def index_add(self, dim, index, source, *, alpha=1):
        """``Tensor.index_add``: see `tritongrad.ops_extra.index_add`."""
        return _ox.index_add(self, dim, index, source, alpha=alpha)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """``Tensor.multinomial``: see `tritongrad.multinomial`."""
        from ..random import multinomial
        return multinomial(self, num_samples, replacement, generator=generator)


class _HookHandle:
    def __init__(self, hooks, key, counter=None):
        self._hooks, self._key, self._counter = hooks, key, counter

    def remove(self):
        if self._hooks.pop(self._key, None) is not None and self._counter is not None:
            self._counter[0] -= 1


def _rebuild(arr, dev, requires_grad):
    t = tensor(arr, device=dev)
    t.requires_grad = requires_grad
    return t


# ---------------------------------------------------------------------------------------- devices
class _ToDevice:
    """Copy a tensor to another device, recording a `_DeviceMove` node when it requires grad."""

    @staticmethod
    def apply(x, *, dst, non_blocking=False):
        src_be = x._be
        dst_be = _backend(dst)
        if dst.type == "cuda":
            host = x._data if src_be.name == "numpy" else src_be.to_numpy(x._data)
            kwargs = {"non_blocking": True} if non_blocking else {}
            data = dst_be.from_numpy((host if host.flags.c_contiguous else np.ascontiguousarray(host)), dst.index or 0, **kwargs)
        else:
            data = src_be.to_numpy(x._data)
        out = Tensor._make(data, dst)
        if autograd.is_grad_enabled() and x.requires_grad:
            import weakref
            node = _DeviceMove()
            node.be = dst_be
            node.src_device = x.device
            node.needs_input_grad = (True,)
            node.parents = (autograd._edge(x),)
            node._out_refs = (weakref.ref(out),)
            out.requires_grad = True
            out.grad_fn = node
        return out


class _PinCopy(autograd.Op):
    """`Tensor.pin_memory`: a copy into `runtime.pinned_empty` memory; the gradient passes through."""

    def forward(self, x):
        from .. import runtime
        host = runtime.pinned_empty(x.shape, x.dtype)
        np.copyto(host, x)
        return host

    def backward(self, g):
        return g

    def backward_graph(self, g):
        return g

    @property
    def name(self):
        return "PinMemoryBackward0"


class _DeviceMove(autograd.Op):
    def backward(self, g):
        src_be = _backend(self.src_device)
        host = self.be.to_numpy(g) if self.be.name != "numpy" else g
        if self.src_device.type == "cuda":
            return src_be.from_numpy((host if host.flags.c_contiguous else np.ascontiguousarray(host)), self.src_device.index or 0)
        return np.array(host)

    def backward_graph(self, g):
        return g.to(self.src_device)

    @property
    def name(self):
        return "ToCopyBackward0"


def _late_imports():
    """Import what this module shares in an import cycle (the factories and `tritongrad.ops_extra` import
    `Tensor`); called by the package once every name they need exists."""
    global _ox, empty, full, ones, tensor, zeros
    from ._factories import empty, full, ones, tensor, zeros
    from .. import ops_extra as _ox
