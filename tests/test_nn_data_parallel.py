"""`nn.DataParallel` / `nn.parallel.data_parallel`: on one device they call the module (as PyTorch with one
device), several device ids raise NotImplementedError pointing at DistributedDataParallel, state_dict keys
carry PyTorch's ``module.`` prefix. In this test run the cuda device is Triton's interpreter (one device)."""
import numpy as np
import pytest

import tritongrad as torch
from tritongrad import nn


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_data_parallel_one_device_matches_module_and_moves_inputs():
    net = _net()
    x = torch.randn(5, 3)
    ref = net(x).detach().numpy()
    dp = nn.DataParallel(net)                 # one device visible: module moved to cuda:0
    assert dp.module is net and dp.device_ids == [0] and dp.output_device == 0
    assert all(p.device.type == "cuda" for p in net.parameters())
    out = dp(x)                               # a cpu input is moved to the module's device
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.shape == (4, 3)


def test_data_parallel_state_dict_prefix_and_roundtrip():
    dp = nn.DataParallel(_net(), device_ids=["cuda:0"])
    keys = list(dp.state_dict())
    assert keys == ["module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"]
    other = nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), device_ids=[0])
    other.load_state_dict(dp.state_dict())
    np.testing.assert_array_equal(other.module[2].bias.detach().cpu().numpy(),
                                  dp.module[2].bias.detach().cpu().numpy())


def test_data_parallel_kwargs_and_nested_inputs():
    class Add(nn.Module):
        def forward(self, pair, scale=None):
            return (pair[0] + pair[1]) * scale

    dp = nn.DataParallel(Add())
    a, b, s = torch.ones(2), torch.full((2,), 2.0), torch.full((2,), 3.0)
    out = dp((a, b), scale=s)
    assert out.device.type == "cuda" and out.cpu().tolist() == [9.0, 9.0]


def test_several_devices_refused_with_a_pointer_to_ddp():
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        nn.DataParallel(_net(), device_ids=[0, 1])
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        nn.parallel.data_parallel(_net().cuda(), torch.randn(2, 3), device_ids=[0, 1])


def test_bad_arguments():
    with pytest.raises(TypeError, match="Module"):
        nn.DataParallel(lambda x: x)
    with pytest.raises(ValueError, match="out of range"):
        nn.DataParallel(_net(), device_ids=[3])
    with pytest.raises(ValueError, match="device_ids"):
        nn.DataParallel(_net(), device_ids=["cpu"])
    with pytest.raises(RuntimeError, match="no available devices"):
        nn.DataParallel(_net(), device_ids=[])


def test_functional_data_parallel():
    net = _net()
    x = torch.randn(4, 3)
    ref = net(x).detach().numpy()
    with pytest.raises(RuntimeError, match="parameters and buffers on device cuda:0"):
        nn.parallel.data_parallel(net, x)     # PyTorch requires the module on device_ids[0]
    net.cuda()
    out = nn.parallel.data_parallel(net, x)   # a single input is wrapped in a tuple
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-5, atol=1e-6)
    out2 = nn.parallel.data_parallel(net, (x,), device_ids=[0], output_device=0)
    np.testing.assert_allclose(out2.detach().cpu().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_no_gpu_calls_the_module_as_is(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    net = _net()
    dp = nn.DataParallel(net)
    assert dp.device_ids == [] and net[0].weight.device.type == "cpu"
    x = torch.randn(2, 3)
    np.testing.assert_array_equal(dp(x).detach().numpy(), net(x).detach().numpy())
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        nn.parallel.data_parallel(net, x)
