"""The launch rules a GPU enforces, checked on every kernel launch in interpreter mode.

Triton's interpreter runs any grid and has no shared memory, so a kernel that passes every test there could
still fail to launch on a GPU. `install` wraps ``InterpretedFunction.run`` (the one call every interpreted
launch goes through: ``kernel[grid](...)`` and the autotuner's launches alike) so that each launch first
passes `check_launch`, which raises what the GPU launch would:

* **Grid.** CUDA allows ``gridDim.x < 2**31`` and ``gridDim.y, gridDim.z <= 65,535``. A larger grid makes
  ``cuLaunchKernel`` return ``CUDA_ERROR_INVALID_VALUE``, which Triton's launcher raises as
  ``RuntimeError("Triton Error [CUDA]: invalid argument")``; here the same RuntimeError also names the
  kernel, the grid and the axis.
* **Shared memory per block.** A compiled kernel needing more than the target's opt-in limit (sm_80: 163 KB,
  sm_90: 227 KB) fails to load with Triton's ``OutOfResources``. The interpreter compiles nothing, so the
  need is *estimated* (`estimate_shared_memory`) for the kernels where shared memory is large: tiled dots
  whose meta-parameters name their tiles ``BLOCK_M``, ``BLOCK_N``, ``BLOCK_K``. Their software pipeline keeps
  ``max(num_stages - 1, 1)`` stages of both operand tiles in shared memory:
  ``max(num_stages - 1, 1) * (BLOCK_M * BLOCK_K + BLOCK_K * BLOCK_N) * operand bytes`` (for the fp32
  128x256x64 three-stage matmul config: 196,608 bytes, what ptxas reports for it). Other kernels use a few KB
  of scratch for reductions and layout changes, far below any limit. The estimate is checked against the
  smaller limit of the architectures tritongrad compiles for (`TARGET_ARCHS`), since the same launch must
  work on both. Compiled kernels are checked by Triton itself at load time, from their real metadata.
"""
from __future__ import annotations

import math

import numpy as np

from .device import interpreting

__all__ = ["GRID_LIMITS", "SHARED_MEMORY_LIMITS", "TARGET_ARCHS", "check_grid", "estimate_shared_memory",
           "check_shared_memory", "check_launch", "install"]

GRID_LIMITS = (2**31 - 1, 65535, 65535)
"""Largest number of programs on grid axes x, y and z (CUDA's ``maxGridSize``)."""

SHARED_MEMORY_LIMITS = {80: 163 * 1024, 90: 227 * 1024}
"""Opt-in shared memory per block in bytes, by compute capability (A100: 163 KB, H100/H200: 227 KB)."""

TARGET_ARCHS = (80, 90)
"""Architectures every launch must fit (the ones the kernels are compiled for ahead of time)."""

_DEFAULT_NUM_STAGES = 3   # Triton's CUDA backend default


def _grid3(grid):
    grid = tuple(int(g) for g in grid)
    if not 1 <= len(grid) <= 3:
        raise ValueError(f"a grid has 1 to 3 axes, got {grid}")
    return grid + (1,) * (3 - len(grid))


def check_grid(kernel_name, grid):
    """Raise the RuntimeError a GPU launch of ``kernel_name`` gives when ``grid`` exceeds `GRID_LIMITS`."""
    grid3 = _grid3(grid)
    for axis, (size, limit) in enumerate(zip(grid3, GRID_LIMITS)):
        if size > limit:
            raise RuntimeError(
                f"Triton Error [CUDA]: invalid argument (CUDA_ERROR_INVALID_VALUE): kernel {kernel_name} launched "
                f"with grid {grid3}: axis {'xyz'[axis]} has {size} programs, over CUDA's limit of {limit} "
                f"(grid x < 2**31, y and z <= 65535). Put the large dimension on axis x or loop over it.")


def estimate_shared_memory(meta, args):
    """Estimated shared memory in bytes of one program of a launch with constexprs/options ``meta`` and
    arguments ``args`` (see the module docstring): the pipelined dot operand tiles when ``meta`` names
    ``BLOCK_M``, ``BLOCK_N`` and ``BLOCK_K``, else 0. The operand size is the first pointer argument's."""
    try:
        bm, bn, bk = (int(meta[k]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
    except (KeyError, TypeError, ValueError):
        return 0
    itemsize = next((np.dtype(getattr(a.dtype, "np", a.dtype)).itemsize for a in args
                     if hasattr(a, "data_ptr") and hasattr(a, "dtype")), 4)   # DeviceArray or tritongrad Tensor
    stages = max(int(meta.get("num_stages") or _DEFAULT_NUM_STAGES) - 1, 1)
    return stages * (bm * bk + bk * bn) * itemsize


def check_shared_memory(kernel_name, required):
    """Raise Triton's ``OutOfResources`` (what loading the compiled kernel raises) when ``required`` bytes
    exceed the shared memory limit of any of `TARGET_ARCHS`."""
    arch = min(TARGET_ARCHS, key=SHARED_MEMORY_LIMITS.__getitem__)
    limit = SHARED_MEMORY_LIMITS[arch]
    if required > limit:
        from triton.runtime.errors import OutOfResources
        err = OutOfResources(required, limit, "shared memory")
        err.add_note(f"kernel {kernel_name}: estimated from its tile sizes in interpreter mode; the limit is "
                     f"sm_{arch}'s")
        raise err


def check_launch(kernel_name, arg_names, args, kwargs, grid):
    """Check one launch of ``kernel_name`` (positional ``args`` named by ``arg_names``, keyword ``kwargs``
    holding constexprs and launch options) on ``grid`` (a tuple, or a callable of the named arguments as
    Triton accepts) against the GPU's rules; raise what the GPU launch would."""
    named = dict(zip(arg_names, args))
    named.update(kwargs)
    if callable(grid):
        grid = grid(named)
    check_grid(kernel_name, grid)
    if math.prod(_grid3(grid)) > 0:
        check_shared_memory(kernel_name, estimate_shared_memory(named, list(args) + list(kwargs.values())))


_installed = False


def install():
    """In interpreter mode, make every kernel launch pass `check_launch` first, and the interpreter compute
    bf16 and tf32 as a GPU does (`interpreter_numerics`). Idempotent; does nothing on a GPU, where the driver
    and Triton's loader enforce these rules. Called when the kernel package loads."""
    global _installed
    if _installed or not interpreting():
        return
    from triton.runtime.interpreter import InterpretedFunction

    from . import interpreter_numerics
    interpreter_numerics.install()      # and the GPU's bf16 / tf32 numerics (see that module)

    run = InterpretedFunction.run

    def run_checked(self, *args, grid, warmup, **kwargs):
        if not warmup:
            check_launch(self.__name__, self.arg_names, args, kwargs, grid)
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    run_checked.__doc__ = run.__doc__
    InterpretedFunction.run = run_checked
    _installed = True
