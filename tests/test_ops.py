"""Every op of the op table, forward and backward, on cpu and cuda, every dtype it supports: floating dtypes
against the cpu float64 reference (the reference itself against finite differences), integer and bool
dtypes exactly against a NumPy expression."""
import pytest

from optable import ALL, OPS, check_op, gradcheck_op, gradgradcheck_op

CHECKED = [op for op in OPS if op.grad and op.gradcheck and "float64" in op.dtypes]


@pytest.mark.parametrize("op", CHECKED, ids=repr)
def test_reference_gradcheck(op):
    gradcheck_op(op)


@pytest.mark.parametrize("op", CHECKED, ids=repr)
def test_reference_gradgradcheck(op):
    """Double backward (create_graph=True) of every differentiable op, float64 cpu, vs finite differences."""
    gradgradcheck_op(op)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("op,dtype", [(op, d) for op in OPS for d in ALL if d in op.dtypes],
                         ids=lambda v: v if isinstance(v, str) else repr(v))
def test_op(op, dtype, device):
    shapes = op.cuda_shapes if device == "cuda" and op.cuda_shapes else None
    check_op(op, device, dtype, shapes_list=shapes)
