"""DLPack (``Tensor.__dlpack__``, ``__dlpack_device__``, ``tritongrad.from_dlpack``, ``tritongrad.utils.dlpack``):
zero-copy exchange with NumPy (memory shared: writes through one side are read on the other), dtypes, strides,
capsule versions and lifetimes, PyTorch's autograd rule, errors. In interpreter mode cuda memory is host memory
and exports as kDLCPU; the kDLCUDA capsules and the stream handshake are tested on a real GPU (``gpu`` mark)."""
import gc

import numpy as np
import pytest

import tritongrad as torch
from tritongrad import _dlpack
from tritongrad.utils.dlpack import DLDeviceType, from_dlpack, to_dlpack

NP_DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]


def test_numpy_reads_and_writes_a_cpu_tensor():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = np.from_dlpack(t)
    assert a.shape == (2, 3) and a.dtype == np.float32
    assert a.ctypes.data == t.data_ptr()
    a[0, 1] = 42.0                            # NumPy writes, the tensor reads
    assert t[0, 1].item() == 42.0
    t[1, 2] = -1.0                            # the tensor writes, NumPy reads
    assert a[1, 2] == -1.0


def test_strided_views_export_their_strides():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    for v in (t.t(), t[:, 1::2], t[1]):
        a = np.from_dlpack(v)
        np.testing.assert_array_equal(a, v.numpy())
        assert a.ctypes.data == v.data_ptr()
    a = np.from_dlpack(t.t())
    a[3, 0] = 100.0
    assert t[0, 3].item() == 100.0


@pytest.mark.parametrize("dt", NP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtypes_round_trip_with_numpy(dt):
    n = (np.arange(6) % 3).astype(dt).reshape(2, 3)
    x = torch.from_dlpack(n)
    assert x.dtype == torch.from_numpy(n).dtype and x.device.type == "cpu"
    np.testing.assert_array_equal(x.numpy(), n)
    assert x.data_ptr() == n.ctypes.data
    back = np.from_dlpack(x)
    assert back.dtype == n.dtype and back.ctypes.data == n.ctypes.data


def test_bfloat16_between_tritongrad_tensors():
    t = torch.tensor([1.5, -2.0, 3.25]).bfloat16()
    y = from_dlpack(to_dlpack(t))
    assert y.dtype == torch.bfloat16 and y.data_ptr() == t.data_ptr()
    np.testing.assert_array_equal(y.float().numpy(), [1.5, -2.0, 3.25])


def test_from_numpy_array_shares_memory_both_ways():
    n = np.arange(10.0)
    x = torch.from_dlpack(n[::2])             # a strided numpy view
    assert x.shape == (5,) and x.stride() == (2,)
    x.mul_(10)
    np.testing.assert_array_equal(n, [0, 1, 20, 3, 40, 5, 60, 7, 80, 9])
    n[8] = -3
    assert x[4].item() == -3
    r = torch.from_dlpack(n[::-1])            # negative strides
    np.testing.assert_array_equal(r.numpy(), n[::-1])


def test_read_only_numpy_memory_imports_read_only():
    n = np.arange(4.0)
    n.flags.writeable = False
    x = torch.from_dlpack(n)                  # a versioned capsule carries DLPack's read-only flag
    np.testing.assert_array_equal(x.numpy(), n)
    assert not x.numpy().flags.writeable


def test_zero_dim_and_empty():
    s = torch.tensor(3.5)
    assert np.from_dlpack(s).shape == () and np.from_dlpack(s)[()] == 3.5
    e = torch.zeros(0, 3)
    assert np.from_dlpack(e).shape == (0, 3)
    assert torch.from_dlpack(np.zeros((2, 0))).shape == (2, 0)


def test_capsule_versions_and_single_consumption():
    t = torch.ones(3)
    assert '"dltensor"' in repr(t.__dlpack__())
    assert '"dltensor_versioned"' in repr(t.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(t.__dlpack__(max_version=(0, 8)))
    cap = to_dlpack(t)
    y = from_dlpack(cap)
    assert y.data_ptr() == t.data_ptr()
    with pytest.raises(TypeError, match="consumed only once"):
        from_dlpack(cap)


def test_autograd_rules_follow_pytorch():
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(BufferError, match="require gradient, use tensor.detach"):
        w.__dlpack__()
    a = np.from_dlpack(w.detach())
    a[0] = 5.0                                # the detached export shares the parameter's memory
    assert w[0].item() == 5.0
    y = from_dlpack(to_dlpack(w))             # the legacy entry point exports the data, as PyTorch's
    assert not y.requires_grad and y.data_ptr() == w.data_ptr()


def test_lifetimes_exporter_memory_outlives_tensor_and_deleter_runs():
    gc.collect()
    live0 = len(_dlpack._live)
    t = torch.arange(1000, dtype=torch.float32)
    a = np.from_dlpack(t)
    assert len(_dlpack._live) == live0 + 1    # held until NumPy calls the deleter
    del t
    gc.collect()
    _ = [torch.full((1000,), 7.0) for _ in range(4)]
    np.testing.assert_array_equal(a, np.arange(1000, dtype=np.float32))
    del a
    gc.collect()
    assert len(_dlpack._live) == live0
    unconsumed = torch.ones(2).__dlpack__()   # a capsule nobody consumed releases its struct when collected
    assert len(_dlpack._live) == live0 + 1
    del unconsumed
    gc.collect()
    assert len(_dlpack._live) == live0
    src = torch.ones(4)
    y = torch.from_dlpack(src)                # tritongrad consumer: the producer's deleter runs when y dies
    assert len(_dlpack._live) == live0 + 1
    del y
    gc.collect()
    assert len(_dlpack._live) == live0
    n = np.arange(3.0)
    x = torch.from_dlpack(n)
    del n
    gc.collect()
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])


def test_copy_and_dl_device_arguments():
    t = torch.arange(4, dtype=torch.float32)
    c = from_dlpack(t.__dlpack__(max_version=(1, 0), copy=True))
    c.add_(1)
    np.testing.assert_array_equal(t.numpy(), [0, 1, 2, 3])
    same = from_dlpack(t.__dlpack__(dl_device=(DLDeviceType.kDLCPU, 0), copy=False))
    assert same.data_ptr() == t.data_ptr()
    with pytest.raises(BufferError, match="cannot export"):
        t.__dlpack__(dl_device=(DLDeviceType.kDLCUDA, 0))
    with pytest.raises(TypeError, match="stream must be an int"):
        t.__dlpack__(stream="0")


def test_bad_inputs():
    with pytest.raises(TypeError, match="__dlpack__"):
        torch.from_dlpack([1, 2, 3])
    with pytest.raises(BufferError, match="no tritongrad dtype"):
        torch.from_dlpack(np.ones(2, np.complex64))
    with pytest.raises(TypeError, match="tritongrad.Tensor"):
        to_dlpack(np.ones(2))


def test_interpreter_cuda_tensors_export_host_memory():
    c = torch.arange(5, dtype=torch.float32, device="cuda")
    if torch.cuda.is_interpreter():
        assert c.__dlpack_device__() == (DLDeviceType.kDLCPU, 0)
        a = np.from_dlpack(c)
        assert a.ctypes.data == c.data_ptr()
        a[2] = 9.0
        assert c.cpu().tolist() == [0.0, 1.0, 9.0, 3.0, 4.0]
        c.add_(1)
        np.testing.assert_array_equal(a, [1, 2, 10, 4, 5])
        assert torch.from_dlpack(c).device.type == "cpu"
    else:
        assert c.__dlpack_device__() == (DLDeviceType.kDLCUDA, 0)


def test_producers_before_dlpack_1_and_plain_capsules():
    class OldProducer:                        # accepts no max_version: gets asked again without it
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    n = np.arange(6, dtype=np.int32).reshape(3, 2)
    x = torch.from_dlpack(OldProducer(n))
    assert x.dtype == torch.int32 and x.data_ptr() == n.ctypes.data
    x[0, 0] = 9
    assert n[0, 0] == 9
    y = torch.from_dlpack(n.__dlpack__(max_version=(1, 0)))   # a bare versioned capsule
    assert y.data_ptr() == n.ctypes.data


@pytest.mark.skipif(not torch.cuda.is_interpreter(), reason="interpreter-mode behaviour (a GPU imports kDLCUDA)")
def test_kdlcuda_capsules_are_refused_in_interpreter_mode():
    a = np.arange(3.0)
    gc.collect()
    live0 = len(_dlpack._live)
    cap = _dlpack._make_capsule(a.ctypes.data, a.shape, (1,), a.dtype, (DLDeviceType.kDLCUDA, 0), a, True)
    with pytest.raises(BufferError, match="interpreter mode"):
        from_dlpack(cap)
    del cap                                   # not consumed: its destructor released the struct
    gc.collect()
    assert len(_dlpack._live) == live0

    class CudaProducer:
        def __dlpack_device__(self):
            return (DLDeviceType.kDLCUDA, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for a capsule")

    with pytest.raises(BufferError, match="interpreter mode"):
        torch.from_dlpack(CudaProducer())


def test_consumer_stream_argument_checks():
    with pytest.raises(ValueError, match="stream=0 is ambiguous"):
        _dlpack._order_for_consumer(0, 0)
    for s in (None, -1, 1, 2):                # accepted (no-ops for the ordering in interpreter mode)
        _dlpack._order_for_consumer(0, s)


# -- real GPU ------------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_gpu_export_is_kdlcuda_and_round_trips_without_copy():
    c = torch.arange(8, dtype=torch.float32, device="cuda")
    assert c.__dlpack_device__() == (DLDeviceType.kDLCUDA, 0)
    cap = c.__dlpack__(stream=1, max_version=(1, 0))
    y = from_dlpack(cap)
    assert y.device.type == "cuda" and y.data_ptr() == c.data_ptr()
    assert isinstance(y._data.buffer, _dlpack.ForeignBuffer)
    y.mul_(2)
    assert c.cpu().tolist() == [2.0 * i for i in range(8)]
    with pytest.raises((BufferError, RuntimeError, TypeError, ValueError)):
        np.from_dlpack(c)                     # NumPy reads host memory only


@pytest.mark.gpu
def test_gpu_stream_handshake_orders_consumer_after_producer():
    side = torch.cuda.Stream()
    big = torch.randn(1 << 20, device="cuda")
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = (big * 3).sum()                 # queued on the producer's (side) stream
        cap = out.__dlpack__(stream=1)        # the consumer reads on the legacy default stream
    y = from_dlpack(cap)                      # default stream now waits for side: no host sync needed
    ref = float((big.cpu().numpy().astype(np.float64) * 3).sum())
    assert abs(y.cpu().item() - ref) <= 1e-3 * abs(ref) + 1e-2
    gc.collect()
    live0 = len(_dlpack._live)
    z = from_dlpack(torch.ones(4, device="cuda").__dlpack__(stream=-1))
    assert len(_dlpack._live) == live0 + 1
    del z
    gc.collect()
    assert len(_dlpack._live) == live0
    with pytest.raises(ValueError, match="stream=0"):
        torch.ones(2, device="cuda").__dlpack__(stream=0)
