"""tritongrad never imports torch: ``import tritongrad`` plus a forward/backward computation on cpu and on cuda
(Triton's interpreter on machines without a GPU) leaves "torch" out of ``sys.modules``, and no source file of
the library imports it."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIRS = ("tritongrad", "kernels")

_PROGRAM = r"""
import sys
import numpy as np
import tritongrad as tg
assert "torch" not in sys.modules, "import tritongrad imported torch"
for device in ("cpu", "cuda"):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((5, 7)), dtype=tg.float32, device=device, requires_grad=True)
    w = tg.tensor(rng.standard_normal((7, 3)), dtype=tg.float32, device=device, requires_grad=True)
    h = (x @ w).relu() + x[:, :3].exp() * 0.1
    y = h.log_softmax(-1).sum(0).mean() + h.var(0).sum() + tg.where(h > 0, h, 0.5).amax()
    y.backward()
    assert x.grad is not None and w.grad is not None and x.grad.device.type == device
    assert np.isfinite(x.grad.cpu().numpy()).all()
    print(device, float(y.item()))
bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not bad, f"torch modules imported: {bad[:5]}"
print("torch-free")
"""


def test_forward_backward_on_cpu_and_cuda_never_imports_torch():
    env = dict(os.environ)
    env.setdefault("TRITON_INTERPRET", "1")
    proc = subprocess.run([sys.executable, "-c", _PROGRAM], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    lines = proc.stdout.split()
    assert "torch-free" in lines
    values = [float(v) for k, v in zip(lines, lines[1:]) if k in ("cpu", "cuda")]
    assert len(values) == 2 and abs(values[0] - values[1]) <= 1e-4 * max(1.0, abs(values[0])), values


def _python_files():
    for d in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(dirpath, f)


def _torch_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "torch"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "torch":
            found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).split(".")[0] == "torch":
            found.append(node.args[0].value)
    return found


def test_source_has_no_torch_import():
    files = list(_python_files())
    assert len(files) > 20, f"expected the library sources under {SOURCE_DIRS}, found {len(files)} files"
    offenders = {os.path.relpath(p, ROOT): imps for p in files if (imps := _torch_imports(p))}
    assert not offenders, f"files importing torch: {offenders}"


@pytest.mark.parametrize("snippet,expected", [
    ("import torch", ["torch"]),
    ("from torch.nn import functional", ["torch.nn"]),
    ("import importlib; importlib.import_module('torch.cuda')", ["torch.cuda"]),
    ("import torchvision, numpy", []),
])
def test_torch_import_scanner(tmp_path, snippet, expected):
    p = tmp_path / "m.py"
    p.write_text(snippet)
    assert _torch_imports(str(p)) == expected
