"""Bytes held by live buffers per device (device memory on a GPU, host memory in interpreter mode)."""
from __future__ import annotations

import threading
from collections import defaultdict

allocated = defaultdict(int)  # device index -> bytes held by live buffers
peak = defaultdict(int)       # device index -> highest `allocated` since the last reset
_lock = threading.RLock()     # ``+=`` on a dict entry is not atomic across threads; reentrant because a
                              # buffer's __del__ (which calls `sub`) can run inside `add` when it triggers GC


def add(device, nbytes):
    with _lock:
        allocated[device] += nbytes
        if allocated[device] > peak[device]:
            peak[device] = allocated[device]


def sub(device, nbytes):
    with _lock:
        allocated[device] -= nbytes


def reset_peak(device):
    with _lock:
        peak[device] = allocated[device]
