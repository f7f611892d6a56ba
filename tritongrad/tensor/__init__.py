"""`tritongrad.tensor`: the `Tensor` class and the functions that make tensors (``torch.tensor``, ``zeros``, ...)."""
from ._core import (_ALL_DIMS, _BACKENDS, _BITWISE, _COMPARE, _FLOAT_BINARY, _FLOAT_NP, _LOGICAL, _NO_PARAMS,
                    _PRECISION, _PRINT, _PRINT_PROFILES, _TYPE_NAMES, Size, Tensor, _DeviceMove, _Formatter,
                    _HookHandle, _PinCopy, _ToDevice, __all__, _advanced_get, _advanced_set, _as_index, _backend,
                    _binary, _body, _check_index_device, _check_index_fits, _check_softmax_dtype, _coerce_operand,
                    _flat, _format, _infer_shape, _inplace_variant, _is_adv, _like, _linear_index, _new, _norm_dim,
                    _norm_dims, _np_from_data, _np_to_dt, _parse_index, _pybool, _pyfloat, _pyint, _rebuild,
                    _scalar, _shape_arg, _size_arg, _summarized, _to_nested, arange, as_tensor, cat, concat,
                    concatenate, empty, empty_like, eye, from_numpy, full, full_like, linspace, matmul, ones,
                    ones_like, set_printoptions, stack, tensor, values_indices, where, zeros, zeros_like)
from . import _core

_core._late_imports()
