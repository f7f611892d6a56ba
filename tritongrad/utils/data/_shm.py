"""Shared-memory segments that carry large arrays between the DataLoader's processes instead of pickles.

* Batches (worker -> main): a worker's collate writes each large output straight into a fresh POSIX
  shared-memory segment (`SegmentWriter.empty`); the batch is pickled with `SharedPickler`, which sends
  such arrays (and cpu Tensors over them) as ``(segment name, offset, shape, dtype, strides)``. The main
  process maps the segment and unlinks its name at once (`_attach` with ``consume``): the memory then
  lives exactly as long as the arrays viewing it, and nothing is left in ``/dev/shm``.
* The dataset (main -> workers): arrays of ``INLINE_BYTES`` or more found anywhere in the dataset are
  copied once into segments that every worker maps copy-on-write (``MAP_PRIVATE``, as a ``fork`` would
  share them), instead of one pickled copy per worker. The main process unlinks them once every worker
  has loaded the dataset, or when the workers shut down.

Segments are made with ``multiprocessing.shared_memory``'s own primitive (``_posixshmem.shm_open``) and
registered with multiprocessing's resource tracker before they exist, so a crash of every process still
gets them unlinked; the `SharedMemory` class itself is not used because its ``close()`` fails while NumPy
arrays view the buffer, and these arrays outlive any handle. Every name starts with a per-iterator prefix
(`new_prefix`), so `sweep` can remove whatever a killed worker left half-sent.
"""
from __future__ import annotations

import io
import mmap
import os
import pickle
from multiprocessing import resource_tracker

import _posixshmem
import numpy as np

from ...tensor import Tensor, from_numpy

INLINE_BYTES = 64 * 1024     # arrays smaller than this are pickled inline (a segment costs a few syscalls)
NAME_PREFIX = "tgdl"
_SHM_DIR = "/dev/shm"


def new_prefix():
    """A fresh name prefix ``/tgdl<main pid>_<random>_`` for one worker pool's segments."""
    return f"/{NAME_PREFIX}{os.getpid()}_{os.urandom(4).hex()}_"


def _create(name, nbytes):
    resource_tracker.register(name, "shared_memory")
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        os.ftruncate(fd, nbytes)
        return mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)


def unlink(name):
    """Remove segment ``name`` (its memory stays mapped where it is mapped) and tell the resource tracker."""
    try:
        _posixshmem.shm_unlink(name)
    except FileNotFoundError:
        return
    resource_tracker.unregister(name, "shared_memory")


def sweep(prefix):
    """Unlink every segment whose name starts with ``prefix``; returns how many there were."""
    try:
        entries = os.listdir(_SHM_DIR)
    except OSError:
        return 0
    stale = [e for e in entries if e.startswith(prefix.lstrip("/"))]
    for e in stale:
        unlink("/" + e)
    return len(stale)


def list_segments(prefix=NAME_PREFIX):
    """Names in ``/dev/shm`` that start with ``prefix`` (tests use it to check that nothing leaks)."""
    try:
        return sorted(e for e in os.listdir(_SHM_DIR) if e.startswith(prefix.lstrip("/")))
    except OSError:
        return []


def _attach(name, nbytes, consume):
    """Map segment ``name``: read-write and unlinked at once when ``consume`` (a batch changing hands),
    copy-on-write otherwise (a dataset shared by workers)."""
    fd = _posixshmem.shm_open(name, os.O_RDWR if consume else os.O_RDONLY, mode=0o600)
    try:
        m = mmap.mmap(fd, nbytes, access=mmap.ACCESS_WRITE if consume else mmap.ACCESS_COPY)
    finally:
        os.close(fd)
    if consume:
        unlink(name)
    return m


class _SegmentRef:
    """Stands for one segment inside a pickle; pickle's memo makes every array of one segment share a
    single mapping on the receiving side."""

    __slots__ = ("name", "nbytes", "consume")

    def __init__(self, name, nbytes, consume):
        self.name, self.nbytes, self.consume = name, nbytes, consume

    def __reduce__(self):
        return _attach, (self.name, self.nbytes, self.consume)


def _rebuild_array(segment, offset, shape, dtype, strides):
    return np.ndarray(shape, dtype, buffer=segment, offset=offset, strides=strides)


def _rebuild_tensor(array):
    return from_numpy(array)


class SegmentWriter:
    """Allocates arrays in new segments named ``prefix + <n>`` and pickles objects holding them.

    ``consume`` says whether the receiver takes the segments over (unlinks them on arrival)."""

    def __init__(self, prefix, consume):
        self.prefix = prefix
        self.consume = consume
        self.names = []          # every segment made (the dataset's owner unlinks them later)
        self._seq = 0
        self._live = []          # (start address, end address, _SegmentRef) of segments not yet sent

    def empty(self, shape, dtype):
        """A new uninitialised array; in a fresh segment when it has ``INLINE_BYTES`` or more."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes < INLINE_BYTES:
            return np.empty(shape, dtype)
        name = f"{self.prefix}{self._seq}"
        self._seq += 1
        m = _create(name, nbytes)
        self.names.append(name)
        arr = np.frombuffer(m, dtype, nbytes // dtype.itemsize).reshape(shape)
        start = arr.ctypes.data
        self._live.append((start, start + nbytes, _SegmentRef(name, nbytes, self.consume)))
        return arr

    def _reduce_array(self, a):
        if a.flags.c_contiguous:
            addr = a.ctypes.data
            for start, end, ref in self._live:
                if start <= addr and addr + a.nbytes <= end:
                    return _rebuild_array, (ref, addr - start, a.shape, a.dtype, a.strides)
        out = self.empty(a.shape, a.dtype)
        np.copyto(out, a)
        return self._reduce_array(out)

    def dumps(self, obj):
        """Pickle ``obj``, sending large arrays and cpu Tensors through segments; then forget the segments
        (their memory is freed when the last local array over it dies and the receiver has unlinked it)."""
        buf = io.BytesIO()
        try:
            _SharedPickler(buf, self).dump(obj)
        finally:
            self._live.clear()
        return buf.getvalue()


class _SharedPickler(pickle.Pickler):
    def __init__(self, file, writer):
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.writer = writer

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and not obj.dtype.hasobject and obj.nbytes >= INLINE_BYTES:
            return self.writer._reduce_array(obj)
        if type(obj) is Tensor and obj.device.type == "cpu" and not obj.requires_grad:
            return _rebuild_tensor, (obj._data,)
        return NotImplemented
