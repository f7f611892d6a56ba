"""Element offsets past 2**31 (issue 11, item 6): softmax, cross_entropy and layer_norm read views whose
``index * stride`` products overflow int32, so those products must be computed in int64 (Liger-style).

The views live in a sparse 6 GiB anonymous mapping (only the touched pages are backed), seen as device
memory by Triton's interpreter; int32 arithmetic wraps there as on a GPU, so an int32 product reads outside
the buffer (a crash: hence the subprocess, `tests/_big_offsets.py`)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tritongrad import runtime

pytestmark = pytest.mark.skipif(not runtime.interpreting(), reason="a host mapping stands in for a huge device "
                                                                 "buffer only in interpreter mode")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def results():
    proc = subprocess.run([sys.executable, os.path.join(HERE, "_big_offsets.py")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert proc.returncode == 0, f"rc {proc.returncode} (-11: read outside the buffer):\n{proc.stderr[-3000:]}"
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if "no_mapping" in res:
        pytest.skip(res["no_mapping"])
    return res


def _softmax(v, axis):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_over_a_dim_strided_past_2_31(results):
    v = np.array(results["values"])
    np.testing.assert_allclose(results["softmax"], _softmax(v, 0), rtol=2e-3, atol=1e-3)
    y = v.astype(np.float16).astype(np.float64)                 # softmax_bwd(y=values, gy=strided values)
    gx = y * (v - (v * y).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(results["softmax_bwd"], gx, rtol=4e-3, atol=4e-3)


def test_cross_entropy_with_classes_strided_past_2_31(results):
    logits = np.array(results["values"]).T
    lse = np.log(np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(results["lse"], lse, rtol=1e-3)
    np.testing.assert_allclose(results["loss"], lse - logits[[0, 1], [0, 3]], rtol=4e-3, atol=4e-3)


def test_layer_norm_with_features_strided_past_2_31(results):
    x = np.array(results["values"]).T
    ref = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(results["layer_norm"], ref, rtol=4e-3, atol=4e-3)
