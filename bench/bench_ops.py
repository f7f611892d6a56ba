"""Dispatch overhead per op on the cpu: tritongrad on tiny tensors against the raw NumPy call.

On a 4x4 float32 tensor the arithmetic costs almost nothing, so what tritongrad adds above NumPy is the
price of its Python layers: ``Tensor.__add__`` -> type promotion and broadcast checks -> ``Op.apply``
-> the NumPy backend (``backend.binary``) -> wrapping the result in a Tensor (and recording the graph when
an input requires grad). The same expression (`OPS`) runs on NumPy arrays and on tritongrad tensors.

``python -m pytest bench/bench_ops.py --benchmark-only`` runs every (op, kind) pair with pytest-benchmark,
grouped per op; ``python -m bench.cpu_summary`` prints the overhead in microseconds above NumPy.
Target (the issue's): under 4 us above NumPy per op without grad.
"""
from __future__ import annotations

import numpy as np
import pytest

SHAPE = (4, 4)
OPS = {
    "add": lambda a, b: a + b,
    "matmul": lambda a, b: a @ b,
    "sum": lambda a, b: a.sum(),
}
KINDS = ("numpy", "tritongrad", "tritongrad_requires_grad")
OVERHEAD_TARGET_US = 4.0


def operands(kind, seed=0):
    """Two tiny float32 operands: NumPy arrays, or cpu tritongrad tensors (optionally requiring grad)."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(SHAPE).astype(np.float32) for _ in range(2))
    if kind == "numpy":
        return a, b
    if kind not in KINDS:
        raise ValueError(f"unknown operand kind {kind!r}, expected one of {KINDS}")
    import tritongrad as tg
    grad = kind == "tritongrad_requires_grad"
    return tg.tensor(a, requires_grad=grad), tg.tensor(b, requires_grad=grad)


def check_op(op):
    """Check before timing: tritongrad's result equals NumPy's on the same operands (float32 tolerance)."""
    ref = np.asarray(OPS[op](*operands("numpy")), dtype=np.float64)
    for kind in KINDS[1:]:
        got = OPS[op](*operands(kind)).detach().numpy().astype(np.float64)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{op} ({kind}): tritongrad gives {got}, NumPy {ref}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", list(OPS))
def test_op_dispatch(benchmark, op, kind):
    check_op(op)
    benchmark.group = f"dispatch: {op} {SHAPE}"
    fn = OPS[op]
    a, b = operands(kind)
    benchmark(fn, a, b)
