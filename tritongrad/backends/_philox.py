"""Philox4x32-10 in NumPy, bit for bit as Triton's ``triton/language/random.py``.

Triton's random functions are pure functions of a seed and a counter ("offset"):

* the 64-bit seed is split into two uint32 keys, ``k0 = seed & 0xffffffff`` and ``k1 = seed >> 32``
  (a negative seed is first sign-extended to 64 bits, as ``seed.to(tl.uint64)`` does);
* the counter is ``(c0, c1, c2, c3) = (offset & 0xffffffff, offset >> 32, 0, 0)`` (``offset >> 32`` is 0
  for the int32 offsets of most kernels);
* ten Philox rounds give four uint32 words: ``tl.randint4x``; ``tl.randint`` is the first word;
* ``tl.rand`` maps the first word to a float32 in [0, 1) (`uint_to_uniform_float`);
* ``tl.randn`` maps the first two words through Box-Muller (`pair_uniform_to_normal`) in float32.

Every function here takes ``seed`` (a Python int) and ``offsets`` (an integer array of counters, any
shape) and returns arrays of that shape.
"""
from __future__ import annotations

import numpy as np

__all__ = ["philox", "randint4x", "randint", "uint_to_uniform_float", "rand", "pair_uniform_to_normal", "randn"]

N_ROUNDS = 10
PHILOX_KEY_A = 0x9E3779B9     # Weyl-sequence increments of the two keys, one per round
PHILOX_KEY_B = 0xBB67AE85
PHILOX_ROUND_A = 0xD2511F53   # the two round multipliers
PHILOX_ROUND_B = 0xCD9E8D57
_MASK32 = 0xFFFFFFFF


def philox(k0, k1, c0, c1, c2, c3, n_rounds=N_ROUNDS):
    """``n_rounds`` Philox4x32 rounds of the counter ``(c0..c3)`` (uint32 arrays) under the key
    ``(k0, k1)`` (Python ints below 2**32). Returns four uint32 arrays (``philox_impl``).

    Words are held in uint64 so that a 32x32-bit product is exact: its high half is ``umulhi``, its low
    half the wrapped ``tl.mul``.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3))
    for _ in range(n_rounds):
        prod_b = np.uint64(PHILOX_ROUND_B) * c2
        prod_a = np.uint64(PHILOX_ROUND_A) * c0
        c0, c1, c2, c3 = (
            (prod_b >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            prod_b & np.uint64(_MASK32),
            (prod_a >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            prod_a & np.uint64(_MASK32),
        )
        k0 = (k0 + PHILOX_KEY_A) & _MASK32
        k1 = (k1 + PHILOX_KEY_B) & _MASK32
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def randint4x(seed, offsets, n_rounds=N_ROUNDS):
    """Four uint32 arrays: ``tl.randint4x(seed, offsets)``."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    counter = np.asarray(offsets, dtype=np.int64).astype(np.uint64)
    offset_lo = counter & np.uint64(_MASK32)
    offset_hi = counter >> np.uint64(32)
    zero = np.zeros_like(counter)
    return philox(seed & _MASK32, seed >> 32, offset_lo, offset_hi, zero, zero, n_rounds)


def randint(seed, offsets, n_rounds=N_ROUNDS):
    """uint32 array: ``tl.randint(seed, offsets)`` (the first word of `randint4x`)."""
    return randint4x(seed, offsets, n_rounds)[0]


def uint_to_uniform_float(x):
    """uint32 -> float32 uniform in [0, 1), as Triton: read the bits as int32, fold negatives with
    ``~x`` (so 31 random bits remain), convert to float32 (round to nearest) and scale by the largest
    float32 ``scale`` with ``(2**31 - 1) * scale < 1``."""
    signed = np.asarray(x, dtype=np.uint32).view(np.int32)
    folded = np.where(signed < 0, ~signed, signed)
    return folded.astype(np.float32) * np.float32(4.6566127342e-10)


def rand(seed, offsets, n_rounds=N_ROUNDS):
    """float32 array: ``tl.rand(seed, offsets)``."""
    return uint_to_uniform_float(randint(seed, offsets, n_rounds))


def pair_uniform_to_normal(u1, u2):
    """Box-Muller in float32: ``(r cos(th), r sin(th))`` with ``r = sqrt(-2 log(max(u1, 1e-7)))`` and
    ``th = 2 pi u2``."""
    u1 = np.maximum(np.float32(1.0e-7), u1)
    th = np.float32(6.283185307179586) * u2
    r = np.sqrt(np.float32(-2.0) * np.log(u1))
    return r * np.cos(th), r * np.sin(th)


def randn(seed, offsets, n_rounds=N_ROUNDS):
    """float32 array: ``tl.randn(seed, offsets)`` (Box-Muller on the first two words of `randint4x`)."""
    i1, i2, _, _ = randint4x(seed, offsets, n_rounds)
    normal, _ = pair_uniform_to_normal(uint_to_uniform_float(i1), uint_to_uniform_float(i2))
    return normal
