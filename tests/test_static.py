"""Lint, format and type checks, run by the test command like any other test (pyproject.toml holds
their settings; both tools are pinned in the test extras, so they fail here rather than skip)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON_TREES = ["harness", "tests", "labs", "scripts"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean():
    r = _run("ruff", "check", *PYTHON_TREES)
    assert r.returncode == 0, f"ruff found problems (fix them, or `ruff check --fix`):\n{r.stdout}{r.stderr}"


def test_ruff_format_is_clean():
    r = _run("ruff", "format", "--check", *PYTHON_TREES)
    assert r.returncode == 0, f"files not formatted (run `.venv/bin/ruff format`):\n{r.stdout}{r.stderr}"


def test_mypy_is_clean_on_harness():
    r = _run("mypy")  # files, plugins and per-package settings: [tool.mypy] in pyproject.toml
    assert r.returncode == 0, f"mypy found type errors:\n{r.stdout}{r.stderr}"
