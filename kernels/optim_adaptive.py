"""Fused multi-tensor steps of Adadelta, Adamax, NAdam and RAdam: one launch for a list of tensors.

What it computes: PyTorch's update rules (``torch/optim/{adadelta,adamax,nadam,radam}.py``, single-tensor
order of operations), with the launch machinery of ``kernels/optim.py`` (the device table of addresses, the
block map, hyperparameters in a small fp32 device array, per-tensor fp32 step counters incremented on the
device by a tiny launch first, and ``found_inf`` that skips the step on the device for
`tritongrad.amp.GradScaler`). NAdam's running product of momentum coefficients (``mu_product``, one fp32
device scalar per tensor, as PyTorch's state) is advanced in that first launch too, so every program of the
update reads the same value. Math in fp32; parameters fp32, fp16 or bf16; state fp32.

Limits: as ``kernels/optim.py``: contiguous operands, one parameter dtype per launch.
"""
from __future__ import annotations

import math

import triton
import triton.language as tl

from ._common import cast_to
from .optim import (_F32, NUM_WARPS, STEP_BLOCK, _check, _check_inputs, _check_steps, _grad_in, _launch, _locate,
                    _log, _one_minus_pow, _operand, _scalar_at)

__all__ = ["adadelta_fwd", "adamax_fwd", "nadam_fwd", "radam_fwd", "aot_specs"]


# ---------------------------------------------------------------------------------------------- Adadelta
# table rows: 0 numel, 1 param, 2 grad, 3 square_avg, 4 acc_delta, 5 step
# hyper: lr, rho, 1 - rho, eps, weight_decay
@triton.jit
def _adadelta_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                     MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    lr = tl.load(hyper_ptr)
    rho = tl.load(hyper_ptr + 1)
    omr = tl.load(hyper_ptr + 2)
    eps = tl.load(hyper_ptr + 3)
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    v_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    u_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, tl.load(hyper_ptr + 4), MAXIMIZE, HAS_WD)
    v = tl.load(v_ptr + offs, mask=mask) * rho + omr * (g * g)
    u = tl.load(u_ptr + offs, mask=mask)
    delta = tl.sqrt(u + eps) / tl.sqrt(v + eps) * g
    tl.store(v_ptr + offs, v, mask=mask)
    tl.store(u_ptr + offs, u * rho + omr * (delta * delta), mask=mask)
    tl.store(p_ptr + offs, cast_to(p + (-lr) * delta, p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _adadelta_fwd_kernel(table_ptr,        # int64 [6, n_tensors], see rows above
                         blocks_ptr,       # int32 [2, n_blocks]
                         hyper_ptr,        # fp32 [5]
                         param_like_ptr, state_like_ptr,
                         found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                         n_tensors, n_blocks,
                         BLOCK: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _adadelta_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                             MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _adadelta_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                             MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- Adamax
# table rows: 0 numel, 1 param, 2 grad, 3 exp_avg, 4 exp_inf, 5 step
# hyper: lr, 1 - beta1, beta2, eps, weight_decay, log(beta1)
@triton.jit
def _adamax_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                   MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    step = _scalar_at(table_ptr, 5, n_tensors, t, state_like_ptr)
    clr = tl.load(hyper_ptr) / _one_minus_pow(tl.load(hyper_ptr + 5), step)
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    m_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    u_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, tl.load(hyper_ptr + 4), MAXIMIZE, HAS_WD)
    m = tl.load(m_ptr + offs, mask=mask)
    m = m + tl.load(hyper_ptr + 1) * (g - m)
    u = tl.maximum(tl.load(u_ptr + offs, mask=mask) * tl.load(hyper_ptr + 2), tl.abs(g) + tl.load(hyper_ptr + 3))
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(u_ptr + offs, u, mask=mask)
    tl.store(p_ptr + offs, cast_to(p + (-clr) * (m / u), p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _adamax_fwd_kernel(table_ptr,        # int64 [6, n_tensors], see rows above
                       blocks_ptr,       # int32 [2, n_blocks]
                       hyper_ptr,        # fp32 [6]
                       param_like_ptr, state_like_ptr,
                       found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                       n_tensors, n_blocks,
                       BLOCK: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _adamax_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                           MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _adamax_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                           MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- NAdam
# table rows: 0 numel, 1 param, 2 grad, 3 exp_avg, 4 exp_avg_sq, 5 mu_product, 6 step
# hyper: lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, log(beta2),
#        momentum_decay * log(0.96)
@triton.jit
def _nadam_mu(hyper_ptr, step):
    """``beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))``."""
    return tl.load(hyper_ptr + 1) * (1.0 - 0.5 * tl.exp(step * tl.load(hyper_ptr + 9)))


@triton.jit
def _nadam_step_fwd_kernel(table_ptr,      # int64 [7, n_tensors]
                           hyper_ptr,      # fp32 [10]
                           state_like_ptr,
                           found_inf_ptr,  # fp32 []: nonzero means skip this step
                           n_tensors,
                           BLOCK: tl.constexpr):
    """``step += 1; mu_product *= mu(step)`` for every tensor (before the update), unless skipped."""
    idx = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < n_tensors
    step_ptrs = tl.load(table_ptr + 6 * n_tensors + idx, mask=mask, other=0).to(state_like_ptr.dtype)
    mu_ptrs = tl.load(table_ptr + 5 * n_tensors + idx, mask=mask, other=0).to(state_like_ptr.dtype)
    skip = tl.load(found_inf_ptr) != 0.0
    step = tl.load(step_ptrs, mask=mask, other=0.0) + tl.where(skip, 0.0, 1.0)
    mu = tl.where(skip, 1.0, _nadam_mu(hyper_ptr, step))
    tl.store(step_ptrs, step, mask=mask)
    tl.store(mu_ptrs, tl.load(mu_ptrs, mask=mask, other=1.0) * mu, mask=mask)


@triton.jit
def _nadam_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                  DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    lr = tl.load(hyper_ptr)
    step = _scalar_at(table_ptr, 6, n_tensors, t, state_like_ptr)
    mu_product = _scalar_at(table_ptr, 5, n_tensors, t, state_like_ptr)
    mu = _nadam_mu(hyper_ptr, step)
    mu_next = _nadam_mu(hyper_ptr, step + 1.0)
    bc2 = _one_minus_pow(tl.load(hyper_ptr + 8), step)
    c_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
    c_avg = -lr * mu_next / (1.0 - mu_product * mu_next)
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    m_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    v_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, tl.load(hyper_ptr + 6), MAXIMIZE, HAS_WD and not DECOUPLED)
    if HAS_WD and DECOUPLED:
        p = p * tl.load(hyper_ptr + 7)
    m = tl.load(m_ptr + offs, mask=mask)
    m = m + tl.load(hyper_ptr + 2) * (g - m)
    v = tl.load(v_ptr + offs, mask=mask) * tl.load(hyper_ptr + 3) + tl.load(hyper_ptr + 4) * (g * g)
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    denom = tl.sqrt(v / bc2) + tl.load(hyper_ptr + 5)
    p = p + c_grad * (g / denom)
    p = p + c_avg * (m / denom)
    tl.store(p_ptr + offs, cast_to(p, p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _nadam_fwd_kernel(table_ptr,        # int64 [7, n_tensors], see rows above
                      blocks_ptr,       # int32 [2, n_blocks]
                      hyper_ptr,        # fp32 [10]
                      param_like_ptr, state_like_ptr,
                      found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                      n_tensors, n_blocks,
                      BLOCK: tl.constexpr, DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr,
                      ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _nadam_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                          DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _nadam_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                          DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- RAdam
# table rows: 0 numel, 1 param, 2 grad, 3 exp_avg, 4 exp_avg_sq, 5 step
# hyper: lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, log(beta1), log(beta2), rho_inf
@triton.jit
def _radam_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, hyper_ptr,
                  DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr, ALIGNED: tl.constexpr):
    lr = tl.load(hyper_ptr)
    step = _scalar_at(table_ptr, 5, n_tensors, t, state_like_ptr)
    bc1 = _one_minus_pow(tl.load(hyper_ptr + 7), step)
    bc2 = _one_minus_pow(tl.load(hyper_ptr + 8), step)
    rho_inf = tl.load(hyper_ptr + 9)
    rho_t = rho_inf - 2.0 * step * tl.exp(step * tl.load(hyper_ptr + 8)) / bc2
    rectify = rho_t > 5.0
    rect = tl.sqrt(tl.where(rectify, (rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                            ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 1.0))
    p_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g_ptr = _operand(table_ptr, 2, n_tensors, t, param_like_ptr, ALIGNED)
    m_ptr = _operand(table_ptr, 3, n_tensors, t, state_like_ptr, ALIGNED)
    v_ptr = _operand(table_ptr, 4, n_tensors, t, state_like_ptr, ALIGNED)
    g, p = _grad_in(g_ptr, p_ptr, offs, mask, tl.load(hyper_ptr + 5), MAXIMIZE, HAS_WD and not DECOUPLED)
    if HAS_WD and DECOUPLED:
        p = p * tl.load(hyper_ptr + 6)
    m = tl.load(m_ptr + offs, mask=mask)
    m = m + tl.load(hyper_ptr + 1) * (g - m)
    v = tl.load(v_ptr + offs, mask=mask) * tl.load(hyper_ptr + 2) + tl.load(hyper_ptr + 3) * (g * g)
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    m_hat = m / bc1
    adaptive = tl.where(rectify, tl.sqrt(bc2) / (tl.sqrt(v) + tl.load(hyper_ptr + 4)) * rect, 1.0)
    tl.store(p_ptr + offs, cast_to(p - m_hat * lr * adaptive, p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _radam_fwd_kernel(table_ptr,        # int64 [6, n_tensors], see rows above
                      blocks_ptr,       # int32 [2, n_blocks]
                      hyper_ptr,        # fp32 [10]
                      param_like_ptr, state_like_ptr,
                      found_inf_ptr,    # fp32 []: nonzero means skip this step (GradScaler found inf/nan)
                      n_tensors, n_blocks,
                      BLOCK: tl.constexpr, DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr, HAS_WD: tl.constexpr,
                      ALIGNED: tl.constexpr):
    if tl.load(found_inf_ptr) == 0.0:
        t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
        if full:
            _radam_update(table_ptr, n_tensors, t, offs, None, param_like_ptr, state_like_ptr, hyper_ptr,
                          DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)
        else:
            _radam_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, hyper_ptr,
                          DECOUPLED, MAXIMIZE, HAS_WD, ALIGNED)


# ---------------------------------------------------------------------------------------------- host side
def _check_state(params, grads, state_steps, **states):
    _check_inputs(params, grads)
    for name, arrays in states.items():
        _check(name, arrays, params, _F32)
    _check_steps(state_steps, params)


def adadelta_fwd(params, grads, square_avgs, acc_deltas, state_steps, *, lr, rho, eps, weight_decay, maximize,
                 cache=None, block=None, found_inf=None):
    """``torch.optim.Adadelta`` for every parameter in one launch, in place."""
    _check_state(params, grads, state_steps, square_avgs=square_avgs, acc_deltas=acc_deltas)
    _launch(_adadelta_fwd_kernel, [params, grads, square_avgs, acc_deltas, state_steps],
            [lr, rho, 1 - rho, eps, weight_decay], params, cache=cache, block=block, found_inf=found_inf,
            step_row=5, MAXIMIZE=bool(maximize), HAS_WD=weight_decay != 0)


def adamax_fwd(params, grads, exp_avgs, exp_infs, state_steps, *, lr, beta1, beta2, eps, weight_decay, maximize,
               cache=None, block=None, found_inf=None):
    """``torch.optim.Adamax`` for every parameter in one launch, in place."""
    _check_state(params, grads, state_steps, exp_avgs=exp_avgs, exp_infs=exp_infs)
    _launch(_adamax_fwd_kernel, [params, grads, exp_avgs, exp_infs, state_steps],
            [lr, 1 - beta1, beta2, eps, weight_decay, _log(beta1)], params, cache=cache, block=block,
            found_inf=found_inf, step_row=5, MAXIMIZE=bool(maximize), HAS_WD=weight_decay != 0)


def nadam_fwd(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, *, lr, beta1, beta2, eps,
              weight_decay, momentum_decay, decoupled, maximize, cache=None, block=None, found_inf=None):
    """``torch.optim.NAdam`` for every parameter in one launch, in place; ``mu_products`` are fp32 0-d device
    scalars advanced on the device with the step counters."""
    _check_state(params, grads, state_steps, exp_avgs=exp_avgs, exp_avg_sqs=exp_avg_sqs)
    _check_steps(mu_products, params)
    hyper = [lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, _log(beta2),
             momentum_decay * math.log(0.96)]
    rows = [params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps]
    _launch(_nadam_fwd_kernel, rows, hyper, params, cache=cache, block=block, found_inf=found_inf,
            before=_nadam_step_fwd_kernel, DECOUPLED=bool(decoupled), MAXIMIZE=bool(maximize),
            HAS_WD=weight_decay != 0)


def radam_fwd(params, grads, exp_avgs, exp_avg_sqs, state_steps, *, lr, beta1, beta2, eps, weight_decay, decoupled,
              maximize, cache=None, block=None, found_inf=None):
    """``torch.optim.RAdam`` for every parameter in one launch, in place."""
    _check_state(params, grads, state_steps, exp_avgs=exp_avgs, exp_avg_sqs=exp_avg_sqs)
    hyper = [lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, _log(beta1), _log(beta2),
             2 / (1 - beta2) - 1]
    _launch(_radam_fwd_kernel, [params, grads, exp_avgs, exp_avg_sqs, state_steps], hyper, params, cache=cache,
            block=block, found_inf=found_inf, step_row=5, DECOUPLED=bool(decoupled), MAXIMIZE=bool(maximize),
            HAS_WD=weight_decay != 0)


# ---------------------------------------------------------------------------------------------- AOT
def aot_specs():
    """(name, jit_fn, signature, constexprs, options) for every kernel in its main configurations."""
    opts = {"num_warps": NUM_WARPS, "num_stages": 1}
    common = {"table_ptr": "*i64", "blocks_ptr": "*i32", "hyper_ptr": "*fp32", "param_like_ptr": None,
              "state_like_ptr": "*fp32", "found_inf_ptr": "*fp32", "n_tensors": "i32", "n_blocks": "i32",
              "BLOCK": "constexpr", "ALIGNED": "constexpr"}
    configs = [
        (_adadelta_fwd_kernel, dict(MAXIMIZE=False, HAS_WD=True)),
        (_adamax_fwd_kernel, dict(MAXIMIZE=True, HAS_WD=True)),
        (_nadam_fwd_kernel, dict(DECOUPLED=False, MAXIMIZE=False, HAS_WD=True)),
        (_nadam_fwd_kernel, dict(DECOUPLED=True, MAXIMIZE=True, HAS_WD=True)),
        (_radam_fwd_kernel, dict(DECOUPLED=False, MAXIMIZE=False, HAS_WD=True)),
        (_radam_fwd_kernel, dict(DECOUPLED=True, MAXIMIZE=False, HAS_WD=True)),
    ]
    for i, (fn, flags) in enumerate(configs):
        for ptype, aligned in (("fp32", True), ("bf16", True), ("fp16", False)):
            sig = dict(common, param_like_ptr=f"*{ptype}", **{k: "constexpr" for k in flags})
            name = f"{fn.__name__}_{i}_{ptype}_{'aligned' if aligned else 'unaligned'}"
            yield (name, fn, sig, dict(flags, BLOCK=4096, ALIGNED=aligned), opts)
    yield ("_nadam_step_fwd_kernel", _nadam_step_fwd_kernel,
           {"table_ptr": "*i64", "hyper_ptr": "*fp32", "state_like_ptr": "*fp32", "found_inf_ptr": "*fp32",
            "n_tensors": "i32", "BLOCK": "constexpr"}, {"BLOCK": STEP_BLOCK}, {"num_warps": 4, "num_stages": 1})
