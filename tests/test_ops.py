"""Every op of the op table, forward and backward, on cpu and cuda, every float dtype, against the cpu
float64 reference; and the reference itself against finite differences."""
import pytest

from optable import OPS, check_op, gradcheck_op


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_reference_gradcheck(op):
    if not op.grad or not op.gradcheck:
        pytest.skip(f"{op.name} has no useful finite-difference gradient (piecewise constant or non-differentiable)")
    gradcheck_op(op)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_op(op, device, dtype):
    if dtype not in op.dtypes:
        pytest.skip(f"{op.name} is defined for {op.dtypes} only")
    shapes = op.cuda_shapes if device == "cuda" and op.cuda_shapes else None
    check_op(op, device, dtype, shapes_list=shapes)
