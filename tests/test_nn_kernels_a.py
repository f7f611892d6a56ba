"""Fused nn kernels, part A: layer_norm, rms_norm, cross_entropy, dropout, batch_norm.

(a) The NumPy reference (`NumpyNNA`) against central finite differences in float64, every backward, under a
random upstream gradient. (b) The Triton wrappers (`TritonNNA`, Triton's interpreter here) against the
float64 reference evaluated on the same (rounded) inputs, fp32/fp16/bf16, awkward shapes, non-contiguous
views, the looped (long-row / many-class) code paths; dropout masks equal bit for bit on cpu and cuda;
batch-norm running statistics. Arrays on cuda: `DeviceArray`s from ``runtime.empty`` + a host copy; bf16
results held to round-to-nearest-even accuracy (`_kernel_helpers.BF16_ROUNDED_TOL`).
"""
import numpy as np
import pytest

from _kernel_helpers import DTYPES, NP_DTYPES, assert_close, check_fd, dev, f64, host_f64, rand
from tritongrad.backends.numpy_nn_a import NumpyNNA
from tritongrad.backends.triton_nn_a import TritonNNA
from tritongrad.kernels import cross_entropy as ce_kernels
from tritongrad.kernels import norm as norm_kernels

# 'mean' over rows that are all ignored divides by zero on purpose (nan, as PyTorch); NumPy in the interpreter warns
pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value) encountered:RuntimeWarning")

REF = NumpyNNA()
TRI = TritonNNA()
STATS = "float32"   # saved statistics are fp32 whatever the input dtype


# ------------------------------------------------------------------------------- (a) reference vs FD
@pytest.mark.parametrize("has_w,has_b", [(True, True), (False, False), (False, True)])
def test_reference_layer_norm_grads(has_w, has_b):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    w, b = (w if has_w else None), (b if has_b else None)
    gy = rng.standard_normal((4, 6))
    _, mean, rstd = REF.layer_norm_fwd(x, w, b, 1e-5)
    grads = REF.layer_norm_bwd(gy, x, w, mean, rstd)
    arrays = [a for a in (x, w, b) if a is not None]

    def f(*arrs):
        it = iter(arrs)
        return REF.layer_norm_fwd(next(it), next(it) if has_w else None, next(it) if has_b else None, 1e-5)[0]
    check_fd(f, arrays, gy, [g for g, a in zip(grads, (x, w, b)) if a is not None], "xwb")


@pytest.mark.parametrize("has_w", [True, False])
def test_reference_rms_norm_grads(has_w):
    rng = np.random.default_rng(1)
    x, w, gy = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal((4, 6))
    w = w if has_w else None
    _, rstd = REF.rms_norm_fwd(x, w, 1e-6)
    gx, gw = REF.rms_norm_bwd(gy, x, w, rstd)
    if has_w:
        check_fd(lambda x, w: REF.rms_norm_fwd(x, w, 1e-6)[0], [x, w], gy, [gx, gw], "xw")
    else:
        assert gw is None
        check_fd(lambda x: REF.rms_norm_fwd(x, None, 1e-6)[0], [x], gy, [gx], "x")


CE_VARIANTS = [  # (weighted, ignore_index, label_smoothing)
    (False, -100, 0.0), (True, -100, 0.1), (False, 2, 0.2), (True, 2, 0.0),
]
REDUCTIONS = ["none", "mean", "sum"]


def ce_case(rng, M, C, weighted, ignore_index, dtype="float32", n_ignored=2):
    """Logits, targets (some rows set to ``ignore_index``) and class weights (or None)."""
    logits = rand(rng, (M, C), dtype, scale=3.0)
    target = rng.integers(0, C, M).astype(np.int64)
    target[rng.permutation(M)[:min(n_ignored, M - 1)]] = ignore_index
    weight = (rng.random(C) + 0.5).astype(NP_DTYPES[dtype]) if weighted else None
    return logits, target, weight


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("variant", CE_VARIANTS, ids=str)
def test_reference_cross_entropy_grads(variant, reduction):
    weighted, ignore_index, smoothing = variant
    rng = np.random.default_rng(2)
    logits, target, weight = ce_case(rng, 5, 4, weighted, ignore_index)
    logits, weight = f64(logits), f64(weight)
    loss, lse = REF.cross_entropy_fwd(logits, target, weight, ignore_index, smoothing, reduction)
    g = rng.standard_normal(loss.shape)
    grad = REF.cross_entropy_bwd(g, logits, target, weight, lse, ignore_index, smoothing, reduction)
    check_fd(lambda x: REF.cross_entropy_fwd(x, target, weight, ignore_index, smoothing, reduction)[0],
             [logits], g, [grad], ["logits"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.15)])
def test_reference_cross_entropy_prob_grads(weighted, smoothing, reduction):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4)) * 2
    target = rng.random((5, 4))
    target /= target.sum(axis=1, keepdims=True)
    weight = rng.random(4) + 0.5 if weighted else None
    loss, lse = REF.cross_entropy_prob_fwd(logits, target, weight, smoothing, reduction)
    g = rng.standard_normal(loss.shape)
    grad = REF.cross_entropy_prob_bwd(g, logits, target, weight, lse, smoothing, reduction)
    check_fd(lambda x: REF.cross_entropy_prob_fwd(x, target, weight, smoothing, reduction)[0],
             [logits], g, [grad], ["logits"])


def test_reference_dropout_grads():
    rng = np.random.default_rng(4)
    x, gy = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    gx = REF.dropout_bwd(gy, 0.4, 17, 3)
    check_fd(lambda x: REF.dropout_fwd(x, 0.4, 17, 3), [x], gy, [gx], "x")


@pytest.mark.parametrize("training", [True, False])
def test_reference_batch_norm_grads(training):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    gy = rng.standard_normal(x.shape)

    def f(x, w, b):
        return REF.batch_norm_fwd(x, w, b, rm.copy(), rv.copy(), training, 0.1, 1e-5)[0]
    _, save_mean, save_rstd = REF.batch_norm_fwd(x, w, b, rm.copy(), rv.copy(), training, 0.1, 1e-5)
    grads = REF.batch_norm_bwd(gy, x, w, save_mean, save_rstd, training)
    check_fd(f, [x, w, b], gy, grads, "xwb")


# ----------------------------------------------------------------------------- (b) Triton vs reference
NORM_CASES = [  # (M, N, transposed x, max_block_n): transposed = non-contiguous; a small max = looped path
    (1, 1, False, None),
    (7, 13, False, None),
    (7, 130, True, None),
    (7, 130, False, 32),
    (5, 13, True, 4),
    (0, 13, False, None),
]


def block_kw(max_block_n):
    return {} if max_block_n is None else {"max_block_n": max_block_n}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,transposed,max_block_n", NORM_CASES, ids=str)
def test_layer_norm_matches_reference(M, N, transposed, max_block_n, dtype):
    rng = np.random.default_rng(M * 1000 + N)
    x, w, b, gy = rand(rng, (M, N), dtype, 2.0) + 1, rand(rng, (N,), dtype), rand(rng, (N,), dtype), \
        rand(rng, (M, N), dtype)
    y_d, mean_d, rstd_d = norm_kernels.layer_norm_fwd(dev(x, transposed), dev(w), dev(b), 1e-5,
                                                      **block_kw(max_block_n))
    y, mean, rstd = REF.layer_norm_fwd(f64(x), f64(w), f64(b), 1e-5)
    assert y_d.dtype == x.dtype and mean_d.dtype == rstd_d.dtype == np.float32
    assert_close(host_f64(y_d), y, dtype, "y")
    assert_close(host_f64(mean_d), mean, STATS, "mean")
    assert_close(host_f64(rstd_d), rstd, STATS, "rstd")
    gx_d, gw_d, gb_d = norm_kernels.layer_norm_bwd(dev(gy, transposed), dev(x, transposed), dev(w),
                                                   mean_d, rstd_d, **block_kw(max_block_n))
    gx, gw, gb = REF.layer_norm_bwd(f64(gy), f64(x), f64(w), mean, rstd)
    assert_close(host_f64(gx_d), gx, dtype, "gx")
    assert_close(host_f64(gw_d), gw, dtype, "gw", scale=max(1.0, np.sqrt(M)))
    assert_close(host_f64(gb_d), gb, dtype, "gb", scale=max(1.0, np.sqrt(M)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,transposed,max_block_n", NORM_CASES, ids=str)
def test_rms_norm_matches_reference(M, N, transposed, max_block_n, dtype):
    rng = np.random.default_rng(M * 1000 + N + 1)
    x, w, gy = rand(rng, (M, N), dtype, 2.0), rand(rng, (N,), dtype), rand(rng, (M, N), dtype)
    y_d, rstd_d = norm_kernels.rms_norm_fwd(dev(x, transposed), dev(w), 1e-6, **block_kw(max_block_n))
    y, rstd = REF.rms_norm_fwd(f64(x), f64(w), 1e-6)
    assert_close(host_f64(y_d), y, dtype, "y")
    assert_close(host_f64(rstd_d), rstd, STATS, "rstd")
    gx_d, gw_d = norm_kernels.rms_norm_bwd(dev(gy), dev(x, transposed), dev(w), rstd_d,
                                           **block_kw(max_block_n))
    gx, gw = REF.rms_norm_bwd(f64(gy), f64(x), f64(w), rstd)
    assert_close(host_f64(gx_d), gx, dtype, "gx")
    assert_close(host_f64(gw_d), gw, dtype, "gw", scale=max(1.0, np.sqrt(M)))


@pytest.mark.parametrize("need_w,need_b", [(True, False), (False, True), (False, False)])
def test_norm_backward_without_affine_or_unneeded_grads(need_w, need_b):
    rng = np.random.default_rng(6)
    x, gy, b = rand(rng, (3, 9), "float32"), rand(rng, (3, 9), "float32"), rand(rng, (9,), "float32")
    _, mean_d, rstd_d = TRI.layer_norm_fwd(dev(x), None, dev(b), 1e-5)
    gx_d, gw_d, gb_d = TRI.layer_norm_bwd(dev(gy), dev(x), None, mean_d, rstd_d, need_w, need_b)
    _, mean, rstd = REF.layer_norm_fwd(f64(x), None, f64(b), 1e-5)
    gx, gw, gb = REF.layer_norm_bwd(f64(gy), f64(x), None, mean, rstd, need_w, need_b)
    assert gw_d is None and gw is None        # no weight: no weight gradient
    assert (gb_d is None) == (not need_b) == (gb is None)
    assert_close(host_f64(gx_d), gx, "float32", "gx")
    if need_b:
        assert_close(host_f64(gb_d), gb, "float32", "gb")


CE_FP32_CASES = (  # (M, C, variant, reduction): every combination at C=5, each variant once at C=1000
    [(M, 5, v, r) for M in (7, 1) for v in CE_VARIANTS for r in REDUCTIONS]
    + [(7, 1000, v, r) for v, r in zip(CE_VARIANTS, ["none", "mean", "sum", "mean"])])


def run_cross_entropy(M, C, dtype, weighted, ignore_index, smoothing, reduction, transposed=False,
                      max_block_c=ce_kernels.MAX_BLOCK_C, seed=0):
    rng = np.random.default_rng(seed + M * 7 + C)
    logits, target, weight = ce_case(rng, M, C, weighted, ignore_index, dtype)
    d_weight = None if weight is None else dev(weight)
    loss_d, lse_d = ce_kernels.cross_entropy_fwd(dev(logits, transposed), dev(target), d_weight,
                                                 ignore_index, smoothing, reduction, max_block_c=max_block_c)
    loss, lse = REF.cross_entropy_fwd(f64(logits), target, f64(weight), ignore_index, smoothing, reduction)
    assert loss_d.dtype == logits.dtype and loss_d.shape == loss.shape
    assert_close(host_f64(loss_d), loss, dtype, "loss", scale=2.0)
    assert_close(host_f64(lse_d), lse, STATS, "lse")
    g = rand(rng, loss.shape, dtype)
    grad_d = ce_kernels.cross_entropy_bwd(dev(g), dev(logits, transposed), dev(target), d_weight,
                                          lse_d, ignore_index, smoothing, reduction, max_block_c=max_block_c)
    grad = REF.cross_entropy_bwd(f64(g), f64(logits), target, f64(weight), lse, ignore_index, smoothing,
                                 reduction)
    assert_close(host_f64(grad_d), grad, dtype, "grad_logits")


@pytest.mark.parametrize("M,C,variant,reduction", CE_FP32_CASES, ids=str)
def test_cross_entropy_matches_reference_fp32(M, C, variant, reduction):
    run_cross_entropy(M, C, "float32", *variant, reduction)


@pytest.mark.parametrize("variant", CE_VARIANTS, ids=str)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cross_entropy_matches_reference_half(dtype, variant):
    run_cross_entropy(7, 1000, dtype, *variant, "mean")


@pytest.mark.parametrize("M,C,dtype,transposed,max_block_c,reduction", [
    (3, 1000, "float32", True, ce_kernels.MAX_BLOCK_C, "none"),     # non-contiguous logits
    (3, 1000, "bfloat16", False, 128, "mean"),                      # many class blocks
    (2, 50304, "bfloat16", False, ce_kernels.MAX_BLOCK_C, "sum"),   # GPT-2 vocabulary
], ids=str)
def test_cross_entropy_streaming_paths(M, C, dtype, transposed, max_block_c, reduction):
    run_cross_entropy(M, C, dtype, True, -100, 0.1, reduction, transposed, max_block_c)


def test_cross_entropy_all_ignored_mean_is_nan_and_gradient_zero():
    logits, target = np.ones((3, 4), np.float32), np.full(3, -100, np.int64)
    loss_d, lse_d = TRI.cross_entropy_fwd(dev(logits), dev(target), None, -100, 0.0, "mean")
    loss, lse = REF.cross_entropy_fwd(logits, target, None, -100, 0.0, "mean")
    assert np.isnan(host_f64(loss_d)) and np.isnan(loss)
    for be, wrap, lse in ((TRI, dev, lse_d), (REF, np.asarray, lse)):   # PyTorch: zeros, not nan
        grad = be.cross_entropy_bwd(wrap(np.array(1.0, np.float32)), wrap(logits), wrap(target), None, lse,
                                    -100, 0.1, "mean")
        np.testing.assert_array_equal(host_f64(grad) if be is TRI else grad, np.zeros((3, 4)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_prob_matches_reference(dtype, reduction):
    rng = np.random.default_rng(8)
    M, C = 7, 130 if dtype == "float32" else 13
    logits = rand(rng, (M, C), dtype, 3.0)
    target = rng.random((M, C))
    target = (target / target.sum(axis=1, keepdims=True)).astype(NP_DTYPES[dtype])
    weight = (rng.random(C) + 0.5).astype(NP_DTYPES[dtype])
    loss_d, lse_d = TRI.cross_entropy_prob_fwd(dev(logits), dev(target, True), dev(weight), 0.1,
                                               reduction)
    loss, lse = REF.cross_entropy_prob_fwd(f64(logits), f64(target), f64(weight), 0.1, reduction)
    assert_close(host_f64(loss_d), loss, dtype, "loss", scale=2.0)
    assert_close(host_f64(lse_d), lse, STATS, "lse")
    g = rand(rng, loss.shape, dtype)
    grad_d = TRI.cross_entropy_prob_bwd(dev(g), dev(logits), dev(target, True), dev(weight), lse_d,
                                        0.1, reduction)
    grad = REF.cross_entropy_prob_bwd(f64(g), f64(logits), f64(target), f64(weight), lse, 0.1, reduction)
    assert_close(host_f64(grad_d), grad, dtype, "grad_logits")


DROPOUT_CASES = [  # (shape, transposed, p, seed, offset)
    ((7,), False, 0.3, 0, 0),
    ((13, 11), True, 0.5, 1234, 77),
    ((2, 3, 5), False, 0.1, 2**40 + 5, 2**33 + 1),     # 64-bit seed and counter
    ((64, 128), False, 0.25, 99, 0),
    ((4, 5), False, 0.0, 1, 2),
    ((4, 5), False, 1.0, 1, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,transposed,p,seed,offset", DROPOUT_CASES, ids=str)
def test_dropout_mask_equal_on_cpu_and_cuda(shape, transposed, p, seed, offset, dtype):
    rng = np.random.default_rng(9)
    x = rand(rng, shape, dtype)
    x[x == 0] = 1                                   # a zero output then always means "dropped"
    x_logical = x.T if transposed else x            # the values the device view holds
    y_d = host_f64(TRI.dropout_fwd(dev(x.T if transposed else x, transposed), p, seed, offset))
    y = REF.dropout_fwd(x_logical, p, seed, offset)
    np.testing.assert_array_equal(y_d != 0, y != 0)
    assert_close(y_d, y, dtype, "y")
    gx_d = host_f64(TRI.dropout_bwd(dev(x_logical), p, seed, offset))
    np.testing.assert_array_equal(gx_d != 0, y != 0)   # the mask regenerated in backward
    assert_close(gx_d, REF.dropout_bwd(x_logical, p, seed, offset), dtype, "gx")
    kept = (y != 0).mean()
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / y.size) + 1e-12, (kept, p)


def test_dropout_masks_depend_on_seed_and_offset():
    x = dev(np.ones(4096, np.float32))
    base = host_f64(TRI.dropout_fwd(x, 0.5, 7, 0)) != 0
    assert (base != (host_f64(TRI.dropout_fwd(x, 0.5, 8, 0)) != 0)).mean() > 0.4
    shifted = host_f64(TRI.dropout_fwd(x, 0.5, 7, 1024)) != 0
    np.testing.assert_array_equal(shifted[:-1024], base[1024:])   # element i uses counter offset + i


BN_CASES = [  # (N, C, L, transposed x as (N, L, C) memory, dtype, param dtype or None for x's)
    *[(4, 3, 5, False, dtype, None) for dtype in DTYPES],
    (7, 2, 1, False, "float32", None),           # BatchNorm1d on (N, C)
    (1, 4, 130, True, "bfloat16", None),         # channels-last memory
    (3, 5, 7, False, "bfloat16", "float32"),     # fp32 parameters with 16-bit activations
]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("N,C,L,transposed,dtype,param_dtype", BN_CASES, ids=str)
def test_batch_norm_matches_reference(N, C, L, transposed, dtype, param_dtype, training):
    rng = np.random.default_rng(N * 100 + C * 10 + L)
    pdt = param_dtype or dtype
    x = rand(rng, (N, C, L), dtype, 2.0) + 0.5
    w, b, gy = rand(rng, (C,), pdt), rand(rng, (C,), pdt), rand(rng, (N, C, L), dtype)
    rm, rv = rng.standard_normal(C).astype(np.float32), (rng.random(C) + 0.5).astype(np.float32)
    x_d = dev(np.ascontiguousarray(x.transpose(0, 2, 1))).transpose(0, 2, 1) if transposed else dev(x)
    rm_d, rv_d = dev(rm), dev(rv)
    y_d, sm_d, sr_d = TRI.batch_norm_fwd(x_d, dev(w), dev(b), rm_d, rv_d, training, 0.1, 1e-5)
    rm_ref, rv_ref = rm.astype(np.float64), rv.astype(np.float64)
    y, sm, sr = REF.batch_norm_fwd(f64(x), f64(w), f64(b), rm_ref, rv_ref, training, 0.1, 1e-5)
    assert_close(host_f64(y_d), y, dtype, "y")
    assert_close(host_f64(sm_d), sm, STATS, "save_mean")
    assert_close(host_f64(sr_d), sr, STATS, "save_rstd")
    assert_close(host_f64(rm_d), rm_ref, STATS, "running_mean")
    assert_close(host_f64(rv_d), rv_ref, STATS, "running_var")
    if not training:
        np.testing.assert_array_equal(host_f64(rm_d), rm)     # eval leaves the running stats alone
    gx_d, gw_d, gb_d = TRI.batch_norm_bwd(dev(gy), x_d, dev(w), sm_d, sr_d, training)
    gx, gw, gb = REF.batch_norm_bwd(f64(gy), f64(x), f64(w), sm, sr, training)
    assert gw_d.dtype == w.dtype
    assert_close(host_f64(gx_d), gx, dtype, "gx")
    assert_close(host_f64(gw_d), gw, pdt, "gw", scale=np.sqrt(N * L))
    assert_close(host_f64(gb_d), gb, pdt, "gb", scale=np.sqrt(N * L))


def test_batch_norm_running_stats_follow_pytorch_rule():
    """Two training steps: ``r <- 0.9 r + 0.1 s`` with the unbiased batch variance, no affine parameters."""
    rng = np.random.default_rng(10)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    rm_d, rv_d = dev(rm), dev(rv)
    for _ in range(2):
        x = rng.standard_normal((5, 3, 4)).astype(np.float32)
        TRI.batch_norm_fwd(dev(x), None, None, rm_d, rv_d, True, 0.1, 1e-5)
        rm = 0.9 * rm + 0.1 * x.mean(axis=(0, 2))
        rv = 0.9 * rv + 0.1 * x.var(axis=(0, 2), ddof=1)
    assert_close(host_f64(rm_d), rm, STATS, "running_mean")
    assert_close(host_f64(rv_d), rv, STATS, "running_var")


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("be,wrap", [(REF, np.asarray), (TRI, dev)], ids=["cpu", "cuda"])
def test_errors_name_the_problem(be, wrap):
    logits, target = wrap(np.zeros((2, 3), np.float32)), wrap(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="reduction"):
        be.cross_entropy_fwd(logits, target, None, -100, 0.0, "average")
    with pytest.raises(ValueError, match="between 0 and 1"):
        be.dropout_fwd(logits, 1.5, 0, 0)
    x = wrap(np.zeros((1, 2, 1), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        be.batch_norm_fwd(x, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean"):
        be.batch_norm_fwd(x, None, None, None, None, False, 0.1, 1e-5)


def test_kernel_wrappers_check_shapes_and_dtypes():
    x = dev(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="weight has shape"):
        TRI.layer_norm_fwd(x, dev(np.zeros(4, np.float32)), None, 1e-5)
    with pytest.raises(TypeError, match="int64"):
        TRI.cross_entropy_fwd(x, dev(np.zeros(2, np.int32)), None, -100, 0.0, "mean")
    with pytest.raises(TypeError, match="dtype"):
        TRI.rms_norm_fwd(dev(np.zeros((2, 3), np.float64)), None, 1e-6)


def test_reference_rejects_out_of_range_target():
    with pytest.raises(IndexError, match="out of bounds"):
        REF.cross_entropy_fwd(np.zeros((2, 3)), np.array([0, 3]), None, -100, 0.0, "mean")
