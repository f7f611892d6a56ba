"""The ``nccl`` backend on a real GPU: the checks of `tests/_distributed_worker.py` (every collective against
NumPy, DDP against single-process training, no host synchronization in a DDP step) on cuda tensors, in a
world of one process and, where there are two GPUs (NCCL wants one GPU per rank), of two."""
import sys
from pathlib import Path

import pytest

import tritongrad.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from _distributed_worker import CHECKS  # noqa: E402
from test_distributed import MPIEXEC, launch  # noqa: E402

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", params=[1, 2], ids=["1rank", "2ranks"])
def nccl_results(request, tmp_path_factory):
    if MPIEXEC is None or not dist.is_mpi_available() or not dist.is_nccl_available():
        pytest.skip("needs mpiexec, mpi4py and nccl4py: pip install -e '.[distributed]'")
    import tritongrad.cuda as tcuda
    if request.param > tcuda.device_count():
        pytest.skip(f"{request.param} NCCL ranks need {request.param} GPUs (one per rank); "
                    f"this machine has {tcuda.device_count()}")
    return launch(request.param, tmp_path_factory.mktemp(f"nccl{request.param}"), "--nccl")


@pytest.mark.parametrize("check", CHECKS)
def test_nccl_on_every_rank(nccl_results, check):
    failures = {r: res[check] for r, res in nccl_results.items() if res[check] != "ok"}
    skipped = {r: v for r, v in failures.items() if v.startswith("skipped:")}
    if skipped and len(skipped) == len(failures):
        pytest.skip(next(iter(skipped.values())))
    assert not failures, "\n".join(f"rank {r}:\n{tb}" for r, tb in failures.items())
