"""structured-output on the real default model: the reference passes, the starter and plausible
wrong solutions fail, each on the criterion that names its mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.check import run_check
from harness.labs.spec import get_lab

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parent / "wrong"
LAB = "structured-output"


pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 2 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} == {"constrained_valid_rate", "model_calls_as_asked", "first_number_accuracy",
                                               "question_f1", "validity_gain"}


def test_grader_schema_and_gold():
    import importlib.util

    spec = importlib.util.spec_from_file_location("so_grader", REPO / "labs" / LAB / "grader.py")
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    problem = "Tom has 1,200 apples and eats 2.5 a day. He buys 3 more. How many days last them?"
    assert g.gold_numbers(problem) == [1200.0, 2.5, 3.0]
    assert g.gold_question(problem) == "How many days last them?"
    assert g.gold_numbers("Two cats and three dogs. How many pets?") == []  # no digits: no gold first_number
    assert g.parse_reply('```json\n{"first_number": 1, "question": "q?"}\n```') is not None
    assert g.parse_reply('{"first_number": 2.5, "question": "q?"}') is not None
    assert g.parse_reply('Sure! {"first_number": 1, "question": "q?"}') is None  # text around it: not valid
    assert g.parse_reply('{"first_number": "1", "question": "q?"}') is None  # a string is not a number
    assert g.parse_reply('{"first_number": 1}') is None  # a required field missing


@pytest.mark.slow
def test_reference_passes(chat_model_path, lab_threads):
    r = run_check(LAB, reference=True, threads=lab_threads)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    assert r.metrics["unconstrained_failure_rate"] > 0  # the same run shows the prompt alone failing


@pytest.mark.slow
def test_starter_fails_not_implemented(chat_model_path, lab_threads):
    r = run_check(LAB, get_lab(LAB).starter_path, threads=lab_threads)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: build_schema"


@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail",
    [
        ("structured_output_regex_parse.py", {"model_calls_as_asked"}),
        ("structured_output_missing_field.py", {"constrained_valid_rate", "question_f1"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(chat_model_path, lab_threads, wrong, must_fail):
    r = run_check(LAB, WRONG / wrong, limit=4, threads=lab_threads)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)
