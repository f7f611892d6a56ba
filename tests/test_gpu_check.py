"""bench/gpu_check.sh's plumbing, without a GPU: the summary from JUnit reports and stage records, the
sharding that stands in for pytest-xdist, the smoke stage in the interpreter, and the script's global budget
skipping stages cleanly while still writing the summary. (The stages themselves run on a GPU; ``bash
bench/gpu_check.sh --dry-run`` runs all of them here in Triton's interpreter, in about a minute.)"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from bench import gpu_check, gpu_smoke

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_bad[cuda]" time="0.2"><failure message="AssertionError: 3 != 4">
Traceback line one
AssertionError: 3 != 4</failure></testcase>
<testcase classname="tests.test_a" name="test_broken" time="0.1"><error message="RuntimeError: CUDA error">boom</error></testcase>
<testcase classname="tests.test_a" name="test_skip" time="0.0"><skipped message="needs two GPUs"/></testcase>
</testsuite></testsuites>"""


def _stage(work, **rec):
    with open(os.path.join(work, "stages.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")


def test_summary_counts_failures_and_tracebacks(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    (work / "numerics.0.xml").write_text(JUNIT)
    (work / "numerics.0.log").write_text("ignored: process logs are in the stage log")
    (work / "numerics.log").write_text("pytest output\n1 failed, 1 passed, 1 skipped, 1 error in 2.0s\n")
    (work / "graphs.log").write_text("interrupted\n5 passed, 2 failed in 9.0s\n")
    _stage(work, name="smoke", kind="script", status="ok", rc=0, seconds=4, limit=45, note="")
    _stage(work, name="numerics", kind="pytest", status="failed", rc=1, seconds=20, limit=45, note="")
    _stage(work, name="graphs", kind="pytest", status="timed out", rc=124, seconds=45, limit=45, note="partial")
    summary = gpu_check.summarize(str(out), str(work))
    numerics, graphs = summary["stages"][1], summary["stages"][2]
    assert numerics["counts"] == {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert graphs["counts"] == {"passed": 5, "failed": 2}          # no report: pytest's last line
    assert [(f["test"], f["kind"]) for f in summary["failures"]] == [
        ("tests.test_a::test_bad[cuda]", "failure"), ("tests.test_a::test_broken", "error")]
    assert "AssertionError: 3 != 4" in summary["failures"][0]["traceback"]
    md = (out / "summary.md").read_text()
    assert "| numerics | failed | 20 | 45 | 4 | 1 | 1 | 1 | 1 |" in md
    assert "**1 of 3 stages ok; 2 failing tests; 69 s in stages.**" in md
    assert "## First 2 tracebacks" in md and "Traceback line one" in md
    assert "Traceback line one" not in gpu_check.to_markdown(summary, tracebacks=False)
    shown = gpu_check.printed(summary)        # what the script prints last: traceback ends, then the stage table
    assert shown.startswith("----- traceback of tests.test_a::test_bad[cuda]") and "Traceback line one" in shown
    assert shown.rstrip().endswith("69 s in stages.**")
    assert not gpu_check.clean(summary)
    summary.update(failures=[], n_failures=0, stages=summary["stages"][:1])
    assert gpu_check.clean(summary)
    summary["stages"].append({"name": "more_tests", "status": "partial"})
    assert gpu_check.clean(summary)
    summary["benchmarks"] = {"failed_checks": ["matmul/4096^3 bfloat16"]}
    assert not gpu_check.clean(summary)
    assert json.loads((out / "summary.json").read_text())["n_failures"] == 2
    assert (out / "junit.xml").read_text().count("<testcase") == 4
    assert "===== graphs: timed out" in (out / "check.log").read_text()


def test_shards_keep_runs_together_and_use_every_worker():
    ids = [f"t{i}" for i in range(25)]
    parts = gpu_check.shards(ids, 3, run=10)
    assert parts == [ids[:10], ids[10:20], ids[20:]]
    assert gpu_check.shards(ids[:4], 8) == [ids[:4]]
    assert sorted(sum(gpu_check.shards(ids, 4, run=3), [])) == sorted(ids)


def test_smoke_stage_dry_run_in_the_interpreter(tmp_path, capsys):
    assert gpu_smoke.main(["--dry-run", "--json", str(tmp_path / "smoke.json")]) == 0
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["status"] == "OK" and set(result["checks"]) == {"import", "elementwise", "matmul", "error_word"}
    assert "SMOKE OK" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_script_skips_what_the_budget_cannot_fit_and_still_writes_the_summary(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), GPU_CHECK_ROOT=str(tmp_path / "root"), PYTHON=sys.executable,
               GPU_CHECK_BUDGET_S="5", GPU_CHECK_STAGES="install,smoke,cuda_graphs")
    run = subprocess.run(["bash", os.path.join(REPO, "bench", "gpu_check.sh"), "--dry-run"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr     # skipped stages: the check is not complete
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("install", "ok"), ("smoke", "skipped"), ("cuda_graphs", "skipped")]
    assert "global budget" in summary["stages"][1]["note"]
    assert summary["environment"]["TRITON_INTERPRET"] == "1"
    assert "| cuda_graphs | skipped |" in run.stdout      # the summary is printed last
    assert sorted(os.listdir(tmp_path / "out")) == ["check.log", "junit.xml", "summary.json", "summary.md"]


def test_script_rejects_unknown_arguments():
    run = subprocess.run(["bash", os.path.join(REPO, "bench", "gpu_check.sh"), "--fast"], capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 2 and "unknown argument '--fast'" in run.stderr


def test_interleave_touches_every_group_first():
    ids = ["tests/test_ops.py::test_op[abs-float32-cuda]", "tests/test_ops.py::test_op[abs-bfloat16-cuda]",
           "tests/test_ops.py::test_op[add-float32-cuda]", "tests/test_x.py::test_conv[1]", "tests/test_x.py::test_conv[2]",
           "tests/test_x.py::test_pool"]
    assert gpu_check.interleave(ids) == [ids[0], ids[2], ids[3], ids[5], ids[1], ids[4]]
    assert gpu_check._options(["tests", "-m", "not slow", "-k", "cuda", "-q", "-p", "bench.gpu_check", "--timeout", "90",
                               "--durations=15"]) == ["-q", "-p", "bench.gpu_check", "--timeout", "90", "--durations=15"]


def test_merged_junit_is_cut_to_fit():
    import xml.etree.ElementTree as ET
    cases = []
    for i in range(20):
        case = ET.Element("testcase", classname="t", name=f"test_{i}")
        ET.SubElement(case, "failure", message="boom").text = "x" * 50_000 + f"END{i}"
        cases.append(case)
    text = gpu_check.merged_junit(cases, limit=200_000)
    assert len(text) <= 200_000 and text.count("<testcase") == 20 and "END19" in text


def test_jit_census_counts_what_the_jit_would_compile(monkeypatch):
    """bench.jit_census (the compile-time estimate): the same launch twice is one specialization; a size not
    divisible by 16 is another (the JIT specializes integers on divisibility by 16)."""
    from collections import defaultdict

    from triton.runtime import autotuner, interpreter

    import tritongrad as tg
    from bench import jit_census
    if not tg.runtime.interpreting():
        pytest.skip("the census follows Triton's interpreter (TRITON_INTERPRET=1)")
    monkeypatch.setattr(interpreter.InterpretedFunction, "run", interpreter.InterpretedFunction.run)
    monkeypatch.setattr(autotuner.Autotuner, "run", autotuner.Autotuner.run)
    monkeypatch.setattr(jit_census, "_state", {"specs": defaultdict(set), "autotuned": defaultdict(set),
                                               "tuning_keys": defaultdict(set), "launchers": set(), "binders": {},
                                               "error": None, "launches": 0})
    jit_census.pytest_configure(None)
    a = tg.ones(64, device="cuda")
    (a + a).cpu()
    (a + a).cpu()
    first = jit_census.census()
    b = tg.ones(63, device="cuda")
    (b + b).cpu()
    second = jit_census.census()
    assert first["error"] is None and second["error"] is None
    assert first["total_specializations"] >= 1 and first["launchers"] >= 1
    assert second["total_specializations"] > first["total_specializations"]
    assert second["launches"] > first["launches"] >= 2
