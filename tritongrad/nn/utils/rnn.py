"""``tritongrad.nn.utils.rnn``: variable-length sequences (``torch.nn.utils.rnn``).

A `PackedSequence` holds the steps of a batch of sequences sorted by decreasing length, time step after time
step: ``data`` (sum of lengths, *), ``batch_sizes`` (int64 cpu tensor: sequences still running at each step),
and the permutation that sorted the batch (``sorted_indices``) and its inverse (``unsorted_indices``), None
when the batch was given sorted. Packing and unpacking are gathers (``index_select``), so gradients flow.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import dtypes as _dt
from ...tensor import Tensor, cat, full, tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence", "invert_permutation"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A packed batch of variable-length sequences (``torch.nn.utils.rnn.PackedSequence``); made by
    `pack_padded_sequence` / `pack_sequence`, accepted by `nn.RNN`, `nn.LSTM` and `nn.GRU`."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same sequence with ``data`` (and the index tensors) moved/cast as ``Tensor.to``."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(data.device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def cpu(self):
        return self.to("cpu")

    @property
    def is_cuda(self):
        return self.data.is_cuda


def invert_permutation(permutation):
    """The inverse of the index permutation ``permutation`` (a 1-D int64 tensor), or None."""
    if permutation is None:
        return None
    p = permutation.numpy() if permutation.device.type == "cpu" else permutation.cpu().numpy()
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size)
    return tensor(inv, dtype=_dt.int64, device=permutation.device)


def _lengths_list(lengths):
    if isinstance(lengths, Tensor):
        if lengths.device.type != "cpu" and lengths.ndim:
            lengths = lengths.cpu()
        lengths = lengths.numpy()
    return [int(n) for n in np.asarray(lengths).reshape(-1)]


def _packed_rows(batch_sizes, B):
    """Flat indices (into a time-major (T*B, ...) layout) of the packed rows, step after step."""
    return np.concatenate([t * B + np.arange(n) for t, n in enumerate(batch_sizes)]).astype(np.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack a list of (L_i, *) tensors into (T, B, *) (``batch_first``: (B, T, *)) with T the longest
    length, filling with ``padding_value`` on the ``padding_side`` ("right" or "left")
    (``torch.nn.utils.rnn.pad_sequence``)."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    first = sequences[0]
    trailing = tuple(first.shape[1:])
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: sequence {i} has shape {tuple(s.shape)}, expected (*, "
                               f"{', '.join(map(str, trailing))}) as sequence 0")
    lens = [int(s.shape[0]) for s in sequences]
    T, B, total = max(lens), len(sequences), sum(lens)
    pad_row = full((1,) + trailing, padding_value, dtype=first.dtype, device=first.device)
    src = np.full((T, B), total, dtype=np.int64)
    start = 0
    for b, n in enumerate(lens):
        t0 = 0 if padding_side == "right" else T - n
        src[t0:t0 + n, b] = start + np.arange(n)
        start += n
    if batch_first:
        src = src.T
    rows = cat(list(sequences) + [pad_row], dim=0)
    out = rows.index_select(0, tensor(src.reshape(-1), device=first.device))
    return out.reshape(src.shape + trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences of a padded batch (``torch.nn.utils.rnn.unpad_sequence``)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, :n] for b, n in enumerate(_lengths_list(lengths))]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``input`` (T, B, *) (``batch_first``: (B, T, *)) of sequences with ``lengths``
    (``torch.nn.utils.rnn.pack_padded_sequence``). With ``enforce_sorted`` the lengths must be decreasing;
    otherwise the batch is sorted here and the permutation kept in the result."""
    lens = _lengths_list(lengths)
    x = input.transpose(0, 1) if batch_first else input
    T, B = x.shape[:2]
    if len(lens) != B:
        raise RuntimeError(f"pack_padded_sequence: got {len(lens)} lengths for a batch of {B}")
    if any(n <= 0 for n in lens):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if max(lens) > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {max(lens)} exceeds the {T} steps of the input")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lens, lens[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
    else:
        order = np.argsort(-np.asarray(lens), kind="stable")
        sorted_indices = tensor(order, dtype=_dt.int64, device=input.device)
        x = x.index_select(1, sorted_indices)
        lens = [lens[i] for i in order]
    batch_sizes = [sum(1 for n in lens if n > t) for t in range(max(lens))]
    flat = x.reshape(T * B, *x.shape[2:])
    data = flat.index_select(0, tensor(_packed_rows(batch_sizes, B), device=input.device))
    return PackedSequence(data, tensor(batch_sizes, dtype=_dt.int64), sorted_indices)


def _padded_from_packed(data, batch_sizes, total_length, padding_value):
    """(T, B, *) time-major padded tensor of packed ``data`` (sorted order)."""
    B, T = batch_sizes[0], max(total_length, len(batch_sizes))
    src = np.full(T * B, data.shape[0], dtype=np.int64)
    src[_packed_rows(batch_sizes, B)] = np.arange(data.shape[0])
    pad_row = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    rows = cat([data, pad_row], dim=0).index_select(0, tensor(src, device=data.device))
    return rows.reshape(T, B, *data.shape[1:])


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Unpack a `PackedSequence` into ``(padded, lengths)``: padded (T, B, *) (``batch_first``: (B, T, *)),
    in the original batch order, T = ``total_length`` or the longest length; ``lengths`` an int64 cpu tensor
    (``torch.nn.utils.rnn.pad_packed_sequence``)."""
    batch_sizes = _lengths_list(sequence.batch_sizes)
    if total_length is not None and total_length < len(batch_sizes):
        raise ValueError(f"Expected total_length to be at least the length of the longest sequence in the input, "
                         f"but got total_length={total_length} and max sequence length being {len(batch_sizes)}")
    padded = _padded_from_packed(sequence.data, batch_sizes, total_length or 0, padding_value)
    bs = np.asarray(batch_sizes)
    lengths = (bs[None, :] > np.arange(batch_sizes[0])[:, None]).sum(axis=1)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[_lengths_list(sequence.unsorted_indices)]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, tensor(lengths, dtype=_dt.int64)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of (L_i, *) tensors (``torch.nn.utils.rnn.pack_sequence``)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences of a `PackedSequence` (``torch.nn.utils.rnn.unpack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
