"""Recurrent cells (LSTM, GRU, Elman tanh/relu): one fused kernel per time step, forward and backward.

The caller projects the inputs of all steps at once (``gx = x W_ih^T + b_ih``, one matmul). Then, per step:

- `_rnn_cell_fwd_kernel`: program (row block, hidden block J) computes ``h W_hh[g*H + J]^T`` for every gate
  ``g`` with ``tl.dot`` (fp32 accumulators; fp64 for fp64), adds ``b_hh`` and ``gx``, applies the gate
  nonlinearities and the state update (LSTM: ``c' = f c + i g``, ``h' = o tanh(c')``;
  GRU: ``n = tanh(gx_n + r (h W_hn^T + b_hn))``, ``h' = (1 - z) n + z h``; Elman: ``act(gx + h W_hh^T + b_hh)``),
  and stores ``h'``, the fp32 (fp64) cell state and the fp32 (fp64) gate activations backward needs.
  One launch per step, no per-gate launches.
- `_rnn_cell_bwd_kernel`, going back in time: program (row block, hidden block J) first finishes the
  gradient of ``h_t``: ``dy_t + carry + dG_{t+1} W_hh[:, J]`` (``tl.dot`` over the G*H gate columns of the
  next step's gate gradients), then computes this step's gate gradients, ``dc_{t-1}`` and the carry (the part
  of ``dh_{t-1}`` that is not a matmul: GRU's ``dh z``). The weight gradients are matmuls over all steps,
  done by the caller once the loop is over.

Packed sequences: ``n_active`` rows take part at a step; the other rows keep their state (forward) and pass
their gradient on unchanged (backward). Hidden states are in the input dtype (fp32/fp16/bf16/fp64), the cell
state, gate activations, accumulators and the carried gradients in fp32 (in fp64 for fp64 input: the ``ACC``
constexpr; `_ct`). With an LSTM projection (``proj_size``) the cell kernel writes the unprojected ``o tanh(c)``;
the projection is a matmul per step.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec, dot_config, mma
from .elementwise import _tanh
from .matmul import matmul
from .norm import FLOAT_DTYPES, check_operand

__all__ = ["rnn_seq_fwd", "rnn_seq_bwd", "aot_specs", "MODES"]

MODES = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}
_GATES = {0: 4, 1: 3, 2: 1, 3: 1}
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DTYPES = FLOAT_DTYPES + (_F64,)


def _ct(dtype):
    """The cell state's, gates' and accumulators' dtype for inputs of ``dtype``: fp64 for fp64, else fp32."""
    return _F64 if dtype == _F64 else _F32


def _acc(dtype):
    """The kernels' ``ACC`` constexpr (the Triton type of `_ct`)."""
    return tl.float64 if dtype == _F64 else tl.float32


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tile(n_active, B, H, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """This program's rows and hidden units (int64), the in-bounds mask and the mask of active rows."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    inside = (rows < B)[:, None] & (cols < H)[None, :]
    return rows, cols, inside, inside & (rows < n_active)[:, None]


@triton.jit
def _gate_dot(h_ptr, w_ptr, rows, cols, gate, B, H, P, stride_h, stride_wn, stride_wk, PRECISION: tl.constexpr,
              ACC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
    """``h[rows] @ W[gate*H + cols]^T`` (BLOCK_B, BLOCK_H) in ``ACC`` (fp32; fp64 for fp64 operands)."""
    acc = tl.zeros((BLOCK_B, BLOCK_H), ACC)
    wrow = gate * H + cols
    for k0 in range(0, P, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        hk = tl.load(h_ptr + rows[:, None] * stride_h + ks[None, :],
                     mask=(rows < B)[:, None] & (ks < P)[None, :], other=0.0)
        wk = tl.load(w_ptr + wrow[None, :] * stride_wn + ks[:, None] * stride_wk,
                     mask=(cols < H)[None, :] & (ks < P)[:, None], other=0.0)
        acc = mma(hk, wk, acc, False, PRECISION)
    return acc


@triton.jit
def _rnn_cell_fwd_kernel(
    gx_ptr, h_ptr, w_ptr, b_ptr, c_ptr,          # this step: gx (B, G*H), h_{t-1} (B, P), W_hh (G*H, P), b_hh, c_{t-1}
    hout_ptr, cout_ptr, gates_ptr,               # h_t (B, H) (LSTM with projection: o tanh(c)), c_t, gates (B, 4H)
    n_active, B, H, P,
    stride_h, stride_wn, stride_wk,              # gx, c, gates and the outputs are C-contiguous
    MODE: tl.constexpr, HAS_B: tl.constexpr, KEEP_INACTIVE: tl.constexpr, PRECISION: tl.constexpr,
    ACC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
):
    G: tl.constexpr = 4 if MODE == 0 else (3 if MODE == 1 else 1)
    rows, cols, inside, active = _tile(n_active, B, H, BLOCK_B, BLOCK_H)
    gx_at = gx_ptr + rows[:, None] * (G * H) + cols[None, :]
    st_at = rows[:, None] * H + cols[None, :]
    g_at = gates_ptr + rows[:, None] * (4 * H) + cols[None, :]
    a0 = _gate_dot(h_ptr, w_ptr, rows, cols, 0, B, H, P, stride_h, stride_wn, stride_wk,
                   PRECISION, ACC, BLOCK_B, BLOCK_H, BLOCK_K)
    if HAS_B:
        a0 += tl.load(b_ptr + cols, mask=cols < H, other=0.0).to(ACC)[None, :]
    a0 += tl.load(gx_at, mask=active, other=0.0).to(ACC)
    if MODE >= 2:
        h = _tanh(a0) if MODE == 2 else tl.maximum(a0, 0.0)
    else:
        a1 = _gate_dot(h_ptr, w_ptr, rows, cols, 1, B, H, P, stride_h, stride_wn, stride_wk,
                       PRECISION, ACC, BLOCK_B, BLOCK_H, BLOCK_K)
        a2 = _gate_dot(h_ptr, w_ptr, rows, cols, 2, B, H, P, stride_h, stride_wn, stride_wk,
                       PRECISION, ACC, BLOCK_B, BLOCK_H, BLOCK_K)
        if HAS_B:
            a1 += tl.load(b_ptr + H + cols, mask=cols < H, other=0.0).to(ACC)[None, :]
            a2 += tl.load(b_ptr + 2 * H + cols, mask=cols < H, other=0.0).to(ACC)[None, :]
        a1 += tl.load(gx_at + H, mask=active, other=0.0).to(ACC)
        gxn = tl.load(gx_at + 2 * H, mask=active, other=0.0).to(ACC)
        if MODE == 0:
            a3 = _gate_dot(h_ptr, w_ptr, rows, cols, 3, B, H, P, stride_h, stride_wn, stride_wk,
                           PRECISION, ACC, BLOCK_B, BLOCK_H, BLOCK_K)
            if HAS_B:
                a3 += tl.load(b_ptr + 3 * H + cols, mask=cols < H, other=0.0).to(ACC)[None, :]
            a3 += tl.load(gx_at + 3 * H, mask=active, other=0.0).to(ACC)
            i = _sigmoid(a0)
            f = _sigmoid(a1)
            g = _tanh(a2 + gxn)
            o = _sigmoid(a3)
            c_prev = tl.load(c_ptr + st_at, mask=inside, other=0.0)
            c = f * c_prev + i * g
            tl.store(cout_ptr + st_at, tl.where(active, c, c_prev), mask=inside)
            h = o * _tanh(c)
            tl.store(g_at, i, mask=active)
            tl.store(g_at + H, f, mask=active)
            tl.store(g_at + 2 * H, g, mask=active)
            tl.store(g_at + 3 * H, o, mask=active)
        else:
            r = _sigmoid(a0)
            z = _sigmoid(a1)
            n = _tanh(gxn + r * a2)
            h_prev = tl.load(h_ptr + rows[:, None] * stride_h + cols[None, :], mask=inside, other=0.0)
            h = (1.0 - z) * n + z * h_prev.to(ACC)
            tl.store(g_at, r, mask=active)
            tl.store(g_at + H, z, mask=active)
            tl.store(g_at + 2 * H, n, mask=active)
            tl.store(g_at + 3 * H, a2, mask=active)
    h = h.to(hout_ptr.dtype.element_ty)
    if KEEP_INACTIVE:
        h_keep = tl.load(h_ptr + rows[:, None] * stride_h + cols[None, :], mask=inside, other=0.0)
        tl.store(hout_ptr + st_at, tl.where(active, h, h_keep), mask=inside)
    else:
        tl.store(hout_ptr + st_at, h, mask=active)


@triton.jit
def _rnn_cell_bwd_kernel(
    dy_ptr, dnext_ptr, w_ptr,                    # dy_t (B, H), the next step's gate gradients (B, G*H), W_hh (G*H, H)
    carry_ptr, dc_ptr,                           # in/out: carried dh (B, H), dc (B, H) (LSTM), fp32
    gates_ptr, c_ptr, cnew_ptr, h_ptr, hnew_ptr,  # saved: gates (B, 4H), c_{t-1}, c_t, h_{t-1}, h_t
    dgx_ptr, dgh_ptr,                            # out: gradients of gx and of h W_hh^T + b_hh (B, G*H)
    n_active, B, H,
    stride_dn, stride_wn, stride_wk,             # dnext row stride and W_hh strides; the rest C-contiguous
    MODE: tl.constexpr, HAS_DY: tl.constexpr, HAS_NEXT: tl.constexpr, PRECISION: tl.constexpr,
    ACC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
):
    G: tl.constexpr = 4 if MODE == 0 else (3 if MODE == 1 else 1)
    rows, cols, inside, active = _tile(n_active, B, H, BLOCK_B, BLOCK_H)
    st_at = rows[:, None] * H + cols[None, :]
    g_at = gates_ptr + rows[:, None] * (4 * H) + cols[None, :]
    d_at = rows[:, None] * (G * H) + cols[None, :]
    dh = tl.load(carry_ptr + st_at, mask=inside, other=0.0).to(ACC)
    if HAS_DY:
        dh += tl.load(dy_ptr + st_at, mask=active, other=0.0).to(ACC)
    if HAS_NEXT:
        acc = tl.zeros((BLOCK_B, BLOCK_H), ACC)
        for k0 in range(0, G * H, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)
            dk = tl.load(dnext_ptr + rows[:, None] * stride_dn + ks[None, :],
                         mask=(rows < B)[:, None] & (ks < G * H)[None, :], other=0.0)
            wk = tl.load(w_ptr + ks[:, None] * stride_wn + cols[None, :] * stride_wk,
                         mask=(ks < G * H)[:, None] & (cols < H)[None, :], other=0.0)
            acc = mma(dk, wk, acc, False, PRECISION)
        dh += acc
    carry = tl.where(active, 0.0, dh)
    if MODE == 0:
        i = tl.load(g_at, mask=active, other=0.0)
        f = tl.load(g_at + H, mask=active, other=0.0)
        g = tl.load(g_at + 2 * H, mask=active, other=0.0)
        o = tl.load(g_at + 3 * H, mask=active, other=0.0)
        tc = _tanh(tl.load(cnew_ptr + st_at, mask=active, other=0.0))
        dc_in = tl.load(dc_ptr + st_at, mask=inside, other=0.0)
        dct = dc_in + dh * o * (1.0 - tc * tc)
        tl.store(dc_ptr + st_at, tl.where(active, dct * f, dc_in), mask=inside)
        c_prev = tl.load(c_ptr + st_at, mask=active, other=0.0)
        d0 = dct * g * i * (1.0 - i)
        d1 = dct * c_prev * f * (1.0 - f)
        d2 = dct * i * (1.0 - g * g)
        d3 = dh * tc * o * (1.0 - o)
        ty = dgx_ptr.dtype.element_ty
        tl.store(dgx_ptr + d_at, tl.where(active, d0, 0.0).to(ty), mask=inside)
        tl.store(dgx_ptr + d_at + H, tl.where(active, d1, 0.0).to(ty), mask=inside)
        tl.store(dgx_ptr + d_at + 2 * H, tl.where(active, d2, 0.0).to(ty), mask=inside)
        tl.store(dgx_ptr + d_at + 3 * H, tl.where(active, d3, 0.0).to(ty), mask=inside)
    elif MODE == 1:
        r = tl.load(g_at, mask=active, other=0.0)
        z = tl.load(g_at + H, mask=active, other=0.0)
        n = tl.load(g_at + 2 * H, mask=active, other=0.0)
        ghn = tl.load(g_at + 3 * H, mask=active, other=0.0)
        h_prev = tl.load(h_ptr + st_at, mask=active, other=0.0).to(ACC)
        dnp = dh * (1.0 - z) * (1.0 - n * n)
        dzp = dh * (h_prev - n) * z * (1.0 - z)
        drp = dnp * ghn * r * (1.0 - r)
        carry = tl.where(active, dh * z, dh)
        ty = dgx_ptr.dtype.element_ty
        tl.store(dgx_ptr + d_at, tl.where(active, drp, 0.0).to(ty), mask=inside)
        tl.store(dgx_ptr + d_at + H, tl.where(active, dzp, 0.0).to(ty), mask=inside)
        tl.store(dgx_ptr + d_at + 2 * H, tl.where(active, dnp, 0.0).to(ty), mask=inside)
        tl.store(dgh_ptr + d_at, tl.where(active, drp, 0.0).to(ty), mask=inside)
        tl.store(dgh_ptr + d_at + H, tl.where(active, dzp, 0.0).to(ty), mask=inside)
        tl.store(dgh_ptr + d_at + 2 * H, tl.where(active, dnp * r, 0.0).to(ty), mask=inside)
    else:
        h = tl.load(hnew_ptr + st_at, mask=active, other=0.0).to(ACC)
        if MODE == 2:
            dp = dh * (1.0 - h * h)
        else:
            dp = tl.where(h > 0, dh, 0.0)
        tl.store(dgx_ptr + d_at, tl.where(active, dp, 0.0).to(dgx_ptr.dtype.element_ty), mask=inside)
    tl.store(carry_ptr + st_at, carry.to(carry_ptr.dtype.element_ty), mask=inside)


# ----------------------------------------------------------------------------------------- wrappers
def _blocks(B, H, K, dtype=_F32):
    """(BLOCK_B, BLOCK_H, BLOCK_K): 32x32 tiles at most; LSTM's four fp32 accumulators then take 32 registers
    a thread at 4 warps (64x64 tiles spilled kilobytes on sm_80/sm_90); ``tl.dot`` needs 16 at least. ``dtype``
    (the operands'): fp64 values take two registers each, so fp64 takes BLOCK_B 16 (32 spilled in LSTM's
    backward step on sm_80/sm_90)."""
    def fit(n, most=32):
        return max(16, min(most, triton.next_power_of_2(max(n, 1))))
    return fit(B, 16 if dtype == _F64 else 32), fit(H), fit(K)


def _mode(mode):
    if mode not in MODES:
        raise ValueError(f"unknown recurrent mode {mode!r}; expected one of {tuple(MODES)}")
    return MODES[mode]


def _active(batch_sizes, t, B):
    return B if batch_sizes is None else int(batch_sizes[t])


def rnn_seq_fwd(mode, gx, h0, c0, w_hh, b_hh, batch_sizes=None, w_hr=None):
    """`NumpyNNRNN.rnn_seq_fwd` on the device: one `_rnn_cell_fwd_kernel` launch per step (plus the
    projection matmul per step with ``w_hr``). Returns ``(hs, cs, gates, raw)`` as the reference."""
    m = _mode(mode)
    check_operand("gx", gx, ndim=3, dtypes=_DTYPES)
    T, B, GH = gx.shape
    G = _GATES[m]
    H = GH // G
    if GH != G * H:
        raise ValueError(f"rnn_seq_fwd: gx has {GH} columns, not a multiple of {G} gates")
    P = H if w_hr is None else w_hr.shape[0]
    check_operand("w_hh", w_hh, shape=(GH, P), dtypes=_DTYPES)
    check_operand("h0", h0, shape=(B, P), dtypes=_DTYPES)
    if b_hh is not None:
        check_operand("b_hh", b_hh, shape=(GH,), dtypes=_DTYPES)
        if not b_hh.is_contiguous():
            b_hh = _cast(b_hh, b_hh.dtype)
    if m == 0:
        check_operand("c0", c0, shape=(B, H), dtypes=_DTYPES)
    if w_hr is not None:
        check_operand("w_hr", w_hr, shape=(P, H), dtypes=_DTYPES)
    for name, a in (("w_hh", w_hh), ("h0", h0), ("b_hh", b_hh), ("w_hr", w_hr)):
        if a is not None and a.dtype != gx.dtype:
            raise TypeError(f"rnn_seq_fwd: {name} has dtype {a.dtype}, expected {gx.dtype} (gx's)")
    if batch_sizes is not None and (len(batch_sizes) != T or (T and int(batch_sizes[0]) != B)):
        raise ValueError(f"rnn_seq_fwd: batch_sizes {list(batch_sizes)} do not fit {T} steps of {B} rows")
    dev, dt = gx.device, gx.dtype
    hs = runtime.empty((T + 1, B, P), dt, dev)
    _copy_into(hs[0], h0)
    cs = gates = raw = None
    if m == 0:
        cs = runtime.empty((T + 1, B, H), _ct(dt), dev)
        _copy_into(cs[0], c0)
    if m <= 1:
        gates = _zeros((T, B, 4 * H), _ct(dt), dev)
    if w_hr is not None:
        raw = _zeros((T, B, H), dt, dev)
    block_b, block_h, block_k = _blocks(B, H, P, dt)
    _, precision = dot_config(dt)
    grid = (triton.cdiv(B, block_b), triton.cdiv(H, block_h))
    for t in range(T):
        n = _active(batch_sizes, t, B)
        h, out = hs[t], hs[t + 1] if raw is None else raw[t]
        _rnn_cell_fwd_kernel[grid](
            gx[t], h, w_hh, w_hh if b_hh is None else b_hh, h if cs is None else cs[t],
            out, h if cs is None else cs[t + 1], h if gates is None else gates[t],
            n, B, H, P, h.element_strides[0], *w_hh.element_strides,
            MODE=m, HAS_B=b_hh is not None, KEEP_INACTIVE=raw is None, PRECISION=precision, ACC=_acc(dt),
            BLOCK_B=block_b, BLOCK_H=block_h, BLOCK_K=block_k, num_warps=4)
        if raw is not None:
            _copy_into(hs[t + 1], matmul(raw[t][None], w_hr.transpose(1, 0)[None])[0])
            if n < B:
                _copy_into(hs[t + 1][n:], hs[t][n:])
    return hs, cs, gates, raw


def rnn_seq_bwd(mode, dy, dhn, dcn, hs, cs, gates, raw, w_hh, batch_sizes=None, w_hr=None):
    """`NumpyNNRNN.rnn_seq_bwd` on the device: one `_rnn_cell_bwd_kernel` launch per step, going back in time,
    then ``dh0 = carry + dG_0 W_hh`` (a matmul). With ``w_hr`` the step's ``dh`` (P wide) is finished with
    matmuls first and projected back (``dh W_hr``) before the cell kernel."""
    m = _mode(mode)
    check_operand("hs", hs, ndim=3, dtypes=_DTYPES)
    T1, B, P = hs.shape
    T = T1 - 1
    GH = w_hh.shape[0]
    G = _GATES[m]
    H = GH // G
    dev, dt = hs.device, hs.dtype
    check_operand("w_hh", w_hh, shape=(GH, P), dtypes=_DTYPES)
    if dy is not None:
        check_operand("dy", dy, shape=(T, B, P), dtypes=_DTYPES)
        if not dy.is_contiguous():
            dy = _cast(dy, dt)
    if dhn is not None:
        check_operand("dhn", dhn, shape=(B, P), dtypes=_DTYPES)
    ct = _ct(dt)
    carry = _zeros((B, P), ct, dev) if dhn is None else _cast(dhn, ct)
    dc = None
    if m == 0:
        dc = _zeros((B, H), ct, dev) if dcn is None else _cast(dcn, ct)
    dgx = runtime.empty((T, B, GH), dt, dev)
    dgh = runtime.empty((T, B, GH), dt, dev) if m == 1 else None
    dgate = dgx if dgh is None else dgh
    dhs = runtime.empty((T, B, P), dt, dev) if w_hr is not None else None
    block_b, block_h, block_k = _blocks(B, H, GH, dt)
    _, precision = dot_config(dt)
    grid = (triton.cdiv(B, block_b), triton.cdiv(H, block_h))
    dummy = hs[0]
    for t in reversed(range(T)):
        n = _active(batch_sizes, t, B)
        nxt = dgate[t + 1] if t + 1 < T else None
        step_carry, step_dy, fused_next = carry, None if dy is None else dy[t], nxt
        if w_hr is not None:
            # dh_t (P wide) = carry + dy_t (active rows) + dG_{t+1} W_hh, then its projection back to H
            dh = carry
            if step_dy is not None:
                dh = _add(dh, _masked_rows(step_dy, n, dt))
            if nxt is not None:
                dh = _add(dh, matmul(nxt[None], w_hh[None])[0])
            _copy_into(dhs[t], dh)
            if n < B:
                _copy_into(dhs[t][n:], 0.0)
            step_carry = matmul(dhs[t][None], w_hr[None])[0]   # d(o tanh c), (B, H)
            carry = _zeros((B, P), ct, dev)
            if n < B:
                _copy_into(carry[n:], dh[n:])
            step_dy, fused_next = None, None
        _rnn_cell_bwd_kernel[grid](
            dummy if step_dy is None else step_dy, dummy if fused_next is None else fused_next, w_hh,
            step_carry, step_carry if dc is None else dc,
            dummy if gates is None else gates[t], dummy if cs is None else cs[t],
            dummy if cs is None else cs[t + 1], hs[t], hs[t + 1], dgx[t], dgx[t] if dgh is None else dgh[t],
            n, B, H, GH if fused_next is None else fused_next.element_strides[0], *w_hh.element_strides,
            MODE=m, HAS_DY=step_dy is not None, HAS_NEXT=fused_next is not None, PRECISION=precision, ACC=_acc(dt),
            BLOCK_B=block_b, BLOCK_H=block_h, BLOCK_K=block_k, num_warps=4)
        if w_hr is None:
            carry = step_carry
    dh0 = _add(carry, matmul(dgate[0][None], w_hh[None])[0]) if T else carry
    return dgx, dgh, _cast(dh0, dt), None if dc is None else _cast(dc, dt), dhs


def _copy_into(dst, src):
    from .copy import copy_
    copy_(dst, src)


def _zeros(shape, dtype, device):
    from .copy import full
    return full(shape, 0, dtype, device)


def _cast(a, dtype):
    from .copy import cast
    return cast(a, dtype)


def _add(a, b):
    """``a + b`` in ``a``'s dtype (the accumulation dtype, fp32 or fp64; ``b`` cast first)."""
    from .elementwise import binary
    return binary("add", a, b if b.dtype == a.dtype else _cast(b, a.dtype))


def _masked_rows(a, n, dtype):
    """``a`` with rows ``n:`` zeroed (a copy)."""
    out = _cast(a, dtype)
    if n < a.shape[0]:
        _copy_into(out[n:], 0.0)
    return out


# ----------------------------------------------------------------------------------------- AOT
def aot_specs():
    """The forward and backward step of LSTM in fp32 and bf16, and of GRU and tanh RNN in bf16 (the relu RNN
    differs from tanh by one constexpr branch), and of all three in fp64 (fp64 state and accumulators), with the
    largest tiles `_blocks` picks for the dtype, 4 warps."""
    cases = (("lstm", "fp32"), ("lstm", "bf16"), ("gru", "bf16"), ("rnn_tanh", "bf16"),
             ("lstm", "fp64"), ("gru", "fp64"), ("rnn_tanh", "fp64"))
    for mode, ty in cases:
        m = MODES[mode]
        ct = "fp64" if ty == "fp64" else "fp32"
        npdt = _F64 if ty == "fp64" else _F32
        block_b, block_h, block_k = _blocks(1 << 10, 1 << 10, 1 << 10, npdt)
        blocks = {"BLOCK_B": block_b, "BLOCK_H": block_h, "BLOCK_K": block_k, "PRECISION": "ieee",
                  "ACC": _acc(npdt)}
        yield aot_spec(f"rnn_{mode}_{ty}_fwd", _rnn_cell_fwd_kernel,
                       {"gx_ptr": f"*{ty}", "h_ptr": f"*{ty}", "w_ptr": f"*{ty}", "b_ptr": f"*{ty}",
                        "c_ptr": f"*{ct}", "hout_ptr": f"*{ty}", "cout_ptr": f"*{ct}", "gates_ptr": f"*{ct}"},
                       {"MODE": m, "HAS_B": True, "KEEP_INACTIVE": True, **blocks})
        yield aot_spec(f"rnn_{mode}_{ty}_bwd", _rnn_cell_bwd_kernel,
                       {"dy_ptr": f"*{ty}", "dnext_ptr": f"*{ty}", "w_ptr": f"*{ty}", "carry_ptr": f"*{ct}",
                        "dc_ptr": f"*{ct}", "gates_ptr": f"*{ct}", "c_ptr": f"*{ct}", "cnew_ptr": f"*{ct}",
                        "h_ptr": f"*{ty}", "hnew_ptr": f"*{ty}", "dgx_ptr": f"*{ty}", "dgh_ptr": f"*{ty}"},
                       {"MODE": m, "HAS_DY": True, "HAS_NEXT": True, **blocks})
