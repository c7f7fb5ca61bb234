"""The engine on a toy lab with a fake backend: pass/fail, learner errors, hang, memory, output cap."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.labs.check import run_check
from harness.labs.spec import discover, get_lab, load_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY_LABS = FIXTURES / "labs"
FAKE_BACKEND = f"{FIXTURES / 'fake_backend.py'}:open_fake"


@pytest.fixture(autouse=True)
def _toy_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(TOY_LABS))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def _solution(tmp_path: Path, body: str, name: str = "toy_lab.py") -> Path:
    p = tmp_path / "ws" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(body))
    return p


def check(path=None, **kw):
    kw.setdefault("backend", FAKE_BACKEND)
    return run_check("toy-lab", path, **kw)


def test_reference_passes_with_rows_and_timings():
    r = check(reference=True)
    assert r.passed and r.error is None and r.score == 1.0
    assert [c.name for c in r.criteria] == ["accuracy", "returned_str"]
    acc = r.criteria[0]
    assert acc.value == pytest.approx(1.0) and acc.required == ">= 0.5" and acc.passed
    assert r.timings["load_s"] >= 0 and "item_p50_s" in r.timings
    assert r.solution == "reference" and r.backends["chat"]["backend"] == "fake"


def test_wrong_answer_fails_with_next_step(tmp_path):
    p = _solution(
        tmp_path,
        """
        def answer(llm, question):
            return "London"
    """,
    )
    r = check(p)
    assert not r.passed and r.error is None
    acc = {c.name: c for c in r.criteria}["accuracy"]
    assert acc.value == 0.0 and not acc.passed
    assert r.next_steps == ["accuracy: ask the model through llm.chat and return its text"]


def test_starter_reports_not_implemented_with_function_name():
    r = check(get_lab("toy-lab").starter_path)
    assert not r.passed
    assert r.error.kind == "not_implemented"
    assert r.error.message == "not implemented yet: answer"
    assert all(c.value is None and not c.passed for c in r.criteria)


def test_learner_exception_shows_only_learner_frames(tmp_path):
    p = _solution(
        tmp_path,
        """
        def helper(x):
            return 1 / x

        def answer(llm, question):
            return str(helper(0))
    """,
    )
    r = check(p)
    assert r.error.kind == "learner_exception"
    tb = r.error.traceback
    assert "ZeroDivisionError" in tb and "in helper" in tb and "in answer" in tb
    assert "child.py" not in tb and "grader.py" not in tb
    assert str(tmp_path) not in tb  # paths are shown relative to the workspace
    assert tb.splitlines()[1].strip().startswith('File "toy_lab.py"')


def test_syntax_error_and_missing_function(tmp_path):
    r = check(_solution(tmp_path, "def answer(llm, q)\n    return 1\n"))
    assert r.error.kind == "learner_exception" and "SyntaxError" in r.error.message
    r = check(_solution(tmp_path, "def other():\n    pass\n", name="other.py"))
    assert r.error.kind == "missing_function" and "answer" in r.error.message


def test_backend_error_caused_by_learner_shows_their_traceback(tmp_path):
    r = check(
        _solution(
            tmp_path, "def answer(llm, q):\n    return llm.chat([{'role': 'user', 'content': q}], max_tokens=0).text\n"
        )
    )
    assert r.error.kind == "learner_exception" and "BackendError in answer" in r.error.message
    assert r.error.hint == "ask for at least one token" and 'File "toy_lab.py"' in r.error.traceback


def test_model_problem_is_a_harness_error(tmp_path):
    r = check(reference=True, backend="llama-cpp", model="no-such-model")
    assert r.error.kind == "harness" and r.error.traceback is None and r.error.hint


def test_learner_error_from_grader(tmp_path):
    r = check(_solution(tmp_path, "def answer(llm, q):\n    return None\n"))
    assert r.error.kind == "learner_error" and "returned None" in r.error.message


def test_sys_exit_in_learner_code_is_reported(tmp_path):
    r = check(_solution(tmp_path, "import sys\ndef answer(llm, q):\n    sys.exit(3)\n"))
    assert r.error.kind == "learner_exception" and "sys.exit(3)" in r.error.message


def test_hang_is_killed(tmp_path):
    p = _solution(
        tmp_path,
        """
        import time
        def answer(llm, question):
            while True:
                time.sleep(0.05)
    """,
    )
    r = check(p, timeout_s=2)
    assert r.error.kind == "timeout" and "stopped after 2 s" in r.error.message
    assert r.wall_s < 15 and not r.passed


def test_memory_cap(tmp_path):
    p = _solution(
        tmp_path,
        """
        def answer(llm, question):
            hog = bytearray(3 * 1024 ** 3)  # 3 GiB, over the toy lab's 1024 MB cap
            return str(len(hog))
    """,
    )
    r = check(p, device="cpu")
    assert r.error.kind == "memory" and "1024 MB" in r.error.message
    assert r.memory_limit == "RLIMIT_AS"


def test_huge_print_is_capped(tmp_path):
    p = _solution(
        tmp_path,
        """
        import sys
        def answer(llm, question):
            block = "x" * (1 << 20) + "\\n"
            for _ in range(300):  # 300 MB
                sys.stdout.write(block)
            print("THE END")
            return "paris"
    """,
    )
    r = check(p, limit=1)
    assert r.output.stdout_bytes > 300 * (1 << 20)
    assert len(r.output.stdout) < 100_000 and "bytes not shown" in r.output.stdout
    assert r.output.stdout.rstrip().endswith("THE END")
    assert any("printed a lot" in n for n in r.notes)


def test_limit_reaches_the_grader(tmp_path):
    r = check(reference=True, limit=1)
    assert r.metrics["n"] == 1 and r.limit == 1


def test_unknown_lab_lists_available():
    with pytest.raises(LabError) as e:
        run_check("no-such-lab")
    assert "toy-lab" in e.value.hint


def test_missing_workspace_file_says_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LabError) as e:
        check()
    assert "harness start toy-lab" in e.value.hint


def test_bad_lab_toml_names_file_and_field(tmp_path):
    lab = tmp_path / "bad-lab"
    lab.mkdir()
    text = (TOY_LABS / "toy-lab" / "lab.toml").read_text().replace('id = "toy-lab"', 'id = "bad-lab"\ncolour = "red"')
    text = text.replace('op = ">="', 'op = "=>"')
    (lab / "lab.toml").write_text(text)
    with pytest.raises(LabError) as e:
        load_spec(lab / "lab.toml")
    msg = e.value.message
    assert str(lab / "lab.toml") in msg and "colour: unknown key" in msg and "criteria[0].op" in msg


def test_id_must_equal_folder(tmp_path):
    lab = tmp_path / "other-name"
    lab.mkdir()
    (lab / "lab.toml").write_text((TOY_LABS / "toy-lab" / "lab.toml").read_text())
    with pytest.raises(LabError, match="folder"):
        load_spec(lab / "lab.toml")


def test_discover_sorted():
    assert [s.id for s in discover()] == ["toy-lab"]


def test_engine_imports_without_model_libraries():
    import subprocess
    import sys

    code = (
        "import sys, harness.labs.check, harness.cli.labs, harness.cli.dev; "
        "bad = [m for m in ('llama_cpp', 'dspy', 'faiss', 'litellm') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
