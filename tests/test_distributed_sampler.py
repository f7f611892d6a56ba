"""`DistributedSampler` gives PyTorch's shards: the expected lists below were printed by PyTorch 2.13
(``torch.utils.data.distributed.DistributedSampler`` and ``torch.randperm`` with a seeded cpu Generator);
where PyTorch is importable the test also compares against it directly, over many sizes and seeds."""
import importlib.util

import pytest

from tritongrad.utils.data import DataLoader, DistributedSampler, TensorDataset
from tritongrad.utils.data.distributed import torch_cpu_randperm
import tritongrad as tg


def shard(n, epoch=2, **kw):
    s = DistributedSampler(list(range(n)), **kw)
    s.set_epoch(epoch)
    return list(s)


def test_randperm_is_pytorchs_cpu_randperm():
    assert torch_cpu_randperm(12, 7) == [3, 4, 0, 5, 7, 9, 11, 6, 8, 1, 10, 2]
    assert torch_cpu_randperm(0, 7) == [] and torch_cpu_randperm(1, 7) == [0]


def test_shards_are_pytorchs_with_padding_and_drop_last():
    assert [shard(10, num_replicas=3, rank=r, seed=3) for r in range(3)] == [[1, 6, 0, 7], [4, 3, 2, 1],
                                                                          [9, 5, 8, 4]]
    assert shard(10, num_replicas=4, rank=1, drop_last=True, seed=3) == [4, 5]
    assert shard(10, num_replicas=4, rank=3, shuffle=False) == [3, 7, 1]
    assert shard(2, num_replicas=5, rank=4, seed=1, epoch=0) == [1]       # padding longer than the dataset


def test_shards_cover_the_dataset_and_change_with_the_epoch():
    n, w = 23, 4
    s = [DistributedSampler(range(n), num_replicas=w, rank=r, seed=5) for r in range(w)]
    union = sorted(i for x in s for i in x)
    assert len(s[0]) == 6 and len(union) == 24 and sorted(set(union)) == list(range(n))
    first = list(s[0])
    s[0].set_epoch(1)
    assert list(s[0]) != first and len(list(s[0])) == 6


def test_sampler_in_a_dataloader():
    ds = TensorDataset(tg.arange(10))
    loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=3, rank=1, seed=3))
    loader.sampler.set_epoch(2)
    assert [b[0].tolist() for b in loader] == [[4, 3], [2, 1]]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), num_replicas=3, rank=3)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(5))
    with pytest.raises(NotImplementedError, match="swap-loop range"):
        torch_cpu_randperm(2 ** 31, 0)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (optional peer)")
def test_against_pytorch_itself():
    import torch
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    for seed in (0, 1, 2 ** 32 + 9):
        for n in (2, 3, 17, 1000, 4099):
            g = torch.Generator()
            g.manual_seed(seed)
            assert torch_cpu_randperm(n, seed) == torch.randperm(n, generator=g).tolist(), (seed, n)
    for kw in (dict(num_replicas=3, rank=2), dict(num_replicas=4, rank=0, drop_last=True)):
        ours, theirs = DistributedSampler(range(37), seed=11, **kw), TorchSampler(range(37), seed=11, **kw)
        ours.set_epoch(4)
        theirs.set_epoch(4)
        assert list(ours) == list(theirs)
