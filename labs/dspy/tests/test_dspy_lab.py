"""The dspy lab (GSM8K last solution line -> its number): its spec (its starter, reference and wrong solutions are graded by tests/labs/test_curriculum.py
and `harness dev check`)."""

from __future__ import annotations

import pytest

from harness.labs.spec import get_lab

LAB = "dspy"
pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 7 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} == {
        "parse_failure_rate",
        "saved_as_json",
        "demos_after_reload",
        "accuracy_gain",
        "mcnemar_p",
    }
