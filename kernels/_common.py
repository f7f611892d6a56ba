"""Helpers shared by the kernel families (elementwise, copy, random, indexing, and the dots of matmul,
attention and conv).

* Launch heuristics (`launch_config`): block size and warps for one-element-per-lane kernels.
* Strided operands: `collapse_dims` merges the dims that are contiguous in every operand, so most launches
  index with one or two dims; `launch_strided` launches a kernel over a broadcast shape with up to
  ``MAX_RANK`` collapsed dims (looping over leading dims in the wrapper when more remain).
* Kernel-side helpers (`strided_offset`, `upcast`, `scalar_block`): turn a flat index into an operand's
  element offset, pick the compute type (fp16/bf16 -> fp32, bool -> int8, the rest unchanged), and
  broadcast a scalar argument.
* Scalars: Triton types every Python float argument as fp32, so a float scalar travels as the int64 bit
  pattern of its float64 value (`scalar_arg`) and the kernel bitcasts it back (`scalar_value`): exact for
  fp64, one correct rounding for narrower types.
* Dots (`mma`, `dot_config`): ``acc + a @ b`` with fp32 accumulation and IEEE fp32 unless tf32 is asked for.
* Error reporting (`report_error`, `report_bad_lanes`, `error_args`): a bad index or an integer division by
  zero goes to the device error word (`tritongrad.runtime.error_word`), raised at the host's next wait.
* Launches: importing this module installs the interpreter's GPU launch checks and numerics
  (`tritongrad.runtime.launch`); `program_ids` unflattens a launch put on grid axis x.

No branch here depends on the execution mode: Triton's interpreter runs the same code as the GPU.
* `aot_spec` builds the ``aot_specs()`` tuples from a kernel's parameter list.
"""
from __future__ import annotations

import itertools
import math

import ml_dtypes
import numpy as np
import triton
import triton.language as tl

from tritongrad import runtime
from tritongrad.runtime import error_word, launch

# every kernel module imports this one: from here on, interpreted launches are checked against the GPU's
# launch rules (grid limits, shared memory), as a GPU would check them
launch.install()

from . import _compat

_compat.backport_interpreter_index()  # before any kernel runs: triton 3.6's interpreter needs it (see _compat)

__all__ = ["MAX_RANK", "launch_config", "collapse_dims", "launch_strided", "scalar_arg", "is_floating",
           "triton_type", "check_array", "aot_spec", "strided_offset", "upcast", "scalar_block", "scalar_value", "load_strided",
           "load_operand", "flat_index", "program_ids", "report_error", "report_bad_lanes", "error_args", "cast_to",
           "mma", "dot_config"]

MAX_RANK = 4
"""Dims a strided kernel indexes after collapsing; `launch_strided` loops over any leading extra dims."""

_TRITON_TYPES = {
    np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16", np.dtype(ml_dtypes.bfloat16): "bf16",
    np.dtype(np.float64): "fp64", np.dtype(np.int32): "i32", np.dtype(np.int64): "i64",
    np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8", np.dtype(np.int16): "i16", np.dtype(np.bool_): "i1",
}


def triton_type(dtype):
    """Triton's scalar type name (``"fp32"``, ``"bf16"``, ``"i1"`` ...) for a NumPy dtype."""
    dtype = np.dtype(dtype)
    if dtype not in _TRITON_TYPES:
        raise TypeError(f"dtype {dtype} is not supported by the Triton kernels")
    return _TRITON_TYPES[dtype]


def is_floating(dtype):
    """True for float16, bfloat16, float32 and float64."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype == np.dtype(ml_dtypes.bfloat16)


def check_array(name, a):
    """Raise TypeError unless ``a`` is a `DeviceArray` of a supported dtype."""
    if not isinstance(a, runtime.DeviceArray):
        raise TypeError(f"{name} must be a DeviceArray, got {type(a).__name__}")
    triton_type(a.dtype)


def launch_config(n, per_thread=None):
    """``(BLOCK, num_warps)`` for a kernel handling one element per lane over ``n`` elements: up to 8 elements
    a thread, or ``per_thread`` (more warps) for code whose out-of-line calls make every element's values live
    across them (see `tritongrad.kernels.elementwise`)."""
    if n <= 256:
        block, warps = 256, 2
    elif n <= 2048:
        block, warps = 512, 4
    else:
        block, warps = 1024, 4
    if per_thread is not None:
        warps = max(warps, block // (32 * per_thread))
    return block, warps


def collapse_dims(shape, strides_list):
    """Merge adjacent dims that are contiguous in every operand and drop size-1 dims.

    ``strides_list`` holds one stride tuple (in elements) per operand, each of ``len(shape)``. Returns
    ``(shape, strides_list)`` with the fewest dims that walk every operand in the same C order (at least
    one dim). The flat C-order index of ``shape`` is unchanged by the collapse.
    """
    dims = [i for i, n in enumerate(shape) if n != 1]
    out_shape = [shape[i] for i in dims]
    out_strides = [[st[i] for i in dims] for st in strides_list]
    d = len(out_shape) - 1
    while d > 0:
        if all(st[d - 1] == st[d] * out_shape[d] for st in out_strides):
            out_shape[d - 1] *= out_shape[d]
            del out_shape[d]
            for st in out_strides:
                st[d - 1] = st[d]
                del st[d]
        d -= 1
    if not out_shape:
        return (1,), [(0,) for _ in strides_list]
    return tuple(out_shape), [tuple(st) for st in out_strides]


def launch_strided(kernel, shape, contiguous, strided, scalars=(), per_thread=None, **meta):
    """Launch ``kernel`` over every element of ``shape`` (``per_thread``: see `launch_config`).

    The kernel's parameters are, in order: one pointer per array of ``contiguous`` (C-contiguous arrays of
    ``shape``, indexed by the flat index), one pointer per array of ``strided`` (views broadcast to
    ``shape``), ``n, D1, D2, D3`` (numel and the last three of the four collapsed dims), four element
    strides per strided array, the ``scalars``, then the constexprs ``meta`` plus ``RANK`` and ``BLOCK``.
    """
    shape = tuple(shape)
    n = math.prod(shape)
    if n == 0:
        return
    dims, strides = collapse_dims(shape, [a.element_strides for a in strided])
    rank = len(dims)
    lead = dims[:rank - MAX_RANK] if rank > MAX_RANK else ()
    tail = dims[len(lead):]
    sub_n = math.prod(tail)
    block, num_warps = launch_config(sub_n, per_thread)
    padded = (1,) * (MAX_RANK - len(tail)) + tuple(tail)
    views = [a.view_as(dims, [s * a.itemsize for s in st]) for a, st in zip(strided, strides)]
    flats = [c.view_as(dims, runtime.contiguous_strides(dims, c.itemsize)) for c in contiguous]
    grid = (triton.cdiv(sub_n, block),)
    for idx in itertools.product(*(range(k) for k in lead)):
        subs = [v[idx] for v in views]
        stride_args = []
        for v in subs:
            st = (0,) * (MAX_RANK - len(tail)) + v.element_strides
            stride_args.extend(st)
        kernel[grid](*[f[idx] for f in flats], *subs, sub_n, *padded[1:], *stride_args, *scalars,
                     RANK=len(tail), BLOCK=block, num_warps=num_warps, **meta)


def scalar_arg(value, dtype):
    """The kernel argument carrying the Python scalar ``value`` for an operand of ``dtype``: for floating
    dtypes the bits of ``float(value)`` as a float64, read back exactly by `scalar_value` (Triton would pass
    a float as fp32); for integer and bool dtypes ``int(value)``."""
    if is_floating(dtype):
        return int(np.array(float(value), np.float64).view(np.int64))
    return int(value)


def aot_spec(name, fn, types, constexprs, num_warps=4, num_stages=2, hints=None):
    """One ``aot_specs()`` tuple: ``types`` names the non-``i32`` parameters (pointers, scalars);
    constexpr parameters come from ``constexprs``; every other parameter is ``i32``. ``fn`` is a
    ``@triton.jit`` kernel or an autotuned one (whose config parameters are then left out: the AOT report
    compiles every config). ``hints`` gives the JIT's specialization of integer parameters for typical
    shapes: ``{param: 16}`` for a multiple of 16, ``{param: 1}`` for the value 1 (a unit stride)."""
    jit = fn
    while isinstance(jit, (triton.runtime.autotuner.Autotuner, triton.runtime.autotuner.Heuristics)):
        jit = jit.fn
    tuned = {k for c in getattr(fn, "configs", ()) for k in c.kwargs}
    hints = hints or {}
    sig = {}
    for p in jit.arg_names:
        if p in tuned:
            continue
        sig[p] = "constexpr" if p in constexprs else types.get(p, "i32")
        if p in hints:
            sig[p] += f":{hints[p]}"
    unknown = (set(types) | set(hints)) - set(jit.arg_names)
    if unknown:
        raise KeyError(f"{jit.__name__} has no parameters {sorted(unknown)}")
    return (name, fn, sig, dict(constexprs), {"num_warps": num_warps, "num_stages": num_stages})


# ------------------------------------------------------------------------------------------------ jit helpers
@triton.jit
def strided_offset(idx, D1, D2, D3, s0, s1, s2, s3, RANK: tl.constexpr):
    """Element offset of flat index ``idx`` (int64) in an operand with strides (s0..s3) over the
    collapsed shape (D0, D1, D2, D3); only the last ``RANK`` dims are real."""
    if RANK == 1:
        off = idx * s3
    elif RANK == 2:
        off = (idx // D3) * s2 + (idx % D3) * s3
    elif RANK == 3:
        r = idx // D3
        off = (r // D2) * s1 + (r % D2) * s2 + (idx % D3) * s3
    else:
        r = idx // D3
        q = r // D2
        off = (q // D1) * s0 + (q % D1) * s1 + (r % D2) * s2 + (idx % D3) * s3
    return off


@triton.jit
def upcast(x):
    """``x`` in its compute type: fp16/bf16 -> fp32, bool -> int8, others unchanged."""
    if tl.constexpr(x.dtype.is_fp16()) or tl.constexpr(x.dtype.is_bf16()):
        x = x.to(tl.float32)
    elif tl.constexpr(x.dtype.is_int1()):
        x = x.to(tl.int8)
    return x


@triton.jit
def negate(x):
    """``-x`` with IEEE signed zeros on every promised Triton version: triton 3.6 lowers unary minus on floats
    to ``0 - x`` (so ``-(+0.0)`` is ``+0.0``, on a GPU as in the interpreter; 3.9 emits ``fneg``), while
    ``x * -1`` is exact and flips the sign of zeros too. Integers use plain ``-x``."""
    if tl.constexpr(x.dtype.is_floating()):
        y = x * -1.0
    else:
        y = -x
    return y


@triton.jit
def scalar_value(v, ty: tl.constexpr):
    """The scalar argument ``v`` made by `scalar_arg` as a value of type ``ty``."""
    if tl.constexpr(ty.is_floating()):
        x = tl.cast(tl.cast(v, tl.int64), tl.float64, bitcast=True).to(ty)
    else:
        x = tl.cast(v, ty)
    return x


@triton.jit
def scalar_block(like_ptr, v, BLOCK: tl.constexpr):
    """A block of the scalar argument ``v`` in the compute type of ``like_ptr``'s element type."""
    zero = upcast(tl.zeros((BLOCK,), like_ptr.dtype.element_ty))
    return zero + scalar_value(v, zero.dtype)


@triton.jit
def load_strided(ptr, idx, mask, D1, D2, D3, s0, s1, s2, s3, RANK: tl.constexpr):
    """Load the elements at flat indices ``idx`` of a strided operand (raw dtype)."""
    return tl.load(ptr + strided_offset(idx, D1, D2, D3, s0, s1, s2, s3, RANK), mask=mask)


@triton.jit
def load_operand(ptr, idx, mask, D1, D2, D3, s0, s1, s2, s3, scalar, IS_SCALAR: tl.constexpr,
                 RANK: tl.constexpr, BLOCK: tl.constexpr):
    """An operand in its compute type: the scalar argument ``scalar`` when ``IS_SCALAR`` (``ptr`` then only
    gives the dtype), else the strided load."""
    if IS_SCALAR:
        v = scalar_block(ptr, scalar, BLOCK)
    else:
        v = upcast(load_strided(ptr, idx, mask, D1, D2, D3, s0, s1, s2, s3, RANK))
    return v


@triton.jit
def flat_index(BLOCK: tl.constexpr):
    """The int64 flat indices of this program's block."""
    return tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def program_ids(n0, n1):
    """``(p0, p1, p2)`` (int64) of a program of a launch flattened onto grid axis x: ``p0`` varies fastest over
    ``n0`` values, then ``p1`` over ``n1``, then ``p2``. Launches whose tile counts can pass CUDA's 65,535
    limit of grid axes y and z take a grid of ``(n0 * n1 * n2,)`` instead (axis x allows 2**31 - 1)."""
    pid = tl.program_id(0).to(tl.int64)
    rest = pid // n0
    return pid % n0, rest % n1, rest // n1


@triton.jit
def report_error(err_ptr, failed, value, size, dim, op):
    """When the scalar ``failed`` holds, record ``(op, value, size, dim)`` in the device error word ``err_ptr``
    (`tritongrad.runtime.error_word`) unless an earlier error holds it: the first error claims the word with
    a compare-and-swap, writes its fields, and publishes its op code last. The runtime raises it at the
    host's next wait for the device."""
    if failed:
        one = tl.full([], 1, tl.int64)
        if tl.atomic_cas(err_ptr, one * 0, one) == 0:
            tl.store(err_ptr + 2, tl.cast(value, tl.int64))
            tl.store(err_ptr + 3, tl.cast(size, tl.int64))
            tl.store(err_ptr + 4, tl.cast(dim, tl.int64))
            tl.atomic_xchg(err_ptr + 1, tl.cast(op, tl.int64))


@triton.jit
def report_bad_lanes(err_ptr, bad, value, size, dim, op):
    """`report_error` for a 1-D block: records one of the ``value``s where ``bad`` holds (the largest), if any."""
    if tl.max(bad.to(tl.int32), axis=0) > 0:
        # the minimum over all lanes is <= every bad value, so the max picks a bad lane's value
        report_error(err_ptr, True, tl.max(tl.where(bad, value, tl.min(value, axis=0)), axis=0), size, dim, op)


def error_args(device, op):
    """``(err_ptr, op)`` kernel arguments reporting errors of op ``op`` (a name of `runtime.error_word.OPS`)
    to ``device``'s error word."""
    return error_word.get(device), error_word.op_code(op)


@triton.jit
def cast_to(v, ty: tl.constexpr):
    """``v`` converted to ``ty`` (floats round to nearest even, as ``cvt.rn``). The same code runs compiled
    and in Triton's interpreter, whose bf16 conversions `runtime.interpreter_numerics` makes the GPU's."""
    return v.to(ty)


@triton.jit
def mma(a, b, acc, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    """``acc + a @ b`` accumulated in ``acc``'s dtype (fp32; fp64 for fp64 operands), with
    ``input_precision=PRECISION``. ``DOT_FP32`` upcasts the operands to fp32 first; `dot_config` no longer sets it (the interpreter's bf16 dots
    are right since `runtime.interpreter_numerics`). ``out_dtype`` is explicit because triton 3.6 defaults it to
    fp32 whatever ``acc`` is."""
    if DOT_FP32:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=acc.dtype)


def dot_config(dtype):
    """``(DOT_FP32, PRECISION)`` constexprs of `mma` for operands of NumPy ``dtype``: bf16/fp16 operands stay
    narrow (tensor-core dots, in the interpreter too), and ``ieee`` so that fp32 never drops to tf32. The same
    for every ``dtype``; kept a function of it for its callers."""
    return False, "ieee"
