"""examples/custom_kernel.py runs (in Triton's interpreter without a GPU) and its numbers match: the fused
bias + GELU Function against the NumPy reference and against GELU's formula computed here."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import tritongrad as tg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `examples` is a directory of the repository, not an installed package

from examples import custom_kernel  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_example_check_passes(dtype, capsys):
    report, times = custom_kernel.main(["--check-rows", "3", "--check-cols", "1030", "--dtype", dtype])
    assert report.passed and len(report.outputs) == 1 and len(report.grads) == 2
    assert "all within tolerance" in capsys.readouterr().out
    assert (times is None) == tg.cuda.is_interpreter()


def test_fused_bias_gelu_matches_the_formula():
    rng = np.random.default_rng(3)
    x, b, gy = rng.standard_normal((4, 9)), rng.standard_normal(9), rng.standard_normal((4, 9))
    xt = tg.tensor(x, dtype=tg.float32, device="cuda", requires_grad=True)
    bt = tg.tensor(b, dtype=tg.float32, device="cuda", requires_grad=True)
    y = custom_kernel.bias_gelu(xt, bt)
    y.backward(tg.tensor(gy, dtype=tg.float32, device="cuda"))
    z = x + b
    erf = np.vectorize(math.erf)(z / math.sqrt(2.0))
    cdf, pdf = 0.5 * (1.0 + erf), np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    np.testing.assert_allclose(y.detach().cpu().numpy(), z * cdf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.grad.cpu().numpy(), gy * (cdf + z * pdf), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bt.grad.cpu().numpy(), (gy * (cdf + z * pdf)).sum(0), rtol=1e-5, atol=1e-5)


def test_wrapper_checks_its_inputs():
    with pytest.raises(RuntimeError, match="must be on one cuda device"):
        custom_kernel.bias_gelu(tg.ones(2, 3), tg.ones(3))
    with pytest.raises(RuntimeError, match=r"expected x of shape \(rows, cols\) with unit column stride"):
        custom_kernel.bias_gelu(tg.ones(3, 2, device="cuda").t(), tg.ones(3, device="cuda"))


def test_readme_write_your_own_kernel_block_runs():
    import re
    import subprocess
    text = (ROOT / "README.md").read_text().split("## Write your own kernel", 1)[1]
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "tensor([3., 3., 3.], device='cuda:0')"


_AOT = """
import sys
import triton
from triton.backends.compiler import GPUTarget
sys.path.insert(0, sys.argv[1])
from examples import custom_kernel as ck
ptrs = {"x_ptr": "*bf16", "b_ptr": "*bf16"}
fwd = {**ptrs, "y_ptr": "*bf16", "n_cols": "i32", "x_row_stride": "i32", "y_row_stride": "i32", "BLOCK": "constexpr"}
bwd = {**ptrs, "gy_ptr": "*bf16", "gz_ptr": "*bf16", "n_cols": "i32", "x_row_stride": "i32", "gy_row_stride": "i32",
       "BLOCK": "constexpr"}
for kernel, sig in ((ck._bias_gelu_fwd_kernel, fwd), (ck._bias_gelu_bwd_kernel, bwd)):
    for arch in (80, 90):
        src = triton.compiler.ASTSource(fn=kernel, signature=sig, constexprs={"BLOCK": ck.BLOCK})
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": 4})
        assert "cubin" in compiled.asm and "ptx" in compiled.asm
print("ok")
"""


def test_example_kernels_compile_for_sm80_and_sm90():
    """The interpreter accepts more than the compiler: the example's kernels must compile (no GPU needed)."""
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", _AOT, str(ROOT)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
