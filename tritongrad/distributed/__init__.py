"""`tritongrad.distributed`: the ``torch.distributed`` of tritongrad, on MPI and NCCL.

Start N processes with ``mpiexec -n N python train.py`` (or ``python -m tritongrad.distributed.run
--nproc-per-node N train.py``), call `init_process_group` (``"mpi"`` for cpu tensors, ``"nccl"`` for cuda
tensors), then use the collectives or wrap a model in `tritongrad.nn.parallel.DistributedDataParallel`.
Needs ``pip install 'tritongrad[distributed]'`` (mpi4py and MPICH; nccl4py and NCCL on Linux). Only the
default group exists (no ``new_group``); importing this package starts nothing: MPI starts in
`init_process_group`.
"""
from .distributed_c10d import *  # noqa: F401,F403
from .distributed_c10d import __all__  # noqa: F401
