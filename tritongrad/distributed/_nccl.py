"""The ``nccl`` backend: collectives on cuda tensors through NVIDIA's nccl4py.

Rank 0 makes the NCCL unique id and MPI broadcasts it (MPI also started the processes). Every collective is
queued on tritongrad's current CUDA stream of the communicator's device, straight on the tensors' device
memory (the raw NCCL calls of ``nccl.bindings.nccl`` take pointers, so bfloat16 needs no conversion), and
the host never waits: ``Work.wait()`` only makes the caller's current stream wait for the collective's
stream. List collectives (``all_gather``, ``gather``, ``scatter``) are NCCL groups of broadcasts or
send/recv pairs, so they write the list's tensors directly.
"""
from __future__ import annotations

import numpy as np

from ._work import ReduceOp, Work

_NCCL_DTYPES = {"int8": 0, "uint8": 1, "int32": 2, "uint32": 3, "int64": 4, "uint64": 5, "float16": 6,
                "float32": 7, "float64": 8, "bfloat16": 9, "bool": 1}
_NCCL_OPS = {ReduceOp.SUM: 0, ReduceOp.PRODUCT: 1, ReduceOp.MAX: 2, ReduceOp.MIN: 3, ReduceOp.AVG: 4}


def bootstrap_unique_id(mpi_comm):
    """The NCCL unique id made by rank 0, broadcast over ``mpi_comm`` (the same `nccl.core.UniqueId` on
    every rank). Needs the NCCL library, not a GPU."""
    import nccl.core as nccl
    raw = nccl.get_unique_id().as_bytes if mpi_comm.Get_rank() == 0 else None
    return nccl.UniqueId.from_bytes(mpi_comm.bcast(raw, root=0))


class NCCLBackend:
    """Collectives over an NCCL communicator on cuda device ``device``."""

    name = "nccl"
    device_type = "cuda"

    def __init__(self, mpi_comm, device):
        import nccl.bindings.nccl as raw
        import nccl.core as nccl
        from ..runtime.device import device_state
        self.raw = raw
        self.rank, self.world_size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        self.device = device
        uid = bootstrap_unique_id(mpi_comm)
        device_state(device)            # NCCL binds the communicator to the current CUDA context's device
        self.communicator = nccl.Communicator.init(self.world_size, self.rank, uid)
        self.comm = raw.Comm(self.communicator.ptr)

    def _stream(self):
        from ..runtime.streams import current_stream
        return current_stream(self.device)

    def _launch(self, queue, keep):
        """Queue NCCL calls (``queue(stream_handle)``) on the current stream and an event after them; the
        handle waits for that event on the caller's current stream (no host wait) and queries it."""
        from ..runtime.streams import Event
        stream = self._stream()
        queue(stream.cuda_stream)
        done = Event()
        done.record(stream)

        def wait():
            current = self._stream()
            if current != stream:
                current.wait_event(done)
        return Work(wait, None, done.query, keep=keep)

    def _group(self, queue):
        """Run ``queue(stream)`` between ncclGroupStart and ncclGroupEnd."""
        def grouped(stream):
            self.raw.group_start()
            try:
                queue(stream)
            finally:
                self.raw.group_end()
        return grouped

    @staticmethod
    def _args(arr):
        return arr.data_ptr(), arr.numel(), _NCCL_DTYPES[np.dtype(arr.dtype).name]

    def _op(self, arr, op):
        if np.dtype(arr.dtype) == np.bool_:
            return {ReduceOp.SUM: 2, ReduceOp.PRODUCT: 3}.get(op, _NCCL_OPS[op])
        return _NCCL_OPS[op]

    # ---------------------------------------------------------------------------------------- collectives
    def all_reduce(self, arr, op):
        ptr, n, dt = self._args(arr)
        return self._launch(lambda s: self.raw.all_reduce(ptr, ptr, n, dt, self._op(arr, op), self.comm, s),
                            (arr,))

    def reduce(self, arr, dst, op):
        ptr, n, dt = self._args(arr)
        return self._launch(lambda s: self.raw.reduce(ptr, ptr, n, dt, self._op(arr, op), dst, self.comm, s),
                            (arr,))

    def reduce_scatter(self, out, inp, op):
        (po, n, dt), pi = self._args(out), inp.data_ptr()
        return self._launch(lambda s: self.raw.reduce_scatter(pi, po, n, dt, self._op(out, op), self.comm, s),
                            (out, inp))

    def broadcast(self, arr, src):
        ptr, n, dt = self._args(arr)
        return self._launch(lambda s: self.raw.broadcast(ptr, ptr, n, dt, src, self.comm, s), (arr,))

    def all_gather(self, out, inp):
        (pi, n, dt), po = self._args(inp), out.data_ptr()
        return self._launch(lambda s: self.raw.all_gather(pi, po, n, dt, self.comm, s), (out, inp))

    def all_gather_list(self, outs, inp):
        """Rank r's ``inp`` into ``outs[r]`` on every rank: one NCCL group of broadcasts."""
        pi = inp.data_ptr()

        def queue(s):
            for r, o in enumerate(outs):
                po, n, dt = self._args(o)
                self.raw.broadcast(pi, po, n, dt, r, self.comm, s)
        return self._launch(self._group(queue), (inp, *outs))

    def gather_list(self, inp, outs, dst):
        """Every rank's ``inp`` into ``outs[r]`` on ``dst``: a group of sends and receives."""
        pi, n, dt = self._args(inp)

        def queue(s):
            if self.rank == dst:
                for r, o in enumerate(outs):
                    po, m, dto = self._args(o)
                    self.raw.recv(po, m, dto, r, self.comm, s)
            self.raw.send(pi, n, dt, dst, self.comm, s)
        return self._launch(self._group(queue), (inp, *(outs or ())))

    def scatter_list(self, out, ins, src):
        """``ins[r]`` on ``src`` into rank r's ``out``: a group of sends and receives."""
        po, n, dt = self._args(out)

        def queue(s):
            if self.rank == src:
                for r, i in enumerate(ins):
                    pi, m, dti = self._args(i)
                    self.raw.send(pi, m, dti, r, self.comm, s)
            self.raw.recv(po, n, dt, src, self.comm, s)
        return self._launch(self._group(queue), (out, *(ins or ())))

    def send(self, arr, dst, tag):
        ptr, n, dt = self._args(arr)
        return self._launch(lambda s: self.raw.send(ptr, n, dt, dst, self.comm, s), (arr,))

    def recv(self, arr, src, tag):
        if src is None:
            raise ValueError("recv(src=None) (from any rank) is not supported by the nccl backend: name src")
        ptr, n, dt = self._args(arr)
        work = self._launch(lambda s: self.raw.recv(ptr, n, dt, src, self.comm, s), (arr,))
        work.source_rank = lambda: src
        return work

    def barrier(self):
        """An all-reduce of one int32 on the device, then a host wait for it (as PyTorch's NCCL barrier)."""
        from ..backends import backend_for
        from ..device import device as _device
        be = backend_for(_device("cuda", self.device))
        flag = be.full((1,), 1, np.int32, self.device)
        work = self.all_reduce(flag, ReduceOp.SUM)
        self._stream().synchronize()
        return work

    def destroy(self):
        self.communicator.destroy()
