"""pytest setup for the CPU benchmarks: ``python -m pytest bench -q --benchmark-only`` collects the
``bench_*.py`` files (pytest's default pattern is ``test_*.py``). The normal test command
(``python -m pytest tests``, or plain ``python -m pytest``: ``testpaths = ["tests"]``) never comes here."""
from __future__ import annotations

import pytest


def pytest_collect_file(file_path, parent):
    # a file named on the command line is collected by pytest itself; collecting it here too would double it
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
