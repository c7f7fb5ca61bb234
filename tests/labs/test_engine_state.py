"""Progress state (atomic, corrupt-file recovery) and the workspace (start, no overwrite of edits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.labs import workspace
from harness.labs.progress import Progress, ProgressWarning
from harness.labs.spec import get_lab

TOY_LABS = Path(__file__).resolve().parent.parent / "fixtures" / "labs"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(TOY_LABS))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_progress_records_best_and_state(tmp_path):
    p = Progress()
    assert p.get("toy-lab").state == "not started"
    p.record_check("toy-lab", passed=False, score=0.5, lab_version="1")
    e = p.record_check("toy-lab", passed=False, score=0.0, lab_version="1")
    assert e.state == "failing" and e.best_score == 0.5 and e.checks == 2
    e = p.record_check("toy-lab", passed=True, score=1.0, lab_version="1")
    assert e.state == "passed" and e.best_score == 1.0
    e = p.record_check("toy-lab", passed=False, score=0.5, lab_version="1")
    assert e.state == "passed" and e.last_passed is False  # a pass is not undone by later experiments
    data = json.loads(p.path.read_text())
    assert data["schema_version"] == 1 and data["labs"]["toy-lab"]["best_score"] == 1.0


def test_hints_count_and_reset():
    p = Progress()
    assert [p.next_hint("toy-lab", 2)[0] for _ in range(3)] == [0, 1, 1]
    assert p.get("toy-lab").hints_shown == 2
    p.reset("toy-lab")
    assert p.get("toy-lab").hints_shown == 0 and p.get("toy-lab").state == "not started"


def test_corrupt_progress_file_is_set_aside(tmp_path):
    p = Progress()
    p.path.parent.mkdir(parents=True)
    p.path.write_text('{"labs": {"toy-lab": {"state": "pas')  # a half-written file from elsewhere
    with pytest.warns(ProgressWarning, match="unreadable"):
        e = p.record_check("toy-lab", passed=True, score=1.0, lab_version="1")
    assert e.state == "passed"
    assert json.loads(p.path.read_text())["labs"]["toy-lab"]["state"] == "passed"
    assert list(p.path.parent.glob("progress.json.corrupt-*"))


def test_wrong_shape_progress_file_resets(tmp_path):
    p = Progress()
    p.path.parent.mkdir(parents=True)
    p.path.write_text(json.dumps({"schema_version": 1, "labs": {"toy-lab": {"state": "bogus"}}}))
    with pytest.warns(ProgressWarning):
        assert p.get("toy-lab").state == "not started"


def test_progress_write_is_atomic(tmp_path, monkeypatch):
    """A crash in the middle of writing leaves the old file intact and no temp file behind."""
    p = Progress()
    p.record_check("toy-lab", passed=False, score=0.5, lab_version="1")
    before = p.path.read_text()

    import harness.atomic as atomic

    def boom(fd, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError):
        p.record_check("toy-lab", passed=True, score=1.0, lab_version="1")
    assert p.path.read_text() == before
    assert [x.name for x in p.path.parent.iterdir() if x.name.endswith(".tmp")] == []


def test_start_copies_and_protects_edits(tmp_path):
    spec = get_lab("toy-lab")
    res = workspace.start(spec)
    assert res.solution == tmp_path / "labs-workspace" / "toy-lab" / "toy_lab.py"
    assert res.solution.read_text() == spec.starter_path.read_text() and res.readme.is_file()
    workspace.start(spec)  # unedited: replacing it is harmless
    res.solution.write_text("def answer(llm, q):\n    return 'mine'\n")
    with pytest.raises(LabError, match="holds your edits"):
        workspace.start(spec)
    assert "mine" in res.solution.read_text()
    forced = workspace.start(spec, force=True)
    assert forced.backup and "mine" in forced.backup.read_text()
    assert forced.solution.read_text() == spec.starter_path.read_text()


def test_start_with_dir(tmp_path):
    res = workspace.start(get_lab("toy-lab"), tmp_path / "elsewhere")
    assert res.solution == tmp_path / "elsewhere" / "toy_lab.py"
