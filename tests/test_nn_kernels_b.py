"""Fused nn kernels, part B: flash attention, conv2d as implicit GEMM, pooling.

(a) The NumPy reference (`NumpyNNB`) against central finite differences in float64, every backward, under a
random upstream gradient. (b) The Triton wrappers (`TritonNNB`, Triton's interpreter here) against the float64
reference evaluated on the same (rounded) inputs, fp32/fp16/bf16: attention with Lq != Lk, causal, additive and
bool-derived masks (a fully masked row included), odd lengths, D = 16/20/64, tiles forced small so the online
softmax and the causal split cross block boundaries; conv with stride, padding, dilation, groups, bias or not,
odd sizes, split-k weight gradients; pooling with ceil_mode, padding, dilation, count_include_pad,
divisor_override and adaptive windows. Non-contiguous inputs throughout (reversed-stride views).
"""
import inspect

import numpy as np
import pytest

from _kernel_helpers import DTYPES, NP_DTYPES, check_fd, dev, f64, host_f64, rand
from optable import assert_close
from tritongrad.backends._nn_shapes import check_conv2d
from tritongrad.backends.numpy_nn_b import NumpyNNB
from tritongrad.backends.triton_nn_b import TritonNNB
from tritongrad.kernels import attention as attn_kernels
from tritongrad.kernels import conv as conv_kernels

REF = NumpyNNB()
TRI = TritonNNB()


def test_mixins_share_names_and_signatures():
    methods = {n for n, f in vars(NumpyNNB).items() if callable(f) and not n.startswith("_")}
    assert methods == {n for n, f in vars(TritonNNB).items() if callable(f) and not n.startswith("_")}
    assert {"sdpa_fwd", "sdpa_bwd", "conv2d_fwd", "conv2d_bwd", "max_pool2d_fwd", "avg_pool2d_bwd",
            "adaptive_avg_pool2d_bwd"} <= methods
    for name in methods:
        assert inspect.signature(getattr(NumpyNNB, name)) == inspect.signature(getattr(TritonNNB, name)), name


# -------------------------------------------------------------------------------------------- attention
# name: (B, H, Lq, Lk, D, is_causal, mask kind, tiles forced (BLOCK_M, BLOCK_N) or None[, Hkv: grouped-query
# attention with fewer key/value heads])
ATTN_CASES = {
    "lq7_lk33_d16": (1, 2, 7, 33, 16, False, None, None),
    "causal_lq33_lk7_d64": (1, 1, 33, 7, 64, True, None, None),
    "causal_lq33_lk47_d20_tiles16": (2, 1, 33, 47, 20, True, None, (16, 16)),
    "additive_lq7_lk9_d16": (1, 2, 7, 9, 16, False, "additive", None),
    "additive_lq19_lk37_d16_tiles16": (1, 1, 19, 37, 16, False, "additive", (32, 16)),
    "bool_lq5_lk33_d32": (2, 1, 5, 33, 32, False, "bool", None),
    "causal_additive_lq19_lk37_tiles16": (1, 1, 19, 37, 16, True, "additive", (16, 16)),
    "gqa_h4_hkv2_causal_lq19_lk23_tiles16": (1, 4, 19, 23, 16, True, None, (16, 16), 2),
    "gqa_h3_hkv1_additive_lq5_lk9_d20": (2, 3, 5, 9, 20, False, "additive", None, 1),
}


def attn_inputs(rng, case, dtype):
    b, h, lq, lk, d, causal, kind = case[:7]
    hkv = case[8] if len(case) > 8 else h
    q, k, v = (rand(rng, shape, dtype) for shape in ((b, h, lq, d), (b, hkv, lk, d), (b, hkv, lk, d)))
    mask = None
    if kind == "additive":           # (Lq, Lk), broadcast over B and H; -inf entries; row 1 fully masked
        mask = rand(rng, (lq, lk), dtype)
        mask[rng.random((lq, lk)) < 0.3] = -np.inf
        mask[1] = -np.inf
    elif kind == "bool":             # (B, 1, Lq, Lk) bool -> 0 / -inf, as the caller converts it
        keep = rng.random((b, 1, lq, lk)) < 0.6
        keep[..., 0] = True
        mask = np.where(keep, 0.0, -np.inf).astype(NP_DTYPES[dtype])
    return q, k, v, mask, causal, 1.0 / np.sqrt(d)


def assert_lse_close(got, ref):
    """lse is fp32 whatever the input dtype (scores accumulate in fp32); -inf exactly on fully masked rows."""
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
    finite = ~np.isneginf(ref)
    assert_close(got[finite], ref[finite], "float32", "lse", scale=10)


def test_sdpa_reference_finite_differences():
    rng = np.random.default_rng(0)
    for causal, kind, hkv in ((False, "additive", 2), (True, None, 2), (False, "additive", 1)):
        q, k, v, mask, _, scale = attn_inputs(rng, (1, 2, 3, 4, 3, causal, kind, None, hkv), "float32")
        q, k, v, mask = f64(q), f64(k), f64(v), f64(mask)
        fwd = lambda q, k, v, m: REF.sdpa_fwd(q, k, v, m, causal, scale)[0]
        o, lse = REF.sdpa_fwd(q, k, v, mask, causal, scale)
        go = rng.standard_normal(o.shape)
        grads = REF.sdpa_bwd(go, q, k, v, o, lse, mask, causal, scale, need_mask_grad=mask is not None)
        if mask is None:
            check_fd(lambda q, k, v: fwd(q, k, v, None), [q, k, v], go, grads, "qkv")
        else:
            check_fd(fwd, [q, k, v, np.ascontiguousarray(np.broadcast_to(mask, o.shape[:2] + mask.shape))], go,
                     grads, ["q", "k", "v", "mask"])
            assert np.all(o[:, :, 1] == 0) and np.all(grads[0][:, :, 1] == 0), "fully masked row: output and dq 0"
            assert np.all(np.isneginf(lse[:, :, 1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ATTN_CASES))
def test_sdpa_triton_matches_reference(name, dtype):
    rng = np.random.default_rng(1)
    case = ATTN_CASES[name]
    q, k, v, mask, causal, scale = attn_inputs(rng, case, dtype)
    tiles = case[7]
    need_mask_grad = case[6] == "additive"
    ref_in = [f64(a) for a in (q, k, v, mask)]
    o_ref, lse_ref = REF.sdpa_fwd(*ref_in, causal, scale)
    go = rand(rng, o_ref.shape, dtype)
    ref_grads = REF.sdpa_bwd(f64(go), *ref_in[:3], o_ref, lse_ref, ref_in[3], causal, scale, need_mask_grad)

    qd, kd, vd = dev(q, transposed=True), dev(k), dev(v, transposed=True)
    md = dev(mask)
    o, lse = attn_kernels.sdpa_fwd(qd, kd, vd, md, causal, scale, blocks=tiles)
    assert o.dtype == NP_DTYPES[dtype] and lse.dtype == np.float32
    assert_close(host_f64(o), o_ref, dtype, "o", scale=2)
    assert_lse_close(host_f64(lse), lse_ref)
    grads = attn_kernels.sdpa_bwd(dev(go, transposed=True), qd, kd, vd, o, lse, md, causal, scale, need_mask_grad,
                                  blocks=tiles)
    assert len(grads) == len(ref_grads)
    for got, ref, what in zip(grads, ref_grads, ("gq", "gk", "gv", "gmask")):
        assert_close(host_f64(got), ref, dtype, what, scale=4)


def test_sdpa_backend_methods_and_errors():
    rng = np.random.default_rng(2)
    q, k, v, mask, causal, scale = attn_inputs(rng, ATTN_CASES["lq7_lk33_d16"], "float32")
    o, lse = TRI.sdpa_fwd(dev(q), dev(k), dev(v), None, causal, scale)
    o_ref, lse_ref = REF.sdpa_fwd(q, k, v, None, causal, scale)
    assert_close(host_f64(o), o_ref, "float32", "o")
    gq, gk, gv = TRI.sdpa_bwd(dev(o_ref), dev(q), dev(k), dev(v), o, lse, None, causal, scale)
    for got, ref in zip((gq, gk, gv), REF.sdpa_bwd(o_ref, q, k, v, o_ref, lse_ref, None, causal, scale)):
        assert_close(host_f64(got), ref, "float32", "grad")
    with pytest.raises(TypeError, match="float64"):
        TRI.sdpa_fwd(dev(f64(q)), dev(f64(k)), dev(f64(v)), None, False, scale)
    with pytest.raises(ValueError, match="does not broadcast"):
        TRI.sdpa_fwd(dev(q), dev(k), dev(v), dev(np.zeros((3, 5), np.float32)), False, scale)
    keep = np.ones((7, 33), bool)
    with pytest.raises(TypeError, match="bool mask"):
        TRI.sdpa_fwd(dev(q), dev(k), dev(v), dev(keep), False, scale)
    with pytest.raises(TypeError, match="bool mask"):
        REF.sdpa_fwd(q, k, v, keep, False, scale)
    with pytest.raises(ValueError, match="k and v"):
        TRI.sdpa_fwd(dev(q), dev(k), dev(v[:, :, :5]), None, False, scale)


def test_sdpa_gqa_reference_equals_repeated_heads():
    # grouped-query attention is multi-head attention with each key/value head repeated over its group
    # (PyTorch's enable_gqa = repeat_interleave); dk/dv are the repeated heads' gradients summed per group
    rng = np.random.default_rng(3)
    q, k, v, mask, causal, scale = attn_inputs(rng, ATTN_CASES["gqa_h3_hkv1_additive_lq5_lk9_d20"], "float32")
    q, k, v, mask = f64(q), f64(k), f64(v), f64(mask)
    kr, vr = np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1)
    o, lse = REF.sdpa_fwd(q, k, v, mask, causal, scale)
    o_rep, lse_rep = REF.sdpa_fwd(q, kr, vr, mask, causal, scale)
    np.testing.assert_allclose(o, o_rep, rtol=1e-12, atol=1e-12)
    go = rng.standard_normal(o.shape)
    gq, gk, gv = REF.sdpa_bwd(go, q, k, v, o, lse, mask, causal, scale)
    gq_rep, gk_rep, gv_rep = REF.sdpa_bwd(go, q, kr, vr, o_rep, lse_rep, mask, causal, scale)
    np.testing.assert_allclose(gq, gq_rep, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gk, gk_rep.reshape(2, 1, 3, 9, 20).sum(2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gv, gv_rep.reshape(2, 1, 3, 9, 20).sum(2), rtol=1e-12, atol=1e-12)


def test_sdpa_gqa_head_count_errors():
    rng = np.random.default_rng(4)
    q, k = rand(rng, (1, 3, 4, 16), "float32"), rand(rng, (1, 2, 4, 16), "float32")
    with pytest.raises(ValueError, match="must divide the 3 query heads"):
        TRI.sdpa_fwd(dev(q), dev(k), dev(k), None, False, 0.25)
    with pytest.raises(ValueError, match="dividing the 3 query"):
        REF.sdpa_fwd(q, k, k, None, False, 0.25)


def test_sdpa_autotune_tables():
    # the forward's causal split needs BLOCK_N | BLOCK_M; every tile class has a config for each dtype class
    for tiles in (attn_kernels._FWD_TILES, attn_kernels._DKDV_TILES, attn_kernels._DQ_TILES):
        assert set(tiles) == {(tc, d) for tc in (True, False) for d in (64, 128, 256)}
        assert all(tiles.values())
    assert all(m % n == 0 for group in attn_kernels._FWD_TILES.values() for m, n, _, _ in group)


@pytest.mark.parametrize("rows", [65_535, 65_536, 2 * 65_536 + 7])
def test_sdpa_grid_is_flat_past_cuda_axis_limits(rows):
    # batch x heads past 65,535 must not go on CUDA's axis 1 or 2 (their limit): every attention launch uses
    # launch_grid, a 1-D grid on axis 0 (limit 2**31 - 1); checked without running that many programs
    for length, block in ((1, 16), (4096, 128), (100, 32)):
        grid = attn_kernels.launch_grid(rows, length, block)
        assert grid == (rows * -(-length // block),) and grid[0] <= attn_kernels.MAX_GRID_X
    with pytest.raises(ValueError, match="exceed CUDA's grid limit"):
        attn_kernels.launch_grid(rows, 2 ** 31 // 65_535 * 16 * 16, 16)


def test_sdpa_launches_use_the_flat_grid(monkeypatch):
    # the wrappers take their grids from launch_grid (so the boundary test above covers them), one row per
    # (batch, query head) or, for dk/dv, per (batch, key/value head)
    calls = []
    real = attn_kernels.launch_grid
    monkeypatch.setattr(attn_kernels, "launch_grid", lambda *a: calls.append(a) or real(*a))
    rng = np.random.default_rng(5)
    q, k, v, _, _, scale = attn_inputs(rng, ATTN_CASES["gqa_h4_hkv2_causal_lq19_lk23_tiles16"], "float32")
    o, lse = attn_kernels.sdpa_fwd(dev(q), dev(k), dev(v), None, True, scale)
    attn_kernels.sdpa_bwd(dev(q), dev(q), dev(k), dev(v), o, lse, None, True, scale)
    # interpreter mode evaluates a launch's grid twice (the GPU launch-rule check, then the launch): one per launch
    launches = [c for i, c in enumerate(calls) if i == 0 or c != calls[i - 1]]
    assert [c[:2] for c in launches] == [(4, 19), (4, 19), (2, 23), (4, 19)]


def test_sdpa_no_keys():
    # Lk = 0: every row is fully masked, so o = 0 and all gradients are 0, on both devices
    rng = np.random.default_rng(11)
    q, k = rand(rng, (1, 2, 3, 16), "float32"), np.zeros((1, 2, 0, 16), np.float32)
    o_ref, lse_ref = REF.sdpa_fwd(q, k, k, None, False, 0.25)
    o, lse = TRI.sdpa_fwd(dev(q), dev(k), dev(k), None, False, 0.25)
    assert_close(host_f64(o), o_ref, "float32", "o")
    assert np.all(o_ref == 0) and np.all(np.isneginf(host_f64(lse))) and np.all(np.isneginf(lse_ref))
    gq, gk, gv = TRI.sdpa_bwd(dev(q), dev(q), dev(k), dev(k), o, lse, None, False, 0.25)
    assert np.all(host_f64(gq) == 0) and gk.shape == gv.shape == k.shape
    assert np.all(REF.sdpa_bwd(q, q, k, k, o_ref, lse_ref, None, False, 0.25)[0] == 0)


# ----------------------------------------------------------------------------------------------- conv2d
# name: (x shape, Cout, (kh, kw), stride, padding, dilation, groups, bias)
CONV_CASES = {
    "s21_p1_d12_g2_bias": ((2, 8, 9, 11), 6, (3, 3), (2, 1), 1, (1, 2), 2, True),
    "s2_p1_d2_nobias": ((1, 3, 7, 5), 4, (3, 2), 2, 1, 2, 1, False),
    "1x1_g3_bias": ((3, 3, 5, 3), 6, (1, 1), 1, 0, 1, 3, True),
}


def conv_inputs(rng, case, dtype):
    x_shape, cout, (kh, kw), stride, padding, dilation, groups, bias = case
    x = rand(rng, x_shape, dtype)
    w = rand(rng, (cout, x_shape[1] // groups, kh, kw), dtype, scale=0.5)
    b = rand(rng, (cout,), dtype) if bias else None
    return x, w, b, stride, padding, dilation, groups


def test_conv2d_reference_finite_differences():
    rng = np.random.default_rng(3)
    x, w, b, *geo = conv_inputs(rng, ((2, 4, 5, 4), 4, (3, 2), 2, 1, (2, 1), 2, True), "float32")
    x, w, b = f64(x), f64(w), f64(b)
    y = REF.conv2d_fwd(x, w, b, *geo)
    assert y.shape == (2, 4, 2, 3)
    gy = rng.standard_normal(y.shape)
    check_fd(lambda x, w, b: REF.conv2d_fwd(x, w, b, *geo), [x, w, b], gy, REF.conv2d_bwd(gy, x, w, *geo), "xwb")


def test_conv2d_reference_is_a_correlation():
    # one output by hand: PyTorch's conv2d is a cross-correlation over the padded, dilated window
    rng = np.random.default_rng(4)
    x, w, b, *geo = conv_inputs(rng, CONV_CASES["s21_p1_d12_g2_bias"], "float32")
    x, w, b = f64(x), f64(w), f64(b)
    y = REF.conv2d_fwd(x, w, b, *geo)
    n, co, oh, ow = 1, 4, 2, 3                                        # co 4 is in group 1 (channels 4..7)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    window = xp[n, 4:8, oh * 2:oh * 2 + 3, ow:ow + 5:2]
    assert np.isclose(y[n, co, oh, ow], np.sum(window * w[co]) + b[co])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv2d_triton_matches_reference(name, dtype):
    rng = np.random.default_rng(5)
    x, w, b, *geo = conv_inputs(rng, CONV_CASES[name], dtype)
    y_ref = REF.conv2d_fwd(f64(x), f64(w), f64(b), *geo)
    gy = rand(rng, y_ref.shape, dtype)
    ref_grads = REF.conv2d_bwd(f64(gy), f64(x), f64(w), *geo, need_b=b is not None)
    xd, wd = dev(x, transposed=True), dev(w, transposed=True)
    y = TRI.conv2d_fwd(xd, wd, dev(b), *geo)
    assert y.dtype == NP_DTYPES[dtype]
    assert_close(host_f64(y), y_ref, dtype, "y", scale=2)
    grads = TRI.conv2d_bwd(dev(gy, transposed=True), xd, wd, *geo, need_b=b is not None)
    for got, ref, what in zip(grads, ref_grads, ("gx", "gw", "gb")):
        assert (got is None) == (ref is None), what
        if ref is not None:
            assert_close(host_f64(got), ref, dtype, what, scale=4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_conv2d_weight_grad_split_k(dtype):
    rng = np.random.default_rng(6)
    x, w, _, *geo = conv_inputs(rng, CONV_CASES["s21_p1_d12_g2_bias"], dtype)
    stride, padding, dilation, _ = check_conv2d(x.shape, w.shape, None, *geo)
    gy = rand(rng, REF.conv2d_fwd(x, w, None, *geo).shape, dtype)
    gw_ref = REF.conv2d_bwd(f64(gy), f64(x), f64(w), *geo, need_x=False, need_b=False)[1]
    gw = conv_kernels.conv2d_bwd_weight(dev(gy), dev(x), w.shape, stride, padding, dilation, geo[-1], split_k=3)
    assert_close(host_f64(gw), gw_ref, dtype, "gw split-k", scale=4)


def test_conv2d_errors():
    x = np.zeros((1, 4, 5, 5), np.float32)
    w_groups = np.zeros((4, 1, 3, 3), np.float32)        # would need groups=4, not 3
    w = np.zeros((2, 4, 3, 3), np.float32)
    for impl, wrap in ((REF, np.asarray), (TRI, dev)):
        with pytest.raises(ValueError, match="groups=3"):
            impl.conv2d_fwd(wrap(x), wrap(w_groups), None, 1, 0, 1, 3)
        with pytest.raises(ValueError, match="smaller than the dilated kernel"):
            impl.conv2d_fwd(wrap(x), wrap(w), None, 1, 0, 3, 1)


# ---------------------------------------------------------------------------------------------- pooling
# name: (x shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = {
    "k3_s2_p1_ceil": ((2, 3, 7, 8), 3, 2, 1, 1, True),
    "k23_s12_p10_d21": ((1, 2, 9, 6), (2, 3), (1, 2), (1, 0), (2, 1), False),
    "k2_ceil_odd": ((1, 3, 5, 7), 2, None, 0, 1, True),
}
# name: (x shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = {
    "k3_s2_p1_ceil_incl": ((2, 3, 7, 8), 3, 2, 1, True, True, None),
    "k3_s2_p1_ceil_excl": ((2, 3, 7, 8), 3, 2, 1, True, False, None),
    "k23_s12_p10": ((1, 2, 9, 6), (2, 3), (1, 2), (1, 0), False, True, None),
    "k3_s1_p1_divisor5": ((1, 2, 5, 5), 3, 1, 1, False, False, 5),
}
ADAPTIVE_CASES = {"7x8_to_3x5": ((2, 3, 7, 8), (3, 5)), "5x9_to_5x4": ((1, 2, 5, 9), (None, 4)),
                  "6x6_to_4": ((1, 1, 6, 6), 4), "5x3_to_7x2": ((1, 2, 5, 3), (7, 2))}


def test_pool_output_sizes_follow_pytorch():
    # values PyTorch gives: MaxPool2d(3, 2, 1, ceil_mode=True) on 7x8 -> 4x5; ceil drops a window
    # that would start in the padding: MaxPool2d(2, 2, 1, ceil_mode=True) on 5x5 -> 3x3 (not 4x4)
    assert REF.max_pool2d_fwd(np.zeros((1, 1, 7, 8)), 3, 2, 1, 1, True)[0].shape == (1, 1, 4, 5)
    assert REF.max_pool2d_fwd(np.zeros((1, 1, 5, 5)), 2, 2, 1, 1, True)[0].shape == (1, 1, 3, 3)
    assert REF.avg_pool2d_fwd(np.zeros((1, 1, 5, 5)), 2, 2, 0, True, True, None).shape == (1, 1, 3, 3)
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    # the last ceil-mode window covers only column/row 4; count_include_pad still counts nothing past H
    assert REF.avg_pool2d_fwd(x, 2, 2, 0, True, True, None)[0, 0, 2, 2] == 24.0
    assert REF.adaptive_avg_pool2d_fwd(np.arange(5.0).reshape(1, 1, 1, 5), (1, 3))[0, 0, 0].tolist() == \
        [0.5, 2.0, 3.5]   # windows [0, 2), [1, 4), [3, 5)
    with pytest.raises(ValueError, match="half of kernel size"):
        REF.max_pool2d_fwd(np.zeros((1, 1, 5, 5)), 2, 1, 2, 1, False)


def test_pool_references_finite_differences():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 7, 6))
    for _, ks, s, p, d, ceil in MAX_CASES.values():
        y, idx = REF.max_pool2d_fwd(x, ks, s, p, d, ceil)
        gy = rng.standard_normal(y.shape)
        check_fd(lambda x: REF.max_pool2d_fwd(x, ks, s, p, d, ceil)[0], [x], gy,
                 [REF.max_pool2d_bwd(gy, idx, x.shape)], "x")
    for _, *args in AVG_CASES.values():
        gy = rng.standard_normal(REF.avg_pool2d_fwd(x, *args).shape)
        check_fd(lambda x: REF.avg_pool2d_fwd(x, *args), [x], gy, [REF.avg_pool2d_bwd(gy, x.shape, *args)], "x")
    for _, size in ADAPTIVE_CASES.values():
        gy = rng.standard_normal(REF.adaptive_avg_pool2d_fwd(x, size).shape)
        check_fd(lambda x: REF.adaptive_avg_pool2d_fwd(x, size), [x], gy,
                 [REF.adaptive_avg_pool2d_bwd(gy, x.shape, size)], "x")


def test_max_pool2d_reference_indices_and_nan():
    x = np.array([[[[1.0, 5.0, 5.0], [np.nan, 2.0, np.nan], [0.0, -1.0, 3.0]]]])
    y, idx = REF.max_pool2d_fwd(x, 2, 1, 0, 1, False)
    # ties keep the first tap; NaN wins and the last NaN's index is kept (PyTorch's `val > max || isnan(val)`)
    assert idx[0, 0].tolist() == [[3, 5], [3, 5]]
    assert np.isnan(y[0, 0]).all()
    y, idx = REF.max_pool2d_fwd(x[..., :1, :], (1, 3), 1, (0, 1), 1, False)
    assert idx[0, 0, 0].tolist() == [1, 1, 1] and y[0, 0, 0].tolist() == [5.0, 5.0, 5.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MAX_CASES))
def test_max_pool2d_triton_matches_reference(name, dtype):
    rng = np.random.default_rng(8)
    shape, *args = MAX_CASES[name]
    x = rand(rng, shape, dtype)
    y_ref, idx_ref = REF.max_pool2d_fwd(f64(x), *args)
    y, idx = TRI.max_pool2d_fwd(dev(x, transposed=True), *args)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(host_f64(idx), idx_ref)
    assert_close(host_f64(y), y_ref, dtype, "y")
    gy = rand(rng, y_ref.shape, dtype)
    gx = TRI.max_pool2d_bwd(dev(gy, transposed=True), idx, shape)
    assert_close(host_f64(gx), REF.max_pool2d_bwd(f64(gy), idx_ref, shape), dtype, "gx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(AVG_CASES))
def test_avg_pool2d_triton_matches_reference(name, dtype):
    rng = np.random.default_rng(9)
    shape, *args = AVG_CASES[name]
    x = rand(rng, shape, dtype)
    y = TRI.avg_pool2d_fwd(dev(x, transposed=True), *args)
    assert_close(host_f64(y), REF.avg_pool2d_fwd(f64(x), *args), dtype, "y")
    gy = rand(rng, y.shape, dtype)
    gx = TRI.avg_pool2d_bwd(dev(gy, transposed=True), shape, *args)
    assert_close(host_f64(gx), REF.avg_pool2d_bwd(f64(gy), shape, *args), dtype, "gx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ADAPTIVE_CASES))
def test_adaptive_avg_pool2d_triton_matches_reference(name, dtype):
    rng = np.random.default_rng(10)
    shape, size = ADAPTIVE_CASES[name]
    x = rand(rng, shape, dtype)
    y = TRI.adaptive_avg_pool2d_fwd(dev(x, transposed=True), size)
    assert_close(host_f64(y), REF.adaptive_avg_pool2d_fwd(f64(x), size), dtype, "y")
    gy = rand(rng, y.shape, dtype)
    gx = TRI.adaptive_avg_pool2d_bwd(dev(gy, transposed=True), shape, size)
    assert_close(host_f64(gx), REF.adaptive_avg_pool2d_bwd(f64(gy), shape, size), dtype, "gx")
