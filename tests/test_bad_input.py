"""Bad input to the public ops (every op family of the op table, `tests/optable.py`), table-driven: each case
is a call that must raise PyTorch's error type (IndexError for a bad dim or index, RuntimeError for a shape,
dtype or device mismatch, TypeError for an argument of the wrong type, ValueError where PyTorch raises it)
with a message naming what was wrong, on cpu and on cuda. These are error paths: the checks run before any
kernel, so the cases are quick even in Triton's interpreter.

A case is ``(name, call, error type, message regex)``; ``call(d)`` gets the device and does the bad call.
Inputs are made with `empty` where their values do not matter (no kernel runs on cuda).
"""
import pytest

import tritongrad as tg
import tritongrad.nn.functional as F

DEVICES = ["cpu", "cuda"]


def E(*shape, d, dtype=tg.float32):
    return tg.empty(*shape, dtype=dtype, device=d)


def other(d):
    """The other device, for device-mix cases."""
    return "cpu" if d == "cuda" else "cuda"


SAME_DEVICE = r"Expected all tensors to be on the same device, but found at least two devices"
DIM_RANGE = r"Dimension out of range \(expected to be in range of \[-2, 1\], but got {}\)"

UNARY = ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu",
         "sign", "floor", "ceil", "round", "trunc", "reciprocal", "square"]
BINARY = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "atan2", "maximum", "minimum",
          "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor"]
IN_PLACE = ["add_", "sub_", "mul_", "div_", "pow_", "copy_"]
REDUCE = ["sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "logsumexp",
          "norm", "all", "any", "cumsum", "softmax", "log_softmax"]

CASES = []


def case(kind, name, call, exc, match):
    CASES.append(pytest.param(call, exc, match, id=f"{kind}-{name}"))


# ------------------------------------------------------------------------------------------ unary
for op in UNARY:
    case("unary", f"{op}-extra-arg", lambda d, op=op: getattr(E(3, d=d), op)("x"), TypeError, rf"{op}|str")
case("unary", "neg-bool", lambda d: -E(3, d=d, dtype=tg.bool), RuntimeError,
     r"Negation, the `-` operator, on a bool tensor is not supported")
case("unary", "clamp-no-bounds", lambda d: E(3, d=d).clamp(), RuntimeError,
     r"At least one of 'min' or 'max' must not be None")
case("unary", "clamp-str", lambda d: E(3, d=d).clamp("a"), TypeError, r"min")
case("unary", "clamp-device", lambda d: E(3, d=d).clamp(E(3, d=other(d))), RuntimeError, SAME_DEVICE)
case("unary", "pow-str", lambda d: E(3, d=d) ** "a", TypeError, r"unsupported operand type.*str")

# ------------------------------------------------------------------------------------------ binary
for op in BINARY + BITWISE:
    dt = tg.int64 if op in BITWISE else tg.float32
    case("binary", f"{op}-shape", lambda d, op=op, dt=dt: getattr(E(3, d=d, dtype=dt), op)(E(4, d=d, dtype=dt)),
         RuntimeError, r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton "
                       r"dimension 0")
    case("binary", f"{op}-device", lambda d, op=op, dt=dt: getattr(E(3, d=d, dtype=dt), op)(E(3, d=other(d),
                                                                                                 dtype=dt)),
         RuntimeError, SAME_DEVICE)
    case("binary", f"{op}-str", lambda d, op=op, dt=dt: getattr(E(3, d=d, dtype=dt), op)("a"), TypeError,
         r"unsupported operand type.*str")
for op in BITWISE:
    case("binary", f"{op}-float", lambda d, op=op: getattr(E(3, d=d), op)(E(3, d=d)), RuntimeError,
         rf'"{op}.*" not implemented for \'Float\'')
case("binary", "where-shape", lambda d: tg.where(E(3, d=d, dtype=tg.bool), E(3, d=d), E(4, d=d)), RuntimeError,
     r"where: shapes \[\[3\], \[3\], \[4\]\] cannot be broadcast together")
case("binary", "where-device", lambda d: tg.where(E(3, d=d, dtype=tg.bool), E(3, d=d), E(3, d=other(d))),
     RuntimeError, SAME_DEVICE)
case("binary", "where-float-condition", lambda d: tg.where(E(3, d=d), E(3, d=d), E(3, d=d)), RuntimeError,
     r"where expected condition to be a boolean tensor, but got a tensor with dtype Float")
case("binary", "masked_fill-float-mask", lambda d: E(3, d=d).masked_fill(E(3, d=d), 0.0), RuntimeError,
     r"masked_fill_ only supports boolean masks, but got mask with dtype float")
case("binary", "masked_fill-shape", lambda d: E(3, d=d).masked_fill(E(4, d=d, dtype=tg.bool), 0.0),
     RuntimeError, r"shapes \[\[4\], \[3\]\] cannot be broadcast together")
case("binary", "masked_fill-device", lambda d: E(3, d=d).masked_fill(E(3, d=other(d), dtype=tg.bool), 0.0),
     RuntimeError, SAME_DEVICE)

# ------------------------------------------------------------------------------------------ in place
for op in IN_PLACE:
    case("in_place", f"{op}-broadcast-out", lambda d, op=op: getattr(E(3, d=d), op)(E(2, 3, d=d)), RuntimeError,
         r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]")
    case("in_place", f"{op}-shape", lambda d, op=op: getattr(E(3, d=d), op)(E(4, d=d)), RuntimeError,
         r"The size of tensor a \(\[?3\]?\) must match the size of tensor b \(\[?4\]?\)")
for op in ("add_", "mul_", "sub_"):
    case("in_place", f"{op}-float-into-int", lambda d, op=op: getattr(E(3, d=d, dtype=tg.int64), op)(E(3, d=d)),
         RuntimeError, r"result type Float can't be cast to the desired output type Long")
case("in_place", "add_-device", lambda d: E(3, d=d).add_(E(3, d=other(d))), RuntimeError, SAME_DEVICE)
case("in_place", "leaf-requires-grad",
     lambda d: tg.ones(3, device=d, requires_grad=True).add_(1.0), RuntimeError,
     r"a leaf Variable that requires grad is being used in an in-place operation")

# ------------------------------------------------------------------------------------------ reductions
def reduce_over(op, x, dim):
    return x.norm(2, dim) if op == "norm" else getattr(x, op)(dim)


for op in REDUCE:
    case("reduce", f"{op}-dim-range", lambda d, op=op: reduce_over(op, E(2, 3, d=d), 2), IndexError,
         DIM_RANGE.format(2))
    case("reduce", f"{op}-dim-negative", lambda d, op=op: reduce_over(op, E(2, 3, d=d), -3), IndexError,
         DIM_RANGE.format(-3))
    case("reduce", f"{op}-0d-dim", lambda d, op=op: reduce_over(op, E(d=d), 1), IndexError,
         r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)")
    case("reduce", f"{op}-float-dim", lambda d, op=op: reduce_over(op, E(2, 3, d=d), 1.5), TypeError,
         r"dim must be an int, got float")
for op in ("sum", "mean", "prod", "amax", "var", "logsumexp", "norm"):
    case("reduce", f"{op}-repeated-dims", lambda d, op=op: getattr(E(2, 3, d=d), op)((0, 0)) if op != "norm"
         else E(2, 3, d=d).norm(2, (0, 0)), RuntimeError, r"dim 0 appears multiple times in the list of dims")
for op in ("max", "min", "argmax", "argmin", "amax", "amin"):
    case("reduce", f"{op}-empty-dim", lambda d, op=op: getattr(E(0, 3, d=d), op)(0), IndexError,
         rf"{op}\(\): Expected reduction dim 0 to have non-zero size")
for op in ("max", "min", "amax", "amin"):
    case("reduce", f"{op}-empty-all", lambda d, op=op: getattr(E(0, 3, d=d), op)(), RuntimeError,
         rf"{op}\(\): Expected reduction dim to be specified for input.numel\(\) == 0")
case("reduce", "mean-int", lambda d: E(3, d=d, dtype=tg.int64).mean(), RuntimeError,
     r"mean\(\): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
     r"Got: Long")
case("reduce", "var-int", lambda d: E(3, d=d, dtype=tg.int64).var(), RuntimeError,
     r"std and var only support floating point and complex dtypes")
case("reduce", "sum-str-dim", lambda d: E(2, 3, d=d).sum("a"), TypeError, r"dim")

# ------------------------------------------------------------------------------------------ matmul
case("matmul", "matmul-inner", lambda d: E(2, 3, d=d) @ E(4, 5, d=d), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)")
case("matmul", "matmul-0d", lambda d: E(d=d) @ E(2, 3, d=d), RuntimeError,
     r"both arguments to matmul need to be at least 1D, but they are 0D and 2D")
case("matmul", "matmul-device", lambda d: E(2, 3, d=d) @ E(3, 4, d=other(d)), RuntimeError, SAME_DEVICE)
case("matmul", "matmul-dtype", lambda d: E(2, 3, d=d) @ E(3, 4, d=d, dtype=tg.float64), RuntimeError,
     r"expected m1 and m2 to have the same dtype, but got: tritongrad.float32 != tritongrad.float64")
case("matmul", "matmul-batch", lambda d: E(2, 2, 3, d=d) @ E(3, 3, 4, d=d), RuntimeError,
     r"the batch dimensions of shapes \[2, 2, 3\] and \[3, 3, 4\] cannot be broadcast")
case("matmul", "matmul-vec", lambda d: E(3, d=d) @ E(4, d=d), RuntimeError,
     r"inconsistent tensor size, expected tensor \[3\] and src \[4\] to have the same number of elements")
case("matmul", "mm-3d", lambda d: E(2, 2, 3, d=d).mm(E(3, 4, d=d)), RuntimeError,
     r"mm: both arguments must be 2-D, got 3-D and 2-D")
case("matmul", "mm-inner", lambda d: E(2, 3, d=d).mm(E(4, 5, d=d)), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)")
case("matmul", "bmm-2d", lambda d: E(2, 3, d=d).bmm(E(3, 4, d=d)), RuntimeError,
     r"bmm: both arguments must be 3-D, got 2-D and 2-D")
case("matmul", "bmm-batch", lambda d: E(2, 2, 3, d=d).bmm(E(3, 3, 4, d=d)), RuntimeError,
     r"batch dimensions of shapes \[2, 2, 3\] and \[3, 3, 4\] cannot be broadcast")
case("matmul", "dot-2d", lambda d: E(2, 3, d=d).dot(E(2, 3, d=d)), RuntimeError,
     r"1D tensors expected, but got 2D and 2D tensors")
case("matmul", "dot-size", lambda d: E(3, d=d).dot(E(4, d=d)), RuntimeError,
     r"inconsistent tensor size, expected tensor \[3\] and src \[4\] to have the same number of elements")
case("matmul", "matmul-str", lambda d: E(2, 3, d=d) @ "a", TypeError, r"matmul|@|str")

# ------------------------------------------------------------------------------------------ shape ops
case("shape", "reshape-size", lambda d: E(2, 3, d=d).reshape(4), RuntimeError,
     r"shape '\[4\]' is invalid for input of size 6")
case("shape", "reshape-two-minus-one", lambda d: E(2, 3, d=d).reshape(-1, -1), RuntimeError,
     r"only one dimension can be inferred")
case("shape", "view-non-contiguous", lambda d: E(2, 3, d=d).t().view(6), RuntimeError,
     r"view size is not compatible with input tensor's size and stride")
case("shape", "permute-length", lambda d: E(2, 3, d=d).permute(0), RuntimeError,
     r"number of dimensions in the tensor input does not match the length of the desired ordering of "
     r"dimensions i.e. input.dim\(\) = 2 is not equal to len\(dims\) = 1")
case("shape", "permute-repeated", lambda d: E(2, 3, d=d).permute(0, 0), RuntimeError,
     r"permute\(\): duplicate dims are not allowed: \(0, 0\)")
case("shape", "permute-range", lambda d: E(2, 3, d=d).permute(0, 2), IndexError, DIM_RANGE.format(2))
case("shape", "transpose-range", lambda d: E(2, 3, d=d).transpose(0, 2), IndexError, DIM_RANGE.format(2))
case("shape", "expand-size", lambda d: E(2, 3, d=d).expand(2, 4), RuntimeError,
     r"The expanded size of the tensor \(4\) must match the existing size \(3\) at non-singleton dimension 1")
case("shape", "expand-fewer-dims", lambda d: E(2, 3, d=d).expand(3), RuntimeError,
     r"the number of sizes provided \(1\) must be greater or equal to the number of dimensions in the "
     r"tensor \(2\)")
case("shape", "unsqueeze-range", lambda d: E(2, 3, d=d).unsqueeze(3), IndexError,
     r"Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)")
case("shape", "squeeze-range", lambda d: E(2, 3, d=d).squeeze(2), IndexError, DIM_RANGE.format(2))
case("shape", "flatten-order", lambda d: E(2, 3, 4, d=d).flatten(2, 1), RuntimeError,
     r"flatten\(\) has invalid args: start_dim cannot come after end_dim")
case("shape", "narrow-length", lambda d: E(2, 5, d=d).narrow(1, 4, 3), RuntimeError,
     r"start \(4\) \+ length \(3\) exceeds dimension size \(5\)")
case("shape", "narrow-dim", lambda d: E(2, 5, d=d).narrow(2, 0, 1), IndexError, DIM_RANGE.format(2))
case("shape", "split-dim", lambda d: E(2, 5, d=d).split(2, 2), IndexError, DIM_RANGE.format(2))
case("shape", "chunk-zero", lambda d: E(2, 5, d=d).chunk(0), RuntimeError,
     r"chunk expects `chunks` to be greater than 0, got: 0")
case("shape", "unbind-dim", lambda d: E(2, 5, d=d).unbind(2), IndexError, DIM_RANGE.format(2))
case("shape", "select-index", lambda d: E(2, 5, d=d).select(1, 5), IndexError,
     r"index 5 is out of bounds for dimension 1 with size 5")
case("shape", "select-dim", lambda d: E(2, 5, d=d).select(2, 0), IndexError, DIM_RANGE.format(2))
case("shape", "cat-empty", lambda d: tg.cat([]), RuntimeError, r"expected a non-empty list of Tensors")
case("shape", "cat-shape", lambda d: tg.cat([E(2, 3, d=d), E(2, 4, d=d)]), RuntimeError,
     r"Sizes of tensors must match except in dimension 0. Expected size \[2, 3\] but got size \[2, 4\] for "
     r"tensor number 1 in the list")
case("shape", "cat-device", lambda d: tg.cat([E(2, 3, d=d), E(2, 3, d=other(d))]), RuntimeError, SAME_DEVICE)
case("shape", "cat-dim", lambda d: tg.cat([E(2, 3, d=d), E(2, 3, d=d)], 2), IndexError, DIM_RANGE.format(2))
case("shape", "cat-0d", lambda d: tg.cat([E(d=d), E(d=d)]), RuntimeError,
     r"zero-dimensional tensor \(at position 0\) cannot be concatenated")
case("shape", "cat-not-tensor", lambda d: tg.cat([E(2, d=d), [1.0, 2.0]]), TypeError,
     r"expected Tensor as element 1 in argument 'tensors', but got list")
case("shape", "stack-shape", lambda d: tg.stack([E(2, 3, d=d), E(2, 4, d=d)]), RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and \[2, 4\] at entry 1")
case("shape", "stack-empty", lambda d: tg.stack([]), RuntimeError, r"stack expects a non-empty TensorList")
case("shape", "stack-device", lambda d: tg.stack([E(3, d=d), E(3, d=other(d))]), RuntimeError, SAME_DEVICE)
case("shape", "repeat-fewer", lambda d: E(2, 3, d=d).repeat(2), RuntimeError,
     r"Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
case("shape", "flip-dim", lambda d: E(2, 3, d=d).flip(2), IndexError, DIM_RANGE.format(2))
case("shape", "roll-dim", lambda d: E(2, 3, d=d).roll(1, 2), IndexError, DIM_RANGE.format(2))
case("shape", "roll-unaligned", lambda d: E(2, 3, d=d).roll((1, 2), (0,)), RuntimeError,
     r"shifts and dimensions must align. shifts: 2, dims:1")
case("shape", "transpose-0d", lambda d: E(d=d).transpose(0, 1), IndexError,
     r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)")
case("shape", "split-zero", lambda d: E(4, d=d).split(0), RuntimeError,
     r"split_size can only be 0 if dimension size is 0, but got dimension size of 4")
case("shape", "view-size", lambda d: E(2, 3, d=d).view(-1, 4), RuntimeError,
     r"shape '\[-1, 4\]' is invalid for input of size 6")
case("shape", "tril-1d", lambda d: E(3, d=d).tril(), RuntimeError, r"tril: input tensor must have at least 2 "
                                                                     r"dimensions")
case("shape", "triu-1d", lambda d: E(3, d=d).triu(), RuntimeError, r"triu: input tensor must have at least 2 "
                                                                     r"dimensions")

# ------------------------------------------------------------------------------------------ indexing
case("index", "int-out-of-range", lambda d: E(3, d=d)[3], IndexError,
     r"index 3 is out of bounds for dimension 0 with size 3")
case("index", "negative-out-of-range", lambda d: E(2, 3, d=d)[:, -4], IndexError,
     r"index -4 is out of bounds for dimension 1 with size 3")
case("index", "too-many", lambda d: E(3, d=d)[0, 0], IndexError, r"too many indices for tensor of dimension 1")
case("index", "0d", lambda d: E(d=d)[0], IndexError, r"too many indices for tensor of dimension 0")
case("index", "float", lambda d: E(3, d=d)[1.5], IndexError,
     r"only integers, slices \(`:`\), ellipsis \(`...`\), None and long or byte Variables are valid indices")
case("index", "float-tensor", lambda d: E(3, d=d)[E(2, d=d)], IndexError,
     r"tensors used as indices must be long, int, byte or bool tensors")
case("index", "mask-shape", lambda d: E(3, d=d)[E(2, d=d, dtype=tg.bool)], IndexError,
     r"The shape of the mask \[2\] at index 0 does not match the shape of the indexed tensor \[3\] at index 0")
case("index", "index-device", lambda d: E(3, d="cpu")[tg.tensor([0], device="cuda")], RuntimeError,
     r"indices should be either on cpu or on the same device as the indexed tensor \(cpu\)")
case("index", "setitem-shape", lambda d: E(3, d=d).__setitem__(slice(None), E(4, d=d)), RuntimeError,
     r"The size of tensor a \(3\) must match the size of tensor b \(4\)|shape mismatch")
case("index", "setitem-out-of-range", lambda d: E(3, d=d).__setitem__(3, 1.0), IndexError,
     r"index 3 is out of bounds for dimension 0 with size 3")
case("index", "index_select-dim", lambda d: E(2, 3, d=d).index_select(2, tg.tensor([0], device=d)), IndexError,
     DIM_RANGE.format(2))
case("index", "index_select-float-index", lambda d: E(2, 3, d=d).index_select(0, E(1, d=d)), RuntimeError,
     r"index_select\(\): Expected dtype int32 or int64 for index")
case("index", "index_select-2d-index",
     lambda d: E(2, 3, d=d).index_select(0, tg.zeros(1, 1, dtype=tg.int64, device=d)), IndexError,
     r"index_select\(\): Index is supposed to be a vector")
case("index", "index_select-device",
     lambda d: E(2, 3, d=d).index_select(0, tg.tensor([0], device=other(d))), RuntimeError,
     rf"indices should be either on cpu or on the same device as the indexed tensor|{SAME_DEVICE}")
case("index", "gather-dim", lambda d: E(2, 3, d=d).gather(2, tg.zeros(2, 3, dtype=tg.int64, device=d)),
     IndexError, DIM_RANGE.format(2))
case("index", "gather-float-index", lambda d: E(2, 3, d=d).gather(1, E(2, 3, d=d)), RuntimeError,
     r"gather\(\): Expected dtype int64 for index")
case("index", "gather-ndim", lambda d: E(2, 3, d=d).gather(1, tg.zeros(2, dtype=tg.int64, device=d)),
     RuntimeError, r"Index tensor must have the same number of dimensions as input tensor")
case("index", "gather-size", lambda d: E(2, 3, d=d).gather(1, tg.zeros(3, 3, dtype=tg.int64, device=d)),
     RuntimeError, r"gather: size of index \(3, 3\) exceeds the input \(2, 3\) at dimension 0")
case("index", "scatter_add-float-index",
     lambda d: E(2, 3, d=d).scatter_add(1, E(2, 3, d=d), E(2, 3, d=d)), RuntimeError,
     r"scatter(_add)?\(\): Expected dtype int64 for index")
case("index", "scatter_add-dim",
     lambda d: E(2, 3, d=d).scatter_add(2, tg.zeros(2, 3, dtype=tg.int64, device=d), E(2, 3, d=d)), IndexError,
     DIM_RANGE.format(2))
case("index", "scatter_add-ndim",
     lambda d: E(2, 3, d=d).scatter_add(1, tg.zeros(2, dtype=tg.int64, device=d), E(2, d=d)), RuntimeError,
     r"scatter_add: index \(2,\) and src \(2,\) must have the same number of dimensions as the input \(2, 3\)")

case("in_place", "fill_-str", lambda d: E(3, d=d).fill_("a"), TypeError,
     r"fill_\(\): argument 'value' must be a number or a 0-d Tensor, not str")
case("tensor", "item-empty", lambda d: E(0, d=d).item(), RuntimeError,
     r"a Tensor with 0 elements cannot be converted to Scalar")
case("tensor", "requires-grad-int", lambda d: tg.ones(2, dtype=tg.int64, device=d, requires_grad=True),
     RuntimeError, r"only Tensors of floating point dtype can require gradients")

# ------------------------------------------------------------------------------------------ casts, factories
case("cast", "to-bad-dtype", lambda d: E(3, d=d).to("float99"), (RuntimeError, ValueError, TypeError),
     r"float99")
case("cast", "to-bad-device", lambda d: E(3, d=d).to("tpu"), RuntimeError, r"tpu")
case("cast", "to-list", lambda d: E(3, d=d).to([1]), TypeError, r"to\(\)|list")
case("factory", "zeros-negative", lambda d: tg.zeros(2, -1, device=d), RuntimeError,
     r"Trying to create tensor with negative dimension -1: \[2, -1\]")
case("factory", "randn-negative", lambda d: tg.randn(-2, device=d), RuntimeError,
     r"Trying to create tensor with negative dimension -2: \[-2\]")
case("factory", "zeros-float-size", lambda d: tg.zeros(2.5, device=d), TypeError, r"2\.5|int")
case("factory", "full-str-value", lambda d: tg.full((2,), "a", device=d), TypeError, r"fill value|a")
case("factory", "arange-zero-step", lambda d: tg.arange(0, 5, 0, device=d), RuntimeError,
     r"step must be nonzero")
case("factory", "arange-wrong-sign", lambda d: tg.arange(0, 5, -1, device=d), RuntimeError,
     r"upper bound and larger bound inconsistent with step sign")
case("factory", "linspace-negative-steps", lambda d: tg.linspace(0, 1, -1, device=d), RuntimeError,
     r"number of steps must be non-negative")
case("factory", "tensor-ragged", lambda d: tg.tensor([[1.0, 2.0], [3.0]], device=d), ValueError,
     r"inhomogeneous shape after 1 dimensions")
case("factory", "tensor-str", lambda d: tg.tensor("a", device=d), (TypeError, ValueError), r"str|a")

# ------------------------------------------------------------------------------------------ softmax and friends
case("nn", "softmax-dim", lambda d: F.softmax(E(2, 3, d=d), 2), IndexError, DIM_RANGE.format(2))
case("nn", "log_softmax-int", lambda d: E(2, 3, d=d, dtype=tg.int64).log_softmax(1), RuntimeError,
     r"\"(log_)?softmax.*\" not implemented for 'Long'")
case("nn", "softmax-int", lambda d: E(2, 3, d=d, dtype=tg.int64).softmax(1), RuntimeError,
     r"\"softmax.*\" not implemented for 'Long'")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("call,exc,match", CASES)
def test_bad_input_raises_pytorchs_error(device, call, exc, match):
    with pytest.raises(exc, match=match):
        call(device)
