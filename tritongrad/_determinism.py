"""``torch.use_deterministic_algorithms``: a switch that makes ops without a deterministic implementation
raise (or warn, with ``warn_only``) instead of running.

On cpu every op is deterministic (NumPy). On cuda the ops that accumulate floating-point values with atomic
adds in an order that varies from run to run are: ``index_add`` / ``scatter_add`` (also the backward of
``index_select``, ``gather``, ``embedding`` and advanced indexing) and the backward of ``max_pool2d``; the
Triton backend calls `alert_not_deterministic` before each of them. Integer accumulation is exact in any
order and does not alert.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "alert_not_deterministic"]

_STATE = {"enabled": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """``torch.use_deterministic_algorithms(mode, *, warn_only=False)``: with ``mode=True`` an op that has no
    deterministic implementation raises RuntimeError naming it (only warns when ``warn_only``); ``False``
    turns the check off. See the module docstring for the ops concerned."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' must be bool, not {type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError("use_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _STATE["enabled"], _STATE["warn_only"] = mode, warn_only


def are_deterministic_algorithms_enabled():
    """``torch.are_deterministic_algorithms_enabled()``: whether `use_deterministic_algorithms` is on."""
    return _STATE["enabled"]


def is_deterministic_algorithms_warn_only_enabled():
    """``torch.is_deterministic_algorithms_warn_only_enabled()``: whether it is on with ``warn_only=True``."""
    return _STATE["enabled"] and _STATE["warn_only"]


def alert_not_deterministic(what, dtype=None):
    """Called by a cuda op about to accumulate with atomics: raise (or warn) when deterministic algorithms
    are on. ``dtype``: the accumulated dtype; integer and bool accumulation is exact and never alerts."""
    if not _STATE["enabled"]:
        return
    if dtype is not None and not np.issubdtype(np.dtype(dtype), np.floating) and np.dtype(dtype).kind != "V":
        return
    msg = (f"{what} does not have a deterministic implementation, but you set "
           "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation, or "
           "you can use the 'warn_only=True' option, if that's acceptable for your application.")
    if _STATE["warn_only"]:
        warnings.warn(msg, UserWarning, stacklevel=3)
    else:
        raise RuntimeError(msg)

