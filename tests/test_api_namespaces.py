"""PyTorch namespaces scripts touch: ``torch.backends`` (cuda/cudnn/mps), ``torch.accelerator``, the cuda
seeding functions, typed-tensor constructors, ``set_printoptions``, ``torch.nn.modules.<file>`` import paths,
``torch.onnx`` (imports; export raises), and ``torch.compile`` (CUDA-graph replay of gradient-free cuda calls, eager
otherwise, same results either way)."""
import importlib
import warnings

import numpy as np
import pytest

import tritongrad as torch
import tritongrad.nn as nn


def test_backends_flags():
    prev = torch.get_float32_matmul_precision()
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cuda.matmul.allow_tf32
        torch.set_float32_matmul_precision("highest")
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.set_float32_matmul_precision(prev)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    assert torch.backends.cudnn.is_available() is False and torch.backends.mps.is_available() is False
    with torch.backends.cuda.sdp_kernel(enable_flash=False):
        assert not torch.backends.cuda.flash_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled()
    with pytest.raises(AttributeError) as e:
        torch.backends.opt_einsum_x
    assert "_cuda" not in str(e.value) and "cudnn" in str(e.value)
    with pytest.raises(AttributeError, match="allow_tf32"):
        torch.backends.cuda.matmul.allow_tf64 = True


def test_accelerator_and_cuda_seeding():
    assert torch.accelerator.is_available() == torch.cuda.is_available()
    assert torch.accelerator.current_accelerator() == torch.device("cuda")
    assert torch.accelerator.device_count() >= 1 and torch.accelerator.current_device_index() == 0
    torch.cuda.manual_seed_all(123)
    a = torch.randn(5, device="cuda").cpu().numpy()
    state = torch.cuda.get_rng_state()
    b = torch.randn(5, device="cuda").cpu().numpy()
    torch.cuda.set_rng_state(state)
    np.testing.assert_array_equal(torch.randn(5, device="cuda").cpu().numpy(), b)
    torch.cuda.manual_seed(123)
    np.testing.assert_array_equal(torch.randn(5, device="cuda").cpu().numpy(), a)
    assert torch.cuda.initial_seed() == 123


def test_typed_tensor_constructors():
    x = torch.LongTensor([1, 2])
    assert x.dtype is torch.int64 and isinstance(x, torch.LongTensor) and not isinstance(x, torch.FloatTensor)
    assert torch.FloatTensor(2, 3).shape == (2, 3) and torch.FloatTensor().numel() == 0
    assert torch.ByteTensor(torch.Size([4])).dtype is torch.uint8
    y = torch.cuda.FloatTensor([1.0, 2.0])
    assert y.device.type == "cuda" and isinstance(y, torch.cuda.FloatTensor) and not isinstance(y, torch.FloatTensor)
    assert x.type(torch.FloatTensor).dtype is torch.float32
    assert x.type("torch.cuda.DoubleTensor").device.type == "cuda"
    assert x.type() == "tritongrad.LongTensor"


def test_set_printoptions():
    try:
        torch.set_printoptions(precision=2)
        assert repr(torch.tensor([1.23456, 2.5])) == "tensor([1.23, 2.50])"
        torch.set_printoptions(threshold=5, edgeitems=1)
        assert repr(torch.arange(10)) == "tensor([0,  ..., 9])"   # PyTorch prints the two spaces too
        torch.set_printoptions(profile="default", sci_mode=True)
        assert repr(torch.tensor([1.5])) == "tensor([1.5000e+00])"
    finally:
        torch.set_printoptions(profile="default")
    assert repr(torch.tensor([1.23456, 2.5])) == "tensor([1.2346, 2.5000])"
    with pytest.raises(ValueError, match="unknown profile"):
        torch.set_printoptions(profile="long")


def test_nn_modules_import_paths_and_onnx():
    from tritongrad.nn.modules.batchnorm import _BatchNorm
    from tritongrad.nn.modules.loss import _Loss, _WeightedLoss
    from tritongrad.nn.modules.module import Module
    from tritongrad.nn.modules.utils import _pair, _single
    assert issubclass(nn.BatchNorm2d, _BatchNorm) and issubclass(nn.CrossEntropyLoss, _WeightedLoss)
    assert issubclass(nn.MSELoss, _Loss) and Module is nn.Module and _pair(3) == (3, 3) and _single((2,)) == (2,)
    for name in ("linear", "conv", "activation", "container", "dropout", "normalization", "pooling", "sparse",
                 "transformer", "padding", "upsampling", "pixelshuffle", "instancenorm", "flatten"):
        importlib.import_module(f"tritongrad.nn.modules.{name}")
    assert nn.modules.Linear is nn.Linear
    onnx = importlib.import_module("tritongrad.onnx")      # imports (scripts import it at the top) ...
    assert onnx.is_in_onnx_export() is False
    with pytest.raises(NotImplementedError, match="no ONNX exporter"):  # ... but exporting says there is none
        onnx.export(nn.Linear(2, 2), (torch.zeros(1, 2),), "m.onnx")


def _graphs_supported():
    try:
        g = torch.cuda.CUDAGraph()
        x = torch.ones(2, device="cuda")
        with torch.cuda.graph(g):
            y = x * 2
        g.replay()
        return bool((y == 2).all())
    except RuntimeError:
        return False


def test_compile_replays_inference_and_keeps_training_eager():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).cuda()
    cm = torch.compile(model, mode="reduce-overhead")
    assert isinstance(cm, torch._compile.OptimizedModule) and cm._orig_mod is model
    assert list(cm.state_dict())[0] == "_orig_mod.0.weight" and cm.training is model.training
    xs = [torch.randn(3, 4).cuda() for _ in range(3)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = [cm(x) for x in xs] + [cm(torch.randn(5, 4).cuda())]
        refs = [model(x) for x in xs]
    for o, r in zip(outs, refs):
        assert bool((o == r).all())
    assert cm._compiled_call.graph_count() == (2 if _graphs_supported() else 0)
    loss = cm(xs[0]).sum()                    # with grad: eager, differentiable
    loss.backward()
    assert model[0].weight.grad is not None
    f = torch.compile(lambda a, b: {"s": a * b + 1, "n": 3})
    out = f(xs[0], xs[1])
    assert out["n"] == 3 and bool((out["s"] == xs[0] * xs[1] + 1).all())
    cpu = torch.compile(model.cpu())
    assert cpu(xs[0].cpu()).shape == (3, 2)
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        torch.compile(model, mode="fastest")
