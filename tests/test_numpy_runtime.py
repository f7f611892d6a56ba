"""The cpu device's runtime: ``set_num_threads``/``get_num_threads``, one BLAS thread per DataLoader
worker (no oversubscription), and the malloc policy's opt-outs."""
import platform

import numpy as np
import pytest

import tritongrad as tg
from tritongrad.backends.numpy_runtime import keep_freed_memory
from tritongrad.utils.data import DataLoader, Dataset

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is a dependency; not installed here")


@pytest.fixture
def restore_threads():
    before = tg.get_num_threads()
    yield
    tg.set_num_threads(before)


def _blas_counts():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_set_and_get_num_threads(restore_threads):
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1 and set(_blas_counts()) == {1}
    tg.set_num_threads(2)
    assert tg.get_num_threads() == min(2, max(_blas_counts()))   # a pool never grows past its build's maximum
    a = tg.ones(64, 64)
    np.testing.assert_array_equal((a @ a).numpy(), np.full((64, 64), 64.0, np.float32))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects(bad):
    with pytest.raises(ValueError, match="positive integer"):
        tg.set_num_threads(bad)


class ThreadProbe(Dataset):
    """Sample i: the BLAS thread count where it is loaded."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return tg.get_num_threads()


def test_dataloader_workers_run_one_blas_thread(restore_threads):
    tg.set_num_threads(2)
    counts = [int(b) for b in DataLoader(ThreadProbe(), batch_size=None, num_workers=1)]
    assert counts == [1, 1]


def test_malloc_policy_respects_the_environment(monkeypatch):
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setenv("TRITONGRAD_CPU_MALLOC", "default")
    assert keep_freed_memory() is False
    monkeypatch.delenv("TRITONGRAD_CPU_MALLOC")
    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("MALLOC_TOP_PAD_")
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc        # mallopt succeeded (or nothing to tune off glibc)
