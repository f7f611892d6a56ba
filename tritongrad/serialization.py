"""safetensors files: save, load, a lazy ``safe_open`` reader, direct-to-GPU loading, atomic saves.

The format (https://github.com/huggingface/safetensors), written and read exactly:

* 8 bytes: ``N``, the header length, unsigned little-endian;
* ``N`` bytes: a UTF-8 JSON object, padded with spaces to a multiple of 8. Each key names a tensor and
  maps to ``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`` (offsets relative to the
  data section); the optional key ``__metadata__`` maps to a str -> str object;
* the data section: every tensor's bytes, C order, little-endian, packed with no holes and nothing after.

Tensors are written in the order the ``safetensors`` package writes them (by dtype, largest alignment
first, then by name), so a dict saved here and by ``safetensors.numpy.save_file`` gives byte-identical
files whenever the metadata has at most one key (the package writes several metadata keys in hash order).

Loading validates the whole header before it touches any tensor data; every malformed file raises
`SafetensorsError` (a ``ValueError``) naming the file and, where there is one, the tensor. Nothing is
allocated for tensor data before validation, and never more than the bytes the file holds.

Two layers:

* NumPy: `save_file`, `load_file` and ``safe_open(path, framework="np")`` over ``np.ndarray``;
* tritongrad: `save`, `load` and ``safe_open(path, framework="tritongrad", device=...)`` over Tensors on
  any device (exported as ``tritongrad.save`` / ``tritongrad.load`` / ``tritongrad.safe_open``). `save` and
  `load` stand for ``torch.save``/``torch.load``: besides a flat dict of tensors (a plain safetensors file)
  they store whole training states -- nested dicts, lists and tuples of tensors and scalars -- with the
  tensors under their paths and the structure as JSON in ``__metadata__["tritongrad.structure"]``
  (`tritongrad._structure`), and read and write file objects as well as paths. Nothing is ever pickled.

Saves to a path are atomic (`atomic_write`): a temporary file in the target's directory, fsync, ``os.replace``,
fsync of the directory. A failed or killed save leaves the previous file intact; temporary files of
killed saves are removed by the next save of the same file.
"""
from __future__ import annotations

import io
import json
import math
import mmap as _mmap
import os
from collections.abc import Mapping

import ml_dtypes
import numpy as np

from . import _structure
from ._atomic import _TEMP_PREFIX, atomic_write  # noqa: F401  (_TEMP_PREFIX: the temporaries' names)

__all__ = ["SafetensorsError", "save", "load", "safe_open", "save_file", "load_file", "atomic_write",
           "MAX_HEADER_BYTES"]

MAX_HEADER_BYTES = 100_000_000
"""Largest accepted JSON header (the ``safetensors`` package's limit)."""

_MAX_NDIM = 64  # NumPy's limit on dimensions
_CHUNK_BYTES = 64 << 20  # unit of host-side copies when writing non-contiguous tensors and staging to cuda

# safetensors name -> NumPy dtype, in the package's Dtype enum order (ascending): files list tensors by
# descending order of this rank, then by name.
_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype(np.int16),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I32": np.dtype(np.int32),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "I64": np.dtype(np.int64),
}
_RANK = {name: i for i, name in enumerate(_DTYPES)}
_NAMES = {dt: name for name, dt in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A malformed safetensors file. ``path`` and ``tensor`` (or None) say where."""

    def __init__(self, path, message, tensor=None):
        self.path = path
        self.tensor = tensor
        where = f"{path}" if tensor is None else f"{path}: tensor {tensor!r}"
        super().__init__(f"{where}: {message}")


# ================================================================================== header: build

def _dtype_name(dtype, name):
    dt = np.dtype(dtype)
    if dt.byteorder == ">":
        dt = dt.newbyteorder("<")
    if dt not in _NAMES:
        raise TypeError(f"tensor {name!r}: dtype {dtype} cannot be saved in safetensors "
                        f"(supported: {', '.join(str(d) for d in _NAMES)})")
    return _NAMES[dt]


def _check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str; entry {k!r}: {type(v).__name__}")
    return dict(metadata)


def build_header(specs, metadata=None):
    """The header bytes (length prefix + padded JSON) and the write order for ``specs``.

    ``specs`` maps each name to ``(dtype, shape)``. Returns ``(header_bytes, ordered_names)``; the
    tensors' bytes follow in ``ordered_names`` order.
    """
    metadata = _check_metadata(metadata)
    entries = {}
    for name, (dtype, shape) in specs.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved by the safetensors format and cannot name a tensor")
        entries[name] = (_dtype_name(dtype, name), tuple(int(n) for n in shape), np.dtype(dtype).itemsize)
    order = sorted(entries, key=lambda n: (-_RANK[entries[n][0]], n))
    header = {} if metadata is None else {"__metadata__": metadata}
    offset = 0
    for name in order:
        dname, shape, itemsize = entries[name]
        nbytes = math.prod(shape) * itemsize
        header[name] = {"dtype": dname, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, order


# ================================================================================== header: parse

class _JSONObject(dict):
    """A JSON object that remembers keys given more than once (``json`` keeps the last silently)."""

    __slots__ = ("duplicates",)


def _object_pairs(pairs):
    obj = _JSONObject()
    obj.duplicates = []
    for k, v in pairs:
        if k in obj:
            obj.duplicates.append(k)
        obj[k] = v
    return obj


def _is_uint(x):
    return type(x) is int and x >= 0


class TensorInfo:
    """One validated header entry: NumPy ``dtype``, ``shape``, ``begin``/``end`` in the data section."""

    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end

    @property
    def nbytes(self):
        return self.end - self.begin

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.dtype}, {self.shape}, [{self.begin}, {self.end}])"


def _parse_entry(path, name, entry, data_len):
    def fail(msg):
        raise SafetensorsError(path, msg, name)

    if not isinstance(entry, dict):
        fail(f"header entry must be a JSON object, got {type(entry).__name__}")
    if entry.duplicates:
        fail(f"field {entry.duplicates[0]!r} given more than once")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in entry:
            fail(f"missing field {field!r}")
    dname, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dname, str) or dname not in _DTYPES:
        fail(f"unknown dtype {dname!r} (supported: {', '.join(_DTYPES)})")
    if not isinstance(shape, list) or not all(_is_uint(n) for n in shape):
        fail(f"shape must be a list of non-negative integers, got {shape!r:.200}")
    if len(shape) > _MAX_NDIM:
        fail(f"shape has {len(shape)} dimensions; at most {_MAX_NDIM} are supported")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(n) for n in offsets):
        fail(f"data_offsets must be two non-negative integers, got {offsets!r:.200}")
    begin, end = offsets
    if end < begin:
        fail(f"data_offsets end {end} is before begin {begin}")
    if end > data_len:
        fail(f"data truncated: tensor ends at byte {end} of the data section, which has only {data_len} bytes")
    dtype = _DTYPES[dname]
    nbytes = dtype.itemsize
    for n in shape:  # the running product is what overflows in a 64-bit reader; stop there
        nbytes *= n
        if nbytes >= 1 << 63:
            fail(f"shape {shape} overflows: its size in bytes does not fit in 64 bits")
    if nbytes != end - begin:
        fail(f"shape {shape} x {dtype.itemsize} bytes ({dname}) = {nbytes} bytes, "
             f"but data_offsets [{begin}, {end}] hold {end - begin}")
    return TensorInfo(name, dtype, tuple(shape), begin, end)


_CONVERT_HINT = ("tritongrad reads safetensors only (it never unpickles). Convert the checkpoint once where PyTorch "
                 "is installed: a state_dict of tensors with `from safetensors.torch import save_file; "
                 "save_file(torch.load(path, map_location='cpu', weights_only=True), 'model.safetensors')`; a whole "
                 "checkpoint dict (model, optimizer, epoch, ...) with tritongrad installed beside PyTorch: "
                 "`ckpt = torch.load(path, map_location='cpu', weights_only=True); tritongrad.save("
                 "torch.utils._pytree.tree_map_only(torch.Tensor, lambda t: t.numpy(), ckpt), 'ckpt.safetensors')` "
                 "(bfloat16 tensors: t.float().numpy()). Then load the new file with tritongrad.load")


def _foreign_format(path, head):
    """A `SafetensorsError` saying what the file is when its first bytes ``head`` show a PyTorch checkpoint
    (``torch.save``'s zip archive, or the legacy/plain pickle format), else None."""
    if head[:4] == b"PK\x03\x04":
        what = "a zip archive: the format of torch.save (a PyTorch .pt/.pth checkpoint)"
    elif len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        what = f"a Python pickle (protocol {head[1]}): a PyTorch .pt/.pth checkpoint or another pickled object"
    else:
        return None
    return SafetensorsError(path, f"not a safetensors file but {what}. {_CONVERT_HINT}")


def parse_header(path, f, file_size):
    """Read and validate the header of the open binary file ``f`` of ``file_size`` bytes.

    Returns ``(infos, metadata, data_start)``: ``infos`` maps names to `TensorInfo` in file order,
    ``metadata`` is the ``__metadata__`` dict (or None), ``data_start`` the data section's file offset.
    Raises `SafetensorsError` for every malformed header or layout.
    """
    if file_size < 8:
        raise SafetensorsError(path, f"file is {file_size} bytes, shorter than the 8-byte header length")
    head = f.read(8)
    n = int.from_bytes(head, "little")
    # a PyTorch file is recognised only where it fails as safetensors: its magic bytes could begin a valid
    # header length
    if n > MAX_HEADER_BYTES:
        raise _foreign_format(path, head) or SafetensorsError(
            path, f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    if n > file_size - 8:
        raise _foreign_format(path, head) or SafetensorsError(
            path, f"header length {n} goes beyond the end of the file ({file_size} bytes)")
    raw = f.read(n)
    if len(raw) != n:
        raise SafetensorsError(path, f"file shrank while reading its {n}-byte header")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _foreign_format(path, head) or SafetensorsError(
            path, f"header is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        header = json.loads(text, object_pairs_hook=_object_pairs)
    except RecursionError:
        raise SafetensorsError(path, "header JSON is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and int() digit limits
        raise _foreign_format(path, head) or SafetensorsError(path, f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(path, f"header must be a JSON object, got {type(header).__name__}")
    if header.duplicates:
        raise SafetensorsError(path, "name given more than once in the header", header.duplicates[0])

    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise SafetensorsError(path, f"__metadata__ must be a JSON object, got {type(metadata).__name__}")
        if metadata.duplicates:
            raise SafetensorsError(path, f"__metadata__ key {metadata.duplicates[0]!r} given more than once")
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise SafetensorsError(path, f"__metadata__ values must be strings; {k!r} is {type(v).__name__}")
        metadata = dict(metadata)

    data_start = 8 + n
    data_len = file_size - data_start
    infos = [_parse_entry(path, name, entry, data_len) for name, entry in header.items()]
    infos.sort(key=lambda t: (t.begin, t.end))
    pos, prev = 0, None
    for t in infos:
        if t.begin < pos:
            raise SafetensorsError(path, f"data [{t.begin}, {t.end}] overlaps tensor {prev.name!r} "
                                         f"[{prev.begin}, {prev.end}]", t.name)
        if t.begin > pos:
            after = "the start of the data section" if prev is None else f"tensor {prev.name!r}"
            raise SafetensorsError(path, f"hole of {t.begin - pos} bytes between {after} and this tensor's "
                                         f"data at {t.begin}", t.name)
        pos, prev = t.end, t
    if pos != data_len:
        where = "in the data section, which no tensor covers" if prev is None else "after the last tensor"
        raise SafetensorsError(path, f"{data_len - pos} bytes left {where} (data section: {data_len} bytes)",
                               None if prev is None else prev.name)
    return {t.name: t for t in infos}, metadata, data_start


# ================================================================================== NumPy layer

def _write_array(f, a):
    """Write ``a``'s values in C order, little-endian, copying at most ``_CHUNK_BYTES`` at a time."""
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    if a.size == 0:
        return
    if a.flags.c_contiguous:
        f.write(memoryview(a.reshape(-1).view(np.uint8)))
        return
    rows = max(1, _CHUNK_BYTES // max(1, a[0].nbytes))
    for i in range(0, a.shape[0], rows):
        f.write(memoryview(np.ascontiguousarray(a[i:i + rows]).reshape(-1).view(np.uint8)))


def save_file(arrays, path, metadata=None):
    """Save a dict of NumPy arrays as a safetensors file (``safetensors.numpy.save_file``).

    Arrays may have any strides (written as their C-order values) and byte order (written little-endian);
    dtypes: float64/32/16, bfloat16 (ml_dtypes), int64/32/16/8, uint8, bool. ``metadata`` is str -> str.
    The write is atomic (see `atomic_write`).
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"save_file expects a dict of arrays, got {type(arrays).__name__}")
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"tensor {name!r}: expected a NumPy array, got {type(a).__name__}")
    _save_specs(path, {k: (a.dtype, a.shape) for k, a in arrays.items()}, arrays.__getitem__, metadata)


def _is_file_object(f):
    return hasattr(f, "write") or hasattr(f, "read")


def _check_target(f, mode):
    """``f`` must be a path (str or os.PathLike) or a binary file object open for ``mode`` ('rb'/'wb')."""
    if _is_file_object(f):
        mode_of = getattr(f, "mode", None)
        if isinstance(f, io.TextIOBase) or (isinstance(mode_of, str) and "b" not in mode_of):
            raise TypeError(f"the file object {f!r:.80} is open in text mode; open it in binary mode "
                            f"({mode!r}) or pass its path")
        if not hasattr(f, "write" if mode == "wb" else "read"):
            raise TypeError(f"the file object {f!r:.80} has no .{'write' if mode == 'wb' else 'read'}() method")
        return
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"f must be a path (str or os.PathLike) or a binary file object open for {mode!r}, "
                        f"got {type(f).__name__}")


def _save_specs(f, specs, host_array, metadata):
    """Write the file: atomically to a path (`atomic_write`), sequentially from the current position to a
    writable binary file object."""
    _check_target(f, "wb")
    header, order = build_header(specs, metadata)

    def write(out):
        out.write(header)
        for name in order:
            _write_array(out, host_array(name))

    if _is_file_object(f):
        write(f)
    else:
        atomic_write(f, write)


class _Reader:
    """An open, validated safetensors file: its header infos, the open file, and a lazily made private
    (copy-on-write) memory map.

    `read` copies one tensor's bytes into a fresh array with one positioned read; `array(copy=False)` is
    a view of the map (writable; writes never reach the file) when the data is aligned for its dtype.
    A readable binary file object is read whole, from its current position, into memory (``self._map``
    is then those bytes, and `read` copies from them).
    """

    def __init__(self, path):
        _check_target(path, "rb")
        self._map = None
        if _is_file_object(path):
            self.path = getattr(path, "name", None) or f"<{type(path).__name__}>"
            self.file = None
            self._map = path.read()
            if not isinstance(self._map, (bytes, bytearray)):
                raise TypeError(f"{self.path}: read() returned {type(self._map).__name__}, not bytes; open the "
                                f"file in binary mode ('rb')")
            self.infos, self.metadata, self.data_start = parse_header(self.path, io.BytesIO(self._map),
                                                                      len(self._map))
            return
        self.path = os.fspath(path)
        self.file = open(self.path, "rb")
        try:
            size = os.fstat(self.file.fileno()).st_size
            self.infos, self.metadata, self.data_start = parse_header(self.path, self.file, size)
        except BaseException:
            self.file.close()
            raise

    def info(self, name):
        try:
            return self.infos[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    @property
    def map(self):
        if self._map is None:
            self._map = _mmap.mmap(self.file.fileno(), 0, access=_mmap.ACCESS_COPY)
        return self._map

    def raw(self, name):
        """The tensor's bytes as a flat uint8 view of the memory map (reads nothing yet)."""
        t = self.info(name)
        return np.frombuffer(self.map, np.uint8, t.nbytes, self.data_start + t.begin)

    def view(self, name):
        """A view of the map with the tensor's dtype and shape (possibly unaligned)."""
        t = self.info(name)
        return self.raw(name).view(t.dtype).reshape(t.shape)

    def read(self, name):
        """A fresh array with the tensor's values, read with positioned reads (no map involved)."""
        t = self.info(name)
        if self.file is None:  # read from a file object: the bytes are in memory
            return self.view(name).copy()
        out = np.empty(t.shape, t.dtype)
        buf = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < t.nbytes:
            n = os.preadv(self.file.fileno(), [buf[done:]], self.data_start + t.begin + done)
            if n == 0:
                raise SafetensorsError(self.path, "file shrank while reading: data truncated", name)
            done += n
        return out

    def array(self, name, copy):
        if copy or self.file is None:
            return self.read(name)
        a = self.view(name)
        return a if a.flags.aligned else self.read(name)

    def close(self):
        """Close the file, and the map unless arrays still view it (then it goes with the last of them)."""
        if self.file is None:
            return
        self.file.close()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass


def load_file(path, mmap=False):
    """Load a safetensors file as a dict of NumPy arrays (``safetensors.numpy.load_file``).

    ``mmap=False`` (the default, as the package's): every array is a fresh copy, independent of the file.
    ``mmap=True``: arrays are views of a private memory map of the file, read lazily as they are touched;
    they are writable and writes stay in memory (copy-on-write). Tensors whose data is not aligned for
    their dtype (files from other writers) are copied. Caveat of ``mmap=True``: if another program
    truncates or rewrites the file in place while the arrays live (``cp``, ``open(path, "wb")``; an atomic
    replace such as `save`'s is safe), touching an array can kill the process with SIGBUS.
    Raises `SafetensorsError` for a malformed file, or for a PyTorch pickle/zip checkpoint.
    """
    if mmap and _is_file_object(path):
        raise ValueError("mmap=True needs a file path, not a file object")
    r = _Reader(path)
    try:
        return {name: r.array(name, copy=not mmap) for name in r.infos}
    finally:
        r.close()


# ================================================================================== tritongrad layer

def _host_array(value, name):
    """A NumPy array with the values of a tritongrad Tensor (copied to host if on cuda) or NumPy array."""
    from .tensor import Tensor
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"tensor {name!r}: cannot save a value of type {type(value).__name__} "
                    f"(expected a tritongrad Tensor or a NumPy array)")


def _spec(value, name):
    from .tensor import Tensor
    if isinstance(value, Tensor):
        return value.dtype.np, tuple(value.shape)
    return _host_array(value, name).dtype, value.shape


def _is_flat(obj):
    from .tensor import Tensor
    return isinstance(obj, Mapping) and all(isinstance(k, str) and isinstance(v, (Tensor, np.ndarray))
                                            for k, v in obj.items())


def save(obj, f, metadata=None, *, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` to one safetensors file (``torch.save``; for a dict of tensors ``safetensors.torch.save_file``).

    ``obj`` is what ``torch.save`` is given in practice: a ``state_dict()``, a Tensor or NumPy array, or a
    whole training state -- nested dicts, lists and tuples of tensors, ints, floats, bools, strings and None
    (``{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "config": {...}}``).
    A flat dict of str -> tensor is written as a plain safetensors file, as ``safetensors`` writes it.
    Anything else is written with each tensor stored under its dotted path in the structure
    (``optimizer.state.0.exp_avg``; a lone tensor as ``tensor``) and the structure as JSON in
    ``__metadata__["tritongrad.structure"]``, so any safetensors reader sees the tensors and `load` rebuilds
    the object: tuples stay tuples, int/float/bool/None dict keys stay keys, a tensor object that appears
    twice is stored once and loads back as one object (views of one storage are stored separately: equal
    values, no shared memory, unlike PyTorch). Nothing is pickled: a value of another type -- a whole
    ``Module`` (save ``model.state_dict()``), an optimizer, a function, a set, any other object -- raises
    TypeError naming its place in ``obj`` (``obj['config']['fn']``), and a cycle raises TypeError.

    Tensors may live on any device and have any dtype and strides: non-contiguous tensors are written as
    their logical values in C order; cuda tensors are copied to the host one at a time, and their device is
    recorded for ``load``'s ``map_location``. NumPy arrays are stored as tensors and load back as Tensors
    (``torch.load`` returns an ndarray with ``weights_only=False``, and refuses one with its default
    ``weights_only=True`` unless NumPy's globals are allowlisted); NumPy scalars load as Python numbers.
    Loaded tensors are plain tensors (``requires_grad=False``), as in a ``state_dict``; dict subclasses
    (a ``state_dict``'s OrderedDict) load as dicts in the same order, tuple subclasses as tuples.

    ``f``: a path (str or os.PathLike) -- the save is atomic: a failed or interrupted save leaves an existing
    file untouched (see `atomic_write`) -- or a writable binary file object (``open(path, "wb")``,
    ``io.BytesIO()``), written sequentially from its current position. ``metadata`` (str -> str) is added
    to ``__metadata__``. ``pickle_module``, ``pickle_protocol``, ``_use_new_zipfile_serialization`` and
    ``_disable_byteorder_record`` are accepted for ``torch.save`` compatibility and ignored.
    """
    metadata = _check_metadata(metadata)
    if metadata is not None and _structure.STRUCTURE_KEY in metadata:
        raise ValueError(f"metadata key {_structure.STRUCTURE_KEY!r} is reserved for the saved structure")
    if _is_flat(obj):
        tensors = obj
    else:
        metadata = metadata or {}
        tensors = {}
        metadata[_structure.STRUCTURE_KEY] = _structure.encode(obj, tensors)
    specs = {name: _spec(value, name) for name, value in tensors.items()}
    _save_specs(f, specs, lambda name: _host_array(tensors[name], name), metadata)


def _parse_device(device):
    from .device import as_device
    return as_device(device)


class _DeviceStager:
    """Copies tensors from the memory map into device arrays through two pinned host buffers.

    Each tensor is copied in chunks: while chunk k moves to the device (an async copy on the current
    stream), chunk k+1 is copied from the map into the other buffer; an event per buffer says when it is
    free again. At most ``2 * _CHUNK_BYTES`` of host memory is used, never a copy of the whole file.
    (In interpreter mode pinned memory is a documented no-op of the runtime and the copies are memmoves:
    the same code path, run synchronously.)
    """

    def __init__(self, nbytes_max, device_index):
        from .runtime import DeviceArray, memory, streams
        self.memory, self.streams, self.DeviceArray = memory, streams, DeviceArray
        size = max(1, min(_CHUNK_BYTES, nbytes_max))
        self.buffers = [memory.pinned_empty((size,), np.uint8, device_index) for _ in range(2)]
        self.events = [None, None]
        self.slot = 0

    def copy(self, dst, src):
        """Copy the uint8 host view ``src`` into the contiguous `DeviceArray` ``dst`` (same byte count)."""
        flat = self.DeviceArray(dst.buffer, (src.size,), np.uint8, offset=dst.offset)
        chunk = self.buffers[0].size
        for start in range(0, src.size, chunk):
            n = min(chunk, src.size - start)
            buf = self.buffers[self.slot][:n]
            if self.events[self.slot] is not None:
                self.events[self.slot].synchronize()  # the copy that last read this buffer is done
            np.copyto(buf, src[start:start + n])
            self.memory.copy_host_to_device(flat[start:start + n], buf, non_blocking=True)
            self.events[self.slot] = self.streams.Event()
            self.events[self.slot].record(self.streams.current_stream(dst.device))
            self.slot ^= 1

    def finish(self):
        """Wait until every copy is done (the tensors are then ready on any stream)."""
        for ev in self.events:
            if ev is not None:
                ev.synchronize()


def _tensors_from(reader, names, device, copy):
    """Tensors for ``names`` of an open `_Reader` on ``device`` (cuda: staged through pinned memory)."""
    from .tensor import Tensor, from_numpy
    dev = _parse_device(device)
    if dev.type == "cpu":
        return {name: from_numpy(reader.array(name, copy)) for name in names}
    from .runtime import memory
    stager = _DeviceStager(max((reader.info(n).nbytes for n in names), default=1), dev.index)
    out = {}
    for name in names:
        t = reader.info(name)
        dst = memory.empty(t.shape, t.dtype, dev.index)
        if t.nbytes:
            stager.copy(dst, reader.raw(name))
        out[name] = Tensor._make(dst, dev)
    stager.finish()
    return out


_PICKLE_LOAD_ARGS = ("encoding", "errors", "fix_imports", "buffers")  # what pickle's Unpickler accepts


def _saved_device(path, name, location):
    """The device a tensor was saved from (its location tag), where ``torch.load`` restores it by default."""
    try:
        dev = _parse_device(location)
    except (TypeError, ValueError, RuntimeError) as e:
        raise SafetensorsError(path, f"bad saved device {location!r} ({e})", name) from None
    if dev.type == "cuda":
        from .runtime.device import is_available
        if not is_available():
            raise RuntimeError(f"{path}: tensor {name!r} was saved on {location}, but cuda is not available "
                               f"here; pass map_location='cpu' to load it on the cpu")
    return dev


def _place(reader, locations, map_location, copy):
    """Tensors for ``locations`` ({name: saved location}) of an open `_Reader`, put where ``map_location``
    says (``torch.load``'s rules)."""
    from .device import device as device_type
    from .tensor import Tensor
    path = reader.path
    if callable(map_location):  # fn(tensor on cpu, location) -> Tensor, or None for the default place
        out = {}
        for name, loc in locations.items():
            t = _tensors_from(reader, [name], "cpu", copy)[name]
            moved = map_location(t, loc)
            if moved is None:
                dev = _saved_device(path, name, loc)
                moved = t if dev.type == "cpu" else t.to(dev)
            elif not isinstance(moved, Tensor):
                raise TypeError(f"map_location returned a {type(moved).__name__} for tensor {name!r}; it must "
                                f"return a Tensor (e.g. storage.cuda(0)) or None")
            out[name] = moved
        return out
    if map_location is None:
        target = {name: _saved_device(path, name, loc) for name, loc in locations.items()}
    elif isinstance(map_location, Mapping):  # {saved location: new location}; others stay where saved
        remap = {str(_parse_device(k)): v for k, v in map_location.items()}
        target = {name: _parse_device(remap[loc]) if loc in remap else _saved_device(path, name, loc)
                  for name, loc in locations.items()}
    elif isinstance(map_location, (str, device_type, int)):
        dev = _parse_device(map_location)
        target = dict.fromkeys(locations, dev)
    else:
        raise TypeError(f"map_location must be a str, a device, a dict of locations or a callable, got "
                        f"{type(map_location).__name__}")
    groups = {}
    for name, dev in target.items():
        groups.setdefault(dev, []).append(name)
    loaded = {}
    for dev, names in groups.items():
        loaded.update(_tensors_from(reader, names, dev, copy))
    return {name: loaded[name] for name in locations}


def _read_structure(reader):
    """``(structure, {tensor key: saved location})`` from the file's metadata; None for a plain safetensors file."""
    text = (reader.metadata or {}).get(_structure.STRUCTURE_KEY)
    if text is None:
        return None
    try:
        structure = _structure.parse(text)
        return structure, _structure.tensor_locations(structure)
    except _structure.MalformedStructure as e:
        raise SafetensorsError(reader.path, f"{_structure.STRUCTURE_KEY} metadata: {e}") from None


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, device=None,
         **pickle_load_args):
    """Load what `save` saved, or any safetensors file (``torch.load``; ``safetensors.torch.load_file``).

    A plain safetensors file (a flat dict of tensors, from `save` or any other writer) loads as a dict of
    Tensors in file order; a file `save` wrote from another object loads as that object (nested dicts,
    lists, tuples, scalars, a lone Tensor). ``f``: a path (str or os.PathLike) or a readable binary file
    object (``open(path, "rb")``, ``io.BytesIO``), read from its current position. Nothing is ever
    unpickled: a PyTorch ``.pt``/``.pth`` file (``torch.save``'s zip or pickle format) raises
    `SafetensorsError` saying so and how to convert it; a malformed file raises `SafetensorsError`.

    ``map_location`` (alias ``device``), as ``torch.load``'s: None puts each tensor where it was saved
    (`save` records cuda tensors' devices; plain files hold cpu tensors); a str, int or device puts every
    tensor there; a dict ``{"cuda:0": "cpu"}`` maps saved locations to new ones (others stay where saved);
    a callable ``fn(tensor, location)`` gets each tensor loaded on the cpu and its saved location
    (``"cpu"``, ``"cuda:0"``) and returns the tensor to use, or None for the default place. A tensor saved
    on cuda, loaded where cuda is not available without a ``map_location``, raises RuntimeError.

    ``mmap`` (None means False): on ``cpu`` each tensor is by default a fresh copy, as ``torch.load`` makes,
    so the file can be rewritten or deleted afterwards; ``mmap=True`` makes the tensors share memory with a
    private memory map of the file instead: pages are read when touched, writes stay in memory
    (copy-on-write); but if another program truncates or rewrites the file in place while they live
    (``cp``, ``shutil.copyfile``, ``open(path, "wb")``; an atomic replace such as `save`'s is safe), touching
    one can kill the process with SIGBUS. ``mmap=True`` needs a path (ValueError for a file object, as in
    PyTorch). On ``cuda`` every tensor goes from the map straight to the device through a pair of pinned
    staging buffers with async copies (``mmap`` is then irrelevant); the file is never copied whole into
    host memory.

    ``weights_only`` (True, False or None) is accepted and changes nothing: loading never runs code, so
    both behave as PyTorch's safe ``weights_only=True``. ``pickle_module`` and pickle's load arguments
    (``encoding``, ``errors``, ``fix_imports``, ``buffers``) are accepted and ignored; any other keyword
    raises TypeError.
    """
    unknown = sorted(set(pickle_load_args) - set(_PICKLE_LOAD_ARGS))
    if unknown:
        raise TypeError(f"load() got an unexpected keyword argument {unknown[0]!r}")
    if weights_only not in (None, True, False):
        raise TypeError(f"weights_only must be True, False or None, got {weights_only!r}")
    if device is not None:
        if map_location is not None:
            raise ValueError("pass map_location or device, not both")
        map_location = device
    if mmap and _is_file_object(f):
        raise ValueError("f must be a file path in order to use the mmap argument")
    r = _Reader(f)
    try:
        found = _read_structure(r)
        locations = dict.fromkeys(r.infos, "cpu") if found is None else found[1]
        missing = [k for k in locations if k not in r.infos]
        if missing:
            raise SafetensorsError(r.path, f"the saved structure refers to tensor {missing[0]!r}, which the "
                                           f"file does not hold")
        tensors = _place(r, locations, map_location, copy=not mmap)
    finally:
        r.close()
    if found is None:
        return tensors
    try:
        return _structure.decode(found[0], tensors)
    except (_structure.MalformedStructure, RecursionError) as e:
        raise SafetensorsError(r.path, f"{_structure.STRUCTURE_KEY} metadata: {e}") from None


class _Slice:
    """``safe_open(...).get_slice(name)``: shape and dtype without reading; ``[...]`` reads only the part."""

    def __init__(self, handle, name):
        self._handle, self._name = handle, name
        self._info = handle._reader.info(name)

    def get_shape(self):
        return list(self._info.shape)

    def get_dtype(self):
        return _NAMES[self._info.dtype]

    def __getitem__(self, key):
        part = np.array(self._handle._reader.view(self._name)[_basic_index(key)])
        return self._handle._wrap(part)


def _basic_index(key):
    keys = key if isinstance(key, tuple) else (key,)
    for k in keys:
        if not (k is Ellipsis or isinstance(k, slice) or isinstance(k, (int, np.integer))) or isinstance(k, bool):
            raise TypeError(f"get_slice supports ints, slices and Ellipsis, got {k!r}")
    return key


class safe_open:
    """Lazy reader of a safetensors file (``safetensors.safe_open``); use as a context manager.

    ``framework``: ``"np"`` (NumPy arrays) or ``"tritongrad"`` (Tensors on ``device``). The header is
    validated on open; ``keys()``, ``metadata()``, ``get_tensor(name)`` and ``get_slice(name)[...]`` read
    only what they return, from a memory map. Returned values are copies that outlive the handle.
    """

    def __init__(self, path, framework="np", device="cpu"):
        if framework in ("np", "numpy"):
            self._tg = False
        elif framework in ("tritongrad", "tg"):
            self._tg = True
        else:
            raise ValueError(f"framework must be 'np' or 'tritongrad', got {framework!r}")
        self._device = device
        if not self._tg and str(device) != "cpu":
            raise ValueError(f"framework 'np' loads to cpu only, got device {device!r}")
        self._reader = _Reader(path)

    def keys(self):
        """Tensor names, in file order."""
        return list(self._reader.infos)

    def metadata(self):
        """The ``__metadata__`` dict (str -> str), or None when the file has none."""
        return None if self._reader.metadata is None else dict(self._reader.metadata)

    def get_tensor(self, name):
        """The tensor ``name``, reading only its bytes."""
        if self._tg:
            return _tensors_from(self._reader, [name], self._device, copy=True)[name]
        return self._reader.read(name)

    def get_slice(self, name):
        """A lazy slice object: ``get_shape()``, ``get_dtype()``, and ``[...]`` (basic indexing)."""
        return _Slice(self, name)

    def _wrap(self, arr):
        if not self._tg:
            return arr
        from .tensor import from_numpy
        t = from_numpy(arr)
        return t if _parse_device(self._device).type == "cpu" else t.to(self._device)

    def close(self):
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
