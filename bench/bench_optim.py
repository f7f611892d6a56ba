"""Optimizer-step benchmarks.

CPU (pytest-benchmark, ``pytest bench/bench_optim.py``): the NumPy backend's ``adam_step`` (what a cpu
``optim.Adam`` runs) against a hand-written raw NumPy Adam loop over the same tensors, to show the backend
adds no overhead beyond the textbook loop.

GPU (``gpu_bench_adamw(out)``, called by the GPU benchmark script): one ``optim.AdamW`` step over a
GPT-2-124M-shaped parameter list (148 fp32 tensors, 124.4M values), timed with CUDA events through
``bench/gpu_timer.py`` (imported lazily: ``gpu_timer.benchmark(fn, warmup=..., repeats=...).median_ms``
returns the median milliseconds of one call of ``fn`` on tritongrad's current stream), next to
``torch.optim.AdamW(fused=True)`` and ``(foreach=True)`` when torch is installed (timed with torch's own
CUDA events, on torch's stream) and a device-to-device copy of the same buffers (the bandwidth ceiling).
Bytes moved per AdamW element: read param, grad, exp_avg, exp_avg_sq (16) + write param, exp_avg,
exp_avg_sq (12) = 28.
"""
from __future__ import annotations

import numpy as np

BYTES_PER_ELEMENT_ADAMW = 28


def gpt2_124m_shapes(n_layer=12, d=768, vocab=50257, ctx=1024):
    """Parameter shapes of GPT-2 small (tied embeddings): 148 tensors, 124,439,808 values."""
    shapes = [(vocab, d), (ctx, d)]
    for _ in range(n_layer):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]
    return shapes + [(d,), (d,)]


# --------------------------------------------------------------------------------------------- CPU
CPU_SHAPES = [(256, 256), (256,), (512, 128), (1000,), (64, 64, 4), (7,)] * 4
HYPER = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decoupled=True, amsgrad=False,
             maximize=False)


def _cpu_state(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in CPU_SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) for s in CPU_SHAPES]
    zeros = lambda: [np.zeros(s, np.float32) for s in CPU_SHAPES]   # noqa: E731
    return params, grads, zeros(), zeros(), [np.zeros((), np.float32) for _ in CPU_SHAPES]


def raw_numpy_adamw(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay, **_):
    """The plainest in-place NumPy AdamW loop (the baseline)."""
    for p, g, m, v, s in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        s += 1
        t = float(s)
        p *= 1 - lr * weight_decay
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        p -= lr / (1 - beta1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps)


def test_numpy_backend_adam_step(benchmark):
    from tritongrad.backends.numpy_optim import NumpyOptim
    params, grads, m, v, steps = _cpu_state()
    be = NumpyOptim()
    benchmark(lambda: be.adam_step(params, grads, m, v, None, steps, **HYPER))


def test_raw_numpy_adam_loop(benchmark):
    params, grads, m, v, steps = _cpu_state()
    benchmark(lambda: raw_numpy_adamw(params, grads, m, v, steps, **HYPER))


# --------------------------------------------------------------------------------------------- GPU
def gpu_bench_adamw(out, warmup=5, repeat=20):
    """Time one AdamW step over GPT-2-124M shapes on cuda; fills ``out`` with ms, GB/s and % of copy
    bandwidth for tritongrad (fused) and, when torch is installed, torch fused and foreach. Returns ``out``."""
    import tritongrad as tg
    from tritongrad import optim, runtime

    from . import gpu_timer

    shapes = gpt2_124m_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    nbytes = numel * BYTES_PER_ELEMENT_ADAMW
    tg.manual_seed(0)
    params = [(tg.randn(*s, device="cuda") * 0.02).requires_grad_() for s in shapes]
    for p in params:
        p.grad = tg.randn(*p.shape, device="cuda") * 1e-3
    opt = optim.AdamW(params, lr=6e-4, weight_decay=0.1)
    ms = gpu_timer.benchmark(opt.step, warmup=warmup, repeats=repeat).median_ms

    src = runtime.empty((numel,), np.float32)
    dst = runtime.empty((numel,), np.float32)
    copy_ms = gpu_timer.benchmark(lambda: runtime.copy_device_to_device(dst, src), warmup=warmup,
                                  repeats=repeat).median_ms
    copy_gbs = 2 * src.nbytes / copy_ms / 1e6
    out.update(adamw_tensors=len(shapes), adamw_numel=numel, copy_gbs=round(copy_gbs, 1))
    _record(out, "tritongrad_fused", ms, nbytes, copy_gbs)

    try:
        import torch
    except ImportError:
        out["torch"] = "not installed"
        return out
    tparams = [torch.nn.Parameter(torch.randn(*s, device="cuda") * 0.02) for s in shapes]
    for p in tparams:
        p.grad = torch.randn_like(p) * 1e-3
    for name, kw in (("torch_fused", dict(fused=True)), ("torch_foreach", dict(foreach=True))):
        topt = torch.optim.AdamW(tparams, lr=6e-4, weight_decay=0.1, **kw)
        _record(out, name, _torch_time_ms(torch, topt.step, warmup, repeat), nbytes, copy_gbs)
    out["tritongrad_vs_torch_fused"] = round(out["torch_fused_ms"] / out["tritongrad_fused_ms"], 3)
    return out


def _record(out, name, ms, nbytes, copy_gbs):
    gbs = nbytes / ms / 1e6
    out[f"{name}_ms"] = round(ms, 4)
    out[f"{name}_gbs"] = round(gbs, 1)
    out[f"{name}_pct_copy"] = round(100 * gbs / copy_gbs, 1)


def _torch_time_ms(torch, fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))
