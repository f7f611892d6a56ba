"""Samplers (``torch.utils.data.sampler``): which dataset indices a `DataLoader` visits, in which order.

Random samplers draw from tritongrad's Philox `Generator` (``tritongrad.random``): with a ``generator``
they consume its stream; without one they seed a fresh generator from the default generator at each
``iter()``, as PyTorch does, so ``tritongrad.manual_seed`` makes them reproducible.
"""
from __future__ import annotations

import numpy as np

from ... import random as _random
from ...tensor import tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _bool(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"{name} should be a boolean value, but got {name}={value!r}")
    return value


def random_seed(generator=None):
    """A 63-bit seed drawn from ``generator`` (default: the cpu default generator), like PyTorch's
    ``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``."""
    hi, lo = _random.randint(0, 1 << 32, (2,), generator=generator).tolist()
    return ((hi << 32) | lo) >> 1


def _generator(generator):
    return generator if generator is not None else _random.Generator().manual_seed(random_seed())


class Sampler:
    """``torch.utils.data.Sampler``: subclasses define ``__iter__`` over indices (and usually ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``torch.utils.data.SequentialSampler(data_source)``: ``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """``torch.utils.data.RandomSampler(data_source, replacement=False, num_samples=None, generator=None)``.

    Without replacement: successive random permutations of ``range(n)`` (``randperm``), cut to
    ``num_samples`` (default ``n``); with replacement: ``num_samples`` uniform draws from ``[0, n)``, made
    lazily 32 at a time (so ``num_samples=int(1e10)`` makes an endless sampler, as in PyTorch)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement!r}")
        if num_samples is not None:
            _positive_int(num_samples, "num_samples")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self):
        n = len(self.data_source)
        generator = _generator(self.generator)
        if self.replacement:
            # in chunks of 32 draws, as PyTorch does: num_samples may be huge (an "infinite" loader,
            # e.g. makemore's num_samples=int(1e10)), so nothing of size num_samples is materialised
            for _ in range(self.num_samples // 32):
                yield from _random.randint(0, n, (32,), generator=generator).tolist()
            if self.num_samples % 32:
                yield from _random.randint(0, n, (self.num_samples % 32,), generator=generator).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from _random.randperm(n, generator=generator).tolist()
        yield from _random.randperm(n, generator=generator).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """``torch.utils.data.SubsetRandomSampler(indices, generator=None)``: the given indices in random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in _random.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``torch.utils.data.WeightedRandomSampler(weights, num_samples, replacement=True, generator=None)``:
    ``num_samples`` indices drawn with probability proportional to ``weights`` (``multinomial``)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.replacement = _bool(replacement, "replacement")
        w = np.asarray(weights.tolist() if hasattr(weights, "tolist") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = tensor(w)
        self.generator = generator

    def __iter__(self):
        drawn = _random.multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator)
        yield from drawn.tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """``torch.utils.data.BatchSampler(sampler, batch_size, drop_last)``: lists of ``batch_size`` indices
    from ``sampler``; the last, shorter list is dropped when ``drop_last``. ValueError for a batch size that
    is not a positive int or a ``drop_last`` that is not a bool."""

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = _bool(drop_last, "drop_last")
        self.sampler = sampler

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
