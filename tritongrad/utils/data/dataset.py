"""Datasets (``torch.utils.data.dataset``): `Dataset`, `IterableDataset`, `TensorDataset`, `Subset`,
`ConcatDataset`, `ChainDataset` and `random_split`, with PyTorch's semantics."""
from __future__ import annotations

import bisect
import itertools
import math
import warnings

from ...random import randperm

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split"]


class Dataset:
    """``torch.utils.data.Dataset``: a map-style dataset. Subclasses define ``__getitem__(index)`` and
    usually ``__len__()`` (samplers and `DataLoader`'s ``len()`` need it). They may also define
    ``__getitems__(indices)`` returning the list of samples of a whole batch at once; `DataLoader` then
    calls it instead of ``__getitem__`` per index (PyTorch >= 2.1). ``a + b`` is ``ConcatDataset([a, b])``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """``torch.utils.data.IterableDataset``: a dataset that is a stream; subclasses define ``__iter__``.

    With ``num_workers > 0`` every worker process iterates its own copy of the dataset, so a dataset that
    should not yield duplicates splits its stream with `get_worker_info` (``info.id``, ``info.num_workers``)
    inside ``__iter__``. ``a + b`` is ``ChainDataset([a, b])``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """``torch.utils.data.TensorDataset(*tensors)``: sample ``i`` is ``tuple(t[i] for t in tensors)``; every
    tensor must have the same size in dimension 0 (ValueError otherwise).

    `DataLoader` with `default_collate` batches a TensorDataset by gathering rows of the whole batch at once
    (the same result as collating the samples one by one, without the per-sample Python work)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"Size mismatch between tensors: first dimensions "
                             f"{[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    """``torch.utils.data.ConcatDataset(datasets)``: the map-style datasets one after another; index ``i``
    (negative counts from the end) is looked up in the dataset it falls into."""

    @staticmethod
    def cumsum(sequence):
        out, total = [], 0
        for d in sequence:
            total += len(d)
            out.append(total)
        return out

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """``torch.utils.data.ChainDataset(datasets)``: iterable datasets chained one after another."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """``torch.utils.data.Subset(dataset, indices)``: the samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        inner = [self.indices[i] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            return getitems(inner)
        return [self.dataset[i] for i in inner]

    def __len__(self):
        return len(self.indices)


def _fraction_lengths(n, fractions):
    lengths = []
    for i, frac in enumerate(fractions):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        lengths.append(int(math.floor(n * frac)))
    for i in range(n - sum(lengths)):     # distribute the remainder round-robin, as PyTorch does
        lengths[i % len(lengths)] += 1
    for i, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
    return lengths


def random_split(dataset, lengths, generator=None):
    """``torch.utils.data.random_split(dataset, lengths, generator=default_generator)``: split into
    non-overlapping `Subset`s of the given lengths, or of the given fractions when ``lengths`` sums to 1
    (``floor(n * frac)`` each, the remainder handed out one by one from the first split). The permutation
    is ``randperm(n, generator=generator)``; ValueError when the lengths do not add up to ``len(dataset)``."""
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        lengths = _fraction_lengths(len(dataset), lengths)
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = randperm(sum(lengths), generator=generator).tolist()
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
