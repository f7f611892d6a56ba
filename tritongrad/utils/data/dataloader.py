"""``DataLoader`` (``torch.utils.data.DataLoader``): batches from a dataset, optionally from worker
processes, into pinned memory, and onto a device ahead of use.

**Workers** (``num_workers > 0``) are processes started with the ``forkserver`` method where the platform
has it, else ``spawn`` (``multiprocessing_context`` overrides). Never ``fork`` by default: a process forked
after CUDA has been initialised inherits a CUDA context it cannot use, and tritongrad initialises CUDA
lazily at any first cuda operation, so only a fresh interpreter is safe. The forkserver is told to preload
this package, so each worker starts as a fork of an interpreter that has NumPy and tritongrad imported
(but never a CUDA context). Consequences, as with PyTorch's spawn: the dataset, ``collate_fn`` and
``worker_init_fn`` must be picklable, and the main script needs an ``if __name__ == "__main__":`` guard.

* The dataset is sent once: its large arrays go into shared memory mapped copy-on-write by every worker
  (`_shm`), not pickled into each.
* Each task (a list of indices) goes to one worker, round robin; results are delivered in sampler order
  whatever order they arrive in, at most ``prefetch_factor * num_workers`` batches ahead.
* Batches come back through shared memory: the worker collates straight into a segment and sends only
  its name, shape and dtype.
* Seeds: each ``iter()`` draws a base seed from ``generator`` (or the default generator), for any
  ``num_workers``, before the sampler draws, so the same ``generator`` seed gives the same batches for any
  ``num_workers``. Worker ``i`` seeds ``random``, NumPy's global RandomState (mod 2**32) and tritongrad with
  ``base_seed + i`` (persistent workers keep the seed of the epoch that started them).
* Faults: an exception in a worker is re-raised here with the worker's traceback text and the failing
  index; a worker that dies (e.g. killed by a signal) raises RuntimeError naming its pid and the signal
  within about ``_POLL_S`` seconds; ``timeout`` > 0 bounds the wait for each batch (RuntimeError). Workers
  and their shared memory are released when an epoch ends (unless ``persistent_workers``), when the
  iterator is deleted or garbage collected, on an error, and at interpreter exit.
"""
from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
import weakref

from ...device import as_device
from . import _collate, _shm
from ._pin import PinnedPool, _prefetch_iter, pin_batch, pinning_available
from ._worker import READY, RESUME, ExceptionWrapper, _IterableEnd, make_fetcher, worker_loop
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, random_seed

__all__ = ["DataLoader"]

_POLL_S = 0.2            # how often a waiting main process checks its workers' health
_JOIN_S = 5.0            # how long shutdown waits for workers to leave before terminating them
_PENDING = object()      # task sent, result not yet here


def _default_context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    from multiprocessing import forkserver
    preload = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
    if __name__.rsplit(".", 1)[0] + "._worker" not in preload:
        ctx.set_forkserver_preload(preload + [__name__.rsplit(".", 1)[0] + "._worker"])
    return ctx


class DataLoader:
    """``torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
    multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
    device=None)``.

    Iterating yields batches: ``collate_fn`` (default `default_collate`) of ``batch_size`` samples drawn by
    ``sampler`` (default: sequential, or random with ``shuffle=True``) or lists from ``batch_sampler``;
    ``batch_size=None`` turns batching off (each sample goes through `default_convert`). ``len()`` is the
    number of batches (for an IterableDataset: from its ``len()``).

    tritongrad addition: ``device`` (e.g. ``"cuda"``) moves every batch there ahead of use, copying batch
    n+1 while batch n is used (`prefetch`); it implies ``pin_memory=True``. See the module docstring for
    workers, seeding, shared memory and faults, and `_pin` for the pinned-buffer lifetime rule
    (``pin_memory=True`` is a documented no-op without a GPU).

    Invalid combinations raise ValueError naming the option: ``batch_size`` not a positive int,
    ``num_workers < 0``, ``timeout < 0``, ``prefetch_factor`` without workers, ``persistent_workers`` without
    workers, ``shuffle`` or ``sampler`` with each other or with an IterableDataset, ``batch_sampler`` with
    ``batch_size``/``shuffle``/``sampler``/``drop_last``, ``drop_last`` with ``batch_size=None``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 device=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be a non-negative int; use num_workers=0 to disable "
                             f"multiprocessing (got num_workers={num_workers!r})")
        if not timeout >= 0:
            raise ValueError(f"timeout option should be non-negative (got timeout={timeout!r})")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if prefetch_factor is None:
            prefetch_factor = 2 if num_workers > 0 else None
        elif isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) or prefetch_factor < 1:
            raise ValueError(f"prefetch_factor option should be a positive int "
                             f"(got prefetch_factor={prefetch_factor!r})")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle!r}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if isinstance(dataset, IterableDataset):
            sampler = None
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            if isinstance(dataset, IterableDataset):
                BatchSampler([], batch_size, drop_last)     # validates batch_size and drop_last
            else:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn if collate_fn is not None else (
            _collate.default_collate if self._auto_collation else _collate.default_convert)
        self.device = as_device(device) if device is not None else None
        self.pin_memory = bool(pin_memory) or (self.device is not None and self.device.type == "cuda")
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self._iterator = None
        self._pin_pool = None

    @property
    def _auto_collation(self):
        return self.batch_size is not None or self.batch_sampler is not None

    @property
    def _index_sampler(self):
        if isinstance(self.dataset, IterableDataset):
            return itertools.repeat([None] * self.batch_size if self.batch_size is not None else None)
        return self.batch_sampler if self._auto_collation else self.sampler

    def _mp_context(self):
        ctx = self.multiprocessing_context
        if ctx is None:
            return _default_context()
        return multiprocessing.get_context(ctx) if isinstance(ctx, str) else ctx

    def _pinned_pool(self):
        if self._pin_pool is None:
            self._pin_pool = PinnedPool()
        return self._pin_pool

    def _host_iter(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None or self._iterator._closed:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset()
            return self._iterator
        return _MultiProcessIter(self)

    def __iter__(self):
        host = self._host_iter()
        return host if self.device is None else _prefetch_iter(host, self.device)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)


class _BaseIter:
    """What both iterators share: the sampler stream, the base seed and pinning."""

    def __init__(self, loader):
        self._loader = loader
        self._dataset = loader.dataset
        self._auto_collation = loader._auto_collation
        self._collate_fn = loader.collate_fn
        self._drop_last = loader.drop_last
        self._pin_pool = loader._pinned_pool() if loader.pin_memory and pinning_available() else None
        self._start_epoch()

    def _start_epoch(self):
        self._base_seed = random_seed(self._loader.generator)     # before the sampler draws, for any num_workers
        self._sampler_iter = iter(self._loader._index_sampler)

    def _finish(self, batch):
        return batch if self._pin_pool is None else pin_batch(batch, self._pin_pool)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = make_fetcher(self._dataset, self._auto_collation, self._collate_fn, self._drop_last)

    def __next__(self):
        index = next(self._sampler_iter)
        return self._finish(self._fetcher.fetch(index))


class _WorkerPool:
    """The processes, queues and shared-memory names of one set of workers; `shutdown` is idempotent and
    also runs from a finalizer when the iterator is garbage collected or the interpreter exits."""

    def __init__(self, loader, base_seed):
        ctx = loader._mp_context()
        self.prefix = _shm.new_prefix()
        writer = _shm.SegmentWriter(self.prefix + "d", consume=False)
        blob = writer.dumps(loader.dataset)
        self.dataset_segments = writer.names
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        for wid in range(loader.num_workers):
            iq = ctx.Queue()
            w = ctx.Process(target=worker_loop, daemon=True, name=f"tritongrad DataLoader worker {wid}",
                            args=(blob, loader._auto_collation, loader.collate_fn, loader.drop_last, iq,
                                  self.result_queue, base_seed, wid, loader.num_workers, loader.worker_init_fn,
                                  self.prefix, multiprocessing.current_process().pid or 0))
            w.start()
            self.index_queues.append(iq)
            self.workers.append(w)
        self.ready = 0
        self.closed = False
        self.force = False        # set on a fault: terminate the workers instead of waiting for them

    def worker_ready(self):
        self.ready += 1
        if self.ready == len(self.workers):
            self._unlink_dataset()

    def _unlink_dataset(self):
        for name in self.dataset_segments:
            _shm.unlink(name)
        self.dataset_segments = []

    def drain(self):
        """Take every result already queued (attaching, hence unlinking, its segments) and drop it."""
        import pickle
        while True:
            try:
                _, _, _, blob = self.result_queue.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            if blob is not None:
                try:
                    pickle.loads(blob)
                except Exception:
                    pass

    def shutdown(self):
        if self.closed:
            return
        self.closed = True
        for iq in self.index_queues:
            try:
                iq.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + (0.0 if self.force else _JOIN_S)
        for w in self.workers:
            while w.is_alive() and time.monotonic() < deadline:
                self.drain()
                w.join(0.05)
            if w.is_alive():
                w.terminate()
                w.join(1.0)
            if w.is_alive():
                w.kill()
                w.join()
        self.drain()
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self._unlink_dataset()
        _shm.sweep(self.prefix)


class _MultiProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._pool = _WorkerPool(loader, self._base_seed)
        self._finalizer = weakref.finalize(self, _WorkerPool.shutdown, self._pool)
        self._epoch = 0
        self._reset(first=True)

    @property
    def _closed(self):
        return self._pool.closed

    def _reset(self, first=False):
        if not first:
            self._start_epoch()
            self._epoch += 1
            for iq in self._pool.index_queues:
                iq.put((self._epoch, RESUME, None))
        self._send_idx = 0
        self._rcvd_idx = 0
        self._tasks = {}          # task index -> [worker id, result or _PENDING], until delivered or skipped
        self._active = [True] * self._num_workers
        self._next_worker = itertools.cycle(range(self._num_workers))
        self._sampler_done = False
        self._fill()

    def _fill(self):
        """Send tasks until ``prefetch_factor * num_workers`` are undelivered or nothing is left to send."""
        while len(self._tasks) < self._prefetch and not self._sampler_done and any(self._active):
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._sampler_done = True
                return
            wid = next(self._next_worker)
            while not self._active[wid]:
                wid = next(self._next_worker)
            self._pool.index_queues[wid].put((self._epoch, self._send_idx, index))
            self._tasks[self._send_idx] = [wid, _PENDING]
            self._send_idx += 1

    def _check_workers(self):
        for w in self._pool.workers:
            if w.exitcode is not None or not w.is_alive():
                code = w.exitcode
                self._shutdown(force=True)
                if code is not None and code < 0:
                    import signal
                    try:
                        name = signal.Signals(-code).name
                    except ValueError:
                        name = f"signal {-code}"
                    raise RuntimeError(f"DataLoader worker (pid {w.pid}) was killed by signal {name} ({-code})")
                raise RuntimeError(f"DataLoader worker (pid {w.pid}) exited unexpectedly with exit code {code}")

    def _get(self):
        """The next message from the workers, checking their health every ``_POLL_S`` and the timeout."""
        import pickle
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            try:
                epoch, idx, wid, blob = self._pool.result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() >= deadline:
                    self._shutdown(force=True)
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
                continue
            if idx == READY:
                self._pool.worker_ready()
                continue
            data = pickle.loads(blob)
            if epoch == self._epoch:
                return idx, wid, data

    def __next__(self):
        if self._pool.closed:
            raise StopIteration
        while True:
            while self._rcvd_idx < self._send_idx and self._rcvd_idx not in self._tasks:
                self._rcvd_idx += 1                      # a task its exhausted worker will never answer
            if self._rcvd_idx == self._send_idx:
                self._end_epoch()
                raise StopIteration
            data = self._tasks[self._rcvd_idx][1]
            if data is not _PENDING:
                del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
                self._fill()
                if isinstance(data, ExceptionWrapper):
                    # workers and their shared memory go at once, not when the iterator is collected (which
                    # a traceback holding this frame can put off indefinitely); the iterator is then done
                    self._shutdown(force=True)
                    data.reraise()
                return self._finish(data)
            idx, wid, data = self._get()
            if isinstance(data, _IterableEnd):
                self._active[wid] = False
                for i in [i for i, (w, d) in self._tasks.items() if w == wid and d is _PENDING]:
                    del self._tasks[i]
                self._fill()
            else:
                self._tasks[idx][1] = data

    def _end_epoch(self):
        if not self._persistent:
            self._shutdown()

    def _shutdown(self, force=False):
        self._pool.force = self._pool.force or force
        self._finalizer()
