"""The NumPy backend's vectorized error functions against the C library's (``math.erf``/``math.erfc``)."""
import math

import numpy as np
import pytest

from tritongrad.backends.numpy_special import erf, erfc, erfinv


def _points():
    """About 2 million float64 points: the bulk, every region boundary of the approximation, the tails out to
    where erfc underflows, subnormals, signed zeros, infinities and nan."""
    rng = np.random.default_rng(18)
    boundaries = np.array([0.84375, 1.25, 1 / 0.35, 6.0, 28.0, 2.0 ** -28, 2.0 ** -56, 0.25])
    near = boundaries[:, None] * (1 + np.linspace(-1e-6, 1e-6, 201))[None, :]
    x = np.concatenate([rng.standard_normal(1_000_000) * 2, rng.uniform(-30, 30, 600_000), rng.uniform(-1, 1, 200_000),
                        np.ldexp(rng.uniform(-1, 1, 100_000), rng.integers(-1074, 0, 100_000)),
                        near.ravel(), -near.ravel(),
                        [0.0, -0.0, 5e-324, -5e-324, 26.5, 27.2, -27.2, np.inf, -np.inf, np.nan]])
    return x


def _ulps(got, ref):
    """|got - ref| in units of ref's last place (0 where equal, nan-aware: nan where exactly one is nan)."""
    with np.errstate(invalid="ignore"):
        return np.where(got == ref, 0.0, np.abs(got - ref) / np.spacing(np.abs(ref)))


@pytest.mark.parametrize("fn, ref_fn, max_ulp", [(erf, math.erf, 1), (erfc, math.erfc, 4)])
def test_matches_libm(fn, ref_fn, max_ulp):
    x = _points()
    ref = np.array([ref_fn(v) for v in x.tolist()])
    got = fn(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ulps = _ulps(got, ref)[~np.isnan(ref)]
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= max_ulp, f"{fn.__name__}({x[~np.isnan(ref)][worst]!r}) is {ulps[worst]} ulp off"
    assert np.mean(ulps) < 0.1             # mostly the C library's value exactly


def test_shapes_and_dtypes():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)[:, ::2]      # non-contiguous float32
    ref = [[[math.erf(v) for v in row] for row in plane] for plane in x.astype(np.float64).tolist()]
    np.testing.assert_array_max_ulp(erf(x), np.array(ref), maxulp=1)
    assert erf(np.float64(0.5)).shape == () and erfc(np.zeros((0, 3))).shape == (0, 3)


def test_erfinv_inverts_erf():
    rng = np.random.default_rng(1)
    # y over (-1, 1), and 1 - 2^-k up to the last float64 below 1, where the inverse is about 5.9
    y = np.concatenate([rng.uniform(-1, 1, 500_000), 1 - np.ldexp(1.0, -np.arange(1, 54)),
                        -1 + np.ldexp(1.0, -np.arange(1, 53)), [0.0, -0.0, 1e-300, 0.5, -0.5]])
    x = erfinv(y)
    inner = np.abs(y) <= 0.5
    # the residual in the function that is well conditioned at each point: erf near 0, erfc (relative) in the
    # tails, where rounding x alone moves erfc(x) by a relative 2 x^2 eps
    np.testing.assert_allclose(erf(x[inner]), y[inner], rtol=4e-16, atol=0)
    xt, ct = np.abs(x[~inner]), 1 - np.abs(y[~inner])
    rel = np.abs(erfc(xt) - ct) / ct
    assert np.all(rel <= (2 * xt * xt + 8) * np.finfo(np.float64).eps), float(np.max(rel))
    np.testing.assert_array_equal(np.signbit(x), np.signbit(y))


def test_erfinv_edges():
    got = erfinv(np.array([1.0, -1.0, 1.5, -2.0, np.nan, 0.0]))
    np.testing.assert_array_equal(got, [np.inf, -np.inf, np.nan, np.nan, np.nan, 0.0])


def test_erfinv_matches_scipy_when_installed():
    special = pytest.importorskip("scipy.special", reason="SciPy is an optional second reference, not installed")
    y = np.random.default_rng(2).uniform(-1, 1, 200_000)
    np.testing.assert_allclose(erfinv(y), special.erfinv(y), rtol=2e-15, atol=0)
