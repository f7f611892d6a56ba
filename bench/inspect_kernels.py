"""Kernel report without a GPU: compile every tritongrad kernel ahead of time and print its resources.

    env -u TRITON_INTERPRET python -m bench.inspect_kernels [--arch 90] [--arch 80] [--per-kernel]
                                                           [--json out.json] [--report out.md]
    python -m bench.inspect_kernels --from-json out.json --arch 90 --report kernel_report_sm90.md

Every kernel spec is compiled with the JIT's specializations (16-byte aligned pointers, unit strides and sizes
divisible by 16 as typical shapes give them) and, for autotuned kernels, in every config the autotuner could
pick. Per spec, config and architecture: registers, spill stores (``ptxas -v``), stack frame, local memory,
shared memory, warps, stages, whether the PTX uses ``wgmma`` and compile time (see
`tritongrad.kernels._aot`). ``--json`` writes ``{"reports": [...], "problems": [...], "seconds": ...}``, each
report with at least ``module``, ``name``, ``config``, ``regs``, ``spill_bytes``, ``shared`` and ``ok``;
``--report`` writes the markdown report (one architecture per file; ``--from-json`` renders it from a saved
JSON without compiling). Exits non-zero when a spec fails to compile, spills, overflows shared memory, or a
kernel has no spec.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys

from tritongrad.kernels import _aot


def markdown_report(result, arch, command):
    """The markdown kernel report of ``result`` (`_aot.compile_all`'s) for ``sm_<arch>``."""
    import triton
    reports = [r for r in result["reports"] if r["arch"] == arch]
    bad = [r for r in reports if not r["ok"]]
    spilled = sum(r.get("spill_bytes", 0) for r in reports)
    lines = [f"# Kernel resource report, sm_{arch} (ahead-of-time compile, no GPU)", "",
             f"Date: {datetime.date.today().isoformat()}. Compiled on a CPU-only machine with triton "
             f"{triton.__version__} for GPUTarget('cuda', {arch}, 32), with the JIT's specializations, every "
             f"autotune config the autotuner could pick. Reproduce: `{command}`. Not a GPU measurement: no "
             "timings here.", "",
             f"**{len(reports)} compiles, {len(reports) - len(bad)} ok, {len(bad)} not ok; {spilled} bytes of "
             f"spill stores in all; max registers {max((r.get('regs', 0) for r in reports), default=0)}.**", "",
             "Legend: " + _aot.LEGEND, "",
             _aot.format_table({"reports": reports, "problems": result["problems"]})]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, action="append", choices=_aot.ARCHS,
                        help="target sm_<arch>, repeatable (default: 90)")
    parser.add_argument("--processes", type=int, default=None,
                        help="parallel compile workers (default: 2, up to 8 with more cores)")
    parser.add_argument("--per-kernel", action="store_true",
                        help="only the first spec of each kernel in its first config (plus the bf16 matmul "
                             "specs): quicker")
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON to PATH")
    parser.add_argument("--report", metavar="PATH", help="write the markdown report of one --arch to PATH")
    parser.add_argument("--from-json", metavar="PATH", help="read the reports from a --json file, compile nothing")
    args = parser.parse_args(argv)
    archs = tuple(args.arch or (90,))
    if args.report and len(archs) != 1:
        parser.error("--report writes one architecture: give exactly one --arch")
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
        command = f"env -u TRITON_INTERPRET python -m bench.inspect_kernels --arch {archs[0]} --json PATH"
    else:
        try:
            result = _aot.compile_all(archs=archs, processes=args.processes, per_kernel=args.per_kernel)
        except RuntimeError as e:
            print(f"inspect_kernels: {e}", file=sys.stderr)
            return 2
        command = "env -u TRITON_INTERPRET python -m bench.inspect_kernels " + " ".join(
            f"--arch {a}" for a in archs) + (" --per-kernel" if args.per_kernel else "")
        print(_aot.format_table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.report:
        with open(args.report, "w") as f:
            f.write(markdown_report(result, archs[0], command))
    reports = [r for r in result["reports"] if r["arch"] in archs]
    failed = result["problems"] or any(not r["ok"] for r in reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
