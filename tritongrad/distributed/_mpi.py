"""The ``mpi`` backend: collectives on cpu tensors through mpi4py.

The tensors' NumPy arrays are handed to MPI as buffers, without copies; each collective is MPI's nonblocking
one (``Iallreduce`` ...) so ``async_op=True`` returns at once and the work handle waits on the MPI request.
Two exceptions copy: float16/bfloat16 reductions (MPI has no arithmetic for them) run in a float32 copy, and
``all_gather``/``gather``/``scatter`` with lists go through one packed array, as PyTorch's MPI backend does.
Nonblocking MPI operations progress when the process calls into MPI (MPICH has no progress thread by
default); waiting on a handle, or starting the next collective, drives them.
"""
from __future__ import annotations

import numpy as np

from ._work import ReduceOp, Work

_LOW_PRECISION = ("float16", "bfloat16")


def _bytes(arr):
    """``arr`` as a flat uint8 array on the same memory (any dtype moves as bytes)."""
    return arr.reshape(-1).view(np.uint8)


class MPIBackend:
    """Collectives over an MPI communicator (a duplicate of ``COMM_WORLD``, so user MPI traffic never
    matches ours)."""

    name = "mpi"
    device_type = "cpu"

    def __init__(self, MPI, comm):
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.world_size = comm.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}

    # ---------------------------------------------------------------------------------------- reductions
    def _reducible(self, arr, op):
        """(buffer MPI reduces, MPI op, finish) for ``arr``: bool reduces as uint8 (SUM is "or", PRODUCT "and",
        as in PyTorch), float16/bfloat16 in a float32 copy written back by ``finish``; AVG divides there."""
        if arr.dtype == np.bool_:
            mpi_op = {ReduceOp.SUM: self.MPI.MAX, ReduceOp.PRODUCT: self.MPI.MIN}.get(op, self._ops[op])
            return arr.reshape(-1).view(np.uint8), mpi_op, lambda: None
        work = arr.reshape(-1)
        low = arr.dtype.name in _LOW_PRECISION
        if low:
            work = work.astype(np.float32)
        world = self.world_size

        def finish():
            if op == ReduceOp.AVG:
                work[...] /= world
            if low:
                arr.reshape(-1)[...] = work
        return work, self._ops[op], finish

    def all_reduce(self, arr, op):
        buf, mpi_op, finish = self._reducible(arr, op)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, mpi_op)
        return Work(req.Wait, finish, req.Test, keep=(arr, buf))

    def reduce(self, arr, dst, op):
        buf, mpi_op, finish = self._reducible(arr, op)
        if self.rank == dst:
            req = self.comm.Ireduce(self.MPI.IN_PLACE, buf, mpi_op, root=dst)
        else:
            req = self.comm.Ireduce(buf, None, mpi_op, root=dst)
            finish = None
        return Work(req.Wait, finish, req.Test, keep=(arr, buf))

    def reduce_scatter(self, out, inp, op):
        buf, mpi_op, _ = self._reducible(inp, ReduceOp.SUM if op == ReduceOp.AVG else op)
        res, _, finish = self._reducible(out, op)
        req = self.comm.Ireduce_scatter_block(buf, res, mpi_op)
        return Work(req.Wait, finish, req.Test, keep=(out, inp, buf, res))

    # ------------------------------------------------------------------------------------- data movement
    def broadcast(self, arr, src):
        req = self.comm.Ibcast(_bytes(arr), root=src)
        return Work(req.Wait, None, req.Test, keep=(arr,))

    def all_gather(self, out, inp):
        """``out`` holds world_size blocks of ``inp``'s size, in rank order."""
        req = self.comm.Iallgather(_bytes(inp), _bytes(out))
        return Work(req.Wait, None, req.Test, keep=(out, inp))

    def gather(self, inp, out, dst):
        """``out`` (on ``dst`` only) holds world_size blocks of ``inp``'s size."""
        req = self.comm.Igather(_bytes(inp), _bytes(out) if out is not None else None, root=dst)
        return Work(req.Wait, None, req.Test, keep=(out, inp))

    def scatter(self, out, inp, src):
        """``inp`` (on ``src`` only) holds world_size blocks of ``out``'s size."""
        req = self.comm.Iscatter(_bytes(inp) if inp is not None else None, _bytes(out), root=src)
        return Work(req.Wait, None, req.Test, keep=(out, inp))

    def send(self, arr, dst, tag):
        req = self.comm.Isend(_bytes(arr), dest=dst, tag=tag)
        return Work(req.Wait, None, req.Test, keep=(arr,))

    def recv(self, arr, src, tag):
        status = self.MPI.Status()
        source = self.MPI.ANY_SOURCE if src is None else src
        req = self.comm.Irecv(_bytes(arr), source=source, tag=tag)
        work = Work(lambda: req.Wait(status), None, lambda: req.Test(status), keep=(arr,))
        work.source_rank = lambda: status.Get_source()
        return work

    def barrier(self):
        req = self.comm.Ibarrier()
        return Work(req.Wait, None, req.Test)

    # ------------------------------------------------------------------- list collectives (packed, a copy)
    def all_gather_list(self, outs, inp):
        packed = np.empty((len(outs),) + inp.shape, inp.dtype)
        return _then(self.all_gather(packed, inp), lambda: _unpack(packed, outs))

    def gather_list(self, inp, outs, dst):
        packed = np.empty((len(outs),) + inp.shape, inp.dtype) if outs is not None else None
        return _then(self.gather(inp, packed, dst), lambda: outs is not None and _unpack(packed, outs))

    def scatter_list(self, out, ins, src):
        packed = np.stack(ins) if ins is not None else None
        return self.scatter(out, packed, src)


def _unpack(packed, outs):
    for o, p in zip(outs, packed):
        o[...] = p


def _then(work, finish):
    """A handle that waits for ``work`` and then runs ``finish``."""
    return Work(work.wait, finish, work.is_completed, keep=work._keep)
