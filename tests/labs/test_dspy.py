"""The dspy lab (GSM8K last solution line -> its number) on the real default model through the
harness DSPy adapter: the reference passes, the starter and plausible wrong solutions (never compiled, saved without demos) fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.check import run_check
from harness.labs.spec import get_lab

WRONG = Path(__file__).resolve().parent / "wrong"
LAB = "dspy"
pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 7 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} == {"parse_failure_rate", "saved_as_json", "demos_after_reload",
                                               "accuracy_gain", "mcnemar_p"}


@pytest.mark.slow
def test_reference_passes(chat_model_path, lab_threads):
    r = run_check(LAB, reference=True, threads=lab_threads)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    adapter = r.metrics["adapter"]
    assert adapter["calls"] == adapter["schema_calls"] == 2 * r.metrics["test_items"]
    assert r.timings["item_p50_s"] > 0


@pytest.mark.slow
def test_starter_fails_not_implemented(chat_model_path, lab_threads):
    r = run_check(LAB, get_lab(LAB).starter_path, threads=lab_threads)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: build_program"


# Structural mistakes: a few lines are enough to show them. Without demos the "optimized" program
# sends the very same prompt as the baseline (temperature 0, fresh KV cache each call), so its
# answers are identical: the gain is exactly 0 and McNemar's p is 1, whatever the number of lines.
@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail",
    [
        ("dspy_never_compiled.py", {"demos_after_reload", "accuracy_gain", "mcnemar_p"}),
        ("dspy_saved_without_demos.py", {"demos_after_reload", "accuracy_gain", "mcnemar_p"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(chat_model_path, lab_threads, wrong, must_fail):
    r = run_check(LAB, WRONG / wrong, limit=4, threads=lab_threads)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)
    assert r.metrics["optimized_accuracy"] == r.metrics["baseline_accuracy"]
