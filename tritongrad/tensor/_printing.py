"""How a `Tensor` prints (`_PrintMixin`: repr, str, format) as PyTorch prints it, and `set_printoptions`."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt


class _PrintMixin:
    """`Tensor`'s repr, str and format."""

    def __repr__(self):
        return _format(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)


_PRINT_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}
_PRINT = dict(_PRINT_PROFILES["default"], sci_mode=None)
"""The print options (``torch.set_printoptions``); process-wide, as PyTorch's."""


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print (``torch.set_printoptions``): ``precision`` digits after the point, summarize (with
    ``edgeitems`` per side) above ``threshold`` elements, wrap at ``linewidth``; ``profile`` 'default',
    'short' or 'full' first; ``sci_mode`` True/False forces or forbids scientific notation (None: automatic)."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}, expected one of {list(_PRINT_PROFILES)}")
        _PRINT.update(_PRINT_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            _PRINT[name] = value
    _PRINT["sci_mode"] = sci_mode


class _Formatter:
    """PyTorch's element formatter (``torch/_tensor_str.py``): one width for every element; floats print
    as integers with a trailing dot, fixed with 4 decimals, or scientific, chosen from the finite non-zero
    values."""

    def __init__(self, vals, floating):
        self.floating, self.int_mode, self.sci_mode, self.width = floating, True, False, 1
        flat = vals.reshape(-1)
        if not floating:
            self.width = max((len(self._plain(v)) for v in flat.tolist()), default=1)
            return
        nz = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if nz.size == 0:
            return
        amin, amax = float(np.abs(nz).min()), float(np.abs(nz).max())
        self.int_mode = bool(np.all(nz == np.ceil(nz)))
        big_range = amax / amin > 1000.0 or amax > 1.0e8
        self.sci_mode = big_range if self.int_mode else (big_range or amin < 1.0e-4)
        if _PRINT["sci_mode"] is not None:
            self.sci_mode = bool(_PRINT["sci_mode"])
        p = _PRINT["precision"]
        if self.sci_mode:
            self.width = max(len(f"{v:.{p}e}") for v in nz.tolist())
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in nz.tolist())
        else:
            self.width = max(len(f"{v:.{p}f}") for v in nz.tolist())

    @staticmethod
    def _plain(v):
        return str(v)

    def __call__(self, v):
        if not self.floating:
            s = self._plain(v)
        elif self.sci_mode:
            s = f"{v:.{_PRINT['precision']}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{_PRINT['precision']}f}"
        return " " * (self.width - len(s)) + s


def _summarized(vals):
    """The edge items PyTorch shows of a big array (for the formatter's width)."""
    if vals.ndim == 0:
        return vals
    e = _PRINT["edgeitems"]
    if vals.shape[0] > 2 * e:
        vals = np.concatenate([vals[:e], vals[-e:]])
    return np.stack([_summarized(v) for v in vals]) if vals.ndim > 1 else vals


def _body(vals, indent, summarize, fmt):
    """``_tensor_str_with_formatter``: nested brackets, rows wrapped at the line width, '...' when
    summarizing."""
    e = _PRINT["edgeitems"]
    if vals.ndim == 0:
        return fmt(vals.item())
    n = vals.shape[0]
    cut = summarize and n > 2 * e
    if vals.ndim == 1:
        per_line = max(1, int((_PRINT["linewidth"] - indent) // (fmt.width + 2)))
        items = [fmt(v) for v in vals[:e].tolist()] + [" ..."] + [fmt(v) for v in vals[-e:].tolist()] if cut \
            else [fmt(v) for v in vals.tolist()]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(range(e)) + [None] + list(range(n - e, n)) if cut else list(range(n))
    parts = ["..." if i is None else _body(vals[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (vals.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _format(t):
    """``repr(tensor)`` as PyTorch prints it: ``tensor([ 1.0000, -2.5000], device='cuda:0',
    dtype=tritongrad.float16, requires_grad=True)``."""
    vals = t.detach()._be.to_numpy(t._data)
    dt = t.dtype
    if dt is _dt.bfloat16 or dt is _dt.float16:
        vals = vals.astype(np.float32)
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device.type}:{t._dev_index}'")
    if t.numel() == 0:
        if t.ndim != 1:
            suffixes.append(f"size={tuple(t.shape)}")
        if dt is not _dt.get_default_dtype():
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if dt not in (_dt.get_default_dtype(), _dt.int64, _dt.bool):
            suffixes.append(f"dtype={dt!r}")
        summarize = t.numel() > _PRINT["threshold"]
        fmt = _Formatter(_summarized(vals) if summarize else vals, dt.is_floating_point)
        body = _body(vals, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    last = len(out) - out.rfind("\n") + 1
    for sfx in suffixes:
        if last + len(sfx) + 2 > _PRINT["linewidth"]:
            out += ",\n" + " " * indent + sfx
            last = indent + len(sfx)
        else:
            out += ", " + sfx
            last += len(sfx) + 2
    return out + ")"
