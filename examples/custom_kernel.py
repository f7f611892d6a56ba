"""Write your own kernel: a fused bias + GELU in Triton, with its backward, as a tritongrad autograd Function.

The workflow of Triton's tutorials, on tritongrad instead of torch: ``@triton.jit`` kernels launched on
tritongrad tensors, a custom `tritongrad.autograd.Function` wrapping the forward and backward launches,
a check of outputs and gradients against the NumPy reference (tritongrad's own ops on cpu), then a timing
beside tritongrad's own (unfused) ``F.gelu(x + b)`` on a GPU.

    python examples/custom_kernel.py                       # on a GPU: check, then benchmark
    TRITON_INTERPRET=1 python examples/custom_kernel.py    # no GPU: the same kernels in Triton's interpreter
                                                           # (check only; interpreter timings mean nothing)
"""
from __future__ import annotations

import argparse

import triton
import triton.language as tl

import tritongrad as torch
import tritongrad.nn.functional as F
from tritongrad.testing import compare_devices, do_bench

_INV_SQRT2 = tl.constexpr(0.7071067811865476)      # kernels may read only constexpr globals
_INV_SQRT_2PI = tl.constexpr(0.3989422804014327)


@triton.jit
def _bias_gelu_fwd_kernel(x_ptr, b_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, BLOCK: tl.constexpr):
    """y[r, c] = gelu(x[r, c] + b[c]) (erf form), one program per (row, column block)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    z = tl.load(x_ptr + row * x_row_stride + cols, mask=mask).to(tl.float32) \
        + tl.load(b_ptr + cols, mask=mask).to(tl.float32)
    y = 0.5 * z * (1.0 + tl.erf(z * _INV_SQRT2))
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _bias_gelu_bwd_kernel(x_ptr, b_ptr, gy_ptr, gz_ptr, n_cols, x_row_stride, gy_row_stride,
                          BLOCK: tl.constexpr):
    """gz = gy * gelu'(x + b), recomputing x + b (cheaper than saving it)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    z = tl.load(x_ptr + row * x_row_stride + cols, mask=mask).to(tl.float32) \
        + tl.load(b_ptr + cols, mask=mask).to(tl.float32)
    gy = tl.load(gy_ptr + row * gy_row_stride + cols, mask=mask).to(tl.float32)
    cdf = 0.5 * (1.0 + tl.erf(z * _INV_SQRT2))
    pdf = tl.exp(-0.5 * z * z) * _INV_SQRT_2PI
    tl.store(gz_ptr + row * n_cols + cols, (gy * (cdf + z * pdf)).to(gz_ptr.dtype.element_ty), mask=mask)


def _check(x, b):
    if x.device.type != "cuda" or b.device != x.device:
        raise RuntimeError(f"bias_gelu: x and b must be on one cuda device, got {x.device} and {b.device}")
    if x.ndim != 2 or b.shape != (x.shape[1],) or x.stride(1) != 1:
        raise RuntimeError(f"bias_gelu: expected x of shape (rows, cols) with unit column stride and b of shape "
                           f"(cols,), got x {list(x.shape)} (strides {x.stride()}) and b {list(b.shape)}")


BLOCK = 1024


class FusedBiasGelu(torch.autograd.Function):
    """``gelu(x + b)`` in one kernel each way: forward reads x and b once and writes y; backward recomputes
    ``x + b`` instead of saving it, and reduces the bias gradient with tritongrad's ``sum``."""

    @staticmethod
    def forward(ctx, x, b):
        _check(x, b)
        y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        grid = (x.shape[0], triton.cdiv(x.shape[1], BLOCK))
        _bias_gelu_fwd_kernel[grid](x, b, y, x.shape[1], x.stride(0), y.stride(0), BLOCK=BLOCK)
        ctx.save_for_backward(x, b)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, b = ctx.saved_tensors
        gy = gy if gy.stride(-1) == 1 else gy.contiguous()
        gz = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        grid = (x.shape[0], triton.cdiv(x.shape[1], BLOCK))
        _bias_gelu_bwd_kernel[grid](x, b, gy, gz, x.shape[1], x.stride(0), gy.stride(0), BLOCK=BLOCK)
        gb = gz.float().sum(0).to(b.dtype) if ctx.needs_input_grad[1] else None
        return gz, gb


def bias_gelu(x, b):
    """``gelu(x + b)`` with our own kernels."""
    return FusedBiasGelu.apply(x, b)


def reference(x, b):
    """tritongrad's own ops: the NumPy reference on cpu, tritongrad's (unfused) kernels on cuda."""
    return F.gelu(x + b)


def check(rows, cols, dtype, seed=0):
    """Compare our Function, outputs and both gradients, with the NumPy reference; returns the report."""
    torch.manual_seed(seed)
    x = torch.randn(rows, cols, dtype=dtype, requires_grad=True)
    b = torch.randn(cols, dtype=dtype, requires_grad=True)
    # bfloat16: the bias gradient sums rows of gradients each rounded to bfloat16 (8 bits of mantissa), so where
    # the sum cancels its error is a few ulps of the terms, not of the result: widen atol accordingly
    tol = dict(rtol=0.02, atol=0.05) if dtype is torch.bfloat16 else {}
    report = compare_devices(FusedBiasGelu, x, b, reference=reference, **tol)
    print(f"check {rows}x{cols} {dtype.name} against the NumPy reference:\n{report}")
    report.raise_if_failed()
    return report


def benchmark(rows, cols, dtype):
    """Forward + backward time of ours and of tritongrad's ``F.gelu(x + b)``, in ms (CUDA events, L2 flushed
    before each call). Returns {name: ms}."""
    x = torch.randn(rows, cols, dtype=dtype, device="cuda", requires_grad=True)
    b = torch.randn(cols, dtype=dtype, device="cuda", requires_grad=True)
    gy = torch.randn(rows, cols, dtype=dtype, device="cuda")
    times = {}
    for name, fn in (("fused (ours)", bias_gelu), ("tritongrad F.gelu(x + b)", reference)):
        times[name] = do_bench(lambda: fn(x, b).backward(gy), grad_to_none=[x, b])
    moved = 5 * rows * cols * x.element_size()      # fwd: read x, write y; bwd: read x, gy, write gx
    for name, ms in times.items():
        print(f"{name:>26}: {ms * 1e3:9.1f} us  ({moved / ms / 1e6:7.1f} GB/s at the fused op's traffic)")
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--check-rows", type=int, default=33, help="rows of the correctness check")
    parser.add_argument("--check-cols", type=int, default=1500, help="columns of the correctness check")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("custom_kernel.py needs a GPU, or TRITON_INTERPRET=1 to run its kernels in Triton's "
                         "interpreter")
    dtype = getattr(torch, args.dtype)
    report = check(args.check_rows, args.check_cols, dtype)
    if torch.cuda.is_interpreter():
        print("benchmark skipped: kernels run in Triton's interpreter (TRITON_INTERPRET=1), not on a GPU")
        return report, None
    return report, benchmark(args.rows, args.cols, dtype)


if __name__ == "__main__":
    main()
