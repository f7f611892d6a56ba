"""Fused multi-tensor optimizer steps: SGD, Adam/AdamW, RMSprop, Adagrad -- one launch for a list of tensors.

What it computes: PyTorch's update rules (``torch/optim/{sgd,adam,adamw,rmsprop,adagrad}.py``, single-tensor
order of operations) for every tensor of a list in ONE kernel launch, plus one tiny launch that increments the
per-tensor step counters (SGD has none). Math in fp32; parameters (and their gradients) fp32, fp16 or bf16;
optimizer state always fp32. All arrays must be C-contiguous `DeviceArray`s on one device, one parameter
dtype per launch (the optimizer groups a param group by device and dtype).

Why multi-tensor and not flat buffers. Flat buffers would need the parameters, gradients and state to live in
one allocation each; parameters are created by the user (and gradients by backward) wherever the allocator
put them, so flattening means copying every gradient in and every parameter out each step: ~2x the memory
traffic of the update itself. Instead the launch reads a small int64 *table* on the device:
row 0 the element counts, then one row of addresses per operand (parameter, gradient, each state buffer,
the step counter, per-tensor flags), one column per tensor, and an int32 *block map* (rows: tensor index,
block index inside that tensor) with one entry per program. A program loads its tensor's addresses from the
table, casts them to pointers and updates ``BLOCK`` contiguous elements, unmasked (with 16-byte alignment
hints, so loads vectorize) unless it is the tensor's last, partial block. Traffic is the minimum: read
param, grad and state, write param and state.

Caching and graph capture. The caller passes a ``cache`` dict per (param group, device, dtype). The table,
block map and hyperparameter array are built on the host as NumPy arrays, compared with the cached copies,
and written to the device only when they differ, *in place* (same device address; re-allocated only when
the number of tensors or blocks changes). With a stable parameter list that is: the block map once, the table
whenever gradient addresses change (backward makes new gradient buffers), the hyperparameters whenever a
scheduler changes one. The learning rate, betas, eps, weight decay ... live in that small fp32 device array
(``hyper``) and the step counts in per-tensor fp32 device scalars (the optimizer's ``state['step']``):
the kernel reads both, so a new learning rate never recompiles, bias corrections are computed on the device
from the device step (no host synchronization), and a captured CUDA graph replays with whatever lr was last
written. The writes use ``runtime.copy_host_to_device`` (a host->device copy of a few bytes per changed
array, outside capture; it must be ordered on the current stream, which is what makes in-place updates
safe while an earlier step's kernel may still be queued).

Limits: contiguous operands only (raises otherwise); float32/float16/bfloat16 parameters; state float32;
up to 2**31 - 1 programs per launch.
"""
from __future__ import annotations

import math

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import cast_to

__all__ = ["sgd_fwd", "adam_fwd", "rmsprop_fwd", "adagrad_fwd", "aot_specs", "default_block"]

NUM_WARPS = 16
"""Warps of the update kernels: 8 elements of a 4096 block per thread (8 warps, 16 elements a thread, spilled 4 B
in RMSprop's bf16 update with triton 3.6)."""
STEP_BLOCK = 128  # tensors per program of the step-counter kernel


def default_block():
    """Elements per program: 4096 when compiled; 128 in the interpreter so that small test tensors still span
    several full blocks plus a partial one (the kernel code is the same)."""
    return 128 if runtime.interpreting() else 4096


# ---------------------------------------------------------------------------------------------- jit helpers
@triton.jit
def _locate(blocks_ptr, table_ptr, n_blocks, BLOCK: tl.constexpr):
    """This program's tensor ``t``, element offsets, element count and whether the block is full."""
    pid = tl.program_id(0).to(tl.int64)
    t = tl.load(blocks_ptr + pid).to(tl.int64)
    blk = tl.load(blocks_ptr + n_blocks + pid).to(tl.int64)
    n = tl.load(table_ptr + t)
    start = blk * BLOCK
    offs = tl.max_contiguous(tl.multiple_of(start + tl.arange(0, BLOCK), BLOCK), BLOCK)
    return t, offs, n, start + BLOCK <= n


@triton.jit
def _operand(table_ptr, row, n_tensors, t, like_ptr, ALIGNED: tl.constexpr):
    """The address in table[row, t], as a pointer of ``like_ptr``'s type (16-byte aligned if ALIGNED)."""
    p = tl.load(table_ptr + row * n_tensors + t).to(like_ptr.dtype)
    if ALIGNED:
        p = tl.multiple_of(p, 16)
    return p


@triton.jit
def _scalar_at(table_ptr, row, n_tensors, t, like_ptr):
    """The fp32 value at the address in table[row, t] (e.g. the tensor's step count)."""
    return tl.load(tl.load(table_ptr + row * n_tensors + t).to(like_ptr.dtype))


@triton.jit
def _one_minus_pow(log_base, step):
    """``1 - base ** step`` from ``log(base)``, accurate near 0 (a Taylor ``expm1`` for small exponents)."""
    x = step * log_base
    series = x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (
        1.0 / 720.0 + x * (1.0 / 5040.0)))))))
    return -tl.where(tl.abs(x) < 0.25, series, tl.exp(x) - 1.0)


@triton.jit
def _grad_in(g_ptr, p_ptr, offs, mask, wd, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr):
    """(grad, param) in fp32: grad negated if MAXIMIZE and with L2 weight decay ``grad + wd * param``."""
    g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    if HAS_WD:
        g = g + wd * p
    return g, p


# ---------------------------------------------------------------------------------------------- step counter
@triton.jit
def _step_count_fwd_kernel(table_ptr,   # int64 [rows, n_tensors]
                           step_like_ptr,  # any fp32 pointer: gives the counters' pointer type
                           found_inf_ptr,  # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                           row,         # table row holding the counters' addresses
                           n_tensors,
                           BLOCK: tl.constexpr):
    """``step += 1`` for the fp32 counter of every tensor (runs before the update kernel), unless the step is
    skipped."""
    idx = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < n_tensors
    ptrs = tl.load(table_ptr + row * n_tensors + idx, mask=mask, other=0).to(step_like_ptr.dtype)
    s = tl.load(ptrs, mask=mask, other=0.0)
    tl.store(ptrs, s + tl.where(tl.load(found_inf_ptr) == 0.0, 1.0, 0.0), mask=mask)


# ---------------------------------------------------------------------------------------------- SGD
# table rows: 0 numel, 1 param, 2 grad, 3 momentum buffer, 4 first-step flag
# hyper: lr, momentum, 1 - dampening, weight_decay
@triton.jit
def _sgd_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, lr, momentum, damp_c, wd,
                HAS_MOMENTUM: tl.constexpr, NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr,
                HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, wd, MAXIMIZE, HAS_WD)
    if HAS_MOMENTUM:
        b_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
        first = tl.load(table_ptr + 4 * n_tensors + t) != 0
        buf = tl.where(first, g, tl.load(b_ptr + offs, mask=mask).to(tl.float32) * momentum + damp_c * g)
        tl.store(b_ptr + offs, cast_to(buf, b_ptr.dtype.element_ty), mask=mask)
        if NESTEROV:
            g = g + momentum * buf
        else:
            g = buf
    tl.store(p_ptr + offs, cast_to(p + (-lr) * g, p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sgd_fwd_kernel(table_ptr,        # int64 [5, n_tensors], see rows above
                    blocks_ptr,       # int32 [2, n_blocks]: tensor index, block index in the tensor
                    hyper_ptr,        # fp32 [4]
                    param_like_ptr,   # the first parameter: gives the parameter pointer type
                    state_like_ptr,   # any fp32 pointer: gives the state pointer type
                    found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                    n_tensors, n_blocks,
                    BLOCK: tl.constexpr, HAS_MOMENTUM: tl.constexpr, NESTEROV: tl.constexpr,
                    MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        lr = tl.load(hyper_ptr)
        momentum = tl.load(hyper_ptr + 1)
        damp_c = tl.load(hyper_ptr + 2)
        wd = tl.load(hyper_ptr + 3)
        if full:
            _sgd_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, lr, momentum, damp_c,
                        wd, HAS_MOMENTUM, NESTEROV, MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _sgd_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, lr, momentum,
                        damp_c, wd, HAS_MOMENTUM, NESTEROV, MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- Adam / AdamW
# table rows: 0 numel, 1 param, 2 grad, 3 exp_avg, 4 exp_avg_sq, 5 max_exp_avg_sq, 6 step
# hyper: lr, beta2, 1 - beta1, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, log(beta1), log(beta2)
@triton.jit
def _adam_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                 AMSGRAD: tl.constexpr, DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr,
                 ALIGNED: tl.constexpr):
    lr = tl.load(hyper_ptr)
    beta2 = tl.load(hyper_ptr + 1)
    omb1 = tl.load(hyper_ptr + 2)
    omb2 = tl.load(hyper_ptr + 3)
    eps = tl.load(hyper_ptr + 4)
    wd = tl.load(hyper_ptr + 5)
    decay = tl.load(hyper_ptr + 6)
    step = _scalar_at(table_ptr, 6, n_tensors, t, state_like_ptr)
    step_size = lr / _one_minus_pow(tl.load(hyper_ptr + 7), step)
    bc2_sqrt = tl.sqrt(_one_minus_pow(tl.load(hyper_ptr + 8), step))

    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    m_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    v_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, wd, MAXIMIZE, HAS_WD and not DECOUPLED)
    if HAS_WD and DECOUPLED:
        p = p * decay
    m = tl.load(m_ptr + offs, mask=mask).to(tl.float32)
    m = m + omb1 * (g - m)
    v = tl.load(v_ptr + offs, mask=mask).to(tl.float32) * beta2 + omb2 * (g * g)
    tl.store(m_ptr + offs, cast_to(m, m_ptr.dtype.element_ty), mask=mask)
    tl.store(v_ptr + offs, cast_to(v, v_ptr.dtype.element_ty), mask=mask)
    if AMSGRAD:
        vmax_ptr = _operand(table_ptr, 5, n_tensors, t, state_like_ptr, ALIGNED)
        v = tl.maximum(tl.load(vmax_ptr + offs, mask=mask).to(tl.float32), v)
        tl.store(vmax_ptr + offs, cast_to(v, vmax_ptr.dtype.element_ty), mask=mask)
    denom = tl.sqrt(v) / bc2_sqrt + eps
    tl.store(p_ptr + offs, cast_to(p + (-step_size) * (m / denom), p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _adam_fwd_kernel(table_ptr,        # int64 [7, n_tensors], see rows above
                     blocks_ptr,       # int32 [2, n_blocks]
                     hyper_ptr,        # fp32 [9]
                     param_like_ptr, state_like_ptr,
                     found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                     n_tensors, n_blocks,
                     BLOCK: tl.constexpr, AMSGRAD: tl.constexpr, DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr,
                     HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _adam_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                         AMSGRAD, DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _adam_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                         AMSGRAD, DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- RMSprop
# table rows: 0 numel, 1 param, 2 grad, 3 square_avg, 4 grad_avg, 5 momentum buffer, 6 step
# hyper: lr, alpha, 1 - alpha, eps, weight_decay, momentum
@triton.jit
def _rmsprop_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                    CENTERED: tl.constexpr, HAS_MOMENTUM: tl.constexpr, MAXIMIZE: tl.constexpr,
                    HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    lr = tl.load(hyper_ptr)
    alpha = tl.load(hyper_ptr + 1)
    oma = tl.load(hyper_ptr + 2)
    eps = tl.load(hyper_ptr + 3)
    wd = tl.load(hyper_ptr + 4)
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    sq_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, wd, MAXIMIZE, HAS_WD)
    sq = tl.load(sq_ptr + offs, mask=mask).to(tl.float32) * alpha + oma * (g * g)
    tl.store(sq_ptr + offs, cast_to(sq, sq_ptr.dtype.element_ty), mask=mask)
    if CENTERED:
        ga_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
        ga = tl.load(ga_ptr + offs, mask=mask).to(tl.float32)
        ga = ga + oma * (g - ga)
        tl.store(ga_ptr + offs, cast_to(ga, ga_ptr.dtype.element_ty), mask=mask)
        avg = tl.sqrt(sq - ga * ga) + eps
    else:
        avg = tl.sqrt(sq) + eps
    if HAS_MOMENTUM:
        b_ptr = _operand(table_ptr, 5, n_tensors, t, state_like_ptr, ALIGNED)
        buf = tl.load(b_ptr + offs, mask=mask).to(tl.float32) * tl.load(hyper_ptr + 5) + g / avg
        tl.store(b_ptr + offs, cast_to(buf, b_ptr.dtype.element_ty), mask=mask)
        p = p + (-lr) * buf
    else:
        p = p + (-lr) * (g / avg)
    tl.store(p_ptr + offs, cast_to(p, p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rmsprop_fwd_kernel(table_ptr,     # int64 [7, n_tensors], see rows above
                        blocks_ptr,    # int32 [2, n_blocks]
                        hyper_ptr,     # fp32 [6]
                        param_like_ptr, state_like_ptr,
                        found_inf_ptr,  # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                        n_tensors, n_blocks,
                        BLOCK: tl.constexpr, CENTERED: tl.constexpr, HAS_MOMENTUM: tl.constexpr,
                        MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _rmsprop_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                            CENTERED, HAS_MOMENTUM, MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _rmsprop_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                            CENTERED, HAS_MOMENTUM, MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- Adagrad
# table rows: 0 numel, 1 param, 2 grad, 3 sum, 4 step
# hyper: lr, lr_decay, eps, weight_decay
@triton.jit
def _adagrad_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                    MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    step = _scalar_at(table_ptr, 4, n_tensors, t, state_like_ptr)
    clr = tl.load(hyper_ptr) / (1.0 + (step - 1.0) * tl.load(hyper_ptr + 1))
    eps = tl.load(hyper_ptr + 2)
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    s_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, tl.load(hyper_ptr + 3), MAXIMIZE, HAS_WD)
    s = tl.load(s_ptr + offs, mask=mask).to(tl.float32) + g * g
    tl.store(s_ptr + offs, cast_to(s, s_ptr.dtype.element_ty), mask=mask)
    tl.store(p_ptr + offs, cast_to(p + (-clr) * (g / (tl.sqrt(s) + eps)), p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _adagrad_fwd_kernel(table_ptr,     # int64 [5, n_tensors], see rows above
                        blocks_ptr,    # int32 [2, n_blocks]
                        hyper_ptr,     # fp32 [4]
                        param_like_ptr, state_like_ptr,
                        found_inf_ptr,  # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                        n_tensors, n_blocks,
                        BLOCK: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _adagrad_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                            MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _adagrad_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                            MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- host side
_PARAM_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype("bfloat16"))
_F32 = np.dtype(np.float32)
_NO_INF = np.zeros((), np.float32)


def _check(name, arrays, like, dtype):
    """Every array in ``arrays`` must be contiguous, on ``like``'s device, shaped like it, of ``dtype``."""
    for i, (a, ref) in enumerate(zip(arrays, like)):
        if a is None:
            raise ValueError(f"{name}[{i}] is missing")
        if a.shape != ref.shape:
            raise ValueError(f"{name}[{i}] has shape {a.shape}, its parameter has shape {ref.shape}")
        if a.dtype != dtype:
            raise TypeError(f"{name}[{i}] has dtype {a.dtype}, expected {dtype}")
        if a.device != ref.device:
            raise RuntimeError(f"{name}[{i}] is on cuda:{a.device}, its parameter on cuda:{ref.device}")
        if not a.is_contiguous():
            raise ValueError(f"{name}[{i}] is not contiguous (strides {a.strides}); the fused optimizer step "
                             "needs contiguous parameters, gradients and state")


def _check_inputs(params, grads):
    if len(params) == 0:
        raise ValueError("the fused optimizer step got no parameters")
    if len(grads) != len(params):
        raise ValueError(f"got {len(grads)} gradients for {len(params)} parameters")
    dtype = params[0].dtype
    if dtype not in _PARAM_DTYPES:
        raise TypeError(f"the fused optimizer step supports float32, float16 and bfloat16 parameters, got {dtype}")
    _check("params", params, params, dtype)
    _check("grads", grads, params, dtype)


def _upload(cache, key, host):
    """The device copy of ``host`` kept in ``cache[key]``: written only when the values change, in place
    unless the shape changed."""
    old = cache.get(key)
    if old is not None and old[0].shape == host.shape and np.array_equal(old[0], host):
        return old[1]
    dev = old[1] if old is not None and old[0].shape == host.shape else runtime.empty(host.shape, host.dtype,
                                                                                       device=cache["device"])
    # stream-ordered and asynchronous (small uploads are staged through the runtime's pinned ring), so a
    # training step never waits on the host
    runtime.copy_host_to_device(dev, host, non_blocking=True)
    cache[key] = (host, dev)
    return dev


def _block_map(sizes, block):
    """int32 [2, n_blocks]: for each program, its tensor index and its block index inside that tensor."""
    counts = [-(-n // block) for n in sizes]
    tensor = np.repeat(np.arange(len(sizes), dtype=np.int32), counts)
    starts = np.cumsum([0] + counts[:-1])
    index = np.arange(sum(counts), dtype=np.int64) - np.repeat(starts, counts)
    return np.stack([tensor, index.astype(np.int32)])


def _launch(kernel, rows, hyper, params, *, cache, block, flags_row=None, step_row=None, found_inf=None, before=None,
            **flags):
    """Shared launch path: table + block map + hyperparameters to the device, step counters, update.

    ``rows`` are lists of arrays (None where an operand is unused) whose addresses fill table rows 1..;
    ``flags_row`` an optional list of per-tensor ints appended as the last row; ``found_inf`` an fp32 0-d
    device array that skips the whole step (update and step counters) when nonzero, read by the kernels on
    the device (`tritongrad.amp.GradScaler`); without it a cached device zero is passed. ``before`` is an
    optimizer's own per-tensor pre-update kernel (NAdam's step and momentum product), launched instead of the
    step counter kernel as ``before[grid](table, hyper, state_like, found_inf, n_tensors, BLOCK=STEP_BLOCK)``."""
    cache = {} if cache is None else cache
    block = default_block() if block is None else block
    cache["device"] = params[0].device
    sizes = [a.numel() for a in params]
    arrays = [a for row in rows for a in row if a is not None]
    aligned = all(a.data_ptr() % 16 == 0 for a in arrays)
    ptr_rows = [[0 if a is None else a.data_ptr() for a in row] for row in rows]
    table = np.array([sizes] + ptr_rows + ([] if flags_row is None else [flags_row]), dtype=np.int64)
    table_dev = _upload(cache, "table", table)
    blocks = _upload(cache, ("blocks", block), _block_map(sizes, block))
    hyper_dev = _upload(cache, "hyper", np.asarray(hyper, dtype=np.float32))
    state_like = hyper_dev  # any fp32 device array: only its pointer type is used
    if found_inf is None:
        found_inf = _upload(cache, "no_inf", _NO_INF)
    elif found_inf.dtype != _F32 or found_inf.numel() != 1 or found_inf.device != params[0].device:
        raise TypeError(f"found_inf must be a one-element float32 array on cuda:{params[0].device}, got "
                        f"{found_inf.dtype} {found_inf.shape} on cuda:{found_inf.device}")
    if before is not None:
        before[(triton.cdiv(len(params), STEP_BLOCK),)](table_dev, hyper_dev, state_like, found_inf, len(params),
                                                        BLOCK=STEP_BLOCK)
    elif step_row is not None:
        _step_count_fwd_kernel[(triton.cdiv(len(params), STEP_BLOCK),)](
            table_dev, state_like, found_inf, step_row, len(params), BLOCK=STEP_BLOCK)
    n_blocks = blocks.shape[1]
    if n_blocks == 0:
        return
    kernel[(n_blocks,)](table_dev, blocks, hyper_dev, params[0], state_like, found_inf, len(params), n_blocks,
                        BLOCK=block, ALIGNED=aligned, num_warps=NUM_WARPS, **flags)


def _log(beta):
    return math.log(beta) if beta > 0 else -math.inf


def sgd_fwd(params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
            cache=None, block=None, found_inf=None):
    """``torch.optim.SGD``'s step for every (param, grad) pair in one launch, in place. With momentum,
    ``momentum_buffers`` holds an fp32 array or None per parameter; a None is replaced by a new buffer that the
    kernel sets to the gradient (PyTorch's first step, no dampening)."""
    _check_inputs(params, grads)
    has_momentum = momentum != 0
    first = [0] * len(params)
    if has_momentum:
        for i, p in enumerate(params):
            if momentum_buffers[i] is None:
                momentum_buffers[i] = runtime.empty(p.shape, _F32, device=p.device)
                first[i] = 1
        _check("momentum_buffers", momentum_buffers, params, _F32)
    rows = [params, grads, momentum_buffers if has_momentum else [None] * len(params)]
    _launch(_sgd_fwd_kernel, rows, [lr, momentum, 1 - dampening, weight_decay], params, cache=cache, block=block,
            found_inf=found_inf,
            flags_row=first, HAS_MOMENTUM=has_momentum, NESTEROV=bool(nesterov), MAXIMIZE=bool(maximize),
            HAS_WD=weight_decay != 0)


def adam_fwd(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps,
             weight_decay, decoupled, amsgrad, maximize, cache=None, block=None, found_inf=None):
    """``torch.optim.Adam`` (``decoupled=False``) or ``AdamW`` (``decoupled=True``) for every parameter in one
    launch, in place; ``state_steps`` are fp32 0-d device counters, incremented on the device first."""
    _check_inputs(params, grads)
    _check("exp_avgs", exp_avgs, params, _F32)
    _check("exp_avg_sqs", exp_avg_sqs, params, _F32)
    if amsgrad:
        _check("max_exp_avg_sqs", max_exp_avg_sqs, params, _F32)
    _check_steps(state_steps, params)
    rows = [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if amsgrad else [None] * len(params),
            state_steps]
    hyper = [lr, beta2, 1 - beta1, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, _log(beta1), _log(beta2)]
    _launch(_adam_fwd_kernel, rows, hyper, params, cache=cache, block=block, found_inf=found_inf, step_row=6,
            AMSGRAD=bool(amsgrad), DECOUPLED=bool(decoupled), MAXIMIZE=bool(maximize), HAS_WD=weight_decay != 0)


def rmsprop_fwd(params, grads, square_avgs, grad_avgs, momentum_buffers, state_steps, *, lr, alpha, eps,
                weight_decay, momentum, centered, maximize, cache=None, block=None, found_inf=None):
    """``torch.optim.RMSprop`` for every parameter in one launch, in place (``grad_avgs`` used when
    ``centered``, ``momentum_buffers`` when ``momentum > 0``)."""
    _check_inputs(params, grads)
    _check("square_avgs", square_avgs, params, _F32)
    none = [None] * len(params)
    if centered:
        _check("grad_avgs", grad_avgs, params, _F32)
    if momentum > 0:
        _check("momentum_buffers", momentum_buffers, params, _F32)
    _check_steps(state_steps, params)
    rows = [params, grads, square_avgs, grad_avgs if centered else none,
            momentum_buffers if momentum > 0 else none, state_steps]
    _launch(_rmsprop_fwd_kernel, rows, [lr, alpha, 1 - alpha, eps, weight_decay, momentum], params, cache=cache,
            block=block, step_row=6, CENTERED=bool(centered), HAS_MOMENTUM=momentum > 0, MAXIMIZE=bool(maximize),
            HAS_WD=weight_decay != 0)


def adagrad_fwd(params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps, maximize, cache=None,
                block=None, found_inf=None):
    """``torch.optim.Adagrad`` (dense) for every parameter in one launch, in place."""
    _check_inputs(params, grads)
    _check("state_sums", state_sums, params, _F32)
    _check_steps(state_steps, params)
    _launch(_adagrad_fwd_kernel, [params, grads, state_sums, state_steps], [lr, lr_decay, eps, weight_decay],
            params, cache=cache, block=block, found_inf=found_inf, step_row=4, MAXIMIZE=bool(maximize),
            HAS_WD=weight_decay != 0)


def _check_steps(state_steps, params):
    for i, (s, p) in enumerate(zip(state_steps, params)):
        if s.dtype != _F32 or s.numel() != 1 or s.device != p.device:
            raise TypeError(f"state_steps[{i}] must be a one-element float32 array on cuda:{p.device}, "
                            f"got {s.dtype} {s.shape} on cuda:{s.device}")



# ---------------------------------------------------------------------------------------------- AOT
def aot_specs():
    """(name, jit_fn, signature, constexprs, options) for every kernel in its main configurations."""
    opts = {"num_warps": NUM_WARPS, "num_stages": 1}
    common = {"table_ptr": "*i64", "blocks_ptr": "*i32", "hyper_ptr": "*fp32", "param_like_ptr": None,
              "state_like_ptr": "*fp32", "found_inf_ptr": "*fp32", "n_tensors": "i32", "n_blocks": "i32",
              "BLOCK": "constexpr"}
    configs = [
        (_sgd_fwd_kernel, dict(HAS_MOMENTUM=True, NESTEROV=False, MAXIMIZE=False, HAS_WD=True)),
        (_sgd_fwd_kernel, dict(HAS_MOMENTUM=True, NESTEROV=True, MAXIMIZE=True, HAS_WD=False)),
        (_adam_fwd_kernel, dict(AMSGRAD=False, DECOUPLED=True, MAXIMIZE=False, HAS_WD=True)),
        (_adam_fwd_kernel, dict(AMSGRAD=True, DECOUPLED=False, MAXIMIZE=True, HAS_WD=True)),
        (_rmsprop_fwd_kernel, dict(CENTERED=True, HAS_MOMENTUM=True, MAXIMIZE=False, HAS_WD=True)),
        (_rmsprop_fwd_kernel, dict(CENTERED=False, HAS_MOMENTUM=False, MAXIMIZE=True, HAS_WD=False)),
        (_adagrad_fwd_kernel, dict(MAXIMIZE=False, HAS_WD=True)),
    ]
    variants = [("fp32", True), ("bf16", True), ("fp16", False)]
    for i, (fn, flags) in enumerate(configs):
        for ptype, aligned in variants[:2] if i % 2 else variants:
            sig = dict(common, param_like_ptr=f"*{ptype}", **{k: "constexpr" for k in flags}, ALIGNED="constexpr")
            consts = dict(flags, BLOCK=4096, ALIGNED=aligned)
            name = f"{fn.__name__}_{i}_{ptype}_{'aligned' if aligned else 'unaligned'}"
            yield (name, fn, sig, consts, opts)
    yield ("_step_count_fwd_kernel", _step_count_fwd_kernel,
           {"table_ptr": "*i64", "step_like_ptr": "*fp32", "found_inf_ptr": "*fp32", "row": "i32",
            "n_tensors": "i32", "BLOCK": "constexpr"},
           {"BLOCK": STEP_BLOCK}, {"num_warps": 4, "num_stages": 1})
