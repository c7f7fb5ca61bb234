"""structured-output: its spec and the grader's schema, gold and reply parser, without a model
(its starter, reference and wrong solutions are graded by tests/labs/test_curriculum.py and `harness dev check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
LAB = "structured-output"


pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 2 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} == {
        "constrained_valid_rate",
        "model_calls_as_asked",
        "first_number_accuracy",
        "question_f1",
        "validity_gain",
    }


def test_grader_schema_and_gold():
    import importlib.util

    spec = importlib.util.spec_from_file_location("so_grader", LABS / LAB / "grader.py")
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
