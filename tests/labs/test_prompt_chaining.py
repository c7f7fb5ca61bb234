"""prompt-chaining on the real default model: the reference passes, the starter and plausible
wrong solutions (eval() behind a filter, a chain that skips the evaluator) fail on their mistake."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.labs.check import run_check
from harness.labs.spec import get_lab

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parent / "wrong"
LAB = "prompt-chaining"


pytestmark = pytest.mark.usefixtures("real_labs")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 3 and spec.models.chat == "smollm2-135m"
    assert {"evaluator_exact", "evaluator_safe", "chain_steps_used", "expression_parse_rate"} <= {
        c.name for c in spec.criteria}


def test_reference_evaluator_is_exact_and_safe():
    sol = _load(REPO / "labs" / LAB / "solution.py", "pc_solution")
    grader = _load(REPO / "labs" / LAB / "grader.py", "pc_grader")
    assert sol.safe_eval("60*60/100") == 36.0 and sol.safe_eval("-(2+3)*1.5") == -7.5
    for bad in grader.HOSTILE:
        with pytest.raises(ValueError):
            sol.safe_eval(bad)
    assert [sol.format_answer(v) for v in (72.0, 0.5, 2.25, 10.000000001)] == ["72", "0.5", "2.25", "10"]


def test_grader_catches_eval_behind_the_guard():
    grader = _load(REPO / "labs" / LAB / "grader.py", "pc_grader2")
    used: list[str] = []
    with grader.no_dynamic_code(used):
        import ast

        ast.parse("1+2", mode="eval")  # parsing stays allowed
        with pytest.raises(RuntimeError):
            eval("1+2")  # noqa: S307 - the point of the test
    assert used == ["eval"]
    assert eval("1+2") == 3  # restored  # noqa: S307


@pytest.mark.slow
def test_reference_passes(chat_model_path):
    r = run_check(LAB, reference=True, threads=2)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    assert r.metrics["gold_expressions"] >= 200
    assert "chain_accuracy" in r.metrics and "single_accuracy" in r.metrics  # compared in the same run


@pytest.mark.slow
def test_starter_fails_not_implemented(chat_model_path):
    r = run_check(LAB, get_lab(LAB).starter_path, threads=2)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: safe_eval"


@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail",
    [
        ("prompt_chaining_uses_eval.py", {"evaluator_exact", "evaluator_safe"}),
        ("prompt_chaining_skips_evaluator.py", {"chain_steps_used"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(chat_model_path, wrong, must_fail):
    r = run_check(LAB, WRONG / wrong, limit=3, threads=2)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)
