"""Bad inputs raise specific errors naming what is wrong (shapes and the dim, both devices, the op and the
dtype, the index and the size), the same on cpu and cuda; no bare NumPy or Triton error leaks out."""
import re

import numpy as np
import pytest

import tritongrad as tg

DEVICES = ["cpu", "cuda"]


def ones(*shape, device, dtype=tg.float32):
    return tg.ones(*shape, dtype=dtype, device=device)


def idx(values, device):
    return tg.tensor(values, device=device)


# (name, fn(device), exception type, regex the message must match)
CASES = [
    # shapes: both shapes and the dim
    ("broadcast", lambda d: ones(3, 4, device=d) + ones(5, device=d), RuntimeError,
     r"size of tensor a \(4\) must match the size of tensor b \(5\) at non-singleton dimension 1 "
     r"\(shapes \[3, 4\] and \[5\]\)"),
    ("broadcast_3d", lambda d: ones(2, 3, 4, device=d) * ones(2, 5, 4, device=d), RuntimeError,
     r"\(3\).*\(5\) at non-singleton dimension 1.*\[2, 3, 4\] and \[2, 5, 4\]"),
    ("matmul", lambda d: ones(3, 4, device=d) @ ones(5, 2, device=d), RuntimeError,
     r"cannot be multiplied \(3x4 and 5x2\).*\[3, 4\] and \[5, 2\]"),
    ("matmul_batch", lambda d: ones(2, 3, 4, device=d) @ ones(3, 4, 2, device=d), RuntimeError,
     r"batch dimensions of shapes \[2, 3, 4\] and \[3, 4, 2\] cannot be broadcast"),
    ("where", lambda d: tg.where(ones(3, device=d) > 0, ones(4, device=d), 0.0), RuntimeError, r"\[3\], \[4\]"),
    ("cat", lambda d: tg.cat([ones(3, 4, device=d), ones(3, 5, device=d)], 0), RuntimeError,
     r"must match except in dimension 0.*\[3, 4\].*\[3, 5\]"),
    ("reshape", lambda d: ones(3, 4, device=d).reshape(5, 3), RuntimeError, r"'\[5, 3\]' is invalid for input of size 12"),
    ("view", lambda d: ones(3, 4, device=d).t().view(12), RuntimeError, r"view size is not compatible"),
    ("expand", lambda d: ones(3, device=d).expand(4, 2), RuntimeError, r"expanded size.*\(2\).*existing size \(3\)"),
    ("setitem", lambda d: ones(4, 3, device=d).__setitem__(slice(0, 2), ones(3, 2, device=d)), RuntimeError,
     r"value tensor of shape \[3, 2\] cannot be broadcast to indexing result of shape \[2, 3\]"),
    ("inplace_broadcast", lambda d: ones(3, device=d).add_(ones(2, 3, device=d)), RuntimeError,
     r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"),
    ("copy_", lambda d: ones(3, device=d).copy_(ones(4, device=d)), RuntimeError, r"\[3\].*\[4\]"),
    ("mask", lambda d: ones(4, 3, device=d)[ones(3, device=d) > 0], IndexError, r"mask \[3\].*\[4, 3\]"),
    ("backward_grad", lambda d: (tg.ones(3, device=d, requires_grad=True) * 2).backward(ones(4, device=d)),
     RuntimeError, r"grad_output\[0\] has a shape of \[4\] and output\[0\] has a shape of \[3\]"),
    ("dim", lambda d: ones(3, 4, device=d).sum(2), IndexError, r"range of \[-2, 1\], but got 2"),
    ("negative_size", lambda d: ones(-1, 3, device=d), RuntimeError, r"negative dimension -1"),
    # unsupported dtypes: the op and the dtype
    ("bitwise_float", lambda d: ones(3, device=d) & ones(3, device=d), RuntimeError,
     r"\"bitwise_and\" not implemented for 'Float'"),
    ("matmul_int", lambda d: ones(3, 3, device=d, dtype=tg.int64) @ ones(3, 3, device=d, dtype=tg.int64),
     RuntimeError, r"\"matmul\" not implemented for 'Long'"),
    ("matmul_mixed", lambda d: ones(3, 3, device=d) @ ones(3, 3, device=d, dtype=tg.float64), RuntimeError,
     r"float32 != tritongrad.float64"),
    ("mean_int", lambda d: ones(3, device=d, dtype=tg.int64).mean(), RuntimeError, r"mean\(\).*Got: Long"),
    ("var_bool", lambda d: ones(3, device=d, dtype=tg.bool).var(), RuntimeError, r"var.*tritongrad.bool"),
    ("requires_grad_int", lambda d: ones(3, device=d, dtype=tg.int64).requires_grad_(), RuntimeError,
     r"floating point.*tritongrad.int64"),
    ("sub_bool", lambda d: ones(3, device=d, dtype=tg.bool) - ones(3, device=d, dtype=tg.bool), RuntimeError,
     r"Subtraction.*bool"),
    ("neg_bool", lambda d: -ones(3, device=d, dtype=tg.bool), RuntimeError, r"Negation.*bool"),
    ("pow_int_negative", lambda d: idx([2, 3], d) ** -1, RuntimeError, r"negative integer powers"),
    ("inplace_float_into_int", lambda d: ones(3, device=d, dtype=tg.int64).add_(1.5), RuntimeError,
     r"Float can't be cast to the desired output type Long"),
    ("complex", lambda d: tg.tensor(np.ones(2, np.complex64), device=d), TypeError, r"complex64"),
    ("dtype_name", lambda d: ones(3, device=d, dtype="complex64"), TypeError, r"complex64"),
    ("float_index", lambda d: ones(3, device=d)[tg.tensor([0.0], device=d)], IndexError, r"long, int, byte or bool"),
    # indices: the index and the size
    ("index_int", lambda d: ones(4, device=d)[10], IndexError, r"index 10 is out of bounds for dimension 0 with size 4"),
    ("index_tensor", lambda d: ones(4, device=d)[idx([1, 5], d)], IndexError,
     r"index 5 is out of bounds for dimension 0 with size 4"),
    ("index_negative", lambda d: ones(2, 4, device=d)[:, idx([-5], d)], IndexError,
     r"index -5 is out of bounds for dimension 1 with size 4"),
    ("setitem_index", lambda d: ones(4, device=d).__setitem__(idx([4], d), 1.0), IndexError,
     r"index 4 is out of bounds.*size 4"),
    ("index_select", lambda d: ones(3, 6, device=d).index_select(1, idx([7], d)), IndexError,
     r"index 7 is out of bounds for dimension.*size 6"),
    ("gather", lambda d: ones(3, 6, device=d).gather(1, idx([[7]] * 3, d)), IndexError,
     r"index 7 is out of bounds for dimension.*size 6"),
    ("scatter_add", lambda d: ones(3, 6, device=d).scatter_add(1, idx([[9]] * 3, d), ones(3, 1, device=d)),
     IndexError, r"index 9 is out of bounds for dimension.*size 6"),
    ("narrow", lambda d: ones(5, device=d).narrow(0, 3, 4), RuntimeError, r"start \(3\) \+ length \(4\) exceeds.*\(5\)"),
    # empty reductions and other values
    ("amax_empty", lambda d: ones(0, 3, device=d).amax(0), IndexError, r"amax\(\).*dim 0 to have non-zero size"),
    ("max_empty", lambda d: ones(0, device=d).max(), RuntimeError, r"numel\(\) == 0"),
    ("argmax_empty", lambda d: ones(0, device=d).argmax(), IndexError, r"argmax\(\).*non-zero size"),
    ("item", lambda d: ones(3, device=d).item(), RuntimeError, r"3 elements cannot be converted to Scalar"),
    ("chunk", lambda d: ones(3, device=d).chunk(0), RuntimeError, r"chunks.*greater than 0, got: 0"),
    ("norm_p", lambda d: ones(3, device=d).norm(-1), ValueError, r"p must be a positive number.*-1"),
    ("full_value", lambda d: tg.full((2,), "a", device=d), TypeError, r"fill value must be a number.*'a'"),
    ("expanded_inplace", lambda d: ones(3, 1, device=d).expand(3, 4).add_(1), RuntimeError,
     r"more than one element of the written-to tensor refers to a single memory location"),
    ("device_string", lambda d: ones(3, device=d).to("tpu"), RuntimeError, r"tpu"),
    ("nonscalar_backward", lambda d: (tg.ones(3, device=d, requires_grad=True) * 2).backward(), RuntimeError,
     r"only for scalar outputs.*\[3\]"),
]

_BARE = re.compile(r"operands could not be broadcast|axis \d+ is out of bounds for array|cannot reshape array|"
                   r"numpy|ndarray|triton(?!grad)|tl\.|CompilationError|out of bounds for uint8", re.IGNORECASE)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,fn,exc,pattern", CASES, ids=[c[0] for c in CASES])
def test_error_message(name, fn, exc, pattern, device):
    with pytest.raises(exc) as info:
        fn(device)
        if device == "cuda":
            tg.cuda.synchronize()   # a bad index found by a kernel is raised at the host's next wait
    msg = str(info.value)
    assert re.search(pattern, msg), f"{name} on {device}: message {msg!r} does not match {pattern!r}"
    assert not _BARE.search(msg) or "complex64" in msg, f"{name} on {device}: a bare library error leaked: {msg!r}"


MIXED = [
    ("add", lambda: ones(3, device="cpu") + ones(3, device="cuda")),
    ("maximum", lambda: tg.maximum(ones(3, device="cpu"), ones(3, device="cuda"))),
    ("matmul", lambda: ones(3, 3, device="cpu") @ ones(3, 3, device="cuda")),
    ("cat", lambda: tg.cat([ones(3, device="cpu"), ones(3, device="cuda")])),
    ("where", lambda: tg.where(ones(3, device="cpu") > 0, ones(3, device="cuda"), 0.0)),
    ("index_select", lambda: ones(3, device="cuda").index_select(0, idx([0], "cpu"))),
    ("gather", lambda: ones(3, 2, device="cuda").gather(0, idx([[0, 0]], "cpu"))),
    ("inplace", lambda: ones(3, device="cpu").add_(ones(3, device="cuda"))),
    ("function", lambda: ones(3, device="cuda").softmax(0) * ones(3, device="cpu")),
]


@pytest.mark.parametrize("name,fn", MIXED, ids=[m[0] for m in MIXED])
def test_mixed_devices_name_both(name, fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    msg = str(info.value)
    assert "cpu" in msg and "cuda:0" in msg and "same device" in msg, msg


def test_zero_dim_cpu_tensor_mixes_with_cuda_as_in_pytorch():
    r = ones(3, device="cuda") * tg.tensor(2.0)
    assert r.device.type == "cuda" and r.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
@pytest.mark.parametrize("device", DEVICES)
def test_integer_division_by_zero(device, op):
    a, b = idx([1, 2], device), idx([0, 1], device)
    with pytest.raises(RuntimeError, match=f"ZeroDivisionError: integer division by zero in {op}"):
        # cpu raises at once, cuda at the host's next wait (here item()); the value is undefined meanwhile
        getattr(tg, op)(a, b)[1].item()
