#!/usr/bin/env bash
# GPU check, in under 6 minutes on one GPU: the environment, the install, the test suite compiled on the GPU,
# the ahead-of-time kernel report for sm_90, then the GPU benchmarks (tritongrad beside torch, same run).
#
#   OUT=/path/to/results bash bench/gpu_check.sh        (OUT defaults to bench/results/gpu_check)
#
# Each stage runs under `timeout` and the check goes on when one fails; every stage logs to $OUT/<stage>.log
# and appends "stage rc seconds" to $OUT/summary.txt. The benchmarks write $OUT/gpu_bench.json and
# $OUT/gpu_bench.md; the kernel report $OUT/kernels.json. Exit status: 0 when every stage passed, else 1.
# Runs compiled kernels: TRITON_INTERPRET is removed from the environment.
#
# Stage limits in seconds (environment variables): GPU_CHECK_BUDGET_S (whole check, default 345),
# GPU_CHECK_TESTS_S (140), GPU_CHECK_INSPECT_S (60); the benchmarks get what is left, less a margin.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu_check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-/tmp/tritongrad-triton-cache}"   # kept while the machine is warm
BUDGET_S="${GPU_CHECK_BUDGET_S:-345}"   # whole check, leaving margin under 6 minutes
START=$(date +%s)
FAILED=0
: > "$OUT/summary.txt"

left_s() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# run_stage NAME LIMIT_S CMD...: run CMD with at most LIMIT_S seconds (less if the budget is nearly spent)
run_stage() {
    local name=$1 limit=$2
    shift 2
    local left
    left=$(left_s)
    if (( left < limit )); then limit=$left; fi
    if (( limit < 5 )); then
        echo "$name skipped: time budget spent" | tee -a "$OUT/summary.txt"
        FAILED=1
        return
    fi
    local t0
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local took=$(( $(date +%s) - t0 ))
    (( rc == 124 || rc == 137 )) && echo "TIMED OUT after ${limit} s" >> "$OUT/$name.log"
    echo "$name rc=$rc seconds=$took (limit $limit)" | tee -a "$OUT/summary.txt"
    (( rc != 0 )) && FAILED=1
}

run_stage environment 20 bash -c 'nvidia-smi; python -c "
import sys, triton, numpy, tritongrad.cuda as c
print(sys.version); print(\"triton\", triton.__version__, \"numpy\", numpy.__version__)
print(c.get_device_name(), c.get_device_capability(), c.mem_get_info())
try:
    import torch; print(\"torch\", torch.__version__, torch.version.cuda)
except ImportError as e:
    print(\"torch not importable:\", e)"'
# tritongrad.kernels is the top-level kernels/ directory mapped by pyproject.toml, so PYTHONPATH alone is not
# enough: install (editable, no dependencies, no network) unless an install is already there
run_stage install 90 bash -c 'python -c "import tritongrad.kernels.matmul" 2>/dev/null && echo "already installed" ||
    python -m pip install --no-build-isolation --no-deps -e .'
# every test, GPU-only ones included, except `slow` ones (the full ahead-of-time compile of every kernel
# spec, which does not need a GPU; the next stage reports it)
run_stage tests "${GPU_CHECK_TESTS_S:-140}" python -m pytest tests -x -q -m "not slow" -p no:cacheprovider
run_stage inspect_kernels "${GPU_CHECK_INSPECT_S:-60}" python -m bench.inspect_kernels --arch 90 --processes 8 \
    --json "$OUT/kernels.json"
# the benchmarks keep a margin inside their stage limit so they end on their own and write their results
BENCH_LIMIT=$(left_s)
run_stage benchmarks "$BENCH_LIMIT" python -m bench.gpu_bench --out "$OUT" --budget-s $(( BENCH_LIMIT > 40 ? BENCH_LIMIT - 20 : 20 ))
echo "total seconds=$(( $(date +%s) - START ))" | tee -a "$OUT/summary.txt"
exit $FAILED
