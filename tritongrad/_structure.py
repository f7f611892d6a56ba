"""Nested Python structures of tensors as one safetensors file: the encoder shared by `tritongrad.save`
(``torch.save`` of a whole training state) and `tritongrad.utils.checkpoint`.

A structure -- dicts, lists and tuples of Tensors (or NumPy arrays), ints, floats, bools, strings and
None -- becomes a JSON document in which every tensor is replaced by ``{"__tensor__": key}``: ``key``
names the tensor in the file and is its path in the structure, dot-separated (``model.fc.weight``,
``optimizer.state.0.exp_avg``); ``"device": "cuda:0"`` is added for a tensor that was not on the cpu
(PyTorch's location tag, used by ``map_location``). Tuples become ``{"__tuple__": [...]}``; dicts whose
keys are not all strings, or that use one of the three tag names as a key, become
``{"__dict__": [[key, value], ...]}``, so PyTorch's ``betas=(0.9, 0.999)`` and optimizer state keyed by
parameter index come back as they went in. A tensor object met twice is stored once and both places
refer to it, so it loads back as one tensor object in both places.

Nothing here is ever executed or unpickled: decoding only builds dicts, lists, tuples and scalars.
"""
from __future__ import annotations

import numbers
import types

import numpy as np

STRUCTURE_KEY = "tritongrad.structure"
"""The ``__metadata__`` key that holds the structure of a file written by `tritongrad.save`."""

_FORMAT = 1
_TAGS = frozenset({"__tensor__", "__tuple__", "__dict__"})
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.LambdaType)


def _refuse(where, obj, who):
    """The TypeError for a value that cannot be saved, saying what to save instead where there is one."""
    from .nn.module import Module
    name = type(obj).__name__
    if isinstance(obj, Module):
        return TypeError(f"{where}: cannot save a whole Module ({name}); save model.state_dict() instead "
                         f"(its parameters and buffers: tritongrad.save(model.state_dict(), path)) and restore "
                         f"them with model.load_state_dict(tritongrad.load(path))")
    if callable(getattr(obj, "state_dict", None)):
        return TypeError(f"{where}: cannot save a {name} object; save its state_dict() instead "
                         f"(e.g. optimizer.state_dict()) and restore it with load_state_dict()")
    if isinstance(obj, _FUNCTIONS):
        what = "a function"
    elif isinstance(obj, (set, frozenset)):
        what = "a set (save a list instead)"
    else:
        what = f"a value of type {name}"
    return TypeError(f"{where}: cannot save {what}; {who} stores tensors, numbers, strings, bools, None "
                     f"and dicts/lists/tuples of them")


class Encoder:
    """Turns a structure into JSON-ready values, moving its tensors into the dict ``tensors``.

    ``encoder(obj, key, where)``: ``key`` is the dotted path under which tensors are stored (``""`` at
    the root of a `tritongrad.save`), ``where`` the Python spelling used in errors (``obj['config']``).
    """

    def __init__(self, tensors, who="tritongrad.save"):
        from .tensor import Tensor
        self._tensor_types = (Tensor, np.ndarray)
        self.tensors = tensors
        self.who = who
        self._seen = {}        # id(tensor) -> its tag: a tensor met twice is stored once
        self._open = set()     # ids of the containers being encoded: a cycle is an error, not a hang

    def __call__(self, obj, key, where):
        if isinstance(obj, self._tensor_types):
            return self._tensor(obj, key)
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.generic):
            return self(obj.item(), key, where)
        if isinstance(obj, numbers.Integral):
            return int(obj)
        if isinstance(obj, numbers.Real):
            return float(obj)
        if not isinstance(obj, (list, tuple, dict)):
            raise _refuse(where, obj, self.who)
        if id(obj) in self._open:
            raise TypeError(f"{where}: the structure contains itself (a cycle); {self.who} cannot save it")
        self._open.add(id(obj))
        try:
            if isinstance(obj, dict):
                return self._dict(obj, key, where)
            items = [self(v, _join(key, i), f"{where}[{i}]") for i, v in enumerate(obj)]
            return {"__tuple__": items} if isinstance(obj, tuple) else items
        finally:
            self._open.discard(id(obj))

    def _tensor(self, t, key):
        if id(t) in self._seen:
            return self._seen[id(t)]
        key = key or "tensor"
        base, i = key, 1
        while key in self.tensors or key == "__metadata__":
            key, i = f"{base}.{i}", i + 1
        self.tensors[key] = t
        tag = {"__tensor__": key}
        if not isinstance(t, np.ndarray) and t.device.type != "cpu":
            tag["device"] = str(t.device)
        self._seen[id(t)] = tag
        return tag

    def _dict(self, obj, key, where):
        if all(isinstance(k, str) for k in obj) and not (_TAGS & obj.keys()):
            return {k: self(v, _join(key, k), f"{where}[{k!r}]") for k, v in obj.items()}
        return {"__dict__": [[self._key(k, where), self(v, _join(key, k), f"{where}[{k!r}]")]
                             for k, v in obj.items()]}

    def _key(self, k, where):
        if isinstance(k, np.generic):
            k = k.item()
        if k is None or isinstance(k, (bool, str)):
            return k
        if isinstance(k, numbers.Integral):
            return int(k)
        if isinstance(k, numbers.Real):
            return float(k)
        if isinstance(k, tuple):
            return {"__tuple__": [self._key(x, where) for x in k]}
        raise TypeError(f"{where}: dict key {k!r:.80} of type {type(k).__name__} cannot be saved; {self.who} "
                        f"saves dict keys that are str, int, float, bool, None or tuples of them")


def _join(key, k):
    return f"{key}.{k}" if key else str(k)


def encode(obj, tensors, who="tritongrad.save"):
    """The JSON document (a str) of the structure ``obj``; its tensors are added to ``tensors``."""
    import json
    doc = {"format": _FORMAT, "object": Encoder(tensors, who)(obj, "", "obj")}
    return json.dumps(doc, separators=(",", ":"))


class MalformedStructure(ValueError):
    """A structure document that `decode` cannot read (the caller adds the file's name)."""


def parse(text):
    """The structure document ``text`` (from `encode`) as JSON values; raises `MalformedStructure`."""
    import json
    try:
        doc = json.loads(text)
    except RecursionError:
        raise MalformedStructure("structure JSON is nested too deeply") from None
    except ValueError as e:
        raise MalformedStructure(f"structure is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or "object" not in doc:
        raise MalformedStructure(f"unsupported structure format (expected a JSON object with format {_FORMAT} "
                                 f"and an 'object')")
    return doc["object"]


def tensor_locations(obj):
    """``{key: location}`` of every tensor the decoded structure refers to (``"cpu"``, ``"cuda:0"``)."""
    out = {}
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, dict):
            if "__tensor__" in x:
                key, loc = x["__tensor__"], x.get("device", "cpu")
                if not isinstance(key, str) or not isinstance(loc, str):
                    raise MalformedStructure(f"bad tensor reference {x!r:.200}")
                out[key] = loc
            else:
                stack.extend(x.values())
    return out


def decode(obj, tensors):
    """Rebuild a structure from its JSON values, with ``tensors[key]`` for every tensor reference."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        key = obj["__tensor__"]
        if key not in tensors:
            raise MalformedStructure(f"the structure refers to a tensor {key!r} that the file does not hold")
        return tensors[key]
    if "__tuple__" in obj:
        items = obj["__tuple__"]
        if not isinstance(items, list):
            raise MalformedStructure(f"__tuple__ must hold a list, got {type(items).__name__}")
        return tuple(decode(v, tensors) for v in items)
    if "__dict__" in obj:
        pairs = obj["__dict__"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise MalformedStructure("__dict__ must hold a list of [key, value] pairs")
        out = {}
        for k, v in pairs:
            k = decode(k, tensors)
            try:
                hash(k)
            except TypeError:
                raise MalformedStructure(f"dict key {k!r:.80} is not hashable") from None
            out[k] = decode(v, tensors)
        return out
    return {k: decode(v, tensors) for k, v in obj.items()}
