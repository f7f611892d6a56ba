"""Loss-scaling kernels for `tritongrad.amp.GradScaler`: unscale + inf/nan check, and the scale update.

What it computes, as PyTorch's ``_amp_foreach_non_finite_check_and_unscale_`` and ``_amp_update_scale_``:

- ``unscale_fwd(grads, found_inf, scale)``: every element ``g`` of every gradient becomes
  ``g * (1 / scale)`` (the reciprocal taken in float64, then rounded to float32, as PyTorch's GradScaler
  does), in place, and ``found_inf`` (an fp32 device scalar) is set to 1 if any element was inf or nan.
  One launch for the whole list (the multi-tensor table of ``kernels/optim.py``): the scale and the
  ``found_inf`` flag are read and written on the device, never on the host.
- ``update_scale_fwd(scale, growth_tracker, found_inf, ...)``: one program. With ``found_inf`` set:
  ``scale *= backoff_factor`` and the tracker resets; else the tracker counts a successful step and every
  ``growth_interval`` successes ``scale *= growth_factor`` (kept only if finite) and the tracker resets.
  The factors are applied in float32 (PyTorch multiplies in float64 then rounds; equal for the usual
  power-of-two factors).

Limits: contiguous gradients (float32, float16 or bfloat16), all on one device, one dtype per launch.
"""
from __future__ import annotations

import triton
import triton.language as tl

from ._common import cast_to
from .optim import _check_inputs, _launch, _locate, _operand, _scalar_at

__all__ = ["unscale_fwd", "update_scale_fwd", "aot_specs"]

NUM_WARPS = 4


# table rows: 0 numel, 1 grad, 2 scale (the same address for every tensor)
@triton.jit
def _unscale_update(table_ptr, n_tensors, t, offs, mask, param_like_ptr, state_like_ptr, found_inf_ptr,
                    ALIGNED: tl.constexpr):
    scale = _scalar_at(table_ptr, 2, n_tensors, t, state_like_ptr)
    inv = (1.0 / scale.to(tl.float64)).to(tl.float32)
    g_ptr = _operand(table_ptr, 1, n_tensors, t, param_like_ptr, ALIGNED)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    bad = (g != g) | (tl.abs(g) == float("inf"))
    if tl.max(bad.to(tl.int32), axis=0) > 0:
        tl.store(found_inf_ptr, 1.0)
    tl.store(g_ptr + offs, cast_to(g * inv, g_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _unscale_fwd_kernel(table_ptr,        # int64 [4, n_tensors], see rows above
                        blocks_ptr,       # int32 [2, n_blocks]
                        hyper_ptr,        # unused (the launch path's hyperparameter array)
                        param_like_ptr,   # the first gradient: gives the gradient pointer type
                        state_like_ptr,   # any fp32 pointer: gives the scale pointer type
                        found_inf_ptr,    # fp32 []: set to 1 when an element is inf/nan (the launch path's
                                          # found_inf slot, here an output)
                        n_tensors, n_blocks,
                        BLOCK: tl.constexpr, ALIGNED: tl.constexpr):
    t, offs, n, full = _locate(blocks_ptr, table_ptr, n_blocks, BLOCK)
    # always masked (with 0 for the padding, so it never reads as inf/nan): one code path, and this
    # kernel runs once per step over the gradients, not in the update's inner loop
    _unscale_update(table_ptr, n_tensors, t, offs, offs < n, param_like_ptr, state_like_ptr, found_inf_ptr, ALIGNED)


@triton.jit
def _update_scale_fwd_kernel(scale_ptr,      # fp32 [], updated in place
                             tracker_ptr,    # int32 [], updated in place
                             found_ptr,      # fp32 []: nonzero when this step's gradients had inf/nan
                             growth_factor, backoff_factor, growth_interval):
    scale = tl.load(scale_ptr)
    tracker = tl.load(tracker_ptr)
    found = tl.load(found_ptr) != 0.0
    successful = tracker + 1
    grow = successful == growth_interval
    grown = scale * growth_factor
    finite = (grown == grown) & (tl.abs(grown) != float("inf"))
    new_scale = tl.where(found, scale * backoff_factor, tl.where(grow & finite, grown, scale))
    new_tracker = tl.where(found | grow, 0, successful)
    tl.store(scale_ptr, new_scale)
    tl.store(tracker_ptr, new_tracker)


# ---------------------------------------------------------------------------------------------- host side
def unscale_fwd(grads, found_inf, scale, *, cache=None, block=None):
    """Multiply every gradient by ``1/scale`` in place and set ``found_inf`` to 1 if any element is inf/nan
    (``torch._amp_foreach_non_finite_check_and_unscale_``). ``found_inf`` and ``scale``: fp32 0-d arrays on
    the gradients' device."""
    _check_inputs(grads, grads)
    for name, a in (("found_inf", found_inf), ("scale", scale)):
        if a.dtype.name != "float32" or a.numel() != 1 or a.device != grads[0].device:
            raise TypeError(f"{name} must be a one-element float32 array on cuda:{grads[0].device}, got "
                            f"{a.dtype} {a.shape} on cuda:{a.device}")
    n = len(grads)
    _launch(_unscale_fwd_kernel, [grads, [scale] * n], [0.0], grads, cache=cache, block=block, found_inf=found_inf)


def update_scale_fwd(scale, growth_tracker, found_inf, *, growth_factor, backoff_factor, growth_interval):
    """Update the loss scale and growth tracker on the device from ``found_inf`` (``torch._amp_update_scale_``)."""
    if scale.dtype.name != "float32" or growth_tracker.dtype.name != "int32" or found_inf.dtype.name != "float32":
        raise TypeError(f"update_scale_fwd expects fp32 scale, int32 growth_tracker and fp32 found_inf, got "
                        f"{scale.dtype}, {growth_tracker.dtype} and {found_inf.dtype}")
    _update_scale_fwd_kernel[(1,)](scale, growth_tracker, found_inf, float(growth_factor), float(backoff_factor),
                                   int(growth_interval), num_warps=1)


# ---------------------------------------------------------------------------------------------- AOT
def aot_specs():
    """(name, jit_fn, signature, constexprs, options) for every kernel in its main configurations."""
    common = {"table_ptr": "*i64", "blocks_ptr": "*i32", "hyper_ptr": "*fp32", "param_like_ptr": None,
              "state_like_ptr": "*fp32", "found_inf_ptr": "*fp32", "n_tensors": "i32", "n_blocks": "i32",
              "BLOCK": "constexpr", "ALIGNED": "constexpr"}
    for ptype, aligned in (("fp32", True), ("bf16", True), ("fp16", False)):
        yield (f"_unscale_fwd_kernel_{ptype}", _unscale_fwd_kernel, dict(common, param_like_ptr=f"*{ptype}"),
               {"BLOCK": 4096, "ALIGNED": aligned}, {"num_warps": 8, "num_stages": 1})
    yield ("_update_scale_fwd_kernel", _update_scale_fwd_kernel,
           {"scale_ptr": "*fp32", "tracker_ptr": "*i32", "found_ptr": "*fp32", "growth_factor": "fp32",
            "backoff_factor": "fp32", "growth_interval": "i32"}, {}, {"num_warps": 1, "num_stages": 1})
