"""The first stage of `bench/gpu_check.sh`: one import, one device query, one kernel launch, one copy back.

    python -m bench.gpu_smoke

Prints the versions, the device, the time of the first kernel (compile + load + launch + copy) and ends
with ``SMOKE OK`` (exit status 0) or the traceback and ``SMOKE FAILED`` (exit status 1). Needs a GPU: it
refuses to run in interpreter mode, where it would prove nothing about the GPU.
"""
import sys
import time
import traceback


def main():
    t0 = time.perf_counter()
    try:
        import cuda.bindings
        import numpy as np
        import triton
        print("python", sys.version.split()[0], "| triton", triton.__version__, "| numpy", np.__version__,
              "| cuda-bindings", cuda.bindings.__version__, flush=True)
        import tritongrad
        import tritongrad.cuda as c
        assert not c.is_interpreter(), "TRITON_INTERPRET is set: the smoke check must run compiled kernels"
        print("device:", c.get_device_name(), "| capability", c.get_device_capability(), "| free/total bytes",
              c.mem_get_info(), flush=True)
        x = tritongrad.tensor(np.arange(1000, dtype=np.float32), device="cuda")
        t1 = time.perf_counter()
        y = (x * 2 + 1).cpu().numpy()                  # compile, load, launch, copy back
        ok = np.array_equal(y, np.arange(1000, dtype=np.float32) * 2 + 1)
        print(f"first kernel: compile + launch + copy back {time.perf_counter() - t1:.2f} s, correct: {ok}")
        c.synchronize()
        assert ok, f"x * 2 + 1 on the GPU differs from NumPy: {y[:8]}"
        assert "torch" not in sys.modules, "tritongrad imported torch"
    except BaseException:
        traceback.print_exc()
        print("SMOKE FAILED", flush=True)
        return 1
    print(f"SMOKE OK in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
