"""The default process group and the collectives of ``torch.distributed``, on MPI and NCCL.

Processes are started by MPI (``mpiexec -n N python train.py``, or ``python -m tritongrad.distributed.run``),
which also gives each its rank and the world size. The ``mpi`` backend moves cpu tensors with mpi4py; the
``nccl`` backend moves cuda tensors with NCCL (nccl4py), its unique id broadcast over MPI. Collectives work
on the tensors in place, like PyTorch's, and return a `Work` handle with ``async_op=True`` (else None, after
the collective is done; on the nccl backend "done" means queued on the current stream).
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from ._work import ReduceOp, Work

__all__ = ["ReduceOp", "Work", "GroupMember", "is_available", "is_mpi_available", "is_nccl_available",
           "init_process_group", "is_initialized", "destroy_process_group", "get_rank", "get_world_size",
           "get_backend", "barrier", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "reduce", "gather", "scatter", "send", "recv", "isend", "irecv"]

_INSTALL = "install it with: pip install 'tritongrad[distributed]'"


class GroupMember:
    """``torch.distributed.GroupMember``: ``WORLD`` names the default group (the only one supported)."""
    WORLD = "WORLD"


class _ProcessGroup:
    """The default group: MPI's world, and one backend per device type (``backends["cpu"]``...)."""

    def __init__(self, MPI, comm, backend_name):
        self.MPI, self.comm, self.name = MPI, comm, backend_name
        self.rank, self.world_size = comm.Get_rank(), comm.Get_size()
        self.backends = {}


_PG = None


def is_available():
    """True when tritongrad.distributed can run here: mpi4py (and so an MPI) is installed."""
    return is_mpi_available()


def is_mpi_available():
    """True when the ``mpi`` backend can be used (mpi4py is installed)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available():
    """True when the ``nccl`` backend's Python binding (nccl4py) is installed; it also needs a GPU."""
    return importlib.util.find_spec("nccl") is not None and importlib.util.find_spec("nccl.core") is not None


def is_initialized():
    """True after `init_process_group` and before `destroy_process_group`."""
    return _PG is not None


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(f"tritongrad.distributed needs mpi4py and an MPI library ({e}); {_INSTALL}") from e
    return MPI


def _local_rank(MPI, comm):
    """This process's rank among the processes on its machine (``LOCAL_RANK`` when a launcher set it)."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_rank()
    finally:
        node.Free()


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the default process group (``torch.distributed.init_process_group``).

    The processes must have been started by MPI (``mpiexec -n N``, or ``python -m tritongrad.distributed.run``);
    a process started alone is a world of one. Rank and world size come from MPI: ``rank``/``world_size``
    may be passed, but must then agree with MPI. ``backend``: ``"mpi"`` (cpu tensors), ``"nccl"`` (cuda
    tensors), ``"cpu:mpi,cuda:nccl"`` for both, or None for mpi plus nccl when a GPU and nccl4py are there.
    ``device_id`` (nccl) is the GPU of this process; by default the local rank modulo the GPU count, made
    current (what a torchrun script does with ``torch.cuda.set_device(LOCAL_RANK)``). ``init_method``,
    ``store`` and ``pg_options`` have no meaning with MPI and must be left unset; ``timeout`` is ignored.
    """
    global _PG
    if _PG is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if init_method not in (None, "env://") or store is not None or pg_options is not None:
        raise ValueError("tritongrad.distributed bootstraps through MPI: leave init_method, store and pg_options "
                         f"unset (got init_method={init_method!r}, store={store!r}, pg_options={pg_options!r})")
    wanted = _parse_backend(backend)
    MPI = _import_mpi()
    world = MPI.COMM_WORLD
    for name, given, actual in (("rank", rank, world.Get_rank()), ("world_size", world_size, world.Get_size())):
        if given not in (None, -1) and int(given) != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI says {name} is {actual} "
                             f"(tritongrad takes rank and world size from MPI; start the processes with mpiexec)")
    pg = _ProcessGroup(MPI, world.Dup(), backend if backend is not None else ",".join(
        f"{k}:{v}" for k, v in wanted.items()))
    from ._mpi import MPIBackend
    if "cpu" in wanted:
        pg.backends["cpu"] = MPIBackend(MPI, pg.comm)
    if "cuda" in wanted:
        pg.backends["cuda"] = _nccl_backend(MPI, pg.comm, device_id)
    _PG = pg


def _parse_backend(backend):
    """{device type: backend name} from ``backend``."""
    if backend is None:
        from ..runtime import interpreting
        from .. import cuda
        gpu = is_nccl_available() and not interpreting() and cuda.is_available()
        return {"cpu": "mpi", **({"cuda": "nccl"} if gpu else {})}
    pairs = {}
    for part in str(backend).lower().split(","):
        dev, _, name = part.rpartition(":")
        name = name.strip()
        if name not in ("mpi", "nccl"):
            raise ValueError(f"init_process_group: unknown backend {backend!r}; tritongrad has 'mpi' (cpu tensors) "
                             f"and 'nccl' (cuda tensors)")
        dev = dev.strip() or ("cpu" if name == "mpi" else "cuda")
        if (dev, name) not in (("cpu", "mpi"), ("cuda", "nccl")):
            raise ValueError(f"init_process_group: backend {backend!r}: {name} cannot handle {dev} tensors "
                             f"(mpi handles cpu, nccl handles cuda)")
        pairs[dev] = name
    return pairs


def _nccl_backend(MPI, comm, device_id):
    from ..runtime import interpreting
    from .. import cuda
    if not is_nccl_available():
        raise RuntimeError(f"the nccl backend needs nccl4py (NVIDIA's NCCL binding); {_INSTALL}")
    if interpreting():
        raise RuntimeError("the nccl backend needs a real GPU; under Triton's interpreter (TRITON_INTERPRET=1) "
                           "the cuda device is host memory that NCCL cannot reach: use backend='mpi' on cpu")
    count = cuda.device_count()
    if count == 0:
        raise RuntimeError("the nccl backend needs a GPU, and CUDA reports none")
    if device_id is None:
        index = _local_rank(MPI, comm) % count
    else:
        index = device_id if isinstance(device_id, int) else (device_id.index or 0)
    cuda.set_device(index)
    from ._nccl import NCCLBackend
    return NCCLBackend(comm, index)


def _group(group=None):
    """The default group, checking ``group`` names it."""
    if _PG is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    if group not in (None, GroupMember.WORLD, _PG):
        raise ValueError(f"tritongrad.distributed supports only the default group (group=None), got {group!r}")
    return _PG


def destroy_process_group(group=None):
    """Leave the default process group (``torch.distributed.destroy_process_group``); MPI itself stays up
    until the process exits, so `init_process_group` may be called again."""
    global _PG
    pg = _group(group)
    if "cuda" in pg.backends:
        pg.backends["cuda"].destroy()
    pg.comm.Free()          # the mpi backend's communicator
    _PG = None


def get_rank(group=None):
    """This process's rank in the group, 0 .. world_size - 1 (``torch.distributed.get_rank``)."""
    return _group(group).rank


def get_world_size(group=None):
    """The number of processes in the group (``torch.distributed.get_world_size``)."""
    return _group(group).world_size


def get_backend(group=None):
    """The backend's name as given to `init_process_group` (``torch.distributed.get_backend``)."""
    return _group(group).name


def _done(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def _backend(pg, t, what):
    """The backend for tensor ``t`` (argument ``what``), after checking it can take part in a collective."""
    from ..tensor import Tensor
    if not isinstance(t, Tensor):
        raise TypeError(f"{what} must be a tritongrad Tensor, got {type(t).__name__}")
    be = pg.backends.get(t.device.type)
    if be is None:
        raise RuntimeError(f"{what} is on {t.device}, but the process group's backend {pg.name!r} has no backend "
                           f"for {t.device.type} tensors (mpi handles cpu, nccl handles cuda)")
    if t.device.type == "cuda" and (t.device.index or 0) != be.device:
        raise RuntimeError(f"{what} is on {t.device}, but this process's NCCL communicator is on cuda:{be.device}")
    if not t.is_contiguous():
        raise ValueError(f"Tensors must be contiguous: {what} has shape {list(t.shape)} and strides {t.stride()}")
    return be


def _written(*tensors):
    for t in tensors:
        t._version[0] += 1


def _check_op(op, t):
    if not isinstance(op, ReduceOp):
        try:
            op = ReduceOp(op)
        except ValueError:
            raise ValueError(f"unsupported reduce op {op!r}: use ReduceOp.SUM, AVG, PRODUCT, MIN or MAX") from None
    if op == ReduceOp.AVG and not t.dtype.is_floating_point:
        raise ValueError(f"ReduceOp.AVG needs a floating-point tensor, got {t.dtype}")
    return op


def _check_rank(pg, r, what):
    if not isinstance(r, (int, np.integer)) or not 0 <= r < pg.world_size:
        raise ValueError(f"{what}={r!r} is not a rank of this group (world size {pg.world_size})")
    return int(r)


def _check_like(pg, tensors, t, what, expect_len=True):
    """``tensors`` is a list of world-size tensors shaped, typed and placed as ``t``."""
    if not isinstance(tensors, (list, tuple)) or (expect_len and len(tensors) != pg.world_size):
        n = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{what} must be a list of world_size={pg.world_size} tensors, got {n}")
    for i, o in enumerate(tensors):
        _backend(pg, o, f"{what}[{i}]")
        if o.shape != t.shape or o.dtype != t.dtype or o.device != t.device:
            raise ValueError(f"{what}[{i}] is {list(o.shape)} {o.dtype} on {o.device}; expected "
                             f"{list(t.shape)} {t.dtype} on {t.device} like the tensor")


# ------------------------------------------------------------------------------------------------ collectives
def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached this call (``torch.distributed.barrier``)."""
    pg = _group(group)
    be = pg.backends.get("cpu") or pg.backends["cuda"]
    return _done(be.barrier(), async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks with ``op``; every rank gets the result in place
    (``torch.distributed.all_reduce``)."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    work = be.all_reduce(tensor._data, _check_op(op, tensor))
    _written(tensor)
    return _done(work, async_op)


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s ``tensor`` (``torch.distributed.reduce``); the
    other ranks' tensors are left as they were."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    work = be.reduce(tensor._data, _check_rank(pg, dst, "dst"), _check_op(op, tensor))
    _written(tensor)
    return _done(work, async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (``torch.distributed.broadcast``)."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    work = be.broadcast(tensor._data, _check_rank(pg, src, "src"))
    _written(tensor)
    return _done(work, async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Rank r's ``tensor`` into ``tensor_list[r]`` on every rank (``torch.distributed.all_gather``)."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    _check_like(pg, tensor_list, tensor, "tensor_list")
    work = be.all_gather_list([o._data for o in tensor_list], tensor._data)
    _written(*tensor_list)
    return _done(work, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor``, in rank order, into ``output_tensor`` (world_size times its size:
    concatenated or stacked along dim 0) (``torch.distributed.all_gather_into_tensor``)."""
    pg = _group(group)
    be = _backend(pg, input_tensor, "input_tensor")
    _backend(pg, output_tensor, "output_tensor")
    _check_sizes(output_tensor, input_tensor, pg.world_size, "output_tensor", "input_tensor")
    work = be.all_gather(output_tensor._data, input_tensor._data)
    _written(output_tensor)
    return _done(work, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (world_size blocks of ``output``'s size) over all ranks and leave block r in rank r's
    ``output`` (``torch.distributed.reduce_scatter_tensor``)."""
    pg = _group(group)
    be = _backend(pg, input, "input")
    _backend(pg, output, "output")
    _check_sizes(input, output, pg.world_size, "input", "output")
    work = be.reduce_scatter(output._data, input._data, _check_op(op, output))
    _written(output)
    return _done(work, async_op)


def _check_sizes(big, small, world, big_name, small_name):
    if big.dtype != small.dtype or big.device != small.device:
        raise ValueError(f"{big_name} ({big.dtype} on {big.device}) and {small_name} ({small.dtype} on "
                         f"{small.device}) must have the same dtype and device")
    if big.numel() != world * small.numel():
        raise ValueError(f"{big_name} has {big.numel()} elements ({list(big.shape)}) but must have world_size "
                         f"({world}) times the {small.numel()} elements of {small_name} ({list(small.shape)})")


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Every rank's ``tensor`` into ``gather_list[r]`` on rank ``dst`` (``torch.distributed.gather``);
    ``gather_list`` is given on ``dst`` only."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    dst = _check_rank(pg, dst, "dst")
    outs = _root_list(pg, gather_list, tensor, dst, "gather_list", "destination")
    work = be.gather_list(tensor._data, outs and [o._data for o in outs], dst)
    _written(*(outs or ()))
    return _done(work, async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """``scatter_list[r]`` on rank ``src`` into rank r's ``tensor`` (``torch.distributed.scatter``);
    ``scatter_list`` is given on ``src`` only."""
    pg = _group(group)
    be = _backend(pg, tensor, "tensor")
    src = _check_rank(pg, src, "src")
    ins = _root_list(pg, scatter_list, tensor, src, "scatter_list", "source")
    work = be.scatter_list(tensor._data, ins and [i._data for i in ins], src)
    _written(tensor)
    return _done(work, async_op)


def _root_list(pg, tensors, like, root, what, role):
    if pg.rank == root:
        if not tensors:
            raise ValueError(f"Argument ``{what}`` must be specified on {role} rank.")
        _check_like(pg, tensors, like, what)
        return list(tensors)
    if tensors:
        raise ValueError(f"Argument ``{what}`` must NOT be specified on non-{role} ranks.")
    return None


def _p2p(tensor, peer, what):
    pg = _group()
    be = _backend(pg, tensor, "tensor")
    if peer is not None:
        peer = _check_rank(pg, peer, what)
        if peer == pg.rank:
            raise ValueError(f"Invalid {what} rank: {what} rank should not be the same as the rank of the "
                             f"current process.")
    return be, peer


def isend(tensor, dst, group=None, tag=0):
    """Start sending ``tensor`` to rank ``dst``; returns a `Work` (``torch.distributed.isend``)."""
    _group(group)
    be, dst = _p2p(tensor, dst, "dst")
    return be.send(tensor._data, dst, tag)


def irecv(tensor, src=None, group=None, tag=0):
    """Start receiving into ``tensor`` from rank ``src`` (any rank when None, mpi only); returns a `Work`
    (``torch.distributed.irecv``)."""
    _group(group)
    be, src = _p2p(tensor, src, "src")
    work = be.recv(tensor._data, src, tag)
    _written(tensor)
    return work


def send(tensor, dst, group=None, tag=0):
    """Send ``tensor`` to rank ``dst`` (``torch.distributed.send``); returns once it may be reused."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns the sender's rank
    (``torch.distributed.recv``)."""
    work = irecv(tensor, src, group, tag)
    work.wait()
    return work.source_rank()
