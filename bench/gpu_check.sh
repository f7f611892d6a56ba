#!/usr/bin/env bash
# GPU check: the test suite compiled on the GPU, then the benchmarks, in under 6 minutes on one GPU.
#
#   OUT=/path/to/results bash bench/gpu_check.sh        (OUT defaults to bench/results/gpu_check)
#
# Each stage runs under `timeout` and the check continues when one fails; every stage logs to
# $OUT/<stage>.log and appends "stage rc seconds" to $OUT/summary.txt. Exit status: 0 when every stage
# passed, else 1. Runs compiled kernels: TRITON_INTERPRET is removed from the environment.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu_check}"
mkdir -p "$OUT"
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1
BUDGET_S="${GPU_CHECK_BUDGET_S:-345}"   # whole check, leaving margin under 6 minutes
START=$(date +%s)
FAILED=0
: > "$OUT/summary.txt"

# run_stage NAME LIMIT_S CMD...: run CMD with at most LIMIT_S seconds (less if the budget is nearly spent)
run_stage() {
    local name=$1 limit=$2
    shift 2
    local left=$(( BUDGET_S - ($(date +%s) - START) ))
    if (( left < limit )); then limit=$left; fi
    if (( limit < 5 )); then
        echo "$name skipped: time budget spent" | tee -a "$OUT/summary.txt"
        FAILED=1
        return
    fi
    local t0=$(date +%s)
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
print(c.get_device_name(), c.get_device_capability(), c.mem_get_info())"'
# every test, GPU-only ones included, except `slow` ones (the full ahead-of-time compile of every kernel
# spec, which does not need a GPU and would take most of the budget; the quick per-kernel one runs)
run_stage tests 200 python -m pytest -x -q -m "(gpu or not gpu) and not slow" -p no:cacheprovider tests
run_stage benchmarks 120 python -m bench.gpu_bench --out "$OUT"
echo "total seconds=$(( $(date +%s) - START ))" | tee -a "$OUT/summary.txt"
exit $FAILED
