"""Kernel report without a GPU: compile every tritongrad kernel ahead of time and print its resources.

    env -u TRITON_INTERPRET python -m bench.inspect_kernels [--arch 90] [--arch 80] [--per-kernel]
                                                           [--json out.json]

Per kernel spec and architecture: registers, local memory (non-zero means register spills), stack,
shared memory, warps, whether the PTX uses ``wgmma`` and compile time (see `tritongrad.kernels._aot`).
Exits non-zero when a spec fails to compile or a kernel has no spec.
"""
from __future__ import annotations

import argparse
import json
import sys

from tritongrad.kernels import _aot


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, action="append", choices=(80, 90),
                        help="target sm_<arch>, repeatable (default: 90)")
    parser.add_argument("--processes", type=int, default=None,
                        help="parallel compile workers (default: 2, up to 8 with more cores)")
    parser.add_argument("--per-kernel", action="store_true",
                        help="only the first spec of each kernel (plus the bf16 matmul specs): quicker")
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON to PATH")
    args = parser.parse_args(argv)
    try:
        result = _aot.compile_all(archs=tuple(args.arch or (90,)), processes=args.processes,
                                    per_kernel=args.per_kernel)
    except RuntimeError as e:
        print(f"inspect_kernels: {e}", file=sys.stderr)
        return 2
    print(_aot.format_table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    failed = result["problems"] or any(not r["ok"] for r in result["reports"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
