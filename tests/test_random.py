"""Random sampling (`tritongrad.random`): Generator state, cpu/cuda agreement, wide `randint` ranges,
`randperm` and `multinomial`.

Both devices draw from the same Philox stream, so a cpu and a cuda generator in the same state give the same
numbers (bit for bit for rand/randint, to 1e-6 for randn). `randint` over spans above 2**31 combines two
draws into a 63-bit value: values above 2**32 occur, the range holds, and the low part of a span just above
2**31 is not over-represented. Frequencies are checked with fixed seeds and bounds several binomial standard
deviations wide.
"""
import numpy as np
import pytest

import tritongrad as tg

DEVICES = ["cpu", "cuda"]


def _np(t):
    return t.cpu().numpy()


def _gens(seed):
    return [tg.Generator(dev).manual_seed(seed) for dev in DEVICES]


def _within_binomial(count, n, p, sigmas=5.0):
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1


# ------------------------------------------------------------------------------------------ generator state
def test_manual_seed_resets_the_stream_and_seeds_differ():
    g = tg.Generator("cpu").manual_seed(123)
    a = _np(tg.rand(50, generator=g))
    b = _np(tg.rand(50, generator=g))
    assert not np.array_equal(a, b)                 # the offset advanced between draws
    assert g.initial_seed() == 123
    g.manual_seed(123)
    np.testing.assert_array_equal(_np(tg.rand(50, generator=g)), a)
    other = _np(tg.rand(50, generator=tg.Generator("cpu").manual_seed(124)))
    assert (other != a).mean() > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_get_state_set_state_round_trip(device):
    g = tg.Generator(device).manual_seed(2024)
    tg.randn(7, generator=g, device=device)          # a nonzero offset in the saved state
    state = g.get_state()
    assert state.dtype == tg.uint8 and tuple(state.shape) == (16,)
    first = (_np(tg.rand(9, generator=g, device=device)), _np(tg.randint(0, 1000, (5,), generator=g, device=device)))
    g.manual_seed(7)                                  # move elsewhere, then restore
    g.set_state(state)
    again = (_np(tg.rand(9, generator=g, device=device)), _np(tg.randint(0, 1000, (5,), generator=g, device=device)))
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(RuntimeError, match="16-byte"):
        g.set_state(np.zeros(8, np.uint8))


def test_global_seed_and_rng_state_round_trip():
    tg.manual_seed(99)
    assert tg.initial_seed() == 99
    state = tg.get_rng_state()
    a = _np(tg.rand(6))
    tg.set_rng_state(state)
    np.testing.assert_array_equal(_np(tg.rand(6)), a)
    tg.manual_seed(99)                                # seeds the cuda default generator too
    np.testing.assert_array_equal(_np(tg.rand(6, device="cuda")), a)


# ----------------------------------------------------------------------------------- cpu and cuda agree
@pytest.mark.parametrize("seed", [0, 31337, 2**40 + 3])
def test_same_seed_same_numbers_on_cpu_and_cuda(seed):
    cpu, cuda = _gens(seed)
    np.testing.assert_array_equal(_np(tg.rand(3, 37, generator=cpu)), _np(tg.rand(3, 37, generator=cuda, device="cuda")))
    np.testing.assert_allclose(_np(tg.randn(101, generator=cpu)), _np(tg.randn(101, generator=cuda, device="cuda")),
                               rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_np(tg.randint(-7, 50, (4, 13), generator=cpu)),
                                  _np(tg.randint(-7, 50, (4, 13), generator=cuda, device="cuda")))


def test_rand_randn_randint_distributions():
    g = tg.Generator("cuda").manual_seed(5)
    u = _np(tg.rand(4000, generator=g, device="cuda"))
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.03
    z = _np(tg.randn(4000, generator=g, device="cuda"))
    assert abs(z.mean()) < 0.08 and abs(z.std() - 1) < 0.05
    k = _np(tg.randint(3, 8, (4000,), generator=g, device="cuda"))
    assert k.dtype == np.int64 and set(np.unique(k)) == {3, 4, 5, 6, 7}
    assert all(_within_binomial((k == v).sum(), k.size, 0.2) for v in range(3, 8))


# ------------------------------------------------------------------------------------------- wide randint
@pytest.mark.parametrize("low,high", [(0, 2**40), (-2**35, 2**33 + 7), (2**50, 2**50 + 3 * 2**31), (-2**62, 2**62 - 1)])
def test_randint_wide_ranges(low, high):
    cpu, cuda = _gens(11)
    n = 600
    a = _np(tg.randint(low, high, (n,), generator=cpu))
    b = _np(tg.randint(low, high, (n,), generator=cuda, device="cuda"))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64 and a.min() >= low and a.max() < high
    span = high - low
    upper = (a - low) >= span // 2                    # both halves of the range occur about equally often
    assert _within_binomial(upper.sum(), n, 0.5), upper.mean()
    if span > 2**33:
        assert ((a - low) > 2**32).mean() > 0.5       # far more values above 2**32 than a 32-bit draw could give
    assert len(np.unique(a)) > n - 5


def test_randint_just_above_2_31_is_not_biased_to_the_low_part():
    """A single 32-bit draw modulo 3 * 2**30 would land in [0, 2**30) half the time; uniform is a third."""
    n = 3000
    a = _np(tg.randint(0, 3 * 2**30, (n,), generator=tg.Generator("cuda").manual_seed(1), device="cuda"))
    assert a.min() >= 0 and a.max() < 3 * 2**30
    assert _within_binomial((a < 2**30).sum(), n, 1 / 3), (a < 2**30).mean()


def test_randint_full_int32_range_and_dtype_bounds():
    a = _np(tg.randint(-2**31, 2**31, (400,), dtype=tg.int32, generator=tg.Generator("cuda").manual_seed(3),
                       device="cuda"))
    assert a.dtype == np.int32 and _within_binomial((a < 0).sum(), a.size, 0.5)
    with pytest.raises(RuntimeError, match="range of"):
        tg.randint(0, 2**40, (3,), dtype=tg.int32)
    with pytest.raises(RuntimeError, match="wider than 2\\*\\*63"):
        tg.randint(-2**63, 2**63 - 1, (3,))


def test_randint_small_range_keeps_one_draw_per_element():
    """Spans up to 2**31 reserve one counter per element (the stream position other code relies on)."""
    g = tg.Generator("cpu").manual_seed(0)
    tg.randint(0, 2**31, (8,), generator=g)
    assert g._offset == 8
    tg.randint(0, 2**31 + 1, (8,), generator=g)
    assert g._offset == 24                            # two draws of 8 counters each


# ------------------------------------------------------------------------------ randperm and multinomial
@pytest.mark.parametrize("n", [1, 7, 100])
def test_randperm_is_a_permutation_and_matches_across_devices(n):
    cpu, cuda = _gens(n)
    p = _np(tg.randperm(n, generator=cpu))
    q = _np(tg.randperm(n, generator=cuda, device="cuda"))
    np.testing.assert_array_equal(np.sort(p), np.arange(n))
    np.testing.assert_array_equal(p, q)
    assert p.dtype == np.int64
    if n == 100:
        assert (p != np.arange(n)).mean() > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_multinomial_with_replacement_frequencies(device):
    probs = tg.tensor(np.array([0.1, 0.0, 0.2, 0.7], np.float32), device=device)
    n = 4000
    s = _np(tg.multinomial(probs, n, replacement=True, generator=tg.Generator("cpu").manual_seed(8)))
    assert s.shape == (n,) and s.dtype == np.int64
    assert (s != 1).all()                              # a zero-probability category never occurs
    for k, p in ((0, 0.1), (2, 0.2), (3, 0.7)):
        assert _within_binomial((s == k).sum(), n, p), ((s == k).mean(), p)


def test_multinomial_without_replacement():
    w = np.array([1.0, 2.0, 0.0, 7.0])                 # unnormalized weights
    rows = 2000
    probs = tg.tensor(np.tile(w, (rows, 1)).astype(np.float32))
    g = tg.Generator("cpu").manual_seed(9)
    first = _np(tg.multinomial(probs, 1, generator=g))[:, 0]
    for k, p in ((0, 0.1), (1, 0.2), (3, 0.7)):
        assert _within_binomial((first == k).sum(), rows, p), ((first == k).mean(), p)
    three = _np(tg.multinomial(probs[:200], 3, generator=g))
    assert all(len(set(r)) == 3 and 2 not in r for r in three.tolist())   # distinct, never the zero weight
    with pytest.raises(RuntimeError, match="without replacement"):
        tg.multinomial(probs[0], 5)
