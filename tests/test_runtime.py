"""The GPU runtime (`tritongrad.runtime`, `tritongrad.cuda`) and tritongrad's Triton driver.

Without a GPU: availability semantics with and without interpreter mode, the clear error for cuda use
with neither, memory statistics, pinned memory, streams and events in interpreter mode, error messages,
and that none of it imports torch. Tests marked ``gpu`` need a real NVIDIA GPU; each runs in its own
subprocess without TRITON_INTERPRET (a sticky CUDA error or a compiled kernel must not leak into the
test process), from a ``_case_*`` function of this file.
"""
import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tritongrad import runtime
from tritongrad.runtime import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gpu_present():
    """An NVIDIA GPU usable through the driver library (checked with ctypes, independently of tritongrad)."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return libcuda.cuInit(0) == 0 and libcuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


HAS_GPU = _gpu_present()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU with its driver; none found")
needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks behaviour on a machine without a GPU")


def _env(interpret):
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return env


def _run(code, interpret, timeout=120):
    """Run ``code`` in a fresh Python; return its stdout (the test fails with stderr if it fails)."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(interpret), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return proc.stdout


def _run_case(name, timeout=300):
    """Run the ``_case_*`` function ``name`` of this file in a fresh Python on the GPU (no interpreter)."""
    code = ("import importlib.util; "
            f"spec = importlib.util.spec_from_file_location('test_runtime_case', {os.path.abspath(__file__)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            f"m.{name}(); print('CASE OK')")
    assert "CASE OK" in _run(code, interpret=False, timeout=timeout)


@pytest.fixture
def interp(monkeypatch):
    """Interpreter mode for this test (runtime functions read TRITON_INTERPRET at every call)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")


# -- availability --------------------------------------------------------------------------------------

_REPORT = ("import json, sys, tritongrad.cuda as c; "
           "print(json.dumps([c.is_available(), c.is_interpreter(), c.device_count(), "
           "'torch' in sys.modules]))")


def test_is_available_in_interpreter_mode():
    out = _run(_REPORT + "; print(c.get_device_name()); print(c.get_device_capability())", interpret=True)
    lines = out.splitlines()
    assert json.loads(lines[0]) == [True, True, 1, False]
    assert "interpreter" in lines[1].lower()
    assert lines[2] == "(0, 0)"


@needs_no_gpu
def test_is_available_false_without_gpu_or_interpreter():
    assert json.loads(_run(_REPORT, interpret=False)) == [False, False, 0, False]


@needs_no_gpu
def test_cuda_use_without_gpu_or_interpreter_raises_clear_error():
    code = ("import numpy as np; from tritongrad import runtime\n"
            "for f in (lambda: runtime.empty((3,), np.float32), runtime.synchronize, runtime.Stream,\n"
            "          runtime.get_device_name):\n"
            "    try:\n"
            "        f()\n"
            "    except RuntimeError as e:\n"
            "        print(e)\n"
            "    else:\n"
            "        print('NO ERROR')\n")
    lines = _run(code, interpret=False).splitlines()
    assert len(lines) == 4
    for line in lines:
        assert line.startswith("CUDA is not available") and "TRITON_INTERPRET=1" in line, line


def test_cuda_module_and_runtime_use_leave_torch_out():
    code = ("import sys, numpy as np, tritongrad.cuda as c; from tritongrad import runtime\n"
            "from tritongrad.runtime import timing, triton_driver\n"
            "a = runtime.empty((5, 3), np.float32); runtime.copy_host_to_device(a, np.ones((5, 3), np.float32))\n"
            "b = np.empty((5, 3), np.float32); runtime.copy_device_to_host(b, a)\n"
            "s = c.Stream(); e = c.Event(enable_timing=True); e.record(s); c.synchronize()\n"
            "c.pinned_empty((4,), 'f4')\n"
            "timing.time_ms(lambda: None, warmup=1, repeats=2, flush=False)\n"
            "assert b.sum() == 15 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
            "print('clean')")
    assert _run(code, interpret=True).strip() == "clean"
    assert _run("import sys, tritongrad.cuda as c; c.is_available(); print('torch' in sys.modules)",
                interpret=False).strip() == "False"


# -- memory in interpreter mode --------------------------------------------------------------------------

def test_memory_stats_track_host_buffers(interp):
    runtime.reset_peak_memory_stats()
    base = runtime.memory_allocated()
    a = runtime.empty((7, 13), np.float32)
    b = runtime.empty((3,), np.int64)
    assert runtime.memory_allocated() == base + 7 * 13 * 4 + 3 * 8
    assert runtime.memory_reserved() == runtime.memory_allocated()
    del a
    assert runtime.memory_allocated() == base + 3 * 8
    assert runtime.max_memory_allocated() == base + 7 * 13 * 4 + 3 * 8
    runtime.reset_peak_memory_stats()
    assert runtime.max_memory_allocated() == base + 3 * 8
    del b
    assert runtime.memory_allocated() == base
    runtime.empty_cache()


def test_pinned_empty_is_a_plain_array_in_interpreter_mode(interp):
    a = runtime.pinned_empty((5, 3), np.float32)
    assert type(a) is np.ndarray and a.shape == (5, 3) and a.dtype == np.float32 and a.flags.writeable
    assert not runtime.is_pinned(a)


def test_copies_with_streams_and_non_blocking_in_interpreter_mode(interp):
    rng = np.random.default_rng(0)
    src = rng.standard_normal((11, 7)).astype(np.float32)
    s = runtime.Stream()
    dev = runtime.empty(src.shape, src.dtype)
    runtime.copy_host_to_device(dev, src, non_blocking=True, stream=s)
    other = runtime.empty(src.shape, src.dtype)
    runtime.copy_device_to_device(other, dev, stream=s)
    out = np.empty_like(src)
    runtime.copy_device_to_host(out, other, non_blocking=True, stream=s)
    s.synchronize()
    np.testing.assert_array_equal(out, src)
    runtime.fill_bytes(other, 0)
    runtime.copy_device_to_host(out, other)
    assert not out.any()


def test_copy_into_a_smaller_destination_raises(interp):
    dev = runtime.empty((4,), np.float32)
    with pytest.raises(ValueError, match="copying 20 bytes into a destination of 16 bytes"):
        runtime.copy_host_to_device(dev, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="copy_device_to_host"):
        runtime.copy_device_to_host(np.zeros(5, np.float32), dev)


# -- streams and events in interpreter mode --------------------------------------------------------------

def test_current_stream_follows_the_stream_context(interp):
    default = runtime.default_stream()
    assert runtime.current_stream() == default and default.cuda_stream == 0
    s1, s2 = runtime.Stream(), runtime.Stream()
    assert len({s1.cuda_stream, s2.cuda_stream, 0}) == 3
    with runtime.stream(s1):
        assert runtime.current_stream() == s1
        with runtime.stream(s2):
            assert runtime.current_stream() == s2
        with runtime.stream(None):
            assert runtime.current_stream() == s1
        assert runtime.current_stream() == s1
    assert runtime.current_stream() == default
    assert s1.query()
    s1.wait_stream(s2)
    s1.synchronize()


def test_events_time_host_work_in_interpreter_mode(interp):
    start, end = runtime.Event(enable_timing=True), runtime.Event(enable_timing=True)
    start.record()
    time.sleep(0.02)
    end.record(runtime.current_stream())
    end.synchronize()
    assert end.query()
    assert 19.0 <= start.elapsed_time(end) < 2000.0


def test_event_elapsed_time_errors(interp):
    plain, timed = runtime.Event(), runtime.Event(enable_timing=True)
    plain.record()
    timed.record()
    with pytest.raises(RuntimeError, match="enable_timing=True"):
        plain.elapsed_time(timed)
    with pytest.raises(RuntimeError, match="must be recorded"):
        runtime.Event(enable_timing=True).elapsed_time(timed)


def test_cuda_graph_capture_and_replay_in_interpreter_mode(interp):
    """Interpreter mode records the captured copies and memsets and replays exactly those."""
    src = runtime.empty((4,), np.float32)
    dst = runtime.empty((4,), np.float32)
    runtime.copy_host_to_device(src, np.arange(4, dtype=np.float32))
    runtime.fill_bytes(dst, 0)
    g = runtime.CUDAGraph()
    with runtime.graph(g):
        runtime.copy_device_to_device(dst, src)
        runtime.copy_host_to_device(src, np.full(4, 9, np.float32))   # a snapshot, replayed after the first copy
    out = np.empty(4, np.float32)
    runtime.copy_device_to_host(out, dst)
    assert not out.any()                                             # recorded, not run
    g.replay()
    runtime.copy_device_to_host(out, dst)
    np.testing.assert_array_equal(out, np.arange(4))
    g.replay()
    runtime.copy_device_to_host(out, dst)
    np.testing.assert_array_equal(out, np.full(4, 9))


def test_set_device_checks_the_index_in_interpreter_mode(interp):
    runtime.set_device(0)
    assert runtime.current_device() == 0
    with pytest.raises(ValueError, match="invalid cuda device index 1: there is 1 cuda device"):
        runtime.set_device("cuda:1")


def test_time_ms_and_summaries(interp):
    from tritongrad.runtime import timing
    times = timing.time_ms(lambda: time.sleep(0.002), warmup=1, repeats=4, flush=False)
    assert len(times) == 4 and min(times) >= 1.9
    data = [4.0, 1.0, 3.0, 2.0]
    assert timing.summarize(data, quantiles=(0.5, 0.0, 1.0)) == [2.5, 1.0, 4.0]
    assert timing.summarize(data, quantiles=[0.5]) == 2.5
    assert timing.summarize(data, return_mode="median") == 2.5
    assert timing.summarize(data, return_mode="min") == 1.0
    with pytest.raises(ValueError, match="return_mode"):
        timing.summarize(data, return_mode="p99")


# -- errors ----------------------------------------------------------------------------------------------

def test_out_of_memory_message():
    from tritongrad.cuda import OutOfMemoryError
    assert issubclass(OutOfMemoryError, RuntimeError) and OutOfMemoryError is errors.OutOfMemoryError
    msg = errors.format_out_of_memory(requested=2 ** 50, free=3 * 2 ** 30, total=141 * 2 ** 30,
                                      allocated=1536, reserved=5 * 2 ** 20, device=0)
    assert msg.startswith("CUDA out of memory on device 0: tried to allocate 1.00 PiB (1125899906842624 bytes)")
    assert "3.00 GiB free of 141.00 GiB total" in msg
    assert "1.50 KiB allocated by live tensors and 5.00 MiB reserved" in msg
    assert errors.format_bytes(0) == "0 B" and errors.format_bytes(1023) == "1023 B"


def test_sticky_error_message_and_fail_fast(monkeypatch):
    from cuda.bindings.driver import CUresult
    monkeypatch.setattr(errors, "_sticky", None)
    with pytest.raises(errors.CudaError) as info:
        errors.check((CUresult.CUDA_ERROR_ILLEGAL_ADDRESS,), "cuStreamSynchronize")
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError) and info.value.sticky
    assert msg.startswith("CUDA error in cuStreamSynchronize: ")
    assert "(CUDA_ERROR_ILLEGAL_ADDRESS, code 700)." in msg
    assert "may be reported late" in msg and "CUDA_LAUNCH_BLOCKING=1" in msg
    calls = []
    with pytest.raises(errors.CudaError, match="earlier CUDA error.*cuStreamSynchronize"):
        errors.call(lambda: calls.append(1) or (CUresult.CUDA_SUCCESS,))
    assert calls == [], "a call after a sticky error must fail before reaching the driver"


def test_non_sticky_error_names_the_call_and_does_not_poison(monkeypatch):
    from cuda.bindings.driver import CUresult
    monkeypatch.setattr(errors, "_sticky", None)
    with pytest.raises(errors.CudaError, match=r"^CUDA error in cuMemcpyHtoDAsync: .*"
                                               r"\(CUDA_ERROR_INVALID_VALUE, code 1\)\.$") as info:
        errors.check((CUresult.CUDA_ERROR_INVALID_VALUE,), "cuMemcpyHtoDAsync")
    assert not info.value.sticky and errors.sticky_error() is None
    assert errors.call(lambda: (CUresult.CUDA_SUCCESS, 42)) == 42


# -- the Triton driver -----------------------------------------------------------------------------------

def test_target_from_capability():
    from triton.backends.compiler import GPUTarget
    from tritongrad.runtime.triton_driver import target_from_capability
    assert target_from_capability((9, 0)) == GPUTarget("cuda", 90, 32)
    assert target_from_capability((8, 6)) == GPUTarget("cuda", 86, 32)
    assert target_from_capability((10, 0)) == GPUTarget("cuda", 100, 32)


def test_triton_driver_reports_tritongrad_state_without_torch():
    code = ("import sys, tritongrad.cuda as c\n"
            "from triton.backends.nvidia.driver import CudaDriver\n"
            "from tritongrad.runtime import timing\n"
            "from tritongrad.runtime.triton_driver import TritongradCudaDriver\n"
            "utils = object()\n"
            "d = TritongradCudaDriver(utils=utils)\n"
            "assert isinstance(d, CudaDriver) and d.is_active() and d.utils is utils\n"
            "assert d.get_current_device() == 0 and d.get_current_stream(0) == 0\n"
            "s = c.Stream()\n"
            "with c.stream(s):\n"
            "    assert d.get_current_stream(0) == s.cuda_stream != 0\n"
            "assert d.get_device_interface() is c and d.get_benchmarker() is timing.do_bench\n"
            "assert 'torch' not in sys.modules\n"
            "print('ok')")
    assert _run(code, interpret=True).strip() == "ok"


# -- on a real GPU -----------------------------------------------------------------------------------------

@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("case", ["_case_device_queries", "_case_allocation_and_copies", "_case_out_of_memory",
                                  "_case_pinned_memory_and_async_copies", "_case_streams_events_and_driver",
                                  "_case_graph_capture_replay", "_case_record_stream_defers_reuse",
                                  "_case_sticky_error_fails_fast"])
def test_on_gpu(case):
    _run_case(case)


def _case_device_queries():
    import tritongrad.cuda as c
    assert c.is_available() and not c.is_interpreter() and c.device_count() >= 1
    assert c.get_device_name() and "interpreter" not in c.get_device_name().lower()
    major, minor = c.get_device_capability()
    assert major >= 7 and minor >= 0
    assert c.current_device() == 0
    free, total = c.mem_get_info()
    assert 0 < free <= total
    c.synchronize()


def _case_allocation_and_copies():
    import tritongrad.cuda as c
    rng = np.random.default_rng(1)
    c.reset_peak_memory_stats()
    base = c.memory_allocated()
    for n in (1, 7, 1_000_003):
        src = rng.standard_normal(n).astype(np.float32)
        a = runtime.empty((n,), np.float32)
        assert isinstance(a.buffer, runtime.CudaBuffer) and a.data_ptr() % 16 == 0
        assert c.memory_allocated() == base + 4 * n
        runtime.copy_host_to_device(a, src)
        b = runtime.empty((n,), np.float32)
        runtime.copy_device_to_device(b, a)
        out = np.empty_like(src)
        runtime.copy_device_to_host(out, b)
        np.testing.assert_array_equal(out, src)
        runtime.fill_bytes(b, 0)
        runtime.copy_device_to_host(out, b)
        assert not out.any()
        assert c.memory_reserved() >= c.memory_allocated() == base + 8 * n
        del a, b
        assert c.memory_allocated() == base
    assert c.max_memory_allocated() == base + 8 * 1_000_003
    assert runtime.empty((0, 3), np.float32).data_ptr() == 0
    c.empty_cache()
    assert c.memory_reserved() >= 0


def _case_out_of_memory():
    import tritongrad.cuda as c
    try:
        runtime.empty((2 ** 50,), np.uint8)
    except c.OutOfMemoryError as e:
        assert isinstance(e, RuntimeError)
        msg = str(e)
        assert "tried to allocate 1.00 PiB" in msg and "free of" in msg and "reserved" in msg, msg
    else:
        raise AssertionError("allocating 1 PiB did not raise OutOfMemoryError")
    a = runtime.empty((1024,), np.float32)  # out of memory is not sticky
    runtime.copy_host_to_device(a, np.ones(1024, np.float32))
    c.synchronize()


def _case_pinned_memory_and_async_copies():
    import ml_dtypes
    import tritongrad.cuda as c
    host = c.pinned_empty((257, 3), np.float32)
    assert runtime.is_pinned(host) and host.shape == (257, 3) and host.dtype == np.float32
    host[...] = np.arange(257 * 3, dtype=np.float32).reshape(257, 3)
    side = c.Stream()
    dev = runtime.empty(host.shape, host.dtype)
    back = c.pinned_empty(host.shape, host.dtype)
    side.wait_stream(c.current_stream())  # `dev` was allocated on the current stream
    with c.stream(side):
        runtime.copy_host_to_device(dev, host, non_blocking=True)
        runtime.copy_device_to_host(back, dev, non_blocking=True)
    side.synchronize()
    np.testing.assert_array_equal(back, host)
    bf = c.pinned_empty((5,), ml_dtypes.bfloat16)
    assert bf.dtype == ml_dtypes.bfloat16 and runtime.is_pinned(bf)


def _case_streams_events_and_driver():
    import triton
    import tritongrad.cuda as c
    from triton.backends.compiler import GPUTarget
    from tritongrad.runtime import timing
    from tritongrad.runtime.triton_driver import TritongradCudaDriver
    s = c.Stream()
    assert s.cuda_stream != 0 and s != c.default_stream()
    assert isinstance(triton.runtime.driver.active, TritongradCudaDriver)
    drv = triton.runtime.driver.active
    with c.stream(s):
        assert c.current_stream() == s and drv.get_current_stream(0) == s.cuda_stream
    assert drv.get_current_stream(0) == 0
    major, minor = c.get_device_capability()
    assert drv.get_current_target() == GPUTarget("cuda", 10 * major + minor, 32)
    big = runtime.empty((256 << 20,), np.uint8)
    s.wait_stream(c.current_stream())  # `big` was allocated on the current stream
    start, end = c.Event(enable_timing=True), c.Event(enable_timing=True)
    start.record(s)
    runtime.fill_bytes(big, 1, stream=s)
    end.record(s)
    c.default_stream().wait_stream(s)
    end.synchronize()
    assert end.query() and s.query() and start.elapsed_time(end) > 0
    times = timing.time_ms(lambda: runtime.fill_bytes(big, 2), warmup=2, repeats=5)
    assert len(times) == 5 and all(t > 0 for t in times)


def _make_affine_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def _affine_kernel(x_ptr, y_ptr, n, scale, shift, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        tl.store(y_ptr + offs, x * scale + shift, mask=mask)

    def affine(x, scale, shift):
        y = runtime.empty(x.shape, x.dtype)
        n = x.numel()
        _affine_kernel[(triton.cdiv(n, 256),)](x, y, n, scale, shift, BLOCK=256)
        return y

    return affine


def _case_graph_capture_replay():
    import tritongrad.cuda as c
    affine = _make_affine_kernel()
    n = 1000
    x = runtime.empty((n,), np.float32)

    def step():
        return affine(affine(x, 2.0, 1.0), -1.0, 0.5)

    def load(values):
        runtime.copy_host_to_device(x, values)

    def read(arr):
        out = np.empty(arr.shape, arr.dtype)
        runtime.copy_device_to_host(out, arr)
        return out

    first = np.linspace(-3, 3, n, dtype=np.float32)
    load(first)
    np.testing.assert_allclose(read(step()), -(2 * first + 1) + 0.5, rtol=1e-6)  # warm up (compiles)
    g = c.CUDAGraph()
    with c.graph(g):
        out = step()
    for values in (np.full(n, 4.0, np.float32), np.random.default_rng(2).standard_normal(n).astype(np.float32)):
        load(values)
        g.replay()
        np.testing.assert_allclose(read(out), -(2 * values + 1) + 0.5, rtol=1e-6)
    assert "torch" not in sys.modules
    del out
    g.reset()
    c.synchronize()


def _case_record_stream_defers_reuse():
    """A side stream held back by ``cuStreamWaitValue32`` on a mapped host word: a buffer recorded on it is not
    freed while it waits, the allocation stream is not made to wait for it, and the block is released at the
    first allocation after the side stream finishes."""
    import tritongrad.cuda as c
    from cuda.bindings import driver as d
    from tritongrad.runtime import memory
    from tritongrad.runtime.errors import call
    host = int(call(d.cuMemHostAlloc, 4, d.CU_MEMHOSTALLOC_DEVICEMAP | d.CU_MEMHOSTALLOC_PORTABLE))
    word = ctypes.c_uint32.from_address(host)
    word.value = 0
    side = c.Stream()
    call(d.cuStreamWaitValue32, side.handle, call(d.cuMemHostGetDevicePointer, host, 0), 1,
         int(d.CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_GEQ))
    a = runtime.empty((1 << 20,), np.uint8)
    runtime.record_stream(a, side)
    del a
    assert memory.pending_frees() == 1
    keep = runtime.empty((1 << 20,), np.uint8)         # the side stream still waits: nothing released
    assert memory.pending_frees() == 1 and not side.query()
    done = c.Event()
    done.record()                                      # the current stream was not made to wait for `side`
    deadline = time.time() + 10
    while not done.query():
        assert time.time() < deadline, "the allocation stream waits for the recorded stream"
        time.sleep(0.01)
    word.value = 1                                     # let the side stream finish
    side.synchronize()
    keep2 = runtime.empty((16,), np.uint8)
    assert memory.pending_frees() == 0
    del keep, keep2
    c.synchronize()
    call(d.cuMemFreeHost, host)


def _case_sticky_error_fails_fast():
    import triton
    import triton.language as tl
    import tritongrad.cuda as c

    @triton.jit
    def _store_far_kernel(x_ptr, offset):
        tl.store(x_ptr + offset, 1.0)

    x = runtime.empty((4,), np.float32)
    _store_far_kernel[(1,)](x, 1 << 40)
    try:
        c.synchronize()
    except RuntimeError as e:
        msg = str(e)
        assert "may be reported late" in msg and "CUDA_LAUNCH_BLOCKING=1" in msg and "cuCtxSynchronize" in msg, msg
    else:
        raise AssertionError("an out-of-bounds store raised no error at the next synchronize")
    start = time.perf_counter()
    try:
        runtime.empty((4,), np.float32)
    except RuntimeError as e:
        assert "earlier CUDA error" in str(e)
    else:
        raise AssertionError("allocation after a sticky error did not fail")
    assert time.perf_counter() - start < 1.0


def test_record_stream_defers_reuse_until_the_other_stream_is_done(interp, monkeypatch):
    """``record_stream``: the memory of a buffer used on another stream returns to the pool only once an event
    recorded on that stream at its death has completed (checked at later allocations), and no stream waits
    are added (PyTorch's caching allocator semantics). Interpreter events always complete, so a busy side
    stream is simulated by making ``Event.query`` say "not ready"."""
    import gc
    import weakref

    from tritongrad.runtime import memory, streams
    waits = []
    monkeypatch.setattr(streams.Stream, "wait_event", lambda self, event: waits.append((self, event)))
    side = runtime.Stream()
    a = runtime.empty((64,), np.float32)
    raw = weakref.ref(a.buffer.host.base)          # the host memory standing in for the device block
    runtime.record_stream(a, runtime.current_stream())   # the allocation stream itself: nothing to defer
    runtime.record_stream(a, side)
    busy = [True]
    monkeypatch.setattr(streams.Event, "query", lambda self: not busy[0])
    del a
    gc.collect()
    assert memory.pending_frees() == 1 and raw() is not None
    runtime.empty((64,), np.float32)               # an allocation checks the event: the side stream is busy
    assert memory.pending_frees() == 1 and raw() is not None
    busy[0] = False
    runtime.empty((64,), np.float32)               # now done: the block is released
    assert memory.pending_frees() == 0 and raw() is None
    b = runtime.empty((8,), np.float32)
    raw_b = weakref.ref(b.buffer.host.base)
    del b                                          # no record_stream: released at once
    assert raw_b() is None and memory.pending_frees() == 0
    assert waits == [], "record_stream must not add stream waits"


@pytest.mark.skipif(HAS_GPU, reason="the GPU runs this case compiled, in test_on_gpu")
def test_graph_capture_replay_case_in_interpreter_mode(interp):
    """`_case_graph_capture_replay` (two launches of a custom Triton kernel captured, replayed on new inputs)
    through the runtime's recording of captured launches in interpreter mode."""
    _case_graph_capture_replay()
