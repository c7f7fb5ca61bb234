"""The typed messages of a lab's check (harness/labs/messages.py), the shared child runner
(harness/child_process.py) and the graders' typed [grader] settings (harness/labs/grader_settings.py).
No model: tiny children, the toy lab and the fake backend."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.child_process import Message, MessageError, parse_message, run_child_process, signal_death
from harness.labs.check import run_check
from harness.labs.messages import ChildError, LabCheckReply, LabCheckRequest, MeasurementMessage, RoleModels

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY_LABS = FIXTURES / "labs"
FAKE = f"{FIXTURES / 'fake_backend.py'}:open_fake"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _toy_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(TOY_LABS))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def _request(**over) -> LabCheckRequest:
    fields = dict(
        lab_id="toy-lab",
        lab_dir=TOY_LABS / "toy-lab",
        solution=TOY_LABS / "toy-lab" / "solution.py",
        entry=["answer"],
        models=RoleModels(chat="fake-model"),
        backend=FAKE,
        embed_backend=FAKE,
        device="cpu",
        threads=1,
        limit=2,
        seed=3,
        grader_table={"questions": [["q?", "a"]]},
    )
    return LabCheckRequest(**{**fields, **over})


# ---------------------------------------------------------------------------------------- messages


def test_request_and_reply_round_trip():
    req = _request(progress_fd=7)
    assert parse_message(LabCheckRequest, req.model_dump_json(), "test") == req
    reply = LabCheckReply(
        measurement=MeasurementMessage(
            values={"accuracy": 0.5, "nan": float("nan")}, metrics={"n": 2, "inf": float("inf")}, notes=["x"]
        ),
        backends={"chat": {"device": "cpu"}, "embedding": None},
    )
    back = parse_message(LabCheckReply, reply.model_dump_json(), "test")
    assert back.measurement.values["accuracy"] == 0.5 and math.isnan(back.measurement.values["nan"])
    assert back.measurement.metrics["inf"] == float("inf")  # as json.dumps wrote it before: NaN/Infinity cross
    assert back.backends == reply.backends
    error = LabCheckReply(error=ChildError(kind="learner_error", message="bad", stage="import"))
    assert parse_message(LabCheckReply, error.model_dump_json(), "test") == error


def test_a_malformed_message_names_its_fields():
    data = json.loads(_request().model_dump_json())
    del data["backend"]
    data["colour"] = "red"
    data["seed"] = "not a number"
    with pytest.raises(MessageError) as e:
        parse_message(LabCheckRequest, json.dumps(data), "request.json")
    msg = e.value.message
    assert msg.startswith("request.json is not a valid LabCheckRequest")
    assert "backend: Field required" in msg and "colour: unknown key" in msg and "seed:" in msg
    with pytest.raises(MessageError, match="measurement or an error"):
        parse_message(LabCheckReply, "{}", "reply.json")


def test_messages_are_frozen():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        _request().seed = 4  # type: ignore[misc]


def test_the_lab_child_refuses_a_malformed_request(tmp_path):
    bad = tmp_path / "request.json"
    bad.write_text(json.dumps({"lab_id": "toy-lab", "colour": "red"}))
    p = subprocess.run(
        [sys.executable, "-m", "harness.labs.child", str(bad), str(tmp_path / "reply.json")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert p.returncode == 2 and not (tmp_path / "reply.json").exists()
    assert (
        "not a valid LabCheckRequest" in p.stderr
        and "colour: unknown key" in p.stderr
        and "backend: Field required" in p.stderr
    )


# ---------------------------------------------------------------------------------------- the runner


class Ping(Message):
    text: str


class Pong(Message):
    text: str
    pid: int


CHILD = """
import os, signal, sys, time
from pathlib import Path

req = Path(sys.argv[1]).read_text()
how = __import__("json").loads(req)["text"]
if how == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
elif how == "sleep":
    time.sleep(60)
elif how == "malformed":
    Path(sys.argv[2]).write_text('{"text": "x", "colour": "red"}')
else:
    print("to stdout"); print("to stderr", file=sys.stderr)
    Path(sys.argv[2]).write_text(__import__("json").dumps({"text": how.upper(), "pid": os.getpid()}))
"""


def _child(tmp_path: Path, text: str, **kw):
    (tmp_path / "tiny_child.py").write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONFAULTHANDLER": "1"}
    kw.setdefault("timeout_s", 30)
    kw.setdefault("own_group", True)
    return run_child_process("tiny_child", Ping(text=text), Pong, cwd=tmp_path, env=env, **kw)


def test_the_runner_reads_the_reply_and_keeps_the_output(tmp_path):
    run = _child(tmp_path, "hello")
    assert run.returncode == 0 and not run.timed_out and run.reply_problem is None
    assert run.reply is not None and run.reply.text == "HELLO" and run.reply.pid > 0
    assert run.stdout.text() == "to stdout\n" and run.stderr.text() == "to stderr\n"
    merged = _child(tmp_path, "hello", merge_stderr=True, own_group=False)
    assert "to stdout" in merged.stdout.text() and "to stderr" in merged.stdout.text()


def test_a_malformed_reply_is_a_problem_not_a_keyerror(tmp_path):
    run = _child(tmp_path, "malformed")
    assert run.reply is None and run.returncode == 0
    assert "not a valid Pong" in run.reply_problem and "colour: unknown key" in run.reply_problem
    assert "pid: Field required" in run.reply_problem


def test_a_signal_death_gives_the_native_crash_report(tmp_path):
    run = _child(tmp_path, "segv")
    assert run.reply is None and run.returncode == -11
    assert "Segmentation fault" in run.stderr.text()  # faulthandler's stack, kept for the report
    message, hint = signal_death(run.returncode, run.stderr.text(), what="the test's process")
    assert message == "the test's process crashed: SIGSEGV (a segmentation fault) in native code"
    assert "harness doctor" in hint
    assert signal_death(0, "", "x") is None and signal_death(1, "", "x") is None


@pytest.mark.parametrize("own_group", [True, False], ids=["group-SIGKILL", "ours-SIGTERM"])
def test_the_time_limit_stops_the_child(tmp_path, own_group):
    t0 = time.perf_counter()
    run = _child(tmp_path, "sleep", timeout_s=1, own_group=own_group)
    assert run.timed_out and run.reply is None and run.returncode is not None and run.returncode < 0
    assert 1 <= run.wall_s < 5 and time.perf_counter() - t0 < 15


def test_progress_ticks_while_it_runs(tmp_path):
    ticks: list[float] = []
    run = _child(tmp_path, "sleep", timeout_s=1.2, on_tick=ticks.append, tick_s=0.3)
    assert run.timed_out and len(ticks) >= 2 and ticks == sorted(ticks)


# ---------------------------------------------------------------------------------------- [grader] settings


def _lab_copy(tmp_path: Path, grader_toml: str | None = None, grader_py: str | None = None) -> Path:
    root = tmp_path / "labs"
    shutil.copytree(TOY_LABS / "toy-lab", root / "toy-lab")
    lab = root / "toy-lab"
    if grader_toml is not None:
        toml = (lab / "lab.toml").read_text()
        start = toml.index("[grader]")
        end = toml.find("\n[", start + 1)
        (lab / "lab.toml").write_text(toml[:start] + grader_toml + (toml[end:] if end != -1 else "\n"))
    if grader_py is not None:
        (lab / "grader.py").write_text(textwrap.dedent(grader_py))
    return root


TYPO = '[grader]\nquestons = [["What is two plus two?", "four"]]\n'


def test_a_grader_typo_fails_the_check_naming_the_file_the_key_and_the_known_keys(tmp_path, monkeypatch):
    root = _lab_copy(tmp_path, TYPO)
    monkeypatch.setenv("HARNESS_LABS", str(root))
    r = run_check("toy-lab", reference=True, backend=FAKE)
    assert not r.passed and r.error is not None and r.error.kind == "harness"
    msg = r.error.message
    assert str(root / "toy-lab" / "lab.toml") in msg
    assert "grader.questons: unknown key" in msg and "grader.questions: Field required" in msg
    assert "knows: questions" in msg and "Settings" in r.error.hint


def test_a_grader_typo_fails_dev_check_fast(tmp_path, monkeypatch):
    from harness.cli.app import app

    root = _lab_copy(tmp_path, TYPO)
    monkeypatch.setenv("HARNESS_LABS", str(root))
    r = CliRunner().invoke(app, ["dev", "check", "--fast", "--json"])
    assert r.exit_code == 1, r.stdout
    problems = json.loads(r.stdout)["problems"]["toy-lab"]
    assert any(
        p.startswith("lab.toml: ") and "grader.questons: unknown key" in p and "knows: questions" in p for p in problems
    ), problems


def test_a_wrong_type_is_named_too(tmp_path, monkeypatch):
    root = _lab_copy(tmp_path, "[grader]\nquestions = 3\n")
    monkeypatch.setenv("HARNESS_LABS", str(root))
    r = run_check("toy-lab", reference=True, backend=FAKE)
    assert r.error is not None and "grader.questions: Input should be a valid list" in r.error.message


NO_SETTINGS = """
from harness.labs.api import Measurement


def grade(solution, ctx):
    return Measurement(values={"accuracy": 1.0, "returned_str": 1.0})
"""


def test_a_grader_table_without_a_settings_class_is_an_error(tmp_path, monkeypatch):
    from harness.labs.grader_settings import grader_settings_problems
    from harness.labs.spec import get_lab

    root = _lab_copy(tmp_path, grader_py=NO_SETTINGS)
    monkeypatch.setenv("HARNESS_LABS", str(root))
    r = run_check("toy-lab", reference=True, backend=FAKE)
    assert r.error is not None and "grader.questions: grader.py declares no Settings" in r.error.message
    assert grader_settings_problems(get_lab("toy-lab")) == [
        "lab.toml: grader.questions: grader.py declares no Settings to read them (the keys grader.py's Settings knows: (none))"
    ]


def test_no_grader_table_and_no_settings_class_is_fine(tmp_path, monkeypatch):
    from harness.labs.grader_settings import grader_settings_problems
    from harness.labs.spec import get_lab

    root = _lab_copy(tmp_path, grader_toml="", grader_py=NO_SETTINGS)
    monkeypatch.setenv("HARNESS_LABS", str(root))
    assert get_lab("toy-lab").grader == {} and grader_settings_problems(get_lab("toy-lab")) == []
    assert run_check("toy-lab", reference=True, backend=FAKE).passed


def test_the_real_labs_declare_their_settings_and_lint_loads_no_model():
    code = textwrap.dedent(f"""
        import json, sys
        from harness.labs.grader_settings import grader_settings_problems
        from harness.labs.spec import discover
        problems = {{s.id: grader_settings_problems(s) for s in discover({str(REPO / "labs")!r})}}
        heavy = [m for m in ("llama_cpp", "dspy", "litellm", "faiss") if m in sys.modules]
        print(json.dumps({{"problems": problems, "heavy": heavy}}))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["problems"] and all(v == [] for v in out["problems"].values()), out["problems"]
    assert out["heavy"] == []  # importing a grader loads no model nor its runtime


def test_a_context_made_by_hand_reads_settings_from_config():
    from harness.labs.api import LabContext

    lab = TOY_LABS / "toy-lab"
    ctx = LabContext(
        lab_id="toy-lab",
        lab_dir=lab,
        data_dir=lab / "data",
        dataset_path=None,
        limit=None,
        seed=0,
        config={"questions": [["a?", "b"]]},
    )
    assert ctx.settings.questions == [("a?", "b")]
    assert type(ctx.settings).__name__ == "Settings" and ctx.settings is ctx.settings
