"""``tritongrad.utils.data``: PyTorch's ``torch.utils.data`` -- datasets, samplers, ``default_collate`` and a
``DataLoader`` with worker processes (batches through shared memory), pinned-memory batches from a reused
pool, and device prefetch (``DataLoader(..., device="cuda")`` / `prefetch`).

    from tritongrad.utils.data import DataLoader, Dataset
    for x, y in DataLoader(dataset, batch_size=32, shuffle=True):
        ...

See `dataloader` (workers, seeding, faults) and `_pin` (pinned buffers, prefetch) for the details.
"""
from ._collate import default_collate, default_convert
from ._pin import prefetch
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .distributed import DistributedSampler
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                      random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "default_collate", "default_convert", "get_worker_info",
           "WorkerInfo", "DataLoader", "prefetch", "DistributedSampler"]
