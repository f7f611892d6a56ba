"""Every kernel compiles ahead of time for sm_80 and sm_90 (no GPU needed), and the bf16 matmul uses wgmma.

Compiles run in a subprocess without TRITON_INTERPRET (kernels must be real JITFunctions), with a bounded
pool of workers (2 on this machine, see tritongrad.kernels._aot.default_processes). The default run
compiles one spec per kernel (plus every bf16 matmul spec) for both archs; the test marked ``slow``
compiles every spec (hundreds: ~10+ minutes uncached on 2 cores). Triton's on-disk cache makes later
runs fast.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_TIMEOUT_S = 900


def _env_without_interpreter():
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    return env


def _compile(tmp_path_factory, per_kernel):
    out = tmp_path_factory.mktemp("aot") / "aot.json"
    code = ("import json, sys; from tritongrad.kernels import _aot; "
            f"json.dump(_aot.compile_all(archs=(80, 90), timeout_s={COMPILE_TIMEOUT_S - 60}, "
            f"per_kernel={per_kernel}), open(sys.argv[1], 'w'))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env=_env_without_interpreter(),
                          capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    assert proc.returncode == 0, f"AOT compile crashed:\n{proc.stderr[-5000:]}"
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def per_kernel_result(tmp_path_factory):
    return _compile(tmp_path_factory, per_kernel=True)


def _assert_all_compiled(result):
    from tritongrad.kernels import _aot
    assert result["reports"], "no kernel module in tritongrad.kernels yielded any aot_specs()"
    assert not result["problems"], "\n".join(result["problems"])
    failed = [f"{r['module']}.{r['name']} sm_{r['arch']}: {r['error']}" for r in result["reports"] if not r["ok"]]
    assert not failed, "kernels that do not compile:\n" + "\n".join(failed)
    by_spec = {}
    for r in result["reports"]:
        by_spec.setdefault((r["module"], r["name"]), set()).add(r["arch"])
    missing = {spec: archs for spec, archs in by_spec.items() if archs != set(_aot.ARCHS)}
    assert not missing, f"specs not compiled for every arch: {missing}"
    for r in result["reports"]:
        assert r["regs"] > 0 and r["num_warps"] > 0, r


def test_every_kernel_compiles_for_sm80_and_sm90(per_kernel_result):
    _assert_all_compiled(per_kernel_result)


@pytest.mark.slow
def test_every_kernel_spec_compiles_for_sm80_and_sm90(tmp_path_factory):
    _assert_all_compiled(_compile(tmp_path_factory, per_kernel=False))


def test_bf16_matmul_uses_wgmma_on_sm90(per_kernel_result):
    matmul = [r for r in per_kernel_result["reports"] if r["name"].startswith("matmul_bf16") and r["arch"] == 90]
    assert matmul, ("no aot spec named matmul_bf16* was found: kernels/matmul.py must yield its bf16 matmul "
                    "specs with names starting 'matmul_bf16'")
    without = [r["name"] for r in matmul if not r.get("wgmma")]
    assert not without, f"bf16 matmul specs whose sm_90 PTX has no wgmma: {without}"


def test_aot_refuses_interpreter_mode():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-m", "bench.inspect_kernels", "--arch", "90"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "cannot run with TRITON_INTERPRET=1" in proc.stderr



_JIT_THROUGH_DRIVER = """
import sys, numpy as np, triton, triton.language as tl
from triton.backends.compiler import GPUTarget
from tritongrad.runtime.array import Buffer, DeviceArray
from tritongrad.runtime.triton_driver import TritongradCudaDriver


@triton.jit
def _row_sums_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    acc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + row * n + cols, mask=cols < n, other=0.0)
    tl.store(out_ptr + row, tl.sum(acc, 0))


class Sm90(TritongradCudaDriver):  # what the runtime answers on an H100/H200, without a device
    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_current_target(self):
        return GPUTarget("cuda", 90, 32)


triton.runtime.driver.set_active(Sm90(utils=object()))
x = DeviceArray(Buffer(1 << 20, 4000), (10, 100), np.float32)
out = DeviceArray(Buffer(1 << 21, 40), (10,), np.float32)
k = _row_sums_kernel.warmup(x, out, 100, BLOCK=128, grid=(10,))
assert ["tt.divisibility", 16] in k.src.attrs[(0,)] and ["tt.divisibility", 16] in k.src.attrs[(1,)], k.src.attrs
assert k.metadata.target == GPUTarget("cuda", 90, 32) and "cubin" in k.asm, k.metadata
assert "torch" not in sys.modules
print("ok", triton.__version__)
"""


def test_jit_compiles_through_tritongrad_driver_without_torch(tmp_path):
    """The path a GPU launch takes up to the launcher: Triton's JIT asks tritongrad's driver for the device,
    stream and target (Triton 3.6's stock driver would import torch for them), specializes `DeviceArray`
    arguments (16-byte aligned pointers) and compiles for sm_90. Only the launch itself needs a GPU."""
    script = tmp_path / "jit_through_driver.py"  # the JIT reads a kernel's source from its file
    script.write_text(_JIT_THROUGH_DRIVER)
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=_env_without_interpreter(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok"), proc.stdout
