"""Spatial sampling of ``torch.nn.functional``, re-exported by `tritongrad.nn.functional`: ``affine_grid``
and ``grid_sample`` (the spatial-transformer-network pair, 4-D inputs).

Both are composites of ops that already have a Triton kernel pair and a NumPy reference, so forward and
backward run on the device's kernels with no host round trip: ``affine_grid`` is one batched matmul of a
fixed base grid with ``theta^T``; ``grid_sample`` turns the grid into pixel coordinates with elementwise ops,
reads the 2 (nearest: 1) x 2 neighbours of every output point with ``gather`` on an ``(N, C, H * W)`` view
and blends them with the bilinear weights. The gradient reaches ``input`` through gather's backward (a
scatter-add) and ``grid`` through the weights (the corner indices are piecewise constant), which is
PyTorch's analytic gradient.
"""
from __future__ import annotations

import warnings

from ..tensor import Tensor, arange, cat, where


def _align_default(align_corners, fn):
    """``align_corners`` as a bool; None (the default) means False with PyTorch's warning."""
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                      "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                      f"{fn} for details.", stacklevel=3)
        return False
    return bool(align_corners)

__all__ = ["affine_grid", "grid_sample"]


def _linspace_grid(n, align_corners, like):
    """The ``n`` normalised sample coordinates along one axis, in ``[-1, 1]``: the pixel centres
    ``(2i + 1)/n - 1`` (``align_corners=False``) or the corner pixels' centres at -1 and 1 (``True``)."""
    i = arange(n, dtype=like.dtype, device=like.device)
    if align_corners:
        return i * (2.0 / (n - 1)) - 1.0 if n > 1 else i * 0.0
    return (i * 2.0 + 1.0) / n - 1.0


def affine_grid(theta, size, align_corners=None):
    """``F.affine_grid(theta, size, align_corners=False)``: the ``(N, H, W, 2)`` sampling grid of the 2-D
    affine maps ``theta`` (``(N, 2, 3)``) for an output of ``size = (N, C, H, W)``: entry ``[n, h, w]`` is
    ``theta[n] @ (x_w, y_h, 1)`` with ``x, y`` the normalised coordinates of the output pixel (see
    `grid_sample` for ``align_corners``). Differentiable in ``theta``. ``align_corners=None`` means False, with PyTorch's warning."""
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid(): argument 'theta' must be Tensor, not {type(theta).__name__}")
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4D sizes (N, C, H, W) here, got size={list(size)}")
    n, _, hh, ww = size
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (2, 3) or theta.shape[0] != n:
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {list(size)}. "
                         f"Got {list(theta.shape)}.")
    if min(hh, ww) <= 0:
        raise ValueError(f"affine_grid(): size must be positive, got {list(size)}")
    align_corners = _align_default(align_corners, "affine_grid")
    xs = _linspace_grid(ww, align_corners, theta).reshape(1, ww, 1).expand(hh, ww, 1)
    ys = _linspace_grid(hh, align_corners, theta).reshape(hh, 1, 1).expand(hh, ww, 1)
    base = cat([xs, ys, xs * 0.0 + 1.0], -1)
    grid = base.reshape(1, hh * ww, 3).expand(n, hh * ww, 3).matmul(theta.transpose(1, 2))
    return grid.reshape(n, hh, ww, 2)


def _unnormalize(coord, size, align_corners):
    """Normalised ``[-1, 1]`` coordinates to pixel coordinates along an axis of ``size`` pixels."""
    if align_corners:
        return (coord + 1.0) * ((size - 1) / 2.0)
    return ((coord + 1.0) * size - 1.0) / 2.0


def _reflect(x, lo2, hi2):
    """Reflect ``x`` into ``[lo2/2, hi2/2]`` as PyTorch's ``reflect_coordinates`` (twice-scaled bounds)."""
    if lo2 == hi2:
        return x * 0.0
    lo, span = lo2 / 2.0, (hi2 - lo2) / 2.0
    d = (x - lo).abs()
    flips = (d / span).floor()
    extra = d - flips * span
    even = (flips.remainder(2) == 0)
    return where(even, extra + lo, (extra * -1.0) + (span + lo))


def _source_index(coord, size, padding_mode, align_corners):
    x = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, size - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = x.clamp(0, size - 1)
    return x


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """``F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros', align_corners=False)`` for 4-D
    ``input`` ``(N, C, H_in, W_in)`` and ``grid`` ``(N, H_out, W_out, 2)``: output ``[n, :, h, w]`` is
    ``input[n]`` sampled at the normalised point ``grid[n, h, w] = (x, y)``, ``x = -1`` the left and ``x = 1``
    the right edge (``align_corners=False``: the outer edges of the border pixels; ``True``: their centres).

    ``mode``: ``'bilinear'`` (differentiable in ``input`` and ``grid``) or ``'nearest'`` (ties round half to
    even, as PyTorch's ``nearbyint``; gradient to ``input`` only). ``padding_mode``: ``'zeros'`` (points
    outside read 0), ``'border'`` (clamped to the edge) or ``'reflection'`` (mirrored at the border).
    ``align_corners=None`` means False (PyTorch also warns about the default there)."""
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor):
        raise TypeError("grid_sample(): input and grid must be Tensors, got "
                        f"{type(input).__name__} and {type(grid).__name__}")
    if mode not in ("bilinear", "nearest"):
        raise NotImplementedError(f"grid_sample(): mode must be 'bilinear' or 'nearest' here, got {mode!r} "
                                  "('bicubic' is not implemented)")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if input.ndim != 4:
        raise NotImplementedError(f"grid_sample(): only 4-D input (N, C, H, W) is supported here, got "
                                  f"{input.ndim}-D input of shape {list(input.shape)}")
    if grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"grid_sample(): expected grid of shape (N, H_out, W_out, 2) with N={input.shape[0]} "
                           f"for input of shape {list(input.shape)}, but got grid of shape {list(grid.shape)}")
    if input.device != grid.device:
        raise RuntimeError(f"grid_sample(): expected input and grid on the same device, but input is on "
                           f"{input.device} and grid on {grid.device}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sample(): expected input and grid to have same dtype, but input has "
                           f"{input.dtype} and grid has {grid.dtype}")
    align_corners = _align_default(align_corners, "grid_sample")
    n, c, hi, wi = input.shape
    ho, wo = grid.shape[1], grid.shape[2]
    x = _source_index(grid[..., 0], wi, padding_mode, align_corners).reshape(n, 1, ho * wo)
    y = _source_index(grid[..., 1], hi, padding_mode, align_corners).reshape(n, 1, ho * wo)
    flat = input.reshape(n, c, hi * wi)

    def read(ix, iy):
        """``input`` at integer pixel coordinates (float tensors), 0 outside the image."""
        inside = (ix >= 0) & (ix <= wi - 1) & (iy >= 0) & (iy <= hi - 1)
        idx = (iy.clamp(0, hi - 1) * wi + ix.clamp(0, wi - 1)).long().expand(n, c, ho * wo)
        return flat.gather(2, idx) * inside.to(input.dtype)

    if mode == "nearest":
        out = read(x.detach().round(), y.detach().round())
    else:
        x0, y0 = x.detach().floor(), y.detach().floor()
        wx1, wy1 = x - x0, y - y0
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        out = (read(x0, y0) * (wx0 * wy0) + read(x0 + 1, y0) * (wx1 * wy0)
               + read(x0, y0 + 1) * (wx0 * wy1) + read(x0 + 1, y0 + 1) * (wx1 * wy1))
    return out.reshape(n, c, ho, wo)
