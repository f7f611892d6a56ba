"""``torch.nn.functional.embedding_bag``, re-exported by `tritongrad.nn.functional` (used by
`tritongrad.nn.EmbeddingBag`).

A composite of ops that have a Triton kernel pair and a NumPy reference, all on the device (no host sync):
the rows are looked up with ``embedding``, each entry's bag number comes from ``offsets`` by an ``index_add``
of ones at the bag starts and a ``cumsum``, and the bags are reduced with ``index_add`` (sum, mean) or a
masked ``amax`` over a ``(bags, entries, dim)`` view (max). Gradients flow through those ops' backwards.
"""
from __future__ import annotations

from .. import dtypes as _dt
from ..tensor import Tensor, arange, tensor, where, zeros
from .functional import embedding

__all__ = ["embedding_bag"]


def _bag_ids(offsets, n, nbags):
    """The bag number of each of the ``n`` entries: bag ``i`` holds entries ``[offsets[i], offsets[i+1])``."""
    if n == 0:
        return zeros(0, dtype=_dt.int64, device=offsets.device)
    starts = offsets[1:nbags] if nbags > 1 else offsets[:0]
    inside = (starts < n).to(_dt.int64)
    marks = zeros(n, dtype=_dt.int64, device=offsets.device).index_add(0, starts.clamp(max=max(n - 1, 0)), inside)
    return marks.cumsum(0)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """``F.embedding_bag``: the sums, means or maxima of bags of ``weight`` rows, one ``(B, D)`` row per bag,
    without materialising the looked-up rows per bag.

    ``input`` 2-D ``(B, L)``: each row is a bag (``offsets`` must be None). ``input`` 1-D: ``offsets`` (1-D,
    starting at 0) gives the start of each bag; with ``include_last_offset`` its last entry is the end of the
    last bag instead of the start of one more. Entries equal to ``padding_idx`` are left out (and not counted
    by ``'mean'``); an empty bag gives zeros. ``per_sample_weights`` (``input``'s shape) scale each row,
    ``mode='sum'`` only. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are not supported."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported by "
                                  "tritongrad")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if not isinstance(input, Tensor) or input.dtype not in (_dt.int64, _dt.int32):
        raise ValueError("embedding_bag: input has to be an int64 or int32 Tensor, got "
                         f"{getattr(input, 'dtype', type(input).__name__)}")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, "
                             f"then it must have the same shape as the input ({list(input.shape)})")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences. However, found offsets of type Tensor")
        b, length = input.shape
        offsets = arange(0, b * length, max(length, 1), device=input.device)[:b]
        input = input.reshape(-1)
        per_sample_weights = None if per_sample_weights is None else per_sample_weights.reshape(-1)
        include_last_offset = False
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if not isinstance(offsets, Tensor):
            offsets = tensor(offsets, dtype=_dt.int64, device=input.device)
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        if offsets.dtype not in (_dt.int64, _dt.int32):
            raise ValueError(f"embedding_bag: offsets has to be an int64 or int32 Tensor, got {offsets.dtype}")
        if offsets.device != input.device:
            raise RuntimeError(f"embedding_bag: input is on {input.device} but offsets on {offsets.device}")
        offsets = offsets.to(_dt.int64)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    n, dim = input.shape[0], weight.shape[1]
    nbags = offsets.shape[0] - (1 if include_last_offset else 0)
    if nbags < 0:
        raise ValueError("embedding_bag: include_last_offset needs at least one offset")
    bag = _bag_ids(offsets, n, nbags)
    if include_last_offset and nbags < offsets.shape[0]:
        # entries at or past the last offset belong to no bag: route them to a scratch bag dropped below
        bag = where(arange(n, device=input.device) < offsets[nbags], bag, bag * 0 + nbags)
    rows = embedding(input, weight)
    keep = None if padding_idx is None else (input != (padding_idx % weight.shape[0]))
    out_bags = nbags + (1 if include_last_offset else 0)
    if mode == "max":
        member = bag.reshape(1, n) == arange(out_bags, device=input.device).reshape(out_bags, 1)
        if keep is not None:
            member = member & keep.reshape(1, n)
        vals = where(member.reshape(out_bags, n, 1), rows.reshape(1, n, dim), float("-inf"))
        out = vals.amax(1) if n else rows.sum(0, keepdim=True).expand(out_bags, dim)   # no entries: zeros
        out = where(member.any(1).reshape(out_bags, 1), out, 0.0)
    else:
        scale = None if per_sample_weights is None else per_sample_weights.to(weight.dtype)
        if keep is not None:
            k = keep.to(weight.dtype)
            scale = k if scale is None else scale * k
        if scale is not None:
            rows = rows * scale.reshape(n, 1)
        out = zeros(out_bags, dim, dtype=weight.dtype, device=weight.device).index_add(0, bag, rows)
        if mode == "mean":
            ones = keep.to(weight.dtype) if keep is not None else zeros(n, dtype=weight.dtype,
                                                                         device=weight.device) + 1.0
            counts = zeros(out_bags, dtype=weight.dtype, device=weight.device).index_add(0, bag, ones)
            out = out / counts.clamp(min=1.0).reshape(out_bags, 1)
    return out[:nbags] if out_bags != nbags else out
