"""While a check runs it says so ("still running: question 1 of 2, 3 s", on stderr only); a timeout
says where it stopped; a run that measured nothing (a file that does not import, a missing entry
function) gets one line per criterion, not a table.
The toy lab and the fake backend: no model is loaded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli.app import app
from harness.labs.check import run_check
from harness.labs.spec import discover

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY_LABS = FIXTURES / "labs"
FAKE = f"{FIXTURES / 'fake_backend.py'}:open_fake"
REPO = FIXTURES.parent.parent

SLOW = """
    import time

    def answer(llm, question):
        time.sleep(0.6)
        return llm.chat([{"role": "user", "content": question}], max_tokens=8).text
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(TOY_LABS))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _solution(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "ws" / "toy_lab.py"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(body))
    return p


def _check_process(path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_PROGRESS_INTERVAL_S": "0.2", "COLUMNS": "200"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "check",
            "toy-lab",
            "--solution",
            str(path),
            "--backend",
            FAKE,
            "--device",
            "cpu",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_slow_check_prints_still_running_with_item_counts_on_stderr(tmp_path):
    p = _check_process(_solution(tmp_path, SLOW))
    assert p.returncode == 0, p.stderr
    assert re.search(r"still running: question [01] of 2, \d+ s \(stops at 30 s\)", p.stderr), p.stderr
    assert "still running" not in p.stdout


def test_progress_never_reaches_json_stdout(tmp_path):
    p = _check_process(_solution(tmp_path, SLOW), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["passed"] is True  # stdout is the report alone
    assert "still running: question" in p.stderr


def test_without_progress_calls_it_still_says_how_long(tmp_path):
    # stuck before the grader's loop (at import): no item count, only the time
    p = _check_process(_solution(tmp_path, "import time\ntime.sleep(1.0)\n" + textwrap.dedent(SLOW)))
    assert p.returncode == 0, p.stderr
    assert re.search(r"still running: \d+ s \(stops at 30 s\)", p.stderr), p.stderr


def test_timeout_says_where_it_stopped_and_what_to_do(tmp_path):
    p = _solution(
        tmp_path,
        """
        import time

        def answer(llm, question):
            if "two plus two" in question:
                time.sleep(300)
            return "Paris"
    """,
    )
    r = run_check("toy-lab", p, backend=FAKE, timeout_s=3)
    assert r.error.kind == "timeout"
    assert r.error.message == "stopped after 3 s (the --timeout given), after question 1 of 2"
    assert "--timeout SECONDS" in r.error.hint and r.next_steps[0] == r.error.hint


@pytest.mark.parametrize(
    "body, error",
    [
        ("def answer(llm, question)\n    return 'x'\n", "SyntaxError"),
        ("import no_such_module_here\n\ndef answer(llm, question):\n    return 'x'\n", "ModuleNotFoundError"),
        ("answer_prefix = undefined_name\n\ndef answer(llm, question):\n    return 'x'\n", "NameError"),
    ],
    ids=["syntax", "import", "name"],
)
def test_import_failure_shows_the_error_then_one_line_per_criterion(tmp_path, body, error):
    path = _solution(tmp_path, body)
    r = CliRunner().invoke(app, ["check", "toy-lab", "--solution", str(path), "--backend", FAKE])
    assert r.exit_code == 1, r.output
    assert f"importing your file failed: {error}" in " ".join(r.output.split())
    lines = [ln for ln in r.output.splitlines() if "not measured" in ln]
    assert [ln.split()[0] for ln in lines] == ["accuracy", "returned_str"], r.output
    assert all(ln.endswith("not measured (the file did not import)") for ln in lines), r.output
    assert "what it means" not in r.output  # no table

    r = CliRunner().invoke(app, ["check", "toy-lab", "--solution", str(path), "--backend", FAKE, "--json"])
    report = json.loads(r.stdout)  # the JSON keeps everything
    assert report["error"]["stage"] == "import" and report["error"]["kind"] == "learner_exception"
    assert [c["name"] for c in report["criteria"]] == ["accuracy", "returned_str"]
    assert all(c["value"] is None and not c["passed"] for c in report["criteria"])


@pytest.mark.parametrize(
    "body",
    [
        "def not_the_entry(llm, question):\n    return 'x'\n",
        "import sys\nsys.exit(3)\n",
    ],
    ids=["missing_function", "exit_at_import"],
)
def test_nothing_measured_shows_the_error_then_one_line_per_criterion(tmp_path, body):
    path = _solution(tmp_path, body)
    r = CliRunner().invoke(app, ["check", "toy-lab", "--solution", str(path), "--backend", FAKE])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if "not measured" in ln]
    assert [ln.split()[0] for ln in lines] == ["accuracy", "returned_str"], r.output
    assert all(ln.endswith("not measured (see the error above)") for ln in lines), r.output
    assert "what it means" not in r.output  # no table

    r = CliRunner().invoke(app, ["check", "toy-lab", "--solution", str(path), "--backend", FAKE, "--json"])
    report = json.loads(r.stdout)
    assert report["error"] and [c["name"] for c in report["criteria"]] == ["accuracy", "returned_str"]


def test_a_progress_line_that_fails_does_not_fail_the_check(tmp_path):
    def broken(latest, elapsed, limit):
        raise OSError(5, "Input/output error")  # a closed terminal's stderr

    r = run_check("toy-lab", _solution(tmp_path, SLOW), backend=FAKE, on_progress=broken, progress_every_s=0.1)
    assert r.error is None and r.passed, r.error


def test_a_timeout_names_who_set_the_limit_even_at_the_labs_value():
    from harness.labs.check import build_report
    from harness.labs.runner import ChildOutcome
    from harness.labs.spec import get_lab

    spec = get_lab("toy-lab")
    o = ChildOutcome(
        result=None,
        returncode=-9,
        timed_out=True,
        wall_s=spec.timeout_s,
        stdout="",
        stderr="",
        stdout_bytes=0,
        stderr_bytes=0,
        memory_limit=None,
    )
    common = dict(solution_label="x.py", model=None, backend="fake", device="cpu", seed=0, limit=None, dataset=None)
    bench = build_report(spec, o, timeout=spec.timeout_s, timeout_source="the bench's time limit per cell", **common)
    assert "(the bench's time limit per cell)" in bench.error.message, bench.error.message
    lab = build_report(spec, o, timeout=spec.timeout_s, **common)
    assert "(the lab's time limit" in lab.error.message, lab.error.message


def test_real_labs_state_how_their_time_limit_was_set(monkeypatch):
    monkeypatch.setenv("HARNESS_LABS", str(REPO / "labs"))
    for spec in discover():
        assert spec.timeout_basis and "reference" in spec.timeout_basis, spec.id
        assert spec.timeout_s >= 240, spec.id
