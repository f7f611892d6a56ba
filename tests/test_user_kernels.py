"""A user's own Triton kernels launched on tritongrad tensors, as in Triton's tutorials.

The kernels here were written for these tests (vector add, fused softmax, blocked matmul, layer norm with its
backward in a custom `autograd.Function`); each is checked, forward and backward, against tritongrad's ops on
cpu (the NumPy reference), on views and on every float dtype. Small shapes: they run in Triton's interpreter
on machines without a GPU.
"""
import numpy as np
import pytest
import triton
import triton.language as tl

import tritongrad as tg
import tritongrad.nn.functional as F
from tritongrad.testing import assert_close, compare_devices

FLOATS = [tg.float16, tg.bfloat16, tg.float32, tg.float64]


def _acc(dtype):
    """The accumulation type: fp64 for fp64 tensors, else fp32 (the interpreter's bf16 math is not to be trusted)."""
    return tl.float64 if dtype == tg.float64 else tl.float32


# ------------------------------------------------------------------------------------------------ kernels
@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, ACC: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask).to(ACC)
    y = tl.load(y_ptr + offs, mask=mask).to(ACC)
    tl.store(out_ptr + offs, (x + y).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, n_cols, x_row_stride, out_row_stride, ACC: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=-float("inf")).to(ACC)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(out_ptr + row * out_row_stride + cols, (e / tl.sum(e, axis=0)).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                   ACC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        ks = k * BLOCK_K + rk
        a = tl.load(a_ptr + rm[:, None] * stride_am + ks[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & (ks[None, :] < K), other=0.0).to(ACC)
        b = tl.load(b_ptr + ks[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=(ks[:, None] < K) & (rn[None, :] < N), other=0.0).to(ACC)
        acc += tl.dot(a, b, input_precision="ieee")   # exact fp32 (the default is tf32 on a GPU, and in
                                                       # tritongrad's interpreter, which emulates it)
    tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn, acc.to(c_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _layer_norm_fwd_kernel(x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, N, x_row_stride, eps,
                           ACC: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=0.0).to(ACC)
    mean = tl.sum(x, axis=0) / N
    xc = tl.where(mask, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / N + eps)
    w = tl.load(w_ptr + cols, mask=mask).to(ACC)
    b = tl.load(b_ptr + cols, mask=mask).to(ACC)
    tl.store(y_ptr + row * N + cols, (xc * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


@triton.jit
def _layer_norm_bwd_kernel(x_ptr, w_ptr, gy_ptr, mean_ptr, rstd_ptr, gx_ptr, gw_rows_ptr, gb_rows_ptr, N, x_row_stride,
                           ACC: tl.constexpr, BLOCK: tl.constexpr):
    # dx per row; dw and db as per-row partial sums (reduced over rows afterwards)
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=0.0).to(ACC)
    gy = tl.load(gy_ptr + row * N + cols, mask=mask, other=0.0).to(ACC)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(ACC)
    xhat = tl.where(mask, (x - tl.load(mean_ptr + row)) * tl.load(rstd_ptr + row), 0.0)
    wgy = w * gy
    gx = (wgy - (xhat * tl.sum(wgy * xhat, axis=0) + tl.sum(wgy, axis=0)) / N) * tl.load(rstd_ptr + row)
    tl.store(gx_ptr + row * N + cols, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    tl.store(gw_rows_ptr + row * N + cols, gy * xhat, mask=mask)
    tl.store(gb_rows_ptr + row * N + cols, gy, mask=mask)


# ------------------------------------------------------------------------------------------------ wrappers
def vector_add(x, y):
    out = tg.empty_like(x)
    n = x.numel()
    _add_kernel[(triton.cdiv(n, 64),)](x, y, out, n, ACC=_acc(x.dtype), BLOCK=64)
    return out


def softmax_rows(x):
    assert x.ndim == 2 and x.stride(1) == 1, "rows must be contiguous"
    out = tg.empty(x.shape, dtype=x.dtype, device=x.device)
    _softmax_kernel[(x.shape[0],)](x, out, x.shape[1], x.stride(0), out.stride(0), ACC=_acc(x.dtype),
                                   BLOCK=triton.next_power_of_2(x.shape[1]))
    return out


def matmul(a, b):
    (M, K), N = a.shape, b.shape[1]
    c = tg.empty(M, N, dtype=a.dtype, device=a.device)
    grid = (triton.cdiv(M, 16), triton.cdiv(N, 16))
    _matmul_kernel[grid](a, b, c, M, N, K, *a.stride(), *b.stride(), *c.stride(), ACC=_acc(a.dtype),
                         BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)
    return c


class LayerNorm(tg.autograd.Function):
    """Layer norm over the last dimension of a 2-D input with rows of unit column stride."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        M, N = x.shape
        y = tg.empty(M, N, dtype=x.dtype, device=x.device)
        mean = tg.empty(M, dtype=tg.float32 if x.dtype != tg.float64 else tg.float64, device=x.device)
        rstd = tg.empty_like(mean)
        block = triton.next_power_of_2(N)
        _layer_norm_fwd_kernel[(M,)](x, weight, bias, y, mean, rstd, N, x.stride(0), eps, ACC=_acc(x.dtype),
                                     BLOCK=block)
        ctx.save_for_backward(x, weight, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight, mean, rstd = ctx.saved_tensors
        M, N = x.shape
        gy = gy.contiguous()
        gx = tg.empty(M, N, dtype=x.dtype, device=x.device)
        gw_rows = tg.empty(M, N, dtype=mean.dtype, device=x.device)
        gb_rows = tg.empty_like(gw_rows)
        _layer_norm_bwd_kernel[(M,)](x, weight, gy, mean, rstd, gx, gw_rows, gb_rows, N, x.stride(0),
                                     ACC=_acc(x.dtype), BLOCK=triton.next_power_of_2(N))
        gw = gw_rows.sum(0).to(weight.dtype) if ctx.needs_input_grad[1] else None
        gb = gb_rows.sum(0).to(weight.dtype) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


# ------------------------------------------------------------------------------------------------ tests
def _randn(*shape, dtype=tg.float32, requires_grad=False):
    t = tg.tensor(np.random.default_rng(sum(shape)).standard_normal(shape), dtype=dtype)
    return t.requires_grad_(requires_grad)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_vector_add_on_views_and_dtypes(dtype):
    big = _randn(5, 40, dtype=dtype).cuda()
    x, y = big[1], big[3, 3:]              # views: the kernel gets each one's first element
    out = vector_add(x[:37], y)
    assert_close(out, (x[:37].cpu().double() + y.cpu().double()).to(dtype), check_device=False)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_fused_softmax_on_a_strided_view(dtype):
    big = _randn(7, 45, dtype=dtype).cuda()
    x = big[2:7, 3:41]                     # rows of stride 45, first element at offset 93
    rep = compare_devices(softmax_rows, x, reference=lambda t: t.double().softmax(-1).to(dtype))
    rep.raise_if_failed()


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_blocked_matmul_with_a_transposed_operand(dtype):
    a = _randn(19, 23, dtype=dtype)
    bt = _randn(17, 23, dtype=dtype)       # b = bt.t(): strides (1, 23)
    rep = compare_devices(lambda a, bt: matmul(a, bt.t()), a, bt,
                          reference=lambda a, bt: (a.double() @ bt.double().t()).to(dtype))
    rep.raise_if_failed()


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_layer_norm_function_forward_and_backward(dtype):
    big = _randn(6, 27, dtype=dtype)
    x = big[1:6, 2:].detach().requires_grad_()   # compare_devices copies it (contiguous) to each device
    w = _randn(25, dtype=dtype, requires_grad=True)
    b = _randn(1, 25, dtype=dtype)[0].detach().requires_grad_()

    def reference(x, w, b):
        return F.layer_norm(x.double(), (25,), w.double(), b.double()).to(dtype)

    rep = compare_devices(LayerNorm, x, w, b, reference=reference)
    rep.raise_if_failed()
    assert len(rep.grads) == 3


def test_layer_norm_function_on_a_strided_cuda_view():
    base = _randn(6, 27).cuda()
    x = base[1:6, 2:].requires_grad_()           # a leaf view on cuda: row stride 27, offset 29
    w, b = _randn(25).cuda().requires_grad_(), _randn(1, 25)[0].cuda().requires_grad_()
    gy = _randn(5, 25).cuda()
    y = LayerNorm.apply(x, w, b)
    y.backward(gy)
    xr, wr, br = (t.detach().cpu().double().requires_grad_() for t in (x, w, b))
    yr = F.layer_norm(xr, (25,), wr, br)
    yr.backward(gy.cpu().double())
    assert_close(y.cpu().double(), yr.detach(), rtol=1e-4, atol=1e-5)
    for got, ref in ((x.grad, xr.grad), (w.grad, wr.grad), (b.grad, br.grad)):
        assert_close(got.cpu().double(), ref, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------ the protocol
def test_data_ptr_and_storage_offset_follow_views():
    x = tg.zeros(4, 8, device="cuda")
    v = x[1:, 2:]
    assert v.data_ptr() == x.data_ptr() + (8 + 2) * 4
    assert v.storage_offset() == 10 and x.storage_offset() == 0
    assert v.untyped_storage().data_ptr() == x.data_ptr()
    c = tg.zeros(4, 8)
    assert c[1:, 2:].storage_offset() == 10 and c[1:, 2:].data_ptr() == c.data_ptr() + 40


def test_pointer_type_and_alignment_specialization():
    from triton.runtime.jit import mangle_type
    x = tg.zeros(64, device="cuda", dtype=tg.bfloat16)
    assert mangle_type(x) == "*bf16" and mangle_type(tg.zeros(2, device="cuda", dtype=tg.int32)) == "*i32"
    specialize = getattr(triton.runtime.jit, "native_specialize_impl", None)
    if specialize is None:
        pytest.skip("this Triton has no native_specialize_impl to ask for the alignment key")
    from triton.backends.compiler import BaseBackend
    keys = [specialize(BaseBackend, t, False, True, True)[1] for t in (x, x[1:], x[8:])]
    assert keys == ["D", "", "D"]          # 16-byte aligned pointers specialize, as for torch tensors


def test_a_cpu_tensor_passed_to_a_kernel_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"cpu tensor was passed where a Triton kernel takes a pointer.*\.cuda\(\)"):
        vector_add(tg.ones(4), tg.ones(4))


def test_kernel_writes_through_a_view_and_leaves_the_inputs_alone():
    x = tg.arange(10, dtype=tg.float32, device="cuda")
    out = tg.zeros(10, device="cuda")
    _add_kernel[(1,)](x, x, out[2:], 8, ACC=tl.float32, BLOCK=16)
    assert out.tolist() == [0.0, 0.0] + [2.0 * i for i in range(8)]
    assert x.tolist() == [float(i) for i in range(10)]


# ------------------------------------------------------------------------------------------------ Triton's tools
_TRITON_TOOLS = """
import sys
import triton, triton.testing
import tritongrad as tg
from triton.language import target_info
from triton.runtime import driver
tg.cuda.init()                              # installs tritongrad's Triton driver
if tg.cuda.is_interpreter():                # no compile target there: Triton's target queries say none
    assert target_info.current_target() is None
dev = driver.active.get_active_torch_device()
assert dev == tg.device("cuda", 0), dev
x = tg.randn(size=(1000,), device=dev)      # what Triton's tutorials do first
ms = triton.testing.do_bench(lambda: x * 2, warmup=1, rep=1)
assert ms > 0 and "torch" not in sys.modules
print("ok")
"""


def test_triton_testing_do_bench_runs_on_tritongrad_alone():
    """``triton.testing.do_bench`` asks Triton's active driver for the device interface, an L2-flush buffer and
    timing events; tritongrad's driver answers them without torch (host timers in interpreter mode)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _TRITON_TOOLS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


@triton.autotune(configs=[triton.Config({"BLOCK": 32}), triton.Config({"BLOCK": 128})], key=["n"],
                 reset_to_zero=["out_ptr"])
@triton.jit
def _autotuned_scale_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * 3.0, mask=mask)


@pytest.mark.gpu
def test_autotuner_benchmarks_tritongrad_tensors_on_a_gpu():
    x = tg.randn(5000, device="cuda")
    out = tg.empty_like(x)
    _autotuned_scale_kernel[lambda meta: (triton.cdiv(5000, meta["BLOCK"]),)](x, out, 5000)
    assert _autotuned_scale_kernel.best_config.kwargs["BLOCK"] in (32, 128)
    assert_close(out, x * 3.0)


@pytest.mark.gpu
def test_kernels_launch_on_tritongrads_current_stream():
    s = tg.cuda.Stream()
    x = tg.randn(1 << 20, device="cuda")
    s.wait_stream(tg.cuda.current_stream())
    with tg.cuda.stream(s):
        assert triton.runtime.driver.active.get_current_stream(0) == s.cuda_stream   # what each launch asks
        out = vector_add(x, x)              # allocated and launched on s
        total = out.sum()
    tg.cuda.current_stream().wait_stream(s)
    assert_close(total, (x * 2).sum(), rtol=1e-4, atol=1e-2)


_AOT = """
import sys
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
sys.path.insert(0, sys.argv[1])
import test_user_kernels as t
P, I, C = "*fp16", "i32", "constexpr"
specs = [
    (t._add_kernel, dict(x_ptr=P, y_ptr=P, out_ptr=P, n=I, ACC=C, BLOCK=C), dict(BLOCK=64)),
    (t._softmax_kernel, dict(x_ptr=P, out_ptr=P, n_cols=I, x_row_stride=I, out_row_stride=I, ACC=C, BLOCK=C),
     dict(BLOCK=64)),
    (t._matmul_kernel, dict(a_ptr=P, b_ptr=P, c_ptr=P, M=I, N=I, K=I, stride_am=I, stride_ak=I, stride_bk=I,
                            stride_bn=I, stride_cm=I, stride_cn=I, ACC=C, BLOCK_M=C, BLOCK_N=C, BLOCK_K=C),
     dict(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)),
    (t._layer_norm_fwd_kernel, dict(x_ptr=P, w_ptr=P, b_ptr=P, y_ptr=P, mean_ptr="*fp32", rstd_ptr="*fp32", N=I,
                                    x_row_stride=I, eps="fp32", ACC=C, BLOCK=C), dict(BLOCK=32)),
    (t._layer_norm_bwd_kernel, dict(x_ptr=P, w_ptr=P, gy_ptr=P, mean_ptr="*fp32", rstd_ptr="*fp32", gx_ptr=P,
                                    gw_rows_ptr="*fp32", gb_rows_ptr="*fp32", N=I, x_row_stride=I, ACC=C, BLOCK=C),
     dict(BLOCK=32)),
]
for kernel, sig, consts in specs:
    src = triton.compiler.ASTSource(fn=kernel, signature=sig, constexprs={"ACC": tl.float32, **consts})
    assert "cubin" in triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm
print("ok")
"""


def test_these_kernels_compile_for_sm90():
    """The interpreter accepts more than the compiler: the kernels above must compile too (no GPU needed)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", _AOT, os.path.dirname(os.path.abspath(__file__))], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
