"""Save/load throughput of safetensors files: tritongrad beside the `safetensors` package, same run.

``python -m bench.bench_serialization [--gb 1.0] [--dir DIR] [--out bench/results/serialization.json]``
builds a GPT-2-shaped float32 state dict of about ``--gb`` GB and reports GB/s for

* save: ``tritongrad.save`` (atomic: temp file, fsync, rename, directory fsync) against
  ``safetensors.numpy.save_file`` alone and followed by an fsync (the fair comparison: durable bytes);
* load, page cache warm and cold (dropped with ``posix_fadvise(DONTNEED)`` after an fsync): tritongrad
  ``load(mmap=False)`` (fresh arrays), ``load(mmap=True)`` plus reading every byte, against
  ``safetensors.numpy.load_file``;
* on a real GPU: ``load(device="cuda")`` against the time to read the file (its cold and warm read rates).

``pytest bench/bench_serialization.py`` runs the same comparisons with pytest-benchmark on 32 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from tritongrad import serialization as ser


def state_dict(total_bytes, seed=0):
    """A GPT-2-like dict of float32 arrays: per block a 4d x d, d x 4d, 3d x d, d x d matrix and vectors."""
    rng = np.random.default_rng(seed)
    d = 768
    out, size, block = {}, 0, 0
    out["wte.weight"] = rng.standard_normal((min(50257, max(1, total_bytes // (8 * d))), d), np.float32)
    size += out["wte.weight"].nbytes
    while size < total_bytes:
        for name, shape in (("attn.c_attn.weight", (3 * d, d)), ("attn.c_proj.weight", (d, d)),
                            ("mlp.c_fc.weight", (4 * d, d)), ("mlp.c_proj.weight", (d, 4 * d)),
                            ("ln_1.weight", (d,)), ("ln_1.bias", (d,)), ("mlp.c_fc.bias", (4 * d,))):
            a = rng.standard_normal(shape, np.float32)
            out[f"h.{block}.{name}"] = a
            size += a.nbytes
        block += 1
    return out


def _drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _read_all(arrays):
    """Touch every byte (sum of uint8 views), so a lazy memory map is really read."""
    return sum(int(a.reshape(-1).view(np.uint8).max(initial=0)) for a in arrays.values())


def _save_package(arrays, path):
    from safetensors.numpy import save_file
    save_file(arrays, path)


def _save_package_fsync(arrays, path):
    _save_package(arrays, path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_package(path):
    from safetensors.numpy import load_file
    return load_file(path)


def run(gb=1.0, directory=None, repeats=2):
    """Measure and return a dict of results (seconds and GB/s per case)."""
    arrays = state_dict(int(gb * 1e9))
    nbytes = sum(a.nbytes for a in arrays.values())
    results = {"bytes": nbytes, "tensors": len(arrays), "cases": {}}

    def record(name, fn, prepare=None):
        best = None
        for _ in range(repeats):
            if prepare is not None:
                prepare()
            t, _ = _timed(fn)
            best = t if best is None else min(best, t)
        results["cases"][name] = {"seconds": best, "GB/s": nbytes / best / 1e9}

    with tempfile.TemporaryDirectory(dir=directory) as d:
        ours, theirs = os.path.join(d, "ours.safetensors"), os.path.join(d, "theirs.safetensors")
        record("save tritongrad (atomic + fsync)", lambda: ser.save_file(arrays, ours))
        record("save safetensors package", lambda: _save_package(arrays, theirs))
        record("save safetensors package + fsync", lambda: _save_package_fsync(arrays, theirs))
        for cache in ("warm", "cold"):
            drop = (lambda: (_drop_cache(ours), _drop_cache(theirs))) if cache == "cold" else None
            record(f"load tritongrad mmap=False ({cache})", lambda: ser.load_file(ours, mmap=False), drop)
            record(f"load tritongrad mmap=True + read all ({cache})",
                   lambda: _read_all(ser.load_file(ours, mmap=True)), drop)
            record(f"load safetensors package ({cache})", lambda: _load_package(theirs), drop)
        _cuda_cases(ours, record, lambda: _drop_cache(ours))
    return results


def _cuda_cases(path, record, drop):
    from tritongrad.runtime.device import interpreting, is_available, synchronize
    if interpreting() or not is_available():
        return
    for cache in ("warm", "cold"):
        prepare = drop if cache == "cold" else None
        record(f"read file into host memory ({cache})", lambda: ser.load_file(path, mmap=False), prepare)
        record(f"load tritongrad device='cuda' ({cache})",
               lambda: (ser.load(path, device="cuda"), synchronize()), prepare)


def _table(results):
    lines = [f"{results['bytes'] / 1e9:.2f} GB in {results['tensors']} float32 tensors", "",
             "| case | s | GB/s |", "|---|---:|---:|"]
    for name, r in results["cases"].items():
        lines.append(f"| {name} | {r['seconds']:.3f} | {r['GB/s']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gb", type=float, default=1.0, help="size of the state dict in GB (default 1)")
    p.add_argument("--dir", default=None, help="directory for the files (default: the system temp dir)")
    p.add_argument("--repeats", type=int, default=2, help="best of this many runs per case")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    results = run(args.gb, args.dir, args.repeats)
    print(_table(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return results


# ------------------------------------------------------------------------------ pytest-benchmark entries

BENCH_BYTES = 32 << 20


def _bench_arrays():
    return state_dict(BENCH_BYTES)


def test_save_tritongrad(benchmark, tmp_path):
    arrays = _bench_arrays()
    benchmark(ser.save_file, arrays, tmp_path / "x.safetensors")


def test_save_package_fsync(benchmark, tmp_path):
    arrays = _bench_arrays()
    benchmark(_save_package_fsync, arrays, str(tmp_path / "x.safetensors"))


def test_load_tritongrad(benchmark, tmp_path):
    ser.save_file(_bench_arrays(), tmp_path / "x.safetensors")
    benchmark(ser.load_file, tmp_path / "x.safetensors", mmap=False)


def test_load_tritongrad_mmap_read_all(benchmark, tmp_path):
    ser.save_file(_bench_arrays(), tmp_path / "x.safetensors")
    benchmark(lambda: _read_all(ser.load_file(tmp_path / "x.safetensors", mmap=True)))


def test_load_package(benchmark, tmp_path):
    ser.save_file(_bench_arrays(), tmp_path / "x.safetensors")
    benchmark(_load_package, str(tmp_path / "x.safetensors"))


if __name__ == "__main__":
    main()
