"""`assert_tree_equal`: a loaded structure (dicts, lists, tuples, Tensors, scalars) equals the saved one."""
import math

import numpy as np

import tritongrad


def assert_tree_equal(got, want):
    """Same types (dict, list, tuple, Tensor, scalar), keys in order, dtypes, shapes and bits. Dict
    subclasses (a state_dict's OrderedDict) load as dict; NumPy arrays load as Tensors."""
    if isinstance(want, np.ndarray):
        want = tritongrad.from_numpy(want)
    if isinstance(want, dict):
        assert isinstance(got, dict), type(got)
        assert list(got) == list(want) and [type(k) for k in got] == [type(k) for k in want], (got, want)
        for k in want:
            assert_tree_equal(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            assert_tree_equal(g, w)
    elif isinstance(want, tritongrad.Tensor):
        assert isinstance(got, tritongrad.Tensor), type(got)
        assert got.dtype is want.dtype and tuple(got.shape) == tuple(want.shape), (got.dtype, want.dtype)
        assert got.cpu().numpy().tobytes() == np.ascontiguousarray(want.detach().cpu().numpy()).tobytes()
    else:
        assert type(got) is type(want), (type(got), type(want))
        if isinstance(want, float):
            same = got == want and math.copysign(1, got) == math.copysign(1, want)
            assert same or (math.isnan(got) and math.isnan(want)), (got, want)
        else:
            assert got == want, (got, want)
