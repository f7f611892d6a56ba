"""`tritongrad.cuda`: the ``torch.cuda`` of tritongrad (devices, streams, events, memory, CUDA graphs).

Everything here is implemented in `tritongrad.runtime` over NVIDIA's cuda-bindings; no torch. Without a
GPU, ``TRITON_INTERPRET=1`` makes the "cuda" device host memory plus Triton's interpreter: then
`is_available` is True and `is_interpreter` tells the two apart.

Host synchronizations (``.item()``, blocking copies, ``synchronize``) are counted by `count_host_syncs` and
trapped by `set_sync_debug_mode`, in interpreter mode as on a GPU; `make_graphed_step` captures a whole
training step in a CUDA graph.
"""
from __future__ import annotations

from ..runtime import (CUDAGraph, Event, HostSyncCounter, OutOfMemoryError, Stream, count_host_syncs,
                      current_device, current_stream, default_stream, device_count, empty_cache,
                      get_device_capability, get_device_name, get_sync_debug_mode, graph, is_available,
                      is_current_stream_capturing, is_pinned, max_memory_allocated,
                      mem_get_info, memory_allocated, memory_reserved, pinned_empty, reset_peak_memory_stats,
                      set_device, set_sync_debug_mode, stream, synchronize)
from ..runtime import interpreting as _interpreting
from ..runtime.errors import CudaError

__all__ = ["init", "is_available", "is_interpreter", "device_count", "current_device", "set_device", "get_device_name",
           "get_device_capability", "synchronize", "mem_get_info", "Stream", "Event", "stream",
           "current_stream", "default_stream", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "reset_peak_memory_stats", "empty_cache", "pinned_empty", "is_pinned", "CUDAGraph", "graph",
           "is_current_stream_capturing", "make_graphed_step", "GraphedStep", "count_host_syncs",
           "HostSyncCounter", "set_sync_debug_mode", "get_sync_debug_mode", "OutOfMemoryError", "CudaError",
           "is_bf16_supported", "amp", "manual_seed", "manual_seed_all", "seed", "seed_all", "initial_seed",
           "get_rng_state", "set_rng_state"]


def manual_seed(seed):
    """Seed the cuda generator (``torch.cuda.manual_seed``; tritongrad's cuda devices share one generator)."""
    from ..random import default_generator
    default_generator("cuda").manual_seed(seed)


def manual_seed_all(seed):
    """``torch.cuda.manual_seed_all``: `manual_seed` (one cuda generator)."""
    manual_seed(seed)


def seed():
    """Seed the cuda generator from OS entropy (``torch.cuda.seed``)."""
    from ..random import default_generator
    default_generator("cuda").seed()


def seed_all():
    """``torch.cuda.seed_all``: `seed`."""
    seed()


def initial_seed():
    """The cuda generator's seed (``torch.cuda.initial_seed``)."""
    from ..random import default_generator
    return default_generator("cuda").initial_seed()


def get_rng_state(device="cuda"):
    """The cuda generator's state as a uint8 tensor (``torch.cuda.get_rng_state``)."""
    from ..random import default_generator
    return default_generator("cuda").get_state()


def set_rng_state(new_state, device="cuda"):
    """Restore the cuda generator's state (``torch.cuda.set_rng_state``)."""
    from ..random import default_generator
    default_generator("cuda").set_state(new_state)


def is_bf16_supported(including_emulation=True):
    """``torch.cuda.is_bf16_supported``: True on sm_80 and newer GPUs (bfloat16 tensor cores) and in
    interpreter mode; False when CUDA is unavailable."""
    if not is_available():
        return False
    if _interpreting():
        return True
    return get_device_capability()[0] >= 8


def init():
    """``torch.cuda.init``: initialise the cuda device now rather than at its first use (on a GPU the driver, the
    primary context and the memory pool), and install tritongrad's Triton driver, so that Triton's tools
    (``triton.runtime.driver.active``) answer for tritongrad. Raises RuntimeError when CUDA is unavailable."""
    from ..backends import cuda_backend
    cuda_backend()


def is_interpreter():
    """True when the cuda device is Triton's interpreter on host memory (``TRITON_INTERPRET=1``), False on a
    real GPU. (No PyTorch counterpart.)"""
    return _interpreting()


class GraphedStep:
    """A step function captured once in a CUDA graph and replayed on each call; made by `make_graphed_step`.

    ``static_inputs`` are the tensors the graph reads, ``outputs`` what the step returned when it was
    captured (updated in place by every replay), ``graph`` the `CUDAGraph` (None when made with
    ``capture=False``, which runs the step eagerly on the static inputs instead).
    """

    def __init__(self, step_fn, static_inputs, warmup, capture):
        self.step_fn = step_fn
        self.static_inputs = static_inputs
        self.graph = None
        self.outputs = None
        for _ in range(warmup):
            self.outputs = step_fn(*static_inputs)
        if capture:
            g = CUDAGraph()
            with graph(g):
                self.outputs = step_fn(*static_inputs)
            self.graph = g

    def __call__(self, *inputs):
        """Copy ``inputs`` (one per static input, same shape; or none, to reuse what the static inputs hold)
        into the static inputs, run the step (replay the graph), and return its outputs. Replayed outputs
        are the same tensors every call, overwritten by the next one: clone what must be kept."""
        from ..autograd import no_grad
        if inputs:
            if len(inputs) != len(self.static_inputs):
                raise TypeError(f"this graphed step takes {len(self.static_inputs)} input(s) (or none, to reuse "
                                f"the static inputs as they are), got {len(inputs)}")
            with no_grad():
                for i, (static, x) in enumerate(zip(self.static_inputs, inputs)):
                    if x is static:
                        continue
                    shape = tuple(getattr(x, "shape", ()))
                    if shape != tuple(static.shape):
                        raise ValueError(f"input {i} has shape {shape}, but the step was captured with shape "
                                         f"{tuple(static.shape)}: a CUDA graph replays static shapes only")
                    static.copy_(x)
        if self.graph is None:
            self.outputs = self.step_fn(*self.static_inputs)
        else:
            self.graph.replay()
        return self.outputs


def make_graphed_step(step_fn, *static_inputs, warmup=3, capture=True):
    """Capture a whole training step in a CUDA graph and return a `GraphedStep` that replays it.

    ``step_fn(*static_inputs)`` runs one step -- e.g. ``zero_grad``, forward, loss, ``backward``,
    ``clip_grad_norm_``, ``optimizer.step()`` -- and returns what the caller wants back (the loss tensor,
    a tuple, None ...). It is run ``warmup`` times eagerly (real steps on what the static inputs hold: fill
    them with the first batch), then once under capture (recorded, not run). Each call of the result copies
    new inputs into the static inputs and replays: one launch, no host work, no host synchronization.
    (No single PyTorch counterpart: this is PyTorch's whole-network capture recipe,
    ``torch.cuda.graph`` after warm-up iterations, packaged.)

    Requirements (as for ``torch.cuda.graph``):

    * static shapes, dtypes and devices: every call feeds inputs of the captured shapes; the control flow
      of ``step_fn`` must not depend on data;
    * no host synchronization inside ``step_fn`` (no ``.item()``, ``bool(t)``, ``.cpu()``, printing a
      tensor): inside the capture one raises, naming the line; check beforehand with `count_host_syncs`;
    * warm-up (``warmup >= 1``): Triton kernels compile and load, and lazily created state (the optimizer's
      ``exp_avg``, ``step`` ...) is allocated and initialised *before* the capture -- state created inside the
      capture would be re-initialised by every replay;
    * gradients: call ``optimizer.zero_grad()`` (either ``set_to_none``) inside ``step_fn``. Backward writes
      its gradients into new buffers; captured, those come from the graph's private pool, so every replay
      writes them at the same addresses, ``p.grad`` after the capture is that buffer, and the optimizer's
      and clipping's address tables recorded by the capture stay right. Accumulating gradients *across*
      calls does not work: backward's accumulation writes a new buffer, so each replay adds to the gradient
      as it was at capture time (accumulate micro-batches inside ``step_fn`` instead);
    * hyperparameters are those of the capture: the optimizer reads its learning rate from a device array
      written by ``optimizer.step()`` on the host, and a replay runs no host code, so a learning-rate
      scheduler stepped between calls is not seen by the graph;
    * random ops (dropout) replay the random numbers drawn at capture;
    * every tensor the graph touches must stay alive and in place: the `GraphedStep` keeps the static
      inputs, the outputs and the graph; keep the model and the optimizer, and do not replace their tensors
      (``optimizer.load_state_dict``, new parameters): capture again instead.

    ``capture=False`` runs the same warm-up and then ``step_fn`` eagerly on every call, with the same
    input handling: for debugging. In interpreter mode (``TRITON_INTERPRET=1``) capture and replay work as
    on a GPU (the runtime records the captured launches and copies, see `tritongrad.runtime.capture`).
    """
    from ..tensor import Tensor
    if not callable(step_fn):
        raise TypeError(f"step_fn must be callable, got {type(step_fn).__name__}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    if capture and warmup < 1:
        raise ValueError("capturing a step needs warmup >= 1: kernels must compile and optimizer state must be "
                         "created before the capture (state created inside it would be reset by every replay)")
    for i, x in enumerate(static_inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"static input {i} must be a tritongrad Tensor, got {type(x).__name__}")
        if x.device.type != "cuda":
            raise ValueError(f"static input {i} is on {x.device}; a graphed step reads its inputs on cuda")
    return GraphedStep(step_fn, tuple(static_inputs), warmup, capture)


from . import amp  # noqa: E402  (torch.cuda.amp: deprecated aliases of tritongrad.amp for cuda)
from .._typed_tensors import cuda_types as _cuda_types  # noqa: E402

globals().update(_cuda_types)   # torch.cuda.FloatTensor, torch.cuda.LongTensor, ...
