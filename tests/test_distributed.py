"""`tritongrad.distributed`, `DistributedDataParallel` and `DistributedSampler` across real MPI processes.

One ``mpiexec -n N`` launch (N = 2 and 3) runs every check of `tests/_distributed_worker.py` on every rank;
each check below reports that check's result on all ranks: every collective against NumPy, DDP training
against one process trained on the global batch (several buckets, no_sync, uneven shards, unused
parameters, buffers). The ``mpiexec`` is the one the ``distributed`` extra installs beside this Python
(MPICH from PyPI). The pytest process itself never starts MPI.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tritongrad.distributed as dist

HERE = Path(__file__).parent
WORKER = HERE / "_distributed_worker.py"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
sys.path.insert(0, str(HERE))
from _distributed_worker import CHECKS  # noqa: E402

needs_mpi = pytest.mark.skipif(MPIEXEC is None or not dist.is_mpi_available(),
                               reason="no mpiexec/mpi4py: pip install -e '.[distributed]' (mpi4py, mpich)")


def launch(n, out, *extra, timeout=240):
    """Run the worker on ``n`` ranks; {rank: {check: result}}."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", WORKER_TIMEOUT_S=str(timeout - 20))
    proc = subprocess.Popen([MPIEXEC, "-n", str(n), sys.executable, str(WORKER), str(out), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)          # mpiexec and every rank it started
        stdout, stderr = proc.communicate()
        pytest.fail(f"mpiexec -n {n} timed out after {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    results = {}
    for r in range(n):
        f = Path(out) / f"rank{r}.json"
        if f.exists():
            results[r] = json.loads(f.read_text())
    if proc.returncode != 0 or len(results) != n:
        pytest.fail(f"mpiexec -n {n} failed (exit {proc.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return results


@pytest.fixture(scope="module", params=[2, 3], ids=["2ranks", "3ranks"])
def mpi_results(request, tmp_path_factory):
    if MPIEXEC is None or not dist.is_mpi_available():
        pytest.skip("no mpiexec/mpi4py: pip install -e '.[distributed]' (mpi4py, mpich)")
    return launch(request.param, tmp_path_factory.mktemp(f"mpi{request.param}"))


@pytest.mark.parametrize("check", CHECKS)
def test_on_every_rank(mpi_results, check):
    failures = {r: res[check] for r, res in mpi_results.items() if res[check] != "ok"}
    skipped = {r: v for r, v in failures.items() if v.startswith("skipped:")}
    if skipped and len(skipped) == len(failures):
        pytest.skip(next(iter(skipped.values())))
    assert not failures, "\n".join(f"rank {r}:\n{tb}" for r, tb in failures.items())


# --------------------------------------------------------------------------- in this process (no MPI started)
def test_importing_starts_nothing():
    code = ("import sys, tritongrad.distributed, tritongrad.nn.parallel, tritongrad.utils.data.distributed; "
            "assert 'mpi4py' not in sys.modules and 'nccl' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_errors_before_init_process_group():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(None)
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="nccl cannot handle cpu tensors"):
        dist.init_process_group("cpu:nccl")
    from tritongrad.distributed.distributed_c10d import _parse_backend
    assert _parse_backend("mpi") == {"cpu": "mpi"} and _parse_backend("NCCL") == {"cuda": "nccl"}
    assert _parse_backend("cpu:mpi,cuda:nccl") == {"cpu": "mpi", "cuda": "nccl"}
    import tritongrad.cuda as tcuda
    if tcuda.is_interpreter():                              # cuda is host memory here: no nccl by default
        assert _parse_backend(None) == {"cpu": "mpi"}
    with pytest.raises(ValueError, match="bootstraps through MPI"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
    assert dist.ReduceOp.AVG.name == "AVG" and set(dist.ReduceOp.__members__) == {"SUM", "PRODUCT", "MIN", "MAX",
                                                                                  "AVG"}


LAUNCHED = """
import os, sys
import tritongrad as tg, tritongrad.distributed as dist
dist.init_process_group("mpi")
t = tg.tensor([float(dist.get_rank())])
dist.all_reduce(t)
print("rank", os.environ["RANK"], "local", os.environ["LOCAL_RANK"], "of", os.environ["WORLD_SIZE"],
      os.environ["LOCAL_WORLD_SIZE"], "args", sys.argv[1:], "sum", t.item(), flush=True)
"""


@needs_mpi
def test_launcher_sets_the_variables_and_passes_the_arguments(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(LAUNCHED)
    out = subprocess.run([sys.executable, "-m", "tritongrad.distributed.run", "--nproc-per-node", "2", str(script),
                          "--steps", "3"], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = sorted(line for line in out.stdout.splitlines() if line.startswith("rank"))
    assert lines == [f"rank {r} local {r} of 2 2 args ['--steps', '3'] sum 1.0" for r in range(2)]


@needs_mpi
def test_train_gpt_under_mpiexec_matches_one_process(tmp_path):
    """examples/train_gpt.py with the same command line under ``mpiexec -n 2``: each rank trains on half of
    each global batch through DDP; the weights after 3 steps are the single-process run's."""
    import numpy as np
    sys.path.insert(0, str(HERE.parent))
    from examples import train_gpt
    from tritongrad.utils.checkpoint import load_checkpoint
    micro = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "4",
             "--eval-iters", "1", "--warmup", "1", "--max-files", "41", "--sample-len", "0", "--no-progress-bar",
             "--steps", "3", "--eval-interval", "3"]
    script = str(HERE.parent / "examples" / "train_gpt.py")
    dp = subprocess.run([MPIEXEC, "-n", "2", sys.executable, script, *micro, "--out", str(tmp_path / "dp.st")],
                        capture_output=True, text=True, timeout=240)
    assert dp.returncode == 0, dp.stderr[-3000:]
    assert dp.stdout.count("steps done") == 1           # rank 1 prints nothing
    one = train_gpt.main(micro + ["--out", str(tmp_path / "one.st")])
    models = [train_gpt.build_model(one["config"]) for _ in range(2)]
    for m, f in zip(models, ("dp.st", "one.st")):
        load_checkpoint(str(tmp_path / f), m, restore_rng=False)
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
