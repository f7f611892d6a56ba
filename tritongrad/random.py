"""Random number generation: `Generator`, `manual_seed` and the sampling factories.

Both devices draw with Philox4x32-10 keyed by a seed and a counter offset, the cpu side reproducing Triton's
``tl.rand``/``tl.randn``/``tl.randint`` bit for bit. So a `Generator` is just (seed, offset): each draw of
``n`` numbers uses offsets ``offset .. offset + n - 1`` and advances the offset. A cpu and a cuda generator
with the same state give the same numbers (up to float rounding in ``randn``).

Thread safety, as PyTorch's: a generator (the default ones included) is shared by every thread and holds a
lock, so concurrent draws each reserve a disjoint counter range and none is lost or repeated; which thread
gets which range depends on the order they arrive in.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from . import dtypes as _dt
from .device import as_device, device as _device

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "rand", "randn",
           "randint", "randperm", "rand_like", "randn_like", "randint_like", "default_generator", "normal",
           "bernoulli", "multinomial"]

_DEFAULT_SEED = 67280421310721


class Generator:
    """A random-number generator state (``torch.Generator``): a 64-bit seed and a Philox counter offset."""

    def __init__(self, device="cpu"):
        self.device = _device(device) if not isinstance(device, _device) else device
        self._seed = _DEFAULT_SEED
        self._offset = 0
        self._lock = threading.Lock()

    def manual_seed(self, seed):
        """Set the seed (and reset the offset); returns self."""
        seed = int(seed)
        if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
            raise RuntimeError(f"Overflow when unpacking long: seed {seed} does not fit in 64 bits")
        with self._lock:
            self._seed = seed & 0xFFFF_FFFF_FFFF_FFFF
            self._offset = 0
        return self

    def seed(self):
        """Seed from OS entropy; returns the seed."""
        s = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The state as a uint8 tensor of 16 bytes (seed, offset)."""
        from .tensor import tensor
        with self._lock:
            state = np.array([self._seed, self._offset], dtype=np.uint64)
        return tensor(np.frombuffer(state.tobytes(), np.uint8))

    def set_state(self, state):
        arr = np.asarray(state.numpy() if hasattr(state, "numpy") else state, dtype=np.uint8)
        if arr.size != 16:
            raise RuntimeError(f"Generator.set_state expects a 16-byte uint8 state, got {arr.size} bytes")
        seed, offset = (int(v) for v in np.frombuffer(arr.tobytes(), np.uint64))
        with self._lock:
            self._seed, self._offset = seed, offset
        return self

    def _advance(self, n):
        """Reserve ``n`` counters; returns (seed, first offset)."""
        with self._lock:
            seed, off = self._seed, self._offset
            self._offset = (off + max(int(n), 1) + 3) // 4 * 4
        return seed, off

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


_generators = {}
_generators_lock = threading.Lock()


def default_generator(device="cpu"):
    """The default generator of a device type (one for cpu, one for cuda)."""
    key = _device(device).type if not isinstance(device, _device) else device.type
    gen = _generators.get(key)
    if gen is None:
        with _generators_lock:      # two threads asking first must get the same generator
            gen = _generators.setdefault(key, Generator(key))
    return gen


def manual_seed(seed):
    """Seed every default generator (``torch.manual_seed``); returns the cpu generator."""
    default_generator("cuda").manual_seed(seed)
    return default_generator("cpu").manual_seed(seed)


def seed():
    s = default_generator("cpu").seed()
    default_generator("cuda").manual_seed(s)
    return s


def initial_seed():
    return default_generator("cpu").initial_seed()


def get_rng_state():
    return default_generator("cpu").get_state()


def set_rng_state(state):
    default_generator("cpu").set_state(state)


def _draw(kind, shape, dtype, device, generator, low=0, high=None):
    from .backends import backend_for
    from .tensor import Tensor
    if any(n < 0 for n in shape):     # as zeros(-1): NumPy's ValueError would escape on cuda only
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    dev = as_device(device)
    gen = generator if generator is not None else default_generator(dev.type)
    n = math.prod(shape)
    seed_, off = gen._advance(n)
    be = backend_for(dev)
    idx = dev.index or 0
    if kind == "rand":
        data = be.rand(tuple(shape), dtype.np, seed_, off, idx)
    elif kind == "randn":
        data = be.randn(tuple(shape), dtype.np, seed_, off, idx)
    else:
        data = be.randint(tuple(shape), low, high, dtype.np, seed_, off, idx)
    return Tensor._make(data, dev)


def _shape(sizes, size=None):
    from .tensor import _size_arg
    return _size_arg(sizes, size)


def _float_dtype(dtype, what):
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"\"{what}\" not implemented for '{dt.name}'")
    return dt


def rand(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples from [0, 1) (``torch.rand``)."""
    t = _draw("rand", _shape(sizes, size), _float_dtype(dtype, "rand"), device, generator)
    return t.requires_grad_(True) if requires_grad else t


def randn(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples (``torch.randn``)."""
    t = _draw("randn", _shape(sizes, size), _float_dtype(dtype, "randn"), device, generator)
    return t.requires_grad_(True) if requires_grad else t


_ONE_DRAW_SPAN = 2 ** 31
"""`randint` spans up to this take one 32-bit draw per element; wider spans combine two draws into a 63-bit
value (a single 32-bit draw could never reach past 2**32, and modulo a span just above 2**31 it would make
the low half of the range twice as likely)."""
_TWO_DRAW_BITS_MAX = 2 ** 63 - 1


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    """Integers uniform in [low, high) (``torch.randint(low=0, high, size)``); int64 by default. Spans up to
    2**31 take one 32-bit Philox draw per element (``low + draw % span``); wider spans (up to 2**63 - 1) take
    two draws from disjoint counter ranges, combined into a 63-bit value, so every value of the range can
    occur. ``low``/``high - 1`` must fit ``dtype`` (RuntimeError otherwise, as PyTorch)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    low, high = int(low), int(high)
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.int64
    if np.dtype(dt.np).kind in "iu":
        info = np.iinfo(dt.np)
        if low < info.min or high - 1 > info.max:
            raise RuntimeError(f"random_ expects 'from' and 'to' - 1 within the range of {dt.name} "
                               f"[{info.min}, {info.max}], but got from={low} to={high}")
    shape, span = _shape((tuple(size),)), high - low
    if span <= _ONE_DRAW_SPAN:
        return _draw("randint", shape, dt, device, generator, low, high)
    if span > _TWO_DRAW_BITS_MAX:
        raise RuntimeError(f"randint: a range of {span} values is wider than 2**63 - 1, the largest supported")
    # One 32-bit Philox draw modulo a span above 2**31 would be visibly biased (and never pass 2**32): combine
    # a 32-bit and a 31-bit draw from two disjoint counter ranges into a 63-bit value with int64 ops on the
    # device (exact on every backend, so cpu and cuda agree), then reduce it modulo the span.
    hi = _draw("randint", shape, _dt.int64, device, generator, 0, 2 ** 32)
    lo = _draw("randint", shape, _dt.int64, device, generator, 0, 2 ** 31)
    return ((hi * 2 ** 31 + lo) % span + low).to(dt)


def randperm(n, *, generator=None, dtype=None, device=None):
    """A random permutation of ``0 .. n-1`` (``torch.randperm``): the argsort of ``n`` uniform draws,
    computed on the cpu backend from the generator's Philox stream, then placed on ``device``."""
    from .tensor import tensor
    if int(n) < 0:
        raise RuntimeError(f"n must be non-negative, got {n}")
    keys = _draw("rand", (int(n),), _dt.float64, "cpu", generator if generator is not None else None)
    perm = np.argsort(keys.numpy(), kind="stable").astype((_dt.as_dtype(dtype) if dtype else _dt.int64).np)
    return tensor(perm, device=device)


def rand_like(t, *, dtype=None, device=None):
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t, *, dtype=None, device=None):
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randint_like(t, low, high=None, *, dtype=None, device=None):
    return randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device)


def normal(mean, std, size=None, *, generator=None, dtype=None, device=None):
    """Normal samples with the given mean and std (``torch.normal`` for float mean/std and a size)."""
    from .tensor import Tensor
    if size is None:
        ref = mean if isinstance(mean, Tensor) else std
        return randn(ref.shape, generator=generator, dtype=ref.dtype, device=ref.device) * std + mean
    return randn(*size, generator=generator, dtype=dtype, device=device) * std + mean


def bernoulli(p, *, generator=None):
    """Samples of 1 with probability ``p`` elementwise (``torch.bernoulli``)."""
    u = rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return (u < p).to(p.dtype)


def multinomial(probs, num_samples, replacement=False, *, generator=None):
    """Indices sampled from the rows of ``probs`` (``torch.multinomial``); with replacement by inverse
    CDF, without by the Gumbel-top-k trick."""
    from .tensor import tensor
    p = probs.detach().cpu().numpy().astype(np.float64)
    squeeze = p.ndim == 1
    p = np.atleast_2d(p)
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = p.shape[0]
    if not replacement and num_samples > p.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    u = _draw("rand", (rows, num_samples if replacement else p.shape[1]), _dt.float64, "cpu", generator).numpy()
    if replacement:
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        out = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(rows)])
    else:
        with np.errstate(divide="ignore"):
            keys = np.log(p) - np.log(-np.log(np.clip(u, 1e-300, 1.0)))
        out = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64)
    return tensor(out[0] if squeeze else out, device=probs.device)
