"""The lab tests grade the real labs in labs/ (the engine tests use toy labs of their own)."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_LABS = Path(__file__).resolve().parents[2] / "labs"


@pytest.fixture
def real_labs(monkeypatch):
    monkeypatch.setenv("HARNESS_LABS", str(REAL_LABS))
