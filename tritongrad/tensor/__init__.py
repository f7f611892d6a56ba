"""`tritongrad.tensor`: the `Tensor` class and the functions that make tensors (``torch.tensor``, ``zeros``, ...).

One concern per file:

- `_core`: the `Tensor` class (state, attributes, conversions, device and dtype moves, autograd hooks, the
  methods that call `tritongrad.ops_extra`), assembled from the mixins below;
- `_math`: elementwise math, comparisons, reductions, and the binary-op dispatch (`_binary`);
- `_shape`: views and shape ops, the shape arguments of factories;
- `_indexing`: ``t[key]``, ``t[key] = value`` (basic and advanced), gather/scatter/index_select;
- `_inplace`: in-place ops, version counters, the ``<op>_`` variants;
- `_printing`: repr and `set_printoptions`;
- `_factories`: ``tensor``, ``zeros``, ``arange``, ... and ``cat``/``stack``, ``where``, ``matmul``;
- `_helpers`: `Size`, dtype names, dim normalisation, the backend of a device.

Every name the single-file module had is importable from here.
"""
from ._helpers import (_BACKENDS, _TYPE_NAMES, Size, _backend, _norm_dim, _norm_dims, _np_to_dt, _pybool, _pyfloat,
                       _pyint, _scalar, values_indices)
from ._core import Tensor, _DeviceMove, _HookHandle, _PinCopy, _rebuild, _ToDevice
from ._math import (_ALL_DIMS, _BITWISE, _COMPARE, _FLOAT_BINARY, _FLOAT_NP, _LOGICAL, _NO_PARAMS, _binary,
                    _check_softmax_dtype, _coerce_operand)
from ._shape import _infer_shape, _shape_arg, _size_arg
from ._indexing import (_advanced_get, _advanced_set, _as_index, _check_index_device, _check_index_fits, _is_adv,
                        _linear_index, _parse_index)
from ._inplace import _inplace_variant
from ._printing import _PRINT, _PRINT_PROFILES, _Formatter, _body, _format, _summarized, set_printoptions
from ._factories import (_PRECISION, _flat, _like, _new, _np_from_data, _to_nested, arange, as_tensor, cat, concat,
                         concatenate, empty, empty_like, eye, from_numpy, full, full_like, linspace, matmul, ones,
                         ones_like, stack, tensor, where, zeros, zeros_like)
from . import _core, _factories, _indexing, _inplace, _math, _shape

# The class needs its mixins, while the mixins, the factories and `tritongrad.ops_extra` need the class: each
# module imports the names it shares in that cycle in its `_late_imports`, run here, once they all exist.
for _module in (_core, _math, _shape, _indexing, _inplace, _factories):
    _module._late_imports()
del _module

__all__ = ["Tensor", "Size", "tensor"]
