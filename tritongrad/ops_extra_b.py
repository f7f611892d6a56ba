"""More Tensor and top-level ops that PyTorch programs use (found by running public programs with the imports
changed): `unique`, `cumprod`, `Tensor.unfold`, `movedim`/`moveaxis`, `tile`, the unary composites `log10`,
`log2`, `exp2`, `sinh`, `cosh`, `tan`, `isfinite`, `isposinf`, `isneginf`, and the in-place views
`unsqueeze_`/`squeeze_`/`transpose_`/`t_`. Each is a composite of existing ops (autograd gives the gradient)
under PyTorch's name and semantics; `tritongrad.ops_extra` re-exports them and attaches the methods to Tensor.
"""
from __future__ import annotations

import math

from . import autograd
from . import dtypes as _dt
from ._autocast import autocast_op
from .ops_extra import _check_tensor, masked_select
from .tensor import Tensor, _norm_dim, arange, tensor, zeros

__all__ = ["unique", "cumprod", "unfold", "movedim", "moveaxis", "tile", "log10", "log2", "exp2", "sinh", "cosh",
           "tan", "isfinite", "isposinf", "isneginf", "unsqueeze_", "squeeze_", "transpose_", "t_"]


# ------------------------------------------------------------------------------------------------- unique
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """``torch.unique`` (flattened, ``dim=None``): the distinct values of ``input`` in ascending order, and
    optionally ``inverse`` (for every input element, the index of its value in the output; input's shape)
    and ``counts`` (how often each value occurs). Built from the stable sort: a value starts a new group where
    it differs from its sorted predecessor. The result is sorted even with ``sorted=False`` (PyTorch allows
    any order then). Not differentiable; synchronizes (the length depends on the data)."""
    _check_tensor("unique", "input", input)
    if dim is not None:
        raise NotImplementedError("unique(dim=...) is not supported; tritongrad's unique works on the "
                                  "flattened tensor (dim=None)")
    flat = input.detach().reshape(-1)
    keys = flat.to(_dt.uint8) if flat.dtype is _dt.bool else flat
    vals, order = keys.sort(stable=True)
    n = flat.numel()
    first = zeros(n, dtype=_dt.bool, device=flat.device)
    if n:
        first[0] = True
        first[1:] = vals[1:] != vals[:-1]
    out = masked_select(vals, first).to(flat.dtype)
    extra = []
    if return_inverse:
        group = first.to(_dt.int64).cumsum(0) - 1
        inverse = zeros(n, dtype=_dt.int64, device=flat.device)
        inverse[order] = group
        extra.append(inverse.reshape(input.shape))
    if return_counts:
        starts = first.nonzero().reshape(-1)
        ends = _cat_index(starts[1:], n)
        extra.append(ends - starts)
    return (out, *extra) if extra else out


def _cat_index(head, last):
    from .tensor import cat
    return cat([head, tensor([last], dtype=_dt.int64, device=head.device)])

# ------------------------------------------------------------------------------------------------- cumprod
@autocast_op("cumprod")
def cumprod(input, dim, *, dtype=None):
    """``torch.cumprod``: the inclusive running product along ``dim`` (diffusion schedules'
    ``alphas_cumprod``). A Hillis-Steele scan: ceil(log2(n)) elementwise products of shifted slices, so zeros
    and negative values are exact and autograd gives the gradient (its rounding differs from a sequential
    product by the order of the multiplications only). Integer and bool inputs give int64, as PyTorch."""
    _check_tensor("cumprod", "input", input)
    x = input if dtype is None else input.to(dtype)
    if dtype is None and not x.dtype.is_floating_point:
        x = x.to(_dt.int64)
    if x.ndim == 0:
        return x.clone()
    d = _norm_dim(dim, x.ndim)
    n = x.shape[d]
    from .tensor import cat
    step = 1
    while step < n:
        head = x.narrow(d, 0, step)
        x = cat([head, x.narrow(d, step, n - step) * x.narrow(d, 0, n - step)], dim=d)
        step *= 2
    return x if x is not input else x.clone()

# ------------------------------------------------------------------------------------------------- Tensor.unfold
def unfold(self, dimension, size, step):
    """``Tensor.unfold(dimension, size, step)``: every window of ``size`` elements along ``dimension``, ``step``
    apart, as a new last dimension (ViT patch extraction: ``x.unfold(2, p, p).unfold(3, p, p)``); ``dimension``
    becomes the window count ``(n - size) // step + 1``. One ``index_select`` of the window positions and a
    reshape: a copy where PyTorch returns a strided view, same values, gradient through index_select."""
    _check_tensor("unfold", "self", self)
    if self.ndim == 0:
        if size != 1 and size != 0:
            raise RuntimeError(f"maximum size for tensor at dimension 0 is 1 but size is {size}")
        return self.reshape(1)
    d = _norm_dim(dimension, self.ndim)
    n = self.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    windows = (n - size) // step + 1
    idx = (arange(windows, device=self.device).reshape(windows, 1) * step
           + arange(size, device=self.device).reshape(1, size)).reshape(-1)
    out = self.index_select(d, idx)
    shape = list(self.shape)
    shape[d:d + 1] = [windows, size]
    return out.reshape(shape).permute(*[i for i in range(len(shape)) if i != d + 1], d + 1)

# ------------------------------------------------------------------------------------------------- movedim, tile
def movedim(input, source, destination):
    """``torch.movedim``/``moveaxis``: move the dims ``source`` (an int or a sequence) to the positions
    ``destination``, the other dims keeping their order; a permuted view."""
    _check_tensor("movedim", "input", input)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the "
                           f"same number of dims as destination ({dst} dims)")
    n = input.ndim
    src = [_norm_dim(d, max(n, 1)) for d in src]
    dst = [_norm_dim(d, max(n, 1)) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    order = [None] * n
    for s_, d_ in zip(src, dst):
        order[d_] = s_
    rest = iter(d for d in range(n) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return input.permute(*order) if n else input


def tile(input, dims):
    """``torch.tile``: repeat ``input`` ``dims[i]`` times along each dim; with fewer ``dims`` than dims, ones are
    prepended to ``dims`` (with more, to the input's shape), as in PyTorch (`Tensor.repeat` underneath)."""
    _check_tensor("tile", "input", input)
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return input.repeat(*dims)

# ------------------------------------------------------------------------------------------------- unary composites
def _floating(x, fn):
    _check_tensor(fn, "input", x)
    return x if x.dtype.is_floating_point else x.to(_dt.get_default_dtype())


@autocast_op("log10")
def log10(input):
    """``torch.log10``: the base-10 logarithm, ``log(x) / ln(10)`` (integers give the default float dtype)."""
    return _floating(input, "log10").log() / math.log(10.0)


@autocast_op("log2")
def log2(input):
    """``torch.log2``: the base-2 logarithm, ``log(x) / ln(2)`` (integers give the default float dtype)."""
    return _floating(input, "log2").log() / math.log(2.0)


def exp2(input):
    """``torch.exp2``: ``2 ** x`` elementwise, as ``exp(x * ln(2))`` (integers give the default float dtype)."""
    return (_floating(input, "exp2") * math.log(2.0)).exp()


@autocast_op("sinh")
def sinh(input):
    """``torch.sinh``: ``(expm1(x) - expm1(-x)) / 2``, which keeps full relative precision near 0."""
    x = _floating(input, "sinh")
    return (x.expm1() - (-x).expm1()) * 0.5


@autocast_op("cosh")
def cosh(input):
    """``torch.cosh``: ``1 + 2 sinh(x/2)**2``, whose gradient ``sinh(x)`` keeps full precision near 0."""
    half = sinh(_floating(input, "cosh") * 0.5)
    return half * half * 2.0 + 1.0


@autocast_op("tan")
def tan(input):
    """``torch.tan``: ``sin(x) / cos(x)``."""
    x = _floating(input, "tan")
    return x.sin() / x.cos()


def isfinite(input):
    """``torch.isfinite``: True where the value is neither NaN nor +-inf (always True for integers and bool)."""
    _check_tensor("isfinite", "input", input)
    if not input.dtype.is_floating_point:
        return zeros(*input.shape, dtype=_dt.bool, device=input.device).logical_not()
    return (input.isnan() | input.isinf()).logical_not()


def isposinf(input):
    """``torch.isposinf``: True where the value is +inf."""
    _check_tensor("isposinf", "input", input)
    return input.isinf() & (input > 0)


def isneginf(input):
    """``torch.isneginf``: True where the value is -inf."""
    _check_tensor("isneginf", "input", input)
    return input.isinf() & (input < 0)


_AS_METHODS = (movedim, tile, cumprod, unique, log10, log2, exp2, sinh, cosh, tan, isfinite, isposinf, isneginf)
for _f in _AS_METHODS:
    if not hasattr(Tensor, _f.__name__):          # ``Tensor.<name>``: the same function as a method
        setattr(Tensor, _f.__name__, _f)
moveaxis = movedim
if not hasattr(Tensor, "moveaxis"):
    Tensor.moveaxis = movedim
del _f

# ------------------------------------------------------------------------------------------------- in-place views
def _inplace_view(self, view):
    """Make ``self`` the ``view`` of itself (PyTorch's in-place metadata ops): same memory, the view's shape and
    strides; under autograd self takes the view's place in the graph. Refused on leaves that require grad."""
    grad = autograd.is_grad_enabled() and self.requires_grad
    if grad and self.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    was_view = self._base is not None
    if grad:
        self._adopt(view)
    self._data = view._data
    self._base, self._view_ops = (view._base, view._view_ops) if was_view else (None, ())
    return self


def unsqueeze_(self, dim):
    """``Tensor.unsqueeze_``: insert a size-1 dim at ``dim`` in place (``target.unsqueeze_(-1)`` in the
    char_rnn_generation tutorial)."""
    return _inplace_view(self, self.unsqueeze(dim))


def squeeze_(self, dim=None):
    """``Tensor.squeeze_``: drop size-1 dims (all, or those in ``dim``) in place."""
    return _inplace_view(self, self.squeeze() if dim is None else self.squeeze(dim))


def transpose_(self, dim0, dim1):
    """``Tensor.transpose_``: swap ``dim0`` and ``dim1`` in place (a strided view of the same memory)."""
    return _inplace_view(self, self.transpose(dim0, dim1))


def t_(self):
    """``Tensor.t_``: the in-place `transpose_` of a tensor of at most 2 dims."""
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return _inplace_view(self, self.t())


for _f in (unsqueeze_, squeeze_, transpose_, t_, unfold):
    setattr(Tensor, _f.__name__, _f)
Tensor.swapdims_ = Tensor.swapaxes_ = transpose_
del _f
