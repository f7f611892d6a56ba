"""Bytes held by live buffers per device (device memory on a GPU, host memory in interpreter mode)."""
from __future__ import annotations

from collections import defaultdict

allocated = defaultdict(int)  # device index -> bytes held by live buffers
peak = defaultdict(int)       # device index -> highest `allocated` since the last reset


def add(device, nbytes):
    allocated[device] += nbytes
    if allocated[device] > peak[device]:
        peak[device] = allocated[device]


def sub(device, nbytes):
    allocated[device] -= nbytes


def reset_peak(device):
    peak[device] = allocated[device]
