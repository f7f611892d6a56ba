"""The checks `tests/test_distributed.py` runs on every rank of one ``mpiexec -n N`` launch.

``mpiexec -n N python tests/_distributed_worker.py OUT_DIR`` runs each check in `CHECKS` on every rank and
writes ``OUT_DIR/rank<r>.json``: check name -> "ok" or the traceback. Every rank can compute every rank's
input (`rank_data`), so each collective is compared with NumPy on the full set of inputs; DDP runs are
compared with the same model trained in one process on the global batch.
"""
import faulthandler
import json
import os
import sys
import traceback

import numpy as np

import tritongrad as tg
import tritongrad.distributed as dist
import tritongrad.nn as nn
import tritongrad.nn.functional as F
from tritongrad.distributed import ReduceOp
from tritongrad.nn.parallel import DistributedDataParallel as DDP
from tritongrad.utils.data.distributed import DistributedSampler, torch_cpu_randperm

DEVICE = "cpu"         # "cuda" when run with --backend nccl


def T(data, **kw):
    return tg.tensor(data, device=DEVICE, **kw)


def Z(*shape, **kw):
    return tg.zeros(*shape, device=DEVICE, **kw)


DTYPES = ["float32", "float64", "int32", "int64", "float16", "bfloat16", "bool"]
TOL = {"float16": 2e-2, "bfloat16": 5e-2}


def rank_data(r, dtype, shape=(5, 3), positive=False):
    """Rank r's input: the same on every rank that asks."""
    g = np.random.default_rng(1000 + r)
    if dtype == "bool":
        return g.random(shape) < 0.5
    if dtype.startswith("int"):
        return g.integers(-4, 5, shape).astype(dtype)
    x = g.uniform(0.5, 1.5, shape) if positive else g.standard_normal(shape)
    return x.astype(np.float32).astype(getattr(tg, dtype).np)


def close(actual, expected, dtype="float32", what=""):
    a = np.asarray(actual.tolist() if isinstance(actual, tg.Tensor) else actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    tol = TOL.get(dtype, 1e-5)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    assert np.allclose(a, e, rtol=tol, atol=tol), f"{what} ({dtype}): max |diff| {np.abs(a - e).max()}\n{a}\n{e}"


def _reduce_np(arrays, op, dtype):
    x = np.stack([a.astype(np.float64) for a in arrays])
    if dtype == "bool":
        return {ReduceOp.SUM: x.max(0), ReduceOp.PRODUCT: x.min(0), ReduceOp.MAX: x.max(0),
                ReduceOp.MIN: x.min(0)}[op]
    return {ReduceOp.SUM: x.sum(0), ReduceOp.AVG: x.mean(0), ReduceOp.PRODUCT: x.prod(0), ReduceOp.MAX: x.max(0),
            ReduceOp.MIN: x.min(0)}[op]


def ops_for(dtype):
    floating = dtype not in ("int32", "int64", "bool")
    return [op for op in ReduceOp if floating or op != ReduceOp.AVG]


# ------------------------------------------------------------------------------------------------ checks
def check_world(rank, world):
    assert dist.is_initialized() and dist.get_backend() == BACKEND
    assert (dist.get_rank(), dist.get_world_size()) == (rank, world)
    assert dist.barrier() is None
    assert dist.barrier(async_op=True).wait()


def check_all_reduce(rank, world):
    for dtype in DTYPES:
        for op in ops_for(dtype):
            positive = op == ReduceOp.PRODUCT
            t = T(rank_data(rank, dtype, positive=positive))
            assert dist.all_reduce(t, op) is None
            close(t, _reduce_np([rank_data(r, dtype, positive=positive) for r in range(world)], op, dtype), dtype,
                  f"all_reduce {op.name}")
    for shape in ((), (0,), (7,)):          # 0-d, empty, odd
        t = T(rank_data(rank, "float32", shape))
        dist.all_reduce(t, ReduceOp.MAX)
        close(t, np.max([rank_data(r, "float32", shape) for r in range(world)], 0), what=f"shape {shape}")


def check_all_reduce_async(rank, world):
    ts = [T(rank_data(rank, "float32", (i + 1, 2))) for i in range(4)]
    works = [dist.all_reduce(t, ReduceOp.AVG, async_op=True) for t in ts]
    for w in works:
        assert w.wait() is True and w.is_completed()
    for i, t in enumerate(ts):
        close(t, np.mean([rank_data(r, "float32", (i + 1, 2)) for r in range(world)], 0), what=f"async {i}")


def check_broadcast(rank, world):
    for dtype in ("float32", "int64", "bfloat16", "bool"):
        for src in range(world):
            t = T(rank_data(rank, dtype))
            work = dist.broadcast(t, src, async_op=src % 2 == 1)
            if work is not None:
                work.wait()
            close(t, rank_data(src, dtype), dtype, f"broadcast from {src}")


def check_all_gather(rank, world):
    x = rank_data(rank, "float32", (2, 3))
    outs = [Z(2, 3) for _ in range(world)]
    dist.all_gather(outs, T(x))
    for r in range(world):
        close(outs[r], rank_data(r, "float32", (2, 3)), what=f"all_gather[{r}]")
    flat = Z(world * 2, 3, dtype=tg.bfloat16)
    dist.all_gather_into_tensor(flat, T(x, dtype=tg.bfloat16), async_op=True).wait()
    close(flat, np.concatenate([rank_data(r, "float32", (2, 3)) for r in range(world)]), "bfloat16", "into_tensor")
    stacked = Z(world, 2, 3)
    dist.all_gather_into_tensor(stacked, T(x))
    close(stacked, np.stack([rank_data(r, "float32", (2, 3)) for r in range(world)]), what="stacked")


def check_reduce_scatter(rank, world):
    for op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX):
        for dtype in ("float32", "float16"):
            out = Z(3, dtype=getattr(tg, dtype))
            dist.reduce_scatter_tensor(out, T(rank_data(rank, dtype, (world * 3,))), op)
            full = _reduce_np([rank_data(r, dtype, (world * 3,)) for r in range(world)], op, dtype)
            close(out, full[rank * 3:(rank + 1) * 3], dtype, f"reduce_scatter {op.name}")


def check_reduce(rank, world):
    dst = world - 1
    t = T(rank_data(rank, "float64"))
    dist.reduce(t, dst, ReduceOp.SUM)
    expected = np.sum([rank_data(r, "float64") for r in range(world)], 0) if rank == dst else rank_data(rank, "float64")
    close(t, expected, what="reduce")


def check_gather_scatter(rank, world):
    x = T(rank_data(rank, "int64", (4,)))
    outs = [Z(4, dtype=tg.int64) for _ in range(world)] if rank == 0 else None
    dist.gather(x, outs, dst=0)
    if rank == 0:
        for r in range(world):
            close(outs[r], rank_data(r, "int64", (4,)), what=f"gather[{r}]")
    src = world - 1
    got = Z(4)
    ins = [T(np.full(4, 10.0 * r + 1, np.float32)) for r in range(world)] if rank == src else None
    dist.scatter(got, ins, src=src)
    close(got, np.full(4, 10.0 * rank + 1), what="scatter")


def check_send_recv(rank, world):
    if world == 1:
        return "skipped: point-to-point needs two ranks"
    nxt, prv = (rank + 1) % world, (rank - 1) % world
    work = dist.isend(T(rank_data(rank, "float32", (6,))), nxt)
    got = Z(6)
    assert dist.recv(got, prv) == prv
    work.wait()
    close(got, rank_data(prv, "float32", (6,)), what="ring")
    if DEVICE != "cpu":
        return "ok"
    if rank == 0:                       # from any rank (mpi only): recv says who sent
        senders = set()
        for _ in range(world - 1):
            buf = Z(1, dtype=tg.int64)
            sender = dist.recv(buf, tag=7)
            assert buf.item() == 100 + sender, (buf.item(), sender)
            senders.add(sender)
        assert senders == set(range(1, world))
    else:
        dist.send(T([100 + rank]), 0, tag=7)


def check_errors(rank, world):
    """Bad calls fail on every rank alike, before any communication."""
    cases = [
        (lambda: dist.all_reduce(Z(4, 4).t()), ValueError, "Tensors must be contiguous"),
        (lambda: dist.broadcast(Z(2), world), ValueError, f"src={world} is not a rank"),
        (lambda: dist.all_reduce(Z(2, dtype=tg.int64), ReduceOp.AVG), ValueError, "AVG needs a floating"),
        (lambda: dist.all_gather([Z(2)], Z(2)), ValueError, f"world_size={world} tensors, got 1"),
        (lambda: dist.all_gather_into_tensor(Z(3), Z(2)), ValueError, "must have world_size"),
        (lambda: dist.send(Z(1), rank), ValueError, "should not be the same"),
        (lambda: dist.all_reduce(Z(2), group="other"), ValueError, "only the default group"),
        (lambda: dist.all_reduce([1.0]), TypeError, "must be a tritongrad Tensor"),
        (lambda: dist.init_process_group(BACKEND), ValueError, "twice"),
        (lambda: dist.gather(Z(1), [Z(1)] * world if rank else [], dst=0), ValueError,
         "gather_list`` must"),
    ]
    for fn, exc, msg in cases:
        try:
            fn()
        except exc as e:
            assert msg in str(e), f"{msg!r} not in {e!r}"
        else:
            raise AssertionError(f"no {exc.__name__} for the case expecting {msg!r}")


def _model(seed, hidden=16):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 3)).to(DEVICE)


def _batch(n, seed=7):
    g = np.random.default_rng(seed)
    return T(g.standard_normal((n, 5)).astype(np.float32)), T(g.integers(0, 3, n))


def _reference(steps, x, y, loss_fn, micro=1):
    """Rank 0's initial model trained in one process on the global batch."""
    model = _model(0)
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        for xb, yb in zip(x.chunk(micro), y.chunk(micro)):
            loss_fn(model(xb), yb).backward()
        opt.step()
    return model


def _same_params(ddp, ref, what):
    for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
        close(p.detach(), q.detach().cpu().numpy(), what=f"{what}: {name}")


def check_ddp_equals_single_process(rank, world):
    per = 4
    x, y = _batch(per * world)
    ddp = DDP(_model(rank))             # different inits: the broadcast from rank 0 must make them equal
    _same_params(ddp, _model(0), "after construction")
    opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(ddp(xs), ys).backward()
        opt.step()
    _same_params(ddp, _reference(3, x, y, F.cross_entropy), "3 steps")
    assert list(ddp.module.state_dict()) == list(_model(0).state_dict())
    assert list(ddp.state_dict()) == ["module." + k for k in _model(0).state_dict()]


def check_ddp_several_buckets_overlap(rank, world):
    per = 3
    x, y = _batch(per * world, seed=3)
    ddp = DDP(_model(rank), bucket_cap_mb=300 / 2 ** 20)        # 300 bytes: a bucket per tensor or two
    assert len(ddp._buckets) >= 4, len(ddp._buckets)
    started = []
    first_weight = ddp.module[0].weight             # the last gradient the backward produces
    first_weight.register_post_accumulate_grad_hook(lambda p: started.append(ddp._next_bucket))
    xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(ddp(xs), ys).backward()
        opt.step()
    assert started and all(s >= 2 for s in started), f"buckets started before the backward ended: {started}"
    _same_params(ddp, _reference(2, x, y, F.cross_entropy), "bucketed")


def check_ddp_no_sync_accumulation(rank, world):
    per = 2
    x1, y1 = _batch(per * world, seed=11)
    x2, y2 = _batch(per * world, seed=12)
    ddp = DDP(_model(rank))
    local = _model(0)
    mine = slice(rank * per, (rank + 1) * per)
    with ddp.no_sync():
        F.cross_entropy(ddp(x1[mine]), y1[mine]).backward()
    F.cross_entropy(local(x1[mine]), y1[mine]).backward()
    for p, q in zip(ddp.module.parameters(), local.parameters()):       # nothing was communicated
        close(p.grad, q.grad.cpu().numpy(), what="no_sync grad is local")
    F.cross_entropy(ddp(x2[mine]), y2[mine]).backward()
    opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    xs, ys = tg.cat([x1, x2]), tg.cat([y1, y2])
    _same_params(ddp, _reference(1, xs, ys, F.cross_entropy, micro=2), "no_sync accumulation")


def check_ddp_uneven_shards(rank, world):
    sizes = [3 + r for r in range(world)]           # rank r has 3 + r samples
    total = sum(sizes)
    x, y = _batch(total, seed=5)
    start = sum(sizes[:rank])
    xs, ys = x[start:start + sizes[rank]], y[start:start + sizes[rank]]
    ddp = DDP(_model(rank))
    opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        # a sum over the local samples scaled by world / total: the averaged gradient is the global mean's
        (F.cross_entropy(ddp(xs), ys, reduction="sum") * (world / total)).backward()
        opt.step()
    _same_params(ddp, _reference(2, x, y, F.cross_entropy), "uneven shards")


def check_sampler_shards_across_ranks(rank, world):
    n = 10
    s = DistributedSampler(range(n), seed=3)           # rank and world from the process group
    s.set_epoch(1)
    mine = T(list(s))
    allv = [Z(len(s), dtype=tg.int64) for _ in range(world)]
    dist.all_gather(allv, mine)
    perm = torch_cpu_randperm(n, 4)
    padded = (perm * 2)[:len(s) * world]
    assert [v.tolist() for v in allv] == [padded[r::world] for r in range(world)]


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 2)

    def forward(self, x, use_b):
        h = self.body(x).relu()
        return self.a(h) + self.b(h) if use_b else self.a(h)


def check_ddp_find_unused_parameters(rank, world):
    tg.manual_seed(0)
    ddp = DDP(_TwoHeads().to(DEVICE), find_unused_parameters=True)
    x = T(rank_data(rank, "float32", (3, 4)))
    ddp(x, use_b=rank == 0).sum().backward()        # head b is used on rank 0 only
    tg.manual_seed(0)
    ref = _TwoHeads().to(DEVICE)
    for r in range(world):
        ref(T(rank_data(r, "float32", (3, 4))), use_b=r == 0).sum().backward()
    for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
        close(p.grad, q.grad.cpu().numpy() / world, what=f"find_unused grad {name}")
    ddp.zero_grad()
    ddp(x, use_b=False).sum().backward()            # b unused everywhere: its grad stays None
    assert ddp.module.b.weight.grad is None and ddp.module.a.weight.grad is not None
    tg.manual_seed(0)
    strict = DDP(_TwoHeads().to(DEVICE))
    strict(x, use_b=False).sum().backward()
    try:
        strict(x, use_b=False)
    except RuntimeError as e:
        assert "find_unused_parameters=True" in str(e) and "b.weight" in str(e), str(e)
    else:
        raise AssertionError("a parameter without gradient did not make the next forward raise")


def check_ddp_broadcasts_buffers(rank, world):
    tg.manual_seed(rank)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(DEVICE)
    model[1].running_mean.fill_(float(rank + 1))
    ddp = DDP(model)
    close(ddp.module[1].running_mean, np.ones(4), what="buffer from rank 0")
    ddp(T(rank_data(rank, "float32", (5, 3)))).sum().backward()
    mean = ddp.module[1].running_mean.clone()
    allm = [Z(4) for _ in range(world)]
    ddp(T(rank_data(rank, "float32", (5, 3)))).sum().backward()    # forward re-broadcasts buffers
    dist.all_gather(allm, mean)
    for m in allm[1:]:
        assert m.tolist() != allm[0].tolist() or world == 1     # each rank's statistics moved on its data


def check_nccl_unique_id_bootstrap(rank, world):
    """The NCCL unique id made on rank 0 reaches every rank intact (needs the NCCL library, not a GPU)."""
    from tritongrad.distributed._nccl import bootstrap_unique_id
    if DEVICE != "cpu":
        return "ok"             # the nccl backend itself bootstrapped this way in init_process_group
    try:
        uid = bootstrap_unique_id(dist.distributed_c10d._group().comm)
    except (ImportError, OSError, RuntimeError) as e:
        if type(e).__name__ != "DynamicLibNotFoundError" and not isinstance(e, ImportError):
            raise
        return "skipped: " + str(e).splitlines()[0]
    raw = T(np.frombuffer(uid.as_bytes, np.uint8).copy())
    first = raw.clone()
    dist.broadcast(first, 0)
    assert raw.tolist() == first.tolist() and len(raw) == 128 and any(raw.tolist())


def check_nccl_step_never_waits_on_the_host(rank, world):
    """On cuda a whole DDP step (backward with its bucketed all-reduces, optimizer step) queues everything
    on the stream: no host synchronization."""
    if DEVICE == "cpu":
        return "ok"
    x, y = _batch(4, seed=rank)
    ddp = DDP(_model(0), bucket_cap_mb=300 / 2 ** 20)
    opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    for step in range(2):
        with tg.cuda.count_host_syncs() as syncs:
            opt.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            opt.step()
    assert syncs.count == 0, syncs


def check_nccl_backend_needs_a_gpu(rank, world):
    if DEVICE != "cpu":
        return "ok"
    dist.destroy_process_group()
    try:
        dist.init_process_group("nccl")
    except RuntimeError as e:
        assert any(w in str(e) for w in ("real GPU", "needs a GPU", "nccl4py", "CUDA")), str(e)
    else:
        raise AssertionError("the nccl backend started on a machine without a GPU")
    finally:
        if not dist.is_initialized():
            dist.init_process_group("mpi")
    t = T([float(rank)])
    dist.all_reduce(t)                   # the group works again after a destroy and a new init
    assert t.item() == world * (world - 1) / 2


BACKEND = "mpi"
CHECKS = [name for name in dict(globals()) if name.startswith("check_")]


def main(out_dir, backend="mpi", verbose=False):
    global DEVICE, BACKEND
    # a rank stuck in a collective (another rank failed before it) prints where and exits
    faulthandler.dump_traceback_later(float(os.environ.get("WORKER_TIMEOUT_S", 200)), exit=True)
    BACKEND, DEVICE = backend, {"mpi": "cpu", "nccl": "cuda"}[backend]
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {}
    for name in CHECKS:
        if verbose:
            print(f"rank {rank}: {name}", file=sys.stderr, flush=True)
        try:
            res = globals()[name](rank, world)
            results[name] = res if isinstance(res, str) else "ok"
        except Exception:
            results[name] = traceback.format_exc()
        dist.barrier()
    dist.destroy_process_group()
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], "nccl" if "--nccl" in sys.argv else "mpi", verbose="-v" in sys.argv)
