"""`ReduceOp` and the `Work` handle that every collective returns with ``async_op=True``."""
from __future__ import annotations

import enum


class ReduceOp(enum.IntEnum):
    """How `all_reduce`, `reduce` and `reduce_scatter_tensor` combine the ranks' tensors
    (``torch.distributed.ReduceOp``). AVG (the sum divided by the world size) needs a floating-point tensor;
    on bool tensors SUM is a logical or and PRODUCT a logical and, as in PyTorch."""

    SUM = 0
    PRODUCT = 1
    MIN = 2
    MAX = 3
    AVG = 4


class Work:
    """A collective in flight (``torch.distributed.Work``). ``wait()`` blocks until it has finished (the
    mpi backend) or makes the caller's current CUDA stream wait for it without blocking the host (the nccl
    backend); either way the tensors hold the result afterwards. ``is_completed()`` asks without waiting."""

    def __init__(self, wait, finish=None, test=None, keep=()):
        self._wait, self._finish, self._test = wait, finish, test
        self._keep = keep           # the buffers the backend reads or writes, alive until the work is done
        self._done = False

    def wait(self, timeout=None):
        """Wait for the collective (``Work.wait``); returns True. ``timeout`` is not supported."""
        if timeout is not None:
            raise NotImplementedError("Work.wait(timeout=...) is not supported by tritongrad.distributed")
        if not self._done:
            self._wait()
            self._done = True
            if self._finish is not None:
                self._finish()
            self._keep = ()
        return True

    def is_completed(self):
        """True once the collective has finished (``Work.is_completed``); does not block."""
        if not self._done and self._test is not None and self._test():
            self.wait()
        return self._done
