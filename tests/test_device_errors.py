"""Bad indices and integer division by zero on cuda: the device error word (`tritongrad.runtime.error_word`).

Every indexing op records an out-of-range index in the device's error word instead of raising in the op
(that would need a host sync per op); the runtime raises it at the host's next wait for the device -- a copy to
the host, ``synchronize``, a stream or event synchronize -- or at the end of ``backward``, with the message
the cpu device gives at once. In Triton's interpreter the same kernels write the same word, so these tests
run the GPU's mechanism. (``index_add`` and ``index_copy_``, which no Tensor method reaches directly, are
checked at the kernel level in test_kernels_elementwise.py.)
"""
import numpy as np
import pytest

import tritongrad as tg
import tritongrad.nn.functional as F
from tritongrad import runtime
from tritongrad.runtime import error_word

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def idx(v, device="cuda"):
    return tg.tensor(np.asarray(v, np.int64), device=device)


def ones(*shape, device="cuda", **kw):
    return tg.ones(*shape, device=device, **kw)


# op -> (a function making the op on a device with one bad index, the exception, the message)
CASES = {
    "gather": (lambda d: ones(3, 6, device=d).gather(1, idx([[7]] * 3, d)), IndexError,
               r"index 7 is out of bounds for dimension 1 with size 6$"),
    "index_select": (lambda d: ones(3, 6, device=d).index_select(0, idx([0, -1], d)), IndexError,
                     r"index -1 is out of bounds for dimension 0 with size 3$"),
    "embedding": (lambda d: F.embedding(idx([[1, 5]], d), ones(5, 4, device=d)), IndexError,
                  r"index 5 is out of bounds for dimension 0 with size 5$"),
    "scatter_add": (lambda d: tg.zeros(2, 3, device=d).scatter_add(1, idx([[0, 3]], d), ones(1, 2, device=d)),
                    IndexError, r"index 3 is out of bounds for dimension 1 with size 3$"),
    "cross_entropy": (lambda d: F.cross_entropy(ones(2, 5, device=d), idx([1, 5], d)), IndexError,
                      r"cross_entropy: target 5 is out of bounds for 5 classes$"),
    "nll_loss": (lambda d: F.nll_loss(ones(2, 5, device=d), idx([6, 0], d)), IndexError,
                 r"index 6 is out of bounds for dimension 1 with size 5$"),
    "one_hot": (lambda d: F.one_hot(idx([0, 4], d), 4), RuntimeError,
                r"^Class values must be smaller than num_classes\."),
    "one_hot_negative": (lambda d: F.one_hot(idx([-1], d), 4), RuntimeError, r"^Class values must be non-negative\."),
    "getitem": (lambda d: ones(2, 4, device=d)[:, idx([1, -5], d)], IndexError,
                r"^index -5 is out of bounds for dimension 1 with size 4$"),
    "getitem_two_indices": (lambda d: ones(2, 4, device=d)[idx([2], d), idx([0], d)], IndexError,
                            r"^index 2 is out of bounds for dimension 0 with size 2$"),
    "setitem": (lambda d: ones(3, device=d).__setitem__(idx([3], d), 0.0), IndexError,
                r"^index 3 is out of bounds for dimension 0 with size 3$"),
    "floor_divide": (lambda d: idx([4, 5], d) // idx([2, 0], d), RuntimeError,
                     r"^ZeroDivisionError: integer division by zero in floor_divide$"),
    "remainder": (lambda d: idx([4, 5], d) % idx([0, 3], d), RuntimeError,
                  r"^ZeroDivisionError: integer division by zero in remainder$"),
}


@pytest.mark.parametrize("op", CASES)
def test_cuda_raises_at_the_next_wait_what_cpu_raises_at_once(op):
    make, exc, pattern = CASES[op]
    with pytest.raises(exc, match=pattern.lstrip("^")):
        make("cpu")
    out = make("cuda")                        # no error yet: nothing has waited for the device
    assert error_word.pending() is not None
    with pytest.raises(exc, match=pattern):
        tg.cuda.synchronize()
    assert error_word.pending() is None      # raised once, then cleared
    tg.cuda.synchronize()
    if out is not None:
        out.cpu()                             # the op's output stays usable


def test_the_op_is_named_on_cuda():
    ones(3, 6).gather(1, idx([[7]] * 3))
    with pytest.raises(IndexError, match=r"^gather: index 7"):
        tg.cuda.synchronize()
    ones(3, 6).index_select(1, idx([6]))
    with pytest.raises(IndexError, match=r"^index_select: index 6"):
        tg.cuda.synchronize()


WAITS = {
    "item": lambda t: t.sum().item(),
    "cpu": lambda t: t.cpu(),
    "tolist": lambda t: t.tolist(),
    "bool": lambda t: bool(t.sum() > 0),
    "synchronize": lambda t: tg.cuda.synchronize(),
    "stream_synchronize": lambda t: tg.cuda.current_stream().synchronize(),
    "event_synchronize": lambda t: _recorded_event().synchronize(),
}


def _recorded_event():
    e = tg.cuda.Event()
    e.record()
    return e


@pytest.mark.parametrize("wait", WAITS)
def test_every_wait_for_the_device_raises(wait):
    out = ones(4, 2).index_select(0, idx([1, 8]))
    with pytest.raises(IndexError, match="index 8 is out of bounds for dimension 0 with size 4"):
        WAITS[wait](out)


def test_the_first_error_wins():
    ones(4).index_select(0, idx([5]))
    ones(3).index_select(0, idx([-7]))
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        tg.cuda.synchronize()


def test_a_non_blocking_copy_does_not_report():
    out = ones(4).index_select(0, idx([5]))
    host = runtime.pinned_empty((1,), np.float32)
    runtime.copy_device_to_host(host, out._data, non_blocking=True)     # no wait: nothing raised yet
    assert error_word.pending() is not None
    with pytest.raises(IndexError):
        tg.cuda.synchronize()


def test_backward_reports_at_its_end_without_a_sync():
    w = ones(5, 3, requires_grad=True)
    loss = F.embedding(idx([0, 7]), w).sum()
    with tg.cuda.count_host_syncs() as syncs:
        with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
            loss.backward()
    assert syncs.count == 0, syncs


def test_no_host_sync_per_indexing_op():
    x, bad, target, divisor = ones(8, 4), idx([0, 9]), idx([0, 4]), idx([1, 0])
    with tg.cuda.count_host_syncs() as syncs:
        x.index_select(0, bad)
        x[bad]
        F.cross_entropy(x[:2], target)
        F.one_hot(target, 3)
        bad // divisor
    assert syncs.count == 0, syncs
    with pytest.raises(IndexError, match="index 9"):
        tg.cuda.synchronize()


def test_the_error_word_is_one_fixed_buffer():
    a = error_word.get()
    assert a is error_word.get() and a.shape == (5,) and a.dtype == np.int64
