"""The benchmark scripts' pure-Python parts: argument parsing, ratios, checks, the markdown/JSON writers.

Nothing here times anything or needs a GPU; the measurements themselves live in bench/ (see bench/README.md).
The rows below are made-up inputs to the formatters, not results.
"""
import json

import pytest

from bench import cpu_summary, gpu_bench


def test_parse_args_defaults_and_sections():
    args = gpu_bench.parse_args(["--out", "somewhere"])
    assert (args.out, args.budget_s, args.only, args.no_compile, args.smoke) == ("somewhere", 230.0, None, False, False)
    args = gpu_bench.parse_args(["--out", "d", "--only", "matmul", "attention", "--no-compile", "--smoke",
                                 "--budget-s", "60"])
    assert args.only == ["matmul", "attention"] and args.no_compile and args.smoke and args.budget_s == 60.0


@pytest.mark.parametrize("argv", [[], ["--out", "d", "--only", "not_a_section"], ["--out", "d", "--budget-s", "0"]])
def test_parse_args_rejects(argv, capsys):
    with pytest.raises(SystemExit) as e:
        gpu_bench.parse_args(argv)
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err


def test_every_section_has_a_method_and_a_minimum_time():
    assert set(gpu_bench.SECTION_MIN_S) == set(gpu_bench.SECTIONS)
    for name in gpu_bench.SECTIONS:
        assert callable(getattr(gpu_bench.Bench, "section_" + name))


def test_ratios_follow_the_unit_direction():
    faster = gpu_bench.make_row("s", "c", "GB/s", 3000.0, 2000.0, ceiling=4000.0)
    assert faster["vs_torch"] == pytest.approx(1.5) and faster["pct_of_ceiling"] == pytest.approx(75.0)
    less_memory = gpu_bench.make_row("s", "c", "MB", 100.0, 300.0, ceiling=50.0)
    assert less_memory["vs_torch"] == pytest.approx(3.0)
    assert less_memory["pct_of_ceiling"] is None          # a floor, not a throughput ceiling
    slower_launch = gpu_bench.make_row("s", "c", "us/launch", 20.0, 5.0)
    assert slower_launch["vs_torch"] == pytest.approx(0.25)
    alone = gpu_bench.make_row("s", "c", "TFLOP/s", 10.0)
    assert (alone["vs_torch"], alone["vs_torch_compile"], alone["pct_of_ceiling"]) == (None, None, None)
    alone["torch_compile"] = 20.0
    assert gpu_bench.derive(alone)["vs_torch_compile"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown unit"):
        gpu_bench.make_row("s", "c", "furlongs", 1.0)


def test_make_check():
    ok = gpu_bench.make_check({"out": 1e-6, "grad0": 3e-5}, 1e-4, "torch")
    assert ok["ok"] and ok["max_rel_err"] == 3e-5 and ok["against"] == "torch"
    assert not gpu_bench.make_check({"out": 1e-6, "grad0": 2e-4}, 1e-4, "torch")["ok"]
    assert not gpu_bench.make_check({"out": float("nan")}, 1e-4, "torch")["ok"]
    assert not gpu_bench.make_check({}, 1e-4, "torch")["ok"]


def _results():
    rows = [gpu_bench.make_row("matmul", "4096^3 bfloat16", "TFLOP/s", 600.0, 700.0, ceiling=989.4,
                               ceiling_name="spec", check=gpu_bench.make_check({"out": 2e-3}, 2e-2, "torch")),
            gpu_bench.make_row("fused_ops", "softmax", "GB/s", 3100.0, 2900.0, 3300.0,
                               check=gpu_bench.make_check({"out": 0.5}, 1e-4, "torch"))]
    return {"meta": {"date": "2000-01-01 00:00:00 UTC", "gpu": "NVIDIA H200", "driver": "580.00",
                     "triton": "3.6.0", "torch": "2.11.0", "tritongrad": "0.1.0"},
            "rows": rows,
            "sections": {"matmul": {"status": "ok", "seconds": 12.5, "note": ""},
                         "adamw": {"status": "error", "seconds": 0.1, "error": "AttributeError: boom",
                                   "extra": {"copy_gbs": 4000.0}}}}


def test_markdown_report():
    md = gpu_bench.to_markdown(_results())
    assert "| gpu | NVIDIA H200 |" in md and "| triton | 3.6.0 |" in md and "| driver | 580.00 |" in md
    matmul = next(line for line in md.splitlines() if line.startswith("| matmul | 4096^3"))
    assert "| 600 | 700 |" in matmul and "0.86x" in matmul and "61%" in matmul and "989 (spec)" in matmul
    assert "ok 2.0e-03 vs torch" in matmul
    softmax = next(line for line in md.splitlines() if line.startswith("| fused_ops | softmax"))
    assert "**FAIL** 5.0e-01 > 1e-04" in softmax and "1.07x" in softmax and "0.94x" in softmax
    assert "| adamw | error | 0.1 | AttributeError: boom |" in md
    assert "### adamw" in md and '"copy_gbs": 4000.0' in md


def test_write_results_round_trip(tmp_path):
    results = _results()
    json_path, md_path = gpu_bench.write_results(results, str(tmp_path / "new_dir"))
    with open(json_path) as f:
        assert json.load(f) == json.loads(json.dumps(results))
    with open(md_path) as f:
        assert f.read() == gpu_bench.to_markdown(results)
    assert sorted(p.name for p in (tmp_path / "new_dir").iterdir()) == ["gpu_bench.json", "gpu_bench.md"]


def test_failures_lists_failed_checks_and_errors():
    assert gpu_bench.failures(_results()) == ["fused_ops/softmax: check failed", "adamw: error"]
    clean = _results()
    clean["rows"] = clean["rows"][:1]
    clean["sections"].pop("adamw")
    assert gpu_bench.failures(clean) == []


def test_cpu_summary_markdown():
    result = {"machine": {"date": "d", "platform": "p", "python": "3", "numpy": "2", "cpus": 2,
                          "load_average": "0.1", "openblas_threads": "1", "torch": "not installed"},
              "dispatch": [{"op": "add", "numpy_us": 0.5, "tritongrad_us": 3.0, "tritongrad_requires_grad_us": 5.0,
                            "overhead_us": 2.5, "overhead_grad_us": 4.5},
                           {"op": "matmul", "numpy_us": 1.0, "tritongrad_us": 9.0,
                            "tritongrad_requires_grad_us": 12.0, "overhead_us": 8.0, "overhead_grad_us": 11.0}],
              "mlp": [{"size": "mnist", "dims": [256, 784, 512, 512, 10], "numpy_ms": 8.0, "tritongrad_ms": 9.0,
                       "torch_ms": None, "tritongrad_vs_numpy": 1.125, "torch_vs_numpy": None}]}
    lines = cpu_summary.markdown(result).splitlines()
    assert "| add | 0.50 | 3.00 | 2.50 | 5.00 | 4.50 | meets target |" in lines
    assert "| matmul | 1.00 | 9.00 | 8.00 | 12.00 | 11.00 | misses target |" in lines
    assert "| mnist | (256, 784, 512, 512, 10) | 8.000 | 9.000 | 1.12 | n/a | n/a | meets target |" in lines


def test_case_runner_checks_times_and_keeps_errors(tmp_path):
    """The runner itself on the smallest case: checked against the peer (torch on a GPU, else tritongrad's
    NumPy reference), timed, and a raising op becomes an error row instead of ending the section."""
    bench = gpu_bench.Bench(gpu_bench.parse_args(["--out", str(tmp_path), "--smoke"]))
    row = bench.case("t", "a + b", lambda lib, F, a, b: a + b, lambda p: (p.randn((17,), "float32"),) * 2,
                     amount=3 * 17 * 4, tol=1e-6, compile_ok=False)
    assert row["check"]["ok"] and row["check"]["max_rel_err"] == 0.0 and row["tritongrad"] > 0

    def broken(lib, F, x):
        raise ValueError("no such op")

    row = bench.case("t", "broken", broken, lambda p: (p.randn((3,), "float32"),))
    assert row["tritongrad"] is None and row["check"] == {"ok": False, "error": "ValueError: no such op"}
    assert gpu_bench.failures(bench.results) == ["t/broken: check failed"]


def test_do_bench_counts_the_l2_flush_toward_its_target_time(monkeypatch):
    """Like ``triton.testing.do_bench`` (what the autotuner calls through tritongrad's driver), the estimate
    that turns ``rep`` milliseconds into a number of calls includes each call's L2 flush: with a flush of at
    least 2 ms and a near-instant call, ``rep=20`` is at most 10 timed calls, not thousands."""
    import time

    from tritongrad.runtime import timing
    calls = []
    monkeypatch.setattr(timing, "flush_l2", lambda: time.sleep(0.002))
    timing.do_bench(lambda: calls.append(1), warmup=4, rep=20)
    # 1 first call + 5 for the estimate + at most 4 / 2 warmup + at most 20 / 2 timed
    assert 1 + 5 + 1 + 1 <= len(calls) <= 1 + 5 + 2 + 10
