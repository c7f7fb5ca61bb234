"""The lab tests grade the real labs in labs/ (the engine tests use toy labs of their own)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_LABS = Path(__file__).resolve().parents[2] / "labs"


@pytest.fixture
def real_labs(monkeypatch):
    monkeypatch.setenv("HARNESS_LABS", str(REAL_LABS))


@pytest.fixture(scope="session")
def lab_threads() -> int | None:
    """Threads for the real-model checks: the backend's default (all cores) unless
    HARNESS_TEST_THREADS says otherwise (e.g. 1 while other model runs share the CPU: two
    multi-threaded llama.cpp runs on the same cores slow each other down many times over)."""
    value = os.environ.get("HARNESS_TEST_THREADS", "").strip()
    return int(value) if value else None
