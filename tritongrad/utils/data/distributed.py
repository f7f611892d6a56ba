"""`DistributedSampler` (``torch.utils.data.distributed``): each rank's share of a dataset, in PyTorch's order.

PyTorch shuffles with ``torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + epoch))``
on the cpu. tritongrad's own generator is Philox (see `tritongrad.random`), so to give every rank exactly the
indices PyTorch would, this module reproduces that one stream: PyTorch's cpu generator is a 32-bit
Mersenne Twister (mt19937) seeded by the standard ``init_genrand`` with the low 32 bits of the seed, and its
cpu ``randperm`` (for n below 2**32 / 20) is the swap loop ``for i in 0 .. n-2: j = i + random() % (n - i);
swap(p[i], p[j])`` on ``p = 0 .. n-1``. NumPy's ``MT19937`` bit generator, given that state, draws the same
32-bit numbers.
"""
from __future__ import annotations

import math

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]

_MT_N = 624
_RANDPERM_SWAP_LIMIT = (2 ** 32 - 1) // 20
"""PyTorch's cpu randperm uses the swap loop below this n, another algorithm above it."""


def _mt19937_state(seed):
    """mt19937's ``init_genrand`` state for the low 32 bits of ``seed`` (as PyTorch's ``at::mt19937``)."""
    key = np.empty(_MT_N, np.uint32)
    x = seed & 0xFFFF_FFFF
    key[0] = x
    for i in range(1, _MT_N):
        x = (1812433253 * (x ^ (x >> 30)) + i) & 0xFFFF_FFFF
        key[i] = x
    return key


def torch_cpu_randperm(n, seed):
    """The list ``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()`` gives on cpu."""
    if n >= _RANDPERM_SWAP_LIMIT:
        raise NotImplementedError(f"torch_cpu_randperm: n={n} is past PyTorch's swap-loop range "
                                  f"(n < {_RANDPERM_SWAP_LIMIT}); its other algorithm is not reproduced")
    bits = np.random.MT19937(0)
    bits.state = {"bit_generator": "MT19937", "state": {"key": _mt19937_state(int(seed)), "pos": _MT_N}}
    if n < 2:
        return list(range(n))
    offsets = (bits.random_raw(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
    perm = list(range(n))
    for i, z in enumerate(offsets):
        j = i + z
        perm[i], perm[j] = perm[j], perm[i]
    return perm


class DistributedSampler(Sampler):
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` loads
    (``torch.utils.data.distributed.DistributedSampler``), the same as PyTorch's for the same arguments.

    With ``shuffle`` the order is a permutation seeded by ``seed + epoch`` (call `set_epoch` at the start of
    each epoch, on every rank); without, ``0 .. len - 1``. Unless ``drop_last``, the list is padded by
    repeating its start so that every rank gets ``ceil(len / num_replicas)`` indices; with ``drop_last`` the
    tail is dropped instead. Rank r takes every ``num_replicas``-th index from position r. ``num_replicas`` and
    ``rank`` default to the default process group's (`tritongrad.distributed`).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "tritongrad.distributed.init_process_group first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive int, got {num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        indices = torch_cpu_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch, so that ``shuffle`` gives a new order for it (the same on every rank)."""
        self.epoch = epoch
