"""Testing helpers: `assert_close` (``torch.testing.assert_close``) and `compare_devices`, which runs one user
function on cpu (the NumPy reference) and on cuda (the Triton kernels) and reports how far outputs and input
gradients differ."""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from . import autograd
from . import dtypes as _dt
from .runtime.timing import do_bench
from .tensor import Tensor, tensor

__all__ = ["assert_close", "compare_devices", "DeviceComparison", "Difference", "default_tolerance", "do_bench"]

_DEFAULT_TOL = {  # (rtol, atol), torch.testing.assert_close's defaults
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}

_DEVICE_TOL = {  # (rtol, atol) between cpu and cuda: different kernels, summation orders and fp32 math
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
    "float32": (1e-4, 1e-5),
    "float64": (1e-7, 1e-9),
}


def default_tolerance(dtype, across_devices=False):
    """``(rtol, atol)`` for ``dtype``: torch.testing's defaults, or the looser cpu-vs-cuda ones of
    `compare_devices` (kernels sum in another order). Integer and bool dtypes compare exactly."""
    name = _dt.as_dtype(dtype).name
    table = _DEVICE_TOL if across_devices else _DEFAULT_TOL
    return table.get(name, (0.0, 0.0))


def _check_tolerances(rtol, atol):
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {'rtol' if rtol is None else 'atol'}.")


# ------------------------------------------------------------------------------------------ assert_close
def _as_array(x):
    """``(values as a NumPy array, tritongrad dtype or None, device or None)`` of a tensor-like."""
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy(), x.dtype, x.device
    if isinstance(x, np.ndarray):
        return x, _dt.as_dtype(x.dtype) if x.dtype in {d.np for d in _dt.ALL} else None, None
    if isinstance(x, (numbers.Number, np.generic)):
        arr = np.asarray(x)
        return arr, None, None
    raise TypeError(f"assert_close: cannot compare objects of type {type(x).__name__}")


def _compare_arrays(actual, expected, rtol, atol, equal_nan):
    """``(mismatch mask, |a - e|, |a - e| / |e|)`` in float64 (exact equality for integers and bools)."""
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        a, e = actual.astype(np.int64), expected.astype(np.int64)
        diff = np.abs(a - e).astype(np.float64)
    else:
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a - e)
    with np.errstate(invalid="ignore", over="ignore"):
        close = diff <= atol + rtol * np.abs(e.astype(np.float64))
        close |= a == e                                           # equal infinities
        if equal_nan:
            close |= np.isnan(a) & np.isnan(e)
        with np.errstate(divide="ignore"):
            rel = diff / np.abs(e.astype(np.float64))
    rel = np.where(diff == 0, 0.0, rel)
    return ~close, diff, rel


def _where_max(values, mask):
    """``(largest finite-or-not value among mask, its index)``; NaN counts as largest."""
    v = np.where(mask, values, -np.inf)
    v = np.where(np.isnan(values) & mask, np.inf, v)
    i = np.unravel_index(int(np.argmax(v)), v.shape) if v.size else ()
    return (float(values[i]) if v.size else 0.0), tuple(int(k) for k in i)


def assert_close(actual, expected, rtol=None, atol=None, *, equal_nan=False, check_dtype=True, check_device=True,
                 msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` are close (``torch.testing.assert_close``).

    Tensors, NumPy arrays, Python numbers and (nested) sequences or mappings of them are compared
    elementwise: ``|actual - expected| <= atol + rtol * |expected|``. Without ``rtol``/``atol`` (give both or
    neither) the defaults depend on the dtype (float32: 1.3e-6 / 1e-5; integers and bool: exact). Shapes must
    match; dtypes and devices too unless ``check_dtype`` / ``check_device`` is False. NaNs are equal only with
    ``equal_nan=True``. The message names the number of mismatches and the greatest absolute and relative
    differences with their indices."""
    _check_tolerances(rtol, atol)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or actual.keys() != expected.keys():
            raise AssertionError(f"The keys of the mappings do not match: {sorted(map(str, getattr(actual, 'keys', lambda: [])()))} "
                                 f"!= {sorted(map(str, expected.keys()))}")
        for k in expected:
            assert_close(actual[k], expected[k], rtol, atol, equal_nan=equal_nan, check_dtype=check_dtype,
                         check_device=check_device, msg=msg)
        return
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            raise AssertionError(f"The length of the sequences mismatch: {len(actual) if isinstance(actual, (list, tuple)) else type(actual).__name__} "
                                 f"!= {len(expected)}")
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol, atol, equal_nan=equal_nan, check_dtype=check_dtype, check_device=check_device,
                         msg=msg)
        return
    a, a_dt, a_dev = _as_array(actual)
    e, e_dt, e_dev = _as_array(expected)
    what = "Tensor-likes" if isinstance(expected, (Tensor, np.ndarray)) else "Scalars"
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values for attribute 'shape' do not match: {tuple(a.shape)} != {tuple(e.shape)}.")
    if check_device and a_dev is not None and e_dev is not None and a_dev != e_dev:
        raise AssertionError(msg or f"The values for attribute 'device' do not match: {a_dev} != {e_dev}.")
    if check_dtype and a_dt is not None and e_dt is not None and a_dt is not e_dt:
        raise AssertionError(msg or f"The values for attribute 'dtype' do not match: {a_dt} != {e_dt}.")
    if rtol is None:
        dts = [d for d in (a_dt, e_dt) if d is not None]
        if not dts:
            dts = [_dt.float32 if a.dtype.kind == "f" or e.dtype.kind == "f" else _dt.int64]
        tols = [default_tolerance(d) for d in dts]
        rtol, atol = max(t[0] for t in tols), max(t[1] for t in tols)
    bad, diff, rel = _compare_arrays(a, e, rtol, atol, equal_nan)
    if not bad.any():
        return
    if msg:
        raise AssertionError(msg)
    n_bad, n = int(bad.sum()), bad.size
    everywhere = np.ones(bad.shape, dtype=bool)
    abs_max, abs_i = _where_max(diff, everywhere)
    rel_max, rel_i = _where_max(rel, everywhere)
    first = tuple(int(k) for k in np.argwhere(bad)[0]) if bad.ndim else ()
    lines = [f"{what} are not close!", "",
             f"Mismatched elements: {n_bad} / {n} ({100.0 * n_bad / n:.1f}%)",
             f"Greatest absolute difference: {abs_max} at index {abs_i} (up to {atol} allowed)",
             f"Greatest relative difference: {rel_max} at index {rel_i} (up to {rtol} allowed)",
             f"First mismatch at index {first}: actual {a[first]!r}, expected {e[first]!r}"]
    raise AssertionError("\n".join(lines))


# ------------------------------------------------------------------------------------------ compare_devices
@dataclasses.dataclass
class Difference:
    """How one output (or one input's gradient) differs between cpu (the reference) and cuda."""

    name: str            # "output 0", "grad of input 1", ...
    dtype: str
    shape: tuple
    max_abs: float       # largest |cuda - cpu|
    max_rel: float       # largest |cuda - cpu| / |cpu| (0 where both are 0)
    rtol: float
    atol: float
    mismatched: int      # elements outside atol + rtol * |cpu|
    passed: bool

    def __str__(self):
        verdict = "ok" if self.passed else f"FAIL ({self.mismatched} elements)"
        return (f"{self.name:<18} {self.dtype:<9} {str(list(self.shape)):<14} max abs {self.max_abs:<10.3g} "
                f"max rel {self.max_rel:<10.3g} (atol {self.atol:g}, rtol {self.rtol:g}) {verdict}")


@dataclasses.dataclass
class DeviceComparison:
    """The report of `compare_devices`: one `Difference` per output and per input gradient."""

    outputs: list
    grads: list

    @property
    def passed(self):
        return all(d.passed for d in self.outputs + self.grads)

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = ["cpu vs cuda: " + ("all within tolerance" if self.passed else "MISMATCH")]
        lines += ["  " + str(d) for d in self.outputs + self.grads]
        return "\n".join(lines)

    def raise_if_failed(self):
        """Raise AssertionError with the report when anything is out of tolerance."""
        if not self.passed:
            raise AssertionError(str(self))


def _callable(fn):
    """``fn``, or its ``apply`` when it is a custom `autograd.Function` class."""
    return fn.apply if isinstance(fn, type) and issubclass(fn, autograd.Function) else fn


def _copy_to(x, device):
    if not isinstance(x, Tensor):
        return x
    t = x.detach().to(device, copy=True)
    return t.requires_grad_(True) if x.requires_grad else t


def _difference(name, got, ref, rtol, atol):
    dtype = got.dtype.name
    if rtol is None:
        rtol, atol = default_tolerance(got.dtype, across_devices=True)
    if tuple(got.shape) != tuple(ref.shape) or got.dtype is not ref.dtype:
        return Difference(name, f"{dtype}/{ref.dtype.name}", tuple(got.shape), math.inf, math.inf, rtol, atol,
                          max(got.numel(), ref.numel()), False)
    a, e = got.detach().cpu().numpy(), ref.detach().cpu().numpy()
    bad, diff, rel = _compare_arrays(a, e, rtol, atol, equal_nan=True)
    every = np.ones(diff.shape, dtype=bool)
    both_nan = np.isnan(diff) & (np.isnan(a.astype(np.float64)) & np.isnan(e.astype(np.float64)))
    diff = np.where(both_nan, 0.0, diff)
    rel = np.where(both_nan, 0.0, rel)
    max_abs = _where_max(diff, every)[0] if diff.size else 0.0
    max_rel = _where_max(rel, every)[0] if rel.size else 0.0
    return Difference(name, dtype, tuple(got.shape), max_abs, max_rel, rtol, atol, int(bad.sum()), not bad.any())


def compare_devices(fn, *inputs, atol=None, rtol=None, seed=0, device="cuda", reference=None):
    """Run ``fn(*inputs)`` on cpu and on ``device`` and report how far results differ.

    ``fn`` may be a custom `autograd.Function` class (its ``apply`` runs). With ``reference`` (a function, or a
    Function class, of the same arguments) the cpu run calls ``reference`` instead of ``fn``: so a user's
    Function that launches their own Triton kernels (cuda only) is checked, outputs and gradients, against the
    NumPy reference of tritongrad's ops in one line:
    ``compare_devices(FusedBiasGelu, x, b, reference=lambda x, b: F.gelu(x + b)).raise_if_failed()``.

    Every Tensor input is copied to each device (``requires_grad`` kept; other arguments pass through). When
    outputs require grad, both runs backpropagate the same random upstream gradient (standard normal, from
    ``seed``; never ``.sum()``), and the gradients of the inputs that require grad are compared too.
    Tolerances: ``atol``/``rtol`` if given (both or neither), else per dtype (`default_tolerance` with
    ``across_devices=True``). Returns a `DeviceComparison` (truthy when everything passed; ``str()`` is a
    table of the largest absolute and relative differences)."""
    _check_tolerances(rtol, atol)
    fn, reference = _callable(fn), _callable(reference if reference is not None else fn)
    rng = np.random.default_rng(seed)
    runs = {}
    ups = None
    for dev in ("cpu", device):
        args = [_copy_to(x, dev) for x in inputs]
        out = (reference if dev == "cpu" else fn)(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if not all(isinstance(o, Tensor) for o in outs):
            raise TypeError("compare_devices: fn must return a Tensor or a tuple of Tensors")
        diff = [o for o in outs if o.requires_grad]
        if ups is None:
            ups = [rng.standard_normal(tuple(o.shape)) for o in diff]
        if diff:
            autograd.backward(diff, [tensor(u, dtype=o.dtype, device=o.device) for o, u in zip(diff, ups)])
        runs[dev] = (outs, args)
    (ref_outs, ref_args), (outs, args) = runs["cpu"], runs[device]
    if len(outs) != len(ref_outs):
        raise AssertionError(f"compare_devices: fn returned {len(ref_outs)} outputs on cpu but {len(outs)} on {device}")
    out_diffs = [_difference(f"output {i}", o, r, rtol, atol) for i, (o, r) in enumerate(zip(outs, ref_outs))]
    grad_diffs = []
    for i, (x, rx) in enumerate(zip(args, ref_args)):
        if not isinstance(x, Tensor) or not x.requires_grad:
            continue
        if x.grad is None or rx.grad is None:
            missing = device if x.grad is None else "cpu"
            if x.grad is None and rx.grad is None:
                continue
            grad_diffs.append(Difference(f"grad of input {i}", x.dtype.name, tuple(x.shape), math.inf, math.inf,
                                         0.0, 0.0, x.numel(), False))
            grad_diffs[-1].name += f" (none on {missing})"
            continue
        grad_diffs.append(_difference(f"grad of input {i}", x.grad, rx.grad, rtol, atol))
    return DeviceComparison(out_diffs, grad_diffs)
