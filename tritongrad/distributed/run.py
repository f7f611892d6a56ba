"""``python -m tritongrad.distributed.run --nproc-per-node N train.py [args]``: start N processes through MPI.

The counterpart of ``torchrun --nproc-per-node N`` on one machine. It runs ``mpiexec -n N`` (the one installed
beside this Python by the ``distributed`` extra, else the first on PATH) on a small shim that sets PyTorch's
launcher variables from MPI's -- ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE`` -- and then
runs the script as ``__main__``. ``init_process_group`` takes rank and world size from MPI, and the nccl
backend gives each local rank its own GPU (``LOCAL_RANK`` modulo the GPU count). Plain
``mpiexec -n N python train.py`` works as well; this only adds the variables.
"""
from __future__ import annotations

import argparse
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

# (rank, size, local rank, local size) variables that MPICH's Hydra and Open MPI's mpirun set
_MPI_ENV = (("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
             "OMPI_COMM_WORLD_LOCAL_SIZE"))


def find_mpiexec():
    """The mpiexec beside this Python (MPICH from PyPI), else the one on PATH, else None."""
    return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def _parser():
    p = argparse.ArgumentParser(prog="python -m tritongrad.distributed.run",
                                description="Start data-parallel training processes through MPI (one machine).")
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=int, default=1,
                   help="number of processes (one per GPU with the nccl backend)")
    p.add_argument("--mpiexec", default=None, help="the mpiexec to use (default: beside this Python, else PATH)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("script", help="the training script")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="its arguments")
    return p


def _set_launcher_env():
    """Set RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE from the MPI launcher's variables."""
    for rank, size, local, local_size in _MPI_ENV:
        if rank in os.environ:
            os.environ["RANK"], os.environ["WORLD_SIZE"] = os.environ[rank], os.environ[size]
            os.environ["LOCAL_RANK"] = os.environ.get(local, os.environ[rank])
            os.environ["LOCAL_WORLD_SIZE"] = os.environ.get(local_size, os.environ[size])
            return
    raise RuntimeError("tritongrad.distributed.run --child: not started by mpiexec (no PMI_RANK or "
                       "OMPI_COMM_WORLD_RANK in the environment)")


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.child:
        _set_launcher_env()
        sys.argv = [args.script, *args.script_args]
        runpy.run_path(args.script, run_name="__main__")
        return 0
    if args.nproc_per_node < 1:
        raise SystemExit(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    mpiexec = args.mpiexec or find_mpiexec()
    if mpiexec is None:
        raise SystemExit("no mpiexec found: pip install 'tritongrad[distributed]' installs MPICH's beside Python")
    cmd = [mpiexec, "-n", str(args.nproc_per_node), sys.executable, "-m", "tritongrad.distributed.run", "--child",
           args.script, *args.script_args]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
