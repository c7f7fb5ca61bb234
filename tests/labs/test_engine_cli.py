"""The labs commands through typer's CliRunner, with the toy lab and the fake backend."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli.app import app
from harness.errors import LabError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY_LABS = FIXTURES / "labs"
FAKE = f"{FIXTURES / 'fake_backend.py'}:open_fake"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(TOY_LABS))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def invoke(*args):
    return runner.invoke(app, list(args))


def test_learner_session_end_to_end(tmp_path):
    r = invoke("labs", "--json")
    assert r.exit_code == 0
    first = json.loads(r.stdout)["labs"][0]
    assert (first["id"], first["state"], first["best_score"]) == ("toy-lab", "not started", None)

    r = invoke("start", "toy-lab")
    assert r.exit_code == 0 and "toy_lab.py" in r.stdout
    ws = tmp_path / "labs-workspace" / "toy-lab" / "toy_lab.py"

    r = invoke("check", "toy-lab", "--backend", FAKE)
    assert r.exit_code == 1 and "not implemented yet: answer" in r.stdout

    ws.write_text("def answer(llm, q):\n    return llm.chat([{'role': 'user', 'content': q}], max_tokens=8).text\n")
    r = invoke("check", "toy-lab", "--backend", FAKE, "--json")
    assert r.exit_code == 0
    report = json.loads(r.stdout)
    assert report["passed"] and report["criteria"][0]["name"] == "accuracy"

    r = invoke("hint", "toy-lab")
    assert "hint 1/2" in r.stdout and "llm.chat" in r.stdout
    r = invoke("hint", "toy-lab", "--json")
    assert json.loads(r.stdout)["number"] == 2

    labs = json.loads(invoke("labs", "--json").stdout)["labs"]
    assert labs[0]["state"] == "passed" and labs[0]["best_score"] == 1.0 and labs[0]["hints_shown"] == 2
    assert "passed" in invoke("labs").stdout

    assert invoke("reset", "toy-lab").exit_code == 0
    assert json.loads(invoke("labs", "--json").stdout)["labs"][0]["state"] == "not started"


def test_check_failure_table_and_next_step(tmp_path):
    sol = tmp_path / "mine.py"
    sol.write_text("def answer(llm, q):\n    return 'London'\n")
    r = invoke("check", "toy-lab", "--solution", str(sol), "--backend", FAKE)
    assert r.exit_code == 1
    assert "FAILED" in r.stdout and "what to try next" in r.stdout and "accuracy" in r.stdout


def test_reference_check_does_not_touch_progress(tmp_path):
    r = invoke("check", "toy-lab", "--reference", "--backend", FAKE, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["solution"] == "reference"
    assert json.loads(invoke("labs", "--json").stdout)["labs"][0]["state"] == "not started"


def test_unknown_lab_is_a_lab_error():
    r = invoke("check", "nope")
    assert isinstance(r.exception, LabError) and "toy-lab" in r.exception.hint


def test_start_refuses_edited_work(tmp_path):
    assert invoke("start", "toy-lab").exit_code == 0
    (tmp_path / "labs-workspace" / "toy-lab" / "toy_lab.py").write_text("# mine\n")
    r = invoke("start", "toy-lab")
    assert isinstance(r.exception, LabError)
    assert invoke("start", "toy-lab", "--force").exit_code == 0


def test_dev_check_fast_lints_toy_lab():
    r = invoke("dev", "check", "--fast", "--json")
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout) == {"ok": True, "problems": {"toy-lab": []}, "runs": {}}


def test_dev_check_finds_problems(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "labs"
    shutil.copytree(TOY_LABS / "toy-lab", root / "toy-lab")
    (root / "toy-lab" / "starter.py").write_text("def answer(llm, q):\n    return ''\n")  # no TODO
    shutil.copytree(TOY_LABS / "toy-lab", root / "twin-lab")
    toml = (root / "twin-lab" / "lab.toml").read_text().replace('id = "toy-lab"', 'id = "twin-lab"')
    (root / "twin-lab" / "lab.toml").write_text(toml)  # same order as toy-lab
    (root / "twin-lab" / "data").mkdir()
    (root / "twin-lab" / "data" / "items.jsonl").write_text("{}\n")  # data without LICENSE/PROVENANCE
    monkeypatch.setenv("HARNESS_LABS", str(root))
    r = invoke("dev", "check", "--fast", "--json")
    assert r.exit_code == 1
    problems = json.loads(r.stdout)["problems"]
    assert "starter.py has no TODO" in problems["toy-lab"]
    twin = " | ".join(problems["twin-lab"])
    assert "order 1 is also used by toy-lab" in twin and "no LICENSE" in twin and "no PROVENANCE.md" in twin


def test_dev_check_runs_starter_and_reference(monkeypatch):
    r = invoke("dev", "check", "--backend", FAKE, "--json")
    assert r.exit_code == 0, r.stdout
    run = json.loads(r.stdout)["runs"]["toy-lab"]
    assert run["starter_passed"] is False and run["reference_passed"] is True


def test_watch_rechecks_on_save(tmp_path, monkeypatch):
    import harness.cli.labs as labs_cli

    assert invoke("start", "toy-lab").exit_code == 0
    sol = tmp_path / "labs-workspace" / "toy-lab" / "toy_lab.py"
    checks = []
    real_check = labs_cli._check

    def counting_check(*a, **k):
        rep = real_check(*a, **k)
        checks.append(rep.passed)
        if len(checks) == 1:  # the learner saves a fix after the first check
            time.sleep(0.05)
            sol.write_text("def answer(llm, q):\n    return llm.chat([{'role': 'user', 'content': q}]).text\n")
        elif len(checks) == 2:
            raise KeyboardInterrupt  # then presses Ctrl-C
        return rep

    monkeypatch.setattr(labs_cli, "_check", counting_check)
    r = invoke("watch", "toy-lab", "--backend", FAKE, "--interval", "0.1")
    assert r.exit_code == 0 and "stopped watching" in r.stdout
    assert checks == [False, True]
