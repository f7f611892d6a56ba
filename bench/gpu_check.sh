#!/usr/bin/env bash
# The first-GPU-run check: find and report as much as possible in one run of under 6 minutes on one GPU.
#
#   OUT=/path/to/results bash bench/gpu_check.sh        (OUT defaults to bench/results/gpu_check)
#
# Stages, in order, each under its own `timeout` (one hang cannot eat the run) and each run even when an
# earlier one failed:
#   1. smoke      -- nvidia-smi, versions, the editable install (no network, no dependencies), then one import,
#                    one device query, one kernel launch and one copy back, with a clear SMOKE OK / SMOKE FAILED;
#   2. gpu_tests  -- the tests marked `gpu` (GPU-only numerics, CUDA graphs, the runtime's GPU cases), compiled;
#   3. tests      -- the rest of the suite (not `gpu`, not `slow`), compiled on the GPU;
#   4. benchmarks -- bench/gpu_bench.py with what is left of the budget.
# Test stages run in parallel workers (pytest-xdist) with a per-test timeout (pytest-timeout, thread method:
# a hung test is dumped and its worker replaced) and never stop at the first failure: every failure is
# collected, in a JUnit XML file per stage and as a list in summary.txt. A stage out of time gets SIGINT, so
# pytest still reports what ran.
#
# Everything is written flat under $OUT, at most 8 files (what the device tool returns):
#   summary.txt (stage results, test counts, failing tests), stages.log (smoke and benchmark output),
#   gpu_tests.log, gpu_tests.xml, tests.log, tests.xml, gpu_bench.json, gpu_bench.md.
# The summary is printed last, so the end of the output holds it. Exit status: 0 when every stage passed.
#
# Limits in seconds (environment): GPU_CHECK_BUDGET_S (whole check, 345), GPU_CHECK_SMOKE_S (90, install
# included), GPU_CHECK_GPU_TESTS_S (80), GPU_CHECK_TESTS_S (110), GPU_CHECK_TEST_TIMEOUT_S (per test, 60),
# GPU_CHECK_WORKERS (pytest workers, 12: compiling kernels is CPU work, and the machine has 16 cores).
# PYTHON names the interpreter (default python3).
# Runs compiled kernels: TRITON_INTERPRET is removed from the environment.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu_check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
command -v "$PY" > /dev/null || PY=python
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-/tmp/tritongrad-triton-cache}"   # shared by the test workers
BUDGET_S="${GPU_CHECK_BUDGET_S:-345}"
TEST_TIMEOUT_S="${GPU_CHECK_TEST_TIMEOUT_S:-60}"
WORKERS="${GPU_CHECK_WORKERS:-12}"
START=$(date +%s)
FAILED=0
SUMMARY="$OUT/summary.txt"
LOG="$OUT/stages.log"
: > "$SUMMARY"
: > "$LOG"

left_s() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# run_stage NAME LIMIT_S LOGFILE CMD...: run CMD for at most LIMIT_S seconds (less when the budget is nearly
# spent), appending its output to LOGFILE under a header; record "NAME rc seconds" in the summary
run_stage() {
    local name=$1 limit=$2 log=$3
    shift 3
    local left
    left=$(left_s)
    (( left < limit )) && limit=$left
    if (( limit < 5 )); then
        echo "$name: SKIPPED (time budget spent)" >> "$SUMMARY"
        FAILED=1
        return 1
    fi
    echo "===== $name (limit ${limit} s) $(date -u +%H:%M:%S) =====" >> "$log"
    local t0 rc took
    t0=$(date +%s)
    # SIGINT first: Python raises KeyboardInterrupt, so pytest still writes its JUnit report and its summary
    # of what ran so far; a process that ignores it is killed 15 s later
    timeout -s INT --kill-after=15 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - t0 ))
    local note=""
    (( took >= limit )) && note=" TIMED OUT"
    [ -n "$note" ] && echo "===== $name TIMED OUT after ${limit} s =====" >> "$log"
    echo "$name: rc=$rc seconds=$took (limit $limit)$note" >> "$SUMMARY"
    (( rc != 0 )) && FAILED=1
    return $rc
}

# ---------------------------------------------------------------------------------------------- 1. smoke
# tritongrad.kernels is the top-level kernels/ directory mapped by pyproject.toml, so PYTHONPATH alone is not
# enough: install (editable, no dependencies, no build isolation: the machine has no network) unless this
# checkout is what `import tritongrad` already finds
run_stage smoke "${GPU_CHECK_SMOKE_S:-90}" "$LOG" bash -c '
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,temperature.gpu --format=csv \
        || echo "nvidia-smi failed"
    echo "python: $(command -v "$0")"
    "$0" -c "import os, tritongrad.kernels, tritongrad as t; assert os.path.samefile(os.path.dirname(t.__file__), \"tritongrad\")" \
        2> /dev/null && echo "tritongrad already installed from this checkout" ||
        "$0" -m pip install -q --no-build-isolation --no-deps -e . || { echo "SMOKE FAILED: pip install"; exit 1; }
    "$0" -m bench.gpu_smoke' "$PY"

# ---------------------------------------------------------------------------------------- 2., 3. tests
PYTEST_OPTS=(-q -rfE --durations=10 -o junit_family=xunit2)
if "$PY" -c "import pytest_timeout" 2> /dev/null; then
    PYTEST_OPTS+=(--timeout "$TEST_TIMEOUT_S" --timeout-method thread)
else
    PYTEST_OPTS+=(-o "faulthandler_timeout=$TEST_TIMEOUT_S")   # at least dump the stacks of a hung test
fi
if "$PY" -c "import xdist" 2> /dev/null && (( WORKERS > 1 )); then
    PYTEST_OPTS+=(-n "$WORKERS")
fi
run_stage gpu_tests "${GPU_CHECK_GPU_TESTS_S:-80}" "$OUT/gpu_tests.log" \
    "$PY" -m pytest tests -m gpu "${PYTEST_OPTS[@]}" --junitxml "$OUT/gpu_tests.xml"
run_stage tests "${GPU_CHECK_TESTS_S:-110}" "$OUT/tests.log" \
    "$PY" -m pytest tests -m "not gpu and not slow" "${PYTEST_OPTS[@]}" --junitxml "$OUT/tests.xml"

# ---------------------------------------------------------------------------------------- 4. benchmarks
# the benchmark keeps a margin inside its stage limit so that it ends on its own and writes its results
BENCH_LIMIT=$(left_s)
run_stage benchmarks "$BENCH_LIMIT" "$LOG" \
    "$PY" -m bench.gpu_bench --out "$OUT" --budget-s $(( BENCH_LIMIT > 40 ? BENCH_LIMIT - 20 : 20 ))

# ------------------------------------------------------------------------------------------------ summary
"$PY" - "$OUT" >> "$SUMMARY" 2>&1 <<'EOF'
import os, sys
import xml.etree.ElementTree as ET
out = sys.argv[1]
for stage in ("gpu_tests", "tests"):
    path = os.path.join(out, stage + ".xml")
    if not os.path.exists(path):
        print(f"{stage}: no JUnit report (the stage did not finish; see {stage}.log)")
        continue
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        print(f"{stage}: unreadable JUnit report ({e})")
        continue
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    print(f"{stage}: {count['tests']} tests, {count['failures']} failed, {count['errors']} errors, "
          f"{count['skipped']} skipped")
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            for bad in case.findall(kind):
                msg = (bad.get("message") or "").strip().splitlines()
                print(f"  {kind.upper()} {case.get('classname')}::{case.get('name')}: {msg[0][:240] if msg else ''}")
EOF
if [ -f "$OUT/gpu_bench.md" ]; then echo "benchmarks: see gpu_bench.md / gpu_bench.json" >> "$SUMMARY"; fi
grep -h "SMOKE OK\|SMOKE FAILED" "$LOG" >> "$SUMMARY"
echo "total seconds=$(( $(date +%s) - START )), exit status $FAILED" >> "$SUMMARY"
# keep every returned file under the device tool's 16 MB limit
for f in "$OUT"/*.log; do
    if [ "$(stat -c %s "$f")" -gt 15000000 ]; then tail -c 15000000 "$f" > "$f.tmp" && mv "$f.tmp" "$f"; fi
done
echo "----- $SUMMARY -----"
cat "$SUMMARY"
exit $FAILED
