"""`harness dev check` on a copy of the toy lab with the fake backend (no model): the [dev] section of
lab.toml, labs/<id>/wrong/ and checks.py are checked, and a wrong declaration is caught."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.errors import LabError
from harness.labs import curriculum
from harness.labs.spec import load_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FAKE = f"{FIXTURES / 'fake_backend.py'}:open_fake"
# Returns a string, never the right one: fails accuracy, passes returned_str.
EMPTY_ANSWER = "def answer(llm, q):\n    return ''\n"


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Path:
    """A copy of the toy lab with one wrong solution, declared as lab.toml [dev] says."""
    root = tmp_path / "labs"
    shutil.copytree(FIXTURES / "labs" / "toy-lab", root / "toy-lab", ignore=shutil.ignore_patterns("__pycache__"))
    d = root / "toy-lab"
    (d / "wrong").mkdir()
    (d / "wrong" / "empty_answer.py").write_text(EMPTY_ANSWER)
    monkeypatch.setenv("HARNESS_LABS", str(root))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return d


def _declare(lab: Path, dev: str) -> None:
    with open(lab / "lab.toml", "a") as f:
        f.write("\n" + dev)


def _dev_check(*args: str) -> tuple[int, dict]:
    from harness.cli.app import app

    r = CliRunner().invoke(app, ["dev", "check", "--backend", FAKE, "--json", *args])
    return r.exit_code, json.loads(r.stdout)


WRONG_OK = '[[dev.wrong]]\nfile = "empty_answer.py"\nmust_fail = ["accuracy"]\nmust_pass = ["returned_str"]\n'


def test_a_wrong_solution_that_fails_as_declared_is_ok(lab):
    _declare(lab, WRONG_OK)
    code, out = _dev_check()
    assert code == 0, out["problems"]
    rows = out["runs"]["toy-lab"]["runs"]
    assert [r["run"] for r in rows] == ["starter", "reference", "wrong/empty_answer.py"]
    assert [r["passed"] for r in rows] == [False, True, False] and not any(r["problems"] for r in rows)


def test_must_fail_naming_a_criterion_the_wrong_solution_passes_is_a_problem(lab):
    _declare(lab, '[[dev.wrong]]\nfile = "empty_answer.py"\nmust_fail = ["accuracy", "returned_str"]\n')
    code, out = _dev_check()
    assert code == 1
    assert out["problems"]["toy-lab"] == [
        "wrong/empty_answer.py: returned_str passes, but it must fail: returned_str = 1.0 (required == 1)"
    ]


@pytest.mark.parametrize(
    "declared, problem",
    [
        ("may_fail = []", "returned_str fails too, and only accuracy may: returned_str = 0.0 (required == 1)"),
        (
            'must_pass = ["returned_str"]',
            "returned_str fails, but the mistake should leave it passing: returned_str = 0.0 (required == 1)",
        ),
    ],
)
def test_must_pass_and_may_fail_are_checked(lab, declared, problem):
    (lab / "wrong" / "returns_a_number.py").write_text("def answer(llm, q):\n    return 3\n")  # fails both criteria
    _declare(lab, WRONG_OK + f'[[dev.wrong]]\nfile = "returns_a_number.py"\nmust_fail = ["accuracy"]\n{declared}\n')
    code, out = _dev_check()
    assert code == 1
    assert out["problems"]["toy-lab"] == [f"wrong/returns_a_number.py: {problem}"]


def test_check_wrong_on_its_own(lab):
    """The function the curriculum test calls: problems, not exceptions, and the grader's verdict."""
    _declare(lab, WRONG_OK)
    spec = load_spec(lab / "lab.toml")
    result = curriculum.check_wrong(spec, spec.dev.wrong[0], backend=FAKE)
    assert (result.run, result.passed, result.problems) == ("wrong/empty_answer.py", False, [])
    assert result.wall_s > 0


def test_a_starter_error_other_than_declared_is_a_problem(lab):
    _declare(lab, '[dev]\nstarter_error = "not implemented yet: something_else"\n\n' + WRONG_OK)
    code, out = _dev_check()
    assert code == 1
    (problem,) = out["problems"]["toy-lab"]
    assert problem.startswith("starter: the starter must stop with 'not implemented yet: something_else'")


def test_checks_py_asserts_become_problems_with_their_line(lab):
    _declare(lab, WRONG_OK)
    (lab / "checks.py").write_text(
        "def reference(reports):\n    (r,) = reports\n    assert r.metrics['n'] == 3\n\n\n"
        "def wrong(name, report):\n    assert name == 'empty_answer'\n"
    )
    code, out = _dev_check()
    assert code == 1
    assert out["problems"]["toy-lab"] == ["reference: checks.py reference(): line 3: assert r.metrics['n'] == 3"]


@pytest.mark.parametrize(
    "dev, needle",
    [
        ('[[dev.wrong]]\nfile = "empty_answer.py"\nmust_fail = ["acuracy"]\n', "must_fail: acuracy is not a criterion"),
        ('[[dev.wrong]]\nfile = "missing.py"\nmust_fail = ["accuracy"]\n', "wrong/missing.py does not exist"),
        (
            '[[dev.wrong]]\nfile = "empty_answer.py"\nmust_fail = ["accuracy"]\nlimt = 2\n',
            "dev.wrong[0].limt: unknown key",
        ),
        ('[dev]\nreference_datasets = ["heldout.json"]\n', "heldout.json does not exist"),
        (
            '[[dev.wrong]]\nfile = "empty_answer.py"\nmust_fail = ["accuracy"]\nmust_pass = ["accuracy"]\n',
            "accuracy cannot be in both must_fail and must_pass",
        ),
    ],
)
def test_a_bad_dev_section_is_a_lab_toml_error(lab, dev, needle):
    _declare(lab, dev)
    with pytest.raises(LabError, match=re.escape(needle)):
        load_spec(lab / "lab.toml")
    code, out = _dev_check("--fast")
    assert code == 1 and needle in " ".join(out["problems"]["toy-lab"])


def test_lint_finds_undeclared_wrong_files_and_stray_files(lab):
    (lab / "notes.txt").write_text("todo")
    (lab / "scratch").mkdir()
    code, out = _dev_check("--fast")
    assert code == 1
    problems = " | ".join(out["problems"]["toy-lab"])
    assert "wrong/empty_answer.py is not declared in lab.toml [[dev.wrong]]" in problems
    assert "stray file notes.txt" in problems and "stray folder scratch" in problems


def test_lint_finds_a_misspelt_checks_hook(lab):
    _declare(lab, WRONG_OK)
    (lab / "checks.py").write_text("def refrence(reports):\n    assert False\n\n\ndef _helper():\n    pass\n")
    code, out = _dev_check("--fast")
    assert code == 1
    assert out["problems"]["toy-lab"] == [
        "checks.py defines refrence(), which is no hook (starter, reference, wrong, guard; helpers start with _)"
    ]
