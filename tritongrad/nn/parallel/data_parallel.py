"""`DataParallel` and `data_parallel` (``torch.nn.parallel``): single-process data parallelism.

PyTorch's `DataParallel` replicates the module on every listed GPU in one process, scatters the batch
along ``dim``, runs the replicas in threads and gathers the outputs on ``output_device``. With exactly one
device (or no GPU at all) PyTorch skips all of that and simply calls the module, after moving the inputs to
that device; tritongrad does the same. Several devices in one process are not supported: tritongrad's
multi-GPU training is `DistributedDataParallel` (one process per GPU, started with
``python -m tritongrad.distributed.run``), which PyTorch itself recommends over `DataParallel`; asking for
more than one device raises NotImplementedError saying so.
"""
from __future__ import annotations

from ..module import Module

__all__ = ["DataParallel", "data_parallel"]

_SEVERAL = ("{what}: device_ids={ids} names {n} devices, but tritongrad runs DataParallel on one device only "
            "(it then calls the module, as PyTorch does with one device). For several GPUs use "
            "tritongrad.nn.parallel.DistributedDataParallel with one process per GPU "
            "(python -m tritongrad.distributed.run --nproc-per-node N script.py), as PyTorch recommends.")


def _device_index(d):
    """A device id as an int: ``0``, ``'cuda:0'``, ``tritongrad.device('cuda', 0)``."""
    from ...device import as_device
    if isinstance(d, int) and not isinstance(d, bool):
        return d
    try:
        dev = as_device(d)
    except Exception as e:
        raise ValueError(f"device_ids: expected ints or cuda devices, got {d!r}") from e
    if dev.type != "cuda":
        raise ValueError(f"device_ids: expected cuda devices, got {d!r}")
    return dev.index or 0


def _resolve(what, device_ids, output_device):
    """(device ids as ints, output device index) of a data-parallel call; None when no GPU is available."""
    from ... import cuda
    if not cuda.is_available():
        return None
    if device_ids is None:
        device_ids = list(range(cuda.device_count()))
    if not device_ids:
        raise RuntimeError(f"{what}: no available devices were found (device_ids is empty)")
    ids = [_device_index(d) for d in device_ids]
    if len(ids) > 1:
        raise NotImplementedError(_SEVERAL.format(what=what, ids=list(device_ids), n=len(ids)))
    for i in ids:
        if not 0 <= i < cuda.device_count():
            raise ValueError(f"{what}: device id {i} is out of range ({cuda.device_count()} device(s) visible)")
    out = ids[0] if output_device is None else _device_index(output_device)
    return ids, out


def _to_device(obj, dev):
    """``obj`` with every Tensor in it (nested in tuples, lists and dicts) moved to ``dev`` (PyTorch's scatter
    with one device)."""
    from ...tensor import Tensor
    if isinstance(obj, Tensor):
        return obj.to(dev)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_device(o, dev) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o, dev) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _to_device(v, dev)) for k, v in obj.items())
    return obj


def _check_on(what, module, dev):
    for t in list(module.parameters()) + list(module.buffers()):
        if t.device != dev:
            raise RuntimeError(f"{what}: module must have its parameters and buffers on device {dev} "
                               f"(device_ids[0]) but found one of them on device: {t.device}")


class DataParallel(Module):
    """Data parallelism in one process (``torch.nn.DataParallel``); tritongrad runs it on one device.

    With no GPU available, ``forward`` calls ``module`` as it is. With one device (``device_ids=None`` picks
    all visible devices; one GPU is one device), the module is moved to ``cuda:device_ids[0]`` at
    construction and ``forward`` moves the tensors among its inputs there and calls the module: the same
    results as calling the module itself, as in PyTorch with one device. ``output_device`` and ``dim`` are
    kept as attributes (with one device there is nothing to gather). Several device ids raise
    NotImplementedError: use `DistributedDataParallel`. The wrapped module is ``dp.module``, so
    ``dp.state_dict()`` keys start with ``module.``, as PyTorch's.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel wraps a tritongrad.nn.Module, got {type(module).__name__}")
        self.module = module
        self.dim = dim
        r = _resolve("DataParallel", device_ids, output_device)
        if r is None:
            self.device_ids, self.output_device, self.src_device_obj = [], None, None
            return
        from ...device import device
        self.device_ids, self.output_device = r
        self.src_device_obj = device("cuda", self.device_ids[0])
        self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        _check_on("DataParallel", self.module, self.src_device_obj)
        return self.module(*_to_device(inputs, self.src_device_obj), **_to_device(kwargs, self.src_device_obj))


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """Evaluate ``module(*inputs, **module_kwargs)`` data-parallel (``torch.nn.parallel.data_parallel``).

    ``inputs`` is a tuple of positional inputs (a single non-tuple input is wrapped). As `DataParallel`:
    on one device the tensors among the inputs move to ``cuda:device_ids[0]`` (where the module's parameters
    and buffers must already be) and the module is called; several device ids raise NotImplementedError
    (use `DistributedDataParallel`). With no GPU available it raises RuntimeError, as PyTorch.
    """
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    r = _resolve("data_parallel", device_ids, output_device)
    if r is None:
        raise RuntimeError("data_parallel: device type could not be determined (no GPU is available; set "
                           "TRITON_INTERPRET=1 to run the cuda device in Triton's interpreter)")
    from ...device import device
    dev = device("cuda", r[0][0])
    _check_on("data_parallel", module, dev)
    return module(*_to_device(inputs, dev), **_to_device(module_kwargs or {}, dev))
