"""The first stage of `bench/gpu_check.sh`: versions, the device, and the first compiled kernels.

    python -m bench.gpu_smoke [--json PATH] [--dry-run]

Checks, each run even when an earlier one failed: import (tritongrad never imports torch), the device query,
one elementwise kernel (compile + load + launch + copy back) against NumPy, one fp32 matmul (IEEE) and one
bf16 matmul (tensor cores) against NumPy in float64, and the device error word (a gather with a bad index
must raise at the next wait what the cpu device raises, and the device must stay usable). Prints each check
and its time, and ends with ``SMOKE OK`` (exit status 0) or ``SMOKE FAILED`` (exit status 1); ``--json``
also writes ``{"status", "device", "versions", "checks": {name: "ok ..." or "FAILED ..."}, "seconds"}``.
Refuses Triton's interpreter (it would prove nothing about the GPU) unless ``--dry-run``.
"""
import argparse
import importlib.metadata
import json
import sys
import time
import traceback


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _rel_err(got, ref):
    import numpy as np
    return float(np.abs(got.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))


def check_elementwise(tg, np):
    x = tg.tensor(np.arange(1000, dtype=np.float32), device="cuda")
    y = (x * 2 + 1).cpu().numpy()
    ref = np.arange(1000, dtype=np.float32) * 2 + 1
    assert np.array_equal(y, ref), f"x * 2 + 1 on the device differs from NumPy: {y[:8]}"
    return "x * 2 + 1 equals NumPy"


def check_matmul(tg, np):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((96, 80)).astype(np.float32), rng.standard_normal((80, 112)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err = _rel_err((tg.tensor(a, device="cuda") @ tg.tensor(b, device="cuda")).cpu().numpy(), ref)
    assert err < 1e-5, f"fp32 matmul relative error {err:.2e} (IEEE fp32 should be under 1e-5)"
    ab, bb = (tg.tensor(v, device="cuda").to(tg.bfloat16) for v in (a, b))
    ref16 = ab.float().cpu().numpy().astype(np.float64) @ bb.float().cpu().numpy().astype(np.float64)
    err16 = _rel_err((ab @ bb).float().cpu().numpy(), ref16)
    assert err16 < 1e-2, f"bf16 matmul relative error {err16:.2e} (should be under 1e-2)"
    return f"fp32 rel err {err:.1e}, bf16 rel err {err16:.1e}"


def check_error_word(tg, np):
    x = tg.ones(3, 6, device="cuda")
    bad = tg.tensor(np.full((3, 1), 7, np.int64), device="cuda")
    try:
        x.gather(1, bad).cpu()
    except IndexError as e:
        assert "index 7 is out of bounds for dimension 1 with size 6" in str(e), f"unexpected message: {e}"
    else:
        raise AssertionError("a gather with index 7 into size 6 did not raise at the next wait")
    assert float((x * 3).sum().item()) == 54.0, "the device is not usable after the reported error"
    return "bad gather index raised IndexError at the next wait; device still usable"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.gpu_smoke", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--dry-run", action="store_true", help="allow Triton's interpreter (checks this script only)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    result = {"status": "FAILED", "device": None, "checks": {},
              "versions": {n: _version(n) for n in ("triton", "numpy", "cuda-bindings", "ml_dtypes", "torch")}}
    result["versions"]["python"] = sys.version.split()[0]
    print("versions:", result["versions"], flush=True)
    try:
        import numpy as np

        import tritongrad as tg
        import tritongrad.cuda as c
        if c.is_interpreter() and not args.dry_run:
            raise RuntimeError("TRITON_INTERPRET is set: the smoke check must run compiled kernels")
        result["device"] = (f"{c.get_device_name()}, capability {c.get_device_capability()}, free/total bytes "
                            f"{c.mem_get_info()}" + (" (Triton interpreter: dry run)" if c.is_interpreter() else ""))
        print("device:", result["device"], flush=True)
        result["checks"]["import"] = "ok"
    except BaseException as e:
        traceback.print_exc()
        result["checks"]["import"] = f"FAILED {type(e).__name__}: {e}"
        checks = []
    else:
        checks = [("elementwise", check_elementwise), ("matmul", check_matmul), ("error_word", check_error_word)]
    for name, check in checks:
        t1 = time.perf_counter()
        try:
            note = check(tg, np)
            c.synchronize()
            result["checks"][name] = f"ok in {time.perf_counter() - t1:.2f} s: {note}"
        except BaseException as e:
            traceback.print_exc()
            result["checks"][name] = f"FAILED in {time.perf_counter() - t1:.2f} s: {type(e).__name__}: {e}"
        print(f"{name}: {result['checks'][name]}", flush=True)
    if "torch" in sys.modules:
        result["checks"]["torch_free"] = "FAILED: tritongrad imported torch"
    ok = bool(checks) and all(v.startswith("ok") for v in result["checks"].values())
    result["status"] = "OK" if ok else "FAILED"
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(f"SMOKE {result['status']} in {result['seconds']:.1f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
