"""What runs inside a DataLoader worker process, and the fetchers shared with the single-process path.

A worker: seeds Python's ``random``, NumPy's global RandomState and tritongrad's default generators with
``base_seed + worker_id``; loads the dataset (its large arrays arrive as shared-memory segments, see
`_shm`); runs ``worker_init_fn``; then fetches the batches named on its index queue, collating them
straight into shared memory, and puts ``(epoch, task index, worker id, pickled batch)`` on the result
queue. A failure is sent as an `ExceptionWrapper` holding the traceback text and the failing index. The
worker leaves when told (``None``), or within a second of the main process dying.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import random
import reprlib
import signal
import sys
import traceback

import numpy as np

from ... import random as _random
from ...backends.numpy_runtime import set_num_threads
from . import _collate
from ._shm import SegmentWriter
from .dataset import IterableDataset, TensorDataset

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

READY = "ready"          # a worker's first message: the dataset is loaded
RESUME = "resume"        # task index of the marker that starts a new epoch (iterable datasets restart)
_POLL_S = 1.0            # how often an idle worker checks that the main process is alive
_worker_info = None


class WorkerInfo:
    """``torch.utils.data.get_worker_info()``'s result: ``id``, ``num_workers``, ``seed`` and this worker's
    copy of ``dataset``. Read-only."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, key, value):
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


def get_worker_info():
    """``torch.utils.data.get_worker_info``: the `WorkerInfo` of the calling worker process, None in the
    main process. An `IterableDataset` uses it to give each worker its own share of the stream."""
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker: its type (by name, so any exception pickles), the traceback text
    and where it happened; `reraise` raises it in the main process (as RuntimeError when the type cannot
    be imported there or built from one message)."""

    def __init__(self, where, exc_info=None):
        exc_type, exc, tb = exc_info or sys.exc_info()
        self.type_module, self.type_name = exc_type.__module__, exc_type.__qualname__
        self.text = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where

    def message(self):
        return f"Caught {self.type_name} {self.where}.\nOriginal {self.text}"

    def _type(self):
        obj = sys.modules.get(self.type_module)
        for part in self.type_name.split("."):
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, type) and issubclass(obj, BaseException) else RuntimeError

    def reraise(self):
        msg = self.message()
        try:
            exc = self._type()(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _IterableEnd:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


def _gather_rows(dataset, index):
    """`default_collate` of ``[dataset[i] for i in index]`` for a TensorDataset of plain cpu tensors, done
    as one row gather per tensor (into `_collate.empty`, i.e. shared memory in a worker); None when a tensor
    does not qualify."""
    from ...tensor import from_numpy
    tensors = dataset.tensors
    if not all(t.device.type == "cpu" and not t.requires_grad for t in tensors):
        return None
    idx = np.asarray(index)
    if idx.size and idx.dtype.kind not in "iu":     # a float from a sampler is an error, never truncated
        bad = next(i for i in index if isinstance(i, bool) or not isinstance(i, (int, np.integer)))
        raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                         f"valid indices (got {type(bad).__name__})")
    idx = idx.astype(np.int64)
    n = tensors[0].shape[0]
    bad = idx[(idx >= n) | (idx < -n)]
    if bad.size:
        raise IndexError(f"index {int(bad[0])} is out of bounds for dimension 0 with size {n}")
    out = []
    for t in tensors:
        a = t._data
        o = _collate.empty((len(idx),) + a.shape[1:], a.dtype)
        np.take(a, idx, axis=0, out=o, mode="wrap")
        out.append(from_numpy(o))
    return out


class MapFetcher:
    """Fetches batches of a map-style dataset: ``collate_fn([dataset[i] for i in index])`` (or
    ``dataset.__getitems__(index)``), or ``collate_fn(dataset[index])`` without automatic batching.
    ``current`` is the index being fetched, for error messages."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.current = None
        self._rows = (auto_collation and collate_fn is _collate.default_collate
                      and type(dataset) is TensorDataset)

    def fetch(self, index):
        if not self.auto_collation:
            self.current = index
            return self.collate_fn(self.dataset[index])
        if self._rows:
            self.current = index
            batch = _gather_rows(self.dataset, index)
            if batch is not None:
                return batch
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            self.current = index
            return self.collate_fn(getitems(index))
        data = []
        for i in index:
            self.current = i
            data.append(self.dataset[i])
        return self.collate_fn(data)


class IterableFetcher:
    """Fetches batches of an IterableDataset from one iterator over it; StopIteration when it is exhausted
    (or when only a short batch is left and ``drop_last``)."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.it = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.current = None
        self.count = 0

    def fetch(self, index):
        if not self.auto_collation:
            self.current = self.count
            item = next(self.it)
            self.count += 1
            return self.collate_fn(item)
        data = []
        for _ in range(len(index)):
            self.current = self.count
            try:
                data.append(next(self.it))
            except StopIteration:
                break
            self.count += 1
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def make_fetcher(dataset, auto_collation, collate_fn, drop_last):
    cls = IterableFetcher if isinstance(dataset, IterableDataset) else MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def describe_index(fetcher, index, worker_id):
    """Where a worker failure happened, for the message re-raised in the main process."""
    where = f"in DataLoader worker process {worker_id} (pid {os.getpid()})"
    if fetcher is None:
        return where + " while loading the dataset or running worker_init_fn"
    batch = "" if fetcher.current == index else f" of batch {reprlib.repr(index)}"
    return where + f" while fetching index {fetcher.current!r}{batch}"


def seed_worker(seed):
    """Seed Python's ``random``, NumPy's global RandomState (seed mod 2**32) and tritongrad's generators."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    _random.manual_seed(seed)


def _main_alive(main_pid):
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        return False
    try:
        os.kill(main_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def worker_loop(dataset_blob, auto_collation, collate_fn, drop_last, index_queue, result_queue, base_seed,
                worker_id, num_workers, worker_init_fn, prefix, main_pid):
    """Body of worker process ``worker_id`` (see the module docstring for the protocol)."""
    global _worker_info
    import pickle
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the main process's to handle
    seed = base_seed + worker_id
    seed_worker(seed)
    set_num_threads(1)       # as PyTorch's workers: N workers must not each run a machine-wide BLAS pool
    writer = SegmentWriter(f"{prefix}w{worker_id}_", consume=True)
    _collate.set_allocator(writer.empty)
    fetcher, init_error, dataset = None, None, None
    try:
        dataset = pickle.loads(dataset_blob)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
        fetcher = make_fetcher(dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_error = ExceptionWrapper(describe_index(None, None, worker_id))
    del dataset_blob
    result_queue.put((None, READY, worker_id, None))
    exhausted = False
    while True:
        try:
            task = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            if not _main_alive(main_pid):
                break
            continue
        if task is None:
            break
        epoch, idx, index = task
        if idx == RESUME:
            if init_error is None:
                fetcher = make_fetcher(_worker_info.dataset, auto_collation, collate_fn, drop_last)
            exhausted = False
            continue
        if exhausted:
            continue
        if init_error is not None:
            data = init_error
        else:
            try:
                data = fetcher.fetch(index)
            except StopIteration:
                data, exhausted = _IterableEnd(worker_id), True
            except Exception:
                data = ExceptionWrapper(describe_index(fetcher, index, worker_id))
        try:
            blob = writer.dumps(data)
        except Exception:
            blob = writer.dumps(ExceptionWrapper(f"in DataLoader worker process {worker_id} (pid {os.getpid()}) "
                                                 f"while sending the batch of {reprlib.repr(index)}"))
        del data
        result_queue.put((epoch, idx, worker_id, blob))
        del blob
    result_queue.cancel_join_thread()
    result_queue.close()
