"""The README's tour runs as written (on cpu, and its cuda part through Triton's interpreter here)."""
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour_code():
    text = README.read_text()
    section = text.split("## A tour", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under '## A tour'"
    return match.group(1)


def test_tour_is_short():
    assert len(_tour_code().strip().splitlines()) <= 40


def test_readme_tour_runs(tmp_path):
    code = _tour_code()
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "tensor(7.)", proc.stdout
    loss = float(lines[1].split()[-1])
    assert loss < 0.3, f"the tour's model did not learn: {proc.stdout}"
    assert (tmp_path / "model.safetensors").exists()
    assert "torch" not in proc.stderr
