"""The runtime's GPU code path against a stand-in driver library, on any machine.

Interpreter mode never calls the CUDA driver, so a wrong cuda-bindings call (an argument of the wrong type, a
result unpacked wrongly, a missing error check) would first show on a GPU. Here ``tests/stub_libcuda.c`` is
compiled into a ``libcuda.so.1`` that cuda-bindings loads instead of NVIDIA's (in a subprocess, through
``LD_LIBRARY_PATH``): "device" memory is host memory, so copies and memsets really move bytes, and streams,
events and graphs are counters. A subprocess then drives the runtime *without* TRITON_INTERPRET -- devices,
the pool allocator, copies (blocking, pinned, staged), streams, events, ``record_stream``'s deferred reuse,
CUDA graph capture, replay and release, out-of-memory -- so every cuda-bindings call those paths make is made
with the arguments they pass. Kernels are not launched (Triton's launcher needs the real driver).
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CC = shutil.which("cc") or shutil.which("gcc")

SCRIPT = r'''
import ctypes, gc, sys
import numpy as np
stub = ctypes.CDLL("libcuda.so.1")
counter = lambda name: ctypes.c_long.in_dll(stub, name).value
busy = ctypes.c_int.in_dll(stub, "stub_busy")
from tritongrad.runtime import triton_driver
triton_driver.install = lambda: None        # Triton's launcher utilities need NVIDIA's driver: no kernels here
from tritongrad import runtime
import tritongrad.cuda as c
from tritongrad.runtime import memory, streams

assert c.is_available() and not c.is_interpreter() and c.device_count() == 1
assert c.get_device_name() == "Stub H200" and c.get_device_capability() == (9, 0)
assert c.mem_get_info() == (1 << 36, 1 << 37)

# allocation, copies both ways, device-to-device, memset, statistics
src = np.arange(1000, dtype=np.float32)
a = runtime.empty((1000,), np.float32)
assert isinstance(a.buffer, runtime.CudaBuffer) and c.memory_allocated() >= 4000
runtime.copy_host_to_device(a, src)
b = runtime.empty((1000,), np.float32)
runtime.copy_device_to_device(b, a)
out = np.empty(1000, np.float32)
runtime.copy_device_to_host(out, b)
assert np.array_equal(out, src)
runtime.fill_bytes(b, 0)
runtime.copy_device_to_host(out, b)
assert not out.any()
assert c.memory_reserved() == 12345           # the stub's answer to cuMemPoolGetAttribute
frees = counter("stub_frees")
del b
assert counter("stub_frees") == frees + 1     # cuMemFreeAsync at once

# pinned memory, non-blocking copies (pinned, and pageable through the staging ring)
pinned = c.pinned_empty((10,), np.float32)
assert runtime.is_pinned(pinned)
pinned[:] = 3.0
small = runtime.empty((10,), np.float32)
runtime.copy_host_to_device(small, pinned, non_blocking=True)
runtime.copy_host_to_device(a, np.ones(1000, np.float32), non_blocking=True)      # staged
runtime.copy_device_to_host(out[:10], small)
assert (out[:10] == 3.0).all()
runtime.copy_device_to_host(out, a)
assert (out == 1.0).all()
del pinned

# streams and events
s = c.Stream()
start, end = c.Event(enable_timing=True), c.Event(enable_timing=True)
start.record(s)
end.record(s)
assert start.elapsed_time(end) == 1.5 and end.query() and s.query()
s.wait_stream(c.current_stream())
s.synchronize(); end.synchronize(); c.synchronize()
with c.stream(s):
    assert c.current_stream() == s

# record_stream: the free waits for an event on the other stream, checked at later allocations; no waits added
waits, frees = counter("stub_waits"), counter("stub_frees")
runtime.record_stream(a, s)
busy.value = 1
del a
gc.collect()
assert memory.pending_frees() == 1 and counter("stub_frees") == frees
keep = runtime.empty((4,), np.float32)        # checks the event: the other stream is busy
assert memory.pending_frees() == 1 and counter("stub_frees") == frees
busy.value = 0
keep2 = runtime.empty((4,), np.float32)
assert memory.pending_frees() == 0 and counter("stub_frees") == frees + 1
assert counter("stub_waits") == waits, "record_stream added stream waits"

# CUDA graphs: capture, replay, per-stream pool, side stream released with the graph
x = runtime.empty((16,), np.float32)
runtime.copy_host_to_device(x, np.full(16, 2.0, np.float32))
alive = counter("stub_streams_alive")
g = c.CUDAGraph()
with c.graph(g):
    assert c.is_current_stream_capturing()
    y = runtime.empty((16,), np.float32)
    assert y.buffer.graph_pool is not None
    runtime.copy_device_to_device(y, x)
    runtime.copy_host_to_device(y, np.ones(16, np.float32))    # a snapshot owned by the graph
assert not c.is_current_stream_capturing()
assert runtime.empty((4,), np.float32).buffer.graph_pool is None
launches = counter("stub_launches")
g.replay(); g.replay()
assert counter("stub_launches") == launches + 2
during = counter("stub_streams_alive") - alive
g.reset()
del y, g
gc.collect()
assert counter("stub_streams_alive") - alive == during - 1, "the graph's side stream was not destroyed"
g = c.CUDAGraph()
try:
    with c.graph(g):
        z = runtime.empty((4,), np.float32)
        out = np.empty(4, np.float32)
        runtime.copy_device_to_host(out, z)                    # a host synchronization: raises
except RuntimeError as e:
    assert "host synchronization during CUDA graph capture" in str(e), e
else:
    raise AssertionError("a blocking copy inside a capture did not raise")

# out of memory: the stub refuses more than 1 TiB
try:
    runtime.empty((1 << 41,), np.uint8)
except c.OutOfMemoryError as e:
    assert "tried to allocate 2.00 TiB" in str(e), e
else:
    raise AssertionError("no OutOfMemoryError")
c.empty_cache()

# a thread that launches without allocating first: Triton's driver query makes the context current there
import threading
from tritongrad.runtime.triton_driver import TritongradCudaDriver
drv, sets = TritongradCudaDriver(utils=object()), counter("stub_ctx_sets")
t = threading.Thread(target=drv.get_current_device)
t.start(); t.join()
assert counter("stub_ctx_sets") == sets + 1

from tritongrad.runtime import timing
assert timing.time_ms(lambda: None, warmup=1, repeats=2, flush=False) == [1.5, 1.5]
assert "torch" not in sys.modules
print("stub ok")
'''


@pytest.mark.skipif(CC is None, reason="needs a C compiler (cc or gcc) to build the stand-in driver library")
def test_runtime_gpu_path_against_a_stub_driver(tmp_path):
    lib = tmp_path / "libcuda.so.1"
    subprocess.run([CC, "-shared", "-fPIC", "-O1", "-o", str(lib), os.path.join(ROOT, "tests", "stub_libcuda.c")],
                   check=True, capture_output=True, timeout=120)
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    env["LD_LIBRARY_PATH"] = str(tmp_path) + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("stub ok"), \
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-6000:]}"
