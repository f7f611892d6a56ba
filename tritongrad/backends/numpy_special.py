"""Vectorized special functions for the NumPy backend: `erf`, `erfc` and `erfinv` on whole arrays, and the
normal CDF and GELU forms built on them.

``math.erf`` is a Python call per element; ``scipy.special`` would make SciPy (tens of MB) a dependency of the
core for three functions. These are the classic rational approximations of Sun's FDLIBM ``s_erf.c`` (the
algorithm glibc's ``erf``/``erfc`` and so ``math.erf``/``math.erfc`` use), evaluated on arrays in float64:
accurate to float64 rounding (within 1 ulp of ``math.erf``/``math.erfc``, relative error in ``erfc``'s tails
too; `tests/test_numpy_special.py` checks millions of points). `erfinv` starts from Giles' single-precision
approximation and polishes it with Halley steps on ``erf`` (or on ``erfc`` near +-1, where ``1 - |y|`` is
exact), so it is accurate to a few ulp as well.

The FDLIBM coefficients carry Sun's notice, preserved as its licence asks:
Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved. Developed at SunSoft, a Sun Microsystems,
Inc. business. Permission to use, copy, modify, and distribute this software is freely granted, provided that
this notice is preserved.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["erf", "erfc", "erfinv", "normal_cdf", "normal_pdf", "gelu_tanh", "gelu_tanh_derivative"]

# erf(x) = x + x * PP(x^2) / QQ(x^2) on |x| < 0.84375
_EFX = 1.28379167095512586316e-01
_EFX8 = 1.02703333676410069053e+00
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
# erf(x) = ERX + PA(s) / QA(s), s = |x| - 1, on 0.84375 <= |x| < 1.25
_ERX = 8.45062911510467529297e-01
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
# erfc(x) = exp(-x^2 - 0.5625 + R(s) / S(s)) / x, s = 1 / x^2: RA/SA on 1.25 <= x < 1/0.35, RB/SB above
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)

# Region boundaries of FDLIBM (it compares the high words of |x|; these floats are those words exactly)
_TINY_ERFC = 2.0 ** -56
_ERX_FROM = 0.84375
_TAIL_FROM = 1.25
_RB_FROM_ERF = float(np.array(0x4006DB6E << 32, np.int64).view(np.float64))   # ~ 1/0.35
_RB_FROM_ERFC = float(np.array(0x4006DB6D << 32, np.int64).view(np.float64))
_ERF_ONE_FROM = 6.0
_ERFC_ZERO_FROM = 28.0
_BLOCK = 16384
"""Elements per block: the temporaries of a block stay in the L2 cache."""


def _poly(coeffs, s):
    """``coeffs[0] + coeffs[1] s + ...`` by Horner's rule."""
    r = np.full_like(s, coeffs[-1])
    for c in coeffs[-2::-1]:
        r *= s
        r += c
    return r


def _blockwise(block_fn, x):
    """``block_fn(x_block, out_block)`` over blocks of the float64 flattening of ``x``; a new array of x's
    shape. Each region of the piecewise approximations is gathered (``take``), evaluated and scattered
    back: selecting with ``where`` would evaluate every piece everywhere."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    with np.errstate(all="ignore"):
        for i in range(0, flat.size, _BLOCK):
            block_fn(flat[i:i + _BLOCK], out[i:i + _BLOCK])
    return out.reshape(x.shape)


def _small_ratio(x):
    """``PP(x^2) / QQ(x^2)`` for |x| < 0.84375: erf(x) = x + x * ratio."""
    z = x * x
    return _poly(_PP, z) / _poly(_QQ, z)


def _middle(a):
    """``PA(s) / QA(s)`` with ``s = |x| - 1``, for 0.84375 <= |x| < 1.25 (erf(|x|) - ERX)."""
    s = a - 1.0
    return _poly(_PA, s) / _poly(_QA, s)


def _tail(a, rb_from):
    """``erfc(a)`` for 1.25 <= a < 28: ``exp(-a^2 - 0.5625 + R/S) / a`` with ``-a^2`` split into
    ``-z^2 + (z - a)(z + a)``, ``z`` being ``a`` with its low 32 bits cleared, so ``z^2`` is exact."""
    s = 1.0 / (a * a)
    ratio = np.empty_like(a)
    for sel, num, den in ((np.flatnonzero(a < rb_from), _RA, _SA), (np.flatnonzero(a >= rb_from), _RB, _SB)):
        ss = s[sel]
        ratio[sel] = _poly(num, ss) / _poly(den, ss)
    z = (a.view(np.int64) & np.int64(-0x100000000)).view(np.float64)
    return np.exp(-z * z - 0.5625) * np.exp((z - a) * (z + a) + ratio) / a


def _regions(a, *bounds):
    """Index arrays of ``bounds[0] <= a < bounds[1]``, ``bounds[1] <= a < bounds[2]``, ..."""
    return [np.flatnonzero((a >= lo) & (a < hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _erf_block(x, out):
    a = np.abs(x)
    np.copysign(1.0, x, out=out)                       # |x| >= 6
    small, middle, tail = _regions(a, 0.0, _ERX_FROM, _TAIL_FROM, _ERF_ONE_FROM)
    xs = x[small]
    x8 = xs * 8.0                                      # scaled by 8 so that subnormal x keep their bits
    out[small] = 0.125 * (x8 + x8 * _small_ratio(xs))
    out[middle] = np.copysign(_ERX + _middle(a[middle]), x[middle])
    out[tail] = np.copysign(1.0 - _tail(a[tail], _RB_FROM_ERF), x[tail])
    nan = np.isnan(x)
    out[nan] = x[nan]


def erf(x):
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt`` elementwise (``torch.erf``), in float64
    (a new float64 array of ``x``'s shape; nan stays nan, erf(+-inf) = +-1)."""
    return _blockwise(_erf_block, x)


def _erfc_block(x, out):
    a = np.abs(x)
    np.copysign(1.0, x, out=out)
    np.subtract(1.0, out, out=out)                     # |x| >= 28: 0 or 2
    tiny, small, middle, tail = _regions(a, 0.0, _TINY_ERFC, _ERX_FROM, _TAIL_FROM, _ERFC_ZERO_FROM)
    out[tiny] = 1.0 - x[tiny]
    xs = x[small]
    y = xs * _small_ratio(xs)
    out[small] = np.where(xs < 0.25, 1.0 - (xs + y), 0.5 - (y + (xs - 0.5)))
    xm, pq = x[middle], _middle(a[middle])
    out[middle] = np.where(xm > 0, (1.0 - _ERX) - pq, 1.0 + (_ERX + pq))
    xt, r = x[tail], _tail(a[tail], _RB_FROM_ERFC)
    out[tail] = np.where(xt > 0, r, 2.0 - r)
    nan = np.isnan(x)
    out[nan] = x[nan]


def erfc(x):
    """The complementary error function ``1 - erf(x)`` elementwise (``torch.erfc``), in float64, with
    relative accuracy in the right tail (erfc(27) ~ 5e-319 is not rounded to 0); erfc(-inf) = 2."""
    return _blockwise(_erfc_block, x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# Giles (2010), "Approximating the erfinv function", single precision: erfinv(y) ~ y * P(w)
_GILES_CENTRAL = (1.50140941, 0.246640727, -0.00417768164, -0.00125372503, 0.00021858087, -4.39150654e-06,
                  -3.5233877e-06, 3.43273939e-07, 2.81022636e-08)
_GILES_TAIL = (2.83297682, 1.00167406, 0.00943887047, -0.0076224613, 0.00573950773, -0.00367342844,
               0.00134934322, 0.000100950558, -0.000200214257)
_HALLEY_STEPS = 2


def erfinv(y):
    """The inverse error function elementwise (``torch.erfinv``): ``x`` with ``erf(x) = y`` for y in [-1, 1],
    +-inf at +-1, nan outside [-1, 1] and for nan; float64.

    The first guess is Giles' approximation (relative error ~1e-7) where it holds (``w = -log(1 - y^2) < 16``),
    else the asymptotic ``x^2 = -log(sqrt(pi) x (1 - |y|))`` solved by two fixed-point steps; then Halley
    steps ``x -= u / (1 + x u)``, ``u = f(x) / f'(x)``, on ``f = erf(x) - |y|`` for |y| <= 0.5 and on
    ``f = (1 - |y|) - erfc(x)`` above (``1 - |y|`` is exact there, so the tails keep their relative accuracy)."""
    y = np.asarray(y, dtype=np.float64)
    a = np.abs(y)
    with np.errstate(all="ignore"):
        c = 1.0 - a
        w = -np.log(c * (1.0 + a))
        x = a * np.where(w < 5.0, _poly(_GILES_CENTRAL, w - 2.5), _poly(_GILES_TAIL, np.sqrt(w) - 3.0))
        far = w >= 16.0
        if far.any():
            t = -np.log(math.sqrt(math.pi) * c[far])
            xf = np.sqrt(t)
            for _ in range(2):
                xf = np.sqrt(t - np.log(xf))
            x[far] = xf
        inner = a <= 0.5
        for _ in range(_HALLEY_STEPS):
            f = np.where(inner, erf(x) - a, c - erfc(x))
            u = f / (_TWO_OVER_SQRT_PI * np.exp(-x * x))
            x = x - u / (1.0 + x * u)
        x = np.where(a == 1.0, np.inf, x)
        x = np.where((a > 1.0) | np.isnan(a), np.nan, x)
    return np.copysign(x, y)


# ------------------------------------------------------------------------------ the normal CDF and GELU
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = math.sqrt(2.0 / math.pi)
_GELU_TANH_C3 = _GELU_TANH_C * 0.044715


def normal_cdf(x):
    """The standard normal CDF ``erfc(-x / sqrt(2)) / 2`` (accurate in the lower tail too), evaluated in
    float64 (the vectorized erfc works there) and returned in ``x``'s dtype."""
    return (0.5 * erfc(x.astype(np.float64) * -_SQRT_HALF)).astype(x.dtype, copy=False)


def normal_pdf(x):
    """The standard normal density ``exp(-x^2 / 2) / sqrt(2 pi)``, in ``x``'s dtype."""
    return np.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _gelu_tanh_inner(x):
    """``tanh(sqrt(2/pi) (x + 0.044715 x^3))``, in place on one temporary (``x ** 3`` would go through the
    slow general ``pow``). ``out=`` keeps 0-d results arrays, so the in-place steps work on them too."""
    t = np.multiply(x, x, out=np.empty_like(x))
    t *= _GELU_TANH_C3
    t += _GELU_TANH_C
    t *= x
    return np.tanh(t, out=t)


def gelu_tanh(x):
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (``F.gelu(approximate="tanh")``)."""
    y = _gelu_tanh_inner(x)
    y += 1.0
    y *= x
    y *= 0.5
    return y


def gelu_tanh_derivative(x):
    """``0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)`` with ``t`` the tanh above."""
    t = _gelu_tanh_inner(x)
    du = np.multiply(x, x, out=np.empty_like(x))
    du *= 3 * _GELU_TANH_C3
    du += _GELU_TANH_C
    du *= x
    du *= 0.5
    g = np.multiply(t, t, out=np.empty_like(t))
    np.subtract(1.0, g, out=g)
    g *= du
    t += 1.0
    t *= 0.5
    g += t
    return g
