"""The curriculum proves itself: each lab's starter fails as declared, its reference passes (on the
lab's data and on every [dev] reference_datasets file) and meets its lab's own expectations, and
each wrong solution (labs/<id>/wrong/, declared in lab.toml [[dev.wrong]]) fails on the criteria
that name its mistake. `harness dev check` and tests/labs/test_curriculum.py call these functions.

Each function grades one thing on the real models and returns a RunResult whose `problems` is
empty when the lab keeps its promise. A lab may add expectations of its own in labs/<id>/checks.py,
with plain asserts:

    def starter(report): ...            # the starter's CheckReport
    def reference(reports): ...         # [the lab's data, *reference_datasets], in that order
    def wrong(name, report): ...        # name: the wrong file's stem
    def guard(): ...                    # a context manager around every graded run of the lab
"""

from __future__ import annotations

import ast
import contextlib
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, Field

from harness.labs.report import CheckReport
from harness.labs.spec import LabSpec, WrongSolution

# What may sit in a lab folder; anything else is a stray file (`harness dev check` says so).
LAB_FILES = {"lab.toml", "README.md", "starter.py", "solution.py", "grader.py", "checks.py"}
LAB_DIRS = {"data", "wrong", "tests", "__pycache__"}
IGNORED = {"__pycache__", ".pytest_cache"}
CHECKS_HOOKS = ("starter", "reference", "wrong", "guard")  # labs/<id>/checks.py (module docstring)


class RunResult(BaseModel):
    """One graded run of `harness dev check`: what ran, how it came out, what is wrong with it."""

    lab: str
    run: str  # "starter", "reference", "reference on heldout.json", "wrong/ignores_query.py"
    passed: bool | None = None  # the grader's verdict (None: the run did not happen)
    wall_s: float = 0.0
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ------------------------------------------------------------------------------ lint (no model)


def folder_problems(spec: LabSpec) -> list[str]:
    """Stray files in the lab folder, and wrong/ files that lab.toml does not declare (a declared
    file that is missing is caught when lab.toml is read)."""
    problems = []
    for p in sorted(spec.lab_dir.iterdir()):
        if p.name in IGNORED or p.name.startswith("."):
            continue
        allowed = LAB_DIRS if p.is_dir() else LAB_FILES
        if p.name not in allowed:
            kind = "folder" if p.is_dir() else "file"
            problems.append(
                f"stray {kind} {p.name} (a lab folder holds {', '.join(sorted(LAB_FILES))} "
                f"and {', '.join(sorted(LAB_DIRS - IGNORED))}/)"
            )
    if spec.checks_path.is_file():
        problems.extend(_checks_hook_problems(spec.checks_path))
    if spec.wrong_dir.is_dir():
        declared = {w.file for w in spec.dev.wrong}
        for p in sorted(spec.wrong_dir.iterdir()):
            if p.name in IGNORED or p.name.startswith("."):
                continue
            if p.name not in declared:
                problems.append(f"wrong/{p.name} is not declared in lab.toml [[dev.wrong]]")
    return problems


def top_level_functions(path: Path) -> set[str]:
    """The functions a .py file defines at its top level, read without importing it (SyntaxError if
    it does not parse)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _checks_hook_problems(path: Path) -> list[str]:
    """A public function in checks.py that is not a hook is a misspelt hook that would never run."""
    try:
        names = top_level_functions(path)
    except SyntaxError as e:
        return [f"checks.py does not parse: {e}"]
    return [
        f"checks.py defines {name}(), which is no hook ({', '.join(CHECKS_HOOKS)}; helpers start with _)"
        for name in sorted(names)
        if name not in CHECKS_HOOKS and not name.startswith("_")
    ]


# ------------------------------------------------------------------------------ graded runs


def check_starter(spec: LabSpec, **run_options: Any) -> RunResult:
    """The untouched starter fails with "not implemented yet: <function>" ([dev] starter_error),
    graded from a scratch copy as a learner's workspace file would be."""
    result = RunResult(lab=spec.id, run="starter")
    with tempfile.TemporaryDirectory(prefix="harness-dev-check-") as tmp:
        copy = Path(tmp) / "starter.py"
        shutil.copy2(spec.starter_path, copy)
        report = _graded(spec, result, copy, **run_options)
    if report.passed:
        result.problems.append("the starter PASSES the grader (it must fail)")
    got = (report.error.kind, report.error.message) if report.error else (None, None)
    if got != ("not_implemented", spec.starter_error):
        result.problems.append(
            f"the starter must stop with {spec.starter_error!r} (not_implemented), not {_error_text(report)}"
        )
    _lab_check(spec, result, "starter", report)
    return result


def check_reference(spec: LabSpec, **run_options: Any) -> list[RunResult]:
    """The reference passes on the lab's data and on each [dev] reference_datasets file, and then
    meets checks.py's reference(reports)."""
    runs = [(None, spec.dev.reference_limit)] + [
        (spec.lab_dir / r.dataset, r.limit) for r in spec.dev.reference_datasets
    ]
    results, reports = [], []
    for dataset, limit in runs:
        result = RunResult(lab=spec.id, run="reference" + (f" on {dataset.name}" if dataset else ""))
        report = _graded(spec, result, None, dataset=dataset, limit=limit, **run_options)
        if report.error is not None:
            result.problems.append(f"the reference stopped: {_error_text(report)}")
        elif not report.passed:
            result.problems.append(
                "the reference FAILS: "
                + ", ".join(f"{c.name} = {c.value} (required {c.required})" for c in report.criteria if not c.passed)
            )
        results.append(result)
        reports.append(report)
    _lab_check(spec, results[0], "reference", reports)  # the lab's own expectations, on every run's figures
    return results


def check_wrong(spec: LabSpec, wrong: WrongSolution, **run_options: Any) -> RunResult:
    """A wrong solution fails, on each of its must_fail criteria (each with its next-steps line),
    passes its must_pass ones, fails nothing outside must_fail + may_fail when may_fail is given,
    and meets checks.py's wrong(name, report)."""
    result = RunResult(lab=spec.id, run=f"wrong/{wrong.file}")
    report = _graded(spec, result, spec.wrong_dir / wrong.file, limit=wrong.limit, **run_options)
    if report.error is not None:
        result.problems.append(f"it stopped instead of being graded: {_error_text(report)}")
        return result
    if report.passed:
        result.problems.append("it PASSES the grader (it must fail)")
    failed = report.failed_criteria()
    for name in wrong.must_fail:
        if name not in failed:
            result.problems.append(f"{name} passes, but it must fail: {_figure(report, name)}")
        elif not any(s.startswith(f"{name}:") for s in report.next_steps):
            result.problems.append(f"{name} fails, but the report has no next step for it")
    passed = {c.name for c in report.criteria if c.passed}
    for name in wrong.must_pass:
        if name not in passed:
            result.problems.append(f"{name} fails, but the mistake should leave it passing: {_figure(report, name)}")
    if wrong.may_fail is not None:
        for name in sorted(failed - set(wrong.must_fail) - set(wrong.may_fail)):
            result.problems.append(
                f"{name} fails too, and only {', '.join(wrong.must_fail + wrong.may_fail)} may: {_figure(report, name)}"
            )
    _lab_check(spec, result, "wrong", wrong.name, report)
    return result


def check_lab(
    spec: LabSpec, on_result: Callable[[RunResult], None] | None = None, **run_options: Any
) -> list[RunResult]:
    """Every graded run of one lab: starter, reference(s), each wrong solution; on_result(result)
    after each step (the references come together: checks.py's reference() needs them all)."""
    steps = [
        lambda: [check_starter(spec, **run_options)],
        lambda: check_reference(spec, **run_options),
        *(lambda w=w: [check_wrong(spec, w, **run_options)] for w in spec.dev.wrong),
    ]
    results = []
    for step in steps:
        for result in step():
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


# ------------------------------------------------------------------------------ helpers


def _graded(spec: LabSpec, result: RunResult, solution: Path | None, **options: Any) -> CheckReport:
    """run_check on this lab (solution None: the reference), inside checks.py's guard() if any."""
    from harness.labs.check import run_check  # the engine; kept out of `harness dev check --fast`

    checks = _checks_module(spec)
    guard = checks.guard() if checks is not None and hasattr(checks, "guard") else contextlib.nullcontext()
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(guard)
        report = run_check(spec.id, solution, reference=solution is None, labs_root=spec.lab_dir.parent, **options)
        result.wall_s = round(time.perf_counter() - t0, 2)
        try:
            stack.close()  # guard()'s own checks, after the run
        except AssertionError as e:
            result.problems.append(f"checks.py guard(): {_assertion_text(e, spec.checks_path)}")
    result.passed = report.passed
    return report


def _checks_module(spec: LabSpec) -> ModuleType | None:
    if not spec.checks_path.is_file():
        return None
    from harness.labs.child import import_file

    return import_file(f"_lab_checks_{spec.module_name}", spec.checks_path)


def _lab_check(spec: LabSpec, result: RunResult, hook: str, *args: Any) -> None:
    """Run checks.py's `hook` if the lab defines it; a failed assert becomes a problem."""
    checks = _checks_module(spec)
    fn = getattr(checks, hook, None) if checks is not None else None
    if fn is None:
        return
    try:
        fn(*args)
    except AssertionError as e:
        result.problems.append(f"checks.py {hook}(): {_assertion_text(e, spec.checks_path)}")
    except Exception as e:  # a bug in checks.py is a problem of the lab, not a crash of the check
        result.problems.append(f"checks.py {hook}() raised {type(e).__name__}: {e}")


def _assertion_text(e: AssertionError, checks_path: Path) -> str:
    """The assert's message, else its line in checks.py (plain asserts outside pytest say nothing)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == checks_path]
    where = f"line {frames[-1].lineno}: {frames[-1].line}" if frames else "an assert failed"
    return f"{where} ({e})" if str(e) else where


def _error_text(report: CheckReport) -> str:
    return f"{report.error.kind}: {report.error.message}" if report.error else "no error"


def _figure(report: CheckReport, name: str) -> str:
    c = next((c for c in report.criteria if c.name == name), None)
    return f"{name} = {c.value} (required {c.required})" if c else f"{name} is not in the report"
