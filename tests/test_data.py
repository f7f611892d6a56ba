"""tritongrad.utils.data: datasets, samplers, default_collate, the DataLoader with and without worker
processes, pinned buffers and device prefetch. Fault cases (worker errors, killed workers, timeouts,
cleanup) are in test_data_faults.py, each in its own subprocess.

The datasets used by worker processes are defined at module level: workers start with forkserver/spawn
and import this module to unpickle them.
"""
import collections
import mmap
import os
import random

import numpy as np
import pytest

import tritongrad as tg
from tritongrad.utils import data as tud
from tritongrad.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset,
                                   RandomSampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                   WeightedRandomSampler, default_collate, default_convert, get_worker_info,
                                   random_split)
from tritongrad.utils.data import _pin, _shm


# ------------------------------------------------------------------------------------ datasets for workers
class CustomDataset(Dataset):
    """The seed's dataset, unchanged but for the import."""

    def __init__(self, X, y):
        self.X = tg.tensor(X, dtype=tg.float32)
        self.y = tg.tensor(y, dtype=tg.long)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, idx):
        return self.X[idx], self.y[idx]


class ProbeDataset(Dataset):
    """Sample i: (i, worker id, worker seed, a NumPy draw, a Python draw, pid, is the big array shared)."""

    def __init__(self, n):
        self.n = n
        self.big = np.arange(64 * 1024, dtype=np.float32)     # large enough to travel through shared memory

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "worker": -1 if info is None else info.id, "seed": -1 if info is None else info.seed,
                "np": int(np.random.randint(1 << 30)), "py": random.random(), "pid": os.getpid(),
                "shared": isinstance(_root(self.big), mmap.mmap), "sum": float(self.big[i])}


class ShardedRange(IterableDataset):
    """range(n) split between workers with get_worker_info."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def record_init(worker_id):
    os.environ["TG_INIT_WORKER"] = str(worker_id)


class InitProbe(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return int(os.environ.get("TG_INIT_WORKER", "-1"))


def _arrays(n=100, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), np.arange(n, dtype=np.int64)


def _tensor_dataset(n=100, d=5):
    X, y = _arrays(n, d)
    return TensorDataset(tg.from_numpy(X), tg.from_numpy(y)), X, y


def _root(a):
    """The object that owns the memory of array ``a`` (an mmap for shared memory)."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


# ------------------------------------------------------------------------------------ the seed's loop
def test_seed_custom_dataset_loop():
    X, y = _arrays(100, 5)
    dataloader = DataLoader(CustomDataset(X, y), batch_size=32, shuffle=True)
    assert len(dataloader) == 4
    for epoch in range(2):
        seen = []
        for batch_X, batch_y in dataloader:
            assert batch_X.dtype is tg.float32 and batch_y.dtype is tg.int64
            assert batch_X.shape[1:] == (5,) and batch_X.shape[0] == batch_y.shape[0]
            np.testing.assert_array_equal(batch_X.numpy(), X[batch_y.numpy()])
            seen += batch_y.tolist()
        assert [len(b) for b in [seen]] == [100] and sorted(seen) == list(range(100))
        assert seen != list(range(100))      # shuffled


# ------------------------------------------------------------------------------------ datasets
def test_tensor_subset_concat_chain():
    ds, X, y = _tensor_dataset(10, 3)
    assert len(ds) == 10
    xi, yi = ds[7]
    np.testing.assert_array_equal(xi.numpy(), X[7])
    assert yi.item() == 7
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(tg.zeros(3, 2), tg.zeros(4))
    sub = Subset(ds, [9, 2, 5])
    assert len(sub) == 3 and sub[1][1].item() == 2
    cat = ds + Subset(ds, [0, 1])
    assert isinstance(cat, ConcatDataset) and len(cat) == 12
    assert cat[10][1].item() == 0 and cat[-1][1].item() == 1 and cat[9][1].item() == 9
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    with pytest.raises(ValueError, match="IterableDataset"):
        ConcatDataset([ShardedRange(3)])
    chain = ShardedRange(3) + ShardedRange(2)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 2, 0, 1] and len(chain) == 5


def test_random_split_lengths_fractions_generator():
    ds = list(range(11))
    a, b = random_split(ds, [4, 7], generator=tg.Generator().manual_seed(3))
    assert len(a) == 4 and len(b) == 7 and sorted(list(a) + list(b)) == ds
    a2, _ = random_split(ds, [4, 7], generator=tg.Generator().manual_seed(3))
    assert list(a) == list(a2)
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=tg.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [6, 3, 2]                   # floor 5, 3, 2; remainder 1 -> first
    tg.manual_seed(5)
    d1 = list(random_split(ds, [5, 6])[0])
    tg.manual_seed(5)
    assert list(random_split(ds, [5, 6])[0]) == d1                # default generator
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1"):
        random_split(ds, [0.5, -0.5, 1.0])


# ------------------------------------------------------------------------------------ samplers
def test_sequential_and_random_sampler():
    ds = list(range(13))
    assert list(SequentialSampler(ds)) == ds and len(SequentialSampler(ds)) == 13
    g = tg.Generator().manual_seed(1)
    p1 = list(RandomSampler(ds, generator=g))
    p2 = list(RandomSampler(ds, generator=g))
    assert sorted(p1) == ds and sorted(p2) == ds and p1 != p2     # the generator's stream moves on
    g.manual_seed(1)
    assert list(RandomSampler(ds, generator=g)) == p1
    long = list(RandomSampler(ds, num_samples=30, generator=g))
    assert len(long) == 30 and sorted(long[:13]) == ds and sorted(long[13:26]) == ds
    rep = RandomSampler(ds, replacement=True, num_samples=200, generator=g)
    drawn = list(rep)
    assert len(rep) == 200 and len(drawn) == 200 and set(drawn) <= set(ds) and len(set(drawn)) > 10
    tg.manual_seed(9)
    a = list(RandomSampler(ds))
    tg.manual_seed(9)
    assert list(RandomSampler(ds)) == a                           # no generator: seeded from the default one
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="replacement"):
        RandomSampler(ds, replacement=1)


def test_subset_weighted_batch_samplers():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=tg.Generator().manual_seed(0))
    assert sorted(s) == [10, 20, 30, 40] and len(s) == 4
    w = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50, generator=tg.Generator().manual_seed(0))
    drawn = list(w)
    assert len(drawn) == 50 and set(drawn) <= {1, 3} and drawn.count(3) > drawn.count(1)
    u = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False, generator=tg.Generator()))
    assert sorted(u) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], -1)
    b = BatchSampler(range(10), 3, drop_last=False)
    assert list(b) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]] and len(b) == 4
    b = BatchSampler(range(10), 3, drop_last=True)
    assert list(b)[-1] == [6, 7, 8] and len(b) == 3
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            BatchSampler(range(3), bad, False)
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(3), 2, 1)


# ------------------------------------------------------------------------------------ collate
Point = collections.namedtuple("Point", "x y")


def test_default_collate_types():
    out = default_collate([np.ones((2, 3), np.float32) * i for i in range(4)])
    assert isinstance(out, tg.Tensor) and out.shape == (4, 2, 3) and out.dtype is tg.float32
    np.testing.assert_array_equal(out.numpy()[:, 0, 0], [0, 1, 2, 3])
    f = default_collate([1.5, 2.5])
    assert f.dtype is tg.float64 and f.tolist() == [1.5, 2.5]
    i = default_collate([1, 2, 3])
    assert i.dtype is tg.int64 and i.tolist() == [1, 2, 3]
    assert default_collate([True, False]).dtype is tg.bool
    assert default_collate([np.float32(1.0), np.float32(2.0)]).dtype is tg.float32
    assert default_collate(["a", "b"]) == ["a", "b"]
    t = default_collate([tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])])
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])
    nested = default_collate([{"a": (1, np.zeros(2)), "b": Point(1.0, "s")},
                              {"a": (2, np.ones(2)), "b": Point(2.0, "t")}])
    assert isinstance(nested["a"], list) and nested["a"][0].tolist() == [1, 2]
    np.testing.assert_array_equal(nested["a"][1].numpy(), [[0, 0], [1, 1]])
    assert isinstance(nested["b"], Point) and nested["b"].x.tolist() == [1.0, 2.0] and nested["b"].y == ["s", "t"]
    assert [x.tolist() for x in default_collate([[1, 2], [3, 4]])] == [[1, 3], [2, 4]]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["x"]), np.array(["y"])])


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": (np.float32(2.0), "s"), "c": 5})
    assert isinstance(out["a"], tg.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"], list) and out["b"][0].dtype is tg.float32 and out["b"][1] == "s"
    assert out["c"] == 5


# ------------------------------------------------------------------------------------ single-process loader
def test_loader_batching_options():
    ds, X, y = _tensor_dataset(10, 3)
    dl = DataLoader(ds, batch_size=4)
    assert len(dl) == 3 and [b[1].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1].tolist()) for b in dl] == [4, 4]
    dl = DataLoader(ds, batch_size=None)
    first = next(iter(dl))
    assert len(dl) == 10 and first[0].shape == (3,)
    dl = DataLoader(ds, batch_sampler=[[3, 1], [0]])
    assert [b[1].tolist() for b in dl] == [[3, 1], [0]]
    dl = DataLoader(ds, batch_size=3, collate_fn=lambda samples: len(samples))
    assert list(dl) == [3, 3, 3, 1]
    dl = DataLoader(list(range(7)), batch_size=3)           # a plain list is a map-style dataset
    assert [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    it = DataLoader(ShardedRange(7), batch_size=3)
    assert len(it) == 3 and [b.tolist() for b in it] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(ShardedRange(7), batch_size=3, drop_last=True)) == 2
    np.testing.assert_array_equal(next(iter(DataLoader(ds, batch_size=10)))[0].numpy(), X)


def test_tensor_dataset_gather_matches_per_sample_collate():
    X = np.arange(60, dtype=np.float32).reshape(20, 3)[:, ::-1]        # non-contiguous rows
    ds = TensorDataset(tg.tensor(np.ascontiguousarray(X)), tg.arange(20), tg.tensor(X[:, 0].copy()))
    idx = [19, 0, 7, 7, -1]
    fast = DataLoader(ds, batch_sampler=[idx])
    slow = DataLoader(ds, batch_sampler=[idx], collate_fn=lambda b: default_collate(b))
    for a, b in zip(next(iter(fast)), next(iter(slow))):
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(IndexError, match="out of bounds"):
        next(iter(DataLoader(ds, batch_sampler=[[20]])))


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size"),
    (dict(num_workers=-1), "num_workers"),
    (dict(timeout=-1), "timeout"),
    (dict(prefetch_factor=2), "prefetch_factor"),
    (dict(num_workers=1, prefetch_factor=0), "prefetch_factor"),
    (dict(persistent_workers=True), "persistent_workers"),
    (dict(shuffle=True, sampler=SequentialSampler(range(5))), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler"),
    (dict(batch_size=None, drop_last=True), "drop_last"),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(list(range(5)), **kwargs)


def test_invalid_arguments_iterable():
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(ShardedRange(3), shuffle=True)
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(ShardedRange(3), sampler=[0])


def test_same_generator_seed_same_batches_and_base_seed_drawn():
    ds, _, _ = _tensor_dataset(50, 2)
    runs = []
    for _ in range(2):
        g = tg.Generator().manual_seed(123)
        runs.append([b[1].tolist() for b in DataLoader(ds, batch_size=8, shuffle=True, generator=g)])
    assert runs[0] == runs[1]
    g = tg.Generator().manual_seed(123)
    no_seed_draw = [list(RandomSampler(ds, generator=g))]
    assert sum(runs[0], []) != no_seed_draw[0]          # the loader drew its base seed first, like PyTorch


# ------------------------------------------------------------------------------------ worker processes
@pytest.fixture(scope="module")
def probe_loader():
    """Two persistent workers, reused by the tests below (workers start slowly)."""
    loader = DataLoader(ProbeDataset(24), batch_size=4, shuffle=True, num_workers=2, persistent_workers=True,
                        generator=tg.Generator().manual_seed(7), prefetch_factor=3)
    yield loader
    loader._iterator._shutdown()


def test_workers_same_batches_as_single_process(probe_loader):
    g = tg.Generator().manual_seed(7)
    single = [b["i"].tolist() for b in DataLoader(ProbeDataset(24), batch_size=4, shuffle=True, generator=g)]
    probe_loader.generator.manual_seed(7)
    multi = [b["i"].tolist() for b in probe_loader]
    assert multi == single and sorted(sum(multi, [])) == list(range(24))


def test_workers_seeding_sharing_and_order(probe_loader):
    probe_loader.generator.manual_seed(11)
    batches = list(probe_loader)
    workers = sum((b["worker"].tolist() for b in batches), [])
    assert workers == [k // 4 % 2 for k in range(24)]               # round robin, delivered in order
    seeds = {w: s for b in batches for w, s in zip(b["worker"].tolist(), b["seed"].tolist())}
    assert seeds[1] == seeds[0] + 1                                  # base_seed + worker_id
    assert all(b["shared"].tolist() == [True] * 4 for b in batches)   # dataset arrays mapped, not copied
    first = {w: [] for w in (0, 1)}
    for b in batches:
        for w, i, npv, pyv, s in zip(b["worker"].tolist(), b["i"].tolist(), b["np"].tolist(), b["py"].tolist(),
                                     b["sum"].tolist()):
            first[w].append((npv, pyv))
            assert s == float(i)
    for w in (0, 1):      # NumPy and Python random seeded with base_seed + worker_id: the draws of this
        #                   epoch continue the streams of those seeds (earlier epochs of these persistent
        #                   workers consumed a prefix of them)
        rs, pr = np.random.RandomState(seeds[w] % (1 << 32)), random.Random(seeds[w])
        stream = [(int(rs.randint(1 << 30)), pr.random()) for _ in range(200)]
        start = stream.index(first[w][0])
        assert stream[start:start + len(first[w])] == first[w]
    pids = {p for b in batches for p in b["pid"].tolist()}
    again = {p for b in probe_loader for p in b["pid"].tolist()}
    assert len(pids) == 2 and os.getpid() not in pids and again == pids      # persistent workers


def test_worker_batches_arrive_through_shared_memory():
    X = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)   # 64 x 300 x 4 > INLINE_BYTES
    ds = TensorDataset(tg.from_numpy(X), tg.arange(64))
    loader = DataLoader(ds, batch_size=64, num_workers=1, worker_init_fn=record_init)
    (bx, by), = list(loader)
    np.testing.assert_array_equal(bx.numpy(), X)
    assert isinstance(_root(bx.numpy()), mmap.mmap)
    assert not _shm.list_segments(_shm.NAME_PREFIX + str(os.getpid()))


def test_iterable_sharding_and_worker_init_fn():
    loader = DataLoader(ShardedRange(11), batch_size=2, num_workers=2, worker_init_fn=record_init)
    got = sorted(sum((b.tolist() for b in loader), []))
    assert got == list(range(11))
    inits = DataLoader(InitProbe(), batch_size=None, num_workers=2, worker_init_fn=record_init)
    assert [x for x in inits] == [0, 1, 0, 1]
    assert not _shm.list_segments(_shm.NAME_PREFIX + str(os.getpid()))


# ------------------------------------------------------------------------------------ pinned memory, prefetch
def test_pinned_pool_reuse_and_lifetime():
    pool = _pin.PinnedPool(allocate=lambda n: np.empty(n, np.uint8))
    for _ in range(5):
        a = pool.empty((3, 5), np.float32)
        a[...] = 1
        del a
    assert pool.allocations == 1 and pool.in_use == 0
    kept = [pool.empty((3, 5), np.float32) for _ in range(3)]
    view = kept[0][1:]                        # a view keeps its buffer leased
    for k, a in enumerate(kept):
        a[...] = k
    del kept[0]
    assert pool.allocations == 3 and pool.in_use == 3
    b = pool.empty((3, 5), np.float32)
    b[...] = 9
    assert pool.allocations == 4 and (view == 0).all()
    t = tg.from_numpy(b)
    del b, view
    c = pool.empty((3, 5), np.float32)       # the buffer of `view` comes back, `t`'s does not
    assert pool.allocations == 4 and (t.numpy() == 9).all()
    assert c.shape == (3, 5)


def test_pin_memory_is_a_noop_without_gpu():
    assert not _pin.pinning_available()
    ds, X, _ = _tensor_dataset(10, 3)
    (bx, _), = list(DataLoader(ds, batch_size=10, pin_memory=True))
    np.testing.assert_array_equal(bx.numpy(), X)


def test_pin_memory_path_reuses_buffers(monkeypatch):
    monkeypatch.setattr(_pin, "pinning_available", lambda: True)
    monkeypatch.setattr("tritongrad.utils.data.dataloader.pinning_available", lambda: True)
    ds, X, y = _tensor_dataset(40, 3)
    loader = DataLoader(ds, batch_size=8, pin_memory=True)
    for bx, by in loader:
        np.testing.assert_array_equal(bx.numpy(), X[by.numpy()])
        assert isinstance(_root(bx.numpy()), _pin._Lease)
    # two buffers per leaf, reused for all 5 batches: the loop variables still hold batch n while n+1 is made
    assert loader._pin_pool.allocations == 4
    del bx, by
    kept = list(loader)
    assert loader._pin_pool.allocations == 2 * 5
    for bx, by in kept:
        np.testing.assert_array_equal(bx.numpy(), X[by.numpy()])


def test_prefetch_to_cuda_device():
    ds, X, y = _tensor_dataset(30, 4)
    loader = DataLoader(ds, batch_size=8, shuffle=True, device="cuda", generator=tg.Generator().manual_seed(2))
    assert loader.pin_memory and len(loader) == 4
    seen = []
    for bx, by in loader:
        assert bx.device.type == "cuda" and by.device.type == "cuda"
        np.testing.assert_array_equal(bx.cpu().numpy(), X[by.cpu().numpy()])
        seen += by.cpu().tolist()
    assert sorted(seen) == list(range(30))
    wrapped = tud.prefetch(DataLoader(ds, batch_size=16), "cuda")
    batches = list(wrapped)
    assert len(wrapped) == 2 and [b[1].cpu().tolist() for b in batches][1] == list(range(16, 30))


def test_non_blocking_to_cuda_matches_blocking():
    a = np.random.default_rng(1).standard_normal((7, 13)).astype(np.float32)
    t = tg.from_numpy(a)
    fast = t.to("cuda", non_blocking=True)
    slow = t.to("cuda")
    np.testing.assert_array_equal(fast.cpu().numpy(), a)
    np.testing.assert_array_equal(slow.cpu().numpy(), a)
    with tg.cuda.stream(tg.cuda.Stream()):
        again = tg.from_numpy(a[::2]).to("cuda", non_blocking=True)
    np.testing.assert_array_equal(again.cpu().numpy(), a[::2])
