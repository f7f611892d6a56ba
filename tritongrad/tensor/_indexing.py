"""Indexing of `Tensor` (`_IndexingMixin`): ``t[key]`` and ``t[key] = value`` with PyTorch's rules (basic
keys give views; tensor, list and bool-mask keys are advanced indexing, folded into one linear index), and
index_select, gather, scatter_add, masked_fill, nonzero."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import autograd
from .. import dtypes as _dt
from .. import functions as F
from .._autocast import autocast_op
from .._strides import broadcast_shapes
from ._helpers import _norm_dim, _pybool, _pyfloat, _pyint, _scalar


class _IndexingMixin:
    """`Tensor`'s indexing methods."""

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


# ---------------------------------------------------------------------------------------- indexing helpers
def _is_adv(k):
    """An advanced index: a tensor, list, array or ``range`` (``input[range(n), target]``, the nn tutorial)."""
    return isinstance(k, (Tensor, list, np.ndarray, range)) and not isinstance(k, tuple)


def _bound(x):
    """A slice bound as a Python int: NumPy scalars and 0-d integer tensors (``data[i:i + block_size]`` with
    ``i`` from ``torch.randint``, karpathy's get_batch) through ``__index__``, as PyTorch."""
    if isinstance(x, Tensor):
        return x.__index__()
    return _scalar(x)


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
            if k.step is not None and _bound(k.step) <= 0:
                raise ValueError("step must be greater than zero")
            basic.append(slice(_bound(k.start), _bound(k.stop), _bound(k.step)))
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


def _late_imports():
    """Import what this module shares in an import cycle (`_core` builds `Tensor` from this module's mixin;
    the factories need `Tensor`); called by the package once they all exist."""
    global Tensor, full, tensor, where
    from ._core import Tensor
    from ._factories import full, tensor, where
