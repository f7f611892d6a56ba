"""Run by tests/test_int64_offsets.py in a subprocess (a 32-bit offset overflow reads outside the buffer and
may crash the process): kernels read views whose element offsets pass 2**31 inside a sparse 6 GiB mapping of
which only a few pages are touched. Prints one JSON object of results, checked by the test."""
import json
import mmap
import sys

import numpy as np

from tritongrad import runtime
from tritongrad.kernels import cross_entropy as kce
from tritongrad.kernels import norm as kn
from tritongrad.kernels import softmax as ks
from tritongrad.runtime.array import Buffer, DeviceArray

S = 2**30                       # the stride in elements: 3 * S passes 2**31
F16 = np.dtype(np.float16)


def sparse_view(values):
    """A (4, M) fp16 view with element strides (S, 1) holding ``values`` (4, M); the mapping is lazily backed."""
    rows, cols = values.shape
    nbytes = ((rows - 1) * S + cols) * F16.itemsize
    try:
        m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0))
    except (OSError, MemoryError) as e:
        print(json.dumps({"no_mapping": f"cannot map {nbytes} bytes of address space: {e}"}))
        sys.exit(0)
    host = np.frombuffer(m, F16)
    for r in range(rows):
        host[r * S:r * S + cols] = values[r]
    return DeviceArray(Buffer(host.ctypes.data, nbytes, 0), (rows, cols), F16, strides=(S * 2, 2)), (m, host)


def read(a):
    out = np.empty(a.shape, a.dtype)
    runtime.copy_device_to_host(out, a)
    return out.astype(np.float64).tolist()


vals = np.array([[0.5, 1.0], [-1.0, 0.0], [2.0, -0.5], [0.25, 1.5]], F16)
x, keep = sparse_view(vals)               # (4, 2): dim 0 strided by S
small = runtime.empty((4, 2), F16)
runtime.copy_host_to_device(small, vals)
res = {"values": vals.astype(np.float64).tolist()}
y = ks.softmax(x, 0)                                          # cols * stride_r along dim 0
res["softmax"] = read(y)
res["softmax_bwd"] = read(ks.softmax_bwd(small, x, 0))       # gy strided
logits = x.transpose()                                        # (2, 4): classes strided by S
target = runtime.empty((2,), np.int64)
runtime.copy_host_to_device(target, np.array([0, 3], np.int64))
loss, lse = kce.cross_entropy_fwd(logits, target, None, -100, 0.0, "none")
res["lse"], res["loss"] = read(lse), read(loss)
yn, mean, rstd = kn.layer_norm_fwd(logits, None, None, 1e-5)  # cols * stride_xn
res["layer_norm"] = read(yn)
print(json.dumps(res))
