"""Test configuration: the device matrix.

On a machine without a GPU the ``cuda`` device runs every Triton kernel in Triton's interpreter, so
``TRITON_INTERPRET=1`` is set here before tritongrad (and with it any kernel) is imported. On a GPU machine
the same tests run compiled, and tests marked ``gpu`` run too.
"""
import os
import shutil
import subprocess


def _has_gpu():
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return False
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


HAS_GPU = _has_gpu()
if not HAS_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

DEVICES = ["cpu", "cuda"]


def pytest_collection_modifyitems(config, items):
    if HAS_GPU:
        return
    skip = pytest.mark.skip(reason="needs a real NVIDIA GPU (this machine runs cuda in Triton's interpreter)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_unreported_device_error():
    """A bad index a cuda kernel recorded (`tritongrad.runtime.error_word`) must be raised within the test
    that caused it; one left pending would be raised by an unrelated later test's first wait."""
    yield
    from tritongrad.runtime import error_word
    found = error_word.pending()
    if found is not None:
        error_word.clear()
        pytest.fail(f"the test left a device error unreported (raised by no wait for the device): {found}")
