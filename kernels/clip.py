"""Gradient clipping kernels: the total norm of a list of gradients in ONE launch, and their rescaling in ONE
launch, with no host synchronization (``torch.nn.utils.clip_grad_norm_``'s device work).

`grad_norm_partials(grads, p)`: every gradient of the list is read once. Program ``i`` reduces ``BLOCK``
contiguous elements of one tensor (located through an int64 table -- row 0 element counts, row 1 addresses
-- and an int32 block map, the multi-tensor layout of ``kernels/optim.py``) to one partial in fp32 (fp64 for
fp64 gradients): ``sum |g|^2`` (p = 2), ``sum |g|`` (p = 1), ``sum |g|^p`` (other p > 0) or ``max |g|``
(p = inf). The caller finishes with one reduction of the (n_blocks,) partials and the root.

`grad_scale_(grads, coef)`: ``g *= coef`` in place for every gradient, ``coef`` a one-element fp32 device
array (the clip coefficient computed on the device), math in fp32, rounded once to the gradient's dtype.

Limits: C-contiguous arrays of one floating dtype (float32, float16, bfloat16, float64) on one device per
launch; the table and block map are uploaded on each call (a few bytes per tensor, host->device copies
ordered on the current stream; nothing waits for the device).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime

from ._common import aot_spec
from .optim import _block_map, default_block

__all__ = ["grad_norm_partials", "grad_scale_", "aot_specs"]

NUM_WARPS = 8
_NORMS = {2.0: "two", 1.0: "one", float("inf"): "inf"}
_TYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}


@triton.jit
def _locate(table_ptr, blocks_ptr, like_ptr, n_tensors, n_blocks, BLOCK: tl.constexpr):
    """This program's gradient pointer, element offsets and in-bounds mask."""
    pid = tl.program_id(0).to(tl.int64)
    t = tl.load(blocks_ptr + pid).to(tl.int64)
    blk = tl.load(blocks_ptr + n_blocks + pid).to(tl.int64)
    n = tl.load(table_ptr + t)
    g_ptr = tl.load(table_ptr + n_tensors + t).to(like_ptr.dtype)
    offs = blk * BLOCK + tl.arange(0, BLOCK)
    return pid, g_ptr, offs, offs < n


@triton.jit
def _grad_norm_fwd_kernel(table_ptr,     # int64 [2, n_tensors]: element counts, addresses
                          blocks_ptr,    # int32 [2, n_blocks]: tensor index, block index in that tensor
                          out_ptr,       # fp32/fp64 [n_blocks] partials
                          like_ptr,      # any gradient: gives the gradients' pointer type
                          n_tensors, n_blocks,
                          p,             # the norm's order (used when NORM == "p")
                          NORM: tl.constexpr, BLOCK: tl.constexpr):
    pid, g_ptr, offs, mask = _locate(table_ptr, blocks_ptr, like_ptr, n_tensors, n_blocks, BLOCK)
    acc_ty = out_ptr.dtype.element_ty
    a = tl.abs(tl.load(g_ptr + offs, mask=mask, other=0.0).to(acc_ty))
    if NORM == "inf":
        r = tl.max(a, axis=0)
    elif NORM == "two":
        r = tl.sum(a * a, axis=0)
    elif NORM == "one":
        r = tl.sum(a, axis=0)
    else:
        tl.static_assert(NORM == "p")
        r = tl.sum(tl.where(a > 0, tl.exp(p * tl.log(a)), 0.0), axis=0)
    tl.store(out_ptr + pid, r)


@triton.jit
def _grad_scale_fwd_kernel(table_ptr, blocks_ptr,
                           coef_ptr,     # fp32 [1]: the factor, read on the device
                           like_ptr, n_tensors, n_blocks, BLOCK: tl.constexpr):
    pid, g_ptr, offs, mask = _locate(table_ptr, blocks_ptr, like_ptr, n_tensors, n_blocks, BLOCK)
    c = tl.load(coef_ptr).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(g_ptr + offs, (g * c).to(like_ptr.dtype.element_ty), mask=mask)


def _check(grads):
    if not grads:
        raise ValueError("clip kernels: got an empty list of gradients")
    dt, dev = grads[0].dtype, grads[0].device
    if dt.name not in _TYPES:
        raise TypeError(f"clip kernels: gradients must be float32, float16, bfloat16 or float64, got {dt}")
    for i, g in enumerate(grads):
        if g.dtype != dt or g.device != dev:
            raise ValueError(f"clip kernels: gradient {i} is {g.dtype} on device {g.device}, expected {dt} on "
                             f"device {dev} (one launch per device and dtype)")
        if not g.is_contiguous():
            raise ValueError(f"clip kernels: gradient {i} of shape {g.shape} is not contiguous")


def _tables(grads, block):
    sizes = [g.numel() for g in grads]
    table = np.array([sizes, [g.data_ptr() for g in grads]], dtype=np.int64)
    blocks = _block_map(sizes, block)
    dev = grads[0].device
    table_dev = runtime.empty(table.shape, table.dtype, dev)
    runtime.copy_host_to_device(table_dev, table, non_blocking=True)  # asynchronous: no host sync
    blocks_dev = runtime.empty(blocks.shape, blocks.dtype, dev)
    if blocks.size:
        runtime.copy_host_to_device(blocks_dev, blocks, non_blocking=True)
    return table_dev, blocks_dev, blocks.shape[1]


def grad_norm_partials(grads, p, block=None):
    """Per-block partials of the ``p``-norm of all ``grads`` (see the module docstring): a new (n_blocks,)
    fp32 array (fp64 for fp64 gradients), to be summed (``p`` finite) or max-reduced (``p`` = inf)."""
    _check(grads)
    p = float(p)
    if not p > 0:
        raise ValueError(f"grad_norm_partials: the norm order must be > 0 or inf, got {p}")
    block = default_block() if block is None else block
    table, blocks, n_blocks = _tables(grads, block)
    acc = np.float64 if grads[0].dtype == np.float64 else np.float32
    out = runtime.empty((n_blocks,), acc, grads[0].device)
    if n_blocks:
        _grad_norm_fwd_kernel[(n_blocks,)](table, blocks, out, grads[0], len(grads), n_blocks, p,
                                           NORM=_NORMS.get(p, "p"), BLOCK=block, num_warps=NUM_WARPS)
    return out


def grad_scale_(grads, coef, block=None):
    """``g *= coef[0]`` in place for every array of ``grads``; ``coef`` a one-element fp32 device array."""
    _check(grads)
    if coef.numel() != 1 or coef.dtype != np.float32 or coef.device != grads[0].device:
        raise ValueError(f"grad_scale_: coef must be one float32 element on device {grads[0].device}, got "
                         f"{coef.shape} {coef.dtype} on device {coef.device}")
    block = default_block() if block is None else block
    table, blocks, n_blocks = _tables(grads, block)
    if n_blocks:
        _grad_scale_fwd_kernel[(n_blocks,)](table, blocks, coef, grads[0], len(grads), n_blocks, BLOCK=block,
                                            num_warps=NUM_WARPS)
    return grads


def aot_specs():
    """The norm kernel for each order and gradient dtype, and the scale kernel per dtype (BLOCK 4096)."""
    for dtype, t in _TYPES.items():
        acc = "*fp64" if dtype == "float64" else "*fp32"
        norms = ("two", "one", "inf", "p") if dtype in ("float32", "bfloat16") else ("two",)
        for norm in norms:
            yield aot_spec(f"grad_norm_{norm}_{t}", _grad_norm_fwd_kernel,
                           {"table_ptr": "*i64", "blocks_ptr": "*i32", "out_ptr": acc, "like_ptr": f"*{t}",
                            "p": "fp32"}, {"NORM": norm, "BLOCK": 4096}, num_warps=NUM_WARPS, num_stages=1)
        yield aot_spec(f"grad_scale_{t}", _grad_scale_fwd_kernel,
                       {"table_ptr": "*i64", "blocks_ptr": "*i32", "coef_ptr": "*fp32", "like_ptr": f"*{t}"},
                       {"BLOCK": 4096}, num_warps=NUM_WARPS, num_stages=1)
