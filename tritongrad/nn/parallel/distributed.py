"""`DistributedDataParallel`: data-parallel training over `tritongrad.distributed` (``torch.nn.parallel``).

Each rank holds a replica of the module and trains on its own shard of the batch. At construction the
parameters and buffers are broadcast from rank 0. The parameters are grouped, in reverse registration order
(roughly the order backward produces their gradients), into buckets of at most ``bucket_cap_mb``; a
post-accumulate-grad hook on each parameter copies its gradient into its bucket's flat buffer, and a full
bucket starts an asynchronous all-reduce (``ReduceOp.AVG``) right away, so communication overlaps the rest of
the backward. Buckets start in the same order on every rank (a bucket waits for the ones before it), as
collectives must match. When the last bucket has started, the hook waits for all of them and writes the
averaged gradients back into ``.grad``: after ``loss.backward()`` every rank holds the same gradient, the
average of the ranks' gradients.
"""
from __future__ import annotations

import contextlib

from ... import autograd
from ...dtypes import int32
from ...tensor import tensor
from ... import distributed as dist
from ..module import Module

__all__ = ["DistributedDataParallel"]

_UNFINISHED = ("Expected to have finished reduction in the prior iteration before starting a new one. This error "
               "indicates that your module has parameters that were not used in producing loss: pass "
               "find_unused_parameters=True to DistributedDataParallel, and make sure all forward outputs "
               "take part in the loss. Parameters that got no gradient on rank {rank}: {names}")


class _Bucket:
    """Parameters whose gradients are all-reduced together through one flat buffer."""

    def __init__(self, params, names):
        self.params, self.names = params, names
        self.offsets, n = [], 0
        for p in params:
            self.offsets.append(n)
            n += p.numel()
        p0 = params[0]
        self.flat = p0.new_zeros(n)
        self.pending = len(params)
        self.ready = set()           # indices (in params) whose gradient is in flat
        self.work = None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (``torch.nn.parallel.DistributedDataParallel``).

    ``module`` is reached as ``ddp.module`` (``ddp.module.state_dict()`` has the plain keys; ``ddp.state_dict()``
    prefixes them with ``module.``, as PyTorch). ``bucket_cap_mb`` (default 25) bounds a bucket's size.
    ``broadcast_buffers`` re-broadcasts rank 0's buffers (BatchNorm statistics) before every forward.
    ``find_unused_parameters=True`` walks the outputs' autograd graph after each forward and counts the
    parameters it does not reach as ready; a parameter no rank used keeps its ``.grad``. Without it, a
    parameter that gets no gradient makes the next forward raise. `no_sync` skips the all-reduce, for
    gradient accumulation. ``device_ids`` may name the module's one device; ``gradient_as_bucket_view``,
    ``static_graph`` and ``process_group`` other than the default are not supported.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a tritongrad.nn.Module, got {type(module).__name__}")
        if gradient_as_bucket_view or static_graph:
            raise NotImplementedError("DistributedDataParallel: gradient_as_bucket_view and static_graph are not "
                                      "supported by tritongrad")
        dist.distributed_c10d._group(process_group)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        devices = {p.device for _, p in named}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel: the module's parameters are on several devices {devices}; "
                             f"put them on one")
        if device_ids is not None and [str(d) if not isinstance(d, int) else d for d in device_ids] not in (
                [next(iter(devices)).index or 0], [str(next(iter(devices)))]):
            raise ValueError(f"DistributedDataParallel: device_ids={device_ids} but the module is on "
                             f"{next(iter(devices))}")
        cap = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        if cap <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = cap
        self.require_backward_grad_sync = True
        self.world_size = dist.get_world_size()
        with autograd.no_grad():
            self._broadcast([p for _, p in module.named_parameters()] + [b for _, b in module.named_buffers()])
        self._buckets = _make_buckets(named, int(cap * 1024 * 1024))
        self._next_bucket = 0
        self._slot = {}                 # id(param) -> (bucket, index in bucket)
        for b in self._buckets:
            for i, p in enumerate(b.params):
                self._slot[id(p)] = (b, i)
        self._used = None               # find_unused_parameters: ids of the params this forward reached
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for _, p in named]

    # ------------------------------------------------------------------------------------------- forward
    def forward(self, *inputs, **kwargs):
        if any(b.ready for b in self._buckets):
            raise RuntimeError(_UNFINISHED.format(rank=dist.get_rank(), names=self._missing()))
        if self.broadcast_buffers and self.world_size > 1:
            with autograd.no_grad():
                self._broadcast([b for _, b in self.module.named_buffers()])
        out = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync and autograd.is_grad_enabled():
            self._used = _reached(out)
            for b in self._buckets:
                for i, p in enumerate(b.params):
                    if id(p) not in self._used:
                        b.flat[b.offsets[i]:b.offsets[i] + p.numel()].zero_()
                        self._mark(b, i)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this context backward only accumulates into ``.grad`` (no communication); the first backward
        after it all-reduces the accumulated gradients (``DistributedDataParallel.no_sync``)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # ----------------------------------------------------------------------------------------- reduction
    def _grad_ready(self, p):
        if not self.require_backward_grad_sync:
            return
        b, i = self._slot[id(p)]
        if i in b.ready:
            raise RuntimeError(f"DistributedDataParallel: parameter {b.names[i]} got a second gradient in one "
                               f"iteration (backward through the same forward twice, or a parameter used in two "
                               f"DDP forwards) before the reduction finished")
        with autograd.no_grad():
            b.flat[b.offsets[i]:b.offsets[i] + p.numel()].copy_(p.grad.reshape(-1))
        self._mark(b, i)

    def _mark(self, b, i):
        b.ready.add(i)
        b.pending -= 1
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            nb = self._buckets[self._next_bucket]
            nb.work = dist.all_reduce(nb.flat, dist.ReduceOp.AVG, async_op=True)
            self._next_bucket += 1
            for earlier in self._buckets[:self._next_bucket - 1]:
                earlier.work.is_completed()      # lets MPI progress the earlier all-reduces
        if self._next_bucket == len(self._buckets):
            self._finish()

    def _finish(self):
        """Wait for every bucket and write the averaged gradients into ``.grad``."""
        for b in self._buckets:
            b.work.wait()
        used_anywhere = self._used_anywhere()
        with autograd.no_grad():
            for b in self._buckets:
                for i, p in enumerate(b.params):
                    if used_anywhere is not None and not used_anywhere[id(p)]:
                        continue
                    g = b.flat[b.offsets[i]:b.offsets[i] + p.numel()].view(p.shape)
                    if p.grad is None:
                        p.grad = g.clone()
                    else:
                        p.grad.copy_(g)
                b.pending, b.ready, b.work = len(b.params), set(), None
        self._next_bucket = 0
        self._used = None

    def _used_anywhere(self):
        """find_unused_parameters: id(param) -> whether any rank used it (one MAX all-reduce of flags)."""
        if self._used is None:
            return None
        params = [p for b in self._buckets for p in b.params]
        flags = tensor([1 if id(p) in self._used else 0 for p in params], dtype=int32, device=params[0].device)
        dist.all_reduce(flags, dist.ReduceOp.MAX)
        return {id(p): bool(f) for p, f in zip(params, flags.tolist())}

    def _missing(self):
        return [b.names[i] for b in self._buckets for i in range(len(b.params)) if i not in b.ready]

    def _broadcast(self, tensors):
        works = [dist.broadcast(t, 0, async_op=True) for t in tensors]
        for w in works:
            w.wait()


def _make_buckets(named, cap_bytes):
    """Buckets of parameters of one dtype, in reverse registration order, each at most ``cap_bytes`` (a
    parameter bigger than that gets a bucket of its own)."""
    buckets, cur, size = [], [], 0
    for name, p in reversed(named):
        nbytes = p.numel() * p.element_size()
        if cur and (size + nbytes > cap_bytes or p.dtype != cur[0][1].dtype):
            buckets.append(_Bucket([q for _, q in cur], [n for n, _ in cur]))
            cur, size = [], 0
        cur.append((name, p))
        size += nbytes
    buckets.append(_Bucket([q for _, q in cur], [n for n, _ in cur]))
    return buckets


def _reached(out):
    """ids of the leaf tensors that the autograd graph of ``out`` (tensors nested in tuples, lists, dicts)
    reaches."""
    from ...tensor import Tensor
    items, nodes, leaves = [out], [], set()
    while items:
        x = items.pop()
        if isinstance(x, Tensor):
            if x.grad_fn is None:
                leaves.add(id(x))
            else:
                nodes.append(x.grad_fn)
        elif isinstance(x, dict):
            items.extend(x.values())
        elif isinstance(x, (list, tuple)):
            items.extend(x)
    seen = set()
    while nodes:
        node = nodes.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for p in node.parents:         # a leaf tensor, or a record with the producing node (grad_fn)
            if p is None:
                continue
            if p.grad_fn is None:
                leaves.add(id(p))
            else:
                nodes.append(p.grad_fn)
    return leaves
