"""`Tensor`: PyTorch's tensor API over a backend array, with autograd.

A Tensor holds a backend array (``_data``: an ``np.ndarray`` on cpu, a `DeviceArray` on cuda), its
``device`` and ``dtype``, and autograd state (``requires_grad``, ``grad``, ``grad_fn``). Every computing
method is a one-liner over an `autograd.Op` in ``functions.py``.
"""
from __future__ import annotations

import builtins
import math
import numbers
from collections import namedtuple

import numpy as np

from .. import autograd
from .. import dtypes as _dt
from .. import functions as F
from .._autocast import autocast_op
from .._dlpack import DLPackMixin
from .._kernel_args import KernelArgMixin
from .._strides import broadcast_shapes
from ..device import as_device, device as _device

__all__ = ["Tensor", "Size", "tensor"]

_pyint, _pyfloat, _pybool = builtins.int, builtins.float, builtins.bool
_np_to_dt = {d.np: d for d in _dt.ALL}

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
               "int32": "Int", "int64": "Long", "int16": "Short", "int8": "Char", "uint8": "Byte",
               "bool": "Bool"}

values_indices = namedtuple("values_indices", ["values", "indices"])


class Size(tuple):
    """The shape of a tensor (``torch.Size``): a tuple of ints."""

    def numel(self):
        return math.prod(self)

    def __repr__(self):
        return f"tritongrad.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


_BACKENDS = {}   # device type -> backend instance (`backends.backend_for` depends on the type only)


def _backend(dev):
    """The backend of ``dev``, cached per device type (no import or call on the hot path)."""
    be = _BACKENDS.get(dev.type)
    if be is None:
        from ..backends import backend_for
        be = _BACKENDS[dev.type] = backend_for(dev)
    return be


def _norm_dim(d, ndim, what="dim"):
    n = max(ndim, 1)
    if not isinstance(d, (_pyint, np.integer)) or isinstance(d, _pybool):
        raise TypeError(f"{what} must be an int, got {type(d).__name__}")
    if d < -n or d >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n if ndim else 0


def _norm_dims(dim, ndim, empty_means_all=False):
    """Dims as a sorted tuple; None means every dim, and so does an empty list for reductions
    (``empty_means_all``), as in PyTorch."""
    if dim is None or (empty_means_all and isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        normed = [_norm_dim(d, ndim) for d in dim]
        dims = tuple(sorted(set(normed)))
        if len(dims) != len(dim):
            twice = next(d for d in normed if normed.count(d) > 1)
            raise RuntimeError(f"dim {twice} appears multiple times in the list of dims")
        return dims if ndim else ()
    d = _norm_dim(dim, ndim)        # checked on a 0-d tensor too: only 0 and -1 name its dim
    return (d,) if ndim else ()


def _size_arg(sizes, size):
    """The shape a factory gets as ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))`` (PyTorch takes all three)."""
    if size is not None:
        if sizes:
            raise TypeError(f"the size was given both positionally {tuple(sizes)} and as size={size!r}")
        sizes = (size,)
    return _shape_arg(sizes)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (_pyint, np.integer)) or isinstance(s, _pybool):
            raise TypeError(f"shape entries must be ints, got {s!r} in {tuple(shape)}")
        out.append(_pyint(s))
    return tuple(out)


def _scalar(x):
    """Python number from a NumPy scalar; other values unchanged."""
    if isinstance(x, np.generic):
        return x.item()
    return x


def _inplace_variant(name):
    """The in-place ``Tensor.<name>_``: ``Tensor.<name>`` written into self by `tritongrad.ops_extra.inplace`
    (PyTorch's checks: leaves that require grad, expanded views, result dtypes; the version counter bumped)."""
    def method(self, *args, **kwargs):
        return _ox.inplace(self, lambda t: getattr(t, name)(*args, **kwargs), *args, *kwargs.values())
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"``Tensor.{name}_``: `Tensor.{name}` written into self, in place (checked, versioned)."
    return method


class Tensor(KernelArgMixin, DLPackMixin):
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

    def __repr__(self):
        return _format(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

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

    # ------------------------------------------------------------------ elementwise math
    def _unary(self, op, **params):
        x = self
        if not x.dtype.is_floating_point and op not in ("neg", "abs", "sign", "relu", "square", "logical_not",
                                                         "floor", "ceil", "round", "trunc", "isnan", "isinf"):
            x = x.to(_dt.get_default_dtype())
        if op in ("isnan", "isinf", "logical_not"):
            return Tensor._make(x._be.unary(op, x._data), x.device)
        return F.Unary.apply(x, op=op, params=params)

    def __neg__(self):
        if self.dtype is _dt.bool:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                               "to invert a mask, use the `~` or `logical_not()` operator instead.")
        return self._unary("neg")

    def neg(self):
        return -self

    negative = neg

    def __pos__(self):
        return self

    def abs(self):
        return self._unary("abs")

    __abs__ = abs

    @autocast_op("exp")
    def exp(self):
        return self._unary("exp")

    @autocast_op("log")
    def log(self):
        return self._unary("log")

    @autocast_op("log1p")
    def log1p(self):
        return self._unary("log1p")

    @autocast_op("expm1")
    def expm1(self):
        return self._unary("expm1")

    def sqrt(self):
        return self._unary("sqrt")

    @autocast_op("rsqrt")
    def rsqrt(self):
        return self._unary("rsqrt")

    def sin(self):
        return self._unary("sin")

    def cos(self):
        return self._unary("cos")

    def tanh(self):
        return self._unary("tanh")

    def sigmoid(self):
        return self._unary("sigmoid")

    def relu(self):
        return self._unary("relu")

    def sign(self):
        return self._unary("sign")

    def floor(self):
        return self._unary("floor")

    def ceil(self):
        return self._unary("ceil")

    def round(self, decimals=0):
        if decimals:
            s = 10.0 ** decimals
            return (self * s)._unary("round") / s
        return self._unary("round")

    def trunc(self):
        return self._unary("trunc")

    @autocast_op("reciprocal")
    def reciprocal(self):
        return self._unary("reciprocal")

    def square(self):
        return self._unary("square")

    def isnan(self):
        return self._unary("isnan")

    def isinf(self):
        return self._unary("isinf")

    def logical_not(self):
        return self._unary("logical_not")

    def __invert__(self):
        if self.dtype is _dt.bool:
            return self.logical_not()
        ones = -1 if self.dtype.is_signed else int(np.iinfo(self.dtype.np).max)   # every bit set
        return Tensor._make(self._be.binary("bitwise_xor", self._data, ones), self.device)

    @autocast_op("pow")
    def pow(self, exponent):
        return _binary("pow", self, exponent)

    @autocast_op("pow")
    def __pow__(self, other):
        return _binary("pow", self, other)

    @autocast_op("pow")
    def __rpow__(self, other):
        return _binary("pow", other, self)

    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("div", self, other)

    def __rtruediv__(self, other):
        return _binary("div", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("remainder", self, other)

    def __rmod__(self, other):
        return _binary("remainder", other, self)

    @autocast_op("matmul")
    def __matmul__(self, other):
        return matmul(self, other)

    @autocast_op("matmul")
    def __rmatmul__(self, other):
        return matmul(tensor(other, device=self.device), self)

    def __eq__(self, other):
        return _binary("eq", self, other)

    def __ne__(self, other):
        return _binary("ne", self, other)

    def __lt__(self, other):
        return _binary("lt", self, other)

    def __le__(self, other):
        return _binary("le", self, other)

    def __gt__(self, other):
        return _binary("gt", self, other)

    def __ge__(self, other):
        return _binary("ge", self, other)

    def __and__(self, other):
        return _binary("logical_and" if self.dtype is _dt.bool else "bitwise_and", self, other)

    def __or__(self, other):
        return _binary("logical_or" if self.dtype is _dt.bool else "bitwise_or", self, other)

    def __xor__(self, other):
        return _binary("logical_xor" if self.dtype is _dt.bool else "bitwise_xor", self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def bitwise_and(self, other):
        """``Tensor.bitwise_and``: ``&`` of integer or bool tensors."""
        return self & other

    def bitwise_or(self, other):
        """``Tensor.bitwise_or``: ``|`` of integer or bool tensors."""
        return self | other

    def bitwise_xor(self, other):
        """``Tensor.bitwise_xor``: ``^`` of integer or bool tensors."""
        return self ^ other

    def add(self, other, *, alpha=1):
        return _binary("add", self, other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return _binary("sub", self, other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return _binary("mul", self, other)

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return _binary("div", self, other)
        if rounding_mode == "floor":
            return _binary("floor_divide", self, other)
        if rounding_mode == "trunc":
            return _binary("div", self, other).trunc().to(_dt.result_type(self, other))
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")

    divide = true_divide = div

    def floor_divide(self, other):
        return _binary("floor_divide", self, other)

    def remainder(self, other):
        return _binary("remainder", self, other)

    def fmod(self, other):
        """``torch.fmod``: the remainder of truncated division, with the sign of the dividend (``remainder``
        has the divisor's sign; the two differ by ``other`` where they disagree)."""
        r = _binary("remainder", self, other)
        fix = (r != 0) & ((r < 0) != (self < 0))
        return where(fix, r - other, r)

    def maximum(self, other):
        return _binary("maximum", self, other)

    def minimum(self, other):
        return _binary("minimum", self, other)

    def atan2(self, other):
        return _binary("atan2", self, other)

    def eq(self, other):
        return _binary("eq", self, other)

    def ne(self, other):
        return _binary("ne", self, other)

    def lt(self, other):
        return _binary("lt", self, other)

    def le(self, other):
        return _binary("le", self, other)

    def gt(self, other):
        return _binary("gt", self, other)

    def ge(self, other):
        return _binary("ge", self, other)

    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def logical_and(self, other):
        return _binary("logical_and", self, other)

    def logical_or(self, other):
        return _binary("logical_or", self, other)

    def logical_xor(self, other):
        return _binary("logical_xor", self, other)

    def equal(self, other):
        """True when both tensors have the same shape and values (``torch.equal``)."""
        return self.shape == other.shape and _pybool((self == other).all())

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """``torch.allclose``: all of ``|self - other| <= atol + rtol * |other|``."""
        return _pybool(np.allclose(self.detach().cpu().numpy().astype(np.float64),
                                   other.detach().cpu().numpy().astype(np.float64), rtol, atol, equal_nan))

    def clamp(self, min=None, max=None):
        """Clamp into [min, max] (``Tensor.clamp``); bounds are numbers, tensors or None."""
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        for name, v in (("min", min), ("max", max)):
            if v is not None and not isinstance(v, (Tensor, numbers.Number, np.generic)):
                raise TypeError(f"clamp(): argument '{name}' must be a number or a Tensor, not {type(v).__name__}")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = _binary("maximum", out, min)
            if max is not None:
                out = _binary("minimum", out, max)
            return out
        x = self
        if not x.dtype.is_floating_point and any(isinstance(v, _pyfloat) for v in (min, max)):
            x = x.to(_dt.get_default_dtype())
        return F.Clamp.apply(x, lo=_scalar(min), hi=_scalar(max))

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def where(self, condition, other):
        return where(condition, self, other)

    def lerp(self, end, weight):
        return self + (end - self) * weight

    # ------------------------------------------------------------------ in place
    def _check_inplace(self):
        """Raise where PyTorch refuses an in-place op: leaves that require grad (and their views) under
        autograd, and tensors whose elements share memory (expanded views)."""
        if any(st == 0 and n > 1 for st, n in zip(self._data.strides, self._data.shape)):
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                               "single memory location. Please clone() the tensor before performing the operation.")
        if autograd.is_grad_enabled() and self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            base = self._base
            if base is not None and base.requires_grad and base.grad_fn is None:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                                   "operation.")

    def _tracks(self, other=None):
        return autograd.is_grad_enabled() and (self.requires_grad or
                                               (isinstance(other, Tensor) and other.requires_grad))

    def _adopt(self, result):
        """Take over ``result``'s place in the graph (its node now names this tensor as its output); the
        node that made the old value no longer reports its gradient to this tensor (hooks, retain_grad)."""
        old = self.grad_fn
        if old is not None and old is not result.grad_fn:
            refs = list(old._out_refs)
            refs[self._out_idx] = None
            old._out_refs = tuple(refs)
        self.grad_fn = result.grad_fn
        self._out_idx = result._out_idx
        self.requires_grad = result.requires_grad
        if result.grad_fn is not None:
            import weakref
            refs = list(result.grad_fn._out_refs)
            refs[result._out_idx] = weakref.ref(self)
            result.grad_fn._out_refs = tuple(refs)

    def _rebind(self, result):
        """Finish an in-place op under autograd: ``result`` (computed out of place from ``self``) is written
        into this tensor's memory, so its views and its base see the new values, and this tensor becomes
        the output of ``result``'s node. A node that saved this tensor's old values gets a private copy of
        them (PyTorch's "original self"). On a view, the base gets a `CopySlices` node and the view becomes
        a view of the updated base, as in PyTorch."""
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        if result.dtype is not self.dtype:
            if result.dtype.is_floating_point and not self.dtype.is_floating_point:
                raise RuntimeError(f"result type {_TYPE_NAMES[result.dtype.name]} can't be cast to the desired output "
                                   f"type {_TYPE_NAMES[self.dtype.name]}")
            result = result.to(self.dtype)
        node = result.grad_fn
        if node is not None and any(a is self._data for a in node.saved_tensors):
            node.saved_tensors = tuple(self._be.contiguous(a) if a is self._data else a for a in node.saved_tensors)
            node._saved_checks = tuple(c for c in node._saved_checks if c[0] is not self._version)
        if self._base is not None:
            base = self._base
            base._adopt(F.CopySlices.apply(base, result, ops=self._view_ops))
            view = base
            for fn, params in self._view_ops:
                view = fn.apply(view, **params)
            self._adopt(view)
        else:
            self._be.copy_(self._data, result._data)
            self._adopt(result)
        self._version[0] += 1
        return self

    def _inplace_binary(self, op, other):
        self._check_inplace()
        if self._tracks(other):
            return self._rebind(_binary(op, self, other))
        if isinstance(other, Tensor):
            if other.device != self.device:
                if other.ndim == 0 and other.device.type == "cpu":
                    other = other.item()
                else:
                    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                                       f"devices, {self.device} and {other.device}!")
        res = _binary(op, self.detach(), other)
        if res.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(res.shape)}")
        if res.dtype.is_floating_point and not self.dtype.is_floating_point:
            raise RuntimeError(f"result type {_TYPE_NAMES[res.dtype.name]} can't be cast to the desired output "
                               f"type {_TYPE_NAMES[self.dtype.name]}")
        self._be.copy_(self._data, res._data)
        self._version[0] += 1
        return self

    def add_(self, other, *, alpha=1):
        return self._inplace_binary("add", other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        return self._inplace_binary("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._inplace_binary("mul", other)

    def div_(self, other):
        return self._inplace_binary("div", other)

    def pow_(self, other):
        return self._inplace_binary("pow", other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def clamp_(self, min=None, max=None):
        self._check_inplace()
        res = self.clamp(min, max) if self._tracks() else self.detach().clamp(min, max)
        if self._tracks():
            return self._rebind(res)
        self._be.copy_(self._data, res._data)
        self._version[0] += 1
        return self

    clip_ = clamp_

    def copy_(self, src, non_blocking=False):
        """Copy ``src``'s values (broadcast, cast, from any device) into this tensor in place."""
        self._check_inplace()
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self.dtype, device=self.device)
        if src.device != self.device:
            src = src.to(self.device, non_blocking=non_blocking)
        try:
            out_shape = broadcast_shapes(self.shape, src.shape)
        except ValueError:
            raise RuntimeError(f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
                               f"({list(src.shape)}) in copy_") from None
        if tuple(out_shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out_shape)} (copy_ of a source of shape {list(src.shape)})")
        if self._tracks(src):
            return self._rebind(F.SetSlice.apply(self, src, key=(Ellipsis,)))
        self._be.copy_(self._data, src._data if src.dtype is self.dtype else src._data)
        self._version[0] += 1
        return self

    def fill_(self, value):
        """Fill with ``value`` in place."""
        self._check_inplace()
        if not isinstance(value, (Tensor, numbers.Number, np.generic)):
            raise TypeError(f"fill_(): argument 'value' must be a number or a 0-d Tensor, not {type(value).__name__}")
        value = _scalar(value.item() if isinstance(value, Tensor) else value)
        if self._tracks():
            return self._rebind(F.SetSlice.apply(self, value, key=(Ellipsis,)))
        self._be.copy_(self._data, value)
        self._version[0] += 1
        return self

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill with normal samples in place (``Tensor.normal_``)."""
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("randn", self.shape, self.dtype, self.device, generator)
            self._be.copy_(self._data, r._data if mean == 0 and std == 1 else (r * std + mean)._data)
        self._version[0] += 1
        return self

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """Fill with uniform samples from [a, b) in place (``Tensor.uniform_``)."""
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("rand", self.shape, self.dtype, self.device, generator)
            self._be.copy_(self._data, (r * (b - a) + a)._data)
        self._version[0] += 1
        return self

    def bernoulli_(self, p=0.5, *, generator=None):
        from ..random import _draw
        with autograd.no_grad():
            r = _draw("rand", self.shape, _dt.float32, self.device, generator)
            self._be.copy_(self._data, (r < p)._data)
        self._version[0] += 1
        return self

    # ------------------------------------------------------------------ reductions
    def _reduce(self, op, dim, keepdim, **params):
        dims = _norm_dims(dim, self.ndim, empty_means_all=True)
        x = self
        if op in ("mean", "var", "logsumexp", "norm") and not x.dtype.is_floating_point:
            if op == "mean":
                raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                                   f"point or complex dtype. Got: {_TYPE_NAMES[x.dtype.name]}")
            x = x.to(_dt.get_default_dtype())
        if op in ("amax", "amin") and x.numel() == 0:
            if len(dims) == x.ndim:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   f"Specify the reduction dim with the 'dim' argument.")
            d = next(d for d in dims if x.shape[d] == 0) if any(x.shape[d] == 0 for d in dims) else None
            if d is not None:
                raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        if op in ("all", "any"):
            return Tensor._make(x._be.reduce(op, x._data, dims, keepdim), x.device)
        if not x.dtype.is_floating_point:
            return Tensor._make(x._be.reduce(op, x._data, dims, keepdim, **params), x.device)
        return F.Reduce.apply(x, op=op, dims=dims, keepdim=keepdim, params=params)

    @autocast_op("sum")
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        """Sum over ``dim`` (int, tuple or None for all) (``Tensor.sum``)."""
        if dim is None and dtype is None and self._data.dtype in _FLOAT_NP:
            # fast path: a floating tensor summed whole
            nd = len(self._data.shape)
            return F.Reduce.apply(self, op="sum", dims=_ALL_DIMS[nd] if nd < len(_ALL_DIMS) else tuple(range(nd)),
                                  keepdim=keepdim, params=_NO_PARAMS)
        x = self if dtype is None else self.to(dtype)
        return x._reduce("sum", dim, keepdim)

    def nansum(self, dim=None, keepdim=False):
        return where(self.isnan(), 0.0, self).sum(dim, keepdim)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return x._reduce("mean", dim, keepdim)

    @autocast_op("prod")
    def prod(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return x._reduce("prod", dim, keepdim)

    def amax(self, dim=(), keepdim=False):
        return self._reduce("amax", None if dim == () else dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        return self._reduce("amin", None if dim == () else dim, keepdim)

    def _minmax(self, op, dim, keepdim):
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   f"Specify the reduction dim with the 'dim' argument.")
            return self._reduce("a" + op, None, False)
        if isinstance(dim, Tensor):
            return _binary("maximum" if op == "max" else "minimum", self, dim)
        d = _norm_dim(dim, self.ndim)
        if self.ndim and self.shape[d] == 0:    # other empty dims are fine: ones(0, 5).max(1) is empty
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        if self.dtype.is_floating_point:
            v, i = F.ArgReduce.apply(self, op=op, dim=d, keepdim=keepdim)
        else:
            v, i = (Tensor._make(a, self.device) for a in self._be.argreduce(op, self._data, d, keepdim))
        return values_indices(v, i)

    def max(self, dim=None, keepdim=False):
        """Without ``dim`` the largest value; with ``dim`` a (values, indices) pair; with a tensor the
        elementwise maximum (``Tensor.max``)."""
        return self._minmax("max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._minmax("min", dim, keepdim)

    def _argreduce(self, op, dim, keepdim):
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _norm_dim(dim, self.ndim)
        if x.ndim and x.shape[d] == 0:
            raise IndexError(f"arg{op}(): Expected reduction dim {d} to have non-zero size.")
        idx = Tensor._make(x._be.argreduce(op, x._data, d, keepdim)[1], self.device)
        return idx.reshape((1,) * self.ndim) if dim is None and keepdim else idx

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest value, the first on ties (of the flattened tensor when ``dim`` is None)
        (``Tensor.argmax``)."""
        return self._argreduce("max", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest value, the first on ties (``Tensor.argmin``)."""
        return self._argreduce("min", dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance with Bessel's ``correction`` (default 1) (``Tensor.var``)."""
        if isinstance(dim, _pybool):
            unbiased, dim = dim, None
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"std and var only support floating point and complex dtypes (got {self.dtype})")
        return self._reduce("var", dim, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    @autocast_op("logsumexp")
    def logsumexp(self, dim, keepdim=False):
        return self._reduce("logsumexp", dim, keepdim)

    @autocast_op("norm")
    def norm(self, p="fro", dim=None, keepdim=False):
        """Vector p-norm over ``dim`` (all elements when None); 'fro' is 2 (``Tensor.norm``)."""
        if p == "fro" or p is None:
            p = 2
        if p == "nuc":
            raise NotImplementedError("nuclear norm is not supported")
        if not (isinstance(p, (_pyint, _pyfloat, np.integer, np.floating)) and p > 0):
            raise ValueError(f"norm: p must be a positive number or inf, got {p!r} (p <= 0 is not supported)")
        return self._reduce("norm", dim, keepdim, p=_pyfloat(p))

    def all(self, dim=None, keepdim=False):
        return self._reduce("all", dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return self._reduce("any", dim, keepdim)

    def count_nonzero(self, dim=None):
        return (self != 0).sum(dim)

    @autocast_op("cumsum")
    def cumsum(self, dim, *, dtype=None):
        """Inclusive prefix sum along ``dim`` (``Tensor.cumsum``)."""
        x = self if dtype is None else self.to(dtype)
        d = _norm_dim(dim, x.ndim)
        if not x.dtype.is_floating_point:
            return Tensor._make(x._be.cumsum(x._data, d), x.device)
        return F.Cumsum.apply(x, dim=d)

    @autocast_op("softmax")
    def softmax(self, dim, dtype=None):
        """Softmax along ``dim`` (``Tensor.softmax``)."""
        x = self if dtype is None else self.to(dtype)
        _check_softmax_dtype("softmax", x)
        return F.Softmax.apply(x, dim=_norm_dim(dim, x.ndim), log=False)

    @autocast_op("log_softmax")
    def log_softmax(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        _check_softmax_dtype("log_softmax", x)
        return F.Softmax.apply(x, dim=_norm_dim(dim, x.ndim), log=True)

    # ------------------------------------------------------------------ shape and views
    def _view_fn(self, fn, **params):
        """``fn`` (a view Function) applied to self; the result shares memory and the version counter with
        the base tensor and remembers the chain of view functions from it (for in-place ops on views)."""
        out = fn.apply(self, **params)
        out._version = self._version
        out._base = self if self._base is None else self._base
        out._view_ops = self._view_ops + ((fn, params),)
        return out

    def view(self, *shape):
        """A view with a new shape; raises when the strides do not allow it (``Tensor.view``)."""
        if len(shape) == 1 and isinstance(shape[0], (_dt.dtype, np.dtype)):
            raise NotImplementedError("view(dtype) is not supported")
        shape = _infer_shape(_shape_arg(shape), self.numel())
        if self._be.reshape_view(self._data, shape) is None:
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return self._view_fn(F.Reshape, shape=shape)

    def reshape(self, *shape):
        """A view when possible, else a copy, with a new shape (``Tensor.reshape``)."""
        shape = _infer_shape(_shape_arg(shape), self.numel())
        if shape == tuple(self._data.shape):
            return self
        if self._be.reshape_view(self._data, shape) is None:
            return F.Reshape.apply(self, shape=shape)   # a copy, not a view (as PyTorch)
        return self._view_fn(F.Reshape, shape=shape)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def permute(self, *dims):
        """A view with dimensions reordered (``Tensor.permute``)."""
        dims = _shape_arg(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                               f"the length of the desired ordering of dimensions i.e. input.dim() = {self.ndim} "
                               f"is not equal to len(dims) = {len(dims)}")
        dims = tuple(_norm_dim(d, self.ndim) for d in dims)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"permute(): duplicate dims are not allowed: {dims}")
        if dims == tuple(range(self.ndim)):
            return self
        return self._view_fn(F.Permute, dims=dims)

    def transpose(self, dim0, dim1):
        """A view with ``dim0`` and ``dim1`` swapped (``Tensor.transpose``)."""
        d0, d1 = _norm_dim(dim0, self.ndim), _norm_dim(dim1, self.ndim)
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(*dims)

    swapaxes = swapdims = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def unsqueeze(self, dim):
        d = _norm_dim(dim, self.ndim + 1)
        shape = list(self.shape)
        shape.insert(d, 1)
        return self._view_fn(F.Reshape, shape=tuple(shape))

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            dims = _norm_dims(dim, self.ndim)
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1))
        if shape == tuple(self.shape):
            return self
        return self._view_fn(F.Reshape, shape=shape)

    def expand(self, *sizes):
        """A broadcast view to ``sizes`` (-1 keeps a size) (``Tensor.expand``)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand(tritongrad.{self.type_name().split('.')[-1]}{{{list(self.shape)}}}, "
                               f"size={list(sizes)}): the number of sizes provided ({len(sizes)}) must be greater "
                               f"or equal to the number of dimensions in the tensor ({self.ndim})")
        lead = len(sizes) - self.ndim
        shape = []
        for i, n in enumerate(sizes):
            have = self.shape[i - lead] if i >= lead else 1
            if n == -1:
                if i < lead:
                    raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
                n = have
            if have != n and have != 1:
                raise RuntimeError(f"The expanded size of the tensor ({n}) must match the existing size ({have}) "
                                   f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                                   f"{list(self.shape)}")
            shape.append(n)
        shape = tuple(shape)
        if shape == tuple(self.shape):
            return self
        return self._view_fn(F.Expand, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def sum_to_size(self, *size):
        """Sum over the dimensions that broadcasting ``size`` to this shape would add or stretch
        (``Tensor.sum_to_size``): a broadcast result's gradient back to the operand's shape."""
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        lead = self.ndim - len(size)
        if lead < 0 or any(n not in (1, m) for n, m in zip(size, self.shape[lead:])):
            raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.")
        dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(size) if n == 1 and self.shape[lead + i] != 1)
        return (self.sum(dims) if dims else self).reshape(size)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim), _norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:]
        return self.reshape(shape)

    def ravel(self):
        return self.reshape(-1)

    def unflatten(self, dim, sizes):
        d = _norm_dim(dim, self.ndim)
        sizes = _infer_shape(tuple(sizes), self.shape[d])
        return self.reshape(self.shape[:d] + sizes + self.shape[d + 1:])

    def narrow(self, dim, start, length):
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if start < 0:
            start += n
        if not (0 <= start <= n and 0 <= length and start + length <= n):
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def split(self, split_size_or_sections, dim=0):
        """Split into chunks of a size, or of the given sizes, along ``dim`` (views)."""
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size_or_sections, (_pyint, np.integer)):
            step = _pyint(split_size_or_sections)
            if step <= 0 and n > 0:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                                   f"size at dimension {d}), but got split_sizes={sizes}")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(d, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if not isinstance(chunks, (_pyint, np.integer)) or chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        return self.split(max(-(-n // chunks), 1) if n else 1, d)

    def unbind(self, dim=0):
        d = _norm_dim(dim, self.ndim)
        return tuple(self.select(d, i) for i in range(self.shape[d]))

    def select(self, dim, index):
        d = _norm_dim(dim, self.ndim)
        return self[(slice(None),) * d + (index,)]

    def repeat(self, *sizes):
        """Tile the tensor ``sizes`` times along each dimension (``Tensor.repeat``)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                               "of tensor")
        x = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        inter, final = [], []
        for r, n in zip(sizes, x.shape):
            inter += [r, n]
            final.append(r * n)
        x = x.reshape(tuple(v for n in x.shape for v in (1, n)))
        return x.expand(tuple(inter)).contiguous().reshape(tuple(final))

    def flip(self, *dims):
        """A copy with the order of elements reversed along ``dims`` (``Tensor.flip``)."""
        dims = _norm_dims(_shape_arg(dims), self.ndim)
        return F.Flip.apply(self, dims=dims)

    def fliplr(self):
        return self.flip(1)

    def flipud(self):
        return self.flip(0)

    def roll(self, shifts, dims=None):
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        if isinstance(shifts, (_pyint, np.integer)):
            shifts = (shifts,)
        if isinstance(dims, (_pyint, np.integer)):
            dims = (dims,)
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        out = self
        for s, d in zip(shifts, dims):
            d = _norm_dim(d, self.ndim)
            n = self.shape[d]
            s %= n if n else 1
            if s:
                a, b = out.split([n - s, s], d)
                out = cat([b, a], d)
        return out

    def tril(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("tril: input tensor must have at least 2 dimensions")
        return F.Tril.apply(self, k=diagonal, upper=False)

    def triu(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("triu: input tensor must have at least 2 dimensions")
        return F.Tril.apply(self, k=diagonal, upper=True)

    @autocast_op("matmul")
    def matmul(self, other):
        return matmul(self, other)

    @autocast_op("mm")
    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: both arguments must be 2-D, got {self.ndim}-D and {other.ndim}-D")
        return matmul(self, other)

    @autocast_op("bmm")
    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError(f"bmm: both arguments must be 3-D, got {self.ndim}-D and {other.ndim}-D")
        return matmul(self, other)

    @autocast_op("dot")
    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        return matmul(self, other)

    def index_select(self, dim, index):
        d = _norm_dim(dim, self.ndim)
        if isinstance(index, Tensor) and index.dtype not in (_dt.int32, _dt.int64):
            raise RuntimeError(f"index_select(): Expected dtype int32 or int64 for index, got {index.dtype}")
        index = _as_index(index, self.device)
        if index.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        return F.IndexSelect.apply(self, index.reshape(-1), dim=d)

    def gather(self, dim, index):
        """``torch.gather``: values of self along ``dim`` at ``index``."""
        d = _norm_dim(dim, self.ndim)
        if index.dtype is not _dt.int64:
            raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
        if index.ndim != self.ndim:
            raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
        _check_index_fits("gather", self, d, index)
        return F.Gather.apply(self, index, dim=d)

    @autocast_op("scatter_add")
    def scatter_add(self, dim, index, src):
        d = _norm_dim(dim, self.ndim)
        if not isinstance(index, Tensor) or index.dtype is not _dt.int64:
            raise RuntimeError(f"scatter(): Expected dtype int64 for index, got "
                               f"{index.dtype if isinstance(index, Tensor) else type(index).__name__}")
        if index.ndim != self.ndim or src.ndim != self.ndim:
            raise RuntimeError(f"scatter_add: index {tuple(index.shape)} and src {tuple(src.shape)} must have "
                               f"the same number of dimensions as the input {tuple(self.shape)}")
        _check_index_fits("scatter_add", self, d, index)
        return F.ScatterAdd.apply(self, index, src, dim=d)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` is True, else self (``Tensor.masked_fill``)."""
        if not isinstance(mask, Tensor) or mask.dtype is not _dt.bool:
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                               f"{mask.dtype.name if isinstance(mask, Tensor) else type(mask).__name__}")
        if isinstance(value, Tensor):
            value = value.to(self.dtype)
        return where(mask, value, self)

    def masked_fill_(self, mask, value):
        return self.copy_(self.masked_fill(mask, value)) if not self._tracks() else self._rebind(
            self.masked_fill(mask, value))

    def nonzero(self, as_tuple=False):
        idx = Tensor._make(self._be.nonzero(self._data), self.device)
        if as_tuple:
            return tuple(idx[:, i] for i in range(self.ndim))
        return idx

    def argwhere(self):
        return self.nonzero()

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

    # ------------------------------------------------------------------ in-place variants (ops_extra.inplace)
    (neg_, negative_, abs_, absolute_, exp_, log_, log1p_, expm1_, sqrt_, rsqrt_, sin_, cos_, tanh_, sigmoid_,
     relu_, sign_, floor_, ceil_, round_, trunc_, fix_, reciprocal_, square_, floor_divide_, remainder_, fmod_,
     atan2_, arctan2_, clamp_min_, clamp_max_, eq_, ne_, lt_, le_, gt_, ge_, logical_and_, logical_or_,
     logical_xor_, logical_not_, true_divide_, multiply_, subtract_, divide_) = (
        _inplace_variant(n) for n in (
            "neg", "neg", "abs", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh",
            "sigmoid", "relu", "sign", "floor", "ceil", "round", "trunc", "trunc", "reciprocal", "square",
            "floor_divide", "remainder", "fmod", "atan2", "atan2", "clamp_min", "clamp_max", "eq", "ne", "lt",
            "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not", "div", "mul", "sub",
            "div"))

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

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        """``Tensor.addmm_``: `tritongrad.ops_extra.addmm` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addmm(t, mat1, mat2, beta=beta, alpha=alpha), mat1, mat2)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcmul_``: `tritongrad.ops_extra.addcmul` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addcmul(t, tensor1, tensor2, value=value), tensor1, tensor2)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        """``Tensor.addcdiv_``: `tritongrad.ops_extra.addcdiv` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.addcdiv(t, tensor1, tensor2, value=value), tensor1, tensor2)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        """``Tensor.nan_to_num_``: `tritongrad.ops_extra.nan_to_num` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.nan_to_num(t, nan, posinf, neginf))

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """``Tensor.scatter_``: `tritongrad.ops_extra.scatter` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.scatter(t, dim, index, src, value=value, reduce=reduce), src)

    def index_add_(self, dim, index, source, *, alpha=1):
        """``Tensor.index_add_``: `tritongrad.ops_extra.index_add` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: _ox.index_add(t, dim, index, source, alpha=alpha), source)

    def scatter_add_(self, dim, index, src):
        """``Tensor.scatter_add_``: `Tensor.scatter_add` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: t.scatter_add(dim, index, src), src)

    def lerp_(self, end, weight):
        """``Tensor.lerp_``: `Tensor.lerp` written into self (checked, versioned)."""
        return _ox.inplace(self, lambda t: t.lerp(end, weight), end, weight)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """``Tensor.multinomial``: see `tritongrad.multinomial`."""
        from ..random import multinomial
        return multinomial(self, num_samples, replacement, generator=generator)

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key):
        basic, adv = _parse_index(self, key)
        out = self._view_fn(F.Index, key=basic) if basic is not None else self
        if adv is None:
            return out
        return _advanced_get(out, *adv)

    def __setitem__(self, key, value):
        basic, adv = _parse_index(self, key)
        tracks = self._tracks(value)
        self._check_inplace()
        if adv is None:
            if isinstance(value, Tensor):
                if value.device != self.device:
                    value = value.to(self.device)
                target = tuple(self._be.getitem(self._data, basic).shape)
                try:
                    broadcast_shapes(target, value.shape)
                    if len(value.shape) > len(target) and math.prod(value.shape[:len(value.shape) - len(target)]) != 1:
                        raise ValueError
                except ValueError:
                    raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be "
                                       f"broadcast to indexing result of shape {list(target)}") from None
                if len(value.shape) > len(target):
                    value = value.reshape(value.shape[len(value.shape) - len(target):])
                value = value.to(self.dtype)
            else:
                value = _scalar(value)
                if not isinstance(value, numbers.Number):
                    value = tensor(value, dtype=self.dtype, device=self.device)
            if tracks:
                self._rebind(F.SetSlice.apply(self, value, key=basic))
                return
            self._be.copy_(self._be.getitem(self._data, basic), value._data if isinstance(value, Tensor) else value)
            self._version[0] += 1
            return
        _advanced_set(self, basic, adv, value, tracks)


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


def _infer_shape(shape, numel):
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        rest = math.prod(n for n in shape if n != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // rest if n == -1 else n for n in shape)
    if any(n < 0 for n in shape):
        raise RuntimeError(f"invalid shape dimension in {list(shape)}")
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


# ---------------------------------------------------------------------------------------- binary dispatch
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_LOGICAL = {"logical_and", "logical_or", "logical_xor"}
_BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor"}


_ALL_DIMS = tuple(tuple(range(n)) for n in range(17))
"""``dims`` of a whole-tensor reduction per ndim."""
_NO_PARAMS = {}
"""Shared empty ``params`` of a reduction (never mutated)."""
_FLOAT_NP = frozenset(d.np for d in _dt.ALL if d.is_floating_point)
_FLOAT_BINARY = frozenset(("add", "sub", "mul", "div", "pow", "maximum", "minimum", "floor_divide", "remainder",
                           "atan2"))
"""Binary ops that keep a floating dtype and go through the `Binary` Function."""


def _binary(op, a, b):
    """Type promotion, device checks and broadcasting checks, then the `Binary` Function."""
    if op in _FLOAT_BINARY and isinstance(a, Tensor):
        # fast paths (nothing to promote or check): two floating tensors of one dtype, shape and device,
        # or a floating tensor and a Python float/int (the tensor's dtype wins, as in `dtypes.result_type`)
        da = a._data
        if isinstance(b, Tensor):
            db = b._data
            if da.dtype == db.dtype and da.dtype in _FLOAT_NP and da.shape == db.shape and (
                    a.device is b.device or a.device == b.device):
                return F.Binary.apply(a, b, op=op)
        elif (type(b) is _pyfloat or type(b) is _pyint) and da.dtype in _FLOAT_NP:
            return F.Binary.apply(a, _pyfloat(b), op=op)
    elif op in _FLOAT_BINARY and (type(a) is _pyfloat or type(a) is _pyint) and isinstance(b, Tensor) \
            and b._data.dtype in _FLOAT_NP:
        return F.Binary.apply(_pyfloat(a), b, op=op)
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if not ta and not tb:
        raise TypeError(f"{op} needs at least one tensor")
    if ta and tb and a.device != b.device:
        if b.ndim == 0 and b.device.type == "cpu":
            b, tb = b.item(), False
        elif a.ndim == 0 and a.device.type == "cpu":
            a, ta = a.item(), False
        else:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{a.device} and {b.device}!")
    if not ta:
        a = _coerce_operand(a, b)
        ta = isinstance(a, Tensor)
    if not tb:
        b = _coerce_operand(b, a)
        tb = isinstance(b, Tensor)
    dt = _dt.result_type(a, b)
    if op in ("div", "atan2") and not dt.is_floating_point:
        dt = _dt.get_default_dtype()
    if op in _LOGICAL:
        dt = _dt.bool if dt is _dt.bool else dt
    if op in _BITWISE and dt.is_floating_point:
        raise RuntimeError(f"\"{op}\" not implemented for '{_TYPE_NAMES[dt.name]}'")
    if op == "sub" and dt is _dt.bool:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    if op == "pow" and not dt.is_floating_point and not tb and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if ta and tb:
        try:
            broadcast_shapes(a.shape, b.shape)
        except ValueError as e:
            d = e.args[0]
            nd = max(a.ndim, b.ndim)
            sa = a.shape[d - (nd - a.ndim)] if d >= nd - a.ndim else 1
            sb = b.shape[d - (nd - b.ndim)] if d >= nd - b.ndim else 1
            raise RuntimeError(f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                               f"non-singleton dimension {d} (shapes {list(a.shape)} and {list(b.shape)})") from None
    if ta and a.dtype is not dt:
        a = a.to(dt)
    if tb and b.dtype is not dt:
        b = b.to(dt)
    if not ta:
        a = _pyfloat(a) if dt.is_floating_point else (_pybool(a) if dt is _dt.bool else _pyint(a))
    if not tb:
        b = _pyfloat(b) if dt.is_floating_point else (_pybool(b) if dt is _dt.bool else _pyint(b))
    if op in _COMPARE or op in _LOGICAL or op in _BITWISE or not dt.is_floating_point:
        t = a if ta else b
        return Tensor._make(t._be.binary(op, a._data if ta else a, b._data if tb else b), t.device)
    return F.Binary.apply(a, b, op=op)


def _coerce_operand(x, other):
    x = _scalar(x)
    if isinstance(x, numbers.Number):
        return x
    if isinstance(x, (list, tuple, np.ndarray)):
        return tensor(x, device=other.device)
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


# ---------------------------------------------------------------------------------------- indexing helpers
def _is_adv(k):
    return isinstance(k, (Tensor, list, np.ndarray)) and not isinstance(k, tuple)


def _parse_index(t, key):
    """Split ``key`` into a basic key (a view) and the advanced part (tensor/list/bool-mask indices).

    Returns ``(basic_key or None, None or (positions, index_list))`` where ``positions`` are the dims of
    the basic view that the advanced indices address.
    """
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(k.item() if isinstance(k, Tensor) and k.ndim == 0 and not k.dtype.is_floating_point
                and k.dtype is not _dt.bool else k for k in key)
    consumed = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, Tensor) and k.dtype is _dt.bool:
            consumed += k.ndim
        elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
            consumed += k.ndim
        else:
            consumed += 1
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > t.ndim:
        raise IndexError(f"too many indices for tensor of dimension {t.ndim}")
    basic, adv_pos, adv_idx = [], [], []
    out_dim, in_dim = 0, 0
    for k in key:
        if k is Ellipsis:
            n = t.ndim - consumed
            basic.append(Ellipsis)
            out_dim += n
            in_dim += n
        elif k is None:
            basic.append(None)
            out_dim += 1
        elif isinstance(k, slice):
            if k.step is not None and _scalar(k.step) <= 0:
                raise ValueError("step must be greater than zero")
            basic.append(slice(_scalar(k.start), _scalar(k.stop), _scalar(k.step)))
            out_dim += 1
            in_dim += 1
        elif isinstance(k, (_pybool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported")
        elif isinstance(k, (_pyint, np.integer)):
            n = t.shape[in_dim]
            k = _pyint(k)
            if k < -n or k >= n:
                raise IndexError(f"index {k} is out of bounds for dimension {in_dim} with size {n}")
            basic.append(k % n)
            in_dim += 1
        elif _is_adv(k):
            idx = _check_index_device(k, t.device) if isinstance(k, Tensor) else \
                tensor(np.asarray(k), device=t.device)
            if idx.dtype is _dt.bool or idx.dtype is _dt.uint8:
                mask = idx.to(_dt.bool)
                for j in range(mask.ndim):
                    if mask.shape[j] != t.shape[in_dim + j]:
                        raise IndexError(f"The shape of the mask {list(mask.shape)} at index {j} does not match "
                                         f"the shape of the indexed tensor {list(t.shape)} at index {in_dim + j}")
                coords = mask.nonzero(as_tuple=True) if mask.ndim else ()
                if mask.ndim == 0:
                    raise IndexError("indexing with a 0-d bool mask is not supported")
                for j, c in enumerate(coords):
                    basic.append(slice(None))
                    adv_pos.append(out_dim)
                    adv_idx.append((c, t.shape[in_dim], in_dim))
                    out_dim += 1
                    in_dim += 1
            else:
                if idx.dtype.is_floating_point:
                    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
                if idx.device != t.device:
                    idx = idx.to(t.device)
                basic.append(slice(None))
                adv_pos.append(out_dim)
                adv_idx.append((idx, t.shape[in_dim], in_dim))
                out_dim += 1
                in_dim += 1
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(k).__name__})")
    basic_key = tuple(basic)
    trivial = all(isinstance(k, slice) and k == slice(None) for k in basic_key) or not basic_key
    return (None if trivial else basic_key), ((adv_pos, adv_idx) if adv_pos else None)


def _check_index_device(idx, dev):
    """The index tensor ``idx``; cpu indices may index a tensor on any device, as in PyTorch."""
    if idx.device != dev and idx.device.type != "cpu":
        raise RuntimeError(f"indices should be either on cpu or on the same device as the indexed tensor "
                           f"({dev}), got indices on {idx.device}")
    return idx


def _check_index_fits(op, x, dim, index):
    """PyTorch's gather/scatter rule, checked before any backend: ``index`` no larger than ``x`` but along
    ``dim``."""
    for d, (n_index, n_x) in enumerate(zip(index.shape, x.shape)):
        if d != dim and n_index > n_x:
            raise RuntimeError(f"{op}: size of index {tuple(index.shape)} exceeds the input {tuple(x.shape)} at "
                               f"dimension {d}")


def _check_softmax_dtype(name, x):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{_TYPE_NAMES[x.dtype.name]}' (pass dtype= to "
                           f"compute in a floating dtype)")


def _as_index(idx, dev):
    if not isinstance(idx, Tensor):
        idx = tensor(np.asarray(idx), device=dev)
    _check_index_device(idx, dev)
    if idx.dtype is not _dt.int64:
        if idx.dtype.is_floating_point:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        idx = idx.to(_dt.int64)
    return idx


def _linear_index(view, positions, indices):
    """Broadcast the advanced indices and fold them into one int64 index over the merged dims.

    One path for every device, as a GPU runs it: each index is checked and its negative values wrapped by
    the backend's `wrap_index` (cpu: an out-of-range index raises IndexError naming it and its dim at once;
    cuda: the kernel records it in the device error word, raised at the host's next wait -- nothing is read
    back here). With several indices, a folded index whose part is out of range is replaced by one past the
    end, so that it cannot alias a valid element; the index kernels mask it."""
    idx = [_as_index(i, view.device) for i, _, _ in indices]
    shape = broadcast_shapes(*[i.shape for i in idx])
    be = view._be
    with autograd.no_grad():
        lin, bad, total = None, None, 1
        for (i, n, dim), it in zip(indices, idx):
            total *= n
            if len(idx) > 1:
                oob = (it >= n) | (it < -n)
                bad = oob if bad is None else bad | oob
            it = Tensor._make(be.wrap_index(it._data, n, dim), view.device)
            lin = it if lin is None else lin * n + it
        if bad is not None:
            lin = where(bad, total, lin)
        lin = lin.expand(shape).reshape(-1) if len(idx) else lin
    return lin, shape


def _advanced_get(view, positions, indices):
    k = len(positions)
    adjacent = positions == list(range(positions[0], positions[0] + k))
    rest = [d for d in range(view.ndim) if d not in positions]
    perm = positions + rest
    x = view.permute(*perm) if perm != list(range(view.ndim)) else view
    sizes = [view.shape[p] for p in positions]
    lin, shape = _linear_index(view, positions, indices)
    if k > 1:
        x = x.reshape((math.prod(sizes),) + tuple(x.shape[k:]))
    out = x.index_select(0, lin)
    rest_shape = tuple(out.shape[1:])
    out = out.reshape(tuple(shape) + rest_shape)
    if adjacent and positions[0] > 0:
        ns = len(shape)
        p0 = positions[0]
        order = list(range(ns, ns + p0)) + list(range(ns)) + list(range(ns + p0, out.ndim))
        out = out.permute(*order)
    return out


def _advanced_set(t, basic, adv, value, tracks):
    positions, indices = adv
    be = t._be
    view_data = be.getitem(t._data, basic) if basic is not None else t._data
    vshape = tuple(view_data.shape)
    k = len(positions)
    rest = [d for d in range(len(vshape)) if d not in positions]
    sizes = [vshape[p] for p in positions]
    fake = Tensor._make(view_data, t.device)
    lin, ishape = _linear_index(fake, positions, indices)
    rest_shape = tuple(vshape[d] for d in rest)
    adjacent = positions == list(range(positions[0], positions[0] + k))
    ns = len(ishape)
    if adjacent and positions[0] > 0:
        p0 = positions[0]
        result_shape = rest_shape[:p0] + tuple(ishape) + rest_shape[p0:]
    else:
        result_shape = tuple(ishape) + rest_shape
    if isinstance(value, (_pyint, _pyfloat, np.integer, np.floating, np.bool_)):   # bool is an int
        value = full((), _scalar(value), dtype=t.dtype, device=t.device)    # made on the device: no host copy
    elif not isinstance(value, Tensor):
        value = tensor(value, dtype=t.dtype, device=t.device)
    value = value.to(t.device).to(t.dtype)
    try:
        value = value.expand(result_shape)
    except RuntimeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(result_shape)}") from None
    if adjacent and positions[0] > 0:
        p0 = positions[0]
        order = list(range(p0, p0 + ns)) + list(range(p0)) + list(range(p0 + ns, len(result_shape)))
        value = value.permute(*order)
    value = value.reshape((lin.shape[0],) + rest_shape)
    perm = positions + rest
    if tracks:
        # out of place on the basic view with the indexed dims first and merged, then written back
        view = t._view_fn(F.Index, key=basic) if basic is not None else t
        moved = view.permute(*perm)
        res = F.IndexPut.apply(moved.reshape((math.prod(sizes),) + rest_shape), lin, value).reshape(moved.shape)
        inverse = [perm.index(d) for d in range(len(perm))]
        res = res.permute(*inverse)
        if basic is not None:
            res = F.SetSlice.apply(t, res, key=basic)
        t._rebind(res)
        return
    permuted = be.permute(view_data, perm)
    flat = be.reshape_view(permuted, (math.prod(sizes),) + rest_shape)
    if flat is not None:
        be.index_copy_(flat, 0, lin._data, value._data)
    else:
        tmp = be.contiguous(permuted)
        flat = be.reshape_view(tmp, (math.prod(sizes),) + rest_shape)
        be.index_copy_(flat, 0, lin._data, value._data)
        be.copy_(permuted, tmp)
    t._version[0] += 1


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


# ---------------------------------------------------------------------------------------- repr
_PRINT_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}
_PRINT = dict(_PRINT_PROFILES["default"], sci_mode=None)
"""The print options (``torch.set_printoptions``); process-wide, as PyTorch's."""


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print (``torch.set_printoptions``): ``precision`` digits after the point, summarize (with
    ``edgeitems`` per side) above ``threshold`` elements, wrap at ``linewidth``; ``profile`` 'default',
    'short' or 'full' first; ``sci_mode`` True/False forces or forbids scientific notation (None: automatic)."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}, expected one of {list(_PRINT_PROFILES)}")
        _PRINT.update(_PRINT_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            _PRINT[name] = value
    _PRINT["sci_mode"] = sci_mode


class _Formatter:
    """PyTorch's element formatter (``torch/_tensor_str.py``): one width for every element; floats print
    as integers with a trailing dot, fixed with 4 decimals, or scientific, chosen from the finite non-zero
    values."""

    def __init__(self, vals, floating):
        self.floating, self.int_mode, self.sci_mode, self.width = floating, True, False, 1
        flat = vals.reshape(-1)
        if not floating:
            self.width = max((len(self._plain(v)) for v in flat.tolist()), default=1)
            return
        nz = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if nz.size == 0:
            return
        amin, amax = float(np.abs(nz).min()), float(np.abs(nz).max())
        self.int_mode = bool(np.all(nz == np.ceil(nz)))
        big_range = amax / amin > 1000.0 or amax > 1.0e8
        self.sci_mode = big_range if self.int_mode else (big_range or amin < 1.0e-4)
        if _PRINT["sci_mode"] is not None:
            self.sci_mode = bool(_PRINT["sci_mode"])
        p = _PRINT["precision"]
        if self.sci_mode:
            self.width = max(len(f"{v:.{p}e}") for v in nz.tolist())
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in nz.tolist())
        else:
            self.width = max(len(f"{v:.{p}f}") for v in nz.tolist())

    @staticmethod
    def _plain(v):
        return str(v)

    def __call__(self, v):
        if not self.floating:
            s = self._plain(v)
        elif self.sci_mode:
            s = f"{v:.{_PRINT['precision']}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{_PRINT['precision']}f}"
        return " " * (self.width - len(s)) + s


def _summarized(vals):
    """The edge items PyTorch shows of a big array (for the formatter's width)."""
    if vals.ndim == 0:
        return vals
    e = _PRINT["edgeitems"]
    if vals.shape[0] > 2 * e:
        vals = np.concatenate([vals[:e], vals[-e:]])
    return np.stack([_summarized(v) for v in vals]) if vals.ndim > 1 else vals


def _body(vals, indent, summarize, fmt):
    """``_tensor_str_with_formatter``: nested brackets, rows wrapped at the line width, '...' when
    summarizing."""
    e = _PRINT["edgeitems"]
    if vals.ndim == 0:
        return fmt(vals.item())
    n = vals.shape[0]
    cut = summarize and n > 2 * e
    if vals.ndim == 1:
        per_line = max(1, int((_PRINT["linewidth"] - indent) // (fmt.width + 2)))
        items = [fmt(v) for v in vals[:e].tolist()] + [" ..."] + [fmt(v) for v in vals[-e:].tolist()] if cut \
            else [fmt(v) for v in vals.tolist()]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(range(e)) + [None] + list(range(n - e, n)) if cut else list(range(n))
    parts = ["..." if i is None else _body(vals[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (vals.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _format(t):
    """``repr(tensor)`` as PyTorch prints it: ``tensor([ 1.0000, -2.5000], device='cuda:0',
    dtype=tritongrad.float16, requires_grad=True)``."""
    vals = t.detach()._be.to_numpy(t._data)
    dt = t.dtype
    if dt is _dt.bfloat16 or dt is _dt.float16:
        vals = vals.astype(np.float32)
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device.type}:{t._dev_index}'")
    if t.numel() == 0:
        if t.ndim != 1:
            suffixes.append(f"size={tuple(t.shape)}")
        if dt is not _dt.get_default_dtype():
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if dt not in (_dt.get_default_dtype(), _dt.int64, _dt.bool):
            suffixes.append(f"dtype={dt!r}")
        summarize = t.numel() > _PRINT["threshold"]
        fmt = _Formatter(_summarized(vals) if summarize else vals, dt.is_floating_point)
        body = _body(vals, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    last = len(out) - out.rfind("\n") + 1
    for sfx in suffixes:
        if last + len(sfx) + 2 > _PRINT["linewidth"]:
            out += ",\n" + " " * indent + sfx
            last = indent + len(sfx)
        else:
            out += ", " + sfx
            last += len(sfx) + 2
    return out + ")"


# ---------------------------------------------------------------------------------------- factories
def _np_from_data(data, dtype):
    if isinstance(data, Tensor):
        return data.detach().cpu()._data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _to_nested(data)
    if isinstance(data, np.ndarray):
        arr = data
    else:
        arr = np.array(data)
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(_dt.get_default_dtype().np)
            elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
                arr = arr.astype(np.int64)
            elif arr.dtype.kind == "O":
                raise TypeError(f"could not infer a dtype for {type(data).__name__} data")
    if dtype is not None:
        arr = arr.astype(_dt.as_dtype(dtype).np)
    elif arr.dtype not in _np_to_dt:
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: "
                            f"float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _to_nested(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_to_nested(x) for x in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (``torch.tensor``): Python floats give the default
    float dtype, ints int64, bools bool; NumPy arrays keep their dtype."""
    dev = as_device(device)
    arr = _np_from_data(data, dtype)
    be = _backend(dev)
    if dev.type == "cpu":
        arr = np.array(arr, copy=True, order="C")
    t = Tensor._make(be.from_numpy(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr), dev.index or 0), dev)
    if pin_memory:
        t = t.pin_memory()
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """Like `tensor` but shares memory with a NumPy array / Tensor when no conversion is needed."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    dev = as_device(device)
    if isinstance(data, np.ndarray) and dev.type == "cpu" and (dtype is None or _dt.as_dtype(dtype).np == data.dtype) \
            and data.dtype in _np_to_dt:
        return Tensor._make(data, dev)
    return tensor(data, dtype=dtype, device=dev)


def from_numpy(arr):
    """A cpu tensor sharing memory with the NumPy array ``arr`` (``torch.from_numpy``)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    if arr.dtype not in _np_to_dt:
        raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: float64, "
                        f"float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return Tensor._make(arr, as_device("cpu"))


def _new(shape, value, dtype, device, requires_grad):
    if any(n < 0 for n in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    if value is not None and not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"fill value must be a number, got {type(value).__name__} {value!r}")
    dev = as_device(device)
    dt = _dt.as_dtype(dtype) if dtype is not None else (
        _dt.get_default_dtype() if value is None or isinstance(value, _pyfloat) else
        _dt.bool if isinstance(value, _pybool) else _dt.int64)
    be = _backend(dev)
    data = be.empty(shape, dt.np, dev.index or 0) if value is None else be.full(shape, value, dt.np, dev.index or 0)
    t = Tensor._make(data, dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False, pin_memory=False, memory_format=None):
    """An uninitialised tensor (``torch.empty``); ``pin_memory=True`` puts a cpu one in page-locked memory."""
    t = _new(_size_arg(sizes, size), None, dtype or _dt.get_default_dtype(), device, False)
    if pin_memory:
        t = t.pin_memory()
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (``torch.zeros``)."""
    return _new(_size_arg(sizes, size), 0, dtype or _dt.get_default_dtype(), device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of ones (``torch.ones``)."""
    return _new(_size_arg(sizes, size), 1, dtype or _dt.get_default_dtype(), device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value``; the dtype follows the value when not given (``torch.full``)."""
    fill_value = _scalar(fill_value)
    return _new(_shape_arg((size,) if isinstance(size, (_pyint, np.integer)) else tuple(size)), fill_value, dtype,
                device, requires_grad)


def _like(t, dtype, device):
    return dtype or t.dtype, device or t.device


def empty_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def zeros_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step`` (``torch.arange``); int64 unless a float
    argument or ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    start, end, step = (_scalar(v.item() if isinstance(v, Tensor) else v) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and larger bound inconsistent with step sign (start={start}, end={end}, "
                           f"step={step})")
    n = max(0, math.ceil((end - start) / step))
    if dtype is None:
        dtype = _dt.int64 if all(isinstance(v, (_pyint, np.integer)) for v in (start, end, step)) else \
            _dt.get_default_dtype()
    dt = _dt.as_dtype(dtype)
    dev = as_device(device)
    t = Tensor._make(_backend(dev).arange(start, step, n, dt.np, dev.index or 0), dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values evenly spaced from ``start`` to ``end`` inclusive (``torch.linspace``)."""
    if steps < 0:
        raise RuntimeError(f"number of steps must be non-negative, got steps={steps}")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    dev = as_device(device)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    t = Tensor._make(_backend(dev).arange(_pyfloat(start), step, steps, dt.np, dev.index or 0), dev)
    if steps > 1:
        t[-1] = end
    if requires_grad:
        t.requires_grad_(True)
    return t


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """An ``n`` x ``m`` identity matrix (``torch.eye``)."""
    m = n if m is None else m
    t = zeros(n, m, dtype=dtype, device=device)
    k = min(n, m)
    if k:
        idx = arange(k, device=device)
        t[idx, idx] = 1
    if requires_grad:
        t.requires_grad_(True)
    return t


@autocast_op("cat")
def cat(tensors, dim=0, *, out=None):
    """Concatenate along ``dim`` (``torch.cat``); all tensors on one device, dtypes promoted.
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("cat", out, cat(tensors, dim))
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected Tensor as element {i} in argument 'tensors', but got "
                            f"{type(t).__name__}")
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    ref = next((t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)), tensors[0])
    d = _norm_dim(dim, ref.ndim)
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = _dt.promote_types(dt, t.dtype)
    parts = []
    for i, t in enumerate(tensors):
        if t.ndim == 1 and t.shape[0] == 0 and ref.ndim != 1:
            continue
        if t.device != ref.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{ref.device} and {t.device}! (when checking argument tensors in cat)")
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                               f"{list(ref.shape)} but got size {list(t.shape)} for tensor number {i} in the list.")
        parts.append(t.to(dt))
    return F.Cat.apply(*parts, dim=d)


concat = concatenate = cat


@autocast_op("stack")
def stack(tensors, dim=0, *, out=None):
    """Stack equal-shaped tensors along a new dimension ``dim`` (``torch.stack``).
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("stack", out, stack(tensors, dim))
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(t.shape)} at entry {i}")
    d = _norm_dim(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (``torch.where``); with one argument, ``nonzero``."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if condition.dtype is not _dt.bool:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_TYPE_NAMES[condition.dtype.name]}")
    ref = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    a = _coerce_operand(input, ref) if not isinstance(input, Tensor) else input
    b = _coerce_operand(other, ref) if not isinstance(other, Tensor) else other
    dt = _dt.result_type(a, b)
    shapes = [condition.shape] + [x.shape for x in (a, b) if isinstance(x, Tensor)]
    try:
        broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(f"where: shapes {[list(s) for s in shapes]} cannot be broadcast together") from None
    for x in (a, b):
        if isinstance(x, Tensor) and x.device != condition.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{condition.device} and {x.device}!")
    if isinstance(a, Tensor):
        a = a.to(dt)
    else:
        a = _pyfloat(a) if dt.is_floating_point else _pyint(a) if dt is not _dt.bool else _pybool(a)
    if isinstance(b, Tensor):
        b = b.to(dt)
    else:
        b = _pyfloat(b) if dt.is_floating_point else _pyint(b) if dt is not _dt.bool else _pybool(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        full_shape = tuple(condition.shape)
        return Tensor._make(condition._be.where(condition._data, a, b), condition.device).reshape(full_shape)
    if not dt.is_floating_point:
        return Tensor._make(condition._be.where(condition._data, a._data if isinstance(a, Tensor) else a,
                                                b._data if isinstance(b, Tensor) else b), condition.device)
    return F.Where.apply(condition, a, b)


_PRECISION = []   # tritongrad._matmul_precision (the package imports this module first)


@autocast_op("matmul")
def matmul(a, b, *, out=None):
    """Matrix product with PyTorch's rules for 1-D, 2-D, batched and broadcast operands (``torch.matmul``).
    With ``out=``, the result is written into ``out`` (`ops_extra.write_out`)."""
    if out is not None:
        return _ox.write_out("matmul", out, matmul(a, b))
    if not _PRECISION:
        from .. import _matmul_precision
        _PRECISION.append(_matmul_precision)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul expects two tensors")
    sa, sb = a._data.shape, b._data.shape
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0] and a.device is b.device and \
            a._data.dtype == b._data.dtype and a._data.dtype in _FLOAT_NP:
        # fast path: 2-D @ 2-D, nothing to check further
        return F.Matmul.apply(a, b, allow_tf32=_PRECISION[0][0] != "highest")
    if not sa or not sb:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(sa)}D and "
                           f"{len(sb)}D")
    if a.device is not b.device and a.device != b.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{a.device} and {b.device}!")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")
    if a._data.dtype not in _FLOAT_NP:
        raise RuntimeError(f"\"matmul\" not implemented for '{_TYPE_NAMES[a.dtype.name]}'")
    k_a = sa[-1]
    k_b = sb[-2] if len(sb) > 1 else sb[0]
    if k_a != k_b:
        if a.ndim == 1 and b.ndim == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                               f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                               f"respectively")
        ma = "x".join(map(str, (math.prod(a.shape[:-1]) if a.ndim > 1 else 1, k_a)))
        mb = "x".join(map(str, (k_b, b.shape[-1] if b.ndim > 1 else 1)))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ma} and {mb}) (shapes {list(a.shape)} and "
                           f"{list(b.shape)})")
    tf32 = _PRECISION[0][0] != "highest"
    squeeze_front = len(sa) == 1
    squeeze_back = len(sb) == 1
    if squeeze_front:
        a = a.unsqueeze(0)
    if squeeze_back:
        b = b.unsqueeze(1)
    if len(sb) > 2:
        try:
            broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        except ValueError:
            raise RuntimeError(f"matmul: the batch dimensions of shapes {list(a.shape)} and {list(b.shape)} cannot be "
                               f"broadcast ({list(a.shape[:-2])} vs {list(b.shape[:-2])})") from None
    out = F.Matmul.apply(a, b, allow_tf32=tf32)   # one node: Matmul folds/broadcasts to 3-D at array level
    if squeeze_front:
        out = out.squeeze(-2)
    if squeeze_back:
        out = out.squeeze(-1)
    return out


def _late_imports():
    """Import what this module shares in an import cycle (`tritongrad.ops_extra` imports `Tensor`); called by
    the package once every name it needs exists."""
    global _ox
    from .. import ops_extra as _ox
