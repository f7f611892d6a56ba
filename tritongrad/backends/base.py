"""The backend interface: storage plus a forward and a backward for every op.

Two backends implement it: ``numpy`` (the reference, cpu) and ``triton`` (cuda; Triton kernels on
`DeviceArray`s). The autograd layer (``tritongrad/functions.py``) calls only these methods, so every op
computes on exactly one of the two, and a test fails if the Triton backend leaves any of them to this base
class.

Conventions (both backends):

* An *array* is an ``np.ndarray`` (cpu) or a `tritongrad.runtime.DeviceArray` (cuda): shape, byte
  strides, NumPy dtype (bfloat16 from ``ml_dtypes``). Inputs may be any strided view, including broadcast
  views (stride 0) and negative strides; outputs are new C-contiguous arrays unless a method says otherwise.
  Methods never modify their inputs, except the ones ending in ``_`` (in place on their first argument).
* ``dtype`` arguments are NumPy dtypes.
* Floating math on float16/bfloat16 runs in float32 and rounds once at the end; reductions accumulate in
  float32 (float64 stays float64).
* Binary ops take two arrays of the same dtype, or one array and one Python scalar; the caller has
  already applied type promotion. They broadcast their operands.
* Backward methods return gradients at the *broadcast* shape of the forward; the caller sums over
  broadcast dimensions (with ``reduce('sum', ...)``).
* Random numbers are a pure function of ``(seed, offset + linear element index)`` through Philox4x32-10
  exactly as Triton's ``tl.randint4x``/``tl.rand``/``tl.randn``, so cpu and cuda draw the same numbers
  (up to float rounding for ``randn``) and a dropout mask can be regenerated in backward.
"""
from __future__ import annotations

import numpy as np

UNARY_OPS = (
    "neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
    "relu", "sign", "floor", "ceil", "round", "trunc", "reciprocal", "square", "gelu", "gelu_tanh",
    "silu", "leaky_relu", "logical_not", "isnan", "isinf",
)
"""Elementwise ops of one input. ``leaky_relu`` takes ``negative_slope``. ``logical_not``/``isnan``/
``isinf`` return bool. The rest keep the input dtype (the caller casts integer inputs of floating ops to
the default float first, as PyTorch does)."""

UNARY_DIFFERENTIABLE = (
    "neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
    "relu", "sign", "floor", "ceil", "round", "trunc", "reciprocal", "square", "gelu", "gelu_tanh",
    "silu", "leaky_relu",
)

UNARY_SAVES = {
    "neg": None, "sign": None, "floor": None, "ceil": None, "round": None, "trunc": None,
    "exp": "y", "expm1": "y", "sqrt": "y", "rsqrt": "y", "tanh": "y", "sigmoid": "y", "reciprocal": "y", "relu": "y",
    "abs": "x", "log": "x", "log1p": "x", "sin": "x", "cos": "x", "square": "x", "gelu": "x", "gelu_tanh": "x",
    "silu": "x", "leaky_relu": "x",
}
"""What ``unary_bwd`` of each differentiable unary op reads: ``"y"`` (the forward output), ``"x"`` (the input)
or None (neither: ``neg``'s derivative is -1, the rounding ops' and ``sign``'s are 0). Autograd saves only
that operand, as PyTorch's derivatives.yaml does (``result`` for exp, tanh, sigmoid, relu, ...; ``self`` for
log, sin, gelu, silu, leaky_relu, ...), and passes None for the other."""

BINARY_OPS = (
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "floor_divide", "remainder", "atan2",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor",
)
"""Elementwise ops of two inputs. ``div`` is true division (the caller promotes integers to float);
``floor_divide`` and ``remainder`` follow Python's signs (PyTorch's); comparisons and ``logical_*`` return
bool."""

BINARY_DIFFERENTIABLE = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "remainder")

REDUCE_OPS = ("sum", "mean", "prod", "amax", "amin", "all", "any", "logsumexp", "var", "norm")
"""``var`` takes ``correction``; ``norm`` takes ``p`` (a positive number or ``inf``). Result dtypes as in
PyTorch: ``sum``/``prod`` of bool or integers give int64, ``all``/``any`` give bool, the rest keep the
input's floating dtype."""


class Backend:
    """Abstract backend; each method documents the contract both backends meet."""

    name = "abstract"

    # ---------------------------------------------------------------- storage
    def empty(self, shape, dtype, device=0):
        """A new uninitialised C-contiguous array."""
        raise NotImplementedError

    def full(self, shape, value, dtype, device=0):
        """A new array filled with the Python scalar ``value``."""
        raise NotImplementedError

    def from_numpy(self, arr, device=0):
        """An array holding ``arr``'s values. cpu returns ``arr`` itself (shared memory); cuda copies."""
        raise NotImplementedError

    def to_numpy(self, a):
        """A NumPy array with ``a``'s values (cpu: ``a`` itself; cuda: a host copy, synchronizing)."""
        raise NotImplementedError

    def copy_(self, dst, src):
        """Write ``src`` (an array broadcastable to ``dst.shape``, any dtype, or a scalar) into the view
        ``dst``, casting to ``dst``'s dtype. Returns ``dst``."""
        raise NotImplementedError

    def _accumulate_(self, dst, src):
        """``dst += src`` in place, keeping ``dst``'s memory (autograd's gradient accumulation into an existing
        ``.grad``, as PyTorch's AccumulateGrad). ``dst``: a C-contiguous writeable array; ``src``: same
        shape and dtype. Returns ``dst``. The default is ``binary('add')`` written back with `copy_`; a
        backend may override it with a single in-place kernel (private: not part of the op interface)."""
        return self.copy_(dst, self.binary("add", dst, src))

    def cast(self, a, dtype):
        """A new contiguous array of ``a``'s values converted to ``dtype`` (float->int truncates)."""
        raise NotImplementedError

    def contiguous(self, a):
        """A new C-contiguous copy of ``a`` (always a copy)."""
        raise NotImplementedError

    def arange(self, start, step, n, dtype, device=0):
        """``start + step * i`` for ``i`` in ``range(n)``, computed in float64/int64 then cast."""
        raise NotImplementedError

    # ---------------------------------------------------------------- random (Philox, see module doc)
    def rand(self, shape, dtype, seed, offset, device=0):
        """Uniform [0, 1) numbers: element ``i`` is ``tl.rand(seed, offset + i)``."""
        raise NotImplementedError

    def randn(self, shape, dtype, seed, offset, device=0):
        """Standard normal numbers: element ``i`` is ``tl.randn(seed, offset + i)``."""
        raise NotImplementedError

    def randint(self, shape, low, high, dtype, seed, offset, device=0):
        """Integers uniform in [low, high): ``low + tl.randint(seed, offset + i) % (high - low)``
        (computed on the uint32 draw, then as int64)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- elementwise
    def unary(self, op, x, **params):
        """``op`` of `UNARY_OPS` applied to ``x``."""
        raise NotImplementedError

    def unary_bwd(self, op, x, y, gy, **params):
        """Gradient of ``unary(op, x)`` w.r.t. ``x``, given the forward output ``y`` and upstream ``gy``.
        Only the operand `UNARY_SAVES` names is read; the other may be None (``y`` None with ``x`` given:
        ``y`` is recomputed from ``x``); the result has ``gy``'s shape and the dtype of ``x`` (else ``y``,
        else ``gy``). Non-smooth points follow PyTorch (``relu'(0) = 0`` with ``relu``'s gradient passing
        where the output is nan, ``abs'(0) = 0``, ``sign' = floor' = 0``)."""
        raise NotImplementedError

    def binary(self, op, a, b):
        """``op`` of `BINARY_OPS` on ``a`` and ``b`` (arrays of one dtype, or one Python scalar),
        broadcast."""
        raise NotImplementedError

    def binary_bwd(self, op, a, b, gc, need_a=True, need_b=True):
        """``(ga, gb)`` for ``c = binary(op, a, b)`` at the broadcast shape (None where not needed or where
        that operand is a scalar). ``maximum``/``minimum`` split the gradient equally on ties (PyTorch's
        rule); ``pow`` gives ``gb = c * log(a)`` with 0 where ``a == 0`` and ``b >= 0``."""
        raise NotImplementedError

    def where(self, cond, a, b):
        """``a`` where ``cond`` (bool) else ``b``; ``a``/``b`` arrays of one dtype or scalars; broadcast."""
        raise NotImplementedError

    def clamp(self, x, lo, hi):
        """``min(max(x, lo), hi)``; ``lo``/``hi`` are scalars or None."""
        raise NotImplementedError

    def clamp_bwd(self, x, lo, hi, gy):
        """``gy`` where ``lo <= x <= hi`` (bounds that are None always pass), else 0."""
        raise NotImplementedError

    def tril(self, x, k, upper=False):
        """Lower (``upper=False``) or upper triangle of the last two dims, diagonal offset ``k``; the rest 0.
        Its backward is the same op applied to the gradient."""
        raise NotImplementedError

    # ---------------------------------------------------------------- reductions
    def reduce(self, op, x, dims, keepdim, **params):
        """``op`` of `REDUCE_OPS` over the axes ``dims`` (a tuple of non-negative ints, may be empty
        for a 0-d input, all axes for a full reduction)."""
        raise NotImplementedError

    def reduce_bwd(self, op, x, y, gy, dims, keepdim, **params):
        """Gradient of ``reduce(op, x, dims, keepdim)`` w.r.t. ``x`` given output ``y`` and ``gy``
        (for ``sum``, ``mean``, ``prod``, ``amax``, ``amin``, ``logsumexp``, ``var``, ``norm``).
        ``amax``/``amin`` split the gradient evenly between tied maxima (PyTorch's rule); ``prod`` is
        right when ``x`` holds zeros; ``norm`` at 0 gives 0."""
        raise NotImplementedError

    def argreduce(self, op, x, dim, keepdim):
        """``(values, indices)`` of ``op`` in ``('max', 'min')`` along ``dim``; indices int64, the first
        occurrence on ties."""
        raise NotImplementedError

    def cumsum(self, x, dim, reverse=False):
        """Inclusive prefix sum along ``dim`` (``reverse=True``: suffix sum, the backward of cumsum).
        Integer/bool inputs give int64."""
        raise NotImplementedError

    def softmax(self, x, dim, log=False):
        """Softmax (or log-softmax) along ``dim``, fp32 internally."""
        raise NotImplementedError

    def softmax_bwd(self, y, gy, dim, log=False):
        """Gradient w.r.t. the input of ``softmax(x, dim, log)`` given its output ``y`` and ``gy``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- matmul
    def matmul(self, a, b, allow_tf32=False):
        """Batched product: ``a`` (B, M, K) @ ``b`` (B, K, N) -> (B, M, N), any strides (a batch stride
        may be 0). Same dtype in and out; fp16/bf16/fp32 accumulate in fp32. ``allow_tf32`` lets fp32
        operands use tf32 (``torch.set_float32_matmul_precision('high')``)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- indexing
    def index_select(self, x, dim, index):
        """``x`` gathered along ``dim`` at the int64 1-D ``index`` (``torch.index_select``); an index out
        of range raises IndexError naming it and the size: at once on cpu, at the host's next wait for the
        device on cuda (the device error word, `runtime.error_word`). The indexing ops below do the same."""
        raise NotImplementedError

    def index_add(self, shape, dtype, dim, index, src):
        """A new zero array of ``shape`` with ``src`` added at ``index`` along ``dim`` (duplicates
        accumulate): the backward of `index_select`."""
        raise NotImplementedError

    def index_copy_(self, x, dim, index, src):
        """In place: ``x[..., index[i], ...] = src[..., i, ...]`` along ``dim`` (``Tensor.index_copy_``).
        Returns ``x``."""
        raise NotImplementedError

    def gather(self, x, dim, index):
        """``torch.gather``: ``out[i][j] = x[i][index[i][j]]`` for dim 1 and likewise for any ``dim``."""
        raise NotImplementedError

    def scatter_add(self, shape, dtype, dim, index, src):
        """A new zero array of ``shape`` with ``src`` added where ``gather`` would read (the backward of
        `gather`)."""
        raise NotImplementedError

    def wrap_index(self, index, size, dim=0, op="index"):
        """A new int64 copy of the integer ``index`` with negative values wrapped (``i + size``), as advanced
        indexing reads them. A value outside ``[-size, size)`` (``[0, size)`` for ``op="one_hot"``, whose
        classes do not wrap) raises what `runtime.error_word.exception` makes: at once on cpu, at the host's
        next wait for the device on cuda (the device error word), never with a synchronization of its own."""
        raise NotImplementedError

    def nonzero(self, x):
        """int64 array (N, ndim) of the coordinates of the non-zero elements, in C order (synchronizes)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- views (metadata only, shared)
    # Both array kinds follow NumPy's view semantics, so these need no kernels and are shared.
    def reshape_view(self, a, shape):
        """A view of ``a`` with ``shape``, or None when ``a``'s strides make that impossible."""
        shape = tuple(shape)
        if isinstance(a, np.ndarray):
            v = a.view()
            try:
                v.shape = shape
            except AttributeError:
                return None
            return v
        return a.reshape_view(shape)

    def permute(self, a, dims):
        """A view with axes reordered (``np.transpose``)."""
        return a.transpose(tuple(dims))

    def broadcast_to(self, a, shape):
        """A read-only broadcast view (stride 0 on stretched axes)."""
        if isinstance(a, np.ndarray):
            return np.broadcast_to(a, tuple(shape))
        return a.broadcast_to(tuple(shape))

    def getitem(self, a, key):
        """Basic indexing (ints, slices, None, Ellipsis): a view (0-d when every dim gets an int; NumPy
        would return a scalar copy there, so an Ellipsis keeps it a view)."""
        key = key if isinstance(key, tuple) else (key,)
        if isinstance(a, np.ndarray) and not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)
        return a[key]

    def flip_view(self, a, dims):
        """A view with the given axes reversed (negative strides)."""
        key = [slice(None)] * a.ndim
        for d in dims:
            key[d] = slice(None, None, -1)
        return a[tuple(key)]

    def device_of(self, a):
        """The device index of array ``a`` (0 on cpu)."""
        return 0 if isinstance(a, np.ndarray) else a.device
