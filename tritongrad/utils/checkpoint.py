"""Whole training checkpoints in one safetensors file: model, optimizer, scheduler, step, RNG, extras.

Layout of a checkpoint file (an ordinary safetensors file; any safetensors reader can open it):

* tensors: the model's ``state_dict()`` as ``model.<name>``; every tensor found anywhere in the optimizer's
  and scheduler's state dicts and in the extras, under its path (``optimizer.state.0.exp_avg``,
  ``extra.ema.weight``);
* ``__metadata__["tritongrad.checkpoint"]``: one JSON document with everything else -- the model's key
  order, the optimizer's
  ``param_groups`` and non-tensor state, the scheduler's state, ``step``, the states of tritongrad's
  default random generators, and the extras -- where each tensor is replaced by ``{"__tensor__": key}``.
  Tuples and dicts with non-string keys are tagged (``{"__tuple__": [...]}``, ``{"__dict__": [[k, v]]}``)
  so they come back as they went in (PyTorch's ``betas=(0.9, 0.999)``, state keyed by parameter index);
  the encoding is `tritongrad._structure`'s, shared with `tritongrad.save`.

The file is written atomically (`tritongrad.serialization.atomic_write`): a crash during a save leaves
the previous checkpoint intact.
"""
from __future__ import annotations

import json

import numpy as np

from .. import _structure
from .. import serialization as _ser
from ..device import as_device
from ..tensor import Tensor

__all__ = ["save_checkpoint", "load_checkpoint", "METADATA_KEY"]

METADATA_KEY = "tritongrad.checkpoint"
_FORMAT = 1
_MODEL_PREFIX = "model."


def _decode(obj, tensors, path):
    try:
        return _structure.decode(obj, tensors)
    except _structure.MalformedStructure as e:
        raise _ser.SafetensorsError(path, f"checkpoint metadata: {e}") from None


def _rng_states():
    from ..random import default_generator
    return {kind: default_generator(kind).get_state().numpy().tobytes().hex() for kind in ("cpu", "cuda")}


def _set_rng_states(states):
    from ..random import default_generator
    for kind, hexstate in states.items():
        default_generator(kind).set_state(np.frombuffer(bytes.fromhex(hexstate), np.uint8))


def save_checkpoint(path, model=None, optimizer=None, scheduler=None, step=None, **extra):
    """Save a training checkpoint to the safetensors file ``path`` (atomically).

    PyTorch has no single counterpart; this stands for the usual
    ``torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), ...}, path)``, without
    pickle. ``model``'s tensors are stored as ``model.<name>``; ``optimizer.state_dict()`` (PyTorch's layout)
    and ``scheduler.state_dict()`` go to tensors plus JSON; ``step``, the default random generators' states
    and the keyword ``extra`` values (tensors, numbers, strings, lists, tuples, dicts) are stored too.
    Raises TypeError, naming the path inside the state, for values that cannot be stored.
    """
    tensors = {}
    model_keys = None
    if model is not None:
        model_state = model.state_dict()
        model_keys = list(model_state)
        tensors.update((_MODEL_PREFIX + k, v) for k, v in model_state.items())
    encoder = _structure.Encoder(tensors, who="save_checkpoint")

    def encode(obj, key, where=None):
        return encoder(obj, key, where or key)

    doc = {
        "format": _FORMAT,
        "model": model_keys,
        "step": encode(step, "step"),
        "rng": _rng_states(),
        "optimizer": None if optimizer is None else encode(optimizer.state_dict(), "optimizer"),
        "scheduler": None if scheduler is None else encode(scheduler.state_dict(), "scheduler"),
        "extra": {k: encode(v, f"extra.{k}", f"extra[{k!r}]") for k, v in extra.items()},
    }
    _ser.save(tensors, path, metadata={METADATA_KEY: json.dumps(doc, separators=(",", ":"))})


def _default_device(model):
    if model is not None:
        for p in model.parameters():
            return p.device
    return as_device("cpu")


def _checkpoint_doc(reader):
    path = reader.path
    meta = reader.metadata or {}
    if METADATA_KEY not in meta:
        raise _ser.SafetensorsError(path, f"not a tritongrad checkpoint: no {METADATA_KEY!r} metadata")
    try:
        doc = json.loads(meta[METADATA_KEY])
    except ValueError as e:
        raise _ser.SafetensorsError(path, f"checkpoint metadata is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise _ser.SafetensorsError(path, f"unsupported checkpoint format (expected a JSON object with format "
                                          f"{_FORMAT})")
    return doc


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, map_location=None, *, device=None,
                    restore_rng=True):
    """Restore what `save_checkpoint` saved; returns ``{"step": step, **extra}``.

    Tensors are loaded onto ``map_location``/``device`` (PyTorch's ``map_location``), by default the device
    of ``model``'s first parameter, else cpu. The model, optimizer and scheduler given get
    ``load_state_dict`` with their saved state; the default random generators are restored unless
    ``restore_rng=False``. Asking for a part the file does not hold raises ValueError naming the file;
    a file that is not a tritongrad checkpoint raises `SafetensorsError`.
    """
    if map_location is not None and device is not None:
        raise ValueError("pass map_location or device, not both")
    where = map_location if map_location is not None else device
    dev = _default_device(model) if where is None else as_device(where)
    reader = _ser._Reader(path)
    try:
        doc = _checkpoint_doc(reader)
        tensors = _ser._tensors_from(reader, list(reader.infos), dev, copy=False)
    finally:
        reader.close()

    def part(name, obj):
        if obj is not None and doc.get(name) is None:
            raise ValueError(f"{path}: the checkpoint holds no {name} state")
        return obj is not None

    if part("model", model):  # in the model's own state_dict order
        model.load_state_dict({k: tensors[_MODEL_PREFIX + k] for k in doc["model"]})
    if part("optimizer", optimizer):
        optimizer.load_state_dict(_decode(doc["optimizer"], tensors, str(path)))
    if part("scheduler", scheduler):
        scheduler.load_state_dict(_decode(doc["scheduler"], tensors, str(path)))
    if restore_rng:
        _set_rng_states(doc.get("rng", {}))
    out = {"step": _decode(doc.get("step"), tensors, str(path))}
    out.update(_decode(doc.get("extra", {}), tensors, str(path)))
    return out
