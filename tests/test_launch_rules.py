"""Interpreter mode enforces a GPU's launch rules (`tritongrad.runtime.launch`), and the kernels keep them.

A grid over CUDA's limits (x < 2**31, y and z <= 65,535) or a tile needing more shared memory than sm_80
gives raises what the GPU launch would, before anything runs. The kernels that used to put an unbounded
count on axis y or z (the reduction backward, the three conv kernels) are launched at the boundary sizes
with Triton's grid executor replaced by a recorder: the wrappers compute their grids and pass the launch
check, but no element runs through the interpreter (the arrays are uninitialised host memory that is never
touched).
"""
import types

import numpy as np
import pytest
import triton
from triton.runtime import interpreter
from triton.runtime.errors import OutOfResources

from _kernel_helpers import F16, F32, I64
from tritongrad import runtime
from tritongrad.kernels import conv as kc
from tritongrad.kernels import index as ki
from tritongrad.kernels import reduce as kr
from tritongrad.runtime import launch

pytestmark = pytest.mark.skipif(not runtime.interpreting(), reason="checks the interpreter's launch hook; "
                                                                     "on a GPU the driver enforces the rules")


@pytest.fixture
def launches(monkeypatch):
    """Record (kernel name, grid) of every launch instead of running it; the launch check still runs."""
    seen = []

    def record(self, *args, **kwargs):
        named = dict(zip(self.arg_names, args), **kwargs)
        grid = self.grid(named) if callable(self.grid) else self.grid
        seen.append((self.fn.__name__, tuple(grid)))

    monkeypatch.setattr(interpreter.GridExecutor, "__call__", record)
    return seen


def _assert_within_limits(seen):
    assert seen
    for name, grid in seen:
        grid = grid + (1,) * (3 - len(grid))
        assert grid[0] <= 2**31 - 1 and grid[1] <= 65535 and grid[2] <= 65535, (name, grid)


# ------------------------------------------------------------------------------------------------ the rules
@pytest.mark.parametrize("grid", [(2**31 - 1,), (1, 65535), (1, 1, 65535), (7, 65535, 65535)])
def test_grid_at_the_limits_passes(grid):
    launch.check_grid("k", grid)


@pytest.mark.parametrize("grid, axis", [((2**31,), "x"), ((1, 65536), "y"), ((1, 1, 65536), "z")])
def test_grid_over_the_limits_raises_like_cuda(grid, axis):
    with pytest.raises(RuntimeError, match=r"Triton Error \[CUDA\]: invalid argument \(CUDA_ERROR_INVALID_VALUE\)"
                                           rf": kernel my_kernel .* axis {axis} has"):
        launch.check_grid("my_kernel", grid)


def test_a_real_launch_over_the_y_limit_raises_before_running():
    flat = runtime.empty((4,), I64)
    out = runtime.empty((4, 1), I64)
    with pytest.raises(RuntimeError, match=r"invalid argument .*_unravel_fwd_kernel .*\(1, 65536, 1\)"):
        ki._unravel_fwd_kernel[(1, 65536)](out, flat, 4, 1, 4, 1, BLOCK=16)


def test_shared_memory_estimate_of_a_dot_tile():
    # the fp32 128x256x64 three-stage matmul config: two stages of a 128x64 and a 64x256 fp32 tile
    a = runtime.empty((1,), F32)
    meta = {"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "num_stages": 3}
    assert launch.estimate_shared_memory(meta, [a]) == 196608
    assert launch.estimate_shared_memory({"BLOCK": 1024}, [a]) == 0
    launch.check_shared_memory("k", 163 * 1024)
    with pytest.raises(OutOfResources, match="shared memory, Required: 196608, Hardware limit: 166912"):
        launch.check_shared_memory("k", 196608)


def test_a_launch_whose_tiles_overflow_shared_memory_raises():
    x = runtime.empty((1, 1, 1, 1), F32)
    n_ints = len(kc._conv2d_fwd_kernel.arg_names) - 4 - 6      # 4 pointers, 6 constexprs
    args = [x, x, x, x] + [1] * n_ints
    with pytest.raises(OutOfResources, match="shared memory"):
        kc._conv2d_fwd_kernel[(1,)](*args, HAS_BIAS=False, BLOCK_M=256, BLOCK_N=256, BLOCK_K=128,
                                    DOT_FP32=False, PRECISION="ieee", num_warps=8, num_stages=3)


# ---------------------------------------------------------------------------------------- kernels at the boundaries
@pytest.mark.parametrize("n, tiles", [(2**26, "compiled"), (2**26 + 12345, "compiled"),
                                      (2**29 + 2**20, "interpreter")])
def test_sum_backward_over_2_26_elements_fits_the_grid(launches, monkeypatch, n, tiles):
    if tiles == "compiled":
        # the GPU's tile sizes (1024 columns a block), which the interpreter enlarges for speed
        fake = types.SimpleNamespace(**{k: getattr(runtime, k) for k in runtime.__all__})
        fake.interpreting = lambda: False
        monkeypatch.setattr(kr, "runtime", fake)
    dtype = F32 if tiles == "compiled" else F16   # address space only (never touched): 256 MiB / 1 GiB
    x = runtime.empty((n,), dtype)          # shape-only stand-in for sum; never read
    gy = runtime.empty((), dtype)
    kr.reduce_bwd("sum", x, None, gy, dims=(0,), keepdim=False)
    _assert_within_limits(launches)
    assert [name for name, _ in launches] == ["_reduce_bwd_kernel"]


def test_depthwise_conv_with_more_than_65535_groups_fits_the_grid(launches):
    groups = 70000
    x = runtime.empty((1, groups, 3, 3), F32)
    w = runtime.empty((groups, 1, 1, 1), F32)
    y = kc.conv2d_fwd(x, w, None, (1, 1), (0, 0), (1, 1), groups, (3, 3))
    kc.conv2d_bwd_input(y, w, x.shape, (1, 1), (0, 0), (1, 1), groups)
    kc.conv2d_bwd_weight(y, x, w.shape, (1, 1), (0, 0), (1, 1), groups, split_k=2)
    _assert_within_limits(launches)
    names = [name for name, _ in launches]
    for kernel in ("_conv2d_fwd_kernel", "_conv2d_bwd_input_kernel", "_conv2d_bwd_weight_kernel"):
        assert kernel in names
    fwd = dict(launches)["_conv2d_fwd_kernel"]
    assert fwd == (triton.cdiv(9, 16) * 1 * groups,)


def test_conv_flat_grid_matches_the_direct_convolution():
    # the flattened program ids cover every (tile, channel block, group) once: grouped conv vs NumPy
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 6, 5, 5)).astype(np.float32)
    ws = rng.standard_normal((9, 2, 3, 3)).astype(np.float32)
    x, w = runtime.empty(xs.shape, F32), runtime.empty(ws.shape, F32)
    runtime.copy_host_to_device(x, xs)
    runtime.copy_host_to_device(w, ws)
    y = kc.conv2d_fwd(x, w, None, (1, 1), (1, 1), (1, 1), 3, (5, 5))
    out = np.empty(y.shape, np.float32)
    runtime.copy_device_to_host(out, y)
    pad = np.pad(xs, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((2, 9, 5, 5))
    for g in range(3):
        for co in range(3 * g, 3 * g + 3):
            for i in range(5):
                for j in range(5):
                    ref[:, co, i, j] = (pad[:, 2 * g:2 * g + 2, i:i + 3, j:j + 3] * ws[co]).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
