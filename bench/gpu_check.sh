#!/usr/bin/env bash
# The first-GPU-run check: find and report the most in ONE run of under 6 minutes on one GPU (an H200 with 16
# cores, Python 3.12, triton 3.6, torch 2.11 as the peer, no network).
#
#   OUT=/path/to/results bash bench/gpu_check.sh              (OUT defaults to bench/results/gpu_check)
#   bash bench/gpu_check.sh --dry-run                          (no GPU: the same stages in Triton's interpreter,
#                                                              tests collected only, benchmarks at tiny sizes)
#
# On the device machine, from the `run` tool (command under 2,000 characters, timeout_s 420; see bench/README.md):
#   OUT="$OUT" bash bench/gpu_check.sh; echo "gpu_check exit $?"
#
# Stages, most valuable first; each under its own `timeout` (SIGINT at its limit, so pytest still writes its
# report; SIGKILL 20 s later), each run even when an earlier one failed, none ever stopping the script:
#   install       tritongrad importable from this checkout: already, or `pip install --no-index --no-deps
#                 --no-build-isolation -e .`, or a PYTHONPATH shim (pyproject maps kernels/ into the package)
#   smoke         versions, device, one elementwise kernel, fp32 and bf16 matmul vs NumPy, the device error word
#   gpu_numerics  tests marked `gpu` (tf32 vs IEEE, bf16/fp16 RNE casts, bf16 tl.dot, runtime, dlpack, autotuner)
#   cuda_graphs   tests/test_cuda_graphs.py: capture and replay of MLP and GPT training steps
#   op_tests      the op table on cuda in float32 and bfloat16 (every op), the nn kernels (conv, pool, norms,
#                 attention, cross_entropy, dropout, batch_norm), the device error word (host-mapped memory
#                 the GPU writes), optimizers, amp, random, RNNs on cuda: every kernel family compiled and checked
#   kernel_bench  bench.gpu_bench: copy bandwidth and torch.matmul peak (the ceilings), launch overhead,
#                 matmul, fused ops, attention, elementwise, conv2d vs torch 2.11, in the time left to it
#   train_bench   bench.gpu_bench train_gpt: the GPT training step vs torch eager (bf16, fp32, amp), graphed too
#   more_tests    what is left of the budget: the kernel test files, the rest of the op table on cuda,
#                 test_nn_functional on cuda
# A stage's limit is its cap, cut so the stages after it keep their minimum; the global budget
# (GPU_CHECK_BUDGET_S, 320 s) skips what no longer fits, cleanly, and the summary is written anyway.
#
# Outputs, flat under $OUT (the device tool returns at most 8 files): summary.md, summary.json (stages with
# pass/fail counts and seconds, versions, device, the failing tests with the first tracebacks), junit.xml
# (every test case), check.log (every stage's output), gpu_bench.json, gpu_bench.md. The summary is rewritten
# after every stage, and printed last (without tracebacks), so the end of the output holds it.
# Exit status: 0 when every stage that ran passed (more_tests may stop at the budget) with no failing test or
# benchmark check, 1 otherwise, 3 when the summary itself failed.
#
# Environment: GPU_CHECK_BUDGET_S (320), GPU_CHECK_STAGES (comma list, default all), GPU_CHECK_WORKERS (test
# processes, default min(14, cores - 2)), GPU_CHECK_TEST_TIMEOUT_S (per test, 90), GPU_CHECK_DRY=1 (= --dry-run),
# PYTHON (interpreter, default python3; may carry flags), GPU_CHECK_ROOT (work files, /tmp/tritongrad-gpu-check),
# TRITON_CACHE_DIR (default $GPU_CHECK_ROOT/triton-cache: kept between runs on a warm machine, so a rerun
# compiles nothing and reuses the autotuner's choices).
set -u
cd "$(dirname "$0")/.."
REPO="$(pwd)"
DRY="${GPU_CHECK_DRY:-0}"
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument '$arg' (expected --dry-run or --help)" >&2; exit 2 ;;
    esac
done
OUT="${OUT:-bench/results/gpu_check}"
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
ROOT="${GPU_CHECK_ROOT:-/tmp/tritongrad-gpu-check}"   # work files (run-*/) and the Triton cache
WORK="$ROOT/run-$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$WORK"
read -r -a PY <<< "${PYTHON:-python3}"
command -v "${PY[0]}" > /dev/null || PY=(python)
export PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$ROOT/triton-cache}"
export TRITON_CACHE_AUTOTUNING=1      # autotune results on disk: shared by the test processes, kept for reruns
if [ "$DRY" = 1 ]; then export TRITON_INTERPRET=1; else unset TRITON_INTERPRET; fi
BUDGET_S="${GPU_CHECK_BUDGET_S:-320}"
STAGES=",${GPU_CHECK_STAGES:-install,smoke,gpu_numerics,cuda_graphs,op_tests,kernel_bench,train_bench,more_tests},"
CORES=$(nproc 2> /dev/null || echo 4)
WORKERS="${GPU_CHECK_WORKERS:-$(( CORES - 2 < 14 ? (CORES > 2 ? CORES - 2 : 1) : 14 ))}"
START=$(date +%s)
DEADLINE=$(( START + BUDGET_S ))
rm -f "$OUT"/summary.md "$OUT"/summary.json "$OUT"/junit.xml "$OUT"/check.log "$OUT"/gpu_bench.json "$OUT"/gpu_bench.md

# the least seconds each stage needs to tell anything; a stage's limit leaves the later ones at least these
declare -A MIN_S=([install]=10 [smoke]=20 [gpu_numerics]=25 [cuda_graphs]=25 [op_tests]=45 [kernel_bench]=40
                  [train_bench]=35 [more_tests]=0)
ORDER=(install smoke gpu_numerics cuda_graphs op_tests kernel_bench train_bench more_tests)

selected() { [[ "$STAGES" == *",$1,"* ]]; }

reserve_after() {    # seconds the selected stages after $1 need at least
    local after=0 sum=0 s
    for s in "${ORDER[@]}"; do
        if (( after )) && selected "$s"; then sum=$(( sum + MIN_S[$s] )); fi
        [ "$s" = "$1" ] && after=1
    done
    echo "$sum"
}

stage_limit() {    # stage_limit NAME CAP: CAP, cut so that the selected stages after NAME keep their minimum
    local left reserve
    left=$(( DEADLINE - $(date +%s) ))
    reserve=$(reserve_after "$1")
    echo $(( left - reserve < $2 ? left - reserve : $2 ))
}

summary() { timeout 60 "${PY[@]}" -m bench.gpu_check summary --out "$OUT" --work "$WORK" "$@" || echo "(summary failed)"; }

record() {   # record NAME KIND STATUS RC SECONDS LIMIT NOTE: one line of stages.jsonl, then a fresh summary
    printf '{"name": "%s", "kind": "%s", "status": "%s", "rc": %s, "seconds": %s, "limit": %s, "note": "%s"}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "${7//\"/\'}" >> "$WORK/stages.jsonl"
    echo "[gpu_check] $(date -u +%H:%M:%S) $1: $3 in $5 s (limit $6 s) $7"
    summary > /dev/null
}

# run_stage NAME KIND CAP CMD...: run CMD under a limit of at most CAP seconds, output to $WORK/NAME.log
run_stage() {
    local name=$1 kind=$2 cap=$3
    shift 3
    selected "$name" || return 0
    local limit
    limit=$(stage_limit "$name" "$cap")
    if (( limit < 10 )); then
        record "$name" "$kind" skipped null 0 "$limit" "global budget: $(( DEADLINE - $(date +%s) )) s left, $(reserve_after "$name") s kept for later stages"
        return 0
    fi
    echo "[gpu_check] $(date -u +%H:%M:%S) $name: starting, limit $limit s"
    local t0 rc took status note=""
    t0=$(date +%s)
    timeout -s INT --kill-after=20 "$limit" "$@" > "$WORK/$name.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - t0 ))
    if (( rc == 0 )); then status=ok
    elif (( took >= limit )) && [ "$name" = more_tests ]; then status=partial; note="ran until the budget was spent"
    elif (( took >= limit )); then status="timed out"; note="stopped at its limit: partial results"
    elif [ "$kind" = pytest ] && (( rc == 5 )); then status="no tests"
    else status=failed; fi
    tail -n 3 "$WORK/$name.log" | sed "s/^/[gpu_check]   $name | /"
    record "$name" "$kind" "$status" "$rc" "$took" "$limit" "$note"
}

# ---------------------------------------------------------------------------------------------- install
# pyproject.toml maps the top-level kernels/ directory into the package (tritongrad.kernels), so a bare
# PYTHONPATH=. is not enough: use an install from this checkout, else make one (no network: --no-index), else
# a shim directory that links kernels/ into a copy of the package's entries
install() {
    timeout 60 "${PY[@]}" -m bench.gpu_check where && return 0
    if [ "$DRY" != 1 ]; then
        timeout 90 "${PY[@]}" -m pip install -q --no-index --no-deps --no-build-isolation \
            --disable-pip-version-check -e . && timeout 60 "${PY[@]}" -m bench.gpu_check where && return 0
        echo "pip install -e . did not give an importable tritongrad: using a PYTHONPATH shim"
    fi
    timeout 60 "${PY[@]}" -m bench.gpu_check shim "$WORK/shim" || return 1
    export PYTHONPATH="$WORK/shim:$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=1
    timeout 60 "${PY[@]}" -m bench.gpu_check where
}
if selected install; then
    t0=$(date +%s)
    install > "$WORK/install.log" 2>&1
    rc=$?
    tail -n 2 "$WORK/install.log" | sed "s/^/[gpu_check]   install | /"
    record install script "$( (( rc == 0 )) && echo ok || echo failed)" "$rc" $(( $(date +%s) - t0 )) 90 \
        "$(grep -q shim "$WORK/install.log" && echo 'PYTHONPATH shim')"
fi

# ---------------------------------------------------------------------------------------------- smoke
SMOKE=("${PY[@]}" -m bench.gpu_smoke --json "$WORK/smoke.json")
[ "$DRY" = 1 ] && SMOKE+=(--dry-run)
run_stage smoke script 45 "${SMOKE[@]}"

# ---------------------------------------------------------------------------------------------- tests
PYTEST_OPTS=(-q -rfE --durations=15 -o junit_family=xunit2 -p bench.gpu_check)
if timeout 60 "${PY[@]}" -c "import pytest_timeout" 2> /dev/null; then
    PYTEST_OPTS+=(--timeout "${GPU_CHECK_TEST_TIMEOUT_S:-90}" --timeout-method thread)
fi
HAVE_XDIST=0
timeout 60 "${PY[@]}" -c "import xdist" 2> /dev/null && HAVE_XDIST=1

# pytest_stage NAME CAP [--interleave] PYTEST_ARGS...: compiled kernels in WORKERS processes (pytest-xdist, else
# bench.gpu_check's own sharding); --interleave runs the tests round-robin over files, functions and ops (so a
# stage cut short has touched every kernel family). In a dry run, collection only.
pytest_stage() {
    local name=$1 cap=$2 order=()
    shift 2
    if [ "$1" = --interleave ]; then order=(--interleave); shift; fi
    local xdist=()
    (( HAVE_XDIST && WORKERS > 1 )) && xdist=(--xdist)
    if [ "$DRY" = 1 ] && (( ${#order[@]} )); then      # the collection, ordering and id round trip, 1 process
        run_stage "$name" pytest "$cap" "${PY[@]}" -m bench.gpu_check pytest --workers 1 --junit "$WORK/$name" \
            --interleave -- "$@" --collect-only -q -p no:xdist
    elif [ "$DRY" = 1 ]; then
        run_stage "$name" pytest "$cap" "${PY[@]}" -m pytest "$@" --collect-only -q -p no:xdist
    elif (( ${#order[@]} )) || (( ! ${#xdist[@]} )); then
        run_stage "$name" pytest "$cap" env GPU_CHECK_QUICK_AUTOTUNE=1 "${PY[@]}" -m bench.gpu_check pytest \
            --workers "$WORKERS" --junit "$WORK/$name" "${xdist[@]}" "${order[@]}" -- "$@" "${PYTEST_OPTS[@]}"
    else
        run_stage "$name" pytest "$cap" env GPU_CHECK_QUICK_AUTOTUNE=1 "${PY[@]}" -m pytest "$@" "${PYTEST_OPTS[@]}" \
            -n "$WORKERS" --junitxml "$WORK/$name.xml"
    fi
}

pytest_stage gpu_numerics 45 tests -m gpu --ignore=tests/test_cuda_graphs.py
pytest_stage cuda_graphs 45 tests/test_cuda_graphs.py
OP_FILES=(tests/test_nn_kernels_a.py tests/test_nn_kernels_b.py tests/test_device_errors.py tests/test_optim.py
          tests/test_optim_adaptive.py tests/test_amp.py tests/test_random.py tests/test_nn_rnn.py)
pytest_stage op_tests 110 --interleave "${OP_FILES[@]}" tests/test_ops.py -m "not slow" \
    -k "(test_ops.py and cuda and (float32 or bfloat16)) or (not test_ops.py and (cuda or nn_kernels or device_errors))"

# ---------------------------------------------------------------------------------------------- benchmarks
# gpu_bench stops starting sections 15 s before its stage limit, so it ends by itself and writes its results
bench_stage() {
    local name=$1 cap=$2
    shift 2
    selected "$name" || return 0
    local limit extra=(--no-compile)
    limit=$(stage_limit "$name" "$cap")
    [ "$DRY" = 1 ] && extra+=(--smoke)
    run_stage "$name" script "$cap" "${PY[@]}" -m bench.gpu_bench --out "$OUT" --append \
        --budget-s $(( limit > 30 ? limit - 15 : 15 )) "${extra[@]}" "$@"
}
if [ "$DRY" = 1 ]; then
    bench_stage kernel_bench 75 --only copy_bandwidth peak_matmul launch_overhead matmul
    bench_stage train_bench 60 --only train_gpt --train-dtypes float32
else
    bench_stage kernel_bench 75 --only copy_bandwidth peak_matmul launch_overhead matmul fused_ops attention \
        elementwise_add conv2d cross_entropy_memory
    bench_stage train_bench 60 --only train_gpt --train-dtypes bfloat16 float32 amp_bf16
fi

# ---------------------------------------------------------------------------------------------- more tests
MORE_CAP=$(( DEADLINE - $(date +%s) ))
if (( MORE_CAP >= 30 )) || [ "$DRY" = 1 ]; then
    pytest_stage more_tests "$MORE_CAP" --interleave tests/test_kernels_reduce_matmul.py tests/test_kernels_elementwise.py \
        tests/test_ops.py tests/test_nn_functional.py -m "not slow" \
        -k "(test_ops.py and cuda and not float32 and not bfloat16) or test_kernels_ or (test_nn_functional and cuda)"
elif selected more_tests; then
    record more_tests pytest skipped null 0 "$MORE_CAP" "global budget spent"
fi

# ---------------------------------------------------------------------------------------------- summary
echo "[gpu_check] total $(( $(date +%s) - START )) s; work files in $WORK; results in $OUT:"
ls -l "$OUT"
timeout 60 "${PY[@]}" -m bench.gpu_check summary --out "$OUT" --work "$WORK" --print --exit-status
rc=$?
(( rc <= 1 )) || echo "[gpu_check] the summary failed (exit status $rc)"
exit $(( rc <= 1 ? rc : 3 ))
