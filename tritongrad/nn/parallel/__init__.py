"""``tritongrad.nn.parallel``: `DistributedDataParallel`, `DataParallel` and `data_parallel`
(``torch.nn.parallel``)."""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel", "DataParallel", "data_parallel"]
