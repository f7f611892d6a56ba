"""The cuda backend computes every op with its own (Triton) implementation: no interface method is left to
the abstract base class or to a NumPy class, and the Triton backend modules never reach the NumPy backend.
Only the metadata-only view helpers of ``base.Backend`` are shared, by name."""
import ast
import inspect
import os

import pytest

from tritongrad.backends import base, cpu_backend, cuda_backend
from tritongrad.backends.numpy import NumpyBackend
from tritongrad.backends.numpy_extra import NumpyExtra
from tritongrad.backends.numpy_nn_a import NumpyNNA
from tritongrad.backends.numpy_nn_b import NumpyNNB
from tritongrad.backends.numpy_nn_rnn import NumpyNNRNN
from tritongrad.backends.numpy_optim import NumpyOptim

SHARED_VIEW_HELPERS = {"reshape_view", "permute", "broadcast_to", "getitem", "flip_view", "device_of"}
"""Metadata-only helpers of base.Backend (NumPy and DeviceArray share view semantics): no computation."""

INTERFACES = (base.Backend, NumpyNNA, NumpyNNB, NumpyNNRNN, NumpyOptim, NumpyExtra)
NUMPY_CLASSES = (NumpyBackend, NumpyNNA, NumpyNNB, NumpyNNRNN, NumpyOptim, NumpyExtra)
BACKENDS_DIR = os.path.dirname(inspect.getfile(base))


def _public_methods(cls):
    return sorted(n for n, v in vars(cls).items() if not n.startswith("_") and callable(getattr(cls, n)))


INTERFACE_METHODS = sorted({n for cls in INTERFACES for n in _public_methods(cls)})


def _defining_class(cls, name):
    return next(k for k in cls.__mro__ if name in vars(k))


def test_interface_is_not_empty():
    for must in ("unary", "binary_bwd", "reduce", "matmul", "layer_norm_fwd", "sdpa_bwd", "adam_step", "cast"):
        assert must in INTERFACE_METHODS


def test_cuda_class_has_no_numpy_ancestor():
    cls = type(cuda_backend())
    bad = [k.__name__ for k in cls.__mro__ if k in NUMPY_CLASSES]
    assert not bad, f"the cuda backend inherits from NumPy classes {bad}"


@pytest.mark.parametrize("name", INTERFACE_METHODS)
def test_cuda_backend_implements(name):
    cls = type(cuda_backend())
    assert hasattr(cls, name), f"cuda backend has no method {name}"
    owner = _defining_class(cls, name)
    if name in SHARED_VIEW_HELPERS:
        assert owner is base.Backend, f"{name} is a shared view helper, expected from base.Backend"
        return
    assert owner is not base.Backend, f"cuda backend leaves {name} to the abstract base class"
    assert owner.__module__.startswith("tritongrad.backends.triton"), \
        f"cuda backend's {name} comes from {owner.__module__}.{owner.__qualname__}, not a Triton backend class"
    fn = inspect.unwrap(vars(owner)[name].__func__ if isinstance(vars(owner)[name], staticmethod) else vars(owner)[name])
    module = fn.__module__ or ""
    assert module.startswith(("tritongrad.kernels", "tritongrad.backends.triton")), \
        f"cuda backend's {name} is {module}.{fn.__qualname__}, not a Triton launch wrapper"
    for k in NUMPY_CLASSES + (base.Backend,):
        impl = vars(k).get(name)
        assert impl is None or vars(owner)[name] is not impl, f"cuda {name} is the same object as {k.__name__}'s"


def test_cpu_backend_implements_everything():
    cls = type(cpu_backend())
    for name in INTERFACE_METHODS:
        owner = _defining_class(cls, name)
        assert owner is not base.Backend or name in SHARED_VIEW_HELPERS, f"cpu backend leaves {name} abstract"


SHAPE_HELPERS_FROM_NUMPY_MODULES = frozenset()
"""Names a Triton backend module may import from a NumPy backend module: none (the argument checks and
output-shape arithmetic both nn backends share live in ``backends/_nn_shapes.py``)."""


def test_triton_backend_modules_never_import_the_numpy_backend():
    for fname in sorted(os.listdir(BACKENDS_DIR)):
        if not fname.startswith("triton") or not fname.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(BACKENDS_DIR, fname)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any("backends.numpy" in a.name for a in node.names), f"{fname} imports the NumPy backend"
            if not isinstance(node, ast.ImportFrom):
                continue
            mod = node.module or ""
            if not (mod.split(".")[-1].startswith("numpy") and (node.level > 0 or "backends" in mod)):
                continue
            names = {a.name for a in node.names}
            assert names <= SHAPE_HELPERS_FROM_NUMPY_MODULES, \
                f"{fname} imports {sorted(names - SHAPE_HELPERS_FROM_NUMPY_MODULES)} from the NumPy backend module {mod}"
            for name in names:
                obj = getattr(__import__(f"tritongrad.backends.{mod.split('.')[-1]}", fromlist=[name]), name)
                assert inspect.isfunction(obj), f"{fname} imports {name} from {mod}: not a plain helper function"
